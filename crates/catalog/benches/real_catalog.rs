//! The solver on a realistic batch: 10,000 pending pods from deployment-like workloads against
//! every instance type of us-east-1 in the embedded catalog, with a Spot NodePool (amd64,
//! categories c/m/r, weight 100) in front of an on-demand fallback NodePool (weight 10).
//!
//! Inputs are built, solved once and checked outside the timed loop; only `solve` is timed.
//! Run with `cargo bench -p spotter-catalog --bench real_catalog`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spotter_core::builders::{PodBuilder, node_pool, pod};
use spotter_core::instance_type::InstanceType;
use spotter_core::labels;
use spotter_core::node_pool::NodePool;
use spotter_core::pod::Pod;
use spotter_core::requirements::Operator;
use spotter_core::solver::{Plan, SchedulingInput, solve};
use spotter_core::unavailable_offerings::UnavailableOfferings;

const PODS: usize = 10_000;

/// SplitMix64: a tiny deterministic generator so that every run solves the same pods.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A multiple of `step` in `low..=high`.
    fn step_between(&mut self, low: u64, high: u64, step: u64) -> u64 {
        low + self.next() % ((high - low) / step + 1) * step
    }
}

/// How a deployment's pods are constrained.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Plain,
    ZoneSpread,
    HostnameAntiAffinity,
    Category(&'static str),
    Arm64,
}

/// (shape, deployments, replicas each): 10,000 pods, 5% with hostname anti-affinity.
const WORKLOADS: [(Shape, usize, usize); 6] = [
    (Shape::Plain, 20, 250),
    (Shape::ZoneSpread, 10, 300),
    (Shape::HostnameAntiAffinity, 5, 100),
    (Shape::Category("c"), 2, 300),
    (Shape::Category("r"), 1, 300),
    (Shape::Arm64, 2, 300),
];

fn pods(rng: &mut Rng) -> Vec<Pod> {
    let mut pods = Vec::with_capacity(PODS);
    let mut deployment = 0;
    for (shape, deployments, replicas) in WORKLOADS {
        for _ in 0..deployments {
            deployment += 1;
            let app = format!("app-{deployment}");
            // Every replica of a deployment asks for the same: 250m–4 CPU, 256Mi–8Gi.
            let cpu = format!("{}m", rng.step_between(250, 4000, 50));
            let memory = format!("{}Mi", rng.step_between(256, 8192, 64));
            for replica in 0..replicas {
                let base: PodBuilder = pod(&format!("{app}-{replica}"))
                    .namespace("prod")
                    .label("app", &app)
                    .cpu(&cpu)
                    .memory(&memory);
                let pod = match shape {
                    Shape::Plain => base,
                    Shape::ZoneSpread => base.spread(labels::ZONE, 1, &[("app", &app)]),
                    Shape::HostnameAntiAffinity => {
                        base.anti_affinity(labels::HOSTNAME, &[("app", &app)])
                    }
                    Shape::Category(category) => {
                        base.node_selector(labels::INSTANCE_CATEGORY, category)
                    }
                    Shape::Arm64 => base.node_selector(labels::ARCH, "arm64"),
                };
                pods.push(pod.build());
            }
        }
    }
    assert_eq!(pods.len(), PODS);
    pods
}

struct Case {
    pods: Vec<Pod>,
    pools: Vec<NodePool>,
    instance_types: Vec<InstanceType>,
    daemon_sets: Vec<Pod>,
    unavailable: UnavailableOfferings,
}

impl Case {
    fn new() -> Self {
        let region = spotter_catalog::embedded()
            .region("us-east-1")
            .unwrap_or_else(|error| panic!("us-east-1 is embedded: {error}"));
        let spot = node_pool("spot")
            .weight(100)
            .capacity_types(&[labels::capacity_type::SPOT])
            .require(labels::ARCH, Operator::In, &["amd64"])
            .require(labels::INSTANCE_CATEGORY, Operator::In, &["c", "m", "r"])
            .build();
        let on_demand = node_pool("on-demand")
            .weight(10)
            .capacity_types(&[labels::capacity_type::ON_DEMAND])
            .build();
        Self {
            pods: pods(&mut Rng(0x5107_7e20_2025_0002)),
            pools: vec![spot, on_demand],
            instance_types: spotter_catalog::instance_types::instance_types(region),
            daemon_sets: vec![
                pod("kube-proxy").cpu("100m").memory("128Mi").build(),
                pod("aws-node").cpu("25m").memory("64Mi").build(),
            ],
            unavailable: UnavailableOfferings::new(),
        }
    }

    fn input(&self) -> SchedulingInput<'_> {
        SchedulingInput {
            pods: &self.pods,
            nodes: &[],
            node_pools: &self.pools,
            instance_types: &self.instance_types,
            daemon_set_pods: &self.daemon_sets,
            unavailable: &self.unavailable,
            pool_usage: None,
        }
    }
}

/// One line saying what the plan did, and a panic if any pod was left unplaced.
fn summarize(case: &Case, plan: &Plan) -> String {
    for claim in &plan.node_claims {
        let Some(launch) = &claim.launch else {
            panic!(
                "a NodeClaim of {} pods has no offering to launch",
                claim.pods.len()
            );
        };
        let fits = case
            .instance_types
            .iter()
            .find(|instance_type| instance_type.name == launch.instance_type)
            .is_some_and(|instance_type| claim.requests.fits_in(&instance_type.allocatable));
        assert!(
            fits,
            "{} does not hold requests {}",
            launch.instance_type, claim.requests
        );
    }
    let placed: usize = plan.node_claims.iter().map(|claim| claim.pods.len()).sum();
    let mut per_pool: BTreeMap<&str, usize> = BTreeMap::new();
    for claim in &plan.node_claims {
        *per_pool.entry(claim.node_pool.as_str()).or_default() += 1;
    }
    let cost: f64 = plan
        .node_claims
        .iter()
        .filter_map(|claim| claim.launch.as_ref())
        .map(|launch| launch.price_per_hour)
        .sum();
    let line = format!(
        "solver/real_catalog/{PODS}: {} instance types, {} NodeClaims {per_pool:?}, {placed} pods \
         placed, {} unschedulable, {cost:.2} USD/h",
        case.instance_types.len(),
        plan.node_claims.len(),
        plan.unschedulable.len(),
    );
    assert!(
        plan.unschedulable.is_empty() && placed == PODS,
        "{line}; first reasons: {:?}",
        plan.unschedulable.iter().take(3).collect::<Vec<_>>()
    );
    line
}

fn real_catalog(c: &mut Criterion) {
    let case = Case::new();
    let summary = summarize(&case, &solve(&case.input()));
    eprintln!("{summary}");
    let mut group = c.benchmark_group("solver/real_catalog");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(PODS as u64));
    group.bench_with_input(BenchmarkId::from_parameter(PODS), &case, |b, case| {
        let input = case.input();
        b.iter(|| solve(black_box(&input)));
    });
    group.finish();
    eprintln!("{summary}");
}

criterion_group!(benches, real_catalog);
criterion_main!(benches);
