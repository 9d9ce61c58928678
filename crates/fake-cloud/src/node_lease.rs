//! The heartbeat of a fake node: its Lease `kube-node-lease/<node>`, as a kubelet renews it.
//! kube-controller-manager's node-lifecycle controller counts a renewal as the node being
//! alive; without one for `--node-monitor-grace-period` (40 s by default) it marks the node
//! `Ready=Unknown`, taints it unreachable and makes its pods unready. The Lease is owned by
//! its Node, so the garbage collector removes it with the Node.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;

/// The namespace of node Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The Lease of the node `node_name` (UID `node_uid`), renewed at `now`, valid for `duration`.
pub fn lease(node_name: &str, node_uid: &str, duration: Duration, now: SystemTime) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node_name.to_owned()),
            namespace: Some(NODE_LEASE_NAMESPACE.to_owned()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".to_owned(),
                kind: "Node".to_owned(),
                name: node_name.to_owned(),
                uid: node_uid.to_owned(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node_name.to_owned()),
            lease_duration_seconds: Some(i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)),
            renew_time: Some(MicroTime(
                Timestamp::try_from(now).unwrap_or(Timestamp::UNIX_EPOCH),
            )),
            ..LeaseSpec::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_the_nodes_held_by_it_and_owned_by_it() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let lease = lease("batch-x7k2p", "uid-1", Duration::from_secs(40), now);
        assert_eq!(lease.metadata.name.as_deref(), Some("batch-x7k2p"));
        assert_eq!(
            lease.metadata.namespace.as_deref(),
            Some(NODE_LEASE_NAMESPACE)
        );
        let owner = lease
            .metadata
            .owner_references
            .unwrap_or_default()
            .pop()
            .map(|owner| (owner.kind, owner.name, owner.uid));
        assert_eq!(
            owner,
            Some((
                "Node".to_owned(),
                "batch-x7k2p".to_owned(),
                "uid-1".to_owned()
            ))
        );
        let spec = lease.spec.unwrap_or_default();
        assert_eq!(spec.holder_identity.as_deref(), Some("batch-x7k2p"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(spec.renew_time.map(|time| time.0.as_second()), Some(1_000));
    }
}
