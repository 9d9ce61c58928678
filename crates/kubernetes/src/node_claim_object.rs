//! NodeClaim objects as Karpenter writes them: a new claim from the provisioner's request
//! (owned by its NodePool, held by the termination finalizer, the pool's template labels,
//! taints and node class, the requirements narrowed to the candidate instance types, Spotter's
//! `fallback`/`replaces` annotations), and the patches that report its launch (provider ID,
//! capacity, the offering's labels) and its conditions.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};
use spotter_api::crd::node_claim::{
    NodeClaim as NodeClaimObject, NodeClaimSpec, RequirementSpec, TaintSpec,
};
use spotter_api::node_pool::NodeClassRef;
use spotter_cloud::Instance;
use spotter_controllers::action::NodeClaimRequest;
use spotter_controllers::drift;
use spotter_core::instance_type::InstanceType;
use spotter_core::labels;
use spotter_core::node_pool::NodePool;
use spotter_core::requirements::{Operator, Requirement, Requirements};
use spotter_core::resources::{CPU, Resources};
use spotter_core::taints::Taint;

use crate::clock;
use crate::protocol;

/// The conditions of a NodeClaim, as the state sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClaimConditions {
    /// The instance exists.
    pub launched: bool,
    /// Its node joined.
    pub registered: bool,
    /// Its node is Ready, startup taints gone.
    pub initialized: bool,
    /// Initialized, and no pod came or went for its NodePool's `consolidateAfter` (Karpenter's
    /// `Consolidatable`; absent while false, and with `consolidateAfter: Never`).
    pub consolidatable: bool,
    /// Why it drifted (`NodePoolDrifted`, `RequirementsDrifted`, `NodeClassDrift`,
    /// `AMIDrift`, ...), if it did (Karpenter's
    /// `Drifted`; absent otherwise).
    pub drifted: Option<&'static str>,
}

impl ClaimConditions {
    /// Each condition written, with whether it holds: `Launched`, `Registered`,
    /// `Initialized` and `Ready` always, `Consolidatable` and `Drifted` only while true.
    pub fn statuses(&self) -> Vec<(&'static str, bool)> {
        let mut statuses = vec![
            (protocol::LAUNCHED, self.launched),
            (protocol::REGISTERED, self.registered),
            (protocol::INITIALIZED, self.initialized),
            (
                protocol::READY,
                self.launched && self.registered && self.initialized,
            ),
        ];
        if self.consolidatable {
            statuses.push((protocol::CONSOLIDATABLE, true));
        }
        if self.drifted.is_some() {
            statuses.push((protocol::DRIFTED, true));
        }
        statuses
    }
}

