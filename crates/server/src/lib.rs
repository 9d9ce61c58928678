//! Spotter's HTTP endpoint: `/metrics` (OpenMetrics text, or the Prometheus text format 0.0.4
//! to a client that asks for `text/plain` only), `/healthz` (the process answers), `/readyz`
//! (the owner says it is ready), and any text documents the owner adds (the simulator's
//! `/status`). It knows nothing of Spotter's metrics: the owner hands it an [`Exposition`]
//! that writes the text, and keeps a [`Readiness`] to flip. `/metrics` is written by a
//! blocking task and sent as it is written, in chunks of [`CHUNK_BYTES`] with at most
//! [`CHUNKS_IN_FLIGHT`] waiting, so that a scrape never holds the whole text (megabytes at
//! thousands of pods) and a slow reader slows only its own writer.
//!
//! axum on tokio, with only HTTP/1 and a current-thread runtime. [`ServerThread`] runs it on a
//! thread of its own, for owners that are not async (the simulator); an async owner (the
//! controller) calls [`serve`] on its own runtime.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;

/// The content type of OpenMetrics 1.0 text.
pub const OPEN_METRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the Prometheus text format 0.0.4.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two text formats `/metrics` serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// OpenMetrics 1.0 text, ending with `# EOF`: the default, and what Prometheus asks for.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for a client whose `Accept` names `text/plain` but
    /// not OpenMetrics (`promtool check metrics` reads only this one).
    PrometheusText,
}

/// What an exposition can fail with.
pub type ExpositionError = Box<dyn std::error::Error + Send + Sync>;

/// Writes the metrics text when `/metrics` is asked for.
pub trait Exposition: Send + Sync {
    /// Writes the whole exposition in `format` to `out`, on a blocking thread: a write may
    /// wait for the reader, so hold no lock others need while writing. A write fails once the
    /// reader is gone; return that failure.
    fn expose(
        &self,
        format: ExpositionFormat,
        out: &mut dyn std::fmt::Write,
    ) -> Result<(), ExpositionError>;
}

/// The size at which a chunk of `/metrics` is sent.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// How many chunks of `/metrics` may wait for the reader.
pub const CHUNKS_IN_FLIGHT: usize = 4;

/// Whether `/readyz` answers 200 (ready) or 503; the owner sets it, clones share it.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

/// What the server serves.
#[derive(Clone)]
pub struct Endpoints {
    exposition: Arc<dyn Exposition>,
    readiness: Readiness,
    documents: Vec<Document>,
}

/// A server running on a thread of its own, until [`ServerThread::stop`] or drop.
#[derive(Debug)]
pub struct ServerThread {
    address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

/// Why the server could not start or ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("failed to listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime or the listener could not be set up, or serving failed.
    #[error("failed to serve HTTP: {0}")]
    Serve(#[from] std::io::Error),
    /// The server thread panicked.
    #[error("failed to serve HTTP: the server thread panicked")]
    Panicked,
}

/// An extra text endpoint: a path, its content type, and what produces its body.
#[derive(Clone)]
struct Document {
    path: String,
    content_type: &'static str,
    produce: Arc<dyn Fn() -> String + Send + Sync>,
}

impl Readiness {
    /// Sets whether the owner is ready.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether the owner said it is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// The shared flag itself, for an owner that sets it from a crate without this one.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

impl Endpoints {
    /// `/metrics` from `exposition`, `/healthz`, and `/readyz` (not ready until told).
    pub fn new(exposition: Arc<dyn Exposition>) -> Self {
        Self {
            exposition,
            readiness: Readiness::default(),
            documents: Vec::new(),
        }
    }

    /// The flag `/readyz` answers from.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Also serves `path` (`/status`) with `content_type`, its body made by `produce` on
    /// every request.
    pub fn with_document(
        mut self,
        path: &str,
        content_type: &'static str,
        produce: impl Fn() -> String + Send + Sync + 'static,
    ) -> Self {
        self.documents.push(Document {
            path: path.to_string(),
            content_type,
            produce: Arc::new(produce),
        });
        self
    }

