//! `Metrics` as a driver uses it: gauges recomputed from a cluster-state snapshot, counters moved
//! by events, read back from the OpenMetrics text by metric name and labels.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use spotter_cloud::{CloudError, Instance, OfferingKey};
use spotter_controllers::action::NodeClaimRequest;
use spotter_controllers::state::{
    Deletion, DisruptionReason, LaunchState, NodeClaim, NodeState, NoticeKind, PodState,
};
use spotter_controllers::{Action, ClusterState};
use spotter_core::builders::{instance_type, node_pool, pod};
use spotter_core::labels;
use spotter_core::offering::CapacityType;
use spotter_core::requirements::{Requirement, Requirements};
use spotter_core::unavailable_offerings::{
    AvoidLevel, OfferingSelector, UnavailableOfferings, UnavailableReason,
};
use spotter_interruption::event_bridge::MessageType;
use spotter_metrics::{Format, Metrics, NoticeSource};

/// A metric, some of its labels, and the value expected.
type Case<'a, Value> = (&'a str, Vec<(&'a str, &'a str)>, Value);

const SPOT_PRICE: f64 = 0.04;
const ON_DEMAND_PRICE: f64 = 0.096;

/// Pools `spot` (limit 100 CPUs) and `fallback`; three Spot nodes and one on-demand fallback
/// node, all `m5.large`; a workload pod on `spot-1`, one pending, a DaemonSet pod per node;
/// Spot `m5.large` in `zone-b` in the unavailable-offerings cache; avoided for interruptions:
/// Spot `m5.large` in `zone-c` (an offering the catalog lacks: counted as avoided all the same),
/// the `m5` family in `zone-a`, `zone-b`.
fn cluster() -> ClusterState {
    let mut state = ClusterState {
        node_pools: vec![
            node_pool("spot").weight(100).limit("cpu", "100").build(),
            node_pool("fallback").weight(10).build(),
        ],
        instance_types: Arc::new(vec![
            instance_type("m5.large")
                .cpu(2)
                .memory_gib(8)
                .max_pods(29)
                .offering(CapacityType::Spot, "zone-a", SPOT_PRICE)
                .offering(CapacityType::Spot, "zone-b", SPOT_PRICE)
                .offering(CapacityType::OnDemand, "zone-a", ON_DEMAND_PRICE)
                .build(),
        ]),
        ..ClusterState::default()
    };
    for (name, pool, capacity_type, price, fallback) in [
        ("spot-1", "spot", CapacityType::Spot, SPOT_PRICE, false),
        ("spot-2", "spot", CapacityType::Spot, SPOT_PRICE, false),
        ("spot-3", "spot", CapacityType::Spot, SPOT_PRICE, false),
        (
            "fallback-1",
            "fallback",
            CapacityType::OnDemand,
            ON_DEMAND_PRICE,
            true,
        ),
    ] {
        add_node(
            &mut state,
            launched_claim(name, pool, capacity_type, price, fallback),
        );
    }
    let workload = pod("web-1").cpu("500m").memory("1Gi").build();
    bind(&mut state, workload, "spot-1", false);
    let daemon = pod("agent").cpu("100m").build();
    for node in ["spot-1", "spot-2", "spot-3", "fallback-1"] {
        let mut daemon = daemon.clone();
        daemon.name = format!("agent-{node}");
        bind(&mut state, daemon, node, true);
    }
    let pending = pod("web-2").cpu("500m").build();
    state.insert_pod(
        pending.id(),
        PodState {
            pod: Arc::new(pending),
            node: None,
            nominated: None,
            created_at: Duration::ZERO,
            daemon: false,
            retry_now: false,
            terminating: false,
        },
    );
    state.unavailable_offerings.mark(OfferingSelector {
        capacity_type: Some(CapacityType::Spot),
        instance_type: Some("m5.large".into()),
        zone: Some("zone-b".into()),
    });
    // Avoided for interruptions: one offering, one family in a zone, one zone.
    let hour = Duration::from_secs(3600);
    state.unavailable_offerings.mark_until(
        OfferingSelector::offering("m5.large", CapacityType::Spot, "zone-c"),
        hour,
        UnavailableReason::InterruptionProne,
    );
    state.unavailable_offerings.avoid_until(
        AvoidLevel::FamilyInZone {
            family: "m5".into(),
        },
        CapacityType::Spot,
        "zone-a",
        hour,
    );
    state
        .unavailable_offerings
        .avoid_until(AvoidLevel::Zone, CapacityType::Spot, "zone-b", hour);
    state
}

