//! The kubelet stand-in for fake nodes, the way KWOK plays it: [`run_kubelet`] watches Nodes
//! and bound Pods (kube-runtime watchers, nothing cached but node names) and, for pods on
//! nodes with a `fake://` provider ID, marks them started (Running, Ready, containers running)
//! and removes a terminating one with grace 0 once its grace period has passed, as a kubelet
//! does when its containers have stopped. It also acts on the interrupt annotation of fake
//! nodes (see [`crate::interruption`]), and renews each fake node's Lease in
//! `kube-node-lease` (see [`crate::node_lease`]) so that the node-lifecycle controller keeps
//! it `Ready`. Pods on other nodes are left alone.
//!
//! The watch loop never waits on a write: each write is a task, aborted with the loop (at most
//! [`WRITE_CONCURRENCY`] at once) that reports back when it is done, so that thousands of
//! pods starting together do not stall the watches.

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::interruption;
use crate::node_lease::{self, NODE_LEASE_NAMESPACE};
use crate::node_object;
use crate::pod_status::{self, PodWork};

/// How many writes (pod statuses, deletions, interruption warnings) run at once.
pub const WRITE_CONCURRENCY: usize = 8;
/// How many times a pod's status write is tried.
pub const STATUS_ATTEMPTS: u32 = 3;
/// The field manager of the kubelet stand-in's writes.
pub const FIELD_MANAGER: &str = "spotter-fake-kubelet";

/// How the kubelet stand-in heartbeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeletSettings {
    /// How often each fake node's Lease is renewed (a kubelet's default: 10 s).
    pub lease_renew_interval: Duration,
    /// The Leases' `leaseDurationSeconds` (a kubelet's default: 40 s).
    pub lease_duration: Duration,
}

impl Default for KubeletSettings {
    fn default() -> Self {
        KubeletSettings {
            lease_renew_interval: Duration::from_secs(10),
            lease_duration: Duration::from_secs(40),
        }
    }
}

/// Why the kubelet stand-in stopped, or what one of its writes failed at (logged, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// A watch ended, which kube-runtime's watchers never do on their own.
    #[error("failed to keep watching {resource}: the watch stream ended")]
    WatchEnded {
        /// `nodes` or `pods`.
        resource: &'static str,
    },
    /// The status of a pod could not be written.
    #[error("failed to mark pod {namespace}/{name} Running and Ready: {source}")]
    StartPod {
        /// The pod's namespace.
        namespace: String,
        /// The pod.
        name: String,
        /// The client's error.
        source: kube::Error,
    },
    /// A terminating pod could not be removed.
    #[error("failed to remove terminating pod {namespace}/{name} after its grace period: {source}")]
    RemovePod {
        /// The pod's namespace.
        namespace: String,
        /// The pod.
        name: String,
        /// The client's error.
        source: kube::Error,
    },
    /// A fake node's Lease could not be renewed.
    #[error("failed to renew the Lease {NODE_LEASE_NAMESPACE}/{node} of a fake node: {source}")]
    RenewLease {
        /// The node.
        node: String,
        /// The client's error.
        source: kube::Error,
    },
    /// A pod waiting for its node to be known could not be read again.
    #[error("failed to read pod {namespace}/{name} again: {source}")]
    ReadPod {
        /// The pod's namespace.
        namespace: String,
        /// The pod.
        name: String,
        /// The client's error.
        source: kube::Error,
    },
}

/// Plays the kubelet for the fake nodes until the future is dropped, with the default
/// [`KubeletSettings`]. Needs `list` and `watch` on nodes and pods, `get` on pods, `patch` on
/// `pods/status`, `delete` on pods, `get`/`patch` on nodes and `nodes/status` (interruption
/// warnings), and `get`/`create`/`patch` on `leases` in `kube-node-lease`.
pub async fn run_kubelet(client: kube::Client) -> Result<(), KubeletError> {
    run_kubelet_with(client, KubeletSettings::default()).await
}

/// [`run_kubelet`] with its heartbeat settings.
pub async fn run_kubelet_with(
    client: kube::Client,
    settings: KubeletSettings,
) -> Result<(), KubeletError> {
    let node_events = watcher(Api::<Node>::all(client.clone()), watcher::Config::default());
    let pod_events = watcher(
        Api::<Pod>::all(client.clone()),
        watcher::Config::default().fields("spec.nodeName!="),
    );
    let mut node_events = pin!(node_events);
    let mut pod_events = pin!(pod_events);
    let mut kubelet = Kubelet {
        client,
        nodes: HashMap::new(),
        waiting: HashMap::new(),
        starting: HashSet::new(),
        removing: HashSet::new(),
        interrupting: HashSet::new(),
        live: HashMap::new(),
        renewing: false,
        settings,
        tasks: JoinSet::new(),
        writes: Arc::new(Semaphore::new(WRITE_CONCURRENCY)),
    };
    let mut heartbeat = tokio::time::interval(kubelet.settings.lease_renew_interval);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = node_events.next() => match event {
                Some(Ok(event)) => kubelet.node_event(event),
                Some(Err(error)) => tracing::warn!("failed to watch nodes (retrying): {error}"),
                None => return Err(KubeletError::WatchEnded { resource: "nodes" }),
            },
            event = pod_events.next() => match event {
                Some(Ok(event)) => kubelet.pod_event(event),
                Some(Err(error)) => tracing::warn!("failed to watch pods (retrying): {error}"),
                None => return Err(KubeletError::WatchEnded { resource: "pods" }),
            },
            _ = heartbeat.tick() => kubelet.renew_leases(),
            Some(joined) = kubelet.tasks.join_next(), if !kubelet.tasks.is_empty() => match joined {
                Ok(finished) => kubelet.finished(finished),
                Err(error) => tracing::warn!("a kubelet stand-in task failed: {error}"),
            },
        }
    }
}

