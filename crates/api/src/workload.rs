//! Workloads: v1 Pods, apps/v1 Deployments and DaemonSets and batch/v1 Jobs, converted into
//! core pods (a Deployment's template times its replicas, a Job's times its parallelism), with
//! Kubernetes' rules for effective requests (limits as default requests, init containers and
//! sidecars, pod overhead).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1 as core_v1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta_v1;
use spotter_core::label_selector::{LabelSelector, SelectorExpression, SelectorOperator};
use spotter_core::pod::{
    DO_NOT_DISRUPT_ANNOTATION, HostPort, Pod, PodAffinityTerm, PodAffinityTerms,
    TopologySpreadConstraint, WeightedNodeSelectorTerm, WhenUnsatisfiable,
};
use spotter_core::quantity::Quantity;
use spotter_core::requirements::NodeSelectorRequirement;
use spotter_core::resources::Resources;
use spotter_core::taints::{Toleration, TolerationOperator};

use crate::document::FieldError;
use crate::node_pool::parse_operator;
use crate::validation::parse_effect;

/// Converts a pod spec (at `field`, e.g. `spec.template.spec`) into a core pod named
/// `namespace/name` with `labels`.
pub fn convert_pod_spec(
    namespace: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
    spec: &core_v1::PodSpec,
    field: &str,
) -> Result<Pod, FieldError> {
    Ok(Pod {
        namespace: namespace.to_string(),
        name: name.to_string(),
        labels: Arc::new(labels.clone()),
        requests: effective_requests(spec, field)?,
        priority: spec.priority.unwrap_or(0),
        node_selector: Arc::new(spec.node_selector.clone().unwrap_or_default()),
        required_node_affinity: required_node_affinity(spec, field)?,
        preferred_node_affinity: preferred_node_affinity(spec, field)?,
        tolerations: Arc::new(tolerations(spec, field)?),
        topology_spread: topology_spread(spec, field)?,
        pod_affinity: affinity_terms(
            spec.affinity
                .as_ref()
                .and_then(|affinity| affinity.pod_affinity.as_ref())
                .map(|affinity| {
                    (
                        &affinity.required_during_scheduling_ignored_during_execution,
                        &affinity.preferred_during_scheduling_ignored_during_execution,
                    )
                }),
            &format!("{field}.affinity.podAffinity"),
        )?,
        pod_anti_affinity: affinity_terms(
            spec.affinity
                .as_ref()
                .and_then(|affinity| affinity.pod_anti_affinity.as_ref())
                .map(|affinity| {
                    (
                        &affinity.required_during_scheduling_ignored_during_execution,
                        &affinity.preferred_during_scheduling_ignored_during_execution,
                    )
                }),
            &format!("{field}.affinity.podAntiAffinity"),
        )?,
        host_ports: host_ports(spec, field)?,
        do_not_disrupt: false,
    })
}

/// The host ports of the containers and init containers (`ports[].hostPort`, with the
/// protocol defaulting to TCP and the host IP to every address).
fn host_ports(spec: &core_v1::PodSpec, field: &str) -> Result<Vec<HostPort>, FieldError> {
    let containers = spec
        .containers
        .iter()
        .enumerate()
        .map(|(index, container)| (format!("{field}.containers[{index}]"), container));
    let init_containers = spec
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, container)| (format!("{field}.initContainers[{index}]"), container));
    let mut host_ports = Vec::new();
    for (path, container) in containers.chain(init_containers) {
        for (index, port) in container.ports.iter().flatten().enumerate() {
            let Some(host_port) = port.host_port.filter(|&host_port| host_port != 0) else {
                continue;
            };
            let port_field = format!("{path}.ports[{index}]");
            let number = u16::try_from(host_port)
                .ok()
                .filter(|&number| number > 0)
                .ok_or_else(|| {
                    FieldError::new(
                        format!("{port_field}.hostPort"),
                        format!("must be between 1 and 65535, got {host_port}"),
                    )
                })?;
            let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".to_string());
            if !matches!(protocol.as_str(), "TCP" | "UDP" | "SCTP") {
                return Err(FieldError::new(
                    format!("{port_field}.protocol"),
                    format!("unknown protocol {protocol:?}: expected TCP, UDP or SCTP"),
                ));
            }
            let host_port = HostPort {
                port: number,
                protocol,
                host_ip: port.host_ip.clone().unwrap_or_default(),
            };
            if !host_ports.contains(&host_port) {
                host_ports.push(host_port);
            }
        }
    }
    Ok(host_ports)
}

