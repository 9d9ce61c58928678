//! This world's part of each action: Kubernetes API calls (NodeClaims created and deleted with
//! Karpenter's finalizer protocol, nodes registered, tainted and cordoned, pods evicted through
//! the Eviction API so that PodDisruptionBudgets hold, NodePool annotations) and CloudProvider
//! calls (launches run in the background and report back; terminations are awaited and then
//! watched until the instance is gone). Each returns the [`Outcome`] the state machine applies.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, EvictParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use spotter_api::crd::node_claim::NodeClaim;
use spotter_api::crd::node_pool::NodePool as NodePoolObject;
use spotter_cloud::{CloudError, CloudProvider, Instance, LaunchRequest, OfferingRequest};
use spotter_controllers::state::DisruptionReason;
use spotter_controllers::{Action, Outcome};
use spotter_core::taints::Taint;

use crate::clock;
use crate::convert::NodeView;
use crate::driver::Driver;
use crate::events::Severity;
use crate::node_claim_object;
use crate::observation::Observation;
use crate::protocol;

/// Performs one action.
pub(crate) async fn perform<P: CloudProvider + 'static>(
    driver: &mut Driver<P>,
    action: &Action,
) -> Outcome {
    match action {
        Action::CreateNodeClaim(request) => {
            tracing::info!(
                node_claim = request.name,
                node_pool = request.node_pool,
                pods = request.pods.len(),
                fallback = request.fallback,
                replaces = request.replaces.as_deref().unwrap_or(""),
                "creating a NodeClaim"
            );
            let Some(view) = driver.node_pools.get(&request.node_pool) else {
                return Outcome::Refused;
            };
            let Ok(node_pool) = &view.node_pool else {
                return Outcome::Refused;
            };
            let object = node_claim_object::new_node_claim(
                request,
                node_pool,
                &view.uid,
                &view.node_class_ref,
                driver
                    .state
                    .node_class_hashes
                    .get(&node_pool.node_class)
                    .map(String::as_str),
            );
            let api: Api<NodeClaim> = Api::all(driver.client.clone());
            match api.create(&post_params(), &object).await {
                Ok(_) => {}
                Err(error) if status_code(&error) == Some(409) => {}
                Err(error) => {
                    tracing::warn!(node_claim = request.name, %error, "failed to create a NodeClaim");
                    return Outcome::Refused;
                }
            }
            driver.claim_objects.insert(request.name.clone());
            let (reason, note) = match (&request.replaces, request.fallback) {
                (Some(fallback), _) => (
                    "ReturningToSpot",
                    format!("Spot replacement for the on-demand fallback NodeClaim {fallback}"),
                ),
                (None, true) => (
                    "FallbackToOnDemand",
                    format!(
                        "Spot is unavailable for {} pod(s): launching on-demand capacity in NodePool {}",
                        request.pods.len(),
                        request.node_pool
                    ),
                ),
                (None, false) => ("Provisioning", format!("for {} pod(s)", request.pods.len())),
            };
            driver
                .events
                .on_node_claim(&request.name, Severity::Normal, reason, note);
            for pod in request.pods.iter().take(NOMINATION_EVENTS) {
                driver.events.on_pod(
                    pod,
                    Severity::Normal,
                    "Nominated",
                    nomination_note(&request.name, None),
                );
            }
            Outcome::Done
        }
        Action::Nominate { pod, node_claim } => {
            let node = driver
                .state
                .node_claims
                .get(node_claim)
                .and_then(|claim| claim.node.as_deref());
            driver.events.on_pod(
                pod,
                Severity::Normal,
                "Nominated",
                nomination_note(node_claim, node),
            );
            Outcome::Done
        }
        Action::MarkUnavailable { .. } => Outcome::Done,
        Action::LaunchNodeClaim {
            node_claim,
            offerings,
        } => launch(driver, node_claim, offerings),
        Action::DeleteNodeClaim {
            node_claim,
            reason,
            deadline,
        } => {
            tracing::info!(node_claim, reason = reason.as_str(), "deleting a NodeClaim");
            let mut annotations = BTreeMap::from([(
                protocol::DISRUPTION_REASON_ANNOTATION.to_string(),
                reason.as_str().to_string(),
            )]);
            if let Some(deadline) = deadline {
                annotations.insert(
                    protocol::TERMINATION_DEADLINE_ANNOTATION.to_string(),
                    clock::rfc3339(*deadline),
                );
            }
            if driver.claim_objects.contains(node_claim) {
                let api: Api<NodeClaim> = Api::all(driver.client.clone());
                let patch = json!({ "metadata": { "annotations": annotations } });
                if let Err(error) = api
                    .patch(node_claim, &patch_params(), &Patch::Merge(&patch))
                    .await
                {
                    tracing::debug!(node_claim, %error, "failed to annotate a NodeClaim being deleted");
                }
                if let Err(error) = api.delete(node_claim, &DeleteParams::default()).await
                    && status_code(&error) != Some(404)
                {
                    tracing::warn!(node_claim, %error, "failed to delete a NodeClaim");
                }
            }
            if *reason != DisruptionReason::InsufficientCapacity {
                driver.events.on_node_claim(
                    node_claim,
                    Severity::Normal,
                    "DisruptionTerminating",
                    format!("Disrupting NodeClaim: {}", reason.as_str()),
                );
            }
            Outcome::Done
        }
        Action::RemoveNodeClaim { node_claim } => {
            let node = driver
                .state
                .node_claims
                .get(node_claim)
                .and_then(|claim| claim.node.clone());
            if let Some(node) = node {
                remove_finalizer_and_delete::<Node>(&driver.client, &node).await;
            }
            remove_finalizer_and_delete::<NodeClaim>(&driver.client, node_claim).await;
            driver.removed_claims.insert(node_claim.clone());
            Outcome::Done
        }
        Action::TaintNode { node, taint } => taint_node(driver, node, taint).await,
        Action::CordonNode { node } => {
            let api: Api<Node> = Api::all(driver.client.clone());
            let patch = json!({ "spec": { "unschedulable": true } });
            match api
                .patch(node, &patch_params(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => Outcome::Done,
                Err(error) if status_code(&error) == Some(404) => Outcome::Done,
                Err(error) => {
                    tracing::warn!(node, %error, "failed to cordon a node");
                    Outcome::Refused
                }
            }
        }
        Action::EvictPod { pod } => evict(driver, pod).await,
        Action::DeletePod { pod, reason } => {
            if driver.terminating_pods.contains(pod) {
                return Outcome::Started;
            }
            let (namespace, name) = split_key(pod);
            let api: Api<Pod> = Api::namespaced(driver.client.clone(), namespace);
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {
                    tracing::info!(pod, reason, "deleted a pod");
                    driver.terminating_pods.insert(pod.clone());
                    Outcome::Started
                }
                Err(error) if status_code(&error) == Some(404) => Outcome::Done,
                Err(error) => {
                    tracing::warn!(pod, %error, "failed to delete a pod");
                    Outcome::Refused
                }
            }
        }
        Action::TerminateInstance { node_claim } => {
            let Some(instance) = driver
                .state
                .node_claims
                .get(node_claim)
                .and_then(|claim| claim.instance())
                .cloned()
            else {
                return Outcome::Terminated(Err(CloudError::NotFound {
                    what: format!("the instance of NodeClaim {node_claim}"),
                }));
            };
            let result = driver.cloud.delete(&instance.id).await;
            match &result {
                Ok(()) => {
                    tracing::info!(
                        node_claim,
                        instance = instance.id,
                        "terminating the instance"
                    );
                    driver.watch_termination(node_claim.clone());
                }
                Err(CloudError::NotFound { .. }) => {}
                Err(error) => {
                    tracing::warn!(node_claim, instance = instance.id, %error, "failed to terminate an instance");
                    driver.metrics().terminate_failed(error);
                }
            }
            Outcome::Terminated(result)
        }
        Action::RecordReturnToSpot { node_pool, record } => {
            let mut annotations = BTreeMap::new();
            if let Some(probe) = record.last_probe {
                annotations.insert(
                    protocol::LAST_RETURN_PROBE_ANNOTATION,
                    clock::rfc3339(probe),
                );
            }
            if let Some(last_return) = record.last_return {
                annotations.insert(
                    protocol::LAST_RETURN_TO_SPOT_ANNOTATION,
                    clock::rfc3339(last_return),
                );
            }
            let api: Api<NodePoolObject> = Api::all(driver.client.clone());
            let patch = json!({ "metadata": { "annotations": annotations } });
            if let Err(error) = api
                .patch(node_pool, &patch_params(), &Patch::Merge(&patch))
                .await
            {
                tracing::warn!(node_pool, %error, "failed to record the return-to-Spot history on the NodePool");
            }
            Outcome::Done
        }
        Action::PodUnschedulable { pod, reason } => {
            if driver.reported_unschedulable.get(pod) != Some(reason) {
                driver.events.on_pod(
                    pod,
                    Severity::Warning,
                    "FailedScheduling",
                    format!("Failed to schedule pod: {reason}"),
                );
                driver
                    .reported_unschedulable
                    .insert(pod.clone(), reason.clone());
            }
            Outcome::Done
        }
    }
}

