//! The Node object of a fake instance, both ways: built from a launch (name, providerID,
//! labels, annotations, taints, capacity, allocatable, `Ready`), and read back into an
//! [`Instance`] from the Node alone, so that `get` and `list` answer the same after a restart.
//!
//! The Node is named after its NodeClaim; `spec.providerID` is `fake://<zone>/<instance-id>`;
//! the annotations `fake.spotter.dev/{node-claim,node-pool,offering,price-per-hour,launched-at}`
//! record the launch, and the label `fake.spotter.dev/instance-id` finds the Node by instance.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use spotter_cloud::{Instance, LaunchRequest, OfferingKey};
use spotter_core::instance_type::InstanceType;
use spotter_core::labels;
use spotter_core::offering::CapacityType;
use spotter_core::resources::Resources;
use spotter_core::taints::{Effect, UNREGISTERED_TAINT_KEY};

use crate::addresses::node_ip;

/// The scheme of a fake instance's provider ID.
pub const PROVIDER_ID_SCHEME: &str = "fake://";
/// The annotation holding the NodeClaim a fake instance was launched for.
pub const NODE_CLAIM_ANNOTATION: &str = "fake.spotter.dev/node-claim";
/// The annotation holding the NodePool.
pub const NODE_POOL_ANNOTATION: &str = "fake.spotter.dev/node-pool";
/// The annotation holding the offering, `capacity-type:instance-type:zone`.
pub const OFFERING_ANNOTATION: &str = "fake.spotter.dev/offering";
/// The annotation holding the price in USD per hour.
pub const PRICE_ANNOTATION: &str = "fake.spotter.dev/price-per-hour";
/// The annotation holding the launch time (RFC 3339, milliseconds).
pub const LAUNCHED_AT_ANNOTATION: &str = "fake.spotter.dev/launched-at";
/// The label holding the instance ID (what `delete` looks the Node up by).
pub const INSTANCE_ID_LABEL: &str = "fake.spotter.dev/instance-id";

/// Why a Node could not be read as a fake instance.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeObjectError {
    /// The Node has no `fake://` provider ID.
    #[error(
        "failed to read Node {node} as a fake instance: its providerID {provider_id:?} is not fake://<zone>/<instance-id>"
    )]
    ProviderId {
        /// The Node.
        node: String,
        /// What it has.
        provider_id: String,
    },
    /// An annotation is missing.
    #[error(
        "failed to read Node {node} as a fake instance: annotation {annotation} is missing (was it created by another tool?)"
    )]
    MissingAnnotation {
        /// The Node.
        node: String,
        /// The annotation.
        annotation: &'static str,
    },
    /// An annotation does not read.
    #[error(
        "failed to read Node {node} as a fake instance: annotation {annotation}={value:?} is not {expected}"
    )]
    BadAnnotation {
        /// The Node.
        node: String,
        /// The annotation.
        annotation: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// The provider ID of a fake instance.
pub fn provider_id(zone: &str, instance_id: &str) -> String {
    format!("{PROVIDER_ID_SCHEME}{zone}/{instance_id}")
}

/// The zone and instance ID of a `fake://<zone>/<instance-id>` provider ID.
pub fn parse_provider_id(provider_id: &str) -> Option<(&str, &str)> {
    let rest = provider_id.strip_prefix(PROVIDER_ID_SCHEME)?;
    let (zone, instance_id) = rest.split_once('/')?;
    (!zone.is_empty() && !instance_id.is_empty() && !instance_id.contains('/'))
        .then_some((zone, instance_id))
}

/// Whether a Node is a fake instance (its provider ID is `fake://…`).
pub fn is_fake(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|spec| spec.provider_id.as_deref())
        .is_some_and(|provider_id| provider_id.starts_with(PROVIDER_ID_SCHEME))
}

