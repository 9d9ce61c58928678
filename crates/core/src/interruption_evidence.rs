//! What the interruption history says at each level where Spot interruptions cluster: the
//! offering (instance type × zone × capacity type), the instance family in a zone and the zone
//! (per capacity type). Each interruption counts 1 when it arrives and half as much every
//! half-life of its level after, so that evidence fades and a pool, family or zone that
//! stopped reclaiming nodes comes back on its own. Evidence is read against exposure, the Spot
//! nodes each place runs: a burst that reclaims the same share of nodes everywhere says
//! nothing about where to launch, however many nodes it took from the busiest place. The
//! ranking weighs an offering down by the evidence at every level it belongs to, per running
//! node beyond the region's for the offering and its family ([`Evidence::beyond_the_region`]);
//! [`avoid_decisions`] says when the
//! evidence at the family or zone level is strong enough, and its own, to avoid the whole
//! family or zone (Spot only), and until when. Time is passed in.
//!
//! There is no NodePool level. EC2 reclaims Spot capacity by capacity pool (instance type ×
//! zone), and related pools fail together (a family, a zone): those are the places a launch
//! can move away from, and the levels above follow them. A NodePool's interruptions are only
//! the sum of its nodes' at those levels, so they name no place to avoid; the one decision
//! they could drive, moving a workload to another NodePool or to on-demand, is the user's
//! (NodePool weights, a fallback pool) and the insufficient-capacity fallback's, not a guess
//! from interruption counts.

use std::collections::HashMap;
use std::time::Duration;

use crate::interruption_history::InterruptionHistory;
use crate::offering::CapacityType;
use crate::placement_scores::PlacementScores;
use crate::unavailable_offerings::AvoidLevel;

/// How fast evidence fades at each level: an interruption weighs half as much after one
/// half-life.
#[derive(Clone, Debug, PartialEq)]
pub struct HalfLives {
    /// One offering.
    pub offering: Duration,
    /// One instance family in one zone.
    pub family_in_zone: Duration,
    /// One zone, per capacity type.
    pub zone: Duration,
}

/// When the evidence at the family or zone level makes Spotter avoid the family or zone.
#[derive(Clone, Debug, PartialEq)]
pub struct AvoidRules {
    /// Evidence of one family in one zone from which it is avoided there.
    pub family_in_zone_at: f64,
    /// Evidence of one zone from which it is avoided.
    pub zone_at: f64,
    /// ... when its evidence per running node is also at least this many times the evidence
    /// per running node of the same family (or of Spot) in the other zones taken together: a
    /// crunch across the region (every node hit alike) moves nothing, a crunch in one zone
    /// does. Zones that run none of the family count for nothing either way (no nodes, no
    /// evidence of calm).
    pub dominance: f64,
    /// The avoidance lasts until the evidence, fading, falls to this.
    pub release_at: f64,
    /// A zone whose up-front placement score is at or below this needs half the evidence.
    pub low_placement_score: u8,
}

/// The evidence at every level at one time.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    offerings: HashMap<(String, CapacityType, String), f64>,
    families: HashMap<(String, CapacityType, String), f64>,
    zones: HashMap<(CapacityType, String), f64>,
}

/// How many Spot nodes each zone, each instance family in each zone and each offering runs
/// (nodes being interrupted included): what the evidence of one place is compared per node
/// against the rest of the region's, so that a burst that hits every node alike (a
/// region-wide crunch) singles out no place, however busy.
#[derive(Clone, Debug, Default)]
pub struct Exposure {
    zones: HashMap<String, f64>,
    families: HashMap<(String, String), f64>,
    offerings: HashMap<(String, String), f64>,
    /// Nodes per instance type and per family, whatever the zone.
    instance_types: HashMap<String, f64>,
    family_totals: HashMap<String, f64>,
}

impl Exposure {
    /// Counts one running node of `instance_type` in `zone`.
    pub fn add(&mut self, instance_type: &str, zone: &str) {
        *self.zones.entry(zone.to_string()).or_default() += 1.0;
        *self
            .families
            .entry((instance_family(instance_type).to_string(), zone.to_string()))
            .or_default() += 1.0;
        *self
            .offerings
            .entry((instance_type.to_string(), zone.to_string()))
            .or_default() += 1.0;
        *self
            .instance_types
            .entry(instance_type.to_string())
            .or_default() += 1.0;
        *self
            .family_totals
            .entry(instance_family(instance_type).to_string())
            .or_default() += 1.0;
    }

