//! Spotter's controllers. Each reads a [`ClusterState`] snapshot and the current time and
//! returns [`Action`]s — values a test can look at — and never performs them: the simulator
//! driver applies them to a simulated cluster, the kube driver to a real one. Nothing here
//! knows which.
//!
//! [`Controllers::reconcile`] runs them in a fixed order: interruption, NodeClaim lifecycle,
//! termination, the disruption controllers (emptiness and return to Spot, every 10 s), and
//! provisioning.

pub mod action;
pub mod disruption_budgets;
pub mod emptiness;
pub mod interruption;
pub mod node_claim_lifecycle;
pub mod pod_disruption_budget;
pub mod provisioner;
pub mod return_to_spot;
pub mod settings;
pub mod state;
pub mod termination;

use std::time::Duration;

pub use action::Action;
pub use settings::{Policy, Settings};
pub use state::ClusterState;

/// Every controller, with the little state each keeps between reconciles.
#[derive(Debug, Default)]
pub struct Controllers {
    settings: Settings,
    provisioner: provisioner::Provisioner,
    interruption: interruption::Interruption,
    return_to_spot: return_to_spot::ReturnToSpot,
    /// When the disruption controllers (emptiness) may look again: like Karpenter's, they poll
    /// every [`Settings::disruption_poll`].
    next_disruption_poll: Duration,
}

/// What one reconcile decided.
#[derive(Debug, Default, PartialEq)]
pub struct Reconciled {
    /// The actions, in the order they should be applied.
    pub actions: Vec<Action>,
    /// When a controller wants to look again even if nothing changes.
    pub wake_at: Option<Duration>,
}

impl Controllers {
    /// Controllers with these settings.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs every controller once.
    pub fn reconcile(&mut self, state: &ClusterState, now: Duration) -> Reconciled {
        let mut reconciled = Reconciled::default();
        let wake = |time: Option<Duration>, reconciled: &mut Reconciled| {
            if let Some(time) = time {
                reconciled.wake_at =
                    Some(reconciled.wake_at.map_or(time, |current| current.min(time)));
            }
        };
        reconciled
            .actions
            .extend(self.interruption.reconcile(state, now, &self.settings));
        reconciled
            .actions
            .extend(node_claim_lifecycle::reconcile(state, now, &self.settings));
        let (actions, wake_at) = termination::reconcile(state, now, &self.settings);
        reconciled.actions.extend(actions);
        wake(wake_at, &mut reconciled);
        if now >= self.next_disruption_poll {
            self.next_disruption_poll = now + self.settings.disruption_poll;
            let (actions, wake_at) = emptiness::reconcile(state, now);
            reconciled.actions.extend(actions);
            wake(
                wake_at.map(|time| time.max(self.next_disruption_poll)),
                &mut reconciled,
            );
            let (actions, wake_at) = self.return_to_spot.reconcile(state, now, &self.settings);
            reconciled.actions.extend(actions);
            wake(
                wake_at.map(|time| time.max(self.next_disruption_poll)),
                &mut reconciled,
            );
        }
        let (actions, wake_at) = self.provisioner.reconcile(state, now, &self.settings);
        reconciled.actions.extend(actions);
        wake(wake_at, &mut reconciled);
        reconciled
    }
}
