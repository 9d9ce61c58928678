//! What the cloud tells up front about Spot capacity per zone, before any launch: a score
//! from 1 (a request is unlikely to succeed, or to last) to 10 (very likely), as EC2's Spot
//! placement scores give per Availability Zone. The AWS provider fills it from
//! `GetSpotPlacementScores` where allowed; the simulated market from its own ground truth. The
//! offering ranking weighs Spot offerings in low-scoring zones down, and the interruption
//! learning needs less evidence to avoid such a zone. No score known means no opinion.

use std::collections::BTreeMap;

/// Spot placement scores per zone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlacementScores {
    spot_by_zone: BTreeMap<String, u8>,
}

/// The best score.
pub const MAX_SCORE: u8 = 10;

impl PlacementScores {
    /// Sets a zone's Spot score (clamped to 1..=10).
    pub fn set_spot(&mut self, zone: &str, score: u8) {
        self.spot_by_zone
            .insert(zone.to_string(), score.clamp(1, MAX_SCORE));
    }

    /// A zone's Spot score, if known.
    pub fn spot(&self, zone: &str) -> Option<u8> {
        self.spot_by_zone.get(zone).copied()
    }

    /// How far below the best score a zone is (0 when unknown or best).
    pub fn spot_shortfall(&self, zone: &str) -> u8 {
        self.spot(zone).map_or(0, |score| MAX_SCORE - score)
    }

    /// Every zone's score, by zone.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u8)> {
        self.spot_by_zone
            .iter()
            .map(|(zone, score)| (zone.as_str(), *score))
    }

    /// Whether no score is known.
    pub fn is_empty(&self) -> bool {
        self.spot_by_zone.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_clamped_and_unknown_zones_have_no_shortfall() {
        let mut scores = PlacementScores::default();
        scores.set_spot("a", 0);
        scores.set_spot("b", 7);
        scores.set_spot("c", 200);
        let cases = [
            ("a", Some(1), 9),
            ("b", Some(7), 3),
            ("c", Some(10), 0),
            ("d", None, 0),
        ];
        for (zone, score, shortfall) in cases {
            assert_eq!(scores.spot(zone), score, "{zone}");
            assert_eq!(scores.spot_shortfall(zone), shortfall, "{zone}");
        }
    }
}
