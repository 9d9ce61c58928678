//! [`NoticeIntake`]: the interruption notices of both sources, each taken once. A notice
//! arrives from the SQS interruption queue (a typed [`Notice`], already parsed by
//! `spotter-interruption`) or from `spotter agent` (a condition on the instance's Node); the
//! intake turns it into the controllers' [`InterruptionNotice`] the first time its
//! (instance, [`NoticeClass`]) is seen, and into nothing afterwards, whichever source came
//! first. So the same Spot warning from the queue and from the agent gives one notice, hence
//! one replacement and one drain. This part is pure (no client, no clock of its own): the
//! driver gives it the time and acts on what it returns.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, UNIX_EPOCH};

use spotter_controllers::state::{InterruptionNotice, NoticeKind};
use spotter_interruption::notice::{Notice, NoticeClass, NoticeKind as SourceKind};

use crate::convert::NodeNotice;

/// How long before `spotter agent`'s report EC2 may have issued the warning: the agent polls
/// IMDS every 2 s, and the condition's transition time is when it wrote it.
pub const AGENT_REPORT_DELAY: Duration = Duration::from_secs(5);

/// Where a notice came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeSource {
    /// The SQS interruption queue (EventBridge).
    Queue,
    /// `spotter agent`, through a condition on its Node.
    Agent,
}

/// How long a taken notice is remembered once its instance has no NodeClaim: EventBridge and
/// SQS may deliver the same event again minutes later (a message whose deletion failed comes
/// back after its visibility timeout), and a late copy must not count as a new interruption.
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The notices taken so far, by (instance, class), with when each was taken.
#[derive(Debug, Default)]
pub struct NoticeIntake {
    taken: HashMap<(String, NoticeClass), Duration>,
}

impl NoticeIntake {
    /// The controllers' notice for a notice read from the queue, received at `now` (since the
    /// Unix epoch), or `None` when its instance and class were taken already.
    pub fn from_queue(&mut self, notice: &Notice, now: Duration) -> Option<InterruptionNotice> {
        if !self.take(&notice.instance_id, notice.kind.class(), now) {
            return None;
        }
        Some(InterruptionNotice {
            instance_id: notice.instance_id.clone(),
            kind: queue_notice_kind(&notice.kind),
            received_at: now,
        })
    }

    /// The controllers' notice for a condition `spotter agent` wrote on the Node of
    /// `instance_id`, seen at `now`, or `None` when the condition is not a notice or its
    /// instance and class were taken already.
    pub fn from_agent(
        &mut self,
        instance_id: &str,
        condition: &NodeNotice,
        now: Duration,
    ) -> Option<InterruptionNotice> {
        let class = class_of_condition(&condition.condition)?;
        if !self.take(instance_id, class, now) {
            return None;
        }
        Some(InterruptionNotice {
            instance_id: instance_id.to_owned(),
            kind: agent_notice_kind(class, condition.since, now),
            received_at: now,
        })
    }

    /// Forgets the notices taken [`FORGET_AFTER`] or longer before `now` whose instance
    /// `is_live` no longer says is live (it has no NodeClaim), so that the intake does not
    /// grow with every interruption the cluster ever had. A notice of a live instance is kept:
    /// its Node's condition would otherwise be taken again.
    pub fn forget(&mut self, now: Duration, is_live: impl Fn(&str) -> bool) {
        self.taken.retain(|(instance_id, _), taken_at| {
            is_live(instance_id) || now.saturating_sub(*taken_at) < FORGET_AFTER
        });
    }

    /// How many notices it remembers.
    pub fn len(&self) -> usize {
        self.taken.len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.taken.is_empty()
    }

    /// True the first time (instance, class) is taken.
    fn take(&mut self, instance_id: &str, class: NoticeClass, now: Duration) -> bool {
        match self.taken.entry((instance_id.to_owned(), class)) {
            Entry::Occupied(_) => false,
            Entry::Vacant(entry) => {
                entry.insert(now);
                true
            }
        }
    }
}