/// At most this many pods of one new NodeClaim get a `Nominated` event.
const NOMINATION_EVENTS: usize = 20;

/// A `Nominated` event's note, Karpenter's: "Pod should schedule on: nodeclaim/NAME", with
/// `, node/NAME` once the NodeClaim has a node.
fn nomination_note(node_claim: &str, node: Option<&str>) -> String {
    match node {
        Some(node) => format!("Pod should schedule on: nodeclaim/{node_claim}, node/{node}"),
        None => format!("Pod should schedule on: nodeclaim/{node_claim}"),
    }
}

fn launch<P: CloudProvider + 'static>(
    driver: &mut Driver<P>,
    node_claim: &str,
    offerings: &[OfferingRequest],
) -> Outcome {
    let Some(claim) = driver.state.node_claims.get(node_claim) else {
        return Outcome::Refused;
    };
    let Some(pool) = driver.state.node_pool(&claim.node_pool) else {
        return Outcome::Refused;
    };
    let request = LaunchRequest {
        node_claim: claim.name.clone(),
        node_pool: claim.node_pool.clone(),
        node_class: pool.node_class.clone(),
        offerings: offerings.to_vec(),
        allocation: Default::default(),
        labels: claim
            .requirements
            .single_values()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .chain(pool.labels.clone())
            .collect(),
        taints: pool
            .taints
            .iter()
            .chain(&pool.startup_taints)
            .cloned()
            .collect(),
    };
    let cloud = Arc::clone(&driver.cloud);
    let sender = driver.sender();
    tokio::spawn(async move {
        let result = cloud.create(&request).await;
        let _ = sender
            .send(Observation::LaunchCompleted {
                node_claim: request.node_claim,
                result,
            })
            .await;
    });
    Outcome::Started
}

