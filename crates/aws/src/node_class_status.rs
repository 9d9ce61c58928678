//! An EC2NodeClass object as the provider reads it, and the `status` its resolution writes
//! back, as Karpenter's EC2NodeClass controller does: the subnets, security groups, AMIs and
//! instance profile found, and the conditions `SubnetsReady`, `SecurityGroupsReady`,
//! `AMIsReady`, `InstanceProfileReady`, `ValidationSucceeded` and `Ready`. Resolution goes
//! in that order and stops at the first failure: the parts before it are `True`, the failed
//! one `False` with a reason and a message that names the selector that matched nothing, the
//! parts after it `Unknown`. A condition keeps its `lastTransitionTime` while its status stays.

use spotter_api::crd::ec2_node_class::{
    Ec2NodeClassSpec as ObjectSpec, Ec2NodeClassStatus, ResolvedAmi as StatusAmi,
    ResolvedSecurityGroup, ResolvedSubnet,
};
use spotter_api::crd::node_claim::RequirementSpec;
use spotter_api::crd::schema::Condition;

use crate::node_class::{Architecture, NodeClassError, ResolvedNodeClass};
use crate::node_class_spec::Ec2NodeClassSpec;

/// The condition that sums the others up.
pub const READY: &str = "Ready";
/// Subnets found.
pub const SUBNETS_READY: &str = "SubnetsReady";
/// Security groups found.
pub const SECURITY_GROUPS_READY: &str = "SecurityGroupsReady";
/// AMIs found.
pub const AMIS_READY: &str = "AMIsReady";
/// Instance profile found or made.
pub const INSTANCE_PROFILE_READY: &str = "InstanceProfileReady";
/// The rest of the spec (block devices) is usable.
pub const VALIDATION_SUCCEEDED: &str = "ValidationSucceeded";

/// The parts of a resolution, in the order they are resolved.
const PARTS: [&str; 5] = [
    SUBNETS_READY,
    SECURITY_GROUPS_READY,
    AMIS_READY,
    INSTANCE_PROFILE_READY,
    VALIDATION_SUCCEEDED,
];

/// Why an EC2NodeClass object could not be read as the provider's spec.
#[derive(Debug, thiserror::Error)]
#[error("failed to read EC2NodeClass {node_class}: {source}")]
pub struct SpecError {
    /// The EC2NodeClass.
    pub node_class: String,
    /// What did not fit.
    pub source: serde_json::Error,
}

/// The provider's spec of an EC2NodeClass object's `spec` (the same field names; fields the
/// provider does not use are dropped).
pub fn provider_spec(node_class: &str, object: &ObjectSpec) -> Result<Ec2NodeClassSpec, SpecError> {
    let error = |source| SpecError {
        node_class: node_class.to_string(),
        source,
    };
    let mut value = serde_json::to_value(object).map_err(error)?;
    drop_nulls(&mut value);
    serde_json::from_value(value).map_err(error)
}

/// The status after a resolution at `now` (RFC 3339) of the object at `generation`,
/// keeping `previous`'s transition times where a condition did not change.
pub fn status(
    resolution: &Result<ResolvedNodeClass, NodeClassError>,
    previous: &Ec2NodeClassStatus,
    generation: Option<i64>,
    now: &str,
) -> Ec2NodeClassStatus {
    let mut status = match resolution {
        Ok(resolved) => resolved_status(resolved),
        Err(_) => previous.clone(),
    };
    let failed = resolution
        .as_ref()
        .err()
        .map(|error| (failed_part(error), error));
    let mut conditions = Vec::new();
    let failed_index = failed
        .as_ref()
        .map_or(PARTS.len(), |(part, _)| part_index(part));
    for (index, part) in PARTS.iter().enumerate() {
        let (state, reason, message) = match &failed {
            Some((_, error)) if index == failed_index => {
                ("False", failure_reason(part), error.to_string())
            }
            Some(_) if index > failed_index => (
                "Unknown",
                "AwaitingReconciliation",
                format!("not checked: {} failed first", PARTS[failed_index]),
            ),
            _ => ("True", *part, String::new()),
        };
        conditions.push(condition(
            part, state, reason, message, previous, generation, now,
        ));
    }
    let (state, reason, message) = match &failed {
        None => ("True", READY, String::new()),
        Some((part, error)) => ("False", failure_reason(part), error.to_string()),
    };
    conditions.push(condition(
        READY, state, reason, message, previous, generation, now,
    ));
    if let Some((part, _)) = &failed {
        match *part {
            SUBNETS_READY => status.subnets.clear(),
            SECURITY_GROUPS_READY => status.security_groups.clear(),
            AMIS_READY => status.amis.clear(),
            INSTANCE_PROFILE_READY => status.instance_profile = None,
            _ => {}
        }
    }
    status.conditions = conditions;
    status
}

/// Whether `status` says the node class is ready.
pub fn is_ready(status: &Ec2NodeClassStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|condition| condition.type_ == READY && condition.status == "True")
}