/// The class of a condition type `spotter agent` writes (`SpotInterruption`, ...), the
/// inverse of its `node_report::condition_type`; `None` for any other condition.
pub fn class_of_condition(condition: &str) -> Option<NoticeClass> {
    match condition {
        "SpotInterruption" => Some(NoticeClass::SpotInterruption),
        "RebalanceRecommendation" => Some(NoticeClass::RebalanceRecommendation),
        "InstanceStopped" => Some(NoticeClass::InstanceStopped),
        "InstanceTerminated" => Some(NoticeClass::InstanceTerminated),
        "ScheduledChange" => Some(NoticeClass::ScheduledChange),
        "CapacityReservationInterruption" => Some(NoticeClass::CapacityReservationInterruption),
        _ => None,
    }
}

/// The controllers' kind of a queue notice. A Spot warning keeps the deadline the event gives
/// (its time plus two minutes); a capacity reservation interruption is cordoned and drained
/// as Karpenter does, like a stopping instance (Spotter launches no reserved capacity, so
/// there is no reservation to mark unavailable).
pub fn queue_notice_kind(kind: &SourceKind) -> NoticeKind {
    match kind {
        SourceKind::SpotInterruption { deadline, .. } => NoticeKind::SpotInterruption {
            terminate_at: deadline.duration_since(UNIX_EPOCH).unwrap_or_default(),
        },
        SourceKind::RebalanceRecommendation { .. } => NoticeKind::RebalanceRecommendation,
        SourceKind::StateChange { .. } | SourceKind::CapacityReservationInterruption { .. } => {
            NoticeKind::StateChange
        }
        SourceKind::ScheduledChange { .. } => NoticeKind::ScheduledChange,
    }
}

/// The controllers' kind of an agent's condition of `class` that became true at `since`, seen
/// at `now`. EC2 gives two minutes from the warning; the agent reports within seconds, so the
/// warning is taken to be at most [`AGENT_REPORT_DELAY`] older than `now`.
pub fn agent_notice_kind(class: NoticeClass, since: Duration, now: Duration) -> NoticeKind {
    match class {
        NoticeClass::SpotInterruption => NoticeKind::SpotInterruption {
            terminate_at: since.max(now.saturating_sub(AGENT_REPORT_DELAY))
                + spotter_interruption::notice::SPOT_INTERRUPTION_WARNING,
        },
        NoticeClass::RebalanceRecommendation => NoticeKind::RebalanceRecommendation,
        NoticeClass::ScheduledChange => NoticeKind::ScheduledChange,
        NoticeClass::InstanceStopped
        | NoticeClass::InstanceTerminated
        | NoticeClass::CapacityReservationInterruption => NoticeKind::StateChange,
    }
}

#[cfg(test)]
mod tests {
    use spotter_interruption::notice::{InstanceState, SpotAction};

    use super::*;

    const NOW: Duration = Duration::from_secs(1_800_000_000);

    /// One arrival: its source, instance and class.
    type Arrival = (NoticeSource, &'static str, NoticeClass);

    fn source_kind(class: NoticeClass) -> SourceKind {
        let at = UNIX_EPOCH + NOW;
        match class {
            NoticeClass::SpotInterruption => SourceKind::SpotInterruption {
                action: SpotAction::Terminate,
                deadline: at + Duration::from_secs(120),
            },
            NoticeClass::RebalanceRecommendation => {
                SourceKind::RebalanceRecommendation { notice_time: at }
            }
            NoticeClass::InstanceStopped => SourceKind::StateChange {
                state: InstanceState::Stopping,
            },
            NoticeClass::InstanceTerminated => SourceKind::StateChange {
                state: InstanceState::ShuttingDown,
            },
            NoticeClass::ScheduledChange => SourceKind::ScheduledChange {
                event_id: "instance-event-1".to_owned(),
                code: "system-reboot".to_owned(),
                not_before: None,
            },
            NoticeClass::CapacityReservationInterruption => {
                SourceKind::CapacityReservationInterruption {
                    action: "terminate".to_owned(),
                }
            }
        }
    }

    fn condition_type(class: NoticeClass) -> &'static str {
        spotter_agent::node_report::condition_type(class)
    }

