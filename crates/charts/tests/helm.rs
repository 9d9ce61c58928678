//! The Helm charts `charts/spotter` and `charts/spotter-nodepools`, with their default, dev and
//! prod values: `helm lint --strict` is clean; what `helm template` renders passes
//! `kubernetes-validate --strict` (built-in kinds), is read by Spotter's own manifest reader
//! (NodePools, EC2NodeClasses), reproduces the seed's pools by default, grants exactly the
//! permissions of `charts/spotter/rbac-requirements.yaml`, and applies with a server-side dry
//! run on a real control plane with the CRDs installed.
//!
//! helm comes from `$HELM` (or `PATH`), kubernetes-validate from `$KUBERNETES_VALIDATE`;
//! `.ci/run` installs both. Without them (or without the control plane's binaries) the tests
//! fail under `CI=true` and are skipped otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_yaml_ng::Value;
use spotter_charts::helm::{Helm, Render};
use spotter_charts::manifests::{Object, is_built_in_group, objects, to_stream};
use spotter_charts::rbac::{self, ServiceAccount};
use spotter_charts::tools::Tool;
use spotter_charts::{charts_folder, repository_folder};
use spotter_core::node_pool::ReturnToSpotOverrides;
use spotter_test_support::{ControlPlane, Kubectl};

/// The namespace the tests install into.
const NAMESPACE: &str = "spotter";
/// The release name the tests use.
const RELEASE: &str = "spotter";
/// The Kubernetes version the offline validation checks against (k8s-openapi's in the
/// workspace).
const VALIDATION_KUBERNETES_VERSION: &str = "1.34.0";

/// The charts.
const CHARTS: &[&str] = &["spotter", "spotter-nodepools"];
/// The values each chart is tested with: its defaults, then each environment's file.
const ENVIRONMENTS: &[Option<&str>] = &[None, Some("values-dev.yaml"), Some("values-prod.yaml")];

/// The environment variables `spotter controller` reads its flags from (the controller's
/// command line), each of which the chart sets on the controller's container.
const CONTROLLER_ENVIRONMENT: &[&str] = &[
    "CLUSTER_NAME",
    "CLUSTER_ENDPOINT",
    "CLOUD_PROVIDER",
    "SPOTTER_POLICY",
    "BATCH_IDLE_DURATION",
    "BATCH_MAX_DURATION",
    "EARLY_LAUNCHES",
    "INTERRUPTION_QUEUE",
    "REBALANCE_REPLACEMENT",
    "FEATURE_GATES",
    "METRICS_ADDRESS",
    "HEALTH_ADDRESS",
    "SYSTEM_NAMESPACE",
    "DISABLE_LEADER_ELECTION",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "POD_NAME",
];

fn helm_or_skip(test: &str) -> Result<Option<Helm>> {
    Ok(Tool::Helm.find_or_skip(test)?.map(Helm::new))
}

fn chart(name: &str) -> PathBuf {
    charts_folder().join(name)
}

fn render_of(chart_name: &str, environment: Option<&str>) -> Render {
    Render {
        chart: chart(chart_name),
        release: RELEASE.to_string(),
        namespace: NAMESPACE.to_string(),
        values_files: environment
            .map(|file| chart(chart_name).join(file))
            .into_iter()
            .collect(),
        set: Vec::new(),
        kube_version: None,
    }
}

fn describe(chart_name: &str, environment: Option<&str>) -> String {
    format!(
        "{chart_name} with {}",
        environment.unwrap_or("default values")
    )
}

fn rendered(helm: &Helm, render: &Render) -> Result<Vec<Object>> {
    Ok(objects(&helm.template(render)?)?)
}

fn find<'a>(objects: &'a [Object], kind: &str, name: &str) -> Result<&'a Object> {
    objects
        .iter()
        .find(|object| object.kind() == kind && object.name() == name)
        .with_context(|| format!("no {kind} {name} was rendered"))
}

#[test]
fn both_charts_lint_strict_with_default_dev_and_prod_values() -> Result<()> {
    let Some(helm) = helm_or_skip("both_charts_lint_strict_with_default_dev_and_prod_values")?
    else {
        return Ok(());
    };
    for chart_name in CHARTS {
        for environment in ENVIRONMENTS {
            let report = helm
                .lint_strict(&render_of(chart_name, *environment))
                .with_context(|| describe(chart_name, *environment))?;
            ensure!(
                report.contains("0 chart(s) failed") && !report.contains("[WARNING]"),
                "{}: {report}",
                describe(chart_name, *environment)
            );
        }
    }
    Ok(())
}

