//! `/metrics` for a driver's [`Metrics`] (the controller's, `simulate --serve`'s): the server's
//! [`Exposition`], written by the metrics' [`Exposer`], which needs no lock on the metrics the
//! driver keeps updating.

use std::sync::Arc;

use spotter_metrics::{Exposer, Format, Metrics};
use spotter_server::{Exposition, ExpositionError, ExpositionFormat};

/// The exposition of one [`Metrics`].
pub(crate) struct MetricsEndpoint(Exposer);

impl MetricsEndpoint {
    /// The exposition of `metrics`, for [`spotter_server::Endpoints::new`].
    pub(crate) fn of(metrics: &Metrics) -> Arc<Self> {
        Arc::new(Self(metrics.exposer()))
    }
}

impl Exposition for MetricsEndpoint {
    fn expose(
        &self,
        format: ExpositionFormat,
        out: &mut dyn std::fmt::Write,
    ) -> Result<(), ExpositionError> {
        let format = match format {
            ExpositionFormat::OpenMetrics => Format::OpenMetrics,
            ExpositionFormat::PrometheusText => Format::PrometheusText,
        };
        Ok(self.0.write(format, out)?)
    }
}
