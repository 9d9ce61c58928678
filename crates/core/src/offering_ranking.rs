//! The order in which a launch tries a NodeClaim's offerings: reserved, then Spot, then
//! on-demand; on-demand by lowest price; Spot either by lowest price (plain Karpenter) or
//! price-capacity-optimized in spirit: the price weighed up by the pool's Spot-advisor
//! interruption band, by the zone's up-front Spot placement score, by the interruptions this
//! cluster saw lately at every level the offering belongs to (the offering, its family in its
//! zone, its zone: fading evidence, see [`crate::interruption_evidence`]) and by its recent
//! insufficient-capacity answers, and weighed down by its depth (in how many of the claim's
//! zones the instance type can be had). Offerings of an avoided family or zone come after
//! every other of their capacity type. The cloud launches the first offering that has
//! capacity, so this order is the decision.

use std::collections::HashMap;
use std::time::Duration;

use crate::interruption_evidence::{Evidence, instance_family};
use crate::offering::{CapacityType, Offering};
use crate::placement_scores::PlacementScores;
use crate::unavailable_offerings::UnavailableOfferings;

/// How Spot offerings are ordered.
#[derive(Clone, Debug, PartialEq)]
pub enum SpotRanking {
    /// Cheapest first (Karpenter's launch order as the simulated cloud sees it).
    LowestPrice,
    /// Cheapest effective price first, with these weights.
    PriceCapacityOptimized(RankingWeights),
}

/// The weights of [`SpotRanking::PriceCapacityOptimized`]: each adds a share of the price.
#[derive(Clone, Debug, PartialEq)]
pub struct RankingWeights {
    /// Added per Spot-advisor band (`<5%` … `>20%` interrupted per month); an unknown band
    /// counts as the middle one.
    pub band: [f64; 5],
    /// Added per unit of interruption evidence against the offering (one interruption just
    /// received counts 1, fading).
    pub per_offering_evidence: f64,
    /// Added per unit of evidence against the offering's instance family in its zone.
    pub per_family_evidence: f64,
    /// Added per unit of evidence against the offering's zone (for its capacity type).
    pub per_zone_evidence: f64,
    /// Added per point the zone's Spot placement score is below the best (10).
    pub per_placement_shortfall: f64,
    /// Added per consecutive insufficient-capacity answer the cache still remembers.
    pub per_capacity_failure: f64,
    /// Taken off per further zone the instance type is offered in by the claim (deeper pools).
    pub per_extra_zone: f64,
}

/// One offering a launch may try, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct RankedOffering {
    /// The instance type.
    pub instance_type: String,
    /// The capacity type.
    pub capacity_type: CapacityType,
    /// The zone.
    pub zone: String,
    /// USD per hour.
    pub price_per_hour: f64,
    /// What it was ranked by (the price, weighed for Spot).
    pub score: f64,
}

/// What the ranking reads besides the offerings.
#[derive(Clone, Copy, Debug)]
pub struct RankingContext<'a> {
    /// How Spot is ordered.
    pub spot: &'a SpotRanking,
    /// The interruption evidence at every level, now.
    pub evidence: &'a Evidence,
    /// The cloud's up-front Spot placement scores.
    pub placement: &'a PlacementScores,
    /// Insufficient-capacity history.
    pub unavailable: &'a UnavailableOfferings,
    /// Now.
    pub now: Duration,
}

impl Default for RankingWeights {
    fn default() -> Self {
        Self {
            band: [0.0, 0.03, 0.06, 0.10, 0.15],
            per_offering_evidence: 0.25,
            per_family_evidence: 0.05,
            per_zone_evidence: 0.03,
            per_placement_shortfall: 0.02,
            per_capacity_failure: 0.05,
            per_extra_zone: 0.01,
        }
    }
}

