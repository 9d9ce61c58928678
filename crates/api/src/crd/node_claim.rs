//! `nodeclaims.karpenter.sh` v1: the NodeClaim, Karpenter's request for one node, and the parts
//! of its spec that a NodePool's template shares (requirements, taints, `nodeClassRef`). The
//! spec is immutable once created; the status carries the launch's outcome and conditions.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::crd::schema::{
    self, Condition, DURATION_OR_NEVER_PATTERN, DURATION_PATTERN, LABEL_VALUE_PATTERN, LabelUse,
    QUALIFIED_NAME_PATTERN, ResourceList,
};

/// The most requirements a NodePool or a NodeClaim may have.
pub const MAX_REQUIREMENTS: usize = 100;

/// `spec` of a NodeClaim.
// Each printer column repeats `type_ = ...`, which clippy takes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "karpenter.sh",
    version = "v1",
    kind = "NodeClaim",
    status = "NodeClaimStatus",
    category = "karpenter",
    doc = "NodeClaim is the Schema for the NodeClaims API",
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = r".metadata.labels.node\.kubernetes\.io/instance-type"
    ),
    printcolumn(
        name = "Capacity",
        type_ = "string",
        json_path = r".metadata.labels.karpenter\.sh/capacity-type"
    ),
    printcolumn(
        name = "Zone",
        type_ = "string",
        json_path = r".metadata.labels.topology\.kubernetes\.io/zone"
    ),
    printcolumn(name = "Node", type_ = "string", json_path = ".status.nodeName"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "ImageID",
        type_ = "string",
        json_path = ".status.imageID",
        priority = "1"
    ),
    printcolumn(
        name = "ID",
        type_ = "string",
        json_path = ".status.providerID",
        priority = "1"
    ),
    printcolumn(
        name = "NodePool",
        type_ = "string",
        json_path = r".metadata.labels.karpenter\.sh/nodepool",
        priority = "1"
    ),
    printcolumn(
        name = "NodeClass",
        type_ = "string",
        json_path = ".spec.nodeClassRef.name",
        priority = "1"
    ),
    printcolumn(
        name = "Drifted",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Drifted")].status"#,
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(
    description = "NodeClaimSpec describes the desired state of the NodeClaim",
    extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "spec is immutable"}])
)]
pub struct NodeClaimSpec {
    /// Taints applied to the node.
    #[serde(default)]
    pub taints: Vec<TaintSpec>,
    /// Taints applied at startup and expected to be removed by a DaemonSet.
    #[serde(default)]
    pub startup_taints: Vec<TaintSpec>,
    /// Requirements the node's labels satisfy.
    #[schemars(length(max = 100), transform = node_claim_requirement_rules)]
    pub requirements: Vec<RequirementSpec>,
    /// The resources the node must hold (the pods' requests and the DaemonSets' overhead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The provider's configuration for the node.
    pub node_class_ref: NodeClassRef,
    /// How long after the node's creation it is replaced (default 720h), or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_OR_NEVER_PATTERN), extend("default" = "720h"))]
    pub expire_after: Option<String>,
    /// The most a drain may take before pods are deleted regardless of PDBs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub termination_grace_period: Option<String>,
}

/// `spec.resources` of a NodeClaim.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// The minimum resources the node must have.
    #[serde(default)]
    pub requests: ResourceList,
}

/// `status` of a NodeClaim.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimStatus {
    /// The name of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The cloud provider's ID of the instance (`aws:///us-east-1a/i-...`, `fake://...`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "providerID"
    )]
    pub provider_id: Option<String>,
    /// The image the node runs.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "imageID")]
    pub image_id: Option<String>,
    /// The instance's full capacity.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: ResourceList,
    /// What pods may use.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocatable: ResourceList,
    /// `Launched`, `Registered`, `Initialized`, `Ready`, `Drifted`, `Consolidatable`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When a pod was last scheduled to or removed from the node (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub last_pod_event_time: Option<String>,
}

