//! Number and text formatting shared by the terminal and HTML renderers: percentages, USD,
//! hours and counts with thousands separators, compact durations for chart axes, signed
//! differences, truncation, and escaping for HTML/SVG and for terminals. Non-finite numbers
//! print as `n/a`, never as `NaN` or `inf`; a figure of an empty sample prints as `—`.

use std::collections::BTreeMap;

use crate::Spread;

/// What a figure of an empty sample (or a difference involving one) prints as.
pub(super) const NO_SAMPLE: &str = "—";

/// Disruptions by reason as `empty 5, underutilized 2`, or `—` when there were none.
pub(super) fn disruptions(by_reason: &BTreeMap<String, u64>) -> String {
    if by_reason.is_empty() {
        return NO_SAMPLE.to_owned();
    }
    by_reason
        .iter()
        .map(|(reason, disrupted)| format!("{reason} {}", count(*disrupted)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pods that never ran, with their reasons: `2 (incompatible with every NodePool 2)`, or
/// `0`.
pub(super) fn never_scheduled(pods: u64, by_reason: &BTreeMap<String, u64>) -> String {
    if pods == 0 || by_reason.is_empty() {
        return count(pods);
    }
    let reasons: Vec<String> = by_reason
        .iter()
        .map(|(reason, pods)| format!("{reason}: {}", count(*pods)))
        .collect();
    format!("{} ({})", count(pods), reasons.join("; "))
}

/// A fraction (0..1) as a percentage with one decimal: `0.873` → `87.3%`.
pub(super) fn fraction_as_percent(fraction: f64) -> String {
    percent(fraction * 100.0)
}

/// A percentage with one decimal: `62.51` → `62.5%`.
pub(super) fn percent(percent: f64) -> String {
    match decimal(percent, 1) {
        Some(text) => format!("{text}%"),
        None => NOT_AVAILABLE.to_owned(),
    }
}

/// An amount of US dollars with cents and thousands separators: `-1234.5` → `-$1,234.50`.
pub(super) fn usd(amount: f64) -> String {
    match decimal(amount.abs(), 2) {
        Some(text) if amount < 0.0 && text != "0.00" => format!("-${text}"),
        Some(text) => format!("${text}"),
        None => NOT_AVAILABLE.to_owned(),
    }
}

/// A number with `places` decimals and thousands separators: `1234.56` → `1,234.6`.
pub(super) fn number(value: f64, places: usize) -> String {
    decimal(value, places).unwrap_or_else(|| NOT_AVAILABLE.to_owned())
}

/// A count with thousands separators: `2000` → `2,000`.
pub(super) fn count(value: u64) -> String {
    group_thousands(&value.to_string())
}

/// Seconds with one decimal and a unit: `12.34` → `12.3 s`.
pub(super) fn seconds(value: f64) -> String {
    match decimal(value, 1) {
        Some(text) => format!("{text} s"),
        None => NOT_AVAILABLE.to_owned(),
    }
}

/// The median and the largest value of a sample of seconds, `—` each when it is empty.
pub(super) fn spread_seconds(spread: Spread) -> (String, String) {
    if spread.count == 0 {
        return (NO_SAMPLE.to_owned(), NO_SAMPLE.to_owned());
    }
    (seconds(spread.p50), seconds(spread.max))
}

/// Percentage points with one decimal: `12.34` → `12.3 pp`.
pub(super) fn percentage_points(points: f64) -> String {
    match decimal(points, 1) {
        Some(text) => format!("{text} pp"),
        None => NOT_AVAILABLE.to_owned(),
    }
}

/// A difference with its sign: `magnitude` formats its absolute value, then `+` or `-` goes
/// in front unless that shows as zero (`+$12.00`, `-3`, `0.0 pp`); `n/a` when not finite.
pub(super) fn signed(difference: f64, magnitude: impl Fn(f64) -> String) -> String {
    if !difference.is_finite() {
        return NOT_AVAILABLE.to_owned();
    }
    let text = magnitude(difference.abs());
    if !text.chars().any(|digit| matches!(digit, '1'..='9')) {
        text
    } else if difference < 0.0 {
        format!("-{text}")
    } else {
        format!("+{text}")
    }
}

/// A span of time, compactly, in its two largest units: `0`, `45s`, `30m`, `6h`,
/// `1h 30m`, `3d`, `1d 12h`. Used for time-axis ticks and for durations in headlines.
pub(super) fn compact_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 1.0 {
        return "0".to_owned();
    }
    let total = seconds.round() as u64;
    let parts = [
        (total / 86_400, "d"),
        (total / 3600 % 24, "h"),
        (total / 60 % 60, "m"),
        (total % 60, "s"),
    ];
    let Some(first) = parts.iter().position(|(value, _)| *value > 0) else {
        return "0".to_owned();
    };
    parts[first..]
        .iter()
        .take(2)
        .filter(|(value, _)| *value > 0)
        .map(|(value, unit)| format!("{value}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` cut to at most `max_chars` characters, ending with `…` when cut.
pub(super) fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `text` safe inside HTML/SVG element content and quoted attribute values: `& < > " '`
/// become entities and control characters that XML forbids become U+FFFD.
pub(super) fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\t' | '\n' | '\r' => escaped.push(character),
            control if control.is_control() => escaped.push('\u{fffd}'),
            other => escaped.push(other),
        }
    }
    escaped
}

/// `text` safe to print on a terminal: control characters (escape sequences included)
/// become U+FFFD, so a scenario name cannot move the cursor or recolour the screen.
pub(super) fn printable(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_control() {
                '\u{fffd}'
            } else {
                character
            }
        })
        .collect()
}

