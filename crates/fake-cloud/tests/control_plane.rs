//! The fake cloud on a real control plane (etcd, kube-apiserver, kube-scheduler,
//! kube-controller-manager from `KUBEBUILDER_ASSETS`, see `spotter-test-support`), one plane
//! for every case: launches create Nodes after the delay with the labels, taints, capacity
//! and `Ready` a node of that type has; launches are idempotent (also across a restart);
//! faults from the ConfigMap refuse exactly the offerings they list; terminations delete the
//! Node; the kubelet stand-in starts the pods kube-scheduler binds to fake nodes, removes
//! terminating ones after their grace period and leaves other nodes' pods alone; the
//! interrupt annotation becomes the agent's condition and taint.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use spotter_cloud::{
    AllocationStrategy, CloudError, CloudProvider, LaunchRequest, OfferingKey, OfferingRequest,
};
use spotter_core::instance_type::InstanceType;
use spotter_core::offering::CapacityType;
use spotter_core::taints::{Effect, Taint};
use spotter_fake_cloud::node_object::{self, quantities};
use spotter_fake_cloud::{FakeCloud, FakeCloudSettings, KubeletSettings, run_kubelet_with};
use spotter_test_support::{ControlPlane, Kubectl};

const LAUNCH_DELAY: Duration = Duration::from_millis(1500);
const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(1);
const NAMESPACE: &str = "spotter";
const FAULTS: &str = "spotter-fake-cloud";
const INSTANCE_TYPE: &str = "m5.large";
const ZONE_A: &str = "us-east-1a";
const ZONE_B: &str = "us-east-1b";

#[test]
fn fake_cloud_on_a_control_plane() -> Result<()> {
    let Some(plane) = ControlPlane::start_or_skip("fake_cloud_on_a_control_plane")? else {
        return Ok(());
    };
    // Both ring and aws-lc-rs are compiled in when the whole workspace is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubectl = plane.kubectl();
    kubectl.run(&["create", "namespace", NAMESPACE], None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = client(&plane).await?;
        let world = World {
            cloud: fake_cloud(client.clone()),
            client: client.clone(),
            kubectl,
        };
        let kubelet = tokio::spawn(run_kubelet_with(
            client,
            KubeletSettings {
                lease_renew_interval: LEASE_RENEW_INTERVAL,
                ..KubeletSettings::default()
            },
        ));
        launches_create_nodes_after_the_delay(&world).await?;
        launches_are_idempotent_across_restarts(&world).await?;
        faults_refuse_exactly_the_offerings_listed(&world).await?;
        terminations_delete_the_node(&world).await?;
        bound_pods_run_and_terminating_pods_go_after_their_grace(&world).await?;
        pods_on_other_nodes_are_left_alone(&world).await?;
        fake_nodes_heartbeat_through_their_leases(&world).await?;
        the_interrupt_annotation_becomes_the_agents_warning(&world).await?;
        ensure!(!kubelet.is_finished(), "run_kubelet returned: {kubelet:?}");
        kubelet.abort();
        Ok(())
    })
}

struct World {
    cloud: FakeCloud,
    client: kube::Client,
    kubectl: Kubectl,
}

async fn client(plane: &ControlPlane) -> Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(plane.kubeconfig())?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    Ok(kube::Client::try_from(config)?)
}

fn instance_types() -> Arc<Vec<InstanceType>> {
    let region = spotter_catalog::embedded()
        .region("us-east-1")
        .map_err(|error| error.to_string());
    Arc::new(
        region
            .map(spotter_catalog::instance_types::instance_types)
            .unwrap_or_default(),
    )
}

fn fake_cloud(client: kube::Client) -> FakeCloud {
    FakeCloud::new(
        client,
        instance_types(),
        FakeCloudSettings {
            launch_delay: LAUNCH_DELAY,
            ..FakeCloudSettings::default()
        },
    )
}

fn offering(capacity_type: CapacityType, zone: &str) -> OfferingRequest {
    OfferingRequest {
        offering: OfferingKey {
            capacity_type,
            instance_type: INSTANCE_TYPE.to_owned(),
            zone: zone.to_owned(),
        },
        price_per_hour: match capacity_type {
            CapacityType::OnDemand => 0.096,
            _ => 0.035,
        },
    }
}

