//! `karpenter.sh/v1` NodePool: the manifest's shape (unknown fields rejected, as the CRD's
//! structural schema does), Karpenter v1's validation rules, and conversion into the core
//! [`spotter_core::node_pool::NodePool`]. The spec's types are the CRD's
//! (`crate::crd::node_pool`, re-exported here): one set of types for both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spotter_core::labels;
use spotter_core::node_pool::{
    Budget, BudgetNodes, ConsolidationPolicy, Disruption, LAST_RETURN_PROBE_ANNOTATION,
    LAST_RETURN_TO_SPOT_ANNOTATION, Limits, NodePool, RETURN_TO_SPOT_AFTER_ANNOTATION,
    RETURN_TO_SPOT_ANNOTATION, RETURN_TO_SPOT_MAX_CONCURRENT_ANNOTATION, ReturnToSpotOverrides,
};
use spotter_core::quantity::Quantity;
use spotter_core::requirements::{NodeSelectorRequirement, Operator, Requirements};
use spotter_core::resources;
use spotter_core::taints::Taint;

pub use crate::crd::node_claim::{NodeClassRef, RequirementSpec, TaintSpec};
pub use crate::crd::node_pool::{
    BudgetSpec, DisruptionSpec, MAX_BUDGETS, MAX_REQUIREMENTS, NodeClaimTemplate,
    NodeClaimTemplateSpec, NodePoolSpec, TemplateMetadata, default_budget_nodes,
};
use crate::document::FieldError;
use crate::duration;
use crate::validation::{check_label_key, check_label_value, parse_effect};

/// The API version Spotter reads NodePools in.
pub const API_VERSION: &str = "karpenter.sh/v1";

/// A NodePool manifest.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePoolManifest {
    /// `karpenter.sh/v1`.
    pub api_version: String,
    /// `NodePool`.
    pub kind: String,
    /// Metadata.
    pub metadata: Metadata,
    /// Spec.
    pub spec: NodePoolSpec,
    /// Status (ignored).
    #[serde(default, skip_serializing)]
    pub status: Option<serde_yaml_ng::Value>,
}

/// The part of `metadata` Spotter reads; other fields are accepted and ignored.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl NodePoolManifest {
    /// Validates the manifest as Karpenter v1 does and converts it.
    pub fn into_node_pool(self) -> Result<NodePool, FieldError> {
        if self.api_version != API_VERSION {
            return Err(FieldError::new(
                "apiVersion",
                format!(
                    "{:?} is not supported: Spotter reads {API_VERSION} NodePools (convert v1beta1 manifests with Karpenter's v1 migration guide)",
                    self.api_version
                ),
            ));
        }
        let return_to_spot = convert_return_to_spot(&self.metadata.annotations)?;
        let name = self.metadata.name;
        if name.is_empty() {
            return Err(FieldError::new(
                "metadata.name",
                "missing: a NodePool needs a name",
            ));
        }
        check_label_value(&name).map_err(|message| FieldError::new("metadata.name", message))?;
        let spec = self.spec;
        if spec.replicas.is_some() {
            return Err(FieldError::new(
                "spec.replicas",
                "static NodePools (spec.replicas) are not supported by Spotter yet; remove the field",
            ));
        }
        let weight = match spec.weight {
            None => 0,
            Some(weight @ 1..=100) => weight as i32,
            Some(weight) => {
                return Err(FieldError::new(
                    "spec.weight",
                    format!("must be between 1 and 100, got {weight}"),
                ));
            }
        };
        let template = spec.template;
        for (key, value) in &template.metadata.labels {
            let field = format!("spec.template.metadata.labels.{key}");
            check_label_key(key).map_err(|message| FieldError::new(&field, message))?;
            check_label_value(value).map_err(|message| FieldError::new(&field, message))?;
            if let Some(restriction) = labels::restriction(key) {
                return Err(FieldError::new(field, restriction));
            }
        }
        let template_spec = template.spec;
        let requirements = convert_requirements(&template_spec.requirements)?;
        let taints = convert_taints(&template_spec.taints, "spec.template.spec.taints")?;
        let startup_taints = convert_taints(
            &template_spec.startup_taints,
            "spec.template.spec.startupTaints",
        )?;
        let node_class_ref = template_spec.node_class_ref;
        for (field, value) in [
            ("group", &node_class_ref.group),
            ("kind", &node_class_ref.kind),
            ("name", &node_class_ref.name),
        ] {
            if value.is_empty() {
                return Err(FieldError::new(
                    format!("spec.template.spec.nodeClassRef.{field}"),
                    "missing: nodeClassRef needs group, kind and name (karpenter.k8s.aws, EC2NodeClass, <name>)",
                ));
            }
        }
        let expire_after = match &template_spec.expire_after {
            None => Some(std::time::Duration::from_secs(720 * 3600)),
            Some(text) => duration::parse(text, true)
                .map_err(|message| FieldError::new("spec.template.spec.expireAfter", message))?,
        };
        let termination_grace_period = template_spec
            .termination_grace_period
            .as_deref()
            .map(|text| duration::parse(text, false))
            .transpose()
            .map_err(|message| {
                FieldError::new("spec.template.spec.terminationGracePeriod", message)
            })?
            .flatten();
        let disruption = convert_disruption(spec.disruption.unwrap_or_default())?;
        let mut limits = Limits::new();
        for (resource, quantity) in &spec.limits {
            let field = format!("spec.limits.{resource}");
            let parsed = Quantity::parse(quantity.as_str())
                .map_err(|error| FieldError::new(&field, error.to_string()))?;
            if parsed.milli_units() < 0 {
                return Err(FieldError::new(field, "must not be negative"));
            }
            let value = if resource == resources::CPU {
                parsed.milli_units()
            } else {
                parsed.units_rounded_up()
            };
            limits.set(resource, value);
        }
        let mut pool = NodePool {
            name,
            weight,
            node_class: node_class_ref.name,
            labels: template.metadata.labels,
            annotations: template.metadata.annotations,
            taints,
            startup_taints,
            requirements: Requirements::new(),
            limits,
            disruption,
            expire_after,
            termination_grace_period,
            return_to_spot,
        };
        pool.refresh_requirements(&requirements);
        pool.default_capacity_type();
        Ok(pool)
    }
}

