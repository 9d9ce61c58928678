//! The reconcile loop every driver runs: expire what is due, run the controllers, let the
//! driver perform each action and apply its outcome ([`ClusterState::apply`]), and run the
//! controllers again while a pass changed something, at most [`MAX_PASSES`] times; then say
//! when to look again. It is a value the driver steps through, so that a driver performs
//! actions its own way (at once in the simulator, through API and cloud calls in a cluster):
//!
//! ```text
//! let mut passes = ReconcileLoop::new(now);
//! while let Some(actions) = passes.next_pass(&mut controllers, &mut state) {
//!     for action in actions {
//!         let outcome = driver.perform(&action);
//!         let applied = state.apply(&action, outcome, now, controllers.settings());
//!         passes.applied(&applied);
//!     }
//! }
//! let wake_at = passes.wake_at(&state);
//! ```

use std::time::Duration;

use crate::Controllers;
use crate::action::Action;
use crate::node_claim_lifecycle;
use crate::state::ClusterState;
use crate::transitions::Applied;

/// The most controllers' passes one reconcile runs: each pass acts on what the previous one
/// changed (a claim created, then launched, then its pods nominated...).
pub const MAX_PASSES: u32 = 8;

/// One reconcile in progress.
#[derive(Debug)]
pub struct ReconcileLoop {
    now: Duration,
    passes: u32,
    changed: bool,
    finished: bool,
    wake_at: Option<Duration>,
}

impl ReconcileLoop {
    /// A reconcile at `now`.
    pub fn new(now: Duration) -> Self {
        Self {
            now,
            passes: 0,
            changed: false,
            finished: false,
            wake_at: None,
        }
    }

    /// Runs the controllers once more if the previous pass changed something; returns the
    /// actions to perform, or `None` when the reconcile is over.
    pub fn next_pass(
        &mut self,
        controllers: &mut Controllers,
        state: &mut ClusterState,
    ) -> Option<Vec<Action>> {
        if self.finished || self.passes >= MAX_PASSES || (self.passes > 0 && !self.changed) {
            self.finished = true;
            return None;
        }
        if self.passes == 0 {
            state.expire_unavailable(self.now);
        }
        self.passes += 1;
        self.changed = false;
        let reconciled = controllers.reconcile(state, self.now);
        self.wake(reconciled.wake_at);
        if reconciled.actions.is_empty() {
            self.finished = true;
        }
        Some(reconciled.actions)
    }

    /// Records what performing one action did.
    pub fn applied(&mut self, applied: &Applied) {
        self.changed |= applied.changed;
        self.wake(applied.wake_at);
    }

    /// How many passes ran.
    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// When the controllers want to look again even if nothing changes: what they asked for,
    /// the next expiry of an unavailable offering, the next launch retry.
    pub fn wake_at(&self, state: &ClusterState) -> Option<Duration> {
        let expiry = state.unavailable_expiries.iter().next().copied();
        let retry = node_claim_lifecycle::next_retry(state);
        [self.wake_at, expiry, retry]
            .into_iter()
            .flatten()
            .map(|time| time.max(self.now))
            .min()
    }

    fn wake(&mut self, time: Option<Duration>) {
        if let Some(time) = time {
            self.wake_at = Some(self.wake_at.map_or(time, |current| current.min(time)));
        }
    }
}