    /// The nodes of an instance type running in a zone.
    pub fn offering(&self, instance_type: &str, zone: &str) -> f64 {
        self.offerings
            .get(&(instance_type.to_string(), zone.to_string()))
            .copied()
            .unwrap_or(0.0)
    }

    /// The nodes running in a zone.
    pub fn zone(&self, zone: &str) -> f64 {
        self.zones.get(zone).copied().unwrap_or(0.0)
    }

    /// The nodes of a family running in a zone.
    pub fn family_in_zone(&self, family: &str, zone: &str) -> f64 {
        self.families
            .get(&(family.to_string(), zone.to_string()))
            .copied()
            .unwrap_or(0.0)
    }
}

/// A family or zone to avoid, with its evidence and until when.
#[derive(Clone, Debug, PartialEq)]
pub struct AvoidDecision {
    /// What is avoided.
    pub level: AvoidLevel,
    /// The capacity type avoided.
    pub capacity_type: CapacityType,
    /// The zone.
    pub zone: String,
    /// The evidence that decided it.
    pub evidence: f64,
    /// Until when (the time the evidence, fading, falls to the release level).
    pub until: Duration,
}

impl Default for HalfLives {
    fn default() -> Self {
        Self {
            offering: Duration::from_secs(2 * 3600),
            family_in_zone: Duration::from_secs(3600),
            zone: Duration::from_secs(3 * 3600),
        }
    }
}

impl Default for AvoidRules {
    fn default() -> Self {
        Self {
            family_in_zone_at: 3.0,
            zone_at: 4.0,
            dominance: 3.0,
            release_at: 1.0,
            low_placement_score: 3,
        }
    }
}

impl Evidence {
    /// The evidence of `history` at `now`.
    pub fn gather(history: &InterruptionHistory, now: Duration, half_lives: &HalfLives) -> Self {
        let mut evidence = Self::default();
        for interruption in history.all() {
            let age = now.saturating_sub(interruption.at);
            let family = instance_family(&interruption.instance_type).to_string();
            *evidence
                .offerings
                .entry((
                    interruption.instance_type.clone(),
                    interruption.capacity_type,
                    interruption.zone.clone(),
                ))
                .or_default() += decay(age, half_lives.offering);
            *evidence
                .families
                .entry((
                    family,
                    interruption.capacity_type,
                    interruption.zone.clone(),
                ))
                .or_default() += decay(age, half_lives.family_in_zone);
            *evidence
                .zones
                .entry((interruption.capacity_type, interruption.zone.clone()))
                .or_default() += decay(age, half_lives.zone);
        }
        evidence
    }

    /// The Spot evidence per running node that singles out an offering or a family in a
    /// zone, what the ranking weighs: a place's evidence beyond its share of the rest of the
    /// region's (its running nodes, `exposure`, times the evidence per running node of the
    /// same instance type, or family, in the other zones), divided by its running nodes (one
    /// at least), never below 0. A burst that hits every Spot node alike, wherever it runs,
    /// leaves about nothing: the pools that run the most nodes are not its worst, only its
    /// busiest, and their raw counts would send the next launches to dearer types for hours.
    /// A pool whose nodes keep being reclaimed while the same type elsewhere lasts runs one
    /// node or none (its reclaimed nodes are gone), so it keeps about all of its evidence.
    ///
    /// The zone level keeps its count: it weighs every offering of a zone alike, so it moves
    /// no launch to a dearer type within the zone, only to other zones; and a zone whose
    /// cheapest pool keeps reclaiming nodes is a zone where launches cost more, which a
    /// count per node across its other, calm nodes would hide (on `hot-pool.yaml` that cost
    /// Spotter 1%). On-demand evidence is kept as it is.
    pub fn beyond_the_region(&self, exposure: &Exposure) -> Self {
        Self {
            offerings: beyond_the_region(
                &self.offerings,
                |(instance_type, capacity_type, zone)| {
                    (*capacity_type == CapacityType::Spot).then(|| Kind {
                        name: instance_type.clone(),
                        nodes_here: exposure.offering(instance_type, zone),
                        nodes: lookup(&exposure.instance_types, instance_type),
                    })
                },
            ),
            families: beyond_the_region(&self.families, |(family, capacity_type, zone)| {
                (*capacity_type == CapacityType::Spot).then(|| Kind {
                    name: family.clone(),
                    nodes_here: exposure.family_in_zone(family, zone),
                    nodes: lookup(&exposure.family_totals, family),
                })
            }),
            zones: self.zones.clone(),
        }
    }

