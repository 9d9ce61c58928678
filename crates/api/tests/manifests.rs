//! Reading manifests: what converts, and every bad input naming its file, document and field.

use spotter_api::Manifests;
use spotter_core::labels;
use spotter_core::taints::Effect;

const NODE_POOL: &str = "apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: batch
spec:
  weight: 100
  template:
    metadata:
      labels:
        team: data
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}
        - {key: karpenter.k8s.aws/instance-family, operator: Exists, minValues: 2}
      taints:
        - {key: dedicated, value: batch, effect: NoSchedule}
  limits:
    cpu: 100
    memory: 400Gi
  disruption:
    consolidateAfter: 30s
    budgets:
      - nodes: \"20%\"
";

fn load(text: &str) -> Result<Manifests, String> {
    let mut manifests = Manifests::default();
    manifests
        .add("test.yaml", text)
        .map_err(|error| error.to_string())?;
    manifests.finish().map_err(|error| error.to_string())
}

/// `NODE_POOL` with `from` replaced by `to` (which must occur).
fn node_pool_with(from: &str, to: &str) -> String {
    assert!(NODE_POOL.contains(from), "fixture lacks {from:?}");
    NODE_POOL.replace(from, to)
}

#[test]
fn converts_a_node_pool_with_karpenter_defaults() {
    let manifests = load(NODE_POOL).unwrap_or_else(|error| panic!("{error}"));
    let pool = &manifests.node_pools[0];
    assert_eq!(pool.name, "batch");
    assert_eq!(pool.weight, 100);
    assert_eq!(pool.node_class, "default");
    assert!(pool.requirements.allows(labels::NODE_POOL, "batch"));
    assert!(pool.requirements.allows("team", "data"));
    assert!(!pool.requirements.allows(labels::CAPACITY_TYPE, "on-demand"));
    assert_eq!(
        pool.requirements
            .get(labels::INSTANCE_FAMILY)
            .and_then(|r| r.min_values()),
        Some(2)
    );
    assert_eq!(pool.taints[0].effect, Effect::NoSchedule);
    assert_eq!(pool.limits.get("cpu"), Some(100_000));
    assert_eq!(pool.limits.get("memory"), Some(400 << 30));
    assert_eq!(
        pool.expire_after.map(|duration| duration.as_secs()),
        Some(720 * 3600)
    );
    assert_eq!(
        pool.disruption
            .consolidate_after
            .map(|duration| duration.as_secs()),
        Some(30)
    );
}

#[test]
fn converts_workloads_with_kubernetes_request_rules() {
    let text = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
        - {name: setup, image: x, resources: {requests: {cpu: '2', memory: 1Gi}}}
        - {name: proxy, image: x, restartPolicy: Always, resources: {requests: {cpu: 100m}}}
      containers:
        - {name: app, image: x, resources: {limits: {cpu: 500m, memory: 512Mi}}}
        - {name: sidecar, image: x, resources: {requests: {cpu: 250m, memory: 1}}}
      tolerations:
        - {key: dedicated, operator: Equal, value: batch, effect: NoSchedule}
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: report}
spec:
  parallelism: 4
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: x, resources: {requests: {cpu: 1}}}]
";
    let manifests = load(text).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(manifests.pending_pods.len(), 5);
    let web = &manifests.pending_pods[0];
    assert_eq!(web.id(), "shop/web-0");
    // containers 500m + 250m + sidecar 100m = 850m; the init peak is 2 cores: 2 wins.
    assert_eq!(web.requests.cpu_millicores, 2000);
    // memory: containers 512Mi + 1 byte, init peak 1Gi: 1Gi wins.
    assert_eq!(web.requests.memory_bytes, 1 << 30);
    assert_eq!(web.requests.pods, 1);
    assert_eq!(web.tolerations.len(), 1);
    assert_eq!(web.topology_spread[0].max_skew, 1);
    assert_eq!(manifests.pending_pods[4].id(), "default/report-1");
    assert_eq!(manifests.pending_pods[4].requests.cpu_millicores, 1000);
}

#[test]
fn binds_pods_to_existing_nodes() {
    let text = "apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {failure-domain.beta.kubernetes.io/zone: zone-a}
status:
  allocatable: {cpu: '4', memory: 16Gi, pods: '110'}
---
apiVersion: v1
kind: Pod
metadata: {name: running}
spec:
  nodeName: node-a
  containers: [{name: main, image: x, resources: {requests: {cpu: 1}}}]
";
    let manifests = load(text).unwrap_or_else(|error| panic!("{error}"));
    assert!(manifests.pending_pods.is_empty());
    let node = &manifests.nodes[0];
    assert_eq!(
        node.labels.get(labels::ZONE).map(String::as_str),
        Some("zone-a")
    );
    assert_eq!(node.allocatable.cpu_millicores, 4000);
    assert_eq!(node.pods.len(), 1);
}

