//! `spotter simulate`: loads a scenario (or the built-in default), runs it with a progress bar
//! when stdout is a terminal, writes report.json and report.html, and prints the summary.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use spotter_simulator::{Options, Scenario};

use crate::{Failure, SimulateArguments, SimulateOutput};

/// Runs `spotter simulate`.
pub fn run(arguments: &SimulateArguments) -> Result<(), Failure> {
    let scenario = match &arguments.scenario {
        Some(path) => Scenario::load(path).map_err(|error| Failure::Input(error.into()))?,
        None => Scenario::builtin_default(),
    };
    let options = Options {
        seed: arguments.seed,
        duration: arguments.duration,
        ..Options::default()
    };
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
    let report = spotter_simulator::run(&scenario, &options, &mut progress)
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
        return Err(Failure::InvariantViolated);
    }
    Ok(())
}
