//! Any SQS message body: the queue parser returns a message or an error, never panics, and a
//! parsed message's notices can always be built.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &str| {
    if let Ok(message) = spotter_interruption::event_bridge::parse_queue_message(body) {
        let _ = message.notices();
        let _ = message.message_type().label();
    }
});
