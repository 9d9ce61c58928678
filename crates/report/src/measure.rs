//! Measurements turned into report values: times as ISO 8601 durations (for JSON) and as
//! clock durations (for people), nearest-rank percentiles and spreads of a sample.

use crate::model::{Percentiles, Spread};

/// `seconds` as an ISO 8601 duration in whole seconds (rounded down), hours unbounded:
/// `PT0S`, `PT45S`, `PT3H12M`, `PT76H5M3S`. Zero parts are omitted; negative or non-finite
/// input gives `PT0S`.
pub fn iso8601_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 1.0 {
        return "PT0S".to_owned();
    }
    let total = seconds.floor() as u64;
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    let mut duration = "PT".to_owned();
    for (value, unit) in [(hours, 'H'), (minutes, 'M'), (seconds, 'S')] {
        if value > 0 {
            duration.push_str(&value.to_string());
            duration.push(unit);
        }
    }
    duration
}

/// `seconds` as a duration for people, in whole seconds (rounded down): `0:00:45`,
/// `3:12:00`, and with days once it reaches one, `9d 11:55:01`. Negative or non-finite input
/// gives `0:00:00`. JSON keeps ISO 8601 ([`iso8601_duration`]); tables and event details use
/// this.
pub fn clock_duration(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds >= 1.0 {
        seconds.floor() as u64
    } else {
        0
    };
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d {hours:02}:{minutes:02}:{seconds:02}")
    } else {
        format!("{hours}:{minutes:02}:{seconds:02}")
    }
}

/// The nearest-rank median and the largest of `values`, which it sorts in place; NaN values
/// are ignored.
pub fn spread(values: &mut [f64]) -> Spread {
    let count = values.iter().filter(|value| !value.is_nan()).count() as u64;
    let Percentiles { p50, max, .. } = percentiles(values);
    Spread { p50, max, count }
}

/// Nearest-rank p50, p99 and max of `values`, which it sorts in place (IEEE total order).
/// NaN values are ignored; all zeros when nothing is left.
pub fn percentiles(values: &mut [f64]) -> Percentiles {
    values.sort_by(f64::total_cmp);
    // Total order puts negative NaN first and positive NaN last.
    let start = values.iter().position(|value| !value.is_nan());
    let end = values.iter().rposition(|value| !value.is_nan());
    let (Some(start), Some(end)) = (start, end) else {
        return Percentiles {
            p50: 0.0,
            p99: 0.0,
            max: 0.0,
        };
    };
    let sorted = &values[start..=end];
    let nearest_rank = |percent: f64| {
        let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    };
    Percentiles {
        p50: nearest_rank(50.0),
        p99: nearest_rank(99.0),
        max: sorted[sorted.len() - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_duration_formats_whole_seconds() {
        let cases = [
            (0.0, "PT0S"),
            (0.9, "PT0S"),
            (-5.0, "PT0S"),
            (f64::NAN, "PT0S"),
            (f64::INFINITY, "PT0S"),
            (45.0, "PT45S"),
            (45.99, "PT45S"),
            (60.0, "PT1M"),
            (3600.0, "PT1H"),
            (3.0 * 3600.0 + 12.0 * 60.0, "PT3H12M"),
            (3600.0 + 1.0, "PT1H1S"),
            (76.0 * 3600.0 + 5.0 * 60.0 + 3.0, "PT76H5M3S"),
            (90_061.0, "PT25H1M1S"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(iso8601_duration(seconds), expected, "{seconds} s");
        }
    }

    #[test]
    fn clock_duration_reads_as_days_and_a_clock() {
        let cases = [
            (0.0, "0:00:00"),
            (-5.0, "0:00:00"),
            (f64::NAN, "0:00:00"),
            (f64::INFINITY, "0:00:00"),
            (45.99, "0:00:45"),
            (3.0 * 3600.0 + 12.0 * 60.0, "3:12:00"),
            (86_399.0, "23:59:59"),
            (86_400.0, "1d 00:00:00"),
            (227.0 * 3600.0 + 55.0 * 60.0 + 1.0, "9d 11:55:01"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(clock_duration(seconds), expected, "{seconds} s");
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let mut reversed_thousand: Vec<f64> = (1..=1000).rev().map(f64::from).collect();
        reversed_thousand.push(f64::NAN);
        let cases = [
            ("empty", vec![], (0.0, 0.0, 0.0)),
            ("only NaN", vec![f64::NAN], (0.0, 0.0, 0.0)),
            ("one", vec![7.5], (7.5, 7.5, 7.5)),
            ("two", vec![3.0, 1.0], (1.0, 3.0, 3.0)),
            ("four", vec![4.0, 1.0, 3.0, 2.0], (2.0, 4.0, 4.0)),
            ("hundred", hundred, (50.0, 99.0, 100.0)),
            (
                "thousand, unsorted, NaN",
                reversed_thousand,
                (500.0, 990.0, 1000.0),
            ),
        ];
        for (name, mut values, (p50, p99, max)) in cases {
            assert_eq!(
                percentiles(&mut values),
                Percentiles { p50, p99, max },
                "{name}"
            );
        }
    }
}
