//! Kubernetes Events (`events.k8s.io/v1`) on NodeClaims, NodePools, EC2NodeClasses and pods: launches,
//! fallbacks to on-demand, insufficient capacity, returns to Spot, disruptions and pods
//! Spotter cannot place, as `kubectl describe` shows Karpenter's. Publishing never blocks the
//! driver: each event is sent from its own task, and a failure is only logged.
//!
//! Each event is created as it is; nothing is remembered. (kube-runtime's `Recorder` keeps
//! every event it published in the last 6 minutes, whole, to count repeats as a series: tens
//! of megabytes when thousands of pods and NodeClaims come and go. The driver already reports
//! a pod's unschedulable reason only when it changes.)

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};

/// The reporting controller of Spotter's events.
pub const REPORTING_CONTROLLER: &str = "spotter";

/// Publishes events as the `spotter` controller.
#[derive(Clone)]
pub struct Events {
    client: Client,
    /// The reporting instance (the pod's name), else the controller's name.
    instance: String,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Events").finish_non_exhaustive()
    }
}

/// Normal or warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Something worth knowing.
    Normal,
    /// Something that needs a look.
    Warning,
}

impl Events {
    /// Events reported by `instance` (the pod's name).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        Self {
            client,
            instance: instance.unwrap_or_else(|| REPORTING_CONTROLLER.to_string()),
        }
    }

    /// An event on a NodeClaim.
    pub fn on_node_claim(&self, name: &str, severity: Severity, reason: &str, note: String) {
        self.publish(
            reference("karpenter.sh/v1", "NodeClaim", None, name),
            severity,
            reason,
            note,
        );
    }

    /// An event on a NodePool.
    pub fn on_node_pool(&self, name: &str, severity: Severity, reason: &str, note: String) {
        self.publish(
            reference("karpenter.sh/v1", "NodePool", None, name),
            severity,
            reason,
            note,
        );
    }

    /// An event on an EC2NodeClass.
    pub fn on_ec2_node_class(&self, name: &str, severity: Severity, reason: &str, note: String) {
        self.publish(
            reference("karpenter.k8s.aws/v1", "EC2NodeClass", None, name),
            severity,
            reason,
            note,
        );
    }

    /// An event on a pod (`namespace/name`).
    pub fn on_pod(&self, key: &str, severity: Severity, reason: &str, note: String) {
        let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
        self.publish(
            reference("v1", "Pod", Some(namespace), name),
            severity,
            reason,
            note,
        );
    }

    fn publish(&self, reference: ObjectReference, severity: Severity, reason: &str, note: String) {
        let event = event(
            &reference,
            &self.instance,
            severity,
            reason,
            note,
            Timestamp::now(),
        );
        let events: Api<Event> = Api::namespaced(
            self.client.clone(),
            reference.namespace.as_deref().unwrap_or("default"),
        );
        tokio::spawn(async move {
            if let Err(error) = events.create(&PostParams::default(), &event).await {
                tracing::debug!(%error, reason = event.reason, "failed to publish an event");
            }
        });
    }
}

/// The `events.k8s.io/v1` Event about `regarding`, named as kube-runtime names its events
/// (`<object>.<nanoseconds in hex>`).
pub fn event(
    regarding: &ObjectReference,
    instance: &str,
    severity: Severity,
    reason: &str,
    note: String,
    now: Timestamp,
) -> Event {
    Event {
        metadata: ObjectMeta {
            namespace: regarding.namespace.clone(),
            name: Some(format!(
                "{}.{:x}",
                regarding.name.as_deref().unwrap_or(REPORTING_CONTROLLER),
                now.as_nanosecond()
            )),
            ..ObjectMeta::default()
        },
        action: Some(reason.to_string()),
        reason: Some(reason.to_string()),
        // The API refuses notes over 1 kB.
        note: Some(note.chars().take(1000).collect()),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding.clone()),
        reporting_controller: Some(REPORTING_CONTROLLER.to_string()),
        reporting_instance: Some(instance.to_string()),
        type_: Some(
            match severity {
                Severity::Normal => "Normal",
                Severity::Warning => "Warning",
            }
            .to_string(),
        ),
        ..Event::default()
    }
}

fn reference(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(kind.to_string()),
        namespace: namespace.map(str::to_string),
        name: Some(name.to_string()),
        ..ObjectReference::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_say_what_kubectl_describe_shows() {
        let now = Timestamp::from_second(1_700_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let cases = [
            (
                reference("v1", "Pod", Some("team"), "web-1"),
                Severity::Warning,
                "team",
                "web-1.",
                "Warning",
            ),
            (
                reference("karpenter.sh/v1", "NodeClaim", None, "batch-x1"),
                Severity::Normal,
                "",
                "batch-x1.",
                "Normal",
            ),
        ];
        for (regarding, severity, namespace, prefix, type_) in cases {
            let event = event(
                &regarding,
                "spotter-a",
                severity,
                "Launched",
                "x".repeat(1500),
                now,
            );
            assert_eq!(event.metadata.namespace.as_deref().unwrap_or(""), namespace);
            let name = event.metadata.name.clone().unwrap_or_default();
            assert!(
                name.starts_with(prefix) && name.len() > prefix.len(),
                "{name}"
            );
            assert_eq!(event.type_.as_deref(), Some(type_));
            assert_eq!(event.reason.as_deref(), Some("Launched"));
            assert_eq!(event.reporting_controller.as_deref(), Some("spotter"));
            assert_eq!(event.reporting_instance.as_deref(), Some("spotter-a"));
            assert_eq!(event.regarding.as_ref(), Some(&regarding));
            assert_eq!(event.note.map(|note| note.len()), Some(1000));
            assert_eq!(event.event_time, Some(MicroTime(now)));
        }
    }
}
