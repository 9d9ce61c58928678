//! The IMDS poller: every poll interval (2 s, as NTH) it reads the Spot instance action, the
//! rebalance recommendation and the scheduled events of its node and sends each new
//! [`Notice`] once (deduplicated by content, as NTH does with a hash of the answer). A 404 on
//! these paths means "nothing". Failures (timeouts, refused connections, 5xx, unreadable
//! answers) are counted and logged and never stop it: after a failed round it waits twice as
//! long as after the previous one, up to a cap, then polls again.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spotter_interruption::imds::{
    self, INSTANCE_ID_PATH, ImdsError, REBALANCE_RECOMMENDATION_PATH, SCHEDULED_EVENTS_PATH,
    SPOT_INSTANCE_ACTION_PATH,
};
use spotter_interruption::notice::Notice;
use tokio::sync::mpsc;

use crate::imds_client::{Answer, ClientConfig, ImdsClient, ImdsClientError};

/// How many distinct notices the poller remembers; the oldest is forgotten past that (an
/// IMDS whose answer changes at every poll must not grow the agent without bound).
pub const REMEMBERED_NOTICES: usize = 256;

/// How the poller runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollerConfig {
    /// The IMDS client's settings.
    pub client: ClientConfig,
    /// The time between two rounds (NTH: 2 s; AWS recommends 5 s).
    pub poll_interval: Duration,
    /// The longest wait after failed rounds.
    pub max_backoff: Duration,
    /// The instance id, when known; otherwise read from IMDS on the first round.
    pub instance_id: Option<String>,
}

impl Default for PollerConfig {
    fn default() -> Self {
        PollerConfig {
            client: ClientConfig::default(),
            poll_interval: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
            instance_id: None,
        }
    }
}

/// Why a round, or a part of it, failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// IMDS could not be asked.
    #[error(transparent)]
    Client(#[from] ImdsClientError),
    /// IMDS answered something unreadable.
    #[error(transparent)]
    Answer(#[from] ImdsError),
}

/// The outcome of one round.
#[derive(Debug, Default)]
pub struct Round {
    /// Notices not sent before.
    pub new_notices: Vec<Notice>,
    /// What failed (the other paths were still read).
    pub errors: Vec<PollError>,
}

/// Counters of a poller, readable while it runs.
#[derive(Debug, Default)]
pub struct PollerStats {
    rounds: AtomicU64,
    failed_rounds: AtomicU64,
    errors: AtomicU64,
    notices: AtomicU64,
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Rounds run.
    pub rounds: u64,
    /// Rounds with at least one error.
    pub failed_rounds: u64,
    /// Errors, all paths together.
    pub errors: u64,
    /// Notices sent.
    pub notices: u64,
}

impl PollerStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            rounds: self.rounds.load(Ordering::Relaxed),
            failed_rounds: self.failed_rounds.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            notices: self.notices.load(Ordering::Relaxed),
        }
    }
}

/// The poller of one node's IMDS.
#[derive(Debug)]
pub struct Poller {
    client: ImdsClient,
    config: PollerConfig,
    instance_id: Option<String>,
    seen: SeenNotices,
    stats: Arc<PollerStats>,
}

/// The notices already sent, the oldest forgotten first.
#[derive(Debug, Default)]
struct SeenNotices {
    set: HashSet<Notice>,
    order: VecDeque<Notice>,
}

impl SeenNotices {
    /// `true` when `notice` was not remembered.
    fn insert(&mut self, notice: &Notice) -> bool {
        if self.set.contains(notice) {
            return false;
        }
        if self.order.len() >= REMEMBERED_NOTICES
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.set.insert(notice.clone());
        self.order.push_back(notice.clone());
        true
    }

    fn len(&self) -> usize {
        self.order.len()
    }
}

impl Poller {
    /// A poller for `config`.
    pub fn new(config: PollerConfig) -> Result<Poller, ImdsClientError> {
        if config.poll_interval.is_zero() {
            return Err(ImdsClientError::Config(
                "the poll interval must be longer than zero".to_owned(),
            ));
        }
        Ok(Poller {
            client: ImdsClient::new(config.client.clone())?,
            instance_id: config.instance_id.clone(),
            config,
            seen: SeenNotices::default(),
            stats: Arc::new(PollerStats::default()),
        })
    }

    /// The counters, shared with whoever wants to read them while the poller runs.
    pub fn stats(&self) -> Arc<PollerStats> {
        self.stats.clone()
    }

