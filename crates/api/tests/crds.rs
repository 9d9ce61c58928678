//! The CRD types against the manifest reader and the generated CRDs' shape: every example
//! NodePool and EC2NodeClass reads both with the reader (`Manifests`) and as the CRD's object
//! type; the CRDs carry Karpenter's names, status subresources, printer columns, and the CEL
//! rules built from the core's label lists. (That the API server enforces them is
//! `crates/cli/tests/crds_control_plane.rs`.)

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;
use spotter_api::Manifests;
use spotter_api::crd::{self, ec2_node_class::Ec2NodeClass, node_pool::NodePool};
use spotter_test_support::examples::karpenter_manifests;

#[test]
fn every_example_reads_with_the_reader_and_as_the_crd_type() {
    let examples = karpenter_manifests().expect("the examples are readable");
    assert!(examples.len() >= 3, "found only {examples:?}");
    for example in &examples {
        let mut manifests = Manifests::default();
        manifests
            .add(&example.source, &example.yaml)
            .unwrap_or_else(|error| panic!("the reader refused {}: {error}", example.source));
        match example.kind.as_str() {
            "NodePool" => {
                let pool: NodePool = serde_yaml_ng::from_str(&example.yaml)
                    .unwrap_or_else(|error| panic!("{} as a NodePool: {error}", example.source));
                assert_eq!(
                    manifests.node_pools[0].name,
                    pool.metadata.name.unwrap_or_default(),
                    "{}",
                    example.source
                );
            }
            "EC2NodeClass" => {
                let class: Ec2NodeClass =
                    serde_yaml_ng::from_str(&example.yaml).unwrap_or_else(|error| {
                        panic!("{} as an EC2NodeClass: {error}", example.source)
                    });
                assert_eq!(
                    manifests.node_classes[0],
                    class.metadata.name.unwrap_or_default(),
                    "{}",
                    example.source
                );
                assert!(
                    !class.spec.ami_selector_terms.is_empty()
                        && class.spec.role.is_some() != class.spec.instance_profile.is_some(),
                    "{}",
                    example.source
                );
            }
            other => panic!("unexpected kind {other}"),
        }
    }
}

fn crds() -> Vec<Value> {
    crd::all()
        .expect("the CRDs generate")
        .into_iter()
        .map(|crd: CustomResourceDefinition| serde_json::to_value(crd).expect("a CRD is JSON"))
        .collect()
}

#[test]
fn the_crds_have_karpenters_names_subresources_and_printer_columns() {
    // (name, kind, scope, short names, printer columns)
    let expected: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "nodepools.karpenter.sh",
            "NodePool",
            &[],
            &[
                "NodeClass",
                "Nodes",
                "Ready",
                "Age",
                "Weight",
                "CPU",
                "Memory",
            ],
        ),
        (
            "nodeclaims.karpenter.sh",
            "NodeClaim",
            &[],
            &[
                "Type",
                "Capacity",
                "Zone",
                "Node",
                "Ready",
                "Age",
                "ImageID",
                "ID",
                "NodePool",
                "NodeClass",
                "Drifted",
            ],
        ),
        (
            "ec2nodeclasses.karpenter.k8s.aws",
            "EC2NodeClass",
            &["ec2nc", "ec2ncs"],
            &["Ready", "Age", "Role"],
        ),
    ];
    let crds = crds();
    assert_eq!(crds.len(), expected.len());
    for (crd, (name, kind, short_names, columns)) in crds.iter().zip(expected) {
        assert_eq!(crd["metadata"]["name"], *name);
        assert_eq!(crd["spec"]["names"]["kind"], *kind, "{name}");
        assert_eq!(crd["spec"]["scope"], "Cluster", "{name}");
        assert_eq!(
            crd["spec"]["names"]["categories"],
            serde_json::json!(["karpenter"]),
            "{name}"
        );
        let found_short: Vec<&str> = crd["spec"]["names"]["shortNames"]
            .as_array()
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(found_short, *short_names, "{name}");
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1", "{name}");
        assert_eq!(
            version["subresources"]["status"],
            serde_json::json!({}),
            "{name}"
        );
        let found_columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .expect("printer columns")
            .iter()
            .filter_map(|column| column["name"].as_str())
            .collect();
        assert_eq!(found_columns, *columns, "{name}");
    }
}

