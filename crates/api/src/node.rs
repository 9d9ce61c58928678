//! v1 Nodes given as existing capacity: labels (beta aliases normalised), taints, allocatable
//! (or capacity when allocatable is absent) and whether the node is cordoned.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core_v1;
use spotter_core::labels;
use spotter_core::node::Node;
use spotter_core::quantity::Quantity;
use spotter_core::resources::Resources;
use spotter_core::taints::Taint;

use crate::document::FieldError;
use crate::validation::parse_effect;

/// Converts a Node manifest.
pub fn convert_node(node: &core_v1::Node) -> Result<Node, FieldError> {
    let name = node
        .metadata
        .name
        .clone()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| FieldError::new("metadata.name", "missing: a Node needs a name"))?;
    let mut node_labels: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in node.metadata.labels.iter().flatten() {
        node_labels.insert(labels::normalize(key).to_string(), value.clone());
    }
    node_labels
        .entry(labels::HOSTNAME.to_string())
        .or_insert_with(|| name.clone());
    let spec = node.spec.clone().unwrap_or_default();
    let taints = spec
        .taints
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, taint)| {
            let effect = parse_effect(&taint.effect).map_err(|message| {
                FieldError::new(format!("spec.taints[{index}].effect"), message)
            })?;
            Ok(Taint::new(
                taint.key.clone(),
                taint.value.clone().unwrap_or_default(),
                effect,
            ))
        })
        .collect::<Result<Vec<_>, FieldError>>()?;
    let status = node.status.clone().unwrap_or_default();
    let (list, field) = match (&status.allocatable, &status.capacity) {
        (Some(allocatable), _) => (allocatable, "status.allocatable"),
        (None, Some(capacity)) => (capacity, "status.capacity"),
        (None, None) => {
            return Err(FieldError::new(
                "status.allocatable",
                "missing: an existing Node needs status.allocatable (or status.capacity) to hold pods",
            ));
        }
    };
    let mut allocatable = Resources::new();
    for (resource, quantity) in list {
        let parsed = Quantity::parse(&quantity.0)
            .map_err(|error| FieldError::new(format!("{field}.{resource}"), error.to_string()))?;
        allocatable.set_quantity(resource, parsed);
    }
    Ok(Node {
        name,
        labels: std::sync::Arc::new(node_labels),
        taints,
        allocatable,
        unschedulable: spec.unschedulable.unwrap_or(false),
        pods: Vec::new(),
    })
}
