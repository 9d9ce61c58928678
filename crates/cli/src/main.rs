//! `spotter`: the command line. `spotter simulate` runs a cluster scenario against a simulated
//! Spot market and reports Spot share, fallbacks, interruptions and savings; `spotter plan`
//! shows which NodeClaims Spotter would launch for a set of manifests and why a pod cannot be
//! placed.
//!
//! Exit codes: 0 on success, 2 for bad input (a file, a flag, a manifest, a scenario), 3 when a
//! simulation broke an invariant, 4 when `plan` left some pod unschedulable (the plan is still
//! printed), 5 when a simulation kept pods pending longer than its scenario's
//! `pendingThreshold` (the report is still written), 1 for anything else. `spotter soak` runs
//! random scenarios with faults and exits with 3 when one broke an invariant. A reader that closes stdout early (`| head`) is not an error
//! (see `output`).

/// jemalloc, configured in `.cargo/config.toml` to return freed pages within a second: with
/// glibc's malloc, whose arenas keep what was freed, the controller's resident memory stayed
/// near its peaks (measured by `cargo bench -p spotter --bench controller_scale`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod agent;
#[cfg(feature = "aws")]
mod aws_provider;
mod controller;
mod crds;
mod feature_gates;
mod interruption_queue;
mod metrics_endpoint;
mod output;
mod plan;
mod plan_output;
mod serve;
mod shutdown;
mod simulate;
mod soak;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use spotter_simulator::Policy;

/// A Spot-first Kubernetes node autoscaler, compatible with Karpenter v1.
#[derive(Debug, Parser)]
#[command(name = "spotter", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the node agent: poll IMDSv2 for interruption notices and report them on this Node.
    Agent(agent::AgentArguments),
    /// Run the controller in a cluster: watch NodePools, pods and nodes, launch and remove
    /// nodes through a cloud provider (aws, or fake for trying it anywhere).
    Controller(Box<controller::ControllerArguments>),
    /// Plan NodeClaims for pending pods: which NodePool, instance types, zone and capacity
    /// type each would launch with, and why a pod cannot be placed.
    ///
    /// Exit status: 0 when every pod is placed, 4 when some pod is unschedulable (the plan is
    /// still printed), 2 for bad input.
    Plan(PlanArguments),
    /// Simulate a cluster over days of a real Spot market: Spot share, fallbacks,
    /// interruptions, pods disrupted and dollars saved, with report.json and report.html.
    Simulate(SimulateArguments),
    /// Soak the controllers: random scenarios and faults from a seed, each run under both
    /// presets in the simulator with every invariant checked; failing cases are written as
    /// scenario files with their replay commands.
    ///
    /// Exit status: 0 when no invariant broke, 3 when one did.
    Soak(soak::SoakArguments),
    /// Print Karpenter's CRDs (NodePool, NodeClaim, EC2NodeClass) as one YAML stream for
    /// `kubectl apply -f -`, or write one file each with --out.
    Crds(crds::CrdsArguments),
}

/// Arguments of `spotter simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArguments {
    /// A scenario file (YAML); without one, the built-in default (the seed cluster, 14 days).
    pub scenario: Option<PathBuf>,
    /// Replaces the scenario's random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Replaces the scenario's duration (30m, 12h, 14d, 1d12h).
    #[arg(long, value_parser = parse_duration_argument)]
    pub duration: Option<std::time::Duration>,
    /// The policy the controllers run with: spotter (Spotter's Spot ranking, backoff,
    /// interruption awareness, return to Spot) or karpenter (plain Karpenter v1).
    #[arg(long, value_name = "POLICY", default_value = "spotter", value_parser = policy_parser())]
    pub policy: Policy,
    /// Also run the scenario under this policy, with the same seed, and report both side by
    /// side (report.json then holds both runs under "policies").
    #[arg(long, value_name = "POLICY", value_parser = policy_parser())]
    pub compare: Option<Policy>,
    /// Where to write report.json and report.html.
    #[arg(long, default_value = "spotter-report")]
    pub out: PathBuf,
    /// What to print: a summary for a person, or the JSON report.
    #[arg(short = 'o', long, value_enum, default_value_t = SimulateOutput::Table)]
    pub output: SimulateOutput,
    /// Serve /metrics, /healthz, /readyz and /status on this address (127.0.0.1:8000; port 0
    /// picks a free one) while the run goes on, paced against the wall clock, and its final
    /// state after it ends.
    #[arg(long, value_name = "ADDRESS")]
    pub serve: Option<std::net::SocketAddr>,
    /// With --serve: simulated seconds per wall-clock second [default: 60].
    #[arg(long, value_name = "N")]
    pub speed: Option<f64>,
    /// With --serve: how long to keep serving the final state after the run (30s, 10m);
    /// without it, until Ctrl-C.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_argument)]
    pub linger: Option<std::time::Duration>,
}

/// What `spotter simulate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimulateOutput {
    /// Tables for a person.
    Table,
    /// The JSON report.
    Json,
}

fn parse_duration_argument(text: &str) -> Result<std::time::Duration, String> {
    spotter_simulator::scenario::parse_duration(text)
}

/// Parses a policy name, listing the names in `--help` and in errors.
fn policy_parser() -> impl TypedValueParser<Value = Policy> {
    PossibleValuesParser::new(Policy::ALL.map(Policy::as_str)).try_map(|name| Policy::parse(&name))
}

/// Arguments of `spotter plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArguments {
    /// Manifest files or folders (NodePool, EC2NodeClass, Pod, Deployment, Job, DaemonSet,
    /// Node); folders are read for *.yaml and *.yml files. Repeat for several.
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The AWS region whose instance types and prices to plan with.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Mark offerings unavailable, as if EC2 had no capacity for them: comma-separated
    /// capacity-type=, instance-type= and zone= (e.g. capacity-type=spot). Repeat for several.
    #[arg(long, value_name = "SELECTOR")]
    pub unavailable: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables for a person.
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// An error and the exit code it deserves.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: exit code 2.
    Input(anyhow::Error),
    /// Anything else: exit code 1.
    Internal(anyhow::Error),
    /// A simulation broke an invariant: exit code 3 (the report is written).
    InvariantViolated,
    /// `plan` left this many pods unschedulable: exit code 4 (the plan is printed).
    Unschedulable(usize),
    /// A simulation kept pods pending longer than its scenario's `pendingThreshold`: exit
    /// code 5 (the report is written; an invariant violation takes precedence, with 3).
    PodsWaitedTooLong,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // With both ring and aws-lc-rs compiled in (the workspace builds the AWS SDK), rustls
    // cannot choose a provider by itself and the first TLS connection would panic.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match cli.command {
        Command::Agent(arguments) => agent::run(&arguments),
        Command::Controller(arguments) => controller::run(&arguments),
        Command::Plan(arguments) => plan::run(&arguments),
        Command::Simulate(arguments) => simulate::run(&arguments),
        Command::Soak(arguments) => soak::run(&arguments),
        Command::Crds(arguments) => crds::run(&arguments),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
        Err(Failure::Internal(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
        Err(Failure::InvariantViolated) => ExitCode::from(3),
        Err(Failure::PodsWaitedTooLong) => ExitCode::from(5),
        Err(Failure::Unschedulable(count)) => {
            eprintln!("{count} pod(s) cannot be scheduled; exit status 4");
            ExitCode::from(4)
        }
    }
}
