//! EventBridge events as the interruption queue delivers them: an SQS message body is the raw
//! event envelope `{version, id, detail-type, source, account, time, region, resources,
//! detail}`, dispatched on (`version`, `source`, `detail-type`) into a typed
//! [`InterruptionEvent`], as Karpenter does. Unknown combinations are
//! [`InterruptionEvent::Unknown`] (to count and delete), not errors; a body that is not JSON, or
//! lacks a field a known event needs, is an [`EventBridgeError`] naming the field.

use std::time::SystemTime;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::notice::{InstanceState, Notice, NoticeKind, SPOT_INTERRUPTION_WARNING, SpotAction};
use crate::timestamp::{self, TimestampError};

/// `source` of EC2's events.
pub const SOURCE_EC2: &str = "aws.ec2";
/// `source` of AWS Health events.
pub const SOURCE_HEALTH: &str = "aws.health";
/// `detail-type` of a Spot interruption warning.
pub const SPOT_INTERRUPTION_WARNING_TYPE: &str = "EC2 Spot Instance Interruption Warning";
/// `detail-type` of a rebalance recommendation.
pub const REBALANCE_RECOMMENDATION_TYPE: &str = "EC2 Instance Rebalance Recommendation";
/// `detail-type` of an instance state change.
pub const STATE_CHANGE_TYPE: &str = "EC2 Instance State-change Notification";
/// `detail-type` of an AWS Health event.
pub const HEALTH_EVENT_TYPE: &str = "AWS Health Event";
/// `detail-type` of a capacity reservation interruption warning.
pub const CAPACITY_RESERVATION_INTERRUPTION_TYPE: &str =
    "EC2 Capacity Reservation Instance Interruption Warning";
/// The only envelope `version` EventBridge sends.
pub const ENVELOPE_VERSION: &str = "0";

/// One message of the interruption queue, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    /// The event's id.
    pub id: String,
    /// The envelope version (`0`).
    pub version: String,
    /// The event's source (`aws.ec2`, `aws.health`).
    pub source: String,
    /// The event's detail type.
    pub detail_type: String,
    /// The account the event is about.
    pub account: String,
    /// The region it comes from.
    pub region: String,
    /// When EventBridge recorded the event.
    pub time: SystemTime,
    /// The ARNs or ids the event is about.
    pub resources: Vec<String>,
    /// What the event says.
    pub event: InterruptionEvent,
}

/// What an interruption-queue event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterruptionEvent {
    /// EC2 Spot Instance Interruption Warning.
    SpotInterruptionWarning {
        /// The instance.
        instance_id: String,
        /// What EC2 will do to it.
        action: SpotAction,
    },
    /// EC2 Instance Rebalance Recommendation.
    RebalanceRecommendation {
        /// The instance.
        instance_id: String,
    },
    /// EC2 Instance State-change Notification into a state that ends the node.
    StateChange {
        /// The instance.
        instance_id: String,
        /// Its new state.
        state: InstanceState,
    },
    /// EC2 Instance State-change Notification into any other state (`pending`, `running`).
    StateChangeIgnored {
        /// The instance.
        instance_id: String,
        /// The state, as the event spells it.
        state: String,
    },
    /// AWS Health Event for EC2 in the `scheduledChange` category.
    ScheduledChange(HealthScheduledChange),
    /// AWS Health Event of another service or category.
    HealthIgnored {
        /// The event's `service`.
        service: String,
        /// The event's `eventTypeCategory`.
        category: String,
    },
    /// EC2 Capacity Reservation Instance Interruption Warning.
    CapacityReservationInterruption {
        /// The instance.
        instance_id: String,
        /// What EC2 will do to it, as the event spells it.
        action: String,
    },
    /// A (version, source, detail-type) that is not an interruption signal.
    Unknown {
        /// The event's source.
        source: String,
        /// The event's detail type.
        detail_type: String,
    },
}

