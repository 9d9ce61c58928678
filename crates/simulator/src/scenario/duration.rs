//! Durations as scenarios write them: whole days, hours, minutes and seconds (`30s`, `5m`,
//! `2h`, `1h30m`, `14d`, `1d12h`, or `0`), parsed and formatted back.

use std::time::Duration;

/// Parses a scenario duration: one or more whole numbers each followed by a unit, `d` (24
/// hours), `h`, `m` or `s`, such as `30s`, `1h30m`, `14d` or `1d12h`; `0` alone is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let expected = || {
        format!(
            "{text:?} is not a duration: expected whole days, hours, minutes and seconds such as 30s, 5m, 2h, 1h30m, 14d or 1d12h"
        )
    };
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    spotter_api::duration::seconds(trimmed, true)
        .map(Duration::from_secs)
        .ok_or_else(expected)
}

/// Formats a duration the way scenarios write it, largest units first (`1d12h`, `1h30m`,
/// `45s`, `0s`); sub-second parts are dropped.
pub fn format_duration(duration: Duration) -> String {
    let mut seconds = duration.as_secs();
    if seconds == 0 {
        return "0s".to_string();
    }
    let mut text = String::new();
    for (unit, size) in [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)] {
        let count = seconds / size;
        if count > 0 {
            text.push_str(&count.to_string());
            text.push(unit);
            seconds -= count * size;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_scenario_durations() {
        let cases: &[(&str, Option<u64>)] = &[
            ("30s", Some(30)),
            ("5m", Some(300)),
            ("2h", Some(7_200)),
            ("1h30m", Some(5_400)),
            ("14d", Some(1_209_600)),
            ("1d12h", Some(129_600)),
            ("0", Some(0)),
            ("0s", Some(0)),
            (" 3d ", Some(259_200)),
            ("", None),
            ("10", None),
            ("1.5h", None),
            ("h", None),
            ("2w", None),
            ("-1h", None),
            ("99999999999999999999d", None),
            ("999999999999999d", None),
        ];
        for (text, expected) in cases {
            let parsed = parse_duration(text).ok().map(|duration| duration.as_secs());
            assert_eq!(parsed, *expected, "{text:?}");
            if let Some(seconds) = expected {
                let formatted = format_duration(Duration::from_secs(*seconds));
                assert_eq!(
                    parse_duration(&formatted).ok(),
                    Some(Duration::from_secs(*seconds))
                );
            }
        }
        assert_eq!(format_duration(Duration::from_secs(129_600)), "1d12h");
        assert_eq!(format_duration(Duration::from_secs(5_430)), "1h30m30s");
    }
}