/// A requirement with Karpenter's `minValues`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequirementSpec {
    /// The label key.
    #[schemars(length(max = 316), regex(pattern = QUALIFIED_NAME_PATTERN))]
    pub key: String,
    /// How the label relates to the values: In, NotIn, Exists, DoesNotExist, Gt or Lt.
    #[schemars(extend("enum" = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]))]
    pub operator: String,
    /// The values: one or more for In and NotIn, none for Exists and DoesNotExist, a single
    /// integer for Gt and Lt.
    #[serde(default)]
    #[schemars(schema_with = "label_values_schema")]
    pub values: Vec<String>,
    /// The fewest distinct values a launch must keep open for this key (1 to 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 50))]
    pub min_values: Option<i64>,
}

/// A taint.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaintSpec {
    /// The taint's key.
    #[schemars(length(min = 1), regex(pattern = QUALIFIED_NAME_PATTERN))]
    pub key: String,
    /// The taint's value.
    #[serde(default)]
    #[schemars(regex(pattern = QUALIFIED_NAME_PATTERN))]
    pub value: Option<String>,
    /// NoSchedule, PreferNoSchedule or NoExecute.
    #[schemars(extend("enum" = ["NoSchedule", "PreferNoSchedule", "NoExecute"]))]
    pub effect: String,
    /// When the taint was added (NoExecute taints only).
    #[serde(default)]
    #[schemars(extend("format" = "date-time"))]
    pub time_added: Option<String>,
}

/// A reference to the provider's node class.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    extend("required" = ["group", "kind", "name"]),
    extend("x-kubernetes-validations" = [
        {"rule": "self.group == oldSelf.group", "message": "nodeClassRef.group is immutable"},
        {"rule": "self.kind == oldSelf.kind", "message": "nodeClassRef.kind is immutable"},
    ])
)]
pub struct NodeClassRef {
    /// The node class's API group (`karpenter.k8s.aws`); immutable.
    #[serde(default)]
    #[schemars(
        regex(pattern = r"^[^/]*$"),
        extend("x-kubernetes-validations" = [{"rule": "self != ''", "message": "group may not be empty"}])
    )]
    pub group: String,
    /// The node class's kind (`EC2NodeClass`); immutable.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self != ''", "message": "kind may not be empty"}]))]
    pub kind: String,
    /// The node class's name.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self != ''", "message": "name may not be empty"}]))]
    pub name: String,
}

/// The rules on a list of requirements: restricted keys, and the values each operator takes.
pub fn requirement_rules(schema: &mut Schema, label_use: LabelUse) {
    let mut rules: Vec<serde_json::Value> = schema::restricted_label_rules("x.key", label_use)
        .into_iter()
        .map(|mut rule| {
            if let Some(text) = rule.get("rule").and_then(serde_json::Value::as_str) {
                rule["rule"] = serde_json::Value::String(format!("self.all(x, {text})"));
            }
            rule
        })
        .collect();
    rules.extend([
        schema::rule(
            "self.all(x, x.operator == 'In' ? (has(x.values) && x.values.size() != 0) : true)",
            "requirements with operator 'In' must have a value defined",
        ),
        schema::rule(
            "self.all(x, x.operator == 'NotIn' ? (has(x.values) && x.values.size() != 0) : true)",
            "requirements with operator 'NotIn' must have a value defined",
        ),
        schema::rule(
            "self.all(x, (x.operator == 'Exists' || x.operator == 'DoesNotExist') ? (!has(x.values) || x.values.size() == 0) : true)",
            "requirements with operator 'Exists' or 'DoesNotExist' must not have values",
        ),
        schema::rule(
            "self.all(x, (x.operator == 'Gt' || x.operator == 'Lt') ? (has(x.values) && x.values.size() == 1 && x.values[0].matches('^[0-9]+$')) : true)",
            "requirements operator 'Gt' or 'Lt' must have a single positive integer value",
        ),
        schema::rule(
            "self.all(x, (x.operator == 'In' && has(x.minValues)) ? (has(x.values) && x.values.size() >= x.minValues) : true)",
            "requirements with 'minValues' must have at least that many values specified in the 'values' field",
        ),
    ]);
    schema::add_rules(schema, rules);
}

fn node_claim_requirement_rules(schema: &mut Schema) {
    requirement_rules(schema, LabelUse::NodeClaim);
}

fn label_values_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "string",
            "maxLength": 63,
            "pattern": LABEL_VALUE_PATTERN,
        },
        "x-kubernetes-list-type": "atomic",
    })
}
