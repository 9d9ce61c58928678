//! `spotter controller`: Spotter in a cluster. It makes a Kubernetes client (in-cluster, or
//! `--kubeconfig`/`KUBECONFIG`), serves `/metrics`, `/healthz` and `/readyz`, takes part in
//! leader election on a Lease, and once it leads runs the Kubernetes driver
//! ([`spotter_kubernetes::run`]) with the chosen cloud provider until SIGTERM or Ctrl-C, or
//! until it loses the Lease (then it exits with an error, and Kubernetes restarts it as a
//! standby, as controller-runtime does). With `--interruption-queue` it also reads the SQS
//! interruption queue ([`crate::interruption_queue`]) while it leads.
//!
//! Every flag also reads the environment variable Karpenter's chart uses for it
//! (`CLUSTER_NAME`, `BATCH_IDLE_DURATION`, `FEATURE_GATES`, ...), so that the Helm chart sets
//! them as env.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use clap::ValueEnum;
use spotter_cloud::CloudProvider;
use spotter_controllers::{Policy, Settings};
use spotter_core::offering_ranking::SpotRanking;
use spotter_fake_cloud::{FakeCloud, FakeCloudSettings};
use spotter_kubernetes::DriverConfig;
use spotter_kubernetes::leader_election::{self, LeaderElectionConfig};
use spotter_metrics::Metrics;
use spotter_server::{Endpoints, ServerThread};
use tokio::sync::watch;

use crate::feature_gates::FeatureGates;
use crate::interruption_queue::{self, QueueSource};
use crate::metrics_endpoint::MetricsEndpoint;
use crate::shutdown::shutdown_signal;
use crate::{Failure, parse_duration_argument, policy_parser};

/// The Lease the replicas elect their leader on.
pub const LEASE_NAME: &str = "spotter-leader-election";

/// Where EKS publishes its optimized AMI IDs in SSM (the default of --ami-parameter-prefix).
pub const AMI_PARAMETER_PREFIX: &str = "/aws/service/eks/optimized-ami";