async fn evict<P: CloudProvider + 'static>(driver: &mut Driver<P>, pod: &str) -> Outcome {
    if driver.terminating_pods.contains(pod) {
        return Outcome::Started;
    }
    let (namespace, name) = split_key(pod);
    let api: Api<Pod> = Api::namespaced(driver.client.clone(), namespace);
    match api.evict(name, &EvictParams::default()).await {
        Ok(_) => {
            driver.terminating_pods.insert(pod.to_string());
            Outcome::Started
        }
        Err(error) if status_code(&error) == Some(404) => Outcome::Done,
        // A PodDisruptionBudget forbids it now: asked again on a later pass.
        Err(error) if status_code(&error) == Some(429) => {
            tracing::debug!(
                pod,
                "eviction refused by a PodDisruptionBudget; retrying later"
            );
            Outcome::Refused
        }
        Err(error) => {
            tracing::warn!(pod, %error, "failed to evict a pod");
            Outcome::Refused
        }
    }
}

async fn taint_node<P: CloudProvider + 'static>(
    driver: &mut Driver<P>,
    node: &str,
    taint: &Taint,
) -> Outcome {
    let has_taints = match driver.nodes.get(node) {
        Some(view) if view.node.taints.contains(taint) => return Outcome::Done,
        Some(view) => !view.node.taints.is_empty(),
        None => return Outcome::Refused,
    };
    let value = json!({
        "key": taint.key,
        "value": Some(taint.value.clone()).filter(|value| !value.is_empty()),
        "effect": taint.effect.to_string(),
    });
    // A JSON patch appends to the list the API holds, whatever changed it meanwhile.
    let operation = if has_taints {
        json!([{ "op": "add", "path": "/spec/taints/-", "value": value }])
    } else {
        json!([{ "op": "add", "path": "/spec/taints", "value": [value] }])
    };
    let Ok(patch) = serde_json::from_value(operation) else {
        return Outcome::Refused;
    };
    let api: Api<Node> = Api::all(driver.client.clone());
    match api
        .patch(node, &patch_params(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => Outcome::Done,
        Err(error) => {
            tracing::warn!(node, %error, "failed to taint a node");
            Outcome::Refused
        }
    }
}

/// Registers a node for its NodeClaim as Karpenter does: the claim's labels, the termination
/// finalizer, and the `karpenter.sh/unregistered` taint removed.
pub(crate) fn register_node<P: CloudProvider + 'static>(
    driver: &Driver<P>,
    name: &str,
    node_labels: &BTreeMap<String, String>,
    view: &NodeView,
) {
    let taints: Vec<serde_json::Value> = view
        .node
        .taints
        .iter()
        .filter(|taint| taint.key != spotter_core::taints::UNREGISTERED_TAINT_KEY)
        .map(|taint| {
            json!({
                "key": taint.key,
                "value": Some(taint.value.clone()).filter(|value| !value.is_empty()),
                "effect": taint.effect.to_string(),
            })
        })
        .collect();
    let unregistered = view
        .node
        .taints
        .iter()
        .any(|taint| taint.key == spotter_core::taints::UNREGISTERED_TAINT_KEY);
    let mut finalizers = vec![protocol::TERMINATION_FINALIZER.to_string()];
    if view.finalized {
        finalizers.clear();
    }
    let client = driver.client.clone();
    let name = name.to_string();
    let mut node_labels = node_labels.clone();
    node_labels.insert(protocol::REGISTERED_LABEL.to_string(), "true".to_string());
    tokio::spawn(async move {
        let api: Api<Node> = Api::all(client);
        let mut patch = json!({ "metadata": { "labels": node_labels } });
        if unregistered {
            patch["spec"] = json!({ "taints": taints });
        }
        if !finalizers.is_empty() {
            // A merge patch would replace the list: a JSON patch appends to it.
            let append =
                json!([{ "op": "add", "path": "/metadata/finalizers/-", "value": finalizers[0] }]);
            let create =
                json!([{ "op": "add", "path": "/metadata/finalizers", "value": finalizers }]);
            for operation in [append, create] {
                let Ok(json_patch) = serde_json::from_value(operation) else {
                    continue;
                };
                if api
                    .patch(&name, &patch_params(), &Patch::<()>::Json(json_patch))
                    .await
                    .is_ok()
                {
                    break;
                }
            }
        }
        if let Err(error) = api
            .patch(&name, &patch_params(), &Patch::Merge(&patch))
            .await
        {
            tracing::warn!(node = name, %error, "failed to register a node");
        } else {
            tracing::info!(node = name, "registered");
        }
    });
}

