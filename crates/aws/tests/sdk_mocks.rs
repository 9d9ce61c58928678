//! The provider on the SDK clients with mocked answers (`aws-smithy-mocks`): what each
//! CreateFleet error code becomes, partial errors, throttling retried then successful or
//! given up, permission errors with their instruction, transient failures, the request
//! CreateFleet receives, node class selectors that match nothing, pagination, and Spot
//! placement scores by zone name.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::Client as Ec2Client;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::create_fleet::{CreateFleetError, CreateFleetInput, CreateFleetOutput};
use aws_sdk_ec2::operation::create_launch_template::CreateLaunchTemplateOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::describe_launch_templates::DescribeLaunchTemplatesOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::terminate_instances::{
    TerminateInstancesError, TerminateInstancesOutput,
};
use aws_sdk_ec2::types as ec2_types;
use aws_sdk_ssm::Client as SsmClient;
use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use spotter_aws::node_class_spec::{
    AmiSelectorTerm, Ec2NodeClassSpec, SecurityGroupSelectorTerm, SubnetSelectorTerm,
};
use spotter_aws::{
    AwsCloudProvider, ClusterSettings, NodeClassError, RetryPolicy, SdkEc2, SdkPricing,
};
use spotter_cloud::{
    AllocationStrategy, CloudError, CloudProvider, LaunchRequest, OfferingKey, OfferingRequest,
    PlacementScoreRequest,
};
use spotter_core::offering::CapacityType;

const ZONE_A: &str = "us-east-1a";
const ZONE_B: &str = "us-east-1b";

fn subnet_of(zone: &str) -> String {
    format!("subnet-{}", &zone[zone.len() - 1..])
}

fn cluster() -> ClusterSettings {
    ClusterSettings::new(
        "seed",
        "https://seed.example",
        "Q0E=",
        "10.100.0.0/16",
        "1.34",
    )
}

fn spec() -> Ec2NodeClassSpec {
    let discovery = BTreeMap::from([("karpenter.sh/discovery".to_string(), "seed".to_string())]);
    Ec2NodeClassSpec {
        instance_profile: Some("KarpenterNodeInstanceProfile-seed".to_string()),
        subnet_selector_terms: vec![SubnetSelectorTerm {
            tags: discovery.clone(),
            id: None,
        }],
        security_group_selector_terms: vec![SecurityGroupSelectorTerm {
            tags: discovery,
            ..SecurityGroupSelectorTerm::default()
        }],
        ami_selector_terms: vec![AmiSelectorTerm {
            alias: Some("al2023@latest".to_string()),
            ..AmiSelectorTerm::default()
        }],
        ..Ec2NodeClassSpec::default()
    }
}

fn offering(capacity_type: CapacityType, instance_type: &str, zone: &str) -> OfferingKey {
    OfferingKey {
        capacity_type,
        instance_type: instance_type.to_string(),
        zone: zone.to_string(),
    }
}

fn launch(offerings: &[OfferingKey]) -> LaunchRequest {
    LaunchRequest {
        node_claim: "batch-abcde".to_string(),
        node_pool: "batch".to_string(),
        node_class: "default".to_string(),
        offerings: offerings
            .iter()
            .map(|offering| OfferingRequest {
                offering: offering.clone(),
                price_per_hour: 0.05,
            })
            .collect(),
        allocation: AllocationStrategy::Prioritized,
        labels: BTreeMap::from([("workload".to_string(), "batch".to_string())]),
        taints: vec![],
    }
}

/// The rules every launch needs besides CreateFleet: two subnets (one per zone), a
/// security group, the AMI parameter, and a launch template to create.
fn resolution_rules() -> Vec<Rule> {
    let subnets = mock!(Ec2Client::describe_subnets).then_output(|| {
        DescribeSubnetsOutput::builder()
            .subnets(
                ec2_types::Subnet::builder()
                    .subnet_id(subnet_of(ZONE_A))
                    .availability_zone(ZONE_A)
                    .available_ip_address_count(100)
                    .build(),
            )
            .subnets(
                ec2_types::Subnet::builder()
                    .subnet_id(subnet_of(ZONE_B))
                    .availability_zone(ZONE_B)
                    .available_ip_address_count(100)
                    .build(),
            )
            .build()
    });
    let groups = mock!(Ec2Client::describe_security_groups).then_output(|| {
        DescribeSecurityGroupsOutput::builder()
            .security_groups(
                ec2_types::SecurityGroup::builder()
                    .group_id("sg-1")
                    .group_name("nodes")
                    .build(),
            )
            .build()
    });
    let templates = mock!(Ec2Client::describe_launch_templates)
        .then_output(|| DescribeLaunchTemplatesOutput::builder().build());
    let create_template = mock!(Ec2Client::create_launch_template).then_output(|| {
        CreateLaunchTemplateOutput::builder()
            .launch_template(
                ec2_types::LaunchTemplate::builder()
                    .launch_template_id("lt-1")
                    .build(),
            )
            .build()
    });
    let no_instance = mock!(Ec2Client::describe_instances)
        .then_output(|| DescribeInstancesOutput::builder().build());
    vec![subnets, groups, templates, create_template, no_instance]
}

