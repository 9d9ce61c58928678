//! [`AwsCloudProvider`]: the `CloudProvider` on EC2. It keeps the EC2NodeClass specs it was
//! given and their resolutions, makes sure the launch templates exist, launches with one
//! CreateFleet per NodeClaim, finds instances by their tags, terminates them, tells which
//! drifted from their node class, reads EC2's Spot placement scores per zone, and collects
//! garbage. Calls the cloud throttles or fails transiently are retried a few times with
//! backoff before the typed error reaches the caller.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spotter_cloud::{
    CloudError, CloudProvider, Instance, LaunchRequest, Launched, NodeClassDrift, OfferingKey,
    PlacementScoreRequest,
};
use spotter_core::placement_scores::PlacementScores;

use crate::cluster::ClusterSettings;
use crate::drift::instance_drift;
use crate::ec2::{Ec2, Ec2Error};
use crate::embedded_catalog::{architecture_of, price_of};
use crate::errors::cloud_error;
use crate::fleet::{fleet_request, launch_outcome, tags};
use crate::garbage_collector::{ExistingNodeClaim, GRACE_PERIOD, Garbage, find_garbage};
use crate::instance_profile::{delete_instance_profile, instance_profile_name};
use crate::instances::{cluster_filters, node_claim_filters, to_instance};
use crate::launch_template::{LaunchTemplates, template_request};
use crate::node_class::{Architecture, NodeClassError, ResolvedNodeClass, resolve};
use crate::node_class_spec::Ec2NodeClassSpec;
use crate::retry::RetryPolicy;
use crate::sdk::SdkEc2;

/// How long a node class's resolution is reused before its selectors are resolved again (new
/// AMI releases, new subnets), as Karpenter refreshes its EC2NodeClass status.
pub const RESOLUTION_TTL: Duration = Duration::from_secs(5 * 60);

/// What deleting an EC2NodeClass removed from the cloud.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletedNodeClass {
    /// The launch templates deleted.
    pub launch_templates: Vec<String>,
    /// The instance profile deleted, when Spotter had made one for the class's `role`.
    pub instance_profile: Option<String>,
}

/// Whether resolving `spec` makes an instance profile (a `role` and no `instanceProfile`).
fn creates_instance_profile(spec: &Ec2NodeClassSpec) -> bool {
    let named = spec
        .instance_profile
        .as_deref()
        .is_some_and(|profile| !profile.is_empty());
    !named && spec.role.as_deref().is_some_and(|role| !role.is_empty())
}

/// The AWS CloudProvider.
#[derive(Debug)]
pub struct AwsCloudProvider<E = SdkEc2> {
    ec2: E,
    cluster: ClusterSettings,
    region: String,
    retry: RetryPolicy,
    grace_period: Duration,
    node_classes: RwLock<BTreeMap<String, Ec2NodeClassSpec>>,
    resolved: Mutex<BTreeMap<String, (Instant, ResolvedNodeClass)>>,
    launch_templates: LaunchTemplates,
}

impl AwsCloudProvider<SdkEc2> {
    /// A provider on the SDK clients, configured from the standard chain (region,
    /// credentials, `AWS_ENDPOINT_URL`).
    pub async fn from_env(cluster: ClusterSettings) -> Self {
        let ec2 = SdkEc2::from_env().await;
        let region = ec2.region().unwrap_or_default();
        AwsCloudProvider::new(ec2, cluster, region)
    }
}

impl<E: Ec2> AwsCloudProvider<E> {
    /// A provider calling `ec2` for `cluster` in `region`.
    pub fn new(ec2: E, cluster: ClusterSettings, region: impl Into<String>) -> Self {
        AwsCloudProvider {
            ec2,
            cluster,
            region: region.into(),
            retry: RetryPolicy::default(),
            grace_period: GRACE_PERIOD,
            node_classes: RwLock::new(BTreeMap::new()),
            resolved: Mutex::new(BTreeMap::new()),
            launch_templates: LaunchTemplates::default(),
        }
    }

    /// Replaces the retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the garbage collector's grace period.
    pub fn with_grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// The EC2 seam.
    pub fn ec2(&self) -> &E {
        &self.ec2
    }

