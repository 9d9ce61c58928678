//! `spotter plan` end to end: the seed example, its Spot fallback, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed")
}

fn spotter(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spotter"))
        .args(arguments)
        .env_remove("AWS_REGION")
        .output()
        .unwrap_or_else(|error| panic!("failed to run spotter: {error}"))
}

fn plan_json(extra: &[&str]) -> Value {
    let seed = seed();
    let mut arguments = vec![
        "plan",
        "-f",
        seed.to_str().unwrap_or_default(),
        "--region",
        "ap-northeast-2",
        "-o",
        "json",
    ];
    arguments.extend_from_slice(extra);
    let output = spotter(&arguments);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("not JSON: {error}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn seed_pods_launch_on_spot_in_the_batch_pool() {
    let plan = plan_json(&[]);
    let claims = plan["nodeClaims"].as_array().cloned().unwrap_or_default();
    assert!(!claims.is_empty());
    let mut pods = 0;
    for claim in &claims {
        assert_eq!(claim["nodePool"], "batch", "{claim}");
        assert_eq!(strings(&claim["capacityTypes"]), ["spot"]);
        assert_eq!(claim["launch"]["capacityType"], "spot");
        let instance_types = strings(&claim["instanceTypes"]);
        assert!(!instance_types.is_empty() && instance_types.len() <= 60);
        assert_eq!(claim["launch"]["instanceType"], instance_types[0]);
        assert!(
            claim["launch"]["zone"]
                .as_str()
                .is_some_and(|zone| zone.starts_with("ap-northeast-2"))
        );
        assert!(
            claim["launch"]["pricePerHour"]
                .as_f64()
                .is_some_and(|price| price > 0.0)
        );
        pods += claim["pods"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(pods, 21, "the seed Pod and the 20 Deployment replicas");
    assert!(
        strings(&plan["nodeClaims"][0]["pods"])
            .iter()
            .all(|pod| pod.starts_with("default/"))
    );
    assert_eq!(plan["existingNodes"], Value::Array(Vec::new()));
    assert_eq!(plan["unschedulable"], Value::Array(Vec::new()));
}

#[test]
fn seed_falls_back_to_on_demand_when_spot_is_out() {
    let plan = plan_json(&["--unavailable", "capacity-type=spot"]);
    let claims = plan["nodeClaims"].as_array().cloned().unwrap_or_default();
    assert!(!claims.is_empty());
    for claim in &claims {
        assert_eq!(claim["nodePool"], "batch-fallback", "{claim}");
        assert_eq!(claim["launch"]["capacityType"], "on-demand");
    }
    assert_eq!(plan["unschedulable"], Value::Array(Vec::new()));
}

#[test]
fn one_unavailable_offering_moves_the_launch_elsewhere() {
    let first = plan_json(&[]);
    let launch = &first["nodeClaims"][0]["launch"];
    let selector = format!(
        "instance-type={},zone={},capacity-type=spot",
        launch["instanceType"].as_str().unwrap_or_default(),
        launch["zone"].as_str().unwrap_or_default()
    );
    let second = plan_json(&["--unavailable", &selector]);
    let moved = &second["nodeClaims"][0]["launch"];
    assert_eq!(moved["capacityType"], "spot");
    assert!(
        moved["instanceType"] != launch["instanceType"] || moved["zone"] != launch["zone"],
        "{moved}"
    );
}

#[test]
fn table_and_yaml_outputs_work() {
    let seed = seed();
    let table = spotter(&[
        "plan",
        "-f",
        seed.to_str().unwrap_or_default(),
        "--region",
        "ap-northeast-2",
    ]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("21 pending pods in ap-northeast-2"), "{text}");
    assert!(text.contains("New NodeClaims"), "{text}");
    let yaml = spotter(&[
        "plan",
        "-f",
        seed.to_str().unwrap_or_default(),
        "--region",
        "ap-northeast-2",
        "-o",
        "yaml",
    ]);
    assert!(yaml.status.success());
    assert!(String::from_utf8_lossy(&yaml.stdout).contains("nodeClaims:"));
}

#[test]
fn bad_input_exits_with_code_2_and_says_what_is_wrong() {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let write = |name: &str, text: &str| {
        let path = folder.path().join(name);
        std::fs::write(&path, text).unwrap_or_else(|error| panic!("{error}"));
        path.to_string_lossy().into_owned()
    };
    let not_yaml = write("not-yaml.yaml", "kind: [oops\n");
    let unknown_kind = write(
        "service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
    );
    let bad_pool = write(
        "pool.yaml",
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: p}\nspec:\n  weight: 0\n  template:\n    spec:\n      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: d}\n",
    );
    let seed = seed();
    let seed = seed.to_str().unwrap_or_default();
    let cases: &[(&str, Vec<&str>, &[&str])] = &[
        (
            "not yaml",
            vec!["plan", "-f", &not_yaml],
            &["not-yaml.yaml", "document 1", "failed to parse YAML"],
        ),
        (
            "unknown kind",
            vec!["plan", "-f", &unknown_kind],
            &["service.yaml", "unknown kind \"Service\""],
        ),
        (
            "invalid NodePool",
            vec!["plan", "-f", &bad_pool],
            &["pool.yaml", "NodePool \"p\"", "spec.weight"],
        ),
        (
            "missing file",
            vec!["plan", "-f", "/nonexistent/x.yaml"],
            &["no such file"],
        ),
        (
            "unknown region",
            vec!["plan", "-f", seed, "--region", "mars-1"],
            &["unknown region \"mars-1\"", "us-east-1"],
        ),
        (
            "bad selector",
            vec!["plan", "-f", seed, "--unavailable", "capacity=spot"],
            &["--unavailable", "unknown key"],
        ),
        (
            "unknown instance type",
            vec![
                "plan",
                "-f",
                seed,
                "--unavailable",
                "instance-type=m99.huge",
            ],
            &["m99.huge"],
        ),
    ];
    for (name, arguments, expected) in cases {
        let output = spotter(arguments);
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for text in *expected {
            assert!(stderr.contains(text), "{name}: {stderr:?} lacks {text:?}");
        }
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn unschedulable_pods_exit_with_code_4_and_warnings_name_file_and_field() {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let seed = seed();
    for name in ["nodepools.yaml", "ec2nodeclass.yaml", "pod.yaml"] {
        std::fs::copy(seed.join(name), folder.path().join(name))
            .unwrap_or_else(|error| panic!("{error}"));
    }
    std::fs::write(folder.path().join("empty.yaml"), "# nothing yet\n")
        .unwrap_or_else(|error| panic!("{error}"));
    let pools = std::fs::read_to_string(seed.join("nodepools.yaml"))
        .unwrap_or_else(|error| panic!("{error}"));
    let with_zone = pools.replacen(
        "        - key: kubernetes.io/arch",
        "        - key: topology.kubernetes.io/zone\n          operator: In\n          values: [\"ap-northeast-2a\", \"ap-northeast-2z\"]\n        - key: kubernetes.io/arch",
        1,
    );
    std::fs::write(folder.path().join("nodepools.yaml"), &with_zone)
        .unwrap_or_else(|error| panic!("{error}"));
    let folder_path = folder.path().to_str().unwrap_or_default();
    let arguments = [
        "plan",
        "-f",
        folder_path,
        "--region",
        "ap-northeast-2",
        "-o",
        "json",
    ];

    let output = spotter(&arguments);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: ") && stderr.contains("empty.yaml: the file is empty"),
        "{stderr}"
    );
    let zone_warning = stderr
        .lines()
        .find(|line| line.contains("ap-northeast-2z"))
        .unwrap_or_else(|| panic!("no warning about the unknown zone: {stderr}"));
    assert!(zone_warning.starts_with("warning: "), "{zone_warning}");
    assert!(zone_warning.contains("nodepools.yaml:"), "{zone_warning}");
    assert!(
        zone_warning.contains("field spec.template.spec.requirements[1].values[1]"),
        "{zone_warning}"
    );
    assert!(zone_warning.contains("ap-northeast-2a"), "{zone_warning}");

    // No capacity at all: the pod is unschedulable, the plan is printed, the exit code is 4.
    let mut arguments = arguments.to_vec();
    arguments.extend([
        "--unavailable",
        "capacity-type=spot,capacity-type=on-demand",
    ]);
    let output = spotter(&arguments);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    let plan: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("the plan is still printed: {error}"));
    assert_eq!(plan["summary"]["unschedulablePods"], 1, "{plan}");
}
