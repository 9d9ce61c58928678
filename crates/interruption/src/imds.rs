//! Answers of the EC2 instance metadata service (IMDS) that matter for interruptions: the
//! Spot instance action, the rebalance recommendation, the scheduled maintenance events, and
//! the instance's identity (id, life cycle, zone). Each parser takes the body of a 200 answer;
//! a 404 on the Spot and rebalance paths means "no event" and is the client's business.

use std::time::SystemTime;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::notice::{Notice, NoticeKind, SpotAction};
use crate::timestamp::{self, TimestampError};

/// Path of the IMDSv2 token, under the base URL.
pub const TOKEN_PATH: &str = "/latest/api/token";
/// Header carrying the token TTL on the PUT.
pub const TOKEN_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
/// Header carrying the token on every GET.
pub const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// The largest token TTL IMDS accepts (6 hours).
pub const MAX_TOKEN_TTL_SECONDS: u32 = 21_600;
/// Path of the Spot instance action.
pub const SPOT_INSTANCE_ACTION_PATH: &str = "/latest/meta-data/spot/instance-action";
/// Path of the rebalance recommendation.
pub const REBALANCE_RECOMMENDATION_PATH: &str =
    "/latest/meta-data/events/recommendations/rebalance";
/// Path of the scheduled maintenance events.
pub const SCHEDULED_EVENTS_PATH: &str = "/latest/meta-data/events/maintenance/scheduled";
/// Path of the instance id.
pub const INSTANCE_ID_PATH: &str = "/latest/meta-data/instance-id";
/// Path of the instance life cycle (`spot`, `on-demand`).
pub const INSTANCE_LIFE_CYCLE_PATH: &str = "/latest/meta-data/instance-life-cycle";
/// Path of the availability zone.
pub const AVAILABILITY_ZONE_PATH: &str = "/latest/meta-data/placement/availability-zone";

/// `spot/instance-action`: EC2 will stop, hibernate or terminate the instance at `time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpotInstanceAction {
    /// What EC2 will do.
    pub action: SpotAction,
    /// When.
    pub time: SystemTime,
}

/// `events/recommendations/rebalance`: the instance is at elevated risk of interruption.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RebalanceRecommendation {
    /// When EC2 issued it.
    pub notice_time: SystemTime,
}

/// One entry of `events/maintenance/scheduled`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScheduledEvent {
    /// `instance-reboot`, `system-reboot`, `system-maintenance`, `instance-retirement`,
    /// `instance-stop` (kept as sent, so a new code still parses).
    pub code: String,
    /// Free text.
    pub description: String,
    /// The event's id (`instance-event-...`).
    pub event_id: String,
    /// When the event may start.
    pub not_before: SystemTime,
    /// When it ends, if sent.
    pub not_after: Option<SystemTime>,
    /// The latest it can be postponed to, if sent.
    pub not_before_deadline: Option<SystemTime>,
    /// Whether it is still to happen.
    pub state: ScheduledEventState,
}

/// The state of a scheduled event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScheduledEventState {
    /// Still to happen (or happening).
    Active,
    /// Done.
    Completed,
    /// Called off.
    Canceled,
}

/// `instance-life-cycle`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InstanceLifeCycle {
    /// `spot`.
    Spot,
    /// `on-demand`.
    OnDemand,
    /// Another value (the full set is not documented), as sent.
    Other(String),
}

/// Why an IMDS answer could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImdsError {
    /// The body is not the JSON expected, or lacks a field.
    #[error("failed to read the IMDS answer of {item} at `{path}`: {reason}")]
    Json {
        /// The item (`spot/instance-action`, ...).
        item: &'static str,
        /// Where in the answer (`.` for the whole, `[0].State`, ...).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A field holds a value outside its set.
    #[error(
        "failed to read the IMDS answer of {item}: `{field}` is {value:?}, expected {expected}"
    )]
    InvalidValue {
        /// The item.
        item: &'static str,
        /// The field.
        field: String,
        /// The value received.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A time cannot be read.
    #[error("failed to read the IMDS answer of {item}: `{field}`: {source}")]
    Time {
        /// The item.
        item: &'static str,
        /// The field.
        field: String,
        /// Why.
        source: TimestampError,
    },
}

/// Parses `spot/instance-action`: `{"action":"terminate","time":"2017-09-18T08:22:00Z"}`.
pub fn parse_spot_instance_action(body: &str) -> Result<SpotInstanceAction, ImdsError> {
    const ITEM: &str = "spot/instance-action";
    #[derive(Deserialize)]
    struct Raw {
        action: String,
        time: String,
    }
    let raw: Raw = from_json(ITEM, body)?;
    let action = SpotAction::parse(&raw.action).ok_or_else(|| ImdsError::InvalidValue {
        item: ITEM,
        field: "action".to_owned(),
        value: raw.action.clone(),
        expected: "terminate, stop or hibernate",
    })?;
    let time = timestamp::parse_rfc3339(&raw.time).map_err(|source| ImdsError::Time {
        item: ITEM,
        field: "time".to_owned(),
        source,
    })?;
    Ok(SpotInstanceAction { action, time })
}

/// Parses `events/recommendations/rebalance`: `{"noticeTime":"2020-10-27T08:22:00Z"}`.
pub fn parse_rebalance_recommendation(body: &str) -> Result<RebalanceRecommendation, ImdsError> {
    const ITEM: &str = "events/recommendations/rebalance";
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Raw {
        notice_time: String,
    }
    let raw: Raw = from_json(ITEM, body)?;
    let notice_time =
        timestamp::parse_rfc3339(&raw.notice_time).map_err(|source| ImdsError::Time {
            item: ITEM,
            field: "noticeTime".to_owned(),
            source,
        })?;
    Ok(RebalanceRecommendation { notice_time })
}

