//! The endpoint over real loopback HTTP: content negotiation on `/metrics`, `/healthz`,
//! `/readyz` following the owner's flag, extra documents, errors, binding and stopping.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use spotter_server::{
    Endpoints, Exposition, ExpositionError, ExpositionFormat, OPEN_METRICS_CONTENT_TYPE,
    PROMETHEUS_TEXT_CONTENT_TYPE, ServerError, ServerThread,
};

/// Names the format it is asked for, counts the requests, or fails when told to.
#[derive(Debug, Default)]
struct FakeExposition {
    requests: AtomicUsize,
    fail: bool,
}

impl Exposition for FakeExposition {
    fn expose(&self, format: ExpositionFormat) -> Result<String, ExpositionError> {
        let request = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail {
            return Err("the registry is gone".into());
        }
        Ok(match format {
            ExpositionFormat::OpenMetrics => format!("requests_total {request}\n# EOF\n"),
            ExpositionFormat::PrometheusText => format!("requests_total {request}\n"),
        })
    }
}

/// Status, content type and body of a GET.
fn get(address: SocketAddr, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(format!("http://{address}{path}"));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let mut response = request.call().expect("the server answers");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.body_mut().read_to_string().expect("a text body");
    (response.status().as_u16(), content_type, body)
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[test]
fn metrics_are_served_in_the_format_the_client_accepts() {
    let exposition = Arc::new(FakeExposition::default());
    let server = ServerThread::start(loopback(), &Endpoints::new(exposition.clone()))
        .expect("the server starts");
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let cases = [
        (None, OPEN_METRICS_CONTENT_TYPE, true),
        (Some("*/*"), OPEN_METRICS_CONTENT_TYPE, true),
        (Some(prometheus_accept), OPEN_METRICS_CONTENT_TYPE, true),
        (
            Some("text/plain; version=0.0.4"),
            PROMETHEUS_TEXT_CONTENT_TYPE,
            false,
        ),
    ];
    for (index, (accept, content_type, ends_with_eof)) in cases.into_iter().enumerate() {
        let (status, found_type, body) = get(server.local_addr(), "/metrics", accept);
        assert_eq!(status, 200, "{accept:?}");
        assert_eq!(found_type, content_type, "{accept:?}");
        assert!(
            body.starts_with(&format!("requests_total {}\n", index + 1)),
            "{accept:?}: {body}"
        );
        assert_eq!(
            body.ends_with("# EOF\n"),
            ends_with_eof,
            "{accept:?}: {body}"
        );
    }
    assert_eq!(exposition.requests.load(Ordering::SeqCst), 4);
    server.stop().expect("the server stops cleanly");
}

#[test]
fn readiness_follows_the_owner_and_health_is_always_ok() {
    let endpoints = Endpoints::new(Arc::new(FakeExposition::default()));
    let readiness = endpoints.readiness();
    let server = ServerThread::start(loopback(), &endpoints).expect("the server starts");
    let address = server.local_addr();
    assert_eq!(get(address, "/healthz", None).0, 200);
    assert_eq!(get(address, "/readyz", None).0, 503);
    readiness.set(true);
    assert_eq!(get(address, "/readyz", None).0, 200);
    readiness.set(false);
    assert_eq!(get(address, "/readyz", None).0, 503);
    assert_eq!(get(address, "/healthz", None).0, 200);
    assert_eq!(get(address, "/nothing-here", None).0, 404);
}

#[test]
fn documents_are_made_on_every_request() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let endpoints = Endpoints::new(Arc::new(FakeExposition::default())).with_document(
        "/status",
        "application/json",
        move || {
            format!(
                "{{\"calls\":{}}}",
                counted.fetch_add(1, Ordering::SeqCst) + 1
            )
        },
    );
    let server = ServerThread::start(loopback(), &endpoints).expect("the server starts");
    for expected in 1..=2 {
        let (status, content_type, body) = get(server.local_addr(), "/status", None);
        assert_eq!(
            (status, content_type.as_str(), body),
            (200, "application/json", format!("{{\"calls\":{expected}}}"))
        );
    }
}

#[test]
fn a_failing_exposition_is_a_server_error() {
    let exposition = Arc::new(FakeExposition {
        fail: true,
        ..FakeExposition::default()
    });
    let server =
        ServerThread::start(loopback(), &Endpoints::new(exposition)).expect("the server starts");
    let (status, _, body) = get(server.local_addr(), "/metrics", None);
    assert_eq!(status, 500);
    assert!(body.contains("the registry is gone"), "{body}");
}

#[test]
fn a_taken_address_is_an_error_naming_it_and_a_stopped_server_frees_it() {
    let endpoints = Endpoints::new(Arc::new(FakeExposition::default()));
    let first = ServerThread::start(loopback(), &endpoints).expect("the server starts");
    let address = first.local_addr();
    match ServerThread::start(address, &endpoints) {
        Err(error @ ServerError::Bind { .. }) => {
            assert!(error.to_string().contains(&address.to_string()), "{error}")
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
    first.stop().expect("the server stops cleanly");
    let again = ServerThread::start(address, &endpoints).expect("the address is free again");
    assert_eq!(again.local_addr(), address);
}
