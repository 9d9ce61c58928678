//! `spotter crds` on a real control plane (etcd, kube-apiserver, kube-scheduler,
//! kube-controller-manager from `KUBEBUILDER_ASSETS`, see `spotter-test-support`): the CRDs
//! it prints install with `kubectl apply` and become Established; every example NodePool and
//! EC2NodeClass applies unchanged, with Karpenter's defaults filled in; bad manifests are refused
//! by the API server with Karpenter's message (or a clearer one); immutable fields stay so;
//! `kubectl get nodepools,nodeclaims` shows Karpenter's printer columns.
//!
//! One control plane serves every case (one test); without the binaries the test fails under
//! `CI=true` and is skipped otherwise.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use spotter_test_support::examples::karpenter_manifests;
use spotter_test_support::{ControlPlane, Kubectl};

const CRD_NAMES: &[&str] = &[
    "nodepools.karpenter.sh",
    "nodeclaims.karpenter.sh",
    "ec2nodeclasses.karpenter.k8s.aws",
];

#[test]
fn crds_install_and_validate_on_a_real_control_plane() -> Result<()> {
    let started = Instant::now();
    let Some(plane) =
        ControlPlane::start_or_skip("crds_install_and_validate_on_a_real_control_plane")?
    else {
        return Ok(());
    };
    eprintln!("control plane ready in {:.1?}", plane.startup_time());
    let kubectl = plane.kubectl();

    crds_become_established(&kubectl)?;
    examples_apply_unchanged(&kubectl)?;
    defaults_are_filled_in(&kubectl)?;
    bad_manifests_are_refused(&kubectl)?;
    label_keys_are_judged_as_the_reader_judges_them(&kubectl)?;
    immutable_fields_stay(&kubectl)?;
    printer_columns_are_karpenters(&kubectl)?;
    eprintln!("all cases done in {:.1?}", started.elapsed());
    Ok(())
}

fn crds_become_established(kubectl: &Kubectl) -> Result<()> {
    let output = Command::new(env!("CARGO_BIN_EXE_spotter"))
        .arg("crds")
        .output()
        .context("failed to run spotter crds")?;
    ensure!(
        output.status.success(),
        "spotter crds failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stream = String::from_utf8(output.stdout).context("spotter crds printed non-UTF-8")?;
    kubectl
        .apply(&stream)
        .context("kubectl apply of spotter crds")?;
    for name in CRD_NAMES {
        kubectl
            .run(
                &[
                    "wait",
                    "--for=condition=Established",
                    "--timeout=60s",
                    &format!("crd/{name}"),
                ],
                None,
            )
            .with_context(|| format!("{name} did not become Established"))?;
    }
    Ok(())
}

fn examples_apply_unchanged(kubectl: &Kubectl) -> Result<()> {
    let examples = karpenter_manifests()?;
    ensure!(
        examples
            .iter()
            .filter(|example| example.kind == "NodePool")
            .count()
            >= 2
            && examples
                .iter()
                .any(|example| example.kind == "EC2NodeClass"),
        "expected the seed's NodePools and EC2NodeClass among the examples, found {:?}",
        examples
            .iter()
            .map(|example| &example.source)
            .collect::<Vec<_>>()
    );
    // The seed's objects are created; the scenarios' (which reuse the seed's names for other
    // objects) are created under names of their own, with a server-side dry run.
    for (index, example) in examples.iter().enumerate() {
        let result = if example.source.starts_with("examples/seed/") {
            kubectl.apply(&example.yaml)
        } else {
            let mut manifest: serde_yaml_ng::Value = serde_yaml_ng::from_str(&example.yaml)?;
            manifest["metadata"]["name"] = format!("scenario-example-{index}").into();
            let renamed = serde_yaml_ng::to_string(&manifest)?;
            kubectl.run(&["create", "--dry-run=server", "-f", "-"], Some(&renamed))
        };
        result.with_context(|| format!("{} was refused", example.source))?;
    }
    Ok(())
}

fn defaults_are_filled_in(kubectl: &Kubectl) -> Result<()> {
    let cases = [
        (
            "nodepool/batch",
            "{.spec.disruption.budgets[0].nodes}",
            "10%",
        ),
        (
            "nodepool/batch",
            "{.spec.template.spec.expireAfter}",
            "720h",
        ),
        (
            "nodepool/batch",
            "{.spec.disruption.consolidateAfter}",
            "1m",
        ),
        (
            "ec2nodeclass/default",
            "{.spec.metadataOptions.httpTokens}",
            "required",
        ),
        (
            "ec2nodeclass/default",
            "{.spec.metadataOptions.httpPutResponseHopLimit}",
            "1",
        ),
    ];
    for (object, path, expected) in cases {
        let value = kubectl.run(&["get", object, "-o", &format!("jsonpath={path}")], None)?;
        ensure!(
            value == expected,
            "{object} {path}: expected {expected:?}, got {value:?}"
        );
    }
    let policy = kubectl.run(
        &[
            "create",
            "--dry-run=server",
            "-o",
            "jsonpath={.spec.disruption.consolidationPolicy}",
            "-f",
            "-",
        ],
        Some(&node_pool("defaults", "")),
    )?;
    ensure!(
        policy == "WhenEmptyOrUnderutilized",
        "default consolidationPolicy: got {policy:?}"
    );
    Ok(())
}

/// A NodePool named `name` with `extra` spliced into its spec (indented two spaces).
fn node_pool(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: {name}
spec:
{extra}  template:
    spec:
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
      requirements:
        - {{key: karpenter.sh/capacity-type, operator: In, values: [spot]}}
"
    )
}

