//! Offerings that must not be launched: what the cloud answered with insufficient capacity, or
//! what a user asks "what if this were out?" about. Entries match by capacity type, instance
//! type and zone, each of which may be left open to match everything.

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
    selectors: Vec<OfferingSelector>,
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

    /// Marks every offering matching `selector` unavailable.
    pub fn mark(&mut self, selector: OfferingSelector) {
        if !self.selectors.contains(&selector) {
            self.selectors.push(selector);
        }
    }

    /// Whether the offering is unavailable.
    pub fn contains(&self, instance_type: &str, capacity_type: CapacityType, zone: &str) -> bool {
        self.selectors
            .iter()
            .any(|selector| selector.matches(instance_type, capacity_type, zone))
    }

    /// Whether nothing is marked.
    pub fn is_empty(&self) -> bool {
        self.selectors.is_empty()
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
