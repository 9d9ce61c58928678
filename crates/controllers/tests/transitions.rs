//! The state machine every driver shares: what a launch's answer, a deletion, a termination's
//! answer and a restart do to the cluster state, whichever driver reports them.

mod support;

use std::time::Duration;

use spotter_cloud::{CloudError, Launched};
use spotter_controllers::Outcome;
use spotter_controllers::state::LaunchState;
use support::*;

/// A not-yet-launched claim `c1` (created as a fallback) in pool `batch`, with pod `a`
/// nominated to it.
fn pending_claim() -> ClusterState {
    let mut claim = claim("c1", "batch").build();
    claim.fallback = true;
    state()
        .pool(node_pool("batch").build())
        .instance_types(catalog())
        .claim(claim)
        .pod(pending(pod("a").build()).nominated("c1"))
        .build()
}

fn instance(capacity_type: CapacityType) -> Instance {
    Instance {
        id: "i-1".into(),
        provider_id: "sim:///zone-a/i-1".into(),
        node_claim: "c1".into(),
        node_pool: "batch".into(),
        offering: offering(capacity_type, "m5.large", "zone-a"),
        price_per_hour: 0.1,
        launched_at: secs(10),
    }
}

fn launch_action() -> Action {
    launch("c1", &[(CapacityType::Spot, "m5.large", "zone-a", 0.04)])
}

/// (name, answer, expected launch state, expected fallback, ice cached, wake)
type LaunchCase = (
    &'static str,
    Result<Launched, CloudError>,
    &'static str,
    bool,
    bool,
    Option<Duration>,
);

/// What a launch's answer leaves: the claim's launch state, fallback flag, whether the
/// failed offerings are in the cache, and when the loop must look again.
#[test]
fn a_launch_answer_changes_the_claim_and_the_cache() {
    let ice = offering(CapacityType::Spot, "m5.xlarge", "zone-a");
    let throttled = CloudError::Throttled {
        operation: "CreateFleet".into(),
        retry_after: Some(secs(5)),
    };
    let cases: Vec<LaunchCase> = vec![
        (
            "on-demand after Spot failed: a fallback, the failed Spot offering cached",
            Ok(Launched {
                instance: instance(CapacityType::OnDemand),
                unavailable: vec![ice.clone()],
            }),
            "launched",
            true,
            true,
            None,
        ),
        (
            "Spot after all: no fallback",
            Ok(Launched {
                instance: instance(CapacityType::Spot),
                unavailable: Vec::new(),
            }),
            "launched",
            false,
            false,
            None,
        ),
        (
            "insufficient capacity: the claim keeps the answer, the offerings cached",
            Err(CloudError::InsufficientCapacity {
                offerings: vec![ice.clone()],
            }),
            "insufficient capacity",
            true,
            true,
            None,
        ),
        (
            "throttled: retried after the cloud's delay",
            Err(throttled),
            "retrying",
            true,
            false,
            Some(secs(105)),
        ),
        (
            "a transient failure: retried after a second",
            Err(CloudError::Transient {
                operation: "CreateFleet".into(),
                message: "timed out".into(),
            }),
            "retrying",
            true,
            false,
            Some(secs(101)),
        ),
        (
            "a request the cloud refuses (an unresolvable node class): retried with backoff, not in a loop",
            Err(CloudError::InvalidRequest {
                reason: "subnetSelectorTerms matched no subnet".into(),
            }),
            "retrying",
            true,
            false,
            Some(secs(101)),
        ),
        (
            "a missing permission: retried with backoff",
            Err(CloudError::PermissionDenied {
                operation: "CreateFleet".into(),
                instruction: "allow ec2:CreateFleet".into(),
            }),
            "retrying",
            true,
            false,
            Some(secs(101)),
        ),
    ];
    for (name, answer, launch_state, fallback, ice_cached, wake_at) in cases {
        let mut state = pending_claim();
        let applied = state.apply(
            &launch_action(),
            Outcome::Launched(answer),
            secs(100),
            &Settings::default(),
        );
        let claim = &state.node_claims["c1"];
        let described = match &claim.launch {
            LaunchState::Launched { .. } => "launched",
            LaunchState::InsufficientCapacity { .. } => "insufficient capacity",
            LaunchState::Retrying { .. } => "retrying",
            LaunchState::Launching { .. } => "launching",
            LaunchState::NotLaunched => "not launched",
        };
        assert_eq!(described, launch_state, "{name}");
        assert_eq!(claim.fallback, fallback, "{name}");
        assert_eq!(
            state
                .unavailable_offerings
                .contains("m5.xlarge", CapacityType::Spot, "zone-a"),
            ice_cached,
            "{name}"
        );
        assert!(applied.changed, "{name}");
        assert_eq!(applied.wake_at, wake_at, "{name}");
    }
}

#[test]
fn a_launch_in_flight_is_not_asked_again() {
    let mut state = pending_claim();
    let settings = Settings::default();
    let applied = state.apply(&launch_action(), Outcome::Started, secs(1), &settings);
    assert!(applied.changed);
    assert_eq!(
        state.node_claims["c1"].launch,
        LaunchState::Launching { since: secs(1) }
    );
    // The lifecycle controller leaves it alone while the call lasts...
    let actions = spotter_controllers::node_claim_lifecycle::reconcile(&state, secs(2), &settings);
    assert!(actions.is_empty(), "{actions:?}");
    // ... and the answer, when it comes, lands.
    state.launch_completed(
        "c1",
        Ok(Launched {
            instance: instance(CapacityType::Spot),
            unavailable: Vec::new(),
        }),
        secs(3),
    );
    assert!(state.node_claims["c1"].instance().is_some());
}

