//! Topology for the solver: groups of pods counted per domain (zone, hostname or capacity
//! type) for topology spread, pod affinity and pod anti-affinity, and the check of which
//! domains of a candidate node a pod may use.

use std::collections::{BTreeSet, HashMap};

use crate::label_selector::LabelSelector;
use crate::labels;
use crate::pod::{PodAffinityTerm, TopologySpreadConstraint, WhenUnsatisfiable};
use crate::requirements::Requirements;

use super::constraints::PodConstraints;

/// The topology keys Karpenter supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TopologyKey {
    Zone,
    Hostname,
    CapacityType,
}

impl TopologyKey {
    pub fn parse(key: &str) -> Option<Self> {
        match labels::normalize(key) {
            labels::ZONE => Some(TopologyKey::Zone),
            labels::HOSTNAME => Some(TopologyKey::Hostname),
            labels::CAPACITY_TYPE => Some(TopologyKey::CapacityType),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TopologyKey::Zone => labels::ZONE,
            TopologyKey::Hostname => labels::HOSTNAME,
            TopologyKey::CapacityType => labels::CAPACITY_TYPE,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum GroupKind {
    /// `soft`: `ScheduleAnyway` (treated as required until relaxed, but its zone skew leaves
    /// traded zones out).
    Spread {
        max_skew: i32,
        soft: bool,
    },
    Affinity,
    AntiAffinity,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GroupKey {
    kind: GroupKind,
    key: TopologyKey,
    namespaces: BTreeSet<String>,
    selector: LabelSelector,
}

#[derive(Debug)]
struct TopologyGroup {
    key: GroupKey,
    /// Pods matching the selector, per domain.
    counts: HashMap<String, u32>,
    /// Matching pods recorded anywhere.
    total: u32,
    /// For anti-affinity: pods that carry the term, per domain they may be in.
    owners: HashMap<String, u32>,
}

/// The topology groups a pod's constraints belong to.
#[derive(Debug, Default, Clone)]
pub(crate) struct PodTopology {
    /// Groups whose constraint the pod carries.
    owned: Vec<usize>,
    /// Groups whose selector matches the pod (its placement is counted there).
    matched: Vec<usize>,
}

/// The domains a candidate node or NodeClaim may be in.
#[derive(Debug)]
pub(crate) struct CandidateDomains<'a> {
    pub hostname: &'a str,
    pub zones: &'a [String],
    pub capacity_types: &'a [String],
}

/// Where the pod may go on a candidate: the zones and capacity types left, when narrower
/// than the candidate's.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Narrowing {
    pub zones: Option<Vec<String>>,
    pub capacity_types: Option<Vec<String>>,
}

/// Why a candidate cannot take a pod, and whether it never will.
#[derive(Debug)]
pub(crate) struct TopologyFailure {
    pub reason: String,
    pub permanent: bool,
}

/// Every topology group of a scheduling run and the pods counted in them.
#[derive(Debug)]
pub(crate) struct Topology<'a> {
    groups: Vec<TopologyGroup>,
    index: HashMap<GroupKey, usize>,
    zone_universe: BTreeSet<String>,
    capacity_type_universe: BTreeSet<String>,
    /// Zones a soft (`ScheduleAnyway`) zone spread does not count when it computes the skew:
    /// zones avoided for Spot, whose interruption risk is traded against the spread.
    traded_zones: BTreeSet<String>,
    /// The pods already running, counted when a group is created.
    existing: Vec<ExistingNode<'a>>,
    /// Pods placed in this run, so that a group created later counts them too.
    placed: Vec<PlacedPod<'a>>,
}

/// An existing node's domains and pods.
#[derive(Debug)]
pub(crate) struct ExistingNode<'a> {
    pub hostname: &'a str,
    pub zones: Vec<String>,
    pub capacity_types: Vec<String>,
    pub pods: &'a [std::sync::Arc<crate::pod::Pod>],
}

#[derive(Debug)]
struct PlacedPod<'a> {
    pod: &'a crate::pod::Pod,
    hostname: String,
    zones: Vec<String>,
    capacity_types: Vec<String>,
}

impl<'a> Topology<'a> {
    pub fn new(
        zone_universe: BTreeSet<String>,
        capacity_type_universe: BTreeSet<String>,
        traded_zones: BTreeSet<String>,
        existing: Vec<ExistingNode<'a>>,
    ) -> Self {
        Self {
            groups: Vec::new(),
            index: HashMap::new(),
            zone_universe,
            capacity_type_universe,
            traded_zones,
            existing,
            placed: Vec::new(),
        }
    }

