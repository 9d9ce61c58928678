//! The controller's IAM policy (`docs/iam-policy.json`) allows every call the crate makes,
//! grants mutating actions only on tagged resources, and asks for tags the provider does put.

use std::collections::BTreeMap;

use serde_json::Value;
use spotter_aws::ClusterSettings;
use spotter_aws::cluster_discovery;
use spotter_aws::ec2::OPERATIONS;
use spotter_aws::fleet::launch_tags;
use spotter_aws::instance_profile::instance_profile_tags;
use spotter_aws::interruption_queue;
use spotter_aws::launch_template::template_request;
use spotter_aws::node_class::{Architecture, ResolvedAmi, ResolvedNodeClass};
use spotter_aws::pricing;
use spotter_cloud::{AllocationStrategy, LaunchRequest};

const POLICY: &str = include_str!("../../../docs/iam-policy.json");
const CLUSTER: &str = "seed";

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn statements() -> Vec<Value> {
    let policy: Value = serde_json::from_str(POLICY).expect("docs/iam-policy.json is JSON");
    policy["Statement"]
        .as_array()
        .expect("the policy has statements")
        .clone()
}

fn allowing(action: &str) -> Vec<Value> {
    statements()
        .into_iter()
        .filter(|statement| statement["Effect"] == "Allow")
        .filter(|statement| strings(&statement["Action"]).iter().any(|a| a == action))
        .collect()
}

#[test]
fn every_operation_the_crate_calls_is_allowed() {
    for (operation, action) in OPERATIONS {
        assert!(
            !allowing(action).is_empty(),
            "{operation} needs {action}, which docs/iam-policy.json does not allow"
        );
    }
}

/// The operations the crate's sources name where an SDK call's error is read
/// (`sdk_error("CreateFleet", …)`), which is every call the crate makes.
fn operations_called_in_sources() -> Vec<String> {
    let sources = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut operations = Vec::new();
    for entry in std::fs::read_dir(sources).expect("the crate's sources") {
        let path = entry.expect("a source file").path();
        let text = std::fs::read_to_string(&path).expect("a readable source");
        for piece in text.split("sdk_error(\"").skip(1) {
            if let Some((operation, _)) = piece.split_once('"') {
                operations.push(operation.to_string());
            }
        }
    }
    operations.sort();
    operations.dedup();
    operations
}

#[test]
fn every_call_in_the_sources_is_listed_with_its_action() {
    let listed: Vec<&str> = OPERATIONS
        .iter()
        .chain(&pricing::OPERATIONS)
        .chain(&cluster_discovery::OPERATIONS)
        .chain(&interruption_queue::OPERATIONS)
        .map(|(operation, _)| *operation)
        .collect();
    let called = operations_called_in_sources();
    assert!(called.len() > 20, "the sources were read: {called:?}");
    for operation in called {
        assert!(
            listed.contains(&operation.as_str()),
            "{operation} is called but no OPERATIONS list names it and its IAM action"
        );
    }
}

#[test]
fn the_pricing_api_is_allowed_on_every_resource_as_it_has_no_other() {
    // The Pricing API has no resource-level permissions: Karpenter's policy allows
    // pricing:GetProducts on "*" too.
    for (operation, action) in pricing::OPERATIONS {
        let statements = allowing(action);
        assert!(
            !statements.is_empty(),
            "{operation} needs {action}, which docs/iam-policy.json does not allow"
        );
        for statement in statements {
            assert_eq!(strings(&statement["Resource"]), vec!["*"], "{statement}");
        }
    }
}

#[test]
fn the_cluster_is_described_on_its_own_arn_only() {
    for (operation, action) in cluster_discovery::OPERATIONS {
        let statements = allowing(action);
        assert!(
            !statements.is_empty(),
            "{operation} needs {action}, which docs/iam-policy.json does not allow"
        );
        for statement in statements {
            assert_eq!(
                strings(&statement["Resource"]),
                vec!["arn:aws:eks:${AWS::Region}:${AWS::AccountId}:cluster/${ClusterName}"],
                "{action} is allowed on the cluster only"
            );
        }
    }
}

#[test]
fn the_interruption_queue_calls_are_allowed_on_the_queue_only() {
    for (operation, action) in interruption_queue::OPERATIONS {
        let statements = allowing(action);
        assert!(
            !statements.is_empty(),
            "{operation} needs {action}, which docs/iam-policy.json does not allow"
        );
        for statement in statements {
            let resources = strings(&statement["Resource"]);
            assert!(
                resources.iter().all(
                    |resource| resource.starts_with("arn:aws:sqs:") && !resource.ends_with('*')
                ),
                "{action} must be allowed on the interruption queue's ARN only: {statement}"
            );
        }
    }
}