/// The NodeClaim object for a provisioner's request.
pub fn new_node_claim(
    request: &NodeClaimRequest,
    node_pool: &NodePool,
    node_pool_uid: &str,
    node_class_ref: &NodeClassRef,
    node_class_hash: Option<&str>,
) -> NodeClaimObject {
    let mut requirements = request.requirements.clone();
    if !request.instance_types.is_empty() {
        requirements.add(
            labels::INSTANCE_TYPE,
            Requirement::in_values(request.instance_types.iter().cloned()),
        );
    }
    let mut object_labels = node_pool.labels.clone();
    object_labels.insert(labels::NODE_POOL.to_string(), node_pool.name.clone());
    let mut annotations = BTreeMap::new();
    if request.fallback {
        annotations.insert(
            protocol::FALLBACK_ANNOTATION.to_string(),
            "true".to_string(),
        );
    }
    if let Some(replaces) = &request.replaces {
        annotations.insert(protocol::REPLACES_ANNOTATION.to_string(), replaces.clone());
    }
    // Karpenter's drift protocol: the NodePool template's hash when the claim was made.
    annotations.insert(
        drift::NODE_POOL_HASH_ANNOTATION.to_string(),
        drift::node_pool_hash(node_pool),
    );
    annotations.insert(
        drift::NODE_POOL_HASH_VERSION_ANNOTATION.to_string(),
        drift::NODE_POOL_HASH_VERSION.to_string(),
    );
    // And the AWS provider's: the hash of the node class's static fields, when the class is
    // known (a claim without it is compared by its instance only).
    if let Some(hash) = node_class_hash {
        annotations.insert(
            drift::NODE_CLASS_HASH_ANNOTATION.to_string(),
            hash.to_string(),
        );
        annotations.insert(
            drift::NODE_CLASS_HASH_VERSION_ANNOTATION.to_string(),
            drift::NODE_CLASS_HASH_VERSION.to_string(),
        );
    }
    let spec = NodeClaimSpec {
        taints: node_pool.taints.iter().map(taint_spec).collect(),
        startup_taints: node_pool.startup_taints.iter().map(taint_spec).collect(),
        requirements: requirement_specs(&requirements),
        resources: None,
        node_class_ref: node_class_ref.clone(),
        expire_after: Some(
            node_pool
                .expire_after
                .map_or_else(|| "Never".to_string(), duration_text),
        ),
        termination_grace_period: node_pool.termination_grace_period.map(duration_text),
    };
    let mut object = NodeClaimObject::new(&request.name, spec);
    object.metadata = ObjectMeta {
        name: Some(request.name.clone()),
        labels: Some(object_labels),
        annotations: Some(annotations),
        finalizers: Some(vec![protocol::TERMINATION_FINALIZER.to_string()]),
        owner_references: Some(vec![OwnerReference {
            api_version: "karpenter.sh/v1".to_string(),
            kind: "NodePool".to_string(),
            name: node_pool.name.clone(),
            uid: node_pool_uid.to_string(),
            block_owner_deletion: Some(true),
            controller: None,
        }]),
        ..ObjectMeta::default()
    };
    object
}

/// The instance types a NodeClaim's requirements allow (`node.kubernetes.io/instance-type In`).
pub fn instance_types_of(requirements: &Requirements) -> Vec<String> {
    requirements
        .get(labels::INSTANCE_TYPE)
        .map(|requirement| requirement.values().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The metadata patch of a launched NodeClaim: the offering's labels and the instance
/// type's, as Karpenter labels its NodeClaims.
pub fn launched_labels_patch(instance: &Instance, instance_type: Option<&InstanceType>) -> Value {
    let mut object_labels: BTreeMap<String, String> = instance_type
        .map(|instance_type| {
            instance_type
                .requirements
                .single_values()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect()
        })
        .unwrap_or_default();
    object_labels.insert(
        labels::INSTANCE_TYPE.to_string(),
        instance.offering.instance_type.clone(),
    );
    object_labels.insert(labels::ZONE.to_string(), instance.offering.zone.clone());
    object_labels.insert(
        labels::CAPACITY_TYPE.to_string(),
        instance.offering.capacity_type.to_string(),
    );
    json!({ "metadata": { "labels": object_labels } })
}

/// The status patch of a launched NodeClaim.
pub fn launched_status_patch(instance: &Instance, instance_type: Option<&InstanceType>) -> Value {
    let (capacity, allocatable) = instance_type
        .map(|instance_type| {
            (
                resource_list(&instance_type.capacity),
                resource_list(&instance_type.allocatable),
            )
        })
        .unwrap_or_default();
    json!({
        "status": {
            "providerID": instance.provider_id,
            "capacity": capacity,
            "allocatable": allocatable,
        }
    })
}

/// The status patch that sets the conditions (the whole list: a merge patch replaces it).
/// `since` gives each condition's last transition time.
pub fn conditions_patch(
    conditions: ClaimConditions,
    since: &BTreeMap<&'static str, Duration>,
    node_name: Option<&str>,
) -> Value {
    let entry = |type_: &'static str, status: bool, reason: &str| {
        json!({
            "type": type_,
            "status": if status { "True" } else { "Unknown" },
            "reason": if status { type_ } else { reason },
            "message": "",
            "lastTransitionTime": clock::rfc3339(since.get(type_).copied().unwrap_or_default()),
        })
    };
    let listed: Vec<Value> = conditions
        .statuses()
        .into_iter()
        .map(|(type_, status)| match type_ {
            protocol::LAUNCHED => entry(type_, status, "AwaitingLaunch"),
            protocol::REGISTERED => entry(type_, status, "AwaitingRegistration"),
            protocol::INITIALIZED => entry(type_, status, "AwaitingInitialization"),
            protocol::DRIFTED => {
                let mut drifted = entry(type_, status, "");
                drifted["reason"] = json!(conditions.drifted.unwrap_or(protocol::DRIFTED));
                drifted
            }
            protocol::CONSOLIDATABLE => entry(type_, status, ""),
            _ => entry(type_, status, "AwaitingReady"),
        })
        .collect();
    let mut status = json!({ "conditions": listed });
    if let (Some(node_name), Some(object)) = (node_name, status.as_object_mut()) {
        object.insert("nodeName".to_string(), json!(node_name));
    }
    json!({ "status": status })
}

/// A duration as the API writes it (`90s`).
pub fn duration_text(duration: Duration) -> String {
    format!("{}s", duration.as_secs())
}

/// Resources as an API resource list.
pub fn resource_list(resources: &Resources) -> BTreeMap<String, String> {
    resources
        .iter()
        .map(|(name, value)| {
            let text = if name == CPU {
                if value % 1000 == 0 {
                    (value / 1000).to_string()
                } else {
                    format!("{value}m")
                }
            } else {
                value.to_string()
            };
            (name.to_string(), text)
        })
        .collect()
}

fn requirement_specs(requirements: &Requirements) -> Vec<RequirementSpec> {
    requirements
        .iter()
        .flat_map(|(key, requirement)| requirement.expressions(key))
        .map(|expression| RequirementSpec {
            key: expression.key,
            operator: operator_text(expression.operator).to_string(),
            values: expression.values,
            min_values: expression.min_values.map(i64::from),
        })
        .collect()
}

fn operator_text(operator: Operator) -> &'static str {
    match operator {
        Operator::In => "In",
        Operator::NotIn => "NotIn",
        Operator::Exists => "Exists",
        Operator::DoesNotExist => "DoesNotExist",
        Operator::Gt => "Gt",
        Operator::Lt => "Lt",
    }
}

