//! What the agent writes on its Node for a notice, as values: a node condition per notice
//! class (type `SpotInterruption`, `RebalanceRecommendation`, `ScheduledChange`, ... with
//! status `True`, the action or event code as reason, and the deadline in the message), and,
//! for a Spot interruption only, the taint `spotter.dev/interruption=spot-interruption:NoSchedule`
//! that keeps new pods off a node that has two minutes left. Rebalance recommendations and
//! scheduled changes are not tainted: whether they empty the node is the controller's call.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::{NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use spotter_interruption::notice::{Notice, NoticeClass, NoticeKind};
use spotter_interruption::timestamp::format_rfc3339;

/// The key of the agent's taint.
pub const INTERRUPTION_TAINT_KEY: &str = "spotter.dev/interruption";
/// The effect of the agent's taint.
pub const INTERRUPTION_TAINT_EFFECT: &str = "NoSchedule";

/// The condition type of a notice class.
pub fn condition_type(class: NoticeClass) -> &'static str {
    match class {
        NoticeClass::SpotInterruption => "SpotInterruption",
        NoticeClass::RebalanceRecommendation => "RebalanceRecommendation",
        NoticeClass::InstanceStopped => "InstanceStopped",
        NoticeClass::InstanceTerminated => "InstanceTerminated",
        NoticeClass::ScheduledChange => "ScheduledChange",
        NoticeClass::CapacityReservationInterruption => "CapacityReservationInterruption",
    }
}

/// The condition reporting `notice`, observed at `now`.
pub fn condition(notice: &Notice, now: SystemTime) -> NodeCondition {
    let (reason, message) = match &notice.kind {
        NoticeKind::SpotInterruption { action, deadline } => (
            camel_case(action.as_str()),
            format!(
                "EC2 will {} this Spot instance ({}) at {}",
                action.as_str(),
                notice.instance_id,
                format_rfc3339(*deadline)
            ),
        ),
        NoticeKind::RebalanceRecommendation { notice_time } => (
            "RebalanceRecommended".to_owned(),
            format!(
                "EC2 recommends rebalancing this Spot instance ({}) since {}",
                notice.instance_id,
                format_rfc3339(*notice_time)
            ),
        ),
        NoticeKind::StateChange { state } => (
            camel_case(state.as_str()),
            format!(
                "the instance ({}) is {}",
                notice.instance_id,
                state.as_str()
            ),
        ),
        NoticeKind::ScheduledChange {
            event_id,
            code,
            not_before,
        } => (
            camel_case(code),
            format!(
                "EC2 scheduled {code} ({event_id}) for this instance ({}){}",
                notice.instance_id,
                not_before
                    .map(|time| format!(" not before {}", format_rfc3339(time)))
                    .unwrap_or_default()
            ),
        ),
        NoticeKind::CapacityReservationInterruption { action } => (
            camel_case(action),
            format!(
                "the capacity reservation of this instance ({}) will {action} it",
                notice.instance_id
            ),
        ),
    };
    let now = kubernetes_time(now);
    NodeCondition {
        type_: condition_type(notice.kind.class()).to_owned(),
        status: "True".to_owned(),
        reason: Some(reason),
        message: Some(message),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// The taint reporting `notice`, for the classes that fence the node.
pub fn taint(notice: &Notice) -> Option<Taint> {
    match notice.kind.class() {
        NoticeClass::SpotInterruption
        | NoticeClass::InstanceStopped
        | NoticeClass::InstanceTerminated
        | NoticeClass::CapacityReservationInterruption => Some(Taint {
            key: INTERRUPTION_TAINT_KEY.to_owned(),
            value: Some(notice.kind.class().name().to_owned()),
            effect: INTERRUPTION_TAINT_EFFECT.to_owned(),
            time_added: None,
        }),
        NoticeClass::RebalanceRecommendation | NoticeClass::ScheduledChange => None,
    }
}

/// `existing` with `taint` in place of any taint of the same key and effect, or `None` when
/// `existing` already holds it.
pub fn with_taint(existing: &[Taint], taint: &Taint) -> Option<Vec<Taint>> {
    let same = |other: &Taint| other.key == taint.key && other.effect == taint.effect;
    if existing
        .iter()
        .any(|other| same(other) && other.value == taint.value)
    {
        return None;
    }
    let mut taints: Vec<Taint> = existing
        .iter()
        .filter(|other| !same(other))
        .cloned()
        .collect();
    taints.push(taint.clone());
    Some(taints)
}

/// `system-reboot` -> `SystemReboot`; characters outside `[A-Za-z0-9]` split words.
fn camel_case(text: &str) -> String {
    let camel: String = text
        .split(|character: char| !character.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut characters = lower.chars();
            characters
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + characters.as_str())
                .unwrap_or_default()
        })
        .collect();
    if camel.starts_with(|character: char| character.is_ascii_alphabetic()) {
        camel
    } else {
        format!("Notice{camel}")
    }
}

