//! `nodepools.karpenter.sh` v1: the NodePool's spec is one set of types for both the CRD's
//! schema and the manifest reader (`crate::node_pool`, which validates and converts it);
//! schema-only constraints (enums, patterns, ranges, defaults, CEL rules) are attributes here
//! and change nothing in how a manifest deserialises.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::crd::node_claim::{NodeClassRef, RequirementSpec, TaintSpec, requirement_rules};
use crate::crd::schema::{
    self, Condition, DURATION_OR_NEVER_PATTERN, DURATION_PATTERN, LABEL_VALUE_PATTERN, LabelUse,
    ResourceList,
};
use crate::quantity_text::QuantityText;

pub use crate::crd::node_claim::MAX_REQUIREMENTS;

/// The most budgets a NodePool may have.
pub const MAX_BUDGETS: usize = 50;
/// The most labels a NodePool's template may set.
pub const MAX_TEMPLATE_LABELS: usize = 100;

/// `spec` of a NodePool.
// Each printer column repeats `type_ = ...`, which clippy takes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "karpenter.sh",
    version = "v1",
    kind = "NodePool",
    status = "NodePoolStatus",
    category = "karpenter",
    doc = "NodePool is the Schema for the NodePools API",
    printcolumn(
        name = "NodeClass",
        type_ = "string",
        json_path = ".spec.template.spec.nodeClassRef.name"
    ),
    printcolumn(
        name = "Nodes",
        type_ = "string",
        json_path = ".status.resources.nodes"
    ),
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
        name = "Weight",
        type_ = "integer",
        json_path = ".spec.weight",
        priority = "1"
    ),
    printcolumn(
        name = "CPU",
        type_ = "string",
        json_path = ".status.resources.cpu",
        priority = "1"
    ),
    printcolumn(
        name = "Memory",
        type_ = "string",
        json_path = ".status.resources.memory",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    description = "NodePoolSpec is the top level nodepool specification: NodePools launch nodes for pods that are unschedulable.",
    extend("x-kubernetes-validations" = [
        {
            "rule": "has(self.replicas) == has(oldSelf.replicas)",
            "message": "Cannot transition NodePool between static (replicas set) and dynamic (replicas unset) provisioning modes",
        },
    ])
)]
pub struct NodePoolSpec {
    /// The template of the NodeClaims this pool launches: labels, taints, requirements and
    /// the node class. NodeClaims are often narrower than the template.
    pub template: NodeClaimTemplate,
    /// When and how fast the pool's nodes may be disrupted (consolidation, budgets).
    #[serde(default)]
    #[schemars(extend("default" = {"consolidateAfter": "0s"}))]
    pub disruption: Option<DisruptionSpec>,
    /// Bounds on what the pool may hold in all (`cpu`, `memory`, `nodes`, ...): no launch takes
    /// the pool beyond them.
    #[serde(default)]
    pub limits: BTreeMap<String, QuantityText>,
    /// The pool's priority (1 to 100): pools with a higher weight are tried first; a pool
    /// without one counts as 0.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100), extend("format" = "int32"))]
    pub weight: Option<i64>,
    /// A fixed node count (a static NodePool); Spotter does not support it yet.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub replicas: Option<i64>,
}

/// `spec.template` of a NodePool.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeClaimTemplate {
    /// Labels and annotations for the nodes.
    #[serde(default)]
    pub metadata: TemplateMetadata,
    /// What the nodes must satisfy and carry.
    pub spec: NodeClaimTemplateSpec,
}

/// `spec.template.metadata`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateMetadata {
    /// Labels for the nodes (they count as requirements too); restricted domains excluded.
    #[serde(default)]
    #[schemars(schema_with = "template_labels_schema")]
    pub labels: BTreeMap<String, String>,
    /// Annotations for the nodes.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `spec.template.spec`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("required" = ["nodeClassRef", "requirements"]))]
