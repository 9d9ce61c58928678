//! Builders for the core model (`pod("web").cpu("500m").zone_spread(1)`), used by tests,
//! benchmarks and examples across the workspace so that none of them needs YAML blobs.
//! Invalid quantities or operator values in a builder call panic with the offending text:
//! builders are for code a developer writes, never for user input.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::instance_type::InstanceType;
use crate::label_selector::LabelSelector;
use crate::labels;
use crate::node::Node;
use crate::node_pool::NodePool;
use crate::offering::{CapacityType, Offering};
use crate::overhead::karpenter_allocatable;
use crate::pod::{
    PodAffinityTerm, TopologySpreadConstraint, WeightedNodeSelectorTerm, WhenUnsatisfiable,
};
use crate::quantity::Quantity;
use crate::requirements::{NodeSelectorRequirement, Operator, Requirements};
use crate::resources::{self, Resources};
use crate::taints::{Effect, Taint, Toleration, TolerationOperator};

pub use crate::pod::Pod;

/// Starts a pod in namespace `default` that asks for one pod slot and nothing else.
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder {
        pod: Pod {
            namespace: "default".into(),
            name: name.into(),
            requests: Resources {
                pods: 1,
                ..Resources::default()
            },
            ..Pod::default()
        },
    }
}

/// Starts a NodePool with weight 0, no requirements and no limits.
pub fn node_pool(name: &str) -> NodePoolBuilder {
    NodePoolBuilder {
        pool: NodePool::new(name),
        template_requirements: Vec::new(),
    }
}

/// Starts a node with no labels and no allocatable resources.
pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder {
        node: Node {
            name: name.into(),
            labels: std::sync::Arc::new(BTreeMap::from([(
                labels::HOSTNAME.to_string(),
                name.to_string(),
            )])),
            ..Node::default()
        },
    }
}

/// Starts an instance type with no offerings; `cpu` and `memory_gib` set its size.
pub fn instance_type(name: &str) -> InstanceTypeBuilder {
    InstanceTypeBuilder {
        name: name.into(),
        vcpus: 2,
        memory_mib: 4096,
        max_pods: 110,
        labels: BTreeMap::from([
            (labels::ARCH.to_string(), "amd64".to_string()),
            (labels::OS.to_string(), "linux".to_string()),
        ]),
        offerings: Vec::new(),
    }
}

/// A node-selector expression.
pub fn expression(key: &str, operator: Operator, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.into(),
        operator,
        values: values.iter().map(|value| value.to_string()).collect(),
        min_values: None,
    }
}

/// A label selector on exact values.
pub fn selector(labels: &[(&str, &str)]) -> LabelSelector {
    LabelSelector::from_labels(
        labels
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
    )
}

fn quantity(text: &str) -> Quantity {
    Quantity::parse(text).unwrap_or_else(|error| panic!("builder given a bad quantity: {error}"))
}

/// Builds a [`Pod`].
#[derive(Debug, Clone)]
pub struct PodBuilder {
    pod: Pod,
}