/// The Node of a launch: `instance` bought for `request`, of type `instance_type`, in
/// `region` (when the instance types name one).
pub fn node(
    request: &LaunchRequest,
    instance: &Instance,
    instance_type: &InstanceType,
    region: Option<&str>,
    now: SystemTime,
) -> Node {
    let name = instance.node_claim.clone();
    let mut node_labels: BTreeMap<String, String> = instance_type
        .requirements
        .single_values()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    node_labels.extend(request.labels.clone());
    let offering = &instance.offering;
    for (key, value) in [
        (labels::INSTANCE_TYPE, offering.instance_type.as_str()),
        (labels::ZONE, offering.zone.as_str()),
        (labels::CAPACITY_TYPE, offering.capacity_type.as_str()),
        (labels::OS, "linux"),
        (labels::HOSTNAME, name.as_str()),
        (labels::NODE_POOL, instance.node_pool.as_str()),
        (INSTANCE_ID_LABEL, instance.id.as_str()),
    ] {
        node_labels.insert(key.to_owned(), value.to_owned());
    }
    node_labels
        .entry(labels::ARCH.to_owned())
        .or_insert_with(|| "amd64".to_owned());
    if let Some(region) = region {
        node_labels.insert(labels::REGION.to_owned(), region.to_owned());
    }
    let annotations = BTreeMap::from([
        (
            NODE_CLAIM_ANNOTATION.to_owned(),
            instance.node_claim.clone(),
        ),
        (NODE_POOL_ANNOTATION.to_owned(), instance.node_pool.clone()),
        (OFFERING_ANNOTATION.to_owned(), offering.to_string()),
        (
            PRICE_ANNOTATION.to_owned(),
            instance.price_per_hour.to_string(),
        ),
        (
            LAUNCHED_AT_ANNOTATION.to_owned(),
            format_launch_time(instance.launched_at),
        ),
    ]);
    let mut taints: Vec<Taint> = request.taints.iter().map(kubernetes_taint).collect();
    taints.push(Taint {
        key: UNREGISTERED_TAINT_KEY.to_owned(),
        value: None,
        effect: "NoExecute".to_owned(),
        time_added: None,
    });
    Node {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(node_labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(instance.provider_id.clone()),
            taints: Some(taints),
            ..NodeSpec::default()
        }),
        status: Some(status(&instance.node_claim, instance_type, now)),
    }
}

/// The status of the fake node `node_name` of `instance_type`: capacity, allocatable (the
/// catalog's, after Karpenter's overhead), addresses and a `Ready=True` condition observed at
/// `now`.
pub fn status(node_name: &str, instance_type: &InstanceType, now: SystemTime) -> NodeStatus {
    let now = kubernetes_time(now);
    NodeStatus {
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_owned(),
                address: node_ip(node_name).to_string(),
            },
            NodeAddress {
                type_: "Hostname".to_owned(),
                address: node_name.to_owned(),
            },
        ]),
        capacity: Some(quantities(&instance_type.capacity)),
        allocatable: Some(quantities(&instance_type.allocatable)),
        conditions: Some(vec![NodeCondition {
            type_: "Ready".to_owned(),
            status: "True".to_owned(),
            reason: Some("KubeletReady".to_owned()),
            message: Some("the fake cloud's kubelet stand-in is posting ready status".to_owned()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(now),
        }]),
        ..NodeStatus::default()
    }
}

/// The instance a fake Node stands for, from its provider ID and annotations.
pub fn instance(node: &Node) -> Result<Instance, NodeObjectError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let provider_id = node
        .spec
        .as_ref()
        .and_then(|spec| spec.provider_id.clone())
        .unwrap_or_default();
    let Some((_, instance_id)) = parse_provider_id(&provider_id) else {
        return Err(NodeObjectError::ProviderId {
            node: name,
            provider_id,
        });
    };
    let annotations = node.metadata.annotations.clone().unwrap_or_default();
    let annotation = |key: &'static str| {
        annotations
            .get(key)
            .cloned()
            .ok_or_else(|| NodeObjectError::MissingAnnotation {
                node: name.clone(),
                annotation: key,
            })
    };
    let bad = |annotation: &'static str, value: &str, expected: &'static str| {
        NodeObjectError::BadAnnotation {
            node: name.clone(),
            annotation,
            value: value.to_owned(),
            expected,
        }
    };
    let offering_text = annotation(OFFERING_ANNOTATION)?;
    let offering = parse_offering(&offering_text).ok_or_else(|| {
        bad(
            OFFERING_ANNOTATION,
            &offering_text,
            "capacity-type:instance-type:zone",
        )
    })?;
    let price_text = annotation(PRICE_ANNOTATION)?;
    let price_per_hour = price_text
        .parse::<f64>()
        .ok()
        .filter(|price| price.is_finite() && *price >= 0.0)
        .ok_or_else(|| bad(PRICE_ANNOTATION, &price_text, "a price in USD per hour"))?;
    let launched_text = annotation(LAUNCHED_AT_ANNOTATION)?;
    let launched_at = parse_launch_time(&launched_text)
        .ok_or_else(|| bad(LAUNCHED_AT_ANNOTATION, &launched_text, "an RFC 3339 time"))?;
    Ok(Instance {
        id: instance_id.to_owned(),
        provider_id: provider_id.clone(),
        node_claim: annotation(NODE_CLAIM_ANNOTATION)?,
        node_pool: annotation(NODE_POOL_ANNOTATION)?,
        offering,
        price_per_hour,
        launched_at,
    })
}