/// Arguments of `spotter controller`.
#[derive(Debug, clap::Args)]
pub struct ControllerArguments {
    /// A kubeconfig file; without it, the in-cluster service account, or KUBECONFIG, or
    /// ~/.kube/config.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Where instances come from: aws (EC2) or fake (Node objects with no machine behind them,
    /// like Karpenter's kwok provider; for trying Spotter on any cluster).
    #[arg(long, env = "CLOUD_PROVIDER", value_enum, default_value_t = CloudProviderName::Aws)]
    pub cloud_provider: CloudProviderName,
    /// The cluster's name (tags and node bootstrap; required with --cloud-provider aws).
    #[arg(long, env = "CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// The cluster's API endpoint nodes join (--cloud-provider aws) [default: from EKS
    /// DescribeCluster].
    #[arg(long, env = "CLUSTER_ENDPOINT")]
    pub cluster_endpoint: Option<String>,
    /// The cluster's CA bundle, base64-encoded, for node bootstrap (--cloud-provider aws)
    /// [default: from EKS DescribeCluster].
    #[arg(long, env = "CLUSTER_CA_BUNDLE")]
    pub cluster_ca_bundle: Option<String>,
    /// The cluster's service CIDR, for node bootstrap (--cloud-provider aws) [default: from
    /// EKS DescribeCluster].
    #[arg(long, env = "SERVICE_CIDR")]
    pub service_cidr: Option<String>,
    /// The SSM path under which the EKS-optimized AMI IDs are published (amiSelectorTerms
    /// aliases such as al2023@latest).
    #[arg(long, env = "AMI_PARAMETER_PREFIX", default_value = AMI_PARAMETER_PREFIX)]
    pub ami_parameter_prefix: String,
    /// The AWS region when the AWS chain has none (with --cloud-provider fake: the region of
    /// the embedded catalog whose instance types and prices it launches).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// The policy the controllers run with: spotter (Spot ranking, backoff, interruption
    /// awareness, return to Spot) or karpenter (plain Karpenter v1).
    #[arg(long, env = "SPOTTER_POLICY", value_name = "POLICY", default_value = "spotter", value_parser = policy_parser())]
    pub policy: Policy,
    /// How long pending pods must stay unchanged before a batch is provisioned (Karpenter's
    /// BATCH_IDLE_DURATION).
    #[arg(long, env = "BATCH_IDLE_DURATION", default_value = "1s", value_parser = parse_duration_argument)]
    pub batch_idle_duration: Duration,
    /// The longest a batch of pending pods waits before it is provisioned (Karpenter's
    /// BATCH_MAX_DURATION).
    #[arg(long, env = "BATCH_MAX_DURATION", default_value = "10s", value_parser = parse_duration_argument)]
    pub batch_max_duration: Duration,
    /// With --policy spotter: solve an open batch every 250 ms and create at once the
    /// NodeClaims it already fills (and nominate pods that fit room in flight), instead of
    /// waiting for the batch to close; false batches as Karpenter does.
    #[arg(long, env = "EARLY_LAUNCHES", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub early_launches: bool,
    /// How long an offering EC2 refused for insufficient capacity is not tried again
    /// (Karpenter's 3m; with --policy spotter it doubles on consecutive refusals, up to 30m).
    #[arg(long, env = "UNAVAILABLE_OFFERING_TTL", default_value = "3m", value_parser = parse_duration_argument)]
    pub unavailable_offering_ttl: Duration,
    /// With --policy spotter: how long Spot must have gone without a capacity refusal or an
    /// interruption before fallback nodes are returned to it.
    #[arg(long, env = "RETURN_TO_SPOT_AFTER", default_value = "5m", value_parser = parse_duration_argument)]
    pub return_to_spot_after: Duration,
    /// Karpenter's feature gates, `Name=true|false` comma-separated (e.g.
    /// SpotToSpotConsolidation=true).
    #[arg(long, env = "FEATURE_GATES", default_value = "")]
    pub feature_gates: String,
    /// Replace a Spot node EC2 sends a rebalance recommendation for before it is interrupted:
    /// a replacement of another instance type is launched, and the node is drained once the
    /// replacement is ready, within the NodePool budgets that cover `Drifted`. Off by default,
    /// as in Karpenter, which only records the recommendation.
    #[arg(long, env = "REBALANCE_REPLACEMENT", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rebalance_replacement: bool,
    /// The SQS queue EventBridge fills with EC2 interruption events (Karpenter's
    /// INTERRUPTION_QUEUE), a name or a URL. Credentials and region come from the usual AWS
    /// chain (the region falls back to --region); AWS_ENDPOINT_URL_SQS overrides the endpoint.
    #[arg(long, env = "INTERRUPTION_QUEUE")]
    pub interruption_queue: Option<String>,
    /// Serve /metrics (and /healthz, /readyz) on this address.
    #[arg(long, env = "METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,
    /// Serve /healthz and /readyz (and /metrics) on this address.
    #[arg(long, env = "HEALTH_ADDRESS", default_value = "0.0.0.0:8081")]
    pub health_address: SocketAddr,
    /// The namespace of the leader-election Lease and of the fake provider's faults ConfigMap.
    #[arg(long, env = "SYSTEM_NAMESPACE", default_value = "spotter")]
    pub system_namespace: String,
    /// Run without leader election (a single replica only).
    #[arg(long, env = "DISABLE_LEADER_ELECTION", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub disable_leader_election: bool,
    /// This replica's name in the Lease and in events [default: POD_NAME, else the host name].
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// With --cloud-provider aws: how often garbage is collected (leaked instances
    /// terminated, NodeClaims whose instance is gone deleted). Karpenter's 2m; for tests.
    #[arg(long, env = "GARBAGE_COLLECTION_INTERVAL", default_value = "2m", value_parser = parse_duration_argument, hide = true)]
    pub garbage_collection_interval: Duration,
    /// With --cloud-provider aws: how old an instance without NodeClaim (or a NodeClaim's
    /// launch without instance) must be before garbage collection acts on it. Karpenter's
    /// 30s; for tests.
    #[arg(long, env = "GARBAGE_COLLECTION_GRACE", default_value = "30s", value_parser = parse_duration_argument, hide = true)]
    pub garbage_collection_grace: Duration,
    /// With --cloud-provider aws: how often the instance types, zones and prices are read
    /// again from EC2 and the Pricing API. For tests.
    #[arg(long, env = "CATALOG_REFRESH_INTERVAL", default_value = "1h", value_parser = parse_duration_argument, hide = true)]
    pub catalog_refresh_interval: Duration,
    /// How often the cloud is asked which nodes drifted from their EC2NodeClass (AMI,
    /// subnets, security groups). For tests.
    #[arg(long, env = "DRIFT_CHECK_INTERVAL", default_value = "5m", value_parser = parse_duration_argument, hide = true)]
    pub drift_check_interval: Duration,
    /// How often EC2's Spot placement scores are read for the cheapest Spot instance types
    /// the NodePools allow (with --cloud-provider aws and the spotter policy, whose ranking
    /// weighs them); 0 never reads them.
    #[arg(long, env = "PLACEMENT_SCORE_INTERVAL", default_value = "30m", value_parser = parse_duration_argument)]
    pub placement_score_interval: Duration,
    /// With --cloud-provider fake: the time from a launch to its Node.
    #[arg(long, default_value = "2s", value_parser = parse_duration_argument)]
    pub fake_launch_delay: Duration,
    /// The least severe log level written: error, warn, info, debug or trace.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: tracing::Level,
    /// Log lines as JSON objects (for log pipelines) or as text for a person.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

/// The cloud providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudProviderName {
    /// EC2.
    Aws,
    /// Node objects with no machine behind them.
    Fake,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object a line.
    Json,
    /// Text for a person.
    Text,
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub fn run(arguments: &ControllerArguments) -> Result<(), Failure> {
    init_logging(arguments);
    let settings = settings(arguments).map_err(Failure::Input)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
        .map_err(Failure::Internal)?;
    runtime.block_on(run_controller(arguments, settings))
}

/// The controllers' settings from the flags.
fn settings(arguments: &ControllerArguments) -> anyhow::Result<Settings> {
    if arguments.cloud_provider == CloudProviderName::Aws {
        if !cfg!(feature = "aws") {
            return Err(anyhow!(
                "--cloud-provider aws (CLOUD_PROVIDER): this spotter was built without the `aws` cargo feature; use a build with the default features, or --cloud-provider fake"
            ));
        }
        if arguments
            .cluster_name
            .as_deref()
            .is_none_or(|name| name.trim().is_empty())
        {
            return Err(anyhow!(
                "--cloud-provider aws needs --cluster-name (CLUSTER_NAME): the EKS cluster's name, which tags the instances and finds its endpoint"
            ));
        }
    }
    if let Some(queue) = &arguments.interruption_queue {
        if !interruption_queue::AVAILABLE {
            return Err(interruption_queue::QueueSourceError::Unavailable {
                queue: queue.clone(),
            }
            .into());
        }
        if queue.trim().is_empty() {
            return Err(anyhow!(
                "--interruption-queue (INTERRUPTION_QUEUE) is empty: name the SQS queue, or unset it"
            ));
        }
    }
    if arguments.batch_idle_duration.is_zero() {
        return Err(anyhow!(
            "--batch-idle-duration (BATCH_IDLE_DURATION) must be longer than 0s"
        ));
    }
    if arguments.batch_max_duration < arguments.batch_idle_duration {
        return Err(anyhow!(
            "--batch-max-duration ({:?}) must not be shorter than --batch-idle-duration ({:?})",
            arguments.batch_max_duration,
            arguments.batch_idle_duration
        ));
    }
    let feature_gates: FeatureGates = arguments
        .feature_gates
        .parse()
        .context("--feature-gates (FEATURE_GATES)")?;
    if arguments.unavailable_offering_ttl.is_zero() {
        return Err(anyhow!(
            "--unavailable-offering-ttl (UNAVAILABLE_OFFERING_TTL) must be longer than 0s"
        ));
    }
    let mut settings = Settings {
        batch_idle: arguments.batch_idle_duration,
        batch_max: arguments.batch_max_duration,
        unavailable_offering_ttl: arguments.unavailable_offering_ttl,
        rebalance_replacement: arguments.rebalance_replacement,
        ..Settings::for_policy(arguments.policy)
    };
    if !arguments.early_launches {
        settings.early_launch_interval = None;
    }
    if let Some(return_to_spot) = settings.return_to_spot.as_mut() {
        return_to_spot.min_spot_available = arguments.return_to_spot_after;
    }
    feature_gates.apply(&mut settings);
    Ok(settings)
}

fn init_logging(arguments: &ControllerArguments) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(arguments.log_level);
    match arguments.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run_controller(
    arguments: &ControllerArguments,
    settings: Settings,
) -> Result<(), Failure> {
    let client = client(arguments.kubeconfig.as_ref())
        .await
        .map_err(Failure::Input)?;
    // Every replica sets its provider up at start, so that a cluster or region it cannot use
    // is an error at once, on the standby too.
    #[cfg(feature = "aws")]
    let aws = match arguments.cloud_provider {
        CloudProviderName::Aws => Some(
            crate::aws_provider::start(&aws_arguments(arguments), &client)
                .await
                .map(Arc::new)
                .map_err(Failure::Input)?,
        ),
        CloudProviderName::Fake => None,
    };
    let instance_types = {
        #[cfg(feature = "aws")]
        let from_aws = aws.as_ref().map(|aws| aws.instance_types.clone());
        #[cfg(not(feature = "aws"))]
        let from_aws = None;
        match from_aws {
            Some(instance_types) => Arc::new(instance_types),
            None => {
                let catalog = spotter_catalog::embedded();
                let region = catalog.region(&arguments.region).map_err(|error| {
                    Failure::Input(anyhow!(error).context("--region (AWS_REGION)"))
                })?;
                Arc::new(spotter_catalog::instance_types::instance_types(region))
            }
        }
    };
    let identity = identity(arguments.identity.as_deref());
    // Every replica finds the queue at start, so that a queue that does not exist or may not
    // be read is an error at once, on the standby too; only the leader polls it (below).
    let queue = match &arguments.interruption_queue {
        Some(name) => {
            let queue = QueueSource::open(name, &arguments.region)
                .await
                .map_err(|error| Failure::Input(error.into()))?;
            tracing::info!(
                queue = queue.name(),
                region = queue.region(),
                "found the interruption queue"
            );
            Some(queue)
        }
        None => None,
    };

    let metrics = Metrics::new(provider_label(arguments.cloud_provider));
    #[cfg(feature = "aws")]
    if let Some(aws) = &aws {
        metrics.catalog_read(aws.embedded);
        metrics.on_demand_prices_read(aws.prices_embedded_because);
    }
    let endpoints = Endpoints::new(MetricsEndpoint::of(&metrics));
    let metrics = Arc::new(Mutex::new(metrics));
    let readiness = endpoints.readiness();
    let _metrics_server = ServerThread::start(arguments.metrics_address, &endpoints)
        .map_err(|error| Failure::Input(anyhow!(error).context("--metrics-address")))?;
    let _health_server = if arguments.health_address == arguments.metrics_address {
        None
    } else {
        Some(
            ServerThread::start(arguments.health_address, &endpoints)
                .map_err(|error| Failure::Input(anyhow!(error).context("--health-address")))?,
        )
    };

    let (stop_sender, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_sender.send(true);
    });