#[test]
fn deleting_a_claim_frees_its_pods_at_once_only_after_insufficient_capacity() {
    for (reason, retry_now) in [
        (DisruptionReason::InsufficientCapacity, true),
        (DisruptionReason::LaunchTimeout, false),
    ] {
        let mut state = pending_claim();
        state.apply(
            &delete("c1", reason, None),
            Outcome::Done,
            secs(5),
            &Settings::default(),
        );
        let pod = &state.pods["default/a"];
        assert_eq!(pod.nominated, None, "{reason:?}");
        assert_eq!(pod.retry_now, retry_now, "{reason:?}");
    }
}

#[test]
fn a_terminated_instance_the_cloud_no_longer_knows_is_gone() {
    // (answer, terminating, terminated)
    let cases = [
        (Ok(()), true, false),
        (
            Err(CloudError::NotFound {
                what: "instance i-1".into(),
            }),
            true,
            true,
        ),
        (
            Err(CloudError::Throttled {
                operation: "TerminateInstances".into(),
                retry_after: None,
            }),
            false,
            false,
        ),
    ];
    for (answer, terminating, terminated) in cases {
        let mut state = state()
            .pool(node_pool("batch").build())
            .instance_types(catalog())
            .claim(
                claim("c1", "batch")
                    .spot(secs(0))
                    .deleting(DisruptionReason::Empty, secs(50)),
            )
            .build();
        state.apply(
            &Action::TerminateInstance {
                node_claim: "c1".into(),
            },
            Outcome::Terminated(answer.clone()),
            secs(60),
            &Settings::default(),
        );
        let deletion = state.node_claims["c1"]
            .deletion
            .clone()
            .expect("being deleted");
        assert_eq!(
            (deletion.instance_terminating, deletion.instance_terminated),
            (terminating, terminated),
            "{answer:?}"
        );
    }
}

#[test]
fn a_restart_forgets_memory_and_keeps_the_objects() {
    let settings = Settings::default();
    let mut state = pending_claim();
    state.apply(&launch_action(), Outcome::Started, secs(1), &settings);
    state.unavailable_offerings.record_insufficient_capacity(
        "m5.large",
        CapacityType::Spot,
        "zone-a",
        secs(1),
    );
    state.forget_memory(&settings, secs(2));
    let claim = &state.node_claims["c1"];
    assert_eq!(claim.launch, LaunchState::NotLaunched, "asked again");
    assert!(claim.fallback, "the fallback annotation stays");
    assert_eq!(state.pods["default/a"].nominated, None);
    assert!(state.unavailable_offerings.is_empty());
}

#[test]
fn a_terminating_pod_keeps_its_node_and_loses_its_nomination() {
    // (case, the pod, whether marking it terminating changes the state)
    let cases = [
        (
            "bound and nominated elsewhere",
            bound(pod("a").build(), "n1").nominated("c1").build(),
            true,
        ),
        (
            "bound, not nominated",
            bound(pod("a").build(), "n1").build(),
            true,
        ),
        (
            "already terminating",
            bound(pod("a").build(), "n1").terminating().build(),
            false,
        ),
        (
            "pending (it is removed instead)",
            pending(pod("a").build()).nominated("c1").build(),
            false,
        ),
    ];
    for (case, pod_state, expected) in cases {
        let node = pod_state.node.clone();
        let mut state = state().pod(pod_state).build();
        assert_eq!(state.pod_terminating("default/a"), expected, "{case}");
        let after = &state.pods["default/a"];
        assert_eq!(after.node, node, "{case}: the pod stays where it is");
        if node.is_some() {
            assert!(after.terminating && after.nominated.is_none(), "{case}");
        }
    }
    assert!(!state().build().pod_terminating("default/missing"));
}

/// Only a Spot interruption warning is evidence against its offering: the other notices are
/// acted on but leave the interruption history and the offering's failure time alone.
#[test]
fn only_spot_interruption_warnings_are_recorded_against_the_offering() {
    let cases = [
        (
            "Spot interruption warning",
            NoticeKind::SpotInterruption {
                terminate_at: secs(120),
            },
            1,
        ),
        (
            "rebalance recommendation",
            NoticeKind::RebalanceRecommendation,
            0,
        ),
        ("state change", NoticeKind::StateChange, 0),
        ("scheduled change", NoticeKind::ScheduledChange, 0),
    ];
    for (name, kind, recorded) in cases {
        let mut state = state()
            .pool(node_pool("batch").build())
            .instance_types(catalog())
            .claim_with_node(
                claim("c1", "batch").launched("m5.large", CapacityType::Spot, "zone-a", secs(0)),
                secs(0),
            )
            .build();
        state.interruption_received(notice("c1", kind, secs(10)), secs(10));
        assert_eq!(
            state.interruption_history.all().len(),
            recorded,
            "{name}: interruption history"
        );
        assert_eq!(
            state.interruption_notices.len(),
            1,
            "{name}: the notice is kept"
        );
    }
}
