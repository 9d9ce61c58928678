//! The interruption notice shared by every source: which instance, and what EC2 is about to do
//! to it. A notice from the SQS queue and one from IMDS about the same event compare equal on
//! [`Notice::key`], so the controller acts once per (instance, [`NoticeClass`]) whatever the
//! source and the order they arrive in.

use std::fmt;
use std::time::{Duration, SystemTime};

/// How long before a Spot instance is reclaimed EC2 sends its interruption warning.
pub const SPOT_INTERRUPTION_WARNING: Duration = Duration::from_secs(120);

/// One interruption signal about one instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Notice {
    /// The EC2 instance id (`i-...`).
    pub instance_id: String,
    /// What is about to happen.
    pub kind: NoticeKind,
}

/// What a notice announces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// EC2 will reclaim a Spot instance at `deadline` (about two minutes after the warning;
    /// hibernation starts at once).
    SpotInterruption {
        /// What EC2 will do to the instance.
        action: SpotAction,
        /// When it will do it.
        deadline: SystemTime,
    },
    /// The Spot instance is at elevated risk of interruption.
    RebalanceRecommendation {
        /// When EC2 issued the recommendation.
        notice_time: SystemTime,
    },
    /// The instance is stopping or terminating (only the states worth acting on).
    StateChange {
        /// The new state.
        state: InstanceState,
    },
    /// EC2 scheduled maintenance, a reboot, a retirement or a stop of the instance.
    ScheduledChange {
        /// The event's id: the IMDS `EventId` or the Health `eventArn`.
        event_id: String,
        /// What is scheduled: the IMDS `Code` (`system-reboot`, ...) or the Health
        /// `eventTypeCode` (`AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED`, ...).
        code: String,
        /// When the change may start, when the source says (and in a format it could read).
        not_before: Option<SystemTime>,
    },
    /// The On-Demand Capacity Reservation the instance runs in is reclaiming it.
    CapacityReservationInterruption {
        /// What EC2 will do (`terminate`, `stop`, ...), as the event says it.
        action: String,
    },
}

/// The class of a notice: what the controller deduplicates on, with the instance id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeClass {
    /// A Spot interruption warning.
    SpotInterruption,
    /// A rebalance recommendation.
    RebalanceRecommendation,
    /// The instance is stopping or stopped.
    InstanceStopped,
    /// The instance is shutting down or terminated.
    InstanceTerminated,
    /// A scheduled change.
    ScheduledChange,
    /// A capacity reservation interruption.
    CapacityReservationInterruption,
}

/// What EC2 does to an interrupted Spot instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpotAction {
    /// The instance is terminated.
    Terminate,
    /// The instance is stopped.
    Stop,
    /// The instance hibernates.
    Hibernate,
}

/// The instance states that end a node: the others (`pending`, `running`) are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InstanceState {
    /// `stopping`.
    Stopping,
    /// `stopped`.
    Stopped,
    /// `shutting-down`.
    ShuttingDown,
    /// `terminated`.
    Terminated,
}

impl Notice {
    /// The deduplication key: the instance and the notice's class.
    pub fn key(&self) -> (&str, NoticeClass) {
        (&self.instance_id, self.kind.class())
    }

    /// When the instance goes away, when the notice says.
    pub fn deadline(&self) -> Option<SystemTime> {
        match &self.kind {
            NoticeKind::SpotInterruption { deadline, .. } => Some(*deadline),
            NoticeKind::ScheduledChange { not_before, .. } => *not_before,
            _ => None,
        }
    }
}

impl NoticeKind {
    /// The class of this kind.
    pub fn class(&self) -> NoticeClass {
        match self {
            NoticeKind::SpotInterruption { .. } => NoticeClass::SpotInterruption,
            NoticeKind::RebalanceRecommendation { .. } => NoticeClass::RebalanceRecommendation,
            NoticeKind::StateChange {
                state: InstanceState::Stopping | InstanceState::Stopped,
            } => NoticeClass::InstanceStopped,
            NoticeKind::StateChange {
                state: InstanceState::ShuttingDown | InstanceState::Terminated,
            } => NoticeClass::InstanceTerminated,
            NoticeKind::ScheduledChange { .. } => NoticeClass::ScheduledChange,
            NoticeKind::CapacityReservationInterruption { .. } => {
                NoticeClass::CapacityReservationInterruption
            }
        }
    }
}

