//! Retries of calls the cloud asked to slow down or failed transiently: a few attempts with
//! exponential backoff, inside the provider, before the typed error reaches the caller.

use std::future::Future;
use std::time::Duration;

use spotter_cloud::CloudError;

/// How many times and how patiently to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// The wait before the second attempt; doubled before each next one.
    pub first_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Runs `call` until it succeeds, fails with a non-transient error, or the attempts are
    /// spent (then the last error is returned; a throttled one carries the next backoff as
    /// `retry_after`).
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, CloudError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CloudError>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) if error.is_transient() && attempt < self.attempts.max(1) => {
                    let wait = match &error {
                        CloudError::Throttled {
                            retry_after: Some(after),
                            ..
                        } => *after,
                        _ => self.backoff(attempt),
                    };
                    tracing::debug!(%error, attempt, ?wait, "retrying AWS call");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(CloudError::Throttled {
                    operation,
                    retry_after: None,
                }) => {
                    return Err(CloudError::Throttled {
                        operation,
                        retry_after: Some(self.backoff(attempt)),
                    });
                }
                Err(error) => return Err(error),
            }
        }
    }
}
