//! The wire path against a real moto server: the seed's EC2NodeClass resolved from tagged
//! subnets and security groups and the SSM AMI parameter, launch templates created, a Spot
//! NodeClaim of the `batch` pool launched with CreateFleet (tags, launch template, subnet in
//! the chosen zone), described, terminated, a leaked instance collected; and, with capacity
//! refused in CreateFleet by moto with the test support's extension, Spot ICE for every offering as a typed error naming them all (the
//! next NodeClaim launching on-demand from `batch-fallback`), and one zone's ICE landing the
//! launch in another zone.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types as ec2_types;
use spotter_aws::node_class::Architecture;
use spotter_aws::{
    AwsCloudProvider, ClusterSettings, Ec2NodeClassSpec, ExistingNodeClaim, RetryPolicy, SdkEc2,
};
use spotter_cloud::{
    AllocationStrategy, CloudError, CloudProvider, LaunchRequest, NodeClassDrift, OfferingKey,
    OfferingRequest,
};
use spotter_core::offering::CapacityType;
use spotter_test_support::Moto;

const REGION: &str = "us-east-1";
const PARAMETER_PREFIX: &str = "/spotter-test/eks/optimized-ami";
const SEED_NODE_CLASS: &str = include_str!("../../../examples/seed/ec2nodeclass.yaml");

async fn sdk_config(moto: &Moto) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

fn seed_spec() -> Ec2NodeClassSpec {
    let manifest: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(SEED_NODE_CLASS).expect("the seed EC2NodeClass is YAML");
    serde_yaml_ng::from_value(manifest["spec"].clone()).expect("the seed spec reads")
}

fn cluster() -> ClusterSettings {
    let mut cluster = ClusterSettings::new(
        "seed",
        "https://seed.example",
        "Q0E=",
        "10.100.0.0/16",
        "1.34",
    );
    cluster.ami_parameter_prefix = PARAMETER_PREFIX.to_string();
    cluster
}

/// A VPC with the seed's tagged subnets in two zones (and an untagged one in a third), a
/// tagged security group, and the AL2023 AMI parameters; returns the subnets by zone.
async fn seed_network(config: &aws_config::SdkConfig) -> BTreeMap<String, String> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let ssm = aws_sdk_ssm::Client::new(config);
    aws_sdk_iam::Client::new(config)
        .create_role()
        .role_name("KarpenterNodeRole-seed")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .expect("node role");
    let discovery = || {
        ec2_types::Tag::builder()
            .key("karpenter.sh/discovery")
            .value("seed")
            .build()
    };
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("vpc")
        .vpc
        .and_then(|vpc| vpc.vpc_id)
        .expect("vpc id");
    let mut subnets = BTreeMap::new();
    for (index, zone, tagged) in [
        (1, "us-east-1a", true),
        (2, "us-east-1b", true),
        (3, "us-east-1c", false),
    ] {
        let mut request = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.0.{index}.0/24"))
            .availability_zone(zone);
        if tagged {
            request = request.tag_specifications(
                ec2_types::TagSpecification::builder()
                    .resource_type(ec2_types::ResourceType::Subnet)
                    .tags(discovery())
                    .build(),
            );
        }
        let id = request
            .send()
            .await
            .expect("subnet")
            .subnet
            .and_then(|subnet| subnet.subnet_id)
            .expect("subnet id");
        if tagged {
            subnets.insert(zone.to_string(), id);
        }
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
        .expect("security group");
    let images = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .expect("images");
    for architecture in [Architecture::Amd64, Architecture::Arm64] {
        let image = images
            .images()
            .iter()
            .find(|image| image.architecture().map(|a| a.as_str()) == Some(architecture.ec2_name()))
            .and_then(|image| image.image_id())
            .unwrap_or("ami-12c6146b")
            .to_string();
        ssm.put_parameter()
            .name(format!(
                "{PARAMETER_PREFIX}/1.34/amazon-linux-2023/{}/standard/recommended/image_id",
                architecture.ec2_name()
            ))
            .value(image)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .expect("AMI parameter");
    }
    subnets
}

fn offering(capacity_type: CapacityType, instance_type: &str, zone: &str) -> OfferingKey {
    OfferingKey {
        capacity_type,
        instance_type: instance_type.to_string(),
        zone: zone.to_string(),
    }
}

/// The seed `batch` pool's offerings (Spot, c/m/r of generation 5+, amd64), ranked.
fn batch_offerings(capacity_type: CapacityType) -> Vec<OfferingKey> {
    let mut offerings = Vec::new();
    for instance_type in ["c5.large", "m5.large", "r5.large"] {
        for zone in ["us-east-1a", "us-east-1b"] {
            offerings.push(offering(capacity_type, instance_type, zone));
        }
    }
    offerings
}

