//! The order in which a launch tries a NodeClaim's offerings: reserved, then Spot, then
//! on-demand; on-demand by lowest price; Spot either by lowest price (plain Karpenter) or
//! price-capacity-optimized in spirit: the price weighed up by the pool's Spot-advisor
//! interruption band, by the zone's up-front Spot placement score, by the interruptions this
//! cluster saw lately at every level the offering belongs to (the offering, its family in its
//! zone, its zone: fading evidence, see [`crate::interruption_evidence`]; Spotter passes, for
//! the offering and its family, the evidence per running node beyond the rest of the
//! region's, so that a burst that hits every node alike moves no launch to a dearer type)
//! and by its recent insufficient-capacity answers, and weighed down by its depth (in how many
//! of the claim's zones the instance type can be had). Offerings of an avoided family or zone come after
//! every other of their capacity type. The cloud launches the first offering that has
//! capacity, so this order is the decision.
//!
//! The band and the depth are priors: region-wide, long-run averages that say nothing about
//! the claim. They may put a dearer offering before a cheaper one, but never before one that
//! is at most its price, has more room for the claim's pods and is no worse on what the
//! cluster knows now (interruption evidence, placement score, capacity failures, avoidance).
//! Such a cheaper, roomier offering "dominates" the other, and a dominated offering is ranked
//! at the weighed price of its dominators at least, after them. Room is counted in copies of
//! the claim's pods (their summed requests): the fewest times any resource they request fits
//! in the type's allocatable. Without it the band would buy a smaller node for more money, and
//! the pods that no longer fit it need another node later (on `interruption-storm.yaml` the
//! band chose `m5zn.6xlarge`, 24 vCPU at $0.3776/h, over `c7i-flex.8xlarge`, 32 vCPU at
//! $0.3764/h, and hundreds of small-node hours followed). The ranking has no claim requests
//! for a claim without pods nominated to it (a return-to-Spot probe): no dominance then.

use std::collections::HashMap;
use std::time::Duration;

use crate::instance_type::InstanceType;
use crate::interruption_evidence::{Evidence, instance_family};
use crate::offering::{CapacityType, Offering};
use crate::placement_scores::PlacementScores;
use crate::resources::Resources;
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
    /// received counts 1, fading; in the evidence Spotter passes, per running node beyond the
    /// rest of the region's, see
    /// [`crate::interruption_evidence::Evidence::beyond_the_region`]).
    pub per_offering_evidence: f64,
    /// Added per unit of evidence against the offering's instance family in its zone (read
    /// as the offering's).
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
    /// What it was ranked by (the price, weighed for Spot; at least its dominators' score).
    pub score: f64,
}

/// What the ranking reads besides the offerings.
#[derive(Clone, Copy, Debug)]
pub struct RankingContext<'a> {
    /// How Spot is ordered.
    pub spot: &'a SpotRanking,
    /// The interruption evidence at every level, now (as counted, or as
    /// [`crate::interruption_evidence::Evidence::beyond_the_region`] reads it).
    pub evidence: &'a Evidence,
    /// The cloud's up-front Spot placement scores.
    pub placement: &'a PlacementScores,
    /// Insufficient-capacity history.
    pub unavailable: &'a UnavailableOfferings,
    /// The summed requests of the claim's pods, when known: what room is counted in.
    pub claim_requests: Option<&'a Resources>,
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

