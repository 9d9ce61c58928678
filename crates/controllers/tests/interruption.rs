//! Interruption response: one action per notice, whichever source it came from and however
//! often it is seen. Each case is a sequence of snapshots reconciled by one `Interruption`.

mod support;

use std::time::Duration;

use spotter_controllers::interruption::Interruption;
use support::*;

struct Step {
    now: Duration,
    state: ClusterState,
    expected: Vec<Action>,
}

struct Case {
    name: &'static str,
    steps: Vec<Step>,
}

fn run(cases: Vec<Case>) {
    let settings = Settings::default();
    let mut failures = Vec::new();
    for case in cases {
        let mut interruption = Interruption::default();
        for (index, step) in case.steps.iter().enumerate() {
            let actions = interruption.reconcile(&step.state, step.now, &settings);
            if actions != step.expected {
                failures.push(format!(
                    "case {:?}, step {index} at {:?}:\n  expected {:#?}\n  actual   {:#?}",
                    case.name, step.now, step.expected, actions
                ));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn step(now: Duration, state: ClusterState, expected: Vec<Action>) -> Step {
    Step {
        now,
        state,
        expected,
    }
}

/// A Spot `m5.xlarge` in `zone-a` (claim `c1`, instance `i-c1`) with its node, and another
/// claim `c2` on `m5.large` in `zone-a`.
fn cluster() -> ClusterStateBuilder {
    state()
        .pool(node_pool("batch").build())
        .instance_types(catalog())
        .claim_with_node(
            claim("c1", "batch").launched("m5.xlarge", CapacityType::Spot, "zone-a", secs(0)),
            secs(0),
        )
        .claim_with_node(claim("c2", "batch").spot(secs(0)), secs(0))
}

#[test]
fn interruption_notices() {
    let terminate_at = secs(130);
    let c1_offering = offering(CapacityType::Spot, "m5.xlarge", "zone-a");
    let interrupted = |now: Duration| {
        vec![
            mark_unavailable(
                c1_offering.clone(),
                now + secs(180),
                UnavailableReason::SpotInterruption,
            ),
            delete("c1", DisruptionReason::SpotInterrupted, Some(terminate_at)),
        ]
    };
    let queue = || spot_notice("c1", secs(10), terminate_at);
    let agent = || spot_notice("c1", secs(11), terminate_at);
    run(vec![
        Case {
            name: "a Spot interruption marks exactly its offering and deletes with the deadline",
            steps: vec![step(
                secs(10),
                cluster().notice(queue()).build(),
                interrupted(secs(10)),
            )],
        },
        Case {
            name: "the same notice seen again acts once",
            steps: vec![
                step(
                    secs(10),
                    cluster().notice(queue()).build(),
                    interrupted(secs(10)),
                ),
                step(secs(12), cluster().notice(queue()).build(), vec![]),
                step(secs(20), cluster().notice(queue()).build(), vec![]),
            ],
        },
        Case {
            name: "the same notice twice in one snapshot acts once",
            steps: vec![step(
                secs(10),
                cluster().notice(queue()).notice(queue()).build(),
                interrupted(secs(10)),
            )],
        },
        Case {
            name: "the notice from the queue and from the node agent acts once",
            steps: vec![
                step(
                    secs(10),
                    cluster().notice(queue()).build(),
                    interrupted(secs(10)),
                ),
                step(
                    secs(11),
                    cluster().notice(queue()).notice(agent()).build(),
                    vec![],
                ),
            ],
        },
        Case {
            name: "both sources in one snapshot act once",
            steps: vec![step(
                secs(11),
                cluster().notice(queue()).notice(agent()).build(),
                interrupted(secs(11)),
            )],
        },
        Case {
            name: "the agent's copy with a termination time a second off still acts once",
            steps: vec![step(
                secs(11),
                cluster()
                    .notice(queue())
                    .notice(spot_notice("c1", secs(11), terminate_at + secs(1)))
                    .build(),
                interrupted(secs(11)),
            )],
        },
        Case {
            name: "a rebalance recommendation changes nothing",
            steps: vec![step(
                secs(10),
                cluster()
                    .notice(notice("c1", NoticeKind::RebalanceRecommendation, secs(10)))
                    .build(),
                vec![],
            )],
        },
        Case {
            name: "a state change drains without a deadline and marks nothing",
            steps: vec![step(
                secs(10),
                cluster()
                    .notice(notice("c1", NoticeKind::StateChange, secs(10)))
                    .build(),
                vec![delete("c1", DisruptionReason::InstanceStopped, None)],
            )],
        },
        Case {
            name: "a scheduled change drains without a deadline and marks nothing",
            steps: vec![step(
                secs(10),
                cluster()
                    .notice(notice("c2", NoticeKind::ScheduledChange, secs(10)))
                    .build(),
                vec![delete("c2", DisruptionReason::ScheduledChange, None)],
            )],
        },
        Case {
            name: "a notice for an unknown instance changes nothing",
            steps: vec![step(
                secs(10),
                cluster()
                    .notice(spot_notice("elsewhere", secs(10), terminate_at))
                    .notice(notice("elsewhere", NoticeKind::StateChange, secs(10)))
                    .build(),
                vec![],
            )],
        },
        Case {
            name: "a Spot interruption for a claim already deleted as empty adds the deadline",
            steps: vec![step(
                secs(10),
                state()
                    .pool(node_pool("batch").build())
                    .instance_types(catalog())
                    .claim_with_node(
                        claim("c1", "batch")
                            .launched("m5.xlarge", CapacityType::Spot, "zone-a", secs(0))
                            .deleting(DisruptionReason::Empty, secs(5)),
                        secs(0),
                    )
                    .notice(queue())
                    .build(),
                interrupted(secs(10)),
            )],
        },
        Case {
            name: "a state change for a claim already being deleted changes nothing",
            steps: vec![step(
                secs(10),
                state()
                    .pool(node_pool("batch").build())
                    .instance_types(catalog())
                    .claim_with_node(
                        claim("c1", "batch")
                            .spot(secs(0))
                            .deleting(DisruptionReason::Empty, secs(5)),
                        secs(0),
                    )
                    .notice(notice("c1", NoticeKind::StateChange, secs(10)))
                    .build(),
                vec![],
            )],
        },
        Case {
            name: "a notice that arrived before its claim was known acts once the claim is",
            steps: vec![
                step(
                    secs(10),
                    state()
                        .pool(node_pool("batch").build())
                        .instance_types(catalog())
                        .notice(queue())
                        .build(),
                    vec![],
                ),
                step(
                    secs(11),
                    cluster().notice(queue()).build(),
                    interrupted(secs(11)),
                ),
            ],
        },
    ]);
}

#[test]
fn interruption_awareness_avoids_offerings_interrupted_too_often() {
    let terminate_at = secs(7300);
    let now = secs(7200);
    let c1_offering = offering(CapacityType::Spot, "m5.xlarge", "zone-a");
    let ttl_mark = mark_unavailable(
        c1_offering.clone(),
        now + secs(180),
        UnavailableReason::SpotInterruption,
    );
    let avoid = mark_unavailable(
        c1_offering.clone(),
        now + secs(2 * 3600),
        UnavailableReason::InterruptionProne,
    );
    let drain = delete("c1", DisruptionReason::SpotInterrupted, Some(terminate_at));
    // (case, policy, earlier interruptions of the offering (instance, seconds), expected)
    let cases = [
        (
            "the second interruption within an hour avoids the offering for 2 h",
            Policy::Spotter,
            vec![("i-old", 5400)],
            vec![ttl_mark.clone(), avoid.clone(), drain.clone()],
        ),
        (
            "the first interruption only marks the offering for the TTL",
            Policy::Spotter,
            vec![],
            vec![ttl_mark.clone(), drain.clone()],
        ),
        (
            "an interruption more than an hour before does not count",
            Policy::Spotter,
            vec![("i-old", 3000)],
            vec![ttl_mark.clone(), drain.clone()],
        ),
        (
            "the Karpenter preset never avoids",
            Policy::Karpenter,
            vec![("i-old", 5400), ("i-older", 5000)],
            vec![ttl_mark.clone(), drain.clone()],
        ),
    ];
    let mut failures = Vec::new();
    for (name, policy, earlier, expected) in cases {
        let mut cluster = cluster();
        for (instance, at) in earlier {
            cluster = cluster.interrupted("m5.xlarge", "zone-a", instance, secs(at));
        }
        // The driver records the notice being handled before the controllers see it.
        let state = cluster
            .interrupted("m5.xlarge", "zone-a", &instance_id("c1"), now)
            .notice(spot_notice("c1", now, terminate_at))
            .build();
        let actions = Interruption::default().reconcile(&state, now, &Settings::for_policy(policy));
        if actions != expected {
            failures.push(format!(
                "{name}:\n  expected {expected:#?}\n  actual   {actions:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn interruption_awareness_avoids_a_family_or_a_zone_on_strong_evidence() {
    use spotter_core::unavailable_offerings::AvoidLevel;
    let terminate_at = secs(7300);
    let now = secs(7200);
    let hour = 3600;
    let c1_offering = offering(CapacityType::Spot, "m5.xlarge", "zone-a");
    let ttl_mark = mark_unavailable(
        c1_offering.clone(),
        now + secs(180),
        UnavailableReason::SpotInterruption,
    );
    let wider = |level: AvoidLevel, until: Duration| Action::MarkUnavailable {
        offering: c1_offering.clone(),
        until,
        reason: UnavailableReason::InterruptionProne,
        wider: Some(level),
    };
    let m5 = || AvoidLevel::FamilyInZone {
        family: "m5".to_string(),
    };
    let drain = delete("c1", DisruptionReason::SpotInterrupted, Some(terminate_at));
    // (case, policy, other interruptions in zone-a now (instance type, instance), expected).
    // Evidence 4 fades to 1 in two half-lives: 2 h for a family (1 h), 6 h for a zone (3 h).
    let cases = [
        (
            "two in the family: nothing wider",
            Policy::Spotter,
            vec![("m5.large", "i-1")],
            vec![ttl_mark.clone(), drain.clone()],
        ),
        (
            "four in the family, none elsewhere: the family for 2 h and the zone for 6 h",
            Policy::Spotter,
            vec![
                ("m5.large", "i-1"),
                ("m5.2xlarge", "i-2"),
                ("m5.4xlarge", "i-3"),
            ],
            vec![
                ttl_mark.clone(),
                wider(m5(), now + secs(2 * hour)),
                wider(AvoidLevel::Zone, now + secs(6 * hour)),
                drain.clone(),
            ],
        ),
        (
            "four in the zone across families: the zone only",
            Policy::Spotter,
            vec![
                ("m5.large", "i-1"),
                ("c5.large", "i-2"),
                ("r5.large", "i-3"),
            ],
            vec![
                ttl_mark.clone(),
                wider(AvoidLevel::Zone, now + secs(6 * hour)),
                drain.clone(),
            ],
        ),
        (
            "the Karpenter preset never avoids",
            Policy::Karpenter,
            vec![
                ("m5.large", "i-1"),
                ("m5.2xlarge", "i-2"),
                ("m5.4xlarge", "i-3"),
            ],
            vec![ttl_mark.clone(), drain.clone()],
        ),
    ];
    let mut failures = Vec::new();
    for (name, policy, others, expected) in cases {
        let mut cluster = cluster();
        for (instance_type, instance) in others {
            cluster = cluster.interrupted(instance_type, "zone-a", instance, now);
        }
        let state = cluster
            .interrupted("m5.xlarge", "zone-a", &instance_id("c1"), now)
            .notice(spot_notice("c1", now, terminate_at))
            .build();
        let actions = Interruption::default().reconcile(&state, now, &Settings::for_policy(policy));
        if actions != expected {
            failures.push(format!(
                "{name}:\n  expected {expected:#?}\n  actual   {actions:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
