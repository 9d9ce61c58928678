//! The faults that last (a window of the run) and strike some of the calls or deliveries in
//! it: launch calls throttled, failing with a server error or timing out after they launched
//! (`cloudApiErrors`), instances whose node never registers (`unregisteredNodes`), Spot
//! interruption warnings delivered twice or late (`interruptionDelivery`), nodes' watch events
//! lost until a relist or delivered twice (`watchEvents`); and when the world was last faulty
//! (the pending-pod bound starts again then).
//!
//! Its draws come from a stream of their own, taken only inside a window: a scenario without
//! these faults runs exactly as before they existed.

use std::time::Duration;

use spotter_core::random::Random;

use crate::scenario::{Fault, FaultKind};

/// What happens to one launch call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LaunchFault {
    /// The call is throttled before it reaches the cloud.
    Throttled,
    /// The call fails with a server error (5xx) before anything is launched.
    ServerError,
    /// The instance is launched but the answer is lost (a timeout).
    UnknownOutcome,
}

/// What happens to one watch event of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WatchFault {
    /// Lost: the relist this long later shows the change.
    Lost(Duration),
    /// Delivered twice.
    Duplicated,
}

/// When one Spot interruption warning reaches the controllers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// The delays after the warning at which a copy arrives (`[0]` when nothing goes wrong).
    pub delays: Vec<Duration>,
}

/// The lasting faults of a scenario and their random stream.
#[derive(Debug)]
pub(crate) struct InjectedFaults {
    random: Random,
    faults: Vec<Fault>,
    /// When the scenario's NodePool changes apply.
    changes: Vec<Duration>,
}

impl InjectedFaults {
    /// The faults of a scenario and the times of its NodePool changes, the draws seeded
    /// from its seed.
    pub fn new(faults: &[Fault], changes: Vec<Duration>, seed: u64) -> Self {
        Self {
            random: Random::new(seed).fork(0xFA17),
            faults: faults.to_vec(),
            changes,
        }
    }

    /// What happens to a launch call made at `now`: the first active `cloudApiErrors` window
    /// draws throttled, then server error, then unknown outcome.
    pub fn launch_fault(&mut self, now: Duration) -> Option<LaunchFault> {
        let (throttled, server_errors, unknown_outcome) =
            self.active(now).find_map(|kind| match kind {
                FaultKind::CloudApiErrors {
                    throttled,
                    server_errors,
                    unknown_outcome,
                    ..
                } => Some((*throttled, *server_errors, *unknown_outcome)),
                _ => None,
            })?;
        if self.random.unit() < throttled {
            return Some(LaunchFault::Throttled);
        }
        if self.random.unit() < server_errors {
            return Some(LaunchFault::ServerError);
        }
        if self.random.unit() < unknown_outcome {
            return Some(LaunchFault::UnknownOutcome);
        }
        None
    }

    /// Whether an instance launched at `now` never registers its node.
    pub fn never_registers(&mut self, now: Duration) -> bool {
        let Some(fraction) = self.active(now).find_map(|kind| match kind {
            FaultKind::UnregisteredNodes { fraction, .. } => Some(*fraction),
            _ => None,
        }) else {
            return false;
        };
        self.random.unit() < fraction
    }

    /// What happens to a node's watch event (registered, Ready) at `now`.
    pub fn watch_fault(&mut self, now: Duration) -> Option<WatchFault> {
        let (lost, duplicated, relist) = self.active(now).find_map(|kind| match kind {
            FaultKind::WatchEvents {
                lost,
                duplicated,
                relist,
                ..
            } => Some((*lost, *duplicated, *relist)),
            _ => None,
        })?;
        if self.random.unit() < lost {
            return Some(WatchFault::Lost(relist));
        }
        if self.random.unit() < duplicated {
            return Some(WatchFault::Duplicated);
        }
        None
    }

    /// When a Spot interruption warning sent at `now` reaches the controllers.
    pub fn delivery(&mut self, now: Duration) -> Delivery {
        let Some((duplicate, late, delay)) = self.active(now).find_map(|kind| match kind {
            FaultKind::InterruptionDelivery {
                duplicate,
                late,
                delay,
                ..
            } => Some((*duplicate, *late, *delay)),
            _ => None,
        }) else {
            return Delivery {
                delays: vec![Duration::ZERO],
            };
        };
        let first = if self.random.unit() < late {
            delay
        } else {
            Duration::ZERO
        };
        let mut delays = vec![first];
        if self.random.unit() < duplicate {
            delays.push(first + delay);
        }
        Delivery { delays }
    }

    /// The latest time, up to `now`, at which a fault happened or ended (`now` while one
    /// lasts; 0 before any): every fault, lasting or not, the repeats of a repeating one, and
    /// the NodePool changes.
    pub fn last_faulty(&self, now: Duration) -> Duration {
        let mut last = self
            .changes
            .iter()
            .copied()
            .filter(|at| *at <= now)
            .max()
            .unwrap_or_default();
        for fault in self.faults.iter().filter(|fault| fault.at <= now) {
            let time = match (&fault.kind, fault.kind.duration()) {
                (_, Some(duration)) => (fault.at + duration).min(now),
                (FaultKind::ControllerRestart { every: Some(every) }, None) if !every.is_zero() => {
                    let repeats = (now - fault.at).as_secs() / every.as_secs().max(1);
                    fault.at + *every * u32::try_from(repeats).unwrap_or(u32::MAX)
                }
                _ => fault.at,
            };
            last = last.max(time);
        }
        last
    }