/// Writes the Lease of a fake node (server-side apply: created or renewed in one call).
async fn renew_lease(client: &kube::Client, name: &str, uid: &str, duration: Duration) {
    let leases = Api::<Lease>::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
    let mut lease = node_lease::lease(name, uid, duration, SystemTime::now());
    lease.metadata.managed_fields = None;
    let applied = leases
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&lease),
        )
        .await;
    if let Err(source) = applied {
        tracing::warn!(
            "{}",
            KubeletError::RenewLease {
                node: name.to_owned(),
                source
            }
        );
    }
}

fn watcher<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl futures_util::Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    watcher::watcher(api, config).default_backoff()
}

/// The kubelet stand-in's memory: what it needs to know, never whole objects.
struct Kubelet {
    client: kube::Client,
    /// Node name -> whether it is a fake node. Fake nodes stay after their deletion, so that
    /// their terminating pods are still removed.
    nodes: HashMap<String, bool>,
    /// Pods bound to nodes not seen yet, by node name.
    waiting: HashMap<String, Vec<PodKey>>,
    /// Pods (by UID) whose started status is being written.
    starting: HashSet<String>,
    /// Pods (by UID) whose removal is scheduled.
    removing: HashSet<String>,
    /// Nodes whose interruption warning is being written.
    interrupting: HashSet<String>,
    /// Fake nodes that exist, name -> UID (whose Leases are renewed).
    live: HashMap<String, String>,
    /// Whether a round of Lease renewals is running.
    renewing: bool,
    settings: KubeletSettings,
    /// The writes in flight (aborted when `run_kubelet` is dropped).
    tasks: JoinSet<Finished>,
    writes: Arc<Semaphore>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PodKey {
    namespace: String,
    name: String,
}

/// What a write task reports back to the watch loop.
#[derive(Debug)]
enum Finished {
    Started { uid: String },
    Removed { uid: String },
    Interrupted { node: String },
    Reread { pod: Box<Pod> },
    Renewed,
    FirstLease,
}

impl Kubelet {
    fn node_event(&mut self, event: Event<Node>) {
        match event {
            Event::Apply(node) | Event::InitApply(node) => self.node_seen(&node),
            Event::Delete(node) => {
                let name = node.metadata.name.unwrap_or_default();
                self.live.remove(&name);
                if self.nodes.get(&name) == Some(&false) {
                    self.nodes.remove(&name);
                }
                self.waiting.remove(&name);
            }
            Event::Init | Event::InitDone => {}
        }
    }

    fn node_seen(&mut self, node: &Node) {
        let Some(name) = node.metadata.name.clone() else {
            return;
        };
        let fake = node_object::is_fake(node);
        self.nodes.insert(name.clone(), fake);
        if let (true, Some(uid)) = (fake, &node.metadata.uid)
            && self.live.insert(name.clone(), uid.clone()).is_none()
        {
            self.renew_lease_now(name.clone(), uid.clone());
        }
        if let Some(waiting) = self.waiting.remove(&name)
            && fake
        {
            for key in waiting {
                self.reread(key);
            }
        }
        if fake && interruption::requested(node).is_some() && self.interrupting.insert(name.clone())
        {
            let client = self.client.clone();
            let node = node.clone();
            self.spawn(async move {
                if let Err(error) = interruption::interrupt(client, &node).await {
                    tracing::warn!("{error}");
                }
                Finished::Interrupted { node: name }
            });
        }
    }

    fn pod_event(&mut self, event: Event<Pod>) {
        match event {
            Event::Apply(pod) | Event::InitApply(pod) => self.pod_seen(pod),
            Event::Delete(pod) => {
                if let Some(uid) = &pod.metadata.uid {
                    self.starting.remove(uid);
                    self.removing.remove(uid);
                }
            }
            Event::Init | Event::InitDone => {}
        }
    }

    fn pod_seen(&mut self, pod: Pod) {
        let Some(node_name) = pod.spec.as_ref().and_then(|spec| spec.node_name.clone()) else {
            return;
        };
        let (Some(namespace), Some(name), Some(uid)) = (
            pod.metadata.namespace.clone(),
            pod.metadata.name.clone(),
            pod.metadata.uid.clone(),
        ) else {
            return;
        };
        match self.nodes.get(&node_name) {
            Some(true) => {}
            Some(false) => return,
            None => {
                let waiting = self.waiting.entry(node_name).or_default();
                let key = PodKey { namespace, name };
                if !waiting.contains(&key) {
                    waiting.push(key);
                }
                return;
            }
        }
        match pod_status::work(&pod, SystemTime::now()) {
            PodWork::Nothing => {}
            PodWork::Start => {
                if self.starting.insert(uid.clone()) {
                    self.start(pod, namespace, name, node_name, uid);
                }
            }
            PodWork::Remove { due } => {
                self.starting.remove(&uid);
                if self.removing.insert(uid.clone()) {
                    self.remove(namespace, name, uid, due);
                }
            }
        }
    }

