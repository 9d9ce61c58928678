//! The EC2NodeClass loop: every EC2NodeClass object is given to the AWS provider, resolved
//! (subnets, security groups, AMIs, instance profile) and its `status` written back with
//! Karpenter's conditions; a resolution that fails also gets a Warning event naming the
//! selector that matched nothing. A changed spec is resolved at once; every resolution is
//! redone each [`RESOLUTION_TTL`] (new AMI releases, subnets tagged later).
//!
//! Deletion follows Karpenter v1's EC2NodeClass termination controller: every EC2NodeClass
//! gets the [`FINALIZER`] `karpenter.k8s.aws/termination`; once deleted, it is kept while any
//! NodeClaim's `spec.nodeClassRef` names it (a `WaitingOnNodeClaimTermination` event lists
//! them, again whenever they change, and they are looked at again every
//! [`TERMINATION_RECHECK`]), then its launch templates and the instance profile Spotter made
//! for its `role` are deleted, and the finalizer removed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use futures_util::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use spotter_api::crd::ec2_node_class::Ec2NodeClass;
use spotter_api::crd::node_claim::NodeClaim;
use spotter_aws::node_class_status::{self, READY};
use spotter_aws::provider::RESOLUTION_TTL;
use spotter_aws::{AwsCloudProvider, SdkEc2};
use spotter_kubernetes::events::{Events, Severity};

/// Karpenter v1's EC2NodeClass finalizer.
pub const FINALIZER: &str = "karpenter.k8s.aws/termination";

/// How often a deleted EC2NodeClass's NodeClaims are looked at again.
pub const TERMINATION_RECHECK: Duration = Duration::from_secs(5);

/// The EC2NodeClasses and what was last applied of each.
pub struct NodeClasses {
    api: Api<Ec2NodeClass>,
    node_claims: Api<NodeClaim>,
    provider: Arc<AwsCloudProvider<SdkEc2>>,
    events: Events,
    /// The spec last given to the provider, as JSON, by name.
    applied: BTreeMap<String, serde_json::Value>,
    /// The failure last reported by event, by name.
    reported: BTreeMap<String, String>,
    /// The NodeClaims last reported as blocking a deleted EC2NodeClass, by name.
    blocking: BTreeMap<String, Vec<String>>,
}

/// Where a deleted EC2NodeClass stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Termination {
    /// NodeClaims still use it (their names).
    Waiting(Vec<String>),
    /// Its cloud resources are deleted and the finalizer removed (or it was not Spotter's).
    Done,
    /// A call failed; tried again at the next recheck.
    Failed,
}

impl NodeClasses {
    /// The loop's state.
    pub fn new(
        client: kube::Client,
        provider: Arc<AwsCloudProvider<SdkEc2>>,
        events: Events,
    ) -> Self {
        NodeClasses {
            api: Api::all(client.clone()),
            node_claims: Api::all(client),
            provider,
            events,
            applied: BTreeMap::new(),
            reported: BTreeMap::new(),
            blocking: BTreeMap::new(),
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
            if node_class.metadata.deletion_timestamp.is_none() {
                self.reconcile(&node_class).await;
            }
        }
        Ok(())
    }

