//! What the provider takes from the embedded catalog (crate `spotter-catalog`): the
//! architecture of an instance type (which AMI and launch template it launches with) and the
//! price of an offering (for instances found by `get`/`list`).

use spotter_catalog::Arch;
use spotter_cloud::OfferingKey;
use spotter_core::offering::CapacityType;

use crate::node_class::Architecture;

/// The architecture of `instance_type`: from the catalog, else guessed from the name
/// (Graviton families carry a `g` after the generation: `m7g`, `c6gn`, `r8gd`).
pub fn architecture_of(instance_type: &str) -> Architecture {
    if let Some(spec) = spotter_catalog::embedded().instance_type(instance_type) {
        return match spec.arch {
            Arch::Amd64 => Architecture::Amd64,
            Arch::Arm64 => Architecture::Arm64,
        };
    }
    let family = instance_type.split('.').next().unwrap_or_default();
    let after_generation = family
        .trim_start_matches(|character: char| character.is_ascii_alphabetic())
        .trim_start_matches(|character: char| character.is_ascii_digit());
    if after_generation.starts_with('g') {
        Architecture::Arm64
    } else {
        Architecture::Amd64
    }
}

/// The embedded price of `offering` in `region`, if the catalog has it.
pub fn price_of(region: &str, offering: &OfferingKey) -> Option<f64> {
    let region = spotter_catalog::embedded().region(region).ok()?;
    let (_, prices) = region.offering(&offering.instance_type)?;
    match offering.capacity_type {
        CapacityType::Spot => prices
            .spot
            .get(&offering.zone)
            .map(|price| price.usd_per_hour),
        CapacityType::OnDemand | CapacityType::Reserved => Some(prices.on_demand.usd_per_hour),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_come_from_the_catalog_or_the_family_name() {
        let cases = [
            ("m5.large", Architecture::Amd64),
            ("m7g.large", Architecture::Arm64),
            ("c6gn.xlarge", Architecture::Arm64),
            ("zz9g.large", Architecture::Arm64),
            ("zz9.large", Architecture::Amd64),
        ];
        for (instance_type, expected) in cases {
            assert_eq!(architecture_of(instance_type), expected, "{instance_type}");
        }
    }
}
