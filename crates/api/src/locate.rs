//! Finding the line of a field in a YAML text from its field path
//! (`spec.template.spec.requirements[0].operator`, `workloads[1].replicas.diurnal.min`), so
//! that problems found after the text was read (a negative quantity, a weight out of range, a
//! minimum above its maximum, a zone the region lacks) can still name their line. Manifests
//! and scenarios both use it. It walks the YAML with serde_yaml_ng's own parser and stops with a
//! marker error at the node the path leads to, which the parser stamps with that node's
//! position; when the path leads nowhere it reports the deepest node it did reach.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The line (from 1) of the node at `path` in `text`, or of the deepest node on the way there
/// that exists. A last segment that is a key reports the key's own line.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let segments = parse_path(path);
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    match deserializer.deserialize_any(Navigate { path: &segments }) {
        Ok(()) => None,
        Err(error) => error.location().map(|location| location.line()),
    }
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Splits `a.b[2].c` into keys and indices; anything unreadable ends the path there.
fn parse_path(path: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    if path.starts_with('(') {
        return segments;
    }
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(position) => (&part[..position], &part[position..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            segments.push(Segment::Key(name.to_string()));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else {
                return segments;
            };
            let Ok(index) = stripped[..end].parse() else {
                return segments;
            };
            segments.push(Segment::Index(index));
            rest = &stripped[end + 1..];
        }
        if !rest.is_empty() {
            return segments;
        }
    }
    segments
}

/// The error that marks the node found; the parser attaches the node's position to it.
const MARKER: &str = "located";

/// Walks down `path`, failing at its end (or at the deepest node that exists).
struct Navigate<'p> {
    path: &'p [Segment],
}

impl<'de> DeserializeSeed<'de> for Navigate<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Navigate<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a node to locate")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if let [Segment::Key(_), ..] = self.path {
            let seed = KeySeed { path: self.path };
            while let Some(found) = map.next_key_seed(seed)? {
                if let Some(consumed) = found {
                    return map.next_value_seed(Navigate {
                        path: &self.path[consumed..],
                    });
                }
                map.next_value::<IgnoredAny>()?;
            }
        }
        Err(de::Error::custom(MARKER))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let [Segment::Index(wanted), rest @ ..] = self.path {
            let mut index = 0;
            loop {
                if index == *wanted {
                    if seq.next_element_seed(Navigate { path: rest })?.is_none() {
                        break;
                    }
                    return Ok(());
                }
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    break;
                }
                index += 1;
            }
        }
        Err(de::Error::custom(MARKER))
    }
}

/// Reads one mapping key: how many path segments it stands for when it is the one wanted (a
/// key with dots, such as a label `karpenter.sh/nodepool`, spans several), `None` otherwise;
/// fails on it when it ends the path, so that the key's own line is reported.
#[derive(Clone, Copy)]
struct KeySeed<'p> {
    path: &'p [Segment],
}

impl KeySeed<'_> {
    fn check<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        let mut consumed = 0;
        for part in key.split('.') {
            match self.path.get(consumed) {
                Some(Segment::Key(name)) if name == part => consumed += 1,
                _ => return Ok(None),
            }
        }
        if consumed == self.path.len() {
            Err(E::custom(MARKER))
        } else {
            Ok(Some(consumed))
        }
    }
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Option<usize>, E> {
        self.check(value)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Option<usize>, E> {
        self.check(&value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Option<usize>, E> {
        self.check(&value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Option<usize>, E> {
        self.check(&value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Option<usize>, E> {
        self.check(&value.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<usize>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<usize>, A::Error> {
        IgnoredAny.visit_map(map).map(|_| None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<usize>, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_field_paths() {
        assert_eq!(
            parse_path("workloads[1].replicas.diurnal"),
            vec![
                Segment::Key("workloads".into()),
                Segment::Index(1),
                Segment::Key("replicas".into()),
                Segment::Key("diurnal".into()),
            ]
        );
        assert_eq!(
            parse_path("a[0][2]"),
            vec![
                Segment::Key("a".into()),
                Segment::Index(0),
                Segment::Index(2)
            ]
        );
        assert!(parse_path("(top level)").is_empty());
    }

    #[test]
    fn finds_the_line_of_a_field_or_its_deepest_parent() {
        let text = "name: x\nworkloads:\n  - job: {}\n    every: 1h\n  - deployment:\n      metadata:\n        name: web\n    replicas:\n      diurnal: {min: 1, max: 2, peakHour: 3}\nfaults: [{at: 1d}, {at: 2d}]\nlabels:\n  example.com/team: a\n";
        let cases = [
            ("name", Some(1)),
            ("workloads", Some(2)),
            ("workloads[0]", Some(3)),
            ("workloads[0].every", Some(4)),
            ("workloads[1]", Some(5)),
            ("workloads[1].deployment.metadata.name", Some(7)),
            ("workloads[1].deployment.spec.replicas", Some(6)),
            ("workloads[1].replicas.diurnal.max", Some(9)),
            ("workloads[7].job", Some(3)),
            ("faults[1].at", Some(10)),
            ("missing.field", Some(1)),
            ("labels.example.com/team", Some(12)),
            ("labels.example.com/other", Some(12)),
        ];
        for (path, expected) in cases {
            assert_eq!(line_of(text, path), expected, "{path}");
        }
    }
}
