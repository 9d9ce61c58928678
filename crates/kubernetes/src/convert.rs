//! The edge: Kubernetes objects converted into the compact values the driver keeps (core
//! pods, nodes, NodePools, PodDisruptionBudgets, and the parts of NodeClaims a restarted
//! controller needs). Nothing else of an object is kept: no `managedFields`, no status the
//! controllers do not read, so that memory grows with what Spotter decides on, not with the
//! size of the objects.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1 as core_v1;
use k8s_openapi::api::policy::v1::PodDisruptionBudget as PodDisruptionBudgetObject;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use spotter_api::crd::ec2_node_class::Ec2NodeClass;
use spotter_api::crd::node_claim::NodeClaim as NodeClaimObject;
use spotter_api::crd::node_pool::NodePool as NodePoolObject;
use spotter_api::node_class_version;
use spotter_api::node_pool::{Metadata, NodeClassRef, NodePoolManifest};
use spotter_api::workload::{convert_pod_spec, label_selector};
use spotter_controllers::pod_disruption_budget::{Amount, Budget, PodDisruptionBudget};
use spotter_controllers::state::ReturnToSpotRecord;
use spotter_core::node::Node;
use spotter_core::node_pool::NodePool;
use spotter_core::pod::{DO_NOT_DISRUPT_ANNOTATION, Pod};
use spotter_core::requirements::{NodeSelectorRequirement, Requirements};

use crate::clock;
use crate::protocol;

/// A NodePool as the driver keeps it.
#[derive(Clone, Debug)]
pub struct NodePoolView {
    /// The name.
    pub name: String,
    /// Its UID (NodeClaims are owned by their NodePool).
    pub uid: String,
    /// Its node class.
    pub node_class_ref: NodeClassRef,
    /// The converted pool, or why it is invalid (shown once as an event and a log line).
    pub node_pool: Result<NodePool, String>,
    /// Its return-to-Spot history, from Spotter's annotations.
    pub return_to_spot: ReturnToSpotRecord,
}

/// A Node as the driver keeps it.
#[derive(Clone, Debug)]
pub struct NodeView {
    /// The node's labels, taints, allocatable and cordon.
    pub node: Node,
    /// `spec.providerID`.
    pub provider_id: Option<String>,
    /// Whether its `Ready` condition is `True`.
    pub ready: bool,
    /// Whether it is being deleted.
    pub deleting: bool,
    /// Whether Spotter's termination finalizer is on it.
    pub finalized: bool,
    /// The interruption notices its agent reported (conditions that are `True`).
    pub notices: Vec<NodeNotice>,
}

/// A notice `spotter agent` wrote on its node as a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeNotice {
    /// The condition type (`SpotInterruption`, `RebalanceRecommendation`, ...).
    pub condition: String,
    /// When the condition became true.
    pub since: Duration,
}

/// A pod as the driver keeps it.
#[derive(Clone, Debug)]
pub struct PodView {
    /// `namespace/name`.
    pub key: String,
    /// The pod, converted.
    pub pod: Arc<Pod>,
    /// The node it is bound to.
    pub node_name: Option<String>,
    /// When it was created.
    pub created_at: Duration,
    /// Whether a DaemonSet owns it or it is a mirror pod (never evicted, never provisioned
    /// for).
    pub daemon: bool,
    /// Whether it finished (`Succeeded` or `Failed`).
    pub finished: bool,
    /// Whether it is being deleted.
    pub deleting: bool,
    /// Whether kube-scheduler found no node for it (`PodScheduled=False`, `Unschedulable`):
    /// only those are provisioned for, as Karpenter does.
    pub unschedulable: bool,
}

/// A NodeClaim as a restarted controller reads it back.
#[derive(Clone, Debug)]
pub struct NodeClaimView {
    /// The name.
    pub name: String,
    /// Its NodePool (label `karpenter.sh/nodepool`).
    pub node_pool: String,
    /// Its requirements.
    pub requirements: Requirements,
    /// When it was created.
    pub created_at: Duration,
    /// `status.providerID`, once launched.
    pub provider_id: Option<String>,
    /// Its labels (the launched offering's instance type, zone and capacity type).
    pub labels: BTreeMap<String, String>,
    /// Spotter's annotations.
    pub annotations: BTreeMap<String, String>,
    /// Whether it is being deleted.
    pub deleting: bool,
}

