//! The IMDS poller against the local IMDS mock: the token flow (reuse, renewal before expiry,
//! a 401 retried once with a fresh token), every notice kind, 404 as nothing, unreadable
//! answers, and IMDS failing (stopped, 500, hanging) then coming back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spotter_agent::imds_client::{Answer, ClientConfig, ImdsClient, ImdsClientError};
use spotter_agent::imds_mock::{DEFAULT_INSTANCE_ID, Fault, ImdsMock};
use spotter_agent::poller::{PollError, Poller, PollerConfig, REMEMBERED_NOTICES};
use spotter_interruption::imds::{INSTANCE_ID_PATH, SPOT_INSTANCE_ACTION_PATH, TOKEN_PATH};
use spotter_interruption::notice::{Notice, NoticeKind, SpotAction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// A poller config for `mock`, quick to fail and to poll.
fn config(mock: &ImdsMock) -> PollerConfig {
    PollerConfig {
        client: ClientConfig {
            base_url: mock.base_url(),
            request_timeout: Duration::from_millis(500),
            ..ClientConfig::default()
        },
        poll_interval: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        instance_id: None,
    }
}

async fn started_mock() -> ImdsMock {
    match ImdsMock::start().await {
        Ok(mock) => mock,
        Err(error) => panic!("failed to start the IMDS mock: {error}"),
    }
}

fn poller(config: PollerConfig) -> Poller {
    match Poller::new(config) {
        Ok(poller) => poller,
        Err(error) => panic!("{error}"),
    }
}

fn scheduled_events_body(state: &str) -> String {
    format!(
        r#"[{{"NotBefore":"21 Jan 2019 09:00:43 GMT","Code":"system-reboot","Description":"scheduled reboot","EventId":"instance-event-0d59937288b749b32","NotAfter":"28 Jan 2019 09:00:43 GMT","State":"{state}"}}]"#
    )
}

fn notice(kind: NoticeKind) -> Notice {
    Notice {
        instance_id: DEFAULT_INSTANCE_ID.to_owned(),
        kind,
    }
}

#[tokio::test]
async fn one_token_serves_many_polls() {
    let mock = started_mock().await;
    let mut poller = poller(config(&mock));
    for _ in 0..5 {
        let round = poller.poll_once().await;
        assert!(round.errors.is_empty(), "{:?}", round.errors);
    }
    let counts = mock.counts();
    assert_eq!(counts.tokens_issued, 1);
    assert_eq!(counts.requested_ttls, vec![3600]);
    assert_eq!(counts.unauthorized, 0);
    assert_eq!(counts.gets.get(SPOT_INSTANCE_ACTION_PATH), Some(&5));
    assert_eq!(counts.gets.get(INSTANCE_ID_PATH), Some(&1));
}

#[tokio::test]
async fn token_is_renewed_before_it_expires() {
    let mock = started_mock().await;
    let mut config = config(&mock);
    // Renewed when 2 s or less remain of 3 s: after one second.
    config.client.token_ttl = Duration::from_secs(3);
    config.client.token_refresh_margin = Duration::from_secs(2);
    let mut poller = poller(config);
    assert!(poller.poll_once().await.errors.is_empty());
    assert!(poller.poll_once().await.errors.is_empty());
    assert_eq!(mock.counts().tokens_issued, 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(poller.poll_once().await.errors.is_empty());
    let counts = mock.counts();
    assert_eq!(counts.tokens_issued, 2);
    assert_eq!(
        counts.unauthorized, 0,
        "the old token was never sent expired"
    );
}

#[tokio::test]
async fn expired_token_is_dropped_and_the_get_retried_once() {
    let mock = started_mock().await;
    let mut poller = poller(config(&mock));
    assert!(poller.poll_once().await.errors.is_empty());
    // IMDS's clock runs past the token's TTL while the client still trusts it.
    mock.advance(Duration::from_secs(3601));
    mock.arm_spot_interruption("terminate", "2017-09-18T08:22:00Z");
    let round = poller.poll_once().await;
    assert!(round.errors.is_empty(), "{:?}", round.errors);
    assert_eq!(round.new_notices.len(), 1);
    let counts = mock.counts();
    assert_eq!(counts.unauthorized, 1);
    assert_eq!(counts.tokens_issued, 2);
    assert_eq!(poller.client().unauthorized_retries(), 1);
}

#[tokio::test]
async fn persistent_401_is_an_error_after_one_retry() {
    let mock = started_mock().await;
    let mut config = config(&mock);
    config.instance_id = Some(DEFAULT_INSTANCE_ID.to_owned());
    let mut poller = poller(config);
    mock.set_fault(Fault::Unauthorized);
    let round = poller.poll_once().await;
    assert_eq!(round.errors.len(), 3, "{:?}", round.errors);
    assert!(
        round.errors.iter().all(|error| matches!(
            error,
            PollError::Client(ImdsClientError::Unauthorized { .. })
        )),
        "{:?}",
        round.errors
    );
    // Two attempts per path, each with its own token.
    let counts = mock.counts();
    assert_eq!(counts.gets.get(SPOT_INSTANCE_ACTION_PATH), Some(&2));
    assert_eq!(counts.unauthorized, 6);
    assert_eq!(counts.tokens_issued, 6);
    mock.set_fault(Fault::None);
    assert!(poller.poll_once().await.errors.is_empty());
}

#[tokio::test]
async fn every_notice_kind_is_read_once() {
    struct Case {
        name: &'static str,
        arm: fn(&ImdsMock),
        expected: Vec<Notice>,
    }
    let cases = [
        Case {
            name: "spot terminate",
            arm: |mock| mock.arm_spot_interruption("terminate", "2017-09-18T08:22:00Z"),
            expected: vec![notice(NoticeKind::SpotInterruption {
                action: SpotAction::Terminate,
                deadline: at(1_505_722_920),
            })],
        },
        Case {
            name: "spot stop",
            arm: |mock| mock.arm_spot_interruption("stop", "2017-09-18T08:22:00Z"),
            expected: vec![notice(NoticeKind::SpotInterruption {
                action: SpotAction::Stop,
                deadline: at(1_505_722_920),
            })],
        },
        Case {
            name: "spot hibernate",
            arm: |mock| mock.arm_spot_interruption("hibernate", "2017-09-18T08:22:00Z"),
            expected: vec![notice(NoticeKind::SpotInterruption {
                action: SpotAction::Hibernate,
                deadline: at(1_505_722_920),
            })],
        },
        Case {
            name: "rebalance",
            arm: |mock| mock.arm_rebalance_recommendation("2020-10-27T08:22:00Z"),
            expected: vec![notice(NoticeKind::RebalanceRecommendation {
                notice_time: at(1_603_786_920),
            })],
        },
        Case {
            name: "scheduled active",
            arm: |mock| mock.set_scheduled_events(Some(scheduled_events_body("active"))),
            expected: vec![notice(NoticeKind::ScheduledChange {
                event_id: "instance-event-0d59937288b749b32".into(),
                code: "system-reboot".into(),
                not_before: Some(at(1_548_061_243)),
            })],
        },
        Case {
            name: "scheduled canceled",
            arm: |mock| mock.set_scheduled_events(Some(scheduled_events_body("canceled"))),
            expected: vec![],
        },
        Case {
            name: "scheduled empty",
            arm: |mock| mock.set_scheduled_events(Some("[]".into())),
            expected: vec![],
        },
        Case {
            name: "nothing armed: 404 everywhere",
            arm: |_| {},
            expected: vec![],
        },
    ];
    for case in cases {
        let mock = started_mock().await;
        let mut poller = poller(config(&mock));
        (case.arm)(&mock);
        let first = poller.poll_once().await;
        assert!(first.errors.is_empty(), "{}: {:?}", case.name, first.errors);
        assert_eq!(first.new_notices, case.expected, "{}", case.name);
        let second = poller.poll_once().await;
        assert!(second.new_notices.is_empty(), "{}: sent twice", case.name);
    }
}

#[tokio::test]
async fn a_changed_answer_is_a_new_notice() {
    let mock = started_mock().await;
    let mut poller = poller(config(&mock));
    mock.arm_spot_interruption("stop", "2017-09-18T08:22:00Z");
    assert_eq!(poller.poll_once().await.new_notices.len(), 1);
    mock.arm_spot_interruption("terminate", "2017-09-18T08:22:00Z");
    assert_eq!(poller.poll_once().await.new_notices.len(), 1);
    mock.arm_spot_interruption("stop", "2017-09-18T08:22:00Z");
    assert!(
        poller.poll_once().await.new_notices.is_empty(),
        "seen before"
    );
}

#[tokio::test]
async fn a_sliding_answer_does_not_grow_the_memory_without_bound() {
    // AEMM without a fixed --time answers a new time at every request.
    let mock = started_mock().await;
    let mut poller = poller(config(&mock));
    for second in 0..(REMEMBERED_NOTICES as u64 + 20) {
        let minute = second / 60;
        let second = second % 60;
        mock.arm_spot_interruption(
            "terminate",
            &format!("2017-09-18T08:{minute:02}:{second:02}Z"),
        );
        assert_eq!(poller.poll_once().await.new_notices.len(), 1);
    }
    assert_eq!(poller.remembered_notices(), REMEMBERED_NOTICES);
}

#[tokio::test]
async fn an_unreadable_answer_is_an_error_and_other_paths_still_count() {
    let mock = started_mock().await;
    let mut poller = poller(config(&mock));
    mock.set_spot_instance_action(Some(r#"{"action":"explode"}"#.into()));
    mock.arm_rebalance_recommendation("2020-10-27T08:22:00Z");
    let round = poller.poll_once().await;
    assert_eq!(round.errors.len(), 1, "{:?}", round.errors);
    assert!(matches!(round.errors[0], PollError::Answer(_)));
    assert_eq!(round.new_notices.len(), 1);
    assert_eq!(poller.stats().snapshot().failed_rounds, 1);
}

#[tokio::test]
async fn client_answers_not_found_without_an_error() {
    let mock = started_mock().await;
    let client = ImdsClient::new(config(&mock).client);
    let mut client = match client {
        Ok(client) => client,
        Err(error) => panic!("{error}"),
    };
    let answer = client.get(SPOT_INSTANCE_ACTION_PATH).await;
    assert!(matches!(answer, Ok(Answer::NotFound)), "{answer:?}");
    let answer = client.get(INSTANCE_ID_PATH).await;
    assert!(
        matches!(&answer, Ok(Answer::Found(body)) if body == DEFAULT_INSTANCE_ID),
        "{answer:?}"
    );
}

#[test]
fn client_refuses_a_token_ttl_imds_would_refuse() {
    for seconds in [0, 21_601] {
        let config = ClientConfig {
            token_ttl: Duration::from_secs(seconds),
            token_refresh_margin: Duration::ZERO,
            ..ClientConfig::default()
        };
        assert!(
            matches!(ImdsClient::new(config), Err(ImdsClientError::Config(_))),
            "{seconds}"
        );
    }
}

#[test]
fn a_zero_poll_interval_or_timeout_is_refused() {
    let zero_interval = PollerConfig {
        poll_interval: Duration::ZERO,
        ..PollerConfig::default()
    };
    assert!(matches!(
        Poller::new(zero_interval),
        Err(ImdsClientError::Config(_))
    ));
    let zero_timeout = ClientConfig {
        request_timeout: Duration::ZERO,
        ..ClientConfig::default()
    };
    assert!(matches!(
        ImdsClient::new(zero_timeout),
        Err(ImdsClientError::Config(_))
    ));
}

/// A raw HTTP/1.1 exchange, for what the client never sends.
async fn raw_request(mock: &ImdsMock, request: &str) -> String {
    let address = mock.base_url().trim_start_matches("http://").to_owned();
    let mut stream = match tokio::net::TcpStream::connect(address).await {
        Ok(stream) => stream,
        Err(error) => panic!("{error}"),
    };
    if let Err(error) = stream.write_all(request.as_bytes()).await {
        panic!("{error}");
    }
    let mut answer = String::new();
    if let Err(error) = stream.read_to_string(&mut answer).await {
        panic!("{error}");
    }
    answer
}

#[tokio::test]
async fn mock_refuses_token_puts_without_a_valid_ttl_and_gets_without_a_token() {
    let mock = started_mock().await;
    for ttl_header in [
        "",
        "X-aws-ec2-metadata-token-ttl-seconds: 0\r\n",
        "X-aws-ec2-metadata-token-ttl-seconds: 21601\r\n",
        "X-aws-ec2-metadata-token-ttl-seconds: soon\r\n",
    ] {
        let answer = raw_request(
            &mock,
            &format!(
                "PUT {TOKEN_PATH} HTTP/1.1\r\nHost: imds\r\n{ttl_header}Connection: close\r\n\r\n"
            ),
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{ttl_header:?}: {answer}"
        );
    }
    assert_eq!(mock.counts().tokens_refused, 4);
    let answer = raw_request(
        &mock,
        &format!(
            "GET {SPOT_INSTANCE_ACTION_PATH} HTTP/1.1\r\nHost: imds\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let answer = raw_request(
        &mock,
        &format!("GET {SPOT_INSTANCE_ACTION_PATH} HTTP/1.1\r\nHost: imds\r\nX-aws-ec2-metadata-token: forged\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

/// Runs a poller in the background; returns its notices, its stats and its stop switch.
struct Running {
    notices: mpsc::Receiver<Notice>,
    stats: std::sync::Arc<spotter_agent::poller::PollerStats>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

fn run(poller: Poller) -> Running {
    let (sender, notices) = mpsc::channel(16);
    let (stop, stopped) = oneshot::channel::<()>();
    let stats = poller.stats();
    let task = tokio::spawn(poller.run(sender, async move {
        let _ = stopped.await;
    }));
    Running {
        notices,
        stats,
        stop: Some(stop),
        task,
    }
}

impl Running {
    async fn next_notice(&mut self, within: Duration) -> Option<Notice> {
        tokio::time::timeout(within, self.notices.recv())
            .await
            .ok()
            .flatten()
    }

    async fn wait_for_failed_rounds(&self, count: u64, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.stats.snapshot().failed_rounds < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {:?} within {within:?}",
                self.stats.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let stopped = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        assert!(
            matches!(stopped, Ok(Ok(()))),
            "the poller did not stop: {stopped:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imds_unreachable_then_back() {
    let mut mock = started_mock().await;
    let mut running = run(poller(config(&mock)));
    mock.stop().await;
    running
        .wait_for_failed_rounds(3, Duration::from_secs(10))
        .await;
    assert!(!running.task.is_finished(), "the poller died");
    if let Err(error) = mock.restart().await {
        panic!("failed to restart the mock: {error}");
    }
    mock.arm_spot_interruption("terminate", "2017-09-18T08:22:00Z");
    let notice = running.next_notice(Duration::from_secs(10)).await;
    assert!(
        matches!(
            &notice,
            Some(Notice {
                kind: NoticeKind::SpotInterruption { .. },
                ..
            })
        ),
        "{notice:?}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_hangs_are_survived() {
    for fault in [Fault::ServerError, Fault::Hang] {
        let mock = started_mock().await;
        let mut config = config(&mock);
        config.client.request_timeout = Duration::from_millis(200);
        let mut running = run(poller(config));
        mock.set_fault(fault);
        running
            .wait_for_failed_rounds(2, Duration::from_secs(10))
            .await;
        mock.set_fault(Fault::None);
        mock.arm_rebalance_recommendation("2020-10-27T08:22:00Z");
        let notice = running.next_notice(Duration::from_secs(10)).await;
        assert!(
            matches!(
                &notice,
                Some(Notice {
                    kind: NoticeKind::RebalanceRecommendation { .. },
                    ..
                })
            ),
            "{fault:?}: {notice:?}"
        );
        running.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_interval_spaces_the_rounds() {
    let mock = started_mock().await;
    let mut slow = config(&mock);
    slow.poll_interval = Duration::from_secs(60);
    let slow = run(poller(slow));
    let fast = run(poller(config(&mock)));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let slow_rounds = slow.stats.snapshot().rounds;
    let fast_rounds = fast.stats.snapshot().rounds;
    assert_eq!(slow_rounds, 1, "a 60 s interval polls once in 0.6 s");
    assert!(
        fast_rounds > 2,
        "a 50 ms interval polls again and again: {fast_rounds}"
    );
    slow.stop().await;
    fast.stop().await;
}

#[tokio::test]
async fn the_poller_stops_when_nobody_listens() {
    let mock = started_mock().await;
    let running = run(poller(config(&mock)));
    let Running {
        notices,
        task,
        stop,
        ..
    } = running;
    drop(notices);
    let stopped = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
    drop(stop);
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let config = PollerConfig {
        poll_interval: Duration::from_secs(2),
        max_backoff: Duration::from_secs(30),
        ..PollerConfig::default()
    };
    let poller = poller(config);
    let delays: Vec<u64> = [0, 1, 2, 3, 4, 5, 100]
        .into_iter()
        .map(|failures| poller.delay_after(failures).as_secs())
        .collect();
    assert_eq!(delays, vec![2, 4, 8, 16, 30, 30, 30]);
}