#[test]
fn mutating_actions_are_scoped_by_tags_or_resources() {
    for action in [
        "ec2:CreateFleet",
        "ec2:CreateLaunchTemplate",
        "ec2:TerminateInstances",
        "ec2:DeleteLaunchTemplate",
        "ec2:CreateTags",
        "iam:CreateInstanceProfile",
        "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:DeleteInstanceProfile",
    ] {
        for statement in allowing(action) {
            let on_everything = strings(&statement["Resource"]).iter().any(|r| r == "*");
            let conditioned = statement["Condition"].is_object();
            assert!(
                !on_everything || conditioned,
                "{action} is allowed on every resource without condition: {statement}"
            );
            let deletes = matches!(
                action,
                "ec2:TerminateInstances" | "ec2:DeleteLaunchTemplate" | "iam:DeleteInstanceProfile"
            );
            if deletes {
                let text = statement["Condition"].to_string();
                assert!(
                    text.contains("aws:ResourceTag/kubernetes.io/cluster/${ClusterName}"),
                    "{action} must be scoped to the cluster's resources: {statement}"
                );
            }
        }
    }
}

/// The request tags a statement's conditions require, with the cluster name filled in.
fn required_request_tags(statement: &Value) -> BTreeMap<String, Vec<String>> {
    let mut required = BTreeMap::new();
    for (_, conditions) in statement["Condition"].as_object().into_iter().flatten() {
        for (key, values) in conditions.as_object().into_iter().flatten() {
            if let Some(tag) = key.strip_prefix("aws:RequestTag/") {
                required.insert(
                    tag.replace("${ClusterName}", CLUSTER),
                    strings(values)
                        .into_iter()
                        .map(|value| value.replace("${ClusterName}", CLUSTER))
                        .collect(),
                );
            }
        }
    }
    required
}

fn satisfies(
    tags: &BTreeMap<String, String>,
    required: &BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    for (key, values) in required {
        let Some(value) = tags.get(key) else {
            return Err(format!("tag {key} is missing"));
        };
        if !values
            .iter()
            .any(|allowed| allowed == "*" || allowed == value)
        {
            return Err(format!("tag {key}={value} is not one of {values:?}"));
        }
    }
    Ok(())
}

#[test]
fn the_tags_the_provider_puts_satisfy_the_policy_conditions() {
    let cluster = ClusterSettings::new(CLUSTER, "https://seed", "Q0E=", "10.100.0.0/16", "1.34");
    let node_class = ResolvedNodeClass {
        name: "default".to_string(),
        subnets: vec![],
        security_group_ids: vec![],
        amis: vec![],
        instance_profile: "KarpenterNodeRole-seed".to_string(),
        user_data: None,
        block_devices: vec![],
        metadata: Default::default(),
        detailed_monitoring: false,
        tags: BTreeMap::new(),
    };
    let request = LaunchRequest {
        node_claim: "batch-abcde".to_string(),
        node_pool: "batch".to_string(),
        node_class: "default".to_string(),
        offerings: vec![],
        allocation: AllocationStrategy::Prioritized,
        labels: BTreeMap::new(),
        taints: vec![],
    };
    let fleet_tags = launch_tags(&cluster, &node_class, &request);
    let ami = ResolvedAmi {
        id: "ami-1".to_string(),
        architecture: Architecture::Amd64,
    };
    let template_tags = template_request(&cluster, &node_class, &ami, &BTreeMap::new(), &[])
        .expect("template built")
        .tags;
    let profile_tags = instance_profile_tags(&cluster, "default");
    let cases = [
        ("iam:CreateInstanceProfile", &profile_tags),
        ("ec2:CreateFleet", &fleet_tags),
        ("ec2:CreateLaunchTemplate", &template_tags),
        ("ec2:CreateTags", &fleet_tags),
        ("ec2:CreateTags", &template_tags),
    ];
    for (action, tags) in cases {
        let conditioned: Vec<Value> = allowing(action)
            .into_iter()
            .filter(|statement| !required_request_tags(statement).is_empty())
            .collect();
        assert!(
            !conditioned.is_empty(),
            "{action} has a statement scoped by request tags"
        );
        for statement in conditioned {
            let required = required_request_tags(&statement);
            if let Err(problem) = satisfies(tags, &required) {
                panic!("{action}: {problem} (statement {})", statement["Sid"]);
            }
        }
    }
}