/// Why an object could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A field is wrong.
    #[error("{kind} {name}: {field}: {message}")]
    Field {
        /// The object's kind.
        kind: &'static str,
        /// Its name (`namespace/name` for namespaced objects).
        name: String,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The key of a namespaced object.
pub fn key_of(metadata: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        metadata.namespace.as_deref().unwrap_or_default(),
        metadata.name.as_deref().unwrap_or_default()
    )
}

/// What the driver keeps of an EC2NodeClass: its name, whether its `Ready` condition holds
/// (`None` while it has none: nobody wrote its status yet) and the hash of its static fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeClassView {
    /// The name.
    pub name: String,
    /// Its `Ready` condition.
    pub ready: Option<bool>,
    /// The hash of its spec's static fields (`spotter_api::node_class_version`).
    pub static_hash: String,
}

/// Converts an EC2NodeClass.
pub fn node_class(object: &Ec2NodeClass) -> NodeClassView {
    let ready = object.status.as_ref().and_then(|status| {
        status
            .conditions
            .iter()
            .find(|condition| condition.type_ == "Ready")
            .map(|condition| condition.status == "True")
    });
    // The typed spec always serializes (string keys, no non-finite numbers).
    let spec = serde_json::to_value(&object.spec).unwrap_or_default();
    NodeClassView {
        name: object.metadata.name.clone().unwrap_or_default(),
        ready,
        static_hash: node_class_version::static_hash(&spec),
    }
}

/// Converts a NodePool.
pub fn node_pool(object: &NodePoolObject) -> NodePoolView {
    let metadata = &object.metadata;
    let name = metadata.name.clone().unwrap_or_default();
    let manifest = NodePoolManifest {
        api_version: spotter_api::node_pool::API_VERSION.to_string(),
        kind: "NodePool".to_string(),
        metadata: Metadata {
            name: name.clone(),
            labels: metadata.labels.clone().unwrap_or_default(),
            annotations: metadata.annotations.clone().unwrap_or_default(),
        },
        spec: object.spec.clone(),
        status: None,
    };
    let annotation = |key: &str| {
        metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(key))
            .and_then(|text| clock::parse_rfc3339(text))
    };
    NodePoolView {
        return_to_spot: ReturnToSpotRecord {
            last_probe: annotation(protocol::LAST_RETURN_PROBE_ANNOTATION),
            last_return: annotation(protocol::LAST_RETURN_TO_SPOT_ANNOTATION),
        },
        uid: metadata.uid.clone().unwrap_or_default(),
        node_class_ref: object.spec.template.spec.node_class_ref.clone(),
        node_pool: manifest
            .into_node_pool()
            .map_err(|error| format!("{}: {}", error.field, error.message)),
        name,
    }
}

/// Converts a Node.
pub fn node(object: &core_v1::Node) -> Result<NodeView, ConvertError> {
    let name = object.metadata.name.clone().unwrap_or_default();
    let node = spotter_api::node::convert_node(object).map_err(|error| ConvertError::Field {
        kind: "Node",
        name: name.clone(),
        field: error.field,
        message: error.message,
    })?;
    let conditions = object
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref());
    let ready = conditions
        .into_iter()
        .flatten()
        .any(|condition| condition.type_ == "Ready" && condition.status == "True");
    let notices = conditions
        .into_iter()
        .flatten()
        .filter(|condition| {
            condition.status == "True"
                && protocol::NOTICE_CONDITIONS.contains(&condition.type_.as_str())
        })
        .map(|condition| NodeNotice {
            condition: condition.type_.clone(),
            since: condition
                .last_transition_time
                .as_ref()
                .map(clock::from_time)
                .unwrap_or_default(),
        })
        .collect();
    Ok(NodeView {
        node,
        provider_id: object
            .spec
            .as_ref()
            .and_then(|spec| spec.provider_id.clone()),
        ready,
        deleting: object.metadata.deletion_timestamp.is_some(),
        finalized: has_finalizer(&object.metadata),
        notices,
    })
}

