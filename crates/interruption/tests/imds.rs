//! The IMDS answer parsers on the shapes IMDS (and NTH's and AEMM's fixtures) send, and on
//! random and mutated bodies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::{Value, json};
use spotter_interruption::imds::{
    ImdsError, InstanceLifeCycle, RebalanceRecommendation, ScheduledEvent, ScheduledEventState,
    SpotInstanceAction, parse_availability_zone, parse_instance_id, parse_instance_life_cycle,
    parse_rebalance_recommendation, parse_scheduled_events, parse_spot_instance_action,
    region_of_zone,
};
use spotter_interruption::notice::{NoticeClass, NoticeKind, SpotAction};

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn scheduled_event(state: &str) -> Value {
    json!({
        "NotBefore": "21 Jan 2019 09:00:43 GMT",
        "Code": "system-reboot",
        "Description": "scheduled reboot",
        "EventId": "instance-event-0d59937288b749b32",
        "NotAfter": "28 Jan 2019 09:00:43 GMT",
        "State": state,
    })
}

#[test]
fn spot_instance_action_table() {
    let cases = [
        ("terminate", SpotAction::Terminate),
        ("stop", SpotAction::Stop),
        ("hibernate", SpotAction::Hibernate),
    ];
    for (action, expected) in cases {
        let body = json!({"action": action, "time": "2017-09-18T08:22:00Z"}).to_string();
        assert_eq!(
            parse_spot_instance_action(&body),
            Ok(SpotInstanceAction {
                action: expected,
                time: at(1_505_722_920)
            }),
            "{action}"
        );
    }
}

#[test]
fn rebalance_recommendation_parses() {
    let body = json!({"noticeTime": "2020-10-27T08:22:00Z"}).to_string();
    let recommendation = parse_rebalance_recommendation(&body);
    assert_eq!(
        recommendation,
        Ok(RebalanceRecommendation {
            notice_time: at(1_603_786_920)
        })
    );
}

#[test]
fn scheduled_events_table() {
    let cases: Vec<(&str, String, Vec<ScheduledEventState>)> = vec![
        ("empty array", "[]".into(), vec![]),
        ("empty body", String::new(), vec![]),
        (
            "one active",
            json!([scheduled_event("active")]).to_string(),
            vec![ScheduledEventState::Active],
        ),
        (
            "all states",
            json!([
                scheduled_event("active"),
                scheduled_event("completed"),
                scheduled_event("canceled")
            ])
            .to_string(),
            vec![
                ScheduledEventState::Active,
                ScheduledEventState::Completed,
                ScheduledEventState::Canceled,
            ],
        ),
    ];
    for (name, body, states) in cases {
        let events =
            parse_scheduled_events(&body).unwrap_or_else(|error| panic!("{name}: {error}"));
        let parsed: Vec<ScheduledEventState> = events.iter().map(|event| event.state).collect();
        assert_eq!(parsed, states, "{name}");
    }
}

#[test]
fn scheduled_event_fields_and_notice() {
    let mut event = scheduled_event("active");
    event["NotBeforeDeadline"] = json!("30 Jan 2019 09:00:43 GMT");
    let events = parse_scheduled_events(&json!([event]).to_string());
    let expected = ScheduledEvent {
        code: "system-reboot".into(),
        description: "scheduled reboot".into(),
        event_id: "instance-event-0d59937288b749b32".into(),
        not_before: at(1_548_061_243),
        not_after: Some(at(1_548_061_243 + 7 * 86_400)),
        not_before_deadline: Some(at(1_548_061_243 + 9 * 86_400)),
        state: ScheduledEventState::Active,
    };
    assert_eq!(events, Ok(vec![expected.clone()]));
    let notice = expected.notice("i-1").map(|notice| notice.kind);
    assert_eq!(
        notice,
        Some(NoticeKind::ScheduledChange {
            event_id: "instance-event-0d59937288b749b32".into(),
            code: "system-reboot".into(),
            not_before: Some(at(1_548_061_243)),
        })
    );
    let canceled = ScheduledEvent {
        state: ScheduledEventState::Canceled,
        ..expected
    };
    assert_eq!(canceled.notice("i-1"), None);
}

#[test]
fn imds_notices_share_keys_with_queue_notices() {
    let action = SpotInstanceAction {
        action: SpotAction::Terminate,
        time: at(100),
    };
    assert_eq!(
        action.notice("i-1").key(),
        ("i-1", NoticeClass::SpotInterruption)
    );
    let rebalance = RebalanceRecommendation {
        notice_time: at(100),
    };
    assert_eq!(
        rebalance.notice("i-1").key(),
        ("i-1", NoticeClass::RebalanceRecommendation)
    );
}

