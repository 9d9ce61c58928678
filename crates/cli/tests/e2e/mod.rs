//! What the end-to-end tests of `spotter controller` share: the controller as a process (its
//! log in a file, killed on drop), polling until a condition holds (failing early with the
//! log's end when the process died), kubectl reads as JSON, the seed's CRDs, namespace,
//! EC2NodeClass and NodePools installed, `spotter agent` as a process, and the check that every
//! request the controller and the agent made is in the chart's permission list.

// Each test binary uses only part of this module.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;
use spotter_agent::imds_mock::ImdsMock;
use spotter_charts::rbac;
use spotter_test_support::{AGENT_USER, CONTROLLER_USER, ControlPlane, Kubectl, SPOTTER_CRDS};

/// The seed Deployment's name.
pub const DEPLOYMENT: &str = "batch-workers";
/// The label the fake provider puts its instance id in.
pub const INSTANCE_ID_LABEL: &str = "fake.spotter.dev/instance-id";

/// A `spotter controller` process, killed when dropped.
pub struct ControllerProcess {
    child: Child,
    log: PathBuf,
    /// Where it serves `/metrics`, `/healthz` and `/readyz`.
    pub address: SocketAddr,
}

impl ControllerProcess {
    /// `spotter controller` on the control plane with its servers on a free loopback address,
    /// text logs, and none of the variables a developer's shell may set that would change it.
    pub fn command(plane: &ControlPlane) -> Result<(Command, SocketAddr)> {
        let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_spotter"));
        command
            .args(["controller", "--log-format=text"])
            .arg(format!(
                "--kubeconfig={}",
                plane.controller_kubeconfig().display()
            ))
            .arg(format!("--metrics-address={address}"))
            .arg(format!("--health-address={address}"));
        for variable in [
            "KUBECONFIG",
            "POD_NAME",
            "CLOUD_PROVIDER",
            "DISABLE_LEADER_ELECTION",
            "INTERRUPTION_QUEUE",
            "CLUSTER_NAME",
            "CLUSTER_ENDPOINT",
            "CLUSTER_CA_BUNDLE",
            "SERVICE_CIDR",
            "AWS_PROFILE",
        ] {
            command.env_remove(variable);
        }
        Ok((command, address))
    }

    /// Starts `command` (from [`ControllerProcess::command`]) with its log in `logs/name.log`.
    pub fn spawn(
        mut command: Command,
        address: SocketAddr,
        logs: &Path,
        name: &str,
    ) -> Result<Self> {
        let log = logs.join(format!("{name}.log"));
        let child = command
            .stdout(Stdio::null())
            .stderr(File::create(&log)?)
            .spawn()
            .context("failed to start spotter controller")?;
        Ok(ControllerProcess {
            child,
            log,
            address,
        })
    }

    /// An error with the end of the log when the process has exited.
    pub fn ensure_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("spotter controller exited ({status}):\n{}", self.log_tail());
        }
        Ok(())
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last 60 lines of the log.
    pub fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails when `spotter controller` or `spotter agent` made a request on the control plane that
/// the chart's permission list (`charts/spotter/rbac-requirements.yaml`, which the chart's RBAC
/// is checked against in `crates/charts/tests/helm.rs`) does not name for it, or one the API
/// server refused; and when the controller made none at all (the audit is not working).
/// `system_namespace` is where the list's namespace-scoped entries hold, and `provider` the
/// cloud provider the controller ran with (the list's entries for other providers do not
/// count). Returns how many distinct requests were checked.
pub fn ensure_permissions_listed(
    plane: &ControlPlane,
    system_namespace: &str,
    provider: &str,
) -> Result<usize> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/spotter/rbac-requirements.yaml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let requirements = rbac::parse_requirements(&text)?;
    let controller = rbac::for_provider(&requirements.controller, provider);
    let agent = rbac::for_provider(&requirements.agent, provider);
    let requests = plane.audited_requests()?;
    ensure!(
        requests
            .iter()
            .any(|request| request.user == CONTROLLER_USER),
        "the audit log has no request of {CONTROLLER_USER}: is the controller using plane.controller_kubeconfig()?"
    );
    let mut failures = Vec::new();
    for request in &requests {
        let listed = match request.user.as_str() {
            CONTROLLER_USER => &controller,
            AGENT_USER => &agent,
            _ => continue,
        };
        let permission = rbac::Permission {
            group: request.group.clone(),
            resource: request.resource.clone(),
            verb: request.verb.clone(),
            scope: rbac::Scope::Cluster,
            namespace: None,
        };
        if !rbac::names_request(
            listed,
            &permission,
            request.namespace.as_deref(),
            system_namespace,
        ) {
            failures.push(format!(
                "{}: {} {} (namespace {:?}) is not in rbac-requirements.yaml",
                request.user, request.verb, request.uri, request.namespace
            ));
        }
        if request.code == Some(403) {
            failures.push(format!(
                "{}: {} {} was forbidden",
                request.user, request.verb, request.uri
            ));
        }
    }
    ensure!(
        failures.is_empty(),
        "Spotter's requests and its permission list disagree (add the permission to charts/spotter/rbac-requirements.yaml and the chart's RBAC, or stop making the request):\n{}",
        failures.join("\n")
    );
    Ok(requests.len())
}

/// `spotter agent` for `node`, polling `mock`, as the agent's user; killed when dropped.
pub struct AgentProcess {
    child: Child,
    log: std::path::PathBuf,
}