fn launched_claim(
    name: &str,
    node_pool: &str,
    capacity_type: CapacityType,
    price_per_hour: f64,
    fallback: bool,
) -> NodeClaim {
    let mut requirements = Requirements::new();
    requirements.add(labels::NODE_POOL, Requirement::single(node_pool));
    requirements.add(
        labels::CAPACITY_TYPE,
        Requirement::single(capacity_type.as_str()),
    );
    NodeClaim {
        name: name.into(),
        node_pool: node_pool.into(),
        requirements,
        instance_types: vec!["m5.large".into()],
        created_at: Duration::ZERO,
        launch: LaunchState::Launched {
            instance: Instance {
                id: format!("i-{name}"),
                provider_id: format!("sim:///zone-a/i-{name}"),
                node_claim: name.into(),
                node_pool: node_pool.into(),
                offering: OfferingKey {
                    capacity_type,
                    instance_type: "m5.large".into(),
                    zone: "zone-a".into(),
                },
                price_per_hour,
                launched_at: Duration::ZERO,
            },
            unavailable: Vec::new(),
        },
        node: None,
        initialized: false,
        deletion: None,
        fallback,
        replaces: None,
        node_pool_hash: None,
        node_class_hash: None,
    }
}

/// Registers a Ready, initialized node for a launched claim, labelled as the driver labels it.
fn add_node(state: &mut ClusterState, mut claim: NodeClaim) {
    let labels = state
        .node_labels(&claim, &claim.name)
        .expect("the claim is launched on a known instance type");
    let allocatable = state.instance_types[0].allocatable.clone();
    let mut node = NodeState::new(
        claim.name.clone(),
        claim.name.clone(),
        labels,
        Vec::new(),
        allocatable,
        Duration::ZERO,
    );
    node.ready = true;
    claim.node = Some(claim.name.clone());
    claim.initialized = true;
    state.nodes.insert(node.name.clone(), node);
    state.node_claims.insert(claim.name.clone(), claim);
}

fn bind(state: &mut ClusterState, pod: spotter_core::pod::Pod, node: &str, daemon: bool) {
    let key = pod.id();
    let pod = Arc::new(pod);
    if let Some(node) = state.nodes.get_mut(node) {
        node.bind(key.clone(), Arc::clone(&pod), daemon, Duration::ZERO);
    }
    state.insert_pod(
        key,
        PodState {
            pod,
            node: Some(node.to_string()),
            nominated: None,
            created_at: Duration::ZERO,
            daemon,
            retry_now: false,
            terminating: false,
        },
    );
}

/// The samples of an exposition: name, labels, value.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').expect("a label has a value");
                    (key.to_string(), value.trim_matches('"').to_string())
                })
                .collect();
            let value = value.parse().expect("a sample's value is a number");
            (name.to_string(), labels, value)
        })
        .collect()
}

/// The value of the one sample of `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples(text)
        .into_iter()
        .filter(|(sample, sample_labels, _)| {
            sample == name
                && labels
                    .iter()
                    .all(|(key, value)| sample_labels.get(*key).map(String::as_str) == Some(*value))
        })
        .map(|(_, _, value)| value)
        .collect();
    assert!(
        matching.len() <= 1,
        "{name} {labels:?} matches {matching:?}"
    );
    matching.first().copied()
}

