//! The endpoint over real loopback HTTP: content negotiation on `/metrics`, `/healthz`,
//! `/readyz` following the owner's flag, extra documents, errors, binding and stopping.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spotter_server::{
    Endpoints, Exposition, ExpositionError, ExpositionFormat, OPEN_METRICS_CONTENT_TYPE,
    PROMETHEUS_TEXT_CONTENT_TYPE, ServerError, ServerThread,
};

/// Names the format it is asked for, counts the requests, writes `filler` more lines, or
/// fails when told to (before writing, or after `fail_after` filler lines); remembers whether
/// a write failed (the reader went away).
#[derive(Debug, Default)]
struct FakeExposition {
    requests: AtomicUsize,
    filler: usize,
    fail: bool,
    fail_after: Option<usize>,
    write_failed: AtomicBool,
}

impl Exposition for FakeExposition {
    fn expose(
        &self,
        format: ExpositionFormat,
        out: &mut dyn std::fmt::Write,
    ) -> Result<(), ExpositionError> {
        let request = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail {
            return Err("the registry is gone".into());
        }
        let written = (|| {
            writeln!(out, "requests_total {request}")?;
            for line in 0..self.filler {
                if self.fail_after == Some(line) {
                    return Ok(Err("the registry went away mid-way"));
                }
                writeln!(out, "filler_{line} 0")?;
            }
            if format == ExpositionFormat::OpenMetrics {
                writeln!(out, "# EOF")?;
            }
            Ok(Ok(()))
        })();
        match written {
            Ok(result) => result.map_err(Into::into),
            Err(error @ std::fmt::Error) => {
                self.write_failed.store(true, Ordering::SeqCst);
                Err(error.into())
            }
        }
    }
}

/// Status, content type and body of a GET.
fn get(address: SocketAddr, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let (status, content_type, body) = try_get(address, path, accept);
    (status, content_type, body.expect("a text body"))
}

/// Status, content type and body of a GET, the body's failure if it ended early.
fn try_get(
    address: SocketAddr,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, Result<String, ureq::Error>) {
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
    let body = response.body_mut().read_to_string();
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
fn a_long_exposition_arrives_whole_and_in_order() {
    // About 1.2 MB: eighteen chunks.
    let filler = 80_000;
    let exposition = Arc::new(FakeExposition {
        filler,
        ..FakeExposition::default()
    });
    let server =
        ServerThread::start(loopback(), &Endpoints::new(exposition)).expect("the server starts");
    let (status, _, body) = get(server.local_addr(), "/metrics", None);
    assert_eq!(status, 200);
    let mut expected = String::from("requests_total 1\n");
    for line in 0..filler {
        expected.push_str(&format!("filler_{line} 0\n"));
    }
    expected.push_str("# EOF\n");
    assert!(
        body.len() > 16 * spotter_server::CHUNK_BYTES,
        "{}",
        body.len()
    );
    assert!(body == expected, "the body differs from what was written");
}

#[test]
fn an_exposition_failing_mid_way_ends_the_body_early() {
    let exposition = Arc::new(FakeExposition {
        filler: 80_000,
        fail_after: Some(40_000),
        ..FakeExposition::default()
    });
    let server =
        ServerThread::start(loopback(), &Endpoints::new(exposition)).expect("the server starts");
    let (status, _, body) = try_get(server.local_addr(), "/metrics", None);
    assert_eq!(status, 200, "the status was sent before the failure");
    assert!(
        body.is_err(),
        "the body must not read as complete: {:?}",
        body.map(|body| body.len())
    );
}

#[test]
fn a_reader_that_goes_away_stops_the_writer() {
    // Far more than the chunks in flight and the sockets' buffers hold.
    let exposition = Arc::new(FakeExposition {
        filler: 5_000_000,
        ..FakeExposition::default()
    });
    let server = ServerThread::start(loopback(), &Endpoints::new(exposition.clone()))
        .expect("the server starts");
    let mut stream = std::net::TcpStream::connect(server.local_addr()).expect("the server accepts");
    std::io::Write::write_all(
        &mut stream,
        b"GET /metrics HTTP/1.1\r\nHost: spotter\r\n\r\n",
    )
    .expect("the request is sent");
    let mut head = [0u8; 64];
    let read = std::io::Read::read(&mut stream, &mut head).expect("the answer starts");
    assert!(
        head[..read].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &head[..read]
    );
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !exposition.write_failed.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the writer still writes 30 s after its reader went away"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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
