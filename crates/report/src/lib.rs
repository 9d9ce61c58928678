//! Spotter's run report: what a simulator run (and, next, a cluster) recorded, as plain data
//! whose JSON field names are a contract (`model`, with the helpers that build it in
//! `measure`), and its renderers: `terminal` (tables for a person), `html` (one
//! self-contained page with SVG charts drawn by `svg`), and `format` (number formatting both
//! share). A `Comparison` (runs of one scenario under several policies) renders through
//! `comparison` (JSON, the side-by-side figures and the terminal text) and `comparison_html`
//! (its page).
//!
//! The report reads a run's record; it knows nothing of the simulator or the controllers
//! that produced it (policies and event kinds are its own names and types).

mod comparison;
mod comparison_html;
mod format;
mod html;
mod measure;
mod model;
#[cfg(test)]
mod samples;
mod svg;
mod terminal;

pub use comparison::POLICY_ORDER;
pub use measure::{clock_duration, iso8601_duration, percentiles, spread};
pub use model::{
    Comparison, Event, EventKind, NodeHours, NodePoolSummary, Percentiles, Report, Series, Spread,
    Summary, Violation,
};