#[test]
fn gauges_follow_the_cluster_state() {
    let state = cluster();
    let allocatable = &state.instance_types[0].allocatable;
    let mut metrics = Metrics::new("simulated");
    metrics.observe_state(&state, Duration::from_secs(60));
    let text = metrics.encode().expect("the metrics encode");
    let cases: Vec<Case<Option<f64>>> = vec![
        (
            "karpenter_nodes_allocatable",
            vec![("node_name", "spot-1"), ("resource_type", "cpu")],
            Some(allocatable.cpu_millicores as f64 / 1000.0),
        ),
        (
            "karpenter_nodes_allocatable",
            vec![
                ("node_name", "fallback-1"),
                ("resource_type", "memory"),
                ("capacity_type", "on-demand"),
                ("nodepool", "fallback"),
                ("zone", "zone-a"),
                ("instance_type", "m5.large"),
            ],
            Some(allocatable.memory_bytes as f64),
        ),
        (
            "karpenter_nodes_allocatable",
            vec![
                ("node_name", "spot-2"),
                ("resource_type", "pods"),
                ("capacity_type", "spot"),
            ],
            Some(allocatable.pods as f64),
        ),
        (
            "karpenter_nodes_total_pod_requests",
            vec![("node_name", "spot-1"), ("resource_type", "cpu")],
            Some(0.5),
        ),
        (
            "karpenter_nodes_total_pod_requests",
            vec![("node_name", "spot-2"), ("resource_type", "pods")],
            Some(0.0),
        ),
        (
            "karpenter_nodes_total_daemon_requests",
            vec![("node_name", "spot-1"), ("resource_type", "cpu")],
            Some(0.1),
        ),
        (
            "karpenter_nodepools_usage",
            vec![("nodepool", "spot"), ("resource_type", "nodes")],
            Some(3.0),
        ),
        (
            "karpenter_nodepools_usage",
            vec![("nodepool", "spot"), ("resource_type", "cpu")],
            Some(6.0),
        ),
        (
            "karpenter_nodepools_limit",
            vec![("nodepool", "spot"), ("resource_type", "cpu")],
            Some(100.0),
        ),
        (
            "karpenter_nodepools_limit",
            vec![("nodepool", "fallback"), ("resource_type", "cpu")],
            None,
        ),
        // The default budget allows 10% of 3 nodes, rounded up.
        (
            "karpenter_nodepools_allowed_disruptions",
            vec![("nodepool", "spot"), ("reason", "empty")],
            Some(1.0),
        ),
        (
            "karpenter_pods_state",
            vec![
                ("name", "web-1"),
                ("phase", "Running"),
                ("node", "spot-1"),
                ("nodepool", "spot"),
                ("capacity_type", "spot"),
            ],
            Some(1.0),
        ),
        (
            "karpenter_pods_state",
            vec![("name", "web-2"), ("phase", "Pending"), ("node", "")],
            Some(1.0),
        ),
        (
            "karpenter_cloudprovider_instance_type_offering_available",
            vec![
                ("instance_type", "m5.large"),
                ("capacity_type", "spot"),
                ("zone", "zone-a"),
            ],
            Some(1.0),
        ),
        (
            "karpenter_cloudprovider_instance_type_offering_available",
            vec![
                ("instance_type", "m5.large"),
                ("capacity_type", "spot"),
                ("zone", "zone-b"),
            ],
            Some(0.0),
        ),
        (
            "karpenter_cloudprovider_instance_type_offering_price_estimate",
            vec![("capacity_type", "on-demand"), ("zone", "zone-a")],
            Some(ON_DEMAND_PRICE),
        ),
        (
            "spotter_unavailable_offerings",
            vec![("capacity_type", "spot")],
            Some(1.0),
        ),
        (
            "spotter_avoided_offerings",
            vec![("level", "offering")],
            Some(1.0),
        ),
        (
            "spotter_avoided_offerings",
            vec![("level", "family")],
            Some(1.0),
        ),
        (
            "spotter_avoided_offerings",
            vec![("level", "zone")],
            Some(1.0),
        ),
        (
            "spotter_unavailable_offerings",
            vec![("capacity_type", "on-demand")],
            Some(0.0),
        ),
        ("spotter_spot_ratio", vec![], Some(0.75)),
        (
            "spotter_fallback_nodes",
            vec![("nodepool", "fallback")],
            Some(1.0),
        ),
        (
            "spotter_fallback_nodes",
            vec![("nodepool", "spot")],
            Some(0.0),
        ),
        (
            "spotter_estimated_savings_usd_per_hour",
            vec![("nodepool", "spot")],
            Some(3.0 * (ON_DEMAND_PRICE - SPOT_PRICE)),
        ),
        (
            "spotter_estimated_savings_usd_per_hour",
            vec![("nodepool", "fallback")],
            Some(0.0),
        ),
        // Counters every pool has from the start.
        (
            "spotter_return_to_spot_total",
            vec![("nodepool", "spot")],
            Some(0.0),
        ),
        (
            "spotter_fallback_total",
            vec![
                ("nodepool", "fallback"),
                ("from_capacity_type", "spot"),
                ("to_capacity_type", "on-demand"),
                ("reason", "insufficient_capacity"),
            ],
            Some(0.0),
        ),
    ];
    for (name, labels, expected) in cases {
        let found = value(&text, name, &labels);
        match (found, expected) {
            (Some(found), Some(expected)) => assert!(
                (found - expected).abs() < 1e-9,
                "{name} {labels:?}: {found}, expected {expected}"
            ),
            (found, expected) => assert_eq!(found, expected, "{name} {labels:?}"),
        }
    }
}

