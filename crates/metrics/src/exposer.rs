//! [`Exposer`]: writes the exposition, shared apart from the [`crate::Metrics`] that feeds it,
//! so that a scrape holds no lock its driver needs. The small families are encoded whole
//! into a string first; the per-pod, per-offering and per-node families (megabytes of text at
//! thousands of pods) are then written out as they are encoded, each from a snapshot of its
//! rows, so that a scrape never holds the whole text and a slow reader blocks nothing but
//! itself.

use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::registry::Registry;

use crate::error::MetricsError;
use crate::metrics::Format;
use crate::summary::Summary;

/// Writes the exposition; clones share it.
#[derive(Clone, Debug)]
pub struct Exposer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The families whose series are few: written whole, first.
    families: Registry,
    /// The collectors of one series per pod, offering or node: streamed.
    rows: Registry,
    /// `karpenter_pods_startup_duration_seconds`, which prometheus-client has no type for.
    pods_startup_duration: Mutex<Summary>,
    /// The length of the last text of the small families, to size the next one.
    families_length: AtomicUsize,
}

impl Exposer {
    /// Writes the whole exposition in `format` to `out`: the small families and the startup
    /// summary, then the row families as they are encoded, then OpenMetrics' `# EOF`. `out` may
    /// block (a scrape's reader): no lock is held while it is written to.
    pub fn write(&self, format: Format, mut out: &mut dyn Write) -> Result<(), MetricsError> {
        let mut families =
            String::with_capacity(self.inner.families_length.load(Ordering::Relaxed));
        encode_registry(format, &mut families, &self.inner.families)?;
        self.pods_startup_duration().encode(&mut families)?;
        self.inner
            .families_length
            .store(families.len(), Ordering::Relaxed);
        out.write_str(&families)?;
        drop(families);
        encode_registry(format, &mut out, &self.inner.rows)?;
        if format == Format::OpenMetrics {
            text::encode_eof(&mut out)?;
        }
        Ok(())
    }

    /// The whole exposition in `format`, as one string.
    pub fn encode(&self, format: Format) -> Result<String, MetricsError> {
        let mut text = String::new();
        self.write(format, &mut text)?;
        Ok(text)
    }

    /// The two registries and the summary, before any scrape.
    pub(crate) fn new(families: Registry, rows: Registry, pods_startup_duration: Summary) -> Self {
        Self {
            inner: Arc::new(Inner {
                families,
                rows,
                pods_startup_duration: Mutex::new(pods_startup_duration),
                families_length: AtomicUsize::new(0),
            }),
        }
    }

    /// The startup summary, to observe into.
    pub(crate) fn pods_startup_duration(&self) -> MutexGuard<'_, Summary> {
        self.inner
            .pods_startup_duration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn encode_registry<W: Write>(
    format: Format,
    out: &mut W,
    registry: &Registry,
) -> Result<(), MetricsError> {
    match format {
        Format::OpenMetrics => text::encode_registry(out, registry)?,
        Format::PrometheusText => prometheus_text::encode(out, registry)?,
    }
    Ok(())
}
