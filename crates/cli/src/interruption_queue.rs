//! `spotter controller --interruption-queue NAME`: the SQS queue EventBridge fills with EC2
//! interruption events, read inside the controller.
//!
//! At start, on every replica, [`QueueSource::open`] makes an SQS client from the usual AWS
//! chain (credentials from the environment, the profile, web identity or the instance role;
//! the region from the chain, else `--region`; the endpoint overridable with
//! `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_SQS`, which is how the tests use moto) and looks
//! the queue up by name, so that a queue that does not exist or may not be read stops the
//! controller at once with an error naming the queue, the region and the IAM action to allow.
//! Once the replica leads, [`QueueSource::feed`] runs `spotter-aws`'s poller and hands every
//! notice to the Kubernetes driver as an [`Observation::QueueNotice`], where it is
//! deduplicated with the agent's notices. The queue is read with the `aws` cargo feature only
//! (on by default); a build without it refuses the flag at start ([`AVAILABLE`]).

use std::future::Future;
use std::sync::{Arc, Mutex};

use spotter_kubernetes::observation::Observation;
use spotter_metrics::Metrics;
use tokio::sync::mpsc;

/// Whether this build reads the queue (the `aws` cargo feature).
pub const AVAILABLE: bool = cfg!(feature = "aws");

/// Why the queue could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum QueueSourceError {
    /// A call on the queue failed in a way polling again cannot fix.
    #[cfg(feature = "aws")]
    #[error("--interruption-queue `{queue}` (INTERRUPTION_QUEUE) in region {region}: {error}")]
    Queue {
        /// The queue's name, as configured.
        queue: String,
        /// The region the SQS client used.
        region: String,
        /// What SQS said, and what to do.
        error: spotter_aws::QueueError,
    },
    /// This build has no SQS client.
    #[error(
        "--interruption-queue `{queue}` (INTERRUPTION_QUEUE): this spotter was built without the `aws` cargo feature, which reads the queue; use a build with the default features, or unset the flag"
    )]
    Unavailable {
        /// The queue's name, as configured.
        queue: String,
    },
}

/// The interruption queue, found.
#[cfg(feature = "aws")]
#[derive(Debug)]
pub struct QueueSource {
    queue: spotter_aws::InterruptionQueue,
    region: String,
}

/// The interruption queue: nothing in a build without the `aws` feature, where
/// [`QueueSource::open`] always fails.
#[cfg(not(feature = "aws"))]
#[derive(Debug)]
pub enum QueueSource {}

#[cfg(feature = "aws")]
impl QueueSource {
    /// Finds the queue `queue` (a name or a URL) with the usual AWS chain, the region falling
    /// back to `fallback_region` when the chain has none.
    pub async fn open(queue: &str, fallback_region: &str) -> Result<QueueSource, QueueSourceError> {
        use aws_config::BehaviorVersion;
        use aws_config::Region;
        use aws_config::meta::region::RegionProviderChain;

        let region_chain = RegionProviderChain::default_provider()
            .or_else(Region::new(fallback_region.to_owned()));
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(region_chain)
            .load()
            .await;
        let region = config
            .region()
            .map_or_else(|| fallback_region.to_owned(), ToString::to_string);
        let found = spotter_aws::InterruptionQueue::new(&config, queue)
            .await
            .map_err(|error| QueueSourceError::Queue {
                queue: queue.to_owned(),
                region: region.clone(),
                error,
            })?;
        Ok(QueueSource {
            queue: found,
            region,
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        self.queue.name()
    }

    /// The region of the SQS client.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Reads the queue until `shutdown` completes or the driver stops taking observations
    /// (then `Ok`), or a call fails in a way polling again cannot fix (access taken away, the
    /// queue deleted: then the error). Each notice goes to the driver through `observations`;
    /// a message is deleted once its notices are on their way, as `spotter-aws`'s poller
    /// does. Karpenter's interruption metrics are counted in `metrics`.
    pub async fn feed(
        &self,
        metrics: &Arc<Mutex<Metrics>>,
        observations: mpsc::Sender<Observation>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), QueueSourceError> {
        let (sender, mut receiver) =
            mpsc::channel(spotter_aws::interruption_queue::MAX_MESSAGES as usize);
        let relay = async move {
            while let Some(queue_notice) = receiver.recv().await {
                let spotter_aws::QueueNotice {
                    notice, message_id, ..
                } = queue_notice;
                let observation = Observation::QueueNotice { notice, message_id };
                if observations.send(observation).await.is_err() {
                    break;
                }
            }
        };
        let poll = spotter_aws::poll_interruption_queue(&self.queue, metrics, sender, shutdown);
        let (polled, ()) = tokio::join!(poll, relay);
        let stopped = polled.map_err(|error| QueueSourceError::Queue {
            queue: self.queue.name().to_owned(),
            region: self.region.clone(),
            error,
        })?;
        tracing::info!(
            queue = self.queue.name(),
            ?stopped,
            "stopped reading the interruption queue"
        );
        Ok(())
    }
}

#[cfg(not(feature = "aws"))]
impl QueueSource {
    /// Always fails: this build has no SQS client.
    pub async fn open(
        queue: &str,
        _fallback_region: &str,
    ) -> Result<QueueSource, QueueSourceError> {
        Err(QueueSourceError::Unavailable {
            queue: queue.to_owned(),
        })
    }

    /// Never called: there is no queue.
    pub fn name(&self) -> &str {
        match *self {}
    }

    /// Never called: there is no queue.
    pub fn region(&self) -> &str {
        match *self {}
    }

    /// Never called: there is no queue.
    pub async fn feed(
        &self,
        _metrics: &Arc<Mutex<Metrics>>,
        _observations: mpsc::Sender<Observation>,
        _shutdown: impl Future<Output = ()>,
    ) -> Result<(), QueueSourceError> {
        match *self {}
    }
}