#[test]
fn values_the_schema_refuses_stop_the_render() -> Result<()> {
    let Some(helm) = helm_or_skip("values_the_schema_refuses_stop_the_render")? else {
        return Ok(());
    };
    let cases = [
        ("spotter", "settings.policy=cheapest", "settings.policy"),
        ("spotter", "settings.logFormat=xml", "settings.logFormat"),
        (
            "spotter",
            "settings.batchIdleDuration=soon",
            "settings.batchIdleDuration",
        ),
        (
            "spotter",
            "settings.interruptonQueue=typo",
            "interruptonQueue",
        ),
        (
            "spotter",
            "serviceAccount.roleArn=spotter-role",
            "serviceAccount.roleArn",
        ),
        (
            "spotter-nodepools",
            "nodePools.batch.weight=1000",
            "nodePools.batch.weight",
        ),
        (
            "spotter-nodepools",
            "nodePools.batch.returnToSpot.after=later",
            "returnToSpot.after",
        ),
        (
            "spotter-nodepools",
            "ec2NodeClasses.default.instanceProfile=profile",
            "set role or instanceProfile, not both",
        ),
    ];
    for (chart_name, assignment, expected) in cases {
        let mut render = render_of(chart_name, None);
        render.set.push(assignment.to_string());
        match helm.template(&render) {
            Ok(_) => bail!("{chart_name} --set {assignment} rendered"),
            Err(error) => ensure!(
                error.to_string().contains(expected),
                "{chart_name} --set {assignment}: the error does not name {expected:?}: {error}"
            ),
        }
    }
    Ok(())
}