    let mut leadership = if arguments.disable_leader_election {
        tracing::warn!("leader election is off: run a single replica only");
        None
    } else {
        let config = LeaderElectionConfig {
            namespace: arguments.system_namespace.clone(),
            lease_name: LEASE_NAME.to_owned(),
            identity: identity.clone(),
        };
        tokio::select! {
            result = leader_election::acquire(client.clone(), &config) => {
                Some(result.map_err(|error| Failure::Internal(error.into()))?)
            }
            () = stopped(stop.clone()) => return Ok(()),
        }
    };

    // Only Spotter's ranking weighs the scores (the karpenter preset ranks by price alone).
    let placement_score_interval = (matches!(
        settings.spot_ranking,
        SpotRanking::PriceCapacityOptimized(_)
    ) && !arguments.placement_score_interval.is_zero())
    .then_some(arguments.placement_score_interval);
    let config = DriverConfig {
        settings,
        seed: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64),
        instance_types: instance_types.clone(),
        identity: Some(identity),
        node_class_status: arguments.cloud_provider == CloudProviderName::Aws,
        drift_check_interval: arguments.drift_check_interval,
        placement_score_interval,
    };
    tracing::info!(
        cloud_provider = ?arguments.cloud_provider,
        policy = %arguments.policy,
        region = %arguments.region,
        "spotter controller started"
    );
    let driver = async {
        match arguments.cloud_provider {
            CloudProviderName::Fake => {
                let cloud = FakeCloud::new(
                    client.clone(),
                    instance_types,
                    FakeCloudSettings {
                        launch_delay: arguments.fake_launch_delay,
                        namespace: arguments.system_namespace.clone(),
                        ..FakeCloudSettings::default()
                    },
                );
                let kubelet = tokio::spawn(spotter_fake_cloud::run_kubelet(client.clone()));
                let result = run_driver(
                    client.clone(),
                    Arc::new(cloud),
                    config,
                    &metrics,
                    &readiness,
                    stop,
                    queue.as_ref(),
                    |_| Vec::new(),
                )
                .await;
                kubelet.abort();
                result
            }
            #[cfg(feature = "aws")]
            CloudProviderName::Aws => {
                let Some(aws) = aws.clone() else {
                    return Err(Failure::Internal(anyhow!(
                        "the AWS provider was not set up"
                    )));
                };
                let events = spotter_kubernetes::events::Events::new(
                    client.clone(),
                    config.identity.clone(),
                );
                crate::aws_provider::node_classes::NodeClasses::new(
                    client.clone(),
                    aws.provider.clone(),
                    events.clone(),
                )
                .load_all()
                .await
                .map_err(Failure::Input)?;
                let _beside =
                    AbortOnDrop(vec![tokio::spawn(crate::aws_provider::run_beside_driver(
                        client.clone(),
                        aws.provider.clone(),
                        events,
                        aws.timing,
                    ))]);
                let provider = aws.provider.clone();
                let refresh_metrics = metrics.clone();
                run_driver(
                    client.clone(),
                    provider,
                    config,
                    &metrics,
                    &readiness,
                    stop,
                    queue.as_ref(),
                    move |observations| {
                        vec![tokio::spawn(crate::aws_provider::refresh_catalog(
                            aws,
                            refresh_metrics,
                            observations,
                        ))]
                    },
                )
                .await
            }
            // Refused by `settings` before anything started.
            #[cfg(not(feature = "aws"))]
            CloudProviderName::Aws => Err(Failure::Input(anyhow!(
                "--cloud-provider aws needs the `aws` cargo feature"
            ))),
        }
    };
    let result = match leadership.as_mut() {
        None => driver.await,
        Some(leadership) => tokio::select! {
            result = driver => result,
            () = leadership.lost() => Err(Failure::Internal(anyhow!(
                "lost the leader-election Lease {}/{LEASE_NAME}; stopping so that another replica leads",
                arguments.system_namespace
            ))),
        },
    };
    readiness.set(false);
    tracing::info!("spotter controller stopped");
    result
}