    /// The evidence against one offering.
    pub fn offering(&self, instance_type: &str, capacity_type: CapacityType, zone: &str) -> f64 {
        self.offerings
            .get(&(instance_type.to_string(), capacity_type, zone.to_string()))
            .copied()
            .unwrap_or(0.0)
    }

    /// The evidence against an instance family in a zone.
    pub fn family_in_zone(&self, family: &str, capacity_type: CapacityType, zone: &str) -> f64 {
        self.families
            .get(&(family.to_string(), capacity_type, zone.to_string()))
            .copied()
            .unwrap_or(0.0)
    }

    /// The evidence against a zone, for one capacity type.
    pub fn zone(&self, capacity_type: CapacityType, zone: &str) -> f64 {
        self.zones
            .get(&(capacity_type, zone.to_string()))
            .copied()
            .unwrap_or(0.0)
    }
}

/// The instance family of an instance type name: what comes before the first dot
/// (`c7i-flex.large` → `c7i-flex`), as Karpenter's `karpenter.k8s.aws/instance-family` label.
pub fn instance_family(instance_type: &str) -> &str {
    instance_type
        .split_once('.')
        .map_or(instance_type, |(family, _)| family)
}

/// How much an interruption `age` old still weighs: 1 when new, halving every `half_life`.
pub fn decay(age: Duration, half_life: Duration) -> f64 {
    if half_life.is_zero() {
        return if age.is_zero() { 1.0 } else { 0.0 };
    }
    0.5f64.powf(age.as_secs_f64() / half_life.as_secs_f64())
}

/// What to avoid after an interruption of `offering` (instance type, capacity type, zone):
/// its family in its zone and its zone, each when the evidence there reaches its threshold and,
/// per running node (`exposure`), dominates the same in the other `zones` (Spot only:
/// on-demand is never avoided). Each lasts until its evidence, fading with its half-life,
/// falls to the release level.
#[allow(clippy::too_many_arguments)]
pub fn avoid_decisions(
    evidence: &Evidence,
    offering: (&str, CapacityType, &str),
    zones: &[&str],
    exposure: &Exposure,
    placement: &PlacementScores,
    rules: &AvoidRules,
    half_lives: &HalfLives,
    now: Duration,
) -> Vec<AvoidDecision> {
    let (instance_type, capacity_type, zone) = offering;
    if capacity_type != CapacityType::Spot {
        return Vec::new();
    }
    let scale = match placement.spot(zone) {
        Some(score) if score <= rules.low_placement_score => 0.5,
        _ => 1.0,
    };
    let family = instance_family(instance_type);
    let family_evidence = |other: &str| evidence.family_in_zone(family, capacity_type, other);
    let zone_evidence = |other: &str| evidence.zone(capacity_type, other);
    let family_nodes = |other: &str| exposure.family_in_zone(family, other);
    let zone_nodes = |other: &str| exposure.zone(other);
    let levels: [Level<'_>; 2] = [
        (
            AvoidLevel::FamilyInZone {
                family: family.to_string(),
            },
            rules.family_in_zone_at,
            half_lives.family_in_zone,
            &family_evidence,
            &family_nodes,
        ),
        (
            AvoidLevel::Zone,
            rules.zone_at,
            half_lives.zone,
            &zone_evidence,
            &zone_nodes,
        ),
    ];
    let mut decisions = Vec::new();
    for (level, threshold, half_life, evidence_in, nodes_in) in levels {
        let here = evidence_in(zone);
        if here < threshold * scale {
            continue;
        }
        let others = zones.iter().filter(|other| **other != zone);
        let evidence_elsewhere: f64 = others.clone().map(|other| evidence_in(other)).sum();
        let nodes_elsewhere: f64 = others.map(|other| nodes_in(other)).sum();
        let per_node_elsewhere = evidence_elsewhere / nodes_elsewhere.max(1.0);
        if evidence_in(zone) / nodes_in(zone).max(1.0) < rules.dominance * per_node_elsewhere {
            continue;
        }
        decisions.push(AvoidDecision {
            level,
            capacity_type,
            zone: zone.to_string(),
            evidence: here,
            until: now + fade_time(here, rules.release_at, half_life),
        });
    }
    decisions
}

/// A level to decide on: what it avoids, its threshold, its half-life, its evidence and its
/// running nodes in a zone.
type Level<'a> = (
    AvoidLevel,
    f64,
    Duration,
    &'a dyn Fn(&str) -> f64,
    &'a dyn Fn(&str) -> f64,
);

