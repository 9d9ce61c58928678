//! Karpenter's scheduling benchmark (`scheduling_benchmark_test.go`) reproduced on Spotter's
//! solver: one NodePool without limits, 400 fake instance types (type `i` has `i + 1` vCPU and
//! `2(i + 1)` GiB), and pods split into Karpenter's five `makeDiversePods` classes.
//!
//! Inputs are built, solved once and checked outside the timed loop; only `solve` is timed.
//! Run with `cargo bench -p spotter-core --bench solver`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spotter_core::builders::{instance_type, node_pool, pod};
use spotter_core::instance_type::InstanceType;
use spotter_core::labels;
use spotter_core::node_pool::NodePool;
use spotter_core::offering::CapacityType;
use spotter_core::pod::Pod;
use spotter_core::solver::{Plan, SchedulingInput, solve};
use spotter_core::unavailable_offerings::UnavailableOfferings;

const SIZES: [usize; 3] = [1000, 5000, 20_000];
const INSTANCE_TYPES: usize = 400;
const LABEL_VALUES: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

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

    /// Uniform in `low..=high` (the modulo bias is irrelevant here).
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    fn label_value(&mut self) -> &'static str {
        LABEL_VALUES[self.next() as usize % LABEL_VALUES.len()]
    }
}

/// Karpenter's fake instance types: spot in zones 1–2, on-demand in zones 1–3, priced like
/// the KWOK provider (on-demand 0.05 USD per vCPU-hour, spot at 70% of it).
fn fake_instance_types() -> Vec<InstanceType> {
    (0..INSTANCE_TYPES)
        .map(|i| {
            let vcpus = i as i64 + 1;
            let on_demand = 0.05 * vcpus as f64;
            let spot = 0.7 * on_demand;
            instance_type(&format!("fake-it-{i}"))
                .cpu(vcpus)
                .memory_gib(2 * vcpus)
                .max_pods(110)
                .offering(CapacityType::Spot, "test-zone-1", spot)
                .offering(CapacityType::Spot, "test-zone-2", spot)
                .offering(CapacityType::OnDemand, "test-zone-1", on_demand)
                .offering(CapacityType::OnDemand, "test-zone-2", on_demand)
                .offering(CapacityType::OnDemand, "test-zone-3", on_demand)
                .build()
        })
        .collect()
}

/// `makeDiverseResources`: CPU in 100m..1500m, memory in 100Mi..4Gi.
fn diverse(rng: &mut Rng, name: String) -> spotter_core::builders::PodBuilder {
    let cpu = format!("{}m", rng.between(100, 1500));
    let memory = format!("{}Mi", rng.between(100, 4096));
    pod(&name).cpu(&cpu).memory(&memory)
}

/// `makeDiversePods`: five equal classes, the remainder as generic pods.
fn diverse_pods(count: usize, rng: &mut Rng) -> Vec<Pod> {
    let per_class = count / 5;
    let mut pods = Vec::with_capacity(count);
    let mut name = {
        let mut next = 0;
        move |class: &str| {
            next += 1;
            format!("{class}-{next}")
        }
    };
    let generic = |rng: &mut Rng, name: String| {
        let value = rng.label_value();
        diverse(rng, name).label("my-label", value).build()
    };
    for _ in 0..per_class {
        pods.push(generic(rng, name("generic")));
    }
    for key in [labels::ZONE, labels::HOSTNAME] {
        for _ in 0..per_class {
            let own = rng.label_value();
            let selected = rng.label_value();
            pods.push(
                diverse(rng, name("spread"))
                    .label("my-label", own)
                    .spread(key, 1, &[("my-label", selected)])
                    .build(),
            );
        }
    }
    for _ in 0..per_class {
        let value = rng.label_value();
        pods.push(
            diverse(rng, name("affinity"))
                .label("my-affinity", value)
                .affinity(labels::ZONE, &[("my-affinity", value)])
                .build(),
        );
    }
    for _ in 0..per_class {
        pods.push(
            diverse(rng, name("anti-affinity"))
                .label("app", "nginx")
                .anti_affinity(labels::HOSTNAME, &[("app", "nginx")])
                .build(),
        );
    }
    while pods.len() < count {
        pods.push(generic(rng, name("generic")));
    }
    pods
}

struct Case {
    pods: Vec<Pod>,
    pools: Vec<NodePool>,
    instance_types: Vec<InstanceType>,
    unavailable: UnavailableOfferings,
}

impl Case {
    fn new(size: usize) -> Self {
        let mut rng = Rng(0x5107_7e20_2025_0001 ^ size as u64);
        Self {
            pods: diverse_pods(size, &mut rng),
            pools: vec![node_pool("default").build()],
            instance_types: fake_instance_types(),
            unavailable: UnavailableOfferings::new(),
        }
    }

    fn input(&self) -> SchedulingInput<'_> {
        SchedulingInput {
            pods: &self.pods,
            nodes: &[],
            node_pools: &self.pools,
            instance_types: &self.instance_types,
            daemon_set_pods: &[],
            unavailable: &self.unavailable,
            pool_usage: None,
        }
    }
}

/// One line saying what the plan did, and a panic if any pod was left unplaced.
fn summarize(size: usize, instance_types: &[InstanceType], plan: &Plan) -> String {
    for claim in &plan.node_claims {
        let Some(launch) = &claim.launch else {
            panic!(
                "a NodeClaim of {} pods has no offering to launch",
                claim.pods.len()
            );
        };
        let fits = instance_types
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
    let cost: f64 = plan
        .node_claims
        .iter()
        .filter_map(|claim| claim.launch.as_ref())
        .map(|launch| launch.price_per_hour)
        .sum();
    let line = format!(
        "solver/karpenter_shape/{size}: {} NodeClaims, {placed} pods placed, {} unschedulable, \
         {:.1} pods/claim, {cost:.2} USD/h",
        plan.node_claims.len(),
        plan.unschedulable.len(),
        placed as f64 / plan.node_claims.len().max(1) as f64,
    );
    assert!(
        plan.unschedulable.is_empty() && placed == size,
        "{line}; first reasons: {:?}",
        plan.unschedulable.iter().take(3).collect::<Vec<_>>()
    );
    line
}

fn karpenter_shape(c: &mut Criterion) {
    let mut group = c.benchmark_group("solver/karpenter_shape");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let mut summaries = Vec::new();
    for size in SIZES {
        let case = Case::new(size);
        let summary = summarize(size, &case.instance_types, &solve(&case.input()));
        eprintln!("{summary}");
        summaries.push(summary);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &case, |b, case| {
            let input = case.input();
            b.iter(|| solve(black_box(&input)));
        });
    }
    group.finish();
    for summary in summaries {
        eprintln!("{summary}");
    }
}

criterion_group!(benches, karpenter_shape);
criterion_main!(benches);
