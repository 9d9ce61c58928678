//! The Kubernetes objects of a scenario: manifest files and inline NodePools, EC2NodeClasses
//! and DaemonSets read through the API layer's `Manifests` (so they are checked and converted
//! exactly as `spotter plan` does), inline Deployments and Jobs read with the API layer's
//! documents and pod conversion, and `policy/v1` PodDisruptionBudgets read here with
//! k8s-openapi. Problems inside an inline object are reported at the object's field path in
//! the scenario (`workloads[0].deployment.spec.replicas`) and its line.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::policy::v1 as policy_v1;
use k8s_openapi::api::{apps::v1 as apps_v1, batch::v1 as batch_v1, core::v1 as core_v1};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta_v1;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_yaml_ng::Value;
use spotter_api::document::{Document, documents};
use spotter_api::node_class_version::NodeClassVersion;
use spotter_api::workload::{convert_pod_spec, do_not_disrupt};
use spotter_api::{FieldError, ManifestError, Manifests};
use spotter_core::label_selector::LabelSelector;
use spotter_core::node_pool::NodePool;
use spotter_core::pod::Pod;

use super::reader::{Reader, strip_path};
use super::{DisruptionBudget, IntOrPercent, PodDisruptionBudget, ScenarioError};

/// The cluster's fixed parts.
pub(super) struct Cluster {
    /// NodePools.
    pub node_pools: Vec<NodePool>,
    /// EC2NodeClasses, as drift compares them.
    pub node_classes: BTreeMap<String, NodeClassVersion>,
    /// One pod per DaemonSet.
    pub daemon_set_pods: Vec<Pod>,
    /// The API layer's warnings.
    pub warnings: Vec<String>,
}

/// An inline Deployment or Job, converted.
pub(super) struct InlineWorkload {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, `default` when unset.
    pub namespace: String,
    /// The pod template.
    pub template: Pod,
    /// A Deployment's `spec.replicas` (1 when unset); a Job's pods per run.
    pub count: u32,
}

/// Reads the manifest files and the inline NodePools, EC2NodeClasses and DaemonSets.
pub(super) fn read_cluster(
    reader: &Reader<'_>,
    files: &[String],
    node_pools: &[Value],
    node_classes: &[Value],
    daemon_sets: &[Value],
) -> Result<Cluster, ScenarioError> {
    let mut manifests = Manifests::default();
    for (index, given) in files.iter().enumerate() {
        let field = format!("manifests[{index}]");
        let joined = reader.base_dir.join(given);
        if !joined.is_file() {
            return Err(reader.invalid(
                field,
                format!(
                    "manifest file {given:?} does not exist (resolved to {}); paths are relative to the scenario file",
                    lexically_normal(&joined).display()
                ),
            ));
        }
        let resolved = std::fs::canonicalize(&joined).unwrap_or(joined);
        let text = std::fs::read_to_string(&resolved).map_err(|error| {
            reader.invalid(
                &field,
                format!(
                    "failed to read manifest file {given:?} (resolved to {}): {error}",
                    resolved.display()
                ),
            )
        })?;
        let name = resolved.display().to_string();
        for document in documents(&name, &text).map_err(|error| reader.manifest(&field, error))? {
            if let Some(advice) = misplaced_kind(&document) {
                return Err(reader.manifest(
                    &field,
                    ManifestError::Invalid {
                        location: document.location.clone(),
                        field: "kind".to_string(),
                        message: advice,
                    },
                ));
            }
        }
        manifests
            .add(&name, &text)
            .map_err(|error| reader.manifest(&field, error))?;
    }
    let lists = [
        ("nodePools", node_pools, "NodePool", None),
        ("ec2NodeClasses", node_classes, "EC2NodeClass", None),
        ("daemonSets", daemon_sets, "DaemonSet", Some("apps/v1")),
    ];
    for (list, values, kind, api_version) in lists {
        for (index, value) in values.iter().enumerate() {
            let field = format!("{list}[{index}]");
            let text = inline_text(reader, &field, value, kind, api_version)?;
            manifests
                .add(&label(reader, &field), &text)
                .map_err(|error| inline_error(reader, &field, error))?;
        }
    }
    let manifests = manifests
        .finish()
        .map_err(|error| reader.invalid("manifests", error.to_string()))?;
    if manifests.node_pools.is_empty() {
        return Err(reader.invalid(
            "nodePools",
            "the scenario has no NodePool: add karpenter.sh/v1 NodePools under nodePools or in a file listed under manifests",
        ));
    }
    Ok(Cluster {
        node_pools: manifests.node_pools,
        node_classes: manifests.node_class_versions,
        daemon_set_pods: manifests.daemon_set_pods,
        warnings: manifests.warnings,
    })
}

