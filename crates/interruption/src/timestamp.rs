//! The time formats EC2 uses in interruption signals, parsed into [`SystemTime`] without a
//! date library: RFC 3339 (`2017-09-18T08:22:00Z`, IMDS spot and rebalance answers and the
//! EventBridge envelope), the Go layout `2 Jan 2006 15:04:05 GMT` of IMDS scheduled events,
//! and the RFC 1123 dates (`Wed, 05 Apr 2023 15:10:00 GMT`) of AWS Health events.
//! Dates before the Unix epoch are rejected: no interruption signal carries one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a time could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The text does not have the expected layout.
    #[error("failed to read time {text:?}: expected the layout {layout}")]
    Layout {
        /// The text received.
        text: String,
        /// The layout expected, as an example.
        layout: &'static str,
    },
    /// A field is outside its range (month 13, hour 25, day 31 in April, ...).
    #[error("failed to read time {text:?}: {field} is out of range")]
    OutOfRange {
        /// The text received.
        text: String,
        /// The field out of range.
        field: &'static str,
    },
    /// The date is before 1970-01-01.
    #[error("failed to read time {text:?}: it is before 1970")]
    BeforeEpoch {
        /// The text received.
        text: String,
    },
}

/// The example layout named in RFC 3339 errors.
pub const RFC3339_LAYOUT: &str = "2017-09-18T08:22:00Z";
/// The example layout named in IMDS scheduled-event errors.
pub const IMDS_EVENT_LAYOUT: &str = "21 Jan 2019 09:00:43 GMT";
/// The example layout named in RFC 1123 errors.
pub const RFC1123_LAYOUT: &str = "Wed, 05 Apr 2023 15:10:00 GMT";

/// Parses an RFC 3339 time: `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or `±HH:MM`.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, TimestampError> {
    let layout_error = || TimestampError::Layout {
        text: text.to_owned(),
        layout: RFC3339_LAYOUT,
    };
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return Err(layout_error());
    }
    let year = digits(&bytes[0..4]).ok_or_else(layout_error)?;
    let month = digits(&bytes[5..7]).ok_or_else(layout_error)?;
    let day = digits(&bytes[8..10]).ok_or_else(layout_error)?;
    let hour = digits(&bytes[11..13]).ok_or_else(layout_error)?;
    let minute = digits(&bytes[14..16]).ok_or_else(layout_error)?;
    let second = digits(&bytes[17..19]).ok_or_else(layout_error)?;
    let mut rest = &bytes[19..];
    let mut nanos = 0u32;
    if let Some((b'.', fraction_and_zone)) = rest.split_first() {
        let fraction_len = fraction_and_zone
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        if fraction_len == 0 {
            return Err(layout_error());
        }
        for (index, byte) in fraction_and_zone[..fraction_len].iter().take(9).enumerate() {
            nanos += u32::from(byte - b'0') * 10u32.pow(8 - index as u32);
        }
        rest = &fraction_and_zone[fraction_len..];
    }
    let offset_seconds: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2]).ok_or_else(layout_error)?;
            let minutes = digits(&[*m1, *m2]).ok_or_else(layout_error)?;
            if hours > 23 || minutes > 59 {
                return Err(out_of_range(text, "the zone offset"));
            }
            let magnitude = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'+' { magnitude } else { -magnitude }
        }
        _ => return Err(layout_error()),
    };
    let civil = Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
    };
    let local_seconds = civil.seconds_since_epoch(text)?;
    to_system_time(text, local_seconds - offset_seconds, nanos)
}

/// Parses the Go layout `2 Jan 2006 15:04:05 GMT` of IMDS scheduled events (day with one or
/// two digits).
pub fn parse_imds_event_time(text: &str) -> Result<SystemTime, TimestampError> {
    let layout_error = || TimestampError::Layout {
        text: text.to_owned(),
        layout: IMDS_EVENT_LAYOUT,
    };
    let mut words = text.split(' ');
    let (Some(day), Some(month), Some(year), Some(clock), Some("GMT"), None) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return Err(layout_error());
    };
    let civil = civil_from_words(day, month, year, clock).ok_or_else(layout_error)?;
    let seconds = civil.seconds_since_epoch(text)?;
    to_system_time(text, seconds, 0)
}

/// Parses an RFC 1123 date, `Wed, 05 Apr 2023 15:10:00 GMT` (the weekday is not checked).
pub fn parse_rfc1123(text: &str) -> Result<SystemTime, TimestampError> {
    let layout_error = || TimestampError::Layout {
        text: text.to_owned(),
        layout: RFC1123_LAYOUT,
    };
    let Some((weekday, rest)) = text.split_once(", ") else {
        return Err(layout_error());
    };
    if weekday.len() != 3 || !weekday.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        return Err(layout_error());
    }
    parse_imds_event_time(rest).map_err(|error| match error {
        TimestampError::Layout { .. } => layout_error(),
        TimestampError::OutOfRange { field, .. } => out_of_range(text, field),
        TimestampError::BeforeEpoch { .. } => TimestampError::BeforeEpoch {
            text: text.to_owned(),
        },
    })
}

/// Seconds since the Unix epoch of a time (0 for times before it).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|duration| duration.as_secs())
        .unwrap_or(0)
}