#[test]
fn bad_input_names_the_file_document_and_field() {
    struct Case {
        name: &'static str,
        text: String,
        expected: &'static [&'static str],
    }
    let cases = [
        Case { name: "not yaml", text: "kind: [unclosed\n".into(), expected: &["test.yaml:2: document 1", "failed to parse YAML"] },
        Case { name: "not an object", text: "- a\n- b\n".into(), expected: &["document 1", "expected a Kubernetes object"] },
        Case {
            name: "unknown kind",
            text: "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n".into(),
            expected: &["unknown kind \"Service\""],
        },
        Case {
            name: "second document",
            text: format!("{NODE_POOL}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n"),
            expected: &["document 2", "ConfigMap"],
        },
        Case {
            name: "weight out of range",
            text: node_pool_with("weight: 100", "weight: 101"),
            expected: &["NodePool \"batch\"", "field spec.weight", "between 1 and 100"],
        },
        Case {
            name: "v1beta1",
            text: node_pool_with("karpenter.sh/v1", "karpenter.sh/v1beta1"),
            expected: &["field apiVersion", "v1beta1"],
        },
        Case {
            name: "misspelt field",
            text: node_pool_with("weight: 100", "weigth: 100"),
            expected: &["field spec", "unknown field `weigth`", "test.yaml:6"],
        },
        Case {
            name: "unknown operator",
            text: node_pool_with("operator: Exists", "operator: Exist"),
            expected: &["spec.template.spec.requirements[1].operator", "unknown operator \"Exist\""],
        },
        Case {
            name: "In without values",
            text: node_pool_with("values: [spot]", "values: []"),
            expected: &["spec.template.spec.requirements[0].values", "at least one value"],
        },
        Case {
            name: "restricted requirement",
            text: node_pool_with("karpenter.sh/capacity-type, operator: In, values: [spot]", "kubernetes.io/hostname, operator: In, values: [x]"),
            expected: &["requirements[0].key", "restricted"],
        },
        Case {
            name: "restricted template label",
            text: node_pool_with("team: data", "karpenter.sh/nodepool: other"),
            expected: &["spec.template.metadata.labels.karpenter.sh/nodepool", "restricted"],
        },
        Case {
            name: "minValues above values",
            text: node_pool_with("values: [spot]}", "values: [spot], minValues: 2}"),
            expected: &["requirements[0].minValues", "more than the 1 values"],
        },
        Case {
            name: "bad taint effect",
            text: node_pool_with("effect: NoSchedule", "effect: Never"),
            expected: &["spec.template.spec.taints[0].effect", "unknown effect"],
        },
        Case {
            name: "bad limit",
            text: node_pool_with("memory: 400Gi", "memory: lots"),
            expected: &["spec.limits.memory", "failed to parse quantity"],
        },
        Case {
            name: "bad duration",
            text: node_pool_with("consolidateAfter: 30s", "consolidateAfter: 1d"),
            expected: &["spec.disruption.consolidateAfter", "not a duration"],
        },
        Case {
            name: "bad budget",
            text: node_pool_with("nodes: \"20%\"", "nodes: \"120%\""),
            expected: &["spec.disruption.budgets[0].nodes", "at most 100%"],
        },
        Case {
            name: "missing nodeClassRef name",
            text: node_pool_with(", name: default}", "}"),
            expected: &["spec.template.spec.nodeClassRef.name", "missing"],
        },
        Case {
            name: "duplicate",
            text: format!("{NODE_POOL}---\n{NODE_POOL}"),
            expected: &["document 2", "defined twice", "test.yaml:1: document 1"],
        },
        Case {
            name: "bad pod quantity",
            text: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: x, resources: {requests: {cpu: 1.2.3}}}]\n".into(),
            expected: &["Pod \"p\"", "spec.containers[0].resources.requests.cpu"],
        },
        Case {
            name: "pod bound to an unknown node",
            text: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  nodeName: gone\n  containers: [{name: a, image: x}]\n".into(),
            expected: &["spec.nodeName", "\"gone\""],
        },
        Case {
            name: "bad toleration operator",
            text: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  tolerations: [{key: a, operator: Maybe}]\n  containers: [{name: a, image: x}]\n".into(),
            expected: &["spec.tolerations[0].operator", "Equal or Exists"],
        },
        Case {
            name: "ec2nodeclass without role",
            text: "apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: default}\nspec:\n  amiSelectorTerms: [{alias: al2023@latest}]\n  subnetSelectorTerms: [{id: s}]\n  securityGroupSelectorTerms: [{id: g}]\n".into(),
            expected: &["EC2NodeClass \"default\"", "spec.role"],
        },
    ];
    for case in cases {
        let error = match load(&case.text) {
            Ok(_) => panic!("{}: expected an error", case.name),
            Err(error) => error,
        };
        assert!(error.starts_with("test.yaml"), "{}: {error}", case.name);
        for expected in case.expected {
            assert!(
                error.contains(expected),
                "{}: {error:?} lacks {expected:?}",
                case.name
            );
        }
    }
}

