//! `spotter agent --dry-run` against the local IMDS mock: it logs a Spot interruption armed
//! while it runs, survives IMDS answering 500, and exits 0 on SIGTERM. Flags it cannot run
//! with are refused with exit code 2.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use spotter_agent::imds_mock::{Fault, ImdsMock};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Lines of the child's stderr, as they come.
fn stderr_lines(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

fn wait_for_line(lines: &mpsc::Receiver<String>, wanted: &[&str], within: Duration) -> String {
    let deadline = std::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if wanted.iter().all(|fragment| line.contains(fragment)) => return line,
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "no line with {wanted:?} within {within:?}; saw:\n{}",
                seen.join("\n")
            ),
        }
    }
}

#[test]
fn dry_run_logs_a_spot_interruption_and_stops_on_sigterm() {
    let runtime = runtime();
    let mock = runtime
        .block_on(ImdsMock::start())
        .expect("the IMDS mock starts");
    mock.set_fault(Fault::ServerError);
    let mut child = Command::new(env!("CARGO_BIN_EXE_spotter"))
        .args(["agent", "--dry-run", "--poll-interval", "1s", "--imds-url"])
        .arg(mock.base_url())
        .env_remove("NODE_NAME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spotter runs");
    let lines = stderr_lines(&mut child);
    wait_for_line(&lines, &["spotter agent started"], Duration::from_secs(30));
    wait_for_line(
        &lines,
        &["IMDS poll failed", "500"],
        Duration::from_secs(30),
    );
    mock.set_fault(Fault::None);
    mock.arm_spot_interruption("terminate", "2017-09-18T08:22:00Z");
    wait_for_line(
        &lines,
        &[
            "interruption notice",
            "spot-interruption",
            "i-1234567890abcdef0",
        ],
        Duration::from_secs(30),
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "spotter agent ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn unusable_flags_exit_with_2() {
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "agent",
                "--imds-url",
                "https://169.254.169.254",
                "--dry-run",
            ],
            "must start with http://",
        ),
        (
            &["agent", "--poll-interval", "0", "--dry-run"],
            "poll interval",
        ),
        (&["agent"], "NODE_NAME"),
    ];
    for (arguments, message) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_spotter"))
            .args(arguments)
            .env_remove("NODE_NAME")
            .output()
            .expect("spotter runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(stderr.contains(message), "{arguments:?}: {stderr}");
    }
}
