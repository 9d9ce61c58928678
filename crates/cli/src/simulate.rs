//! `spotter simulate`: loads a scenario (or the built-in default), runs it with a progress bar
//! when stdout is a terminal, writes report.json and report.html, and prints the summary.
//! With `--compare POLICY` it runs the scenario under both policies with the same seed and
//! writes and prints the comparison instead. With `--serve` the run is paced against the wall
//! clock and its metrics served (see [`crate::serve`]), and the final state stays served after
//! the run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use spotter_report::{Comparison, Report};
use spotter_simulator::{NoObserver, Observer, Options, Policy, Scenario};

use crate::output::write_stdout;
use crate::serve::Served;
use crate::{Failure, SimulateArguments, SimulateOutput};

/// Simulated seconds per wall-clock second when `--serve` is given without `--speed`.
pub const DEFAULT_SPEED: f64 = 60.0;

/// Runs `spotter simulate`.
pub fn run(arguments: &SimulateArguments) -> Result<(), Failure> {
    if arguments.compare == Some(arguments.policy) {
        let other = Policy::ALL
            .into_iter()
            .find(|policy| *policy != arguments.policy)
            .unwrap_or(arguments.policy);
        return Err(Failure::Input(anyhow::anyhow!(
            "--compare {0} names the policy the scenario already runs under (--policy {0}); compare against another one, e.g. --compare {other}",
            arguments.policy
        )));
    }
    if arguments.compare.is_some() && arguments.serve.is_some() {
        return Err(Failure::Input(anyhow!(
            "--serve paces one run against the wall clock and cannot serve two: drop --compare, or run each --policy with --serve on its own"
        )));
    }
    let scenario = match &arguments.scenario {
        Some(path) => Scenario::load(path).map_err(|error| Failure::Input(error.into()))?,
        None => Scenario::builtin_default(),
    };
    let options = Options {
        seed: arguments.seed,
        duration: arguments.duration,
        policy: arguments.policy,
    };
    let served = serve(arguments, options.duration.unwrap_or(scenario.duration))?;
    let interactive = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let started = Instant::now();
    let bar = ProgressBar::hidden();
    if interactive {
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} simulating {msg} [{bar:40}] {percent}% ({elapsed})",
            )
            .map_err(|error| Failure::Internal(error.into()))?
            .progress_chars("=> "),
        );
        bar.set_length(1000);
        bar.set_message(scenario.name.clone());
    }
    let mut progress = |done: f64| {
        // Show the bar only for runs that take longer than a second.
        if interactive && started.elapsed().as_secs_f64() > 1.0 && bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_position((done * 1000.0) as u64);
    };
    if let Some(other) = arguments.compare {
        let policies = [arguments.policy, other];
        let comparison = spotter_simulator::compare(&scenario, &options, &policies, &mut progress)
            .map_err(|error| Failure::Input(error.into()))?;
        bar.finish_and_clear();
        return finish_comparison(arguments, &comparison, started.elapsed());
    }
    let observer: Box<dyn Observer> = match &served {
        Some((served, speed)) => Box::new(served.observer(*speed)),
        None => Box::new(NoObserver),
    };
    let report = spotter_simulator::run_observed(&scenario, &options, &mut progress, observer)
        .map_err(|error| Failure::Input(error.into()))?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    let json = report.to_json();
    let (json_path, html_path) = write_reports(&arguments.out, &json, &report.html())?;
    match arguments.output {
        SimulateOutput::Json => write_stdout(&json),
        SimulateOutput::Table => write_stdout(&format!(
            "{}\nSimulated {:.0} h in {:.2} s. Reports: {} and {}\n",
            report.terminal_summary(),
            report.duration_hours,
            elapsed.as_secs_f64(),
            json_path.display(),
            html_path.display()
        )),
    }
    .map_err(|error| {
        Failure::Internal(anyhow::Error::from(error).context("failed to write the summary"))
    })?;
    if report.summary.invariant_violations > 0 {
        eprintln!(
            "error: {} invariant violation(s); see the report's invariantViolations",
            report.summary.invariant_violations
        );
    }
    if report.pods_waited_too_long() {
        eprintln!("error: {}", pending_failure(&report));
    }
    if let Some((served, _)) = served {
        match arguments.linger {
            Some(linger) => eprintln!(
                "The run is over; serving its final state on http://{} for {}",
                served.address(),
                spotter_simulator::scenario::format_duration(linger)
            ),
            None => eprintln!(
                "The run is over; serving its final state on http://{} until Ctrl-C",
                served.address()
            ),
        }
        served
            .linger(arguments.linger)
            .map_err(|error| Failure::Internal(error.into()))?;
    }
    if report.summary.invariant_violations > 0 {
        return Err(Failure::InvariantViolated);
    }
    if report.pods_waited_too_long() {
        return Err(Failure::PodsWaitedTooLong);
    }
    Ok(())
}

