//! What the kubelet stand-in writes on a pod bound to a fake node, as values: the status of a
//! started pod (phase `Running`; `PodScheduled`, `Initialized`, `ContainersReady` and `Ready`
//! true; a pod IP, the node's IP, a start time, running container statuses and completed init
//! containers), whether a pod still needs it, and when a terminating pod is due for removal.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::addresses::{node_ip, pod_ip};
use crate::node_object::kubernetes_time;

/// The conditions a started pod has, all `True`.
pub const STARTED_CONDITIONS: [&str; 4] =
    ["PodScheduled", "Initialized", "ContainersReady", "Ready"];

/// What the kubelet stand-in should do with a pod bound to one of its nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodWork {
    /// Nothing: it is running and ready, or finished.
    Nothing,
    /// Mark it started (write [`started_status`]).
    Start,
    /// Remove it (delete with grace 0) once `due`: its grace period after it was seen
    /// terminating, as a kubelet times its containers' stop, and never before its deletion
    /// timestamp (which the API server writes to the second).
    Remove {
        /// When its grace period ends.
        due: SystemTime,
    },
}

/// What `pod`, seen at `now`, needs from the kubelet stand-in.
pub fn work(pod: &Pod, now: SystemTime) -> PodWork {
    if let Some(deletion) = &pod.metadata.deletion_timestamp {
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .and_then(|seconds| u64::try_from(seconds).ok())
            .map(Duration::from_secs)
            .unwrap_or_default();
        let due = SystemTime::from(deletion.0).max(now + grace);
        return PodWork::Remove { due };
    }
    let status = pod.status.as_ref();
    match status.and_then(|status| status.phase.as_deref()) {
        Some("Succeeded" | "Failed") => return PodWork::Nothing,
        Some("Running") => {}
        _ => return PodWork::Start,
    }
    let conditions = status
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default();
    let all_true = STARTED_CONDITIONS.iter().all(|type_| {
        conditions
            .iter()
            .any(|condition| condition.type_ == *type_ && condition.status == "True")
    });
    if all_true {
        PodWork::Nothing
    } else {
        PodWork::Start
    }
}

/// The status patch (strategic merge on `pods/status`) of a pod started at `now` on the node
/// `node_name`.
pub fn started_status(pod: &Pod, node_name: &str, now: SystemTime) -> Value {
    let time = kubernetes_time(now);
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let pod_ip = pod_ip(uid);
    let host_ip = node_ip(node_name);
    let conditions: Vec<Value> = STARTED_CONDITIONS
        .iter()
        .map(|type_| json!({ "type": type_, "status": "True", "lastTransitionTime": time }))
        .collect();
    let spec = pod.spec.as_ref();
    let containers: Vec<Value> = spec
        .map(|spec| spec.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|container| {
            json!({
                "name": container.name,
                "image": container.image.clone().unwrap_or_default(),
                "imageID": "",
                "containerID": format!("fake://{uid}/{}", container.name),
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": { "running": { "startedAt": time } },
            })
        })
        .collect();
    let init_containers: Vec<Value> = spec
        .and_then(|spec| spec.init_containers.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|container| {
            json!({
                "name": container.name,
                "image": container.image.clone().unwrap_or_default(),
                "imageID": "",
                "containerID": format!("fake://{uid}/{}", container.name),
                "ready": true,
                "restartCount": 0,
                "state": { "terminated": {
                    "exitCode": 0, "reason": "Completed", "startedAt": time, "finishedAt": time,
                } },
            })
        })
        .collect();
    let mut status = json!({
        "phase": "Running",
        "conditions": conditions,
        "podIP": pod_ip.to_string(),
        "podIPs": [{ "ip": pod_ip.to_string() }],
        "hostIP": host_ip.to_string(),
        "hostIPs": [{ "ip": host_ip.to_string() }],
        "startTime": time,
        "containerStatuses": containers,
    });
    if !init_containers.is_empty() {
        status["initContainerStatuses"] = Value::Array(init_containers);
    }
    json!({ "status": status })
}