/// `karpenter_nodepools_allowed_disruptions` follows the budgets active at the time: a
/// scheduled budget of 0 nodes for `Underutilized` (daily from 09:00 for 8 hours) closes
/// that reason inside its window only, and never touches the others.
#[test]
fn allowed_disruptions_follow_scheduled_budgets() {
    let mut state = cluster();
    state.node_pools[0]
        .disruption
        .budgets
        .push(spotter_core::node_pool::Budget {
            nodes: spotter_core::node_pool::BudgetNodes::Count(0),
            schedule: Some("0 9 * * *".into()),
            duration: Some(Duration::from_secs(8 * 3600)),
            reasons: vec!["Underutilized".into()],
        });
    let hour = |hours: u64| Duration::from_secs(hours * 3600);
    for (name, now, reason, expected) in [
        ("before the window", hour(8), "underutilized", 1.0),
        ("inside the window", hour(10), "underutilized", 0.0),
        ("inside, another reason", hour(10), "empty", 1.0),
        ("after the window", hour(17), "underutilized", 1.0),
    ] {
        let mut metrics = Metrics::new("simulated");
        metrics.observe_state(&state, now);
        let text = metrics.encode().expect("the metrics encode");
        assert_eq!(
            value(
                &text,
                "karpenter_nodepools_allowed_disruptions",
                &[("nodepool", "spot"), ("reason", reason)]
            ),
            Some(expected),
            "case {name:?}"
        );
    }
}

#[test]
fn gauges_forget_what_left_the_state() {
    let mut state = cluster();
    let mut metrics = Metrics::new("simulated");
    metrics.observe_state(&state, Duration::ZERO);
    state.nodes.remove("fallback-1");
    state.node_claims.remove("fallback-1");
    state.unavailable_offerings = UnavailableOfferings::new();
    metrics.observe_state(&state, Duration::ZERO);
    let text = metrics.encode().expect("the metrics encode");
    let node = [("node_name", "fallback-1"), ("resource_type", "cpu")];
    assert_eq!(value(&text, "karpenter_nodes_allocatable", &node), None);
    assert_eq!(value(&text, "spotter_spot_ratio", &[]), Some(1.0));
    assert_eq!(
        value(&text, "spotter_fallback_nodes", &[("nodepool", "fallback")]),
        Some(0.0)
    );
    let zone_b = [("capacity_type", "spot"), ("zone", "zone-b")];
    assert_eq!(
        value(
            &text,
            "karpenter_cloudprovider_instance_type_offering_available",
            &zone_b
        ),
        Some(1.0)
    );
}