    /// The cluster.
    pub fn cluster(&self) -> &ClusterSettings {
        &self.cluster
    }

    /// Adds or replaces an EC2NodeClass (its resolution is redone on next use).
    pub fn set_node_class(&self, name: &str, spec: Ec2NodeClassSpec) {
        if let Ok(mut node_classes) = self.node_classes.write() {
            node_classes.insert(name.to_string(), spec);
        }
        self.forget_resolution(name);
    }

    /// Forgets an EC2NodeClass's resolution, so that the next launch resolves it again.
    pub fn forget_resolution(&self, name: &str) {
        if let Ok(mut resolved) = self.resolved.lock() {
            resolved.remove(name);
        }
    }

    /// Removes an EC2NodeClass from the cloud: deletes the launch templates made from it and
    /// the instance profile Spotter made for its `role` (none when it names an
    /// `instanceProfile`), then forgets it. On error nothing is forgotten, so that a retry
    /// deletes what is left.
    pub async fn delete_node_class(&self, name: &str) -> Result<DeletedNodeClass, CloudError> {
        let spec = self
            .node_classes
            .read()
            .ok()
            .and_then(|node_classes| node_classes.get(name).cloned());
        let what = format!("launch templates of EC2NodeClass {name}");
        let launch_templates = self
            .call(&what, || {
                self.launch_templates
                    .delete_for_node_class(&self.ec2, &self.cluster, name)
            })
            .await?;
        let mut instance_profile = None;
        if spec.as_ref().is_some_and(creates_instance_profile) {
            let profile = instance_profile_name(&self.cluster.name, &self.region, name);
            let what = format!("instance profile {profile} of EC2NodeClass {name}");
            let existed = self
                .call(&what, || delete_instance_profile(&self.ec2, &profile))
                .await?;
            if existed {
                instance_profile = Some(profile);
            }
        }
        if let Ok(mut node_classes) = self.node_classes.write() {
            node_classes.remove(name);
        }
        self.forget_resolution(name);
        Ok(DeletedNodeClass {
            launch_templates,
            instance_profile,
        })
    }

    /// The EC2NodeClass `name` resolved (remembered for [`RESOLUTION_TTL`], until its spec
    /// changes or [`Self::forget_resolution`]); this is what its status reports.
    pub async fn resolve_node_class(
        &self,
        name: &str,
    ) -> Result<ResolvedNodeClass, NodeClassError> {
        if let Some(resolved) = self.resolved.lock().ok().and_then(|resolved| {
            resolved
                .get(name)
                .filter(|(at, _)| at.elapsed() < RESOLUTION_TTL)
                .map(|(_, resolved)| resolved.clone())
        }) {
            return Ok(resolved);
        }
        let spec = self
            .node_classes
            .read()
            .ok()
            .and_then(|node_classes| node_classes.get(name).cloned())
            .ok_or_else(|| NodeClassError::InvalidField {
                node_class: name.to_string(),
                field: "metadata.name".to_string(),
                reason: "no such EC2NodeClass is known to the provider: create it".to_string(),
            })?;
        let resolved = resolve(&self.ec2, &self.cluster, &self.region, name, &spec).await?;
        if let Ok(mut cache) = self.resolved.lock() {
            cache.insert(name.to_string(), (Instant::now(), resolved.clone()));
        }
        Ok(resolved)
    }

