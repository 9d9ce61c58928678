//! A NodeClaim being planned during one solver run: its pods, its narrowed requirements, the
//! instance types still possible, and how it turns into a [`PlannedNodeClaim`] with its launch
//! choice (Spot before on-demand, then the lowest price).

use crate::instance_type::InstanceType;
use crate::labels;
use crate::node_pool::NodePool;
use crate::offering::CapacityType;
use crate::pod::HostPort;
use crate::requirements::Requirements;
use crate::resources::Resources;

use super::allowed_offerings::AllowedOfferings;
use super::{Launch, PlannedNodeClaim};

/// The most instance types a NodeClaim carries to a launch (Karpenter v1, and CreateFleet's
/// practical cap on overrides).
pub const MAX_INSTANCE_TYPES: usize = 60;

#[derive(Debug)]
pub(super) struct ClaimState {
    pub pool: usize,
    pub hostname: String,
    pub requirements: Requirements,
    /// Bumped whenever `requirements` change, so signature caches know to check again.
    pub version: u32,
    pub instance_types: Vec<u32>,
    pub used: Resources,
    /// The largest allocatable of any candidate, resource by resource: a quick upper bound.
    largest: Resources,
    pub pods: Vec<usize>,
    /// The host ports its pods and DaemonSets bind.
    pub host_ports: Vec<HostPort>,
    /// What it is counted at against its pool's limits: the largest of its candidates,
    /// resource by resource.
    pub charged: Resources,
    /// How many candidates it had when `charged` was computed.
    pub charged_count: usize,
    /// The smallest size cap its candidates can be narrowed to, with the number of candidates
    /// it was computed for (see `limits`).
    pub floor: Option<(usize, f64)>,
    /// The zones and capacity types the candidates offer, with the number of candidates they
    /// were computed for (a filtered candidate list of the same length is the same list).
    pub domains: Option<(usize, Vec<String>, Vec<String>)>,
}

impl ClaimState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pool: usize,
        hostname: String,
        requirements: Requirements,
        instance_types: Vec<u32>,
        daemon_overhead: Resources,
        largest: Resources,
        pod: usize,
        requests: &Resources,
        host_ports: Vec<HostPort>,
        charged: Resources,
    ) -> Self {
        let charged_count = instance_types.len();
        Self {
            pool,
            hostname,
            requirements,
            version: 0,
            instance_types,
            used: daemon_overhead.plus(requests),
            largest,
            pods: vec![pod],
            host_ports,
            charged_count,
            charged,
            floor: None,
            domains: None,
        }
    }

    /// A cheap check that rules out claims far too full for `requests`.
    #[inline]
    pub fn could_fit(&self, requests: &Resources) -> bool {
        self.used.cpu_millicores + requests.cpu_millicores <= self.largest.cpu_millicores
            && self.used.memory_bytes + requests.memory_bytes <= self.largest.memory_bytes
            && self.used.pods + requests.pods <= self.largest.pods
    }

    pub fn add_pod(
        &mut self,
        pod: usize,
        requests: &Resources,
        requirements: Requirements,
        instance_types: Vec<u32>,
        largest: Resources,
        domains: (Vec<String>, Vec<String>),
    ) {
        if requirements != self.requirements {
            self.requirements = requirements;
            self.version += 1;
        }
        self.domains = Some((instance_types.len(), domains.0, domains.1));
        self.instance_types = instance_types;
        self.used.add(requests);
        self.largest = largest;
        self.pods.push(pod);
    }

    /// Keeps only `instance_types` (a subset of its candidates), to stay within its pool's
    /// limits; `largest` is their largest allocatable.
    pub fn narrow(&mut self, instance_types: Vec<u32>, largest: Resources) {
        self.instance_types = instance_types;
        self.largest = largest;
        self.domains = None;
    }

    /// The candidate instance types a launch is given: at most [`MAX_INSTANCE_TYPES`], cheapest
    /// available offering first.
    pub fn ranked(
        &self,
        instance_types: &[InstanceType],
        available: &[Vec<bool>],
        allowed: &AllowedOfferings<'_>,
    ) -> Vec<u32> {
        let cheapest = |index: u32| {
            let instance_type = &instance_types[index as usize];
            instance_type
                .offerings
                .iter()
                .zip(&available[index as usize])
                .enumerate()
                .filter(|(position, (_, available))| {
                    **available && allowed.allows(index, *position)
                })
                .map(|(_, (offering, _))| offering.price_per_hour)
                .min_by(f64::total_cmp)
                .unwrap_or(f64::INFINITY)
        };
        let mut ranked: Vec<(f64, u32)> = self
            .instance_types
            .iter()
            .map(|&index| (cheapest(index), index))
            .collect();
        ranked.sort_by(|left, right| left.0.total_cmp(&right.0).then(left.1.cmp(&right.1)));
        ranked.truncate(MAX_INSTANCE_TYPES);
        ranked.into_iter().map(|(_, index)| index).collect()
    }

    /// The claim as the plan shows it: at most [`MAX_INSTANCE_TYPES`] cheapest types, and the
    /// offering a launch would choose now.
    pub fn finish(
        &self,
        pool: &NodePool,
        instance_types: &[InstanceType],
        available: &[Vec<bool>],
        allowed: &AllowedOfferings<'_>,
    ) -> PlannedNodeClaim {
        let ranked = self.ranked(instance_types, available, allowed);
        let mut zones = std::collections::BTreeSet::new();
        let mut capacity_types = std::collections::BTreeSet::new();
        let mut best: Option<(CapacityType, f64, u32, &str)> = None;
        for &index in &ranked {
            let instance_type = &instance_types[index as usize];
            for (position, (offering, &is_available)) in instance_type
                .offerings
                .iter()
                .zip(&available[index as usize])
                .enumerate()
            {
                if !is_available || !allowed.allows(index, position) {
                    continue;
                }
                zones.insert(offering.zone.as_str());
                capacity_types.insert(offering.capacity_type);
                let better = best.is_none_or(|(capacity_type, price, _, _)| {
                    offering.capacity_type < capacity_type
                        || (offering.capacity_type == capacity_type
                            && offering.price_per_hour < price)
                });
                if better {
                    best = Some((
                        offering.capacity_type,
                        offering.price_per_hour,
                        index,
                        offering.zone.as_str(),
                    ));
                }
            }
        }
        let launch = best.map(|(capacity_type, price_per_hour, index, zone)| Launch {
            capacity_type,
            instance_type: instance_types[index as usize].name.clone(),
            zone: zone.to_string(),
            price_per_hour,
        });
        debug_assert!(self.requirements.allows(labels::NODE_POOL, &pool.name));
        PlannedNodeClaim {
            node_pool: pool.name.clone(),
            pods: self.pods.clone(),
            requirements: self.requirements.clone(),
            instance_types: ranked
                .iter()
                .map(|&index| instance_types[index as usize].name.clone())
                .collect(),
            capacity_types: capacity_types.into_iter().collect(),
            zones: zones.into_iter().map(str::to_string).collect(),
            launch,
            requests: self.used.clone(),
        }
    }
}
