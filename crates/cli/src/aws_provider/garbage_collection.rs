//! Garbage collection, every [`INTERVAL`] as Karpenter's (a hidden flag changes it for
//! tests): the NodeClaims that exist are
//! listed, the provider terminates the cluster's instances that no NodeClaim owns (once past
//! its grace period), and the NodeClaims whose instance is gone are deleted (their finalizer
//! then lets the driver drain and remove the Node as for any deleted NodeClaim).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams};
use spotter_api::crd::node_claim::NodeClaim;
use spotter_aws::{AwsCloudProvider, ExistingNodeClaim, SdkEc2};
use spotter_kubernetes::events::{Events, Severity};

/// How often garbage is collected (Karpenter's garbage collection runs every 2 minutes).
pub const INTERVAL: Duration = Duration::from_secs(2 * 60);

/// Collects garbage every `interval`, forever.
pub async fn run(
    client: kube::Client,
    provider: Arc<AwsCloudProvider<SdkEc2>>,
    events: Events,
    interval: Duration,
) {
    let api: Api<NodeClaim> = Api::all(client);
    let mut every = tokio::time::interval(interval);
    loop {
        every.tick().await;
        if let Err(error) = collect(&api, &provider, &events).await {
            tracing::warn!(%error, ?interval, "garbage collection failed; trying again at the next interval");
        }
    }
}

/// One collection.
async fn collect(
    api: &Api<NodeClaim>,
    provider: &AwsCloudProvider<SdkEc2>,
    events: &Events,
) -> anyhow::Result<()> {
    let node_claims: Vec<ExistingNodeClaim> = api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(existing)
        .collect();
    let garbage = provider
        .collect_garbage(&node_claims, SystemTime::now())
        .await?;
    for name in garbage.node_claims_without_instance {
        tracing::info!(node_claim = %name, "deleting the NodeClaim: its instance is gone");
        events.on_node_claim(
            &name,
            Severity::Warning,
            "InstanceTerminated",
            "the instance no longer exists; deleting the NodeClaim".to_string(),
        );
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                tracing::warn!(node_claim = %name, %error, "failed to delete the NodeClaim")
            }
        }
    }
    Ok(())
}

/// A NodeClaim as the garbage collector sees it: its instance (from `aws:///zone/i-…`) and
/// when it launched (its `Launched` condition).
fn existing(node_claim: &NodeClaim) -> ExistingNodeClaim {
    let status = node_claim.status.as_ref();
    let instance_id = status
        .and_then(|status| status.provider_id.as_deref())
        .and_then(|provider_id| provider_id.rsplit('/').next())
        .filter(|id| id.starts_with("i-"))
        .map(str::to_string);
    let launched_at = status
        .and_then(|status| {
            status
                .conditions
                .iter()
                .find(|condition| condition.type_ == "Launched" && condition.status == "True")
        })
        .and_then(|condition| condition.last_transition_time.parse::<Timestamp>().ok())
        .map(SystemTime::from);
    ExistingNodeClaim {
        name: node_claim.metadata.name.clone().unwrap_or_default(),
        instance_id,
        launched_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_claim(provider_id: Option<&str>, launched: Option<&str>) -> NodeClaim {
        let mut object = serde_json::json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodeClaim",
            "metadata": {"name": "batch-abcde"},
            "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}, "requirements": []},
            "status": {"conditions": []}
        });
        if let Some(provider_id) = provider_id {
            object["status"]["providerID"] = provider_id.into();
        }
        if let Some(time) = launched {
            object["status"]["conditions"] = serde_json::json!([{
                "type": "Launched", "status": "True", "lastTransitionTime": time, "reason": "Launched", "message": ""
            }]);
        }
        serde_json::from_value(object).expect("a NodeClaim")
    }

    #[test]
    fn a_node_claim_gives_its_instance_and_launch_time() {
        let launched = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_900_000);
        let cases = [
            (node_claim(None, None), None, None),
            (
                node_claim(
                    Some("aws:///us-east-1a/i-0abc"),
                    Some("2025-12-05T02:00:00Z"),
                ),
                Some("i-0abc"),
                Some(launched),
            ),
            (
                node_claim(Some("fake://us-east-1a/x"), Some("not a time")),
                None,
                None,
            ),
        ];
        for (object, instance, launched_at) in cases {
            let found = existing(&object);
            assert_eq!(found.name, "batch-abcde");
            assert_eq!(found.instance_id.as_deref(), instance);
            assert_eq!(found.launched_at, launched_at);
        }
    }
}