/// Reads the inline NodePool at `field` (a scenario `changes` entry).
pub(super) fn read_node_pool(
    reader: &Reader<'_>,
    field: &str,
    value: &Value,
) -> Result<NodePool, ScenarioError> {
    let text = inline_text(reader, field, value, "NodePool", None)?;
    let mut manifests = Manifests::default();
    manifests
        .add(&label(reader, field), &text)
        .map_err(|error| inline_error(reader, field, error))?;
    let manifests = manifests
        .finish()
        .map_err(|error| reader.invalid(field, error.to_string()))?;
    let mut node_pools = manifests.node_pools.into_iter();
    match (node_pools.next(), node_pools.next()) {
        (Some(node_pool), None) => Ok(node_pool),
        _ => Err(reader.invalid(field, "must be exactly one karpenter.sh/v1 NodePool")),
    }
}

/// Reads the inline EC2NodeClass at `field` (a scenario `changes` entry): its name and
/// version.
pub(super) fn read_node_class(
    reader: &Reader<'_>,
    field: &str,
    value: &Value,
) -> Result<(String, NodeClassVersion), ScenarioError> {
    let text = inline_text(reader, field, value, "EC2NodeClass", None)?;
    let mut manifests = Manifests::default();
    manifests
        .add(&label(reader, field), &text)
        .map_err(|error| inline_error(reader, field, error))?;
    let mut versions = manifests.node_class_versions.into_iter();
    match (versions.next(), versions.next()) {
        (Some(version), None) => Ok(version),
        _ => Err(reader.invalid(
            field,
            "must be exactly one karpenter.k8s.aws/v1 EC2NodeClass",
        )),
    }
}

/// Reads the inline Deployment at `field`.
pub(super) fn read_deployment(
    reader: &Reader<'_>,
    field: &str,
    value: &Value,
) -> Result<InlineWorkload, ScenarioError> {
    let text = inline_text(reader, field, value, "Deployment", Some("apps/v1"))?;
    let fail = |error| inline_error(reader, field, error);
    let document = single_document(reader, field, &text)?;
    let deployment: apps_v1::Deployment = document.parse().map_err(fail)?;
    let (namespace, name) =
        identity(&deployment.metadata).map_err(|error| fail(document.invalid(error)))?;
    let spec = deployment.spec.ok_or_else(|| {
        fail(document.invalid(FieldError::new(
            "spec",
            "missing: a Deployment needs a spec",
        )))
    })?;
    let count = spec.replicas.unwrap_or(1);
    let count = u32::try_from(count).map_err(|_| {
        fail(document.invalid(FieldError::new(
            "spec.replicas",
            format!("must not be negative, got {count}"),
        )))
    })?;
    let template = pod_template(&namespace, &name, &spec.template)
        .map_err(|error| fail(document.invalid(error)))?;
    Ok(InlineWorkload {
        name,
        namespace,
        template,
        count,
    })
}

/// Reads the inline Job at `field`; its count is the pods started at each arrival
/// (`spec.parallelism`, 1 when unset, at most `spec.completions`).
pub(super) fn read_job(
    reader: &Reader<'_>,
    field: &str,
    value: &Value,
) -> Result<InlineWorkload, ScenarioError> {
    let text = inline_text(reader, field, value, "Job", Some("batch/v1"))?;
    let fail = |error| inline_error(reader, field, error);
    let document = single_document(reader, field, &text)?;
    let job: batch_v1::Job = document.parse().map_err(fail)?;
    let (namespace, name) =
        identity(&job.metadata).map_err(|error| fail(document.invalid(error)))?;
    let spec = job.spec.ok_or_else(|| {
        fail(document.invalid(FieldError::new("spec", "missing: a Job needs a spec")))
    })?;
    let non_negative = |value: i32, path: &str| {
        u32::try_from(value).map_err(|_| {
            fail(document.invalid(FieldError::new(
                path,
                format!("must not be negative, got {value}"),
            )))
        })
    };
    let mut count = non_negative(spec.parallelism.unwrap_or(1), "spec.parallelism")?;
    if let Some(completions) = spec.completions {
        count = count.min(non_negative(completions, "spec.completions")?);
    }
    let template = pod_template(&namespace, &name, &spec.template)
        .map_err(|error| fail(document.invalid(error)))?;
    Ok(InlineWorkload {
        name,
        namespace,
        template,
        count,
    })
}

