//! `FakeCloud`: the [`CloudProvider`] whose instances are Node objects. A launch picks the
//! first requested offering the faults ConfigMap does not mark unavailable, answers at once,
//! and creates the Node `launch_delay` later (a spawned task); a termination deletes the
//! Node. `get` and `list` read the Nodes with `fake://` provider IDs, plus the launches still
//! in their delay, so that a restarted process finds every instance again.
//!
//! Launches are idempotent by NodeClaim: this process remembers each launch until its
//! instance is deleted, and a launch it does not remember is looked up as the Node named after
//! the NodeClaim. A Node being deleted (its deletionTimestamp set, finalizers still running)
//! is a terminated instance, as EC2's `shutting-down` is for Karpenter.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use spotter_cloud::{CloudError, CloudProvider, Instance, LaunchRequest, Launched, OfferingKey};
use spotter_core::instance_type::InstanceType;
use spotter_core::labels;

use crate::cloud_errors::from_kube;
use crate::faults::{Faults, UNAVAILABLE_KEY};
use crate::node_object::{self, INSTANCE_ID_LABEL};
use crate::settings::FakeCloudSettings;

/// The field manager of the fake cloud's writes.
pub const FIELD_MANAGER: &str = "spotter-fake-cloud";
/// How many times the creation of a launch's Node is tried before the launch is given up.
pub const NODE_CREATE_ATTEMPTS: u32 = 5;

/// The fake-node cloud. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct FakeCloud {
    inner: Arc<Inner>,
}

struct Inner {
    nodes: Api<Node>,
    config_maps: Api<ConfigMap>,
    settings: FakeCloudSettings,
    /// The instance types, shared with the driver (not copied: they are megabytes).
    instance_types: Arc<Vec<InstanceType>>,
    /// Their positions in `instance_types`, by name.
    instance_type_index: HashMap<String, usize>,
    region: Option<String>,
    zones: BTreeSet<String>,
    /// Launches of this process by NodeClaim, until their instance is deleted.
    launches: Mutex<HashMap<String, Launch>>,
    /// Draws instance IDs.
    id_hasher: RandomState,
    id_sequence: AtomicU64,
}

/// What is known of a NodeClaim's instance.
#[derive(Debug)]
enum Lookup {
    /// No instance.
    Missing,
    /// A running (or launching) instance.
    Live(Instance),
    /// Its Node is being deleted: terminated, but the name is not free yet.
    Terminating,
}

#[derive(Clone, Debug)]
struct Launch {
    instance: Instance,
    node_created: bool,
}

