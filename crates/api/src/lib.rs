//! Spotter's API layer: reads ordinary Kubernetes YAML (`karpenter.sh/v1` NodePool,
//! `karpenter.k8s.aws/v1` EC2NodeClass, v1 Pod and Node, apps/v1 Deployment and DaemonSet,
//! batch/v1 Job), validates it as Karpenter v1 and the API server would, and converts it into
//! the core's types. Every error names the file, the document, the line when known and the
//! field. It also generates Karpenter's CRDs from the same types (`crd`). It depends on the core,
//! on k8s-openapi's types and on kube's derive (no client); it never talks to a cluster.

pub mod crd;
pub mod document;
pub mod duration;
pub mod ec2_node_class;
pub mod locate;
pub mod manifests;
pub mod node;
pub mod node_class_version;
pub mod node_pool;
pub mod quantity_text;
pub mod validation;
pub mod workload;

pub use document::{FieldError, Location, ManifestError};
pub use manifests::Manifests;
