//! A moto server for one test: `$MOTO_SERVER` (the `moto_server` binary, set by `.ci/run`)
//! started on a free loopback port, killed on drop. Without `MOTO_SERVER` the test is skipped
//! with a message, unless `CI=true`, where it fails.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto, or returns `None` (after saying why) when it is not installed outside CI.
    pub fn start() -> Option<Moto> {
        let Some(binary) = std::env::var_os("MOTO_SERVER") else {
            let message = "MOTO_SERVER is not set: install moto[server] in a venv and point MOTO_SERVER at its moto_server (as .ci/run does)";
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("{message}");
            }
            eprintln!("skipping the moto test: {message}");
            return None;
        };
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("failed to start {binary:?}: {error}"));
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(60) {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("moto_server exited with {status}");
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Moto {
                        child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            if last_error.is_empty() {
                last_error = "moto_server did not listen within 60 s".to_string();
            }
        }
        panic!("failed to start moto: {last_error}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
