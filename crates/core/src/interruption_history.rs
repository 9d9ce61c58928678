//! The Spot interruptions this cluster received, per offering (instance type × zone; the
//! capacity type is Spot by nature but kept in the key), remembered for a while: what the
//! offering ranking and the interruption controller read to rank down, and past a threshold
//! avoid, pools that keep reclaiming nodes. Each instance counts once, however many sources
//! (queue, node agent) reported it. Time is passed in.

use std::collections::HashMap;
use std::time::Duration;

use crate::offering::CapacityType;

/// Interruptions by offering, within a memory window.
#[derive(Clone, Debug)]
pub struct InterruptionHistory {
    memory: Duration,
    /// By instance type: each of its offerings' interruptions.
    by_instance_type: HashMap<String, Vec<OfferingInterruptions>>,
}

/// One offering's interruptions: capacity type, zone, and the (time, instance ID) of each,
/// oldest first.
type OfferingInterruptions = (CapacityType, String, Vec<(Duration, String)>);

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
            by_instance_type: HashMap::new(),
        }
    }

    /// How long interruptions are remembered.
    pub fn memory(&self) -> Duration {
        self.memory
    }

    /// Records that `instance_id` of this offering was warned at `now`; returns false when the
    /// instance was recorded already (a second source of the same warning).
    pub fn record(
        &mut self,
        instance_type: &str,
        capacity_type: CapacityType,
        zone: &str,
        instance_id: &str,
        now: Duration,
    ) -> bool {
        let offerings = self
            .by_instance_type
            .entry(instance_type.to_string())
            .or_default();
        let position = match offerings
            .iter()
            .position(|(kind, name, _)| *kind == capacity_type && name == zone)
        {
            Some(position) => position,
            None => {
                offerings.push((capacity_type, zone.to_string(), Vec::new()));
                offerings.len() - 1
            }
        };
        let times = &mut offerings[position].2;
        if times.iter().any(|(_, instance)| instance == instance_id) {
            return false;
        }
        times.push((now, instance_id.to_string()));
        times.sort_by_key(|(time, _)| *time);
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
        self.by_instance_type
            .get(instance_type)
            .and_then(|offerings| {
                offerings
                    .iter()
                    .find(|(kind, name, _)| *kind == capacity_type && name == zone)
            })
            .map_or(0, |(_, _, times)| {
                times.iter().filter(|(time, _)| *time >= since).count() as u32
            })
    }

    /// Forgets interruptions older than the memory window.
    pub fn prune(&mut self, now: Duration) {
        let horizon = now.saturating_sub(self.memory);
        self.by_instance_type.retain(|_, offerings| {
            offerings.retain_mut(|(_, _, times)| {
                times.retain(|(time, _)| *time >= horizon);
                !times.is_empty()
            });
            !offerings.is_empty()
        });
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_instance_type.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn counts_each_instance_once_within_the_window() {
        let mut history = InterruptionHistory::new(60 * MINUTE);
        assert!(history.record("m5.large", CapacityType::Spot, "a", "i-1", MINUTE));
        assert!(!history.record("m5.large", CapacityType::Spot, "a", "i-1", 2 * MINUTE));
        assert!(history.record("m5.large", CapacityType::Spot, "a", "i-2", 30 * MINUTE));
        assert!(history.record("m5.large", CapacityType::Spot, "b", "i-3", 30 * MINUTE));
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
}
