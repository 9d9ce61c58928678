//! The metric families as documentation, read back from the exposition itself rather than
//! kept by hand: a [`Metrics`] whose every labelled family holds one series with example label
//! values is encoded, and each family's `HELP`, `TYPE` and first sample's label names are
//! read from the text. `docs/metrics.md` is [`markdown`]'s output, and a test fails when the
//! committed copy differs.

use crate::error::MetricsError;
use crate::metrics::Metrics;

/// One metric family as a user queries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricDescription {
    /// The name to query: a counter's with its `_total` suffix, a histogram's or summary's
    /// family name (its series add `_bucket`, `_sum`, `_count`).
    pub name: String,
    /// `counter`, `gauge`, `histogram` or `summary`.
    pub kind: String,
    /// The label names, in encoding order (`le` and `quantile` left out).
    pub labels: Vec<String>,
    /// The help text.
    pub help: String,
}

/// Every family of [`Metrics`], in registration order.
pub fn descriptions() -> Result<Vec<MetricDescription>, MetricsError> {
    let metrics = Metrics::new("simulated");
    metrics.touch_every_family();
    parse_exposition(&metrics.encode()?)
}

/// `docs/metrics.md`: a table of every family, and how the exposition is served.
pub fn markdown() -> Result<String, MetricsError> {
    let mut text = String::from(
        "# Metrics\n\n\
         Generated from the registry of `spotter_metrics::Metrics` by\n\
         `cargo run -p spotter-metrics --bin generate-metrics-docs`; do not edit (a test fails when\n\
         this file is stale).\n\n\
         `/metrics` serves OpenMetrics 1.0 text (what Prometheus asks for), or the Prometheus text\n\
         format 0.0.4 to a client that asks for `text/plain` only. Karpenter's families keep\n\
         Karpenter's names and label sets; where Karpenter v1.0 and later versions differ, the\n\
         help says which set is used. Node families carry every well-known node label in snake\n\
         case without its domain, as Karpenter's do; a label the node lacks is left out, which\n\
         Prometheus reads as the empty value Karpenter exposes.\n\n\
         | Metric | Type | Labels | Help |\n\
         |---|---|---|---|\n",
    );
    for description in descriptions()? {
        let labels = if description.labels.is_empty() {
            "—".to_string()
        } else {
            description
                .labels
                .iter()
                .map(|label| format!("`{label}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        text.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            description.name,
            description.kind,
            labels,
            description.help.replace('|', "\\|")
        ));
    }
    Ok(text)
}

/// Reads the families of an OpenMetrics text exposition.
fn parse_exposition(text: &str) -> Result<Vec<MetricDescription>, MetricsError> {
    let mut families: Vec<(String, MetricDescription, bool)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let error = |reason: String| MetricsError::Describe {
            line: index + 1,
            reason,
        };
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .ok_or_else(|| error("HELP without text".to_string()))?;
            families.push((
                name.to_string(),
                MetricDescription {
                    name: name.to_string(),
                    kind: String::new(),
                    labels: Vec::new(),
                    help: help.to_string(),
                },
                false,
            ));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| error("TYPE without a type".to_string()))?;
            let Some((family, description, _)) = families.last_mut() else {
                return Err(error(format!("TYPE of {name} before its HELP")));
            };
            if family != name {
                return Err(error(format!("TYPE of {name} after the HELP of {family}")));
            }
            description.kind = kind.to_string();
            if kind == "counter" {
                description.name = format!("{name}_total");
            }
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            let Some((family, description, labels_read)) = families.last_mut() else {
                return Err(error("a sample before any family".to_string()));
            };
            if !line.starts_with(family.as_str()) {
                return Err(error(format!("a sample outside its family {family}")));
            }
            if !*labels_read {
                let labels = label_names(line).map_err(error)?;
                if !labels.is_empty() {
                    description.labels = labels
                        .into_iter()
                        .filter(|label| label != "le" && label != "quantile")
                        .collect();
                    *labels_read = true;
                }
            }
        }
    }
    Ok(families
        .into_iter()
        .map(|(_, description, _)| description)
        .collect())
}

/// The label names of a sample line (`name{a="x",b="y"} 1`), in order.
fn label_names(sample: &str) -> Result<Vec<String>, String> {
    let Some(open) = sample.find('{') else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    let mut characters = sample[open + 1..].chars();
    let mut name = String::new();
    loop {
        match characters.next() {
            None => return Err(format!("unterminated label set in {sample:?}")),
            Some('}') if name.is_empty() => return Ok(names),
            Some(',') if name.is_empty() => {}
            Some('=') => {
                if characters.next() != Some('"') {
                    return Err(format!("label {name} without a quoted value in {sample:?}"));
                }
                loop {
                    match characters.next() {
                        None => return Err(format!("unterminated value in {sample:?}")),
                        Some('\\') => {
                            characters.next();
                        }
                        Some('"') => break,
                        Some(_) => {}
                    }
                }
                names.push(std::mem::take(&mut name));
            }
            Some(character) => name.push(character),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_read_in_order_whatever_the_values() {
        let cases: [(&str, &[&str]); 4] = [
            ("up 1", &[]),
            ("x{} 1", &[]),
            ("x{a=\"\",b=\"2\"} 1", &["a", "b"]),
            ("x{a=\"q\\\"uo,te}\",le=\"+Inf\"} 1", &["a", "le"]),
        ];
        for (sample, expected) in cases {
            assert_eq!(
                label_names(sample).expect("a valid sample"),
                expected,
                "{sample}"
            );
        }
        assert!(label_names("x{a=\"1\"").is_err());
        assert!(label_names("x{a=1} 1").is_err());
    }

    #[test]
    fn families_are_read_with_counter_names_and_without_le_or_quantile() {
        let text = "# HELP requests Requests.\n\
                    # TYPE requests counter\n\
                    requests_total{method=\"\"} 0\n\
                    # HELP latency Latency.\n\
                    # TYPE latency histogram\n\
                    latency_sum{controller=\"\"} 0\n\
                    latency_bucket{controller=\"\",le=\"0.5\"} 0\n\
                    # HELP ratio Ratio.\n\
                    # TYPE ratio gauge\n\
                    ratio 0.5\n\
                    # EOF\n";
        let families = parse_exposition(text).expect("a valid exposition");
        let summary: Vec<(&str, &str, Vec<&str>)> = families
            .iter()
            .map(|family| {
                (
                    family.name.as_str(),
                    family.kind.as_str(),
                    family.labels.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("requests_total", "counter", vec!["method"]),
                ("latency", "histogram", vec!["controller"]),
                ("ratio", "gauge", vec![]),
            ]
        );
    }

    #[test]
    fn malformed_expositions_are_errors_naming_the_line() {
        let cases = [
            ("x 1\n", 1),
            ("# HELP a A.\n# TYPE b gauge\n", 2),
            ("# HELP a A.\n# TYPE a gauge\nb 1\n", 3),
        ];
        for (text, line) in cases {
            match parse_exposition(text) {
                Err(MetricsError::Describe { line: found, .. }) => {
                    assert_eq!(found, line, "{text:?}")
                }
                other => panic!("{text:?}: expected an error at line {line}, got {other:?}"),
            }
        }
    }
}