fn taint_spec(taint: &Taint) -> TaintSpec {
    TaintSpec {
        key: taint.key.clone(),
        value: Some(taint.value.clone()).filter(|value| !value.is_empty()),
        effect: taint.effect.to_string(),
        time_added: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotter_core::builders::node_pool;

    fn request(fallback: bool, replaces: Option<&str>) -> NodeClaimRequest {
        let mut requirements = Requirements::new();
        requirements.add(labels::CAPACITY_TYPE, Requirement::single("spot"));
        NodeClaimRequest {
            name: "batch-abcde".to_string(),
            node_pool: "batch".to_string(),
            requirements,
            instance_types: vec!["m5.large".to_string(), "c5.large".to_string()],
            pods: Vec::new(),
            fallback,
            replaces: replaces.map(str::to_string),
        }
    }

    #[test]
    fn a_new_claim_carries_karpenters_protocol_and_spotters_annotations() {
        let pool = node_pool("batch").build();
        let node_class_ref = NodeClassRef {
            group: "karpenter.k8s.aws".to_string(),
            kind: "EC2NodeClass".to_string(),
            name: "default".to_string(),
        };
        let cases = [
            (request(false, None), None, None, Some("0123456789abcdef")),
            (request(true, None), Some("true"), None, None),
            (
                request(false, Some("batch-fallback-x1y2z")),
                None,
                Some("batch-fallback-x1y2z"),
                Some("0123456789abcdef"),
            ),
        ];
        for (request, fallback, replaces, node_class_hash) in cases {
            let object = new_node_claim(&request, &pool, "uid-1", &node_class_ref, node_class_hash);
            let metadata = &object.metadata;
            assert_eq!(
                metadata.finalizers.as_deref(),
                Some(&[protocol::TERMINATION_FINALIZER.to_string()][..])
            );
            assert_eq!(
                metadata
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get(labels::NODE_POOL))
                    .map(String::as_str),
                Some("batch")
            );
            let annotations = metadata.annotations.clone().unwrap_or_default();
            assert_eq!(
                annotations
                    .get(protocol::FALLBACK_ANNOTATION)
                    .map(String::as_str),
                fallback
            );
            assert_eq!(
                annotations
                    .get(protocol::REPLACES_ANNOTATION)
                    .map(String::as_str),
                replaces
            );
            assert_eq!(
                annotations.get(drift::NODE_POOL_HASH_ANNOTATION),
                Some(&drift::node_pool_hash(&pool))
            );
            assert_eq!(
                annotations
                    .get(drift::NODE_POOL_HASH_VERSION_ANNOTATION)
                    .map(String::as_str),
                Some(drift::NODE_POOL_HASH_VERSION)
            );
            assert_eq!(
                annotations
                    .get(drift::NODE_CLASS_HASH_ANNOTATION)
                    .map(String::as_str),
                node_class_hash
            );
            assert_eq!(
                annotations
                    .get(drift::NODE_CLASS_HASH_VERSION_ANNOTATION)
                    .map(String::as_str),
                node_class_hash.map(|_| drift::NODE_CLASS_HASH_VERSION)
            );
            let owner = &metadata.owner_references.clone().unwrap_or_default()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.uid.as_str()),
                ("NodePool", "uid-1")
            );
            let instance_types = object
                .spec
                .requirements
                .iter()
                .find(|requirement| requirement.key == labels::INSTANCE_TYPE)
                .map(|requirement| requirement.values.clone());
            assert_eq!(
                instance_types,
                Some(vec!["c5.large".to_string(), "m5.large".to_string()])
            );
        }
    }

    #[test]
    fn consolidatable_and_drifted_are_written_only_while_they_hold() {
        let ready = ClaimConditions {
            launched: true,
            registered: true,
            initialized: true,
            ..ClaimConditions::default()
        };
        let cases = [
            ("launching", ClaimConditions::default(), vec![]),
            ("ready", ready, vec![]),
            (
                "consolidatable",
                ClaimConditions {
                    consolidatable: true,
                    ..ready
                },
                vec![("Consolidatable", "Consolidatable")],
            ),
            (
                "drifted and consolidatable",
                ClaimConditions {
                    consolidatable: true,
                    drifted: Some("NodePoolDrifted"),
                    ..ready
                },
                vec![
                    ("Consolidatable", "Consolidatable"),
                    ("Drifted", "NodePoolDrifted"),
                ],
            ),
        ];
        for (name, conditions, extra) in cases {
            let patch = conditions_patch(conditions, &BTreeMap::new(), None);
            let written: Vec<(String, String, String)> = patch["status"]["conditions"]
                .as_array()
                .expect("a list")
                .iter()
                .map(|condition| {
                    let field = |key: &str| condition[key].as_str().unwrap_or_default().to_owned();
                    (field("type"), field("status"), field("reason"))
                })
                .collect();
            let ready_status = if conditions.initialized {
                "True"
            } else {
                "Unknown"
            };
            assert_eq!(written.len(), 4 + extra.len(), "{name}: {written:?}");
            assert_eq!(written[3].0, "Ready", "{name}");
            assert_eq!(written[3].1, ready_status, "{name}");
            for (index, (type_, reason)) in extra.iter().enumerate() {
                assert_eq!(
                    written[4 + index],
                    ((*type_).to_owned(), "True".to_owned(), (*reason).to_owned()),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn resource_lists_use_the_apis_units() {
        let mut resources = Resources::new();
        resources.set(CPU, 1930);
        resources.set("memory", 7_000_000_000);
        resources.set("pods", 29);
        let list = resource_list(&resources);
        assert_eq!(list.get("cpu").map(String::as_str), Some("1930m"));
        assert_eq!(list.get("memory").map(String::as_str), Some("7000000000"));
        assert_eq!(list.get("pods").map(String::as_str), Some("29"));
        resources.set(CPU, 2000);
        assert_eq!(
            resource_list(&resources).get("cpu").map(String::as_str),
            Some("2")
        );
    }
}
