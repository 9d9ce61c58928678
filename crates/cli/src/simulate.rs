//! `spotter simulate`: loads a scenario (or the built-in default), runs it with a progress bar
//! when stdout is a terminal, writes report.json and report.html, and prints the summary. With
//! `--serve` the run is paced against the wall clock and its metrics served (see
//! [`crate::serve`]), and the final state stays served after the run.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use spotter_simulator::{NoObserver, Observer, Options, Scenario};

use crate::serve::Served;
use crate::{Failure, SimulateArguments, SimulateOutput};

/// Simulated seconds per wall-clock second when `--serve` is given without `--speed`.
pub const DEFAULT_SPEED: f64 = 60.0;

/// Runs `spotter simulate`.
pub fn run(arguments: &SimulateArguments) -> Result<(), Failure> {
    let scenario = match &arguments.scenario {
        Some(path) => Scenario::load(path).map_err(|error| Failure::Input(error.into()))?,
        None => Scenario::builtin_default(),
    };
    let options = Options {
        seed: arguments.seed,
        duration: arguments.duration,
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
    let observer: Box<dyn Observer> = match &served {
        Some((served, speed)) => Box::new(served.observer(*speed)),
        None => Box::new(NoObserver),
    };
    let report = spotter_simulator::run_observed(&scenario, &options, &mut progress, observer)
        .map_err(|error| Failure::Input(error.into()))?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    std::fs::create_dir_all(&arguments.out)
        .with_context(|| {
            format!(
                "failed to create the report folder {}",
                arguments.out.display()
            )
        })
        .map_err(Failure::Internal)?;
    let json_path = arguments.out.join("report.json");
    let html_path = arguments.out.join("report.html");
    let json = report.to_json();
    std::fs::write(&json_path, &json)
        .with_context(|| format!("failed to write {}", json_path.display()))
        .map_err(Failure::Internal)?;
    std::fs::write(&html_path, report.html())
        .with_context(|| format!("failed to write {}", html_path.display()))
        .map_err(Failure::Internal)?;
    match arguments.output {
        SimulateOutput::Json => print!("{json}"),
        SimulateOutput::Table => {
            print!("{}", report.terminal_summary());
            println!(
                "\nSimulated {:.0} h in {:.2} s. Reports: {} and {}",
                report.duration_hours,
                elapsed.as_secs_f64(),
                json_path.display(),
                html_path.display()
            );
        }
    }
    if report.summary.invariant_violations > 0 {
        eprintln!(
            "error: {} invariant violation(s); see the report's invariantViolations",
            report.summary.invariant_violations
        );
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
    Ok(())
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
