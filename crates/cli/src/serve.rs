//! `spotter simulate --serve`: the simulation paced against the wall clock (`--speed`
//! simulated seconds per second) on the calling thread, its metrics served over HTTP on
//! another ([`spotter_server::ServerThread`]): `/metrics`, `/healthz`, `/readyz`, and
//! `/status`, the simulator's own view (virtual time, nodes by capacity type, Spot percentage)
//! to compare the metrics with.
//!
//! [`PacedObserver`] is the simulation's observer: it feeds every event to the
//! [`Metrics`], sleeps so that virtual time keeps pace with the wall clock, and publishes the
//! cluster state (gauges and status) at least every [`PUBLISH_INTERVAL`] of wall time, and
//! whenever it is about to sleep that long.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use spotter_cloud::{CloudError, Instance};
use spotter_controllers::state::{InterruptionNotice, NodeClaim, NodeState};
use spotter_controllers::{Action, ClusterState};
use spotter_core::offering::CapacityType;
use spotter_metrics::Metrics;
use spotter_server::{Endpoints, Readiness, ServerError, ServerThread};
use spotter_simulator::Observer;

use crate::metrics_endpoint::MetricsEndpoint;

/// How stale the served gauges may get, in wall time, while the simulation runs.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// The served simulation: its metrics and status, and the server.
#[derive(Debug)]
pub struct Served {
    published: Arc<Mutex<Published>>,
    readiness: Readiness,
    server: ServerThread,
}

/// Paces the run and feeds the metrics.
#[derive(Debug)]
pub struct PacedObserver {
    published: Arc<Mutex<Published>>,
    readiness: Readiness,
    speed: f64,
    started: Instant,
    last_published: Option<Instant>,
}

/// What `/metrics` and `/status` serve.
#[derive(Debug)]
struct Published {
    metrics: Metrics,
    status: Status,
}

/// `/status`: the simulator's own view of the cluster when the metrics were last published.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    /// Virtual time.
    simulated_seconds: f64,
    /// The run's duration.
    duration_seconds: f64,
    /// Simulated seconds per wall-clock second.
    speed: f64,
    /// Whether the run is over (what is served no longer changes).
    finished: bool,
    /// Registered nodes by the capacity type their NodeClaim launched with.
    nodes: NodeCounts,
    /// Spot nodes in percent of all nodes; `null` without nodes.
    spot_percentage: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeCounts {
    spot: u64,
    on_demand: u64,
    total: u64,
}

impl Served {
    /// Starts serving on `address`, before the run, with empty metrics and `/readyz` not ready
    /// until the first publication.
    pub fn start(address: SocketAddr, duration: Duration, speed: f64) -> Result<Self, ServerError> {
        let metrics = Metrics::new("simulated");
        let exposition = MetricsEndpoint::of(&metrics);
        let published = Arc::new(Mutex::new(Published {
            metrics,
            status: Status {
                duration_seconds: duration.as_secs_f64(),
                speed,
                ..Status::default()
            },
        }));
        let for_status = Arc::clone(&published);
        let endpoints =
            Endpoints::new(exposition).with_document("/status", "application/json", move || {
                let status = lock(&for_status).status.clone();
                serde_json::to_string(&status).unwrap_or_else(|error| {
                    format!("{{\"error\":\"failed to write the status: {error}\"}}")
                })
            });
        let server = ServerThread::start(address, &endpoints)?;
        Ok(Self {
            published,
            readiness: endpoints.readiness(),
            server,
        })
    }

    /// The address served.
    pub fn address(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The observer that paces a run at `speed` from now and feeds these metrics.
    pub fn observer(&self, speed: f64) -> PacedObserver {
        PacedObserver {
            published: Arc::clone(&self.published),
            readiness: self.readiness.clone(),
            speed,
            started: Instant::now(),
            last_published: None,
        }
    }

    /// Keeps serving for `linger`, or until the process is stopped (Ctrl-C) when `None`,
    /// then stops the server.
    pub fn linger(self, linger: Option<Duration>) -> Result<(), ServerError> {
        match linger {
            Some(linger) => std::thread::sleep(linger),
            None => loop {
                std::thread::park();
            },
        }
        self.server.stop()
    }
}

impl PacedObserver {
    /// When virtual time `time` is due on the wall clock.
    fn due(&self, time: Duration) -> Instant {
        self.started + Duration::from_secs_f64(time.as_secs_f64() / self.speed)
    }