/// Orders `candidates` (instance type name and offering) for a launch.
pub fn rank<'a>(
    candidates: impl IntoIterator<Item = (&'a str, &'a Offering)>,
    context: &RankingContext<'_>,
) -> Vec<RankedOffering> {
    let candidates: Vec<(&str, &Offering)> = candidates.into_iter().collect();
    let mut zones_per_type: HashMap<(&str, CapacityType), u32> = HashMap::new();
    for (instance_type, offering) in &candidates {
        *zones_per_type
            .entry((instance_type, offering.capacity_type))
            .or_default() += 1;
    }
    let mut ranked: Vec<RankedOffering> = candidates
        .iter()
        .map(|(instance_type, offering)| {
            let score = match (offering.capacity_type, context.spot) {
                (CapacityType::Spot, SpotRanking::PriceCapacityOptimized(weights)) => {
                    let band = usize::from(offering.interruption_band.unwrap_or(2).min(4));
                    let evidence = context.evidence;
                    let capacity_type = offering.capacity_type;
                    let zone = offering.zone.as_str();
                    let interruptions = weights.per_offering_evidence
                        * evidence.offering(instance_type, capacity_type, zone)
                        + weights.per_family_evidence
                            * evidence.family_in_zone(
                                instance_family(instance_type),
                                capacity_type,
                                zone,
                            )
                        + weights.per_zone_evidence * evidence.zone(capacity_type, zone);
                    let placement = weights.per_placement_shortfall
                        * f64::from(context.placement.spot_shortfall(zone));
                    let failures = context
                        .unavailable
                        .record(instance_type, offering.capacity_type, &offering.zone)
                        .map_or(0, |record| record.strikes);
                    let zones = zones_per_type
                        .get(&(*instance_type, offering.capacity_type))
                        .copied()
                        .unwrap_or(1);
                    let weight = 1.0
                        + weights.band[band]
                        + interruptions
                        + placement
                        + weights.per_capacity_failure * f64::from(failures)
                        - weights.per_extra_zone * f64::from(zones.saturating_sub(1));
                    offering.price_per_hour * weight.max(0.1)
                }
                _ => offering.price_per_hour,
            };
            RankedOffering {
                instance_type: (*instance_type).to_string(),
                capacity_type: offering.capacity_type,
                zone: offering.zone.clone(),
                price_per_hour: offering.price_per_hour,
                score,
            }
        })
        .collect();
    let avoided = |offering: &RankedOffering| {
        context.unavailable.avoids(
            &offering.instance_type,
            offering.capacity_type,
            &offering.zone,
        )
    };
    ranked.sort_by(|left, right| {
        left.capacity_type
            .cmp(&right.capacity_type)
            .then_with(|| avoided(left).cmp(&avoided(right)))
            .then(left.score.total_cmp(&right.score))
            .then_with(|| left.instance_type.cmp(&right.instance_type))
            .then_with(|| left.zone.cmp(&right.zone))
    });
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interruption_evidence::HalfLives;
    use crate::interruption_history::InterruptionHistory;
    use crate::unavailable_offerings::AvoidLevel;

    fn offering(capacity_type: CapacityType, zone: &str, price: f64, band: u8) -> Offering {
        Offering {
            capacity_type,
            zone: zone.into(),
            zone_id: None,
            price_per_hour: price,
            price_estimated: false,
            available: true,
            interruption_band: Some(band),
        }
    }

    fn order(ranked: &[RankedOffering]) -> Vec<String> {
        ranked
            .iter()
            .map(|offering| {
                format!(
                    "{}:{}:{}",
                    offering.capacity_type, offering.instance_type, offering.zone
                )
            })
            .collect()
    }

    #[test]
    fn ranking_orders_capacity_types_then_weighed_prices() {
        let cheap_hot = offering(CapacityType::Spot, "a", 0.030, 4);
        let calm = offering(CapacityType::Spot, "a", 0.032, 0);
        let on_demand_cheap = offering(CapacityType::OnDemand, "a", 0.09, 0);
        let on_demand_dear = offering(CapacityType::OnDemand, "b", 0.10, 0);
        let candidates = [
            ("m5.large", &on_demand_dear),
            ("c5.large", &cheap_hot),
            ("m5.large", &on_demand_cheap),
            ("r5.large", &calm),
        ];
        let evidence = Evidence::default();
        let placement = PlacementScores::default();
        let cache = UnavailableOfferings::new();
        let cases = [
            (
                SpotRanking::LowestPrice,
                vec![
                    "spot:c5.large:a",
                    "spot:r5.large:a",
                    "on-demand:m5.large:a",
                    "on-demand:m5.large:b",
                ],
            ),
            (
                SpotRanking::PriceCapacityOptimized(RankingWeights::default()),
                vec![
                    "spot:r5.large:a",
                    "spot:c5.large:a",
                    "on-demand:m5.large:a",
                    "on-demand:m5.large:b",
                ],
            ),
        ];
        for (spot, expected) in cases {
            let context = RankingContext {
                spot: &spot,
                evidence: &evidence,
                placement: &placement,
                unavailable: &cache,
                now: Duration::ZERO,
            };
            assert_eq!(order(&rank(candidates, &context)), expected, "{spot:?}");
        }
    }

    #[test]
    fn evidence_at_every_level_and_placement_rank_spot_down() {
        // m5.large in a is the cheapest; each case adds what speaks against it.
        let cheap = offering(CapacityType::Spot, "a", 0.030, 0);
        let same_zone_other_family = offering(CapacityType::Spot, "a", 0.0305, 0);
        let other_zone = offering(CapacityType::Spot, "b", 0.0330, 0);
        let candidates = [
            ("m5.large", &cheap),
            ("c5.large", &same_zone_other_family),
            ("r5.large", &other_zone),
        ];
        let spot = SpotRanking::PriceCapacityOptimized(RankingWeights::default());
        let half_lives = HalfLives::default();
        let hour = Duration::from_secs(3600);
        // (name, interruptions (instance type, zone, minutes before now), placement of a,
        //  avoided, expected order)
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a str, u64)>,
            Option<u8>,
            Option<AvoidLevel>,
            [&'a str; 3],
        );
        let cases: Vec<Case> = vec![
            (
                "nothing known",
                vec![],
                None,
                None,
                ["m5.large:a", "c5.large:a", "r5.large:b"],
            ),
            (
                "the offering interrupted: its family and zone follow",
                vec![("m5.large", "a", 0)],
                None,
                None,
                ["c5.large:a", "r5.large:b", "m5.large:a"],
            ),
            (
                "its family interrupted in its zone (another size)",
                vec![("m5.xlarge", "a", 0)],
                None,
                None,
                ["c5.large:a", "m5.large:a", "r5.large:b"],
            ),
            (
                "its zone interrupted (other families)",
                vec![("t3.large", "a", 0); 5],
                None,
                None,
                ["r5.large:b", "m5.large:a", "c5.large:a"],
            ),
            (
                "the zone interrupted long ago: faded",
                vec![("t3.large", "a", 24 * 60); 5],
                None,
                None,
                ["m5.large:a", "c5.large:a", "r5.large:b"],
            ),
            (
                "a low placement score in a",
                vec![],
                Some(1),
                None,
                ["r5.large:b", "m5.large:a", "c5.large:a"],
            ),
            (
                "the family avoided in a: last",
                vec![],
                None,
                Some(AvoidLevel::FamilyInZone {
                    family: "m5".into(),
                }),
                ["c5.large:a", "r5.large:b", "m5.large:a"],
            ),
            (
                "the zone avoided: its offerings last",
                vec![],
                None,
                Some(AvoidLevel::Zone),
                ["r5.large:b", "m5.large:a", "c5.large:a"],
            ),
        ];
        let now = 30 * hour;
        for (name, interruptions, score, avoided, expected) in cases {
            let mut history = InterruptionHistory::new(48 * hour);
            for (index, (instance_type, zone, minutes_ago)) in interruptions.iter().enumerate() {
                history.record(
                    (instance_type, CapacityType::Spot, zone),
                    "batch",
                    &format!("i-{index}"),
                    now - Duration::from_secs(minutes_ago * 60),
                );
            }
            let evidence = Evidence::gather(&history, now, &half_lives);
            let mut placement = PlacementScores::default();
            if let Some(score) = score {
                placement.set_spot("a", score);
            }
            let mut cache = UnavailableOfferings::new();
            if let Some(level) = avoided {
                cache.avoid_until(level, CapacityType::Spot, "a", now + hour);
            }
            let context = RankingContext {
                spot: &spot,
                evidence: &evidence,
                placement: &placement,
                unavailable: &cache,
                now,
            };
            let found: Vec<String> = rank(candidates, &context)
                .iter()
                .map(|ranked| format!("{}:{}", ranked.instance_type, ranked.zone))
                .collect();
            assert_eq!(found, expected, "{name}");
        }
    }

    #[test]
    fn recent_interruptions_rank_an_offering_down_until_forgotten() {
        let cheap = offering(CapacityType::Spot, "a", 0.030, 0);
        let dearer = offering(CapacityType::Spot, "b", 0.036, 0);
        let candidates = [("m5.large", &cheap), ("m5.large", &dearer)];
        let mut history = InterruptionHistory::new(Duration::from_secs(6 * 3600));
        history.record(
            ("m5.large", CapacityType::Spot, "a"),
            "batch",
            "i-1",
            Duration::ZERO,
        );
        let cache = UnavailableOfferings::new();
        let placement = PlacementScores::default();
        let spot = SpotRanking::PriceCapacityOptimized(RankingWeights::default());
        let cases = [
            (Duration::from_secs(60), "spot:m5.large:b"),
            (Duration::from_secs(5 * 3600), "spot:m5.large:a"),
        ];
        for (now, first) in cases {
            let evidence = Evidence::gather(&history, now, &HalfLives::default());
            let context = RankingContext {
                spot: &spot,
                evidence: &evidence,
                placement: &placement,
                unavailable: &cache,
                now,
            };
            assert_eq!(order(&rank(candidates, &context))[0], first, "at {now:?}");
        }
    }
}
