//! What the benchmark sees of the cluster, with local receive times: its own kube-runtime
//! watchers of the benchmark's pods, of Nodes, of NodeClaims and of Events record when each
//! object was first seen (not `creationTimestamp`, which has one-second resolution), when
//! kube-scheduler first marked each pod unschedulable (pending: the moment a node autoscaler
//! is asked for capacity), which NodeClaim the controller nominated it to (its `Nominated`
//! event, "Pod should schedule on: nodeclaim/NAME"), which node it was bound to, when it was
//! first `Running`, and the provider IDs that tie a Node to its NodeClaim.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event as KubernetesEvent;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use spotter_api::crd::node_claim::NodeClaim;

/// The label every benchmark pod carries (and the pod watch selects).
pub const BENCH_LABEL: &str = "spotter.dev/bench";
/// The label naming a pod's wave.
pub const WAVE_LABEL: &str = "spotter.dev/bench-wave";

/// A benchmark pod.
#[derive(Clone, Debug)]
pub struct PodRecord {
    /// Its wave.
    pub wave: usize,
    /// When the watch first saw it.
    pub seen: Instant,
    /// When the watch first saw it unschedulable (`PodScheduled=False`, `Unschedulable`).
    pub pending: Option<Instant>,
    /// The node kube-scheduler bound it to.
    pub node: Option<String>,
    /// When the watch first saw it `Running`.
    pub running: Option<Instant>,
}

/// A NodeClaim.
#[derive(Clone, Debug)]
pub struct ClaimRecord {
    /// When the watch first saw it.
    pub seen: Instant,
    /// `status.providerID`, once launched.
    pub provider_id: Option<String>,
}

/// Everything seen so far.
#[derive(Debug, Default)]
pub struct Observed {
    /// Pods by `namespace/name`.
    pub pods: HashMap<String, PodRecord>,
    /// Node provider IDs by node name.
    pub nodes: HashMap<String, String>,
    /// NodeClaims by name.
    pub claims: HashMap<String, ClaimRecord>,
    /// The NodeClaim each pod's first `Nominated` event named, by pod `namespace/name` (an
    /// event may come before the pod's own watch has it).
    pub nominations: HashMap<String, String>,
}

/// A count of what has been seen, for the progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pods seen.
    pub pods: usize,
    /// Pods bound to a node.
    pub bound: usize,
    /// Pods running.
    pub running: usize,
    /// NodeClaims.
    pub claims: usize,
    /// Nodes.
    pub nodes: usize,
}

impl Observed {
    /// The counts.
    pub fn counts(&self) -> Counts {
        Counts {
            pods: self.pods.len(),
            bound: self.pods.values().filter(|pod| pod.node.is_some()).count(),
            running: self
                .pods
                .values()
                .filter(|pod| pod.running.is_some())
                .count(),
            claims: self.claims.len(),
            nodes: self.nodes.len(),
        }
    }

    /// How many pods of `wave` run.
    pub fn running_in_wave(&self, wave: usize) -> usize {
        self.pods
            .values()
            .filter(|pod| pod.wave == wave && pod.running.is_some())
            .count()
    }

    /// For each pod nominated to a NodeClaim, the time from kube-scheduler marking it
    /// unschedulable (or, if the watch never saw it so, from its being seen) to that NodeClaim
    /// being seen: the controller's answer to a pending pod. Also how many pods were never
    /// nominated (bound to a node that had room, or never provisioned for) and how many named a
    /// NodeClaim the watch never saw.
    pub fn nomination_latencies(&self) -> (Vec<Duration>, usize, usize) {
        let mut latencies = Vec::new();
        let (mut never_nominated, mut claim_unseen) = (0, 0);
        for (key, pod) in &self.pods {
            let Some(claim) = self.nominations.get(key) else {
                never_nominated += 1;
                continue;
            };
            match self.claims.get(claim) {
                Some(claim) => latencies.push(
                    claim
                        .seen
                        .saturating_duration_since(pod.pending.unwrap_or(pod.seen)),
                ),
                None => claim_unseen += 1,
            }
        }
        (latencies, never_nominated, claim_unseen)
    }