    /// The routes, for [`serve`] (or to merge into a larger router).
    pub fn router(&self) -> Router {
        let exposition = Arc::clone(&self.exposition);
        let readiness = self.readiness.clone();
        let mut router = Router::new()
            .route(
                "/metrics",
                get(move |headers: HeaderMap| metrics(Arc::clone(&exposition), headers)),
            )
            .route("/healthz", get(|| async { "ok\n" }))
            .route(
                "/readyz",
                get(move || {
                    let ready = readiness.is_ready();
                    async move {
                        if ready {
                            (StatusCode::OK, "ready\n")
                        } else {
                            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
                        }
                    }
                }),
            );
        for document in &self.documents {
            let produce = Arc::clone(&document.produce);
            let content_type = document.content_type;
            router = router.route(
                &document.path,
                get(move || {
                    let body = produce();
                    async move { ([(header::CONTENT_TYPE, content_type)], body) }
                }),
            );
        }
        router
    }
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Endpoints")
            .field("readiness", &self.readiness)
            .field(
                "documents",
                &self
                    .documents
                    .iter()
                    .map(|document| document.path.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight end.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

impl ServerThread {
    /// Binds `address` (port 0 picks a free port; see [`Self::local_addr`]) and serves
    /// `endpoints` on a new thread with a current-thread tokio runtime.
    pub fn start(address: SocketAddr, endpoints: &Endpoints) -> Result<Self, ServerError> {
        let listener = std::net::TcpListener::bind(address)
            .map_err(|source| ServerError::Bind { address, source })?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let router = endpoints.router();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("spotter-http".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    serve(listener, router, async move {
                        // A dropped sender stops the server too.
                        let _ = stopped.await;
                    })
                    .await
                })
            })?;
        Ok(Self {
            address: bound,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, lets requests in flight end, and joins the thread.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServerError> {
        if let Some(shutdown) = self.shutdown.take() {
            // The server may have ended already; then there is nobody to tell.
            let _ = shutdown.send(());
        }
        match self.thread.take() {
            Some(thread) => match thread.join() {
                Ok(result) => Ok(result?),
                Err(_) => Err(ServerError::Panicked),
            },
            None => Ok(()),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        // Errors have nowhere to go from a drop; `stop` reports them.
        let _ = self.stop_and_join();
    }
}

/// `/metrics`: the format the `Accept` header asks for, OpenMetrics unless it names only
/// `text/plain`. An exposition that fails before writing anything answers 500; one that fails
/// later ends the body early (the status is sent by then), which a scraper sees as a failed
/// scrape.
async fn metrics(exposition: Arc<dyn Exposition>, headers: HeaderMap) -> Response {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let format =
        if !accept.contains("application/openmetrics-text") && accept.contains("text/plain") {
            ExpositionFormat::PrometheusText
        } else {
            ExpositionFormat::OpenMetrics
        };
    let content_type = match format {
        ExpositionFormat::OpenMetrics => OPEN_METRICS_CONTENT_TYPE,
        ExpositionFormat::PrometheusText => PROMETHEUS_TEXT_CONTENT_TYPE,
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut chunks = Chunks {
            sender: &sender,
            buffer: String::with_capacity(CHUNK_BYTES),
            sent: false,
        };
        let written = exposition
            .expose(format, &mut chunks)
            .and_then(|()| chunks.send().map_err(Into::into));
        if let Err(error) = written {
            // Nobody hears it if the reader is gone.
            let _ = sender.blocking_send(Err(error));
        }
    });
    match receiver.recv().await {
        Some(Ok(first)) => {
            let rest = futures_util::stream::unfold(receiver, |mut receiver| async move {
                receiver.recv().await.map(|chunk| (chunk, receiver))
            });
            let body = Body::from_stream(futures_util::stream::iter([Ok(first)]).chain(rest));
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
                body,
            )
                .into_response()
        }
        Some(Err(error)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to encode the metrics: {error}\n"),
        )
            .into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to encode the metrics: the writer stopped\n",
        )
            .into_response(),
    }
}

/// What an exposition writes to: the text in chunks, sent as each fills.
struct Chunks<'a> {
    sender: &'a tokio::sync::mpsc::Sender<Result<Bytes, ExpositionError>>,
    buffer: String,
    /// Whether a chunk was sent: the first one is, even empty, to start the answer.
    sent: bool,
}

impl Chunks<'_> {
    /// Sends what is buffered; fails once the reader is gone.
    fn send(&mut self) -> Result<(), ReaderGone> {
        if self.buffer.is_empty() && self.sent {
            return Ok(());
        }
        self.sent = true;
        let chunk = std::mem::replace(&mut self.buffer, String::with_capacity(CHUNK_BYTES));
        self.sender
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| ReaderGone)
    }
}

impl std::fmt::Write for Chunks<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.buffer.push_str(text);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send().map_err(|ReaderGone| std::fmt::Error)?;
        }
        Ok(())
    }
}

/// The `/metrics` reader went away before the text was written.
#[derive(Debug, thiserror::Error)]
#[error("the reader went away")]
struct ReaderGone;
