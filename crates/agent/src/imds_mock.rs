//! A local IMDSv2 for tests (feature `test-support`): the token flow as EC2 serves it (PUT
//! `/latest/api/token` with a TTL of 1..=21600 s, 400 otherwise; tokens that expire, 401 on a
//! missing, unknown or expired token), settable answers for `spot/instance-action`,
//! `events/recommendations/rebalance` and `events/maintenance/scheduled` (EC2's HTML 404 when
//! unset), the instance's identity, and fault modes: 500s, hanging requests, and a stopped
//! server that refuses connections until restarted on the same port. It serves on
//! 127.0.0.1 with a port chosen by the system, on the caller's tokio runtime.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use spotter_interruption::imds::{
    AVAILABILITY_ZONE_PATH, INSTANCE_ID_PATH, INSTANCE_LIFE_CYCLE_PATH, MAX_TOKEN_TTL_SECONDS,
    REBALANCE_RECOMMENDATION_PATH, SCHEDULED_EVENTS_PATH, SPOT_INSTANCE_ACTION_PATH, TOKEN_HEADER,
    TOKEN_PATH, TOKEN_TTL_HEADER,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// EC2's 404 body.
pub const NOT_FOUND_BODY: &str = r#"<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
	"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>404 - Not Found</title>
 </head>
 <body>
  <h1>404 - Not Found</h1>
 </body>
</html>
"#;

/// EC2's 401 body.
pub const UNAUTHORIZED_BODY: &str = r#"<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
	"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>401 - Unauthorized</title>
 </head>
 <body>
  <h1>401 - Unauthorized</h1>
 </body>
</html>
"#;

/// The mock's instance id unless set.
pub const DEFAULT_INSTANCE_ID: &str = "i-1234567890abcdef0";

/// A misbehaviour the mock can be put in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// Serve normally.
    #[default]
    None,
    /// Answer every request (token PUTs too) with 500.
    ServerError,
    /// Never answer (until the fault is cleared or the mock stops).
    Hang,
    /// Answer every GET with 401, whatever the token.
    Unauthorized,
}

/// What the mock has been asked so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Tokens issued.
    pub tokens_issued: u64,
    /// Token PUTs refused with 400.
    pub tokens_refused: u64,
    /// GETs answered 401.
    pub unauthorized: u64,
    /// GETs per path (any answer).
    pub gets: BTreeMap<String, u64>,
    /// The TTLs asked for, in order.
    pub requested_ttls: Vec<u32>,
}

/// The running mock.
#[derive(Debug)]
pub struct ImdsMock {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: Option<RunningServer>,
}

impl ImdsMock {
    /// Starts a mock on 127.0.0.1, on a free port.
    pub async fn start() -> io::Result<ImdsMock> {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let server = RunningServer::spawn(listener, shared.clone());
        Ok(ImdsMock {
            address,
            shared,
            server: Some(server),
        })
    }

    /// The base URL to give a client (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Sets the body of `spot/instance-action` (`None`: 404).
    pub fn set_spot_instance_action(&self, body: Option<String>) {
        self.shared.state().spot_instance_action = body;
    }