impl PodBuilder {
    /// Sets the namespace.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.pod.namespace = namespace.into();
        self
    }
    /// Requests CPU (`"500m"`).
    pub fn cpu(mut self, amount: &str) -> Self {
        self.pod
            .requests
            .set_quantity(resources::CPU, quantity(amount));
        self
    }
    /// Requests memory (`"1Gi"`).
    pub fn memory(mut self, amount: &str) -> Self {
        self.pod
            .requests
            .set_quantity(resources::MEMORY, quantity(amount));
        self
    }
    /// Requests any resource.
    pub fn request(mut self, name: &str, amount: &str) -> Self {
        self.pod.requests.set_quantity(name, quantity(amount));
        self
    }
    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        Arc::make_mut(&mut self.pod.labels).insert(key.into(), value.into());
        self
    }
    /// Annotates the pod `karpenter.sh/do-not-disrupt: "true"`.
    pub fn do_not_disrupt(mut self) -> Self {
        self.pod.do_not_disrupt = true;
        self
    }
    /// Binds a TCP host port on every address.
    pub fn host_port(mut self, port: u16) -> Self {
        self.pod.host_ports.push(crate::pod::HostPort::tcp(port));
        self
    }
    /// Binds a host port with a protocol (`UDP`) and a host IP (`""` for every address).
    pub fn host_port_on(mut self, port: u16, protocol: &str, host_ip: &str) -> Self {
        self.pod.host_ports.push(crate::pod::HostPort {
            port,
            protocol: protocol.into(),
            host_ip: host_ip.into(),
        });
        self
    }
    /// Sets the priority.
    pub fn priority(mut self, priority: i32) -> Self {
        self.pod.priority = priority;
        self
    }
    /// Adds a `nodeSelector` entry.
    pub fn node_selector(mut self, key: &str, value: &str) -> Self {
        Arc::make_mut(&mut self.pod.node_selector).insert(key.into(), value.into());
        self
    }
    /// Adds an expression to the first required node-affinity term.
    pub fn require(mut self, key: &str, operator: Operator, values: &[&str]) -> Self {
        if self.pod.required_node_affinity.is_empty() {
            self.pod.required_node_affinity.push(Vec::new());
        }
        self.pod.required_node_affinity[0].push(expression(key, operator, values));
        self
    }
    /// Adds a required node-affinity term (ORed with the others).
    pub fn require_term(mut self, term: Vec<NodeSelectorRequirement>) -> Self {
        self.pod.required_node_affinity.push(term);
        self
    }
    /// Adds a preferred node-affinity term with one expression.
    pub fn prefer(mut self, weight: i32, key: &str, operator: Operator, values: &[&str]) -> Self {
        self.pod
            .preferred_node_affinity
            .push(WeightedNodeSelectorTerm {
                weight,
                expressions: vec![expression(key, operator, values)],
            });
        self
    }
    /// Tolerates `key=value:effect` (`Equal`).
    pub fn toleration(mut self, key: &str, value: &str, effect: Effect) -> Self {
        Arc::make_mut(&mut self.pod.tolerations).push(Toleration {
            key: key.into(),
            operator: TolerationOperator::Equal,
            value: value.into(),
            effect: Some(effect),
        });
        self
    }
    /// Tolerates every taint.
    pub fn tolerate_everything(mut self) -> Self {
        Arc::make_mut(&mut self.pod.tolerations).push(Toleration {
            operator: TolerationOperator::Exists,
            ..Toleration::default()
        });
        self
    }
    /// Adds a `DoNotSchedule` topology spread over `key` counting pods with `labels`.
    pub fn spread(self, key: &str, max_skew: i32, labels: &[(&str, &str)]) -> Self {
        self.spread_when(key, max_skew, labels, WhenUnsatisfiable::DoNotSchedule)
    }
    /// Adds a topology spread with an explicit `whenUnsatisfiable`.
    pub fn spread_when(
        mut self,
        key: &str,
        max_skew: i32,
        labels: &[(&str, &str)],
        when: WhenUnsatisfiable,
    ) -> Self {
        self.pod.topology_spread.push(TopologySpreadConstraint {
            max_skew,
            topology_key: key.into(),
            when_unsatisfiable: when,
            label_selector: selector(labels),
        });
        self
    }
    /// Adds required pod affinity to pods with `labels` over `key`.
    pub fn affinity(mut self, key: &str, labels: &[(&str, &str)]) -> Self {
        self.pod.pod_affinity.required.push(term(key, labels));
        self
    }
    /// Adds required pod anti-affinity to pods with `labels` over `key`.
    pub fn anti_affinity(mut self, key: &str, labels: &[(&str, &str)]) -> Self {
        self.pod.pod_anti_affinity.required.push(term(key, labels));
        self
    }
    /// Adds preferred pod anti-affinity.
    pub fn preferred_anti_affinity(
        mut self,
        weight: i32,
        key: &str,
        labels: &[(&str, &str)],
    ) -> Self {
        self.pod
            .pod_anti_affinity
            .preferred
            .push((weight, term(key, labels)));
        self
    }
    /// Adds preferred pod affinity.
    pub fn preferred_affinity(mut self, weight: i32, key: &str, labels: &[(&str, &str)]) -> Self {
        self.pod
            .pod_affinity
            .preferred
            .push((weight, term(key, labels)));
        self
    }
    /// The pod.
    pub fn build(self) -> Pod {
        self.pod
    }
}

fn term(key: &str, labels: &[(&str, &str)]) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: selector(labels),
        namespaces: Vec::new(),
        topology_key: key.into(),
    }
}

/// Builds a [`NodePool`].
#[derive(Debug, Clone)]
pub struct NodePoolBuilder {
    pool: NodePool,
    template_requirements: Vec<NodeSelectorRequirement>,
}

impl NodePoolBuilder {
    /// Sets the weight.
    pub fn weight(mut self, weight: i32) -> Self {
        self.pool.weight = weight;
        self
    }
    /// Adds a template requirement.
    pub fn require(mut self, key: &str, operator: Operator, values: &[&str]) -> Self {
        self.template_requirements
            .push(expression(key, operator, values));
        self
    }
    /// Restricts the pool to capacity types.
    pub fn capacity_types(self, capacity_types: &[&str]) -> Self {
        self.require(labels::CAPACITY_TYPE, Operator::In, capacity_types)
    }
    /// Adds a template label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.pool.labels.insert(key.into(), value.into());
        self
    }
    /// Adds a template taint.
    pub fn taint(mut self, key: &str, value: &str, effect: Effect) -> Self {
        self.pool.taints.push(Taint::new(key, value, effect));
        self
    }
    /// Adds a startup taint.
    pub fn startup_taint(mut self, key: &str, value: &str, effect: Effect) -> Self {
        self.pool
            .startup_taints
            .push(Taint::new(key, value, effect));
        self
    }
    /// Limits a resource (`"cpu"`, `"memory"`, `"nodes"`, ...) to a quantity.
    pub fn limit(mut self, resource: &str, amount: &str) -> Self {
        let quantity = quantity(amount);
        let value = if resource == resources::CPU {
            quantity.milli_units()
        } else {
            quantity.units_rounded_up()
        };
        self.pool.limits.set(resource, value);
        self
    }
    /// Sets the pool's own return-to-Spot settings (its `spotter.dev/` annotations).
    pub fn return_to_spot(mut self, overrides: crate::node_pool::ReturnToSpotOverrides) -> Self {
        self.pool.return_to_spot = overrides;
        self
    }
    /// The pool.
    pub fn build(mut self) -> NodePool {
        let requirements = Requirements::from_expressions(&self.template_requirements)
            .unwrap_or_else(|error| panic!("builder given a bad requirement: {error}"));
        self.pool.refresh_requirements(&requirements);
        self.pool
    }
}

