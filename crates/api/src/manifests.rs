//! A set of manifest files read together: each document dispatched on its kind, converted into
//! core types, and the cross-document checks made once everything is read (duplicate names,
//! pods bound to nodes, NodePools referring to EC2NodeClasses).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use k8s_openapi::api::{apps::v1 as apps_v1, batch::v1 as batch_v1, core::v1 as core_v1};
use spotter_core::labels;
use spotter_core::node::Node;
use spotter_core::node_pool::NodePool;
use spotter_core::pod::Pod;

use crate::document::{Document, FieldError, Location, ManifestError, each_document};
use crate::ec2_node_class::Ec2NodeClassManifest;
use crate::node::convert_node;
use crate::node_class_version::NodeClassVersion;
use crate::node_pool::NodePoolManifest;
use crate::workload::{convert_pod_spec, do_not_disrupt};

/// Everything read from a set of manifest files.
#[derive(Debug, Default)]
pub struct Manifests {
    /// NodePools.
    pub node_pools: Vec<NodePool>,
    /// EC2NodeClass names.
    pub node_classes: Vec<String>,
    /// Each EC2NodeClass's version, as drift compares it.
    pub node_class_versions: BTreeMap<String, NodeClassVersion>,
    /// Pods waiting for a node (from Pods without `nodeName`, Deployments and Jobs).
    pub pending_pods: Vec<Pod>,
    /// Existing nodes, with the pods bound to them.
    pub nodes: Vec<Node>,
    /// One pod per DaemonSet.
    pub daemon_set_pods: Vec<Pod>,
    /// Things worth telling the user that do not stop the run.
    pub warnings: Vec<String>,
    locations: HashMap<String, Location>,
    bound_pods: Vec<(Location, String, Pod)>,
    zone_mentions: Vec<ZoneMention>,
}

/// A zone a NodePool's requirement names (`topology.kubernetes.io/zone In [...]`), kept so
/// that zones the region lacks can be reported once the region is known.
#[derive(Debug)]
struct ZoneMention {
    location: Location,
    field: String,
    zone: String,
}