/// An AWS Health scheduled change for EC2 instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthScheduledChange {
    /// The event's ARN.
    pub event_arn: String,
    /// The event's type code (`AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED`, ...).
    pub event_type_code: String,
    /// When the change starts, when the event has a start time in a readable format.
    pub start_time: Option<SystemTime>,
    /// When the change ends, likewise.
    pub end_time: Option<SystemTime>,
    /// Every `affectedEntities[].entityValue`: the instances.
    pub instance_ids: Vec<String>,
}

/// Karpenter's `message_type` label of `karpenter_interruption_received_messages_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageType {
    /// `spot_interrupted`.
    SpotInterrupted,
    /// `rebalance_recommendation`.
    RebalanceRecommendation,
    /// `instance_stopped`.
    InstanceStopped,
    /// `instance_terminated`.
    InstanceTerminated,
    /// `scheduled_change`.
    ScheduledChange,
    /// `capacity_reservation_interrupted`.
    CapacityReservationInterrupted,
    /// `no_op`: known but not acted on, or unknown.
    NoOp,
}

/// Why a message body could not be read as an interruption event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventBridgeError {
    /// The body is not JSON.
    #[error(
        "failed to read the message body as JSON: {reason}; the queue must receive raw EventBridge events"
    )]
    Json {
        /// What the JSON parser said (with line and column).
        reason: String,
    },
    /// A field is missing or has the wrong type.
    #[error("failed to read the EventBridge event at `{path}`: {reason}")]
    Field {
        /// Where in the event (`.` for the envelope, `detail`, `detail.instance-id`, ...).
        path: String,
        /// What is wrong (`missing field \`instance-id\``, `invalid type: ...`).
        reason: String,
    },
    /// A field holds a value outside its set.
    #[error("failed to read the EventBridge event: `{field}` is {value:?}, expected {expected}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value received.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A time field cannot be read.
    #[error("failed to read the EventBridge event's `{field}`: {source}")]
    Time {
        /// The field.
        field: &'static str,
        /// Why.
        source: TimestampError,
    },
}

/// Parses one SQS message body.
pub fn parse_queue_message(body: &str) -> Result<QueueMessage, EventBridgeError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|error| EventBridgeError::Json {
            reason: error.to_string(),
        })?;
    let envelope: RawEnvelope = from_value(value, None)?;
    let time =
        timestamp::parse_rfc3339(&envelope.time).map_err(|source| EventBridgeError::Time {
            field: "time",
            source,
        })?;
    let event = parse_detail(
        &envelope.version,
        &envelope.source,
        &envelope.detail_type,
        envelope.detail,
    )?;
    Ok(QueueMessage {
        id: envelope.id,
        version: envelope.version,
        source: envelope.source,
        detail_type: envelope.detail_type,
        account: envelope.account,
        region: envelope.region,
        time,
        resources: envelope.resources,
        event,
    })
}

impl QueueMessage {
    /// Karpenter's `message_type` label for this message.
    pub fn message_type(&self) -> MessageType {
        self.event.message_type()
    }

    /// The notices this message carries: one per instance, none for an ignored or unknown
    /// event. A Spot warning's deadline is the event time plus two minutes.
    pub fn notices(&self) -> Vec<Notice> {
        let notice = |instance_id: &String, kind: NoticeKind| Notice {
            instance_id: instance_id.clone(),
            kind,
        };
        match &self.event {
            InterruptionEvent::SpotInterruptionWarning {
                instance_id,
                action,
            } => vec![notice(
                instance_id,
                NoticeKind::SpotInterruption {
                    action: *action,
                    deadline: self.time + SPOT_INTERRUPTION_WARNING,
                },
            )],
            InterruptionEvent::RebalanceRecommendation { instance_id } => vec![notice(
                instance_id,
                NoticeKind::RebalanceRecommendation {
                    notice_time: self.time,
                },
            )],
            InterruptionEvent::StateChange { instance_id, state } => {
                vec![notice(
                    instance_id,
                    NoticeKind::StateChange { state: *state },
                )]
            }
            InterruptionEvent::ScheduledChange(change) => change
                .instance_ids
                .iter()
                .map(|instance_id| {
                    notice(
                        instance_id,
                        NoticeKind::ScheduledChange {
                            event_id: change.event_arn.clone(),
                            code: change.event_type_code.clone(),
                            not_before: change.start_time,
                        },
                    )
                })
                .collect(),
            InterruptionEvent::CapacityReservationInterruption {
                instance_id,
                action,
            } => vec![notice(
                instance_id,
                NoticeKind::CapacityReservationInterruption {
                    action: action.clone(),
                },
            )],
            InterruptionEvent::StateChangeIgnored { .. }
            | InterruptionEvent::HealthIgnored { .. }
            | InterruptionEvent::Unknown { .. } => Vec::new(),
        }
    }
}