/// Writes what a launch gave on the NodeClaim: the offering's labels, the provider ID,
/// capacity and allocatable.
pub(crate) fn report_launch<P: CloudProvider + 'static>(
    driver: &Driver<P>,
    node_claim: &str,
    instance: &Instance,
) {
    let instance_type = driver.state.instance_type(&instance.offering.instance_type);
    let labels_patch = node_claim_object::launched_labels_patch(instance, instance_type);
    let status_patch = node_claim_object::launched_status_patch(instance, instance_type);
    let fallback = driver
        .state
        .node_claims
        .get(node_claim)
        .is_some_and(|claim| claim.fallback);
    driver.events.on_node_claim(
        node_claim,
        Severity::Normal,
        "Launched",
        format!(
            "Launched {} ({}){}",
            instance.id,
            instance.offering,
            if fallback {
                ", an on-demand fallback"
            } else {
                ""
            }
        ),
    );
    let client = driver.client.clone();
    let name = node_claim.to_string();
    tokio::spawn(async move {
        let api: Api<NodeClaim> = Api::all(client);
        if let Err(error) = api
            .patch(&name, &patch_params(), &Patch::Merge(&labels_patch))
            .await
        {
            tracing::warn!(node_claim = name, %error, "failed to label a launched NodeClaim");
        }
        if let Err(error) = api
            .patch_status(&name, &patch_params(), &Patch::Merge(&status_patch))
            .await
        {
            tracing::warn!(node_claim = name, %error, "failed to write a launched NodeClaim's status");
        }
    });
}