pub struct NodeClaimTemplateSpec {
    /// Requirements the nodes' labels satisfy (instance types, zones, capacity types, ...),
    /// at most 100.
    #[serde(default)]
    #[schemars(length(max = 100), transform = node_pool_requirement_rules)]
    pub requirements: Vec<RequirementSpec>,
    /// Taints applied to the nodes.
    #[serde(default)]
    pub taints: Vec<TaintSpec>,
    /// Taints applied at startup and expected to be removed by a DaemonSet; pods need not
    /// tolerate them to get a node.
    #[serde(default)]
    pub startup_taints: Vec<TaintSpec>,
    /// The provider's configuration for the nodes (an EC2NodeClass).
    pub node_class_ref: NodeClassRef,
    /// How long after its creation a node is replaced (default 720h), or `Never`.
    #[serde(default)]
    #[schemars(regex(pattern = DURATION_OR_NEVER_PATTERN), extend("default" = "720h"))]
    pub expire_after: Option<String>,
    /// The most a node's drain may take before its pods are deleted regardless of
    /// PodDisruptionBudgets; without it, drains wait indefinitely.
    #[serde(default)]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub termination_grace_period: Option<String>,
}

/// `spec.disruption` of a NodePool.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisruptionSpec {
    /// Which nodes consolidation may remove: `WhenEmpty` or `WhenEmptyOrUnderutilized`
    /// (the default).
    #[serde(default)]
    #[schemars(
        extend("enum" = ["WhenEmpty", "WhenEmptyOrUnderutilized"]),
        extend("default" = "WhenEmptyOrUnderutilized")
    )]
    pub consolidation_policy: Option<String>,
    /// How long a node must have been empty or underutilized before consolidation acts on
    /// it, or `Never`.
    #[serde(default)]
    #[schemars(regex(pattern = DURATION_OR_NEVER_PATTERN), extend("default" = "0s"))]
    pub consolidate_after: Option<String>,
    /// How many nodes may be disrupted at once (the most restrictive active budget wins);
    /// one budget of 10% when left out.
    #[serde(default)]
    #[schemars(
        length(max = 50),
        extend("default" = [{"nodes": "10%"}]),
        extend("x-kubernetes-validations" = [
            {"rule": "self.all(x, has(x.schedule) == has(x.duration))", "message": "'schedule' must be set with 'duration'"},
        ])
    )]
    pub budgets: Option<Vec<BudgetSpec>>,
}

/// A disruption budget.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("required" = ["nodes"]))]
pub struct BudgetSpec {
    /// The most nodes of the pool disrupted at once: a count or a percentage (default 10%).
    #[serde(default = "default_budget_nodes")]
    #[schemars(regex(pattern = r"^((100|[0-9]{1,2})%|[0-9]+)$"))]
    pub nodes: String,
    /// When the budget starts being active (cron syntax, no time zones); with `duration`.
    #[serde(default)]
    #[schemars(regex(
        pattern = r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$"
    ))]
    pub schedule: Option<String>,
    /// How long the budget stays active after each scheduled start (minutes and hours).
    #[serde(default)]
    #[schemars(regex(pattern = r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$"))]
    pub duration: Option<String>,
    /// The disruption reasons the budget applies to (`Underutilized`, `Empty`,
    /// `Drifted`); all when left out.
    #[serde(default)]
    #[schemars(schema_with = "budget_reasons_schema")]
    pub reasons: Vec<String>,
}

/// `status` of a NodePool.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolStatus {
    /// What the pool's nodes hold in all (`cpu`, `memory`, `pods`, `nodes`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: ResourceList,
    /// `Ready`, `ValidationSucceeded`, `NodeClassReady`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation of the node class the conditions were computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_class_observed_generation: Option<i64>,
}

/// The nodes a budget allows when a NodePool names none: 10%.
pub fn default_budget_nodes() -> String {
    "10%".to_string()
}

fn node_pool_requirement_rules(schema: &mut Schema) {
    requirement_rules(schema, LabelUse::NodePool);
}

fn template_labels_schema(_: &mut SchemaGenerator) -> Schema {
    let mut labels = json_schema!({
        "type": "object",
        "additionalProperties": {
            "type": "string",
            "maxLength": 63,
            "pattern": LABEL_VALUE_PATTERN,
        },
        "maxProperties": MAX_TEMPLATE_LABELS,
    });
    schema::add_rules(&mut labels, schema::map_key_rules(LabelUse::NodePool));
    labels
}

fn budget_reasons_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "string",
            "enum": ["Underutilized", "Empty", "Drifted"],
        },
    })
}
