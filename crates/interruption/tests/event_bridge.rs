//! The interruption queue's parser on the event shapes EC2 and AWS Health send, one table per
//! outcome, and on random and mutated bodies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::{Value, json};
use spotter_interruption::event_bridge::{
    EventBridgeError, HealthScheduledChange, InterruptionEvent, MessageType, parse_queue_message,
};
use spotter_interruption::notice::{InstanceState, Notice, NoticeClass, NoticeKind, SpotAction};

const INSTANCE: &str = "i-0b662ef9931388ba0";
const EVENT_TIME: &str = "2024-05-06T07:08:09Z";

fn event_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_714_979_289)
}

/// The EventBridge envelope around `detail`.
fn envelope(source: &str, detail_type: &str, resources: Value, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": "7439d0bf-8aa4-4d63-9f84-0c9b2f7e7c1b",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": EVENT_TIME,
        "region": "us-east-1",
        "resources": resources,
        "detail": detail,
    })
}

fn spot_warning(instance_id: &str, action: &str) -> Value {
    envelope(
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
        json!([format!("arn:aws:ec2:us-east-1b:instance/{instance_id}")]),
        json!({"instance-id": instance_id, "instance-action": action}),
    )
}

fn rebalance(instance_id: &str) -> Value {
    envelope(
        "aws.ec2",
        "EC2 Instance Rebalance Recommendation",
        json!([format!("arn:aws:ec2:us-east-1b:instance/{instance_id}")]),
        json!({"instance-id": instance_id}),
    )
}

fn state_change(instance_id: &str, state: &str) -> Value {
    envelope(
        "aws.ec2",
        "EC2 Instance State-change Notification",
        json!([format!(
            "arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"
        )]),
        json!({"instance-id": instance_id, "state": state}),
    )
}

fn health(service: &str, category: &str, instance_ids: &[&str]) -> Value {
    let entities: Vec<Value> = instance_ids
        .iter()
        .map(|id| json!({"entityValue": id, "tags": {}}))
        .collect();
    envelope(
        "aws.health",
        "AWS Health Event",
        json!(instance_ids),
        json!({
            "eventArn": "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_1",
            "service": service,
            "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
            "eventTypeCategory": category,
            "startTime": "Mon, 06 May 2024 08:00:00 GMT",
            "endTime": "Mon, 06 May 2024 09:00:00 GMT",
            "eventDescription": [{"language": "en_US", "latestDescription": "retirement"}],
            "affectedEntities": entities,
        }),
    )
}

fn capacity_reservation(instance_id: &str) -> Value {
    envelope(
        "aws.ec2",
        "EC2 Capacity Reservation Instance Interruption Warning",
        json!([format!(
            "arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"
        )]),
        json!({"instance-id": instance_id, "instance-action": "terminate"}),
    )
}

fn parse(
    value: &Value,
) -> Result<spotter_interruption::event_bridge::QueueMessage, EventBridgeError> {
    parse_queue_message(&value.to_string())
}

