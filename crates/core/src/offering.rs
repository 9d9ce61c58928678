//! Offerings: the ways an instance type can be bought (capacity type × zone), with their price
//! and whether they can be launched right now.

use std::fmt;

use crate::labels::capacity_type;

/// How capacity is bought.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapacityType {
    /// Capacity reservations: launched first when present.
    Reserved,
    /// EC2 Spot: cheapest, interruptible with a 2-minute warning.
    Spot,
    /// On-demand.
    OnDemand,
}

/// One way to buy an instance type.
#[derive(Clone, Debug, PartialEq)]
pub struct Offering {
    /// The capacity type.
    pub capacity_type: CapacityType,
    /// The zone name (`ap-northeast-2a`).
    pub zone: String,
    /// The zone ID (`apne2-az1`), when known.
    pub zone_id: Option<String>,
    /// USD per instance-hour.
    pub price_per_hour: f64,
    /// Whether the price was estimated rather than taken from a price source.
    pub price_estimated: bool,
    /// Whether the offering can be launched (false while the cloud reports no capacity).
    pub available: bool,
    /// The Spot Instance Advisor interruption band, 0 (`<5%`) to 4 (`>20%`), for Spot offerings.
    pub interruption_band: Option<u8>,
}

/// Why a capacity type name is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capacity type {0:?}: expected spot, on-demand or reserved")]
pub struct UnknownCapacityType(pub String);

impl CapacityType {
    /// Every capacity type, in launch preference order (reserved, spot, on-demand).
    pub const ALL: [CapacityType; 3] = [
        CapacityType::Reserved,
        CapacityType::Spot,
        CapacityType::OnDemand,
    ];

    /// The label value (`spot`, `on-demand`, `reserved`).
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::Reserved => capacity_type::RESERVED,
            CapacityType::Spot => capacity_type::SPOT,
            CapacityType::OnDemand => capacity_type::ON_DEMAND,
        }
    }

    /// Parses a label value.
    pub fn parse(text: &str) -> Result<Self, UnknownCapacityType> {
        match text {
            capacity_type::RESERVED => Ok(CapacityType::Reserved),
            capacity_type::SPOT => Ok(CapacityType::Spot),
            capacity_type::ON_DEMAND => Ok(CapacityType::OnDemand),
            other => Err(UnknownCapacityType(other.to_string())),
        }
    }
}

impl fmt::Display for CapacityType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}