/// `capacity-type:instance-type:zone` into an offering key.
pub fn parse_offering(text: &str) -> Option<OfferingKey> {
    let mut fields = text.split(':');
    let (Some(capacity_type), Some(instance_type), Some(zone), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    Some(OfferingKey {
        capacity_type: CapacityType::parse(capacity_type).ok()?,
        instance_type: instance_type.to_owned(),
        zone: zone.to_owned(),
    })
    .filter(|offering| !offering.instance_type.is_empty() && !offering.zone.is_empty())
}

/// A launch time (time since the Unix epoch, whole milliseconds) as RFC 3339.
pub fn format_launch_time(launched_at: Duration) -> String {
    i64::try_from(launched_at.as_millis())
        .ok()
        .and_then(|millis| Timestamp::from_millisecond(millis).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// An RFC 3339 launch time as time since the Unix epoch.
pub fn parse_launch_time(text: &str) -> Option<Duration> {
    let timestamp: Timestamp = text.parse().ok()?;
    u64::try_from(timestamp.as_millisecond())
        .ok()
        .map(Duration::from_millis)
}

/// A resource list as Kubernetes quantities: CPU in cores or millicores, bytes in `Ki` when
/// they divide, everything else as integers.
pub fn quantities(resources: &Resources) -> BTreeMap<String, Quantity> {
    resources
        .iter()
        .map(|(name, value)| {
            let text = match name {
                spotter_core::resources::CPU if value % 1000 == 0 => (value / 1000).to_string(),
                spotter_core::resources::CPU => format!("{value}m"),
                spotter_core::resources::MEMORY | spotter_core::resources::EPHEMERAL_STORAGE
                    if value % 1024 == 0 =>
                {
                    format!("{}Ki", value / 1024)
                }
                _ => value.to_string(),
            };
            (name.to_owned(), Quantity(text))
        })
        .collect()
}

/// A core taint as a Kubernetes taint.
pub fn kubernetes_taint(taint: &spotter_core::taints::Taint) -> Taint {
    Taint {
        key: taint.key.clone(),
        value: (!taint.value.is_empty()).then(|| taint.value.clone()),
        effect: match taint.effect {
            Effect::NoSchedule => "NoSchedule",
            Effect::PreferNoSchedule => "PreferNoSchedule",
            Effect::NoExecute => "NoExecute",
        }
        .to_owned(),
        time_added: None,
    }
}

/// A wall-clock time as a Kubernetes time (the epoch for a time before it).
pub fn kubernetes_time(time: SystemTime) -> Time {
    Time(Timestamp::try_from(time).unwrap_or(Timestamp::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotter_core::builders::instance_type as instance_type_builder;
    use spotter_core::taints::Taint as CoreTaint;

    #[test]
    fn provider_ids_round_trip_and_refuse_other_schemes() {
        assert_eq!(
            provider_id("us-east-1a", "fake-0123456789"),
            "fake://us-east-1a/fake-0123456789"
        );
        let cases = [
            (
                "fake://us-east-1a/fake-0123456789",
                Some(("us-east-1a", "fake-0123456789")),
            ),
            ("aws:///us-east-1a/i-0abc", None),
            ("fake://us-east-1a/", None),
            ("fake:///fake-1", None),
            ("fake://a/b/c", None),
            ("", None),
        ];
        for (text, parsed) in cases {
            assert_eq!(parse_provider_id(text), parsed, "{text}");
        }
    }

    #[test]
    fn quantities_use_kubernetes_units() {
        let resources = Resources {
            cpu_millicores: 1930,
            memory_bytes: 7 * 1024 * 1024 * 1024,
            pods: 29,
            ephemeral_storage_bytes: 1000,
            extended: vec![("nvidia.com/gpu".to_owned(), 1)],
        };
        let texts: Vec<(String, String)> = quantities(&resources)
            .into_iter()
            .map(|(name, quantity)| (name, quantity.0))
            .collect();
        assert_eq!(
            texts,
            [
                ("cpu", "1930m"),
                ("ephemeral-storage", "1000"),
                ("memory", "7340032Ki"),
                ("nvidia.com/gpu", "1"),
                ("pods", "29"),
            ]
            .map(|(name, text)| (name.to_owned(), text.to_owned()))
        );
        let whole = Resources {
            cpu_millicores: 4000,
            ..Resources::default()
        };
        assert_eq!(
            quantities(&whole).get("cpu").map(|q| q.0.as_str()),
            Some("4")
        );
    }

    fn launch() -> (LaunchRequest, Instance, InstanceType) {
        let offering = OfferingKey {
            capacity_type: CapacityType::Spot,
            instance_type: "m5.large".to_owned(),
            zone: "us-east-1b".to_owned(),
        };
        let request = LaunchRequest {
            node_claim: "batch-x7k2p".to_owned(),
            node_pool: "batch".to_owned(),
            node_class: "default".to_owned(),
            offerings: vec![],
            allocation: Default::default(),
            labels: BTreeMap::from([
                ("team".to_owned(), "data".to_owned()),
                (labels::ZONE.to_owned(), "ignored-zone".to_owned()),
            ]),
            taints: vec![CoreTaint::new("dedicated", "batch", Effect::NoSchedule)],
        };
        let instance = Instance {
            id: "fake-00aabbccdd".to_owned(),
            provider_id: provider_id("us-east-1b", "fake-00aabbccdd"),
            node_claim: "batch-x7k2p".to_owned(),
            node_pool: "batch".to_owned(),
            offering,
            price_per_hour: 0.0312,
            launched_at: Duration::from_millis(1_764_000_000_123),
        };
        let instance_type = instance_type_builder("m5.large")
            .cpu(2)
            .memory_gib(8)
            .offering(CapacityType::Spot, "us-east-1b", 0.0312)
            .build();
        (request, instance, instance_type)
    }

    #[test]
    fn a_node_carries_the_launch_and_reads_back_into_the_same_instance() {
        let (request, instance, instance_type) = launch();
        let node = node(
            &request,
            &instance,
            &instance_type,
            Some("us-east-1"),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(node.metadata.name.as_deref(), Some("batch-x7k2p"));
        let node_labels = node.metadata.labels.clone().unwrap_or_default();
        for (key, value) in [
            (labels::INSTANCE_TYPE, "m5.large"),
            (labels::ZONE, "us-east-1b"),
            (labels::REGION, "us-east-1"),
            (labels::CAPACITY_TYPE, "spot"),
            (labels::ARCH, "amd64"),
            (labels::OS, "linux"),
            (labels::HOSTNAME, "batch-x7k2p"),
            (labels::NODE_POOL, "batch"),
            ("team", "data"),
        ] {
            assert_eq!(
                node_labels.get(key).map(String::as_str),
                Some(value),
                "{key}"
            );
        }
        let taints: Vec<(String, Option<String>, String)> = node
            .spec
            .as_ref()
            .and_then(|spec| spec.taints.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|taint| (taint.key, taint.value, taint.effect))
            .collect();
        assert_eq!(
            taints,
            vec![
                (
                    "dedicated".to_owned(),
                    Some("batch".to_owned()),
                    "NoSchedule".to_owned()
                ),
                (
                    UNREGISTERED_TAINT_KEY.to_owned(),
                    None,
                    "NoExecute".to_owned()
                ),
            ]
        );
        assert_eq!(super::instance(&node), Ok(instance));
    }

    #[test]
    fn nodes_that_are_not_fake_instances_say_why() {
        let (request, instance, instance_type) = launch();
        let good = node(
            &request,
            &instance,
            &instance_type,
            None,
            SystemTime::UNIX_EPOCH,
        );
        let with_annotation = |key: &str, value: Option<&str>| {
            let mut node = good.clone();
            let annotations = node.metadata.annotations.get_or_insert_default();
            match value {
                Some(value) => annotations.insert(key.to_owned(), value.to_owned()),
                None => annotations.remove(key),
            };
            node
        };
        let mut other_provider = good.clone();
        if let Some(spec) = other_provider.spec.as_mut() {
            spec.provider_id = Some("aws:///us-east-1b/i-0abc".to_owned());
        }
        let cases = [
            (other_provider, "providerID \"aws:///us-east-1b/i-0abc\""),
            (
                with_annotation(NODE_POOL_ANNOTATION, None),
                "fake.spotter.dev/node-pool is missing",
            ),
            (
                with_annotation(OFFERING_ANNOTATION, Some("spot:m5.large")),
                "fake.spotter.dev/offering=\"spot:m5.large\"",
            ),
            (
                with_annotation(OFFERING_ANNOTATION, Some("cheap:m5.large:a")),
                "capacity-type:instance-type:zone",
            ),
            (
                with_annotation(PRICE_ANNOTATION, Some("-1")),
                "a price in USD per hour",
            ),
            (
                with_annotation(PRICE_ANNOTATION, Some("NaN")),
                "a price in USD per hour",
            ),
            (
                with_annotation(LAUNCHED_AT_ANNOTATION, Some("yesterday")),
                "an RFC 3339 time",
            ),
        ];
        for (node, in_message) in cases {
            let message = super::instance(&node).map_err(|error| error.to_string());
            assert!(
                message
                    .as_ref()
                    .is_err_and(|message| message.contains(in_message)),
                "{message:?} should contain {in_message:?}"
            );
        }
    }

    #[test]
    fn launch_times_round_trip_in_milliseconds() {
        for millis in [0, 1, 1_764_000_000_123, 4_102_444_800_000] {
            let launched_at = Duration::from_millis(millis);
            assert_eq!(
                parse_launch_time(&format_launch_time(launched_at)),
                Some(launched_at)
            );
        }
        assert_eq!(
            format_launch_time(Duration::from_millis(1_500)),
            "1970-01-01T00:00:01.5Z"
        );
        assert_eq!(parse_launch_time("not a time"), None);
    }
}