    /// Arms a Spot interruption: `{"action": action, "time": time}`.
    pub fn arm_spot_interruption(&self, action: &str, time: &str) {
        self.set_spot_instance_action(Some(format!(r#"{{"action":"{action}","time":"{time}"}}"#)));
    }

    /// Sets the body of `events/recommendations/rebalance` (`None`: 404).
    pub fn set_rebalance_recommendation(&self, body: Option<String>) {
        self.shared.state().rebalance_recommendation = body;
    }

    /// Arms a rebalance recommendation: `{"noticeTime": notice_time}`.
    pub fn arm_rebalance_recommendation(&self, notice_time: &str) {
        self.set_rebalance_recommendation(Some(format!(r#"{{"noticeTime":"{notice_time}"}}"#)));
    }

    /// Sets the body of `events/maintenance/scheduled` (`None`: 404).
    pub fn set_scheduled_events(&self, body: Option<String>) {
        self.shared.state().scheduled_events = body;
    }

    /// Sets the instance id served.
    pub fn set_instance_id(&self, instance_id: &str) {
        self.shared.state().instance_id = instance_id.to_owned();
    }

    /// Puts the mock in a fault mode (or back to normal with [`Fault::None`]).
    pub fn set_fault(&self, fault: Fault) {
        self.shared.state().fault = fault;
        self.shared.release_hung.send_replace(fault != Fault::Hang);
    }

    /// Moves the mock's clock forward: tokens expire as if `by` had passed.
    pub fn advance(&self, by: Duration) {
        self.shared.state().clock_offset += by;
    }

    /// What the mock has been asked so far.
    pub fn counts(&self) -> Counts {
        self.shared.state().counts.clone()
    }

    /// Stops serving: connections are refused until [`ImdsMock::restart`].
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    /// Serves again on the same port, with the same answers and tokens.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.address).await?;
        self.server = Some(RunningServer::spawn(listener, self.shared.clone()));
        Ok(())
    }
}

impl Drop for ImdsMock {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.task.abort();
        }
    }
}

#[derive(Debug)]
struct RunningServer {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningServer {
    fn spawn(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> RunningServer {
        let (shutdown, mut shutdown_receiver) = watch::channel(false);
        let router = Router::new().fallback(handle).with_state(shared);
        let task = tokio::spawn(async move {
            let signal = async move {
                let _ = shutdown_receiver.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!(%error, "the IMDS mock stopped serving");
            }
        });
        RunningServer { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.send_replace(true);
        // Graceful shutdown waits for requests in flight; a hung one would hold it forever.
        if tokio::time::timeout(Duration::from_secs(2), self.task)
            .await
            .is_err()
        {
            tracing::warn!("the IMDS mock did not stop within 2 s");
        }
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<MockState>,
    /// `true` while requests may be answered; hung requests wait for it.
    release_hung: watch::Sender<bool>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            state: Mutex::new(MockState::default()),
            release_hung: watch::Sender::new(true),
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct MockState {
    spot_instance_action: Option<String>,
    rebalance_recommendation: Option<String>,
    scheduled_events: Option<String>,
    instance_id: String,
    instance_life_cycle: String,
    availability_zone: String,
    fault: Fault,
    tokens: HashMap<String, Instant>,
    next_token: u64,
    clock_offset: Duration,
    counts: Counts,
}

impl Default for MockState {
    fn default() -> Self {
        MockState {
            spot_instance_action: None,
            rebalance_recommendation: None,
            scheduled_events: None,
            instance_id: DEFAULT_INSTANCE_ID.to_owned(),
            instance_life_cycle: "spot".to_owned(),
            availability_zone: "us-east-1a".to_owned(),
            fault: Fault::None,
            tokens: HashMap::new(),
            next_token: 0,
            clock_offset: Duration::ZERO,
            counts: Counts::default(),
        }
    }
}

impl MockState {
    fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request<Body>) -> Response<Body> {
    let fault = shared.state().fault;
    match fault {
        Fault::Hang => {
            let mut released = shared.release_hung.subscribe();
            let _ = released.wait_for(|released| *released).await;
            return respond(StatusCode::SERVICE_UNAVAILABLE, "released from a hang");
        }
        Fault::ServerError => {
            return respond(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
        Fault::None | Fault::Unauthorized => {}
    }
    let path = request.uri().path().to_owned();
    let mut state = shared.state();
    if request.method() == Method::PUT && path == TOKEN_PATH {
        return issue_token(&mut state, &request);
    }
    if request.method() != Method::GET {
        return respond(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    *state.counts.gets.entry(path.clone()).or_default() += 1;
    let now = state.now();
    let token_valid = request
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|token| state.tokens.get(token))
        .is_some_and(|expiry| *expiry > now);
    if !token_valid || fault == Fault::Unauthorized {
        state.counts.unauthorized += 1;
        return html(StatusCode::UNAUTHORIZED, UNAUTHORIZED_BODY);
    }
    let answer = match path.as_str() {
        SPOT_INSTANCE_ACTION_PATH => state.spot_instance_action.clone(),
        REBALANCE_RECOMMENDATION_PATH => state.rebalance_recommendation.clone(),
        SCHEDULED_EVENTS_PATH => state.scheduled_events.clone(),
        INSTANCE_ID_PATH => Some(state.instance_id.clone()),
        INSTANCE_LIFE_CYCLE_PATH => Some(state.instance_life_cycle.clone()),
        AVAILABILITY_ZONE_PATH => Some(state.availability_zone.clone()),
        _ => None,
    };
    match answer {
        Some(body) => respond(StatusCode::OK, &body),
        None => html(StatusCode::NOT_FOUND, NOT_FOUND_BODY),
    }
}

fn issue_token(state: &mut MockState, request: &Request<Body>) -> Response<Body> {
    let ttl = request
        .headers()
        .get(TOKEN_TTL_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u32>().ok())
        .filter(|ttl| (1..=MAX_TOKEN_TTL_SECONDS).contains(ttl));
    let Some(ttl) = ttl else {
        state.counts.tokens_refused += 1;
        return respond(StatusCode::BAD_REQUEST, "");
    };
    state.next_token += 1;
    let token = format!("mock-token-{:08}", state.next_token);
    let expiry = state.now() + Duration::from_secs(u64::from(ttl));
    state.tokens.insert(token.clone(), expiry);
    state.counts.tokens_issued += 1;
    state.counts.requested_ttls.push(ttl);
    let mut response = respond(StatusCode::OK, &token);
    if let Ok(value) = HeaderValue::from_str(&ttl.to_string()) {
        response.headers_mut().insert(TOKEN_TTL_HEADER, value);
    }
    response
}

fn respond(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    response
}

fn html(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = respond(status, body);
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html"),
    );
    response.headers_mut().insert(
        axum::http::header::SERVER,
        HeaderValue::from_static("EC2ws"),
    );
    response
}
