//! A reader that closes spotter's stdout early (`spotter plan -o json | head -c 10`) must not
//! make it panic: the output is dropped and the exit status is what it would have been.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Runs spotter with its stdout a pipe whose reading end is closed at once (before spotter
/// writes anything), and returns its exit code and stderr.
fn run_with_closed_stdout(arguments: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spotter"))
        .args(arguments)
        .env_remove("AWS_REGION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("failed to run spotter: {error}"));
    drop(child.stdout.take());
    let output = child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("failed to wait for spotter: {error}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn writing_to_a_closed_pipe_exits_quietly() {
    let seed = examples().join("seed");
    let seed = seed.to_str().unwrap_or_default();
    let out = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let out = out.path().to_str().unwrap_or_default();
    let cases: &[(&str, Vec<&str>)] = &[
        ("plan json", vec!["plan", "-f", seed, "-o", "json"]),
        ("plan table", vec!["plan", "-f", seed]),
        (
            "simulate table",
            vec!["simulate", "--duration", "1h", "--out", out],
        ),
        (
            "simulate json",
            vec!["simulate", "--duration", "1h", "--out", out, "-o", "json"],
        ),
    ];
    for (name, arguments) in cases {
        let (code, stderr) = run_with_closed_stdout(arguments);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(code, Some(0), "{name}: {stderr}");
    }
}
