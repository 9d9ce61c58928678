//! Spotter's Kubernetes driver (`spotter controller`): it watches EC2NodeClasses, NodePools,
//! NodeClaims, Nodes, pods, DaemonSets and PodDisruptionBudgets, converts each object at the edge into the
//! compact values the controllers use ([`convert`]), reports every change to the shared state
//! machine, and performs the controllers' actions through the Kubernetes API and a
//! `CloudProvider` ([`perform`]), speaking Karpenter's object protocol ([`protocol`]):
//! NodeClaims owned by their NodePool and held by the `karpenter.sh/termination` finalizer,
//! nodes registered by provider ID, drains through the Eviction API, NodePool statuses
//! ([`node_pool_status`]). Leader election keeps one
//! of several replicas active ([`leader_election`]). Interruption notices arrive from the SQS
//! queue (as observations) and from `spotter agent` (as Node conditions); [`notice_intake`]
//! takes each (instance, class) once, whichever source comes first.
//!
//! A restarted controller rebuilds its state from the objects (and the cloud) before acting:
//! the driver is ready only once every kind has been listed.

pub mod clock;
pub mod convert;
pub mod driver;
pub mod events;
pub mod leader_election;
pub mod node_claim_object;
pub mod node_pool_status;
pub mod notice_intake;
pub mod observation;
mod perform;
pub mod placement_score_request;
pub mod protocol;
pub mod shared_parts;
pub mod watch;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use kube::Client;
use spotter_cloud::CloudProvider;
use spotter_metrics::Metrics;

pub use driver::{Driver, DriverConfig};

/// Runs the driver with its watches until `shutdown` completes. `ready` is set once every
/// kind is listed and the state rebuilt.
pub async fn run<P: CloudProvider + 'static>(
    client: Client,
    cloud: Arc<P>,
    config: DriverConfig,
    metrics: Arc<Mutex<Metrics>>,
    ready: Arc<AtomicBool>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let driver = Driver::new(client.clone(), cloud, config, metrics, ready);
    run_driver(&client, driver, shutdown).await;
}

/// Runs `driver` with its watches until `shutdown` completes. For a caller that sends the
/// driver observations of its own (the interruption queue's notices) through
/// [`Driver::sender`] before handing it over.
pub async fn run_driver<P: CloudProvider + 'static>(
    client: &Client,
    driver: Driver<P>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let watches = watch::spawn_all(client, &driver.sender());
    driver.run(shutdown).await;
    for watch in watches {
        watch.abort();
    }
}
