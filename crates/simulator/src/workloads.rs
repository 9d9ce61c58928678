//! Who owns each pod of the simulated cluster (a Deployment or a Job), how many replicas each
//! Deployment wants, and which run of a Job pod is current: the bookkeeping the owners in
//! `lifecycle` act on. It depends on nothing else in the simulator.

use std::collections::BTreeMap;

use crate::scenario::Scenario;

/// Who owns a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    Deployment(usize),
    Job(usize),
}

/// Why a pod leaves the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// Its owner scaled down.
    ScaledDown,
    /// It ran to completion.
    Completed,
    /// Evicted or deleted by Spotter (draining): its owner replaces it.
    Disrupted,
    /// Killed by its instance going away: its owner replaces it.
    Lost,
}

/// Pod ownership and counters.
#[derive(Debug, Default)]
pub(crate) struct Workloads {
    /// Each pod's owner and creation sequence number.
    pub(crate) owners: BTreeMap<String, (Owner, u64)>,
    /// Live pods per Deployment.
    pub(crate) deployment_pods: Vec<BTreeMap<u64, String>>,
    /// Desired replicas per Deployment.
    pub(crate) desired: Vec<u32>,
    /// Per Job pod: the run it belongs to (bumped when restarted).
    pub(crate) runs: BTreeMap<String, u64>,
    pub(crate) next_pod: u64,
    pub(crate) next_run: u64,
}

impl Workloads {
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            deployment_pods: vec![BTreeMap::new(); scenario.deployments.len()],
            desired: vec![0; scenario.deployments.len()],
            ..Self::default()
        }
    }
}