fn request(node_claim: &str, offerings: Vec<OfferingRequest>) -> LaunchRequest {
    LaunchRequest {
        node_claim: node_claim.to_owned(),
        node_pool: "batch".to_owned(),
        node_class: "default".to_owned(),
        offerings,
        allocation: AllocationStrategy::Prioritized,
        labels: BTreeMap::from([("team".to_owned(), "data".to_owned())]),
        taints: vec![Taint::new("dedicated", "batch", Effect::NoSchedule)],
    }
}

/// Polls `check` every 100 ms until it gives a value, for at most `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn node_named(client: &kube::Client, name: &str) -> Result<Option<Node>> {
    Ok(Api::<Node>::all(client.clone()).get_opt(name).await?)
}

fn taints_of(node: &Node) -> Vec<(String, String, String)> {
    node.spec
        .as_ref()
        .and_then(|spec| spec.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|taint| (taint.key, taint.value.unwrap_or_default(), taint.effect))
        .collect()
}

fn condition<'a>(
    node: &'a Node,
    type_: &str,
) -> Option<&'a k8s_openapi::api::core::v1::NodeCondition> {
    node.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|condition| condition.type_ == type_))
}

async fn launches_create_nodes_after_the_delay(world: &World) -> Result<()> {
    let claim = "batch-launch";
    let started = Instant::now();
    let launched = world
        .cloud
        .create(&request(claim, vec![offering(CapacityType::Spot, ZONE_B)]))
        .await?;
    let answered = started.elapsed();
    ensure!(
        answered < LAUNCH_DELAY,
        "create took {answered:?}, longer than the launch delay"
    );
    let instance = &launched.instance;
    ensure!(launched.unavailable.is_empty());
    ensure!(
        instance.id.starts_with("i-0") && instance.id.len() == 19,
        "{}",
        instance.id
    );
    ensure!(instance.provider_id == format!("fake://{ZONE_B}/{}", instance.id));
    ensure!(
        node_named(&world.client, claim).await?.is_none(),
        "the Node exists before the launch delay"
    );
    ensure!(
        world.cloud.get(claim).await?.as_ref() == Some(instance),
        "get during the delay"
    );
    ensure!(
        world.cloud.list().await?.contains(instance),
        "list during the delay"
    );

    let node = eventually("the launched Node", Duration::from_secs(15), || {
        node_named(&world.client, claim)
    })
    .await?;
    let appeared = started.elapsed();
    ensure!(
        appeared >= LAUNCH_DELAY,
        "the Node appeared after {appeared:?}"
    );
    println!("create answered in {answered:?}; the Node appeared after {appeared:?}");

    ensure!(
        node.spec
            .as_ref()
            .and_then(|spec| spec.provider_id.as_deref())
            == Some(instance.provider_id.as_str())
    );
    let labels = node.metadata.labels.clone().unwrap_or_default();
    for (key, value) in [
        ("node.kubernetes.io/instance-type", INSTANCE_TYPE),
        ("topology.kubernetes.io/zone", ZONE_B),
        ("topology.kubernetes.io/region", "us-east-1"),
        ("karpenter.sh/capacity-type", "spot"),
        ("karpenter.sh/nodepool", "batch"),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/hostname", claim),
        ("karpenter.k8s.aws/instance-family", "m5"),
        ("team", "data"),
    ] {
        ensure!(
            labels.get(key).map(String::as_str) == Some(value),
            "label {key}: {:?}",
            labels.get(key)
        );
    }
    let taints = taints_of(&node);
    for expected in [
        ("dedicated", "batch", "NoSchedule"),
        ("karpenter.sh/unregistered", "", "NoExecute"),
    ] {
        let expected = (
            expected.0.to_owned(),
            expected.1.to_owned(),
            expected.2.to_owned(),
        );
        ensure!(
            taints.contains(&expected),
            "taint {expected:?} missing: {taints:?}"
        );
    }
    let instance_type = instance_types()
        .iter()
        .find(|instance_type| instance_type.name == INSTANCE_TYPE)
        .cloned()
        .context("m5.large in the embedded catalog")?;
    let status = node.status.clone().unwrap_or_default();
    ensure!(
        amounts(status.capacity.as_ref())? == amounts(Some(&quantities(&instance_type.capacity)))?,
        "capacity {:?}",
        status.capacity
    );
    ensure!(
        amounts(status.allocatable.as_ref())?
            == amounts(Some(&quantities(&instance_type.allocatable)))?,
        "allocatable {:?}",
        status.allocatable
    );
    ensure!(
        status
            .allocatable
            .as_ref()
            .and_then(|allocatable| allocatable.get("cpu"))
            .map(|cpu| cpu.0.as_str())
            != Some("2"),
        "allocatable CPU should be less than capacity after the overhead"
    );
    ensure!(
        condition(&node, "Ready").map(|ready| ready.status.as_str()) == Some("True"),
        "Ready: {:?}",
        condition(&node, "Ready")
    );
    ensure!(
        node_object::instance(&node).as_ref() == Ok(instance),
        "the Node reads back into the instance"
    );
    ensure!(
        world.cloud.get(claim).await?.as_ref() == Some(instance),
        "get after the delay"
    );
    let listed = world.cloud.list().await?;
    ensure!(
        listed
            .iter()
            .filter(|listed| listed.node_claim == claim)
            .count()
            == 1,
        "list after the delay: {listed:?}"
    );
    Ok(())
}