/// Runs the driver until the stop signal, and with `queue` reads the interruption queue
/// beside it, feeding the driver its notices. This runs only once the replica leads: a
/// standby does not poll the queue (as Karpenter's interruption controller runs in the
/// elected leader only), so a message is received by the one replica that acts on it and is
/// not hidden from it by a standby's receive. A queue that can no longer be read (access
/// taken away, the queue deleted) stops the controller with the error, rather than leaving it
/// running deaf to interruptions. `beside` starts the provider's own tasks that feed the
/// driver (given its observation channel); they are stopped with it.
#[allow(clippy::too_many_arguments)]
async fn run_driver<P: CloudProvider + 'static>(
    client: kube::Client,
    cloud: Arc<P>,
    config: DriverConfig,
    metrics: &Arc<Mutex<Metrics>>,
    readiness: &spotter_server::Readiness,
    stop: watch::Receiver<bool>,
    queue: Option<&QueueSource>,
    beside: impl FnOnce(
        tokio::sync::mpsc::Sender<spotter_kubernetes::observation::Observation>,
    ) -> Vec<tokio::task::JoinHandle<()>>,
) -> Result<(), Failure> {
    let driver = spotter_kubernetes::Driver::new(
        client.clone(),
        cloud,
        config,
        metrics.clone(),
        readiness.flag(),
    );
    let observations = driver.sender();
    let tasks = beside(driver.sender());
    let _stop_tasks = AbortOnDrop(tasks);
    let driving = spotter_kubernetes::run_driver(&client, driver, stopped(stop.clone()));
    let Some(queue) = queue else {
        driving.await;
        return Ok(());
    };
    tokio::pin!(driving);
    let feeding = queue.feed(metrics, observations, stopped(stop));
    tokio::select! {
        () = &mut driving => Ok(()),
        fed = feeding => match fed {
            Ok(()) => {
                driving.await;
                Ok(())
            }
            Err(error) => Err(Failure::Input(anyhow::Error::from(error).context(
                "stopped reading the interruption queue; stopping so that the error is seen",
            ))),
        },
    }
}