/// Orders `candidates` (instance type and one of its offerings) for a launch.
pub fn rank<'a>(
    candidates: impl IntoIterator<Item = (&'a InstanceType, &'a Offering)>,
    context: &RankingContext<'_>,
) -> Vec<RankedOffering> {
    let candidates: Vec<(&InstanceType, &Offering)> = candidates.into_iter().collect();
    let mut zones_per_type: HashMap<(&str, CapacityType), u32> = HashMap::new();
    for (instance_type, offering) in &candidates {
        *zones_per_type
            .entry((instance_type.name.as_str(), offering.capacity_type))
            .or_default() += 1;
    }
    let mut scored: Vec<Scored> = candidates
        .iter()
        .map(|(instance_type, offering)| {
            let name = instance_type.name.as_str();
            let avoided = context
                .unavailable
                .avoids(name, offering.capacity_type, &offering.zone);
            let mut scored = Scored {
                ranked: RankedOffering {
                    instance_type: name.to_string(),
                    capacity_type: offering.capacity_type,
                    zone: offering.zone.clone(),
                    price_per_hour: offering.price_per_hour,
                    score: offering.price_per_hour,
                },
                avoided,
                known_now: 0.0,
                room: None,
                dominators: 0,
            };
            if let (CapacityType::Spot, SpotRanking::PriceCapacityOptimized(weights)) =
                (offering.capacity_type, context.spot)
            {
                let zones = zones_per_type
                    .get(&(name, offering.capacity_type))
                    .copied()
                    .unwrap_or(1);
                let band = usize::from(offering.interruption_band.unwrap_or(2).min(4));
                let prior = weights.band[band]
                    - weights.per_extra_zone * f64::from(zones.saturating_sub(1));
                scored.known_now = known_now(name, offering, weights, context);
                scored.ranked.score =
                    offering.price_per_hour * (1.0 + prior + scored.known_now).max(0.1);
                scored.room = context
                    .claim_requests
                    .and_then(|requests| room(&instance_type.allocatable, requests));
            }
            scored
        })
        .collect();
    raise_dominated(&mut scored);
    scored.sort_by(|left, right| {
        left.ranked
            .capacity_type
            .cmp(&right.ranked.capacity_type)
            .then_with(|| left.avoided.cmp(&right.avoided))
            .then(left.ranked.score.total_cmp(&right.ranked.score))
            .then(left.dominators.cmp(&right.dominators))
            .then_with(|| left.ranked.instance_type.cmp(&right.ranked.instance_type))
            .then_with(|| left.ranked.zone.cmp(&right.ranked.zone))
    });
    scored.into_iter().map(|scored| scored.ranked).collect()
}

/// How many copies of `requests` fit in `allocatable`: the fewest times any requested
/// resource fits. `None` when nothing is requested.
pub fn room(allocatable: &Resources, requests: &Resources) -> Option<f64> {
    requests
        .iter()
        .filter(|(_, requested)| *requested > 0)
        .map(|(name, requested)| allocatable.get(name).max(0) as f64 / requested as f64)
        .reduce(f64::min)
}

/// An offering being ranked, with what dominance compares.
struct Scored {
    ranked: RankedOffering,
    avoided: bool,
    /// The share of the price added by what the cluster knows now (evidence, placement,
    /// failures): everything but the priors.
    known_now: f64,
    /// Copies of the claim's pods the type holds (Spot under price-capacity-optimized only).
    room: Option<f64>,
    /// How many offerings dominate it (each of them dominates fewer).
    dominators: usize,
}

/// The share of the price that what the cluster knows now adds to a Spot offering.
fn known_now(
    instance_type: &str,
    offering: &Offering,
    weights: &RankingWeights,
    context: &RankingContext<'_>,
) -> f64 {
    let evidence = context.evidence;
    let capacity_type = offering.capacity_type;
    let zone = offering.zone.as_str();
    let interruptions = weights.per_offering_evidence
        * evidence.offering(instance_type, capacity_type, zone)
        + weights.per_family_evidence
            * evidence.family_in_zone(instance_family(instance_type), capacity_type, zone)
        + weights.per_zone_evidence * evidence.zone(capacity_type, zone);
    let placement =
        weights.per_placement_shortfall * f64::from(context.placement.spot_shortfall(zone));
    let failures = context
        .unavailable
        .record(instance_type, capacity_type, zone)
        .map_or(0, |record| record.strikes);
    interruptions + placement + weights.per_capacity_failure * f64::from(failures)
}

/// Whether `winner` dominates `loser`: same capacity type and avoidance, at most its price,
/// more room, and no worse on what is known now.
fn dominates(winner: &Scored, loser: &Scored) -> bool {
    match (winner.room, loser.room) {
        (Some(winner_room), Some(loser_room)) => {
            winner.ranked.capacity_type == loser.ranked.capacity_type
                && winner.avoided == loser.avoided
                && winner.ranked.price_per_hour <= loser.ranked.price_per_hour
                && winner_room > loser_room
                && winner.known_now <= loser.known_now
        }
        _ => false,
    }
}