impl AgentProcess {
    /// Starts it, its log in `logs/agent-NODE.log`.
    pub fn spawn(plane: &ControlPlane, mock: &ImdsMock, node: &str, logs: &Path) -> Result<Self> {
        let log = logs.join(format!("agent-{node}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_spotter"))
            .args(["agent", "--poll-interval=1s", "--imds-url"])
            .arg(mock.base_url())
            .env("KUBECONFIG", plane.agent_kubeconfig())
            .env("NODE_NAME", node)
            .env_remove("SPOTTER_IMDS_URL")
            .stdout(Stdio::null())
            .stderr(File::create(&log)?)
            .spawn()
            .context("failed to start spotter agent")?;
        Ok(AgentProcess { child, log })
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Points `command`'s AWS clients at moto: `endpoint_variable` (`AWS_ENDPOINT_URL`, or a
/// service's own) set to `endpoint`, moto's test credentials, `region`, and no instance
/// metadata lookups.
pub fn use_moto(command: &mut Command, endpoint_variable: &str, endpoint: &str, region: &str) {
    command
        .env("AWS_REGION", region)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env(endpoint_variable, endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

/// Polls `done` every 250 ms until it holds; fails after `timeout`, or at once when the
/// controller exited, with the end of its log.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    controller: &mut ControllerProcess,
    mut done: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let started = Instant::now();
    loop {
        controller.ensure_alive()?;
        if done()? {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(anyhow!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                controller.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `kubectl ARGUMENTS -o json`, read.
pub fn get(kubectl: &Kubectl, arguments: &[&str]) -> Result<Value> {
    let mut all = arguments.to_vec();
    all.extend(["-o", "json"]);
    let text = kubectl.run(&all, None)?;
    serde_json::from_str(&text).context("kubectl printed no JSON")
}

/// A list's items.
pub fn items(value: &Value) -> &[Value] {
    value["items"].as_array().map_or(&[], Vec::as_slice)
}

/// Spotter's CRDs, the `spotter` namespace, and the seed's EC2NodeClass and NodePools.
pub fn install_seed(kubectl: &Kubectl) -> Result<()> {
    let crds = Command::new(env!("CARGO_BIN_EXE_spotter"))
        .arg("crds")
        .output()
        .context("failed to run spotter crds")?;
    ensure!(crds.status.success(), "spotter crds failed");
    kubectl.install_crds(&String::from_utf8(crds.stdout)?, &SPOTTER_CRDS)?;
    kubectl.run(&["create", "namespace", "spotter"], None)?;
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed");
    for file in ["ec2nodeclass.yaml", "nodepools.yaml"] {
        let text = std::fs::read_to_string(seed.join(file))
            .with_context(|| format!("failed to read examples/seed/{file}"))?;
        kubectl.apply(&text)?;
    }
    Ok(())
}

/// The value of the series of `family` whose labels contain `labels` (summed over the
/// matching series; 0 when none).
pub fn metric(metrics: SocketAddr, family: &str, labels: &str) -> Result<f64> {
    Ok(metric_lines(metrics, family)?
        .iter()
        .filter(|line| line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// The lines of `family`'s series on the controller's `/metrics`.
pub fn metric_lines(metrics: SocketAddr, family: &str) -> Result<Vec<String>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let text = agent
        .get(format!("http://{metrics}/metrics"))
        .call()?
        .body_mut()
        .read_to_string()?;
    Ok(text
        .lines()
        .filter(|line| {
            line.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .map(str::to_string)
        .collect())
}

/// The status of an object's condition of `type_`.
pub fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == type_)?["status"]
        .as_str()
}

/// The seed's Deployment with `replicas` and a short grace period.
pub fn deployment(replicas: u32) -> Result<String> {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed/deployment.yaml");
    let text =
        std::fs::read_to_string(seed).context("failed to read examples/seed/deployment.yaml")?;
    ensure!(
        text.contains("replicas: 20") && text.contains("      containers:\n"),
        "examples/seed/deployment.yaml changed shape: update this test's edits"
    );
    Ok(text
        .replace("replicas: 20", &format!("replicas: {replicas}"))
        .replace(
            "      containers:\n",
            "      terminationGracePeriodSeconds: 5\n      containers:\n",
        ))
}

/// The names of the objects of `resource`.
pub fn names(kubectl: &Kubectl, resource: &str) -> Result<BTreeSet<String>> {
    let list = get(kubectl, &["get", resource])?;
    Ok(items(&list)
        .iter()
        .filter_map(|item| item["metadata"]["name"].as_str().map(str::to_owned))
        .collect())
}

/// The nodes the Deployment's running pods are on.
pub fn pod_nodes(kubectl: &Kubectl) -> Result<BTreeSet<String>> {
    Ok(running_deployment_pods(kubectl)?
        .iter()
        .filter_map(|pod| pod["spec"]["nodeName"].as_str().map(str::to_owned))
        .collect())
}

/// How many of the Deployment's pods are running.
pub fn running_pods(kubectl: &Kubectl) -> Result<usize> {
    Ok(running_deployment_pods(kubectl)?.len())
}

/// The Deployment's pods that run and are not being deleted.
fn running_deployment_pods(kubectl: &Kubectl) -> Result<Vec<Value>> {
    let list = get(
        kubectl,
        &[
            "get",
            "pods",
            "-n",
            "default",
            "-l",
            &format!("app={DEPLOYMENT}"),
        ],
    )?;
    Ok(items(&list)
        .iter()
        .filter(|pod| {
            pod["status"]["phase"] == "Running" && pod["metadata"]["deletionTimestamp"].is_null()
        })
        .cloned()
        .collect())
}
