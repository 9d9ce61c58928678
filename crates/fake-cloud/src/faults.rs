//! The capacity faults a user injects at run time: the `unavailable` key of the faults
//! ConfigMap, one offering pattern a line, `capacity-type:instance-type:zone`.
//!
//! ```text
//! # a Spot outage everywhere
//! spot:*:*
//! # no m5 in one zone, whatever the capacity type
//! *:m5.*:us-east-1a
//! on-demand:c6i.large:us-east-1b
//! ```
//!
//! Blank lines and lines starting with `#` are ignored; spaces around fields are trimmed. The
//! capacity type is `spot`, `on-demand`, `reserved` or `*`; instance type and zone are names
//! in which `*` matches any run of characters (`*` alone matches everything, `m5.*` every m5
//! size). A line that does not read is reported with its number and skipped; the lines that
//! read still apply, so that one typo does not end an outage the user is watching.

use spotter_cloud::OfferingKey;
use spotter_core::offering::CapacityType;

/// The ConfigMap key holding the unavailable offerings.
pub const UNAVAILABLE_KEY: &str = "unavailable";

/// The offerings the user marked unavailable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    patterns: Vec<OfferingPattern>,
}

/// One line of `unavailable`: which offerings it marks unavailable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferingPattern {
    /// The capacity type, `None` for `*`.
    pub capacity_type: Option<CapacityType>,
    /// The instance type pattern (`*` matches any run of characters).
    pub instance_type: String,
    /// The zone pattern (`*` matches any run of characters).
    pub zone: String,
}

/// What was read from an `unavailable` text: the faults, and the lines that were skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedFaults {
    /// The offerings marked unavailable by the lines that read.
    pub faults: Faults,
    /// One error per line that did not read.
    pub problems: Vec<FaultsError>,
}

/// Why a line of `unavailable` was skipped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultsError {
    /// The line does not have three `:`-separated fields.
    #[error(
        "failed to read line {line} of `unavailable` ({text:?}): expected capacity-type:instance-type:zone, found {fields} field(s)"
    )]
    FieldCount {
        /// The line number, from 1.
        line: usize,
        /// The line.
        text: String,
        /// How many fields it has.
        fields: usize,
    },
    /// A field is empty.
    #[error(
        "failed to read line {line} of `unavailable` ({text:?}): the {field} is empty; write `*` to match every value"
    )]
    EmptyField {
        /// The line number, from 1.
        line: usize,
        /// The line.
        text: String,
        /// Which field.
        field: &'static str,
    },
    /// The capacity type is not known.
    #[error(
        "failed to read line {line} of `unavailable` ({text:?}): unknown capacity type {value:?}, expected spot, on-demand, reserved or *"
    )]
    CapacityType {
        /// The line number, from 1.
        line: usize,
        /// The line.
        text: String,
        /// The value found.
        value: String,
    },
}

impl Faults {
    /// No faults: every offering is available.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Reads an `unavailable` text (see the module documentation for the format).
    pub fn parse(text: &str) -> ParsedFaults {
        let mut parsed = ParsedFaults::default();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match OfferingPattern::parse(index + 1, line) {
                Ok(pattern) => parsed.faults.patterns.push(pattern),
                Err(problem) => parsed.problems.push(problem),
            }
        }
        parsed
    }

    /// Whether `offering` is marked unavailable.
    pub fn is_unavailable(&self, offering: &OfferingKey) -> bool {
        self.patterns
            .iter()
            .any(|pattern| pattern.matches(offering))
    }

    /// The patterns, in the order of their lines.
    pub fn patterns(&self) -> &[OfferingPattern] {
        &self.patterns
    }
}

impl OfferingPattern {
    /// Whether the pattern covers `offering`.
    pub fn matches(&self, offering: &OfferingKey) -> bool {
        self.capacity_type
            .is_none_or(|capacity_type| capacity_type == offering.capacity_type)
            && glob_matches(&self.instance_type, &offering.instance_type)
            && glob_matches(&self.zone, &offering.zone)
    }