/// How long evidence `from` takes to fade to `to` with this half-life (zero when it is
/// there already).
pub fn fade_time(from: f64, to: f64, half_life: Duration) -> Duration {
    if from <= to || to <= 0.0 {
        return Duration::ZERO;
    }
    half_life.mul_f64((from / to).log2())
}

/// What a place is compared with: the kind of capacity it is (an instance type or a family),
/// its running nodes and the kind's running nodes in every zone.
struct Kind {
    /// The instance type or the family.
    name: String,
    /// Its running nodes in the place's zone.
    nodes_here: f64,
    /// Its running nodes in every zone.
    nodes: f64,
}

/// The evidence of each place beyond its share of its kind's elsewhere (see
/// [`Evidence::beyond_the_region`]). `kind_of` says what a place is compared with, or `None` to
/// keep its evidence as it is.
fn beyond_the_region<Place: Clone + Eq + std::hash::Hash>(
    evidence: &HashMap<Place, f64>,
    kind_of: impl Fn(&Place) -> Option<Kind>,
) -> HashMap<Place, f64> {
    let mut kind_evidence: HashMap<String, f64> = HashMap::new();
    let places: Vec<(&Place, f64, Option<Kind>)> = evidence
        .iter()
        .map(|(place, value)| {
            let kind = kind_of(place);
            if let Some(kind) = &kind {
                *kind_evidence.entry(kind.name.clone()).or_default() += value;
            }
            (place, *value, kind)
        })
        .collect();
    places
        .into_iter()
        .map(|(place, value, kind)| {
            let beyond = kind.map_or(value, |kind| {
                let evidence_elsewhere = (lookup(&kind_evidence, &kind.name) - value).max(0.0);
                let nodes_elsewhere = (kind.nodes - kind.nodes_here).max(1.0);
                (value - kind.nodes_here * evidence_elsewhere / nodes_elsewhere).max(0.0)
                    / kind.nodes_here.max(1.0)
            });
            (place.clone(), beyond)
        })
        .collect()
}