/// A NodePool whose only requirement is `requirement`.
fn node_pool_requiring(requirement: &str) -> String {
    format!(
        "apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: bad-requirement
spec:
  template:
    spec:
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
      requirements:
        - {requirement}
"
    )
}

/// An EC2NodeClass with `spec` as its spec.
fn node_class(spec: &str) -> String {
    format!(
        "apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: bad-class
spec:
{spec}"
    )
}

const GOOD_SELECTORS: &str = "  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: seed}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: seed}}]
";

fn bad_manifests_are_refused(kubectl: &Kubectl) -> Result<()> {
    let node_class_with = |extra: &str| node_class(&format!("{GOOD_SELECTORS}{extra}"));
    // (case, manifest, a stable part of the API server's message)
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "weight above 100",
            node_pool("heavy", "  weight: 500\n"),
            "should be less than or equal to 100",
        ),
        (
            "weight 0",
            node_pool("light", "  weight: 0\n"),
            "should be greater than or equal to 1",
        ),
        (
            "unknown operator",
            node_pool_requiring("{key: team, operator: Foo, values: [a]}"),
            "Unsupported value: \"Foo\"",
        ),
        (
            "In without values",
            node_pool_requiring("{key: team, operator: In}"),
            "requirements with operator 'In' must have a value defined",
        ),
        (
            "In with empty values",
            node_pool_requiring("{key: team, operator: In, values: []}"),
            "requirements with operator 'In' must have a value defined",
        ),
        (
            "Exists with values",
            node_pool_requiring("{key: team, operator: Exists, values: [a]}"),
            "requirements with operator 'Exists' or 'DoesNotExist' must not have values",
        ),
        (
            "Gt with two values",
            node_pool_requiring("{key: karpenter.k8s.aws/instance-generation, operator: Gt, values: ['4', '5']}"),
            "requirements operator 'Gt' or 'Lt' must have a single positive integer value",
        ),
        (
            "Lt with a word",
            node_pool_requiring("{key: karpenter.k8s.aws/instance-cpu, operator: Lt, values: [many]}"),
            "requirements operator 'Gt' or 'Lt' must have a single positive integer value",
        ),
        (
            "minValues above the values",
            node_pool_requiring("{key: team, operator: In, values: [a], minValues: 2}"),
            "requirements with 'minValues' must have at least that many values specified",
        ),
        (
            "karpenter.sh domain in requirements",
            node_pool_requiring("{key: karpenter.sh/foo, operator: Exists}"),
            "label domain \"karpenter.sh\" is restricted",
        ),
        (
            "kubernetes.io domain in requirements",
            node_pool_requiring("{key: kubernetes.io/foo, operator: Exists}"),
            "label domain \"kubernetes.io\" is restricted",
        ),
        (
            "k8s.io domain in requirements",
            node_pool_requiring("{key: k8s.io/foo, operator: Exists}"),
            "label domain \"k8s.io\" is restricted",
        ),
        (
            "karpenter.k8s.aws domain in requirements",
            node_pool_requiring("{key: karpenter.k8s.aws/foo, operator: Exists}"),
            "label domain \"karpenter.k8s.aws\" is restricted",
        ),
        (
            "hostname in requirements",
            node_pool_requiring("{key: kubernetes.io/hostname, operator: Exists}"),
            "label \"kubernetes.io/hostname\" is restricted",
        ),
        (
            "nodepool label in the template",
            node_pool("labelled", "").replace(
                "    spec:\n      nodeClassRef",
                "    metadata:\n      labels: {karpenter.sh/nodepool: other}\n    spec:\n      nodeClassRef",
            ),
            "label \"karpenter.sh/nodepool\" is restricted",
        ),
        (
            "kubernetes.io label in the template",
            node_pool("labelled", "").replace(
                "    spec:\n      nodeClassRef",
                "    metadata:\n      labels: {kubernetes.io/team: a}\n    spec:\n      nodeClassRef",
            ),
            "label domain \"kubernetes.io\" is restricted",
        ),
        (
            "budget of 110%",
            node_pool("budgeted", "  disruption:\n    budgets: [{nodes: 110%}]\n"),
            "spec.disruption.budgets[0].nodes: Invalid value: \"110%\"",
        ),
        (
            "budget schedule without a duration",
            node_pool("budgeted", "  disruption:\n    budgets: [{nodes: '1', schedule: '@daily'}]\n"),
            "'schedule' must be set with 'duration'",
        ),
        (
            "consolidateAfter that is not a duration",
            node_pool("consolidating", "  disruption:\n    consolidateAfter: soon\n"),
            "spec.disruption.consolidateAfter: Invalid value: \"soon\"",
        ),
        (
            "unknown consolidation policy",
            node_pool("consolidating", "  disruption:\n    consolidationPolicy: WhenUnderutilized\n"),
            "Unsupported value: \"WhenUnderutilized\"",
        ),
        (
            "expireAfter in days",
            node_pool("expiring", "").replace("      nodeClassRef", "      expireAfter: 30d\n      nodeClassRef"),
            "spec.template.spec.expireAfter: Invalid value: \"30d\"",
        ),
        (
            "nodeClassRef without a group",
            node_pool("unreferenced", "").replace("group: karpenter.k8s.aws, ", ""),
            "spec.template.spec.nodeClassRef.group: Required value",
        ),
        (
            "taint with an unknown effect",
            node_pool("tainted", "").replace(
                "      nodeClassRef",
                "      taints: [{key: dedicated, effect: NoWay}]\n      nodeClassRef",
            ),
            "Unsupported value: \"NoWay\"",
        ),
        (
            "role and instanceProfile both set",
            node_class_with("  role: KarpenterNodeRole\n  instanceProfile: KarpenterProfile\n"),
            "must specify exactly one of ['role', 'instanceProfile']",
        ),
        (
            "neither role nor instanceProfile",
            node_class(GOOD_SELECTORS),
            "must specify exactly one of ['role', 'instanceProfile']",
        ),
        (
            "empty subnet selector term",
            node_class(
                "  role: R\n  amiSelectorTerms: [{alias: al2023@latest}]\n  subnetSelectorTerms: [{}]\n  securityGroupSelectorTerms: [{id: sg-123}]\n",
            ),
            "expected at least one, got none, ['tags', 'id']",
        ),
        (
            "subnet id with tags",
            node_class(
                "  role: R\n  amiSelectorTerms: [{alias: al2023@latest}]\n  subnetSelectorTerms: [{id: subnet-1, tags: {a: b}}]\n  securityGroupSelectorTerms: [{id: sg-123}]\n",
            ),
            "'id' is mutually exclusive, cannot be set with a combination of other fields in subnetSelectorTerms",
        ),
        (
            "alias with another AMI term",
            node_class(
                "  role: R\n  amiSelectorTerms: [{alias: al2023@latest}, {id: ami-123}]\n  subnetSelectorTerms: [{id: subnet-1}]\n  securityGroupSelectorTerms: [{id: sg-123}]\n",
            ),
            "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms",
        ),
        (
            "alias of an unknown family",
            node_class(
                "  role: R\n  amiSelectorTerms: [{alias: ubuntu@latest}]\n  subnetSelectorTerms: [{id: subnet-1}]\n  securityGroupSelectorTerms: [{id: sg-123}]\n",
            ),
            "family is not supported",
        ),
        (
            "no alias and no amiFamily",
            node_class(
                "  role: R\n  amiSelectorTerms: [{id: ami-123}]\n  subnetSelectorTerms: [{id: subnet-1}]\n  securityGroupSelectorTerms: [{id: sg-123}]\n",
            ),
            "must specify amiFamily if amiSelectorTerms does not contain an alias",
        ),
        (
            "no AMI selector terms",
            node_class("  role: R\n  subnetSelectorTerms: [{id: subnet-1}]\n  securityGroupSelectorTerms: [{id: sg-123}]\n"),
            "spec.amiSelectorTerms: Required value",
        ),
        (
            "restricted tag",
            node_class_with("  role: R\n  tags: {karpenter.sh/nodepool: x}\n"),
            "tag contains a restricted tag matching karpenter.sh/nodepool",
        ),
    ];
    let mut failures = Vec::new();
    for (case, manifest, expected) in &cases {
        match kubectl.run(&["create", "--dry-run=server", "-f", "-"], Some(manifest)) {
            Ok(_) => failures.push(format!("{case}: accepted, expected {expected:?}")),
            Err(error) if error.stderr().contains(expected) => {}
            Err(error) => failures.push(format!(
                "{case}: refused without {expected:?}: {}",
                error.stderr().trim()
            )),
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} bad manifests:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }
    Ok(())
}