/// Every `x-kubernetes-validations` message in a schema, with the path to it.
fn messages(schema: &Value, path: &str, found: &mut Vec<(String, String)>) {
    if let Some(object) = schema.as_object() {
        for rule in object
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let message = rule["message"].as_str().unwrap_or_default().to_string();
            found.push((path.to_string(), message));
        }
        for (key, child) in object
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            messages(child, &format!("{path}.{key}"), found);
        }
        if let Some(items) = object.get("items") {
            messages(items, &format!("{path}[]"), found);
        }
    }
}

#[test]
fn the_rules_sit_where_karpenter_has_them() {
    // (CRD index, field path, a message that must be among the field's rules)
    let cases: &[(usize, &str, &str)] = &[
        (
            0,
            ".spec.template.spec.requirements",
            "label domain \"karpenter.sh\" is restricted",
        ),
        (
            0,
            ".spec.template.spec.requirements",
            "label \"karpenter.sh/nodepool\" is restricted",
        ),
        (
            0,
            ".spec.template.spec.requirements",
            "requirements with operator 'In' must have a value defined",
        ),
        (
            0,
            ".spec.template.metadata.labels",
            "label domain \"kubernetes.io\" is restricted",
        ),
        (
            0,
            ".spec.template.spec.nodeClassRef",
            "nodeClassRef.group is immutable",
        ),
        (
            0,
            ".spec.disruption.budgets",
            "'schedule' must be set with 'duration'",
        ),
        (1, ".spec", "spec is immutable"),
        (
            1,
            ".spec.requirements",
            "label domain \"k8s.io\" is restricted",
        ),
        (
            2,
            ".spec",
            "must specify exactly one of ['role', 'instanceProfile']",
        ),
        (
            2,
            ".spec.amiSelectorTerms",
            "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms",
        ),
        (2, ".spec.role", "immutable field changed"),
    ];
    let crds = crds();
    let mut found = Vec::new();
    for crd in &crds {
        let mut in_crd = Vec::new();
        messages(
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            "",
            &mut in_crd,
        );
        found.push(in_crd);
    }
    for (index, path, message) in cases {
        assert!(
            found[*index]
                .iter()
                .any(|(at, text)| at == path && text == message),
            "{path}: no rule {message:?} in CRD {index}"
        );
    }
    // NodeClaims carry their pool's karpenter.sh/nodepool requirement.
    assert!(
        !found[1]
            .iter()
            .any(|(_, text)| text == "label \"karpenter.sh/nodepool\" is restricted"),
        "a NodeClaim may require karpenter.sh/nodepool"
    );
}

#[test]
fn no_schema_keeps_what_structural_schemas_forbid() {
    fn walk(value: &Value, path: &str, problems: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if object.contains_key("nullable") {
                    problems.push(format!("{path}: nullable"));
                }
                if object.get("additionalProperties") == Some(&Value::Bool(false)) {
                    problems.push(format!("{path}: additionalProperties: false"));
                }
                if object.get("default").is_some_and(|value| {
                    value.is_null() || value == "" || value == &serde_json::json!({})
                }) {
                    problems.push(format!("{path}: empty default"));
                }
                for (key, child) in object {
                    if key != "default" && key != "x-kubernetes-validations" && key != "enum" {
                        walk(child, &format!("{path}.{key}"), problems);
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{index}]"), problems);
                }
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    for crd in crds() {
        walk(
            &crd["spec"]["versions"][0]["schema"],
            &crd["metadata"]["name"].to_string(),
            &mut problems,
        );
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
