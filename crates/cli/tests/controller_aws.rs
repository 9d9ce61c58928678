//! `spotter controller --cloud-provider aws` on a real control plane (`spotter-test-support`)
//! with EC2, SSM, IAM and EKS on a moto server started through the test support's extension
//! that refuses chosen offerings' capacity in CreateFleet (moto never does). moto has no
//! kubelets: the test registers a Node for each launched NodeClaim, as a kubelet would.
//!
//! - The cluster's endpoint, CA and service CIDR come from EKS DescribeCluster; the seed's
//!   EC2NodeClass resolves (status `Ready`, its subnets listed).
//! - A pod of the seed's Deployment gets a NodeClaim of the Spot `batch` pool whose instance
//!   on moto is Spot, tagged for its NodePool, NodeClaim and cluster, launched from a Spotter
//!   launch template in a subnet of the NodeClaim's zone; registered, the pod binds to it.
//! - With Spot capacity refused everywhere, the next pod's NodeClaim launches on-demand from
//!   `batch-fallback`; the test prints the time from the pod to that launch.
//! - moto has no Pricing API: the on-demand prices stay the embedded ones, which the metric
//!   `spotter_cloudprovider_on_demand_prices_embedded` says (the Pricing API's answers are
//!   tested on mocked clients in spotter-aws).
//! - Garbage collection through the running binary (hidden flags: every 2 s, a 10 s grace): an
//!   instance tagged for the cluster without NodeClaim, started behind Spotter's back, is
//!   terminated once past the grace; a NodeClaim whose instance is terminated behind its back
//!   is deleted.
//! - The EC2NodeClass carries Karpenter's `karpenter.k8s.aws/termination` finalizer: deleted
//!   while NodeClaims use it, it stays (deletionTimestamp set, a WaitingOnNodeClaimTermination
//!   event naming them); once they are gone, it goes, and so do its launch templates and the
//!   instance profile made for its role.
//!
//! Without the control plane's binaries or moto the test fails under `CI=true` and is skipped
//! otherwise.

mod e2e;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types as ec2_types;
use e2e::{
    ControllerProcess, condition, ensure_permissions_listed, get, install_seed, items,
    metric_lines, use_moto, wait_until,
};
use serde_json::{Value, json};
use spotter_test_support::{ControlPlane, Kubectl, Moto};

const REGION: &str = "us-east-1";
const CLUSTER: &str = "seed";
const PARAMETER_PREFIX: &str = "/spotter-test/eks/optimized-ami";
const SERVICE_CIDR: &str = "172.20.0.0/16";
/// Long enough for a batch (1 s idle, 3 s max), a launch on moto and the scheduler on a
/// loaded machine.
const SETTLE: Duration = Duration::from_secs(90);
/// The garbage collector's interval and grace period given to the controller.
const GC_INTERVAL: &str = "2s";
const GC_GRACE: Duration = Duration::from_secs(10);
const FINALIZER: &str = "karpenter.k8s.aws/termination";

