//! `karpenter_pods_state`: one series per pod, written when the exposition is encoded from the
//! pods and nodes of the last observed state. A `Family` would own ten label strings per pod
//! and build them all again on every observation (tens of thousands of allocations, and
//! megabytes kept, at 10,000 pods); [`PodsState`] keeps a shared handle on each pod (the
//! state's own `Arc<Pod>`) and one row of label values per node, and borrows them as labels
//! only while a scrape is encoded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use spotter_controllers::ClusterState;
use spotter_controllers::state::NodeState;
use spotter_core::labels;
use spotter_core::pod::Pod;

/// The family's name.
pub(crate) const NAME: &str = "karpenter_pods_state";

/// The rows of `karpenter_pods_state`, shared with the collector the registry encodes.
#[derive(Clone, Debug)]
pub(crate) struct PodsState {
    rows: Arc<Mutex<Arc<Vec<PodRow>>>>,
    help: Arc<str>,
}

impl PodsState {
    /// An empty family with `help` (its trailing period added, as the registry adds it).
    pub fn new(help: &str) -> Self {
        Self {
            rows: Arc::default(),
            help: format!("{help}.").into(),
        }
    }

    /// Replaces the rows with the pods of `state`.
    pub fn observe(&self, state: &ClusterState) {
        let nodes: BTreeMap<&str, Arc<NodeRow>> = state
            .nodes
            .values()
            .map(|node| (node.name.as_str(), Arc::new(NodeRow::of(node))))
            .collect();
        let pods = state
            .pods
            .values()
            .map(|pod| PodRow {
                pod: Arc::clone(&pod.pod),
                node: pod
                    .node
                    .as_deref()
                    .and_then(|node| nodes.get(node))
                    .map(Arc::clone),
                node_name: match pod.node.as_deref() {
                    Some(node) if !nodes.contains_key(node) => Some(node.into()),
                    _ => None,
                },
            })
            .collect();
        *self.lock() = Arc::new(pods);
    }

    /// One series with example label values (for [`crate::describe`]).
    pub fn touch(&self) {
        let node = NodeRow {
            name: "node".to_string(),
            node_pool: "default".to_string(),
            zone: "us-east-1a".to_string(),
            arch: "amd64".to_string(),
            capacity_type: "spot".to_string(),
            instance_type: "m5.large".to_string(),
        };
        let pod = Pod {
            namespace: "default".to_string(),
            name: "pod".to_string(),
            ..Pod::default()
        };
        *self.lock() = Arc::new(vec![PodRow {
            pod: Arc::new(pod),
            node: Some(Arc::new(node)),
            node_name: None,
        }]);
    }

    /// The collector to register: it encodes these rows.
    pub fn collector(&self) -> Box<dyn Collector> {
        Box::new(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<Vec<PodRow>>> {
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Collector for PodsState {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A snapshot: the lock is not held while the rows are written out.
        let rows = Arc::clone(&self.lock());
        let mut metric_encoder =
            encoder.encode_descriptor(NAME, &self.help, None, MetricType::Gauge)?;
        for row in rows.iter() {
            let node = row.node.as_deref();
            let node_label = |value: fn(&NodeRow) -> &str| node.map(value).unwrap_or_default();
            let labels: [(&str, &str); 10] = [
                ("name", row.pod.name.as_str()),
                ("namespace", row.pod.namespace.as_str()),
                ("owner", ""),
                (
                    "node",
                    node.map(|node| node.name.as_str())
                        .or(row.node_name.as_deref())
                        .unwrap_or_default(),
                ),
                ("nodepool", node_label(|node| &node.node_pool)),
                ("zone", node_label(|node| &node.zone)),
                ("arch", node_label(|node| &node.arch)),
                ("capacity_type", node_label(|node| &node.capacity_type)),
                ("instance_type", node_label(|node| &node.instance_type)),
                (
                    "phase",
                    if row.node.is_some() || row.node_name.is_some() {
                        "Running"
                    } else {
                        "Pending"
                    },
                ),
            ];
            metric_encoder.encode_family(&labels)?.encode_gauge(&1i64)?;
        }
        Ok(())
    }
}

/// One pod: the state's pod, and the label values of the node it is bound to.
#[derive(Debug)]
struct PodRow {
    pod: Arc<Pod>,
    node: Option<Arc<NodeRow>>,
    /// The name of a node the pod is bound to that the state does not hold (yet).
    node_name: Option<Box<str>>,
}

/// The label values a node gives the series of its pods.
#[derive(Debug)]
struct NodeRow {
    name: String,
    node_pool: String,
    zone: String,
    arch: String,
    capacity_type: String,
    instance_type: String,
}

impl NodeRow {
    fn of(node: &NodeState) -> Self {
        let label = |key: &str| node.labels.get(key).cloned().unwrap_or_default();
        Self {
            name: node.name.clone(),
            node_pool: label(labels::NODE_POOL),
            zone: label(labels::ZONE),
            arch: label(labels::ARCH),
            capacity_type: label(labels::CAPACITY_TYPE),
            instance_type: label(labels::INSTANCE_TYPE),
        }
    }
}