const NOT_AVAILABLE: &str = "n/a";

/// `value` with `places` decimals and thousands separators, or `None` when not finite.
fn decimal(value: f64, places: usize) -> Option<String> {
    if !value.is_finite() {
        return None;
    }
    // Adding 0.0 turns -0.0 into 0.0; tiny negatives that round to zero lose their sign.
    let text = format!("{:.places$}", value + 0.0);
    let (sign, digits) = match text.strip_prefix('-') {
        Some(digits) if digits.chars().any(|digit| matches!(digit, '1'..='9')) => ("-", digits),
        Some(digits) => ("", digits),
        None => ("", text.as_str()),
    };
    let (integer, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let grouped = group_thousands(integer);
    Some(if fraction.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{fraction}")
    })
}

/// ASCII digits with a comma every three from the right.
fn group_thousands(digits: &str) -> String {
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_format_numbers() {
        let cases = [
            (fraction_as_percent(0.8734), "87.3%"),
            (fraction_as_percent(1.0), "100.0%"),
            (fraction_as_percent(f64::NAN), "n/a"),
            (percent(-0.01), "0.0%"),
            (usd(1234.5), "$1,234.50"),
            (usd(-1234.5), "-$1,234.50"),
            (usd(0.0), "$0.00"),
            (usd(-0.001), "$0.00"),
            (usd(f64::INFINITY), "n/a"),
            (usd(1_000_000.0), "$1,000,000.00"),
            (number(999.96, 1), "1,000.0"),
            (number(12.0, 0), "12"),
            (count(0), "0"),
            (count(2000), "2,000"),
            (count(123_456_789), "123,456,789"),
            (seconds(12.34), "12.3 s"),
            (percentage_points(12.34), "12.3 pp"),
            (percentage_points(f64::NAN), "n/a"),
            (signed(12.0, usd), "+$12.00"),
            (signed(-1234.5, usd), "-$1,234.50"),
            (signed(-0.001, usd), "$0.00"),
            (signed(0.0, percentage_points), "0.0 pp"),
            (signed(-3.0, |value| number(value, 0)), "-3"),
            (signed(f64::NAN, seconds), "n/a"),
            (signed(f64::NEG_INFINITY, seconds), "n/a"),
        ];
        for (actual, expected) in cases {
            assert_eq!(actual, expected);
        }
    }

    #[test]
    fn report_format_spreads_show_empty_samples_as_dashes() {
        let cases = [
            (Spread::default(), ("—", "—")),
            (
                Spread {
                    p50: 0.0,
                    max: 0.0,
                    count: 1,
                },
                ("0.0 s", "0.0 s"),
            ),
            (
                Spread {
                    p50: 4.31,
                    max: 610.0,
                    count: 3,
                },
                ("4.3 s", "610.0 s"),
            ),
        ];
        for (spread, (p50, max)) in cases {
            assert_eq!(
                spread_seconds(spread),
                (p50.to_owned(), max.to_owned()),
                "{spread:?}"
            );
        }
    }

    #[test]
    fn report_format_compact_durations() {
        let cases = [
            (0.0, "0"),
            (f64::NAN, "0"),
            (45.0, "45s"),
            (1800.0, "30m"),
            (5400.0, "1h 30m"),
            (21_600.0, "6h"),
            (86_400.0, "1d"),
            (129_600.0, "1d 12h"),
            (86_400.0 + 60.0, "1d"),
            (259_200.0, "3d"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(compact_duration(seconds), expected, "{seconds}");
        }
    }

    #[test]
    fn report_format_escapes() {
        assert_eq!(
            escape_html("<b>&\"x\"'y'</b>"),
            "&lt;b&gt;&amp;&quot;x&quot;&#39;y&#39;&lt;/b&gt;"
        );
        assert_eq!(escape_html("a\u{1b}[31mb\nc"), "a\u{fffd}[31mb\nc");
        assert_eq!(printable("a\u{1b}[31mb\nc"), "a\u{fffd}[31mb\u{fffd}c");
    }

    #[test]
    fn report_format_truncates_on_characters() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("spot → on-demand", 8), "spot → …");
    }
}
