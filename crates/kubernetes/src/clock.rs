//! The controllers' time in this world: the wall clock as a `Duration` since the Unix epoch,
//! so that the times written on objects (a deletion's deadline, a NodePool's last return to
//! Spot) mean the same to a restarted controller; and its conversions to and from the API's
//! timestamps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Now, since the Unix epoch.
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// An API timestamp as a time since the Unix epoch (zero for times before it).
pub fn from_time(time: &Time) -> Duration {
    Duration::try_from(time.0.as_duration()).unwrap_or_default()
}

/// A time since the Unix epoch as an API timestamp.
pub fn to_time(since_epoch: Duration) -> Time {
    let signed = SignedDuration::try_from(since_epoch).unwrap_or(SignedDuration::ZERO);
    Time(Timestamp::from_duration(signed).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A time since the Unix epoch as RFC 3339 text (`2026-12-04T20:21:00Z`).
pub fn rfc3339(since_epoch: Duration) -> String {
    to_time(since_epoch).0.to_string()
}

/// RFC 3339 text as a time since the Unix epoch.
pub fn parse_rfc3339(text: &str) -> Option<Duration> {
    let timestamp: Timestamp = text.parse().ok()?;
    Duration::try_from(timestamp.as_duration()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_the_api_and_text() {
        let time = Duration::from_secs(1_796_400_000);
        assert_eq!(from_time(&to_time(time)), time);
        assert_eq!(parse_rfc3339(&rfc3339(time)), Some(time));
        assert_eq!(parse_rfc3339("not a time"), None);
    }
}
