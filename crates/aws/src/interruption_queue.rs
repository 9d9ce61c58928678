//! [`InterruptionQueue`]: the SQS queue EventBridge fills with EC2 interruption events.
//!
//! The queue is found by name (GetQueueUrl) or given by URL; [`InterruptionQueue::receive`]
//! long-polls it as Karpenter does (20 s, up to 10 messages, hidden from other receivers for
//! 20 s) and returns every message with its receipt handle, the time SQS received it
//! (`SentTimestamp`, for `karpenter_interruption_message_queue_duration_seconds`) and its body
//! parsed by `spotter-interruption`. A body that is not an interruption event comes back as a
//! parse error, never a panic: the caller counts it, logs it once and deletes it with
//! [`InterruptionQueue::delete`], as it deletes every message it has handled. Failed calls are
//! a [`QueueError`] that says which queue and what to do (create it, allow an IAM action,
//! check the credentials, retry).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::MessageSystemAttributeName;
use spotter_interruption::event_bridge::{self, EventBridgeError, MessageType};

use crate::ec2::Ec2Error;
use crate::errors::{CREDENTIALS_INSTRUCTION, SERVER_CODES, THROTTLING_CODES};
use crate::sdk::sdk_error;

/// How long one ReceiveMessage waits for a message (SQS's longest long poll, Karpenter's).
pub const WAIT_TIME: Duration = Duration::from_secs(20);
/// The most messages one ReceiveMessage returns (SQS's limit, Karpenter's).
pub const MAX_MESSAGES: i32 = 10;
/// How long a received message stays hidden from other receivers before it is delivered again
/// if it was not deleted (Karpenter's).
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(20);

/// The SQS calls the queue makes, with the IAM action each needs.
pub const OPERATIONS: [(&str, &str); 3] = [
    ("GetQueueUrl", "sqs:GetQueueUrl"),
    ("ReceiveMessage", "sqs:ReceiveMessage"),
    ("DeleteMessage", "sqs:DeleteMessage"),
];

/// Error codes SQS answers for a queue that does not exist (the query-compatible code, and the
/// JSON protocol's error type).
pub const QUEUE_MISSING_CODES: [&str; 2] = [
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// Error codes that mean the caller's IAM policy (or the queue's policy) does not allow the call.
pub const ACCESS_DENIED_CODES: [&str; 3] =
    ["AccessDenied", "AccessDeniedException", "InvalidSecurity"];

/// Error codes that mean the queue's KMS key cannot be used by the caller.
pub const KMS_CODES: [&str; 5] = [
    "KmsAccessDenied",
    "KmsDisabled",
    "KmsInvalidKeyUsage",
    "KmsInvalidState",
    "KmsNotFound",
];

/// Error codes that mean the credentials were not accepted.
pub const CREDENTIALS_CODES: [&str; 5] = [
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "UnrecognizedClientException",
];

/// Error codes that mean a receipt handle is no longer valid (the message was already deleted,
/// or its visibility timeout ran out and it was received again).
pub const RECEIPT_HANDLE_CODES: [&str; 2] = ["ReceiptHandleIsInvalid", "InvalidParameterValue"];

/// The error code of a queue with too many messages in flight: polling again later helps.
pub const OVER_LIMIT_CODE: &str = "OverLimit";

/// The interruption queue.
#[derive(Clone, Debug)]
pub struct InterruptionQueue {
    client: aws_sdk_sqs::Client,
    name: String,
    url: String,
    wait_time: Duration,
    visibility_timeout: Duration,
}

/// One message received from the queue.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedMessage {
    /// SQS's id of the message.
    pub message_id: String,
    /// What [`InterruptionQueue::delete`] needs.
    pub receipt_handle: String,
    /// When SQS received the message (its `SentTimestamp` attribute), when it said.
    pub sent_at: Option<SystemTime>,
    /// The body as received.
    pub body: String,
    /// The body as an EventBridge interruption event, or why it is not one.
    pub parsed: Result<event_bridge::QueueMessage, EventBridgeError>,
}

