//! The NodeClaim lifecycle: launch new claims through the CloudProvider with their offerings
//! in ranked order (`spotter_core::offering_ranking`), leaving out the unavailable ones; delete
//! a claim whose launch answered insufficient capacity for every offering, or that has no
//! offering left to try (its pods are solved again at once); delete claims whose launch or
//! registration takes longer than Karpenter's timeouts (5 and 15 minutes). A launch in flight
//! is not asked again; one that failed for a reason that may pass (throttling, a timeout) is
//! tried again when its backoff ends.
//!
//! The cloud's insufficient-capacity answers reach the unavailable-offerings cache through the
//! driver, as they happen; this controller only reads the cache. A Spot replacement for a
//! return to Spot is a probe: it sees the cache without backoff beyond the TTL.

use std::time::Duration;

use spotter_cloud::{OfferingKey, OfferingRequest};
use spotter_core::instance_type::offering_allowed;
use spotter_core::interruption_evidence::Evidence;
use spotter_core::offering_ranking::{RankingContext, rank};
use spotter_core::resources::Resources;
use spotter_core::unavailable_offerings::UnavailableOfferings;

use crate::action::Action;
use crate::interruption::spot_exposure;
use crate::settings::Settings;
use crate::state::{ClusterState, DisruptionReason, LaunchState, NodeClaim};

/// Decides the lifecycle actions for every NodeClaim that is not being deleted.
pub fn reconcile(state: &ClusterState, now: Duration, settings: &Settings) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut probe_view: Option<UnavailableOfferings> = None;
    for claim in state
        .node_claims
        .values()
        .filter(|claim| claim.deletion.is_none())
    {
        match &claim.launch {
            LaunchState::Launching { .. } => {
                if now.saturating_sub(claim.created_at) >= settings.launch_timeout {
                    actions.push(Action::DeleteNodeClaim {
                        node_claim: claim.name.clone(),
                        reason: DisruptionReason::LaunchTimeout,
                        deadline: None,
                    });
                }
            }
            LaunchState::Retrying { retry_at, .. } if *retry_at > now => {
                if now.saturating_sub(claim.created_at) >= settings.launch_timeout {
                    actions.push(Action::DeleteNodeClaim {
                        node_claim: claim.name.clone(),
                        reason: DisruptionReason::LaunchTimeout,
                        deadline: None,
                    });
                }
            }
            LaunchState::NotLaunched | LaunchState::Retrying { .. } => {
                if now.saturating_sub(claim.created_at) >= settings.launch_timeout {
                    actions.push(Action::DeleteNodeClaim {
                        node_claim: claim.name.clone(),
                        reason: DisruptionReason::LaunchTimeout,
                        deadline: None,
                    });
                    continue;
                }
                let unavailable = if claim.replaces.is_some() {
                    probe_view.get_or_insert_with(|| state.unavailable_offerings.probe_view(now))
                } else {
                    &state.unavailable_offerings
                };
                let offerings = launch_offerings(state, claim, unavailable, now, settings);
                if offerings.is_empty() {
                    actions.push(Action::DeleteNodeClaim {
                        node_claim: claim.name.clone(),
                        reason: DisruptionReason::InsufficientCapacity,
                        deadline: None,
                    });
                } else {
                    actions.push(Action::LaunchNodeClaim {
                        node_claim: claim.name.clone(),
                        offerings,
                    });
                }
            }
            LaunchState::InsufficientCapacity { .. } => {
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

/// When a launch that failed for a passing reason is due to be tried again, the earliest.
pub fn next_retry(state: &ClusterState) -> Option<Duration> {
    state
        .node_claims
        .values()
        .filter(|claim| claim.deletion.is_none())
        .filter_map(|claim| match claim.launch {
            LaunchState::Retrying { retry_at, .. } => Some(retry_at),
            _ => None,
        })
        .min()
}

/// The offerings a claim's launch tries, in order: those of its candidate instance types its
/// requirements allow and `unavailable` does not hold, ranked (room counted in copies of the
/// pods nominated to it).
pub fn launch_offerings(
    state: &ClusterState,
    claim: &NodeClaim,
    unavailable: &UnavailableOfferings,
    now: Duration,
    settings: &Settings,
) -> Vec<OfferingRequest> {
    let candidates = claim
        .instance_types
        .iter()
        .filter_map(|name| state.instance_type(name))
        .flat_map(|instance_type| {
            instance_type
                .offerings
                .iter()
                .map(move |offering| (instance_type, offering))
        })
        .filter(|(instance_type, offering)| {
            offering_allowed(offering, &claim.requirements)
                && !unavailable.contains(
                    &instance_type.name,
                    offering.capacity_type,
                    &offering.zone,
                )
        });
    let claim_requests = nominated_requests(state, &claim.name);
    let evidence = Evidence::gather(&state.interruption_history, now, &settings.half_lives())
        .beyond_the_region(&spot_exposure(state));
    let context = RankingContext {
        spot: &settings.spot_ranking,
        evidence: &evidence,
        placement: &state.placement_scores,
        unavailable: &state.unavailable_offerings,
        claim_requests: claim_requests.as_ref(),
        now,
    };
    rank(candidates, &context)
        .into_iter()
        .map(|ranked| OfferingRequest {
            offering: OfferingKey {
                capacity_type: ranked.capacity_type,
                instance_type: ranked.instance_type,
                zone: ranked.zone,
            },
            price_per_hour: ranked.price_per_hour,
        })
        .collect()
}

/// The summed requests of the pods nominated to a NodeClaim; `None` when it has none (a
/// return-to-Spot probe, whose pods stay where they are).
fn nominated_requests(state: &ClusterState, node_claim: &str) -> Option<Resources> {
    let mut requests: Option<Resources> = None;
    for pod in state
        .pods
        .values()
        .filter(|pod| pod.nominated.as_deref() == Some(node_claim))
    {
        requests
            .get_or_insert_with(Resources::default)
            .add(&pod.pod.requests);
    }
    requests
}