/// Converts a pod.
pub fn pod(object: &core_v1::Pod) -> Result<PodView, ConvertError> {
    let metadata = &object.metadata;
    let key = key_of(metadata);
    let spec = object.spec.clone().unwrap_or_default();
    let mut pod = convert_pod_spec(
        metadata.namespace.as_deref().unwrap_or_default(),
        metadata.name.as_deref().unwrap_or_default(),
        &metadata.labels.clone().unwrap_or_default(),
        &spec,
        "spec",
    )
    .map_err(|error| ConvertError::Field {
        kind: "Pod",
        name: key.clone(),
        field: error.field,
        message: error.message,
    })?;
    let annotations = metadata.annotations.as_ref();
    pod.do_not_disrupt |= annotations
        .and_then(|annotations| annotations.get(DO_NOT_DISRUPT_ANNOTATION))
        .is_some_and(|value| value == "true");
    let mirror = annotations
        .is_some_and(|annotations| annotations.contains_key(protocol::MIRROR_POD_ANNOTATION));
    let owned_by_daemon_set = metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| owner.kind == "DaemonSet" && owner.controller == Some(true));
    let status = object.status.as_ref();
    let phase = status.and_then(|status| status.phase.as_deref());
    let unschedulable = status
        .and_then(|status| status.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|condition| {
            condition.type_ == "PodScheduled"
                && condition.status == "False"
                && condition.reason.as_deref() == Some("Unschedulable")
        });
    Ok(PodView {
        key,
        pod: Arc::new(pod),
        node_name: spec.node_name.filter(|name| !name.is_empty()),
        created_at: metadata
            .creation_timestamp
            .as_ref()
            .map(clock::from_time)
            .unwrap_or_default(),
        daemon: owned_by_daemon_set || mirror,
        finished: matches!(phase, Some("Succeeded" | "Failed")),
        deleting: metadata.deletion_timestamp.is_some(),
        unschedulable,
    })
}

/// The pod a DaemonSet runs on every node (for the overhead a new node must hold), or an
/// error when its template cannot be read.
pub fn daemon_set_pod(object: &DaemonSet) -> Result<Pod, ConvertError> {
    let metadata = &object.metadata;
    let key = key_of(metadata);
    let template = object
        .spec
        .as_ref()
        .map(|spec| spec.template.clone())
        .unwrap_or_default();
    let labels = template
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.labels.clone())
        .unwrap_or_default();
    convert_pod_spec(
        metadata.namespace.as_deref().unwrap_or_default(),
        metadata.name.as_deref().unwrap_or_default(),
        &labels,
        &template.spec.unwrap_or_default(),
        "spec.template.spec",
    )
    .map_err(|error| ConvertError::Field {
        kind: "DaemonSet",
        name: key,
        field: error.field,
        message: error.message,
    })
}

/// Converts a PodDisruptionBudget; `expectedPods` comes from its status, which kube's
/// disruption controller keeps.
pub fn pod_disruption_budget(
    object: &PodDisruptionBudgetObject,
) -> Result<PodDisruptionBudget, ConvertError> {
    let metadata = &object.metadata;
    let key = key_of(metadata);
    let error = |field: &str, message: String| ConvertError::Field {
        kind: "PodDisruptionBudget",
        name: key.clone(),
        field: field.to_string(),
        message,
    };
    let spec = object.spec.clone().unwrap_or_default();
    let selector = label_selector(spec.selector.as_ref(), "spec.selector")
        .map_err(|field_error| error(&field_error.field, field_error.message))?;
    let budget = match (&spec.min_available, &spec.max_unavailable) {
        (Some(amount), None) => Budget::MinAvailable(
            amount_of(amount).map_err(|message| error("spec.minAvailable", message))?,
        ),
        (None, Some(amount)) => Budget::MaxUnavailable(
            amount_of(amount).map_err(|message| error("spec.maxUnavailable", message))?,
        ),
        // Kubernetes refuses both; neither means no disruption is allowed... of nothing:
        // `maxUnavailable: 0` is the closest, and the safe reading.
        _ => Budget::MaxUnavailable(Amount::Count(0)),
    };
    Ok(PodDisruptionBudget {
        name: metadata.name.clone().unwrap_or_default(),
        namespace: metadata.namespace.clone().unwrap_or_default(),
        selector,
        budget,
        expected_pods: object
            .status
            .as_ref()
            .map(|status| u32::try_from(status.expected_pods).unwrap_or(0))
            .unwrap_or(0),
    })
}

