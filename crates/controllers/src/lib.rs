//! Spotter's controllers. Each reads a [`ClusterState`] snapshot and the current time and
//! returns [`Action`]s — values a test can look at — and never performs them: the simulator
//! driver applies them to a simulated cluster, the kube driver to a real one. Nothing here
//! knows which.
//!
//! [`Controllers::reconcile`] runs them in a fixed order: interruption, NodeClaim lifecycle,
//! termination, expiration, the disruption methods (every 10 s: emptiness, return to Spot and
//! rebalance replacement when the settings turn them on, drift, multi-node and single-node
//! consolidation), and provisioning.
//!
//! Between the controllers and the drivers sits the state machine every driver shares:
//! [`transitions`] (how performing an action, or observing the world, changes the
//! [`ClusterState`]) and [`reconcile_loop`] (how many passes, when to look again). A driver
//! only translates: it performs actions in its world and reports what it observes.
//!
//! It depends on the core and the `CloudProvider` trait's types only: no clock, no I/O, no
//! async runtime, no Kubernetes client, no cloud SDK.

pub mod action;
pub mod budget_schedule;
pub mod consolidation;
pub mod disruption;
pub mod disruption_budgets;
pub mod drift;
pub mod emptiness;
pub mod expiration;
pub mod interruption;
pub mod node_claim_lifecycle;
pub mod node_claim_names;
pub mod node_pool_usage;
pub mod observed_objects;
pub mod pod_disruption_budget;
pub mod provisioner;
pub mod reconcile_loop;
pub mod return_to_spot;
pub mod settings;
pub mod state;
pub mod termination;
pub mod transitions;

use std::time::Duration;

pub use action::Action;
pub use reconcile_loop::ReconcileLoop;
pub use settings::{Policy, Settings};
pub use state::ClusterState;
pub use transitions::{Applied, Outcome};

/// Every controller, with the little state each keeps between reconciles.
#[derive(Debug)]
pub struct Controllers {
    settings: Settings,
    provisioner: provisioner::Provisioner,
    interruption: interruption::Interruption,
    /// The disruption methods, in order (see [`disruption_methods`]).
    disruption: disruption::Pipeline,
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

/// The disruption methods in the order they run: Karpenter's (emptiness, drift, multi-node
/// then single-node consolidation, as on Karpenter's main branch), with Spotter's return to
/// Spot after emptiness when the settings turn it on, so that a fallback node is returned to
/// Spot (with its hysteresis) before consolidation would look at it, and Spotter's rebalance
/// replacement before drift when the settings turn it on (its node may be reclaimed soon).
pub fn disruption_methods(settings: &Settings, seed: u64) -> disruption::Pipeline {
    let names = |salt: u64| node_claim_names::NodeClaimNames::new(seed ^ salt);
    let mut methods: Vec<Box<dyn disruption::DisruptionMethod>> =
        vec![Box::new(emptiness::Emptiness)];
    if settings.return_to_spot.is_some() {
        methods.push(Box::new(return_to_spot::ReturnToSpot::with_names(names(
            0x5350_4F54,
        ))));
    }
    if settings.rebalance_replacement {
        methods.push(Box::new(consolidation::Consolidation::new(
            consolidation::Scope::Rebalance,
            names(0x5245_4241),
        )));
    }
    methods.push(Box::new(consolidation::Consolidation::new(
        consolidation::Scope::Drift,
        names(0x4452_4946),
    )));
    methods.push(Box::new(consolidation::Consolidation::new(
        consolidation::Scope::MultiNode,
        names(0x4D55_4C54),
    )));
    methods.push(Box::new(consolidation::Consolidation::new(
        consolidation::Scope::SingleNode,
        names(0x534E_474C),
    )));
    disruption::Pipeline::new(methods)
}

impl Default for Controllers {
    fn default() -> Self {
        Self::new(Settings::default())
    }
}

impl Controllers {
    /// Controllers with these settings (NodeClaim names drawn from seed 0).
    pub fn new(settings: Settings) -> Self {
        Self::with_seed(settings, 0)
    }

    /// Controllers with these settings whose NodeClaim names are drawn from `seed` (a
    /// controller in a cluster seeds from the clock, the simulator from its scenario).
    pub fn with_seed(settings: Settings, seed: u64) -> Self {
        let provisioner =
            provisioner::Provisioner::with_names(node_claim_names::NodeClaimNames::new(seed));
        let disruption = disruption_methods(&settings, seed);
        Self {
            settings,
            provisioner,
            interruption: interruption::Interruption::default(),
            disruption,
            next_disruption_poll: Duration::ZERO,
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
        let (actions, wake_at) = expiration::reconcile(state, now);
        reconciled.actions.extend(actions);
        wake(wake_at, &mut reconciled);
        if now >= self.next_disruption_poll {
            self.next_disruption_poll = now + self.settings.disruption_poll;
            let deleted: Vec<&str> = reconciled
                .actions
                .iter()
                .filter_map(|action| match action {
                    Action::DeleteNodeClaim { node_claim, .. } => Some(node_claim.as_str()),
                    _ => None,
                })
                .collect();
            let (actions, wake_at) = self.disruption.run(state, now, &self.settings, &deleted);
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