/// Writes a NodeClaim's conditions (a merge patch of `status`) and waits for the answer; true
/// when it is written, or the NodeClaim is gone.
pub(crate) async fn patch_node_claim_status(
    client: Client,
    node_claim: &str,
    patch: serde_json::Value,
) -> bool {
    let api: Api<NodeClaim> = Api::all(client);
    match api
        .patch_status(node_claim, &patch_params(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => true,
        Err(error) if status_code(&error) == Some(404) => true,
        Err(error) => {
            tracing::debug!(node_claim, %error, "failed to write a NodeClaim's conditions; trying again at the next reconcile");
            false
        }
    }
}

/// Writes a NodePool's status (a merge patch of `status`) and waits for the answer, so that
/// two writes never land out of order; true when it is written, or the NodePool is gone.
pub(crate) async fn patch_node_pool_status<P: CloudProvider + 'static>(
    driver: &Driver<P>,
    node_pool: &str,
    patch: serde_json::Value,
) -> bool {
    let api: Api<NodePoolObject> = Api::all(driver.client.clone());
    match api
        .patch_status(node_pool, &patch_params(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => true,
        Err(error) if status_code(&error) == Some(404) => true,
        Err(error) => {
            tracing::debug!(node_pool, %error, "failed to write a NodePool's status; trying again at the next reconcile");
            false
        }
    }
}

async fn remove_finalizer_and_delete<K>(client: &Client, name: &str)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    let finalizers: Vec<String> = match api.get_opt(name).await {
        Ok(Some(object)) => object
            .meta()
            .finalizers
            .iter()
            .flatten()
            .filter(|finalizer| *finalizer != protocol::TERMINATION_FINALIZER)
            .cloned()
            .collect(),
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(object = name, %error, "failed to read an object to remove its finalizer");
            return;
        }
    };
    let patch = json!({ "metadata": { "finalizers": finalizers } });
    if let Err(error) = api
        .patch(name, &patch_params(), &Patch::Merge(&patch))
        .await
        && status_code(&error) != Some(404)
    {
        tracing::warn!(object = name, %error, "failed to remove Spotter's finalizer");
    }
    if let Err(error) = api.delete(name, &DeleteParams::default()).await
        && status_code(&error) != Some(404)
    {
        tracing::warn!(object = name, %error, "failed to delete an object");
    }
}

fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("default", key))
}

