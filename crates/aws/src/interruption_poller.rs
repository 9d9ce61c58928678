//! [`poll_interruption_queue`]: the loop a driver runs to read the interruption queue.
//!
//! It long-polls the [`InterruptionQueue`] until `shutdown` completes and, for every message:
//! counts it in the [`QueueMetrics`] (Karpenter's `received_messages{message_type}`,
//! `deleted_messages`, `message_queue_duration_seconds`, and Spotter's count of unreadable
//! messages), sends each interruption notice it carries to the controller as a [`QueueNotice`]
//! over a bounded channel, and deletes the message once the channel has accepted all of them.
//! Messages that carry no notice (`no_op` events: foreign, or known but not acted on) and
//! unreadable ones (logged once, then deleted) are deleted at once, as Karpenter does. A message
//! is never deleted before its notices are in the channel: when the controller stops receiving
//! or the driver shuts down, the message stays on the queue and is delivered again.
//!
//! Failures SQS may get over (throttling, no answer, a stale receipt handle) are logged and
//! polled through after a pause that doubles up to [`MAX_ERROR_PAUSE`]; the others (the queue
//! was deleted, access denied, ...) end the loop with the [`QueueError`] that says what to do.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use spotter_interruption::event_bridge::{MessageType, QueueMessage};
use spotter_interruption::notice::Notice;
use spotter_metrics::Metrics;
use tokio::sync::mpsc;

use crate::interruption_queue::{InterruptionQueue, QueueError, ReceivedMessage};

/// The first pause after a failed call the loop polls through.
pub const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between failed calls (the pause doubles from [`ERROR_PAUSE`]).
pub const MAX_ERROR_PAUSE: Duration = Duration::from_secs(60);

/// One interruption notice read from the queue, for the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueNotice {
    /// The instance and what is about to happen to it: the same type, and the same
    /// deduplication key ([`Notice::key`]), as a notice from `spotter agent`.
    pub notice: Notice,
    /// Karpenter's `message_type` of the message that carried the notice.
    pub message_type: MessageType,
    /// When the event happened (the EventBridge event's `time`).
    pub event_time: SystemTime,
    /// When the message reached the queue (SQS's `SentTimestamp`), when SQS said.
    pub sent_at: Option<SystemTime>,
    /// SQS's id of the message (a message delivered again keeps its id).
    pub message_id: String,
}

/// Why [`poll_interruption_queue`] returned without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The `shutdown` future completed.
    Shutdown,
    /// The receiving end of the channel was dropped (the controller stopped).
    ReceiverClosed,
}

/// Where the loop counts what it does with the queue's messages. Implemented for Spotter's
/// [`Metrics`] (alone, behind a `Mutex`, or an `Arc` of either), which records them under
/// Karpenter's names.
pub trait QueueMetrics {
    /// A message was read as an EventBridge event of `message_type` (`no_op` included).
    fn message_received(&self, message_type: MessageType);
    /// A message's body is not an EventBridge event Spotter can read.
    fn message_malformed(&self);
    /// A message was deleted from the queue.
    fn message_deleted(&self);
    /// A message that carried something to act on was handed over `waited` after it reached
    /// the queue.
    fn message_queue_duration(&self, waited: Duration);
}

