//! `spotter agent`: the node agent. It polls IMDSv2 on its node for interruption notices and
//! writes each on its own Node (a condition, and a taint for a Spot interruption) until SIGTERM
//! or Ctrl-C; with `--dry-run` it only logs them.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use spotter_agent::imds_client::{ClientConfig, DEFAULT_BASE_URL};
use spotter_agent::node_reporter::{NODE_NAME_ENV, NodeReporter};
use spotter_agent::poller::{Poller, PollerConfig};
use spotter_interruption::notice::Notice;
use tokio::sync::mpsc;

use crate::Failure;
use crate::shutdown::shutdown_signal;

/// How often a notice is tried on the Node before the agent gives up on it.
const REPORT_ATTEMPTS: u32 = 8;

/// Arguments of `spotter agent`.
#[derive(Debug, clap::Args)]
pub struct AgentArguments {
    /// The instance metadata service's base URL.
    #[arg(long, env = "SPOTTER_IMDS_URL", default_value = DEFAULT_BASE_URL)]
    pub imds_url: String,
    /// Time between two polls of IMDS (2s as NTH; AWS recommends 5s).
    #[arg(long, default_value = "2s", value_parser = crate::parse_duration_argument)]
    pub poll_interval: Duration,
    /// The timeout of one IMDS request.
    #[arg(long, default_value = "2s", value_parser = crate::parse_duration_argument)]
    pub imds_timeout: Duration,
    /// The Node to report on (the downward API's spec.nodeName).
    #[arg(long, env = NODE_NAME_ENV)]
    pub node_name: Option<String>,
    /// Log the notices, write nothing on the Node (no Kubernetes client is made).
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the agent until SIGTERM or Ctrl-C.
pub fn run(arguments: &AgentArguments) -> Result<(), Failure> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
        .map_err(Failure::Internal)?;
    runtime.block_on(run_agent(arguments))
}

async fn run_agent(arguments: &AgentArguments) -> Result<(), Failure> {
    let config = PollerConfig {
        client: ClientConfig {
            base_url: arguments.imds_url.clone(),
            request_timeout: arguments.imds_timeout,
            ..ClientConfig::default()
        },
        poll_interval: arguments.poll_interval,
        ..PollerConfig::default()
    };
    let poller = Poller::new(config)
        .context("failed to set up the IMDS client")
        .map_err(Failure::Input)?;
    let reporter = if arguments.dry_run {
        None
    } else {
        let node_name = arguments
            .node_name
            .clone()
            .filter(|name| !name.trim().is_empty())
            .ok_or_else(|| {
                Failure::Input(anyhow::anyhow!(
                    "failed to find the node to report on: set --node-name or {NODE_NAME_ENV}, or pass --dry-run"
                ))
            })?;
        let client = kube::Client::try_default()
            .await
            .context("failed to make a Kubernetes client (in-cluster or KUBECONFIG)")
            .map_err(Failure::Input)?;
        Some(NodeReporter::new(client, node_name))
    };
    tracing::info!(
        imds = %arguments.imds_url,
        poll_interval = ?arguments.poll_interval,
        node = reporter.as_ref().map(NodeReporter::node_name).unwrap_or("(dry run)"),
        "spotter agent started"
    );
    let (sender, mut notices) = mpsc::channel::<Notice>(16);
    let poller_task = tokio::spawn(poller.run(sender, shutdown_signal()));
    while let Some(notice) = notices.recv().await {
        tracing::info!(
            instance = %notice.instance_id,
            kind = %notice.kind.class(),
            notice = ?notice.kind,
            "interruption notice"
        );
        if let Some(reporter) = &reporter {
            report(reporter, &notice).await;
        }
    }
    // The poller drops its sender when the shutdown signal arrives.
    poller_task
        .await
        .context("the IMDS poller failed")
        .map_err(Failure::Internal)?;
    tracing::info!("spotter agent stopped");
    Ok(())
}

/// Writes `notice` on the Node, retrying with a growing pause; a notice that still fails is
/// logged and dropped (the controller also hears of it from the queue when one is set up).
async fn report(reporter: &NodeReporter, notice: &Notice) {
    let mut pause = Duration::from_millis(500);
    for attempt in 1..=REPORT_ATTEMPTS {
        match reporter.report(notice, SystemTime::now()).await {
            Ok(()) => {
                tracing::info!(node = reporter.node_name(), kind = %notice.kind.class(), "notice written on the Node");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, attempt, "failed to write the notice on the Node");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(8));
            }
        }
    }
    tracing::error!(kind = %notice.kind.class(), "gave up writing the notice on the Node");
}