/// Removes every null field, at any depth: the object's optional maps and lists may
/// serialize as null where the provider's are plain (and empty by default).
fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(fields) => {
            fields.retain(|_, field| !field.is_null());
            fields.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn resolved_status(resolved: &ResolvedNodeClass) -> Ec2NodeClassStatus {
    Ec2NodeClassStatus {
        subnets: resolved
            .subnets
            .iter()
            .map(|subnet| ResolvedSubnet {
                id: subnet.id.clone(),
                zone: subnet.zone.clone(),
                zone_id: subnet.zone_id.clone(),
            })
            .collect(),
        security_groups: resolved
            .security_group_ids
            .iter()
            .map(|id| ResolvedSecurityGroup {
                id: id.clone(),
                name: None,
            })
            .collect(),
        amis: resolved
            .amis
            .iter()
            .map(|ami| StatusAmi {
                id: ami.id.clone(),
                name: None,
                requirements: vec![RequirementSpec {
                    key: "kubernetes.io/arch".to_string(),
                    operator: "In".to_string(),
                    values: vec![
                        match ami.architecture {
                            Architecture::Amd64 => "amd64",
                            Architecture::Arm64 => "arm64",
                        }
                        .to_string(),
                    ],
                    min_values: None,
                }],
            })
            .collect(),
        instance_profile: Some(resolved.instance_profile.clone()),
        conditions: Vec::new(),
    }
}

/// The part a resolution error belongs to.
fn failed_part(error: &NodeClassError) -> &'static str {
    match error {
        NodeClassError::NoSubnets { .. } => SUBNETS_READY,
        NodeClassError::NoSecurityGroups { .. } => SECURITY_GROUPS_READY,
        NodeClassError::NoAmis { .. } => AMIS_READY,
        NodeClassError::InvalidField { field, .. } => {
            if field.starts_with("subnetSelectorTerms") {
                SUBNETS_READY
            } else if field.starts_with("securityGroupSelectorTerms") {
                SECURITY_GROUPS_READY
            } else if field.starts_with("amiSelectorTerms") {
                AMIS_READY
            } else if field.starts_with("role") || field.starts_with("instanceProfile") {
                INSTANCE_PROFILE_READY
            } else {
                VALIDATION_SUCCEEDED
            }
        }
        NodeClassError::Call { source, .. } => match source.operation {
            "DescribeSubnets" => SUBNETS_READY,
            "DescribeSecurityGroups" => SECURITY_GROUPS_READY,
            "DescribeImages" | "GetParameter" => AMIS_READY,
            "GetInstanceProfile"
            | "CreateInstanceProfile"
            | "AddRoleToInstanceProfile"
            | "RemoveRoleFromInstanceProfile" => INSTANCE_PROFILE_READY,
            _ => VALIDATION_SUCCEEDED,
        },
    }
}

fn part_index(part: &str) -> usize {
    PARTS
        .iter()
        .position(|candidate| *candidate == part)
        .unwrap_or(PARTS.len() - 1)
}

/// Karpenter's reasons where it has one (`SubnetsNotFound`, ...).
fn failure_reason(part: &str) -> &'static str {
    match part {
        SUBNETS_READY => "SubnetsNotFound",
        SECURITY_GROUPS_READY => "SecurityGroupsNotFound",
        AMIS_READY => "AMINotFound",
        INSTANCE_PROFILE_READY => "InstanceProfileNotReady",
        _ => "ValidationFailed",
    }
}

