//! Garbage collection: instances tagged for this cluster whose NodeClaim does not exist (any
//! more) are terminated once they are older than a grace period (Karpenter's is 30 s, so that
//! a launch whose NodeClaim is not yet visible is not taken for a leak), and NodeClaims whose
//! instance is gone (launched longer than the grace period ago, so that a new instance that
//! DescribeInstances does not show yet is not taken for a lost one) are reported so that the
//! caller deletes them.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::ec2::Ec2Instance;
use crate::fleet::tags;

/// Karpenter's grace period before a launched instance without NodeClaim is a leak.
pub const GRACE_PERIOD: Duration = Duration::from_secs(30);

/// A NodeClaim that exists, with the instance it launched if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingNodeClaim {
    /// The NodeClaim's name.
    pub name: String,
    /// The instance ID from its provider ID, once launched.
    pub instance_id: Option<String>,
    /// When it was launched (its `Launched` condition), once launched.
    pub launched_at: Option<SystemTime>,
}

/// What a garbage collection found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Garbage {
    /// Live instances without NodeClaim, older than the grace period (to terminate).
    pub leaked_instances: Vec<String>,
    /// NodeClaims whose launched instance is not live any more (to delete).
    pub node_claims_without_instance: Vec<String>,
}

/// Sorts the cluster's live `instances` against the NodeClaims that exist at `now`.
pub fn find_garbage(
    instances: &[Ec2Instance],
    node_claims: &[ExistingNodeClaim],
    now: SystemTime,
    grace: Duration,
) -> Garbage {
    let claimed: BTreeSet<&str> = node_claims
        .iter()
        .map(|node_claim| node_claim.name.as_str())
        .collect();
    let live: BTreeSet<&str> = instances
        .iter()
        .map(|instance| instance.id.as_str())
        .collect();
    let mut leaked_instances: Vec<String> = instances
        .iter()
        .filter(|instance| {
            !instance
                .tags
                .get(tags::NODE_CLAIM)
                .is_some_and(|name| claimed.contains(name.as_str()))
        })
        .filter(|instance| {
            instance
                .launch_time
                .is_none_or(|launched| now.duration_since(launched).unwrap_or_default() >= grace)
        })
        .map(|instance| instance.id.clone())
        .collect();
    leaked_instances.sort();
    let mut node_claims_without_instance: Vec<String> = node_claims
        .iter()
        .filter(|node_claim| {
            node_claim
                .instance_id
                .as_deref()
                .is_some_and(|id| !live.contains(id))
        })
        .filter(|node_claim| {
            node_claim
                .launched_at
                .is_none_or(|launched| now.duration_since(launched).unwrap_or_default() >= grace)
        })
        .map(|node_claim| node_claim.name.clone())
        .collect();
    node_claims_without_instance.sort();
    Garbage {
        leaked_instances,
        node_claims_without_instance,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn instance(
        id: &str,
        node_claim: Option<&str>,
        age_seconds: u64,
        now: SystemTime,
    ) -> Ec2Instance {
        Ec2Instance {
            id: id.to_string(),
            instance_type: "m5.large".to_string(),
            zone: "us-east-1a".to_string(),
            spot: true,
            state: "running".to_string(),
            launch_time: Some(now - Duration::from_secs(age_seconds)),
            tags: node_claim
                .map(|name| BTreeMap::from([(tags::NODE_CLAIM.to_string(), name.to_string())]))
                .unwrap_or_default(),
            image_id: String::new(),
            subnet_id: String::new(),
            security_group_ids: Vec::new(),
        }
    }

    fn claim(
        name: &str,
        instance_id: Option<&str>,
        age_seconds: u64,
        now: SystemTime,
    ) -> ExistingNodeClaim {
        ExistingNodeClaim {
            name: name.to_string(),
            instance_id: instance_id.map(str::to_string),
            launched_at: instance_id.map(|_| now - Duration::from_secs(age_seconds)),
        }
    }

    #[test]
    fn leaked_instances_and_lost_node_claims_are_found() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        struct Case {
            name: &'static str,
            instances: Vec<Ec2Instance>,
            node_claims: Vec<ExistingNodeClaim>,
            expected: Garbage,
        }
        let cases = [
            Case {
                name: "an instance of an existing claim is kept",
                instances: vec![instance("i-1", Some("batch-a"), 600, now)],
                node_claims: vec![claim("batch-a", Some("i-1"), 600, now)],
                expected: Garbage::default(),
            },
            Case {
                name: "an old instance of a deleted claim is leaked",
                instances: vec![instance("i-1", Some("batch-gone"), 31, now)],
                node_claims: vec![],
                expected: Garbage {
                    leaked_instances: vec!["i-1".to_string()],
                    ..Garbage::default()
                },
            },
            Case {
                name: "a young instance without claim waits for the grace period",
                instances: vec![instance("i-1", Some("batch-new"), 29, now)],
                node_claims: vec![],
                expected: Garbage::default(),
            },
            Case {
                name: "a claim whose instance is gone is reported, an unlaunched one is not",
                instances: vec![],
                node_claims: vec![
                    claim("batch-a", Some("i-9"), 31, now),
                    claim("batch-b", None, 0, now),
                ],
                expected: Garbage {
                    node_claims_without_instance: vec!["batch-a".to_string()],
                    ..Garbage::default()
                },
            },
            Case {
                name: "a claim launched moments ago whose instance is not listed yet waits",
                instances: vec![],
                node_claims: vec![claim("batch-new", Some("i-new"), 5, now)],
                expected: Garbage::default(),
            },
        ];
        for case in cases {
            let garbage = find_garbage(&case.instances, &case.node_claims, now, GRACE_PERIOD);
            assert_eq!(garbage, case.expected, "{}", case.name);
        }
    }
}