    /// For each bound pod, the time from its being seen to the NodeClaim of its node being
    /// seen (zero when that NodeClaim existed before the pod); and the pods whose NodeClaim
    /// could not be found.
    pub fn claim_latencies(&self) -> (Vec<Duration>, usize) {
        let claims_by_provider: HashMap<&str, &ClaimRecord> = self
            .claims
            .values()
            .filter_map(|claim| Some((claim.provider_id.as_deref()?, claim)))
            .collect();
        let mut latencies = Vec::new();
        let mut unmatched = 0;
        for pod in self.pods.values() {
            let claim = pod
                .node
                .as_ref()
                .and_then(|node| self.nodes.get(node))
                .and_then(|provider_id| claims_by_provider.get(provider_id.as_str()));
            match claim {
                Some(claim) => latencies.push(claim.seen.saturating_duration_since(pod.seen)),
                None => unmatched += 1,
            }
        }
        (latencies, unmatched)
    }

    /// When the last pod started running.
    pub fn last_running(&self) -> Option<Instant> {
        self.pods.values().filter_map(|pod| pod.running).max()
    }
}

/// Shared between the watches and the benchmark.
pub type Shared = Arc<Mutex<Observed>>;

/// Locks the shared record.
pub fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Observed> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the four watches on the current runtime.
pub fn spawn(client: &Client, shared: &Shared) {
    let pods = watcher::Config::default().labels(&format!("{BENCH_LABEL}=true"));
    tokio::spawn(watch(
        Api::<Pod>::all(client.clone()),
        pods,
        shared.clone(),
        record_pod,
    ));
    tokio::spawn(watch(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
        shared.clone(),
        record_node,
    ));
    tokio::spawn(watch(
        Api::<NodeClaim>::all(client.clone()),
        watcher::Config::default(),
        shared.clone(),
        record_claim,
    ));
    tokio::spawn(watch(
        Api::<KubernetesEvent>::all(client.clone()),
        watcher::Config::default(),
        shared.clone(),
        record_nomination,
    ));
}

async fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    shared: Shared,
    record: fn(&mut Observed, K, Instant),
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let stream = watcher(api, config).default_backoff();
    futures_util::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        let now = Instant::now();
        match event {
            Ok(Event::Apply(object) | Event::InitApply(object)) => {
                record(&mut lock(&shared), object, now);
            }
            Ok(Event::Delete(_) | Event::Init | Event::InitDone) => {}
            Err(error) => eprintln!("bench watch: {error}; retrying"),
        }
    }
}

fn record_pod(observed: &mut Observed, pod: Pod, now: Instant) {
    let key = format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    );
    let wave = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(WAVE_LABEL))
        .and_then(|wave| wave.parse().ok())
        .unwrap_or(0);
    let record = observed.pods.entry(key).or_insert(PodRecord {
        wave,
        seen: now,
        pending: None,
        node: None,
        running: None,
    });
    let unschedulable = pod
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|condition| {
            condition.type_ == "PodScheduled"
                && condition.status == "False"
                && condition.reason.as_deref() == Some("Unschedulable")
        });
    if unschedulable && record.pending.is_none() {
        record.pending = Some(now);
    }
    if let Some(node) = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.node_name.clone())
        .filter(|node| !node.is_empty())
    {
        record.node = Some(node);
    }
    let running = pod
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        == Some("Running");
    if running && record.running.is_none() {
        record.running = Some(now);
    }
}

fn record_node(observed: &mut Observed, node: Node, _now: Instant) {
    if let (Some(name), Some(provider_id)) = (
        node.metadata.name,
        node.spec.and_then(|spec| spec.provider_id),
    ) {
        observed.nodes.insert(name, provider_id);
    }
}

fn record_claim(observed: &mut Observed, claim: NodeClaim, now: Instant) {
    let Some(name) = claim.metadata.name else {
        return;
    };
    let record = observed.claims.entry(name).or_insert(ClaimRecord {
        seen: now,
        provider_id: None,
    });
    if let Some(provider_id) = claim.status.and_then(|status| status.provider_id) {
        record.provider_id = Some(provider_id);
    }
}

/// A `Nominated` event on a pod: "Pod should schedule on: nodeclaim/NAME". Only the first
/// nomination of each pod counts (a later one follows a nomination that lapsed).
fn record_nomination(observed: &mut Observed, event: KubernetesEvent, _now: Instant) {
    let Some(regarding) = event.regarding.filter(|regarding| {
        regarding.kind.as_deref() == Some("Pod") && event.reason.as_deref() == Some("Nominated")
    }) else {
        return;
    };
    let Some(claim) = event
        .note
        .as_deref()
        .and_then(|note| note.rsplit_once("nodeclaim/"))
        .map(|(_, claim)| claim.trim().to_owned())
    else {
        return;
    };
    let key = format!(
        "{}/{}",
        regarding.namespace.as_deref().unwrap_or_default(),
        regarding.name.as_deref().unwrap_or_default()
    );
    observed.nominations.entry(key).or_insert(claim);
}