fn kubernetes_time(time: SystemTime) -> Time {
    Time(Timestamp::try_from(time).unwrap_or(Timestamp::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotter_interruption::notice::{InstanceState, SpotAction};
    use std::time::{Duration, UNIX_EPOCH};

    fn notice(kind: NoticeKind) -> Notice {
        Notice {
            instance_id: "i-0abc".to_owned(),
            kind,
        }
    }

    #[test]
    fn conditions_name_the_class_reason_and_deadline() {
        let at = UNIX_EPOCH + Duration::from_secs(1_505_722_920);
        let cases = [
            (
                NoticeKind::SpotInterruption {
                    action: SpotAction::Terminate,
                    deadline: at,
                },
                "SpotInterruption",
                "Terminate",
                "2017-09-18T08:22:00Z",
            ),
            (
                NoticeKind::RebalanceRecommendation { notice_time: at },
                "RebalanceRecommendation",
                "RebalanceRecommended",
                "2017-09-18T08:22:00Z",
            ),
            (
                NoticeKind::ScheduledChange {
                    event_id: "instance-event-1".into(),
                    code: "system-reboot".into(),
                    not_before: Some(at),
                },
                "ScheduledChange",
                "SystemReboot",
                "not before 2017-09-18T08:22:00Z",
            ),
            (
                NoticeKind::StateChange {
                    state: InstanceState::ShuttingDown,
                },
                "InstanceTerminated",
                "ShuttingDown",
                "shutting-down",
            ),
            (
                NoticeKind::ScheduledChange {
                    event_id: "arn".into(),
                    code: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
                    not_before: None,
                },
                "ScheduledChange",
                "AwsEc2InstanceRetirementScheduled",
                "arn",
            ),
        ];
        for (kind, type_, reason, in_message) in cases {
            let condition = condition(&notice(kind), at);
            assert_eq!(condition.type_, type_);
            assert_eq!(condition.status, "True");
            assert_eq!(condition.reason.as_deref(), Some(reason));
            let message = condition.message.unwrap_or_default();
            assert!(message.contains(in_message), "{message}");
            assert!(message.contains("i-0abc"), "{message}");
        }
    }

    #[test]
    fn only_imminent_notices_taint() {
        let at = UNIX_EPOCH;
        let spot = taint(&notice(NoticeKind::SpotInterruption {
            action: SpotAction::Stop,
            deadline: at,
        }));
        assert_eq!(
            spot.map(|taint| (taint.key, taint.value, taint.effect)),
            Some((
                "spotter.dev/interruption".to_owned(),
                Some("spot-interruption".to_owned()),
                "NoSchedule".to_owned()
            ))
        );
        assert_eq!(
            taint(&notice(NoticeKind::RebalanceRecommendation {
                notice_time: at
            })),
            None
        );
    }

    #[test]
    fn with_taint_adds_replaces_or_leaves_alone() {
        let ours = |value: &str| Taint {
            key: INTERRUPTION_TAINT_KEY.to_owned(),
            value: Some(value.to_owned()),
            effect: INTERRUPTION_TAINT_EFFECT.to_owned(),
            time_added: None,
        };
        let other = Taint {
            key: "dedicated".to_owned(),
            value: Some("gpu".to_owned()),
            effect: "NoSchedule".to_owned(),
            time_added: None,
        };
        let spot = ours("spot-interruption");
        assert_eq!(
            with_taint(std::slice::from_ref(&other), &spot),
            Some(vec![other.clone(), spot.clone()])
        );
        assert_eq!(with_taint(&[other.clone(), spot.clone()], &spot), None);
        assert_eq!(
            with_taint(&[ours("instance-stopped"), other.clone()], &spot),
            Some(vec![other, spot])
        );
    }
}