#[test]
fn node_pool_without_capacity_type_defaults_to_on_demand() {
    let without = node_pool_with(
        "        - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}\n",
        "",
    );
    let cases = [
        // (manifest, allows spot, allows on-demand)
        (NODE_POOL.to_string(), true, false),
        (without, false, true),
        (
            node_pool_with("values: [spot]", "values: [spot, on-demand]"),
            true,
            true,
        ),
    ];
    for (text, spot, on_demand) in cases {
        let manifests = load(&text).unwrap_or_else(|error| panic!("{error}"));
        let requirements = &manifests.node_pools[0].requirements;
        assert_eq!(
            requirements.allows(labels::CAPACITY_TYPE, "spot"),
            spot,
            "{text}"
        );
        assert_eq!(
            requirements.allows(labels::CAPACITY_TYPE, "on-demand"),
            on_demand,
            "{text}"
        );
    }
}

#[test]
fn validation_errors_point_at_the_line_of_the_offending_field() {
    const POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: a
      image: x
      resources:
        requests:
          cpu: 500m
";
    // (what is wrong, the text, the line that must be named: the one holding `marker`)
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "weight 500",
            node_pool_with("weight: 100", "weight: 500"),
            "weight: 500",
        ),
        (
            "bad operator",
            node_pool_with("operator: Exists", "operator: Exist"),
            "operator: Exist",
        ),
        (
            "negative limit",
            node_pool_with("cpu: 100", "cpu: -1"),
            "cpu: -1",
        ),
        (
            "bad duration",
            node_pool_with("consolidateAfter: 30s", "consolidateAfter: 1d"),
            "consolidateAfter: 1d",
        ),
        (
            "bad budget",
            node_pool_with("nodes: \"20%\"", "nodes: \"120%\""),
            "nodes: \"120%\"",
        ),
        (
            "bad taint effect",
            node_pool_with("effect: NoSchedule", "effect: Never"),
            "effect: Never",
        ),
        (
            "restricted template label",
            node_pool_with("team: data", "karpenter.sh/nodepool: other"),
            "karpenter.sh/nodepool: other",
        ),
        (
            "negative pod quantity in a second document",
            format!(
                "{NODE_POOL}---\n{}",
                POD.replace("cpu: 500m", "cpu: \"-1\"")
            ),
            "cpu: \"-1\"",
        ),
        (
            "pod bound to an unknown node",
            POD.replace("spec:\n", "spec:\n  nodeName: gone\n"),
            "nodeName: gone",
        ),
    ];
    for (name, text, marker) in cases {
        let position = text
            .find(marker)
            .unwrap_or_else(|| panic!("{name}: the text lacks {marker:?}"));
        let line = 1 + text[..position].matches('\n').count();
        let error = match load(&text) {
            Ok(_) => panic!("{name}: must fail"),
            Err(error) => error,
        };
        assert!(
            error.starts_with(&format!("test.yaml:{line}: ")),
            "{name}: expected line {line}: {error}"
        );
    }
}

#[test]
fn empty_manifest_file_is_warned_about() {
    for text in ["", "\n# only a comment\n", "---\n---\n"] {
        let manifests = load(text).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(manifests.warnings.len(), 1, "{text:?}");
        assert!(
            manifests.warnings[0].starts_with("test.yaml: the file is empty"),
            "{:?}",
            manifests.warnings
        );
    }
    let manifests = load(NODE_POOL).unwrap_or_else(|error| panic!("{error}"));
    assert!(manifests.warnings.is_empty(), "{:?}", manifests.warnings);
}