/// A resource list's amounts in milli-units (the API server writes quantities in its own
/// canonical form: `7340032Ki` comes back as `7Gi`).
fn amounts(list: Option<&BTreeMap<String, Quantity>>) -> Result<BTreeMap<String, i64>> {
    list.into_iter()
        .flatten()
        .map(|(name, quantity)| {
            let parsed = spotter_core::quantity::Quantity::parse(&quantity.0)
                .with_context(|| format!("{name}: {}", quantity.0))?;
            Ok((name.clone(), parsed.milli_units()))
        })
        .collect()
}

async fn launches_are_idempotent_across_restarts(world: &World) -> Result<()> {
    let claim = "batch-idempotent";
    let offerings = vec![offering(CapacityType::Spot, ZONE_A)];
    let first = world
        .cloud
        .create(&request(claim, offerings.clone()))
        .await?;
    // Again during the delay, from the same process.
    let during = world
        .cloud
        .create(&request(claim, offerings.clone()))
        .await?;
    ensure!(during.instance == first.instance, "{during:?} != {first:?}");
    eventually(
        "the idempotent launch's Node",
        Duration::from_secs(15),
        || node_named(&world.client, claim),
    )
    .await?;
    let after = world
        .cloud
        .create(&request(claim, offerings.clone()))
        .await?;
    ensure!(after.instance == first.instance);
    // A restarted process knows nothing but what the Node says.
    let restarted = fake_cloud(world.client.clone());
    let again = restarted.create(&request(claim, offerings)).await?;
    ensure!(again.instance == first.instance, "{again:?} != {first:?}");
    ensure!(restarted.get(claim).await?.as_ref() == Some(&first.instance));
    ensure!(restarted.list().await?.contains(&first.instance));
    let nodes = Api::<Node>::all(world.client.clone())
        .list(&ListParams::default().labels(&format!("kubernetes.io/hostname={claim}")))
        .await?;
    ensure!(
        nodes.items.len() == 1,
        "{} Nodes for one NodeClaim",
        nodes.items.len()
    );
    Ok(())
}

async fn set_faults(world: &World, unavailable: &str) -> Result<()> {
    let mut config_map = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": FAULTS, "namespace": NAMESPACE },
        "data": { "unavailable": unavailable },
    })
    .to_string();
    config_map.push('\n');
    world.kubectl.apply(&config_map)?;
    Ok(())
}