/// Spotter's `spotter.dev/return-to-spot*` annotations on the NodePool; any other
/// `spotter.dev/` annotation is a mistake worth reporting.
fn convert_return_to_spot(
    annotations: &BTreeMap<String, String>,
) -> Result<ReturnToSpotOverrides, FieldError> {
    let mut overrides = ReturnToSpotOverrides::default();
    for (key, value) in annotations {
        let field = || format!("metadata.annotations.{key}");
        match key.as_str() {
            RETURN_TO_SPOT_ANNOTATION => {
                overrides.enabled = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(FieldError::new(
                            field(),
                            format!("must be \"true\" or \"false\", got {other:?}"),
                        ));
                    }
                });
            }
            RETURN_TO_SPOT_AFTER_ANNOTATION => {
                overrides.min_spot_available = duration::parse(value, false)
                    .map_err(|message| FieldError::new(field(), message))?;
            }
            RETURN_TO_SPOT_MAX_CONCURRENT_ANNOTATION => {
                overrides.max_concurrent = Some(match value.parse::<u32>() {
                    Ok(count) if count > 0 => count,
                    _ => {
                        return Err(FieldError::new(
                            field(),
                            format!("must be a whole number of at least 1, got {value:?}"),
                        ));
                    }
                });
            }
            // The controller's own record, read by the driver.
            LAST_RETURN_PROBE_ANNOTATION | LAST_RETURN_TO_SPOT_ANNOTATION => {}
            other if other.starts_with("spotter.dev/") => {
                return Err(FieldError::new(
                    field(),
                    format!(
                        "unknown Spotter annotation; NodePools take {RETURN_TO_SPOT_ANNOTATION}, {RETURN_TO_SPOT_AFTER_ANNOTATION} and {RETURN_TO_SPOT_MAX_CONCURRENT_ANNOTATION}"
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(overrides)
}

fn convert_requirements(specs: &[RequirementSpec]) -> Result<Requirements, FieldError> {
    if specs.len() > MAX_REQUIREMENTS {
        return Err(FieldError::new(
            "spec.template.spec.requirements",
            format!(
                "at most {MAX_REQUIREMENTS} requirements are allowed, got {}",
                specs.len()
            ),
        ));
    }
    let mut expressions = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let field = |name: &str| format!("spec.template.spec.requirements[{index}].{name}");
        check_label_key(&spec.key).map_err(|message| FieldError::new(field("key"), message))?;
        if let Some(restriction) = labels::restriction(&spec.key) {
            return Err(FieldError::new(field("key"), restriction));
        }
        let operator = parse_operator(&spec.operator)
            .map_err(|message| FieldError::new(field("operator"), message))?;
        match operator {
            Operator::In | Operator::NotIn if spec.values.is_empty() => {
                return Err(FieldError::new(
                    field("values"),
                    format!("operator {} needs at least one value", spec.operator),
                ));
            }
            Operator::Exists | Operator::DoesNotExist if !spec.values.is_empty() => {
                return Err(FieldError::new(
                    field("values"),
                    format!("operator {} takes no values", spec.operator),
                ));
            }
            Operator::Gt | Operator::Lt
                if !(spec.values.len() == 1 && spec.values[0].parse::<u64>().is_ok()) =>
            {
                return Err(FieldError::new(
                    field("values"),
                    format!(
                        "operator {} needs a single non-negative integer value",
                        spec.operator
                    ),
                ));
            }
            _ => {}
        }
        for (value_index, value) in spec.values.iter().enumerate() {
            check_label_value(value).map_err(|message| {
                FieldError::new(format!("{}[{value_index}]", field("values")), message)
            })?;
        }
        let min_values = match spec.min_values {
            None => None,
            Some(min_values @ 1..=50) => {
                if operator == Operator::In && (spec.values.len() as i64) < min_values {
                    return Err(FieldError::new(
                        field("minValues"),
                        format!(
                            "{min_values} is more than the {} values listed",
                            spec.values.len()
                        ),
                    ));
                }
                Some(min_values as u32)
            }
            Some(other) => {
                return Err(FieldError::new(
                    field("minValues"),
                    format!("must be between 1 and 50, got {other}"),
                ));
            }
        };
        expressions.push(NodeSelectorRequirement {
            key: spec.key.clone(),
            operator,
            values: spec.values.clone(),
            min_values,
        });
    }
    Requirements::from_expressions(&expressions)
        .map_err(|error| FieldError::new("spec.template.spec.requirements", error.to_string()))
}

/// Parses a node-selector operator name.
pub fn parse_operator(text: &str) -> Result<Operator, String> {
    Ok(match text {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::Gt,
        "Lt" => Operator::Lt,
        other => {
            return Err(format!(
                "unknown operator {other:?}: expected In, NotIn, Exists, DoesNotExist, Gt or Lt"
            ));
        }
    })
}

fn convert_taints(specs: &[TaintSpec], field: &str) -> Result<Vec<Taint>, FieldError> {
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            check_label_key(&spec.key)
                .map_err(|message| FieldError::new(format!("{field}[{index}].key"), message))?;
            let effect = parse_effect(&spec.effect)
                .map_err(|message| FieldError::new(format!("{field}[{index}].effect"), message))?;
            Ok(Taint::new(
                spec.key.clone(),
                spec.value.clone().unwrap_or_default(),
                effect,
            ))
        })
        .collect()
}