fn post_params() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(protocol::FIELD_MANAGER.to_string()),
    }
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(protocol::FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

/// The HTTP status of an API error.
pub(crate) fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    //! The API calls of actions, against kube's client on a mocked service (tower-test): the
    //! requests made, in order, and the outcome each answer gives.

    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;

    use http::{Request, Response};
    use kube::client::Body;
    use spotter_cloud::Launched;
    use spotter_controllers::Settings;
    use spotter_metrics::Metrics;

    use super::*;
    use crate::driver::DriverConfig;

    /// An answer of the mocked API: status and JSON body.
    type Answer = (u16, serde_json::Value);

    /// A cloud with no instances: what these tests perform never reaches it.
    struct NoCloud;

    impl CloudProvider for NoCloud {
        async fn create(&self, request: &LaunchRequest) -> Result<Launched, CloudError> {
            Err(CloudError::NotFound {
                what: request.node_claim.clone(),
            })
        }
        async fn delete(&self, instance_id: &str) -> Result<(), CloudError> {
            Err(CloudError::NotFound {
                what: instance_id.to_string(),
            })
        }
        async fn get(&self, _node_claim: &str) -> Result<Option<Instance>, CloudError> {
            Ok(None)
        }
        async fn list(&self) -> Result<Vec<Instance>, CloudError> {
            Ok(Vec::new())
        }
    }

    /// Performs `action` on a driver whose API answers each request (other than Events) with
    /// the next of `answers` (status, body); returns the outcome and the requests made
    /// (method and path), Events left out.
    fn perform_against(
        action: &Action,
        prepare: impl FnOnce(&mut Driver<NoCloud>),
        answers: Vec<Answer>,
    ) -> (Outcome, Vec<String>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|error| panic!("runtime: {error}"));
        runtime.block_on(async {
            let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
            let client = Client::new(service, "default");
            let server = tokio::spawn(async move {
                let mut requests = Vec::new();
                let mut answers = answers.into_iter();
                while let Some((request, respond)) = handle.next_request().await {
                    let path = request.uri().path().to_string();
                    if path.contains("/events") {
                        respond.send_response(
                            Response::builder()
                                .status(201)
                                .body(Body::from(b"{}".to_vec()))
                                .unwrap_or_else(|error| panic!("{error}")),
                        );
                        continue;
                    }
                    requests.push(format!("{} {path}", request.method()));
                    let (status, body) = answers
                        .next()
                        .unwrap_or((500, json!({"kind": "Status", "code": 500})));
                    respond.send_response(
                        Response::builder()
                            .status(status)
                            .body(Body::from(body.to_string().into_bytes()))
                            .unwrap_or_else(|error| panic!("{error}")),
                    );
                }
                requests
            });
            let mut driver = Driver::new(
                client,
                Arc::new(NoCloud),
                DriverConfig {
                    settings: Settings::default(),
                    seed: 1,
                    instance_types: Arc::new(Vec::new()),
                    identity: None,
                    node_class_status: false,
                    drift_check_interval: std::time::Duration::from_secs(300),
                    placement_score_interval: None,
                },
                Arc::new(Mutex::new(Metrics::new("test"))),
                Arc::new(AtomicBool::new(false)),
            );
            prepare(&mut driver);
            let outcome = perform(&mut driver, action).await;
            drop(driver);
            // The service closes once the last client (the driver's, the Events') is gone.
            let requests = tokio::time::timeout(std::time::Duration::from_secs(5), server)
                .await
                .unwrap_or_else(|_| panic!("the mocked API was not released"))
                .unwrap_or_else(|error| panic!("the mocked API failed: {error}"));
            (outcome, requests)
        })
    }

    fn status(code: u16, reason: &str) -> serde_json::Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "status": if code < 300 { "Success" } else { "Failure" },
            "reason": reason,
            "message": reason,
            "code": code,
        })
    }

    #[test]
    fn evictions_go_through_the_eviction_api_and_a_budget_refusal_is_retried() {
        let cases = [
            (201, "", Outcome::Started, true),
            (429, "TooManyRequests", Outcome::Refused, false),
            (404, "NotFound", Outcome::Done, false),
            (500, "InternalError", Outcome::Refused, false),
        ];
        for (code, reason, expected, terminating) in cases {
            let action = Action::EvictPod {
                pod: "default/web-1".to_string(),
            };
            let mut terminating_after = false;
            let (outcome, requests) =
                perform_against(&action, |_| {}, vec![(code, status(code, reason))]);
            assert_eq!(outcome, expected, "answer {code}");
            assert_eq!(
                requests,
                ["POST /api/v1/namespaces/default/pods/web-1/eviction"],
                "answer {code}"
            );
            // A second eviction of a pod already evicted asks nothing.
            let (_, again) = perform_against(
                &action,
                |driver| {
                    if terminating {
                        driver.terminating_pods.insert("default/web-1".to_string());
                        terminating_after = true;
                    }
                },
                Vec::new(),
            );
            assert_eq!(again.is_empty(), terminating_after, "answer {code}");
        }
    }

    #[test]
    fn a_deleted_node_claim_is_annotated_with_its_reason_then_deleted() {
        let action = Action::DeleteNodeClaim {
            node_claim: "batch-abcde".to_string(),
            reason: DisruptionReason::Empty,
            deadline: None,
        };
        let path = "/apis/karpenter.sh/v1/nodeclaims/batch-abcde";
        let cases: [(&str, bool, Vec<Answer>, Vec<String>); 3] = [
            (
                "an existing NodeClaim",
                true,
                vec![(200, json!({})), (200, status(200, ""))],
                vec![format!("PATCH {path}"), format!("DELETE {path}")],
            ),
            (
                "already gone",
                true,
                vec![
                    (404, status(404, "NotFound")),
                    (404, status(404, "NotFound")),
                ],
                vec![format!("PATCH {path}"), format!("DELETE {path}")],
            ),
            ("never created", false, Vec::new(), Vec::new()),
        ];
        for (case, exists, answers, expected) in cases {
            let (outcome, requests) = perform_against(
                &action,
                |driver| {
                    if exists {
                        driver.claim_objects.insert("batch-abcde".to_string());
                    }
                },
                answers,
            );
            assert_eq!(outcome, Outcome::Done, "{case}");
            assert_eq!(requests, expected, "{case}");
        }
    }
}