#[test]
fn identity_table() {
    assert_eq!(
        parse_instance_id("i-1234567890abcdef0\n"),
        Ok("i-1234567890abcdef0".into())
    );
    for bad in ["", "i-", "1234", "i-xyz", "<html>404</html>"] {
        assert!(parse_instance_id(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        parse_instance_life_cycle("spot"),
        Ok(InstanceLifeCycle::Spot)
    );
    assert_eq!(
        parse_instance_life_cycle("on-demand\n"),
        Ok(InstanceLifeCycle::OnDemand)
    );
    assert_eq!(
        parse_instance_life_cycle("scheduled"),
        Ok(InstanceLifeCycle::Other("scheduled".into()))
    );
    assert!(parse_instance_life_cycle(" ").is_err());
    assert_eq!(
        parse_availability_zone("us-east-1a"),
        Ok("us-east-1a".into())
    );
    assert_eq!(region_of_zone("us-east-1a"), "us-east-1");
    assert_eq!(region_of_zone("eu-central-1c"), "eu-central-1");
    for bad in ["", "us-east-1", "US-EAST-1A", "us east 1a"] {
        assert!(parse_availability_zone(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn malformed_answers_say_what_is_wrong() {
    let html_404 = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<html><title>404 - Not Found</title></html>";
    let spot_cases: Vec<(&str, String, &[&str])> = vec![
        (
            "html",
            html_404.into(),
            &["spot/instance-action", "expected value"],
        ),
        (
            "no time",
            json!({"action": "stop"}).to_string(),
            &["missing field `time`"],
        ),
        (
            "bad action",
            json!({"action": "reboot", "time": "2017-09-18T08:22:00Z"}).to_string(),
            &["`action`", "reboot", "terminate, stop or hibernate"],
        ),
        (
            "bad time",
            json!({"action": "stop", "time": "18 Sep 2017"}).to_string(),
            &["`time`", "18 Sep 2017"],
        ),
        (
            "trailing data",
            "{\"action\":\"stop\",\"time\":\"2017-09-18T08:22:00Z\"} x".into(),
            &["trailing characters"],
        ),
    ];
    for (name, body, fragments) in spot_cases {
        assert_error(name, parse_spot_instance_action(&body).err(), fragments);
    }
    assert_error(
        "rebalance without noticeTime",
        parse_rebalance_recommendation("{}").err(),
        &[
            "events/recommendations/rebalance",
            "missing field `noticeTime`",
        ],
    );
    let mut bad_state = scheduled_event("pending");
    assert_error(
        "scheduled bad state",
        parse_scheduled_events(&json!([scheduled_event("active"), bad_state.clone()]).to_string())
            .err(),
        &["[1].State", "pending", "active, completed or canceled"],
    );
    bad_state["State"] = json!("active");
    bad_state["NotBefore"] = json!("2019-01-21T09:00:43Z");
    assert_error(
        "scheduled RFC 3339 date",
        parse_scheduled_events(&json!([bad_state]).to_string()).err(),
        &["[0].NotBefore", "21 Jan 2019 09:00:43 GMT"],
    );
    assert_error(
        "scheduled object instead of array",
        parse_scheduled_events(&scheduled_event("active").to_string()).err(),
        &["events/maintenance/scheduled", "invalid type"],
    );
}

fn assert_error(name: &str, error: Option<ImdsError>, fragments: &[&str]) {
    let Some(error) = error else {
        panic!("{name}: parsed");
    };
    let message = error.to_string();
    assert!(message.starts_with("failed to read"), "{name}: {message}");
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "{name}: {message:?} lacks {fragment:?}"
        );
    }
}

fn valid_answers() -> Vec<Value> {
    vec![
        json!({"action": "terminate", "time": "2017-09-18T08:22:00Z"}),
        json!({"noticeTime": "2020-10-27T08:22:00Z"}),
        json!([scheduled_event("active"), scheduled_event("canceled")]),
    ]
}

fn mutate(body: &Value, index: usize, replacement: Option<Value>) -> Value {
    fn pointers(value: &Value, prefix: String, into: &mut Vec<String>) {
        into.push(prefix.clone());
        match value {
            Value::Object(object) => object
                .iter()
                .for_each(|(key, child)| pointers(child, format!("{prefix}/{key}"), into)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(index, child)| pointers(child, format!("{prefix}/{index}"), into)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    pointers(body, String::new(), &mut all);
    let pointer = &all[index % all.len()];
    let mut mutated = body.clone();
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

fn any_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,30}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn parse_all(body: &str) -> Vec<Result<(), ImdsError>> {
    vec![
        parse_spot_instance_action(body).map(drop),
        parse_rebalance_recommendation(body).map(drop),
        parse_scheduled_events(body).map(drop),
        parse_instance_id(body).map(drop),
        parse_instance_life_cycle(body).map(drop),
        parse_availability_zone(body).map(drop),
    ]
}

proptest! {
    #[test]
    fn random_text_is_an_error_not_a_panic(body in ".{0,200}") {
        for result in parse_all(&body) {
            if let Err(error) = result {
                prop_assert!(error.to_string().starts_with("failed to read"));
            }
        }
    }

    #[test]
    fn mutated_answers_never_panic(
        which in 0usize..3,
        index in any::<usize>(),
        replacement in prop::option::of(any_leaf()),
    ) {
        let body = mutate(&valid_answers()[which], index, replacement).to_string();
        for result in parse_all(&body) {
            if let Err(error) = result {
                prop_assert!(error.to_string().starts_with("failed to read"));
            }
        }
    }
}
