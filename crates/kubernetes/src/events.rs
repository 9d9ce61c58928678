//! Kubernetes Events (`events.k8s.io/v1`) on NodeClaims, NodePools and pods: launches,
//! fallbacks to on-demand, insufficient capacity, returns to Spot, disruptions and pods
//! Spotter cannot place, as `kubectl describe` shows Karpenter's. Publishing never blocks the
//! driver: each event is sent from its own task, and a failure is only logged.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// Publishes events as the `spotter` controller.
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
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
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: "spotter".to_string(),
                    instance,
                },
            ),
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
        let recorder = self.recorder.clone();
        let event = Event {
            type_: match severity {
                Severity::Normal => EventType::Normal,
                Severity::Warning => EventType::Warning,
            },
            reason: reason.to_string(),
            // The API refuses notes over 1 kB.
            note: Some(note.chars().take(1000).collect()),
            action: reason.to_string(),
            secondary: None,
        };
        tokio::spawn(async move {
            if let Err(error) = recorder.publish(&event, &reference).await {
                tracing::debug!(%error, reason = event.reason, "failed to publish an event");
            }
        });
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
