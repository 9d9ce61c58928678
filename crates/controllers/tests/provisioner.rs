//! The provisioner, driven step by step through time: each case is a sequence of snapshots
//! reconciled by one `Provisioner` (it remembers its batch and the pods it could not place),
//! with the actions and `wake_at` expected at each step.

mod support;

use std::time::Duration;

use spotter_controllers::provisioner::Provisioner;
use support::*;

struct Step {
    now: Duration,
    state: ClusterState,
    expected: Vec<String>,
    wake_at: Option<Duration>,
}

struct Case {
    name: &'static str,
    steps: Vec<Step>,
}

fn step(now: Duration, state: ClusterState, expected: &[&str], wake_at: Option<Duration>) -> Step {
    Step {
        now,
        state,
        expected: expected.iter().map(|line| line.to_string()).collect(),
        wake_at,
    }
}

/// Runs every case with the batch alone deciding when pods are solved (Spotter's early
/// launches off; `early_launches` tests them), each with a fresh provisioner, and reports
/// every case that failed.
fn run(cases: Vec<Case>) {
    run_with(
        &Settings {
            early_launch_interval: None,
            ..Settings::default()
        },
        cases,
    );
}

/// [`run`] under `settings`.
fn run_with(settings: &Settings, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        let mut provisioner = Provisioner::default();
        let mut names = StableNames::default();
        for (index, step) in case.steps.iter().enumerate() {
            let (actions, wake_at) = provisioner.reconcile(&step.state, step.now, settings);
            let context = format!("case {:?}, step {index} at {:?}", case.name, step.now);
            for action in &actions {
                if let Action::PodUnschedulable { pod, reason } = action
                    && reason.trim().is_empty()
                {
                    failures.push(format!("{context}: {pod} unschedulable without a reason"));
                }
            }
            let described = names.describe_all(&actions);
            if described != step.expected || wake_at != step.wake_at {
                failures.push(format!(
                    "{context}:\n  expected {:#?} wake_at {:?}\n  actual   {:#?} wake_at {:?}",
                    step.expected, step.wake_at, described, wake_at
                ));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One NodePool `batch` (any capacity type) and the two-type catalog.
fn cluster() -> ClusterStateBuilder {
    state()
        .pool(node_pool("batch").build())
        .instance_types(catalog())
}

/// A pod asking for `cpu` and 1 GiB.
fn web(name: &str, cpu: &str) -> Pod {
    pod(name).cpu(cpu).memory("1Gi").build()
}

const BOTH_TYPES: &str = "types=m5.large,m5.xlarge";

fn create(name: &str, pool: &str, capacity: &str, pods: &[&str], fallback: bool) -> String {
    format!(
        "create {name} pool={pool} capacity={capacity} {BOTH_TYPES} pods={} fallback={fallback}",
        pods.join(",")
    )
}

#[test]
fn batching() {
    let one_pod = || cluster().pod(pending(web("a", "500m"))).build();
    let two_pods = || {
        cluster()
            .pod(pending(web("a", "500m")))
            .pod(pending(web("b", "500m")).created_at(millis(800)))
            .build()
    };
    let create_a = create("batch-00001", "batch", "spot", &["default/a"], false);
    let create_ab = create(
        "batch-00001",
        "batch",
        "spot",
        &["default/a", "default/b"],
        false,
    );
    // A pod every 500 ms: the batch never goes idle for 1 s, so the 10 s maximum solves it.
    let trickle = |count: usize| {
        let mut builder = cluster();
        for index in 0..count {
            builder = builder.pod(
                pending(pod(&format!("job-{index:02}")).cpu("10m").build())
                    .created_at(millis(500 * index as u64)),
            );
        }
        builder.build()
    };
    let mut trickle_steps: Vec<Step> = (0..20)
        .map(|index| {
            let now = millis(500 * index);
            step(
                now,
                trickle(index as usize + 1),
                &[],
                Some((now + secs(1)).min(secs(10))),
            )
        })
        .collect();
    let all_jobs: Vec<String> = (0..21)
        .map(|index| format!("default/job-{index:02}"))
        .collect();
    let all_jobs: Vec<&str> = all_jobs.iter().map(String::as_str).collect();
    let create_jobs = create("batch-00001", "batch", "spot", &all_jobs, false);
    trickle_steps.push(step(secs(10), trickle(21), &[&create_jobs], None));

    run(vec![
        Case {
            name: "a new pod waits for 1 s of idleness, then gets a NodeClaim",
            steps: vec![
                step(secs(0), one_pod(), &[], Some(secs(1))),
                step(millis(500), one_pod(), &[], Some(secs(1))),
                step(millis(999), one_pod(), &[], Some(secs(1))),
                step(secs(1), one_pod(), &[&create_a], None),
            ],
        },
        Case {
            name: "a late first look solves at once",
            steps: vec![
                step(secs(0), one_pod(), &[], Some(secs(1))),
                step(secs(4), one_pod(), &[&create_a], None),
            ],
        },
        Case {
            name: "a second pod restarts the idle window",
            steps: vec![
                step(secs(0), one_pod(), &[], Some(secs(1))),
                step(millis(800), two_pods(), &[], Some(millis(1800))),
                step(secs(1), two_pods(), &[], Some(millis(1800))),
                step(millis(1800), two_pods(), &[&create_ab], None),
            ],
        },
        Case {
            name: "a pod that replaces another in the batch restarts the idle window too",
            steps: vec![
                step(secs(0), one_pod(), &[], Some(secs(1))),
                step(
                    millis(900),
                    cluster()
                        .pod(pending(web("b", "500m")).created_at(millis(900)))
                        .build(),
                    &[],
                    Some(millis(1900)),
                ),
                step(
                    millis(1900),
                    cluster()
                        .pod(pending(web("b", "500m")).created_at(millis(900)))
                        .build(),
                    &[&create(
                        "batch-00001",
                        "batch",
                        "spot",
                        &["default/b"],
                        false,
                    )],
                    None,
                ),
            ],
        },
        Case {
            name: "a batch still receiving pods is solved at the 10 s maximum",
            steps: trickle_steps,
        },
        Case {
            name: "a pod whose launch just failed is solved at once",
            steps: vec![step(
                secs(0),
                cluster().pod(pending(web("a", "500m")).retry_now()).build(),
                &[&create_a],
                None,
            )],
        },
        Case {
            name: "a retried pod takes the waiting batch with it",
            steps: vec![
                step(secs(0), one_pod(), &[], Some(secs(1))),
                step(
                    millis(200),
                    cluster()
                        .pod(pending(web("a", "500m")))
                        .pod(pending(web("b", "500m")).retry_now())
                        .build(),
                    &[&create_ab],
                    None,
                ),
            ],
        },
        Case {
            name: "nothing pending: no action, no wake",
            steps: vec![step(secs(0), cluster().build(), &[], None)],
        },
    ]);
}

#[test]
fn nominations() {
    let not_launched = || claim("batch-live", "batch");
    let launched = || claim("batch-live", "batch").spot(secs(0));
    // The scheduler bound `b` to the nominated node at 20 s: no room is left for `a`.
    let displaced = || {
        cluster()
            .claim_with_node(launched(), secs(20))
            .pod(bound(web("b", "1800m"), "batch-live"))
            .pod(pending(web("a", "500m")).nominated("batch-live"))
            .build()
    };
    // As above, but `b` was nominated to another in-flight NodeClaim, which keeps its room.
    let displaced_by_other = || {
        cluster()
            .claim_with_node(launched(), secs(20))
            .claim(claim("batch-other", "batch").spot(secs(0)))
            .pod(bound(web("b", "1800m"), "batch-live").nominated("batch-other"))
            .pod(pending(web("a", "500m")).nominated("batch-live"))
            .build()
    };
    run(vec![
        Case {
            name: "a pod nominated to a NodeClaim not launched yet is left alone",
            steps: vec![
                step(
                    secs(0),
                    cluster()
                        .claim(not_launched())
                        .pod(pending(web("a", "500m")).nominated("batch-live"))
                        .build(),
                    &[],
                    None,
                ),
                step(
                    secs(30),
                    cluster()
                        .claim(not_launched())
                        .pod(pending(web("a", "500m")).nominated("batch-live"))
                        .build(),
                    &[],
                    None,
                ),
            ],
        },
        Case {
            name: "a pod nominated to a launched, unregistered NodeClaim is left alone",
            steps: vec![step(
                secs(30),
                cluster()
                    .claim(launched())
                    .pod(pending(web("a", "500m")).nominated("batch-live"))
                    .build(),
                &[],
                None,
            )],
        },
        Case {
            name: "a pod nominated to a NodeClaim whose node is up with room is left to the scheduler",
            steps: vec![step(
                secs(30),
                cluster()
                    .claim_with_node(launched(), secs(20))
                    .pod(bound(web("b", "500m"), "batch-live"))
                    .pod(pending(web("a", "500m")).nominated("batch-live"))
                    .build(),
                &[],
                None,
            )],
        },
        Case {
            name: "a pod whose nominated node the scheduler filled with others is planned again once the node's pods are still",
            steps: vec![
                step(
                    millis(20_500),
                    displaced(),
                    &[],
                    // The last pod event at 20 s, plus the 1 s batch idle window.
                    Some(secs(21)),
                ),
                step(secs(21), displaced(), &[], Some(secs(22))),
                step(
                    secs(22),
                    displaced(),
                    &[&create(
                        "batch-00001",
                        "batch",
                        "spot",
                        &["default/a"],
                        false,
                    )],
                    None,
                ),
            ],
        },
        Case {
            name: "a displaced pod takes the room its displacer was nominated to on another in-flight NodeClaim",
            steps: vec![
                step(secs(22), displaced_by_other(), &[], Some(secs(23))),
                step(
                    secs(23),
                    displaced_by_other(),
                    &["nominate default/a -> batch-other"],
                    None,
                ),
            ],
        },
        Case {
            name: "a pod nominated to a NodeClaim that is gone is provisioned again",
            steps: vec![
                step(
                    secs(0),
                    cluster()
                        .pod(pending(web("a", "500m")).nominated("batch-gone"))
                        .build(),
                    &[],
                    Some(secs(1)),
                ),
                step(
                    secs(1),
                    cluster()
                        .pod(pending(web("a", "500m")).nominated("batch-gone"))
                        .build(),
                    &[&create(
                        "batch-00001",
                        "batch",
                        "spot",
                        &["default/a"],
                        false,
                    )],
                    None,
                ),
            ],
        },
        Case {
            name: "a pod nominated to a NodeClaim being deleted is provisioned again",
            steps: vec![step(
                secs(301),
                cluster()
                    .claim(not_launched().deleting(DisruptionReason::LaunchTimeout, secs(300)))
                    .pod(
                        pending(web("a", "500m"))
                            .nominated("batch-live")
                            .retry_now(),
                    )
                    .build(),
                &[&create(
                    "batch-00001",
                    "batch",
                    "spot",
                    &["default/a"],
                    false,
                )],
                None,
            )],
        },
        Case {
            name: "a pod nominated to a NodeClaim whose launch found no capacity is provisioned again",
            steps: vec![step(
                secs(0),
                cluster()
                    .claim(not_launched().insufficient_capacity(vec![offering(
                        CapacityType::Spot,
                        "m5.large",
                        "zone-a",
                    )]))
                    .pod(pending(web("a", "500m")).nominated("batch-live"))
                    .build(),
                &[],
                Some(secs(1)),
            )],
        },
        Case {
            name: "a pod with room on an in-flight launched NodeClaim is nominated to it",
            steps: vec![
                step(
                    secs(0),
                    cluster()
                        .claim(launched())
                        .pod(pending(web("a", "500m")).nominated("batch-live"))
                        .pod(pending(web("b", "500m")))
                        .build(),
                    &[],
                    Some(secs(1)),
                ),
                step(
                    secs(1),
                    cluster()
                        .claim(launched())
                        .pod(pending(web("a", "500m")).nominated("batch-live"))
                        .pod(pending(web("b", "500m")))
                        .build(),
                    &["nominate default/b -> batch-live"],
                    None,
                ),
            ],
        },
        Case {
            name: "a pod that no longer fits beside the pods nominated to an in-flight NodeClaim gets its own",
            steps: vec![step(
                secs(0),
                cluster()
                    .claim(launched())
                    .pod(pending(web("a", "1500m")).nominated("batch-live"))
                    .pod(pending(web("b", "500m")).retry_now())
                    .build(),
                &[&create(
                    "batch-00001",
                    "batch",
                    "spot",
                    &["default/b"],
                    false,
                )],
                None,
            )],
        },
        Case {
            name: "pods draining from a deleting node count on the in-flight NodeClaim they are nominated to",
            steps: vec![step(
                secs(0),
                cluster()
                    .claim_with_node(
                        claim("batch-old", "batch")
                            .spot(secs(0))
                            .deleting(DisruptionReason::SpotInterrupted, secs(0))
                            .deadline(secs(120)),
                        secs(0),
                    )
                    .claim(launched())
                    .pod(bound(web("a", "1500m"), "batch-old").nominated("batch-live"))
                    .pod(pending(web("b", "500m")).retry_now())
                    .build(),
                &[&create(
                    "batch-00001",
                    "batch",
                    "spot",
                    &["default/b"],
                    false,
                )],
                None,
            )],
        },
        Case {
            name: "a terminating pod on a deleting node gets no capacity, and the pod replacing it takes the room it was planned onto",
            steps: vec![step(
                secs(0),
                cluster()
                    .claim_with_node(
                        claim("batch-old", "batch")
                            .spot(secs(0))
                            .deleting(DisruptionReason::SpotInterrupted, secs(0))
                            .deadline(secs(120)),
                        secs(0),
                    )
                    .claim(launched())
                    .pod(bound(web("a", "1500m"), "batch-old").terminating())
                    .pod(pending(web("b", "500m")).retry_now())
                    .build(),
                &["nominate default/b -> batch-live"],
                None,
            )],
        },
        Case {
            name: "a pod with room on a registered node is nominated to that node's NodeClaim",
            steps: vec![step(
                secs(0),
                cluster()
                    .claim_with_node(claim("batch-node", "batch").spot(secs(0)), secs(0))
                    .pod(bound(web("x", "500m"), "batch-node"))
                    .pod(pending(web("b", "500m")).retry_now())
                    .build(),
                &["nominate default/b -> batch-node"],
                None,
            )],
        },
    ]);
}

#[test]
fn replacements_for_pods_on_deleting_nodes() {
    let interrupted = || {
        claim("batch-old", "batch")
            .spot(secs(0))
            .deleting(DisruptionReason::SpotInterrupted, secs(50))
            .deadline(secs(170))
    };
    let draining = || {
        cluster()
            .claim_with_node(interrupted(), secs(0))
            .pod(bound(web("a", "500m"), "batch-old"))
            .pod(bound(web("b", "500m"), "batch-old"))
            .pod(daemon(
                pod("agent-batch-old").cpu("100m").build(),
                "batch-old",
            ))
    };
    let with_room_elsewhere = || {
        draining()
            .claim_with_node(claim("batch-other", "batch").spot(secs(0)), secs(0))
            .build()
    };
    run(vec![
        Case {
            name: "pods on a node being deleted get a new NodeClaim after batching (not the DaemonSet pod)",
            steps: vec![
                step(secs(50), draining().build(), &[], Some(secs(51))),
                step(
                    secs(51),
                    draining().build(),
                    &[&create(
                        "batch-00001",
                        "batch",
                        "spot",
                        &["default/a", "default/b"],
                        false,
                    )],
                    None,
                ),
            ],
        },
        Case {
            name: "pods on a node being deleted are nominated to another node with room",
            steps: vec![
                step(secs(50), with_room_elsewhere(), &[], Some(secs(51))),
                step(
                    secs(51),
                    with_room_elsewhere(),
                    &[
                        "nominate default/a -> batch-other",
                        "nominate default/b -> batch-other",
                    ],
                    None,
                ),
            ],
        },
        Case {
            name: "pods on a deleting node already nominated to a live replacement are left alone",
            steps: vec![step(
                secs(60),
                cluster()
                    .claim_with_node(interrupted(), secs(0))
                    .claim(claim("batch-new", "batch"))
                    .pod(bound(web("a", "500m"), "batch-old").nominated("batch-new"))
                    .build(),
                &[],
                None,
            )],
        },
        Case {
            name: "pods on a node that is not being deleted need nothing",
            steps: vec![step(
                secs(60),
                cluster()
                    .claim_with_node(claim("batch-old", "batch").spot(secs(0)), secs(0))
                    .pod(bound(web("a", "500m"), "batch-old"))
                    .build(),
                &[],
                None,
            )],
        },
    ]);
}

#[test]
fn capacity_type_fallback() {
    let seed_pools = || {
        state()
            .instance_types(catalog())
            .pool(
                node_pool("batch")
                    .weight(100)
                    .capacity_types(&["spot"])
                    .build(),
            )
            .pool(
                node_pool("batch-fallback")
                    .weight(10)
                    .capacity_types(&["on-demand"])
                    .build(),
            )
    };
    let seed_pod = || {
        pending(
            pod("job")
                .cpu("500m")
                .require(
                    labels::NODE_POOL,
                    Operator::In,
                    &["batch", "batch-fallback"],
                )
                .build(),
        )
        .retry_now()
    };
    let spot_out = || OfferingSelector {
        capacity_type: Some(CapacityType::Spot),
        ..OfferingSelector::default()
    };
    let mixed = || {
        state().instance_types(catalog()).pool(
            node_pool("mixed")
                .capacity_types(&["spot", "on-demand"])
                .build(),
        )
    };
    run(vec![
        Case {
            name: "seed: Spot available, the Spot pool launches Spot",
            steps: vec![step(
                secs(0),
                seed_pools().pod(seed_pod()).build(),
                &[&create(
                    "batch-00001",
                    "batch",
                    "spot",
                    &["default/job"],
                    false,
                )],
                None,
            )],
        },
        Case {
            name: "seed: Spot unavailable, the on-demand pool launches as a fallback",
            steps: vec![step(
                secs(0),
                seed_pools().unavailable(spot_out()).pod(seed_pod()).build(),
                &[&create(
                    "batch-fallback-00001",
                    "batch-fallback",
                    "on-demand",
                    &["default/job"],
                    true,
                )],
                None,
            )],
        },
        Case {
            name: "one pool allowing both: Spot unavailable launches on-demand as a fallback",
            steps: vec![step(
                secs(0),
                mixed()
                    .unavailable(spot_out())
                    .pod(pending(web("a", "500m")).retry_now())
                    .build(),
                &[&create(
                    "mixed-00001",
                    "mixed",
                    "on-demand",
                    &["default/a"],
                    true,
                )],
                None,
            )],
        },
        Case {
            name: "an on-demand-only cluster is never a fallback",
            steps: vec![step(
                secs(0),
                state()
                    .instance_types(catalog())
                    .pool(node_pool("od").capacity_types(&["on-demand"]).build())
                    .pod(pending(web("a", "500m")).retry_now())
                    .build(),
                &[&create(
                    "od-00001",
                    "od",
                    "on-demand",
                    &["default/a"],
                    false,
                )],
                None,
            )],
        },
        Case {
            name: "a pod that requires on-demand is not a fallback even in a pool allowing Spot",
            steps: vec![step(
                secs(0),
                mixed()
                    .pod(
                        pending(
                            pod("a")
                                .cpu("500m")
                                .node_selector(labels::CAPACITY_TYPE, "on-demand")
                                .build(),
                        )
                        .retry_now(),
                    )
                    .build(),
                &[&create(
                    "mixed-00001",
                    "mixed",
                    "on-demand",
                    &["default/a"],
                    false,
                )],
                None,
            )],
        },
    ]);
}

#[test]
fn unschedulable_pods_wait_for_capacity() {
    let huge = || pending(web("huge", "64"));
    let small = || pending(web("small", "500m")).created_at(secs(2));
    run(vec![
        Case {
            name: "a pod nothing can hold is reported once, then retried only when capacity changes",
            steps: vec![
                step(secs(0), cluster().pod(huge()).build(), &[], Some(secs(1))),
                step(
                    secs(1),
                    cluster().pod(huge()).build(),
                    &["unschedulable default/huge"],
                    None,
                ),
                step(secs(2), cluster().pod(huge()).build(), &[], None),
                step(secs(60), cluster().pod(huge()).build(), &[], None),
                step(
                    secs(61),
                    cluster().pod(huge()).capacity_generation(1).build(),
                    &[],
                    Some(secs(62)),
                ),
                step(
                    secs(62),
                    cluster().pod(huge()).capacity_generation(1).build(),
                    &["unschedulable default/huge"],
                    None,
                ),
                step(
                    secs(63),
                    cluster().pod(huge()).capacity_generation(1).build(),
                    &[],
                    None,
                ),
            ],
        },
        Case {
            name: "a new pod does not drag an unschedulable one back into the batch",
            steps: vec![
                step(secs(0), cluster().pod(huge()).build(), &[], Some(secs(1))),
                step(
                    secs(1),
                    cluster().pod(huge()).build(),
                    &["unschedulable default/huge"],
                    None,
                ),
                step(
                    secs(2),
                    cluster().pod(huge()).pod(small()).build(),
                    &[],
                    Some(secs(3)),
                ),
                step(
                    secs(3),
                    cluster().pod(huge()).pod(small()).build(),
                    &[&create(
                        "batch-00001",
                        "batch",
                        "spot",
                        &["default/small"],
                        false,
                    )],
                    None,
                ),
            ],
        },
        Case {
            name: "a pod no NodePool admits is unschedulable",
            steps: vec![step(
                secs(0),
                cluster()
                    .pod(
                        pending(
                            pod("picky")
                                .node_selector(labels::NODE_POOL, "elsewhere")
                                .build(),
                        )
                        .retry_now(),
                    )
                    .build(),
                &["unschedulable default/picky"],
                None,
            )],
        },
    ]);
}

#[test]
fn controllers_reconcile_runs_the_provisioner_and_keeps_the_earliest_wake() {
    struct Case {
        name: &'static str,
        state: ClusterState,
        now: Duration,
        expected: Vec<String>,
        wake_at: Option<Duration>,
    }
    let cases = [
        Case {
            name: "a pending pod: wake at the end of the idle window",
            state: cluster().pod(pending(web("a", "500m"))).build(),
            now: secs(5),
            expected: vec![],
            wake_at: Some(secs(6)),
        },
        Case {
            name: "a pending pod and a drain deadline later: the batch wakes first",
            state: cluster()
                .claim_with_node(
                    claim("batch-old", "batch")
                        .spot(secs(0))
                        .deleting(DisruptionReason::SpotInterrupted, secs(5))
                        .deadline(secs(125)),
                    secs(0),
                )
                .map_node("batch-old", |node| {
                    node.unschedulable = true;
                    node.taints
                        .push(Taint::new(DISRUPTED_TAINT_KEY, "", Effect::NoSchedule));
                })
                .pdb(pdb("web", Budget::MaxUnavailable(Amount::Count(0)), 1))
                .pod(
                    bound(pod("w").label("app", "web").build(), "batch-old")
                        .nominated("batch-gone"),
                )
                .build(),
            now: secs(5),
            expected: vec![],
            wake_at: Some(secs(6)),
        },
    ];
    for case in cases {
        let mut controllers = Controllers::new(Settings::default());
        let reconciled = controllers.reconcile(&case.state, case.now);
        assert_eq!(
            StableNames::default().describe_all(&reconciled.actions),
            case.expected,
            "case {:?}",
            case.name
        );
        assert_eq!(reconciled.wake_at, case.wake_at, "case {:?}", case.name);
    }
}

#[test]
fn node_pools_not_ready() {
    let not_ready = |pools: &[&str]| {
        let mut state = state()
            .instance_types(catalog())
            .pool(node_pool("batch").weight(100).build())
            .pool(node_pool("other").weight(10).build())
            .pod(pending(web("a", "500m")).retry_now())
            .build();
        state.set_node_pools_not_ready(pools.iter().map(|pool| pool.to_string()).collect());
        state
    };
    run(vec![
        Case {
            name: "every pool ready: the heaviest launches",
            steps: vec![step(
                secs(0),
                not_ready(&[]),
                &[&create(
                    "batch-00001",
                    "batch",
                    "spot",
                    &["default/a"],
                    false,
                )],
                None,
            )],
        },
        Case {
            name: "the heaviest pool not ready: the next one launches",
            steps: vec![step(
                secs(0),
                not_ready(&["batch"]),
                &[&create(
                    "other-00001",
                    "other",
                    "spot",
                    &["default/a"],
                    false,
                )],
                None,
            )],
        },
        Case {
            name: "no pool ready: nothing launches, the pod is unschedulable",
            steps: vec![step(
                secs(0),
                not_ready(&["batch", "other"]),
                &["unschedulable default/a"],
                None,
            )],
        },
    ]);
}

#[test]
fn a_pool_that_becomes_ready_again_is_tried_at_once() {
    let mut state = state()
        .instance_types(catalog())
        .pool(node_pool("batch").build())
        .build();
    let before = state.capacity_generation;
    state.set_node_pools_not_ready(["batch".to_string()].into());
    assert_eq!(
        state.capacity_generation, before,
        "a pool going not ready frees nothing"
    );
    assert!(state.launchable_node_pools().is_empty());
    state.set_node_pools_not_ready(Default::default());
    assert_eq!(state.capacity_generation, before + 1);
    assert_eq!(state.launchable_node_pools().len(), 1);
}

#[test]
fn limits_count_every_instance_of_the_pool() {
    // Two m5.xlarge (4 vCPU each) of `batch`, full, under `limits: {cpu: 10}`: 2 vCPU left.
    let full_nodes = |deleting: bool| {
        let mut builder = state()
            .instance_types(catalog())
            .pool(node_pool("batch").limit("cpu", "10").build());
        for name in ["c1", "c2"] {
            let mut node_claim =
                claim(name, "batch").launched("m5.xlarge", CapacityType::Spot, "zone-a", secs(0));
            if deleting {
                node_claim = node_claim.deleting(DisruptionReason::SpotInterrupted, secs(0));
            }
            builder = builder.claim_with_node(node_claim, secs(0)).pod(bound(
                pod(&format!("{name}-full")).cpu("3800m").build(),
                name,
            ));
        }
        builder.pod(pending(web("a", "1")).retry_now()).build()
    };
    let small_only =
        "create batch-00001 pool=batch capacity=spot types=m5.large pods=default/a fallback=false";
    run(vec![
        Case {
            name: "full nodes still count: only the 2-vCPU type is within the limit",
            steps: vec![step(secs(0), full_nodes(false), &[small_only], None)],
        },
        Case {
            name: "nodes being deleted count until their instances are gone: their pods do not fit",
            steps: vec![step(
                secs(0),
                full_nodes(true),
                &[
                    small_only,
                    "unschedulable default/c1-full",
                    "unschedulable default/c2-full",
                ],
                None,
            )],
        },
    ]);
}

#[test]
fn early_launches() {
    // Two 1.5-CPU pods fill an m5.xlarge: no instance type has room for a third.
    let big = |name: &str| web(name, "1500m");
    let five_pods = || {
        let mut builder = cluster();
        for name in ["a", "b", "c", "d", "e"] {
            builder = builder.pod(pending(big(name)));
        }
        builder.build()
    };
    // The two full NodeClaims were created; `e` is left.
    let after_early_launch = || {
        cluster()
            .claim(claim("batch-full1", "batch"))
            .claim(claim("batch-full2", "batch"))
            .pod(pending(big("a")).nominated("batch-full1"))
            .pod(pending(big("b")).nominated("batch-full1"))
            .pod(pending(big("c")).nominated("batch-full2"))
            .pod(pending(big("d")).nominated("batch-full2"))
            .pod(pending(big("e")))
            .build()
    };
    let full = |name: &str, pods: &[&str]| {
        format!(
            "create {name} pool=batch capacity=spot types=m5.xlarge pods={} fallback=false",
            pods.join(",")
        )
    };
    let one = |name: &str| pending(big(name));
    let in_flight_with_room = || {
        cluster()
            .claim(claim("batch-live", "batch").spot(secs(0)))
            .pod(pending(web("b", "500m")).nominated("batch-live"))
            .pod(pending(web("a", "500m")))
            .build()
    };
    run_with(
        &Settings::default(),
        vec![
            Case {
                name: "full NodeClaims are created at once, the rest when the batch closes",
                steps: vec![
                    step(
                        secs(0),
                        five_pods(),
                        &[
                            &full("batch-00001", &["default/a", "default/b"]),
                            &full("batch-00002", &["default/c", "default/d"]),
                        ],
                        Some(secs(1)),
                    ),
                    step(millis(500), after_early_launch(), &[], Some(secs(1))),
                    step(
                        secs(1),
                        after_early_launch(),
                        &[&create(
                            "batch-00003",
                            "batch",
                            "spot",
                            &["default/e"],
                            false,
                        )],
                        None,
                    ),
                ],
            },
            Case {
                name: "an open batch is solved again at most every 250 ms, and only after a pod joined",
                steps: vec![
                    step(secs(0), cluster().pod(one("a")).build(), &[], Some(secs(1))),
                    step(
                        millis(100),
                        cluster().pod(one("a")).pod(one("b")).build(),
                        &[],
                        Some(millis(250)),
                    ),
                    step(
                        millis(250),
                        cluster().pod(one("a")).pod(one("b")).pod(one("c")).build(),
                        &[&full("batch-00001", &["default/a", "default/b"])],
                        Some(millis(1250)),
                    ),
                ],
            },
            Case {
                name: "the oldest pods fill the early NodeClaims, whatever their names",
                steps: vec![step(
                    millis(200),
                    cluster()
                        .pod(one("a").created_at(millis(100)))
                        .pod(one("b").created_at(millis(200)))
                        .pod(one("c"))
                        .build(),
                    &[&full("batch-00001", &["default/a", "default/c"])],
                    Some(millis(1200)),
                )],
            },
            Case {
                name: "a pod with room on an in-flight NodeClaim is nominated to it at once",
                steps: vec![step(
                    secs(0),
                    in_flight_with_room(),
                    &["nominate default/a -> batch-live"],
                    Some(secs(1)),
                )],
            },
        ],
    );
    // `batch` limited to `cpu` vCPUs: the five pods ask 7.5, each early NodeClaim is charged
    // at m5.xlarge's 4, and all of it must stay within half the limit.
    let limited = |cpu: &str, claim_launching: bool| {
        let mut builder = state()
            .pool(node_pool("batch").limit("cpu", cpu).build())
            .instance_types(catalog());
        if claim_launching {
            builder = builder.claim(claim("batch-launching", "batch"));
        }
        for name in ["a", "b", "c", "d", "e"] {
            builder = builder.pod(pending(big(name)));
        }
        builder.build()
    };
    run_with(
        &Settings::default(),
        vec![
            Case {
                name: "a pool whose limits leave room for the whole batch launches early",
                steps: vec![step(
                    secs(0),
                    limited("100", false),
                    &[
                        &full("batch-00001", &["default/a", "default/b"]),
                        &full("batch-00002", &["default/c", "default/d"]),
                    ],
                    Some(secs(1)),
                )],
            },
            Case {
                name: "early NodeClaims stop where the batch would pass half the limits",
                steps: vec![step(
                    secs(0),
                    // 2 × (4 + 7.5) = 23, then 2 × (8 + 7.5) = 31.
                    limited("28", false),
                    &[&full("batch-00001", &["default/a", "default/b"])],
                    Some(secs(1)),
                )],
            },
            Case {
                name: "a NodeClaim still launching counts at its largest type",
                steps: vec![step(secs(0), limited("28", true), &[], Some(secs(1)))],
            },
        ],
    );
    run_with(
        &Settings::for_policy(Policy::Karpenter),
        vec![Case {
            name: "Karpenter waits for the whole batch",
            steps: vec![
                step(secs(0), five_pods(), &[], Some(secs(1))),
                step(
                    secs(1),
                    five_pods(),
                    &[
                        &full("batch-00001", &["default/a", "default/b"]),
                        &full("batch-00002", &["default/c", "default/d"]),
                        &create("batch-00003", "batch", "spot", &["default/e"], false),
                    ],
                    None,
                ),
            ],
        }],
    );
}