/// The API server and the manifest reader (`spotter_core::labels::restriction`) agree on
/// which label keys a NodePool may require or set.
fn label_keys_are_judged_as_the_reader_judges_them(kubectl: &Kubectl) -> Result<()> {
    let keys = [
        "team",
        "example.com/team",
        "karpenter.sh/capacity-type",
        "karpenter.sh/nodepool",
        "karpenter.sh/do-not-disrupt",
        "karpenter.k8s.aws/instance-family",
        "karpenter.k8s.aws/instance-capability-flex",
        "karpenter.k8s.aws/secret",
        "kubernetes.io/arch",
        "kubernetes.io/hostname",
        "kubernetes.io/team",
        "beta.kubernetes.io/arch",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/rack",
        "node.kubernetes.io/instance-type",
        "node.kubernetes.io/lifecycle",
        "node-restriction.kubernetes.io/team",
        "foo.node-restriction.kubernetes.io/team",
        "k8s.io/team",
        "kops.k8s.io/instancegroup",
        "topology.k8s.aws/zone-id",
        "notkubernetes.io/team",
    ];
    let mut disagreements = Vec::new();
    for key in keys {
        let reader_accepts = spotter_core::labels::restriction(key).is_none();
        for (place, manifest) in [
            (
                "requirement",
                node_pool_requiring(&format!("{{key: {key}, operator: Exists}}")),
            ),
            (
                "template label",
                node_pool("labelled", "").replace(
                    "    spec:\n      nodeClassRef",
                    &format!(
                        "    metadata:\n      labels: {{{key}: x}}\n    spec:\n      nodeClassRef"
                    ),
                ),
            ),
        ] {
            let server = kubectl.run(&["create", "--dry-run=server", "-f", "-"], Some(&manifest));
            if server.is_ok() != reader_accepts {
                disagreements.push(format!(
                    "{key} as a {place}: the reader {}, the API server {}",
                    if reader_accepts {
                        "accepts it"
                    } else {
                        "refuses it"
                    },
                    match &server {
                        Ok(_) => "accepts it".to_string(),
                        Err(error) => format!("refuses it: {}", error.stderr().trim()),
                    }
                ));
            }
        }
    }
    ensure!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    Ok(())
}

