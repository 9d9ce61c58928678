//! Test peers for Spotter's tests. [`ControlPlane`] runs a real Kubernetes control plane on
//! loopback (etcd, kube-apiserver, kube-scheduler, kube-controller-manager) from the binaries
//! in the folder `KUBEBUILDER_ASSETS` names (controller-runtime's envtest convention), with
//! certificates made by `openssl`, an admin kubeconfig, kubeconfigs for Spotter's controller
//! and agent whose requests are audited, and every process stopped and the
//! state folder removed on drop. Without the binaries a test is skipped with a message, unless
//! `CI=true`, where it fails. [`Moto`] runs a moto server (AWS), optionally refusing chosen
//! offerings' capacity. Used only as a dev-dependency.

pub mod assets;
pub mod audit;
pub mod control_plane;
pub mod examples;
pub mod kubectl;
pub mod moto;
mod pki;

pub use assets::{Assets, AssetsError};
pub use audit::{AGENT_USER, AuditedRequest, CONTROLLER_USER};
pub use control_plane::{ControlPlane, ControlPlaneError};
pub use kubectl::{Kubectl, KubectlError, SPOTTER_CRDS};
pub use moto::Moto;