    /// Feeds `arrivals` one second apart and returns the notices taken, with their source.
    fn feed(arrivals: &[Arrival]) -> Vec<(NoticeSource, InterruptionNotice)> {
        let mut intake = NoticeIntake::default();
        let mut taken = Vec::new();
        for (step, (source, instance_id, class)) in arrivals.iter().enumerate() {
            let now = NOW + Duration::from_secs(step as u64);
            let notice = match source {
                NoticeSource::Queue => intake.from_queue(
                    &Notice {
                        instance_id: (*instance_id).to_owned(),
                        kind: source_kind(*class),
                    },
                    now,
                ),
                NoticeSource::Agent => intake.from_agent(
                    instance_id,
                    &NodeNotice {
                        condition: condition_type(*class).to_owned(),
                        since: now,
                    },
                    now,
                ),
            };
            taken.extend(notice.map(|notice| (*source, notice)));
        }
        taken
    }

    #[test]
    fn notices_are_forgotten_an_hour_after_their_instance_is_gone() {
        let spot = |instance: &str| Notice {
            instance_id: instance.to_owned(),
            kind: source_kind(NoticeClass::SpotInterruption),
        };
        let mut intake = NoticeIntake::default();
        assert!(intake.from_queue(&spot("i-gone"), NOW).is_some());
        assert!(intake.from_queue(&spot("i-live"), NOW).is_some());
        let live = |instance: &str| instance == "i-live";
        // Cases: (time, remembered after forgetting, the gone instance's copy taken again).
        let cases = [
            (NOW + FORGET_AFTER - Duration::from_secs(1), 2, false),
            (NOW + FORGET_AFTER, 1, true),
        ];
        for (at, remembered, taken_again) in cases {
            let mut intake = NoticeIntake {
                taken: intake.taken.clone(),
            };
            intake.forget(at, live);
            assert_eq!(intake.len(), remembered, "at {at:?}");
            assert_eq!(
                intake.from_queue(&spot("i-gone"), at).is_some(),
                taken_again,
                "at {at:?}"
            );
            assert!(
                intake.from_queue(&spot("i-live"), at).is_none(),
                "a live instance's notice is never taken twice"
            );
        }
        intake.forget(NOW + FORGET_AFTER * 10, |_| false);
        assert!(intake.is_empty());
    }

    #[test]
    fn one_interruption_is_taken_once_whatever_the_sources_and_their_order() {
        use NoticeClass::{RebalanceRecommendation, SpotInterruption};
        use NoticeSource::{Agent, Queue};
        // (case, arrivals, how many notices are taken, the source of the first one)
        let cases: [(&str, &[Arrival], usize, NoticeSource); 8] = [
            (
                "queue then agent",
                &[
                    (Queue, "i-1", SpotInterruption),
                    (Agent, "i-1", SpotInterruption),
                ],
                1,
                Queue,
            ),
            (
                "agent then queue",
                &[
                    (Agent, "i-1", SpotInterruption),
                    (Queue, "i-1", SpotInterruption),
                ],
                1,
                Agent,
            ),
            (
                "twice from the queue (a message delivered again)",
                &[
                    (Queue, "i-1", SpotInterruption),
                    (Queue, "i-1", SpotInterruption),
                ],
                1,
                Queue,
            ),
            (
                "twice from the agent, then the queue",
                &[
                    (Agent, "i-1", SpotInterruption),
                    (Agent, "i-1", SpotInterruption),
                    (Queue, "i-1", SpotInterruption),
                ],
                1,
                Agent,
            ),
            (
                "one source alone",
                &[(Queue, "i-1", SpotInterruption)],
                1,
                Queue,
            ),
            (
                "two instances: one notice each",
                &[
                    (Queue, "i-1", SpotInterruption),
                    (Agent, "i-2", SpotInterruption),
                    (Agent, "i-1", SpotInterruption),
                    (Queue, "i-2", SpotInterruption),
                ],
                2,
                Queue,
            ),
            (
                "two classes of one instance: one notice each",
                &[
                    (Agent, "i-1", RebalanceRecommendation),
                    (Queue, "i-1", SpotInterruption),
                    (Queue, "i-1", RebalanceRecommendation),
                    (Agent, "i-1", SpotInterruption),
                ],
                2,
                Agent,
            ),
            (
                "every class from both sources",
                &[
                    (Queue, "i-1", NoticeClass::InstanceStopped),
                    (Agent, "i-1", NoticeClass::InstanceStopped),
                    (Agent, "i-1", NoticeClass::InstanceTerminated),
                    (Queue, "i-1", NoticeClass::InstanceTerminated),
                    (Queue, "i-1", NoticeClass::ScheduledChange),
                    (Agent, "i-1", NoticeClass::ScheduledChange),
                    (Agent, "i-1", NoticeClass::CapacityReservationInterruption),
                    (Queue, "i-1", NoticeClass::CapacityReservationInterruption),
                ],
                4,
                Queue,
            ),
        ];
        for (case, arrivals, count, first) in cases {
            let taken = feed(arrivals);
            assert_eq!(taken.len(), count, "{case}: {taken:?}");
            assert_eq!(taken[0].0, first, "{case}: {taken:?}");
            assert_eq!(taken[0].1.instance_id, arrivals[0].1, "{case}");
        }
    }