/// Aborts its tasks when dropped.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Completes once the stop signal has been given.
async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender is gone, which happens only when the process stops.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// A Kubernetes client from `kubeconfig`, or inferred (in-cluster, KUBECONFIG, ~/.kube/config).
async fn client(kubeconfig: Option<&PathBuf>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("failed to read --kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("failed to use --kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer().await.context(
            "failed to find the cluster: run in a pod with a service account, set KUBECONFIG, or pass --kubeconfig",
        )?,
    };
    kube::Client::try_from(config).context("failed to make a Kubernetes client")
}

/// What the AWS provider needs from the flags.
#[cfg(feature = "aws")]
fn aws_arguments(arguments: &ControllerArguments) -> crate::aws_provider::AwsArguments {
    crate::aws_provider::AwsArguments {
        cluster_name: arguments.cluster_name.clone().unwrap_or_default(),
        overrides: spotter_aws::ClusterOverrides {
            endpoint: arguments.cluster_endpoint.clone(),
            certificate_authority: arguments.cluster_ca_bundle.clone(),
            service_cidr: arguments.service_cidr.clone(),
        },
        ami_parameter_prefix: arguments.ami_parameter_prefix.clone(),
        fallback_region: arguments.region.clone(),
        timing: crate::aws_provider::Timing {
            garbage_collection_interval: arguments.garbage_collection_interval,
            garbage_collection_grace: arguments.garbage_collection_grace,
            catalog_refresh: arguments.catalog_refresh_interval,
        },
    }
}

