//! Offerings that must not be launched: what the cloud answered with insufficient capacity, or
//! what a user asks "what if this were out?" about. Entries match by capacity type, instance
//! type and zone, each of which may be left open to match everything, and may expire (the
//! insufficient-capacity cache keeps an entry for a TTL; time is passed in, never read).

use std::time::Duration;

use crate::offering::CapacityType;

/// A pattern over offerings: each field that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct OfferingSelector {
    /// Only offerings of this capacity type.
    pub capacity_type: Option<CapacityType>,
    /// Only offerings of this instance type.
    pub instance_type: Option<String>,
    /// Only offerings in this zone.
    pub zone: Option<String>,
}

/// The set of offerings currently unavailable.
#[derive(Clone, Debug, Default)]
pub struct UnavailableOfferings {
    entries: Vec<(OfferingSelector, Option<Duration>)>,
}

impl OfferingSelector {
    /// Whether the offering `(instance_type, capacity_type, zone)` matches.
    pub fn matches(&self, instance_type: &str, capacity_type: CapacityType, zone: &str) -> bool {
        self.capacity_type
            .is_none_or(|wanted| wanted == capacity_type)
            && self
                .instance_type
                .as_deref()
                .is_none_or(|wanted| wanted == instance_type)
            && self.zone.as_deref().is_none_or(|wanted| wanted == zone)
    }
}

impl UnavailableOfferings {
    /// Nothing unavailable.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks every offering matching `selector` unavailable for good.
    pub fn mark(&mut self, selector: OfferingSelector) {
        self.entries.retain(|(existing, _)| *existing != selector);
        self.entries.push((selector, None));
    }

    /// Marks every offering matching `selector` unavailable until `until` (an existing entry
    /// for the same selector is extended, never shortened).
    pub fn mark_until(&mut self, selector: OfferingSelector, until: Duration) {
        if let Some((_, expiry)) = self
            .entries
            .iter_mut()
            .find(|(existing, _)| *existing == selector)
        {
            if let Some(current) = expiry {
                *current = (*current).max(until);
            }
            return;
        }
        self.entries.push((selector, Some(until)));
    }

    /// Drops the entries that expired at or before `now`.
    pub fn expire(&mut self, now: Duration) {
        self.entries
            .retain(|(_, until)| until.is_none_or(|until| until > now));
    }

    /// Whether the offering is unavailable (call [`Self::expire`] first).
    pub fn contains(&self, instance_type: &str, capacity_type: CapacityType, zone: &str) -> bool {
        self.entries
            .iter()
            .any(|(selector, _)| selector.matches(instance_type, capacity_type, zone))
    }

    /// Whether nothing is marked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_on_every_field_that_is_set() {
        let mut unavailable = UnavailableOfferings::new();
        unavailable.mark(OfferingSelector {
            capacity_type: Some(CapacityType::Spot),
            instance_type: Some("m5.large".into()),
            zone: Some("zone-a".into()),
        });
        unavailable.mark(OfferingSelector {
            capacity_type: None,
            instance_type: Some("c5.large".into()),
            zone: None,
        });
        let cases = [
            ("m5.large", CapacityType::Spot, "zone-a", true),
            ("m5.large", CapacityType::Spot, "zone-b", false),
            ("m5.large", CapacityType::OnDemand, "zone-a", false),
            ("c5.large", CapacityType::OnDemand, "zone-c", true),
            ("r5.large", CapacityType::Spot, "zone-a", false),
        ];
        for (instance_type, capacity_type, zone, expected) in cases {
            assert_eq!(
                unavailable.contains(instance_type, capacity_type, zone),
                expected
            );
        }
    }
}