/// Writes a comparison's report.json and report.html, prints its summary (or its JSON), and
/// fails with exit code 3 when any run broke an invariant, else 5 when any kept pods pending
/// beyond the scenario's threshold.
fn finish_comparison(
    arguments: &SimulateArguments,
    comparison: &Comparison,
    elapsed: Duration,
) -> Result<(), Failure> {
    let json = comparison.to_json();
    let (json_path, html_path) = write_reports(&arguments.out, &json, &comparison.html())?;
    let policies = comparison.policies_in_order();
    match arguments.output {
        SimulateOutput::Json => write_stdout(&json),
        SimulateOutput::Table => {
            let names: Vec<&str> = policies.iter().map(|(name, _)| *name).collect();
            write_stdout(&format!(
                "{}\nSimulated {:.0} h under {} in {:.2} s. Reports: {} and {}\n",
                comparison.terminal_summary(),
                comparison.duration_hours,
                names.join(" and "),
                elapsed.as_secs_f64(),
                json_path.display(),
                html_path.display()
            ))
        }
    }
    .map_err(|error| {
        Failure::Internal(anyhow::Error::from(error).context("failed to write the summary"))
    })?;
    let broken: Vec<String> = policies
        .iter()
        .filter(|(_, report)| report.summary.invariant_violations > 0)
        .map(|(name, report)| format!("{name} ({})", report.summary.invariant_violations))
        .collect();
    let waited: Vec<String> = policies
        .iter()
        .filter(|(_, report)| report.pods_waited_too_long())
        .map(|(name, report)| format!("{name}: {}", pending_failure(report)))
        .collect();
    for line in &waited {
        eprintln!("error: {line}");
    }
    if !broken.is_empty() {
        eprintln!(
            "error: invariant violation(s) under {}; see policies.<policy>.invariantViolations in the report",
            broken.join(", ")
        );
        return Err(Failure::InvariantViolated);
    }
    if !waited.is_empty() {
        return Err(Failure::PodsWaitedTooLong);
    }
    Ok(())
}

/// What the run's pods that waited too long say on stderr (exit code 5).
fn pending_failure(report: &Report) -> String {
    let summary = &report.summary;
    format!(
        "{} pod(s) waited longer than the pending threshold ({}), {} never scheduled; see \
         the report's podsNeverScheduledReasons (exit status 5)",
        summary.pods_over_pending_threshold,
        spotter_simulator::scenario::format_duration(Duration::from_secs_f64(
            summary.pending_threshold_seconds.max(0.0)
        )),
        summary.pods_never_scheduled
    )
}

/// Creates `out` and writes `json` to report.json and `html` to report.html in it; returns
/// both paths.
fn write_reports(out: &Path, json: &str, html: &str) -> Result<(PathBuf, PathBuf), Failure> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("failed to create the report folder {}", out.display()))
        .map_err(Failure::Internal)?;
    let json_path = out.join("report.json");
    let html_path = out.join("report.html");
    for (path, contents) in [(&json_path, json), (&html_path, html)] {
        std::fs::write(path, contents)
            .with_context(|| format!("failed to write {}", path.display()))
            .map_err(Failure::Internal)?;
    }
    Ok((json_path, html_path))
}

/// With `--serve`: the server started, and the speed to pace the run at.
fn serve(
    arguments: &SimulateArguments,
    duration: std::time::Duration,
) -> Result<Option<(Served, f64)>, Failure> {
    let Some(address) = arguments.serve else {
        let given = [
            ("--speed", arguments.speed.is_some()),
            ("--linger", arguments.linger.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
            return Err(Failure::Input(anyhow!(
                "{flag} only applies to a served run: add --serve ADDRESS (e.g. --serve 127.0.0.1:8000) to pace the simulation against the wall clock and serve its metrics"
            )));
        }
        return Ok(None);
    };
    let speed = arguments.speed.unwrap_or(DEFAULT_SPEED);
    if !(speed.is_finite() && speed > 0.0) {
        return Err(Failure::Input(anyhow!(
            "--speed must be a positive number of simulated seconds per second, got {speed}"
        )));
    }
    let served = Served::start(address, duration, speed).map_err(|error| match error {
        spotter_server::ServerError::Bind { .. } => Failure::Input(error.into()),
        other => Failure::Internal(other.into()),
    })?;
    eprintln!(
        "Serving http://{address}/metrics (and /status, /healthz, /readyz); simulating {speed} s per second, {} in about {}",
        spotter_simulator::scenario::format_duration(duration),
        spotter_simulator::scenario::format_duration(std::time::Duration::from_secs_f64(
            (duration.as_secs_f64() / speed).ceil()
        )),
        address = served.address(),
    );
    Ok(Some((served, speed)))
}