    /// Watches the EC2NodeClasses, reconciling each change and every one each
    /// [`RESOLUTION_TTL`], and the deleted ones each [`TERMINATION_RECHECK`].
    pub async fn run(mut self) {
        let mut changes = watcher::watcher(self.api.clone(), watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut known: BTreeMap<String, Ec2NodeClass> = BTreeMap::new();
        let mut terminating: BTreeMap<String, Ec2NodeClass> = BTreeMap::new();
        let mut refresh = tokio::time::interval(RESOLUTION_TTL);
        refresh.tick().await;
        let mut recheck = tokio::time::interval(TERMINATION_RECHECK);
        recheck.tick().await;
        loop {
            tokio::select! {
                change = changes.next() => match change {
                    Some(Ok(Event::Apply(node_class) | Event::InitApply(node_class))) => {
                        let name = name_of(&node_class);
                        if node_class.metadata.deletion_timestamp.is_some() {
                            known.remove(&name);
                            match self.terminate(&node_class).await {
                                Termination::Done => {
                                    terminating.remove(&name);
                                }
                                Termination::Waiting(_) | Termination::Failed => {
                                    terminating.insert(name, node_class);
                                }
                            }
                        } else {
                            self.add_finalizer(&node_class).await;
                            self.reconcile(&node_class).await;
                            known.insert(name, node_class);
                        }
                    }
                    Some(Ok(Event::Delete(node_class))) => {
                        let name = name_of(&node_class);
                        known.remove(&name);
                        terminating.remove(&name);
                        self.forget(&name);
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
                _ = recheck.tick(), if !terminating.is_empty() => {
                    let mut done = Vec::new();
                    for (name, node_class) in &terminating {
                        if self.terminate(node_class).await == Termination::Done {
                            done.push(name.clone());
                        }
                    }
                    for name in done {
                        terminating.remove(&name);
                    }
                }
            }
        }
    }

    /// Adds [`FINALIZER`] to an EC2NodeClass that lacks it (guarded by its resourceVersion:
    /// on a conflict the watch brings the newer object, which is looked at again).
    async fn add_finalizer(&self, node_class: &Ec2NodeClass) {
        let finalizers = node_class.metadata.finalizers.clone().unwrap_or_default();
        if finalizers.iter().any(|finalizer| finalizer == FINALIZER) {
            return;
        }
        let mut with_ours = finalizers;
        with_ours.push(FINALIZER.to_string());
        let name = name_of(node_class);
        let patch = Patch::Merge(serde_json::json!({
            "metadata": {
                "finalizers": with_ours,
                "resourceVersion": node_class.metadata.resource_version,
            }
        }));
        if let Err(error) = self.api.patch(&name, &PatchParams::default(), &patch).await {
            tracing::warn!(node_class = %name, %error, "failed to add the EC2NodeClass finalizer");
        }
    }

    /// A deleted EC2NodeClass: waits for its NodeClaims, then deletes its launch templates and
    /// instance profile and removes the finalizer.
    async fn terminate(&mut self, node_class: &Ec2NodeClass) -> Termination {
        let name = name_of(node_class);
        let finalizers = node_class.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.iter().any(|finalizer| finalizer == FINALIZER) {
            return Termination::Done;
        }
        let node_claims = match self.node_claims.list(&ListParams::default()).await {
            Ok(node_claims) => node_claims,
            Err(error) => {
                tracing::warn!(node_class = %name, %error, "failed to list the NodeClaims of a deleted EC2NodeClass");
                return Termination::Failed;
            }
        };
        let using = node_claims_using(&node_claims.items, &name);
        if !using.is_empty() {
            if self.blocking.get(&name) != Some(&using) {
                let message = format!("Waiting on NodeClaim termination for {}", using.join(", "));
                tracing::info!(node_class = %name, node_claims = ?using, "EC2NodeClass deleted: waiting for its NodeClaims");
                self.events.on_ec2_node_class(
                    &name,
                    Severity::Normal,
                    "WaitingOnNodeClaimTermination",
                    message,
                );
                self.blocking.insert(name, using.clone());
            }
            return Termination::Waiting(using);
        }
        self.give_spec(&name, node_class);
        match self.provider.delete_node_class(&name).await {
            Ok(deleted) => tracing::info!(
                node_class = %name,
                launch_templates = ?deleted.launch_templates,
                instance_profile = ?deleted.instance_profile,
                "EC2NodeClass deleted: deleted its launch templates and instance profile"
            ),
            Err(error) => {
                tracing::warn!(node_class = %name, %error, "EC2NodeClass deleted: failed to delete its launch templates or instance profile; trying again");
                return Termination::Failed;
            }
        }
        let others: Vec<String> = finalizers
            .into_iter()
            .filter(|finalizer| finalizer != FINALIZER)
            .collect();
        let patch = Patch::Merge(serde_json::json!({
            "metadata": {
                "finalizers": others,
                "resourceVersion": node_class.metadata.resource_version,
            }
        }));
        match self.api.patch(&name, &PatchParams::default(), &patch).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                tracing::warn!(node_class = %name, %error, "failed to remove the EC2NodeClass finalizer; trying again");
                return Termination::Failed;
            }
        }
        self.forget(&name);
        Termination::Done
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
        self.apply_spec(&name, spec);
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

    /// Gives the provider the spec of `node_class` (which it needs to delete what it made for
    /// it), when it can be read.
    fn give_spec(&mut self, name: &str, node_class: &Ec2NodeClass) {
        if let Ok(spec) = node_class_status::provider_spec(name, &node_class.spec) {
            self.apply_spec(name, spec);
        }
    }

    /// Gives a spec to the provider when it differs from the one last given.
    fn apply_spec(&mut self, name: &str, spec: spotter_aws::Ec2NodeClassSpec) {
        let spec_json = serde_json::to_value(&spec).unwrap_or_default();
        if self.applied.get(name) != Some(&spec_json) {
            self.provider.set_node_class(name, spec);
            self.applied.insert(name.to_string(), spec_json);
        }
    }

    /// Forgets an EC2NodeClass that is gone.
    fn forget(&mut self, name: &str) {
        self.applied.remove(name);
        self.reported.remove(name);
        self.blocking.remove(name);
    }
}

/// The names of the NodeClaims whose `spec.nodeClassRef` is the EC2NodeClass `name`, sorted.
fn node_claims_using(node_claims: &[NodeClaim], name: &str) -> Vec<String> {
    let mut using: Vec<String> = node_claims
        .iter()
        .filter(|node_claim| {
            let reference = &node_claim.spec.node_class_ref;
            reference.name == name
                && reference.kind == "EC2NodeClass"
                && reference.group == "karpenter.k8s.aws"
        })
        .filter_map(|node_claim| node_claim.metadata.name.clone())
        .collect();
    using.sort();
    using
}

fn name_of(node_class: &Ec2NodeClass) -> String {
    node_class.metadata.name.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_claim(name: &str, group: &str, kind: &str, node_class: &str) -> NodeClaim {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodeClaim",
            "metadata": {"name": name},
            "spec": {
                "nodeClassRef": {"group": group, "kind": kind, "name": node_class},
                "requirements": []
            }
        }))
        .expect("a NodeClaim")
    }

    #[test]
    fn the_node_claims_of_a_node_class_are_those_whose_reference_names_it() {
        let node_claims = [
            node_claim("batch-b", "karpenter.k8s.aws", "EC2NodeClass", "default"),
            node_claim("batch-a", "karpenter.k8s.aws", "EC2NodeClass", "default"),
            node_claim("gpu-a", "karpenter.k8s.aws", "EC2NodeClass", "gpu"),
            node_claim("kwok-a", "karpenter.kwok.sh", "KWOKNodeClass", "default"),
        ];
        let cases: [(&str, &[&str]); 3] = [
            ("default", &["batch-a", "batch-b"]),
            ("gpu", &["gpu-a"]),
            ("unused", &[]),
        ];
        for (node_class, expected) in cases {
            assert_eq!(
                node_claims_using(&node_claims, node_class),
                expected.to_vec(),
                "{node_class}"
            );
        }
    }
}