/// A failed call on the queue.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum QueueError {
    /// The queue does not exist (in this account and region).
    #[error(
        "failed to find the interruption queue `{queue}` in region {region}: it does not exist; create an SQS queue named `{queue}` with the four EventBridge rules targeting it (docs/interruption.md), or correct --interruption-queue / INTERRUPTION_QUEUE"
    )]
    QueueMissing {
        /// The queue's name or URL as configured.
        queue: String,
        /// The region the client asked.
        region: String,
    },
    /// The IAM policy does not allow the call.
    #[error(
        "failed to call {operation} on the interruption queue `{queue}`: access denied; allow {action} on the queue's ARN in the controller's IAM policy (see docs/iam-policy.json)"
    )]
    AccessDenied {
        /// The queue's name or URL.
        queue: String,
        /// The operation (`ReceiveMessage`).
        operation: &'static str,
        /// The IAM action to allow (`sqs:ReceiveMessage`).
        action: &'static str,
    },
    /// The queue is encrypted with a KMS key the controller cannot use.
    #[error(
        "failed to call {operation} on the interruption queue `{queue}`: {code}: {message}; allow kms:Decrypt on the queue's KMS key to the controller's role (or use SQS-managed encryption, SqsManagedSseEnabled)"
    )]
    Kms {
        /// The queue's name or URL.
        queue: String,
        /// The operation.
        operation: &'static str,
        /// The KMS error code.
        code: String,
        /// What SQS said.
        message: String,
    },
    /// The credentials were not accepted.
    #[error(
        "failed to call {operation} on the interruption queue `{queue}`: {code}; {instruction}"
    )]
    Credentials {
        /// The queue's name or URL.
        queue: String,
        /// The operation.
        operation: &'static str,
        /// The error code.
        code: String,
        /// What to check.
        instruction: &'static str,
    },
    /// SQS asked to slow down; the caller polls again after a pause.
    #[error(
        "failed to call {operation} on the interruption queue `{queue}`: throttled ({code}); polling again after a pause"
    )]
    Throttled {
        /// The queue's name or URL.
        queue: String,
        /// The operation.
        operation: &'static str,
        /// The throttling code.
        code: String,
    },
    /// No answer, or a server-side failure; the caller polls again after a pause.
    #[error(
        "failed to call {operation} on the interruption queue `{queue}`: {message}; polling again after a pause"
    )]
    Transient {
        /// The queue's name or URL.
        queue: String,
        /// The operation.
        operation: &'static str,
        /// What the transport or the service said.
        message: String,
    },
    /// A receipt handle SQS no longer accepts: the message was deleted already, or delivered
    /// again after its visibility timeout (then the new delivery is deleted in its turn).
    #[error(
        "failed to delete message {message_id} from the interruption queue `{queue}`: its receipt handle is no longer valid ({code}); it was deleted already, or it will be received again and deleted then"
    )]
    ReceiptHandleInvalid {
        /// The queue's name or URL.
        queue: String,
        /// The message.
        message_id: String,
        /// The error code.
        code: String,
    },
    /// Any other failure.
    #[error("failed to call {operation} on the interruption queue `{queue}`: {code}: {message}")]
    Other {
        /// The queue's name or URL.
        queue: String,
        /// The operation.
        operation: &'static str,
        /// The error code, or `no error code`.
        code: String,
        /// What SQS said.
        message: String,
    },
}

impl InterruptionQueue {
    /// The queue `queue` (a name, or a `https://sqs.…/<account>/<name>` URL) on a client made
    /// from `config`; a name is resolved with GetQueueUrl.
    pub async fn new(config: &aws_config::SdkConfig, queue: &str) -> Result<Self, QueueError> {
        InterruptionQueue::from_client(aws_sdk_sqs::Client::new(config), queue).await
    }

    /// The queue `queue` (a name or a URL) on `client`.
    pub async fn from_client(client: aws_sdk_sqs::Client, queue: &str) -> Result<Self, QueueError> {
        let queue = queue.trim();
        let (name, url) = if is_url(queue) {
            (name_of_url(queue).to_string(), queue.to_string())
        } else {
            let answer = client
                .get_queue_url()
                .queue_name(queue)
                .send()
                .await
                .map_err(|error| {
                    queue_error(queue, &region_of(&client), sdk_error("GetQueueUrl", error))
                })?;
            let url = answer.queue_url.ok_or_else(|| QueueError::Other {
                queue: queue.to_string(),
                operation: "GetQueueUrl",
                code: "no error code".to_string(),
                message: "the answer has no QueueUrl".to_string(),
            })?;
            (queue.to_string(), url)
        };
        Ok(InterruptionQueue {
            client,
            name,
            url,
            wait_time: WAIT_TIME,
            visibility_timeout: VISIBILITY_TIMEOUT,
        })
    }

