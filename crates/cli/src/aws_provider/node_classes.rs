//! The EC2NodeClass loop: every EC2NodeClass object is given to the AWS provider, resolved
//! (subnets, security groups, AMIs, instance profile) and its `status` written back with
//! Karpenter's conditions; a resolution that fails also gets a Warning event naming the
//! selector that matched nothing. A changed spec is resolved at once; every resolution is
//! redone each [`RESOLUTION_TTL`] (new AMI releases, subnets tagged later); a deleted
//! EC2NodeClass's launch templates are deleted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use futures_util::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use spotter_api::crd::ec2_node_class::Ec2NodeClass;
use spotter_aws::node_class_status::{self, READY};
use spotter_aws::provider::RESOLUTION_TTL;
use spotter_aws::{AwsCloudProvider, SdkEc2};
use spotter_kubernetes::events::{Events, Severity};

/// The EC2NodeClasses and what was last applied of each.
pub struct NodeClasses {
    api: Api<Ec2NodeClass>,
    provider: Arc<AwsCloudProvider<SdkEc2>>,
    events: Events,
    /// The spec last given to the provider, as JSON, by name.
    applied: BTreeMap<String, serde_json::Value>,
    /// The failure last reported by event, by name.
    reported: BTreeMap<String, String>,
}

impl NodeClasses {
    /// The loop's state.
    pub fn new(
        client: kube::Client,
        provider: Arc<AwsCloudProvider<SdkEc2>>,
        events: Events,
    ) -> Self {
        NodeClasses {
            api: Api::all(client),
            provider,
            events,
            applied: BTreeMap::new(),
            reported: BTreeMap::new(),
        }
    }

    /// Lists every EC2NodeClass and reconciles each once.
    pub async fn load_all(mut self) -> anyhow::Result<()> {
        let node_classes = self
            .api
            .list(&ListParams::default())
            .await
            .context("failed to list EC2NodeClasses: are the CRDs installed (spotter crds | kubectl apply -f -)?")?;
        for node_class in node_classes {
            self.reconcile(&node_class).await;
        }
        Ok(())
    }

    /// Watches the EC2NodeClasses, reconciling each change and every one each
    /// [`RESOLUTION_TTL`].
    pub async fn run(mut self) {
        let mut changes = watcher::watcher(self.api.clone(), watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut known: BTreeMap<String, Ec2NodeClass> = BTreeMap::new();
        let mut refresh = tokio::time::interval(RESOLUTION_TTL);
        refresh.tick().await;
        loop {
            tokio::select! {
                change = changes.next() => match change {
                    Some(Ok(Event::Apply(node_class) | Event::InitApply(node_class))) => {
                        self.reconcile(&node_class).await;
                        known.insert(name_of(&node_class), node_class);
                    }
                    Some(Ok(Event::Delete(node_class))) => {
                        let name = name_of(&node_class);
                        known.remove(&name);
                        self.remove(&name).await;
                    }
                    Some(Ok(Event::Init | Event::InitDone)) => {}
                    Some(Err(error)) => {
                        tracing::warn!(%error, "watching EC2NodeClasses failed; retrying");
                    }
                    None => return,
                },
                _ = refresh.tick() => {
                    for (name, node_class) in &known {
                        self.provider.forget_resolution(name);
                        self.reconcile(node_class).await;
                    }
                }
            }
        }
    }

    /// Gives the spec to the provider when it changed, resolves it, and writes the status
    /// when it differs from the object's.
    async fn reconcile(&mut self, node_class: &Ec2NodeClass) {
        let name = name_of(node_class);
        let spec = match node_class_status::provider_spec(&name, &node_class.spec) {
            Ok(spec) => spec,
            Err(error) => {
                self.report_failure(&name, "ValidationFailed", error.to_string());
                return;
            }
        };
        let spec_json = serde_json::to_value(&spec).unwrap_or_default();
        if self.applied.get(&name) != Some(&spec_json) {
            self.provider.set_node_class(&name, spec);
            self.applied.insert(name.clone(), spec_json);
        }
        let resolution = self.provider.resolve_node_class(&name).await;
        let previous = node_class.status.clone().unwrap_or_default();
        let status = node_class_status::status(
            &resolution,
            &previous,
            node_class.metadata.generation,
            &Timestamp::try_from(SystemTime::now())
                .map(|now| now.to_string())
                .unwrap_or_default(),
        );
        match &resolution {
            Ok(_) => {
                if self.reported.remove(&name).is_some() {
                    self.events.on_ec2_node_class(
                        &name,
                        Severity::Normal,
                        READY,
                        "resolved: subnets, security groups, AMIs and instance profile found"
                            .to_string(),
                    );
                }
            }
            Err(error) => {
                let reason = status
                    .conditions
                    .iter()
                    .find(|condition| condition.type_ == READY)
                    .map_or("NotReady", |condition| condition.reason.as_str())
                    .to_string();
                self.report_failure(&name, &reason, error.to_string());
            }
        }
        let unchanged = serde_json::to_value(&status).ok() == serde_json::to_value(&previous).ok();
        if unchanged {
            return;
        }
        let patch = Patch::Merge(serde_json::json!({ "status": status }));
        if let Err(error) = self
            .api
            .patch_status(&name, &PatchParams::default(), &patch)
            .await
        {
            tracing::warn!(node_class = %name, %error, "failed to write the EC2NodeClass status");
        }
    }

    /// Logs and reports a failure by event once, and again when its message changes.
    fn report_failure(&mut self, name: &str, reason: &str, message: String) {
        if self.reported.get(name) == Some(&message) {
            return;
        }
        tracing::warn!(node_class = %name, %message, "EC2NodeClass is not ready");
        self.events
            .on_ec2_node_class(name, Severity::Warning, reason, message.clone());
        self.reported.insert(name.to_string(), message);
    }

    /// Forgets a deleted EC2NodeClass and deletes its launch templates.
    async fn remove(&mut self, name: &str) {
        self.applied.remove(name);
        self.reported.remove(name);
        match self.provider.delete_node_class(name).await {
            Ok(templates) => tracing::info!(
                node_class = %name,
                ?templates,
                "EC2NodeClass deleted: deleted its launch templates"
            ),
            Err(error) => tracing::warn!(
                node_class = %name,
                %error,
                "EC2NodeClass deleted: failed to delete its launch templates"
            ),
        }
    }
}

fn name_of(node_class: &Ec2NodeClass) -> String {
    node_class.metadata.name.clone().unwrap_or_default()
}
