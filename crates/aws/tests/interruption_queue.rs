//! The interruption queue against a real moto server (SQS, and EventBridge rules targeting the
//! queue as docs/interruption.md sets them up): every message type received and parsed, sent
//! directly and through PutEvents; unreadable and foreign messages as parse errors, deleted;
//! delete removing a message while an undeleted one comes back; a missing queue as the error
//! that says what to create. And, on mocked SQS answers (`aws-smithy-mocks`): the request
//! Karpenter makes, throttling, access denied with the IAM action, KMS, an invalid receipt
//! handle, a message without receipt handle.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::error::ErrorMetadata;
use aws_sdk_sqs::operation::delete_message::{DeleteMessageError, DeleteMessageOutput};
use aws_sdk_sqs::operation::get_queue_url::{GetQueueUrlError, GetQueueUrlOutput};
use aws_sdk_sqs::operation::receive_message::{ReceiveMessageError, ReceiveMessageOutput};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use serde_json::{Value, json};
use spotter_aws::interruption_poller::{
    ERROR_PAUSE, QueueMetrics, QueueNotice, Stopped, poll_interruption_queue,
};
use spotter_aws::interruption_queue::{InterruptionQueue, QueueError, ReceivedMessage};
use spotter_interruption::event_bridge::{EventBridgeError, InterruptionEvent, MessageType};
use spotter_interruption::notice::{InstanceState, NoticeClass, SpotAction};
use spotter_metrics::Metrics;
use spotter_test_support::Moto;
use tokio::sync::{mpsc, oneshot};

const REGION: &str = "us-east-1";
const QUEUE: &str = "spotter-seed";
const INSTANCE: &str = "i-0b662ef9931388ba0";
/// 2024-05-06T07:08:09Z.
const EVENT_SECONDS: u64 = 1_714_979_289;
const EVENT_TIME: &str = "2024-05-06T07:08:09Z";
/// A short long poll, so that tests waiting for nothing do not wait 20 s.
const TEST_WAIT: Duration = Duration::from_secs(1);

// --- Real event shapes (EC2 and AWS Health, as EventBridge delivers them) --------------------

/// One EventBridge event: what it is (source, detail type), what it is about and what it says.
#[derive(Clone, Debug)]
struct Event {
    source: &'static str,
    detail_type: &'static str,
    resources: Vec<String>,
    detail: Value,
}

impl Event {
    fn spot_warning(instance_id: &str, action: &str) -> Event {
        Event {
            source: "aws.ec2",
            detail_type: "EC2 Spot Instance Interruption Warning",
            resources: vec![format!("arn:aws:ec2:us-east-1b:instance/{instance_id}")],
            detail: json!({"instance-id": instance_id, "instance-action": action}),
        }
    }

    fn rebalance(instance_id: &str) -> Event {
        Event {
            source: "aws.ec2",
            detail_type: "EC2 Instance Rebalance Recommendation",
            resources: vec![format!("arn:aws:ec2:us-east-1b:instance/{instance_id}")],
            detail: json!({"instance-id": instance_id}),
        }
    }

    fn state_change(instance_id: &str, state: &str) -> Event {
        Event {
            source: "aws.ec2",
            detail_type: "EC2 Instance State-change Notification",
            resources: vec![format!(
                "arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"
            )],
            detail: json!({"instance-id": instance_id, "state": state}),
        }
    }

    fn health(service: &str, category: &str, instance_ids: &[&str]) -> Event {
        let entities: Vec<Value> = instance_ids
            .iter()
            .map(|id| json!({"entityValue": id, "tags": {}}))
            .collect();
        Event {
            source: "aws.health",
            detail_type: "AWS Health Event",
            resources: instance_ids.iter().map(|id| id.to_string()).collect(),
            detail: json!({
                "eventArn": "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_1",
                "service": service,
                "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
                "eventTypeCategory": category,
                "startTime": "Mon, 06 May 2024 08:00:00 GMT",
                "endTime": "Mon, 06 May 2024 09:00:00 GMT",
                "eventDescription": [{"language": "en_US", "latestDescription": "retirement"}],
                "affectedEntities": entities,
            }),
        }
    }

    fn capacity_reservation(instance_id: &str) -> Event {
        Event {
            source: "aws.ec2",
            detail_type: "EC2 Capacity Reservation Instance Interruption Warning",
            resources: vec![format!(
                "arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"
            )],
            detail: json!({"instance-id": instance_id, "instance-action": "terminate"}),
        }
    }

    fn s3_object_created() -> Event {
        Event {
            source: "aws.s3",
            detail_type: "Object Created",
            resources: vec!["arn:aws:s3:::bucket".to_string()],
            detail: json!({"bucket": {"name": "bucket"}, "object": {"key": "a"}}),
        }
    }

    /// The raw event EventBridge puts in the queue.
    fn envelope(&self, id: &str) -> String {
        json!({
            "version": "0",
            "id": id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": "123456789012",
            "time": EVENT_TIME,
            "region": REGION,
            "resources": self.resources,
            "detail": self.detail,
        })
        .to_string()
    }
}

