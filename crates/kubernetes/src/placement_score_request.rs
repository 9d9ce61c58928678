//! What the driver asks the cloud's Spot placement scores for: the cheapest Spot instance types
//! the NodePools allow (at most [`MAX_INSTANCE_TYPES`]; at least three, since EC2 scores one or
//! two types always low) and the size of the cluster's Spot fleet, rounded up to a power of two.
//! Both change rarely, so the same request is asked again and again: EC2 limits how many
//! *new* request configurations an account may ask for in a day, not repeats.

use std::collections::BTreeMap;

use spotter_cloud::PlacementScoreRequest;
use spotter_controllers::ClusterState;
use spotter_core::labels;
use spotter_core::offering::CapacityType;

/// The most instance types one request names.
pub const MAX_INSTANCE_TYPES: usize = 10;
/// The fewest instance types worth a request.
pub const MIN_INSTANCE_TYPES: usize = 3;

/// The request for the cluster as it is, or `None` when no NodePool allows at least
/// [`MIN_INSTANCE_TYPES`] Spot instance types.
pub fn placement_score_request(state: &ClusterState) -> Option<PlacementScoreRequest> {
    // Each allowed type at its cheapest Spot price in a zone some Spot pool allows.
    let mut cheapest: BTreeMap<&str, f64> = BTreeMap::new();
    for pool in &state.node_pools {
        if !pool
            .requirements
            .allows(labels::CAPACITY_TYPE, CapacityType::Spot.as_str())
        {
            continue;
        }
        for instance_type in state.instance_types.iter() {
            if pool
                .requirements
                .intersects(&instance_type.requirements)
                .is_err()
            {
                continue;
            }
            let price = instance_type
                .offerings
                .iter()
                .filter(|offering| {
                    offering.available
                        && offering.capacity_type == CapacityType::Spot
                        && pool.requirements.allows(labels::ZONE, &offering.zone)
                })
                .map(|offering| offering.price_per_hour)
                .min_by(f64::total_cmp);
            if let Some(price) = price {
                let entry = cheapest.entry(instance_type.name.as_str()).or_insert(price);
                *entry = entry.min(price);
            }
        }
    }
    if cheapest.len() < MIN_INSTANCE_TYPES {
        return None;
    }
    let mut ranked: Vec<(&str, f64)> = cheapest.into_iter().collect();
    ranked.sort_by(|left, right| left.1.total_cmp(&right.1).then(left.0.cmp(right.0)));
    let mut instance_types: Vec<String> = ranked
        .into_iter()
        .take(MAX_INSTANCE_TYPES)
        .map(|(name, _)| name.to_string())
        .collect();
    instance_types.sort();
    let spot_nodes = state
        .node_claims
        .values()
        .filter(|claim| claim.deletion.is_none())
        .filter(|claim| {
            claim
                .instance()
                .is_some_and(|instance| instance.offering.capacity_type == CapacityType::Spot)
        })
        .count();
    Some(PlacementScoreRequest {
        instance_types,
        target_capacity: target_capacity(spot_nodes),
    })
}

/// The target capacity for a Spot fleet of `spot_nodes`: rounded up to a power of two, so
/// that a growing cluster asks few distinct configurations.
fn target_capacity(spot_nodes: usize) -> u32 {
    u32::try_from(spot_nodes.max(1).next_power_of_two()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spotter_core::builders::{instance_type, node_pool};
    use spotter_core::instance_type::InstanceType;
    use spotter_core::node_pool::NodePool;
    use spotter_core::requirements::Operator;

    use super::*;

    fn spot_type(name: &str, category: &str, price: f64) -> InstanceType {
        instance_type(name)
            .label(labels::INSTANCE_CATEGORY, category)
            .offering(CapacityType::Spot, "zone-a", price)
            .offering(CapacityType::Spot, "zone-b", price * 2.0)
            .offering(CapacityType::OnDemand, "zone-a", price * 3.0)
            .build()
    }

    fn catalog() -> Vec<InstanceType> {
        let mut types: Vec<InstanceType> = (0..12)
            .map(|index| spot_type(&format!("m{index}.large"), "m", 0.01 * f64::from(index + 1)))
            .collect();
        types.push(spot_type("c5.large", "c", 0.005));
        types.push(
            instance_type("r5.large")
                .label(labels::INSTANCE_CATEGORY, "r")
                .offering(CapacityType::OnDemand, "zone-a", 0.001)
                .build(),
        );
        types
    }

    fn state(pools: Vec<NodePool>) -> ClusterState {
        ClusterState {
            node_pools: pools,
            instance_types: Arc::new(catalog()),
            ..ClusterState::default()
        }
    }

    /// (what it shows, the NodePools, the instance types asked about).
    type Case = (&'static str, Vec<NodePool>, Option<Vec<String>>);

    fn names(request: &PlacementScoreRequest) -> Vec<&str> {
        request.instance_types.iter().map(String::as_str).collect()
    }

    #[test]
    fn the_cheapest_spot_types_the_pools_allow() {
        let spot_m = node_pool("spot-m")
            .capacity_types(&["spot"])
            .require(labels::INSTANCE_CATEGORY, Operator::In, &["m"])
            .build();
        let on_demand = node_pool("on-demand")
            .capacity_types(&["on-demand"])
            .build();
        let spot_c_or_r = node_pool("spot-c")
            .capacity_types(&["spot"])
            .require(labels::INSTANCE_CATEGORY, Operator::In, &["c", "r"])
            .build();
        let only_zone_b = node_pool("spot-b")
            .capacity_types(&["spot"])
            .require(labels::ZONE, Operator::In, &["zone-b"])
            .require(
                labels::INSTANCE_TYPE,
                Operator::In,
                &["m11.large", "m10.large", "m9.large"],
            )
            .build();
        let m_types = |indexes: std::ops::Range<u32>| -> Vec<String> {
            let mut names: Vec<String> = indexes.map(|index| format!("m{index}.large")).collect();
            names.sort();
            names
        };
        let cases: Vec<Case> = vec![
            (
                "ten of the twelve m types, cheapest first",
                vec![spot_m.clone()],
                Some(m_types(0..10)),
            ),
            (
                "no Spot pool: nothing to ask",
                vec![on_demand.clone()],
                None,
            ),
            (
                "one Spot type is too few (r has no Spot offering)",
                vec![spot_c_or_r.clone(), on_demand],
                None,
            ),
            (
                "pools together: c5 is the cheapest",
                vec![spot_m, spot_c_or_r],
                Some({
                    let mut names = m_types(0..9);
                    names.push("c5.large".to_string());
                    names.sort();
                    names
                }),
            ),
            (
                "a pool's zones bound its types' prices",
                vec![only_zone_b],
                Some(m_types(9..12)),
            ),
        ];
        for (name, pools, expected) in cases {
            let request = placement_score_request(&state(pools));
            assert_eq!(
                request.as_ref().map(|request| names(request)),
                expected
                    .as_ref()
                    .map(|names| names.iter().map(String::as_str).collect()),
                "{name}"
            );
            if let Some(request) = request {
                assert_eq!(request.target_capacity, 1, "{name}: no Spot node yet");
            }
        }
    }

    #[test]
    fn the_target_capacity_is_the_spot_fleet_rounded_up_to_a_power_of_two() {
        for (spot_nodes, target) in [(0, 1), (1, 1), (2, 2), (3, 4), (17, 32), (1000, 1024)] {
            assert_eq!(
                target_capacity(spot_nodes),
                target,
                "{spot_nodes} Spot nodes"
            );
        }
    }
}