/// Reads the inline `policy/v1` PodDisruptionBudget at `field`.
pub(super) fn read_pod_disruption_budget(
    reader: &Reader<'_>,
    field: &str,
    value: &Value,
) -> Result<PodDisruptionBudget, ScenarioError> {
    let text = inline_text(
        reader,
        field,
        value,
        "PodDisruptionBudget",
        Some("policy/v1"),
    )?;
    let fail = |error| inline_error(reader, field, error);
    let document = single_document(reader, field, &text)?;
    let budget: policy_v1::PodDisruptionBudget = document.parse().map_err(fail)?;
    let (namespace, name) =
        identity(&budget.metadata).map_err(|error| fail(document.invalid(error)))?;
    let invalid =
        |path: &str, message: String| fail(document.invalid(FieldError::new(path, message)));
    let spec = budget.spec.ok_or_else(|| {
        invalid(
            "spec",
            "missing: a PodDisruptionBudget needs a spec".to_string(),
        )
    })?;
    let selector = spec.selector.as_ref().ok_or_else(|| {
        invalid(
            "spec.selector",
            "missing: without a selector the budget covers no pod".to_string(),
        )
    })?;
    let selector =
        label_selector(selector, "spec.selector").map_err(|error| fail(document.invalid(error)))?;
    let budget = match (&spec.max_unavailable, &spec.min_available) {
        (Some(value), None) => DisruptionBudget::MaxUnavailable(
            int_or_percent(value).map_err(|message| invalid("spec.maxUnavailable", message))?,
        ),
        (None, Some(value)) => DisruptionBudget::MinAvailable(
            int_or_percent(value).map_err(|message| invalid("spec.minAvailable", message))?,
        ),
        (Some(_), Some(_)) => {
            return Err(invalid(
                "spec.minAvailable",
                "minAvailable and maxUnavailable cannot both be set".to_string(),
            ));
        }
        (None, None) => {
            return Err(invalid(
                "spec",
                "set maxUnavailable or minAvailable (a count or a percentage such as \"10%\")"
                    .to_string(),
            ));
        }
    };
    Ok(PodDisruptionBudget {
        name,
        namespace,
        selector,
        budget,
    })
}

/// Why a document of a manifest file belongs elsewhere in a scenario, if it does.
fn misplaced_kind(document: &Document<'_>) -> Option<String> {
    let advice = match (document.api_version.as_str(), document.kind.as_str()) {
        ("apps/v1", "Deployment") => {
            "Deployments go under workloads (`- deployment: {...}`), with their replica curve"
        }
        ("batch/v1", "Job") => "Jobs go under workloads (`- job: {...}`), with their arrivals",
        ("v1", "Pod") => {
            "Pods are not read from scenario manifests: write them as a Deployment under workloads"
        }
        ("v1", "Node") => "the simulator starts from an empty cluster: remove the Node",
        ("policy/v1", "PodDisruptionBudget") => {
            "PodDisruptionBudgets go inline under podDisruptionBudgets"
        }
        _ => return None,
    };
    Some(format!(
        "{}: manifest files listed in a scenario hold NodePools, EC2NodeClasses and DaemonSets",
        advice
    ))
}

/// The inline object at `field` as YAML text, after checking it is a `kind` (and, when
/// given, of `api_version`).
fn inline_text(
    reader: &Reader<'_>,
    field: &str,
    value: &Value,
    kind: &str,
    api_version: Option<&str>,
) -> Result<String, ScenarioError> {
    let expected = || match api_version {
        Some(api_version) => format!("an inline {api_version} {kind}"),
        None => format!("an inline {kind}"),
    };
    if !value.is_mapping() {
        return Err(reader.invalid(
            field,
            format!(
                "expected {} (a mapping with apiVersion, kind, metadata and spec)",
                expected()
            ),
        ));
    }
    let text_of = |name: &str| value.get(name).and_then(Value::as_str);
    match text_of("kind") {
        Some(found) if found == kind => {}
        Some(found) => {
            return Err(reader.invalid(
                format!("{field}.kind"),
                format!("expected {} here, found kind {found:?}", expected()),
            ));
        }
        None => {
            return Err(reader.invalid(
                format!("{field}.kind"),
                format!("missing: expected {}", expected()),
            ));
        }
    }
    match (text_of("apiVersion"), api_version) {
        (None, _) => {
            return Err(reader.invalid(
                format!("{field}.apiVersion"),
                format!("missing: expected {}", expected()),
            ));
        }
        (Some(found), Some(wanted)) if found != wanted => {
            return Err(reader.invalid(
                format!("{field}.apiVersion"),
                format!("{found:?} is not supported: expected {}", expected()),
            ));
        }
        _ => {}
    }
    serde_yaml_ng::to_string(value)
        .map_err(|error| reader.invalid(field, format!("cannot be read as a manifest: {error}")))
}