/// Every kind of event the queue receives, with what it parses to.
fn every_message_type() -> Vec<(&'static str, Event, InterruptionEvent, MessageType)> {
    vec![
        (
            "spot terminate",
            Event::spot_warning(INSTANCE, "terminate"),
            InterruptionEvent::SpotInterruptionWarning {
                instance_id: INSTANCE.into(),
                action: SpotAction::Terminate,
            },
            MessageType::SpotInterrupted,
        ),
        (
            "spot hibernate",
            Event::spot_warning("i-0000000000000000b", "hibernate"),
            InterruptionEvent::SpotInterruptionWarning {
                instance_id: "i-0000000000000000b".into(),
                action: SpotAction::Hibernate,
            },
            MessageType::SpotInterrupted,
        ),
        (
            "rebalance",
            Event::rebalance(INSTANCE),
            InterruptionEvent::RebalanceRecommendation {
                instance_id: INSTANCE.into(),
            },
            MessageType::RebalanceRecommendation,
        ),
        (
            "stopping",
            Event::state_change(INSTANCE, "stopping"),
            InterruptionEvent::StateChange {
                instance_id: INSTANCE.into(),
                state: InstanceState::Stopping,
            },
            MessageType::InstanceStopped,
        ),
        (
            "terminated",
            Event::state_change(INSTANCE, "terminated"),
            InterruptionEvent::StateChange {
                instance_id: INSTANCE.into(),
                state: InstanceState::Terminated,
            },
            MessageType::InstanceTerminated,
        ),
        (
            "running",
            Event::state_change(INSTANCE, "running"),
            InterruptionEvent::StateChangeIgnored {
                instance_id: INSTANCE.into(),
                state: "running".into(),
            },
            MessageType::NoOp,
        ),
        (
            "scheduled change",
            Event::health("EC2", "scheduledChange", &[INSTANCE, "i-0000000000000000c"]),
            InterruptionEvent::ScheduledChange(
                spotter_interruption::event_bridge::HealthScheduledChange {
                    event_arn: "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_1".into(),
                    event_type_code: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
                    start_time: Some(UNIX_EPOCH + Duration::from_secs(1_714_982_400)),
                    end_time: Some(UNIX_EPOCH + Duration::from_secs(1_714_986_000)),
                    instance_ids: vec![INSTANCE.into(), "i-0000000000000000c".into()],
                },
            ),
            MessageType::ScheduledChange,
        ),
        (
            "health issue",
            Event::health("EC2", "issue", &[INSTANCE]),
            InterruptionEvent::HealthIgnored {
                service: "EC2".into(),
                category: "issue".into(),
            },
            MessageType::NoOp,
        ),
        (
            "capacity reservation",
            Event::capacity_reservation(INSTANCE),
            InterruptionEvent::CapacityReservationInterruption {
                instance_id: INSTANCE.into(),
                action: "terminate".into(),
            },
            MessageType::CapacityReservationInterrupted,
        ),
        (
            "foreign",
            Event::s3_object_created(),
            InterruptionEvent::Unknown {
                source: "aws.s3".into(),
                detail_type: "Object Created".into(),
            },
            MessageType::NoOp,
        ),
    ]
}

// --- moto ------------------------------------------------------------------------------------

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

/// Creates the queue as docs/interruption.md does (5 minutes' retention); returns its URL.
async fn create_queue(config: &aws_config::SdkConfig, name: &str) -> String {
    SqsClient::new(config)
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "300")
        .send()
        .await
        .expect("the queue is created")
        .queue_url
        .expect("the queue has a URL")
}

/// The rules of docs/interruption.md's CloudFormation snippet: (name, source, detail type).
const RULES: [(&str, &str, &str); 4] = [
    ("ScheduledChangeRule", "aws.health", "AWS Health Event"),
    (
        "SpotInterruptionRule",
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
    ),
    (
        "RebalanceRule",
        "aws.ec2",
        "EC2 Instance Rebalance Recommendation",
    ),
    (
        "InstanceStateChangeRule",
        "aws.ec2",
        "EC2 Instance State-change Notification",
    ),
];

/// Creates the four EventBridge rules, each targeting the queue at `url`; returns them.
async fn route_to_queue(
    config: &aws_config::SdkConfig,
    url: &str,
) -> [(&'static str, &'static str, &'static str); 4] {
    let queue_arn = SqsClient::new(config)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("the queue's ARN")
        .attributes
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
        .expect("the queue has an ARN");
    let events = aws_sdk_eventbridge::Client::new(config);
    for (name, source, detail_type) in RULES {
        events
            .put_rule()
            .name(name)
            .event_pattern(json!({"source": [source], "detail-type": [detail_type]}).to_string())
            .send()
            .await
            .expect("the rule is created");
        events
            .put_targets()
            .rule(name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("InterruptionQueueTarget")
                    .arn(&queue_arn)
                    .build()
                    .expect("a target"),
            )
            .send()
            .await
            .expect("the target is set");
    }
    RULES
}

/// Puts `event` on EventBridge's default bus, as EC2 or AWS Health would.
async fn put_event(events: &aws_sdk_eventbridge::Client, event: &Event) {
    let answer = events
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(event.source)
                .detail_type(event.detail_type)
                .detail(event.detail.to_string())
                .set_resources(Some(event.resources.clone()))
                .time(aws_smithy_types::DateTime::from_secs(
                    i64::try_from(EVENT_SECONDS).expect("fits"),
                ))
                .build(),
        )
        .send()
        .await
        .expect("the event is put");
    assert_eq!(answer.failed_entry_count, 0, "{answer:?}");
}