/// Formats a time as RFC 3339 UTC with whole seconds, `2017-09-18T08:22:00Z`.
pub fn format_rfc3339(time: SystemTime) -> String {
    let seconds = unix_seconds(time) as i64;
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

struct Civil {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Civil {
    fn seconds_since_epoch(&self, text: &str) -> Result<i64, TimestampError> {
        if !(1..=12).contains(&self.month) {
            return Err(out_of_range(text, "the month"));
        }
        if self.day < 1 || self.day > days_in_month(self.year, self.month) {
            return Err(out_of_range(text, "the day"));
        }
        if self.hour > 23 {
            return Err(out_of_range(text, "the hour"));
        }
        if self.minute > 59 {
            return Err(out_of_range(text, "the minute"));
        }
        // 60 is a leap second; it is read as the next second, as most parsers do.
        if self.second > 60 {
            return Err(out_of_range(text, "the second"));
        }
        let days = days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        Ok(days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second))
    }
}

fn civil_from_words(day: &str, month: &str, year: &str, clock: &str) -> Option<Civil> {
    if day.is_empty() || day.len() > 2 || year.len() != 4 {
        return None;
    }
    let month = MONTHS.iter().position(|name| *name == month)? as u32 + 1;
    let clock = clock.as_bytes();
    if clock.len() != 8 || clock[2] != b':' || clock[5] != b':' {
        return None;
    }
    Some(Civil {
        year: digits(year.as_bytes())?,
        month,
        day: digits(day.as_bytes())?,
        hour: digits(&clock[0..2])?,
        minute: digits(&clock[3..5])?,
        second: digits(&clock[6..8])?,
    })
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0u32, |value, byte| value * 10 + u32::from(byte - b'0')),
    )
}

fn out_of_range(text: &str, field: &'static str) -> TimestampError {
    TimestampError::OutOfRange {
        text: text.to_owned(),
        field,
    }
}

fn to_system_time(text: &str, seconds: i64, nanos: u32) -> Result<SystemTime, TimestampError> {
    let seconds = u64::try_from(seconds).map_err(|_| TimestampError::BeforeEpoch {
        text: text.to_owned(),
    })?;
    Ok(UNIX_EPOCH + Duration::new(seconds, nanos))
}

fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn rfc3339_table() {
        let cases: &[(&str, Option<SystemTime>)] = &[
            ("1970-01-01T00:00:00Z", Some(at(0))),
            ("2017-09-18T08:22:00Z", Some(at(1_505_722_920))),
            ("2020-10-27T08:22:00Z", Some(at(1_603_786_920))),
            ("2024-02-29T23:59:59Z", Some(at(1_709_251_199))),
            ("2017-09-18T10:22:00+02:00", Some(at(1_505_722_920))),
            ("2017-09-18T06:22:00-02:00", Some(at(1_505_722_920))),
            (
                "2017-09-18T08:22:00.5Z",
                Some(at(1_505_722_920) + Duration::from_millis(500)),
            ),
            ("2017-09-18 08:22:00Z", Some(at(1_505_722_920))),
            ("2023-02-29T00:00:00Z", None),
            ("2017-13-18T08:22:00Z", None),
            ("2017-09-18T24:00:00Z", None),
            ("2017-09-18T08:22:00", None),
            ("2017-09-18T08:22:00.Z", None),
            ("1969-12-31T23:59:59Z", None),
            ("1970-01-01T00:00:00+01:00", None),
            ("", None),
            ("2017-09-18T08:22:00Zjunk", None),
            ("２017-09-18T08:22:00Z", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_rfc3339(text).ok(), *expected, "{text}");
        }
    }

    #[test]
    fn imds_event_time_table() {
        let cases: &[(&str, Option<SystemTime>)] = &[
            ("21 Jan 2019 09:00:43 GMT", Some(at(1_548_061_243))),
            ("2 Jan 2006 15:04:05 GMT", Some(at(1_136_214_245))),
            ("02 Jan 2006 15:04:05 GMT", Some(at(1_136_214_245))),
            ("21 Jan 2019 09:00:43 UTC", None),
            ("21 January 2019 09:00:43 GMT", None),
            ("31 Apr 2019 09:00:43 GMT", None),
            ("21 Jan 2019 09:00 GMT", None),
            ("21 Jan 2019  09:00:43 GMT", None),
            ("2019-01-21T09:00:43Z", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_imds_event_time(text).ok(), *expected, "{text}");
        }
    }

    #[test]
    fn rfc1123_table() {
        assert_eq!(
            parse_rfc1123("Mon, 21 Jan 2019 09:00:43 GMT").ok(),
            Some(at(1_548_061_243))
        );
        assert!(matches!(
            parse_rfc1123("21 Jan 2019 09:00:43 GMT"),
            Err(TimestampError::Layout { .. })
        ));
        assert!(matches!(
            parse_rfc1123("Mon, 30 Feb 2019 09:00:43 GMT"),
            Err(TimestampError::OutOfRange {
                field: "the day",
                ..
            })
        ));
    }

    #[test]
    fn errors_name_the_text_and_layout() {
        let message = match parse_rfc3339("yesterday") {
            Ok(time) => panic!("parsed as {time:?}"),
            Err(error) => error.to_string(),
        };
        assert!(message.contains("yesterday"), "{message}");
        assert!(message.contains(RFC3339_LAYOUT), "{message}");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(seconds in 0u64..8_000_000_000) {
            let time = at(seconds);
            prop_assert_eq!(parse_rfc3339(&format_rfc3339(time)).ok(), Some(time));
        }

        #[test]
        fn random_text_never_panics(text in ".{0,40}") {
            let _ = parse_rfc3339(&text);
            let _ = parse_imds_event_time(&text);
            let _ = parse_rfc1123(&text);
        }
    }
}
