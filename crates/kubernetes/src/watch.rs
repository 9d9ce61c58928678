//! The watches: one task per kind (EC2NodeClasses, NodePools, NodeClaims, Nodes, Pods,
//! DaemonSets, PodDisruptionBudgets) runs a kube-runtime watcher, converts each object at once into the
//! driver's compact values ([`crate::convert`]) and sends it to the driver as an
//! [`Observation`]; the object itself is dropped. Each task remembers the keys it has seen, so
//! that an object deleted while the watch was down (a relist after `410 Gone`) is reported
//! deleted all the same.

use std::collections::HashSet;
use std::fmt::Debug;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use spotter_api::crd::ec2_node_class::Ec2NodeClass;
use spotter_api::crd::node_claim::NodeClaim;
use spotter_api::crd::node_pool::NodePool;
use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;

use crate::convert::{self, ConvertError};
use crate::observation::{Kind, Object, Observation};

/// Starts the watches of every kind; each sends [`Observation::Synced`] once listed.
pub fn spawn_all(client: &Client, sender: &Sender<Observation>) -> Vec<JoinHandle<()>> {
    vec![
        spawn::<Ec2NodeClass>(Api::all(client.clone()), sender.clone()),
        spawn::<NodePool>(Api::all(client.clone()), sender.clone()),
        spawn::<DaemonSet>(Api::all(client.clone()), sender.clone()),
        spawn::<PodDisruptionBudget>(Api::all(client.clone()), sender.clone()),
        spawn::<NodeClaim>(Api::all(client.clone()), sender.clone()),
        spawn::<Node>(Api::all(client.clone()), sender.clone()),
        spawn::<Pod>(Api::all(client.clone()), sender.clone()),
    ]
}

/// A kind the driver watches.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    /// Which kind.
    const KIND: Kind;
    /// Its key: the name, or `namespace/name` for namespaced kinds.
    fn key(&self) -> String;
    /// Its compact value.
    fn convert(&self) -> Result<Object, ConvertError>;
}

/// Starts the watch of one kind.
pub fn spawn<K: Watched>(api: Api<K>, sender: Sender<Observation>) -> JoinHandle<()> {
    tokio::spawn(run(api, sender))
}

async fn run<K: Watched>(api: Api<K>, sender: Sender<Observation>) {
    let mut known: HashSet<String> = HashSet::new();
    let mut relisted: Option<HashSet<String>> = None;
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures_util::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        let observations = match event {
            Ok(Event::Init) => {
                relisted = Some(HashSet::new());
                Vec::new()
            }
            Ok(Event::InitApply(object)) => {
                let key = object.key();
                if let Some(relisted) = relisted.as_mut() {
                    relisted.insert(key.clone());
                }
                known.insert(key.clone());
                vec![applied(&object, key)]
            }
            Ok(Event::InitDone) => {
                let listed = relisted.take().unwrap_or_default();
                let mut observations: Vec<Observation> = known
                    .difference(&listed)
                    .map(|key| Observation::Deleted(K::KIND, key.clone()))
                    .collect();
                known = listed;
                observations.push(Observation::Synced(K::KIND));
                observations
            }
            Ok(Event::Apply(object)) => {
                let key = object.key();
                known.insert(key.clone());
                vec![applied(&object, key)]
            }
            Ok(Event::Delete(object)) => {
                let key = object.key();
                known.remove(&key);
                vec![Observation::Deleted(K::KIND, key)]
            }
            Err(error) => {
                tracing::warn!(kind = K::KIND.as_str(), %error, "watch failed; retrying with backoff");
                Vec::new()
            }
        };
        for observation in observations {
            if sender.send(observation).await.is_err() {
                return;
            }
        }
    }
}

fn applied<K: Watched>(object: &K, key: String) -> Observation {
    match object.convert() {
        Ok(converted) => Observation::Applied(Box::new(converted)),
        Err(error) => Observation::Invalid(K::KIND, key, error),
    }
}

impl Watched for NodePool {
    const KIND: Kind = Kind::NodePool;
    fn key(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }
    fn convert(&self) -> Result<Object, ConvertError> {
        Ok(Object::NodePool(convert::node_pool(self)))
    }
}

impl Watched for Ec2NodeClass {
    const KIND: Kind = Kind::NodeClass;
    fn key(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }
    fn convert(&self) -> Result<Object, ConvertError> {
        Ok(Object::NodeClass(convert::node_class(self)))
    }
}

impl Watched for NodeClaim {
    const KIND: Kind = Kind::NodeClaim;
    fn key(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }
    fn convert(&self) -> Result<Object, ConvertError> {
        convert::node_claim(self).map(Object::NodeClaim)
    }
}

impl Watched for Node {
    const KIND: Kind = Kind::Node;
    fn key(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }
    fn convert(&self) -> Result<Object, ConvertError> {
        convert::node(self).map(Object::Node)
    }
}

impl Watched for Pod {
    const KIND: Kind = Kind::Pod;
    fn key(&self) -> String {
        convert::key_of(&self.metadata)
    }
    fn convert(&self) -> Result<Object, ConvertError> {
        convert::pod(self).map(Object::Pod)
    }
}

impl Watched for DaemonSet {
    const KIND: Kind = Kind::DaemonSet;
    fn key(&self) -> String {
        convert::key_of(&self.metadata)
    }
    fn convert(&self) -> Result<Object, ConvertError> {
        convert::daemon_set_pod(self).map(|pod| Object::DaemonSet(self.key(), pod))
    }
}

impl Watched for PodDisruptionBudget {
    const KIND: Kind = Kind::PodDisruptionBudget;
    fn key(&self) -> String {
        convert::key_of(&self.metadata)
    }
    fn convert(&self) -> Result<Object, ConvertError> {
        convert::pod_disruption_budget(self).map(Object::PodDisruptionBudget)
    }
}
