//! Instance types as the solver sees them: a name, the node labels the type implies (as
//! requirements), its capacity, what stays allocatable after Karpenter's kubelet and system
//! overhead, and its offerings.

use std::collections::{BTreeMap, BTreeSet};

use crate::labels;
use crate::offering::Offering;
use crate::requirements::{Requirement, Requirements};
use crate::resources::Resources;

/// An instance type and the ways it can be bought.
#[derive(Clone, Debug)]
pub struct InstanceType {
    /// The name (`m5.large`).
    pub name: String,
    /// What a node of this type is labelled with: one `In [value]` per label, plus
    /// `topology.kubernetes.io/zone` and `karpenter.sh/capacity-type` over its offerings.
    pub requirements: Requirements,
    /// The machine's capacity (what NodePool limits count).
    pub capacity: Resources,
    /// What pods can use: capacity less kube-reserved, system-reserved and eviction thresholds.
    pub allocatable: Resources,
    /// Every offering (capacity type × zone) with its price.
    pub offerings: Vec<Offering>,
}

impl InstanceType {
    /// An instance type labelled with `labels` (well-known `karpenter.k8s.aws/instance-*`,
    /// `kubernetes.io/arch`, ...). The instance-type, zone and capacity-type requirements are
    /// derived from the name and the offerings.
    pub fn new(
        name: impl Into<String>,
        labels: BTreeMap<String, String>,
        capacity: Resources,
        allocatable: Resources,
        offerings: Vec<Offering>,
    ) -> Self {
        let name = name.into();
        let mut requirements = Requirements::from_labels(&labels);
        requirements.add(labels::INSTANCE_TYPE, Requirement::single(name.clone()));
        let zones: BTreeSet<String> = offerings
            .iter()
            .map(|offering| offering.zone.clone())
            .collect();
        requirements.add(labels::ZONE, Requirement::in_values(zones));
        let zone_ids: BTreeSet<String> = offerings
            .iter()
            .filter_map(|offering| offering.zone_id.clone())
            .collect();
        if !zone_ids.is_empty() {
            requirements.add(labels::ZONE_ID, Requirement::in_values(zone_ids));
        }
        let capacity_types: BTreeSet<String> = offerings
            .iter()
            .map(|offering| offering.capacity_type.as_str().to_string())
            .collect();
        requirements.add(
            labels::CAPACITY_TYPE,
            Requirement::in_values(capacity_types),
        );
        // A region's catalog holds hundreds of these for the process's life.
        requirements.shrink_to_fit();
        Self {
            name,
            requirements,
            capacity,
            allocatable,
            offerings,
        }
    }

    /// The cheapest available offering allowed by `requirements` (zone and capacity type).
    pub fn cheapest_offering(&self, requirements: &Requirements) -> Option<&Offering> {
        self.offerings
            .iter()
            .filter(|offering| offering.available && offering_allowed(offering, requirements))
            .min_by(|left, right| left.price_per_hour.total_cmp(&right.price_per_hour))
    }
}

/// Whether `requirements` allow the offering's zone and capacity type.
pub fn offering_allowed(offering: &Offering, requirements: &Requirements) -> bool {
    requirements.allows(labels::ZONE, &offering.zone)
        && requirements.allows(labels::CAPACITY_TYPE, offering.capacity_type.as_str())
        && offering
            .zone_id
            .as_deref()
            .is_none_or(|zone_id| requirements.allows(labels::ZONE_ID, zone_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offering::CapacityType;

    fn offering(capacity_type: CapacityType, zone: &str, price: f64, available: bool) -> Offering {
        Offering {
            capacity_type,
            zone: zone.into(),
            zone_id: None,
            price_per_hour: price,
            price_estimated: false,
            available,
            interruption_band: None,
        }
    }

    #[test]
    fn requirements_cover_name_zones_and_capacity_types() {
        let instance_type = InstanceType::new(
            "m5.large",
            BTreeMap::from([(labels::ARCH.to_string(), "amd64".to_string())]),
            Resources::default(),
            Resources::default(),
            vec![
                offering(CapacityType::Spot, "a", 0.04, true),
                offering(CapacityType::OnDemand, "b", 0.1, true),
            ],
        );
        assert!(
            instance_type
                .requirements
                .allows(labels::INSTANCE_TYPE, "m5.large")
        );
        assert!(instance_type.requirements.allows(labels::ZONE, "b"));
        assert!(!instance_type.requirements.allows(labels::ZONE, "c"));
        assert!(
            instance_type
                .requirements
                .allows(labels::CAPACITY_TYPE, "spot")
        );
        assert!(instance_type.requirements.allows(labels::ARCH, "amd64"));
    }

    #[test]
    fn cheapest_offering_skips_unavailable_and_disallowed_ones() {
        let instance_type = InstanceType::new(
            "m5.large",
            BTreeMap::new(),
            Resources::default(),
            Resources::default(),
            vec![
                offering(CapacityType::Spot, "a", 0.03, false),
                offering(CapacityType::Spot, "b", 0.04, true),
                offering(CapacityType::OnDemand, "a", 0.1, true),
            ],
        );
        let any = Requirements::new();
        assert_eq!(
            instance_type
                .cheapest_offering(&any)
                .map(|o| o.zone.as_str()),
            Some("b")
        );
        let mut zone_a = Requirements::new();
        zone_a.add(labels::ZONE, Requirement::single("a"));
        assert_eq!(
            instance_type
                .cheapest_offering(&zone_a)
                .map(|o| o.capacity_type),
            Some(CapacityType::OnDemand)
        );
    }
}