fn immutable_fields_stay(kubectl: &Kubectl) -> Result<()> {
    let cases = [
        (
            "nodepool/batch",
            r#"{"spec":{"template":{"spec":{"nodeClassRef":{"group":"example.com"}}}}}"#,
            "nodeClassRef.group is immutable",
        ),
        (
            "nodepool/batch",
            r#"{"spec":{"template":{"spec":{"nodeClassRef":{"kind":"OtherNodeClass"}}}}}"#,
            "nodeClassRef.kind is immutable",
        ),
        (
            "ec2nodeclass/default",
            r#"{"spec":{"role":"AnotherRole"}}"#,
            "immutable field changed",
        ),
    ];
    for (object, patch, expected) in cases {
        match kubectl.run(&["patch", object, "--type=merge", "-p", patch], None) {
            Ok(_) => bail!("{object}: {patch} was accepted, expected {expected:?}"),
            Err(error) => ensure!(
                error.stderr().contains(expected),
                "{object}: {patch} refused without {expected:?}: {}",
                error.stderr()
            ),
        }
    }
    // The name may change: only the group and kind are fixed.
    kubectl.run(
        &[
            "patch",
            "nodepool/batch",
            "--type=merge",
            "-p",
            r#"{"spec":{"template":{"spec":{"nodeClassRef":{"name":"other"}}}}}"#,
        ],
        None,
    )?;
    Ok(())
}

