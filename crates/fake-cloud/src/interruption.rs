//! Interruption warnings sent by hand: a fake node annotated
//! `fake.spotter.dev/interrupt=spot-interruption` (`kubectl annotate node N
//! fake.spotter.dev/interrupt=spot-interruption`) gets what `spotter agent` writes for a real
//! Spot interruption notice (the `SpotInterruption` condition and the
//! `spotter.dev/interruption` taint, through `spotter_agent`'s `NodeReporter`) with a deadline
//! two minutes later; then the annotation is removed. Another value is refused: it is logged
//! and removed too, so that a typo is seen once.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{Patch, PatchParams};
use spotter_agent::node_reporter::{NodeReporter, NodeReporterError};
use spotter_interruption::notice::{Notice, NoticeKind, SPOT_INTERRUPTION_WARNING, SpotAction};

use crate::node_object;

/// The annotation asking for an interruption warning.
pub const INTERRUPT_ANNOTATION: &str = "fake.spotter.dev/interrupt";
/// Its value for a Spot interruption warning.
pub const SPOT_INTERRUPTION: &str = "spot-interruption";
/// The field manager of the annotation's removal.
pub const FIELD_MANAGER: &str = "spotter-fake-kubelet";

/// Why an interruption warning was not written.
#[derive(Debug, thiserror::Error)]
pub enum InterruptionError {
    /// The annotation's value is not a known warning.
    #[error(
        "failed to interrupt Node {node}: {INTERRUPT_ANNOTATION}={value:?} is not a known warning; use {SPOT_INTERRUPTION}"
    )]
    UnknownWarning {
        /// The node.
        node: String,
        /// The value found.
        value: String,
    },
    /// The Node is not a fake instance.
    #[error(
        "failed to interrupt Node {node}: it is not a fake instance (no fake:// providerID); only the fake cloud's nodes take {INTERRUPT_ANNOTATION}"
    )]
    NotFake {
        /// The node.
        node: String,
    },
    /// Writing the condition or the taint failed.
    #[error("failed to interrupt Node {node}: {source}")]
    Report {
        /// The node.
        node: String,
        /// What the reporter said.
        source: NodeReporterError,
    },
    /// Removing the annotation failed.
    #[error("failed to remove {INTERRUPT_ANNOTATION} from Node {node}: {source}")]
    RemoveAnnotation {
        /// The node.
        node: String,
        /// The client's error.
        source: kube::Error,
    },
}

/// The value of the node's interrupt annotation, if it has one.
pub fn requested(node: &Node) -> Option<&str> {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(INTERRUPT_ANNOTATION))
        .map(String::as_str)
}

/// The notice a Spot interruption warning at `now` stands for: terminate, two minutes later.
pub fn spot_interruption(instance_id: &str, now: SystemTime) -> Notice {
    Notice {
        instance_id: instance_id.to_owned(),
        kind: NoticeKind::SpotInterruption {
            action: SpotAction::Terminate,
            deadline: now + SPOT_INTERRUPTION_WARNING,
        },
    }
}

/// Acts on the interrupt annotation of `node` (which has one): writes the warning, then
/// removes the annotation (also when its value is refused).
pub async fn interrupt(client: kube::Client, node: &Node) -> Result<(), InterruptionError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let value = requested(node).unwrap_or_default().to_owned();
    let written = write_warning(client.clone(), node, &name, &value).await;
    if let Err(InterruptionError::Report { .. }) = &written {
        // Left in place: the next event of the Node tries again.
        return written;
    }
    let patch =
        serde_json::json!({ "metadata": { "annotations": { INTERRUPT_ANNOTATION: null } } });
    Api::<Node>::all(client)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Merge(patch),
        )
        .await
        .map_err(|source| InterruptionError::RemoveAnnotation {
            node: name.clone(),
            source,
        })?;
    written
}

async fn write_warning(
    client: kube::Client,
    node: &Node,
    name: &str,
    value: &str,
) -> Result<(), InterruptionError> {
    if value != SPOT_INTERRUPTION {
        return Err(InterruptionError::UnknownWarning {
            node: name.to_owned(),
            value: value.to_owned(),
        });
    }
    let instance_id = node
        .spec
        .as_ref()
        .and_then(|spec| spec.provider_id.as_deref())
        .and_then(node_object::parse_provider_id)
        .map(|(_, instance_id)| instance_id.to_owned())
        .ok_or_else(|| InterruptionError::NotFake {
            node: name.to_owned(),
        })?;
    let notice = spot_interruption(&instance_id, SystemTime::now());
    NodeReporter::new(client, name)
        .report(&notice, SystemTime::now())
        .await
        .map_err(|source| InterruptionError::Report {
            node: name.to_owned(),
            source,
        })?;
    tracing::info!(node = %name, instance = %instance_id, "Spot interruption warning written (deadline in 2 minutes)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    #[test]
    fn the_warning_is_a_spot_termination_two_minutes_later() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            spot_interruption("fake-0123456789", now),
            Notice {
                instance_id: "fake-0123456789".to_owned(),
                kind: NoticeKind::SpotInterruption {
                    action: SpotAction::Terminate,
                    deadline: now + Duration::from_secs(120),
                },
            }
        );
    }

    #[test]
    fn the_annotation_is_read_from_the_node() {
        let mut node = Node::default();
        assert_eq!(requested(&node), None);
        node.metadata.annotations = Some(BTreeMap::from([(
            INTERRUPT_ANNOTATION.to_owned(),
            SPOT_INTERRUPTION.to_owned(),
        )]));
        assert_eq!(requested(&node), Some(SPOT_INTERRUPTION));
    }
}
