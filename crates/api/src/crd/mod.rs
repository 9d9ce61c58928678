//! Karpenter's CustomResourceDefinitions generated from Spotter's Rust types: `NodePool` and
//! `NodeClaim` (`karpenter.sh/v1`) and `EC2NodeClass` (`karpenter.k8s.aws/v1`), with their
//! fields, defaults, status subresources, printer columns and validation (OpenAPI constraints
//! and CEL rules), so that `spotter crds | kubectl apply -f -` installs what Karpenter's chart
//! would and the API server refuses the manifests Karpenter's would.

pub mod ec2_node_class;
pub mod node_claim;
pub mod node_pool;
pub mod schema;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

/// Something went wrong rendering the CRDs.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// A generated CRD could not be converted to or from JSON.
    #[error("failed to convert the {name} CRD: {source}")]
    Json {
        /// The CRD's name.
        name: String,
        /// The serde error.
        source: serde_json::Error,
    },
    /// A CRD could not be written as YAML.
    #[error("failed to write the {name} CRD as YAML: {source}")]
    Yaml {
        /// The CRD's name.
        name: String,
        /// The serde error.
        source: serde_yaml_ng::Error,
    },
}

/// The three CRDs, NodePools first.
pub fn all() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    [
        node_pool::NodePool::crd(),
        node_claim::NodeClaim::crd(),
        ec2_node_class::Ec2NodeClass::crd(),
    ]
    .into_iter()
    .map(tidy)
    .collect()
}

/// The file a CRD is kept in, as Karpenter names them: `karpenter.sh_nodepools.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// One CRD as a YAML document (starting with `---`).
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    let text = serde_yaml_ng::to_string(crd).map_err(|source| CrdError::Yaml {
        name: crd_name(crd),
        source,
    })?;
    Ok(format!("---\n{text}"))
}

/// The CRDs as one multi-document YAML stream.
pub fn to_yaml_stream(crds: &[CustomResourceDefinition]) -> Result<String, CrdError> {
    crds.iter().map(to_yaml).collect()
}

fn crd_name(crd: &CustomResourceDefinition) -> String {
    crd.metadata.name.clone().unwrap_or_default()
}

/// Removes what schemars adds for Rust's sake but Kubernetes' structural schemas do without:
/// `nullable` on optional fields, `additionalProperties: false` from `deny_unknown_fields` (the
/// API server prunes unknown fields), empty defaults (`null`, `""`, `[]`, `{}`) from
/// `#[serde(default)]`, which would otherwise be written into every stored object;
/// and gives quantities their `anyOf` of integer and string back.
fn tidy(crd: CustomResourceDefinition) -> Result<CustomResourceDefinition, CrdError> {
    let name = crd_name(&crd);
    let json_error = |source| CrdError::Json {
        name: name.clone(),
        source,
    };
    let mut value = serde_json::to_value(crd).map_err(json_error)?;
    if let Some(versions) = value
        .pointer_mut("/spec/versions")
        .and_then(Value::as_array_mut)
    {
        for version in versions {
            if let Some(schema) = version.pointer_mut("/schema/openAPIV3Schema") {
                tidy_schema(schema);
            }
        }
    }
    serde_json::from_value(value).map_err(json_error)
}

/// `null`, `""`, `[]`, `{}`, or an object of such values: what `#[serde(default)]` gives.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.values().all(is_empty),
        _ => false,
    }
}

fn tidy_schema(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            object.remove("nullable");
            if object.get("additionalProperties") == Some(&Value::Bool(false)) {
                object.remove("additionalProperties");
            }
            if object.get("default").is_some_and(is_empty) {
                object.remove("default");
            }
            if object.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
                object.insert(
                    "anyOf".into(),
                    serde_json::json!([{ "type": "integer" }, { "type": "string" }]),
                );
            }
            for (key, child) in object.iter_mut() {
                // CEL rules, enums and defaults are values, not schemas.
                if !matches!(
                    key.as_str(),
                    "x-kubernetes-validations" | "enum" | "default"
                ) {
                    tidy_schema(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy_schema),
        _ => {}
    }
}
