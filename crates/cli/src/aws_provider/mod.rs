//! `spotter controller --cloud-provider aws`: the AWS provider (`spotter-aws`) set up for the
//! Kubernetes driver, and the two loops that run beside the driver while the replica leads.
//!
//! At start ([`start`]) the SDK clients are made from the usual AWS chain (region from the
//! chain, else `--region`; `AWS_ENDPOINT_URL` points them at a local peer in the tests), the
//! cluster's endpoint, CA bundle and service CIDR are taken from the flags or else from EKS
//! `DescribeCluster` (as Karpenter does), the Kubernetes version from the API server, and the
//! region's instance types from EC2 and their on-demand prices from the Pricing API over the
//! embedded catalog. While leading, every EC2NodeClass is resolved once before the driver
//! starts, so that its first launches find them; then [`node_classes`] keeps each
//! EC2NodeClass's resolution, status and finalizer current (a deleted one's launch templates
//! and instance profile are deleted once no NodeClaim uses it), [`garbage_collection`]
//! terminates leaked instances and deletes NodeClaims whose instance is gone, and
//! [`refresh_catalog`] reads the instance types and prices again every [`CATALOG_REFRESH`]
//! (the intervals and the grace period are hidden flags, [`Timing`], for tests).

pub mod garbage_collection;
pub mod node_classes;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_config::BehaviorVersion;
use aws_config::Region;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use spotter_aws::catalog::{CatalogRead, CatalogSource, PriceSource, RegionCatalog};
use spotter_aws::garbage_collector::GRACE_PERIOD;
use spotter_aws::{AwsCloudProvider, ClusterOverrides, SdkEc2, SdkPricing};
use spotter_core::instance_type::InstanceType;
use spotter_kubernetes::events::Events;
use spotter_kubernetes::observation::Observation;
use spotter_metrics::Metrics;
use tokio::sync::mpsc;

/// How often the instance types, their zones, Spot and on-demand prices are read again.
/// Karpenter's pricing controller refreshes every 12 hours; Spotter ranks Spot offerings by
/// their prices, which move within hours, so it reads them every hour (four paged calls).
pub const CATALOG_REFRESH: Duration = Duration::from_secs(60 * 60);

/// The loops' intervals and the garbage collector's grace period (hidden flags, so that tests
/// see them act).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How often garbage is collected ([`garbage_collection::INTERVAL`]).
    pub garbage_collection_interval: Duration,
    /// How old a leak must be ([`GRACE_PERIOD`]).
    pub garbage_collection_grace: Duration,
    /// How often the catalog is read again ([`CATALOG_REFRESH`]).
    pub catalog_refresh: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            garbage_collection_interval: garbage_collection::INTERVAL,
            garbage_collection_grace: GRACE_PERIOD,
            catalog_refresh: CATALOG_REFRESH,
        }
    }
}

/// What `--cloud-provider aws` needs from the command line.
#[derive(Clone, Debug)]
pub struct AwsArguments {
    /// `--cluster-name`.
    pub cluster_name: String,
    /// `--cluster-endpoint`, `--cluster-ca-bundle`, `--service-cidr`.
    pub overrides: ClusterOverrides,
    /// `--ami-parameter-prefix`.
    pub ami_parameter_prefix: String,
    /// `--region`, used when the AWS chain has no region.
    pub fallback_region: String,
    /// The hidden timing flags.
    pub timing: Timing,
}

/// The provider, ready for the driver.
#[derive(Debug)]
pub struct AwsProvider {
    /// The provider, shared by the driver and the loops.
    pub provider: Arc<AwsCloudProvider<SdkEc2>>,
    /// The region's instance types.
    pub instance_types: Vec<InstanceType>,
    /// Whether they are the embedded catalog's alone (EC2 did not answer).
    pub embedded: bool,
    /// Why the on-demand prices are the embedded catalog's (`not_permitted`, ...), when the
    /// Pricing API did not answer with prices.
    pub prices_embedded_because: Option<&'static str>,
    /// The Pricing API client.
    pub pricing: SdkPricing,
    /// The hidden timing flags.
    pub timing: Timing,
    /// The region the clients call.
    pub region: String,
    /// The catalog reader (it logs a fallback to the embedded catalog once).
    pub catalog: Arc<RegionCatalog>,
}