async fn faults_refuse_exactly_the_offerings_listed(world: &World) -> Result<()> {
    let ranked = vec![
        offering(CapacityType::Spot, ZONE_A),
        offering(CapacityType::Spot, ZONE_B),
        offering(CapacityType::OnDemand, ZONE_A),
        offering(CapacityType::OnDemand, ZONE_B),
    ];
    let keys = |indexes: &[usize]| -> Vec<OfferingKey> {
        indexes
            .iter()
            .map(|index| ranked[*index].offering.clone())
            .collect()
    };
    // (faults, the offering bought or None, the offerings refused)
    let cases: [(&str, Option<usize>, Vec<OfferingKey>); 4] = [
        ("spot:*:*", Some(2), keys(&[0, 1])),
        (
            "# outage\nspot:*:*\non-demand:m5.*:us-east-1a\nnot a line",
            Some(3),
            keys(&[0, 1, 2]),
        ),
        ("*:*:*", None, keys(&[0, 1, 2, 3])),
        ("spot:c6i.large:*", Some(0), keys(&[])),
    ];
    for (index, (faults, bought, refused)) in cases.into_iter().enumerate() {
        set_faults(world, faults).await?;
        let claim = format!("batch-faults-{index}");
        let answer = world.cloud.create(&request(&claim, ranked.clone())).await;
        match (bought, answer) {
            (Some(bought), Ok(launched)) => {
                ensure!(
                    launched.instance.offering == ranked[bought].offering,
                    "{faults:?}: bought {}",
                    launched.instance.offering
                );
                ensure!(
                    launched.unavailable == refused,
                    "{faults:?}: {:?}",
                    launched.unavailable
                );
                world.cloud.delete(&launched.instance.id).await?;
            }
            (None, Err(CloudError::InsufficientCapacity { offerings })) => {
                ensure!(offerings == refused, "{faults:?}: {offerings:?}");
                ensure!(
                    world.cloud.get(&claim).await?.is_none(),
                    "a refused launch left an instance"
                );
            }
            (bought, answer) => bail!("{faults:?}: expected {bought:?}, got {answer:?}"),
        }
    }
    world
        .kubectl
        .run(&["delete", "configmap", "-n", NAMESPACE, FAULTS], None)?;
    let launched = world
        .cloud
        .create(&request("batch-faults-none", vec![ranked[0].clone()]))
        .await?;
    ensure!(launched.unavailable.is_empty(), "no ConfigMap, no faults");
    world.cloud.delete(&launched.instance.id).await?;
    Ok(())
}

async fn terminations_delete_the_node(world: &World) -> Result<()> {
    let claim = "batch-delete";
    let launched = world
        .cloud
        .create(&request(
            claim,
            vec![offering(CapacityType::OnDemand, ZONE_A)],
        ))
        .await?;
    eventually("the Node to delete", Duration::from_secs(15), || {
        node_named(&world.client, claim)
    })
    .await?;
    // Deleted by a restarted process, which finds it by its label.
    let restarted = fake_cloud(world.client.clone());
    restarted.delete(&launched.instance.id).await?;
    eventually("the Node gone", Duration::from_secs(15), || async {
        Ok(node_named(&world.client, claim)
            .await?
            .is_none()
            .then_some(()))
    })
    .await?;
    ensure!(world.cloud.get(claim).await?.is_none(), "get after delete");
    ensure!(
        !world
            .cloud
            .list()
            .await?
            .iter()
            .any(|instance| instance.node_claim == claim),
        "list after delete"
    );
    match world.cloud.delete(&launched.instance.id).await {
        Err(CloudError::NotFound { what }) => ensure!(what.contains(&launched.instance.id)),
        other => bail!("a second delete answered {other:?}"),
    }

    // Deleted during its launch delay: the Node never appears.
    let claim = "batch-delete-early";
    let launched = world
        .cloud
        .create(&request(
            claim,
            vec![offering(CapacityType::OnDemand, ZONE_A)],
        ))
        .await?;
    world.cloud.delete(&launched.instance.id).await?;
    tokio::time::sleep(LAUNCH_DELAY + Duration::from_secs(1)).await;
    ensure!(
        node_named(&world.client, claim).await?.is_none(),
        "an instance deleted during its launch delay got a Node"
    );
    ensure!(world.cloud.get(claim).await?.is_none());
    Ok(())
}

fn pod_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    status.and_then(|status| status.phase.as_deref()) == Some("Running")
        && status
            .and_then(|status| status.conditions.as_ref())
            .is_some_and(|conditions| {
                ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
                    .iter()
                    .all(|type_| {
                        conditions.iter().any(|condition| {
                            condition.type_ == *type_ && condition.status == "True"
                        })
                    })
            })
}

