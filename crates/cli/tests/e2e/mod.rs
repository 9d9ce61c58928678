//! What the end-to-end tests of `spotter controller` share: the controller as a process (its
//! log in a file, killed on drop), polling until a condition holds (failing early with the
//! log's end when the process died), kubectl reads as JSON, and the seed's CRDs, namespace,
//! EC2NodeClass and NodePools installed.

// Each test binary uses only part of this module.
#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;
use spotter_test_support::{ControlPlane, Kubectl, SPOTTER_CRDS};

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
            .arg(format!("--kubeconfig={}", plane.kubeconfig().display()))
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
