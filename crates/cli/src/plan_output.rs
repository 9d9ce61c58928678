//! What `spotter plan` prints: the plan as a serialisable report (its JSON field names are a
//! contract) and as tables for a person.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use spotter_api::Manifests;
use spotter_core::solver::Plan;

/// The plan, ready to print.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    region: String,
    node_claims: Vec<NodeClaimReport>,
    existing_nodes: Vec<ExistingNodeReport>,
    unschedulable: Vec<UnschedulableReport>,
    summary: Summary,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeClaimReport {
    node_pool: String,
    pods: Vec<String>,
    capacity_types: Vec<String>,
    instance_types: Vec<String>,
    zones: Vec<String>,
    requests: Requests,
    launch: Option<LaunchReport>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Requests {
    cpu: String,
    memory: String,
    pods: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LaunchReport {
    capacity_type: String,
    instance_type: String,
    zone: String,
    price_per_hour: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExistingNodeReport {
    name: String,
    pods: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UnschedulableReport {
    pod: String,
    reason: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    pending_pods: usize,
    pods_on_existing_nodes: usize,
    pods_on_new_node_claims: usize,
    unschedulable_pods: usize,
    new_node_claims: usize,
    spot_node_claims: usize,
    price_per_hour: f64,
}

impl PlanReport {
    /// The report of `plan` for the pods of `manifests`.
    pub fn new(region: &str, manifests: &Manifests, plan: &Plan) -> Self {
        let pod_id = |index: &usize| manifests.pending_pods[*index].id();
        let node_claims: Vec<NodeClaimReport> = plan
            .node_claims
            .iter()
            .map(|claim| NodeClaimReport {
                node_pool: claim.node_pool.clone(),
                pods: claim.pods.iter().map(pod_id).collect(),
                capacity_types: claim
                    .capacity_types
                    .iter()
                    .map(|capacity_type| capacity_type.to_string())
                    .collect(),
                instance_types: claim.instance_types.clone(),
                zones: claim.zones.clone(),
                requests: Requests {
                    cpu: spotter_core::quantity::format_millicores(claim.requests.cpu_millicores),
                    memory: spotter_core::quantity::format_bytes(claim.requests.memory_bytes),
                    pods: claim.requests.pods,
                },
                launch: claim.launch.as_ref().map(|launch| LaunchReport {
                    capacity_type: launch.capacity_type.to_string(),
                    instance_type: launch.instance_type.clone(),
                    zone: launch.zone.clone(),
                    price_per_hour: launch.price_per_hour,
                }),
            })
            .collect();
        let existing_nodes: Vec<ExistingNodeReport> = plan
            .existing_nodes
            .iter()
            .map(|placement| ExistingNodeReport {
                name: placement.node.clone(),
                pods: placement.pods.iter().map(pod_id).collect(),
            })
            .collect();
        let unschedulable: Vec<UnschedulableReport> = plan
            .unschedulable
            .iter()
            .map(|entry| UnschedulableReport {
                pod: pod_id(&entry.pod),
                reason: entry.reason.clone(),
            })
            .collect();
        let summary = Summary {
            pending_pods: manifests.pending_pods.len(),
            pods_on_existing_nodes: existing_nodes.iter().map(|node| node.pods.len()).sum(),
            pods_on_new_node_claims: node_claims.iter().map(|claim| claim.pods.len()).sum(),
            unschedulable_pods: unschedulable.len(),
            new_node_claims: node_claims.len(),
            spot_node_claims: node_claims
                .iter()
                .filter(|claim| {
                    claim
                        .launch
                        .as_ref()
                        .is_some_and(|launch| launch.capacity_type == "spot")
                })
                .count(),
            price_per_hour: node_claims
                .iter()
                .filter_map(|claim| claim.launch.as_ref().map(|launch| launch.price_per_hour))
                .sum(),
        };
        Self {
            region: region.to_string(),
            node_claims,
            existing_nodes,
            unschedulable,
            summary,
        }
    }

    /// Tables for a terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let summary = &self.summary;
        out.push_str(&format!(
            "{} pending pods in {}: {} on {} new NodeClaims ({} Spot, ${:.4}/h), {} on existing nodes, {} unschedulable\n",
            summary.pending_pods,
            self.region,
            summary.pods_on_new_node_claims,
            summary.new_node_claims,
            summary.spot_node_claims,
            summary.price_per_hour,
            summary.pods_on_existing_nodes,
            summary.unschedulable_pods
        ));
        if !self.node_claims.is_empty() {
            let mut table = new_table([
                "#",
                "NodePool",
                "Pods",
                "Requests",
                "Launch",
                "$/h",
                "Candidates",
            ]);
            for (index, claim) in self.node_claims.iter().enumerate() {
                let (launch, price) = match &claim.launch {
                    Some(launch) => (
                        format!(
                            "{} {} {}",
                            launch.capacity_type, launch.instance_type, launch.zone
                        ),
                        format!("{:.4}", launch.price_per_hour),
                    ),
                    None => ("no available offering".to_string(), "-".to_string()),
                };
                let shown: Vec<&str> = claim
                    .instance_types
                    .iter()
                    .take(3)
                    .map(String::as_str)
                    .collect();
                let more = claim.instance_types.len().saturating_sub(shown.len());
                let candidates = if more > 0 {
                    format!("{} +{more} more", shown.join(", "))
                } else {
                    shown.join(", ")
                };
                table.add_row([
                    (index + 1).to_string(),
                    claim.node_pool.clone(),
                    claim.pods.len().to_string(),
                    format!("cpu {} mem {}", claim.requests.cpu, claim.requests.memory),
                    launch,
                    price,
                    candidates,
                ]);
            }
            out.push_str(&format!("\nNew NodeClaims\n{table}\n"));
        }
        if !self.existing_nodes.is_empty() {
            let mut table = new_table(["Node", "Pods"]);
            for node in &self.existing_nodes {
                table.add_row([node.name.clone(), node.pods.join(", ")]);
            }
            out.push_str(&format!("\nExisting nodes\n{table}\n"));
        }
        if !self.unschedulable.is_empty() {
            let mut table = new_table(["Pod", "Reason"]);
            for entry in &self.unschedulable {
                table.add_row([entry.pod.clone(), entry.reason.clone()]);
            }
            out.push_str(&format!("\nUnschedulable pods\n{table}\n"));
        }
        out
    }
}

fn new_table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    table
}
