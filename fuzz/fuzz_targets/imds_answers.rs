//! Any IMDS answer body, given to every IMDS parser: none panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spotter_interruption::imds;

fuzz_target!(|body: &str| {
    if let Ok(action) = imds::parse_spot_instance_action(body) {
        let _ = action.notice("i-0");
    }
    if let Ok(recommendation) = imds::parse_rebalance_recommendation(body) {
        let _ = recommendation.notice("i-0");
    }
    if let Ok(events) = imds::parse_scheduled_events(body) {
        for event in events {
            let _ = event.notice("i-0");
        }
    }
    let _ = imds::parse_instance_id(body);
    let _ = imds::parse_instance_life_cycle(body);
    if let Ok(zone) = imds::parse_availability_zone(body) {
        let _ = imds::region_of_zone(&zone);
    }
});
