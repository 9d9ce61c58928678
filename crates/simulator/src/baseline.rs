//! The all-on-demand baseline a run's savings are measured against: what the scenario's
//! workload would cost on on-demand capacity alone, computed from the scenario only, so that
//! it is the same for every policy (and for both runs of a comparison).
//!
//! At every time the workload's demand changes (a Deployment's replica count, a Job's pods
//! arriving or finishing their run time), the pods it wants then are planned from scratch by
//! the solver onto the scenario's NodePools made on-demand only (their capacity-type
//! requirement replaced, their limits and every other requirement kept, no shortage), and the
//! plan's cheapest on-demand offerings are priced; the baseline is that hourly price held
//! until the next change, summed over the run. Pods that no on-demand node can take (a pod
//! that requires Spot, or one beyond the NodePools' limits) are not priced.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use spotter_core::instance_type::InstanceType;
use spotter_core::labels;
use spotter_core::node_pool::NodePool;
use spotter_core::offering::CapacityType;
use spotter_core::pod::Pod;
use spotter_core::requirements::{Requirement, Requirements};
use spotter_core::solver::{PreparedPools, SchedulingInput, solve_prepared};
use spotter_core::unavailable_offerings::UnavailableOfferings;

use crate::scenario::Scenario;

/// The baseline's hourly price over the run: piecewise constant, from each change time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Baseline {
    /// `(from, USD per hour)`, by increasing time; the first starts at zero.
    steps: Vec<(Duration, f64)>,
    end: Duration,
}

impl Baseline {
    /// The baseline of `scenario` (its duration already set) in a region of `instance_types`.
    pub fn of(scenario: &Scenario, instance_types: &Arc<Vec<InstanceType>>) -> Self {
        let end = scenario.duration;
        let pools: Vec<NodePool> = scenario.node_pools.iter().map(on_demand_only).collect();
        let prepared = PreparedPools::new(&pools, instance_types);
        let unavailable = UnavailableOfferings::default();
        let mut prices: BTreeMap<Vec<u32>, f64> = BTreeMap::new();
        let mut steps: Vec<(Duration, f64)> = Vec::new();
        for time in change_times(scenario, end) {
            let demand = demand_at(scenario, time);
            let price = *prices.entry(demand.clone()).or_insert_with(|| {
                let pods = pods_of(scenario, &demand);
                let input = SchedulingInput {
                    pods: &pods,
                    nodes: &[],
                    node_pools: &pools,
                    instance_types,
                    daemon_set_pods: &scenario.daemon_set_pods,
                    unavailable: &unavailable,
                    pool_usage: None,
                };
                solve_prepared(&input, &prepared)
                    .node_claims
                    .iter()
                    .filter_map(|claim| claim.launch.as_ref())
                    .map(|launch| launch.price_per_hour)
                    .sum()
            });
            if steps.last().is_none_or(|(_, last)| *last != price) {
                steps.push((time, price));
            }
        }
        Self { steps, end }
    }

    /// The baseline's price per hour at `time`.
    pub fn per_hour_at(&self, time: Duration) -> f64 {
        let index = self.steps.partition_point(|(from, _)| *from <= time);
        index
            .checked_sub(1)
            .map_or(0.0, |index| self.steps[index].1)
    }

    /// The baseline's cost from the start to `until` (at most the scenario's end), in USD.
    pub fn cost_until(&self, until: Duration) -> f64 {
        let until = until.min(self.end);
        let mut cost = 0.0;
        for (index, (from, price)) in self.steps.iter().enumerate() {
            if *from >= until {
                break;
            }
            let to = self
                .steps
                .get(index + 1)
                .map_or(until, |(next, _)| (*next).min(until));
            cost += price * to.saturating_sub(*from).as_secs_f64() / 3600.0;
        }
        cost
    }
}