/// Builds a [`Node`].
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    node: Node,
}

impl NodeBuilder {
    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        std::sync::Arc::make_mut(&mut self.node.labels).insert(key.into(), value.into());
        self
    }
    /// Sets the zone label.
    pub fn zone(self, zone: &str) -> Self {
        self.label(labels::ZONE, zone)
    }
    /// Sets the capacity-type label.
    pub fn capacity_type(self, capacity_type: &str) -> Self {
        self.label(labels::CAPACITY_TYPE, capacity_type)
    }
    /// Sets the NodePool label.
    pub fn node_pool(self, node_pool: &str) -> Self {
        self.label(labels::NODE_POOL, node_pool)
    }
    /// Sets allocatable CPU and memory, and 110 pods.
    pub fn allocatable(mut self, cpu: &str, memory: &str) -> Self {
        self.node
            .allocatable
            .set_quantity(resources::CPU, quantity(cpu));
        self.node
            .allocatable
            .set_quantity(resources::MEMORY, quantity(memory));
        self.node.allocatable.pods = 110;
        self
    }
    /// Adds a taint.
    pub fn taint(mut self, key: &str, value: &str, effect: Effect) -> Self {
        self.node.taints.push(Taint::new(key, value, effect));
        self
    }
    /// Cordons the node.
    pub fn cordoned(mut self) -> Self {
        self.node.unschedulable = true;
        self
    }
    /// Binds a pod to the node.
    pub fn pod(mut self, pod: Pod) -> Self {
        self.node.pods.push(std::sync::Arc::new(pod));
        self
    }
    /// The node.
    pub fn build(self) -> Node {
        self.node
    }
}

/// Builds an [`InstanceType`] whose allocatable follows Karpenter's default overhead.
#[derive(Debug, Clone)]
pub struct InstanceTypeBuilder {
    name: String,
    vcpus: i64,
    memory_mib: i64,
    max_pods: i64,
    labels: BTreeMap<String, String>,
    offerings: Vec<Offering>,
}

impl InstanceTypeBuilder {
    /// Sets the vCPU count.
    pub fn cpu(mut self, vcpus: i64) -> Self {
        self.vcpus = vcpus;
        self
    }
    /// Sets the memory in GiB.
    pub fn memory_gib(mut self, gib: i64) -> Self {
        self.memory_mib = gib * 1024;
        self
    }
    /// Sets the pod capacity.
    pub fn max_pods(mut self, max_pods: i64) -> Self {
        self.max_pods = max_pods;
        self
    }
    /// Adds a label (e.g. `karpenter.k8s.aws/instance-family`).
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
    /// Adds an available offering.
    pub fn offering(
        mut self,
        capacity_type: CapacityType,
        zone: &str,
        price_per_hour: f64,
    ) -> Self {
        self.offerings.push(Offering {
            capacity_type,
            zone: zone.into(),
            zone_id: None,
            price_per_hour,
            price_estimated: false,
            available: true,
            interruption_band: None,
        });
        self
    }
    /// Adds an available offering with a Spot-advisor interruption band (0 `<5%` … 4 `>20%`).
    pub fn offering_with_band(
        self,
        capacity_type: CapacityType,
        zone: &str,
        price_per_hour: f64,
        band: u8,
    ) -> Self {
        let mut builder = self.offering(capacity_type, zone, price_per_hour);
        if let Some(offering) = builder.offerings.last_mut() {
            offering.interruption_band = Some(band);
        }
        builder
    }
    /// The instance type.
    pub fn build(self) -> InstanceType {
        let capacity = Resources {
            cpu_millicores: self.vcpus * 1000,
            memory_bytes: self.memory_mib << 20,
            pods: self.max_pods,
            ephemeral_storage_bytes: 20 << 30,
            extended: Vec::new(),
        };
        let arm64 = self
            .labels
            .get(labels::ARCH)
            .is_some_and(|arch| arch == "arm64");
        let allocatable = karpenter_allocatable(
            u32::try_from(self.vcpus).unwrap_or(0),
            u64::try_from(self.memory_mib).unwrap_or(0),
            u32::try_from(self.max_pods).unwrap_or(0),
            arm64,
        );
        let mut labels = self.labels;
        labels.insert(labels::INSTANCE_CPU.into(), self.vcpus.to_string());
        labels.insert(labels::INSTANCE_MEMORY.into(), self.memory_mib.to_string());
        InstanceType::new(self.name, labels, capacity, allocatable, self.offerings)
    }
}