#[test]
fn events_move_the_counters() {
    let state = cluster();
    let claim = |name: &str| state.node_claims[name].clone();
    let mut metrics = Metrics::new("simulated");
    let mut request_requirements = Requirements::new();
    request_requirements.add(labels::CAPACITY_TYPE, Requirement::single("spot"));
    metrics.node_claim_created(&NodeClaimRequest {
        name: "spot-4".into(),
        node_pool: "spot".into(),
        requirements: request_requirements,
        instance_types: vec!["m5.large".into()],
        pods: vec!["default/web-2".into()],
        fallback: false,
        replaces: None,
    });
    let fallback = claim("fallback-1");
    let instance = fallback.instance().cloned().expect("launched");
    metrics.launched(&fallback, &instance);
    let spot = claim("spot-1");
    let spot_instance = spot.instance().cloned().expect("launched");
    metrics.launched(&spot, &spot_instance);
    let no_capacity = CloudError::InsufficientCapacity {
        offerings: Vec::new(),
    };
    metrics.launch_failed(&no_capacity);
    metrics.launch_failed(&no_capacity);
    metrics.terminate_failed(&CloudError::NotFound {
        what: "instance i-gone".into(),
    });
    metrics.node_registered(&state.nodes["spot-2"]);
    metrics.disrupted(&fallback, DisruptionReason::ReturnToSpot);
    metrics.disrupted(&spot, DisruptionReason::SpotInterrupted);
    let mut removed = claim("spot-3");
    removed.deletion = Some(Deletion {
        reason: DisruptionReason::Empty,
        requested_at: Duration::ZERO,
        deadline: None,
        instance_terminating: true,
        instance_terminated: true,
    });
    metrics.terminated(&removed);
    metrics.interruption_received(NoticeKind::SpotInterruption {
        terminate_at: Duration::from_secs(120),
    });
    metrics.interruption_received(NoticeKind::RebalanceRecommendation);
    // The agent's report is a notice taken, not a queue message.
    metrics.interruption_notice_taken(NoticeKind::RebalanceRecommendation, NoticeSource::Agent);
    metrics.scheduling_duration(0.002);
    metrics.scheduling_duration(0.3);
    for seconds in [30, 10, 20, 40] {
        metrics.pod_started(Duration::from_secs(100), Duration::from_secs(seconds));
    }
    let text = metrics.encode().expect("the metrics encode");
    let cases: Vec<Case<f64>> = vec![
        (
            "karpenter_nodeclaims_created_total",
            vec![
                ("reason", "provisioning"),
                ("nodepool", "spot"),
                ("capacity_type", "spot"),
            ],
            1.0,
        ),
        (
            "spotter_fallback_total",
            vec![
                ("nodepool", "fallback"),
                ("from_capacity_type", "spot"),
                ("to_capacity_type", "on-demand"),
                ("reason", "insufficient_capacity"),
            ],
            1.0,
        ),
        (
            "karpenter_cloudprovider_errors_total",
            vec![
                ("controller", "nodeclaim.lifecycle"),
                ("method", "Create"),
                ("provider", "simulated"),
                ("error", "InsufficientCapacityError"),
            ],
            2.0,
        ),
        (
            "karpenter_cloudprovider_errors_total",
            vec![
                ("controller", "nodeclaim.termination"),
                ("method", "Delete"),
                ("error", "NodeClaimNotFoundError"),
            ],
            1.0,
        ),
        (
            "karpenter_nodes_created_total",
            vec![("nodepool", "spot"), ("zone", "zone-a")],
            1.0,
        ),
        (
            "karpenter_nodeclaims_disrupted_total",
            vec![
                ("reason", "return_to_spot"),
                ("nodepool", "fallback"),
                ("capacity_type", "on-demand"),
            ],
            1.0,
        ),
        (
            "karpenter_nodeclaims_disrupted_total",
            vec![
                ("reason", "spot_interrupted"),
                ("nodepool", "spot"),
                ("capacity_type", "spot"),
            ],
            1.0,
        ),
        (
            "spotter_return_to_spot_total",
            vec![("nodepool", "fallback")],
            1.0,
        ),
        (
            "karpenter_nodeclaims_terminated_total",
            vec![
                ("nodepool", "spot"),
                ("capacity_type", "spot"),
                ("zone", "zone-a"),
            ],
            1.0,
        ),
        (
            "karpenter_nodes_terminated_total",
            vec![("nodepool", "spot"), ("zone", "zone-a")],
            1.0,
        ),
        (
            "karpenter_interruption_received_messages_total",
            vec![("message_type", "spot_interrupted")],
            1.0,
        ),
        (
            "karpenter_interruption_received_messages_total",
            vec![("message_type", "rebalance_recommendation")],
            1.0,
        ),
        (
            "spotter_interruption_notices_total",
            vec![("message_type", "spot_interrupted"), ("source", "queue")],
            1.0,
        ),
        (
            "spotter_interruption_notices_total",
            vec![
                ("message_type", "rebalance_recommendation"),
                ("source", "queue"),
            ],
            1.0,
        ),
        (
            "spotter_interruption_notices_total",
            vec![
                ("message_type", "rebalance_recommendation"),
                ("source", "agent"),
            ],
            1.0,
        ),
        (
            "karpenter_scheduler_scheduling_duration_seconds_count",
            vec![("controller", "provisioner")],
            2.0,
        ),
        (
            "karpenter_scheduler_scheduling_duration_seconds_bucket",
            vec![("controller", "provisioner"), ("le", "0.005")],
            1.0,
        ),
        (
            "karpenter_pods_startup_duration_seconds",
            vec![("quantile", "0")],
            10.0,
        ),
        (
            "karpenter_pods_startup_duration_seconds",
            vec![("quantile", "0.5")],
            20.0,
        ),
        (
            "karpenter_pods_startup_duration_seconds",
            vec![("quantile", "1")],
            40.0,
        ),
        ("karpenter_pods_startup_duration_seconds_count", vec![], 4.0),
        ("karpenter_pods_startup_duration_seconds_sum", vec![], 100.0),
    ];
    for (name, labels, expected) in cases {
        assert_eq!(
            value(&text, name, &labels),
            Some(expected),
            "{name} {labels:?}"
        );
    }
    // A Spot launch is no fallback; nothing was counted for pool `spot`.
    let spot_fallbacks = [("nodepool", "spot")];
    assert_eq!(
        value(&text, "spotter_fallback_total", &spot_fallbacks),
        None
    );
}