    /// The groups of a pod with these constraints, creating the groups it introduces. Fails
    /// on a topology key Karpenter does not support.
    pub fn register(&mut self, constraints: &PodConstraints) -> Result<PodTopology, String> {
        let mut owned = Vec::new();
        for constraint in &constraints.topology_spread {
            owned.push(self.group_for_spread(constraint, &constraints.namespace)?);
        }
        for term in &constraints.affinity {
            owned.push(self.group_for_term(GroupKind::Affinity, term, &constraints.namespace)?);
        }
        for term in &constraints.anti_affinity {
            owned.push(self.group_for_term(
                GroupKind::AntiAffinity,
                term,
                &constraints.namespace,
            )?);
        }
        let matched = (0..self.groups.len())
            .filter(|&group| self.matches(group, &constraints.namespace, &constraints.labels))
            .collect();
        Ok(PodTopology { owned, matched })
    }

    /// Refreshes `topology.matched` after groups were added by other pods.
    pub fn refresh(
        &self,
        topology: &mut PodTopology,
        namespace: &str,
        labels: &std::collections::BTreeMap<String, String>,
        known_groups: usize,
    ) -> usize {
        for group in known_groups..self.groups.len() {
            if self.matches(group, namespace, labels) {
                topology.matched.push(group);
            }
        }
        self.groups.len()
    }

    /// The number of groups so far.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Which domains of `candidate` the pod may use, given its requirements.
    pub fn evaluate(
        &self,
        topology: &PodTopology,
        self_matching: &[bool],
        requirements: &Requirements,
        candidate: &CandidateDomains<'_>,
    ) -> Result<Narrowing, TopologyFailure> {
        let mut zones: Option<Vec<String>> = None;
        let mut capacity_types: Option<Vec<String>> = None;
        for (position, &group_index) in topology.owned.iter().enumerate() {
            let group = &self.groups[group_index];
            let self_selecting = self_matching[position];
            let failure = |permanent: bool, what: &str| TopologyFailure {
                reason: format!("{what} on {} cannot be satisfied", group.key.key.label()),
                permanent,
            };
            match group.key.key {
                TopologyKey::Hostname => {
                    let count = group.counts.get(candidate.hostname).copied().unwrap_or(0);
                    match group.key.kind {
                        GroupKind::Spread { max_skew, .. } => {
                            if count as i64 + i64::from(self_selecting) > i64::from(max_skew) {
                                return Err(failure(true, "topology spread"));
                            }
                        }
                        GroupKind::Affinity => {
                            if count == 0 && !(group.total == 0 && self_selecting) {
                                return Err(failure(false, "pod affinity"));
                            }
                        }
                        GroupKind::AntiAffinity => {
                            if count > 0 {
                                return Err(failure(true, "pod anti-affinity"));
                            }
                        }
                    }
                }
                key => {
                    let (domains, universe, slot) = match key {
                        TopologyKey::Zone => (candidate.zones, &self.zone_universe, &mut zones),
                        _ => (
                            candidate.capacity_types,
                            &self.capacity_type_universe,
                            &mut capacity_types,
                        ),
                    };
                    let label = key.label();
                    let current: Vec<&String> = match slot {
                        Some(narrowed) => narrowed.iter().collect(),
                        None => domains.iter().collect(),
                    };
                    let count = |domain: &str| group.counts.get(domain).copied().unwrap_or(0);
                    let allowed: Vec<String> = match group.key.kind {
                        GroupKind::Spread { max_skew, soft } => {
                            let traded = soft && key == TopologyKey::Zone;
                            let minimum = universe
                                .iter()
                                .filter(|domain| requirements.allows(label, domain))
                                .filter(|domain| !(traded && self.traded_zones.contains(*domain)))
                                .map(|domain| count(domain))
                                .min()
                                .unwrap_or(0);
                            current
                                .iter()
                                .filter(|domain| requirements.allows(label, domain))
                                .filter(|domain| {
                                    i64::from(count(domain)) + i64::from(self_selecting)
                                        - i64::from(minimum)
                                        <= i64::from(max_skew)
                                })
                                .min_by_key(|domain| (count(domain), domain.as_str()))
                                .map(|domain| vec![(*domain).clone()])
                                .unwrap_or_default()
                        }
                        GroupKind::Affinity => {
                            if group.total == 0 && self_selecting {
                                current
                                    .iter()
                                    .find(|domain| requirements.allows(label, domain))
                                    .map(|domain| vec![(*domain).clone()])
                                    .unwrap_or_default()
                            } else {
                                current
                                    .iter()
                                    .filter(|domain| count(domain) > 0)
                                    .map(|domain| (*domain).clone())
                                    .collect()
                            }
                        }
                        GroupKind::AntiAffinity => current
                            .iter()
                            .filter(|domain| count(domain) == 0)
                            .map(|domain| (*domain).clone())
                            .collect(),
                    };
                    if allowed.is_empty() {
                        let what = match group.key.kind {
                            GroupKind::Spread { .. } => "topology spread",
                            GroupKind::Affinity => "pod affinity",
                            GroupKind::AntiAffinity => "pod anti-affinity",
                        };
                        return Err(failure(false, what));
                    }
                    *slot = Some(allowed);
                }
            }
        }
        // Pods that already carry an anti-affinity term against this pod keep it away.
        for &group_index in &topology.matched {
            let group = &self.groups[group_index];
            if group.key.kind != GroupKind::AntiAffinity || group.owners.is_empty() {
                continue;
            }
            let owners = |domain: &str| group.owners.get(domain).copied().unwrap_or(0);
            let failure = |permanent| TopologyFailure {
                reason: format!(
                    "another pod's anti-affinity on {} excludes it",
                    group.key.key.label()
                ),
                permanent,
            };
            match group.key.key {
                TopologyKey::Hostname => {
                    if owners(candidate.hostname) > 0 {
                        return Err(failure(true));
                    }
                }
                key => {
                    let (domains, slot) = match key {
                        TopologyKey::Zone => (candidate.zones, &mut zones),
                        _ => (candidate.capacity_types, &mut capacity_types),
                    };
                    let current: Vec<String> = slot.clone().unwrap_or_else(|| domains.to_vec());
                    let allowed: Vec<String> = current
                        .into_iter()
                        .filter(|domain| owners(domain) == 0)
                        .collect();
                    if allowed.is_empty() {
                        return Err(failure(false));
                    }
                    *slot = Some(allowed);
                }
            }
        }
        let narrower = |narrowed: Option<Vec<String>>, domains: &[String]| {
            narrowed.filter(|narrowed| narrowed.len() < domains.len())
        };
        Ok(Narrowing {
            zones: narrower(zones, candidate.zones),
            capacity_types: narrower(capacity_types, candidate.capacity_types),
        })
    }

