//! The fake-node cloud provider (`--cloud-provider fake`): a [`CloudProvider`] with no cloud
//! behind it, like Karpenter's kwok provider, so that Spotter runs against any cluster.
//!
//! - [`FakeCloud`] "launches" an instance by creating a Node object `launch_delay` after
//!   `create()` (default 2 s): named after the NodeClaim, `spec.providerID`
//!   `fake://<zone>/<instance-id>`, the well-known labels, the request's labels and taints plus
//!   `karpenter.sh/unregistered:NoExecute`, capacity and allocatable from the instance type,
//!   `Ready=True`. Terminating an instance deletes its Node. Launches are idempotent by
//!   NodeClaim, and `get`/`list` rebuild instances from the Nodes' annotations after a
//!   restart.
//! - Capacity faults come from a ConfigMap read at every launch (default
//!   `spotter/spotter-fake-cloud`), key `unavailable`, one offering a line,
//!   `capacity-type:instance-type:zone`, `*` allowed in any field:
//!
//!   ```text
//!   # a Spot outage everywhere
//!   spot:*:*
//!   # m5 sizes in one zone, any capacity type
//!   *:m5.*:us-east-1a
//!   ```
//!
//!   A launch takes the first requested offering not listed; when every one is listed it
//!   fails with [`CloudError::InsufficientCapacity`](spotter_cloud::CloudError) naming them.
//!   See [`faults`] for the exact rules.
//! - [`run_kubelet`] plays the kubelet for the fake nodes: pods bound to them become Running
//!   and Ready; a terminating pod is removed once its grace period has passed; and a node
//!   annotated `fake.spotter.dev/interrupt=spot-interruption` gets the Spot interruption
//!   warning `spotter agent` would write (see [`interruption`]); it renews each fake node's
//!   Lease as a kubelet does, so that the node-lifecycle controller keeps the node `Ready`.
//!
//! `docs/fake-cloud.md` shows it in use with kubectl.

pub mod addresses;
pub mod cloud_errors;
pub mod faults;
pub mod interruption;
pub mod kubelet;
pub mod node_lease;
pub mod node_object;
pub mod pod_status;
pub mod provider;
pub mod settings;

pub use faults::Faults;
pub use kubelet::{KubeletError, KubeletSettings, run_kubelet, run_kubelet_with};
pub use provider::FakeCloud;
pub use settings::FakeCloudSettings;

#[cfg(doc)]
use spotter_cloud::CloudProvider;