impl NoticeClass {
    /// Every class, in order.
    pub const ALL: [NoticeClass; 6] = [
        NoticeClass::SpotInterruption,
        NoticeClass::RebalanceRecommendation,
        NoticeClass::InstanceStopped,
        NoticeClass::InstanceTerminated,
        NoticeClass::ScheduledChange,
        NoticeClass::CapacityReservationInterruption,
    ];

    /// A short kebab-case name, used in taint values and condition reasons' text.
    pub fn name(self) -> &'static str {
        match self {
            NoticeClass::SpotInterruption => "spot-interruption",
            NoticeClass::RebalanceRecommendation => "rebalance-recommendation",
            NoticeClass::InstanceStopped => "instance-stopped",
            NoticeClass::InstanceTerminated => "instance-terminated",
            NoticeClass::ScheduledChange => "scheduled-change",
            NoticeClass::CapacityReservationInterruption => "capacity-reservation-interruption",
        }
    }

    /// The class named by [`NoticeClass::name`].
    pub fn from_name(name: &str) -> Option<NoticeClass> {
        NoticeClass::ALL
            .into_iter()
            .find(|class| class.name() == name)
    }
}

impl fmt::Display for NoticeClass {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl SpotAction {
    /// The action as EC2 spells it (`terminate`, `stop`, `hibernate`).
    pub fn as_str(self) -> &'static str {
        match self {
            SpotAction::Terminate => "terminate",
            SpotAction::Stop => "stop",
            SpotAction::Hibernate => "hibernate",
        }
    }

    /// The action EC2 spells `text`.
    pub fn parse(text: &str) -> Option<SpotAction> {
        match text {
            "terminate" => Some(SpotAction::Terminate),
            "stop" => Some(SpotAction::Stop),
            "hibernate" => Some(SpotAction::Hibernate),
            _ => None,
        }
    }
}

impl InstanceState {
    /// The state as EC2 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
        }
    }

    /// The actionable state EC2 spells `text`, or `None` for any other state.
    pub fn parse(text: &str) -> Option<InstanceState> {
        match text {
            "stopping" => Some(InstanceState::Stopping),
            "stopped" => Some(InstanceState::Stopped),
            "shutting-down" => Some(InstanceState::ShuttingDown),
            "terminated" => Some(InstanceState::Terminated),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn spot(instance_id: &str, deadline_seconds: u64) -> Notice {
        Notice {
            instance_id: instance_id.to_owned(),
            kind: NoticeKind::SpotInterruption {
                action: SpotAction::Terminate,
                deadline: UNIX_EPOCH + Duration::from_secs(deadline_seconds),
            },
        }
    }

    #[test]
    fn notices_of_one_event_from_two_sources_share_a_key() {
        // The queue's deadline is the event time + 2 min, IMDS's is its own `time`: they differ
        // by a few seconds, the key does not.
        assert_eq!(spot("i-1", 1000).key(), spot("i-1", 1003).key());
        assert_ne!(spot("i-1", 1000).key(), spot("i-2", 1000).key());
    }

    #[test]
    fn state_classes_follow_karpenter() {
        let cases = [
            (InstanceState::Stopping, NoticeClass::InstanceStopped),
            (InstanceState::Stopped, NoticeClass::InstanceStopped),
            (InstanceState::ShuttingDown, NoticeClass::InstanceTerminated),
            (InstanceState::Terminated, NoticeClass::InstanceTerminated),
        ];
        for (state, class) in cases {
            assert_eq!(
                NoticeKind::StateChange { state }.class(),
                class,
                "{state:?}"
            );
            assert_eq!(InstanceState::parse(state.as_str()), Some(state));
        }
        assert_eq!(InstanceState::parse("running"), None);
    }

    #[test]
    fn class_names_round_trip() {
        for class in NoticeClass::ALL {
            assert_eq!(NoticeClass::from_name(class.name()), Some(class));
        }
        for action in [
            SpotAction::Terminate,
            SpotAction::Stop,
            SpotAction::Hibernate,
        ] {
            assert_eq!(SpotAction::parse(action.as_str()), Some(action));
        }
    }
}
