//! Schema pieces the three CRDs share: the CEL rules that keep users off restricted label keys
//! (built from the core's lists of well-known labels and restricted domains, so the API server
//! and the manifest reader refuse the same keys), the patterns of Karpenter's string fields,
//! quantities, and the status condition every kind reports.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use spotter_core::labels;

use crate::quantity_text::QuantityText;

/// A Kubernetes qualified name with an optional DNS-subdomain prefix (label keys, taint keys).
pub const QUALIFIED_NAME_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(\/))?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";
/// A label value: empty, or alphanumerics, `-`, `_` and `.` between alphanumerics.
pub const LABEL_VALUE_PATTERN: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
/// A Kubernetes resource quantity (`100`, `500m`, `4Gi`, `1e3`).
pub const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";
/// A duration of whole hours, minutes and seconds, or `Never`.
pub const DURATION_OR_NEVER_PATTERN: &str = r"^(([0-9]+(s|m|h))+|Never)$";
/// A duration of whole hours, minutes and seconds.
pub const DURATION_PATTERN: &str = r"^([0-9]+(s|m|h))+$";

/// Which label keys a rule set guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelUse {
    /// A NodePool's template labels and requirements: `karpenter.sh/nodepool` is Karpenter's.
    NodePool,
    /// A NodeClaim's requirements, which carry the `karpenter.sh/nodepool` of their pool.
    NodeClaim,
}

/// The CEL rules (`x-kubernetes-validations`) refusing restricted label keys. `subject` is the
/// CEL expression of the key (`self` on a key field, `x` inside `self.all(x, ...)` on a map).
/// The messages are Karpenter's: `label domain "kubernetes.io" is restricted`.
pub fn restricted_label_rules(subject: &str, label_use: LabelUse) -> Vec<Value> {
    let domain = format!("{subject}.find('^([^/]+)')");
    let in_domain =
        |parent: &str| format!("({domain} == '{parent}' || {domain}.endsWith('.{parent}'))");
    let mut rules = Vec::new();
    for restricted in labels::RESTRICTED_DOMAINS {
        let allowed_keys: Vec<String> = allowed_keys()
            .into_iter()
            .filter(|key| {
                key.split_once('/').is_some_and(|(key_domain, _)| {
                    key_domain == *restricted || key_domain.ends_with(&format!(".{restricted}"))
                })
            })
            .map(|key| format!("'{key}'"))
            .collect();
        let mut alternatives = vec![format!("!{subject}.contains('/')")];
        if !allowed_keys.is_empty() {
            alternatives.push(format!("{subject} in [{}]", allowed_keys.join(", ")));
        }
        for excepted in labels::EXCEPTED_DOMAINS {
            if excepted.ends_with(&format!(".{restricted}")) {
                alternatives.push(in_domain(excepted));
            }
        }
        alternatives.push(format!("!{}", in_domain(restricted)));
        rules.push(json!({
            "rule": alternatives.join(" || "),
            "message": format!("label domain \"{restricted}\" is restricted"),
        }));
    }
    for restricted in labels::RESTRICTED_LABELS {
        if label_use == LabelUse::NodeClaim && *restricted == labels::NODE_POOL {
            continue;
        }
        rules.push(json!({
            "rule": format!("{subject} != '{restricted}'"),
            "message": format!("label \"{restricted}\" is restricted"),
        }));
    }
    rules
}

/// Wraps key rules for a map of labels: each rule must hold for every key.
pub fn map_key_rules(label_use: LabelUse) -> Vec<Value> {
    restricted_label_rules("x", label_use)
        .into_iter()
        .map(|mut rule| {
            if let Some(text) = rule.get("rule").and_then(Value::as_str) {
                rule["rule"] = Value::String(format!("self.all(x, {text})"));
            }
            rule
        })
        .collect()
}

/// The well-known labels and their deprecated aliases (`beta.kubernetes.io/arch`, ...).
fn allowed_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = labels::WELL_KNOWN.to_vec();
    keys.extend([
        "beta.kubernetes.io/instance-type",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
    ]);
    keys
}

/// Adds rules to a schema's `x-kubernetes-validations`.
pub fn add_rules(schema: &mut Schema, rules: Vec<Value>) {
    if let Some(object) = schema.as_object_mut() {
        let entry = object
            .entry("x-kubernetes-validations")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(existing) = entry {
            existing.extend(rules);
        }
    }
}

/// A CEL rule with its message.
pub fn rule(rule: &str, message: &str) -> Value {
    json!({ "rule": rule, "message": message })
}

/// The schema of a quantity: an integer or a string in Kubernetes' quantity syntax.
pub fn quantity_schema() -> Schema {
    json_schema!({
        "anyOf": [{ "type": "integer" }, { "type": "string" }],
        "pattern": QUANTITY_PATTERN,
        "x-kubernetes-int-or-string": true,
    })
}

/// Resource names to quantities (`limits`, `status.capacity`, ...).
pub type ResourceList = BTreeMap<String, QuantityText>;

/// A status condition, as Karpenter's `status.conditions` hold them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition type in CamelCase (`Ready`, `Launched`, `Registered`, ...).
    #[schemars(
        length(max = 316),
        regex(
            pattern = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        )
    )]
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[schemars(extend("enum" = ["True", "False", "Unknown"]))]
    pub status: String,
    /// When the status last changed (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
    /// A CamelCase reason for the last transition.
    #[serde(default)]
    #[schemars(
        length(max = 1024),
        regex(pattern = r"^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?|)$")
    )]
    pub reason: String,
    /// A human-readable message.
    #[serde(default)]
    #[schemars(length(max = 32768))]
    pub message: String,
    /// The generation the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
}