#[test]
fn zone_requirement_naming_a_zone_the_region_lacks_is_warned_about() {
    let text = node_pool_with(
        "        - {key: karpenter.k8s.aws/instance-family",
        "        - {key: topology.kubernetes.io/zone, operator: In, values: [zone-a, zone-x]}\n        - {key: karpenter.k8s.aws/instance-family",
    );
    let manifests = load(&text).unwrap_or_else(|error| panic!("{error}"));
    let line = 1 + text[..text.find("zone-x").unwrap_or_default()]
        .matches('\n')
        .count();
    let warnings = manifests.unknown_zone_warnings("region-1", &["zone-a", "zone-b"]);
    assert_eq!(
        warnings,
        [format!(
            "test.yaml:{line}: document 1 (NodePool \"batch\"): field spec.template.spec.requirements[1].values[1]: zone \"zone-x\" does not exist in region-1; its zones are zone-a, zone-b"
        )]
    );
    assert!(
        manifests
            .unknown_zone_warnings("region-1", &["zone-a", "zone-x"])
            .is_empty()
    );
}

#[test]
fn host_ports_of_containers_and_init_containers_are_read() {
    let text = "apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
    - name: init
      image: x
      ports: [{containerPort: 9000, hostPort: 9000, protocol: UDP}]
  containers:
    - name: a
      image: x
      ports:
        - {containerPort: 80}
        - {containerPort: 8080, hostPort: 8080}
        - {containerPort: 8443, hostPort: 8443, hostIP: 10.0.0.1}
";
    let manifests = load(text).unwrap_or_else(|error| panic!("{error}"));
    let ports: Vec<(u16, &str, &str)> = manifests.pending_pods[0]
        .host_ports
        .iter()
        .map(|port| (port.port, port.protocol.as_str(), port.host_ip.as_str()))
        .collect();
    assert_eq!(
        ports,
        [
            (8080, "TCP", ""),
            (8443, "TCP", "10.0.0.1"),
            (9000, "UDP", "")
        ]
    );
    let bad = text.replace("protocol: UDP", "protocol: QUIC");
    let error = load(&bad).err().unwrap_or_default();
    let line = 1 + bad[..bad.find("QUIC").unwrap_or_default()]
        .matches('\n')
        .count();
    assert!(
        error.starts_with(&format!("test.yaml:{line}: "))
            && error.contains("spec.initContainers[0].ports[0].protocol"),
        "{error}"
    );
}

/// What a NodePool's Spotter annotations give: return to Spot on or off, and the seconds of
/// `return-to-spot-after`; or the error's text.
type AnnotationsRead = Result<(Option<bool>, Option<u64>), &'static str>;

#[test]
fn spotter_annotations_on_node_pools_are_read_or_refused() {
    let cases: [(&str, AnnotationsRead); 6] = [
        ("{}", Ok((None, None))),
        (
            "{spotter.dev/return-to-spot: \"false\", spotter.dev/return-to-spot-after: 10m}",
            Ok((Some(false), Some(600))),
        ),
        // The controller's own record of its probes and returns: accepted, not a setting.
        (
            "{spotter.dev/last-return-probe: \"2026-12-04T22:23:08Z\", spotter.dev/last-return-to-spot: \"2026-12-04T22:23:30Z\"}",
            Ok((None, None)),
        ),
        (
            "{spotter.dev/return-to-spot: maybe}",
            Err("must be \"true\" or \"false\""),
        ),
        (
            "{spotter.dev/return-to-spot-max-concurrent: \"0\"}",
            Err("must be a whole number of at least 1"),
        ),
        (
            "{spotter.dev/return-to-spt: \"true\"}",
            Err("unknown Spotter annotation"),
        ),
    ];
    for (annotations, expected) in cases {
        let text = node_pool_with(
            "  name: batch\n",
            &format!("  name: batch\n  annotations: {annotations}\n"),
        );
        match (load(&text), expected) {
            (Ok(manifests), Ok((enabled, after))) => {
                let overrides = &manifests.node_pools[0].return_to_spot;
                assert_eq!(overrides.enabled, enabled, "{annotations}");
                assert_eq!(
                    overrides
                        .min_spot_available
                        .map(|duration| duration.as_secs()),
                    after,
                    "{annotations}"
                );
            }
            (Err(error), Err(message)) => {
                assert!(error.contains(message), "{annotations}: {error}");
            }
            (result, expected) => {
                panic!(
                    "{annotations}: got {:?}, expected {expected:?}",
                    result.map(|_| ())
                )
            }
        }
    }
}