#[test]
fn both_exposition_formats_carry_the_same_families() {
    let state = cluster();
    let mut metrics = Metrics::new("simulated");
    metrics.observe_state(&state, Duration::ZERO);
    metrics.pod_started(Duration::ZERO, Duration::from_secs(5));
    let open_metrics = metrics.encode_as(Format::OpenMetrics).expect("encodes");
    let text = metrics.encode_as(Format::PrometheusText).expect("encodes");
    assert!(open_metrics.ends_with("# EOF\n"));
    assert!(!text.contains("# EOF"));
    // OpenMetrics names a counter family without `_total`; the text format with it.
    assert!(open_metrics.contains("# TYPE spotter_fallback counter\n"));
    assert!(text.contains("# TYPE spotter_fallback_total counter\n"));
    for format in [&open_metrics, &text] {
        assert!(format.contains("# TYPE karpenter_pods_startup_duration_seconds summary\n"));
        assert_eq!(value(format, "spotter_spot_ratio", &[]), Some(0.75));
    }
}

/// A scrape's reader that stops reading once the row families have started, until told to
/// go on.
struct PausingReader {
    text: String,
    paused: Option<std::sync::mpsc::Sender<()>>,
    resume: std::sync::mpsc::Receiver<()>,
}

impl std::fmt::Write for PausingReader {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.text.push_str(text);
        if self.text.contains("karpenter_pods_state{")
            && let Some(paused) = self.paused.take()
        {
            paused.send(()).map_err(|_| std::fmt::Error)?;
            self.resume.recv().map_err(|_| std::fmt::Error)?;
        }
        Ok(())
    }
}

