//! The NodeClaim lifecycle: launch new claims through the CloudProvider; on an
//! insufficient-capacity answer mark exactly the failed offerings unavailable and drop the
//! claim (its pods are solved again at once); delete claims whose launch or registration takes
//! longer than Karpenter's timeouts (5 and 15 minutes).

use std::time::Duration;

use crate::action::Action;
use crate::settings::Settings;
use crate::state::{ClusterState, DisruptionReason, LaunchState};

/// Decides the lifecycle actions for every NodeClaim that is not being deleted.
pub fn reconcile(state: &ClusterState, now: Duration, settings: &Settings) -> Vec<Action> {
    let mut actions = Vec::new();
    for claim in state
        .node_claims
        .values()
        .filter(|claim| claim.deletion.is_none())
    {
        match &claim.launch {
            LaunchState::NotLaunched => {
                if now.saturating_sub(claim.created_at) >= settings.launch_timeout {
                    actions.push(Action::DeleteNodeClaim {
                        node_claim: claim.name.clone(),
                        reason: DisruptionReason::LaunchTimeout,
                        deadline: None,
                    });
                } else {
                    actions.push(Action::LaunchNodeClaim {
                        node_claim: claim.name.clone(),
                    });
                }
            }
            LaunchState::InsufficientCapacity { offerings } => {
                for offering in offerings {
                    actions.push(Action::MarkUnavailable {
                        offering: offering.clone(),
                        until: now + settings.unavailable_offering_ttl,
                        reason: "insufficient capacity".to_string(),
                    });
                }
                actions.push(Action::DeleteNodeClaim {
                    node_claim: claim.name.clone(),
                    reason: DisruptionReason::InsufficientCapacity,
                    deadline: None,
                });
            }
            LaunchState::Launched { instance, .. } => {
                if claim.node.is_none()
                    && now.saturating_sub(instance.launched_at) >= settings.registration_timeout
                {
                    actions.push(Action::DeleteNodeClaim {
                        node_claim: claim.name.clone(),
                        reason: DisruptionReason::RegistrationTimeout,
                        deadline: None,
                    });
                }
            }
        }
    }
    actions
}