/// Raises every dominated offering's score to its dominators' highest, and counts them.
/// Dominance is transitive (each condition is), so one pass over the pairs is enough.
fn raise_dominated(scored: &mut [Scored]) {
    for loser in 0..scored.len() {
        let mut highest = scored[loser].ranked.score;
        let mut dominators = 0;
        for winner in 0..scored.len() {
            if dominates(&scored[winner], &scored[loser]) {
                highest = highest.max(scored[winner].ranked.score);
                dominators += 1;
            }
        }
        scored[loser].ranked.score = highest;
        scored[loser].dominators = dominators;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::instance_type;
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

    /// An instance type with `vcpus` and 2 GiB per vCPU (its offerings come with the pair).
    fn sized(name: &str, vcpus: i64) -> InstanceType {
        instance_type(name)
            .cpu(vcpus)
            .memory_gib(2 * vcpus)
            .max_pods(110)
            .build()
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
        let (m5, c5, r5) = (
            sized("m5.large", 2),
            sized("c5.large", 2),
            sized("r5.large", 2),
        );
        let candidates = [
            (&m5, &on_demand_dear),
            (&c5, &cheap_hot),
            (&m5, &on_demand_cheap),
            (&r5, &calm),
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
                claim_requests: None,
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
        let (m5, c5, r5) = (
            sized("m5.large", 2),
            sized("c5.large", 2),
            sized("r5.large", 2),
        );
        let candidates = [
            (&m5, &cheap),
            (&c5, &same_zone_other_family),
            (&r5, &other_zone),
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
                claim_requests: None,
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
        let m5 = sized("m5.large", 2);
        let candidates = [(&m5, &cheap), (&m5, &dearer)];
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
                claim_requests: None,
                now,
            };
            assert_eq!(order(&rank(candidates, &context))[0], first, "at {now:?}");
        }
    }

    #[test]
    fn the_band_never_buys_less_room_for_more_money() {
        let types = [
            instance_type("c7i-flex.8xlarge").cpu(32).memory_gib(64),
            instance_type("m5zn.6xlarge").cpu(24).memory_gib(96),
            instance_type("c6i.8xlarge").cpu(32).memory_gib(64),
            instance_type("c5.4xlarge").cpu(16).memory_gib(32),
        ]
        .map(|builder| builder.max_pods(110).build());
        let offering_of = |name: &str, price: f64, band: u8| {
            let instance_type = types.iter().find(|candidate| candidate.name == name);
            (
                instance_type,
                offering(CapacityType::Spot, "c", price, band),
            )
        };
        let storm_pods = crate::builders::pod("p").cpu("10").memory("20Gi").build();
        let memory_pods = crate::builders::pod("p").cpu("2").memory("16Gi").build();
        // (name, ranking, claim requests, offerings (type, price, band), family interrupted
        //  in c, expected order)
        type Case<'a> = (
            &'a str,
            SpotRanking,
            Option<&'a Resources>,
            Vec<(&'a str, f64, u8)>,
            Option<&'a str>,
            Vec<&'a str>,
        );
        let weighed = || SpotRanking::PriceCapacityOptimized(RankingWeights::default());
        let storm = vec![("m5zn.6xlarge", 0.3776, 0), ("c7i-flex.8xlarge", 0.3764, 3)];
        let cases: Vec<Case> = vec![
            (
                "the storm's pair: cheaper and roomier goes first despite its band",
                weighed(),
                Some(&storm_pods.requests),
                storm.clone(),
                None,
                vec!["c7i-flex.8xlarge", "m5zn.6xlarge"],
            ),
            (
                "no claim requests: the band decides",
                weighed(),
                None,
                storm.clone(),
                None,
                vec!["m5zn.6xlarge", "c7i-flex.8xlarge"],
            ),
            (
                "memory-bound pods: the 96 GiB type has more room, the band decides",
                weighed(),
                Some(&memory_pods.requests),
                storm.clone(),
                None,
                vec!["m5zn.6xlarge", "c7i-flex.8xlarge"],
            ),
            (
                "the same room for a little more: the band may buy the calmer pool",
                weighed(),
                Some(&storm_pods.requests),
                vec![("c7i-flex.8xlarge", 0.3764, 3), ("c6i.8xlarge", 0.3800, 0)],
                None,
                vec!["c6i.8xlarge", "c7i-flex.8xlarge"],
            ),
            (
                "the roomier family interrupted here: evidence still rules",
                weighed(),
                Some(&storm_pods.requests),
                storm.clone(),
                Some("c7i-flex.4xlarge"),
                vec!["m5zn.6xlarge", "c7i-flex.8xlarge"],
            ),
            (
                "a chain: each is dominated by the ones before it",
                weighed(),
                Some(&storm_pods.requests),
                vec![
                    ("c5.4xlarge", 0.3770, 0),
                    ("m5zn.6xlarge", 0.3766, 2),
                    ("c7i-flex.8xlarge", 0.3764, 4),
                ],
                None,
                vec!["c7i-flex.8xlarge", "m5zn.6xlarge", "c5.4xlarge"],
            ),
            (
                "lowest price: unchanged",
                SpotRanking::LowestPrice,
                Some(&storm_pods.requests),
                vec![("c6i.8xlarge", 0.3800, 0), ("c7i-flex.8xlarge", 0.3764, 3)],
                None,
                vec!["c7i-flex.8xlarge", "c6i.8xlarge"],
            ),
        ];
        let placement = PlacementScores::default();
        let cache = UnavailableOfferings::new();
        let now = Duration::from_secs(3600);
        for (name, spot, claim_requests, offerings, interrupted, expected) in cases {
            let offerings: Vec<(Option<&InstanceType>, Offering)> = offerings
                .iter()
                .map(|(instance_type, price, band)| offering_of(instance_type, *price, *band))
                .collect();
            let candidates: Vec<(&InstanceType, &Offering)> = offerings
                .iter()
                .filter_map(|(instance_type, offering)| {
                    instance_type.map(|found| (found, offering))
                })
                .collect();
            assert_eq!(candidates.len(), offerings.len(), "{name}: unknown type");
            let mut history = InterruptionHistory::new(Duration::from_secs(6 * 3600));
            if let Some(instance_type) = interrupted {
                history.record(
                    (instance_type, CapacityType::Spot, "c"),
                    "batch",
                    "i-1",
                    now,
                );
            }
            let evidence = Evidence::gather(&history, now, &HalfLives::default());
            let context = RankingContext {
                spot: &spot,
                evidence: &evidence,
                placement: &placement,
                unavailable: &cache,
                claim_requests,
                now,
            };
            let found: Vec<String> = rank(candidates, &context)
                .into_iter()
                .map(|ranked| ranked.instance_type)
                .collect();
            assert_eq!(found, expected, "{name}");
        }
    }

    #[test]
    fn room_counts_copies_of_the_claims_pods() {
        let allocatable = |cpu: i64, memory_gib: i64| Resources {
            cpu_millicores: cpu * 1000,
            memory_bytes: memory_gib << 30,
            pods: 110,
            ephemeral_storage_bytes: 0,
            extended: Vec::new(),
        };
        let pods = |cpu: &str, memory: &str| {
            crate::builders::pod("p")
                .cpu(cpu)
                .memory(memory)
                .build()
                .requests
        };
        // (allocatable, requests, expected room)
        let cases = [
            (allocatable(32, 64), pods("4", "4Gi"), Some(8.0)),
            (allocatable(32, 64), pods("1", "16Gi"), Some(4.0)),
            (allocatable(32, 64), Resources::default(), None),
            (allocatable(0, 64), pods("1", "1Gi"), Some(0.0)),
        ];
        for (allocatable, requests, expected) in cases {
            assert_eq!(room(&allocatable, &requests), expected, "{requests:?}");
        }
    }
}