    /// Counts `pod`, placed in this run on a candidate whose domains are now `candidate`.
    pub fn record(
        &mut self,
        topology: &PodTopology,
        constraints: &PodConstraints,
        pod: &'a crate::pod::Pod,
        candidate: &CandidateDomains<'_>,
    ) {
        for &group_index in &topology.matched {
            let group = &mut self.groups[group_index];
            Self::count_in(group, candidate);
        }
        self.record_owners(topology, constraints, candidate);
        self.placed.push(PlacedPod {
            pod,
            hostname: candidate.hostname.to_string(),
            zones: candidate.zones.to_vec(),
            capacity_types: candidate.capacity_types.to_vec(),
        });
    }

    /// Records where a pod carrying required anti-affinity terms is, so that the pods its
    /// terms select keep away (used alone for pods already running, whose matches every group
    /// counts when it is created).
    pub fn record_owners(
        &mut self,
        topology: &PodTopology,
        constraints: &PodConstraints,
        candidate: &CandidateDomains<'_>,
    ) {
        // `owned` lists spreads, affinity terms, then anti-affinity terms, required ones first;
        // only required anti-affinity keeps other pods away (Karpenter: "we intentionally don't
        // track inverse anti-affinity preferences").
        let required_anti_affinity = constraints.topology_spread.len() + constraints.affinity.len();
        let required_anti_affinity =
            required_anti_affinity..required_anti_affinity + constraints.required_anti_affinity;
        for (position, &group_index) in topology.owned.iter().enumerate() {
            let group = &mut self.groups[group_index];
            if group.key.kind == GroupKind::AntiAffinity
                && required_anti_affinity.contains(&position)
            {
                for domain in domains_of(group.key.key, candidate) {
                    *group.owners.entry(domain.to_string()).or_default() += 1;
                }
            }
        }
    }