    /// Which of `node_claims`' instances no longer match their EC2NodeClass as it resolves
    /// now (one DescribeInstances for the cluster; each class resolved from the cache). An
    /// instance whose class does not resolve (not ready, deleted) is left out: there is
    /// nothing to compare it with, and its NodePool is not ready anyway.
    async fn node_class_drift(
        &self,
        node_claims: BTreeSet<String>,
    ) -> Result<BTreeMap<String, NodeClassDrift>, CloudError> {
        let filters = cluster_filters(&self.cluster.cluster_tag_key());
        let instances = self
            .call("instances of the cluster", || {
                self.ec2.describe_instances(&filters)
            })
            .await?;
        let mut resolved: BTreeMap<String, Option<ResolvedNodeClass>> = BTreeMap::new();
        let mut drifted = BTreeMap::new();
        for instance in &instances {
            let (Some(node_claim), Some(node_class)) = (
                instance.tags.get(tags::NODE_CLAIM),
                instance.tags.get(tags::NODE_CLASS),
            ) else {
                continue;
            };
            if !node_claims.contains(node_claim) {
                continue;
            }
            if !resolved.contains_key(node_class) {
                let resolution = match self.resolve_node_class(node_class).await {
                    Ok(resolution) => Some(resolution),
                    Err(error) => {
                        tracing::debug!(node_class, %error, "EC2NodeClass does not resolve; its instances are not checked for drift");
                        None
                    }
                };
                resolved.insert(node_class.clone(), resolution);
            }
            if let Some(drift) = resolved[node_class]
                .as_ref()
                .and_then(|resolution| instance_drift(instance, resolution))
            {
                drifted.insert(node_claim.clone(), drift);
            }
        }
        Ok(drifted)
    }

