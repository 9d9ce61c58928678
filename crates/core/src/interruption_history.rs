//! The Spot interruptions this cluster received, remembered for a while: each with its
//! offering (instance type × zone × capacity type) and its NodePool, so that the evidence can
//! be read at every level where interruptions cluster (see [`crate::interruption_evidence`]).
//! What the offering ranking and the interruption controller read to rank down, and past a
//! threshold avoid, pools that keep reclaiming nodes. Each instance counts once, however many
//! sources (queue, node agent) reported it. Time is passed in.

use std::time::Duration;

use crate::offering::CapacityType;

/// Interruptions within a memory window, oldest first.
#[derive(Clone, Debug)]
pub struct InterruptionHistory {
    memory: Duration,
    interruptions: Vec<Interruption>,
}

/// One interruption received.
#[derive(Clone, Debug, PartialEq)]
pub struct Interruption {
    /// When the warning arrived.
    pub at: Duration,
    /// The instance it was about.
    pub instance_id: String,
    /// Its instance type.
    pub instance_type: String,
    /// Its capacity type.
    pub capacity_type: CapacityType,
    /// Its zone.
    pub zone: String,
    /// The NodePool its NodeClaim came from.
    pub node_pool: String,
}

impl Default for InterruptionHistory {
    fn default() -> Self {
        Self::new(DEFAULT_MEMORY)
    }
}

/// How long interruptions are remembered unless said otherwise (6 hours).
pub const DEFAULT_MEMORY: Duration = Duration::from_secs(6 * 3600);

impl InterruptionHistory {
    /// An empty history that remembers interruptions for `memory`.
    pub fn new(memory: Duration) -> Self {
        Self {
            memory,
            interruptions: Vec::new(),
        }
    }

    /// How long interruptions are remembered.
    pub fn memory(&self) -> Duration {
        self.memory
    }

    /// Records that `instance_id` of this offering (from `node_pool`) was warned at `now`;
    /// returns false when the instance was recorded already (a second source of the same
    /// warning).
    pub fn record(
        &mut self,
        offering: (&str, CapacityType, &str),
        node_pool: &str,
        instance_id: &str,
        now: Duration,
    ) -> bool {
        let (instance_type, capacity_type, zone) = offering;
        if self
            .interruptions
            .iter()
            .any(|interruption| interruption.instance_id == instance_id)
        {
            return false;
        }
        let position = self
            .interruptions
            .partition_point(|interruption| interruption.at <= now);
        self.interruptions.insert(
            position,
            Interruption {
                at: now,
                instance_id: instance_id.to_string(),
                instance_type: instance_type.to_string(),
                capacity_type,
                zone: zone.to_string(),
                node_pool: node_pool.to_string(),
            },
        );
        true
    }

    /// How many interruptions of this offering were received at or after `since`.
    pub fn count_since(
        &self,
        instance_type: &str,
        capacity_type: CapacityType,
        zone: &str,
        since: Duration,
    ) -> u32 {
        self.since(since)
            .filter(|interruption| {
                interruption.instance_type == instance_type
                    && interruption.capacity_type == capacity_type
                    && interruption.zone == zone
            })
            .count() as u32
    }

    /// The interruptions received at or after `since`, oldest first.
    pub fn since(&self, since: Duration) -> impl Iterator<Item = &Interruption> {
        let start = self
            .interruptions
            .partition_point(|interruption| interruption.at < since);
        self.interruptions[start..].iter()
    }

    /// Every interruption remembered, oldest first.
    pub fn all(&self) -> &[Interruption] {
        &self.interruptions
    }

    /// Forgets interruptions older than the memory window.
    pub fn prune(&mut self, now: Duration) {
        let horizon = now.saturating_sub(self.memory);
        let start = self
            .interruptions
            .partition_point(|interruption| interruption.at < horizon);
        self.interruptions.drain(..start);
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.interruptions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn counts_each_instance_once_within_the_window() {
        let mut history = InterruptionHistory::new(60 * MINUTE);
        let spot = |zone| ("m5.large", CapacityType::Spot, zone);
        assert!(history.record(spot("a"), "batch", "i-1", MINUTE));
        assert!(!history.record(spot("a"), "batch", "i-1", 2 * MINUTE));
        assert!(history.record(spot("a"), "batch", "i-2", 30 * MINUTE));
        assert!(history.record(spot("b"), "batch", "i-3", 30 * MINUTE));
        let cases = [
            ("m5.large", "a", Duration::ZERO, 2),
            ("m5.large", "a", 10 * MINUTE, 1),
            ("m5.large", "b", Duration::ZERO, 1),
            ("m5.large", "c", Duration::ZERO, 0),
            ("c5.large", "a", Duration::ZERO, 0),
        ];
        for (instance_type, zone, since, expected) in cases {
            assert_eq!(
                history.count_since(instance_type, CapacityType::Spot, zone, since),
                expected,
                "{instance_type} {zone} since {since:?}"
            );
        }
        history.prune(65 * MINUTE);
        assert_eq!(
            history.count_since("m5.large", CapacityType::Spot, "a", Duration::ZERO),
            1
        );
        history.prune(200 * MINUTE);
        assert!(history.is_empty());
    }

    #[test]
    fn keeps_interruptions_in_time_order() {
        let mut history = InterruptionHistory::new(60 * MINUTE);
        let offering = ("m5.large", CapacityType::Spot, "a");
        history.record(offering, "batch", "i-late", 20 * MINUTE);
        history.record(offering, "batch", "i-early", 5 * MINUTE);
        history.record(offering, "other", "i-middle", 10 * MINUTE);
        let order: Vec<&str> = history
            .all()
            .iter()
            .map(|interruption| interruption.instance_id.as_str())
            .collect();
        assert_eq!(order, ["i-early", "i-middle", "i-late"]);
        let since: Vec<&str> = history
            .since(10 * MINUTE)
            .map(|interruption| interruption.node_pool.as_str())
            .collect();
        assert_eq!(since, ["other", "batch"]);
    }
}