    fn publish(&mut self, now: Duration, state: &ClusterState, finished: bool) {
        {
            let mut published = lock(&self.published);
            published.metrics.observe_state(state, now);
            let status = &mut published.status;
            status.simulated_seconds = now.as_secs_f64();
            status.finished = finished;
            status.nodes = NodeCounts::of(state);
            status.spot_percentage = (status.nodes.total > 0)
                .then(|| status.nodes.spot as f64 / status.nodes.total as f64 * 100.0);
        }
        self.readiness.set(true);
        self.last_published = Some(Instant::now());
    }

    fn locked(&self) -> MutexGuard<'_, Published> {
        lock(&self.published)
    }
}

impl Observer for PacedObserver {
    fn measures_wall_time(&self) -> bool {
        true
    }

    fn advancing(&mut self, now: Duration, next: Duration, state: &ClusterState) {
        let due = self.due(next);
        let wait = due.saturating_duration_since(Instant::now());
        let stale = self
            .last_published
            .is_none_or(|published| published.elapsed() >= PUBLISH_INTERVAL);
        if stale || wait >= PUBLISH_INTERVAL {
            self.publish(now, state, false);
        }
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    fn reconciled(&mut self, _now: Duration, actions: &[Action], wall_time: Option<Duration>) {
        if let Some(wall_time) = wall_time {
            self.locked().metrics.reconciled(actions, wall_time);
        }
    }

    fn applying(&mut self, _now: Duration, action: &Action, state: &ClusterState) {
        self.locked().metrics.action(action, state);
    }

    fn launched(&mut self, _now: Duration, claim: &NodeClaim, instance: &Instance) {
        self.locked().metrics.launched(claim, instance);
    }

    fn launch_failed(&mut self, _now: Duration, _claim: &NodeClaim, error: &CloudError) {
        self.locked().metrics.launch_failed(error);
    }

    fn terminate_failed(&mut self, _now: Duration, _node_claim: &str, error: &CloudError) {
        self.locked().metrics.terminate_failed(error);
    }

    fn node_registered(&mut self, _now: Duration, node: &NodeState) {
        self.locked().metrics.node_registered(node);
    }

    fn interruption_received(&mut self, _now: Duration, notice: &InterruptionNotice) {
        self.locked().metrics.interruption_received(notice.kind);
    }

    fn pod_started(&mut self, now: Duration, waited: Duration) {
        self.locked().metrics.pod_started(now, waited);
    }

    fn finished(&mut self, end: Duration, state: &ClusterState) {
        let wait = self.due(end).saturating_duration_since(Instant::now());
        std::thread::sleep(wait);
        self.publish(end, state, true);
    }
}

impl NodeCounts {
    /// The registered nodes by the capacity type of their NodeClaim's instance.
    fn of(state: &ClusterState) -> Self {
        let mut counts = Self::default();
        for node in state.nodes.values() {
            counts.total += 1;
            let capacity_type = state
                .node_claims
                .get(&node.node_claim)
                .and_then(NodeClaim::instance)
                .map(|instance| instance.offering.capacity_type);
            match capacity_type {
                Some(CapacityType::Spot) => counts.spot += 1,
                Some(CapacityType::OnDemand) => counts.on_demand += 1,
                Some(CapacityType::Reserved) | None => {}
            }
        }
        counts
    }
}

/// The published metrics and status; a panic elsewhere while holding them leaves them as
/// they were, still worth serving.
fn lock(published: &Mutex<Published>) -> MutexGuard<'_, Published> {
    published.lock().unwrap_or_else(PoisonError::into_inner)
}