/// Whether a pod's metadata carries `karpenter.sh/do-not-disrupt: "true"`.
pub fn do_not_disrupt(metadata: Option<&meta_v1::ObjectMeta>) -> bool {
    metadata
        .and_then(|metadata| metadata.annotations.as_ref())
        .and_then(|annotations| annotations.get(DO_NOT_DISRUPT_ANNOTATION))
        .is_some_and(|value| value == "true")
}

/// What the pod asks the scheduler for: the larger of (its containers plus sidecars) and the
/// peak of its init phase, plus `overhead`, plus one pod.
fn effective_requests(spec: &core_v1::PodSpec, field: &str) -> Result<Resources, FieldError> {
    let mut containers = Resources::new();
    for (index, container) in spec.containers.iter().enumerate() {
        containers.add(&container_requests(
            container,
            &format!("{field}.containers[{index}]"),
        )?);
    }
    let mut sidecars = Resources::new();
    let mut init_peak = Resources::new();
    for (index, container) in spec.init_containers.iter().flatten().enumerate() {
        let requests = container_requests(container, &format!("{field}.initContainers[{index}]"))?;
        if container.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&requests);
            init_peak = init_peak.max(&sidecars);
        } else {
            init_peak = init_peak.max(&sidecars.plus(&requests));
        }
    }
    let mut total = containers.plus(&sidecars).max(&init_peak);
    if let Some(overhead) = &spec.overhead {
        total.add(&resource_list(overhead, &format!("{field}.overhead"))?);
    }
    total.pods = 1;
    Ok(total)
}

/// A container's requests, defaulted from its limits where a request is missing.
fn container_requests(
    container: &core_v1::Container,
    field: &str,
) -> Result<Resources, FieldError> {
    let Some(resources) = &container.resources else {
        return Ok(Resources::new());
    };
    let mut merged: BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity> =
        resources.limits.clone().unwrap_or_default();
    merged.extend(resources.requests.clone().unwrap_or_default());
    resource_list(&merged, &format!("{field}.resources.requests"))
}

fn resource_list(
    list: &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    field: &str,
) -> Result<Resources, FieldError> {
    let mut resources = Resources::new();
    for (name, quantity) in list {
        let parsed = Quantity::parse(&quantity.0)
            .map_err(|error| FieldError::new(format!("{field}.{name}"), error.to_string()))?;
        if parsed.milli_units() < 0 {
            return Err(FieldError::new(
                format!("{field}.{name}"),
                "must not be negative",
            ));
        }
        resources.set_quantity(name, parsed);
    }
    Ok(resources)
}

fn node_affinity(spec: &core_v1::PodSpec) -> Option<&core_v1::NodeAffinity> {
    spec.affinity
        .as_ref()
        .and_then(|affinity| affinity.node_affinity.as_ref())
}

fn required_node_affinity(
    spec: &core_v1::PodSpec,
    field: &str,
) -> Result<Vec<Vec<NodeSelectorRequirement>>, FieldError> {
    let Some(selector) = node_affinity(spec).and_then(|affinity| {
        affinity
            .required_during_scheduling_ignored_during_execution
            .as_ref()
    }) else {
        return Ok(Vec::new());
    };
    selector
        .node_selector_terms
        .iter()
        .enumerate()
        .map(|(index, term)| {
            node_selector_term(
                term,
                &format!("{field}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{index}]"),
            )
        })
        .collect()
}

fn preferred_node_affinity(
    spec: &core_v1::PodSpec,
    field: &str,
) -> Result<Vec<WeightedNodeSelectorTerm>, FieldError> {
    let Some(terms) = node_affinity(spec).and_then(|affinity| {
        affinity
            .preferred_during_scheduling_ignored_during_execution
            .as_ref()
    }) else {
        return Ok(Vec::new());
    };
    terms
        .iter()
        .enumerate()
        .map(|(index, term)| {
            let path = format!("{field}.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{index}]");
            Ok(WeightedNodeSelectorTerm {
                weight: term.weight,
                expressions: node_selector_term(&term.preference, &format!("{path}.preference"))?,
            })
        })
        .collect()
}

fn node_selector_term(
    term: &core_v1::NodeSelectorTerm,
    field: &str,
) -> Result<Vec<NodeSelectorRequirement>, FieldError> {
    term.match_expressions
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, expression)| {
            let operator = parse_operator(&expression.operator).map_err(|message| {
                FieldError::new(
                    format!("{field}.matchExpressions[{index}].operator"),
                    message,
                )
            })?;
            Ok(NodeSelectorRequirement {
                key: expression.key.clone(),
                operator,
                values: expression.values.clone().unwrap_or_default(),
                min_values: None,
            })
        })
        .collect()
}