/// How long from `now` until `due` (zero when it has passed).
pub fn wait_until(due: SystemTime, now: SystemTime) -> Duration {
    due.duration_since(now).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::net::Ipv4Addr;

    fn pod(phase: Option<&str>, true_conditions: &[&str]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web-1".to_owned()),
                uid: Some("6c1f".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".to_owned(),
                    image: Some("nginx:1.27".to_owned()),
                    ..Container::default()
                }],
                init_containers: Some(vec![Container {
                    name: "setup".to_owned(),
                    ..Container::default()
                }]),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: phase.map(str::to_owned),
                conditions: Some(
                    true_conditions
                        .iter()
                        .map(|type_| PodCondition {
                            type_: (*type_).to_owned(),
                            status: "True".to_owned(),
                            ..PodCondition::default()
                        })
                        .collect(),
                ),
                ..PodStatus::default()
            }),
        }
    }

    #[test]
    fn work_follows_the_phase_conditions_and_deletion() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let deleting = |deletion_timestamp: u64, grace: Option<i64>| {
            let mut pod = pod(Some("Running"), &STARTED_CONDITIONS);
            pod.metadata.deletion_timestamp = Some(kubernetes_time(
                SystemTime::UNIX_EPOCH + Duration::from_secs(deletion_timestamp),
            ));
            pod.metadata.deletion_grace_period_seconds = grace;
            pod
        };
        let due = |seconds: u64| PodWork::Remove {
            due: SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
        };
        let cases = [
            (pod(Some("Pending"), &["PodScheduled"]), PodWork::Start),
            (pod(None, &[]), PodWork::Start),
            (
                pod(
                    Some("Running"),
                    &["PodScheduled", "Initialized", "ContainersReady"],
                ),
                PodWork::Start,
            ),
            (pod(Some("Running"), &STARTED_CONDITIONS), PodWork::Nothing),
            (pod(Some("Succeeded"), &[]), PodWork::Nothing),
            (pod(Some("Failed"), &[]), PodWork::Nothing),
            // Grace counted from when the deletion is seen (the timestamp is to the second).
            (deleting(1_030, Some(30)), due(1_030)),
            (deleting(1_029, Some(30)), due(1_030)),
            // Seen late (after a restart): due at the timestamp, already passed.
            (deleting(990, Some(0)), due(1_000)),
            (deleting(1_010, None), due(1_010)),
        ];
        for (pod, expected) in cases {
            assert_eq!(work(&pod, now), expected, "{:?}", pod.metadata);
        }
    }

    #[test]
    fn the_started_status_is_running_ready_with_containers() {
        let pod = pod(Some("Pending"), &["PodScheduled"]);
        let patch = started_status(&pod, "batch-x7k2p", SystemTime::UNIX_EPOCH);
        let status = &patch["status"];
        assert_eq!(status["phase"], "Running");
        let types: Vec<&str> = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|condition| condition["status"] == "True")
            .filter_map(|condition| condition["type"].as_str())
            .collect();
        assert_eq!(types, STARTED_CONDITIONS);
        assert_eq!(status["containerStatuses"][0]["name"], "app");
        assert_eq!(status["containerStatuses"][0]["ready"], true);
        assert_eq!(status["containerStatuses"][0]["image"], "nginx:1.27");
        assert!(status["containerStatuses"][0]["state"]["running"]["startedAt"].is_string());
        assert_eq!(
            status["initContainerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        assert_eq!(status["startTime"], "1970-01-01T00:00:00Z");
        assert_eq!(status["hostIP"], node_ip("batch-x7k2p").to_string());
        let pod_ip: Ipv4Addr = status["podIP"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        assert_eq!(pod_ip.octets()[0], 10);
        // A pod keeps its IP when the status is written again.
        assert_eq!(
            started_status(&pod, "batch-x7k2p", SystemTime::UNIX_EPOCH)["status"]["podIP"],
            status["podIP"]
        );
    }

    #[test]
    fn waits_end_at_the_deadline_never_negative() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(
            wait_until(start + Duration::from_secs(30), start),
            Duration::from_secs(30)
        );
        assert_eq!(
            wait_until(start - Duration::from_secs(30), start),
            Duration::ZERO
        );
    }
}