#[test]
fn every_message_type_parses_to_its_event_and_label() {
    let cases: Vec<(&str, Value, InterruptionEvent, MessageType)> = vec![
        (
            "spot terminate",
            spot_warning(INSTANCE, "terminate"),
            InterruptionEvent::SpotInterruptionWarning {
                instance_id: INSTANCE.into(),
                action: SpotAction::Terminate,
            },
            MessageType::SpotInterrupted,
        ),
        (
            "spot stop",
            spot_warning(INSTANCE, "stop"),
            InterruptionEvent::SpotInterruptionWarning {
                instance_id: INSTANCE.into(),
                action: SpotAction::Stop,
            },
            MessageType::SpotInterrupted,
        ),
        (
            "spot hibernate",
            spot_warning(INSTANCE, "hibernate"),
            InterruptionEvent::SpotInterruptionWarning {
                instance_id: INSTANCE.into(),
                action: SpotAction::Hibernate,
            },
            MessageType::SpotInterrupted,
        ),
        (
            "rebalance",
            rebalance(INSTANCE),
            InterruptionEvent::RebalanceRecommendation {
                instance_id: INSTANCE.into(),
            },
            MessageType::RebalanceRecommendation,
        ),
        (
            "stopping",
            state_change(INSTANCE, "stopping"),
            InterruptionEvent::StateChange {
                instance_id: INSTANCE.into(),
                state: InstanceState::Stopping,
            },
            MessageType::InstanceStopped,
        ),
        (
            "stopped",
            state_change(INSTANCE, "stopped"),
            InterruptionEvent::StateChange {
                instance_id: INSTANCE.into(),
                state: InstanceState::Stopped,
            },
            MessageType::InstanceStopped,
        ),
        (
            "shutting-down",
            state_change(INSTANCE, "shutting-down"),
            InterruptionEvent::StateChange {
                instance_id: INSTANCE.into(),
                state: InstanceState::ShuttingDown,
            },
            MessageType::InstanceTerminated,
        ),
        (
            "terminated",
            state_change(INSTANCE, "terminated"),
            InterruptionEvent::StateChange {
                instance_id: INSTANCE.into(),
                state: InstanceState::Terminated,
            },
            MessageType::InstanceTerminated,
        ),
        (
            "running is ignored",
            state_change(INSTANCE, "running"),
            InterruptionEvent::StateChangeIgnored {
                instance_id: INSTANCE.into(),
                state: "running".into(),
            },
            MessageType::NoOp,
        ),
        (
            "pending is ignored",
            state_change(INSTANCE, "pending"),
            InterruptionEvent::StateChangeIgnored {
                instance_id: INSTANCE.into(),
                state: "pending".into(),
            },
            MessageType::NoOp,
        ),
        (
            "health scheduled change",
            health("EC2", "scheduledChange", &[INSTANCE, "i-0123456789abcdef0"]),
            InterruptionEvent::ScheduledChange(HealthScheduledChange {
                event_arn: "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_1".into(),
                event_type_code: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
                start_time: Some(event_time() + Duration::from_secs(3111)),
                end_time: Some(event_time() + Duration::from_secs(6711)),
                instance_ids: vec![INSTANCE.into(), "i-0123456789abcdef0".into()],
            }),
            MessageType::ScheduledChange,
        ),
        (
            "health issue is ignored",
            health("EC2", "issue", &[INSTANCE]),
            InterruptionEvent::HealthIgnored {
                service: "EC2".into(),
                category: "issue".into(),
            },
            MessageType::NoOp,
        ),
        (
            "health of another service is ignored",
            health("RDS", "scheduledChange", &[INSTANCE]),
            InterruptionEvent::HealthIgnored {
                service: "RDS".into(),
                category: "scheduledChange".into(),
            },
            MessageType::NoOp,
        ),
        (
            "capacity reservation",
            capacity_reservation(INSTANCE),
            InterruptionEvent::CapacityReservationInterruption {
                instance_id: INSTANCE.into(),
                action: "terminate".into(),
            },
            MessageType::CapacityReservationInterrupted,
        ),
        (
            "unknown detail type",
            envelope("aws.ec2", "EC2 AMI State Change", json!([]), json!({"State": "available"})),
            InterruptionEvent::Unknown {
                source: "aws.ec2".into(),
                detail_type: "EC2 AMI State Change".into(),
            },
            MessageType::NoOp,
        ),
        (
            "known detail type from another source",
            envelope("custom.app", "EC2 Spot Instance Interruption Warning", json!([]), json!({})),
            InterruptionEvent::Unknown {
                source: "custom.app".into(),
                detail_type: "EC2 Spot Instance Interruption Warning".into(),
            },
            MessageType::NoOp,
        ),
    ];
    for (name, body, event, message_type) in cases {
        let message = parse(&body).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(message.event, event, "{name}");
        assert_eq!(message.message_type(), message_type, "{name}");
        assert_eq!(message.time, event_time(), "{name}");
        assert_eq!(message.region, "us-east-1", "{name}");
    }
}