    /// Replaces the long poll's wait (whole seconds, at most 20; tests use less).
    pub fn with_wait_time(mut self, wait_time: Duration) -> Self {
        self.wait_time = wait_time.min(WAIT_TIME);
        self
    }

    /// Replaces how long a received message stays hidden from other receivers.
    pub fn with_visibility_timeout(mut self, visibility_timeout: Duration) -> Self {
        self.visibility_timeout = visibility_timeout;
        self
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Waits up to the wait time for messages and returns those received (up to 10; none when
    /// the wait ran out). Messages SQS returns without a receipt handle cannot be deleted and
    /// are left out.
    pub async fn receive(&self) -> Result<Vec<ReceivedMessage>, QueueError> {
        let answer = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(MAX_MESSAGES)
            .wait_time_seconds(seconds(self.wait_time))
            .visibility_timeout(seconds(self.visibility_timeout))
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|error| self.error(sdk_error("ReceiveMessage", error)))?;
        Ok(answer
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|message| {
                let receipt_handle = message.receipt_handle?;
                let sent_at = message
                    .attributes
                    .as_ref()
                    .and_then(|attributes| {
                        attributes.get(&MessageSystemAttributeName::SentTimestamp)
                    })
                    .and_then(|millis| parse_sent_timestamp(millis));
                let body = message.body.unwrap_or_default();
                let parsed = event_bridge::parse_queue_message(&body);
                Some(ReceivedMessage {
                    message_id: message.message_id.unwrap_or_default(),
                    receipt_handle,
                    sent_at,
                    body,
                    parsed,
                })
            })
            .collect())
    }

    /// Deletes a handled message.
    pub async fn delete(&self, message: &ReceivedMessage) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&message.receipt_handle)
            .send()
            .await
            .map_err(|error| {
                let error = sdk_error("DeleteMessage", error);
                match error.code.as_deref() {
                    Some(code) if RECEIPT_HANDLE_CODES.contains(&code) => {
                        QueueError::ReceiptHandleInvalid {
                            queue: self.name.clone(),
                            message_id: message.message_id.clone(),
                            code: code.to_string(),
                        }
                    }
                    _ => self.error(error),
                }
            })?;
        Ok(())
    }

    fn error(&self, error: Ec2Error) -> QueueError {
        queue_error(&self.name, &region_of(&self.client), error)
    }
}

impl ReceivedMessage {
    /// Karpenter's `message_type` label, for a message that parsed.
    pub fn message_type(&self) -> Option<MessageType> {
        self.parsed
            .as_ref()
            .ok()
            .map(event_bridge::QueueMessage::message_type)
    }

    /// How long the message waited on the queue until `now` (zero when `now` is earlier than
    /// SQS's clock said), when SQS said when it was sent.
    pub fn queue_duration(&self, now: SystemTime) -> Option<Duration> {
        self.sent_at
            .map(|sent_at| now.duration_since(sent_at).unwrap_or_default())
    }
}

impl QueueError {
    /// Whether polling again later may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            QueueError::Throttled { .. }
                | QueueError::Transient { .. }
                | QueueError::ReceiptHandleInvalid { .. }
        )
    }
}

/// What a failed call on the queue `queue` in `region` means.
pub fn queue_error(queue: &str, region: &str, error: Ec2Error) -> QueueError {
    let queue = queue.to_string();
    let operation = error.operation;
    let code = error.code.clone().unwrap_or_default();
    let code = code.as_str();
    if QUEUE_MISSING_CODES.contains(&code) {
        return QueueError::QueueMissing {
            queue,
            region: region.to_string(),
        };
    }
    if ACCESS_DENIED_CODES.contains(&code) {
        return QueueError::AccessDenied {
            queue,
            operation,
            action: iam_action(operation),
        };
    }
    if KMS_CODES.contains(&code) {
        return QueueError::Kms {
            queue,
            operation,
            code: code.to_string(),
            message: error.message,
        };
    }
    if CREDENTIALS_CODES.contains(&code) {
        return QueueError::Credentials {
            queue,
            operation,
            code: code.to_string(),
            instruction: CREDENTIALS_INSTRUCTION,
        };
    }
    if THROTTLING_CODES.contains(&code) || code == OVER_LIMIT_CODE {
        return QueueError::Throttled {
            queue,
            operation,
            code: code.to_string(),
        };
    }
    if error.transport
        || error.status.is_some_and(|status| status >= 500)
        || SERVER_CODES.contains(&code)
    {
        return QueueError::Transient {
            queue,
            operation,
            message: error.to_string(),
        };
    }
    QueueError::Other {
        queue,
        operation,
        code: if code.is_empty() {
            "no error code".to_string()
        } else {
            code.to_string()
        },
        message: error.message,
    }
}