/// Sets the provider up: clients, cluster settings and instance types.
pub async fn start(arguments: &AwsArguments, client: &kube::Client) -> anyhow::Result<AwsProvider> {
    let region_chain = RegionProviderChain::default_provider()
        .or_else(Region::new(arguments.fallback_region.clone()));
    // The provider retries with its own policy; the SDK's retries are off.
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(region_chain)
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    let region = config
        .region()
        .map_or_else(|| arguments.fallback_region.clone(), ToString::to_string);
    let version = client
        .apiserver_version()
        .await
        .context("failed to read the Kubernetes version from the API server")?;
    let kubernetes_version = kubernetes_version(&version.major, &version.minor);
    let mut cluster = spotter_aws::cluster_discovery::discover(
        &aws_sdk_eks::Client::new(&config),
        &arguments.cluster_name,
        &arguments.overrides,
        &kubernetes_version,
    )
    .await?;
    cluster.ami_parameter_prefix = arguments.ami_parameter_prefix.clone();
    tracing::info!(
        cluster = %cluster.name,
        endpoint = %cluster.endpoint,
        service_cidr = %cluster.service_cidr,
        kubernetes_version = %cluster.kubernetes_version,
        %region,
        "found the cluster nodes join"
    );
    let provider = Arc::new(
        AwsCloudProvider::new(SdkEc2::new(&config), cluster, region.clone())
            .with_grace_period(arguments.timing.garbage_collection_grace),
    );
    let pricing = SdkPricing::new(&config, &region);
    let catalog = Arc::new(RegionCatalog::default());
    let read = catalog
        .read(provider.ec2(), &pricing, &region, SystemTime::now())
        .await
        .context("--region (AWS_REGION)")?;
    let embedded = matches!(read.source, CatalogSource::Embedded { .. });
    let prices_embedded_because = prices_embedded_because(&read);
    match &read.source {
        CatalogSource::Api => tracing::info!(
            instance_types = read.instance_types.len(),
            %region,
            "read the region's instance types, zones and Spot prices from EC2"
        ),
        CatalogSource::Embedded { reason } => tracing::warn!(
            instance_types = read.instance_types.len(),
            %region,
            %reason,
            "using the embedded EC2 catalog: EC2 did not answer; allow ec2:DescribeInstanceTypes, ec2:DescribeInstanceTypeOfferings and ec2:DescribeSpotPriceHistory"
        ),
    }
    if let PriceSource::Api {
        instance_types,
        malformed,
    } = &read.on_demand_prices
    {
        tracing::info!(
            instance_types,
            malformed,
            %region,
            "read the region's on-demand prices from the Pricing API"
        );
    }
    Ok(AwsProvider {
        provider,
        instance_types: read.instance_types,
        embedded,
        prices_embedded_because,
        pricing,
        timing: arguments.timing,
        region,
        catalog,
    })
}

/// The metric reason when the on-demand prices are the embedded ones.
fn prices_embedded_because(read: &CatalogRead) -> Option<&'static str> {
    match &read.on_demand_prices {
        PriceSource::Api { .. } => None,
        PriceSource::Embedded { failure, .. } => Some(failure.as_str()),
    }
}

/// Runs the EC2NodeClass and garbage-collection loops until the future is dropped.
pub async fn run_beside_driver(
    client: kube::Client,
    provider: Arc<AwsCloudProvider<SdkEc2>>,
    events: Events,
    timing: Timing,
) {
    let node_classes =
        node_classes::NodeClasses::new(client.clone(), provider.clone(), events.clone());
    tokio::join!(
        node_classes.run(),
        garbage_collection::run(client, provider, events, timing.garbage_collection_interval),
    );
}

/// Reads the region's instance types and prices every [`Timing::catalog_refresh`] and hands
/// them to the driver through `observations`, until the driver is gone.
pub async fn refresh_catalog(
    aws: Arc<AwsProvider>,
    metrics: Arc<Mutex<Metrics>>,
    observations: mpsc::Sender<Observation>,
) {
    let mut every = tokio::time::interval(aws.timing.catalog_refresh);
    every.tick().await;
    loop {
        every.tick().await;
        let read = aws
            .catalog
            .read(
                aws.provider.ec2(),
                &aws.pricing,
                &aws.region,
                SystemTime::now(),
            )
            .await;
        let Ok(read) = read else {
            continue;
        };
        {
            let metrics = metrics.lock().unwrap_or_else(PoisonError::into_inner);
            metrics.catalog_read(matches!(read.source, CatalogSource::Embedded { .. }));
            metrics.on_demand_prices_read(prices_embedded_because(&read));
        }
        let observation = Observation::InstanceTypes(Arc::new(read.instance_types));
        if observations.send(observation).await.is_err() {
            return;
        }
    }
}

/// `1.34` from the API server's major and minor (EKS answers minors like `34+`).
fn kubernetes_version(major: &str, minor: &str) -> String {
    let digits = |text: &str| -> String { text.chars().take_while(char::is_ascii_digit).collect() };
    format!("{}.{}", digits(major), digits(minor))
}

#[cfg(test)]
mod tests {
    use super::kubernetes_version;
    use spotter_aws::pricing::PricingFailure;

    #[test]
    fn every_kind_of_pricing_failure_has_its_metric_series() {
        for failure in PricingFailure::ALL {
            assert!(
                spotter_metrics::ON_DEMAND_PRICE_FALLBACK_REASONS.contains(&failure.as_str()),
                "{failure:?}"
            );
        }
        assert_eq!(
            PricingFailure::ALL.len(),
            spotter_metrics::ON_DEMAND_PRICE_FALLBACK_REASONS.len()
        );
    }

    #[test]
    fn the_kubernetes_version_drops_what_eks_appends() {
        for (major, minor, expected) in [
            ("1", "34", "1.34"),
            ("1", "34+", "1.34"),
            ("1", "28", "1.28"),
        ] {
            assert_eq!(kubernetes_version(major, minor), expected);
        }
    }
}