#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "a scrape runs on the endpoint's thread, beside the driver's"
)]
fn a_scrape_whose_reader_waits_holds_nothing_the_driver_needs() {
    let mut state = cluster();
    let mut metrics = Metrics::new("simulated");
    metrics.observe_state(&state, Duration::ZERO);
    let exposer = metrics.exposer();
    let (paused, scrape_paused) = std::sync::mpsc::channel();
    let (resume, resumed) = std::sync::mpsc::channel();
    let scrape = std::thread::spawn(move || {
        let mut reader = PausingReader {
            text: String::new(),
            paused: Some(paused),
            resume: resumed,
        };
        exposer
            .write(Format::OpenMetrics, &mut reader)
            .map(|()| reader.text)
    });
    scrape_paused
        .recv_timeout(Duration::from_secs(30))
        .expect("the scrape reaches the row families");
    // The driver goes on while the scrape waits: every family, rows included, is updated.
    let (updated, driver_done) = std::sync::mpsc::channel();
    let driver = std::thread::spawn(move || {
        state.nodes.remove("fallback-1");
        state.node_claims.remove("fallback-1");
        metrics.observe_state(&state, Duration::from_secs(1));
        metrics.pod_started(Duration::from_secs(1), Duration::from_secs(5));
        metrics.scheduling_duration(0.01);
        updated.send(()).expect("the test waits");
        metrics
    });
    driver_done
        .recv_timeout(Duration::from_secs(30))
        .expect("the driver updates its metrics while a scrape waits for its reader");
    resume.send(()).expect("the scrape waits");
    let text = scrape
        .join()
        .expect("the scrape does not panic")
        .expect("the scrape is written");
    assert!(text.ends_with("# EOF\n"), "{text}");
    // The scrape wrote the rows it started with; the next one has the driver's update.
    let node = [("node_name", "fallback-1"), ("resource_type", "cpu")];
    let metrics = driver.join().expect("the driver does not panic");
    let next = metrics.encode().expect("the metrics encode");
    assert_eq!(value(&next, "karpenter_nodes_allocatable", &node), None);
    assert_eq!(
        value(&next, "karpenter_pods_startup_duration_seconds_count", &[]),
        Some(1.0)
    );
}

#[test]
fn actions_count_what_they_change_once() {
    let mut state = cluster();
    let metrics = Metrics::new("simulated");
    let delete = Action::DeleteNodeClaim {
        node_claim: "spot-2".into(),
        reason: DisruptionReason::Empty,
        deadline: None,
    };
    metrics.action(&delete, &state);
    // The driver applied it: the claim is being deleted, and the same action again (or a
    // later one with a deadline) is no new disruption.
    if let Some(claim) = state.node_claims.get_mut("spot-2") {
        claim.deletion = Some(Deletion {
            reason: DisruptionReason::Empty,
            requested_at: Duration::ZERO,
            deadline: None,
            instance_terminating: false,
            instance_terminated: false,
        });
    }
    metrics.action(&delete, &state);
    let unknown = Action::DeleteNodeClaim {
        node_claim: "nobody".into(),
        reason: DisruptionReason::Empty,
        deadline: None,
    };
    metrics.action(&unknown, &state);
    metrics.action(
        &Action::RemoveNodeClaim {
            node_claim: "spot-2".into(),
        },
        &state,
    );
    metrics.action(
        &Action::CordonNode {
            node: "spot-1".into(),
        },
        &state,
    );
    let provisioning = [Action::Nominate {
        pod: "default/web-2".into(),
        node_claim: "spot-1".into(),
    }];
    let draining = [Action::CordonNode {
        node: "spot-1".into(),
    }];
    metrics.reconciled(&provisioning, Duration::from_millis(3));
    metrics.reconciled(&draining, Duration::from_millis(3));
    metrics.reconciled(&[], Duration::from_millis(3));
    let text = metrics.encode().expect("the metrics encode");
    let cases: Vec<Case<Option<f64>>> = vec![
        (
            "karpenter_nodeclaims_disrupted_total",
            vec![("reason", "empty"), ("nodepool", "spot")],
            Some(1.0),
        ),
        (
            "karpenter_nodeclaims_terminated_total",
            vec![("nodepool", "spot")],
            Some(1.0),
        ),
        (
            "karpenter_nodes_terminated_total",
            vec![("nodepool", "spot")],
            Some(1.0),
        ),
        (
            "karpenter_scheduler_scheduling_duration_seconds_count",
            vec![("controller", "provisioner")],
            Some(1.0),
        ),
    ];
    for (name, labels, expected) in cases {
        assert_eq!(value(&text, name, &labels), expected, "{name} {labels:?}");
    }
}

