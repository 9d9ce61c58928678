//! Errors of the catalog look-ups and of reading a catalog data file.
//!
//! The generator has its own error type, [`crate::generate::GenerateError`],
//! because its failures name source files rather than catalog entries.

/// Something went wrong looking up or loading a catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The region is not in the catalog.
    #[error("unknown region {name:?}; the embedded catalog has: {known}")]
    UnknownRegion {
        /// The region that was asked for.
        name: String,
        /// The known regions, comma-separated.
        known: String,
    },
    /// The catalog text is not valid catalog JSON.
    #[error("catalog JSON is malformed at {path}: {message}")]
    Malformed {
        /// JSON path to the offending value.
        path: String,
        /// What was wrong there.
        message: String,
    },
    /// The catalog JSON parses but contradicts itself.
    #[error("catalog is inconsistent: {0}")]
    Inconsistent(String),
}