/// The file name given to the API layer for the inline object at `field`.
fn label(reader: &Reader<'_>, field: &str) -> String {
    format!("{} ({field})", reader.file)
}

/// The one document of an inline object's text.
fn single_document<'t>(
    reader: &Reader<'_>,
    field: &str,
    text: &'t str,
) -> Result<Document<'t>, ScenarioError> {
    documents(&label(reader, field), text)
        .map_err(|error| inline_error(reader, field, error))?
        .into_iter()
        .next()
        .ok_or_else(|| reader.invalid(field, "empty: expected a Kubernetes object"))
}

/// Moves an API-layer error about the inline object at `field` to the scenario: its field path
/// under `field`, at that field's line.
fn inline_error(reader: &Reader<'_>, field: &str, error: ManifestError) -> ScenarioError {
    match error {
        ManifestError::Invalid {
            location,
            field: inner,
            message,
        } => {
            let path = if inner == "(document)" {
                field.to_string()
            } else {
                format!("{field}.{inner}")
            };
            let message = strip_path(&message, &inner);
            let message = match location.object {
                Some(object) => format!("{object}: {message}"),
                None => message,
            };
            reader.invalid(path, message)
        }
        ManifestError::UnknownKind {
            api_version, kind, ..
        } => reader.invalid(
            format!("{field}.apiVersion"),
            format!("{api_version:?} {kind} is not a kind Spotter reads"),
        ),
        ManifestError::Yaml { message, .. } => reader.invalid(field, message),
        ManifestError::Read { source, .. } => reader.invalid(field, source.to_string()),
    }
}

/// A workload's namespace (`default` when unset) and name (required).
fn identity(metadata: &meta_v1::ObjectMeta) -> Result<(String, String), FieldError> {
    let name = metadata
        .name
        .clone()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| FieldError::new("metadata.name", "missing: every object needs a name"))?;
    let namespace = metadata
        .namespace
        .clone()
        .filter(|namespace| !namespace.is_empty())
        .unwrap_or_else(|| "default".to_string());
    Ok((namespace, name))
}

/// A Deployment's or Job's pod template, converted as the API layer converts it.
fn pod_template(
    namespace: &str,
    name: &str,
    template: &core_v1::PodTemplateSpec,
) -> Result<Pod, FieldError> {
    let labels: BTreeMap<String, String> = template
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.labels.clone())
        .unwrap_or_default();
    let spec = template.spec.as_ref().ok_or_else(|| {
        FieldError::new(
            "spec.template.spec",
            "missing: the pod template needs a spec",
        )
    })?;
    let mut pod = convert_pod_spec(namespace, name, &labels, spec, "spec.template.spec")?;
    pod.do_not_disrupt = do_not_disrupt(template.metadata.as_ref());
    Ok(pod)
}

/// A `metav1.LabelSelector`, converted as the API layer converts pod selectors.
fn label_selector(
    selector: &meta_v1::LabelSelector,
    field: &str,
) -> Result<LabelSelector, FieldError> {
    spotter_api::workload::label_selector(Some(selector), field)
}

/// A PodDisruptionBudget count or percentage.
fn int_or_percent(value: &IntOrString) -> Result<IntOrPercent, String> {
    match value {
        IntOrString::Int(count) => u32::try_from(*count)
            .map(IntOrPercent::Count)
            .map_err(|_| format!("must not be negative, got {count}")),
        IntOrString::String(text) => text
            .strip_suffix('%')
            .and_then(|digits| digits.parse::<u32>().ok())
            .filter(|percent| *percent <= 100)
            .map(IntOrPercent::Percent)
            .ok_or_else(|| {
                format!(
                    "{text:?} is neither a count nor a percentage from 0% to 100% (such as \"10%\")"
                )
            }),
    }
}

/// `path` with `.` and `name/..` removed, for messages about files that do not exist.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(normal.components().next_back(), Some(Component::Normal(_))) =>
            {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}