fn ssm() -> SsmClient {
    let parameter = mock!(SsmClient::get_parameter).then_compute_output(|input| {
        GetParameterOutput::builder()
            .parameter(
                aws_sdk_ssm::types::Parameter::builder()
                    .name(input.name().unwrap_or_default())
                    .value(if input.name().unwrap_or_default().contains("arm64") {
                        "ami-arm"
                    } else {
                        "ami-amd"
                    })
                    .build(),
            )
            .build()
    });
    mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&parameter], |config| {
        config.retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
    })
}

fn provider(rules: &[&Rule]) -> AwsCloudProvider<SdkEc2> {
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules, |config| config
        .retry_config(RetryConfig::disabled()));
    let no_rules: [&Rule; 0] = [];
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, no_rules);
    let provider = AwsCloudProvider::new(
        SdkEc2::from_clients(ec2, ssm(), iam),
        cluster(),
        "us-east-1",
    )
    .with_retry_policy(RetryPolicy {
        attempts: 3,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
    });
    provider.set_node_class("default", spec());
    provider
}

fn fleet_error(code: &str, instance_type: &str, zone: &str) -> ec2_types::CreateFleetError {
    ec2_types::CreateFleetError::builder()
        .error_code(code)
        .error_message(format!("{code} for {instance_type} in {zone}"))
        .launch_template_and_overrides(
            ec2_types::LaunchTemplateAndOverridesResponse::builder()
                .overrides(
                    ec2_types::FleetLaunchTemplateOverrides::builder()
                        .instance_type(ec2_types::InstanceType::from(instance_type))
                        .subnet_id(subnet_of(zone))
                        .availability_zone(zone)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn fleet_instance(
    instance_id: &str,
    instance_type: &str,
    zone: &str,
) -> ec2_types::CreateFleetInstance {
    ec2_types::CreateFleetInstance::builder()
        .instance_ids(instance_id)
        .instance_type(ec2_types::InstanceType::from(instance_type))
        .launch_template_and_overrides(
            ec2_types::LaunchTemplateAndOverridesResponse::builder()
                .overrides(
                    ec2_types::FleetLaunchTemplateOverrides::builder()
                        .instance_type(ec2_types::InstanceType::from(instance_type))
                        .subnet_id(subnet_of(zone))
                        .build(),
                )
                .build(),
        )
        .build()
}

fn service_error(code: &str) -> CreateFleetError {
    CreateFleetError::generic(
        ErrorMetadata::builder()
            .code(code)
            .message("mocked")
            .build(),
    )
}

async fn launch_with(
    fleet: Rule,
    offerings: &[OfferingKey],
) -> (Result<spotter_cloud::Launched, CloudError>, usize) {
    let mut rules = resolution_rules();
    rules.push(fleet);
    let references: Vec<&Rule> = rules.iter().collect();
    let provider = provider(&references);
    let result = provider.create(&launch(offerings)).await;
    (
        result,
        rules.last().map(Rule::num_calls).unwrap_or_default(),
    )
}

#[tokio::test]
async fn each_fleet_capacity_code_names_exactly_the_failed_offerings() {
    let m5 = offering(CapacityType::Spot, "m5.large", ZONE_A);
    let c5 = offering(CapacityType::Spot, "c5.large", ZONE_A);
    for code in [
        "InsufficientInstanceCapacity",
        "MaxSpotInstanceCountExceeded",
        "UnfulfillableCapacity",
        "InsufficientFreeAddressesInSubnet",
        "SpotMaxPriceTooLow",
        "Unsupported",
        "VcpuLimitExceeded",
    ] {
        let fleet = mock!(Ec2Client::create_fleet).then_output(move || {
            CreateFleetOutput::builder()
                .errors(fleet_error(code, "m5.large", ZONE_A))
                .errors(fleet_error(code, "c5.large", ZONE_A))
                .build()
        });
        let (result, _) = launch_with(fleet, &[m5.clone(), c5.clone()]).await;
        assert_eq!(
            result,
            Err(CloudError::InsufficientCapacity {
                offerings: vec![m5.clone(), c5.clone()]
            }),
            "{code}"
        );
    }
}

#[tokio::test]
async fn fleet_errors_that_are_not_capacity_become_typed_errors() {
    let m5 = offering(CapacityType::Spot, "m5.large", ZONE_A);
    struct Case {
        code: &'static str,
        check: fn(&CloudError) -> bool,
    }
    let cases = [
        Case {
            code: "AuthFailure.ServiceLinkedRoleCreationNotPermitted",
            check: |error| {
                matches!(error, CloudError::PermissionDenied { instruction, .. }
                if instruction.contains("aws iam create-service-linked-role --aws-service-name spot.amazonaws.com"))
            },
        },
        Case {
            code: "UnauthorizedOperation",
            check: |error| {
                matches!(error, CloudError::PermissionDenied { instruction, .. }
                if instruction.contains("allow ec2:CreateFleet"))
            },
        },
        Case {
            code: "InvalidParameterValue",
            check: |error| {
                matches!(error, CloudError::InvalidRequest { reason }
                if reason.contains("InvalidParameterValue"))
            },
        },
    ];
    for case in cases {
        let code = case.code;
        let fleet = mock!(Ec2Client::create_fleet).then_output(move || {
            CreateFleetOutput::builder()
                .errors(fleet_error(code, "m5.large", ZONE_A))
                .build()
        });
        let (result, _) = launch_with(fleet, std::slice::from_ref(&m5)).await;
        let error = result.expect_err(code);
        assert!((case.check)(&error), "{code}: {error:?}");
    }
}

#[tokio::test]
async fn a_partial_fleet_error_launches_and_reports_the_failed_offering() {
    let m5_a = offering(CapacityType::Spot, "m5.large", ZONE_A);
    let m5_b = offering(CapacityType::Spot, "m5.large", ZONE_B);
    let fleet = mock!(Ec2Client::create_fleet).then_output(|| {
        CreateFleetOutput::builder()
            .errors(fleet_error(
                "InsufficientInstanceCapacity",
                "m5.large",
                ZONE_A,
            ))
            .instances(fleet_instance("i-0b", "m5.large", ZONE_B))
            .build()
    });
    let (result, _) = launch_with(fleet, &[m5_a.clone(), m5_b.clone()]).await;
    let launched = result.expect("launched");
    assert_eq!(launched.instance.id, "i-0b");
    assert_eq!(launched.instance.offering, m5_b);
    assert_eq!(launched.instance.provider_id, "aws:///us-east-1b/i-0b");
    assert_eq!(launched.unavailable, vec![m5_a]);
}

#[tokio::test]
async fn call_errors_are_retried_when_transient_and_typed() {
    let m5 = offering(CapacityType::Spot, "m5.large", ZONE_A);
    let success = || {
        CreateFleetOutput::builder()
            .instances(fleet_instance("i-1", "m5.large", ZONE_A))
            .build()
    };
    struct Case {
        name: &'static str,
        fleet: Rule,
        calls: usize,
        check: fn(&Result<spotter_cloud::Launched, CloudError>) -> bool,
    }
    let cases = [
        Case {
            name: "throttled twice then launched",
            fleet: mock!(Ec2Client::create_fleet)
                .sequence()
                .error(|| service_error("RequestLimitExceeded"))
                .times(2)
                .output(success)
                .build(),
            calls: 3,
            check: |result| {
                result
                    .as_ref()
                    .is_ok_and(|launched| launched.instance.id == "i-1")
            },
        },
        Case {
            name: "throttled on every attempt",
            fleet: mock!(Ec2Client::create_fleet).then_error(|| service_error("Throttling")),
            calls: 3,
            check: |result| matches!(result, Err(CloudError::Throttled { operation, retry_after: Some(_) }) if operation == "CreateFleet"),
        },
        Case {
            name: "a 503 on every attempt",
            fleet: mock!(Ec2Client::create_fleet)
                .sequence()
                .http_status(503, None)
                .repeatedly()
                .build(),
            calls: 3,
            check: |result| matches!(result, Err(CloudError::Transient { operation, .. }) if operation == "CreateFleet"),
        },
        Case {
            name: "an unauthorized call is not retried",
            fleet: mock!(Ec2Client::create_fleet)
                .then_error(|| service_error("UnauthorizedOperation")),
            calls: 1,
            check: |result| matches!(result, Err(CloudError::PermissionDenied { instruction, .. }) if instruction.contains("allow ec2:CreateFleet")),
        },
        Case {
            name: "the Spot service-linked role missing",
            fleet: mock!(Ec2Client::create_fleet)
                .then_error(|| service_error("AuthFailure.ServiceLinkedRoleCreationNotPermitted")),
            calls: 1,
            check: |result| matches!(result, Err(CloudError::PermissionDenied { instruction, .. }) if instruction.contains("create-service-linked-role")),
        },
    ];
    for case in cases {
        let (result, calls) = launch_with(case.fleet, std::slice::from_ref(&m5)).await;
        assert!((case.check)(&result), "{}: {result:?}", case.name);
        assert_eq!(calls, case.calls, "{}: CreateFleet calls", case.name);
    }
}

#[tokio::test]
async fn create_fleet_receives_the_ranked_offerings_tokens_and_tags() {
    let captured: Arc<Mutex<Option<CreateFleetInput>>> = Arc::new(Mutex::new(None));
    let sink = captured.clone();
    let fleet = mock!(Ec2Client::create_fleet).then_compute_output(move |input| {
        *sink.lock().expect("lock") = Some(input.clone());
        CreateFleetOutput::builder()
            .instances(fleet_instance("i-1", "c5.large", ZONE_B))
            .build()
    });
    let offerings = [
        offering(CapacityType::Spot, "c5.large", ZONE_B),
        offering(CapacityType::Spot, "m5.large", ZONE_A),
        offering(CapacityType::Spot, "m6g.large", ZONE_A),
    ];
    let (result, _) = launch_with(fleet, &offerings).await;
    result.expect("launched");
    let input = captured
        .lock()
        .expect("lock")
        .clone()
        .expect("CreateFleet called");
    assert_eq!(input.r#type(), Some(&ec2_types::FleetType::Instant));
    let token = input.client_token().expect("token");
    assert!(
        token.len() <= 64 && token.starts_with("spotter-"),
        "{token}"
    );
    let capacity = input.target_capacity_specification().expect("capacity");
    assert_eq!(capacity.total_target_capacity(), Some(1));
    assert_eq!(
        capacity.default_target_capacity_type(),
        Some(&ec2_types::DefaultTargetCapacityType::Spot)
    );
    assert_eq!(
        input
            .spot_options()
            .and_then(|options| options.allocation_strategy()),
        Some(&ec2_types::SpotAllocationStrategy::CapacityOptimizedPrioritized)
    );
    // One launch template per architecture; priorities follow the caller's order.
    let mut overrides: Vec<(String, String, f64)> = input
        .launch_template_configs()
        .iter()
        .flat_map(|config| config.overrides())
        .map(|entry| {
            (
                entry
                    .instance_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                entry.subnet_id().unwrap_or_default().to_string(),
                entry.priority().unwrap_or(-1.0),
            )
        })
        .collect();
    overrides.sort_by(|left, right| left.2.total_cmp(&right.2));
    assert_eq!(
        overrides,
        vec![
            ("c5.large".to_string(), subnet_of(ZONE_B), 0.0),
            ("m5.large".to_string(), subnet_of(ZONE_A), 1.0),
            ("m6g.large".to_string(), subnet_of(ZONE_A), 2.0),
        ]
    );
    assert_eq!(
        input.launch_template_configs().len(),
        2,
        "amd64 and arm64 templates"
    );
    let resource_types: Vec<&ec2_types::ResourceType> = input
        .tag_specifications()
        .iter()
        .filter_map(|specification| specification.resource_type())
        .collect();
    assert_eq!(
        resource_types,
        vec![
            &ec2_types::ResourceType::Instance,
            &ec2_types::ResourceType::Volume,
            &ec2_types::ResourceType::Fleet
        ]
    );
    let tags: BTreeMap<String, String> = input.tag_specifications()[0]
        .tags()
        .iter()
        .map(|tag| {
            (
                tag.key().unwrap_or_default().to_string(),
                tag.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (key, value) in [
        ("karpenter.sh/nodepool", "batch"),
        ("karpenter.sh/nodeclaim", "batch-abcde"),
        ("kubernetes.io/cluster/seed", "owned"),
        ("eks:eks-cluster-name", "seed"),
        ("Name", "batch-abcde"),
    ] {
        assert_eq!(tags.get(key).map(String::as_str), Some(value), "tag {key}");
    }
}

#[tokio::test]
async fn cloud_chooses_asks_for_price_capacity_optimized_without_priorities() {
    let captured: Arc<Mutex<Option<CreateFleetInput>>> = Arc::new(Mutex::new(None));
    let sink = captured.clone();
    let fleet = mock!(Ec2Client::create_fleet).then_compute_output(move |input| {
        *sink.lock().expect("lock") = Some(input.clone());
        CreateFleetOutput::builder()
            .instances(fleet_instance("i-1", "m5.large", ZONE_A))
            .build()
    });
    let mut rules = resolution_rules();
    rules.push(fleet);
    let references: Vec<&Rule> = rules.iter().collect();
    let provider = provider(&references);
    for (capacity_type, spot, on_demand) in [
        (
            CapacityType::Spot,
            Some(ec2_types::SpotAllocationStrategy::PriceCapacityOptimized),
            None,
        ),
        (
            CapacityType::OnDemand,
            None,
            Some(ec2_types::FleetOnDemandAllocationStrategy::LowestPrice),
        ),
    ] {
        let mut request = launch(&[offering(capacity_type, "m5.large", ZONE_A)]);
        request.allocation = AllocationStrategy::CloudChooses;
        provider.create(&request).await.expect("launched");
        let input = captured.lock().expect("lock").clone().expect("called");
        if let Some(spot) = spot {
            assert_eq!(
                input.spot_options().and_then(|o| o.allocation_strategy()),
                Some(&spot)
            );
        }
        if let Some(on_demand) = on_demand {
            assert_eq!(
                input
                    .on_demand_options()
                    .and_then(|o| o.allocation_strategy()),
                Some(&on_demand)
            );
        }
        let priorities: Vec<Option<f64>> = input
            .launch_template_configs()
            .iter()
            .flat_map(|config| config.overrides())
            .map(|entry| entry.priority())
            .collect();
        assert!(priorities.iter().all(Option::is_none), "{priorities:?}");
    }
}

#[tokio::test]
async fn a_selector_that_matches_nothing_is_named() {
    let empty_subnets =
        mock!(Ec2Client::describe_subnets).then_output(|| DescribeSubnetsOutput::builder().build());
    let provider = provider(&[&empty_subnets]);
    let error = provider
        .resolve_node_class("default")
        .await
        .expect_err("no subnet");
    assert!(
        matches!(&error, NodeClassError::NoSubnets { terms, .. } if terms.contains("karpenter.sh/discovery")),
        "{error}"
    );
    assert!(error.to_string().contains("subnetSelectorTerms"), "{error}");
}

#[tokio::test]
async fn list_reads_every_page_of_describe_instances() {
    let page = |token: Option<&str>, id: &str| {
        let instance = ec2_types::Instance::builder()
            .instance_id(id)
            .instance_type(ec2_types::InstanceType::M5Large)
            .placement(
                ec2_types::Placement::builder()
                    .availability_zone(ZONE_A)
                    .build(),
            )
            .instance_lifecycle(ec2_types::InstanceLifecycleType::Spot)
            .tags(
                ec2_types::Tag::builder()
                    .key("karpenter.sh/nodeclaim")
                    .value(format!("claim-{id}"))
                    .build(),
            )
            .tags(
                ec2_types::Tag::builder()
                    .key("karpenter.sh/nodepool")
                    .value("batch")
                    .build(),
            )
            .build();
        DescribeInstancesOutput::builder()
            .reservations(
                ec2_types::Reservation::builder()
                    .instances(instance)
                    .build(),
            )
            .set_next_token(token.map(str::to_string))
            .build()
    };
    let first = mock!(Ec2Client::describe_instances)
        .match_requests(|input| input.next_token().is_none())
        .then_output(move || page(Some("page-2"), "i-2"));
    let second = mock!(Ec2Client::describe_instances)
        .match_requests(|input| input.next_token() == Some("page-2"))
        .then_output(move || page(None, "i-1"));
    let provider = provider(&[&first, &second]);
    let instances = provider.list().await.expect("listed");
    let found: Vec<(String, String, CapacityType)> = instances
        .iter()
        .map(|instance| {
            (
                instance.id.clone(),
                instance.node_claim.clone(),
                instance.offering.capacity_type,
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "i-1".to_string(),
                "claim-i-1".to_string(),
                CapacityType::Spot
            ),
            (
                "i-2".to_string(),
                "claim-i-2".to_string(),
                CapacityType::Spot
            ),
        ]
    );
    assert!(
        instances
            .iter()
            .all(|instance| instance.price_per_hour > 0.0),
        "embedded prices"
    );
}

#[tokio::test]
async fn deleting_an_instance_that_is_gone_is_not_found() {
    let cases = [
        (
            mock!(Ec2Client::terminate_instances).then_error(|| {
                TerminateInstancesError::generic(
                    ErrorMetadata::builder()
                        .code("InvalidInstanceID.NotFound")
                        .build(),
                )
            }),
            Err(CloudError::NotFound {
                what: "instance i-gone".to_string(),
            }),
        ),
        (
            mock!(Ec2Client::terminate_instances)
                .then_output(|| TerminateInstancesOutput::builder().build()),
            Ok(()),
        ),
    ];
    for (rule, expected) in cases {
        let provider = provider(&[&rule]);
        assert_eq!(provider.delete("i-gone").await, expected);
    }
}

/// The Spot placement scores EC2 answers by zone ID come back by this account's zone names,
/// from every page; a zone the account does not name is left out; a denied call is the typed
/// permission error that names the IAM action.
#[tokio::test]
async fn placement_scores_are_read_by_zone_name() {
    use aws_sdk_ec2::operation::describe_availability_zones::DescribeAvailabilityZonesOutput;
    use aws_sdk_ec2::operation::get_spot_placement_scores::{
        GetSpotPlacementScoresError, GetSpotPlacementScoresOutput,
    };
    let score = |zone_id: &str, score: i32| {
        ec2_types::SpotPlacementScore::builder()
            .availability_zone_id(zone_id)
            .region("us-east-1")
            .score(score)
            .build()
    };
    let asked = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&asked);
    let first_page = mock!(Ec2Client::get_spot_placement_scores)
        .match_requests(|input| input.next_token().is_none())
        .then_compute_output(move |input| {
            if let Ok(mut asked) = recorded.lock() {
                asked.push((
                    input.instance_types().to_vec(),
                    input.target_capacity(),
                    input.single_availability_zone(),
                    input.region_names().to_vec(),
                ));
            }
            GetSpotPlacementScoresOutput::builder()
                .spot_placement_scores(score("use1-az1", 9))
                .spot_placement_scores(score("use1-az9", 5))
                .next_token("page-2")
                .build()
        });
    let second_page = mock!(Ec2Client::get_spot_placement_scores)
        .match_requests(|input| input.next_token() == Some("page-2"))
        .then_output(move || {
            GetSpotPlacementScoresOutput::builder()
                .spot_placement_scores(score("use1-az2", 3))
                .build()
        });
    let zone = |name: &str, id: &str| {
        ec2_types::AvailabilityZone::builder()
            .zone_name(name)
            .zone_id(id)
            .build()
    };
    let zones = mock!(Ec2Client::describe_availability_zones).then_output(move || {
        DescribeAvailabilityZonesOutput::builder()
            .availability_zones(zone(ZONE_A, "use1-az2"))
            .availability_zones(zone(ZONE_B, "use1-az1"))
            .build()
    });
    let request = PlacementScoreRequest {
        instance_types: vec![
            "c5.large".to_string(),
            "m5.large".to_string(),
            "r5.large".to_string(),
        ],
        target_capacity: 4,
    };
    let scores = provider(&[&first_page, &second_page, &zones])
        .spot_placement_scores(&request)
        .await
        .expect("placement scores");
    assert_eq!(
        scores.iter().collect::<Vec<_>>(),
        vec![(ZONE_A, 3), (ZONE_B, 9)]
    );
    assert_eq!(
        asked.lock().map(|asked| asked.clone()).unwrap_or_default(),
        vec![(
            request.instance_types.clone(),
            Some(4),
            Some(true),
            vec!["us-east-1".to_string()],
        )]
    );

    let denied = mock!(Ec2Client::get_spot_placement_scores).then_error(|| {
        GetSpotPlacementScoresError::generic(
            ErrorMetadata::builder()
                .code("UnauthorizedOperation")
                .message("not allowed")
                .build(),
        )
    });
    match provider(&[&denied]).spot_placement_scores(&request).await {
        Err(CloudError::PermissionDenied { instruction, .. }) => assert!(
            instruction.contains("ec2:GetSpotPlacementScores"),
            "{instruction}"
        ),
        other => panic!("expected a permission error, got {other:?}"),
    }
}

/// EC2's answers for the catalog: m5.large, offered in zone a, with a Spot price there.
fn catalog_rules() -> [Rule; 3] {
    use aws_sdk_ec2::operation::describe_instance_type_offerings::DescribeInstanceTypeOfferingsOutput;
    use aws_sdk_ec2::operation::describe_instance_types::DescribeInstanceTypesOutput;
    use aws_sdk_ec2::operation::describe_spot_price_history::DescribeSpotPriceHistoryOutput;

    let types = mock!(Ec2Client::describe_instance_types).then_output(|| {
        DescribeInstanceTypesOutput::builder()
            .instance_types(
                ec2_types::InstanceTypeInfo::builder()
                    .instance_type(ec2_types::InstanceType::M5Large)
                    .build(),
            )
            .build()
    });
    let offerings = mock!(Ec2Client::describe_instance_type_offerings).then_output(|| {
        DescribeInstanceTypeOfferingsOutput::builder()
            .instance_type_offerings(
                ec2_types::InstanceTypeOffering::builder()
                    .instance_type(ec2_types::InstanceType::M5Large)
                    .location(ZONE_A)
                    .build(),
            )
            .build()
    });
    let prices = mock!(Ec2Client::describe_spot_price_history).then_output(|| {
        DescribeSpotPriceHistoryOutput::builder()
            .spot_price_history(
                ec2_types::SpotPrice::builder()
                    .instance_type(ec2_types::InstanceType::M5Large)
                    .availability_zone(ZONE_A)
                    .spot_price("0.0321")
                    .build(),
            )
            .build()
    });
    [types, offerings, prices]
}

/// A Pricing API client answering by `rules`.
fn pricing(rules: &[&Rule]) -> SdkPricing {
    SdkPricing::from_client(mock_client!(
        aws_sdk_pricing,
        RuleMode::MatchAny,
        rules,
        |config| config.retry_config(RetryConfig::disabled())
    ))
}

/// A Pricing API that refuses the controller's credentials.
fn pricing_denied() -> Rule {
    use aws_sdk_pricing::operation::get_products::GetProductsError;
    mock!(aws_sdk_pricing::Client::get_products).then_error(|| {
        GetProductsError::generic(
            aws_sdk_pricing::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to perform: pricing:GetProducts")
                .build(),
        )
    })
}

#[tokio::test]
async fn the_catalog_reads_the_region_and_falls_back_to_the_embedded_one() {
    use aws_sdk_ec2::operation::describe_instance_types::DescribeInstanceTypesError;
    use spotter_aws::catalog::{CatalogSource, RegionCatalog};

    let denied = mock!(Ec2Client::describe_instance_types).then_error(|| {
        DescribeInstanceTypesError::generic(
            ErrorMetadata::builder()
                .code("UnauthorizedOperation")
                .build(),
        )
    });
    let catalog = RegionCatalog::default();
    let now = std::time::SystemTime::now();
    let no_prices = pricing_denied();

    let [types, offerings, prices] = catalog_rules();
    let provider_ok = provider(&[&types, &offerings, &prices]);
    let read = catalog
        .read(provider_ok.ec2(), &pricing(&[&no_prices]), "us-east-1", now)
        .await
        .expect("instance types");
    assert_eq!(read.source, CatalogSource::Api);
    let instance_types = read.instance_types;
    assert_eq!(instance_types.len(), 1);
    let spot_a = instance_types[0]
        .offerings
        .iter()
        .find(|offering| offering.capacity_type == CapacityType::Spot && offering.zone == ZONE_A)
        .expect("Spot in zone a");
    assert_eq!(spot_a.price_per_hour, 0.0321);
    assert!(
        instance_types[0]
            .offerings
            .iter()
            .filter(|offering| offering.zone != ZONE_A)
            .all(|offering| !offering.available)
    );

    let provider_denied = provider(&[&denied]);
    let read = catalog
        .read(
            provider_denied.ec2(),
            &pricing(&[&no_prices]),
            "us-east-1",
            now,
        )
        .await
        .expect("embedded instance types");
    assert!(
        matches!(&read.source, CatalogSource::Embedded { reason } if reason.contains("DescribeInstanceTypes")),
        "{:?}",
        read.source
    );
    assert!(
        read.instance_types.len() > 100,
        "the whole embedded catalog"
    );
}

/// A price list item as GetProducts answers it (trimmed of attributes Spotter does not read).
fn price_list_item(instance_type: &str, usd: &str) -> String {
    serde_json::json!({
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "instanceType": instance_type,
                "regionCode": "us-east-1",
                "location": "US East (N. Virginia)",
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "marketoption": "OnDemand",
                "servicecode": "AmazonEC2"
            },
            "sku": format!("SKU{instance_type}")
        },
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {"SKU.JRTCKXETXF": {
            "priceDimensions": {"SKU.JRTCKXETXF.6YS6EN2CT7": {
                "unit": "Hrs",
                "endRange": "Inf",
                "description": format!("${usd} per On Demand Linux {instance_type} Instance Hour"),
                "appliesTo": [],
                "rateCode": "SKU.JRTCKXETXF.6YS6EN2CT7",
                "beginRange": "0",
                "pricePerUnit": {"USD": usd}
            }},
            "sku": "SKU",
            "effectiveDate": "2025-12-01T00:00:00Z",
            "offerTermCode": "JRTCKXETXF",
            "termAttributes": {}
        }}},
        "version": "20251201000000",
        "publicationDate": "2025-12-01T00:00:00Z"
    })
    .to_string()
}

/// Whether a GetProducts request asks for the region's Linux, shared-tenancy, on-demand EC2
/// products.
fn asks_for_linux_on_demand(
    input: &aws_sdk_pricing::operation::get_products::GetProductsInput,
) -> bool {
    let has = |field: &str, value: &str| {
        input
            .filters()
            .iter()
            .any(|filter| filter.field() == field && filter.value() == value)
    };
    input.service_code() == Some("AmazonEC2")
        && has("regionCode", "us-east-1")
        && has("operatingSystem", "Linux")
        && has("tenancy", "Shared")
        && has("preInstalledSw", "NA")
        && has("capacitystatus", "Used")
}

#[tokio::test]
async fn on_demand_prices_come_from_the_pricing_api_or_stay_embedded() {
    use aws_sdk_pricing::operation::get_products::{GetProductsError, GetProductsOutput};
    use spotter_aws::catalog::{PriceSource, RegionCatalog};
    use spotter_aws::pricing::PricingFailure;

    let embedded_price = |name: &str| {
        spotter_aws::catalog::embedded_instance_types("us-east-1")
            .expect("embedded")
            .into_iter()
            .find(|instance_type| instance_type.name == name)
            .and_then(|instance_type| {
                instance_type
                    .offerings
                    .into_iter()
                    .find(|offering| offering.capacity_type == CapacityType::OnDemand)
            })
            .map(|offering| offering.price_per_hour)
            .expect("an embedded on-demand price")
    };
    let first_page = || {
        mock!(aws_sdk_pricing::Client::get_products)
            .match_requests(|input| input.next_token().is_none() && asks_for_linux_on_demand(input))
            .then_output(|| {
                GetProductsOutput::builder()
                    .price_list(price_list_item("m5.large", "0.0960000000"))
                    .price_list("{\"product\": {\"attributes\": ")
                    .price_list(price_list_item("c5.large", "not a price"))
                    .next_token("page-2")
                    .build()
            })
    };
    let second_page = || {
        mock!(aws_sdk_pricing::Client::get_products)
            .match_requests(|input| {
                input.next_token() == Some("page-2") && asks_for_linux_on_demand(input)
            })
            .then_output(|| {
                GetProductsOutput::builder()
                    .price_list(price_list_item("m5.xlarge", "0.1920000000"))
                    .build()
            })
    };
    let throttled = || {
        mock!(aws_sdk_pricing::Client::get_products).then_error(|| {
            GetProductsError::ThrottlingException(
                aws_sdk_pricing::types::error::ThrottlingException::builder()
                    .message("Rate exceeded")
                    .meta(
                        aws_sdk_pricing::error::ErrorMetadata::builder()
                            .code("ThrottlingException")
                            .message("Rate exceeded")
                            .build(),
                    )
                    .build(),
            )
        })
    };
    let unreadable = || {
        mock!(aws_sdk_pricing::Client::get_products).then_output(|| {
            GetProductsOutput::builder()
                .price_list("[]")
                .price_list(price_list_item("m5.large", "0"))
                .build()
        })
    };
    let m5_embedded = embedded_price("m5.large");
    let c5_embedded = embedded_price("c5.large");
    let cases: Vec<(&str, Vec<Rule>, PriceSource, [f64; 2])> = vec![
        (
            "two pages, two unreadable products",
            vec![first_page(), second_page()],
            PriceSource::Api {
                instance_types: 2,
                malformed: 2,
            },
            [0.096, c5_embedded],
        ),
        (
            "access denied",
            vec![pricing_denied()],
            PriceSource::Embedded {
                failure: PricingFailure::NotPermitted,
                reason: String::new(),
            },
            [m5_embedded, c5_embedded],
        ),
        (
            "throttled",
            vec![throttled()],
            PriceSource::Embedded {
                failure: PricingFailure::Throttled,
                reason: String::new(),
            },
            [m5_embedded, c5_embedded],
        ),
        (
            "no readable price",
            vec![unreadable()],
            PriceSource::Embedded {
                failure: PricingFailure::NoPrices,
                reason: String::new(),
            },
            [m5_embedded, c5_embedded],
        ),
    ];
    let now = std::time::SystemTime::now();
    for (name, rules, expected_source, [m5_price, c5_price]) in cases {
        let catalog = RegionCatalog::default();
        let denied = mock!(Ec2Client::describe_instance_types).then_error(|| {
            aws_sdk_ec2::operation::describe_instance_types::DescribeInstanceTypesError::generic(
                ErrorMetadata::builder()
                    .code("UnauthorizedOperation")
                    .build(),
            )
        });
        let provider = provider(&[&denied]);
        let rules: Vec<&Rule> = rules.iter().collect();
        let read = catalog
            .read(provider.ec2(), &pricing(&rules), "us-east-1", now)
            .await
            .expect("instance types");
        match (&read.on_demand_prices, &expected_source) {
            (
                PriceSource::Embedded { failure, reason },
                PriceSource::Embedded {
                    failure: expected, ..
                },
            ) => {
                assert_eq!(failure, expected, "{name}: {reason}");
                assert!(!reason.is_empty(), "{name}: the reason is kept");
            }
            (source, expected) => assert_eq!(source, expected, "{name}"),
        }
        for (instance_type, expected) in [("m5.large", m5_price), ("c5.large", c5_price)] {
            let on_demand = read
                .instance_types
                .iter()
                .find(|candidate| candidate.name == instance_type)
                .and_then(|candidate| {
                    candidate
                        .offerings
                        .iter()
                        .find(|offering| offering.capacity_type == CapacityType::OnDemand)
                })
                .map(|offering| (offering.price_per_hour, offering.price_estimated));
            assert_eq!(
                on_demand.map(|(price, _)| price),
                Some(expected),
                "{name}: {instance_type}"
            );
        }
    }
}

#[tokio::test]
async fn a_node_claim_that_has_an_instance_gets_it_back_without_a_fleet() {
    let existing = mock!(Ec2Client::describe_instances).then_output(|| {
        let instance = ec2_types::Instance::builder()
            .instance_id("i-first")
            .instance_type(ec2_types::InstanceType::M5Large)
            .placement(
                ec2_types::Placement::builder()
                    .availability_zone(ZONE_A)
                    .build(),
            )
            .instance_lifecycle(ec2_types::InstanceLifecycleType::Spot)
            .tags(
                ec2_types::Tag::builder()
                    .key("karpenter.sh/nodeclaim")
                    .value("batch-abcde")
                    .build(),
            )
            .build();
        DescribeInstancesOutput::builder()
            .reservations(
                ec2_types::Reservation::builder()
                    .instances(instance)
                    .build(),
            )
            .build()
    });
    let fleet = mock!(Ec2Client::create_fleet).then_output(|| CreateFleetOutput::builder().build());
    let provider = provider(&[&existing, &fleet]);
    let m5 = offering(CapacityType::Spot, "m5.large", ZONE_A);
    let launched = provider
        .create(&launch(std::slice::from_ref(&m5)))
        .await
        .expect("found");
    assert_eq!(launched.instance.id, "i-first");
    assert_eq!(launched.instance.offering, m5);
    assert_eq!(
        launched.instance.price_per_hour, 0.05,
        "the requested price"
    );
    assert_eq!(fleet.num_calls(), 0, "no second launch");
}

#[tokio::test]
async fn describe_cluster_answers_become_settings_or_errors_that_say_what_to_do() {
    use aws_sdk_eks::operation::describe_cluster::{DescribeClusterError, DescribeClusterOutput};
    use aws_sdk_eks::types::{Certificate, Cluster, KubernetesNetworkConfigResponse};
    use spotter_aws::cluster_discovery::{DescribedCluster, DiscoveryError, describe};

    let answered = || {
        mock!(aws_sdk_eks::Client::describe_cluster).then_output(|| {
            DescribeClusterOutput::builder()
                .cluster(
                    Cluster::builder()
                        .endpoint("https://seed.eks.example")
                        .certificate_authority(Certificate::builder().data("Q0E=").build())
                        .kubernetes_network_config(
                            KubernetesNetworkConfigResponse::builder()
                                .service_ipv4_cidr("172.20.0.0/16")
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
    };
    let refused = |code: &'static str| {
        mock!(aws_sdk_eks::Client::describe_cluster).then_error(move || {
            DescribeClusterError::generic(
                ErrorMetadata::builder()
                    .code(code)
                    .message("mocked")
                    .build(),
            )
        })
    };
    let cases: [(&str, Rule, Result<DescribedCluster, &str>); 4] = [
        (
            "answered",
            answered(),
            Ok(DescribedCluster {
                endpoint: Some("https://seed.eks.example".to_string()),
                certificate_authority: Some("Q0E=".to_string()),
                service_cidr: Some("172.20.0.0/16".to_string()),
            }),
        ),
        (
            "no such cluster",
            refused("ResourceNotFoundException"),
            Err("not-found"),
        ),
        (
            "not allowed",
            refused("AccessDeniedException"),
            Err("denied"),
        ),
        ("anything else", refused("ServerException"), Err("call")),
    ];
    for (name, rule, expected) in cases {
        let eks = mock_client!(aws_sdk_eks, RuleMode::MatchAny, [&rule], |config| config
            .region(aws_sdk_eks::config::Region::new("us-east-1"))
            .retry_config(aws_sdk_eks::config::retry::RetryConfig::disabled()));
        let answer = describe(&eks, "seed").await;
        match (answer, expected) {
            (Ok(described), Ok(expected)) => assert_eq!(described, expected, "{name}"),
            (Err(error), Err(kind)) => {
                let message = error.to_string();
                let matched = match (&error, kind) {
                    (DiscoveryError::NotFound { cluster, region }, "not-found") => {
                        cluster == "seed" && region == "us-east-1"
                    }
                    (DiscoveryError::PermissionDenied { .. }, "denied") => {
                        message.contains("eks:DescribeCluster")
                    }
                    (DiscoveryError::Call { .. }, "call") => message.contains("--cluster-endpoint"),
                    _ => false,
                };
                assert!(matched, "{name}: {error:?}");
            }
            (answer, expected) => panic!("{name}: got {answer:?}, expected {expected:?}"),
        }
    }
}
