//! Any text, given to every time parser: none panics, and an RFC 3339 time formats back to
//! a time that parses to the same second.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spotter_interruption::timestamp;

fuzz_target!(|text: &str| {
    if let Ok(time) = timestamp::parse_rfc3339(text) {
        let formatted = timestamp::format_rfc3339(time);
        let reparsed = timestamp::parse_rfc3339(&formatted).ok();
        assert_eq!(
            reparsed.map(timestamp::unix_seconds),
            Some(timestamp::unix_seconds(time))
        );
    }
    let _ = timestamp::parse_imds_event_time(text);
    let _ = timestamp::parse_rfc1123(text);
});