#[test]
fn another_envelope_version_is_unknown() {
    let mut body = spot_warning(INSTANCE, "terminate");
    body["version"] = json!("1");
    let message = parse(&body).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(message.message_type(), MessageType::NoOp);
    assert!(matches!(message.event, InterruptionEvent::Unknown { .. }));
}

#[test]
fn notices_carry_the_deadline_and_one_per_affected_instance() {
    let spot =
        parse(&spot_warning(INSTANCE, "terminate")).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        spot.notices(),
        vec![Notice {
            instance_id: INSTANCE.into(),
            kind: NoticeKind::SpotInterruption {
                action: SpotAction::Terminate,
                deadline: event_time() + Duration::from_secs(120),
            },
        }]
    );
    let scheduled = parse(&health("EC2", "scheduledChange", &["i-1", "i-2", "i-3"]))
        .unwrap_or_else(|error| panic!("{error}"));
    let keys: Vec<(String, NoticeClass)> = scheduled
        .notices()
        .iter()
        .map(|notice| (notice.instance_id.clone(), notice.kind.class()))
        .collect();
    assert_eq!(
        keys,
        ["i-1", "i-2", "i-3"].map(|id| (id.to_owned(), NoticeClass::ScheduledChange))
    );
    for ignored in [
        state_change(INSTANCE, "running"),
        health("EC2", "issue", &[INSTANCE]),
    ] {
        let message = parse(&ignored).unwrap_or_else(|error| panic!("{error}"));
        assert!(message.notices().is_empty(), "{ignored}");
    }
}

#[test]
fn message_type_labels_are_karpenters() {
    let labels: Vec<&str> = MessageType::ALL.iter().map(|kind| kind.label()).collect();
    assert_eq!(
        labels,
        [
            "spot_interrupted",
            "rebalance_recommendation",
            "instance_stopped",
            "instance_terminated",
            "scheduled_change",
            "capacity_reservation_interrupted",
            "no_op"
        ]
    );
}

#[test]
fn malformed_messages_say_what_is_wrong() {
    let without = |mut body: Value, pointer: &str, key: &str| {
        if let Some(object) = body.pointer_mut(pointer).and_then(Value::as_object_mut) {
            object.remove(key);
        }
        body
    };
    let with = |mut body: Value, pointer: &str, value: Value| {
        if let Some(slot) = body.pointer_mut(pointer) {
            *slot = value;
        }
        body
    };
    let cases: Vec<(&str, String, &[&str])> = vec![
        ("not json", "{not json".into(), &["as JSON", "line 1"]),
        ("empty", String::new(), &["as JSON"]),
        ("an array", "[]".into(), &["`.`", "invalid type"]),
        (
            "no detail-type",
            without(spot_warning(INSTANCE, "terminate"), "", "detail-type").to_string(),
            &["missing field `detail-type`"],
        ),
        (
            "no detail",
            without(spot_warning(INSTANCE, "terminate"), "", "detail").to_string(),
            &["missing field `detail`"],
        ),
        (
            "no instance-id",
            without(
                spot_warning(INSTANCE, "terminate"),
                "/detail",
                "instance-id",
            )
            .to_string(),
            &["`detail`", "missing field `instance-id`"],
        ),
        (
            "instance-id a number",
            with(rebalance(INSTANCE), "/detail/instance-id", json!(7)).to_string(),
            &["`detail.instance-id`", "invalid type"],
        ),
        (
            "empty instance-id",
            with(rebalance(INSTANCE), "/detail/instance-id", json!("")).to_string(),
            &["detail.instance-id"],
        ),
        (
            "unknown spot action",
            spot_warning(INSTANCE, "explode").to_string(),
            &[
                "detail.instance-action",
                "explode",
                "terminate, stop or hibernate",
            ],
        ),
        (
            "no state",
            without(state_change(INSTANCE, "stopped"), "/detail", "state").to_string(),
            &["missing field `state`"],
        ),
        (
            "bad time",
            with(rebalance(INSTANCE), "/time", json!("yesterday")).to_string(),
            &["`time`", "yesterday"],
        ),
        (
            "health without affected entities",
            without(
                health("EC2", "scheduledChange", &[INSTANCE]),
                "/detail",
                "affectedEntities",
            )
            .to_string(),
            &["missing field `affectedEntities`"],
        ),
        (
            "health entity without value",
            with(
                health("EC2", "scheduledChange", &[INSTANCE]),
                "/detail/affectedEntities/0",
                json!({"tags": {}}),
            )
            .to_string(),
            &["detail.affectedEntities[0]", "missing field `entityValue`"],
        ),
    ];
    for (name, body, fragments) in cases {
        let message = match parse_queue_message(&body) {
            Ok(message) => panic!("{name}: parsed as {message:?}"),
            Err(error) => error.to_string(),
        };
        assert!(message.starts_with("failed to read"), "{name}: {message}");
        for fragment in fragments {
            assert!(
                message.contains(fragment),
                "{name}: {message:?} lacks {fragment:?}"
            );
        }
    }
}

