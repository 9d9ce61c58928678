//! `spotter soak`: the deterministic fault soak (`spotter-soak`) with a progress bar when
//! stderr is a terminal; each failing case is written as a scenario file under `--out` (and
//! its shrunk version, when shrinking found one) and printed with its replay commands; a
//! summary table closes the run (cluster-days, scenarios, runs, violations by invariant, wall
//! and CPU time). Exit code 3 when an invariant broke.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use spotter_soak::{Failure as SoakFailure, GeneratedScenario, SoakOptions, SoakSummary};

use crate::Failure;
use crate::output::write_stdout;

/// Arguments of `spotter soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArguments {
    /// Simulated cluster-days to run: scenarios (1 to 3 days each) are drawn until their days
    /// add up to this many; each runs under both presets.
    #[arg(long, default_value_t = 30)]
    pub cluster_days: u64,
    /// The soak's seed: the same seed draws the same scenarios.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only this scenario of the seed (the replay of a failing case).
    #[arg(long, value_name = "INDEX")]
    pub scenario: Option<u64>,
    /// Threads running scenarios.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Where failing scenarios are written (created when one fails).
    #[arg(long, default_value = "soak-failures")]
    pub out: PathBuf,
    /// Do not shrink failing cases.
    #[arg(long)]
    pub no_shrink: bool,
}

/// Runs `spotter soak`.
pub fn run(arguments: &SoakArguments) -> Result<(), Failure> {
    if arguments.jobs == 0 {
        return Err(Failure::Input(anyhow::anyhow!(
            "--jobs 0 runs nothing: give at least 1"
        )));
    }
    let options = SoakOptions {
        seed: arguments.seed,
        cluster_days: arguments.cluster_days,
        scenario: arguments.scenario,
        jobs: arguments.jobs,
        shrink: !arguments.no_shrink,
    };
    let total: u64 = spotter_soak::plan(&options)
        .iter()
        .map(|scenario| scenario.duration.as_secs())
        .sum();
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} soak, seed {msg} [{bar:40}] {percent}% ({elapsed}, ETA {eta})",
            )
            .map_err(|error| Failure::Internal(error.into()))?
            .progress_chars("=> "),
        );
        bar.set_message(arguments.seed.to_string());
        bar
    } else {
        ProgressBar::hidden()
    };
    let cpu_before = cpu_time();
    let started = Instant::now();
    let summary = spotter_soak::soak(&options, &|done: Duration| bar.inc(done.as_secs()))
        .map_err(|error| Failure::Internal(error.into()))?;
    bar.finish_and_clear();
    let wall = started.elapsed();
    let cpu = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let mut text = String::new();
    for failure in &summary.failures {
        text.push_str(&describe_failure(arguments, failure)?);
    }
    text.push_str(&summary_table(&summary, wall, cpu).to_string());
    text.push('\n');
    write_stdout(&text).map_err(|error| {
        Failure::Internal(anyhow::Error::from(error).context("failed to write the summary"))
    })?;
    if summary.failures.is_empty() {
        Ok(())
    } else {
        eprintln!(
            "error: {} failing run(s); scenarios written to {}",
            summary.failures.len(),
            arguments.out.display()
        );
        Err(Failure::InvariantViolated)
    }
}

/// Writes a failing case's scenario files and says how to replay it.
fn describe_failure(arguments: &SoakArguments, failure: &SoakFailure) -> Result<String, Failure> {
    let scenario = &failure.scenario;
    let path = write_scenario(&arguments.out, scenario, "")?;
    let mut text = format!(
        "FAILED {} under {}: {} violation(s)\n",
        scenario.name(),
        failure.policy.as_str(),
        failure.findings.len()
    );
    for finding in failure.findings.iter().take(5) {
        text.push_str(&format!(
            "  {} at {}: {} ({})\n",
            finding.invariant,
            spotter_simulator::scenario::format_duration(Duration::from_secs_f64(
                finding.time_seconds
            )),
            finding.detail,
            finding.event
        ));
    }
    text.push_str(&format!(
        "  replay: {}\n  replay: spotter simulate {} --policy {}\n",
        spotter_soak::replay_command(scenario.soak_seed, scenario.index),
        path.display(),
        failure.policy.as_str()
    ));
    if let Some(shrunk) = &failure.shrunk {
        let path = write_scenario(&arguments.out, shrunk, "-shrunk")?;
        text.push_str(&format!(
            "  shrunk ({} faults, {} workloads, {} d): spotter simulate {} --policy {}\n",
            shrunk.faults.len(),
            shrunk.workloads.len(),
            shrunk.duration.as_secs() / 86_400,
            path.display(),
            failure.policy.as_str()
        ));
    }
    Ok(text)
}

fn write_scenario(
    out: &Path,
    scenario: &GeneratedScenario,
    suffix: &str,
) -> Result<PathBuf, Failure> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("failed to create {}", out.display()))
        .map_err(Failure::Internal)?;
    let path = out.join(format!("{}{suffix}.yaml", scenario.name()));
    let yaml = scenario
        .to_yaml()
        .map_err(|error| Failure::Internal(error.into()))?;
    std::fs::write(&path, yaml)
        .with_context(|| format!("failed to write {}", path.display()))
        .map_err(Failure::Internal)?;
    Ok(path)
}

fn summary_table(summary: &SoakSummary, wall: Duration, cpu: Option<Duration>) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec!["soak", ""]);
    table.add_row(vec![
        "cluster-days".to_string(),
        summary.cluster_days.to_string(),
    ]);
    table.add_row(vec!["scenarios".to_string(), summary.scenarios.to_string()]);
    table.add_row(vec![
        "runs (both presets)".to_string(),
        summary.runs.to_string(),
    ]);
    table.add_row(vec![
        "failing runs".to_string(),
        summary.failures.len().to_string(),
    ]);
    if summary.violations.is_empty() {
        table.add_row(vec!["violations".to_string(), "0".to_string()]);
    }
    for (invariant, count) in &summary.violations {
        table.add_row(vec![format!("violations: {invariant}"), count.to_string()]);
    }
    table.add_row(vec![
        "wall time".to_string(),
        format!("{:.1} s", wall.as_secs_f64()),
    ]);
    table.add_row(vec![
        "CPU time (user + system)".to_string(),
        cpu.map_or_else(
            || "unknown".to_string(),
            |cpu| format!("{:.1} s", cpu.as_secs_f64()),
        ),
    ]);
    table
}

/// The process's CPU time so far (user + system, every thread), from `/proc/self/stat` in
/// clock ticks of 1/100 s (Linux's `USER_HZ`); `None` where there is no such file.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file: utime and stime; `fields[0]` is field 3.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 10))
}
