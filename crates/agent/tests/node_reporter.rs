//! The NodeReporter against a fake Kubernetes API (a tower service behind `kube::Client`): the
//! requests it sends (a strategic-merge patch of nodes/status, a read and a resourceVersion-
//! guarded merge patch of the spec for the taint), what the Node ends up with, and how it
//! handles conflicts. The real control plane is not needed for what is checked here.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use spotter_agent::node_reporter::{NodeReporter, NodeReporterError};
use spotter_interruption::notice::{Notice, NoticeKind, SpotAction};

const NODE: &str = "ip-10-0-1-23.ec2.internal";

/// One request the fake API received.
#[derive(Clone, Debug)]
struct Received {
    method: Method,
    path: String,
    content_type: String,
    body: Value,
}

#[derive(Debug)]
struct FakeApi {
    node: Value,
    received: Vec<Received>,
    /// Spec patches to answer 409 (after a concurrent writer bumps the resourceVersion).
    conflicts: usize,
}

fn node_object() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "resourceVersion": "100"},
        "spec": {
            "providerID": "aws:///us-east-1a/i-1234567890abcdef0",
            "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]
        }
    })
}

fn status_body(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": reason, "reason": reason, "code": code})
}

fn bump_resource_version(node: &mut Value) {
    let version: u64 = node["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0);
    node["metadata"]["resourceVersion"] = json!((version + 1).to_string());
}

impl FakeApi {
    fn handle(&mut self, received: Received) -> (StatusCode, Value) {
        self.received.push(received.clone());
        let node_path = format!("/api/v1/nodes/{NODE}");
        let status_path = format!("{node_path}/status");
        match (&received.method, received.path.as_str()) {
            (&Method::GET, path) if path == node_path => (StatusCode::OK, self.node.clone()),
            (&Method::PATCH, path) if path == status_path => {
                // Strategic merge of conditions, keyed by type.
                let mut conditions: Vec<Value> = self.node["status"]["conditions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for condition in received.body["status"]["conditions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    conditions.retain(|existing| existing["type"] != condition["type"]);
                    conditions.push(condition);
                }
                self.node["status"]["conditions"] = json!(conditions);
                bump_resource_version(&mut self.node);
                (StatusCode::OK, self.node.clone())
            }
            (&Method::PATCH, path) if path == node_path => {
                if self.conflicts > 0 {
                    self.conflicts -= 1;
                    bump_resource_version(&mut self.node);
                    return (StatusCode::CONFLICT, status_body(409, "Conflict"));
                }
                let expected = &self.node["metadata"]["resourceVersion"];
                let sent = &received.body["metadata"]["resourceVersion"];
                if !sent.is_null() && sent != expected {
                    return (StatusCode::CONFLICT, status_body(409, "Conflict"));
                }
                if let Some(taints) = received.body["spec"].get("taints") {
                    self.node["spec"]["taints"] = taints.clone();
                }
                bump_resource_version(&mut self.node);
                (StatusCode::OK, self.node.clone())
            }
            _ => (StatusCode::NOT_FOUND, status_body(404, "NotFound")),
        }
    }
}

fn reporter(conflicts: usize) -> (NodeReporter, Arc<Mutex<FakeApi>>) {
    reporter_named(NODE, conflicts)
}

fn reporter_named(node_name: &str, conflicts: usize) -> (NodeReporter, Arc<Mutex<FakeApi>>) {
    let api = Arc::new(Mutex::new(FakeApi {
        node: node_object(),
        received: Vec::new(),
        conflicts,
    }));
    let shared = api.clone();
    let service = tower::service_fn(move |request: Request<kube::client::Body>| {
        let api = shared.clone();
        async move {
            let (parts, body) = request.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|collected| collected.to_bytes())
                .unwrap_or_default();
            let received = Received {
                method: parts.method.clone(),
                path: parts.uri.path().to_owned(),
                content_type: parts
                    .headers
                    .get(hyper::header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (status, body) = api.lock().expect("the fake API's lock").handle(received);
            let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
            *response.status_mut() = status;
            Ok::<_, Infallible>(response)
        }
    });
    let client = kube::Client::new(service, "default");
    (NodeReporter::new(client, node_name), api)
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn spot_notice() -> Notice {
    Notice {
        instance_id: "i-1234567890abcdef0".to_owned(),
        kind: NoticeKind::SpotInterruption {
            action: SpotAction::Terminate,
            deadline: at(1_505_722_920),
        },
    }
}

fn rebalance_notice() -> Notice {
    Notice {
        instance_id: "i-1234567890abcdef0".to_owned(),
        kind: NoticeKind::RebalanceRecommendation {
            notice_time: at(1_505_722_800),
        },
    }
}

fn condition_types(node: &Value) -> Vec<String> {
    node["status"]["conditions"]
        .as_array()
        .map(|conditions| {
            conditions
                .iter()
                .filter_map(|condition| condition["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn taint_keys(node: &Value) -> Vec<String> {
    node["spec"]["taints"]
        .as_array()
        .map(|taints| {
            taints
                .iter()
                .map(|taint| {
                    format!(
                        "{}={}:{}",
                        taint["key"].as_str().unwrap_or(""),
                        taint["value"].as_str().unwrap_or(""),
                        taint["effect"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_spot_interruption_writes_the_condition_and_the_taint() {
    let (reporter, api) = reporter(0);
    let result = reporter.report(&spot_notice(), at(1_505_722_800)).await;
    assert!(result.is_ok(), "{result:?}");
    let api = api.lock().expect("the fake API's lock");
    let requests: Vec<(Method, String, String)> = api
        .received
        .iter()
        .map(|received| {
            (
                received.method.clone(),
                received.path.clone(),
                received.content_type.clone(),
            )
        })
        .collect();
    assert_eq!(
        requests,
        vec![
            (
                Method::PATCH,
                format!("/api/v1/nodes/{NODE}/status"),
                "application/strategic-merge-patch+json".to_owned()
            ),
            (Method::GET, format!("/api/v1/nodes/{NODE}"), String::new()),
            (
                Method::PATCH,
                format!("/api/v1/nodes/{NODE}"),
                "application/merge-patch+json".to_owned()
            ),
        ]
    );
    // The taint patch is guarded by the resourceVersion it read.
    assert_eq!(
        api.received[2].body["metadata"]["resourceVersion"],
        json!("101")
    );
    assert_eq!(
        condition_types(&api.node),
        vec!["Ready", "SpotInterruption"]
    );
    let condition = &api.node["status"]["conditions"][1];
    assert_eq!(condition["status"], json!("True"));
    assert_eq!(condition["reason"], json!("Terminate"));
    assert!(
        condition["message"]
            .as_str()
            .unwrap_or("")
            .contains("2017-09-18T08:22:00Z"),
        "{condition}"
    );
    assert_eq!(
        taint_keys(&api.node),
        vec![
            "dedicated=batch:NoSchedule".to_owned(),
            "spotter.dev/interruption=spot-interruption:NoSchedule".to_owned()
        ]
    );
}

#[tokio::test]
async fn a_rebalance_recommendation_writes_only_the_condition() {
    let (reporter, api) = reporter(0);
    let result = reporter
        .report(&rebalance_notice(), at(1_505_722_800))
        .await;
    assert!(result.is_ok(), "{result:?}");
    let api = api.lock().expect("the fake API's lock");
    assert_eq!(api.received.len(), 1);
    assert_eq!(
        condition_types(&api.node),
        vec!["Ready", "RebalanceRecommendation"]
    );
    assert_eq!(
        taint_keys(&api.node),
        vec!["dedicated=batch:NoSchedule".to_owned()]
    );
}

#[tokio::test]
async fn reporting_twice_keeps_one_condition_and_one_taint() {
    let (reporter, api) = reporter(0);
    for _ in 0..2 {
        let result = reporter.report(&spot_notice(), at(1_505_722_800)).await;
        assert!(result.is_ok(), "{result:?}");
    }
    let api = api.lock().expect("the fake API's lock");
    assert_eq!(
        condition_types(&api.node),
        vec!["Ready", "SpotInterruption"]
    );
    assert_eq!(taint_keys(&api.node).len(), 2);
    // The second report reads the node, finds the taint, and patches nothing.
    let spec_patches = api
        .received
        .iter()
        .filter(|received| received.method == Method::PATCH && !received.path.ends_with("/status"))
        .count();
    assert_eq!(spec_patches, 1);
}

#[tokio::test]
async fn a_conflict_is_retried_and_endless_conflicts_are_an_error() {
    let (once, api) = reporter(1);
    let result = once.report(&spot_notice(), at(1_505_722_800)).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        taint_keys(&api.lock().expect("the fake API's lock").node).len(),
        2
    );

    let (endless, _api) = reporter(usize::MAX);
    let result = endless.report(&spot_notice(), at(1_505_722_800)).await;
    assert!(
        matches!(result, Err(NodeReporterError::TaintConflict { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_unknown_node_is_an_error_naming_it() {
    let (reporter, _api) = reporter_named("no-such-node", 0);
    let message = match reporter.report(&spot_notice(), at(0)).await {
        Ok(()) => panic!("reported on a node that does not exist"),
        Err(error) => error.to_string(),
    };
    assert!(message.contains("no-such-node"), "{message}");
}