impl std::fmt::Debug for FakeCloud {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FakeCloud")
            .field("settings", &self.inner.settings)
            .field("instance_types", &self.inner.instance_types.len())
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

impl FakeCloud {
    /// A fake cloud launching `instance_types` (their capacity, allocatable and labels make the
    /// Nodes), with `settings`. Empty `settings.zones` means the instance types' zones.
    pub fn new(
        client: kube::Client,
        instance_types: Arc<Vec<InstanceType>>,
        settings: FakeCloudSettings,
    ) -> Self {
        let zones: BTreeSet<String> = if settings.zones.is_empty() {
            instance_types
                .iter()
                .flat_map(|instance_type| &instance_type.offerings)
                .map(|offering| offering.zone.clone())
                .collect()
        } else {
            settings.zones.iter().cloned().collect()
        };
        let region = instance_types.iter().find_map(|instance_type| {
            instance_type
                .requirements
                .get(labels::REGION)
                .and_then(|requirement| requirement.values().next())
                .map(str::to_owned)
        });
        let instance_type_index = instance_types
            .iter()
            .enumerate()
            .map(|(position, instance_type)| (instance_type.name.clone(), position))
            .collect();
        FakeCloud {
            inner: Arc::new(Inner {
                nodes: Api::all(client.clone()),
                config_maps: Api::namespaced(client, &settings.namespace),
                settings,
                instance_types,
                instance_type_index,
                region,
                zones,
                launches: Mutex::new(HashMap::new()),
                id_hasher: RandomState::new(),
                id_sequence: AtomicU64::new(0),
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &FakeCloudSettings {
        &self.inner.settings
    }

    /// The zones launches may use.
    pub fn zones(&self) -> impl Iterator<Item = &str> {
        self.inner.zones.iter().map(String::as_str)
    }

    /// The faults in the ConfigMap now (none when it or its `unavailable` key is missing).
    /// Lines that do not read are logged and skipped.
    pub async fn faults(&self) -> Result<Faults, CloudError> {
        let settings = &self.inner.settings;
        let operation = || {
            format!(
                "get ConfigMap {}/{}",
                settings.namespace, settings.faults_config_map
            )
        };
        let config_map = self
            .inner
            .config_maps
            .get_opt(&settings.faults_config_map)
            .await
            .map_err(|error| from_kube(&operation(), "get", "configmaps", error))?;
        let Some(text) = config_map
            .and_then(|config_map| config_map.data)
            .and_then(|mut data| data.remove(UNAVAILABLE_KEY))
        else {
            return Ok(Faults::none());
        };
        let parsed = Faults::parse(&text);
        for problem in &parsed.problems {
            tracing::warn!(
                config_map = %format!("{}/{}", settings.namespace, settings.faults_config_map),
                "{problem}; the line is ignored"
            );
        }
        Ok(parsed.faults)
    }

    fn launches(&self) -> MutexGuard<'_, HashMap<String, Launch>> {
        // A panic while holding the lock leaves a map that is still consistent (every change
        // is one insert or remove), so a poisoned lock is taken over.
        self.inner
            .launches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn validate(&self, request: &LaunchRequest) -> Result<(), CloudError> {
        if request.offerings.is_empty() {
            return Err(CloudError::InvalidRequest {
                reason: format!(
                    "the launch for NodeClaim {} names no offering",
                    request.node_claim
                ),
            });
        }
        for requested in &request.offerings {
            let offering = &requested.offering;
            if !self
                .inner
                .instance_type_index
                .contains_key(&offering.instance_type)
            {
                return Err(CloudError::InvalidRequest {
                    reason: format!(
                        "offering {offering} of NodeClaim {}: the fake cloud has no instance type {}",
                        request.node_claim, offering.instance_type
                    ),
                });
            }
            if !self.inner.zones.contains(&offering.zone) {
                return Err(CloudError::InvalidRequest {
                    reason: format!(
                        "offering {offering} of NodeClaim {}: zone {} is not one of the fake cloud's zones ({})",
                        request.node_claim,
                        offering.zone,
                        self.inner
                            .zones
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// The launch this process remembers for `node_claim`, else the Node named after it.
    async fn lookup(&self, node_claim: &str) -> Result<Lookup, CloudError> {
        let remembered = self.launches().get(node_claim).cloned();
        match remembered {
            Some(launch) if !launch.node_created => Ok(Lookup::Live(launch.instance)),
            Some(launch) => {
                let found = self.node_lookup(node_claim).await?;
                if !matches!(&found, Lookup::Live(instance) if instance.id == launch.instance.id) {
                    // The Node went away (or is going) without `delete`: the instance is gone.
                    let mut launches = self.launches();
                    if launches
                        .get(node_claim)
                        .is_some_and(|current| current.instance.id == launch.instance.id)
                    {
                        launches.remove(node_claim);
                    }
                }
                Ok(found)
            }
            None => self.node_lookup(node_claim).await,
        }
    }

    /// What the Node named `node_claim` says of its instance.
    async fn node_lookup(&self, node_claim: &str) -> Result<Lookup, CloudError> {
        let node = self
            .inner
            .nodes
            .get_opt(node_claim)
            .await
            .map_err(|error| from_kube(&format!("get Node {node_claim}"), "get", "nodes", error))?;
        let Some(node) = node else {
            return Ok(Lookup::Missing);
        };
        if !node_object::is_fake(&node) {
            return Err(CloudError::InvalidRequest {
                reason: format!(
                    "a Node named {node_claim} exists and is not a fake instance (its providerID \
                     is not fake://…); delete it or use another NodeClaim name"
                ),
            });
        }
        if node.metadata.deletion_timestamp.is_some() {
            return Ok(Lookup::Terminating);
        }
        Ok(live_instance(&node)
            .filter(|instance| instance.node_claim == node_claim)
            .map_or(Lookup::Missing, Lookup::Live))
    }

    fn new_instance_id(&self, node_claim: &str) -> String {
        let sequence = self.inner.id_sequence.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let hash = self.inner.id_hasher.hash_one((node_claim, sequence, nanos));
        // Shaped like EC2's (`i-` and 17 hex digits), so that what checks instance ids, such
        // as `spotter agent` reading IMDS, takes them; the provider id says they are fake.
        format!("i-0{hash:016x}")
    }

    fn start_node_creation(
        &self,
        request: &LaunchRequest,
        instance: &Instance,
    ) -> Result<(), CloudError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|error| CloudError::Transient {
                operation: format!("create NodeClaim {}", request.node_claim),
                message: format!("failed to start the Node's creation: no tokio runtime ({error})"),
            })?;
        let cloud = self.clone();
        let request = request.clone();
        let instance = instance.clone();
        runtime.spawn(async move { cloud.create_node(request, instance).await });
        Ok(())
    }

    /// After the launch delay, creates the Node of `instance` (retried with backoff), writes
    /// its status, and deletes it again if the instance was deleted meanwhile.
    async fn create_node(&self, request: LaunchRequest, instance: Instance) {
        tokio::time::sleep(self.inner.settings.launch_delay).await;
        let still_launched = |cloud: &FakeCloud| {
            cloud
                .launches()
                .get(&instance.node_claim)
                .is_some_and(|launch| launch.instance.id == instance.id)
        };
        if !still_launched(self) {
            return;
        }
        let Some(instance_type) = self
            .inner
            .instance_type_index
            .get(&instance.offering.instance_type)
            .and_then(|position| self.inner.instance_types.get(*position))
        else {
            return;
        };
        let node = node_object::node(
            &request,
            &instance,
            instance_type,
            self.inner.region.as_deref(),
            SystemTime::now(),
        );
        let name = instance.node_claim.clone();
        let mut backoff = Duration::from_millis(500);
        let mut created = false;
        for attempt in 1..=NODE_CREATE_ATTEMPTS {
            match self.write_node(&name, &instance.id, &node).await {
                Ok(()) => {
                    created = true;
                    break;
                }
                Err(error) => {
                    tracing::warn!(node = %name, attempt, "failed to create the fake instance's Node: {error}");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                }
            }
        }
        if !created {
            tracing::error!(node = %name, instance = %instance.id, "gave up creating the fake instance's Node; the instance is lost");
            let mut launches = self.launches();
            if launches
                .get(&name)
                .is_some_and(|launch| launch.instance.id == instance.id)
            {
                launches.remove(&name);
            }
            return;
        }
        let deleted_meanwhile = {
            let mut launches = self.launches();
            match launches.get_mut(&name) {
                Some(launch) if launch.instance.id == instance.id => {
                    launch.node_created = true;
                    false
                }
                _ => true,
            }
        };
        if deleted_meanwhile {
            if let Err(error) = self
                .inner
                .nodes
                .delete(&name, &DeleteParams::default())
                .await
            {
                tracing::warn!(node = %name, "failed to delete the Node of an instance deleted during its launch: {error}");
            }
        } else {
            tracing::info!(node = %name, instance = %instance.id, offering = %instance.offering, "fake instance's Node created");
        }
    }

    /// Creates the Node (an existing one of the same instance is fine) and patches its status
    /// (a subresource: what `create` sent there may be dropped).
    async fn write_node(
        &self,
        name: &str,
        instance_id: &str,
        node: &Node,
    ) -> Result<(), kube::Error> {
        match self.inner.nodes.create(&PostParams::default(), node).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {
                // Ours from an earlier attempt, or another instance's Node still terminating.
                let existing = self.inner.nodes.get(name).await?;
                let existing_id = existing
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get(INSTANCE_ID_LABEL));
                if existing_id != Some(&instance_id.to_owned()) {
                    return Err(kube::Error::Api(status));
                }
            }
            Err(error) => return Err(error),
        }
        let patch = serde_json::json!({ "status": node.status });
        self.inner
            .nodes
            .patch_status(
                name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Merge(patch),
            )
            .await?;
        Ok(())
    }

    /// Every fake instance's Node (one page of 500 at a time).
    async fn fake_nodes(&self, selector: &str) -> Result<Vec<Node>, CloudError> {
        let mut nodes = Vec::new();
        let mut params = ListParams::default().labels(selector).limit(500);
        loop {
            let page = self
                .inner
                .nodes
                .list(&params)
                .await
                .map_err(|error| from_kube("list Nodes", "list", "nodes", error))?;
            nodes.extend(page.items.into_iter().filter(node_object::is_fake));
            match page.metadata.continue_.filter(|token| !token.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(nodes),
            }
        }
    }
}

impl CloudProvider for FakeCloud {
    async fn create(&self, request: &LaunchRequest) -> Result<Launched, CloudError> {
        self.validate(request)?;
        match self.lookup(&request.node_claim).await? {
            Lookup::Live(instance) => {
                return Ok(Launched {
                    instance,
                    unavailable: Vec::new(),
                });
            }
            Lookup::Terminating => {
                return Err(CloudError::Transient {
                    operation: format!("create NodeClaim {}", request.node_claim),
                    message: format!(
                        "the Node of an earlier instance of NodeClaim {} is still being deleted; \
                         retry once it is gone",
                        request.node_claim
                    ),
                });
            }
            Lookup::Missing => {}
        }
        let faults = self.faults().await?;
        let mut refused: Vec<OfferingKey> = Vec::new();
        let mut chosen = None;
        for requested in &request.offerings {
            if faults.is_unavailable(&requested.offering) {
                refused.push(requested.offering.clone());
            } else {
                chosen = Some(requested);
                break;
            }
        }
        let Some(chosen) = chosen else {
            return Err(CloudError::InsufficientCapacity { offerings: refused });
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let id = self.new_instance_id(&request.node_claim);
        let instance = Instance {
            provider_id: node_object::provider_id(&chosen.offering.zone, &id),
            id,
            node_claim: request.node_claim.clone(),
            node_pool: request.node_pool.clone(),
            offering: chosen.offering.clone(),
            price_per_hour: chosen.price_per_hour,
            launched_at: Duration::from_millis(u64::try_from(now.as_millis()).unwrap_or(u64::MAX)),
        };
        {
            let mut launches = self.launches();
            if let Some(earlier) = launches.get(&request.node_claim) {
                // A concurrent create of the same NodeClaim got there first.
                return Ok(Launched {
                    instance: earlier.instance.clone(),
                    unavailable: Vec::new(),
                });
            }
            launches.insert(
                request.node_claim.clone(),
                Launch {
                    instance: instance.clone(),
                    node_created: false,
                },
            );
        }
        if let Err(error) = self.start_node_creation(request, &instance) {
            self.launches().remove(&request.node_claim);
            return Err(error);
        }
        tracing::info!(node_claim = %request.node_claim, instance = %instance.id, offering = %instance.offering, refused = refused.len(), "fake instance launched");
        Ok(Launched {
            instance,
            unavailable: refused,
        })
    }

    async fn delete(&self, instance_id: &str) -> Result<(), CloudError> {
        let remembered = {
            let mut launches = self.launches();
            let node_claim = launches
                .iter()
                .find(|(_, launch)| launch.instance.id == instance_id)
                .map(|(node_claim, _)| node_claim.clone());
            node_claim.and_then(|node_claim| launches.remove(&node_claim))
        };
        if let Some(launch) = &remembered
            && !launch.node_created
        {
            // Still in its launch delay: the Node will not be created.
            return Ok(());
        }
        let not_found = || CloudError::NotFound {
            what: format!("instance {instance_id}"),
        };
        let node_name = match remembered {
            Some(launch) => launch.instance.node_claim,
            None => {
                let nodes = self
                    .fake_nodes(&format!("{INSTANCE_ID_LABEL}={instance_id}"))
                    .await?;
                match nodes.into_iter().find_map(|node| node.metadata.name) {
                    Some(name) => name,
                    None => return Err(not_found()),
                }
            }
        };
        let operation = format!("delete Node {node_name}");
        let node = self
            .inner
            .nodes
            .get_opt(&node_name)
            .await
            .map_err(|error| from_kube(&operation, "get", "nodes", error))?;
        match node {
            Some(node)
                if live_instance(&node).is_some_and(|instance| instance.id == instance_id) => {}
            _ => return Err(not_found()),
        }
        match self
            .inner
            .nodes
            .delete(&node_name, &DeleteParams::default())
            .await
        {
            Ok(_) => {
                tracing::info!(node = %node_name, instance = %instance_id, "fake instance terminated");
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Err(not_found()),
            Err(error) => Err(from_kube(&operation, "delete", "nodes", error)),
        }
    }

    async fn get(&self, node_claim: &str) -> Result<Option<Instance>, CloudError> {
        Ok(match self.lookup(node_claim).await? {
            Lookup::Live(instance) => Some(instance),
            Lookup::Missing | Lookup::Terminating => None,
        })
    }

    async fn list(&self) -> Result<Vec<Instance>, CloudError> {
        let nodes = self.fake_nodes(INSTANCE_ID_LABEL).await?;
        let mut instances: Vec<Instance> = nodes.iter().filter_map(live_instance).collect();
        let listed: BTreeSet<String> = instances
            .iter()
            .map(|instance| instance.node_claim.clone())
            .collect();
        instances.extend(
            self.launches()
                .values()
                .filter(|launch| {
                    !launch.node_created && !listed.contains(&launch.instance.node_claim)
                })
                .map(|launch| launch.instance.clone()),
        );
        instances.sort_by(|left, right| left.node_claim.cmp(&right.node_claim));
        Ok(instances)
    }
}

/// The instance of a fake Node that is not being deleted; a Node that does not read as one is
/// logged and skipped.
fn live_instance(node: &Node) -> Option<Instance> {
    if node.metadata.deletion_timestamp.is_some() {
        return None;
    }
    match node_object::instance(node) {
        Ok(instance) => Some(instance),
        Err(error) => {
            tracing::warn!("{error}");
            None
        }
    }
}