/// The IAM action `operation` needs (`sqs:ReceiveMessage`).
pub fn iam_action(operation: &str) -> &'static str {
    OPERATIONS
        .iter()
        .find(|(name, _)| *name == operation)
        .map(|(_, action)| *action)
        .unwrap_or("sqs:*")
}

/// `SentTimestamp`: milliseconds since the epoch, as text.
pub fn parse_sent_timestamp(millis: &str) -> Option<SystemTime> {
    millis
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|millis| UNIX_EPOCH.checked_add(Duration::from_millis(millis)))
}

fn is_url(queue: &str) -> bool {
    queue.starts_with("https://") || queue.starts_with("http://")
}

fn name_of_url(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

fn region_of(client: &aws_sdk_sqs::Client) -> String {
    client
        .config()
        .region()
        .map(ToString::to_string)
        .unwrap_or_else(|| "(none configured)".to_string())
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(operation: &'static str, code: Option<&str>, status: Option<u16>) -> Ec2Error {
        Ec2Error {
            operation,
            code: code.map(str::to_string),
            message: "message".to_string(),
            status,
            transport: false,
        }
    }

    #[test]
    fn codes_become_the_error_that_says_what_to_do() {
        let cases: [(&str, Ec2Error, &str); 9] = [
            (
                "query-compatible missing queue",
                failed(
                    "GetQueueUrl",
                    Some("AWS.SimpleQueueService.NonExistentQueue"),
                    Some(400),
                ),
                "QueueMissing",
            ),
            (
                "JSON missing queue",
                failed("ReceiveMessage", Some("QueueDoesNotExist"), Some(400)),
                "QueueMissing",
            ),
            (
                "access denied",
                failed("ReceiveMessage", Some("AccessDenied"), Some(403)),
                "AccessDenied",
            ),
            (
                "kms",
                failed("ReceiveMessage", Some("KmsAccessDenied"), Some(400)),
                "Kms",
            ),
            (
                "credentials",
                failed("GetQueueUrl", Some("InvalidClientTokenId"), Some(403)),
                "Credentials",
            ),
            (
                "throttled",
                failed("ReceiveMessage", Some("RequestThrottled"), Some(400)),
                "Throttled",
            ),
            (
                "server",
                failed("ReceiveMessage", None, Some(503)),
                "Transient",
            ),
            (
                "transport",
                Ec2Error {
                    transport: true,
                    ..failed("ReceiveMessage", None, None)
                },
                "Transient",
            ),
            (
                "other",
                failed("DeleteMessage", Some("InvalidAddress"), Some(400)),
                "Other",
            ),
        ];
        for (name, error, expected) in cases {
            let queue_error = queue_error("spotter-seed", "us-east-1", error);
            let variant = format!("{queue_error:?}");
            assert!(
                variant.starts_with(expected),
                "{name}: {variant} is not {expected}"
            );
            assert!(
                queue_error.to_string().contains("spotter-seed"),
                "{name}: {queue_error} names the queue"
            );
        }
    }

    #[test]
    fn access_denied_names_the_iam_action_of_the_operation() {
        for (operation, action) in OPERATIONS {
            let error = queue_error(
                "q",
                "us-east-1",
                failed(operation, Some("AccessDenied"), None),
            );
            assert!(
                error.to_string().contains(&format!("allow {action} ")),
                "{error}"
            );
        }
    }

    #[test]
    fn sent_timestamps_are_epoch_milliseconds() {
        assert_eq!(
            parse_sent_timestamp("1714979289123"),
            Some(UNIX_EPOCH + Duration::from_millis(1_714_979_289_123))
        );
        for bad in ["", "-1", "soon", "1.5", "99999999999999999999999"] {
            assert_eq!(parse_sent_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_url_names_its_queue() {
        for (url, name) in [
            (
                "https://sqs.us-east-1.amazonaws.com/123456789012/seed",
                "seed",
            ),
            ("http://127.0.0.1:5000/123456789012/seed/", "seed"),
        ] {
            assert!(is_url(url));
            assert_eq!(name_of_url(url), name);
        }
        assert!(!is_url("seed"));
    }
}