/// Parses `events/maintenance/scheduled`: a JSON array of events with Go-layout dates
/// (`21 Jan 2019 09:00:43 GMT`). An empty body reads as no events.
pub fn parse_scheduled_events(body: &str) -> Result<Vec<ScheduledEvent>, ImdsError> {
    const ITEM: &str = "events/maintenance/scheduled";
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Raw {
        code: String,
        #[serde(default)]
        description: String,
        event_id: String,
        not_before: String,
        #[serde(default)]
        not_after: Option<String>,
        #[serde(default)]
        not_before_deadline: Option<String>,
        state: String,
    }
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<Raw> = from_json(ITEM, body)?;
    raw.into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let time = |field: &str, text: &str| {
                timestamp::parse_imds_event_time(text).map_err(|source| ImdsError::Time {
                    item: ITEM,
                    field: format!("[{index}].{field}"),
                    source,
                })
            };
            let state = match raw.state.as_str() {
                "active" => ScheduledEventState::Active,
                "completed" => ScheduledEventState::Completed,
                "canceled" => ScheduledEventState::Canceled,
                _ => {
                    return Err(ImdsError::InvalidValue {
                        item: ITEM,
                        field: format!("[{index}].State"),
                        value: raw.state,
                        expected: "active, completed or canceled",
                    });
                }
            };
            Ok(ScheduledEvent {
                not_before: time("NotBefore", &raw.not_before)?,
                not_after: raw
                    .not_after
                    .as_deref()
                    .map(|text| time("NotAfter", text))
                    .transpose()?,
                not_before_deadline: raw
                    .not_before_deadline
                    .as_deref()
                    .map(|text| time("NotBeforeDeadline", text))
                    .transpose()?,
                code: raw.code,
                description: raw.description,
                event_id: raw.event_id,
                state,
            })
        })
        .collect()
}

/// Parses `instance-id`: `i-` then hexadecimal digits, surrounding whitespace ignored.
pub fn parse_instance_id(body: &str) -> Result<String, ImdsError> {
    let instance_id = body.trim();
    let valid = instance_id
        .strip_prefix("i-")
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return Err(ImdsError::InvalidValue {
            item: "instance-id",
            field: "instance-id".to_owned(),
            value: instance_id.to_owned(),
            expected: "an instance id (i- then hexadecimal digits)",
        });
    }
    Ok(instance_id.to_owned())
}

/// Parses `instance-life-cycle`.
pub fn parse_instance_life_cycle(body: &str) -> Result<InstanceLifeCycle, ImdsError> {
    match body.trim() {
        "spot" => Ok(InstanceLifeCycle::Spot),
        "on-demand" => Ok(InstanceLifeCycle::OnDemand),
        "" => Err(ImdsError::InvalidValue {
            item: "instance-life-cycle",
            field: "instance-life-cycle".to_owned(),
            value: String::new(),
            expected: "spot, on-demand or another life cycle",
        }),
        other => Ok(InstanceLifeCycle::Other(other.to_owned())),
    }
}

/// Parses `placement/availability-zone` (`us-east-1a`): letters, digits and dashes, ending in
/// a letter.
pub fn parse_availability_zone(body: &str) -> Result<String, ImdsError> {
    let zone = body.trim();
    let valid = zone
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && zone
            .bytes()
            .last()
            .is_some_and(|byte| byte.is_ascii_lowercase())
        && zone.contains('-');
    if !valid {
        return Err(ImdsError::InvalidValue {
            item: "placement/availability-zone",
            field: "availability-zone".to_owned(),
            value: zone.to_owned(),
            expected: "a zone such as us-east-1a",
        });
    }
    Ok(zone.to_owned())
}

/// The region of a zone, as NTH derives it: the zone without its last letter
/// (`us-east-1a` -> `us-east-1`).
pub fn region_of_zone(zone: &str) -> &str {
    zone.trim_end_matches(|character: char| character.is_ascii_lowercase())
}

impl SpotInstanceAction {
    /// The notice for `instance_id`.
    pub fn notice(&self, instance_id: &str) -> Notice {
        Notice {
            instance_id: instance_id.to_owned(),
            kind: NoticeKind::SpotInterruption {
                action: self.action,
                deadline: self.time,
            },
        }
    }
}

impl RebalanceRecommendation {
    /// The notice for `instance_id`.
    pub fn notice(&self, instance_id: &str) -> Notice {
        Notice {
            instance_id: instance_id.to_owned(),
            kind: NoticeKind::RebalanceRecommendation {
                notice_time: self.notice_time,
            },
        }
    }
}

impl ScheduledEvent {
    /// The notice for `instance_id`, for an active event only (completed and canceled events
    /// announce nothing).
    pub fn notice(&self, instance_id: &str) -> Option<Notice> {
        (self.state == ScheduledEventState::Active).then(|| Notice {
            instance_id: instance_id.to_owned(),
            kind: NoticeKind::ScheduledChange {
                event_id: self.event_id.clone(),
                code: self.code.clone(),
                not_before: Some(self.not_before),
            },
        })
    }
}

fn from_json<T: DeserializeOwned>(item: &'static str, body: &str) -> Result<T, ImdsError> {
    let mut deserializer = serde_json::Deserializer::from_str(body);
    let value =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| ImdsError::Json {
            item,
            path: error.path().to_string(),
            reason: error.into_inner().to_string(),
        })?;
    deserializer.end().map_err(|error| ImdsError::Json {
        item,
        path: ".".to_owned(),
        reason: error.to_string(),
    })?;
    Ok(value)
}