/// A count by name, 0 when absent.
fn lookup(counts: &HashMap<String, f64>, name: &str) -> f64 {
    counts.get(name).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn history(interruptions: &[(&str, &str, &str, u64)]) -> InterruptionHistory {
        let mut history = InterruptionHistory::new(24 * HOUR);
        for (index, (instance_type, zone, node_pool, minute)) in interruptions.iter().enumerate() {
            history.record(
                (instance_type, CapacityType::Spot, zone),
                node_pool,
                &format!("i-{index}"),
                MINUTE * (*minute as u32),
            );
        }
        history
    }

    #[test]
    fn evidence_at_each_level_fades_with_its_half_life() {
        let history = history(&[
            ("m5.large", "a", "batch", 0),
            ("m5.xlarge", "a", "batch", 0),
            ("c5.large", "a", "web", 0),
            ("m5.large", "b", "batch", 0),
        ]);
        let half_lives = HalfLives {
            offering: HOUR,
            family_in_zone: 30 * MINUTE,
            zone: 2 * HOUR,
        };
        // (now, level, expected)
        type Read = fn(&Evidence) -> f64;
        let cases: [(Duration, &str, Read, f64); 8] = [
            (
                Duration::ZERO,
                "offering",
                |e| e.offering("m5.large", CapacityType::Spot, "a"),
                1.0,
            ),
            (
                HOUR,
                "offering",
                |e| e.offering("m5.large", CapacityType::Spot, "a"),
                0.5,
            ),
            (
                Duration::ZERO,
                "family",
                |e| e.family_in_zone("m5", CapacityType::Spot, "a"),
                2.0,
            ),
            (
                HOUR,
                "family",
                |e| e.family_in_zone("m5", CapacityType::Spot, "a"),
                0.5,
            ),
            (
                Duration::ZERO,
                "zone",
                |e| e.zone(CapacityType::Spot, "a"),
                3.0,
            ),
            (2 * HOUR, "zone", |e| e.zone(CapacityType::Spot, "a"), 1.5),
            (
                4 * HOUR,
                "zone b",
                |e| e.zone(CapacityType::Spot, "b"),
                0.25,
            ),
            (
                Duration::ZERO,
                "on-demand",
                |e| e.zone(CapacityType::OnDemand, "a"),
                0.0,
            ),
        ];
        for (now, what, read, expected) in cases {
            let evidence = Evidence::gather(&history, now, &half_lives);
            let found = read(&evidence);
            assert!(
                (found - expected).abs() < 1e-9,
                "{what} at {now:?}: {found} (expected {expected})"
            );
        }
    }

    #[test]
    fn families_are_the_names_before_the_dot() {
        let cases = [
            ("c7i-flex.large", "c7i-flex"),
            ("m5.2xlarge", "m5"),
            ("odd", "odd"),
        ];
        for (instance_type, family) in cases {
            assert_eq!(instance_family(instance_type), family, "{instance_type}");
        }
    }

    #[test]
    fn a_family_or_zone_is_avoided_when_its_evidence_is_strong_and_its_own() {
        let zones = ["a", "b", "c"];
        let rules = AvoidRules::default();
        let half_lives = HalfLives::default();
        let many =
            |instance_type, zone, count: usize| vec![(instance_type, zone, "batch", 0u64); count];
        // (name, interruptions, running Spot nodes (type, zone, count), placement score of
        // zone a, expected avoidances)
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a str, &'a str, u64)>,
            Vec<(&'a str, &'a str, u32)>,
            u8,
            &'a [&'a str],
        );
        let cases: [Case; 8] = [
            (
                "two in a family: nothing",
                many("m5.large", "a", 2),
                vec![],
                10,
                &[],
            ),
            (
                "three in a family: the family",
                many("m5.large", "a", 3),
                vec![],
                10,
                &["family m5"],
            ),
            (
                "four across families in one zone: family and zone",
                [many("m5.large", "a", 3), many("c5.large", "a", 1)].concat(),
                vec![
                    ("m5.large", "a", 3),
                    ("c5.large", "a", 1),
                    ("m5.large", "b", 3),
                ],
                10,
                &["family m5", "zone"],
            ),
            (
                "the same everywhere: nothing (a region-wide crunch)",
                [
                    many("m5.large", "a", 4),
                    many("m5.large", "b", 4),
                    many("m5.large", "c", 4),
                ]
                .concat(),
                vec![],
                10,
                &[],
            ),
            (
                "a busy zone hit in proportion to its nodes: nothing (a region-wide burst)",
                [
                    many("m5.large", "a", 8),
                    many("m5.large", "b", 2),
                    many("m5.large", "c", 2),
                ]
                .concat(),
                vec![
                    ("m5.large", "a", 8),
                    ("m5.large", "b", 2),
                    ("m5.large", "c", 2),
                ],
                10,
                &[],
            ),
            (
                "the busiest zone hit as often per node as the other that runs the family: \
                 nothing (the zone that runs none of it is no evidence of calm)",
                [many("m5.large", "a", 6), many("m5.large", "b", 3)].concat(),
                vec![("m5.large", "a", 20), ("m5.large", "b", 20)],
                10,
                &[],
            ),
            (
                "two with a low placement score: the zone needs half",
                [many("m5.large", "a", 1), many("c5.large", "a", 1)].concat(),
                vec![],
                2,
                &["zone"],
            ),
            (
                "two with a good placement score: nothing",
                [many("m5.large", "a", 1), many("c5.large", "a", 1)].concat(),
                vec![],
                9,
                &[],
            ),
        ];
        for (name, interruptions, nodes, score, expected) in cases {
            let evidence = Evidence::gather(&history(&interruptions), Duration::ZERO, &half_lives);
            let mut exposure = Exposure::default();
            for (instance_type, zone, count) in nodes {
                for _ in 0..count {
                    exposure.add(instance_type, zone);
                }
            }
            let mut placement = PlacementScores::default();
            placement.set_spot("a", score);
            let decisions = avoid_decisions(
                &evidence,
                ("m5.large", CapacityType::Spot, "a"),
                &zones,
                &exposure,
                &placement,
                &rules,
                &half_lives,
                Duration::ZERO,
            );
            let found: Vec<String> = decisions
                .iter()
                .map(|decision| match &decision.level {
                    AvoidLevel::FamilyInZone { family } => format!("family {family}"),
                    AvoidLevel::Zone => "zone".to_string(),
                })
                .collect();
            assert_eq!(found, expected, "{name}");
        }
    }

    #[test]
    fn the_ranking_reads_the_evidence_per_node_beyond_the_rest_of_the_region() {
        let half_lives = HalfLives::default();
        let spot = CapacityType::Spot;
        let many =
            |instance_type, zone, count: usize| vec![(instance_type, zone, "batch", 0u64); count];
        // (name, interruptions just received, running Spot nodes (type, zone, count),
        //  expected (offering m5.large in a, family m5 in a, zone a: kept as counted))
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a str, &'a str, u64)>,
            Vec<(&'a str, &'a str, u32)>,
            (f64, f64, f64),
        );
        let cases: Vec<Case> = vec![
            (
                "nothing running anywhere: the whole evidence",
                many("m5.large", "a", 3),
                vec![],
                (3.0, 3.0, 3.0),
            ),
            (
                "every node hit alike (a region-wide burst): nothing",
                [many("m5.large", "a", 3), many("m5.large", "b", 3)].concat(),
                vec![("m5.large", "a", 10), ("m5.large", "b", 10)],
                (0.0, 0.0, 3.0),
            ),
            (
                "the busiest zone hit in proportion to its nodes: nothing",
                [many("m5.large", "a", 8), many("m5.large", "b", 2)].concat(),
                vec![("m5.large", "a", 40), ("m5.large", "b", 10)],
                (0.0, 0.0, 8.0),
            ),
            (
                "a zone hit beyond its share: the excess per running node",
                [many("m5.large", "a", 4), many("m5.large", "b", 1)].concat(),
                vec![("m5.large", "a", 10), ("m5.large", "b", 10)],
                (0.3, 0.3, 4.0),
            ),
            (
                "a zone whose nodes are reclaimed while the other's last: all of it",
                many("m5.large", "a", 5),
                vec![("m5.large", "b", 10)],
                (5.0, 5.0, 5.0),
            ),
            (
                "another family hit in the zone too: its own levels keep theirs",
                [
                    many("m5.large", "a", 2),
                    many("c5.large", "a", 2),
                    many("c5.large", "b", 2),
                ]
                .concat(),
                vec![
                    ("m5.large", "a", 1),
                    ("c5.large", "a", 9),
                    ("c5.large", "b", 10),
                ],
                (2.0, 2.0, 4.0),
            ),
        ];
        for (name, interruptions, nodes, (offering, family, zone)) in cases {
            let mut exposure = Exposure::default();
            for (instance_type, node_zone, count) in nodes {
                for _ in 0..count {
                    exposure.add(instance_type, node_zone);
                }
            }
            let evidence = Evidence::gather(&history(&interruptions), Duration::ZERO, &half_lives)
                .beyond_the_region(&exposure);
            let found = (
                evidence.offering("m5.large", spot, "a"),
                evidence.family_in_zone("m5", spot, "a"),
                evidence.zone(spot, "a"),
            );
            let close = |left: f64, right: f64| (left - right).abs() < 1e-9;
            assert!(
                close(found.0, offering) && close(found.1, family) && close(found.2, zone),
                "{name}: {found:?} (expected {:?})",
                (offering, family, zone)
            );
        }
    }

    #[test]
    fn avoidance_lasts_until_the_evidence_fades_to_the_release_level() {
        // Eight interruptions in zone a now: the zone's evidence (8) fades to 1 after three
        // half-lives (3 h each by default), the family's after three of its own (1 h).
        let interruptions = vec![("m5.large", "a", "batch", 0u64); 8];
        let half_lives = HalfLives::default();
        let evidence = Evidence::gather(&history(&interruptions), Duration::ZERO, &half_lives);
        let decisions = avoid_decisions(
            &evidence,
            ("m5.large", CapacityType::Spot, "a"),
            &["a", "b"],
            &Exposure::default(),
            &PlacementScores::default(),
            &AvoidRules::default(),
            &half_lives,
            HOUR,
        );
        let untils: Vec<Duration> = decisions.iter().map(|decision| decision.until).collect();
        assert_eq!(untils, [HOUR + 3 * HOUR, HOUR + 9 * HOUR]);
        let on_demand = avoid_decisions(
            &evidence,
            ("m5.large", CapacityType::OnDemand, "a"),
            &["a", "b"],
            &Exposure::default(),
            &PlacementScores::default(),
            &AvoidRules::default(),
            &half_lives,
            HOUR,
        );
        assert!(on_demand.is_empty());
    }

    #[test]
    fn fade_time_is_whole_half_lives_for_powers_of_two() {
        let cases = [
            (8.0, 1.0, HOUR, 3 * HOUR),
            (1.0, 1.0, HOUR, Duration::ZERO),
            (0.5, 1.0, HOUR, Duration::ZERO),
            (4.0, 1.0, 30 * MINUTE, HOUR),
        ];
        for (from, to, half_life, expected) in cases {
            let found = fade_time(from, to, half_life);
            assert!(
                found.abs_diff(expected) < Duration::from_millis(1),
                "{from} -> {to}: {found:?}"
            );
        }
    }
}