    fn active(&self, now: Duration) -> impl Iterator<Item = &FaultKind> {
        self.faults
            .iter()
            .filter(move |fault| {
                fault.at <= now
                    && fault
                        .kind
                        .duration()
                        .is_some_and(|duration| now < fault.at + duration)
            })
            .map(|fault| &fault.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(minutes: u64) -> Duration {
        Duration::from_secs(minutes * 60)
    }

    fn window(at: u64, kind: FaultKind) -> Fault {
        Fault {
            at: minutes(at),
            kind,
        }
    }

    fn api_errors(throttled: f64, server_errors: f64, unknown_outcome: f64) -> FaultKind {
        FaultKind::CloudApiErrors {
            duration: minutes(10),
            throttled,
            server_errors,
            unknown_outcome,
        }
    }

    /// Each launch fault happens inside its window only, as often as its share says.
    #[test]
    fn launch_faults_happen_inside_their_window_at_their_share() {
        let cases = [
            (api_errors(1.0, 0.0, 0.0), Some(LaunchFault::Throttled)),
            (api_errors(0.0, 1.0, 0.0), Some(LaunchFault::ServerError)),
            (api_errors(0.0, 0.0, 1.0), Some(LaunchFault::UnknownOutcome)),
            (api_errors(0.0, 0.0, 0.0), None),
        ];
        for (kind, expected) in cases {
            let mut faults = InjectedFaults::new(&[window(10, kind.clone())], Vec::new(), 1);
            assert_eq!(faults.launch_fault(minutes(5)), None, "{kind:?} before");
            assert_eq!(
                faults.launch_fault(minutes(15)),
                expected,
                "{kind:?} inside"
            );
            assert_eq!(faults.launch_fault(minutes(20)), None, "{kind:?} after");
        }
        let mut faults =
            InjectedFaults::new(&[window(0, api_errors(0.5, 0.0, 0.0))], Vec::new(), 3);
        let throttled = (0..1000)
            .filter(|_| faults.launch_fault(minutes(1)).is_some())
            .count();
        assert!((400..600).contains(&throttled), "{throttled} of 1000");
    }

    #[test]
    fn unregistered_nodes_and_deliveries_follow_their_window() {
        let watch = |lost, duplicated| FaultKind::WatchEvents {
            duration: minutes(10),
            lost,
            duplicated,
            relist: minutes(5),
        };
        let cases = [
            (watch(1.0, 0.0), Some(WatchFault::Lost(minutes(5)))),
            (watch(0.0, 1.0), Some(WatchFault::Duplicated)),
            (watch(0.0, 0.0), None),
        ];
        for (kind, expected) in cases {
            let mut faults = InjectedFaults::new(&[window(10, kind)], Vec::new(), 1);
            assert_eq!(faults.watch_fault(minutes(9)), None);
            assert_eq!(faults.watch_fault(minutes(12)), expected);
            assert_eq!(faults.watch_fault(minutes(20)), None);
        }

        let unregistered = FaultKind::UnregisteredNodes {
            duration: minutes(10),
            fraction: 1.0,
        };
        let mut faults = InjectedFaults::new(&[window(10, unregistered)], Vec::new(), 1);
        assert!(!faults.never_registers(minutes(9)));
        assert!(faults.never_registers(minutes(10)));
        assert!(!faults.never_registers(minutes(20)));

        let cases = [
            (1.0, 0.0, vec![Duration::ZERO, minutes(1)]),
            (0.0, 1.0, vec![minutes(1)]),
            (1.0, 1.0, vec![minutes(1), minutes(2)]),
            (0.0, 0.0, vec![Duration::ZERO]),
        ];
        for (duplicate, late, delays) in cases {
            let delivery = FaultKind::InterruptionDelivery {
                duration: minutes(10),
                duplicate,
                late,
                delay: minutes(1),
            };
            let mut faults = InjectedFaults::new(&[window(10, delivery)], Vec::new(), 1);
            assert_eq!(faults.delivery(minutes(12)).delays, delays);
            assert_eq!(faults.delivery(minutes(30)).delays, vec![Duration::ZERO]);
        }
    }

    #[test]
    fn the_world_was_last_faulty_at_the_latest_fault_or_its_end() {
        let faults = InjectedFaults::new(
            &[
                window(
                    10,
                    FaultKind::SpotOutage {
                        zone: None,
                        instance_type: None,
                        duration: minutes(30),
                    },
                ),
                window(
                    60,
                    FaultKind::ControllerRestart {
                        every: Some(minutes(60)),
                    },
                ),
            ],
            vec![minutes(125)],
            1,
        );
        let cases = [
            (5, 0),
            (20, 20),
            (45, 40),
            (60, 60),
            (100, 60),
            (124, 120),
            (130, 125),
        ];
        for (now, last) in cases {
            assert_eq!(
                faults.last_faulty(minutes(now)),
                minutes(last),
                "at {now} min"
            );
        }
    }
}