fn condition(
    type_: &str,
    state: &str,
    reason: &str,
    message: String,
    previous: &Ec2NodeClassStatus,
    generation: Option<i64>,
    now: &str,
) -> Condition {
    let last_transition_time = previous
        .conditions
        .iter()
        .find(|condition| condition.type_ == type_ && condition.status == state)
        .map_or_else(
            || now.to_string(),
            |condition| condition.last_transition_time.clone(),
        );
    Condition {
        type_: type_.to_string(),
        status: state.to_string(),
        last_transition_time,
        reason: reason.to_string(),
        message,
        observed_generation: generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::{Ec2Error, MetadataOptions, Subnet};
    use crate::node_class::ResolvedAmi;

    fn resolved() -> ResolvedNodeClass {
        ResolvedNodeClass {
            name: "default".to_string(),
            subnets: vec![Subnet {
                id: "subnet-a".to_string(),
                zone: "us-east-1a".to_string(),
                zone_id: Some("use1-az1".to_string()),
                available_ip_addresses: 200,
                tags: Default::default(),
            }],
            security_group_ids: vec!["sg-1".to_string()],
            amis: vec![ResolvedAmi {
                id: "ami-1".to_string(),
                architecture: Architecture::Arm64,
            }],
            instance_profile: "seed_profile".to_string(),
            user_data: None,
            block_devices: Vec::new(),
            metadata: MetadataOptions::default(),
            detailed_monitoring: false,
            tags: Default::default(),
        }
    }

    fn states(status: &Ec2NodeClassStatus) -> Vec<(String, String, String)> {
        status
            .conditions
            .iter()
            .map(|condition| {
                (
                    condition.type_.clone(),
                    condition.status.clone(),
                    condition.reason.clone(),
                )
            })
            .collect()
    }

    fn owned(states: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        states
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect()
    }

    #[test]
    fn each_failure_marks_its_part_false_the_earlier_true_and_the_later_unknown() {
        let no_subnets = NodeClassError::NoSubnets {
            node_class: "default".to_string(),
            terms: "[{tags: {karpenter.sh/discovery: seed}}]".to_string(),
        };
        let images_refused = NodeClassError::Call {
            node_class: "default".to_string(),
            source: Ec2Error::service("GetParameter", "AccessDeniedException", "no", 400),
        };
        let bad_volume = NodeClassError::InvalidField {
            node_class: "default".to_string(),
            field: "blockDeviceMappings[0].ebs.volumeSize".to_string(),
            reason: "not a size".to_string(),
        };
        // Each case: the error, then (condition, status, reason) for every condition.
        type Expected<'a> = [(&'a str, &'a str, &'a str); 6];
        let cases: [(NodeClassError, Expected); 3] = [
            (
                no_subnets,
                [
                    (SUBNETS_READY, "False", "SubnetsNotFound"),
                    (SECURITY_GROUPS_READY, "Unknown", "AwaitingReconciliation"),
                    (AMIS_READY, "Unknown", "AwaitingReconciliation"),
                    (INSTANCE_PROFILE_READY, "Unknown", "AwaitingReconciliation"),
                    (VALIDATION_SUCCEEDED, "Unknown", "AwaitingReconciliation"),
                    (READY, "False", "SubnetsNotFound"),
                ],
            ),
            (
                images_refused,
                [
                    (SUBNETS_READY, "True", SUBNETS_READY),
                    (SECURITY_GROUPS_READY, "True", SECURITY_GROUPS_READY),
                    (AMIS_READY, "False", "AMINotFound"),
                    (INSTANCE_PROFILE_READY, "Unknown", "AwaitingReconciliation"),
                    (VALIDATION_SUCCEEDED, "Unknown", "AwaitingReconciliation"),
                    (READY, "False", "AMINotFound"),
                ],
            ),
            (
                bad_volume,
                [
                    (SUBNETS_READY, "True", SUBNETS_READY),
                    (SECURITY_GROUPS_READY, "True", SECURITY_GROUPS_READY),
                    (AMIS_READY, "True", AMIS_READY),
                    (INSTANCE_PROFILE_READY, "True", INSTANCE_PROFILE_READY),
                    (VALIDATION_SUCCEEDED, "False", "ValidationFailed"),
                    (READY, "False", "ValidationFailed"),
                ],
            ),
        ];
        let previous = status(
            &Ok(resolved()),
            &Ec2NodeClassStatus::default(),
            Some(1),
            "t0",
        );
        for (error, expected) in cases {
            let message = error.to_string();
            let failed = status(&Err(error), &previous, Some(2), "t1");
            assert_eq!(states(&failed), owned(&expected), "{message}");
            assert!(!is_ready(&failed));
            let ready = failed
                .conditions
                .iter()
                .find(|condition| condition.type_ == READY)
                .expect("Ready");
            assert_eq!(ready.message, message, "the message names what failed");
            assert_eq!(ready.last_transition_time, "t1");
        }
        let no_subnets = status(
            &Err(NodeClassError::NoSubnets {
                node_class: "default".to_string(),
                terms: "[]".to_string(),
            }),
            &previous,
            Some(2),
            "t1",
        );
        assert!(
            no_subnets.subnets.is_empty(),
            "the subnets no longer found are dropped"
        );
        assert_eq!(no_subnets.security_groups.len(), 1);
    }

    #[test]
    fn a_resolution_lists_what_was_found_and_keeps_transition_times() {
        let first = status(
            &Ok(resolved()),
            &Ec2NodeClassStatus::default(),
            Some(1),
            "t0",
        );
        assert!(is_ready(&first));
        assert_eq!(first.subnets[0].zone_id.as_deref(), Some("use1-az1"));
        assert_eq!(first.security_groups[0].id, "sg-1");
        assert_eq!(
            first.amis[0].requirements[0].values,
            vec!["arm64".to_string()]
        );
        assert_eq!(first.instance_profile.as_deref(), Some("seed_profile"));
        let second = status(&Ok(resolved()), &first, Some(1), "t9");
        assert!(
            second
                .conditions
                .iter()
                .all(|condition| condition.last_transition_time == "t0"),
            "{:?}",
            second.conditions
        );
    }

    #[test]
    fn the_seed_object_reads_as_the_providers_spec() {
        let manifest: serde_json::Value =
            serde_yaml_ng::from_str(include_str!("../../../examples/seed/ec2nodeclass.yaml"))
                .expect("YAML");
        let object: ObjectSpec =
            serde_json::from_value(manifest["spec"].clone()).expect("the CRD type reads it");
        let spec = provider_spec("default", &object).expect("the provider reads it");
        assert!(!spec.subnet_selector_terms.is_empty());
        assert!(!spec.security_group_selector_terms.is_empty());
        assert!(!spec.ami_selector_terms.is_empty());
        assert!(spec.role.is_some() || spec.instance_profile.is_some());
    }
}
