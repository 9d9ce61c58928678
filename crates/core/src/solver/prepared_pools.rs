//! What the solver can know about each NodePool before it sees any pod: the instance types the
//! pool's requirements allow and, for each, the offerings (zone × capacity type) they allow.
//! This depends only on the NodePools and the instance types, not on pods or availability, so
//! a caller that solves again and again (the provisioner) prepares it once and reuses it while
//! both stay the same.

use crate::instance_type::{InstanceType, offering_allowed};
use crate::node_pool::NodePool;
use crate::requirements::Requirements;

/// The instance types and offerings each NodePool allows.
#[derive(Clone, Debug, Default)]
pub struct PreparedPools {
    pools: Vec<PreparedPool>,
    instance_type_count: usize,
    /// One offering (instance type index, offering index) per distinct zone, zone ID and
    /// capacity type: every domain any instance type can offer.
    pub(super) offering_domains: Vec<(u32, u16)>,
    /// For every instance type and offering, the index of its domain in `offering_domains`.
    pub(super) domain_of: std::sync::Arc<Vec<Vec<u8>>>,
}

#[derive(Clone, Debug)]
pub(super) struct PreparedPool {
    name: String,
    requirements: Requirements,
    /// Instance types whose requirements intersect the pool's, with the indices of the
    /// offerings the pool allows.
    pub instance_types: Vec<(u32, Vec<u16>)>,
}

impl PreparedPools {
    /// Prepares `node_pools` against `instance_types`.
    pub fn new(node_pools: &[NodePool], instance_types: &[InstanceType]) -> Self {
        let pools = node_pools
            .iter()
            .map(|pool| PreparedPool {
                name: pool.name.clone(),
                requirements: pool.requirements.clone(),
                instance_types: instance_types
                    .iter()
                    .enumerate()
                    .filter(|(_, instance_type)| {
                        instance_type
                            .requirements
                            .intersects(&pool.requirements)
                            .is_ok()
                    })
                    .map(|(index, instance_type)| {
                        let offerings = instance_type
                            .offerings
                            .iter()
                            .enumerate()
                            .filter(|(_, offering)| offering_allowed(offering, &pool.requirements))
                            .map(|(offering_index, _)| offering_index as u16)
                            .collect();
                        (index as u32, offerings)
                    })
                    .collect(),
            })
            .collect();
        let mut offering_domains: Vec<(u32, u16)> = Vec::new();
        let mut domain_of = Vec::with_capacity(instance_types.len());
        for (type_index, instance_type) in instance_types.iter().enumerate() {
            let mut domains = Vec::with_capacity(instance_type.offerings.len());
            for (offering_index, offering) in instance_type.offerings.iter().enumerate() {
                let known = offering_domains
                    .iter()
                    .position(|&(known_type, known_offering)| {
                        let known =
                            &instance_types[known_type as usize].offerings[known_offering as usize];
                        known.capacity_type == offering.capacity_type
                            && known.zone == offering.zone
                            && known.zone_id == offering.zone_id
                    });
                let domain = known.unwrap_or_else(|| {
                    offering_domains.push((type_index as u32, offering_index as u16));
                    offering_domains.len() - 1
                });
                domains.push(u8::try_from(domain).unwrap_or(u8::MAX));
            }
            domain_of.push(domains);
        }
        Self {
            pools,
            instance_type_count: instance_types.len(),
            offering_domains,
            domain_of: std::sync::Arc::new(domain_of),
        }
    }

    /// Whether this was prepared for exactly these NodePools (names and requirements) and this
    /// many instance types.
    pub fn is_for(&self, node_pools: &[NodePool], instance_types: &[InstanceType]) -> bool {
        self.instance_type_count == instance_types.len()
            && self.pools.len() == node_pools.len()
            && self.pools.iter().zip(node_pools).all(|(prepared, pool)| {
                prepared.name == pool.name && prepared.requirements == pool.requirements
            })
    }

    pub(super) fn get(&self, pool: &NodePool) -> Option<&PreparedPool> {
        self.pools.iter().find(|prepared| {
            prepared.name == pool.name && prepared.requirements == pool.requirements
        })
    }
}
