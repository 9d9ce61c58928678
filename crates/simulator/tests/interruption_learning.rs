//! Issue 17, interruption awareness that learns where interruptions cluster, measured on the
//! scenarios in `examples/scenarios/`: the storm (one zone reclaims every Spot node), the hot
//! pool (one offering does) and the zone that recovers (Spotter must come back to it).

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use spotter_cloud::Instance;
use spotter_controllers::state::NodeClaim;
use spotter_core::offering::CapacityType;
use spotter_report::EventKind;
use spotter_simulator::{Observer, Options, Policy, Report, Scenario, run_observed};
use support::{assert_clean, example_scenario, under};

const HOUR: f64 = 3600.0;
const BAD_ZONE: &str = "ap-northeast-2a";

/// The hours (since the start) of the Spot launches in the bad zone.
#[derive(Default)]
struct BadZoneLaunches(Rc<RefCell<Vec<f64>>>);

impl Observer for BadZoneLaunches {
    fn launched(&mut self, now: Duration, _claim: &NodeClaim, instance: &Instance) {
        if instance.offering.zone == BAD_ZONE
            && instance.offering.capacity_type == CapacityType::Spot
        {
            self.0.borrow_mut().push(now.as_secs_f64() / HOUR);
        }
    }
}

fn observed(scenario: &Scenario, policy: Policy) -> (Report, Vec<f64>) {
    let launches = Rc::new(RefCell::new(Vec::new()));
    let report = run_observed(
        scenario,
        &Options {
            policy,
            ..Options::default()
        },
        &mut |_| {},
        Box::new(BadZoneLaunches(Rc::clone(&launches))),
    )
    .unwrap_or_else(|error| panic!("the scenario runs: {error}"));
    let launches = launches.borrow().clone();
    (report, launches)
}

/// The zone avoidances of the bad zone: (start, end) in hours, from the report's events.
fn zone_avoidances(report: &Report) -> Vec<(f64, f64)> {
    report
        .events
        .iter()
        .filter(|event| event.kind == EventKind::Avoid && event.detail.contains("zone avoided"))
        .filter(|event| event.detail.starts_with(BAD_ZONE))
        .map(|event| {
            let lasting = event
                .detail
                .split("zone avoided for ")
                .nth(1)
                .and_then(|rest| rest.split(';').next())
                .map(parse_clock)
                .unwrap_or_else(|| panic!("an avoid event says how long: {}", event.detail));
            let start = event.time_seconds / HOUR;
            (start, start + lasting / HOUR)
        })
        .collect()
}

/// `h:mm:ss` in seconds.
fn parse_clock(text: &str) -> f64 {
    text.split(':')
        .map(|part| part.trim().parse::<f64>().unwrap_or(f64::NAN))
        .fold(0.0, |total, part| total * 60.0 + part)
}

#[test]
fn the_storm_interrupts_spotter_at_most_half_as_often_as_karpenter() {
    let scenario = example_scenario("interruption-storm.yaml");
    let spotter = under(&scenario, Policy::Spotter);
    let karpenter = under(&scenario, Policy::Karpenter);
    assert_clean(&spotter);
    assert_clean(&karpenter);
    let (spotter_summary, karpenter_summary) = (&spotter.summary, &karpenter.summary);
    assert!(
        karpenter_summary.interruptions > 300,
        "the bad zone interrupts the Karpenter preset often: {}",
        karpenter_summary.interruptions
    );
    assert!(
        spotter_summary.interruptions * 2 <= karpenter_summary.interruptions,
        "interruptions: Spotter {}, Karpenter {}",
        spotter_summary.interruptions,
        karpenter_summary.interruptions
    );
    assert!(
        spotter_summary.pods_disrupted * 2 <= karpenter_summary.pods_disrupted,
        "pods disrupted: Spotter {}, Karpenter {}",
        spotter_summary.pods_disrupted,
        karpenter_summary.pods_disrupted
    );
    assert_eq!(spotter_summary.pods_lost, 0);
    // And it costs no more. At the mass interruption (1d14h) a raw count of interruptions
    // made Spotter avoid, then rank down, the family the busiest zones ran, so it relaunched
    // on dearer types ($206.55 against $206.22); read per running node against the rest of
    // the region, that burst singles out no place, and Spotter pays $206.08. The README keeps
    // the figures, and the other seeds'.
    assert!(
        spotter_summary.cost_usd <= karpenter_summary.cost_usd,
        "cost: Spotter ${:.2}, Karpenter ${:.2}",
        spotter_summary.cost_usd,
        karpenter_summary.cost_usd
    );
    assert!(
        !zone_avoidances(&spotter).is_empty(),
        "the bad zone is avoided, and the report says so"
    );
    assert!(zone_avoidances(&karpenter).is_empty());
}

#[test]
fn the_hot_pool_is_no_worse_than_before_zone_learning() {
    let scenario = example_scenario("hot-pool.yaml");
    let spotter = under(&scenario, Policy::Spotter);
    assert_clean(&spotter);
    // 24 interruptions in 3 days before the family and zone levels were learnt.
    assert!(
        spotter.summary.interruptions <= 24,
        "Spotter: {} interruptions",
        spotter.summary.interruptions
    );
}

#[test]
fn spotter_comes_back_to_a_zone_that_recovered() {
    // The zone reclaims every Spot node launched before 12 h, and is healthy after.
    let recovered_at = 12.0;
    let scenario = example_scenario("zone-recovery.yaml");
    let (spotter, spotter_launches) = observed(&scenario, Policy::Spotter);
    let (karpenter, karpenter_launches) = observed(&scenario, Policy::Karpenter);
    assert_clean(&spotter);
    assert_clean(&karpenter);
    assert!(
        spotter.summary.interruptions * 2 <= karpenter.summary.interruptions,
        "interruptions: Spotter {}, Karpenter {}",
        spotter.summary.interruptions,
        karpenter.summary.interruptions
    );
    let avoidances = zone_avoidances(&spotter);
    assert!(!avoidances.is_empty(), "the bad zone is avoided while bad");
    // No exile: every avoidance of the zone ends within 6 hours of its recovery (the
    // evidence fades with the zone's half-life, 3 h).
    let last_end = avoidances.iter().map(|(_, end)| *end).fold(0.0, f64::max);
    assert!(
        last_end <= recovered_at + 6.0,
        "the zone's avoidance ends at {last_end:.2} h"
    );
    // Once the avoidance is over, Spotter launches Spot there as the Karpenter preset does
    // (the workload grows again from its daily low).
    let after = |launches: &[f64]| launches.iter().filter(|hour| **hour >= last_end).count();
    assert!(
        after(&karpenter_launches) > 0,
        "the Karpenter preset launches in the zone after {last_end:.2} h"
    );
    assert!(
        after(&spotter_launches) * 10 >= after(&karpenter_launches) * 8,
        "Spot launches in {BAD_ZONE} after {last_end:.2} h: Spotter {}, Karpenter {}",
        after(&spotter_launches),
        after(&karpenter_launches)
    );
}
