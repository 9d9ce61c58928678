//! Interruption response: acts once per notice (deduplicated by instance and kind, whether it
//! came from the queue or a node agent). A Spot interruption warning marks the offering
//! unavailable for the TTL and deletes the NodeClaim with the 2-minute deadline, which makes
//! the termination controller drain the node and the provisioner launch the replacement at
//! once; state changes and scheduled changes drain too; a rebalance recommendation changes
//! nothing.
//!
//! With interruption awareness (Spotter's policy), an offering that reached the threshold of
//! interruptions within the window (the driver records each one in the interruption history as
//! the notice arrives) is kept out of launches for a while, so that the cluster does not
//! relaunch into a pool that keeps reclaiming its nodes.

use std::collections::BTreeSet;
use std::time::Duration;

use spotter_core::unavailable_offerings::UnavailableReason;

use crate::action::Action;
use crate::settings::Settings;
use crate::state::{ClusterState, DisruptionReason, NoticeKind};

/// The interruption controller: remembers which notices it acted on.
#[derive(Debug, Default)]
pub struct Interruption {
    handled: BTreeSet<(String, NoticeKind)>,
}

impl Interruption {
    /// Acts on notices not handled yet.
    pub fn reconcile(
        &mut self,
        state: &ClusterState,
        now: Duration,
        settings: &Settings,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        for notice in &state.interruption_notices {
            if !self
                .handled
                .insert((notice.instance_id.clone(), dedup_kind(notice.kind)))
            {
                continue;
            }
            let Some(claim) = state.node_claims.values().find(|claim| {
                claim
                    .instance()
                    .is_some_and(|instance| instance.id == notice.instance_id)
            }) else {
                continue;
            };
            let Some(instance) = claim.instance() else {
                continue;
            };
            let (reason, deadline) = match notice.kind {
                NoticeKind::SpotInterruption { terminate_at } => {
                    actions.push(Action::MarkUnavailable {
                        offering: instance.offering.clone(),
                        until: now + settings.unavailable_offering_ttl,
                        reason: UnavailableReason::SpotInterruption,
                    });
                    if let Some(awareness) = &settings.interruption_awareness {
                        let offering = &instance.offering;
                        let recent = state.interruption_history.count_since(
                            &offering.instance_type,
                            offering.capacity_type,
                            &offering.zone,
                            now.saturating_sub(awareness.window),
                        );
                        if recent >= awareness.threshold {
                            actions.push(Action::MarkUnavailable {
                                offering: offering.clone(),
                                until: now + awareness.avoid_for,
                                reason: UnavailableReason::InterruptionProne,
                            });
                        }
                    }
                    (DisruptionReason::SpotInterrupted, Some(terminate_at))
                }
                NoticeKind::RebalanceRecommendation => continue,
                NoticeKind::StateChange => (DisruptionReason::InstanceStopped, None),
                NoticeKind::ScheduledChange => (DisruptionReason::ScheduledChange, None),
            };
            if claim
                .deletion
                .as_ref()
                .is_some_and(|deletion| deletion.deadline.is_some() || deadline.is_none())
            {
                continue;
            }
            actions.push(Action::DeleteNodeClaim {
                node_claim: claim.name.clone(),
                reason,
                deadline,
            });
        }
        // Forget notices about instances that no longer have a NodeClaim.
        self.handled.retain(|(instance_id, _)| {
            state.node_claims.values().any(|claim| {
                claim
                    .instance()
                    .is_some_and(|instance| &instance.id == instance_id)
            })
        });
        actions
    }
}

/// The kind a notice is deduplicated by: its kind without its payload, so that the queue's copy
/// of a Spot interruption warning and the node agent's, whose termination times may differ by
/// a second, count as one.
fn dedup_kind(kind: NoticeKind) -> NoticeKind {
    match kind {
        NoticeKind::SpotInterruption { .. } => NoticeKind::SpotInterruption {
            terminate_at: Duration::ZERO,
        },
        other => other,
    }
}
