//! What the benchmark sees of the cluster, with local receive times: its own kube-runtime
//! watchers of the benchmark's pods, of Nodes, of NodeClaims and of Events record when each
//! object was first seen (not `creationTimestamp`, which has one-second resolution), when
//! kube-scheduler first marked each pod unschedulable (pending: the moment a node autoscaler
//! is asked for capacity), which NodeClaim the controller nominated it to (its `Nominated`
//! event, "Pod should schedule on: nodeclaim/NAME"), which node it was bound to, when it was
//! first `Running`, and the provider IDs that tie a Node to its NodeClaim.

use std::collections::{HashMap, HashSet};
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
    /// Each pod's first and last `Nominated` events, by pod `namespace/name` (an event may
    /// come before the pod's own watch has it).
    pub nominations: HashMap<String, Nominations>,
    /// The names of the `Nominated` events recorded (a watch that restarts lists them again).
    pub nomination_events: HashSet<String>,
}

/// A pod's `Nominated` events: its first and, when kube-scheduler gave the room planned for it
/// to another pod and it was planned again, its last.
#[derive(Clone, Debug)]
pub struct Nominations {
    /// The first.
    pub first: Nomination,
    /// The last (the first if there was one).
    pub last: Nomination,
    /// How many.
    pub count: usize,
}

/// One `Nominated` event.
#[derive(Clone, Debug)]
pub struct Nomination {
    /// The NodeClaim it named.
    pub claim: String,
    /// When the watch saw the event.
    pub seen: Instant,
}

/// The controller's answers to pending pods, sorted; see [`Observed::nomination_latencies`].
#[derive(Clone, Debug, Default)]
pub struct NominationLatencies {
    /// Pending to the first nomination, for each nominated pod.
    pub first: Vec<Duration>,
    /// Pending to the last nomination, for each nominated pod.
    pub last: Vec<Duration>,
    /// Pods nominated more than once.
    pub nominated_again: usize,
    /// Pods never nominated (bound to a node that had room, or never provisioned for).
    pub never_nominated: usize,
    /// Pods nominated to a NodeClaim the watch never saw.
    pub claim_unseen: usize,
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

    /// The controller's answers to pending pods: for each nominated pod, the time from
    /// kube-scheduler marking it unschedulable (or, if the watch never saw it so, from its being
    /// seen) to its first nomination, and to its last. A nomination is answered when its
    /// NodeClaim was seen if that NodeClaim was created after the pod became pending, else
    /// (a place on a NodeClaim already in flight) when its `Nominated` event was seen.
    pub fn nomination_latencies(&self) -> NominationLatencies {
        let mut latencies = NominationLatencies::default();
        for (key, pod) in &self.pods {
            let Some(nominations) = self.nominations.get(key) else {
                latencies.never_nominated += 1;
                continue;
            };
            let pending = pod.pending.unwrap_or(pod.seen);
            let answered = |nomination: &Nomination| {
                let claim = self.claims.get(&nomination.claim)?;
                let at = if claim.seen > pending {
                    claim.seen
                } else {
                    nomination.seen
                };
                Some(at.saturating_duration_since(pending))
            };
            match (answered(&nominations.first), answered(&nominations.last)) {
                (Some(first), Some(last)) => {
                    latencies.first.push(first);
                    latencies.last.push(last);
                }
                _ => latencies.claim_unseen += 1,
            }
            if nominations.count > 1 {
                latencies.nominated_again += 1;
            }
        }
        latencies.first.sort();
        latencies.last.sort();
        latencies
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

/// A `Nominated` event on a pod: "Pod should schedule on: nodeclaim/NAME", followed by
/// ", node/NAME" once the NodeClaim has a node.
fn record_nomination(observed: &mut Observed, event: KubernetesEvent, now: Instant) {
    let Some(regarding) = event.regarding.filter(|regarding| {
        regarding.kind.as_deref() == Some("Pod") && event.reason.as_deref() == Some("Nominated")
    }) else {
        return;
    };
    let Some(claim) = event
        .note
        .as_deref()
        .and_then(|note| note.split_once("nodeclaim/"))
        .map(|(_, rest)| rest.split(',').next().unwrap_or_default().trim().to_owned())
    else {
        return;
    };
    if let Some(name) = event.metadata.name
        && !observed.nomination_events.insert(name)
    {
        return;
    }
    let key = format!(
        "{}/{}",
        regarding.namespace.as_deref().unwrap_or_default(),
        regarding.name.as_deref().unwrap_or_default()
    );
    let nomination = Nomination { claim, seen: now };
    observed
        .nominations
        .entry(key)
        .and_modify(|nominations| {
            nominations.last = nomination.clone();
            nominations.count += 1;
        })
        .or_insert_with(|| Nominations {
            first: nomination.clone(),
            last: nomination,
            count: 1,
        });
}
