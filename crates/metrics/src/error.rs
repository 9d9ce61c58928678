//! What can go wrong producing the metrics or their documentation.

/// Why the metrics could not be encoded or described.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Writing the exposition failed.
    #[error("failed to encode the metrics: {0}")]
    Encode(#[from] std::fmt::Error),
    /// The exposition did not read back as expected while describing the families.
    #[error("failed to describe the metrics: line {line}: {reason}")]
    Describe {
        /// The line of the exposition, from 1.
        line: usize,
        /// What was wrong with it.
        reason: String,
    },
}
