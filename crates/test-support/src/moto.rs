//! A moto server for one test: `$MOTO_SERVER` (the `moto_server` script of a venv with
//! `moto[server]`, set by `.ci/run`) started on a free loopback port, killed on drop. Without
//! `MOTO_SERVER` the test is skipped with a message, unless `CI=true`, where it fails.
//!
//! [`Moto::start_refusing`] starts it through a small extension (`moto_refusing_capacity.py`,
//! run with the venv's Python, found on the script's `#!` line) whose CreateFleet answers
//! `InsufficientInstanceCapacity` for the offerings listed in a file the test writes, as EC2
//! does: moto itself never refuses capacity.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The extension, written next to the refusals file when used.
const REFUSING_CAPACITY: &str = include_str!("moto_refusing_capacity.py");

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// With [`Moto::start_refusing`]: the file of refused offerings.
    refusals: Option<PathBuf>,
}

impl Moto {
    /// Starts moto, or returns `None` (after saying why) when it is not installed outside CI.
    pub fn start() -> Option<Moto> {
        let binary = binary()?;
        Some(start_with(|| Command::new(&binary), None))
    }

    /// Starts moto with CreateFleet refusing the offerings listed in a file in `folder`
    /// (none at first; see [`Moto::refuse`]), or returns `None` as [`Moto::start`] does.
    pub fn start_refusing(folder: &Path) -> Option<Moto> {
        let binary = binary()?;
        let script = folder.join("moto_refusing_capacity.py");
        let refusals = folder.join("refused-offerings");
        std::fs::write(&script, REFUSING_CAPACITY)
            .unwrap_or_else(|error| panic!("failed to write {}: {error}", script.display()));
        std::fs::write(&refusals, "")
            .unwrap_or_else(|error| panic!("failed to write {}: {error}", refusals.display()));
        let python = python_of(&binary);
        Some(start_with(
            || {
                let mut command = Command::new(&python);
                command
                    .arg(&script)
                    .env("SPOTTER_MOTO_REFUSED_OFFERINGS", &refusals);
                command
            },
            Some(refusals.clone()),
        ))
    }

    /// Refuses these offerings (`capacity-type:instance-type:zone`, `*` allowed) from the
    /// next CreateFleet on, and only these. Panics on a server started without refusals.
    pub fn refuse(&self, offerings: &[&str]) {
        let path = self
            .refusals
            .as_ref()
            .expect("a moto started with Moto::start_refusing");
        let mut text = offerings.join("\n");
        text.push('\n');
        std::fs::write(path, text)
            .unwrap_or_else(|error| panic!("failed to write {}: {error}", path.display()));
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<PathBuf> {
    let Some(binary) = std::env::var_os("MOTO_SERVER") else {
        let message = "MOTO_SERVER is not set: install moto[server] in a venv and point MOTO_SERVER at its moto_server (as .ci/run does)";
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            panic!("{message}");
        }
        eprintln!("skipping the moto test: {message}");
        return None;
    };
    Some(PathBuf::from(binary))
}

/// The Python of the venv `moto_server` belongs to: its `#!` line, else `python3` beside it.
fn python_of(binary: &Path) -> PathBuf {
    std::fs::read_to_string(binary)
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .and_then(|line| line.strip_prefix("#!"))
                .map(|line| PathBuf::from(line.trim()))
        })
        .filter(|python| python.is_file())
        .unwrap_or_else(|| binary.with_file_name("python3"))
}

fn start_with(command: impl Fn() -> Command, refusals: Option<PathBuf>) -> Moto {
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port();
        let mut child = command()
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("failed to start moto: {error}"));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = child.try_wait() {
                last_error = format!("moto exited with {status}");
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Moto {
                    child,
                    endpoint: format!("http://127.0.0.1:{port}"),
                    refusals,
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        if last_error.is_empty() {
            last_error = "moto did not listen within 60 s".to_string();
        }
    }
    panic!("failed to start moto: {last_error}");
}

/// A loopback port free now and not handed out before in this process: two tests starting
/// moto at once must not pick the same one (the second server would fail to bind while its
/// test talks to the first).
fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free loopback port");
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if handed_out.insert(port) {
            return port;
        }
    }
}