fn tolerations(spec: &core_v1::PodSpec, field: &str) -> Result<Vec<Toleration>, FieldError> {
    spec.tolerations
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, toleration)| {
            let path = |name: &str| format!("{field}.tolerations[{index}].{name}");
            let operator = match toleration.operator.as_deref() {
                None | Some("Equal") => TolerationOperator::Equal,
                Some("Exists") => TolerationOperator::Exists,
                Some(other) => {
                    return Err(FieldError::new(
                        path("operator"),
                        format!("unknown operator {other:?}: expected Equal or Exists"),
                    ));
                }
            };
            let effect = match toleration.effect.as_deref() {
                None | Some("") => None,
                Some(effect) => Some(
                    parse_effect(effect)
                        .map_err(|message| FieldError::new(path("effect"), message))?,
                ),
            };
            Ok(Toleration {
                key: toleration.key.clone().unwrap_or_default(),
                operator,
                value: toleration.value.clone().unwrap_or_default(),
                effect,
            })
        })
        .collect()
}

fn topology_spread(
    spec: &core_v1::PodSpec,
    field: &str,
) -> Result<Vec<TopologySpreadConstraint>, FieldError> {
    spec.topology_spread_constraints
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, constraint)| {
            let path = |name: &str| format!("{field}.topologySpreadConstraints[{index}].{name}");
            let when_unsatisfiable = match constraint.when_unsatisfiable.as_str() {
                "DoNotSchedule" => WhenUnsatisfiable::DoNotSchedule,
                "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
                other => {
                    return Err(FieldError::new(
                        path("whenUnsatisfiable"),
                        format!(
                            "unknown value {other:?}: expected DoNotSchedule or ScheduleAnyway"
                        ),
                    ));
                }
            };
            if constraint.max_skew < 1 {
                return Err(FieldError::new(
                    path("maxSkew"),
                    format!("must be at least 1, got {}", constraint.max_skew),
                ));
            }
            Ok(TopologySpreadConstraint {
                max_skew: constraint.max_skew,
                topology_key: constraint.topology_key.clone(),
                when_unsatisfiable,
                label_selector: label_selector(
                    constraint.label_selector.as_ref(),
                    &path("labelSelector"),
                )?,
            })
        })
        .collect()
}

type AffinityLists<'a> = (
    &'a Option<Vec<core_v1::PodAffinityTerm>>,
    &'a Option<Vec<core_v1::WeightedPodAffinityTerm>>,
);

fn affinity_terms(
    lists: Option<AffinityLists<'_>>,
    field: &str,
) -> Result<PodAffinityTerms, FieldError> {
    let Some((required, preferred)) = lists else {
        return Ok(PodAffinityTerms::default());
    };
    let required = required
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, term)| {
            affinity_term(
                term,
                &format!("{field}.requiredDuringSchedulingIgnoredDuringExecution[{index}]"),
            )
        })
        .collect::<Result<_, _>>()?;
    let preferred = preferred
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, term)| {
            let path = format!(
                "{field}.preferredDuringSchedulingIgnoredDuringExecution[{index}].podAffinityTerm"
            );
            Ok((term.weight, affinity_term(&term.pod_affinity_term, &path)?))
        })
        .collect::<Result<_, FieldError>>()?;
    Ok(PodAffinityTerms {
        required,
        preferred,
    })
}

fn affinity_term(
    term: &core_v1::PodAffinityTerm,
    field: &str,
) -> Result<PodAffinityTerm, FieldError> {
    Ok(PodAffinityTerm {
        label_selector: label_selector(
            term.label_selector.as_ref(),
            &format!("{field}.labelSelector"),
        )?,
        namespaces: term.namespaces.clone().unwrap_or_default(),
        topology_key: term.topology_key.clone(),
    })
}

/// Converts a label selector at `field`; an absent selector selects everything.
pub fn label_selector(
    selector: Option<&meta_v1::LabelSelector>,
    field: &str,
) -> Result<LabelSelector, FieldError> {
    let Some(selector) = selector else {
        return Ok(LabelSelector::default());
    };
    let match_expressions = selector
        .match_expressions
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, expression)| {
            let operator = match expression.operator.as_str() {
                "In" => SelectorOperator::In,
                "NotIn" => SelectorOperator::NotIn,
                "Exists" => SelectorOperator::Exists,
                "DoesNotExist" => SelectorOperator::DoesNotExist,
                other => {
                    return Err(FieldError::new(
                        format!("{field}.matchExpressions[{index}].operator"),
                        format!(
                            "unknown operator {other:?}: expected In, NotIn, Exists or DoesNotExist"
                        ),
                    ));
                }
            };
            Ok(SelectorExpression {
                key: expression.key.clone(),
                operator,
                values: expression.values.clone().unwrap_or_default(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(LabelSelector {
        match_labels: selector.match_labels.clone().unwrap_or_default(),
        match_expressions,
    })
}