/// Reads back what a NodeClaim says of itself.
pub fn node_claim(object: &NodeClaimObject) -> Result<NodeClaimView, ConvertError> {
    let metadata = &object.metadata;
    let name = metadata.name.clone().unwrap_or_default();
    let labels = metadata.labels.clone().unwrap_or_default();
    let error = |field: String, message: String| ConvertError::Field {
        kind: "NodeClaim",
        name: name.clone(),
        field,
        message,
    };
    let expressions = object
        .spec
        .requirements
        .iter()
        .enumerate()
        .map(|(index, requirement)| {
            let operator = spotter_api::node_pool::parse_operator(&requirement.operator).map_err(
                |message| error(format!("spec.requirements[{index}].operator"), message),
            )?;
            Ok(NodeSelectorRequirement {
                key: requirement.key.clone(),
                operator,
                values: requirement.values.clone(),
                min_values: requirement
                    .min_values
                    .and_then(|value| u32::try_from(value).ok()),
            })
        })
        .collect::<Result<Vec<_>, ConvertError>>()?;
    let requirements =
        Requirements::from_expressions(&expressions).map_err(|requirement_error| {
            error(
                "spec.requirements".to_string(),
                requirement_error.to_string(),
            )
        })?;
    Ok(NodeClaimView {
        node_pool: labels
            .get(spotter_core::labels::NODE_POOL)
            .cloned()
            .unwrap_or_default(),
        requirements,
        created_at: metadata
            .creation_timestamp
            .as_ref()
            .map(clock::from_time)
            .unwrap_or_default(),
        provider_id: object
            .status
            .as_ref()
            .and_then(|status| status.provider_id.clone()),
        labels,
        annotations: metadata.annotations.clone().unwrap_or_default(),
        deleting: metadata.deletion_timestamp.is_some(),
        name,
    })
}

/// Whether Spotter's termination finalizer is on the object.
pub fn has_finalizer(metadata: &ObjectMeta) -> bool {
    metadata
        .finalizers
        .iter()
        .flatten()
        .any(|finalizer| finalizer == protocol::TERMINATION_FINALIZER)
}

fn amount_of(amount: &IntOrString) -> Result<Amount, String> {
    match amount {
        IntOrString::Int(count) => u32::try_from(*count)
            .map(Amount::Count)
            .map_err(|_| format!("{count} is negative: give a count of pods or a percentage")),
        IntOrString::String(text) => {
            let parsed = text
                .strip_suffix('%')
                .and_then(|percent| percent.parse::<u32>().ok())
                .map(Amount::Percent)
                .or_else(|| text.parse::<u32>().ok().map(Amount::Count));
            parsed.ok_or_else(|| {
                format!("{text:?} is neither a count of pods nor a percentage like \"50%\"")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_kubernetes_reads_them() {
        let cases = [
            (IntOrString::Int(2), Ok(Amount::Count(2))),
            (IntOrString::String("50%".into()), Ok(Amount::Percent(50))),
            (IntOrString::String("3".into()), Ok(Amount::Count(3))),
        ];
        for (amount, expected) in cases {
            assert_eq!(amount_of(&amount), expected, "{amount:?}");
        }
        for bad in [IntOrString::Int(-1), IntOrString::String("half".into())] {
            assert!(amount_of(&bad).is_err(), "{bad:?}");
        }
    }
}
