//! Interruption response: acts once per notice (deduplicated by instance and kind, whether it
//! came from the queue or a node agent). A Spot interruption warning marks the offering
//! unavailable for the TTL and deletes the NodeClaim with the 2-minute deadline, which makes
//! the termination controller drain the node and the provisioner launch the replacement at
//! once; state changes and scheduled changes drain too; a rebalance recommendation changes
//! nothing here (the rebalance replacement is a disruption method,
//! [`crate::consolidation::Scope::Rebalance`], off by default).
//!
//! With interruption awareness (Spotter's policy), an offering that reached the threshold of
//! interruptions within the window (the state records each Spot interruption warning in the
//! interruption history as the notice arrives; the other notices are not evidence) is kept out of launches for a while, so that the cluster does not
//! relaunch into a pool that keeps reclaiming its nodes; and when the fading evidence against
//! the offering's instance family in its zone, or against its whole zone, is strong and that
//! zone's own ([`spotter_core::interruption_evidence::avoid_decisions`]), the family or zone
//! is avoided for Spot until the evidence fades: launches take it last, and a soft zone spread
//! stops counting it.

use std::collections::BTreeSet;
use std::time::Duration;

use spotter_cloud::OfferingKey;
use spotter_core::interruption_evidence::{Evidence, Exposure, avoid_decisions};
use spotter_core::offering::CapacityType;
use spotter_core::unavailable_offerings::{AvoidLevel, UnavailableReason};

use crate::action::Action;
use crate::settings::{InterruptionAwareness, Settings};
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
        let mut learnt: Option<Learnt> = None;
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
                        wider: None,
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
                                wider: None,
                            });
                        }
                        let learnt =
                            learnt.get_or_insert_with(|| Learnt::new(state, now, awareness));
                        actions.extend(learnt.avoid(state, offering, awareness, now));
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

/// The Spot nodes running in each zone, family in a zone and offering (NodeClaims with an
/// instance, those being deleted included): what interruption evidence is weighed against,
/// here and in the launch ranking ([`crate::node_claim_lifecycle`]).
pub fn spot_exposure(state: &ClusterState) -> Exposure {
    let mut exposure = Exposure::default();
    for offering in state
        .node_claims
        .values()
        .filter_map(|claim| claim.instance())
        .map(|instance| &instance.offering)
        .filter(|offering| offering.capacity_type == CapacityType::Spot)
    {
        exposure.add(&offering.instance_type, &offering.zone);
    }
    exposure
}

/// The evidence at every level, the zones Spot is offered in and the Spot nodes running in
/// each, gathered once per pass; and the avoidances decided in the pass so far.
struct Learnt {
    evidence: Evidence,
    zones: Vec<String>,
    exposure: Exposure,
    decided: Vec<(AvoidLevel, String, Duration)>,
}

impl Learnt {
    fn new(state: &ClusterState, now: Duration, awareness: &InterruptionAwareness) -> Self {
        let zones: BTreeSet<&str> = state
            .instance_types
            .iter()
            .flat_map(|instance_type| &instance_type.offerings)
            .filter(|offering| offering.capacity_type == CapacityType::Spot)
            .map(|offering| offering.zone.as_str())
            .collect();
        Self {
            evidence: Evidence::gather(&state.interruption_history, now, &awareness.half_lives),
            zones: zones.into_iter().map(str::to_string).collect(),
            exposure: spot_exposure(state),
            decided: Vec::new(),
        }
    }

    /// The family-in-zone and zone avoidances an interruption of `offering` calls for, not
    /// already in force until then.
    fn avoid(
        &mut self,
        state: &ClusterState,
        offering: &OfferingKey,
        awareness: &InterruptionAwareness,
        now: Duration,
    ) -> Vec<Action> {
        let zones: Vec<&str> = self.zones.iter().map(String::as_str).collect();
        let decisions = avoid_decisions(
            &self.evidence,
            (
                &offering.instance_type,
                offering.capacity_type,
                &offering.zone,
            ),
            &zones,
            &self.exposure,
            &state.placement_scores,
            &awareness.avoid_rules,
            &awareness.half_lives,
            now,
        );
        let mut actions = Vec::new();
        for decision in decisions {
            let in_force = state.unavailable_offerings.avoided().iter().any(|avoided| {
                avoided.level == decision.level
                    && avoided.capacity_type == decision.capacity_type
                    && avoided.zone == decision.zone
                    && avoided.until >= decision.until
            });
            let decided = self.decided.iter().any(|(level, zone, until)| {
                *level == decision.level && *zone == decision.zone && *until >= decision.until
            });
            if in_force || decided {
                continue;
            }
            self.decided.push((
                decision.level.clone(),
                decision.zone.clone(),
                decision.until,
            ));
            actions.push(Action::MarkUnavailable {
                offering: offering.clone(),
                until: decision.until,
                reason: UnavailableReason::InterruptionProne,
                wider: Some(decision.level),
            });
        }
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