fn convert_disruption(spec: DisruptionSpec) -> Result<Disruption, FieldError> {
    let consolidation_policy = match spec.consolidation_policy.as_deref() {
        None | Some("WhenEmptyOrUnderutilized") => ConsolidationPolicy::WhenEmptyOrUnderutilized,
        Some("WhenEmpty") => ConsolidationPolicy::WhenEmpty,
        Some(other) => {
            return Err(FieldError::new(
                "spec.disruption.consolidationPolicy",
                format!("unknown policy {other:?}: expected WhenEmpty or WhenEmptyOrUnderutilized"),
            ));
        }
    };
    let consolidate_after = match &spec.consolidate_after {
        None => Some(std::time::Duration::ZERO),
        Some(text) => duration::parse(text, true)
            .map_err(|message| FieldError::new("spec.disruption.consolidateAfter", message))?,
    };
    let budget_specs = spec.budgets.unwrap_or_else(|| {
        vec![BudgetSpec {
            nodes: default_budget_nodes(),
            schedule: None,
            duration: None,
            reasons: Vec::new(),
        }]
    });
    if budget_specs.len() > MAX_BUDGETS {
        return Err(FieldError::new(
            "spec.disruption.budgets",
            format!(
                "at most {MAX_BUDGETS} budgets are allowed, got {}",
                budget_specs.len()
            ),
        ));
    }
    let mut budgets = Vec::new();
    for (index, budget) in budget_specs.into_iter().enumerate() {
        let field = |name: &str| format!("spec.disruption.budgets[{index}].{name}");
        let nodes = parse_budget_nodes(&budget.nodes)
            .map_err(|message| FieldError::new(field("nodes"), message))?;
        if budget.schedule.is_some() != budget.duration.is_some() {
            return Err(FieldError::new(
                field("schedule"),
                "schedule and duration must be set together",
            ));
        }
        let duration = budget
            .duration
            .as_deref()
            .map(|text| duration::parse(text, false))
            .transpose()
            .map_err(|message| FieldError::new(field("duration"), message))?
            .flatten();
        for (reason_index, reason) in budget.reasons.iter().enumerate() {
            if !matches!(reason.as_str(), "Underutilized" | "Empty" | "Drifted") {
                return Err(FieldError::new(
                    format!("{}[{reason_index}]", field("reasons")),
                    format!("unknown reason {reason:?}: expected Underutilized, Empty or Drifted"),
                ));
            }
        }
        budgets.push(Budget {
            nodes,
            schedule: budget.schedule,
            duration,
            reasons: budget.reasons,
        });
    }
    Ok(Disruption {
        consolidation_policy,
        consolidate_after,
        budgets,
    })
}

fn parse_budget_nodes(text: &str) -> Result<BudgetNodes, String> {
    let expected = || format!("{text:?} is not a node count or a percentage such as 10% or 3");
    if let Some(percent) = text.strip_suffix('%') {
        let value: u32 = percent.parse().map_err(|_| expected())?;
        if value > 100 {
            return Err(format!("{text:?}: a percentage must be at most 100%"));
        }
        return Ok(BudgetNodes::Percent(value));
    }
    text.parse().map(BudgetNodes::Count).map_err(|_| expected())
}