async fn bound_pods_run_and_terminating_pods_go_after_their_grace(world: &World) -> Result<()> {
    let claim = "batch-pods";
    world
        .cloud
        .create(&request(claim, vec![offering(CapacityType::Spot, ZONE_A)]))
        .await?;
    eventually("the pods' Node", Duration::from_secs(15), || {
        node_named(&world.client, claim)
    })
    .await?;
    // What the controller does on registration; the rest is what kube-scheduler needs.
    world.kubectl.run(
        &[
            "taint",
            "node",
            claim,
            "karpenter.sh/unregistered:NoExecute-",
            "dedicated:NoSchedule-",
        ],
        None,
    )?;
    let deployment = format!(
        r#"{{"apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {{"name": "web", "namespace": "default"}},
  "spec": {{"replicas": 2, "selector": {{"matchLabels": {{"app": "web"}}}},
    "template": {{"metadata": {{"labels": {{"app": "web"}}}},
      "spec": {{"nodeSelector": {{"kubernetes.io/hostname": "{claim}"}},
        "terminationGracePeriodSeconds": 3,
        "initContainers": [{{"name": "setup", "image": "busybox"}}],
        "containers": [{{"name": "app", "image": "nginx", "resources": {{"requests": {{"cpu": "100m"}}}}}}]}}}}}}}}
"#
    );
    world.kubectl.apply(&deployment)?;
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), "default");
    let started = Instant::now();
    let running = eventually(
        "2 pods Running and Ready",
        Duration::from_secs(60),
        || async {
            let list = pods.list(&ListParams::default().labels("app=web")).await?;
            Ok((list.items.len() == 2 && list.items.iter().all(pod_ready)).then_some(list.items))
        },
    )
    .await?;
    println!(
        "Deployment pods Running and Ready {:?} after the apply",
        started.elapsed()
    );
    for pod in &running {
        let status = pod.status.clone().unwrap_or_default();
        ensure!(pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()) == Some(claim));
        ensure!(
            status.pod_ip.is_some() && status.start_time.is_some(),
            "{status:?}"
        );
        let containers = status.container_statuses.unwrap_or_default();
        ensure!(
            containers.len() == 1
                && containers[0].ready
                && containers[0]
                    .state
                    .as_ref()
                    .is_some_and(|state| state.running.is_some()),
            "{containers:?}"
        );
    }
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), "default");
    eventually(
        "the Deployment available",
        Duration::from_secs(30),
        || async {
            let deployment = deployments.get("web").await?;
            let available = deployment
                .status
                .and_then(|status| status.available_replicas);
            Ok((available == Some(2)).then_some(()))
        },
    )
    .await?;

    // A deleted pod stays Terminating for its grace period (3 s), then goes.
    let victim = running[0].metadata.name.clone().context("pod name")?;
    let deleted_at = Instant::now();
    pods.delete(&victim, &DeleteParams::default()).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let terminating = pods.get_opt(&victim).await?;
    ensure!(
        terminating.is_some_and(|pod| pod.metadata.deletion_timestamp.is_some()),
        "the pod went before its grace period"
    );
    eventually("the deleted pod gone", Duration::from_secs(20), || async {
        Ok(pods.get_opt(&victim).await?.is_none().then_some(()))
    })
    .await?;
    let gone_after = deleted_at.elapsed();
    ensure!(
        gone_after >= Duration::from_secs(3),
        "gone after {gone_after:?}"
    );
    println!("a pod with a 3 s grace period went {gone_after:?} after its deletion");
    // Its replacement runs too.
    eventually(
        "the replacement Running and Ready",
        Duration::from_secs(60),
        || async {
            let list = pods.list(&ListParams::default().labels("app=web")).await?;
            Ok((list.items.len() == 2
                && list.items.iter().all(|pod| {
                    pod_ready(pod) && pod.metadata.name.as_deref() != Some(victim.as_str())
                }))
            .then_some(()))
        },
    )
    .await?;
    world.kubectl.run(
        &[
            "delete",
            "deployment",
            "web",
            "-n",
            "default",
            "--wait=false",
        ],
        None,
    )?;
    Ok(())
}

async fn pods_on_other_nodes_are_left_alone(world: &World) -> Result<()> {
    let other = r#"{"apiVersion": "v1", "kind": "Node",
  "metadata": {"name": "real-node", "labels": {"kubernetes.io/hostname": "real-node"}},
  "spec": {"providerID": "aws:///us-east-1a/i-0123456789abcdef0"},
  "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
             "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
"#;
    world.kubectl.create(other)?;
    let pod = r#"{"apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "elsewhere", "namespace": "default"},
  "spec": {"nodeName": "real-node", "containers": [{"name": "app", "image": "nginx"}]}}