    fn parse(line: usize, text: &str) -> Result<OfferingPattern, FaultsError> {
        let fields: Vec<&str> = text.split(':').map(str::trim).collect();
        let [capacity_type, instance_type, zone] = fields.as_slice() else {
            return Err(FaultsError::FieldCount {
                line,
                text: text.to_owned(),
                fields: fields.len(),
            });
        };
        for (field, value) in [
            ("capacity type", capacity_type),
            ("instance type", instance_type),
            ("zone", zone),
        ] {
            if value.is_empty() {
                return Err(FaultsError::EmptyField {
                    line,
                    text: text.to_owned(),
                    field,
                });
            }
        }
        let capacity_type = match *capacity_type {
            "*" => None,
            name => Some(
                CapacityType::parse(name).map_err(|_| FaultsError::CapacityType {
                    line,
                    text: text.to_owned(),
                    value: name.to_owned(),
                })?,
            ),
        };
        Ok(OfferingPattern {
            capacity_type,
            instance_type: (*instance_type).to_owned(),
            zone: (*zone).to_owned(),
        })
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (possibly
/// empty) and every other character itself. Iterative, with one backtrack point: linear in
/// practice and never recursive, whatever a user writes.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut pattern_index, mut text_index) = (0, 0);
    // The last `*` seen and the text position it was tried at.
    let mut backtrack: Option<(usize, usize)> = None;
    while text_index < text.len() {
        match pattern.get(pattern_index) {
            Some('*') => {
                backtrack = Some((pattern_index, text_index));
                pattern_index += 1;
            }
            Some(character) if *character == text[text_index] => {
                pattern_index += 1;
                text_index += 1;
            }
            _ => match backtrack {
                Some((star, tried_at)) => {
                    pattern_index = star + 1;
                    text_index = tried_at + 1;
                    backtrack = Some((star, tried_at + 1));
                }
                None => return false,
            },
        }
    }
    pattern[pattern_index..]
        .iter()
        .all(|character| *character == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offering(capacity_type: CapacityType, instance_type: &str, zone: &str) -> OfferingKey {
        OfferingKey {
            capacity_type,
            instance_type: instance_type.to_owned(),
            zone: zone.to_owned(),
        }
    }

    #[test]
    fn patterns_mark_the_offerings_they_name() {
        use CapacityType::{OnDemand, Spot};
        // (unavailable text, offering, unavailable?)
        let cases = [
            ("spot:*:*", offering(Spot, "m5.large", "us-east-1a"), true),
            (
                "spot:*:*",
                offering(OnDemand, "m5.large", "us-east-1a"),
                false,
            ),
            (
                "*:*:*",
                offering(OnDemand, "c6i.xlarge", "us-east-1c"),
                true,
            ),
            (
                "on-demand:m5.large:us-east-1a",
                offering(OnDemand, "m5.large", "us-east-1a"),
                true,
            ),
            (
                "on-demand:m5.large:us-east-1a",
                offering(OnDemand, "m5.large", "us-east-1b"),
                false,
            ),
            (
                "on-demand:m5.large:us-east-1a",
                offering(OnDemand, "m5.xlarge", "us-east-1a"),
                false,
            ),
            (
                "*:m5.*:us-east-1a",
                offering(Spot, "m5.2xlarge", "us-east-1a"),
                true,
            ),
            (
                "*:m5.*:us-east-1a",
                offering(Spot, "m5a.large", "us-east-1a"),
                false,
            ),
            (
                "spot:*.large:*",
                offering(Spot, "c7g.large", "eu-west-1b"),
                true,
            ),
            (
                "spot:*.large:*",
                offering(Spot, "c7g.xlarge", "eu-west-1b"),
                false,
            ),
            (
                "spot:m*.l*e:*-1?",
                offering(Spot, "m5.large", "us-east-1?"),
                true,
            ),
            (
                "  spot : m5.large : us-east-1a  ",
                offering(Spot, "m5.large", "us-east-1a"),
                true,
            ),
            (
                "# spot:*:*",
                offering(Spot, "m5.large", "us-east-1a"),
                false,
            ),
            (
                "\n\nspot:m5.large:*\n",
                offering(Spot, "m5.large", "us-east-1b"),
                true,
            ),
            ("", offering(Spot, "m5.large", "us-east-1a"), false),
            (
                "reserved:*:*",
                offering(Spot, "m5.large", "us-east-1a"),
                false,
            ),
            // A bad line does not stop the good ones.
            (
                "spot:m5.large\non-demand:*:*",
                offering(OnDemand, "m5.large", "us-east-1a"),
                true,
            ),
        ];
        for (text, offering, unavailable) in cases {
            let parsed = Faults::parse(text);
            assert_eq!(
                parsed.faults.is_unavailable(&offering),
                unavailable,
                "{text:?} for {offering}"
            );
        }
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        // (unavailable text, the problems)
        let cases: [(&str, Vec<FaultsError>); 5] = [
            ("spot:*:*\n# comment\n", vec![]),
            (
                "spot:*:*\nspot:m5.large",
                vec![FaultsError::FieldCount {
                    line: 2,
                    text: "spot:m5.large".into(),
                    fields: 2,
                }],
            ),
            (
                "spot:*:*:extra",
                vec![FaultsError::FieldCount {
                    line: 1,
                    text: "spot:*:*:extra".into(),
                    fields: 4,
                }],
            ),
            (
                "\nspot::us-east-1a",
                vec![FaultsError::EmptyField {
                    line: 2,
                    text: "spot::us-east-1a".into(),
                    field: "instance type",
                }],
            ),
            (
                "Spot:*:*\nondemand:*:*",
                vec![
                    FaultsError::CapacityType {
                        line: 1,
                        text: "Spot:*:*".into(),
                        value: "Spot".into(),
                    },
                    FaultsError::CapacityType {
                        line: 2,
                        text: "ondemand:*:*".into(),
                        value: "ondemand".into(),
                    },
                ],
            ),
        ];
        for (text, problems) in cases {
            assert_eq!(Faults::parse(text).problems, problems, "{text:?}");
        }
    }

    #[test]
    fn messages_say_what_to_write() {
        let parsed = Faults::parse("spot:m5.large");
        let message = parsed.problems.first().map(ToString::to_string);
        assert_eq!(
            message.as_deref(),
            Some(
                "failed to read line 1 of `unavailable` (\"spot:m5.large\"): expected \
                 capacity-type:instance-type:zone, found 2 field(s)"
            )
        );
    }

    #[test]
    fn glob_cases() {
        // (pattern, text, matches?)
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a*", "a", true),
            ("a*b", "ab", true),
            ("a*b", "axxb", true),
            ("a*b", "axxbc", false),
            ("*b*", "abc", true),
            ("a**b", "aXb", true),
            ("m5.large", "m5.large", true),
            ("m5.large", "m5.largex", false),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
        ];
        for (pattern, text, matches) in cases {
            assert_eq!(glob_matches(pattern, text), matches, "{pattern:?} {text:?}");
        }
    }

    proptest::proptest! {
        /// Whatever a user writes in the ConfigMap, reading it never panics, every line is
        /// either a pattern or a problem, and matching against any offering never panics.
        #[test]
        fn any_text_reads_without_panic(
            text in "(?s).{0,400}",
            instance_type in ".{0,20}",
            zone in ".{0,20}",
        ) {
            let parsed = Faults::parse(&text);
            let meaningful = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .count();
            proptest::prop_assert_eq!(
                parsed.faults.patterns().len() + parsed.problems.len(),
                meaningful
            );
            for capacity_type in CapacityType::ALL {
                let _ = parsed.faults.is_unavailable(&offering(capacity_type, &instance_type, &zone));
            }
        }

        /// Lines made of the format's own alphabet (colons, stars, names) read without panic
        /// and a pattern of stars only matches every offering of its capacity type.
        #[test]
        fn structured_text_reads_without_panic(
            lines in proptest::collection::vec("[a-z*:.#\\- ]{0,30}", 0..20),
        ) {
            let parsed = Faults::parse(&lines.join("\n"));
            for pattern in parsed.faults.patterns() {
                if pattern.instance_type.chars().all(|c| c == '*')
                    && pattern.zone.chars().all(|c| c == '*')
                {
                    let capacity_type = pattern.capacity_type.unwrap_or(CapacityType::Spot);
                    proptest::prop_assert!(pattern.matches(&offering(capacity_type, "m5.large", "us-east-1a")));
                }
            }
        }
    }
}