    /// Finds the garbage of this cluster at `now` given the NodeClaims that exist, and
    /// terminates the leaked instances. The caller deletes the NodeClaims reported without
    /// instance.
    pub async fn collect_garbage(
        &self,
        node_claims: &[ExistingNodeClaim],
        now: SystemTime,
    ) -> Result<Garbage, CloudError> {
        let filters = cluster_filters(&self.cluster.cluster_tag_key());
        let instances = self
            .call("instances of the cluster", || {
                self.ec2.describe_instances(&filters)
            })
            .await?;
        let garbage = find_garbage(&instances, node_claims, now, self.grace_period);
        if !garbage.leaked_instances.is_empty() {
            tracing::info!(instances = ?garbage.leaked_instances, "terminating leaked instances");
            match self
                .call("leaked instances", || {
                    self.ec2.terminate_instances(&garbage.leaked_instances)
                })
                .await
            {
                Ok(()) | Err(CloudError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(garbage)
    }

    /// EC2's Spot placement scores for `request`, by zone name (EC2 answers zone IDs, which
    /// this account's DescribeAvailabilityZones names; a zone it does not name is left out).
    async fn read_placement_scores(
        &self,
        request: &PlacementScoreRequest,
    ) -> Result<PlacementScores, CloudError> {
        let by_id = self
            .call("Spot placement scores", || {
                self.ec2.get_spot_placement_scores(
                    &request.instance_types,
                    request.target_capacity,
                    &self.region,
                )
            })
            .await?;
        let zones = self
            .call("availability zones", || {
                self.ec2.describe_availability_zones()
            })
            .await?;
        let mut scores = PlacementScores::default();
        for (zone_id, score) in by_id {
            if let Some((zone, _)) = zones.iter().find(|(_, id)| *id == zone_id) {
                scores.set_spot(zone, score);
            }
        }
        Ok(scores)
    }

    async fn call<T, F, Fut>(&self, what: &str, call: F) -> Result<T, CloudError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, Ec2Error>>,
    {
        self.retry
            .run(|| async { call().await.map_err(|error| cloud_error(&error, what)) })
            .await
    }

    fn price(&self, offering: &OfferingKey) -> f64 {
        price_of(&self.region, offering).unwrap_or(0.0)
    }

    async fn find(&self, node_claim: &str) -> Result<Option<Instance>, CloudError> {
        let filters = node_claim_filters(&self.cluster.cluster_tag_key(), node_claim);
        let what = format!("instance of NodeClaim {node_claim}");
        let instances = self
            .call(&what, || self.ec2.describe_instances(&filters))
            .await?;
        Ok(instances
            .iter()
            .max_by_key(|instance| instance.launch_time)
            .map(|instance| to_instance(instance, |offering| self.price(offering))))
    }

    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, CloudError> {
        // Idempotent by NodeClaim even when EC2's ClientToken has expired (or is ignored, as
        // moto does): a claim that already has a live instance gets it back.
        if let Some(mut instance) = self.find(&request.node_claim).await? {
            if let Some(requested) = request
                .offerings
                .iter()
                .find(|candidate| candidate.offering == instance.offering)
            {
                instance.price_per_hour = requested.price_per_hour;
            }
            return Ok(Launched {
                instance,
                unavailable: Vec::new(),
            });
        }
        let node_class = self
            .resolve_node_class(&request.node_class)
            .await
            .map_err(|error| match error {
                NodeClassError::Call { source, .. } => {
                    cloud_error(&source, &format!("EC2NodeClass {}", request.node_class))
                }
                other => CloudError::InvalidRequest {
                    reason: other.to_string(),
                },
            })?;
        let mut templates: BTreeMap<Architecture, String> = BTreeMap::new();
        let needed: std::collections::BTreeSet<Architecture> = request
            .offerings
            .iter()
            .map(|offering| architecture_of(&offering.offering.instance_type))
            .collect();
        for architecture in needed {
            let Some(ami) = node_class.ami(architecture) else {
                continue;
            };
            let template = template_request(
                &self.cluster,
                &node_class,
                ami,
                &request.labels,
                &request.taints,
            )
            .map_err(|error| CloudError::InvalidRequest {
                reason: format!("EC2NodeClass {}: {error}", node_class.name),
            })?;
            let name = self
                .call("launch template", || {
                    self.launch_templates.ensure(&self.ec2, &template)
                })
                .await?;
            templates.insert(architecture, name);
        }
        let fleet = fleet_request(
            &self.cluster,
            &node_class,
            request,
            &templates,
            architecture_of,
        )?;
        let response = match self
            .call("launch template", || self.ec2.create_fleet(&fleet))
            .await
        {
            Ok(response) => response,
            Err(CloudError::NotFound { .. }) => {
                // A launch template was deleted behind Spotter's back: forget it; the next
                // launch creates it again.
                for config in &fleet.launch_template_configs {
                    self.launch_templates.forget(&config.launch_template_name);
                }
                return Err(CloudError::Transient {
                    operation: "CreateFleet".to_string(),
                    message:
                        "a launch template was not found; it is created again on the next launch"
                            .to_string(),
                });
            }
            Err(error) => return Err(error),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let launched = launch_outcome(request, &fleet, &response, now)?;
        tracing::info!(
            node_claim = %request.node_claim,
            instance = %launched.instance.id,
            offering = %launched.instance.offering,
            unavailable = launched.unavailable.len(),
            "launched instance"
        );
        Ok(launched)
    }
}

impl<E: Ec2> CloudProvider for AwsCloudProvider<E> {
    fn create(
        &self,
        request: &LaunchRequest,
    ) -> impl Future<Output = Result<Launched, CloudError>> + Send {
        self.launch(request)
    }

    fn delete(&self, instance_id: &str) -> impl Future<Output = Result<(), CloudError>> + Send {
        let ids = vec![instance_id.to_string()];
        let what = format!("instance {instance_id}");
        async move {
            self.call(&what, || self.ec2.terminate_instances(&ids))
                .await
        }
    }

    fn get(
        &self,
        node_claim: &str,
    ) -> impl Future<Output = Result<Option<Instance>, CloudError>> + Send {
        self.find(node_claim)
    }

    fn drifted(
        &self,
        node_claims: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, NodeClassDrift>, CloudError>> + Send {
        let wanted: BTreeSet<String> = node_claims.iter().cloned().collect();
        self.node_class_drift(wanted)
    }

    fn spot_placement_scores(
        &self,
        request: &PlacementScoreRequest,
    ) -> impl Future<Output = Result<PlacementScores, CloudError>> + Send {
        self.read_placement_scores(request)
    }

    fn list(&self) -> impl Future<Output = Result<Vec<Instance>, CloudError>> + Send {
        let filters = cluster_filters(&self.cluster.cluster_tag_key());
        async move {
            let instances = self
                .call("instances of the cluster", || {
                    self.ec2.describe_instances(&filters)
                })
                .await?;
            let mut instances: Vec<Instance> = instances
                .iter()
                .map(|instance| to_instance(instance, |offering| self.price(offering)))
                .collect();
            instances.sort_by(|left, right| left.id.cmp(&right.id));
            Ok(instances)
        }
    }
}
