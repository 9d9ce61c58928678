//! Node class drift on EC2: whether a running instance still matches what its EC2NodeClass
//! resolves to now, checked as Karpenter's AWS provider does after the NodePool checks and the
//! node class's static hash: its AMI among the class's AMIs, its security groups exactly the
//! class's, its subnet among the class's subnets. What EC2 did not report about the instance
//! is not held against it.

use spotter_cloud::NodeClassDrift;

use crate::ec2::Ec2Instance;
use crate::node_class::ResolvedNodeClass;

/// How `instance` differs from `node_class` (the first difference, in Karpenter's order:
/// AMI, security groups, subnet), or `None` when it matches.
pub fn instance_drift(
    instance: &Ec2Instance,
    node_class: &ResolvedNodeClass,
) -> Option<NodeClassDrift> {
    if !instance.image_id.is_empty()
        && !node_class
            .amis
            .iter()
            .any(|ami| ami.id == instance.image_id)
    {
        return Some(NodeClassDrift::Ami);
    }
    if !instance.security_group_ids.is_empty() {
        let mut instance_groups = instance.security_group_ids.clone();
        instance_groups.sort();
        instance_groups.dedup();
        let mut class_groups = node_class.security_group_ids.clone();
        class_groups.sort();
        class_groups.dedup();
        if instance_groups != class_groups {
            return Some(NodeClassDrift::SecurityGroup);
        }
    }
    if !instance.subnet_id.is_empty()
        && !node_class
            .subnets
            .iter()
            .any(|subnet| subnet.id == instance.subnet_id)
    {
        return Some(NodeClassDrift::Subnet);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::Subnet;
    use crate::node_class::{Architecture, ResolvedAmi};

    fn node_class() -> ResolvedNodeClass {
        ResolvedNodeClass {
            name: "default".to_string(),
            subnets: ["subnet-a", "subnet-b"]
                .iter()
                .map(|id| Subnet {
                    id: id.to_string(),
                    zone: "us-east-1a".to_string(),
                    zone_id: None,
                    available_ip_addresses: 100,
                    tags: Default::default(),
                })
                .collect(),
            security_group_ids: vec!["sg-1".to_string(), "sg-2".to_string()],
            amis: vec![
                ResolvedAmi {
                    id: "ami-new-x86".to_string(),
                    architecture: Architecture::Amd64,
                },
                ResolvedAmi {
                    id: "ami-new-arm".to_string(),
                    architecture: Architecture::Arm64,
                },
            ],
            instance_profile: "profile".to_string(),
            user_data: None,
            block_devices: Vec::new(),
            metadata: Default::default(),
            detailed_monitoring: false,
            tags: Default::default(),
        }
    }

    fn instance(image: &str, subnet: &str, groups: &[&str]) -> Ec2Instance {
        Ec2Instance {
            id: "i-0123456789abcdef0".to_string(),
            instance_type: "m5.large".to_string(),
            zone: "us-east-1a".to_string(),
            spot: true,
            state: "running".to_string(),
            launch_time: None,
            tags: Default::default(),
            image_id: image.to_string(),
            subnet_id: subnet.to_string(),
            security_group_ids: groups.iter().map(|group| group.to_string()).collect(),
        }
    }

    #[test]
    fn what_drifts_from_the_node_class() {
        let cases = [
            (
                "matches",
                instance("ami-new-x86", "subnet-a", &["sg-1", "sg-2"]),
                None,
            ),
            (
                "security groups in another order still match",
                instance("ami-new-arm", "subnet-b", &["sg-2", "sg-1"]),
                None,
            ),
            (
                "an AMI the class no longer resolves to",
                instance("ami-old", "subnet-a", &["sg-1", "sg-2"]),
                Some(NodeClassDrift::Ami),
            ),
            (
                "a subnet the class no longer selects",
                instance("ami-new-x86", "subnet-gone", &["sg-1", "sg-2"]),
                Some(NodeClassDrift::Subnet),
            ),
            (
                "a security group fewer than the class",
                instance("ami-new-x86", "subnet-a", &["sg-1"]),
                Some(NodeClassDrift::SecurityGroup),
            ),
            (
                "a security group more than the class",
                instance("ami-new-x86", "subnet-a", &["sg-1", "sg-2", "sg-3"]),
                Some(NodeClassDrift::SecurityGroup),
            ),
            (
                "the AMI is told first",
                instance("ami-old", "subnet-gone", &["sg-9"]),
                Some(NodeClassDrift::Ami),
            ),
            (
                "security groups are told before the subnet",
                instance("ami-new-x86", "subnet-gone", &["sg-9"]),
                Some(NodeClassDrift::SecurityGroup),
            ),
            (
                "what EC2 did not report is not held against it",
                instance("", "", &[]),
                None,
            ),
        ];
        for (name, instance, expected) in cases {
            assert_eq!(
                instance_drift(&instance, &node_class()),
                expected,
                "case {name:?}"
            );
        }
    }
}