    fn start(&mut self, pod: Pod, namespace: String, name: String, node_name: String, uid: String) {
        let pods = Api::<Pod>::namespaced(self.client.clone(), &namespace);
        let writes = self.writes.clone();
        self.spawn(async move {
            let mut backoff = Duration::from_millis(200);
            for attempt in 1..=STATUS_ATTEMPTS {
                let written = {
                    let _permit = writes.acquire().await;
                    let patch = pod_status::started_status(&pod, &node_name, SystemTime::now());
                    pods.patch_status(
                        &name,
                        &PatchParams::apply(FIELD_MANAGER),
                        &Patch::Strategic(patch),
                    )
                    .await
                };
                match written {
                    Ok(_) => break,
                    // Gone meanwhile: nothing to start.
                    Err(kube::Error::Api(status)) if status.code == 404 => break,
                    Err(source) => {
                        let error = KubeletError::StartPod {
                            namespace: namespace.clone(),
                            name: name.clone(),
                            source,
                        };
                        tracing::warn!(attempt, "{error}");
                        tokio::time::sleep(backoff).await;
                        backoff = backoff.saturating_mul(2);
                    }
                }
            }
            Finished::Started { uid }
        });
    }

    fn remove(&mut self, namespace: String, name: String, uid: String, due: SystemTime) {
        let pods = Api::<Pod>::namespaced(self.client.clone(), &namespace);
        let writes = self.writes.clone();
        self.spawn(async move {
            tokio::time::sleep(pod_status::wait_until(due, SystemTime::now())).await;
            let parameters = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            let deleted = {
                let _permit = writes.acquire().await;
                pods.delete(&name, &parameters).await
            };
            match deleted {
                Ok(_) => {
                    tracing::debug!(pod = %format!("{namespace}/{name}"), "terminating pod removed")
                }
                // Gone already, or another pod of the same name (the UID precondition).
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
                Err(source) => tracing::warn!(
                    "{}",
                    KubeletError::RemovePod {
                        namespace,
                        name,
                        source
                    }
                ),
            }
            Finished::Removed { uid }
        });
    }

    /// Reads a pod again (its node was not known when it was seen).
    fn reread(&mut self, key: PodKey) {
        let pods = Api::<Pod>::namespaced(self.client.clone(), &key.namespace);
        self.spawn(async move {
            match pods.get_opt(&key.name).await {
                Ok(Some(pod)) => Finished::Reread { pod: Box::new(pod) },
                Ok(None) => Finished::Removed { uid: String::new() },
                Err(source) => {
                    tracing::warn!(
                        "{}",
                        KubeletError::ReadPod {
                            namespace: key.namespace,
                            name: key.name,
                            source
                        }
                    );
                    Finished::Removed { uid: String::new() }
                }
            }
        });
    }

    fn finished(&mut self, finished: Finished) {
        match finished {
            Finished::Started { uid } => {
                self.starting.remove(&uid);
            }
            Finished::Removed { uid } => {
                self.removing.remove(&uid);
            }
            Finished::Interrupted { node } => {
                self.interrupting.remove(&node);
            }
            Finished::Reread { pod } => self.pod_seen(*pod),
            Finished::Renewed => self.renewing = false,
            Finished::FirstLease => {}
        }
    }

    /// Renews the Lease of a fake node seen for the first time (it gets its heartbeat at
    /// once, not at the next round).
    fn renew_lease_now(&mut self, name: String, uid: String) {
        let client = self.client.clone();
        let duration = self.settings.lease_duration;
        let writes = self.writes.clone();
        self.spawn(async move {
            let _permit = writes.acquire().await;
            renew_lease(&client, &name, &uid, duration).await;
            Finished::FirstLease
        });
    }

    /// Starts a round of Lease renewals for every fake node, unless one is still running.
    fn renew_leases(&mut self) {
        if self.renewing || self.live.is_empty() {
            return;
        }
        self.renewing = true;
        let client = self.client.clone();
        let duration = self.settings.lease_duration;
        let nodes: Vec<(String, String)> = self
            .live
            .iter()
            .map(|(name, uid)| (name.clone(), uid.clone()))
            .collect();
        self.spawn(async move {
            futures_util::stream::iter(nodes)
                .for_each_concurrent(WRITE_CONCURRENCY, |(name, uid)| {
                    let client = client.clone();
                    async move { renew_lease(&client, &name, &uid, duration).await }
                })
                .await;
            Finished::Renewed
        });
    }

    fn spawn(&mut self, task: impl Future<Output = Finished> + Send + 'static) {
        self.tasks.spawn(task);
    }
}
