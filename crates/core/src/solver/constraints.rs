//! The constraints a pod is scheduled with at each step of preference relaxation, as Karpenter
//! does it: required node-affinity terms are tried in order, the heaviest preferences are
//! treated as required and dropped one at a time, then `ScheduleAnyway` spreads, then
//! `PreferNoSchedule` taints become tolerated.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::label_selector::LabelSelector;

use crate::pod::{
    HostPort, Pod, PodAffinityTerm, TopologySpreadConstraint, WeightedNodeSelectorTerm,
    WhenUnsatisfiable,
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
    pub tolerations: Arc<Vec<Toleration>>,
    pub tolerate_prefer_no_schedule: bool,
    pub topology_spread: Vec<TopologySpreadConstraint>,
    pub affinity: Vec<PodAffinityTerm>,
    pub anti_affinity: Vec<PodAffinityTerm>,
    /// How many leading `anti_affinity` terms are required (the rest are preferences): only
    /// those keep other pods away, as Karpenter tracks no inverse anti-affinity preferences.
    pub required_anti_affinity: usize,
    /// The host ports the pod binds (usually none).
    pub host_ports: Vec<HostPort>,
}

/// The label keys some selector of the solver's input reads (spread and (anti-)affinity terms
/// of the pods to place, required anti-affinity of running pods). A pod's other labels cannot
/// change where it may go, so they are left out of its constraints: pods that differ only in
/// them share one signature and every answer cached for it.
#[derive(Debug, Default)]
pub(crate) struct SelectedLabelKeys {
    /// `None`: keep every label.
    keys: Option<HashSet<String>>,
}

impl SelectedLabelKeys {
    /// Keeps every label.
    pub fn all() -> Self {
        Self { keys: None }
    }

    /// The keys the selectors of `pods` and of `running` pods' required anti-affinity read.
    pub fn of<'p>(pods: &'p [Pod], running: impl Iterator<Item = &'p Pod>) -> Self {
        let mut keys = HashSet::new();
        let mut add = |selector: &LabelSelector| {
            keys.extend(selector.match_labels.keys().cloned());
            keys.extend(
                selector
                    .match_expressions
                    .iter()
                    .map(|expression| expression.key.clone()),
            );
        };
        for pod in pods {
            for constraint in &pod.topology_spread {
                add(&constraint.label_selector);
            }
            for terms in [&pod.pod_affinity, &pod.pod_anti_affinity] {
                for term in terms
                    .required
                    .iter()
                    .chain(terms.preferred.iter().map(|(_, term)| term))
                {
                    add(&term.label_selector);
                }
            }
        }
        for pod in running {
            for term in &pod.pod_anti_affinity.required {
                add(&term.label_selector);
            }
        }
        Self { keys: Some(keys) }
    }

    /// Whether both pods are the same to the solver: equal in everything that decides where
    /// they may go and what they take, their names and unselected labels aside.
    pub fn same_scheduling(&self, left: &Pod, right: &Pod) -> bool {
        left.namespace == right.namespace
            && left.requests == right.requests
            && left.priority == right.priority
            && left.node_selector == right.node_selector
            && left.required_node_affinity == right.required_node_affinity
            && left.preferred_node_affinity == right.preferred_node_affinity
            && left.tolerations == right.tolerations
            && left.topology_spread == right.topology_spread
            && left.pod_affinity == right.pod_affinity
            && left.pod_anti_affinity == right.pod_anti_affinity
            && left.host_ports == right.host_ports
            && self.same_selected_labels(&left.labels, &right.labels)
    }

    fn same_selected_labels(
        &self,
        left: &BTreeMap<String, String>,
        right: &BTreeMap<String, String>,
    ) -> bool {
        let Some(keys) = &self.keys else {
            return left == right;
        };
        let selected = |labels: &BTreeMap<String, String>, other: &BTreeMap<String, String>| {
            labels
                .iter()
                .filter(|(key, _)| keys.contains(key.as_str()))
                .all(|(key, value)| other.get(key) == Some(value))
        };
        selected(left, right) && selected(right, left)
    }

    fn keep(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match &self.keys {
            None => labels.clone(),
            Some(keys) if keys.is_empty() => BTreeMap::new(),
            Some(keys) => labels
                .iter()
                .filter(|(key, _)| keys.contains(key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        }
    }
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

    /// The constraints in force now, with the pod's labels that `selected` keeps.
    pub fn constraints(
        &self,
        pod: &Pod,
        selected: &SelectedLabelKeys,
    ) -> Result<PodConstraints, RequirementError> {
        let mut requirements = Requirements::from_labels(pod.node_selector.as_ref());
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
            labels: selected.keep(&pod.labels),
            requirements,
            tolerations: pod.tolerations.clone(),
            tolerate_prefer_no_schedule: self.tolerate_prefer_no_schedule,
            topology_spread,
            affinity,
            anti_affinity,
            required_anti_affinity: pod.pod_anti_affinity.required.len(),
            host_ports: pod.host_ports.clone(),
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