/// The times the workload's demand may change, from zero, sorted, before `end`.
fn change_times(scenario: &Scenario, end: Duration) -> Vec<Duration> {
    let mut times = vec![Duration::ZERO];
    for deployment in &scenario.deployments {
        times.extend(deployment.replicas.change_times(end));
    }
    for job in &scenario.jobs {
        for &arrival in &job.arrivals {
            times.push(arrival);
            times.push(arrival + job.run_time);
        }
    }
    times.retain(|time| *time < end);
    times.sort_unstable();
    times.dedup();
    times
}

/// The pods wanted at `time`: the replicas of each Deployment, then the pods of each Job
/// running then (started at their arrival, running their run time), as counts.
fn demand_at(scenario: &Scenario, time: Duration) -> Vec<u32> {
    let deployments = scenario
        .deployments
        .iter()
        .map(|deployment| deployment.replicas.replicas_at(time));
    let jobs = scenario.jobs.iter().map(|job| {
        let running = job
            .arrivals
            .iter()
            .filter(|arrival| **arrival <= time && time < **arrival + job.run_time)
            .count() as u32;
        running * job.parallelism
    });
    deployments.chain(jobs).collect()
}

/// The pods of a demand (counts indexed like [`demand_at`]'s), each with its own name.
fn pods_of(scenario: &Scenario, demand: &[u32]) -> Vec<Pod> {
    let templates = scenario
        .deployments
        .iter()
        .map(|deployment| &deployment.template)
        .chain(scenario.jobs.iter().map(|job| &job.template));
    let mut pods = Vec::new();
    for (template, count) in templates.zip(demand) {
        for index in 0..*count {
            let mut pod = template.clone();
            pod.name = format!("{}-{index}", template.name);
            pods.push(pod);
        }
    }
    pods
}

/// `pool` launching on-demand only: its capacity-type requirement replaced by on-demand.
fn on_demand_only(pool: &NodePool) -> NodePool {
    let mut requirements = Requirements::new();
    for (key, requirement) in pool.requirements.iter() {
        if key != labels::CAPACITY_TYPE {
            requirements.add(key, requirement.clone());
        }
    }
    requirements.add(
        labels::CAPACITY_TYPE,
        Requirement::single(CapacityType::OnDemand.as_str()),
    );
    let mut on_demand = pool.clone();
    on_demand.requirements = requirements;
    on_demand
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ReplicaCurve;

    const HOUR: Duration = Duration::from_secs(3600);

    /// Guards item 6 of issue 15: the baseline depends on the scenario only, and follows the
    /// workload's demand (more pods, a higher price; no pods, nothing).
    #[test]
    fn the_baseline_follows_the_scenario_demand() {
        let mut scenario = Scenario::builtin_default();
        scenario.duration = 4 * HOUR;
        scenario.jobs.clear();
        scenario.deployments.truncate(1);
        scenario.deployments[0].replicas =
            ReplicaCurve::Steps(vec![(HOUR, 10), (2 * HOUR, 40), (3 * HOUR, 0)]);
        let region = spotter_catalog::embedded()
            .region(&scenario.region)
            .expect("the default scenario's region");
        let instance_types = Arc::new(spotter_catalog::instance_types::instance_types(region));
        let baseline = Baseline::of(&scenario, &instance_types);
        let (none, ten, forty, after) = (
            baseline.per_hour_at(Duration::ZERO),
            baseline.per_hour_at(HOUR + HOUR / 2),
            baseline.per_hour_at(2 * HOUR),
            baseline.per_hour_at(3 * HOUR),
        );
        assert_eq!(none, 0.0, "no pods, no baseline");
        assert!(ten > 0.0, "10 pods cost something: {ten}");
        assert!(forty > ten, "40 pods cost more than 10: {forty} vs {ten}");
        assert_eq!(after, 0.0, "scaled to zero");
        let total = baseline.cost_until(4 * HOUR);
        assert!(
            (total - (ten + forty)).abs() < 1e-9,
            "one hour at each price: {total} vs {}",
            ten + forty
        );
        assert_eq!(baseline, Baseline::of(&scenario, &instance_types));
    }
}
