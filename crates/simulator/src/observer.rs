//! [`Observer`]: what a run tells whoever watches it, as it happens: the virtual clock about to
//! move, each controllers' pass and each action before it is applied, launches answered,
//! instance terminations refused, nodes registered, interruption notices, pods started, the end.
//! Every method does nothing by default. An observer only watches: it gets shared references,
//! and a run with one produces the same report as a run without (it may sleep, which is how
//! `spotter simulate --serve` paces a run against the wall clock, and it may read the wall
//! clock, which the simulator itself does only when [`Observer::measures_wall_time`] asks).

use std::time::Duration;

use spotter_cloud::{CloudError, Instance};
use spotter_controllers::Action;
use spotter_controllers::ClusterState;
use spotter_controllers::state::{InterruptionNotice, NodeClaim, NodeState};

/// Hears a run as it goes. `now` is the virtual time of each call.
#[allow(unused_variables)]
pub trait Observer {
    /// Whether [`Observer::reconciled`] should get the wall-clock time of each controllers'
    /// pass (two clock reads a pass).
    fn measures_wall_time(&self) -> bool {
        false
    }

    /// The clock is about to move from `now` to `next`; until then the cluster is `state`.
    fn advancing(&mut self, now: Duration, next: Duration, state: &ClusterState) {}

    /// A controllers' pass returned `actions`; `wall_time` is how long it took, when measured.
    fn reconciled(&mut self, now: Duration, actions: &[Action], wall_time: Option<Duration>) {}

    /// `action` is about to be applied to `state`.
    fn applying(&mut self, now: Duration, action: &Action, state: &ClusterState) {}

    /// The cloud launched `instance` for `claim` (`claim.fallback` is settled: on-demand in
    /// place of Spot).
    fn launched(&mut self, now: Duration, claim: &NodeClaim, instance: &Instance) {}

    /// The cloud refused to launch `claim`.
    fn launch_failed(&mut self, now: Duration, claim: &NodeClaim, error: &CloudError) {}

    /// The cloud refused to terminate the instance of NodeClaim `node_claim`.
    fn terminate_failed(&mut self, now: Duration, node_claim: &str, error: &CloudError) {}

    /// `node` registered for its NodeClaim.
    fn node_registered(&mut self, now: Duration, node: &NodeState) {}

    /// An interruption notice arrived.
    fn interruption_received(&mut self, now: Duration, notice: &InterruptionNotice) {}

    /// A pod started on a node after waiting `waited` since its creation.
    fn pod_started(&mut self, now: Duration, waited: Duration) {}

    /// The run reached its end; the cluster is `state`.
    fn finished(&mut self, end: Duration, state: &ClusterState) {}
}

/// Watches nothing: what a run without an observer uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {}
