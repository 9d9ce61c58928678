//! The constraints a pod is scheduled with at each step of preference relaxation, as Karpenter
//! does it: required node-affinity terms are tried in order, the heaviest preferences are
//! treated as required and dropped one at a time, then `ScheduleAnyway` spreads, then
//! `PreferNoSchedule` taints become tolerated.

use std::collections::BTreeMap;

use crate::pod::{
    Pod, PodAffinityTerm, TopologySpreadConstraint, WeightedNodeSelectorTerm, WhenUnsatisfiable,
};
use crate::requirements::{NodeSelectorRequirement, RequirementError, Requirements};
use crate::taints::Toleration;

/// Everything that decides where a pod may go, except its size. Pods with equal constraints
/// share every cached compatibility answer in the solver.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PodConstraints {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub requirements: Requirements,
    pub tolerations: Vec<Toleration>,
    pub tolerate_prefer_no_schedule: bool,
    pub topology_spread: Vec<TopologySpreadConstraint>,
    pub affinity: Vec<PodAffinityTerm>,
    pub anti_affinity: Vec<PodAffinityTerm>,
    /// How many leading `anti_affinity` terms are required (the rest are preferences): only
    /// those keep other pods away, as Karpenter tracks no inverse anti-affinity preferences.
    pub required_anti_affinity: usize,
}

/// What is left to relax of one pod's preferences.
#[derive(Debug)]
pub(crate) struct Relaxation {
    required_terms: Vec<Vec<NodeSelectorRequirement>>,
    preferred_node_terms: Vec<WeightedNodeSelectorTerm>,
    preferred_affinity: Vec<PodAffinityTerm>,
    preferred_anti_affinity: Vec<PodAffinityTerm>,
    schedule_anyway_spread: bool,
    tolerate_prefer_no_schedule: bool,
}

impl Relaxation {
    pub fn new(pod: &Pod) -> Self {
        let mut preferred_node_terms = pod.preferred_node_affinity.clone();
        preferred_node_terms.sort_by_key(|term| std::cmp::Reverse(term.weight));
        let by_weight = |terms: &[(i32, PodAffinityTerm)]| {
            let mut terms = terms.to_vec();
            terms.sort_by_key(|(weight, _)| std::cmp::Reverse(*weight));
            terms.into_iter().map(|(_, term)| term).collect()
        };
        Self {
            required_terms: pod.required_node_affinity.clone(),
            preferred_node_terms,
            preferred_affinity: by_weight(&pod.pod_affinity.preferred),
            preferred_anti_affinity: by_weight(&pod.pod_anti_affinity.preferred),
            schedule_anyway_spread: true,
            tolerate_prefer_no_schedule: false,
        }
    }

    /// The constraints in force now.
    pub fn constraints(&self, pod: &Pod) -> Result<PodConstraints, RequirementError> {
        let mut requirements = Requirements::from_labels(&pod.node_selector);
        if let Some(term) = self.required_terms.first() {
            requirements.add_all(&Requirements::from_expressions(term)?);
        }
        if let Some(term) = self.preferred_node_terms.first() {
            requirements.add_all(&Requirements::from_expressions(&term.expressions)?);
        }
        let topology_spread = pod
            .topology_spread
            .iter()
            .filter(|constraint| {
                self.schedule_anyway_spread
                    || constraint.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule
            })
            .cloned()
            .collect();
        let mut affinity = pod.pod_affinity.required.clone();
        affinity.extend(self.preferred_affinity.iter().cloned());
        let mut anti_affinity = pod.pod_anti_affinity.required.clone();
        anti_affinity.extend(self.preferred_anti_affinity.iter().cloned());
        Ok(PodConstraints {
            namespace: pod.namespace.clone(),
            labels: pod.labels.clone(),
            requirements,
            tolerations: pod.tolerations.clone(),
            tolerate_prefer_no_schedule: self.tolerate_prefer_no_schedule,
            topology_spread,
            affinity,
            anti_affinity,
            required_anti_affinity: pod.pod_anti_affinity.required.len(),
        })
    }

    /// Relaxes one more preference; false when nothing is left to relax.
    pub fn relax(&mut self, pod: &Pod) -> bool {
        if self.required_terms.len() > 1 {
            self.required_terms.remove(0);
        } else if !self.preferred_affinity.is_empty() {
            self.preferred_affinity.remove(0);
        } else if !self.preferred_anti_affinity.is_empty() {
            self.preferred_anti_affinity.remove(0);
        } else if !self.preferred_node_terms.is_empty() {
            self.preferred_node_terms.remove(0);
        } else if self.schedule_anyway_spread
            && pod.topology_spread.iter().any(|constraint| {
                constraint.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway
            })
        {
            self.schedule_anyway_spread = false;
        } else if !self.tolerate_prefer_no_schedule {
            self.tolerate_prefer_no_schedule = true;
        } else {
            return false;
        }
        true
    }
}