impl Manifests {
    /// Reads every file and checks the whole.
    // The API layer's one file read: reading belongs at the edge (a driver or the binary,
    // which could read the files and call `add` and `finish`), kept here while `plan` is its
    // only caller.
    #[allow(clippy::disallowed_methods)]
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Self, ManifestError> {
        let mut manifests = Self::default();
        for path in paths {
            let path = path.as_ref();
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
                file: file.clone(),
                source,
            })?;
            manifests.add(&file, &text)?;
        }
        manifests.finish()
    }

    /// Reads the documents of one file's text; a file with none is worth a warning.
    pub fn add(&mut self, file: &str, text: &str) -> Result<(), ManifestError> {
        let count = each_document(file, text, |document| self.add_document(&document))?;
        if count == 0 {
            self.warnings.push(format!(
                "{file}: the file is empty (it holds no Kubernetes object)"
            ));
        }
        Ok(())
    }

    /// Warnings for every zone a NodePool requirement names that is not among `zones` (the
    /// zones of `region`): Karpenter would never launch there.
    pub fn unknown_zone_warnings(&self, region: &str, zones: &[&str]) -> Vec<String> {
        self.zone_mentions
            .iter()
            .filter(|mention| !zones.contains(&mention.zone.as_str()))
            .map(|mention| {
                format!(
                    "{}: field {}: zone {:?} does not exist in {region}; its zones are {}",
                    mention.location,
                    mention.field,
                    mention.zone,
                    zones.join(", ")
                )
            })
            .collect()
    }

    /// Binds pods to their nodes and makes the checks that need every document.
    pub fn finish(mut self) -> Result<Self, ManifestError> {
        for (location, node_name, pod) in std::mem::take(&mut self.bound_pods) {
            match self.nodes.iter_mut().find(|node| node.name == node_name) {
                Some(node) => node.pods.push(std::sync::Arc::new(pod)),
                None => {
                    return Err(ManifestError::Invalid {
                        location,
                        field: "spec.nodeName".to_string(),
                        message: format!(
                            "the pod is bound to node {node_name:?}, which is not among the inputs; add the Node or remove nodeName"
                        ),
                    });
                }
            }
        }
        let classes: BTreeSet<&String> = self.node_classes.iter().collect();
        for pool in &self.node_pools {
            if !classes.is_empty() && !classes.contains(&pool.node_class) {
                self.warnings.push(format!(
                    "NodePool {:?} refers to EC2NodeClass {:?}, which is not among the inputs; Karpenter would not launch from it until it exists",
                    pool.name, pool.node_class
                ));
            }
        }
        Ok(self)
    }

    fn add_document(&mut self, document: &Document<'_>) -> Result<(), ManifestError> {
        match (document.api_version.as_str(), document.kind.as_str()) {
            (_, "NodePool") if document.api_version.starts_with("karpenter.sh/") => {
                let manifest: NodePoolManifest = document.parse()?;
                self.remember_zones(document, &manifest);
                let pool = manifest
                    .into_node_pool()
                    .map_err(|error| document.invalid(error))?;
                self.remember(document, format!("NodePool/{}", pool.name))?;
                self.node_pools.push(pool);
            }
            (_, "EC2NodeClass") if document.api_version.starts_with("karpenter.k8s.aws/") => {
                let manifest: Ec2NodeClassManifest = document.parse()?;
                let name = manifest
                    .validate()
                    .map_err(|error| document.invalid(error))?;
                self.remember(document, format!("EC2NodeClass/{name}"))?;
                let object: serde_json::Value = document.parse()?;
                self.node_class_versions.insert(
                    name.clone(),
                    NodeClassVersion::of(object.get("spec").unwrap_or(&serde_json::Value::Null)),
                );
                self.node_classes.push(name);
            }
            ("v1", "Pod") => {
                let pod: core_v1::Pod = document.parse()?;
                let (namespace, name, labels) = identity(document, &pod.metadata)?;
                let spec = pod.spec.ok_or_else(|| {
                    document.invalid(FieldError::new("spec", "missing: a Pod needs a spec"))
                })?;
                let mut converted = convert_pod_spec(&namespace, &name, &labels, &spec, "spec")
                    .map_err(|error| document.invalid(error))?;
                converted.do_not_disrupt = do_not_disrupt(Some(&pod.metadata));
                self.remember(document, format!("Pod/{namespace}/{name}"))?;
                match spec.node_name.filter(|node| !node.is_empty()) {
                    Some(node) => {
                        self.bound_pods
                            .push((document.locate("spec.nodeName"), node, converted))
                    }
                    None => self.pending_pods.push(converted),
                }
            }
            ("apps/v1", "Deployment") => {
                let deployment: apps_v1::Deployment = document.parse()?;
                let (namespace, name, _) = identity(document, &deployment.metadata)?;
                let spec = deployment.spec.ok_or_else(|| {
                    document.invalid(FieldError::new(
                        "spec",
                        "missing: a Deployment needs a spec",
                    ))
                })?;
                let replicas = spec.replicas.unwrap_or(1);
                self.add_replicas(
                    document,
                    &namespace,
                    &name,
                    &spec.template,
                    replicas,
                    "spec.replicas",
                )?;
            }
            ("batch/v1", "Job") => {
                let job: batch_v1::Job = document.parse()?;
                let (namespace, name, _) = identity(document, &job.metadata)?;
                let spec = job.spec.ok_or_else(|| {
                    document.invalid(FieldError::new("spec", "missing: a Job needs a spec"))
                })?;
                let parallelism = spec.parallelism.unwrap_or(1);
                let count = spec
                    .completions
                    .map_or(parallelism, |completions| completions.min(parallelism));
                self.add_replicas(
                    document,
                    &namespace,
                    &name,
                    &spec.template,
                    count,
                    "spec.parallelism",
                )?;
            }
            ("apps/v1", "DaemonSet") => {
                let daemon_set: apps_v1::DaemonSet = document.parse()?;
                let (namespace, name, _) = identity(document, &daemon_set.metadata)?;
                let spec = daemon_set.spec.ok_or_else(|| {
                    document.invalid(FieldError::new("spec", "missing: a DaemonSet needs a spec"))
                })?;
                let template = &spec.template;
                let labels = template
                    .metadata
                    .as_ref()
                    .and_then(|metadata| metadata.labels.clone())
                    .unwrap_or_default();
                let pod_spec = template.spec.as_ref().ok_or_else(|| {
                    document.invalid(FieldError::new("spec.template.spec", "missing"))
                })?;
                let pod =
                    convert_pod_spec(&namespace, &name, &labels, pod_spec, "spec.template.spec")
                        .map_err(|error| document.invalid(error))?;
                self.remember(document, format!("DaemonSet/{namespace}/{name}"))?;
                self.daemon_set_pods.push(pod);
            }
            ("v1", "Node") => {
                let node: core_v1::Node = document.parse()?;
                let converted = convert_node(&node).map_err(|error| document.invalid(error))?;
                self.remember(document, format!("Node/{}", converted.name))?;
                self.nodes.push(converted);
            }
            (api_version, kind) => {
                return Err(ManifestError::UnknownKind {
                    location: document.location.clone(),
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                });
            }
        }
        Ok(())
    }

    fn add_replicas(
        &mut self,
        document: &Document<'_>,
        namespace: &str,
        name: &str,
        template: &core_v1::PodTemplateSpec,
        replicas: i32,
        replicas_field: &str,
    ) -> Result<(), ManifestError> {
        if replicas < 0 {
            return Err(document.invalid(FieldError::new(
                replicas_field,
                format!("must not be negative, got {replicas}"),
            )));
        }
        let labels = template
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.labels.clone())
            .unwrap_or_default();
        let spec = template.spec.as_ref().ok_or_else(|| {
            document.invalid(FieldError::new(
                "spec.template.spec",
                "missing: the pod template needs a spec",
            ))
        })?;
        let kind = document.kind.clone();
        self.remember(document, format!("{kind}/{namespace}/{name}"))?;
        let mut pod = convert_pod_spec(namespace, name, &labels, spec, "spec.template.spec")
            .map_err(|error| document.invalid(error))?;
        pod.do_not_disrupt = do_not_disrupt(template.metadata.as_ref());
        for replica in 0..replicas {
            self.pending_pods.push(Pod {
                name: format!("{name}-{replica}"),
                ..pod.clone()
            });
        }
        Ok(())
    }

    fn remember_zones(&mut self, document: &Document<'_>, manifest: &NodePoolManifest) {
        let requirements = &manifest.spec.template.spec.requirements;
        for (index, requirement) in requirements.iter().enumerate() {
            if labels::normalize(&requirement.key) != labels::ZONE
                || !matches!(requirement.operator.as_str(), "In" | "NotIn")
            {
                continue;
            }
            for (value_index, zone) in requirement.values.iter().enumerate() {
                let field =
                    format!("spec.template.spec.requirements[{index}].values[{value_index}]");
                self.zone_mentions.push(ZoneMention {
                    location: document.locate(&field),
                    field,
                    zone: zone.clone(),
                });
            }
        }
    }

    fn remember(&mut self, document: &Document<'_>, key: String) -> Result<(), ManifestError> {
        if let Some(first) = self.locations.get(&key) {
            return Err(document.invalid(FieldError::new(
                "metadata.name",
                format!("{key} is defined twice; the first definition is at {first}"),
            )));
        }
        self.locations.insert(key, document.location.clone());
        Ok(())
    }
}

fn identity(
    document: &Document<'_>,
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Result<(String, String, BTreeMap<String, String>), ManifestError> {
    let name = metadata
        .name
        .clone()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            document.invalid(FieldError::new(
                "metadata.name",
                "missing: every object needs a name",
            ))
        })?;
    let namespace = metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    Ok((namespace, name, metadata.labels.clone().unwrap_or_default()))
}
