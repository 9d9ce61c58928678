//! Expiration as Karpenter v1 does it: a NodeClaim older than its NodePool's `expireAfter` is
//! deleted forcefully (no disruption budget, `karpenter.sh/do-not-disrupt` or
//! PodDisruptionBudget holds it back; draining then respects PodDisruptionBudgets until the
//! pool's `terminationGracePeriod`), and the controllers wake when the next claim expires.

mod support;

use std::time::Duration;

use spotter_controllers::expiration;
use spotter_controllers::termination;
use spotter_core::node_pool::Budget as NodePoolBudget;
use support::*;

const HOUR: u64 = 3600;

struct Case {
    name: &'static str,
    state: ClusterState,
    now: Duration,
    expected: Vec<Action>,
    wake_at: Option<Duration>,
}

/// A NodePool `batch` with `expireAfter` (`None`: `Never`).
fn pool(expire_after: Option<Duration>) -> NodePool {
    let mut pool = node_pool("batch").build();
    pool.expire_after = expire_after;
    pool
}

/// A cluster with `pool` and one registered Spot claim per `(name, created at)`.
fn cluster(pool: NodePool, claims: &[(&str, u64)]) -> ClusterStateBuilder {
    let mut builder = state().pool(pool).instance_types(catalog());
    for (name, created_at) in claims {
        builder = builder.claim_with_node(
            claim(name, "batch")
                .created_at(secs(*created_at))
                .spot(secs(*created_at)),
            secs(*created_at),
        );
    }
    builder
}

fn expired(claim: &str) -> Action {
    delete(claim, DisruptionReason::Expired, None)
}

#[test]
fn expire_after() {
    let one_hour = || pool(Some(secs(HOUR)));
    let no_disruption = || {
        let mut pool = one_hour();
        pool.disruption.budgets = vec![NodePoolBudget {
            nodes: BudgetNodes::Count(0),
            schedule: None,
            duration: None,
            reasons: Vec::new(),
        }];
        pool
    };
    let cases = vec![
        Case {
            name: "expireAfter Never: kept, never woken",
            state: cluster(pool(None), &[("c1", 0)]).build(),
            now: secs(1000 * HOUR),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "younger than expireAfter: kept, woken when it expires",
            state: cluster(one_hour(), &[("c1", 100)]).build(),
            now: secs(HOUR),
            expected: vec![],
            wake_at: Some(secs(HOUR + 100)),
        },
        Case {
            name: "as old as expireAfter: deleted as expired",
            state: cluster(one_hour(), &[("c1", 100)]).build(),
            now: secs(HOUR + 100),
            expected: vec![expired("c1")],
            wake_at: None,
        },
        Case {
            name: "several claims: the expired go, the next expiry sets the wake",
            state: cluster(one_hour(), &[("c1", 0), ("c2", 50), ("c3", 900)]).build(),
            now: secs(HOUR + 60),
            expected: vec![expired("c1"), expired("c2")],
            wake_at: Some(secs(HOUR + 900)),
        },
        Case {
            name: "already being deleted: not deleted again",
            state: state()
                .pool(one_hour())
                .instance_types(catalog())
                .claim(
                    claim("c1", "batch")
                        .spot(secs(0))
                        .deleting(DisruptionReason::Empty, secs(10)),
                )
                .build(),
            now: secs(2 * HOUR),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "forceful: a budget of 0 does not hold it back",
            state: cluster(no_disruption(), &[("c1", 0)]).build(),
            now: secs(HOUR),
            expected: vec![expired("c1")],
            wake_at: None,
        },
        Case {
            name: "forceful: a do-not-disrupt pod and a blocking PDB do not hold it back",
            state: cluster(one_hour(), &[("c1", 0)])
                .pod(bound(
                    pod("a").label("app", "web").do_not_disrupt().build(),
                    "c1",
                ))
                .pdb(pdb("web", Budget::MaxUnavailable(Amount::Count(0)), 1))
                .build(),
            now: secs(HOUR),
            expected: vec![expired("c1")],
            wake_at: None,
        },
        Case {
            name: "a NodeClaim still launching expires too",
            state: state()
                .pool(one_hour())
                .instance_types(catalog())
                .claim(claim("c1", "batch"))
                .build(),
            now: secs(HOUR),
            expected: vec![expired("c1")],
            wake_at: None,
        },
    ];
    let mut failures = Vec::new();
    for case in cases {
        let (actions, wake_at) = expiration::reconcile(&case.state, case.now);
        if actions != case.expected || wake_at != case.wake_at {
            failures.push(format!(
                "case {:?} at {:?}:\n  expected {:#?} wake_at {:?}\n  actual   {:#?} wake_at {:?}",
                case.name, case.now, case.expected, case.wake_at, actions, wake_at
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An expired node drains through its PodDisruptionBudgets until the pool's
/// `terminationGracePeriod` runs out, then its pods are deleted.
#[test]
fn an_expired_node_drains_until_its_termination_grace_period() {
    let settings = Settings::default();
    let mut pool = pool(Some(secs(HOUR)));
    pool.termination_grace_period = Some(secs(600));
    let mut state = cluster(pool, &[("c1", 0)])
        .pod(bound(pod("a").label("app", "web").build(), "c1"))
        .pdb(pdb("web", Budget::MaxUnavailable(Amount::Count(0)), 1))
        .build();
    let expired_at = secs(HOUR);
    for action in expiration::reconcile(&state, expired_at).0 {
        state.apply(
            &action,
            spotter_controllers::transitions::Outcome::Done,
            expired_at,
            &settings,
        );
    }
    for (name, now, deletes_pod, wake_at) in [
        (
            "within the grace period: the PDB holds the pod",
            expired_at + secs(599),
            false,
            Some(expired_at + secs(600)),
        ),
        (
            "grace period over: the pod is deleted",
            expired_at + secs(600),
            true,
            None,
        ),
    ] {
        let (actions, wake) = termination::reconcile(&state, now, &settings);
        let deleted = actions
            .iter()
            .any(|action| matches!(action, Action::DeletePod { pod, .. } if pod == "default/a"));
        let evicted = actions
            .iter()
            .any(|action| matches!(action, Action::EvictPod { .. }));
        assert_eq!(deleted, deletes_pod, "case {name:?}: {actions:#?}");
        assert!(!evicted, "case {name:?}: the PDB allows no eviction");
        assert_eq!(wake, wake_at, "case {name:?}");
    }
}
