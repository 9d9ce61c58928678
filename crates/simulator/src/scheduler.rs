//! The kube-scheduler stand-in: binds pending pods to Ready, schedulable nodes they fit,
//! using the core solver with no NodePools (so fit, taints, affinity and topology are the same
//! rules Spotter plans with), and hands pods nominated to a Ready node they no longer fit back
//! to the provisioner.

use spotter_core::node::Node;
use spotter_core::pod::{Pod, WhenUnsatisfiable};
use spotter_core::solver::{SchedulingInput, solve};
use spotter_core::unavailable_offerings::UnavailableOfferings;

use crate::simulation::Simulation;

impl Simulation {
    pub(crate) fn schedule_pods(&mut self) {
        // A pod the provisioner planned onto a node that is not Ready yet waits for that node:
        // room elsewhere was ruled out when it was planned.
        let pending: Vec<String> = self
            .state
            .pending_pods()
            .filter(|(_, pod)| !pod.daemon && !self.waits_for_its_node(pod))
            .map(|(key, _)| key.clone())
            .collect();
        if pending.is_empty() {
            return;
        }
        // kube-scheduler filters on hard constraints only; preferences merely score nodes.
        let pods: Vec<Pod> = pending
            .iter()
            .filter_map(|key| self.state.pods.get(key))
            .map(|pod| without_preferences(&pod.pod))
            .collect();
        // Without hard topology constraints a full node cannot matter, so only nodes with room
        // for the least CPU and the least memory any pending pod asks for are considered (each
        // minimum on its own: the pod asking for the least CPU may ask for more memory than
        // another).
        let topology = pods.iter().any(|pod| {
            !pod.topology_spread.is_empty()
                || !pod.pod_affinity.required.is_empty()
                || !pod.pod_anti_affinity.required.is_empty()
        });
        let smallest = (
            pods.iter()
                .map(|pod| pod.requests.cpu_millicores)
                .min()
                .unwrap_or_default(),
            pods.iter()
                .map(|pod| pod.requests.memory_bytes)
                .min()
                .unwrap_or_default(),
        );
        let nodes: Vec<Node> = self
            .state
            .nodes
            .values()
            .filter(|node| {
                node.ready
                    && !node.unschedulable
                    && self
                        .state
                        .node_claims
                        .get(&node.node_claim)
                        .is_none_or(|claim| claim.deletion.is_none())
            })
            .filter(|node| topology || self.has_room(node, smallest))
            .map(|node| self.state.solver_node(node, std::iter::empty()))
            .collect();
        if nodes.is_empty() {
            return;
        }
        let unavailable = UnavailableOfferings::new();
        let input = SchedulingInput {
            pods: &pods,
            nodes: &nodes,
            node_pools: &[],
            instance_types: &[],
            daemon_set_pods: &[],
            unavailable: &unavailable,
            pool_usage: None,
        };
        let plan = solve(&input);
        for placement in &plan.existing_nodes {
            for &pod in &placement.pods {
                self.bind(&pending[pod], &placement.node);
            }
        }
        // A pod planned onto a node that is Ready now but could not take it goes back to the
        // provisioner.
        let mut returned = false;
        for unschedulable in &plan.unschedulable {
            let key = &pending[unschedulable.pod];
            let Some(pod) = self.state.pods.get(key) else {
                continue;
            };
            let nominated_node_ready = pod
                .nominated
                .as_ref()
                .and_then(|claim| self.state.node_claims.get(claim))
                .and_then(|claim| claim.node.as_ref())
                .and_then(|node| self.state.nodes.get(node))
                .is_some_and(|node| node.ready);
            if let Some(pod) = self
                .state
                .pods
                .get_mut(key)
                .filter(|_| nominated_node_ready)
            {
                pod.nominated = None;
                returned = true;
            }
        }
        if returned {
            self.request_reconcile(self.now);
        }
    }

    /// Whether the pod is nominated to a NodeClaim whose node is not Ready yet.
    fn waits_for_its_node(&self, pod: &spotter_controllers::state::PodState) -> bool {
        pod.nominated
            .as_ref()
            .and_then(|claim| self.state.node_claims.get(claim))
            .is_some_and(|claim| {
                claim.deletion.is_none()
                    && claim
                        .node
                        .as_ref()
                        .and_then(|node| self.state.nodes.get(node))
                        .is_none_or(|node| !node.ready)
            })
    }

    /// Whether a node has room for `(cpu millicores, memory bytes)` beside its pods.
    fn has_room(
        &self,
        node: &spotter_controllers::state::NodeState,
        (cpu, memory): (i64, i64),
    ) -> bool {
        let mut used_cpu = 0;
        let mut used_memory = 0;
        for pod in node.pods.values() {
            used_cpu += pod.requests.cpu_millicores;
            used_memory += pod.requests.memory_bytes;
        }
        used_cpu + cpu <= node.allocatable.cpu_millicores
            && used_memory + memory <= node.allocatable.memory_bytes
    }
}

/// The pod with its soft constraints removed: `ScheduleAnyway` spreads, preferred node
/// affinity and preferred pod (anti-)affinity.
fn without_preferences(pod: &Pod) -> Pod {
    let mut pod = pod.clone();
    pod.topology_spread
        .retain(|constraint| constraint.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule);
    pod.preferred_node_affinity.clear();
    pod.pod_affinity.preferred.clear();
    pod.pod_anti_affinity.preferred.clear();
    pod
}