"#;
    world.kubectl.create(pod)?;
    // Long enough for the kubelet stand-in to have started it, were it one of its nodes
    // (pods on fake nodes above ran within a second or two).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), "default");
    let pod = pods.get("elsewhere").await?;
    ensure!(
        !pod_ready(&pod),
        "a pod on a node that is not fake was started: {:?}",
        pod.status
    );
    let phase = pod.status.and_then(|status| status.phase);
    ensure!(phase.as_deref() == Some("Pending"), "{phase:?}");
    Ok(())
}

async fn fake_nodes_heartbeat_through_their_leases(world: &World) -> Result<()> {
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), "kube-node-lease");
    let renew_time = |lease: &Lease| lease.spec.as_ref().and_then(|spec| spec.renew_time.clone());
    let first = eventually("the fake node's Lease", Duration::from_secs(10), || async {
        Ok(leases.get_opt("batch-pods").await?)
    })
    .await?;
    let spec = first.spec.clone().unwrap_or_default();
    ensure!(
        spec.holder_identity.as_deref() == Some("batch-pods"),
        "{spec:?}"
    );
    ensure!(spec.lease_duration_seconds == Some(40), "{spec:?}");
    let node = node_named(&world.client, "batch-pods")
        .await?
        .context("the Node")?;
    let owner = first.metadata.owner_references.clone().unwrap_or_default();
    ensure!(
        owner.len() == 1
            && owner[0].kind == "Node"
            && Some(&owner[0].uid) == node.metadata.uid.as_ref(),
        "{owner:?}"
    );
    let before = renew_time(&first).context("renewTime")?;
    eventually("a Lease renewal", LEASE_RENEW_INTERVAL * 5, || async {
        let lease = leases.get("batch-pods").await?;
        Ok(renew_time(&lease).filter(|renewed| renewed.0 > before.0))
    })
    .await?;
    ensure!(
        leases.get_opt("real-node").await?.is_none(),
        "a node that is not fake got a Lease"
    );
    Ok(())
}

async fn the_interrupt_annotation_becomes_the_agents_warning(world: &World) -> Result<()> {
    let claim = "batch-pods";
    let annotated = SystemTime::now();
    world.kubectl.run(
        &[
            "annotate",
            "node",
            claim,
            "fake.spotter.dev/interrupt=spot-interruption",
        ],
        None,
    )?;
    let node = eventually(
        "the interruption warning",
        Duration::from_secs(20),
        || async {
            let node = node_named(&world.client, claim)
                .await?
                .ok_or_else(|| anyhow!("the Node is gone"))?;
            let warned = condition(&node, "SpotInterruption").is_some()
                && taints_of(&node).contains(&(
                    "spotter.dev/interruption".to_owned(),
                    "spot-interruption".to_owned(),
                    "NoSchedule".to_owned(),
                ))
                && !node
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|annotations| {
                        annotations.contains_key("fake.spotter.dev/interrupt")
                    });
            Ok(warned.then_some(node))
        },
    )
    .await?;
    let warning = condition(&node, "SpotInterruption").context("the condition")?;
    ensure!(
        warning.status == "True" && warning.reason.as_deref() == Some("Terminate"),
        "{warning:?}"
    );
    let message = warning.message.clone().unwrap_or_default();
    let instance = node_object::instance(&node)?;
    ensure!(message.contains(&instance.id), "{message}");
    // The deadline in the message is two minutes after the annotation (to the second).
    let deadline = spotter_interruption::timestamp::parse_rfc3339(
        message.rsplit(' ').next().unwrap_or_default(),
    )?;
    let lead = deadline.duration_since(annotated).unwrap_or_default();
    ensure!(
        (Duration::from_secs(115)..=Duration::from_secs(125)).contains(&lead),
        "deadline {lead:?} after the annotation: {message}"
    );
    ensure!(
        condition(&node, "Ready").map(|ready| ready.status.as_str()) == Some("True"),
        "the warning replaced the Ready condition"
    );
    Ok(())
}
