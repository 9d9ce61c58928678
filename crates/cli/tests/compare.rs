//! `spotter simulate --policy` and `--compare` end to end: both runs in one report with the
//! same seed, the side-by-side text, and the usage errors.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn spotter(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spotter"))
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("failed to run spotter: {error}"))
}

fn simulate(out: &Path, extra: &[&str]) -> Output {
    let out = out.to_str().expect("a UTF-8 temporary path");
    let mut arguments = vec!["simulate", "--out", out];
    arguments.extend_from_slice(extra);
    spotter(&arguments)
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn compare_reports_both_policies_with_the_same_seed() {
    let out = tempfile::tempdir().expect("a temporary folder");
    let output = simulate(
        out.path(),
        &["--compare", "karpenter", "--duration", "6h", "-o", "json"],
    );
    assert_success(&output);
    let written = std::fs::read(out.path().join("report.json")).expect("report.json written");
    assert_eq!(written, output.stdout, "stdout is report.json");
    let comparison: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    for key in ["scenario", "region", "seed", "durationHours", "policies"] {
        assert!(comparison.get(key).is_some(), "missing {key}");
    }
    assert_eq!(comparison["durationHours"], 6.0);
    let policies = comparison["policies"]
        .as_object()
        .expect("policies is an object");
    let names: Vec<&String> = policies.keys().collect();
    assert_eq!(names, ["karpenter", "spotter"]);
    for (name, report) in policies {
        assert_eq!(report["policy"], name.as_str());
        assert_eq!(report["seed"], comparison["seed"], "{name}: same seed");
        assert_eq!(report["scenario"], comparison["scenario"], "{name}");
        assert_eq!(report["durationHours"], 6.0, "{name}");
        let summary = &report["summary"];
        for field in [
            "spotShareOfNodeHours",
            "costUsd",
            "fallbacks",
            "podsLost",
            "returnsToSpot",
            "fallbackNodeHours",
        ] {
            assert!(summary[field].is_number(), "{name}: summary.{field}");
        }
        for spread in ["timeToFallbackSeconds", "timeToReturnSeconds"] {
            for part in ["p50", "max", "count"] {
                assert!(
                    summary[spread][part].is_number(),
                    "{name}: summary.{spread}.{part}"
                );
            }
        }
        let node_pools = report["nodePools"].as_array().expect("nodePools");
        assert!(!node_pools.is_empty(), "{name}");
        for node_pool in node_pools {
            assert!(node_pool["returnsToSpot"].is_number(), "{name}");
            assert!(node_pool["fallbackNodeHours"].is_number(), "{name}");
        }
    }
    let html = std::fs::read_to_string(out.path().join("report.html")).expect("report.html");
    for needle in [
        "Spotter comparison: ",
        "spotter − karpenter",
        "<h2>Event timeline, spotter</h2>",
        "<h2>Event timeline, karpenter</h2>",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle:?}");
    }
}

#[test]
fn compare_prints_the_side_by_side_table() {
    let out = tempfile::tempdir().expect("a temporary folder");
    let output = simulate(
        out.path(),
        &[
            "--policy",
            "karpenter",
            "--compare",
            "spotter",
            "--duration",
            "1h",
        ],
    );
    assert_success(&output);
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "spotter and karpenter side by side",
        "\nspotter: Spot share ",
        "\nkarpenter: Spot share ",
        "Side by side",
        "spotter − karpenter",
        "Time to return p50",
        "NodePools, spotter",
        "NodePools, karpenter",
        "Simulated 1 h under spotter and karpenter",
    ] {
        assert!(text.contains(needle), "missing {needle:?}:\n{text}");
    }
}

#[test]
fn policy_karpenter_runs_one_report() {
    let out = tempfile::tempdir().expect("a temporary folder");
    let output = simulate(
        out.path(),
        &["--policy", "karpenter", "--duration", "1h", "-o", "json"],
    );
    assert_success(&output);
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(report["policy"], "karpenter");
    assert!(report.get("policies").is_none());
}

#[test]
fn bad_policy_flags_are_usage_errors() {
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["--compare", "spotter"],
            &[
                "--compare spotter",
                "--policy spotter",
                "--compare karpenter",
            ],
        ),
        (
            &["--policy", "karpenter", "--compare", "karpenter"],
            &["--compare karpenter", "--compare spotter"],
        ),
        (
            &["--policy", "bogus"],
            &["bogus", "possible values: spotter, karpenter"],
        ),
        (
            &["--compare", "nope"],
            &["nope", "possible values: spotter, karpenter"],
        ),
    ];
    for (flags, messages) in cases {
        let out = tempfile::tempdir().expect("a temporary folder");
        let output = simulate(out.path(), flags);
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for message in messages {
            assert!(stderr.contains(message), "{flags:?}: {stderr}");
        }
        assert!(
            !out.path().join("report.json").exists(),
            "{flags:?}: nothing is simulated"
        );
    }
}

/// Guards item 5 of issue 15: a run whose pods wait longer than the scenario's
/// `pendingThreshold` exits with 5 (the report written, the reason on stderr), alone and under
/// `--compare`; the same run with a threshold it meets exits 0.
#[test]
fn pods_waiting_beyond_the_threshold_exit_with_5() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed");
    let scenario = |threshold: &str| {
        format!(
            "name: giant
region: ap-northeast-2
duration: 1h
pendingThreshold: {threshold}
manifests: [{seed}/nodepools.yaml, {seed}/ec2nodeclass.yaml]
workloads:
  - deployment:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {{name: giant}}
      spec:
        selector: {{matchLabels: {{app: giant}}}}
        template:
          metadata: {{labels: {{app: giant}}}}
          spec: {{containers: [{{name: c, image: x, resources: {{requests: {{cpu: '500'}}}}}}]}}
    replicas: 2
",
            seed = seed.display()
        )
    };
    for (threshold, extra, code) in [
        ("15m", &[][..], 5),
        ("15m", &["--compare", "karpenter"][..], 5),
        ("2h", &[][..], 0),
    ] {
        let file = folder.path().join(format!("giant-{threshold}.yaml"));
        std::fs::write(&file, scenario(threshold)).expect("the scenario is written");
        let out = folder
            .path()
            .join(format!("out-{threshold}-{}", extra.len()));
        let mut arguments = vec![file.to_str().expect("a UTF-8 temporary path")];
        arguments.extend_from_slice(extra);
        let output = simulate(&out, &arguments);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{threshold} {extra:?}: {stderr}"
        );
        assert!(out.join("report.json").exists(), "{threshold} {extra:?}");
        if code == 5 {
            assert!(
                stderr.contains("2 pod(s) waited longer than the pending threshold (15m)"),
                "{stderr}"
            );
        }
    }
}
