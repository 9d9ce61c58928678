//! Karpenter's feature gates (`FEATURE_GATES`, `Name=true,Name=false`): parsed, checked
//! against the names Karpenter 1.8 knows, and applied to the controllers' settings.
//! A gate Spotter has no behaviour for is accepted (the chart may pass Karpenter's defaults)
//! and logged when it is turned on, so that nobody believes it took effect.

use std::collections::BTreeMap;
use std::str::FromStr;

use spotter_controllers::Settings;

/// The gates Karpenter 1.8 knows, with whether Spotter implements each.
pub const KNOWN_GATES: [(&str, bool); 5] = [
    ("NodeOverlay", false),
    ("NodeRepair", false),
    ("ReservedCapacity", false),
    ("SpotToSpotConsolidation", true),
    ("StaticCapacity", false),
];

/// The gates set on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureGates(BTreeMap<&'static str, bool>);

/// Why a feature-gate list is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureGateError {
    /// An entry is not `Name=true` or `Name=false`.
    #[error("{entry:?} is not Name=true or Name=false")]
    Malformed {
        /// The entry.
        entry: String,
    },
    /// The name is not one of Karpenter's gates.
    #[error("unknown feature gate {name:?}; known: {known}")]
    Unknown {
        /// The name.
        name: String,
        /// The known names.
        known: String,
    },
}

impl FromStr for FeatureGates {
    type Err = FeatureGateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut gates = BTreeMap::new();
        for entry in text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let malformed = || FeatureGateError::Malformed {
                entry: entry.to_owned(),
            };
            let (name, value) = entry.split_once('=').ok_or_else(malformed)?;
            let value = match value.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(malformed()),
            };
            let name = name.trim();
            let known = KNOWN_GATES
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(known, _)| *known)
                .ok_or_else(|| FeatureGateError::Unknown {
                    name: name.to_owned(),
                    known: KNOWN_GATES.map(|(known, _)| known).join(", "),
                })?;
            gates.insert(known, value);
        }
        Ok(FeatureGates(gates))
    }
}

impl FeatureGates {
    /// Whether `name` is turned on.
    pub fn enabled(&self, name: &str) -> bool {
        self.0.get(name).copied().unwrap_or(false)
    }

    /// The gates turned on that Spotter has no behaviour for.
    pub fn without_effect(&self) -> Vec<&'static str> {
        KNOWN_GATES
            .iter()
            .filter(|(name, implemented)| !implemented && self.enabled(name))
            .map(|(name, _)| *name)
            .collect()
    }

    /// Applies the gates to `settings` (`SpotToSpotConsolidation` lets consolidation replace
    /// Spot nodes with cheaper Spot nodes), logging each one turned on that has no effect.
    pub fn apply(&self, settings: &mut Settings) {
        settings.spot_to_spot_consolidation = self.enabled("SpotToSpotConsolidation");
        for name in self.without_effect() {
            tracing::warn!(
                gate = name,
                "feature gate {name} is turned on but Spotter does not implement it; it has no effect"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gates a list gives, or the error's text.
    type Parsed = Result<&'static [(&'static str, bool)], &'static str>;

    #[test]
    fn parses_and_refuses_feature_gate_lists() {
        let cases: [(&str, Parsed); 7] = [
            ("", Ok(&[])),
            (
                "SpotToSpotConsolidation=true",
                Ok(&[("SpotToSpotConsolidation", true)]),
            ),
            (
                " NodeRepair=false , SpotToSpotConsolidation=true ",
                Ok(&[("NodeRepair", false), ("SpotToSpotConsolidation", true)]),
            ),
            (
                "SpotToSpotConsolidation",
                Err("is not Name=true or Name=false"),
            ),
            (
                "SpotToSpotConsolidation=yes",
                Err("is not Name=true or Name=false"),
            ),
            (
                "Drift=true",
                Err("unknown feature gate \"Drift\"; known: NodeOverlay"),
            ),
            ("spottospotconsolidation=true", Err("unknown feature gate")),
        ];
        for (text, expected) in cases {
            let parsed = text.parse::<FeatureGates>();
            match (parsed, expected) {
                (Ok(gates), Ok(expected)) => {
                    let expected: BTreeMap<&str, bool> = expected.iter().copied().collect();
                    assert_eq!(gates.0, expected, "{text:?}");
                }
                (Err(error), Err(message)) => {
                    assert!(error.to_string().contains(message), "{text:?}: {error}");
                }
                (parsed, expected) => panic!("{text:?}: got {parsed:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn gates_without_effect_are_the_enabled_unimplemented_ones() -> Result<(), FeatureGateError> {
        let gates: FeatureGates = "NodeRepair=true,StaticCapacity=false".parse()?;
        assert_eq!(gates.without_effect(), vec!["NodeRepair"]);
        let gates: FeatureGates = "SpotToSpotConsolidation=true".parse()?;
        assert!(gates.without_effect().is_empty());
        Ok(())
    }

    #[test]
    fn spot_to_spot_consolidation_follows_its_gate() -> Result<(), FeatureGateError> {
        for (text, expected) in [
            ("", false),
            ("SpotToSpotConsolidation=false", false),
            ("SpotToSpotConsolidation=true", true),
        ] {
            let mut settings = Settings {
                spot_to_spot_consolidation: !expected,
                ..Settings::default()
            };
            text.parse::<FeatureGates>()?.apply(&mut settings);
            assert_eq!(settings.spot_to_spot_consolidation, expected, "{text:?}");
        }
        Ok(())
    }
}