/// This replica's name: the flag (POD_NAME), else the host name, else the process id.
fn identity(flag: Option<&str>) -> String {
    flag.map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|name| !name.is_empty())
        })
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| format!("spotter-{}", std::process::id()))
}

fn provider_label(provider: CloudProviderName) -> &'static str {
    match provider {
        CloudProviderName::Aws => "aws",
        CloudProviderName::Fake => "fake",
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        arguments: ControllerArguments,
    }

    #[test]
    fn flags_become_settings_or_a_clear_error() {
        let cases: [(&[&str], Option<&str>); 15] = [
            (&["--cloud-provider=fake"], None),
            (&["--cloud-provider=fake", "--early-launches=false"], None),
            (
                &[
                    "--cloud-provider=fake",
                    "--policy=karpenter",
                    "--early-launches",
                ],
                None,
            ),
            (
                &["--cloud-provider=fake", "--early-launches=soon"],
                Some("--early-launches"),
            ),
            (&["--cloud-provider=fake", "--rebalance-replacement"], None),
            (
                &["--cloud-provider=fake", "--rebalance-replacement=yes"],
                Some("--rebalance-replacement"),
            ),
            (
                &[
                    "--cloud-provider=fake",
                    "--policy=karpenter",
                    "--batch-idle-duration=2s",
                ],
                None,
            ),
            (&["--cloud-provider=aws"], Some("needs --cluster-name")),
            (
                &["--cloud-provider=aws", "--cluster-name= "],
                Some("needs --cluster-name"),
            ),
            (
                &["--cloud-provider=aws", "--cluster-name=seed"],
                (!cfg!(feature = "aws")).then_some("built without the `aws` cargo feature"),
            ),
            (
                &["--cloud-provider=fake", "--interruption-queue=spotter"],
                (!interruption_queue::AVAILABLE).then_some("built without the `aws` cargo feature"),
            ),
            (
                &["--cloud-provider=fake", "--interruption-queue= "],
                Some("--interruption-queue (INTERRUPTION_QUEUE) is empty"),
            ),
            (
                &["--cloud-provider=fake", "--batch-idle-duration=0s"],
                Some("--batch-idle-duration"),
            ),
            (
                &["--cloud-provider=fake", "--batch-idle-duration=20s"],
                Some("must not be shorter than --batch-idle-duration"),
            ),
            (
                &["--cloud-provider=fake", "--feature-gates=Drift=true"],
                Some("unknown feature gate"),
            ),
        ];
        for (flags, expected) in cases {
            let command = match Command::try_parse_from(
                std::iter::once("controller").chain(flags.iter().copied()),
            ) {
                Ok(command) => command,
                Err(error) => {
                    // A value clap refuses: its message must name the flag.
                    let message = expected.unwrap_or_else(|| panic!("{flags:?}: {error}"));
                    assert!(error.to_string().contains(message), "{flags:?}: {error}");
                    continue;
                }
            };
            match (settings(&command.arguments), expected) {
                (Ok(settings), None) => {
                    assert_eq!(settings.batch_idle, command.arguments.batch_idle_duration);
                    assert_eq!(settings.policy, command.arguments.policy);
                    assert_eq!(
                        settings.rebalance_replacement,
                        flags.contains(&"--rebalance-replacement")
                    );
                    // Early launches are the preset's, and the flag turns them off.
                    assert_eq!(
                        settings.early_launch_interval,
                        Settings::for_policy(command.arguments.policy)
                            .early_launch_interval
                            .filter(|_| !flags.contains(&"--early-launches=false"))
                    );
                }
                (Err(error), Some(message)) => {
                    assert!(
                        format!("{error:#}").contains(message),
                        "{flags:?}: {error:#}"
                    );
                }
                (result, expected) => panic!("{flags:?}: got {result:?}, expected {expected:?}"),
            }
        }
    }

    #[cfg(feature = "aws")]
    #[test]
    fn the_hidden_timing_flags_default_to_karpenters_timings_and_can_be_shortened() {
        let cases: [(&[&str], crate::aws_provider::Timing); 2] = [
            (&[], crate::aws_provider::Timing::default()),
            (
                &[
                    "--garbage-collection-interval=2s",
                    "--garbage-collection-grace=10s",
                    "--catalog-refresh-interval=1m",
                ],
                crate::aws_provider::Timing {
                    garbage_collection_interval: Duration::from_secs(2),
                    garbage_collection_grace: Duration::from_secs(10),
                    catalog_refresh: Duration::from_secs(60),
                },
            ),
        ];
        for (flags, expected) in cases {
            let command = Command::try_parse_from(
                ["controller", "--cluster-name=seed"]
                    .into_iter()
                    .chain(flags.iter().copied()),
            )
            .unwrap_or_else(|error| panic!("{flags:?}: {error}"));
            assert_eq!(
                aws_arguments(&command.arguments).timing,
                expected,
                "{flags:?}"
            );
        }
    }
}