    /// Whether the pod with `namespace` and `labels` matches the selector of each of
    /// `topology.owned` (self-selecting constraints).
    pub fn self_matching(
        &self,
        topology: &PodTopology,
        namespace: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Vec<bool> {
        topology
            .owned
            .iter()
            .map(|&group| self.matches(group, namespace, labels))
            .collect()
    }

    fn count_in(group: &mut TopologyGroup, candidate: &CandidateDomains<'_>) {
        let domains = domains_of(group.key.key, candidate);
        // A pod on a candidate that may still land in several domains is counted in all of
        // them for anti-affinity (conservative) and in none for spread and affinity.
        if domains.len() == 1 || group.key.kind == GroupKind::AntiAffinity {
            for domain in domains {
                *group.counts.entry(domain.to_string()).or_default() += 1;
            }
            group.total += 1;
        }
    }

    fn matches(
        &self,
        group: usize,
        namespace: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        let group = &self.groups[group];
        group.key.namespaces.contains(namespace) && group.key.selector.matches(labels)
    }

    fn group_for_spread(
        &mut self,
        constraint: &TopologySpreadConstraint,
        namespace: &str,
    ) -> Result<usize, String> {
        let key = TopologyKey::parse(&constraint.topology_key)
            .ok_or_else(|| unsupported_key(&constraint.topology_key, "topology spread"))?;
        Ok(self.group(GroupKey {
            kind: GroupKind::Spread {
                max_skew: constraint.max_skew.max(1),
                soft: constraint.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway,
            },
            key,
            namespaces: BTreeSet::from([namespace.to_string()]),
            selector: constraint.label_selector.clone(),
        }))
    }

    fn group_for_term(
        &mut self,
        kind: GroupKind,
        term: &PodAffinityTerm,
        namespace: &str,
    ) -> Result<usize, String> {
        let what = if kind == GroupKind::Affinity {
            "pod affinity"
        } else {
            "pod anti-affinity"
        };
        let key = match TopologyKey::parse(&term.topology_key) {
            Some(TopologyKey::CapacityType) | None => {
                return Err(unsupported_key(&term.topology_key, what));
            }
            Some(key) => key,
        };
        let namespaces = if term.namespaces.is_empty() {
            BTreeSet::from([namespace.to_string()])
        } else {
            term.namespaces.iter().cloned().collect()
        };
        Ok(self.group(GroupKey {
            kind,
            key,
            namespaces,
            selector: term.label_selector.clone(),
        }))
    }

    fn group(&mut self, key: GroupKey) -> usize {
        if let Some(&index) = self.index.get(&key) {
            return index;
        }
        let mut group = TopologyGroup {
            key: key.clone(),
            counts: HashMap::new(),
            total: 0,
            owners: HashMap::new(),
        };
        let selects = |pod: &crate::pod::Pod| {
            key.namespaces.contains(&pod.namespace) && key.selector.matches(&pod.labels)
        };
        for node in &self.existing {
            let candidate = CandidateDomains {
                hostname: node.hostname,
                zones: &node.zones,
                capacity_types: &node.capacity_types,
            };
            for pod in node.pods {
                if selects(pod) {
                    Self::count_in(&mut group, &candidate);
                }
            }
        }
        for placed in &self.placed {
            if selects(placed.pod) {
                let candidate = CandidateDomains {
                    hostname: &placed.hostname,
                    zones: &placed.zones,
                    capacity_types: &placed.capacity_types,
                };
                Self::count_in(&mut group, &candidate);
            }
        }
        self.groups.push(group);
        self.index.insert(key, self.groups.len() - 1);
        self.groups.len() - 1
    }
}

fn domains_of<'a>(key: TopologyKey, candidate: &'a CandidateDomains<'a>) -> Vec<&'a str> {
    match key {
        TopologyKey::Hostname => vec![candidate.hostname],
        TopologyKey::Zone => candidate.zones.iter().map(String::as_str).collect(),
        TopologyKey::CapacityType => candidate
            .capacity_types
            .iter()
            .map(String::as_str)
            .collect(),
    }
}

fn unsupported_key(key: &str, what: &str) -> String {
    format!(
        "{what} on topology key {key:?} is not supported: use {}, {} or {}",
        labels::ZONE,
        labels::HOSTNAME,
        labels::CAPACITY_TYPE
    )
}