impl InterruptionEvent {
    /// Karpenter's `message_type` label for this event.
    pub fn message_type(&self) -> MessageType {
        match self {
            InterruptionEvent::SpotInterruptionWarning { .. } => MessageType::SpotInterrupted,
            InterruptionEvent::RebalanceRecommendation { .. } => {
                MessageType::RebalanceRecommendation
            }
            InterruptionEvent::StateChange {
                state: InstanceState::Stopping | InstanceState::Stopped,
                ..
            } => MessageType::InstanceStopped,
            InterruptionEvent::StateChange {
                state: InstanceState::ShuttingDown | InstanceState::Terminated,
                ..
            } => MessageType::InstanceTerminated,
            InterruptionEvent::ScheduledChange(_) => MessageType::ScheduledChange,
            InterruptionEvent::CapacityReservationInterruption { .. } => {
                MessageType::CapacityReservationInterrupted
            }
            InterruptionEvent::StateChangeIgnored { .. }
            | InterruptionEvent::HealthIgnored { .. }
            | InterruptionEvent::Unknown { .. } => MessageType::NoOp,
        }
    }
}

impl MessageType {
    /// Every message type, in order.
    pub const ALL: [MessageType; 7] = [
        MessageType::SpotInterrupted,
        MessageType::RebalanceRecommendation,
        MessageType::InstanceStopped,
        MessageType::InstanceTerminated,
        MessageType::ScheduledChange,
        MessageType::CapacityReservationInterrupted,
        MessageType::NoOp,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            MessageType::SpotInterrupted => "spot_interrupted",
            MessageType::RebalanceRecommendation => "rebalance_recommendation",
            MessageType::InstanceStopped => "instance_stopped",
            MessageType::InstanceTerminated => "instance_terminated",
            MessageType::ScheduledChange => "scheduled_change",
            MessageType::CapacityReservationInterrupted => "capacity_reservation_interrupted",
            MessageType::NoOp => "no_op",
        }
    }
}

#[derive(Deserialize)]
struct RawEnvelope {
    version: String,
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    #[serde(default)]
    account: String,
    time: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    resources: Vec<String>,
    detail: serde_json::Value,
}

#[derive(Deserialize)]
struct InstanceActionDetail {
    #[serde(rename = "instance-id")]
    instance_id: String,
    #[serde(rename = "instance-action")]
    instance_action: String,
}

#[derive(Deserialize)]
struct InstanceDetail {
    #[serde(rename = "instance-id")]
    instance_id: String,
}