/// Receives until `count` distinct messages came (or 30 s passed), deleting none; a message
/// delivered again replaces its earlier delivery (its new receipt handle is the valid one).
async fn receive_all(queue: &InterruptionQueue, count: usize) -> Vec<ReceivedMessage> {
    let started = Instant::now();
    let mut received: Vec<ReceivedMessage> = Vec::new();
    while received.len() < count && started.elapsed() < Duration::from_secs(30) {
        for message in queue.receive().await.expect("the queue answers") {
            received.retain(|earlier| earlier.message_id != message.message_id);
            received.push(message);
        }
    }
    received
}

/// Messages waiting plus messages in flight, as SQS counts them.
async fn messages_left(config: &aws_config::SdkConfig, url: &str) -> u64 {
    let answer = SqsClient::new(config)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("the queue's attributes");
    let attributes = answer.attributes.unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|name| {
        attributes
            .get(name)
            .and_then(|count| count.parse::<u64>().ok())
            .unwrap_or(0)
    })
    .sum()
}

/// Checks that every case arrived once, parsed as expected, with a plausible `SentTimestamp`.
fn check_parsed(
    received: &[ReceivedMessage],
    cases: &[(&'static str, Event, InterruptionEvent, MessageType)],
    sent_between: (SystemTime, SystemTime),
) {
    assert_eq!(received.len(), cases.len(), "{received:#?}");
    for (name, _, event, message_type) in cases {
        let matching: Vec<&ReceivedMessage> = received
            .iter()
            .filter(|message| {
                message
                    .parsed
                    .as_ref()
                    .is_ok_and(|parsed| parsed.event == *event)
            })
            .collect();
        assert_eq!(matching.len(), 1, "{name}: {received:#?}");
        let message = matching[0];
        assert_eq!(message.message_type(), Some(*message_type), "{name}");
        let parsed = message.parsed.as_ref().expect("parsed");
        assert_eq!(
            parsed.time,
            UNIX_EPOCH + Duration::from_secs(EVENT_SECONDS),
            "{name}"
        );
        let sent_at = message
            .sent_at
            .expect("SQS says when it received the message");
        // SentTimestamp has millisecond precision, the bounds do not.
        let (earliest, latest) = sent_between;
        assert!(
            sent_at + Duration::from_millis(1) >= earliest && sent_at <= latest,
            "{name}: sent at {sent_at:?}, not between {earliest:?} and {latest:?}"
        );
        assert!(
            message
                .queue_duration(latest)
                .is_some_and(|waited| waited < Duration::from_secs(60)),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_type_sent_to_the_queue_is_received_and_parsed() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto.endpoint).await;
    let url = create_queue(&config, QUEUE).await;
    let queue = InterruptionQueue::new(&config, QUEUE)
        .await
        .expect("the queue is found by name")
        .with_wait_time(TEST_WAIT);
    assert_eq!(queue.url(), url);
    assert_eq!(queue.name(), QUEUE);
    let cases = every_message_type();
    let before = SystemTime::now();
    let sqs = SqsClient::new(&config);
    for (index, (_, event, _, _)) in cases.iter().enumerate() {
        sqs.send_message()
            .queue_url(&url)
            .message_body(event.envelope(&format!("event-{index}")))
            .send()
            .await
            .expect("the message is sent");
    }
    let received = receive_all(&queue, cases.len()).await;
    check_parsed(&received, &cases, (before, SystemTime::now()));
    for message in &received {
        queue.delete(message).await.expect("the message is deleted");
    }
    assert_eq!(messages_left(&config, &url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_routed_by_the_four_event_bridge_rules_are_received_and_parsed() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto.endpoint).await;
    let url = create_queue(&config, QUEUE).await;
    let rules = route_to_queue(&config, &url).await;
    // Every type the four rules route; the capacity-reservation warning (a fifth rule in
    // Karpenter's newer template) and S3's event match no rule here and must not arrive.
    let (routed, unrouted): (Vec<_>, Vec<_>) =
        every_message_type()
            .into_iter()
            .partition(|(_, event, _, _)| {
                rules.iter().any(|(_, source, detail_type)| {
                    event.source == *source && event.detail_type == *detail_type
                })
            });
    assert_eq!(unrouted.len(), 2, "{unrouted:?}");
    let before = SystemTime::now();
    let events = aws_sdk_eventbridge::Client::new(&config);
    for (_, event, _, _) in routed.iter().chain(&unrouted) {
        put_event(&events, event).await;
    }
    let queue = InterruptionQueue::new(&config, &url)
        .await
        .expect("the queue is taken by URL")
        .with_wait_time(TEST_WAIT);
    assert_eq!(queue.name(), QUEUE);
    let received = receive_all(&queue, routed.len()).await;
    check_parsed(&received, &routed, (before, SystemTime::now()));
    for message in &received {
        queue.delete(message).await.expect("the message is deleted");
    }
    let late = queue.receive().await.expect("the queue answers");
    assert!(late.is_empty(), "unrouted events arrived: {late:#?}");
    assert_eq!(messages_left(&config, &url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_messages_are_parse_errors_and_deleted_and_undeleted_ones_come_back() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto.endpoint).await;
    let url = create_queue(&config, QUEUE).await;
    let queue = InterruptionQueue::new(&config, QUEUE)
        .await
        .expect("the queue is found")
        .with_wait_time(TEST_WAIT)
        .with_visibility_timeout(Duration::from_secs(1));
    let mut missing_instance = Event::spot_warning(INSTANCE, "terminate");
    missing_instance.detail = json!({"instance-action": "terminate"});
    let bad_action = Event::spot_warning(INSTANCE, "explode");
    // Body -> the start of the parse error's text.
    let unreadable: Vec<(String, &str)> = vec![
        (
            "not json".to_string(),
            "failed to read the message body as JSON",
        ),
        (
            "[1, 2, 3]".to_string(),
            "failed to read the EventBridge event at `.`",
        ),
        (
            r#"{"Type":"Notification","Message":"{}"}"#.to_string(),
            "failed to read the EventBridge event at `.`",
        ),
        (
            missing_instance.envelope("missing"),
            "failed to read the EventBridge event at `detail`: missing field `instance-id`",
        ),
        (
            bad_action.envelope("bad"),
            "failed to read the EventBridge event: `detail.instance-action` is \"explode\"",
        ),
    ];
    let sqs = SqsClient::new(&config);
    for (body, _) in &unreadable {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .expect("sent");
    }
    let kept_body = Event::rebalance(INSTANCE).envelope("kept");
    sqs.send_message()
        .queue_url(&url)
        .message_body(&kept_body)
        .send()
        .await
        .expect("sent");
    let received = receive_all(&queue, unreadable.len() + 1).await;
    assert_eq!(received.len(), unreadable.len() + 1, "{received:#?}");
    for (body, error_start) in &unreadable {
        let message = received
            .iter()
            .find(|message| message.body == *body)
            .unwrap_or_else(|| panic!("{body} was received"));
        let error: &EventBridgeError = message.parsed.as_ref().expect_err(body);
        assert!(
            error.to_string().starts_with(error_start),
            "{body}: {error}"
        );
        assert_eq!(message.message_type(), None);
        queue
            .delete(message)
            .await
            .expect("an unreadable message is deleted");
    }
    let kept = received
        .iter()
        .find(|message| message.body == kept_body)
        .expect("the readable message was received");
    assert_eq!(
        kept.message_type(),
        Some(MessageType::RebalanceRecommendation)
    );
    // Not deleted: it comes back once its visibility timeout is over; the deleted ones do not.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = receive_all(&queue, 1).await;
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(again[0].body, kept_body);
    assert_eq!(again[0].message_id, kept.message_id);
    queue.delete(&again[0]).await.expect("deleted");
    assert_eq!(messages_left(&config, &url).await, 0);
    // The old receipt handle of a message deleted since: an error, never a panic.
    if let Err(error) = queue.delete(kept).await {
        assert!(
            matches!(
                error,
                QueueError::ReceiptHandleInvalid { .. } | QueueError::Other { .. }
            ),
            "{error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_says_which_queue_and_what_to_create() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto.endpoint).await;
    let by_name = InterruptionQueue::new(&config, "absent-queue").await;
    let Err(error) = by_name else {
        panic!("a queue that does not exist was found");
    };
    assert!(
        matches!(&error, QueueError::QueueMissing { queue, region } if queue == "absent-queue" && region == REGION),
        "{error:?}"
    );
    let text = error.to_string();
    for part in [
        "absent-queue",
        "does not exist",
        "create an SQS queue",
        "EventBridge rules",
        "INTERRUPTION_QUEUE",
    ] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
    // A URL is not resolved: the first receive says the queue is missing.
    let url = format!("{}/123456789012/absent-queue", moto.endpoint);
    let queue = InterruptionQueue::new(&config, &url)
        .await
        .expect("a URL is taken as it is")
        .with_wait_time(TEST_WAIT);
    let error = queue.receive().await.expect_err("the queue does not exist");
    assert!(
        matches!(&error, QueueError::QueueMissing { queue, .. } if queue == "absent-queue"),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

// --- mocked answers --------------------------------------------------------------------------

const MOCK_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/spotter-seed";

fn mocked_queue_url() -> Rule {
    mock!(SqsClient::get_queue_url)
        .then_output(|| GetQueueUrlOutput::builder().queue_url(MOCK_URL).build())
}

async fn mocked_queue(rules: &[&Rule]) -> Result<InterruptionQueue, QueueError> {
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, rules, |config| config
        .retry_config(RetryConfig::disabled()));
    InterruptionQueue::from_client(client, QUEUE).await
}

fn metadata(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message("mocked")
        .build()
}

fn sqs_message(id: &str, receipt_handle: Option<&str>, body: &str, sent_millis: &str) -> Message {
    Message::builder()
        .message_id(id)
        .set_receipt_handle(receipt_handle.map(str::to_string))
        .body(body)
        .attributes(MessageSystemAttributeName::SentTimestamp, sent_millis)
        .build()
}

#[tokio::test]
async fn receive_asks_as_karpenter_does_and_reads_every_message() {
    let url = mocked_queue_url();
    let receive = mock!(SqsClient::receive_message)
        .match_requests(|input| {
            input.queue_url() == Some(MOCK_URL)
                && input.max_number_of_messages() == Some(10)
                && input.wait_time_seconds() == Some(20)
                && input.visibility_timeout() == Some(20)
                && input.message_system_attribute_names()
                    == [MessageSystemAttributeName::SentTimestamp]
        })
        .then_output(|| {
            ReceiveMessageOutput::builder()
                .messages(sqs_message(
                    "1",
                    Some("handle-1"),
                    &Event::spot_warning(INSTANCE, "terminate").envelope("a"),
                    "1714979290500",
                ))
                .messages(sqs_message("2", None, "{}", "1714979290500"))
                .messages(sqs_message(
                    "3",
                    Some("handle-3"),
                    "\u{0}\u{ffff}",
                    "yesterday",
                ))
                .build()
        });
    let delete = mock!(SqsClient::delete_message)
        .match_requests(|input| {
            input.queue_url() == Some(MOCK_URL) && input.receipt_handle() == Some("handle-1")
        })
        .then_output(|| DeleteMessageOutput::builder().build());
    let queue = mocked_queue(&[&url, &receive, &delete])
        .await
        .expect("the queue is found");
    let received = queue.receive().await.expect("received");
    let ids: Vec<&str> = received
        .iter()
        .map(|message| message.message_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["1", "3"],
        "a message without receipt handle is left out"
    );
    let spot = &received[0];
    assert_eq!(spot.message_type(), Some(MessageType::SpotInterrupted));
    assert_eq!(
        spot.sent_at,
        Some(UNIX_EPOCH + Duration::from_millis(1_714_979_290_500))
    );
    assert_eq!(
        spot.queue_duration(UNIX_EPOCH + Duration::from_secs(1_714_979_300)),
        Some(Duration::from_millis(9_500))
    );
    assert_eq!(spot.queue_duration(UNIX_EPOCH), Some(Duration::ZERO));
    let garbage = &received[1];
    assert!(garbage.parsed.is_err());
    assert_eq!(
        garbage.sent_at, None,
        "an unreadable SentTimestamp is no time"
    );
    assert_eq!(garbage.queue_duration(SystemTime::now()), None);
    queue.delete(spot).await.expect("deleted");
    assert_eq!(receive.num_calls(), 1);
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn failed_calls_say_what_to_do() {
    type ReceiveFailure = fn() -> ReceiveMessageError;
    let receive_cases: [(&str, ReceiveFailure, &str, bool); 5] = [
        (
            "throttled",
            || ReceiveMessageError::generic(metadata("RequestThrottled")),
            "throttled (RequestThrottled)",
            true,
        ),
        (
            "access denied",
            || ReceiveMessageError::generic(metadata("AccessDenied")),
            "allow sqs:ReceiveMessage on the queue's ARN",
            false,
        ),
        (
            "kms",
            || ReceiveMessageError::generic(metadata("KmsAccessDenied")),
            "allow kms:Decrypt on the queue's KMS key",
            false,
        ),
        (
            "credentials",
            || ReceiveMessageError::generic(metadata("InvalidClientTokenId")),
            "check the controller's AWS credentials",
            false,
        ),
        (
            "deleted while running",
            || ReceiveMessageError::generic(metadata("AWS.SimpleQueueService.NonExistentQueue")),
            "create an SQS queue named `spotter-seed`",
            false,
        ),
    ];
    for (name, failure, expected, retryable) in receive_cases {
        let url = mocked_queue_url();
        let receive = mock!(SqsClient::receive_message).then_error(failure);
        let queue = mocked_queue(&[&url, &receive]).await.expect("found");
        let error = queue.receive().await.expect_err(name);
        assert!(error.to_string().contains(expected), "{name}: {error}");
        assert!(
            error.to_string().contains("spotter-seed"),
            "{name}: {error}"
        );
        assert_eq!(error.is_retryable(), retryable, "{name}: {error:?}");
    }

    let denied = mock!(SqsClient::get_queue_url)
        .then_error(|| GetQueueUrlError::generic(metadata("AccessDenied")));
    let error = mocked_queue(&[&denied]).await.expect_err("denied");
    assert!(
        error
            .to_string()
            .contains("failed to call GetQueueUrl on the interruption queue `spotter-seed`: access denied; allow sqs:GetQueueUrl"),
        "{error}"
    );

    let missing = mock!(SqsClient::get_queue_url).then_error(|| {
        GetQueueUrlError::QueueDoesNotExist(
            aws_sdk_sqs::types::error::QueueDoesNotExist::builder()
                .meta(metadata("AWS.SimpleQueueService.NonExistentQueue"))
                .build(),
        )
    });
    let error = mocked_queue(&[&missing]).await.expect_err("missing");
    assert!(
        matches!(error, QueueError::QueueMissing { .. }),
        "{error:?}"
    );

    let url = mocked_queue_url();
    let stale = mock!(SqsClient::delete_message)
        .then_error(|| DeleteMessageError::generic(metadata("ReceiptHandleIsInvalid")));
    let queue = mocked_queue(&[&url, &stale]).await.expect("found");
    let message = ReceivedMessage {
        message_id: "m-1".to_string(),
        receipt_handle: "stale".to_string(),
        sent_at: None,
        body: String::new(),
        parsed: spotter_interruption::event_bridge::parse_queue_message(""),
    };
    let error = queue.delete(&message).await.expect_err("stale");
    assert!(
        matches!(&error, QueueError::ReceiptHandleInvalid { message_id, .. } if message_id == "m-1"),
        "{error:?}"
    );
}

#[test]
fn every_message_type_has_a_case() {
    let covered: BTreeMap<&str, usize> = every_message_type().iter().fold(
        BTreeMap::new(),
        |mut covered, (_, _, _, message_type)| {
            *covered.entry(message_type.label()).or_default() += 1;
            covered
        },
    );
    for message_type in MessageType::ALL {
        assert!(
            covered.contains_key(message_type.label()),
            "{} has no case",
            message_type.label()
        );
    }
}

// --- the poller ------------------------------------------------------------------------------

/// What the poller counted, to compare exactly.
#[derive(Debug, Default)]
struct Recorded {
    received: Mutex<BTreeMap<&'static str, u64>>,
    malformed: AtomicU64,
    deleted: AtomicU64,
    queue_durations: Mutex<Vec<Duration>>,
}

impl QueueMetrics for Recorded {
    fn message_received(&self, message_type: MessageType) {
        *self
            .received
            .lock()
            .expect("not poisoned")
            .entry(message_type.label())
            .or_default() += 1;
    }

    fn message_malformed(&self) {
        self.malformed.fetch_add(1, Ordering::SeqCst);
    }

    fn message_deleted(&self) {
        self.deleted.fetch_add(1, Ordering::SeqCst);
    }

    fn message_queue_duration(&self, waited: Duration) {
        self.queue_durations
            .lock()
            .expect("not poisoned")
            .push(waited);
    }
}

/// A running poller: its task, the receiving end of its channel and its shutdown switch.
struct Poller {
    task: tokio::task::JoinHandle<Result<Stopped, QueueError>>,
    notices: mpsc::Receiver<QueueNotice>,
    shutdown: oneshot::Sender<()>,
}

impl Poller {
    fn start<M>(queue: InterruptionQueue, metrics: Arc<M>, capacity: usize) -> Poller
    where
        M: QueueMetrics + Send + Sync + 'static,
    {
        let (sender, notices) = mpsc::channel(capacity);
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            poll_interruption_queue(&queue, &*metrics, sender, async move {
                let _ = stop.await;
            })
            .await
        });
        Poller {
            task,
            notices,
            shutdown,
        }
    }

    /// The next notice, within 30 s.
    async fn next(&mut self) -> QueueNotice {
        tokio::time::timeout(Duration::from_secs(30), self.notices.recv())
            .await
            .expect("a notice within 30 s")
            .expect("the poller is running")
    }

    /// Shuts the poller down and returns how it ended (within 5 s).
    async fn stop(self) -> Result<Stopped, QueueError> {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the poller stops within 5 s of its shutdown")
            .expect("the poller did not panic")
    }
}

/// Waits up to 30 s for `condition`.
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not within 30 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A counter's value in an OpenMetrics encoding.
fn counter(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

async fn send_bodies(config: &aws_config::SdkConfig, url: &str, bodies: &[String]) {
    let sqs = SqsClient::new(config);
    for body in bodies {
        sqs.send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .expect("the message is sent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_hands_over_every_notice_and_deletes_every_message() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto.endpoint).await;
    let url = create_queue(&config, QUEUE).await;
    let queue = InterruptionQueue::new(&config, QUEUE)
        .await
        .expect("the queue is found")
        .with_wait_time(TEST_WAIT);
    let mut bodies: Vec<String> = every_message_type()
        .iter()
        .enumerate()
        .map(|(index, (_, event, _, _))| event.envelope(&format!("event-{index}")))
        .collect();
    bodies.push("not json".to_string());
    bodies.push(r#"{"Type":"Notification","Message":"{}"}"#.to_string());
    let before = SystemTime::now();
    send_bodies(&config, &url, &bodies).await;
    let metrics = Arc::new(Recorded::default());
    let mut poller = Poller::start(queue, Arc::clone(&metrics), 4);

    // (instance, class) -> how many notices; the scheduled change names two instances, the
    // ignored state change, the Health issue and S3's event none.
    let expected: BTreeMap<(&str, NoticeClass), usize> = [
        ((INSTANCE, NoticeClass::SpotInterruption), 1),
        (("i-0000000000000000b", NoticeClass::SpotInterruption), 1),
        ((INSTANCE, NoticeClass::RebalanceRecommendation), 1),
        ((INSTANCE, NoticeClass::InstanceStopped), 1),
        ((INSTANCE, NoticeClass::InstanceTerminated), 1),
        ((INSTANCE, NoticeClass::ScheduledChange), 1),
        (("i-0000000000000000c", NoticeClass::ScheduledChange), 1),
        ((INSTANCE, NoticeClass::CapacityReservationInterruption), 1),
    ]
    .into_iter()
    .collect();
    let mut notices = Vec::new();
    for _ in 0..expected.values().sum::<usize>() {
        notices.push(poller.next().await);
    }
    let mut got: BTreeMap<(&str, NoticeClass), usize> = BTreeMap::new();
    for queue_notice in &notices {
        let (instance_id, class) = queue_notice.notice.key();
        *got.entry((instance_id, class)).or_default() += 1;
        assert_eq!(
            queue_notice.event_time,
            UNIX_EPOCH + Duration::from_secs(EVENT_SECONDS),
            "{queue_notice:?}"
        );
        assert!(
            queue_notice
                .sent_at
                .is_some_and(|sent_at| sent_at + Duration::from_millis(1) >= before),
            "{queue_notice:?}"
        );
        assert!(!queue_notice.message_id.is_empty(), "{queue_notice:?}");
        if class == NoticeClass::SpotInterruption {
            assert_eq!(
                queue_notice.notice.deadline(),
                Some(UNIX_EPOCH + Duration::from_secs(EVENT_SECONDS + 120)),
                "a Spot warning's deadline is two minutes after the event"
            );
            assert_eq!(queue_notice.message_type, MessageType::SpotInterrupted);
        }
    }
    assert_eq!(got, expected, "{notices:#?}");

    eventually("every message is deleted", async || {
        messages_left(&config, &url).await == 0
    })
    .await;
    assert_eq!(poller.stop().await, Ok(Stopped::Shutdown));
    let received = metrics.received.lock().expect("not poisoned").clone();
    let expected_received: BTreeMap<&str, u64> = [
        ("spot_interrupted", 2),
        ("rebalance_recommendation", 1),
        ("instance_stopped", 1),
        ("instance_terminated", 1),
        ("scheduled_change", 1),
        ("capacity_reservation_interrupted", 1),
        ("no_op", 3),
    ]
    .into_iter()
    .collect();
    assert_eq!(received, expected_received);
    assert_eq!(metrics.malformed.load(Ordering::SeqCst), 2);
    assert_eq!(
        metrics.deleted.load(Ordering::SeqCst),
        u64::try_from(bodies.len()).expect("fits")
    );
    let durations = metrics
        .queue_durations
        .lock()
        .expect("not poisoned")
        .clone();
    assert_eq!(
        durations.len(),
        7,
        "one per message with notices: {durations:?}"
    );
    assert!(
        durations
            .iter()
            .all(|waited| *waited < Duration::from_secs(60)),
        "{durations:?}"
    );
    // Nothing comes back once deleted.
    let late = InterruptionQueue::new(&config, &url)
        .await
        .expect("the queue")
        .with_wait_time(TEST_WAIT)
        .receive()
        .await
        .expect("the queue answers");
    assert!(late.is_empty(), "{late:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_deletes_a_message_only_once_the_controller_took_its_notice() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto.endpoint).await;
    let url = create_queue(&config, QUEUE).await;
    let queue = InterruptionQueue::new(&config, QUEUE)
        .await
        .expect("the queue is found")
        .with_wait_time(TEST_WAIT)
        .with_visibility_timeout(Duration::from_secs(60));
    let instances = [
        "i-00000000000000001",
        "i-00000000000000002",
        "i-00000000000000003",
    ];
    let bodies: Vec<String> = instances
        .iter()
        .map(|instance_id| Event::spot_warning(instance_id, "terminate").envelope(instance_id))
        .collect();
    send_bodies(&config, &url, &bodies).await;
    // The driver's metrics as `spotter controller` holds them.
    let metrics = Arc::new(Mutex::new(Metrics::new("aws")));
    let deleted = {
        let metrics = Arc::clone(&metrics);
        move || {
            let text = metrics
                .lock()
                .expect("not poisoned")
                .encode()
                .expect("the metrics encode");
            counter(&text, "karpenter_interruption_deleted_messages_total").unwrap_or(0.0)
        }
    };
    // Room for one notice, and no one reading: the first message is deleted, the second
    // waits for room, the third is not even read off the poller's batch.
    let mut poller = Poller::start(queue, Arc::clone(&metrics), 1);
    eventually("the first message is deleted", async || {
        messages_left(&config, &url).await == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(messages_left(&config, &url).await, 2);
    assert_eq!(deleted(), 1.0);

    let first = poller.next().await;
    assert!(
        instances.contains(&first.notice.instance_id.as_str()),
        "{first:?}"
    );
    eventually(
        "the second message is deleted once its notice fits",
        async || messages_left(&config, &url).await == 1,
    )
    .await;
    assert_eq!(deleted(), 2.0);
    // The controller stops with the second notice unread and the third waiting for room: the
    // poller ends without deleting the third message, which SQS will deliver again.
    let Poller {
        task,
        notices,
        shutdown,
    } = poller;
    drop(notices);
    let ended = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the poller ends once its receiver is gone")
        .expect("no panic");
    drop(shutdown);
    assert_eq!(ended, Ok(Stopped::ReceiverClosed));
    assert_eq!(messages_left(&config, &url).await, 1);
    assert_eq!(deleted(), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_ends_with_the_error_that_says_what_to_do_when_the_queue_goes_away() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto.endpoint).await;
    let url = create_queue(&config, QUEUE).await;
    let queue = InterruptionQueue::new(&config, QUEUE)
        .await
        .expect("the queue is found")
        .with_wait_time(TEST_WAIT);
    SqsClient::new(&config)
        .delete_queue()
        .queue_url(&url)
        .send()
        .await
        .expect("the queue is deleted");
    let poller = Poller::start(queue, Arc::new(Recorded::default()), 1);
    let ended = tokio::time::timeout(Duration::from_secs(30), poller.task)
        .await
        .expect("the poller ends")
        .expect("no panic");
    let Err(error) = ended else {
        panic!("the poller went on without its queue: {ended:?}");
    };
    assert!(
        matches!(&error, QueueError::QueueMissing { queue, .. } if queue == QUEUE),
        "{error:?}"
    );
    assert!(error.to_string().contains("create an SQS queue"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_stops_at_once_when_shut_down_during_a_long_poll() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto.endpoint).await;
    create_queue(&config, QUEUE).await;
    let queue = InterruptionQueue::new(&config, QUEUE)
        .await
        .expect("the queue is found");
    let poller = Poller::start(queue, Arc::new(Recorded::default()), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    assert_eq!(poller.stop().await, Ok(Stopped::Shutdown));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the 20 s long poll was waited out: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_poller_polls_through_what_sqs_gets_over_and_stops_at_what_it_does_not() {
    let url = mocked_queue_url();
    let spot = Event::spot_warning(INSTANCE, "terminate").envelope("a");
    let receive = mock!(SqsClient::receive_message)
        .sequence()
        .error(|| ReceiveMessageError::generic(metadata("RequestThrottled")))
        .output(move || {
            ReceiveMessageOutput::builder()
                .messages(sqs_message("1", Some("handle-1"), &spot, "1714979290500"))
                .build()
        })
        .output(|| ReceiveMessageOutput::builder().build())
        .repeatedly()
        .build();
    let delete = mock!(SqsClient::delete_message)
        .sequence()
        .error(|| {
            DeleteMessageError::generic(
                ErrorMetadata::builder()
                    .code("InternalError")
                    .message("mocked")
                    .build(),
            )
        })
        .build();
    let queue = mocked_queue(&[&url, &receive, &delete])
        .await
        .expect("the queue is found");
    let metrics = Arc::new(Recorded::default());
    let started = Instant::now();
    let mut poller = Poller::start(queue, Arc::clone(&metrics), 1);
    let notice = poller.next().await;
    assert!(
        started.elapsed() >= ERROR_PAUSE,
        "the throttled call was followed by a pause: {:?}",
        started.elapsed()
    );
    assert_eq!(notice.notice.instance_id, INSTANCE);
    assert_eq!(notice.message_id, "1");
    eventually("the delete was tried", async || delete.num_calls() == 1).await;
    assert_eq!(poller.stop().await, Ok(Stopped::Shutdown));
    assert_eq!(
        metrics.deleted.load(Ordering::SeqCst),
        0,
        "a failed delete is not counted"
    );
    assert!(receive.num_calls() >= 3, "{}", receive.num_calls());

    let url = mocked_queue_url();
    let receive = mock!(SqsClient::receive_message).then_output(|| {
        ReceiveMessageOutput::builder()
            .messages(sqs_message(
                "2",
                Some("handle-2"),
                "not json",
                "1714979290500",
            ))
            .build()
    });
    let denied = mock!(SqsClient::delete_message)
        .then_error(|| DeleteMessageError::generic(metadata("AccessDenied")));
    let queue = mocked_queue(&[&url, &receive, &denied])
        .await
        .expect("the queue is found");
    let metrics = Arc::new(Recorded::default());
    let poller = Poller::start(queue, Arc::clone(&metrics), 1);
    let ended = tokio::time::timeout(Duration::from_secs(5), poller.task)
        .await
        .expect("the poller ends")
        .expect("no panic");
    assert!(
        matches!(
            &ended,
            Err(QueueError::AccessDenied {
                action: "sqs:DeleteMessage",
                ..
            })
        ),
        "{ended:?}"
    );
    assert_eq!(metrics.malformed.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_put_on_event_bridge_reaches_the_controller_during_the_long_poll() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto.endpoint).await;
    let url = create_queue(&config, QUEUE).await;
    route_to_queue(&config, &url).await;
    // Karpenter's 20 s long poll: a message must not wait for it to run out.
    let queue = InterruptionQueue::new(&config, QUEUE)
        .await
        .expect("the queue is found");
    let metrics = Arc::new(Recorded::default());
    let mut poller = Poller::start(queue, Arc::clone(&metrics), 1);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let mut latencies = Vec::new();
    for index in 0..10 {
        // Let the poller sit in its long poll before the event comes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let instance_id = format!("i-{index:017x}");
        let put = Instant::now();
        put_event(&events, &Event::spot_warning(&instance_id, "terminate")).await;
        let queue_notice = poller.next().await;
        latencies.push(put.elapsed());
        assert_eq!(queue_notice.notice.instance_id, instance_id);
        assert_eq!(queue_notice.message_type, MessageType::SpotInterrupted);
    }
    latencies.sort_unstable();
    eprintln!(
        "PutEvents -> rule -> SQS -> QueueNotice on the controller's channel (moto): median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(
        latencies[latencies.len() - 1] < Duration::from_secs(5),
        "{latencies:?}"
    );
    eventually("every message is deleted", async || {
        messages_left(&config, &url).await == 0
    })
    .await;
    assert_eq!(poller.stop().await, Ok(Stopped::Shutdown));
    assert_eq!(metrics.deleted.load(Ordering::SeqCst), 10);
}
