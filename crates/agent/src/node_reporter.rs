//! Writes notices on the agent's own Node (the one named by `NODE_NAME`, from the downward
//! API): the condition through a strategic-merge patch of `nodes/status` (merged by condition
//! type, so the kubelet's conditions stay), and the taint through a merge patch of the spec
//! guarded by the resourceVersion it was computed from (retried on a conflict). It needs
//! `get` and `patch` on `nodes` and `patch` on `nodes/status`, nothing else.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{Patch, PatchParams};
use spotter_interruption::notice::Notice;

use crate::node_report;

/// The environment variable naming the agent's node.
pub const NODE_NAME_ENV: &str = "NODE_NAME";
/// The field manager of the agent's patches.
pub const FIELD_MANAGER: &str = "spotter-agent";
/// How many times a taint patch is retried after a conflict.
pub const TAINT_CONFLICT_RETRIES: usize = 3;

/// Why a notice could not be written on the Node.
#[derive(Debug, thiserror::Error)]
pub enum NodeReporterError {
    /// `NODE_NAME` is unset or empty.
    #[error(
        "failed to find the agent's node name: set {NODE_NAME_ENV} from the downward API (spec.nodeName)"
    )]
    NodeNameMissing,
    /// The API server refused or failed a request.
    #[error("failed to {action} Node {node}: {source}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// The node.
        node: String,
        /// The client's error.
        source: kube::Error,
    },
    /// The taint kept conflicting with other writers.
    #[error(
        "failed to taint Node {node}: it changed under every one of {TAINT_CONFLICT_RETRIES} attempts"
    )]
    TaintConflict {
        /// The node.
        node: String,
    },
}

/// Writes notices on one Node.
#[derive(Clone)]
pub struct NodeReporter {
    nodes: Api<Node>,
    node_name: String,
}

impl std::fmt::Debug for NodeReporter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NodeReporter")
            .field("node_name", &self.node_name)
            .finish_non_exhaustive()
    }
}

impl NodeReporter {
    /// A reporter for the node named `node_name`.
    pub fn new(client: kube::Client, node_name: impl Into<String>) -> NodeReporter {
        NodeReporter {
            nodes: Api::all(client),
            node_name: node_name.into(),
        }
    }

    /// A reporter for the node named by `NODE_NAME`.
    pub fn from_env(client: kube::Client) -> Result<NodeReporter, NodeReporterError> {
        let node_name = std::env::var(NODE_NAME_ENV)
            .ok()
            .filter(|name| !name.trim().is_empty())
            .ok_or(NodeReporterError::NodeNameMissing)?;
        Ok(NodeReporter::new(client, node_name))
    }

    /// The node written to.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// Writes `notice`: the condition, then the taint when the notice class has one.
    pub async fn report(&self, notice: &Notice, now: SystemTime) -> Result<(), NodeReporterError> {
        self.write_condition(notice, now).await?;
        if let Some(taint) = node_report::taint(notice) {
            self.write_taint(&taint).await?;
        }
        Ok(())
    }

    async fn write_condition(
        &self,
        notice: &Notice,
        now: SystemTime,
    ) -> Result<(), NodeReporterError> {
        let condition = node_report::condition(notice, now);
        let patch = serde_json::json!({ "status": { "conditions": [condition] } });
        self.nodes
            .patch_status(
                &self.node_name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Strategic(patch),
            )
            .await
            .map_err(|source| self.api_error("patch the status of", source))?;
        Ok(())
    }

    async fn write_taint(
        &self,
        taint: &k8s_openapi::api::core::v1::Taint,
    ) -> Result<(), NodeReporterError> {
        for _ in 0..TAINT_CONFLICT_RETRIES {
            let node = self
                .nodes
                .get(&self.node_name)
                .await
                .map_err(|source| self.api_error("read", source))?;
            let existing = node
                .spec
                .as_ref()
                .and_then(|spec| spec.taints.clone())
                .unwrap_or_default();
            let Some(taints) = node_report::with_taint(&existing, taint) else {
                return Ok(());
            };
            let patch = serde_json::json!({
                "metadata": { "resourceVersion": node.metadata.resource_version },
                "spec": { "taints": taints },
            });
            match self
                .nodes
                .patch(
                    &self.node_name,
                    &PatchParams::apply(FIELD_MANAGER),
                    &Patch::Merge(patch),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    tracing::debug!(node = %self.node_name, "the node changed while tainting it; retrying");
                }
                Err(source) => return Err(self.api_error("taint", source)),
            }
        }
        Err(NodeReporterError::TaintConflict {
            node: self.node_name.clone(),
        })
    }

    fn api_error(&self, action: &'static str, source: kube::Error) -> NodeReporterError {
        NodeReporterError::Api {
            action,
            node: self.node_name.clone(),
            source,
        }
    }
}
