//! An observed run: the observer hears every launch, fallback, insufficient-capacity answer,
//! interruption and pod start the report counts, the clock only moves forward, and the report
//! is byte for byte the one an unobserved run makes.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use spotter_cloud::{CloudError, Instance};
use spotter_controllers::Action;
use spotter_controllers::ClusterState;
use spotter_controllers::state::{InterruptionNotice, NodeClaim, NodeState};
use spotter_core::offering::CapacityType;
use spotter_simulator::scenario::{Fault, FaultKind, ReplicaCurve};
use spotter_simulator::{Observer, Options, Scenario};
use support::*;

/// What the observer heard.
#[derive(Debug, Default)]
struct Heard {
    clock: Vec<(Duration, Duration)>,
    passes: u64,
    timed_passes: u64,
    created_claims: u64,
    launches: u64,
    fallbacks: u64,
    insufficient_capacity: u64,
    nodes_registered: u64,
    interruptions: u64,
    pods_started: u64,
    finished: Vec<(Duration, usize)>,
}

/// Records into a shared [`Heard`].
struct Recording {
    heard: Rc<RefCell<Heard>>,
    measure: bool,
}

impl Observer for Recording {
    fn measures_wall_time(&self) -> bool {
        self.measure
    }

    fn advancing(&mut self, now: Duration, next: Duration, _state: &ClusterState) {
        self.heard.borrow_mut().clock.push((now, next));
    }

    fn reconciled(&mut self, _now: Duration, _actions: &[Action], wall_time: Option<Duration>) {
        let mut heard = self.heard.borrow_mut();
        heard.passes += 1;
        heard.timed_passes += u64::from(wall_time.is_some());
    }

    fn applying(&mut self, _now: Duration, action: &Action, _state: &ClusterState) {
        if matches!(action, Action::CreateNodeClaim(_)) {
            self.heard.borrow_mut().created_claims += 1;
        }
    }

    fn launched(&mut self, _now: Duration, claim: &NodeClaim, instance: &Instance) {
        let mut heard = self.heard.borrow_mut();
        heard.launches += 1;
        if claim.fallback {
            assert_eq!(instance.offering.capacity_type, CapacityType::OnDemand);
            heard.fallbacks += 1;
        }
    }

    fn launch_failed(&mut self, _now: Duration, _claim: &NodeClaim, error: &CloudError) {
        if matches!(error, CloudError::InsufficientCapacity { .. }) {
            self.heard.borrow_mut().insufficient_capacity += 1;
        }
    }

    fn node_registered(&mut self, _now: Duration, _node: &NodeState) {
        self.heard.borrow_mut().nodes_registered += 1;
    }

    fn interruption_received(&mut self, _now: Duration, _notice: &InterruptionNotice) {
        self.heard.borrow_mut().interruptions += 1;
    }

    fn pod_started(&mut self, _now: Duration, _waited: Duration) {
        self.heard.borrow_mut().pods_started += 1;
    }

    fn finished(&mut self, end: Duration, state: &ClusterState) {
        self.heard
            .borrow_mut()
            .finished
            .push((end, state.nodes.len()));
    }
}

/// A Spot outage for the first hour (fallbacks, insufficient capacity), then every Spot node
/// interrupted 40 minutes after its launch.
fn eventful_scenario() -> Scenario {
    let mut scenario = base_scenario("observed", hours(3));
    scenario.faults = vec![Fault {
        at: Duration::ZERO,
        kind: FaultKind::SpotOutage {
            zone: None,
            instance_type: None,
            duration: hours(1),
        },
    }];
    scenario.market.pool_overrides = vec![interrupt_every_spot_node_after(minutes(40))];
    scenario.deployments = vec![deployment(
        worker("web"),
        ReplicaCurve::Steps(vec![(Duration::ZERO, 10), (minutes(90), 30)]),
    )];
    scenario
}

fn observed(scenario: &Scenario, measure: bool) -> (spotter_simulator::Report, Heard) {
    let heard = Rc::new(RefCell::new(Heard::default()));
    let observer = Recording {
        heard: Rc::clone(&heard),
        measure,
    };
    let report = spotter_simulator::run_observed(
        scenario,
        &Options::default(),
        &mut |_| {},
        Box::new(observer),
    )
    .expect("the scenario's region exists");
    let heard = heard.take();
    (report, heard)
}

#[test]
fn the_observer_hears_what_the_report_counts() {
    let scenario = eventful_scenario();
    let (report, heard) = observed(&scenario, true);
    let context = describe(&report);
    assert!(report.summary.fallbacks > 0, "{context}");
    assert!(report.summary.interruptions > 0, "{context}");
    assert_eq!(heard.launches, report.summary.launches, "{context}");
    assert_eq!(heard.fallbacks, report.summary.fallbacks, "{context}");
    assert_eq!(
        heard.interruptions, report.summary.interruptions,
        "{context}"
    );
    assert!(heard.insufficient_capacity > 0, "{context}");
    assert!(heard.insufficient_capacity <= report.summary.ice_events);
    assert!(heard.created_claims >= heard.launches);
    assert!(heard.nodes_registered > 0 && heard.nodes_registered <= heard.launches);
    assert!(heard.pods_started >= 30, "{}", heard.pods_started);
    assert!(heard.passes > 0);
    assert_eq!(
        heard.timed_passes, heard.passes,
        "every pass timed when asked"
    );
    let mut previous = Duration::ZERO;
    for &(now, next) in &heard.clock {
        assert_eq!(now, previous, "each step starts where the last one went");
        assert!(
            next >= now && next < scenario.duration,
            "{now:?} -> {next:?}"
        );
        previous = next;
    }
    assert_eq!(heard.finished.len(), 1);
    assert_eq!(heard.finished[0].0, scenario.duration);
    assert!(heard.finished[0].1 > 0, "nodes run at the end");
}

#[test]
fn an_observed_run_reports_exactly_what_an_unobserved_one_does() {
    let scenario = eventful_scenario();
    let unobserved = run(&scenario);
    let (measured, heard) = observed(&scenario, true);
    let (unmeasured, unmeasured_heard) = observed(&scenario, false);
    assert_eq!(unobserved.to_json(), measured.to_json());
    assert_eq!(unobserved.to_json(), unmeasured.to_json());
    assert_eq!(
        unmeasured_heard.timed_passes, 0,
        "no clock read unless asked"
    );
    assert_eq!(heard.passes, unmeasured_heard.passes);
}