#[test]
fn queue_messages_move_the_interruption_families() {
    let metrics = Metrics::new("aws");
    let received = [
        MessageType::SpotInterrupted,
        MessageType::SpotInterrupted,
        MessageType::InstanceStopped,
        MessageType::NoOp,
    ];
    for message_type in received {
        metrics.record_message_received(message_type);
    }
    metrics.record_message_malformed();
    for _ in 0..5 {
        metrics.record_message_deleted();
    }
    for waited in [
        Duration::from_millis(40),
        Duration::from_millis(700),
        Duration::from_secs(90),
    ] {
        metrics.observe_queue_duration(waited);
    }
    let text = metrics.encode().expect("the metrics encode");
    let cases: Vec<Case<f64>> = vec![
        (
            "karpenter_interruption_received_messages_total",
            vec![("message_type", "spot_interrupted")],
            2.0,
        ),
        (
            "karpenter_interruption_received_messages_total",
            vec![("message_type", "instance_stopped")],
            1.0,
        ),
        (
            "karpenter_interruption_received_messages_total",
            vec![("message_type", "no_op")],
            1.0,
        ),
        ("karpenter_interruption_deleted_messages_total", vec![], 5.0),
        ("spotter_interruption_malformed_messages_total", vec![], 1.0),
        (
            "karpenter_interruption_message_queue_duration_seconds_count",
            vec![],
            3.0,
        ),
        (
            "karpenter_interruption_message_queue_duration_seconds_bucket",
            vec![("le", "0.05")],
            1.0,
        ),
        (
            "karpenter_interruption_message_queue_duration_seconds_bucket",
            vec![("le", "0.7")],
            2.0,
        ),
        (
            "karpenter_interruption_message_queue_duration_seconds_bucket",
            vec![("le", "60.0")],
            2.0,
        ),
        (
            "karpenter_interruption_message_queue_duration_seconds_bucket",
            vec![("le", "120.0")],
            3.0,
        ),
    ];
    for (name, labels, expected) in cases {
        assert_eq!(
            value(&text, name, &labels),
            Some(expected),
            "{name} {labels:?}"
        );
    }
    let sum = value(
        &text,
        "karpenter_interruption_message_queue_duration_seconds_sum",
        &[],
    )
    .expect("the histogram has a sum");
    assert!((sum - 90.74).abs() < 1e-9, "sum {sum}");
    let unread = [("message_type", "rebalance_recommendation")];
    assert_eq!(
        value(
            &text,
            "karpenter_interruption_received_messages_total",
            &unread
        ),
        None
    );
}

#[test]
fn the_catalog_gauges_say_what_comes_from_the_embedded_catalog() {
    let metrics = Metrics::new("aws");
    let reads: [(bool, Option<&str>); 3] = [
        (false, Some("not_permitted")),
        (true, Some("throttled")),
        (false, None),
    ];
    for (catalog_embedded, prices_embedded_because) in reads {
        metrics.catalog_read(catalog_embedded);
        metrics.on_demand_prices_read(prices_embedded_because);
        let text = metrics.encode().expect("the metrics encode");
        assert_eq!(
            value(&text, "spotter_cloudprovider_catalog_embedded", &[]),
            Some(if catalog_embedded { 1.0 } else { 0.0 })
        );
        for reason in spotter_metrics::ON_DEMAND_PRICE_FALLBACK_REASONS {
            let expected = Some(if prices_embedded_because == Some(reason) {
                1.0
            } else {
                0.0
            });
            assert_eq!(
                value(
                    &text,
                    "spotter_cloudprovider_on_demand_prices_embedded",
                    &[("reason", reason)]
                ),
                expected,
                "{reason} after {prices_embedded_because:?}"
            );
        }
    }
}