const NODE_CLAIM: &str = "apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata:
  name: batch-abcde
  labels:
    karpenter.sh/nodepool: batch
    karpenter.sh/capacity-type: spot
    node.kubernetes.io/instance-type: m5.large
    topology.kubernetes.io/zone: ap-northeast-2a
spec:
  nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
  requirements:
    - {key: karpenter.sh/nodepool, operator: In, values: [batch]}
    - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}
  resources:
    requests: {cpu: 1500m, pods: 2}
";

fn printer_columns_are_karpenters(kubectl: &Kubectl) -> Result<()> {
    kubectl
        .create(NODE_CLAIM)
        .context("a NodeClaim was refused")?;
    kubectl.run(
        &[
            "patch", "nodeclaim/batch-abcde", "--subresource=status", "--type=merge", "-p",
            r#"{"status":{"nodeName":"ip-10-0-0-1","providerID":"fake://batch-abcde","conditions":[{"type":"Ready","status":"True","reason":"Ready","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
        ],
        None,
    )?;
    kubectl.run(
        &[
            "patch",
            "nodepool/batch",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"resources":{"nodes":"1","cpu":"2","memory":"8Gi"}}}"#,
        ],
        None,
    )?;
    match kubectl.run(
        &[
            "patch",
            "nodeclaim/batch-abcde",
            "--type=merge",
            "-p",
            r#"{"spec":{"expireAfter":"1h"}}"#,
        ],
        None,
    ) {
        Ok(_) => bail!("a NodeClaim's spec changed, expected \"spec is immutable\""),
        Err(error) => ensure!(
            error.stderr().contains("spec is immutable"),
            "a NodeClaim's spec change refused without \"spec is immutable\": {}",
            error.stderr()
        ),
    }
    let cases: [(&[&str], &[&str], &[&str]); 2] = [
        (
            &["get", "nodepools,nodeclaims"],
            &[
                "NODECLASS",
                "NODES",
                "READY",
                "AGE",
                "TYPE",
                "CAPACITY",
                "ZONE",
                "NODE",
            ],
            &[
                "batch",
                "batch-fallback",
                "default",
                "m5.large",
                "spot",
                "ap-northeast-2a",
                "ip-10-0-0-1",
                "True",
            ],
        ),
        (
            &["get", "nodepools,nodeclaims", "-o", "wide"],
            &[
                "WEIGHT", "CPU", "MEMORY", "IMAGEID", "ID", "NODEPOOL", "DRIFTED",
            ],
            &["100", "8Gi", "fake://batch-abcde"],
        ),
    ];
    for (arguments, headers, values) in cases {
        let table = kubectl.run(arguments, None)?;
        let words: Vec<&str> = table.split_whitespace().collect();
        for header in headers {
            ensure!(
                words.contains(header),
                "kubectl {} lacks the column {header:?}:\n{table}",
                arguments.join(" ")
            );
        }
        for value in values {
            ensure!(
                table.contains(value),
                "kubectl {} lacks {value:?}:\n{table}",
                arguments.join(" ")
            );
        }
    }
    let classes = kubectl.run(&["get", "ec2nodeclasses", "-o", "wide"], None)?;
    ensure!(
        classes.contains("ROLE") && classes.contains("KarpenterNodeRole-seed"),
        "kubectl get ec2nodeclasses -o wide lacks the role:\n{classes}"
    );
    Ok(())
}