#[test]
fn rendered_built_in_kinds_pass_strict_offline_validation() -> Result<()> {
    let test = "rendered_built_in_kinds_pass_strict_offline_validation";
    let (Some(helm), Some(validator)) = (
        helm_or_skip(test)?,
        Tool::KubernetesValidate.find_or_skip(test)?,
    ) else {
        return Ok(());
    };
    let folder = tempfile::tempdir()?;
    let validate = |name: &str, stream: &str| -> Result<std::process::Output> {
        let file = folder.path().join(format!("{name}.yaml"));
        std::fs::write(&file, stream)?;
        Command::new(&validator)
            .args(["--strict", "--quiet", "-k", VALIDATION_KUBERNETES_VERSION])
            .arg(&file)
            .output()
            .context("failed to run kubernetes-validate")
    };
    let mut validated = 0;
    for chart_name in CHARTS {
        for environment in ENVIRONMENTS {
            let mut render = render_of(chart_name, *environment);
            render.kube_version = Some(VALIDATION_KUBERNETES_VERSION.to_string());
            let objects = rendered(&helm, &render)?;
            let built_in: Vec<&Object> = objects
                .iter()
                .filter(|object| is_built_in_group(object.group()))
                .collect();
            if built_in.is_empty() {
                continue;
            }
            let name = format!("{chart_name}-{}", environment.unwrap_or("default"));
            let output = validate(&name, &to_stream(&built_in)?)?;
            ensure!(
                output.status.success(),
                "{}: kubernetes-validate --strict failed:\n{}{}",
                describe(chart_name, *environment),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            validated += built_in.len();
        }
    }
    ensure!(validated > 0, "no built-in object was validated");
    // The validator is strict: a field Kubernetes does not know fails it.
    let wrong = "apiVersion: v1\nkind: Service\nmetadata:\n  name: wrong\nspec:\n  portz: []\n";
    let output = validate("wrong", wrong)?;
    ensure!(
        !output.status.success(),
        "kubernetes-validate passed a Service with an unknown field"
    );
    eprintln!(
        "{validated} rendered objects validated against Kubernetes {VALIDATION_KUBERNETES_VERSION}"
    );
    Ok(())
}

#[test]
fn rendered_node_pools_are_read_by_spotters_manifest_reader() -> Result<()> {
    let Some(helm) = helm_or_skip("rendered_node_pools_are_read_by_spotters_manifest_reader")?
    else {
        return Ok(());
    };
    for environment in ENVIRONMENTS {
        let name = describe("spotter-nodepools", *environment);
        let render = render_of("spotter-nodepools", *environment);
        let stream = helm.template(&render)?;
        let rendered = objects(&stream)?;
        let mut manifests = spotter_api::Manifests::default();
        manifests
            .add(&name, &stream)
            .with_context(|| format!("{name}: the manifest reader refused it"))?;
        let manifests = manifests.finish()?;
        ensure!(
            manifests.warnings.is_empty(),
            "{name}: {:?}",
            manifests.warnings
        );
        let pool_names: Vec<&str> = manifests
            .node_pools
            .iter()
            .map(|pool| pool.name.as_str())
            .collect();
        let rendered_pools: Vec<&Object> = rendered
            .iter()
            .filter(|object| object.kind() == "NodePool")
            .collect();
        ensure!(
            pool_names
                == rendered_pools
                    .iter()
                    .map(|pool| pool.name())
                    .collect::<Vec<_>>(),
            "{name}: the reader read {pool_names:?}"
        );
        for (pool, object) in manifests.node_pools.iter().zip(&rendered_pools) {
            let spec = &object.value["spec"];
            ensure!(
                i64::from(pool.weight) == spec["weight"].as_i64().unwrap_or_default(),
                "{name}: {}: weight",
                pool.name
            );
            ensure!(
                manifests.node_classes.contains(&pool.node_class),
                "{name}: {} uses EC2NodeClass {}, which is not rendered",
                pool.name,
                pool.node_class
            );
        }
        // The return-to-Spot values become the annotations the reader understands.
        let values = merged_values("spotter-nodepools", *environment)?;
        for pool in &manifests.node_pools {
            let settings = &values["nodePools"][pool.name.as_str()]["returnToSpot"];
            let expected = ReturnToSpotOverrides {
                enabled: settings["enabled"].as_bool(),
                min_spot_available: settings["after"]
                    .as_str()
                    .map(|text| spotter_api::duration::parse(text, false))
                    .transpose()
                    .map_err(anyhow::Error::msg)?
                    .flatten(),
                max_concurrent: settings["maxConcurrent"]
                    .as_u64()
                    .map(u32::try_from)
                    .transpose()?,
            };
            ensure!(
                pool.return_to_spot == expected,
                "{name}: {}: read {:?}, the values say {expected:?}",
                pool.name,
                pool.return_to_spot
            );
        }
        ensure!(
            manifests
                .node_pools
                .iter()
                .any(|pool| pool.return_to_spot != ReturnToSpotOverrides::default()),
            "{name}: no NodePool carries return-to-Spot annotations"
        );
    }
    Ok(())
}

/// The chart's default values with an environment's file laid over them, the way helm merges
/// maps (lists and scalars replaced).
fn merged_values(chart_name: &str, environment: Option<&str>) -> Result<Value> {
    let read = |file: &str| -> Result<Value> {
        Ok(serde_yaml_ng::from_str(&std::fs::read_to_string(
            chart(chart_name).join(file),
        )?)?)
    };
    let mut values = read("values.yaml")?;
    if let Some(file) = environment {
        merge(&mut values, read(file)?);
    }
    Ok(values)
}

fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

#[test]
fn default_node_pools_reproduce_the_seed() -> Result<()> {
    let Some(helm) = helm_or_skip("default_node_pools_reproduce_the_seed")? else {
        return Ok(());
    };
    let rendered = rendered(&helm, &render_of("spotter-nodepools", None))?;
    let mut seed = Vec::new();
    for file in ["nodepools.yaml", "ec2nodeclass.yaml"] {
        let text = std::fs::read_to_string(repository_folder().join("examples/seed").join(file))?;
        seed.extend(objects(&text)?);
    }
    let summary = |objects: &[Object]| -> BTreeMap<(String, String), Value> {
        objects
            .iter()
            .map(|object| {
                (
                    (object.kind().to_string(), object.name().to_string()),
                    object.value["spec"].clone(),
                )
            })
            .collect()
    };
    let (rendered, seed) = (summary(&rendered), summary(&seed));
    ensure!(
        rendered.keys().eq(seed.keys()),
        "the chart renders {:?}, the seed has {:?}",
        rendered.keys(),
        seed.keys()
    );
    for (key, spec) in &seed {
        ensure!(
            rendered.get(key) == Some(spec),
            "{key:?}: the chart renders\n{:?}\nthe seed has\n{spec:?}",
            rendered.get(key)
        );
    }
    Ok(())
}

#[test]
fn rbac_grants_exactly_the_permission_list() -> Result<()> {
    let Some(helm) = helm_or_skip("rbac_grants_exactly_the_permission_list")? else {
        return Ok(());
    };
    let requirements = rbac::parse_requirements(&std::fs::read_to_string(
        chart("spotter").join("rbac-requirements.yaml"),
    )?)?;
    let mut checked = 0;
    // Every environment, and the fake provider (whose rules the chart renders only for it).
    let mut renders: Vec<(String, Render)> = ENVIRONMENTS
        .iter()
        .map(|environment| {
            (
                describe("spotter", *environment),
                render_of("spotter", *environment),
            )
        })
        .collect();
    let mut fake = render_of("spotter", None);
    fake.set = vec![
        "settings.cloudProvider=fake".to_string(),
        "agent.enabled=true".to_string(),
    ];
    renders.push(("spotter with cloudProvider=fake".to_string(), fake));
    let mut providers = BTreeSet::new();
    for (name, render) in renders {
        let objects = rendered(&helm, &render)?;
        let deployment = find(&objects, "Deployment", "spotter")?;
        let provider = environment_of(deployment)
            .get("CLOUD_PROVIDER")
            .and_then(Value::as_str)
            .with_context(|| format!("{name}: the controller has no CLOUD_PROVIDER"))?
            .to_string();
        let controller = rbac::for_provider(&requirements.controller, &provider);
        let agent = rbac::for_provider(&requirements.agent, &provider);
        providers.insert(provider);
        let mut subjects = vec![("controller", service_account_of(deployment)?, &controller)];
        if let Ok(daemon_set) = find(&objects, "DaemonSet", "spotter-agent") {
            subjects.push(("agent", service_account_of(daemon_set)?, &agent));
        }
        for (who, account, listed) in subjects {
            ensure!(
                objects
                    .iter()
                    .any(|object| object.kind() == "ServiceAccount"
                        && object.name() == account.name
                        && object.namespace() == account.namespace),
                "{name}: the {who}'s ServiceAccount {} is not rendered",
                account.name
            );
            let grants = rbac::grants(&objects, &account)?;
            let uncovered = grants.uncovered(listed);
            ensure!(
                uncovered.is_empty(),
                "{name}: the {who} lacks {}",
                uncovered
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            let unlisted = grants.unlisted(listed);
            ensure!(
                unlisted.is_empty(),
                "{name}: the {who} is granted more than rbac-requirements.yaml lists: {}",
                unlisted
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            checked += rbac::permissions(listed).len();
        }
    }
    ensure!(checked > 0, "no permission was checked");
    ensure!(
        providers.len() == 2,
        "both providers' RBAC should be checked: {providers:?}"
    );
    Ok(())
}

fn service_account_of(workload: &Object) -> Result<ServiceAccount> {
    let name = workload.value["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .with_context(|| {
            format!(
                "{} {} names no ServiceAccount",
                workload.kind(),
                workload.name()
            )
        })?;
    Ok(ServiceAccount {
        name: name.to_string(),
        namespace: workload.namespace().to_string(),
    })
}

fn container(workload: &Object) -> &Value {
    &workload.value["spec"]["template"]["spec"]["containers"][0]
}

fn environment_of(workload: &Object) -> BTreeMap<String, Value> {
    container(workload)["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|variable| {
            (
                variable["name"].as_str().unwrap_or_default().to_string(),
                variable
                    .get("value")
                    .or(variable.get("valueFrom"))
                    .cloned()
                    .unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[test]
fn the_controller_gets_its_settings_as_its_environment_variables() -> Result<()> {
    let Some(helm) = helm_or_skip("the_controller_gets_its_settings_as_its_environment_variables")?
    else {
        return Ok(());
    };
    // Prod sets every setting: every variable is there, with the value the file gives.
    let prod = rendered(&helm, &render_of("spotter", Some("values-prod.yaml")))?;
    let environment = environment_of(find(&prod, "Deployment", "spotter")?);
    let missing: Vec<&&str> = CONTROLLER_ENVIRONMENT
        .iter()
        .filter(|name| !environment.contains_key(**name))
        .collect();
    ensure!(missing.is_empty(), "prod: the controller lacks {missing:?}");
    let values = merged_values("spotter", Some("values-prod.yaml"))?;
    let settings = &values["settings"];
    let cases = [
        ("CLUSTER_NAME", settings["clusterName"].clone()),
        ("CLUSTER_ENDPOINT", settings["clusterEndpoint"].clone()),
        ("INTERRUPTION_QUEUE", settings["interruptionQueue"].clone()),
        ("SPOTTER_POLICY", settings["policy"].clone()),
        (
            "REBALANCE_REPLACEMENT",
            Value::from(
                settings["rebalanceReplacement"]
                    .as_bool()
                    .context("values-prod.yaml: settings.rebalanceReplacement")?
                    .to_string(),
            ),
        ),
        (
            "FEATURE_GATES",
            Value::from("SpotToSpotConsolidation=false"),
        ),
        ("METRICS_ADDRESS", Value::from("0.0.0.0:8080")),
        ("DISABLE_LEADER_ELECTION", Value::from("false")),
    ];
    for (name, expected) in cases {
        ensure!(
            environment.get(name) == Some(&expected),
            "prod: {name} is {:?}, expected {expected:?}",
            environment.get(name)
        );
    }
    ensure!(
        environment["SYSTEM_NAMESPACE"]["fieldRef"]["fieldPath"] == "metadata.namespace"
            && environment["POD_NAME"]["fieldRef"]["fieldPath"] == "metadata.name",
        "prod: SYSTEM_NAMESPACE and POD_NAME come from the downward API"
    );
    // Unset optional settings stay unset: an empty INTERRUPTION_QUEUE would name a queue "".
    let default = rendered(&helm, &render_of("spotter", None))?;
    let environment = environment_of(find(&default, "Deployment", "spotter")?);
    for name in [
        "INTERRUPTION_QUEUE",
        "FEATURE_GATES",
        "CLUSTER_ENDPOINT",
        "CLUSTER_CA_BUNDLE",
        "SERVICE_CIDR",
        "CLUSTER_NAME",
    ] {
        ensure!(
            !environment.contains_key(name),
            "default: {name} is set though its value is empty"
        );
    }
    ensure!(
        container(find(&default, "Deployment", "spotter")?)["args"][0] == "controller",
        "the controller runs `spotter controller`"
    );
    Ok(())
}

#[test]
fn the_controller_is_hardened_spread_and_protected() -> Result<()> {
    let Some(helm) = helm_or_skip("the_controller_is_hardened_spread_and_protected")? else {
        return Ok(());
    };
    for environment in [None, Some("values-prod.yaml")] {
        let name = describe("spotter", environment);
        let objects = rendered(&helm, &render_of("spotter", environment))?;
        let deployment = find(&objects, "Deployment", "spotter")?;
        let pod = &deployment.value["spec"]["template"]["spec"];
        let security = &container(deployment)["securityContext"];
        let checks = [
            ("two replicas", deployment.value["spec"]["replicas"] == 2),
            (
                "system-cluster-critical",
                pod["priorityClassName"] == "system-cluster-critical",
            ),
            (
                "pod runs as non-root",
                pod["securityContext"]["runAsNonRoot"] == true,
            ),
            (
                "container runs as non-root",
                security["runAsNonRoot"] == true,
            ),
            (
                "non-root user",
                security["runAsUser"].as_u64().is_some_and(|user| user > 0),
            ),
            ("read-only root", security["readOnlyRootFilesystem"] == true),
            (
                "no privilege escalation",
                security["allowPrivilegeEscalation"] == false,
            ),
            (
                "no capabilities",
                security["capabilities"]["drop"][0] == "ALL",
            ),
            (
                "resource requests",
                container(deployment)["resources"]["requests"]["cpu"].is_string(),
            ),
            (
                "liveness on /healthz",
                container(deployment)["livenessProbe"]["httpGet"]["path"] == "/healthz",
            ),
            (
                "readiness on /readyz",
                container(deployment)["readinessProbe"]["httpGet"]["path"] == "/readyz",
            ),
            (
                "spread over zones and nodes",
                pod["topologySpreadConstraints"]
                    .as_sequence()
                    .is_some_and(|constraints| {
                        ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
                            .iter()
                            .all(|key| constraints.iter().any(|c| c["topologyKey"] == *key))
                    }),
            ),
            (
                "a PodDisruptionBudget over its pods",
                find(&objects, "PodDisruptionBudget", "spotter").is_ok_and(|budget| {
                    budget.value["spec"]["selector"]["matchLabels"]
                        == deployment.value["spec"]["selector"]["matchLabels"]
                }),
            ),
            (
                "the dashboard ConfigMap for Grafana's sidecar",
                find(&objects, "ConfigMap", "spotter-dashboard-spotter")
                    .is_ok_and(|map| map.value["metadata"]["labels"]["grafana_dashboard"] == "1"),
            ),
        ];
        let failed: Vec<&str> = checks
            .iter()
            .filter(|(_, holds)| !holds)
            .map(|(check, _)| *check)
            .collect();
        ensure!(failed.is_empty(), "{name}: not so: {failed:?}");
    }
    let prod = rendered(&helm, &render_of("spotter", Some("values-prod.yaml")))?;
    let account = find(&prod, "ServiceAccount", "spotter")?;
    ensure!(
        account.value["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            == merged_values("spotter", Some("values-prod.yaml"))?["serviceAccount"]["roleArn"],
        "prod: the ServiceAccount carries the IRSA role"
    );
    let monitor = find(&prod, "ServiceMonitor", "spotter")?;
    let service = find(&prod, "Service", "spotter")?;
    let selected = monitor.value["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .context("the ServiceMonitor selects by labels")?;
    ensure!(
        selected
            .iter()
            .all(|(key, value)| service.value["metadata"]["labels"].get(key) == Some(value)),
        "prod: the ServiceMonitor's selector does not match the Service"
    );
    ensure!(
        monitor.value["spec"]["endpoints"][0]["port"] == service.value["spec"]["ports"][0]["name"],
        "prod: the ServiceMonitor scrapes the Service's port"
    );
    Ok(())
}

#[test]
fn the_agent_runs_on_spot_nodes_only_when_enabled() -> Result<()> {
    let Some(helm) = helm_or_skip("the_agent_runs_on_spot_nodes_only_when_enabled")? else {
        return Ok(());
    };
    let default = rendered(&helm, &render_of("spotter", None))?;
    ensure!(
        !default.iter().any(
            |object| object.value["metadata"]["labels"]["app.kubernetes.io/component"] == "agent"
        ),
        "default: the agent is rendered though agent.enabled is false"
    );
    let prod = rendered(&helm, &render_of("spotter", Some("values-prod.yaml")))?;
    let agent = find(&prod, "DaemonSet", "spotter-agent")?;
    let pod = &agent.value["spec"]["template"]["spec"];
    let environment = environment_of(agent);
    let checks = [
        ("host network", pod["hostNetwork"] == true),
        (
            "on Spot nodes",
            pod["nodeSelector"]["karpenter.sh/capacity-type"] == "spot",
        ),
        (
            "NODE_NAME from spec.nodeName",
            environment
                .get("NODE_NAME")
                .is_some_and(|from| from["fieldRef"]["fieldPath"] == "spec.nodeName"),
        ),
        (
            "runs `spotter agent`",
            container(agent)["args"][0] == "agent",
        ),
        (
            "non-root, read-only",
            container(agent)["securityContext"]["runAsNonRoot"] == true
                && container(agent)["securityContext"]["readOnlyRootFilesystem"] == true,
        ),
        (
            "tolerates every taint",
            pod["tolerations"][0]["operator"] == "Exists",
        ),
    ];
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, holds)| !holds)
        .map(|(check, _)| *check)
        .collect();
    ensure!(failed.is_empty(), "prod agent: not so: {failed:?}");
    Ok(())
}

#[test]
fn the_own_node_policy_is_rendered_from_kubernetes_1_30() -> Result<()> {
    let Some(helm) = helm_or_skip("the_own_node_policy_is_rendered_from_kubernetes_1_30")? else {
        return Ok(());
    };
    let cases = [
        ("1.28.0", true, false),
        ("1.29.5", true, false),
        ("1.30.0", true, true),
        ("1.34.1", true, true),
        ("1.34.1", false, false),
    ];
    for (version, restrict, expected) in cases {
        let mut render = render_of("spotter", Some("values-prod.yaml"));
        render.kube_version = Some(version.to_string());
        render
            .set
            .push(format!("agent.restrictToOwnNode={restrict}"));
        let objects = rendered(&helm, &render)?;
        let policy = objects
            .iter()
            .find(|object| object.kind() == "ValidatingAdmissionPolicy");
        ensure!(
            policy.is_some() == expected,
            "Kubernetes {version}, restrictToOwnNode={restrict}: policy rendered: {}",
            policy.is_some()
        );
        if let Some(policy) = policy {
            let account = service_account_of(find(&objects, "DaemonSet", "spotter-agent")?)?;
            let condition = policy.value["spec"]["matchConditions"][0]["expression"]
                .as_str()
                .unwrap_or_default();
            ensure!(
                condition.contains(&format!(
                    "system:serviceaccount:{}:{}",
                    account.namespace, account.name
                )),
                "the policy matches another user: {condition}"
            );
            ensure!(
                find(&objects, "ValidatingAdmissionPolicyBinding", policy.name())?.value["spec"]["policyName"]
                    == policy.name(),
                "the binding names the policy"
            );
        }
    }
    Ok(())
}

#[test]
fn the_charts_dashboard_is_the_repositorys() -> Result<()> {
    let repository = std::fs::read_to_string(repository_folder().join("dashboards/spotter.json"))?;
    let copy = std::fs::read_to_string(chart("spotter").join("dashboards/spotter.json"))?;
    ensure!(
        repository == copy,
        "charts/spotter/dashboards/spotter.json differs from dashboards/spotter.json: copy it over"
    );
    Ok(())
}

/// A stand-in for prometheus-operator's CRDs (the tests have none of its releases): the kinds
/// exist, their contents are not checked.
const MONITORING_CRDS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: podmonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: PodMonitor, listKind: PodMonitorList, plural: podmonitors, singular: podmonitor}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

#[test]
fn prod_values_apply_with_a_server_side_dry_run_on_a_real_control_plane() -> Result<()> {
    let test = "prod_values_apply_with_a_server_side_dry_run_on_a_real_control_plane";
    let Some(helm) = helm_or_skip(test)? else {
        return Ok(());
    };
    let Some(plane) = ControlPlane::start_or_skip(test)? else {
        return Ok(());
    };
    eprintln!("control plane ready in {:.1?}", plane.startup_time());
    let kubectl = plane.kubectl();
    install_crds(&kubectl)?;
    kubectl.run(&["create", "namespace", NAMESPACE], None)?;
    let version: Value = serde_yaml_ng::from_str(&kubectl.run(&["version", "-o", "json"], None)?)?;
    let server_version = version["serverVersion"]["gitVersion"]
        .as_str()
        .context("kubectl version names no server version")?
        .to_string();

    for environment in ENVIRONMENTS {
        let mut stream = String::new();
        let mut expected = 0;
        for chart_name in CHARTS {
            let mut render = render_of(chart_name, *environment);
            render.kube_version = Some(server_version.clone());
            let text = helm.template(&render)?;
            expected += objects(&text)?.len();
            stream.push_str(&text);
        }
        let applied = dry_run(&kubectl, &stream).with_context(|| {
            format!("{}: server-side dry run", environment.unwrap_or("default"))
        })?;
        let lines = applied
            .lines()
            .filter(|line| line.contains("(server dry run)"))
            .count();
        ensure!(
            lines == expected,
            "{}: {expected} objects rendered, {lines} applied:\n{applied}",
            environment.unwrap_or("default")
        );
        eprintln!(
            "{}: {expected} objects applied (server dry run) on Kubernetes {server_version}",
            environment.unwrap_or("default values")
        );
    }

    // The dry run is a real check: a NodePool the CRD's validation refuses fails it.
    let mut render = render_of("spotter-nodepools", Some("values-prod.yaml"));
    render
        .set
        .push("nodePools.batch.requirements[0].key=karpenter.sh/nodepool".to_string());
    render
        .set
        .push("nodePools.batch.requirements[0].operator=In".to_string());
    render
        .set
        .push("nodePools.batch.requirements[0].values[0]=batch".to_string());
    let refused = dry_run(&kubectl, &helm.template(&render)?);
    match refused {
        Ok(output) => bail!("a NodePool requiring karpenter.sh/nodepool was accepted: {output}"),
        Err(error) => ensure!(
            format!("{error:#}").contains("restricted"),
            "refused for another reason: {error:#}"
        ),
    }

    // `helm install --dry-run=server` sees the real cluster (its version, its APIs) and
    // prints NOTES.txt: what to check after the install.
    let notes = helm_install_dry_run(&helm, &plane, "values-prod.yaml")?;
    for expected in [
        "rollout status deployment/spotter",
        "get lease spotter-leader-election",
        "/metrics",
        "ServiceMonitor spotter",
        "grafana_dashboard=1",
        "daemonset spotter-agent",
        "own-node admission policy needs Kubernetes 1.30+",
        "SQS queue Spotter-seed-prod",
    ] {
        ensure!(
            notes.contains(expected),
            "NOTES lack {expected:?}:\n{notes}"
        );
    }
    Ok(())
}

fn install_crds(kubectl: &Kubectl) -> Result<()> {
    let mut crds = MONITORING_CRDS.to_string();
    let mut names = vec![
        "servicemonitors.monitoring.coreos.com".to_string(),
        "podmonitors.monitoring.coreos.com".to_string(),
    ];
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart("spotter").join("crds"))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        for object in objects(&text)? {
            names.push(object.name().to_string());
        }
        crds.push_str("\n---\n");
        crds.push_str(&text);
    }
    kubectl.apply(&crds).context("kubectl apply of the CRDs")?;
    for name in names {
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
    // The API server's discovery can lag the Established condition by a moment.
    std::thread::sleep(Duration::from_secs(1));
    Ok(())
}

fn dry_run(kubectl: &Kubectl, stream: &str) -> Result<String> {
    Ok(kubectl.run(
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=spotter-chart-test",
            "-f",
            "-",
        ],
        Some(stream),
    )?)
}

fn helm_install_dry_run(helm: &Helm, plane: &ControlPlane, values: &str) -> Result<String> {
    let render = render_of("spotter", Some(values));
    helm.install_dry_run(&render, plane.kubeconfig())
        .context("helm install --dry-run=server")
}

#[test]
fn the_image_runs_as_the_user_the_chart_names_on_a_static_base() -> Result<()> {
    let Some(helm) = helm_or_skip("the_image_runs_as_the_user_the_chart_names_on_a_static_base")?
    else {
        return Ok(());
    };
    let dockerfile = std::fs::read_to_string(repository_folder().join("Dockerfile"))?;
    let instructions: Vec<(&str, &str)> = dockerfile
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .collect();
    let last = |keyword: &str| {
        instructions
            .iter()
            .rev()
            .find(|(instruction, _)| *instruction == keyword)
            .map(|(_, argument)| argument.trim())
    };
    let base = last("FROM").context("the Dockerfile has no FROM")?;
    ensure!(
        base.starts_with("gcr.io/distroless/static") || base == "scratch",
        "the image's base {base:?} is not distroless/static or scratch: a static binary needs no more"
    );
    ensure!(
        instructions
            .iter()
            .filter(|(instruction, _)| *instruction == "FROM")
            .count()
            >= 2,
        "the Dockerfile is not multi-stage"
    );
    ensure!(
        dockerfile.contains("readelf -d /spotter | grep -q NEEDED"),
        "the build no longer refuses a dynamically linked binary"
    );
    let user = last("USER").context("the image sets no USER: it would run as root")?;
    let objects = rendered(&helm, &render_of("spotter", Some("values-prod.yaml")))?;
    for (kind, name) in [("Deployment", "spotter"), ("DaemonSet", "spotter-agent")] {
        let workload = find(&objects, kind, name)?;
        let security = &container(workload)["securityContext"];
        let chart_user = format!(
            "{}:{}",
            security["runAsUser"].as_u64().unwrap_or_default(),
            security["runAsGroup"].as_u64().unwrap_or_default()
        );
        ensure!(
            user == chart_user && !user.starts_with("0:"),
            "the image runs as {user}, the chart's {kind} as {chart_user}"
        );
    }
    let entrypoint = last("ENTRYPOINT").context("the image has no ENTRYPOINT")?;
    ensure!(
        entrypoint == r#"["/spotter"]"#,
        "the chart passes `controller`/`agent` as arguments to /spotter, the image's entrypoint is {entrypoint}"
    );
    Ok(())
}