    /// How many notices the poller remembers having sent.
    pub fn remembered_notices(&self) -> usize {
        self.seen.len()
    }

    /// The IMDS client (for its token counters).
    pub fn client(&self) -> &ImdsClient {
        &self.client
    }

    /// Reads the three event paths once; returns the notices not seen before.
    pub async fn poll_once(&mut self) -> Round {
        let mut round = Round::default();
        let instance_id = match self.instance_id().await {
            Ok(instance_id) => instance_id,
            Err(error) => {
                round.errors.push(error);
                self.count(&round);
                return round;
            }
        };
        let mut notices = Vec::new();
        match self.read(SPOT_INSTANCE_ACTION_PATH).await {
            Ok(Some(body)) => match imds::parse_spot_instance_action(&body) {
                Ok(action) => notices.push(action.notice(&instance_id)),
                Err(error) => round.errors.push(error.into()),
            },
            Ok(None) => {}
            Err(error) => round.errors.push(error),
        }
        match self.read(REBALANCE_RECOMMENDATION_PATH).await {
            Ok(Some(body)) => match imds::parse_rebalance_recommendation(&body) {
                Ok(recommendation) => notices.push(recommendation.notice(&instance_id)),
                Err(error) => round.errors.push(error.into()),
            },
            Ok(None) => {}
            Err(error) => round.errors.push(error),
        }
        // A 404 here is read as no events too (AWS does not document an empty answer).
        match self.read(SCHEDULED_EVENTS_PATH).await {
            Ok(Some(body)) => match imds::parse_scheduled_events(&body) {
                Ok(events) => {
                    notices.extend(events.iter().filter_map(|event| event.notice(&instance_id)))
                }
                Err(error) => round.errors.push(error.into()),
            },
            Ok(None) => {}
            Err(error) => round.errors.push(error),
        }
        for notice in notices {
            if self.seen.insert(&notice) {
                round.new_notices.push(notice);
            }
        }
        self.count(&round);
        round
    }

    /// Polls until `shutdown` completes or the receiver of `notices` is gone, sending each
    /// new notice once.
    pub async fn run(mut self, notices: mpsc::Sender<Notice>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut consecutive_failures: u32 = 0;
        loop {
            let round = tokio::select! {
                round = self.poll_once() => round,
                () = &mut shutdown => return,
            };
            for error in &round.errors {
                tracing::warn!(%error, "IMDS poll failed; polling goes on");
            }
            for notice in round.new_notices {
                tracing::info!(instance = %notice.instance_id, kind = %notice.kind.class(), "interruption notice from IMDS");
                if notices.send(notice).await.is_err() {
                    return;
                }
            }
            consecutive_failures = if round.errors.is_empty() {
                0
            } else {
                consecutive_failures.saturating_add(1)
            };
            let delay = self.delay_after(consecutive_failures);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = &mut shutdown => return,
                () = notices.closed() => return,
            }
        }
    }

    /// The wait before the next round: the poll interval, doubled per consecutive failed
    /// round, capped at the maximum backoff (and never below the interval).
    pub fn delay_after(&self, consecutive_failures: u32) -> Duration {
        let factor = 1u32 << consecutive_failures.min(16);
        self.config
            .poll_interval
            .saturating_mul(factor)
            .min(self.config.max_backoff.max(self.config.poll_interval))
    }

    async fn instance_id(&mut self) -> Result<String, PollError> {
        if let Some(instance_id) = &self.instance_id {
            return Ok(instance_id.clone());
        }
        let body = match self.client.get(INSTANCE_ID_PATH).await? {
            Answer::Found(body) => body,
            Answer::NotFound => String::new(),
        };
        let instance_id = imds::parse_instance_id(&body)?;
        self.instance_id = Some(instance_id.clone());
        Ok(instance_id)
    }

    async fn read(&mut self, path: &str) -> Result<Option<String>, PollError> {
        Ok(match self.client.get(path).await? {
            Answer::Found(body) => Some(body),
            Answer::NotFound => None,
        })
    }

    fn count(&self, round: &Round) {
        self.stats.rounds.fetch_add(1, Ordering::Relaxed);
        if !round.errors.is_empty() {
            self.stats.failed_rounds.fetch_add(1, Ordering::Relaxed);
        }
        self.stats
            .errors
            .fetch_add(round.errors.len() as u64, Ordering::Relaxed);
        self.stats
            .notices
            .fetch_add(round.new_notices.len() as u64, Ordering::Relaxed);
    }
}
