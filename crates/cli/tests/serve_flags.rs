//! `spotter simulate`'s serving flags refused before anything runs: pacing without serving, a
//! speed that is not a positive number, an address already taken. Exit code 2, and a message
//! that says what to do.

use std::net::TcpListener;
use std::process::Command;

fn simulate(arguments: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_spotter"))
        .arg("simulate")
        .args(arguments)
        .args(["--duration", "1h", "--out"])
        .arg(std::env::temp_dir().join("spotter-serve-flags-report"))
        .output()
        .unwrap_or_else(|error| panic!("failed to run spotter: {error}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn serving_flags_are_checked_before_the_run() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let taken_address = taken
        .local_addr()
        .expect("a bound listener has an address")
        .to_string();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--speed", "100"],
            "--speed only applies to a served run: add --serve",
        ),
        (
            &["--linger", "10s"],
            "--linger only applies to a served run: add --serve",
        ),
        (
            &["--serve", "127.0.0.1:0", "--speed", "0"],
            "--speed must be a positive number",
        ),
        (
            &["--serve", "127.0.0.1:0", "--speed=-5"],
            "--speed must be a positive number",
        ),
        (
            &["--serve", "127.0.0.1:0", "--speed", "NaN"],
            "--speed must be a positive number",
        ),
        (&["--serve", taken_address.as_str()], "failed to listen on"),
    ];
    for (arguments, message) in cases {
        let (code, stderr) = simulate(arguments);
        assert_eq!(code, Some(2), "{arguments:?}: {stderr}");
        assert!(stderr.contains(message), "{arguments:?}: {stderr}");
    }
}
