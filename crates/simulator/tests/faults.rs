//! Issue 16's fault kinds, each on a small scenario built in code: it happens (the run's
//! events show it) and the run survives it (no invariant broken, the pods run).

mod support;

use spotter_report::EventKind;
use spotter_simulator::Policy;
use spotter_simulator::scenario::{Fault, FaultKind, ReplicaCurve};
use support::*;

#[test]
fn each_new_fault_kind_happens_and_is_survived() {
    let interrupt_all = Fault {
        at: minutes(60),
        kind: FaultKind::InterruptSpotNodes {
            fraction: 1.0,
            zone: None,
        },
    };
    // (fault kind, its extra faults, what an event of the run says when it happened)
    let cases: Vec<(FaultKind, Vec<Fault>, &str)> = vec![
        (
            FaultKind::CloudApiErrors {
                duration: minutes(20),
                throttled: 1.0,
                server_errors: 0.0,
                unknown_outcome: 0.0,
            },
            Vec::new(),
            "launch failed",
        ),
        (
            FaultKind::CloudApiErrors {
                duration: minutes(20),
                throttled: 0.0,
                server_errors: 1.0,
                unknown_outcome: 0.0,
            },
            Vec::new(),
            "launch failed",
        ),
        (
            FaultKind::CloudApiErrors {
                duration: minutes(20),
                throttled: 0.0,
                server_errors: 0.0,
                unknown_outcome: 1.0,
            },
            Vec::new(),
            "launch failed",
        ),
        (
            FaultKind::UnregisteredNodes {
                duration: minutes(20),
                fraction: 1.0,
            },
            Vec::new(),
            "will never register",
        ),
        (
            FaultKind::InterruptionDelivery {
                duration: hours(2),
                duplicate: 1.0,
                late: 1.0,
                delay: std::time::Duration::from_secs(40),
            },
            vec![interrupt_all.clone()],
            "delivered late or again",
        ),
        (
            FaultKind::WatchEvents {
                duration: minutes(30),
                lost: 1.0,
                duplicated: 0.0,
                relist: minutes(5),
            },
            Vec::new(),
            "watch event lost until the relist",
        ),
        (
            FaultKind::WatchEvents {
                duration: minutes(30),
                lost: 0.0,
                duplicated: 1.0,
                relist: minutes(5),
            },
            Vec::new(),
            "watch event delivered twice",
        ),
        (
            FaultKind::DeleteNodePool {
                name: SPOT_POOL.to_string(),
            },
            Vec::new(),
            "NodePool batch deleted",
        ),
    ];
    for (kind, extra, shows) in cases {
        let mut scenario = base_scenario("new-faults", hours(4));
        scenario.deployments = vec![deployment(worker("web"), ReplicaCurve::Constant(6))];
        scenario.faults = vec![Fault {
            at: if extra.is_empty() {
                std::time::Duration::ZERO
            } else {
                minutes(30)
            },
            kind: kind.clone(),
        }];
        scenario.faults.extend(extra);
        for policy in Policy::ALL {
            let report = under(&scenario, policy);
            let context = format!("{kind:?} under {policy:?}\n{}", describe(&report));
            assert_clean(&report);
            assert!(
                report
                    .events
                    .iter()
                    .any(|event| event.detail.contains(shows)),
                "an event saying {shows:?}\n{context}"
            );
            assert_eq!(report.summary.pods_pending_at_end, 0, "{context}");
            assert!(
                !events_of(&report, EventKind::Fault).is_empty(),
                "{context}"
            );
        }
    }
}