/// Reads the queue until `shutdown` completes or `sender`'s receiver is dropped (then
/// `Ok`), or a call fails in a way polling again cannot fix (then the error, which names the
/// queue and what to do). Each notice goes to `sender`; a message is deleted once all its
/// notices are in the channel (which waits while the channel is full), or at once when it has
/// none or is unreadable.
pub async fn poll_interruption_queue<M>(
    queue: &InterruptionQueue,
    metrics: &M,
    sender: mpsc::Sender<QueueNotice>,
    shutdown: impl Future<Output = ()>,
) -> Result<Stopped, QueueError>
where
    M: QueueMetrics + ?Sized,
{
    tokio::pin!(shutdown);
    let mut pause = ERROR_PAUSE;
    loop {
        let received = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(Stopped::Shutdown),
            () = sender.closed() => return Ok(Stopped::ReceiverClosed),
            received = queue.receive() => received,
        };
        let messages = match received {
            Ok(messages) => {
                pause = ERROR_PAUSE;
                messages
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, pause = ?pause, "polling the interruption queue again after a pause");
                tokio::select! {
                    biased;
                    () = &mut shutdown => return Ok(Stopped::Shutdown),
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(MAX_ERROR_PAUSE);
                continue;
            }
            Err(error) => return Err(error),
        };
        for message in &messages {
            let handed_over = tokio::select! {
                biased;
                () = &mut shutdown => return Ok(Stopped::Shutdown),
                handed_over = hand_over(message, metrics, &sender) => handed_over,
            };
            if !handed_over {
                return Ok(Stopped::ReceiverClosed);
            }
            match queue.delete(message).await {
                Ok(()) => metrics.message_deleted(),
                Err(error) if error.is_retryable() => {
                    tracing::warn!(%error, message_id = %message.message_id, "the message will be received again");
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// The notices `message` carries (none for a `no_op` event), each with what the controller
/// needs to know about the message.
pub fn queue_notices(message: &ReceivedMessage, parsed: &QueueMessage) -> Vec<QueueNotice> {
    parsed
        .notices()
        .into_iter()
        .map(|notice| QueueNotice {
            notice,
            message_type: parsed.message_type(),
            event_time: parsed.time,
            sent_at: message.sent_at,
            message_id: message.message_id.clone(),
        })
        .collect()
}

/// Counts `message` and sends its notices; false when the receiver is gone (the message must
/// then stay on the queue).
async fn hand_over<M>(
    message: &ReceivedMessage,
    metrics: &M,
    sender: &mpsc::Sender<QueueNotice>,
) -> bool
where
    M: QueueMetrics + ?Sized,
{
    let parsed = match &message.parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            metrics.message_malformed();
            tracing::warn!(
                %error,
                message_id = %message.message_id,
                queue_message_bytes = message.body.len(),
                "deleting an interruption queue message that is not an EventBridge event Spotter reads"
            );
            return true;
        }
    };
    let message_type = parsed.message_type();
    metrics.message_received(message_type);
    if message_type == MessageType::NoOp {
        return true;
    }
    for notice in queue_notices(message, parsed) {
        if sender.send(notice).await.is_err() {
            return false;
        }
    }
    if let Some(waited) = message.queue_duration(SystemTime::now()) {
        metrics.message_queue_duration(waited);
    }
    true
}

impl QueueMetrics for Metrics {
    fn message_received(&self, message_type: MessageType) {
        self.record_message_received(message_type);
    }

    fn message_malformed(&self) {
        self.record_message_malformed();
    }

    fn message_deleted(&self) {
        self.record_message_deleted();
    }

    fn message_queue_duration(&self, waited: Duration) {
        self.observe_queue_duration(waited);
    }
}

impl<M: QueueMetrics + ?Sized> QueueMetrics for Mutex<M> {
    fn message_received(&self, message_type: MessageType) {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .message_received(message_type);
    }

    fn message_malformed(&self) {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .message_malformed();
    }

    fn message_deleted(&self) {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .message_deleted();
    }

    fn message_queue_duration(&self, waited: Duration) {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .message_queue_duration(waited);
    }
}

impl<M: QueueMetrics + ?Sized> QueueMetrics for Arc<M> {
    fn message_received(&self, message_type: MessageType) {
        M::message_received(self, message_type);
    }

    fn message_malformed(&self) {
        M::message_malformed(self);
    }

    fn message_deleted(&self) {
        M::message_deleted(self);
    }

    fn message_queue_duration(&self, waited: Duration) {
        M::message_queue_duration(self, waited);
    }
}