#[derive(Deserialize)]
struct StateChangeDetail {
    #[serde(rename = "instance-id")]
    instance_id: String,
    state: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthCategoryDetail {
    service: String,
    event_type_category: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthScheduledChangeDetail {
    event_arn: String,
    event_type_code: String,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    end_time: Option<String>,
    affected_entities: Vec<AffectedEntity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AffectedEntity {
    entity_value: String,
}

fn parse_detail(
    version: &str,
    source: &str,
    detail_type: &str,
    detail: serde_json::Value,
) -> Result<InterruptionEvent, EventBridgeError> {
    let unknown = || InterruptionEvent::Unknown {
        source: source.to_owned(),
        detail_type: detail_type.to_owned(),
    };
    if version != ENVELOPE_VERSION {
        return Ok(unknown());
    }
    match (source, detail_type) {
        (SOURCE_EC2, SPOT_INTERRUPTION_WARNING_TYPE) => {
            let detail: InstanceActionDetail = from_value(detail, Some("detail"))?;
            let action = SpotAction::parse(&detail.instance_action).ok_or_else(|| {
                EventBridgeError::InvalidValue {
                    field: "detail.instance-action",
                    value: detail.instance_action.clone(),
                    expected: "terminate, stop or hibernate",
                }
            })?;
            Ok(InterruptionEvent::SpotInterruptionWarning {
                instance_id: checked_instance_id("detail.instance-id", detail.instance_id)?,
                action,
            })
        }
        (SOURCE_EC2, REBALANCE_RECOMMENDATION_TYPE) => {
            let detail: InstanceDetail = from_value(detail, Some("detail"))?;
            Ok(InterruptionEvent::RebalanceRecommendation {
                instance_id: checked_instance_id("detail.instance-id", detail.instance_id)?,
            })
        }
        (SOURCE_EC2, STATE_CHANGE_TYPE) => {
            let detail: StateChangeDetail = from_value(detail, Some("detail"))?;
            let instance_id = checked_instance_id("detail.instance-id", detail.instance_id)?;
            Ok(
                match InstanceState::parse(&detail.state.to_ascii_lowercase()) {
                    Some(state) => InterruptionEvent::StateChange { instance_id, state },
                    None => InterruptionEvent::StateChangeIgnored {
                        instance_id,
                        state: detail.state,
                    },
                },
            )
        }
        (SOURCE_EC2, CAPACITY_RESERVATION_INTERRUPTION_TYPE) => {
            let detail: InstanceActionDetail = from_value(detail, Some("detail"))?;
            Ok(InterruptionEvent::CapacityReservationInterruption {
                instance_id: checked_instance_id("detail.instance-id", detail.instance_id)?,
                action: detail.instance_action,
            })
        }
        (SOURCE_HEALTH, HEALTH_EVENT_TYPE) => parse_health(detail),
        _ => Ok(unknown()),
    }
}

fn parse_health(detail: serde_json::Value) -> Result<InterruptionEvent, EventBridgeError> {
    let category: HealthCategoryDetail = from_value(detail.clone(), Some("detail"))?;
    if category.service != "EC2" || category.event_type_category != "scheduledChange" {
        return Ok(InterruptionEvent::HealthIgnored {
            service: category.service,
            category: category.event_type_category,
        });
    }
    let change: HealthScheduledChangeDetail = from_value(detail, Some("detail"))?;
    let instance_ids = change
        .affected_entities
        .into_iter()
        .map(|entity| {
            checked_instance_id("detail.affectedEntities[].entityValue", entity.entity_value)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InterruptionEvent::ScheduledChange(HealthScheduledChange {
        event_arn: change.event_arn,
        event_type_code: change.event_type_code,
        start_time: change.start_time.as_deref().and_then(parse_health_time),
        end_time: change.end_time.as_deref().and_then(parse_health_time),
        instance_ids,
    }))
}

/// Health times are RFC 1123 (`Wed, 05 Apr 2023 15:10:00 GMT`) in AWS's samples; RFC 3339 is
/// accepted too. An unreadable time is dropped: the change is acted on without it.
fn parse_health_time(text: &str) -> Option<SystemTime> {
    timestamp::parse_rfc1123(text)
        .or_else(|_| timestamp::parse_rfc3339(text))
        .ok()
}

fn checked_instance_id(
    field: &'static str,
    instance_id: String,
) -> Result<String, EventBridgeError> {
    if instance_id.trim().is_empty() {
        return Err(EventBridgeError::InvalidValue {
            field,
            value: instance_id,
            expected: "an instance id (i-...)",
        });
    }
    Ok(instance_id)
}

fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: Option<&str>,
) -> Result<T, EventBridgeError> {
    if !value.is_object() {
        return Err(EventBridgeError::Field {
            path: prefix.unwrap_or(".").to_owned(),
            reason: format!(
                "invalid type: {}, expected a JSON object",
                json_kind(&value)
            ),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let inner = error.path().to_string();
        let path = match (prefix, inner.as_str()) {
            (None, inner) => inner.to_owned(),
            (Some(prefix), ".") => prefix.to_owned(),
            (Some(prefix), inner) => format!("{prefix}.{inner}"),
        };
        EventBridgeError::Field {
            path,
            reason: error.into_inner().to_string(),
        }
    })
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
