//! Leader election on a `coordination.k8s.io/v1` Lease (through `kube-lease-manager`): two
//! replicas run, one leads. [`acquire`] waits until this process holds the Lease; the
//! returned [`Leadership`] completes when it is lost, after which the process must stop
//! acting (it exits, and Kubernetes restarts it as a standby), as controller-runtime does.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;

/// How long a Lease lasts without renewal (controller-runtime's default is 15 s).
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long before expiry the holder renews it.
pub const RENEW_GRACE: Duration = Duration::from_secs(5);

/// Where the Lease lives and who this process is.
#[derive(Clone, Debug)]
pub struct LeaderElectionConfig {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub lease_name: String,
    /// This process (its pod name).
    pub identity: String,
}

/// Why leadership could not be sought.
#[derive(Debug, thiserror::Error)]
pub enum LeaderElectionError {
    /// The Lease could not be read or written.
    #[error(
        "failed to take part in leader election on Lease {namespace}/{lease_name}: {source} (check that Spotter's Role allows get, create and update on leases in that namespace)"
    )]
    Lease {
        /// The namespace.
        namespace: String,
        /// The Lease.
        lease_name: String,
        /// The error.
        source: LeaseManagerError,
    },
    /// The lease manager stopped.
    #[error("leader election stopped before this process became the leader")]
    Stopped,
}

/// This process leads until [`Leadership::lost`] completes.
#[derive(Debug)]
pub struct Leadership {
    state: watch::Receiver<bool>,
    _manager: tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

/// Waits until this process holds the Lease.
pub async fn acquire(
    client: Client,
    config: &LeaderElectionConfig,
) -> Result<Leadership, LeaderElectionError> {
    let manager = LeaseManagerBuilder::new(client, &config.lease_name)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(LEASE_DURATION.as_secs())
        .with_grace(RENEW_GRACE.as_secs())
        .build()
        .await
        .map_err(|source| LeaderElectionError::Lease {
            namespace: config.namespace.clone(),
            lease_name: config.lease_name.clone(),
            source,
        })?;
    let (mut state, task) = manager.watch().await;
    tracing::info!(
        lease = config.lease_name,
        identity = config.identity,
        "waiting to become the leader"
    );
    while !*state.borrow_and_update() {
        state
            .changed()
            .await
            .map_err(|_| LeaderElectionError::Stopped)?;
    }
    tracing::info!(
        lease = config.lease_name,
        identity = config.identity,
        "became the leader"
    );
    Ok(Leadership {
        state,
        _manager: task,
    })
}

impl Leadership {
    /// Completes when this process no longer holds the Lease.
    pub async fn lost(&mut self) {
        while *self.state.borrow_and_update() {
            if self.state.changed().await.is_err() {
                return;
            }
        }
    }
}