fn launch(node_claim: &str, node_pool: &str, offerings: &[OfferingKey]) -> LaunchRequest {
    LaunchRequest {
        node_claim: node_claim.to_string(),
        node_pool: node_pool.to_string(),
        node_class: "default".to_string(),
        offerings: offerings
            .iter()
            .map(|offering| OfferingRequest {
                offering: offering.clone(),
                price_per_hour: 0.04,
            })
            .collect(),
        allocation: AllocationStrategy::Prioritized,
        labels: BTreeMap::from([
            ("karpenter.sh/nodepool".to_string(), node_pool.to_string()),
            ("workload".to_string(), "batch".to_string()),
        ]),
        taints: vec![],
    }
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

async fn described(config: &aws_config::SdkConfig, instance_id: &str) -> ec2_types::Instance {
    aws_sdk_ec2::Client::new(config)
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .expect("described")
        .reservations()
        .iter()
        .flat_map(|reservation| reservation.instances())
        .next()
        .cloned()
        .expect("the instance exists")
}

fn provider_on<E: spotter_aws::Ec2>(ec2: E) -> AwsCloudProvider<E> {
    let provider = AwsCloudProvider::new(ec2, cluster(), REGION).with_retry_policy(RetryPolicy {
        attempts: 2,
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    });
    provider.set_node_class("default", seed_spec());
    provider
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_node_claim_launches_spot_is_described_terminated_and_leaks_are_collected() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto).await;
    let subnets = seed_network(&config).await;
    let provider = provider_on(SdkEc2::new(&config));

    let resolved = provider
        .resolve_node_class("default")
        .await
        .expect("resolved");
    let resolved_subnets: BTreeMap<String, String> = resolved
        .subnets
        .iter()
        .map(|subnet| (subnet.zone.clone(), subnet.id.clone()))
        .collect();
    assert_eq!(resolved_subnets, subnets, "only the tagged subnets");
    assert_eq!(resolved.security_group_ids.len(), 1);
    assert_eq!(
        resolved.instance_profile,
        spotter_aws::instance_profile::instance_profile_name("seed", REGION, "default")
    );
    let profile = aws_sdk_iam::Client::new(&config)
        .get_instance_profile()
        .instance_profile_name(&resolved.instance_profile)
        .send()
        .await
        .expect("the instance profile exists");
    let roles: Vec<&str> = profile
        .instance_profile()
        .map(|profile| {
            profile
                .roles()
                .iter()
                .map(|role| role.role_name())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(roles, vec!["KarpenterNodeRole-seed"], "the node role, once");
    assert!(resolved.ami(Architecture::Amd64).is_some(), "{resolved:?}");

    let offerings = batch_offerings(CapacityType::Spot);
    let launched = provider
        .create(&launch("batch-abcde", "batch", &offerings))
        .await
        .expect("launched");
    let instance = launched.instance.clone();
    assert_eq!(instance.offering.capacity_type, CapacityType::Spot);
    assert!(
        offerings.contains(&instance.offering),
        "{:?}",
        instance.offering
    );
    assert_eq!(instance.node_claim, "batch-abcde");

    let on_ec2 = described(&config, &instance.id).await;
    let tags = tags_of(on_ec2.tags());
    for (key, value) in [
        ("karpenter.sh/nodepool", "batch"),
        ("karpenter.sh/nodeclaim", "batch-abcde"),
        ("kubernetes.io/cluster/seed", "owned"),
        ("eks:eks-cluster-name", "seed"),
        ("Name", "batch-abcde"),
    ] {
        assert_eq!(
            tags.get(key).map(String::as_str),
            Some(value),
            "tag {key}: {tags:?}"
        );
    }
    let zone = on_ec2
        .placement()
        .and_then(|placement| placement.availability_zone())
        .expect("zone");
    assert_eq!(zone, instance.offering.zone);
    assert_eq!(
        on_ec2.subnet_id(),
        subnets.get(zone).map(String::as_str),
        "subnet of the chosen zone"
    );
    assert_eq!(
        on_ec2.instance_type().map(|t| t.as_str()),
        Some(instance.offering.instance_type.as_str())
    );
    assert_eq!(
        on_ec2.image_id(),
        resolved.ami(Architecture::Amd64).map(|ami| ami.id.as_str()),
        "the launch template's AMI"
    );
    let templates = aws_sdk_ec2::Client::new(&config)
        .describe_launch_templates()
        .send()
        .await
        .expect("templates");
    let template_names: Vec<&str> = templates
        .launch_templates()
        .iter()
        .filter_map(|template| template.launch_template_name())
        .collect();
    assert!(
        template_names
            .iter()
            .any(|name| name.starts_with("spotter/seed/")),
        "{template_names:?}"
    );

    let found = provider
        .get("batch-abcde")
        .await
        .expect("get")
        .expect("found");
    assert_eq!(found.id, instance.id);
    assert_eq!(found.offering, instance.offering);
    let listed = provider.list().await.expect("list");
    assert_eq!(
        listed.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        vec![instance.id.clone()]
    );

    // A leaked instance: tagged for the cluster, its NodeClaim gone.
    let leaked = aws_sdk_ec2::Client::new(&config)
        .run_instances()
        .image_id(
            resolved
                .ami(Architecture::Amd64)
                .map(|ami| ami.id.clone())
                .unwrap_or_default(),
        )
        .instance_type(ec2_types::InstanceType::M5Large)
        .min_count(1)
        .max_count(1)
        .subnet_id(subnets.get("us-east-1a").cloned().unwrap_or_default())
        .tag_specifications(
            ec2_types::TagSpecification::builder()
                .resource_type(ec2_types::ResourceType::Instance)
                .tags(
                    ec2_types::Tag::builder()
                        .key("kubernetes.io/cluster/seed")
                        .value("owned")
                        .build(),
                )
                .tags(
                    ec2_types::Tag::builder()
                        .key("karpenter.sh/nodeclaim")
                        .value("batch-deleted")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("leaked instance")
        .instances()
        .first()
        .and_then(|instance| instance.instance_id())
        .expect("leaked id")
        .to_string();
    let now = SystemTime::now();
    let node_claims = [
        ExistingNodeClaim {
            name: "batch-abcde".to_string(),
            instance_id: Some(instance.id.clone()),
            launched_at: Some(now),
        },
        ExistingNodeClaim {
            name: "batch-lost".to_string(),
            instance_id: Some("i-00000000000000000".to_string()),
            launched_at: Some(now),
        },
    ];
    let too_early = provider
        .collect_garbage(&node_claims, now)
        .await
        .expect("gc");
    assert!(
        too_early.leaked_instances.is_empty(),
        "within the grace period: {too_early:?}"
    );
    let garbage = provider
        .collect_garbage(&node_claims, now + Duration::from_secs(31))
        .await
        .expect("gc");
    assert_eq!(garbage.leaked_instances, vec![leaked.clone()]);
    assert_eq!(
        garbage.node_claims_without_instance,
        vec!["batch-lost".to_string()]
    );
    let leaked_state = described(&config, &leaked).await;
    assert_ne!(
        leaked_state.state().and_then(|state| state.name()),
        Some(&ec2_types::InstanceStateName::Running),
        "the leak is terminated"
    );

    provider.delete(&instance.id).await.expect("deleted");
    assert_eq!(provider.get("batch-abcde").await.expect("get"), None);
    assert!(provider.list().await.expect("list").is_empty());

    // Deleting the EC2NodeClass deletes the launch templates made from it and the instance
    // profile made for its role.
    let deleted = provider
        .delete_node_class("default")
        .await
        .expect("templates and profile deleted");
    assert_eq!(deleted.launch_templates.len(), 1, "{deleted:?}");
    assert!(
        deleted.launch_templates[0].starts_with("spotter/seed/"),
        "{deleted:?}"
    );
    assert_eq!(
        deleted.instance_profile.as_deref(),
        Some(resolved.instance_profile.as_str())
    );
    let left = aws_sdk_ec2::Client::new(&config)
        .describe_launch_templates()
        .send()
        .await
        .expect("templates");
    assert!(left.launch_templates().is_empty(), "{left:?}");
    let profile = aws_sdk_iam::Client::new(&config)
        .get_instance_profile()
        .instance_profile_name(&resolved.instance_profile)
        .send()
        .await;
    assert!(
        profile.is_err(),
        "the instance profile is gone: {profile:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_capacity_is_named_and_launches_go_elsewhere() {
    let folder = tempfile::tempdir().expect("a folder");
    let Some(moto) = Moto::start_refusing(folder.path()) else {
        return;
    };
    let config = sdk_config(&moto).await;
    seed_network(&config).await;
    let provider = provider_on(SdkEc2::new(&config));

    // Spot refused for every offering, in CreateFleet's `Errors` as EC2 answers: the error
    // names each of them.
    let spot = batch_offerings(CapacityType::Spot);
    moto.refuse(&["spot:*:*"]);
    let error = provider
        .create(&launch("batch-spot", "batch", &spot))
        .await
        .expect_err("no Spot capacity");
    let CloudError::InsufficientCapacity { mut offerings } = error else {
        panic!("expected insufficient capacity, got {error:?}");
    };
    offerings.sort();
    let mut expected = spot.clone();
    expected.sort();
    assert_eq!(offerings, expected);
    assert!(
        provider.list().await.expect("list").is_empty(),
        "nothing launched"
    );

    // The pods' next NodeClaim comes from the on-demand fallback pool.
    let on_demand = batch_offerings(CapacityType::OnDemand);
    let fallback = provider
        .create(&launch("batch-fallback-xyz", "batch-fallback", &on_demand))
        .await
        .expect("on-demand launched");
    assert_eq!(
        fallback.instance.offering.capacity_type,
        CapacityType::OnDemand
    );
    assert_eq!(fallback.instance.node_pool, "batch-fallback");
    assert!(fallback.unavailable.is_empty());

    // One zone refused: the launch lands in the other zone and reports the refused offerings.
    let zone_a: Vec<OfferingKey> = spot
        .iter()
        .filter(|offering| offering.zone == "us-east-1a")
        .cloned()
        .collect();
    moto.refuse(&["spot:*:us-east-1a"]);
    let launched = provider
        .create(&launch("batch-zone", "batch", &spot))
        .await
        .expect("launched in another zone");
    assert_eq!(launched.instance.offering.zone, "us-east-1b");
    assert_eq!(launched.instance.offering.capacity_type, CapacityType::Spot);
    let mut unavailable = launched.unavailable.clone();
    unavailable.sort();
    let mut expected_a = zone_a;
    expected_a.sort();
    assert_eq!(unavailable, expected_a);
    let on_ec2 = described(&config, &launched.instance.id).await;
    assert_eq!(
        on_ec2
            .placement()
            .and_then(|placement| placement.availability_zone()),
        Some("us-east-1b")
    );
}

/// Node class drift on moto: an instance launched from the seed's EC2NodeClass matches it;
/// a second discovery-tagged security group makes it `SecurityGroupDrift`; a new AMI release
/// behind the alias's parameter makes it `AMIDrift` (told before the security groups).
///
/// moto's CreateFleet gives every instance its VPC's `default` security group whatever the
/// launch template says, so here the discovery tag is moved to the group the instance got:
/// the node class then resolves to the groups the instance really has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_drifts_when_its_node_class_resolves_to_new_security_groups_or_amis() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let config = sdk_config(&moto).await;
    seed_network(&config).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let provider = provider_on(SdkEc2::new(&config));
    let launched = provider
        .create(&launch(
            "batch-drift",
            "batch",
            &batch_offerings(CapacityType::Spot),
        ))
        .await
        .expect("launched");
    let on_ec2 = described(&config, &launched.instance.id).await;
    let vpc = on_ec2.vpc_id().expect("the instance's VPC").to_string();
    let discovery = || {
        ec2_types::Tag::builder()
            .key("karpenter.sh/discovery")
            .value("seed")
            .build()
    };
    let seed_groups = ec2
        .describe_security_groups()
        .group_names("seed-nodes")
        .send()
        .await
        .expect("the seed group");
    for group in seed_groups.security_groups() {
        ec2.delete_tags()
            .resources(group.group_id().expect("id"))
            .tags(discovery())
            .send()
            .await
            .expect("untag the seed group");
    }
    for group in on_ec2.security_groups() {
        ec2.create_tags()
            .resources(group.group_id().expect("id"))
            .tags(discovery())
            .send()
            .await
            .expect("tag the instance's group");
    }
    provider.forget_resolution("default");
    let claims = ["batch-drift".to_string(), "batch-gone".to_string()];
    assert_eq!(
        provider.drifted(&claims).await.expect("checked"),
        BTreeMap::new(),
        "just launched: no drift (instance groups {:?}, the class's {:?})",
        on_ec2.security_groups(),
        provider
            .resolve_node_class("default")
            .await
            .map(|class| class.security_group_ids)
    );

    ec2.create_security_group()
        .group_name("seed-nodes-extra")
        .description("another group the selector now matches")
        .vpc_id(&vpc)
        .tag_specifications(
            ec2_types::TagSpecification::builder()
                .resource_type(ec2_types::ResourceType::SecurityGroup)
                .tags(
                    ec2_types::Tag::builder()
                        .key("karpenter.sh/discovery")
                        .value("seed")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("security group");
    provider.forget_resolution("default");
    assert_eq!(
        provider.drifted(&claims).await.expect("checked"),
        BTreeMap::from([("batch-drift".to_string(), NodeClassDrift::SecurityGroup)])
    );

    let ssm = aws_sdk_ssm::Client::new(&config);
    ssm.put_parameter()
        .name(format!(
            "{PARAMETER_PREFIX}/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id"
        ))
        .value("ami-0a1b2c3d4e5f67890")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("a new AMI release");
    provider.forget_resolution("default");
    assert_eq!(
        provider.drifted(&claims).await.expect("checked"),
        BTreeMap::from([("batch-drift".to_string(), NodeClassDrift::Ami)])
    );
}
