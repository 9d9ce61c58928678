//! Controller restarts (issue "One reconcile core"): `examples/scenarios/controller-restarts.yaml`
//! restarts the controllers every 4 hours over 3 days of Spot outages. Each restart drops their
//! memory and rebuilds it from the objects alone; the run must lose no pod, break no
//! invariant, never launch a second instance for one NodeClaim, and still return fallback
//! nodes to Spot after a restart.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spotter_cloud::Instance;
use spotter_controllers::state::NodeClaim;
use spotter_report::EventKind;
use spotter_simulator::{Observer, Options, Policy, Scenario, run_observed};
use support::{assert_clean, describe};

/// Counts the instances launched per NodeClaim.
#[derive(Debug, Default)]
struct Launches {
    instances: BTreeMap<String, BTreeSet<String>>,
    launches: u64,
}

struct Counter(Arc<Mutex<Launches>>);

impl Observer for Counter {
    fn launched(&mut self, _now: Duration, claim: &NodeClaim, instance: &Instance) {
        if let Ok(mut launches) = self.0.lock() {
            launches.launches += 1;
            launches
                .instances
                .entry(claim.name.clone())
                .or_default()
                .insert(instance.id.clone());
        }
    }
}

#[test]
fn restarts_every_four_hours_lose_nothing_and_launch_nothing_twice() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scenarios/controller-restarts.yaml");
    let scenario = Scenario::load(&path).expect("the scenario loads");
    for policy in Policy::ALL {
        let launches = Arc::new(Mutex::new(Launches::default()));
        let report = run_observed(
            &scenario,
            &Options {
                policy,
                ..Options::default()
            },
            &mut |_| {},
            Box::new(Counter(Arc::clone(&launches))),
        )
        .expect("the run starts");
        assert_clean(&report);
        let restarts: Vec<f64> = report
            .events
            .iter()
            .filter(|event| {
                event.kind == EventKind::Fault && event.detail.contains("controller restart")
            })
            .map(|event| event.time_seconds)
            .collect();
        assert_eq!(restarts.len(), 17, "{policy}: every 4 h from 4 h to 68 h");
        let launches = launches.lock().expect("the observer is done");
        let duplicated: Vec<(&String, &BTreeSet<String>)> = launches
            .instances
            .iter()
            .filter(|(_, instances)| instances.len() > 1)
            .collect();
        assert!(
            duplicated.is_empty(),
            "{policy}: NodeClaims launched more than one instance: {duplicated:?}"
        );
        assert!(launches.launches > 0, "{policy}: the run launched nothing");
        if policy == Policy::Spotter {
            // A fallback node was returned by controllers that did not create it.
            let returned_after_restart = report
                .events
                .iter()
                .filter(|event| event.kind == EventKind::ReturnToSpot)
                .any(|event| restarts.iter().any(|restart| *restart < event.time_seconds));
            assert!(
                report.summary.returns_to_spot > 0 && returned_after_restart,
                "fallback nodes return to Spot after a restart:\n{}",
                describe(&report)
            );
        }
    }
}