#[test]
fn seed_pods_launch_spot_on_ec2_and_fall_back_to_on_demand_when_spot_is_refused() -> Result<()> {
    let Some(plane) = ControlPlane::start_or_skip(
        "seed_pods_launch_spot_on_ec2_and_fall_back_to_on_demand_when_spot_is_refused",
    )?
    else {
        return Ok(());
    };
    let folder = tempfile::tempdir()?;
    let Some(moto) = Moto::start_refusing(folder.path()) else {
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let aws = runtime.block_on(sdk_config(&moto.endpoint));
    let kubernetes_version = kubernetes_version(&plane.kubectl())?;
    let subnets = runtime.block_on(seed_cloud(&aws, &kubernetes_version))?;
    let kubectl = plane.kubectl();
    install_seed(&kubectl)?;

    let mut controller = start_controller(&plane, &moto.endpoint, folder.path())?;
    wait_until(
        "the EC2NodeClass to be Ready",
        SETTLE,
        &mut controller,
        || {
            let node_class = get(&kubectl, &["get", "ec2nodeclass", "default"])?;
            Ok(condition(&node_class, "Ready") == Some("True"))
        },
    )?;
    let node_class = get(&kubectl, &["get", "ec2nodeclass", "default"])?;
    let listed: Vec<&str> = node_class["status"]["subnets"]
        .as_array()
        .map(|subnets| {
            subnets
                .iter()
                .filter_map(|subnet| subnet["id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        !listed.is_empty()
            && listed
                .iter()
                .all(|id| subnets.values().any(|own| own == id)),
        "the status lists the seed's subnets: {listed:?} of {subnets:?}"
    );
    ensure!(
        controller.log().contains(SERVICE_CIDR),
        "the service CIDR came from EKS DescribeCluster:\n{}",
        controller.log_tail()
    );

    // A Spot launch of the `batch` pool, registered, with the pod on it.
    kubectl.apply(&deployment("batch-workers", 1, None)?)?;
    let spot_claim = wait_for_launch(&kubectl, &mut controller, "batch")?;
    let instance_id = instance_of(&spot_claim)?;
    let instance = runtime.block_on(described(&aws, &instance_id))?;
    let tags = tags_of(instance.tags());
    let claim_name = spot_claim["metadata"]["name"].as_str().unwrap_or_default();
    for (key, value) in [
        ("karpenter.sh/nodepool", "batch"),
        ("karpenter.sh/nodeclaim", claim_name),
        ("kubernetes.io/cluster/seed", "owned"),
        ("eks:eks-cluster-name", CLUSTER),
    ] {
        ensure!(
            tags.get(key).map(String::as_str) == Some(value),
            "instance {instance_id} has tag {key}={value}: {tags:?}"
        );
    }
    ensure!(
        instance.instance_lifecycle() == Some(&ec2_types::InstanceLifecycleType::Spot),
        "the batch instance is Spot: {:?}",
        instance.instance_lifecycle()
    );
    let zone = spot_claim["metadata"]["labels"]["topology.kubernetes.io/zone"]
        .as_str()
        .unwrap_or_default();
    ensure!(
        instance.subnet_id() == subnets.get(zone).map(String::as_str),
        "the instance is in the seed's subnet of its zone {zone}: {:?}",
        instance.subnet_id()
    );
    let template = runtime.block_on(launch_template_of(&aws, &instance_id))?;
    ensure!(
        template.starts_with("spotter/"),
        "the instance was launched from a Spotter launch template: {template}"
    );
    register(&kubectl, &spot_claim)?;
    wait_until(
        "the pod to bind to the Spot node",
        SETTLE,
        &mut controller,
        || {
            Ok(pod_nodes(&kubectl, "batch-workers")?
                .iter()
                .any(|node| node == claim_name))
        },
    )?;

    // Spot refused everywhere: the next pod's NodeClaim launches on-demand.
    moto.refuse(&["spot:*:*"]);
    let created = Instant::now();
    kubectl.apply(&deployment("more-workers", 1, Some("batch-workers"))?)?;
    let fallback_claim = wait_for_launch(&kubectl, &mut controller, "batch-fallback")?;
    let to_fallback = created.elapsed();
    let fallback_instance = runtime.block_on(described(&aws, &instance_of(&fallback_claim)?))?;
    ensure!(
        fallback_instance.instance_lifecycle().is_none(),
        "the fallback instance is on-demand: {:?}",
        fallback_instance.instance_lifecycle()
    );
    let instances = runtime.block_on(live_instances(&aws))?;
    ensure!(
        instances == 2,
        "one instance for the Spot claim, one for the fallback, none for refused launches: {instances}"
    );
    eprintln!(
        "pod created -> on-demand fallback launched with Spot refused: {:.1} s",
        to_fallback.as_secs_f64()
    );

    // moto has no Pricing API (it answers GetProducts with an HTTP 500): the on-demand prices
    // are the embedded ones, and the metric says why.
    let prices_embedded = metric_lines(
        controller.address,
        "spotter_cloudprovider_on_demand_prices_embedded",
    )?;
    ensure!(
        prices_embedded
            .iter()
            .any(|line| line.contains("reason=\"unavailable\"") && line.ends_with(" 1")),
        "the embedded on-demand prices are reported as the Pricing API unavailable: {prices_embedded:?}"
    );
    eprintln!("Pricing API on moto: {prices_embedded:?}");

    // A leaked instance: tagged for the cluster, no NodeClaim; terminated past the grace.
    let image = instance.image_id().unwrap_or_default().to_string();
    let leaked = runtime.block_on(run_leaked_instance(&aws, &image, &subnets))?;
    let leaked_at = Instant::now();
    wait_until(
        "the leaked instance to be terminated",
        SETTLE,
        &mut controller,
        || Ok(!runtime.block_on(is_live(&aws, &leaked))?),
    )?;
    let to_terminated = leaked_at.elapsed();
    // moto keeps launch times in whole seconds, so the instance may look up to 1 s older.
    ensure!(
        to_terminated + Duration::from_secs(1) >= GC_GRACE,
        "the leak is left alone for the grace period: terminated after {to_terminated:?}"
    );
    eprintln!(
        "leaked instance started -> terminated by garbage collection: {:.1} s",
        to_terminated.as_secs_f64()
    );

    // The fallback NodeClaim's instance terminated behind Spotter's back: the NodeClaim goes.
    let lost_claim = fallback_claim["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    runtime.block_on(terminate(&aws, &instance_of(&fallback_claim)?))?;
    let lost_at = Instant::now();
    wait_until(
        "the NodeClaim whose instance is gone to be deleted",
        SETTLE,
        &mut controller,
        || Ok(!node_claim_names(&kubectl)?.contains(&lost_claim)),
    )?;
    eprintln!(
        "instance terminated behind Spotter's back -> NodeClaim {lost_claim} deleted: {:.1} s",
        lost_at.elapsed().as_secs_f64()
    );

    // The EC2NodeClass is kept while NodeClaims use it.
    wait_until(
        "the EC2NodeClass to carry the finalizer",
        SETTLE,
        &mut controller,
        || {
            let node_class = get(&kubectl, &["get", "ec2nodeclass", "default"])?;
            Ok(finalizers(&node_class).contains(&FINALIZER.to_string()))
        },
    )?;
    kubectl.run(&["delete", "ec2nodeclass", "default", "--wait=false"], None)?;
    let mut waiting_message = String::new();
    wait_until(
        "a WaitingOnNodeClaimTermination event",
        SETTLE,
        &mut controller,
        || {
            let events = get(&kubectl, &["get", "events", "-A"])?;
            waiting_message = items(&events)
                .iter()
                .find(|event| {
                    event["reason"] == "WaitingOnNodeClaimTermination"
                        && event["involvedObject"]["name"] == "default"
                })
                .and_then(|event| event["message"].as_str())
                .unwrap_or_default()
                .to_string();
            Ok(!waiting_message.is_empty())
        },
    )?;
    ensure!(
        waiting_message.contains(claim_name),
        "the event names the NodeClaims that block the deletion: {waiting_message}"
    );
    std::thread::sleep(Duration::from_secs(6));
    let node_class = get(&kubectl, &["get", "ec2nodeclass", "default"])?;
    ensure!(
        node_class["metadata"]["deletionTimestamp"].is_string()
            && finalizers(&node_class).contains(&FINALIZER.to_string()),
        "the EC2NodeClass in use is kept: {}",
        node_class["metadata"]
    );
    let templates = runtime.block_on(spotter_launch_templates(&aws))?;
    ensure!(
        !templates.is_empty(),
        "its launch templates are kept meanwhile"
    );

    // Its NodeClaims gone (no pods left: moto has no kubelet to end them, so they are
    // force-deleted), the EC2NodeClass goes with its launch templates and instance profile.
    kubectl.run(
        &[
            "scale",
            "deployment",
            "--all",
            "-n",
            "default",
            "--replicas=0",
        ],
        None,
    )?;
    wait_until("the pods to be gone", SETTLE, &mut controller, || {
        kubectl.run(
            &[
                "delete",
                "pods",
                "--all",
                "-n",
                "default",
                "--force",
                "--grace-period=0",
            ],
            None,
        )?;
        Ok(items(&get(&kubectl, &["get", "pods", "-n", "default"])?).is_empty())
    })?;
    kubectl.run(&["delete", "nodeclaims", "--all", "--wait=false"], None)?;
    let claims_deleted = Instant::now();
    wait_until(
        "the deleted EC2NodeClass to go once its NodeClaims are gone",
        SETTLE,
        &mut controller,
        || Ok(items(&get(&kubectl, &["get", "ec2nodeclasses"])?).is_empty()),
    )?;
    eprintln!(
        "NodeClaims deleted -> EC2NodeClass finalized: {:.1} s",
        claims_deleted.elapsed().as_secs_f64()
    );
    let templates = runtime.block_on(spotter_launch_templates(&aws))?;
    ensure!(
        templates.is_empty(),
        "the EC2NodeClass's launch templates are deleted: {templates:?}"
    );
    let profiles = runtime.block_on(cluster_instance_profiles(&aws))?;
    ensure!(
        profiles.is_empty(),
        "the instance profile made for its role is deleted: {profiles:?}"
    );
    let checked = ensure_permissions_listed(&plane, "spotter", "aws")?;
    eprintln!("{checked} distinct requests of the controller are in the permission list");
    Ok(())
}

/// An instance tagged for the cluster and a NodeClaim that does not exist, as a launch whose
/// NodeClaim was lost leaves behind.
async fn run_leaked_instance(
    config: &aws_config::SdkConfig,
    image: &str,
    subnets: &BTreeMap<String, String>,
) -> Result<String> {
    let tag = |key: &str, value: &str| ec2_types::Tag::builder().key(key).value(value).build();
    aws_sdk_ec2::Client::new(config)
        .run_instances()
        .image_id(image)
        .instance_type(ec2_types::InstanceType::M5Large)
        .min_count(1)
        .max_count(1)
        .set_subnet_id(subnets.get("us-east-1a").cloned())
        .tag_specifications(
            ec2_types::TagSpecification::builder()
                .resource_type(ec2_types::ResourceType::Instance)
                .tags(tag("kubernetes.io/cluster/seed", "owned"))
                .tags(tag("eks:eks-cluster-name", CLUSTER))
                .tags(tag("karpenter.sh/nodepool", "batch"))
                .tags(tag("karpenter.sh/nodeclaim", "batch-lost"))
                .build(),
        )
        .send()
        .await
        .context("RunInstances")?
        .instances()
        .first()
        .and_then(|instance| instance.instance_id())
        .map(str::to_string)
        .context("RunInstances answered no instance")
}

/// Whether the instance is pending or running.
async fn is_live(config: &aws_config::SdkConfig, instance_id: &str) -> Result<bool> {
    let instance = described(config, instance_id).await?;
    Ok(matches!(
        instance.state().and_then(|state| state.name()),
        Some(ec2_types::InstanceStateName::Pending | ec2_types::InstanceStateName::Running)
    ))
}

async fn terminate(config: &aws_config::SdkConfig, instance_id: &str) -> Result<()> {
    aws_sdk_ec2::Client::new(config)
        .terminate_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .context("TerminateInstances")?;
    Ok(())
}

/// The names of Spotter's launch templates on moto.
async fn spotter_launch_templates(config: &aws_config::SdkConfig) -> Result<Vec<String>> {
    let templates = aws_sdk_ec2::Client::new(config)
        .describe_launch_templates()
        .send()
        .await
        .context("DescribeLaunchTemplates")?;
    Ok(templates
        .launch_templates()
        .iter()
        .filter_map(|template| template.launch_template_name())
        .filter(|name| name.starts_with("spotter/"))
        .map(str::to_string)
        .collect())
}

/// The instance profiles Spotter names after the cluster (`seed_<hash>`).
async fn cluster_instance_profiles(config: &aws_config::SdkConfig) -> Result<Vec<String>> {
    let profiles = aws_sdk_iam::Client::new(config)
        .list_instance_profiles()
        .send()
        .await
        .context("ListInstanceProfiles")?;
    Ok(profiles
        .instance_profiles()
        .iter()
        .map(|profile| profile.instance_profile_name().to_string())
        .filter(|name| name.starts_with(&format!("{CLUSTER}_")))
        .collect())
}

fn node_claim_names(kubectl: &Kubectl) -> Result<Vec<String>> {
    let claims = get(kubectl, &["get", "nodeclaims"])?;
    Ok(items(&claims)
        .iter()
        .filter_map(|claim| claim["metadata"]["name"].as_str().map(str::to_string))
        .collect())
}

fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|finalizers| {
            finalizers
                .iter()
                .filter_map(|finalizer| finalizer.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// The control plane's `major.minor`, which picks the AMI parameters.
fn kubernetes_version(kubectl: &Kubectl) -> Result<String> {
    let version: Value = serde_json::from_str(&kubectl.run(&["version", "-o", "json"], None)?)?;
    let digits = |text: &str| {
        text.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    };
    Ok(format!(
        "{}.{}",
        digits(
            version["serverVersion"]["major"]
                .as_str()
                .unwrap_or_default()
        ),
        digits(
            version["serverVersion"]["minor"]
                .as_str()
                .unwrap_or_default()
        )
    ))
}

/// The seed's cloud on moto: the EKS cluster, the node role, a VPC with tagged subnets in
/// two zones, a tagged security group and the AL2023 AMI parameters. Returns the subnets by
/// zone.
async fn seed_cloud(
    config: &aws_config::SdkConfig,
    kubernetes_version: &str,
) -> Result<BTreeMap<String, String>> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    aws_sdk_iam::Client::new(config)
        .create_role()
        .role_name("KarpenterNodeRole-seed")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .context("node role")?;
    let discovery = || {
        ec2_types::Tag::builder()
            .key("karpenter.sh/discovery")
            .value(CLUSTER)
            .build()
    };
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .context("vpc")?
        .vpc
        .and_then(|vpc| vpc.vpc_id)
        .context("vpc id")?;
    let mut subnets = BTreeMap::new();
    for (index, zone) in [(1, "us-east-1a"), (2, "us-east-1b")] {
        let id = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.0.{index}.0/24"))
            .availability_zone(zone)
            .tag_specifications(
                ec2_types::TagSpecification::builder()
                    .resource_type(ec2_types::ResourceType::Subnet)
                    .tags(discovery())
                    .build(),
            )
            .send()
            .await
            .context("subnet")?
            .subnet
            .and_then(|subnet| subnet.subnet_id)
            .context("subnet id")?;
        subnets.insert(zone.to_string(), id);
    }
    ec2.create_security_group()
        .group_name("seed-nodes")
        .description("seed nodes")
        .vpc_id(&vpc)
        .tag_specifications(
            ec2_types::TagSpecification::builder()
                .resource_type(ec2_types::ResourceType::SecurityGroup)
                .tags(discovery())
                .build(),
        )
        .send()
        .await
        .context("security group")?;
    let images = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .context("images")?;
    let ssm = aws_sdk_ssm::Client::new(config);
    for (kubernetes_arch, ec2_arch) in [("x86_64", "x86_64"), ("arm64", "arm64")] {
        let image = images
            .images()
            .iter()
            .find(|image| image.architecture().map(|a| a.as_str()) == Some(ec2_arch))
            .and_then(|image| image.image_id())
            .context("moto has an Amazon image of each architecture")?;
        ssm.put_parameter()
            .name(format!(
                "{PARAMETER_PREFIX}/{kubernetes_version}/amazon-linux-2023/{kubernetes_arch}/standard/recommended/image_id"
            ))
            .value(image)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .context("AMI parameter")?;
    }
    aws_sdk_eks::Client::new(config)
        .create_cluster()
        .name(CLUSTER)
        .role_arn("arn:aws:iam::123456789012:role/seed-cluster")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .set_subnet_ids(Some(subnets.values().cloned().collect()))
                .build(),
        )
        .kubernetes_network_config(
            aws_sdk_eks::types::KubernetesNetworkConfigRequest::builder()
                .service_ipv4_cidr(SERVICE_CIDR)
                .build(),
        )
        .send()
        .await
        .context("EKS cluster")?;
    Ok(subnets)
}

async fn described(
    config: &aws_config::SdkConfig,
    instance_id: &str,
) -> Result<ec2_types::Instance> {
    aws_sdk_ec2::Client::new(config)
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .context("DescribeInstances")?
        .reservations()
        .iter()
        .flat_map(|reservation| reservation.instances())
        .next()
        .cloned()
        .with_context(|| format!("no instance {instance_id} on moto"))
}

async fn launch_template_of(config: &aws_config::SdkConfig, instance_id: &str) -> Result<String> {
    let instance = described(config, instance_id).await?;
    let tags = tags_of(instance.tags());
    if let Some(name) = tags.get("aws:ec2launchtemplate:id") {
        return Ok(name.clone());
    }
    // moto tags instances with the template's ID; the test wants its name.
    let templates = aws_sdk_ec2::Client::new(config)
        .describe_launch_templates()
        .send()
        .await
        .context("DescribeLaunchTemplates")?;
    templates
        .launch_templates()
        .iter()
        .filter_map(|template| template.launch_template_name())
        .find(|name| name.starts_with("spotter/"))
        .map(str::to_string)
        .context("no Spotter launch template on moto")
}

async fn live_instances(config: &aws_config::SdkConfig) -> Result<usize> {
    let answer = aws_sdk_ec2::Client::new(config)
        .describe_instances()
        .send()
        .await
        .context("DescribeInstances")?;
    Ok(answer
        .reservations()
        .iter()
        .flat_map(|reservation| reservation.instances())
        .filter(|instance| {
            instance.state().and_then(|state| state.name())
                != Some(&ec2_types::InstanceStateName::Terminated)
        })
        .count())
}

fn tags_of(tags: &[ec2_types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|tag| {
            (
                tag.key().unwrap_or_default().to_string(),
                tag.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The seed's Deployment named `name` with `replicas`; with `apart_from`, its pods may not
/// share a node with that Deployment's.
fn deployment(name: &str, replicas: u32, apart_from: Option<&str>) -> Result<String> {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed/deployment.yaml");
    let text =
        std::fs::read_to_string(seed).context("failed to read examples/seed/deployment.yaml")?;
    let mut manifest: Value = serde_yaml_ng::from_str(&text)?;
    manifest["metadata"]["name"] = json!(name);
    manifest["spec"]["replicas"] = json!(replicas);
    manifest["spec"]["selector"]["matchLabels"]["app"] = json!(name);
    manifest["spec"]["template"]["metadata"]["labels"]["app"] = json!(name);
    manifest["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]
        ["app"] = json!(name);
    if let Some(other) = apart_from {
        manifest["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"] = json!({
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {"app": other}}
            }]
        });
    }
    Ok(serde_json::to_string(&manifest)?)
}

/// Waits for a NodeClaim of `node_pool` with an instance, and returns it.
fn wait_for_launch(
    kubectl: &Kubectl,
    controller: &mut ControllerProcess,
    node_pool: &str,
) -> Result<Value> {
    let mut found = None;
    wait_until(
        &format!("a launched NodeClaim of {node_pool}"),
        SETTLE,
        controller,
        || {
            let claims = get(kubectl, &["get", "nodeclaims"])?;
            found = items(&claims)
                .iter()
                .find(|claim| {
                    claim["metadata"]["labels"]["karpenter.sh/nodepool"] == node_pool
                        && claim["status"]["providerID"]
                            .as_str()
                            .is_some_and(|id| id.starts_with("aws:///"))
                })
                .cloned();
            Ok(found.is_some())
        },
    )?;
    found.ok_or_else(|| anyhow!("no NodeClaim of {node_pool}"))
}

fn instance_of(claim: &Value) -> Result<String> {
    claim["status"]["providerID"]
        .as_str()
        .and_then(|id| id.rsplit('/').next())
        .filter(|id| id.starts_with("i-"))
        .map(str::to_string)
        .with_context(|| format!("no instance in {}", claim["status"]))
}

/// Registers the NodeClaim's Node as its kubelet would: the provider ID, the NodeClaim's
/// labels and taints with `karpenter.sh/unregistered`, then a Ready status with its capacity.
fn register(kubectl: &Kubectl, claim: &Value) -> Result<()> {
    let name = claim["metadata"]["name"]
        .as_str()
        .context("a named NodeClaim")?;
    let mut labels = claim["metadata"]["labels"].clone();
    labels["kubernetes.io/hostname"] = json!(name);
    labels["kubernetes.io/os"] = json!("linux");
    let mut taints = claim["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    taints.push(json!({"key": "karpenter.sh/unregistered", "effect": "NoExecute"}));
    let node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"providerID": claim["status"]["providerID"], "taints": taints},
    });
    kubectl.create(&node.to_string())?;
    let now = kubectl_time();
    let status = json!({"status": {
        "capacity": claim["status"]["capacity"],
        "allocatable": claim["status"]["allocatable"],
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "registered by the test", "lastHeartbeatTime": now, "lastTransitionTime": now
        }],
    }});
    kubectl.run(
        &[
            "patch",
            "node",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ],
        None,
    )?;
    Ok(())
}

fn kubectl_time() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The nodes the Deployment's pods are bound to.
fn pod_nodes(kubectl: &Kubectl, deployment: &str) -> Result<Vec<String>> {
    let pods = get(
        kubectl,
        &[
            "get",
            "pods",
            "-n",
            "default",
            "-l",
            &format!("app={deployment}"),
        ],
    )?;
    Ok(items(&pods)
        .iter()
        .filter_map(|pod| pod["spec"]["nodeName"].as_str().map(str::to_owned))
        .collect())
}

/// `spotter controller --cloud-provider aws` on moto.
fn start_controller(
    plane: &ControlPlane,
    endpoint: &str,
    logs: &Path,
) -> Result<ControllerProcess> {
    let (mut command, address) = ControllerProcess::command(plane)?;
    command
        .args([
            "--cloud-provider=aws",
            "--batch-idle-duration=1s",
            "--batch-max-duration=3s",
            "--disable-leader-election",
        ])
        .arg(format!("--garbage-collection-interval={GC_INTERVAL}"))
        .arg(format!(
            "--garbage-collection-grace={}s",
            GC_GRACE.as_secs()
        ))
        .arg(format!("--cluster-name={CLUSTER}"))
        .arg(format!("--ami-parameter-prefix={PARAMETER_PREFIX}"));
    use_moto(&mut command, "AWS_ENDPOINT_URL", endpoint, REGION);
    ControllerProcess::spawn(command, address, logs, "controller")
}