fn valid_bodies() -> Vec<Value> {
    vec![
        spot_warning(INSTANCE, "terminate"),
        rebalance(INSTANCE),
        state_change(INSTANCE, "stopping"),
        health("EC2", "scheduledChange", &[INSTANCE]),
        capacity_reservation(INSTANCE),
    ]
}

/// Replaces or removes the value at one JSON pointer of `body`.
fn mutate(body: &Value, index: usize, replacement: Option<Value>) -> Value {
    let mut pointers = Vec::new();
    collect_pointers(body, String::new(), &mut pointers);
    let mut mutated = body.clone();
    let pointer = &pointers[index % pointers.len()];
    match replacement {
        Some(value) => {
            if let Some(slot) = mutated.pointer_mut(pointer) {
                *slot = value;
            }
        }
        None => {
            if let Some((parent, key)) = pointer.rsplit_once('/')
                && let Some(object) = mutated.pointer_mut(parent).and_then(Value::as_object_mut)
            {
                object.remove(key);
            }
        }
    }
    mutated
}

fn collect_pointers(value: &Value, prefix: String, pointers: &mut Vec<String>) {
    pointers.push(prefix.clone());
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                collect_pointers(child, format!("{prefix}/{key}"), pointers);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect_pointers(child, format!("{prefix}/{index}"), pointers);
            }
        }
        _ => {}
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z-]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn random_text_is_an_error_not_a_panic(body in ".{0,200}") {
        if let Err(error) = parse_queue_message(&body) {
            prop_assert!(error.to_string().starts_with("failed to read"));
        }
    }

    #[test]
    fn mutated_events_never_panic_and_errors_name_a_field(
        which in 0usize..5,
        index in any::<usize>(),
        replacement in prop::option::of(any_json()),
    ) {
        let body = mutate(&valid_bodies()[which], index, replacement);
        match parse(&body) {
            Ok(message) => {
                // Whatever parses is internally consistent.
                let notices = message.notices();
                if message.message_type() == MessageType::NoOp {
                    prop_assert!(notices.is_empty());
                }
            }
            Err(error) => {
                let text = error.to_string();
                prop_assert!(text.starts_with("failed to read"), "{}", text);
                prop_assert!(!matches!(error, EventBridgeError::Json { .. }), "{}", text);
            }
        }
    }

    #[test]
    fn truncated_events_are_json_errors(which in 0usize..5, cut in 1usize..400) {
        let text = valid_bodies()[which].to_string();
        let cut = cut.min(text.len() - 1);
        if let Some(prefix) = text.get(..cut) {
            let is_json_error = matches!(parse_queue_message(prefix), Err(EventBridgeError::Json { .. }));
            prop_assert!(is_json_error);
        }
    }
}
