//! `karpenter_nodes_allocatable`, `karpenter_nodes_total_pod_requests` and
//! `karpenter_nodes_total_daemon_requests`: one series per node and resource, written when the
//! exposition is encoded from one row per node (its name, its well-known label values and the
//! three amounts). Families would own a label set per series, a dozen per node, and build them
//! all again on every observation: megabytes, and tens of thousands of allocations, at 1,000
//! nodes.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, LabelSetEncoder,
};
use prometheus_client::metrics::MetricType;
use spotter_core::resources::{self, Resources};

use crate::labels::{WellKnownLabels, resource_type};

/// The three families, as one collector.
#[derive(Clone, Debug)]
pub(crate) struct NodeSeries {
    rows: Arc<Mutex<Arc<Vec<NodeRow>>>>,
    names: WellKnownLabels,
}

/// One node's values.
#[derive(Debug)]
pub(crate) struct NodeRow {
    /// The node's name.
    pub name: String,
    /// Its value of each well-known label, in [`WellKnownLabels`] order.
    pub well_known: Arc<[String]>,
    /// Its allocatable resources.
    pub allocatable: Resources,
    /// The requests of its pods, DaemonSet pods excluded.
    pub pod_requests: Resources,
    /// The requests of its DaemonSet pods.
    pub daemon_requests: Resources,
}

/// Which amount of a row a family reports.
type Amounts = fn(&NodeRow) -> &Resources;

/// The families: name, help, and which amount of a row each reports.
const FAMILIES: [(&str, &str, Amounts); 3] = [
    (
        "karpenter_nodes_allocatable",
        "Node allocatable: what pods can use after kubelet and system overhead, CPU in cores, memory and storage in bytes (labels of Karpenter after v1.0, without the phase the kubelet leaves empty).",
        |row| &row.allocatable,
    ),
    (
        "karpenter_nodes_total_pod_requests",
        "The sum of the requests of the pods bound to the node, DaemonSet pods excluded (labels as karpenter_nodes_allocatable).",
        |row| &row.pod_requests,
    ),
    (
        "karpenter_nodes_total_daemon_requests",
        "The sum of the requests of the DaemonSet pods bound to the node (labels as karpenter_nodes_allocatable).",
        |row| &row.daemon_requests,
    ),
];

impl NodeSeries {
    /// No rows yet.
    pub fn new(names: WellKnownLabels) -> Self {
        Self {
            rows: Arc::default(),
            names,
        }
    }

    /// Replaces the rows.
    pub fn set(&self, rows: Vec<NodeRow>) {
        *self.rows.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(rows);
    }

    /// One row with every label set to a placeholder, for the generated documentation (an
    /// empty value would leave its label out).
    pub fn touch(&self) {
        let mut amounts = Resources::new();
        amounts.cpu_millicores = 1000;
        self.set(vec![NodeRow {
            name: "example".to_string(),
            well_known: self.names.placeholder_values(),
            allocatable: amounts.clone(),
            pod_requests: amounts.clone(),
            daemon_requests: amounts,
        }]);
    }

    /// The collector to register: it encodes the three families.
    pub fn collector(&self) -> Box<dyn Collector> {
        Box::new(self.clone())
    }
}

impl Collector for NodeSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        // A snapshot: the lock is not held while the rows are written out.
        let rows = Arc::clone(&self.rows.lock().unwrap_or_else(PoisonError::into_inner));
        for (name, help, amounts) in FAMILIES {
            let mut metric_encoder =
                encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for row in rows.iter() {
                for (resource, amount) in reported_resources(amounts(row)) {
                    let labels = NodeLabelsRef {
                        node_name: &row.name,
                        resource_type: resource_type_of(resource),
                        well_known: &row.well_known,
                        names: &self.names,
                    };
                    metric_encoder
                        .encode_family(&labels)?
                        .encode_gauge(&resource_value(resource, amount))?;
                }
            }
        }
        Ok(())
    }
}

/// The resources a node or pool reports: the four core ones always, extended ones when present.
pub(crate) fn reported_resources(amounts: &Resources) -> impl Iterator<Item = (&str, i64)> {
    [
        (resources::CPU, amounts.cpu_millicores),
        (resources::MEMORY, amounts.memory_bytes),
        (resources::PODS, amounts.pods),
        (
            resources::EPHEMERAL_STORAGE,
            amounts.ephemeral_storage_bytes,
        ),
    ]
    .into_iter()
    .chain(
        amounts
            .extended
            .iter()
            .map(|(name, amount)| (name.as_str(), *amount)),
    )
}

/// A resource amount as Karpenter reports it: CPU in cores, everything else in its unit.
pub(crate) fn resource_value(name: &str, amount: i64) -> f64 {
    if name == resources::CPU {
        amount as f64 / 1000.0
    } else {
        amount as f64
    }
}

/// [`resource_type`] without an allocation for the core resources.
fn resource_type_of(name: &str) -> Cow<'static, str> {
    match name {
        resources::CPU => Cow::Borrowed("cpu"),
        resources::MEMORY => Cow::Borrowed("memory"),
        resources::PODS => Cow::Borrowed("pods"),
        resources::EPHEMERAL_STORAGE => Cow::Borrowed("ephemeral_storage"),
        other => Cow::Owned(resource_type(other)),
    }
}

/// A node series' labels, borrowed from its row.
struct NodeLabelsRef<'a> {
    node_name: &'a str,
    resource_type: Cow<'static, str>,
    well_known: &'a [String],
    names: &'a WellKnownLabels,
}

impl EncodeLabelSet for NodeLabelsRef<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), fmt::Error> {
        ("node_name", self.node_name).encode(encoder.encode_label())?;
        ("resource_type", self.resource_type.as_ref()).encode(encoder.encode_label())?;
        // Karpenter's `managed`: whether Karpenter (here Spotter) manages the node; every node
        // these metrics describe has a NodeClaim.
        ("managed", "true").encode(encoder.encode_label())?;
        // A label the node lacks is left out, which Prometheus reads as Karpenter's empty value.
        for (name, value) in self.names.names().iter().zip(self.well_known.iter()) {
            if !value.is_empty() {
                (name.as_str(), value.as_str()).encode(encoder.encode_label())?;
            }
        }
        Ok(())
    }
}
