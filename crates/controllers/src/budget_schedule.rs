//! When a NodePool disruption budget with a cron `schedule` and a `duration` is active, as
//! Karpenter decides it: the budget applies while some scheduled start lies in the last
//! `duration` (`(now - duration, now]`). Schedules are five-field cron patterns (minute, hour,
//! day of month, month, day of week) or `@daily`-style nicknames, read in UTC.
//!
//! The controllers' `now` is read as time since the Unix epoch (the cloud provider's clock);
//! the simulator's clock starts at 0, so a simulation starts on 1970-01-01 00:00 UTC, a
//! Thursday, and its hour of day is the scenario's.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use spotter_core::node_pool::Budget;

/// Why a budget's schedule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The pattern is not a cron schedule.
    #[error(
        "failed to parse budget schedule {schedule:?}: {message}; expected five cron fields \
         (minute hour day-of-month month day-of-week, UTC) or a nickname such as @daily"
    )]
    Invalid {
        /// The schedule as written.
        schedule: String,
        /// What the parser said.
        message: String,
    },
    /// A schedule without a duration, or a duration without a schedule.
    #[error(
        "failed to use a disruption budget: `schedule` and `duration` must be set together \
         (schedule {schedule:?}, duration {duration:?})"
    )]
    Incomplete {
        /// The schedule, if set.
        schedule: Option<String>,
        /// The duration, if set.
        duration: Option<Duration>,
    },
}

/// Parses a budget schedule (five fields, no seconds, no year; nicknames allowed).
pub fn parse(schedule: &str) -> Result<Cron, ScheduleError> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(schedule)
        .map_err(|error| ScheduleError::Invalid {
            schedule: schedule.to_string(),
            message: error.to_string(),
        })
}

/// Whether the budget applies at `now`: always without a schedule, else while a scheduled
/// start lies in `(now - duration, now]`.
pub fn is_active(budget: &Budget, now: Duration) -> Result<bool, ScheduleError> {
    let (schedule, duration) = match (&budget.schedule, budget.duration) {
        (None, None) => return Ok(true),
        (Some(schedule), Some(duration)) => (schedule, duration),
        (schedule, duration) => {
            return Err(ScheduleError::Incomplete {
                schedule: schedule.clone(),
                duration,
            });
        }
    };
    let cron = parse(schedule)?;
    let check_point = wall_time(seconds(now) - seconds(duration));
    match cron.find_next_occurrence(&check_point, false) {
        Ok(next) => Ok(next <= wall_time(seconds(now))),
        // A pattern that never matches again is never active.
        Err(_) => Ok(false),
    }
}

/// The next time after `now` at which the budget opens or closes, if it has a schedule (for
/// the controllers to look again then).
pub fn next_change(budget: &Budget, now: Duration) -> Option<Duration> {
    let (Some(schedule), Some(duration)) = (&budget.schedule, budget.duration) else {
        return None;
    };
    let cron = parse(schedule).ok()?;
    let current = wall_time(seconds(now));
    let opens = cron
        .find_next_occurrence(&current, false)
        .ok()
        .and_then(since_epoch);
    // The latest start within the window closes `duration` after it.
    let check_point = wall_time(seconds(now) - seconds(duration));
    let closes = cron
        .find_next_occurrence(&check_point, false)
        .ok()
        .filter(|start| *start <= current)
        .and_then(|_| {
            cron.find_previous_occurrence(&current, true)
                .ok()
                .and_then(since_epoch)
        })
        .map(|start| start + duration)
        .filter(|close| *close > now);
    [opens, closes].into_iter().flatten().min()
}

/// Whole seconds of a duration, as a signed count.
fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 2)
}

/// Seconds since the Unix epoch (negative before it) as a UTC wall time.
fn wall_time(seconds: i64) -> NaiveDateTime {
    DateTime::from_timestamp(seconds, 0)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .naive_utc()
}

/// A UTC wall time as time since the Unix epoch (`None` before it).
fn since_epoch(time: NaiveDateTime) -> Option<Duration> {
    u64::try_from(time.and_utc().timestamp())
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotter_core::node_pool::BudgetNodes;

    const HOUR: u64 = 3600;
    const DAY: u64 = 24 * HOUR;

    fn budget(schedule: Option<&str>, duration_hours: Option<u64>) -> Budget {
        Budget {
            nodes: BudgetNodes::Count(0),
            schedule: schedule.map(str::to_string),
            duration: duration_hours.map(|hours| Duration::from_secs(hours * HOUR)),
            reasons: Vec::new(),
        }
    }

    #[test]
    fn scheduled_budgets_are_active_within_their_window() {
        // 1970-01-01 is a Thursday; 1970-01-05 a Monday.
        let cases = [
            ("unscheduled: always", budget(None, None), 5 * HOUR, true),
            (
                "daily 09:00 for 8h, at 08:59",
                budget(Some("0 9 * * *"), Some(8)),
                9 * HOUR - 60,
                false,
            ),
            (
                "daily 09:00 for 8h, at 09:00",
                budget(Some("0 9 * * *"), Some(8)),
                9 * HOUR,
                true,
            ),
            (
                "daily 09:00 for 8h, at 16:59",
                budget(Some("0 9 * * *"), Some(8)),
                17 * HOUR - 60,
                true,
            ),
            (
                "daily 09:00 for 8h, at 17:00",
                budget(Some("0 9 * * *"), Some(8)),
                17 * HOUR,
                false,
            ),
            (
                "daily 22:00 for 4h, over midnight",
                budget(Some("0 22 * * *"), Some(4)),
                DAY + HOUR,
                true,
            ),
            (
                "at midnight for 2h, at the epoch",
                budget(Some("@daily"), Some(2)),
                0,
                true,
            ),
            (
                "weekdays only, on Saturday",
                budget(Some("0 0 * * 1-5"), Some(24)),
                2 * DAY + 12 * HOUR,
                false,
            ),
            (
                "weekdays only, on Monday",
                budget(Some("0 0 * * mon-fri"), Some(24)),
                4 * DAY + 12 * HOUR,
                true,
            ),
        ];
        for (name, budget, now, expected) in cases {
            assert_eq!(
                is_active(&budget, Duration::from_secs(now)),
                Ok(expected),
                "case {name:?}"
            );
        }
    }

    #[test]
    fn unusable_schedules_are_errors() {
        for (name, budget) in [
            ("six fields", budget(Some("0 0 9 * * *"), Some(1))),
            ("not cron", budget(Some("every day"), Some(1))),
            ("no duration", budget(Some("0 9 * * *"), None)),
            ("no schedule", budget(None, Some(1))),
        ] {
            assert!(is_active(&budget, Duration::ZERO).is_err(), "case {name:?}");
        }
    }

    #[test]
    fn the_next_change_is_the_window_opening_or_closing() {
        let daily = budget(Some("0 9 * * *"), Some(8));
        let cases = [
            ("before the window: it opens", 8 * HOUR, 9 * HOUR),
            ("inside: it closes", 10 * HOUR, 17 * HOUR),
            ("after: it opens the next day", 18 * HOUR, DAY + 9 * HOUR),
        ];
        for (name, now, expected) in cases {
            assert_eq!(
                next_change(&daily, Duration::from_secs(now)),
                Some(Duration::from_secs(expected)),
                "case {name:?}"
            );
        }
        assert_eq!(next_change(&budget(None, None), Duration::ZERO), None);
    }
}