    #[test]
    fn a_spot_warning_keeps_its_deadline_from_either_source() {
        let warned = NOW - Duration::from_secs(3);
        let from_queue = NoticeIntake::default().from_queue(
            &Notice {
                instance_id: "i-1".to_owned(),
                kind: SourceKind::SpotInterruption {
                    action: SpotAction::Terminate,
                    deadline: UNIX_EPOCH + warned + Duration::from_secs(120),
                },
            },
            NOW,
        );
        let from_agent = NoticeIntake::default().from_agent(
            "i-1",
            &NodeNotice {
                condition: "SpotInterruption".to_owned(),
                since: warned,
            },
            NOW,
        );
        // A condition that says it is older than the agent's delay is not believed: the
        // deadline is never taken to be nearer than two minutes after `now - 5 s`.
        let stale_agent = NoticeIntake::default().from_agent(
            "i-1",
            &NodeNotice {
                condition: "SpotInterruption".to_owned(),
                since: Duration::ZERO,
            },
            NOW,
        );
        let expected = |at: Duration| NoticeKind::SpotInterruption {
            terminate_at: at + Duration::from_secs(120),
        };
        assert_eq!(from_queue.map(|notice| notice.kind), Some(expected(warned)));
        assert_eq!(from_agent.map(|notice| notice.kind), Some(expected(warned)));
        assert_eq!(
            stale_agent.map(|notice| notice.kind),
            Some(expected(NOW - AGENT_REPORT_DELAY))
        );
        // A deadline before the epoch (a clock EC2 does not have) is no panic.
        let before_epoch = queue_notice_kind(&SourceKind::SpotInterruption {
            action: SpotAction::Stop,
            deadline: UNIX_EPOCH - Duration::from_secs(1),
        });
        assert_eq!(
            before_epoch,
            NoticeKind::SpotInterruption {
                terminate_at: Duration::ZERO
            }
        );
    }

    #[test]
    fn agent_conditions_name_every_class_and_nothing_else() {
        for class in NoticeClass::ALL {
            assert_eq!(
                class_of_condition(condition_type(class)),
                Some(class),
                "{class}"
            );
            // Both sources map a class to the same controllers' kind (payload aside).
            let from_agent = agent_notice_kind(class, NOW, NOW);
            let from_queue = queue_notice_kind(&source_kind(class));
            assert_eq!(
                std::mem::discriminant(&from_agent),
                std::mem::discriminant(&from_queue),
                "{class}"
            );
        }
        for other in ["Ready", "MemoryPressure", "spotinterruption", ""] {
            assert_eq!(class_of_condition(other), None, "{other:?}");
            let mut intake = NoticeIntake::default();
            let condition = NodeNotice {
                condition: other.to_owned(),
                since: NOW,
            };
            assert_eq!(intake.from_agent("i-1", &condition, NOW), None, "{other:?}");
        }
    }
}
