//! A Prometheus summary: quantiles over the observations of a sliding time window, and the
//! count and sum of every observation. prometheus-client has no summary type, and Karpenter's
//! `karpenter_pods_startup_duration_seconds` is one (quantiles 0, 0.5, 0.9, 0.99 and 1, over
//! client_golang's default ten-minute window), so this keeps the observations and writes the
//! family itself, without labels, in the text both exposition formats share. Quantiles are
//! exact (sorted observations), not client_golang's approximation; with no observation in the
//! window they are `NaN`, as client_golang's are. Time is passed in, never read.

use std::collections::VecDeque;
use std::fmt::{self, Write};
use std::time::Duration;

/// A summary without labels.
#[derive(Debug)]
pub(crate) struct Summary {
    name: &'static str,
    help: &'static str,
    quantiles: &'static [f64],
    max_age: Duration,
    max_observations: usize,
    window: VecDeque<(Duration, f64)>,
    count: u64,
    sum: f64,
}

impl Summary {
    /// A summary of the last `max_age` of observations (at most `max_observations` of them).
    pub fn new(
        name: &'static str,
        help: &'static str,
        quantiles: &'static [f64],
        max_age: Duration,
        max_observations: usize,
    ) -> Self {
        Self {
            name,
            help,
            quantiles,
            max_age,
            max_observations,
            window: VecDeque::new(),
            count: 0,
            sum: 0.0,
        }
    }

    /// Records one observation made at `now`.
    pub fn observe(&mut self, now: Duration, value: f64) {
        self.expire(now);
        if self.window.len() == self.max_observations {
            self.window.pop_front();
        }
        self.window.push_back((now, value));
        self.count += 1;
        self.sum += value;
    }

    /// Forgets the observations older than the window at `now`.
    pub fn expire(&mut self, now: Duration) {
        let oldest = now.saturating_sub(self.max_age);
        while self.window.front().is_some_and(|(time, _)| *time < oldest) {
            self.window.pop_front();
        }
    }

    /// The `quantile` (0..=1) of the observations in the window: the smallest observation with
    /// at least that share of the observations at or below it; `NaN` when the window is empty.
    #[cfg(test)]
    pub fn quantile(&self, quantile: f64) -> f64 {
        let mut values: Vec<f64> = self.window.iter().map(|(_, value)| *value).collect();
        values.sort_by(f64::total_cmp);
        quantile_of_sorted(&values, quantile)
    }

    /// Writes the family: `HELP` and `TYPE`, one sample per quantile, `_sum` and `_count`.
    pub fn encode(&self, writer: &mut impl Write) -> fmt::Result {
        let name = self.name;
        writeln!(writer, "# HELP {name} {}.", self.help)?;
        writeln!(writer, "# TYPE {name} summary")?;
        let mut values: Vec<f64> = self.window.iter().map(|(_, value)| *value).collect();
        values.sort_by(f64::total_cmp);
        for &quantile in self.quantiles {
            writeln!(
                writer,
                "{name}{{quantile=\"{quantile}\"}} {}",
                quantile_of_sorted(&values, quantile)
            )?;
        }
        writeln!(writer, "{name}_sum {}", self.sum)?;
        writeln!(writer, "{name}_count {}", self.count)
    }
}

fn quantile_of_sorted(values: &[f64], quantile: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let rank = (quantile * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUANTILES: &[f64] = &[0.0, 0.5, 0.9, 0.99, 1.0];

    fn summary() -> Summary {
        Summary::new(
            "startup_seconds",
            "How long",
            QUANTILES,
            Duration::from_secs(600),
            1000,
        )
    }

    #[test]
    fn quantiles_are_exact_over_the_window() {
        let mut summary = summary();
        for value in 1..=100 {
            summary.observe(Duration::from_secs(1), f64::from(value));
        }
        let cases = [
            (0.0, 1.0),
            (0.5, 50.0),
            (0.9, 90.0),
            (0.99, 99.0),
            (1.0, 100.0),
        ];
        for (quantile, expected) in cases {
            assert_eq!(summary.quantile(quantile), expected, "quantile {quantile}");
        }
    }

    #[test]
    fn old_observations_leave_the_quantiles_but_not_count_and_sum() {
        let mut summary = summary();
        summary.observe(Duration::from_secs(0), 100.0);
        summary.observe(Duration::from_secs(500), 1.0);
        assert_eq!(summary.quantile(1.0), 100.0);
        summary.expire(Duration::from_secs(700));
        assert_eq!(summary.quantile(1.0), 1.0);
        summary.expire(Duration::from_secs(1200));
        assert!(summary.quantile(0.5).is_nan());
        let mut text = String::new();
        summary.encode(&mut text).expect("writing to a String");
        assert!(text.contains("startup_seconds_sum 101\n"), "{text}");
        assert!(text.contains("startup_seconds_count 2\n"), "{text}");
        assert!(
            text.contains("startup_seconds{quantile=\"0.5\"} NaN\n"),
            "{text}"
        );
    }

    #[test]
    fn the_window_keeps_at_most_its_capacity() {
        let mut summary = Summary::new("s", "h", QUANTILES, Duration::from_secs(600), 3);
        for value in [10.0, 1.0, 2.0, 3.0] {
            summary.observe(Duration::ZERO, value);
        }
        assert_eq!(summary.quantile(1.0), 3.0);
        assert_eq!(summary.quantile(0.0), 1.0);
    }

    #[test]
    fn encodes_a_summary_family() {
        let mut summary = summary();
        summary.observe(Duration::ZERO, 2.5);
        let mut text = String::new();
        summary.encode(&mut text).expect("writing to a String");
        assert_eq!(
            text,
            "# HELP startup_seconds How long.\n\
             # TYPE startup_seconds summary\n\
             startup_seconds{quantile=\"0\"} 2.5\n\
             startup_seconds{quantile=\"0.5\"} 2.5\n\
             startup_seconds{quantile=\"0.9\"} 2.5\n\
             startup_seconds{quantile=\"0.99\"} 2.5\n\
             startup_seconds{quantile=\"1\"} 2.5\n\
             startup_seconds_sum 2.5\n\
             startup_seconds_count 1\n"
        );
    }
}
