//! [`ControlPlane`]: etcd, kube-apiserver, kube-scheduler and kube-controller-manager on
//! 127.0.0.1 with ports the OS picked, started in that order, waited on until the API server is
//! ready, the scheduler and the controller-manager are healthy and the `default`
//! ServiceAccount exists (which the controller-manager creates). The API server audits the
//! requests of Spotter's two users (see [`crate::audit`]). The flags are those
//! `shared/tools/kube/README.md` verified for v1.28, including the controller-manager's
//! `--node-monitor-grace-period=87600h`, which keeps kubelet-less Nodes `Ready`.
//!
//! Dropping it stops the components in reverse order (SIGTERM, then SIGKILL after 10 s) and
//! removes the state folder. A watchdog shell does the same within a second if the test
//! process dies without dropping it (a panic across threads, SIGKILL, `exit`).

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::assets::{Assets, AssetsError};
use crate::audit::{self, AuditError, AuditedRequest};
use crate::kubectl::Kubectl;
use crate::pki;

/// How long the control plane may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a component gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    /// Components in start order.
    components: Vec<Component>,
    /// Kills the components if this process dies without dropping the control plane.
    watchdog: Option<Child>,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    api_port: u16,
    startup: Duration,
    // Last, so that it is removed after the components are stopped.
    folder: tempfile::TempDir,
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    /// A binary is missing.
    #[error(transparent)]
    Assets(#[from] AssetsError),
    /// A file or process operation failed.
    #[error("failed to {action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The error.
        source: std::io::Error,
    },
    /// openssl failed.
    #[error("failed to {step} with openssl: {stderr}")]
    Certificates {
        /// The step.
        step: String,
        /// openssl's error output.
        stderr: String,
    },
    /// A component exited while starting.
    #[error(
        "failed to start the control plane: {component} exited ({status}); its log ends with:\n{log}"
    )]
    Exited {
        /// The component.
        component: String,
        /// Its exit status.
        status: String,
        /// The end of its log.
        log: String,
    },
    /// The control plane did not become ready in time.
    #[error(
        "failed to start the control plane: timed out after {seconds}s waiting for {what}; the logs end with:\n{logs}"
    )]
    Timeout {
        /// What was awaited.
        what: String,
        /// The timeout.
        seconds: u64,
        /// The end of every component's log.
        logs: String,
    },
}

#[derive(Debug)]
struct Component {
    name: &'static str,
    child: Child,
}

impl ControlPlane {
    /// Starts a control plane for a test. Without the binaries: an error when `CI=true`,
    /// otherwise `Ok(None)` after printing why the test is skipped.
    pub fn start_or_skip(test: &str) -> Result<Option<Self>, ControlPlaneError> {
        let in_ci = std::env::var("CI").as_deref() == Ok("true");
        match Assets::from_env() {
            Ok(assets) => Self::start(&assets).map(Some),
            Err(error) => {
                let error = fail_in_ci(error, in_ci)?;
                eprintln!("skipping {test}: {error}");
                Ok(None)
            }
        }
    }

    /// Starts a control plane with these binaries and waits until it is ready.
    pub fn start(assets: &Assets) -> Result<Self, ControlPlaneError> {
        Self::start_with(assets, &[])
    }

    /// Starts a control plane whose kube-controller-manager also gets `controller_manager_flags`
    /// (for example `--kube-api-qps=500`: its default of 20 requests a second is what paces
    /// a ReplicaSet's pod creations), and waits until it is ready.
    pub fn start_with(
        assets: &Assets,
        controller_manager_flags: &[String],
    ) -> Result<Self, ControlPlaneError> {
        let started = Instant::now();
        let folder = tempfile::Builder::new()
            .prefix("spotter-control-plane.")
            .tempdir()
            .map_err(|source| io("create the state folder", source))?;
        let root = folder.path().to_path_buf();
        let pki_folder = root.join("pki");
        for sub in ["pki", "logs", "etcd", "flexvolume"] {
            std::fs::create_dir_all(root.join(sub))
                .map_err(|source| io(&format!("create {sub}/"), source))?;
        }
        set_private(&root.join("etcd"))?;
        let [
            etcd_port,
            peer_port,
            api_port,
            scheduler_port,
            controller_manager_port,
        ] = free_ports()?;
        pki::generate(&assets.openssl, &pki_folder)?;
        let kubeconfig = root.join("kubeconfig");
        pki::kubeconfig(&pki_folder, "admin", api_port, &kubeconfig)?;
        let scheduler_kubeconfig = root.join("scheduler.kubeconfig");
        pki::kubeconfig(&pki_folder, "scheduler", api_port, &scheduler_kubeconfig)?;
        for user in audit::SPOTTER_USERS {
            pki::kubeconfig(
                &pki_folder,
                user,
                api_port,
                &root.join(format!("{user}.kubeconfig")),
            )?;
        }
        let audit_policy = root.join("audit-policy.yaml");
        std::fs::write(&audit_policy, audit::POLICY)
            .map_err(|source| io("write the audit policy", source))?;
        let controller_manager_kubeconfig = root.join("controller-manager.kubeconfig");
        pki::kubeconfig(
            &pki_folder,
            "controller-manager",
            api_port,
            &controller_manager_kubeconfig,
        )?;
        let file = |name: &str| pki_folder.join(name).display().to_string();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");

        let mut plane = ControlPlane {
            components: Vec::new(),
            watchdog: None,
            kubeconfig: kubeconfig.clone(),
            kubectl: assets.kubectl.clone(),
            api_port,
            startup: Duration::ZERO,
            folder,
        };
        plane.spawn(
            "etcd",
            &assets.etcd,
            vec![
                "--name=spotter-test".into(),
                format!("--data-dir={}", root.join("etcd").display()),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=spotter-test={peer_url}"),
                "--initial-cluster-state=new".into(),
                "--quota-backend-bytes=4294967296".into(),
                "--logger=zap".into(),
                "--log-level=warn".into(),
            ],
        )?;
        plane.spawn(
            "kube-apiserver",
            &assets.kube_apiserver,
            vec![
                format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={api_port}"),
                format!("--tls-cert-file={}", file("apiserver.crt")),
                format!("--tls-private-key-file={}", file("apiserver.key")),
                format!("--client-ca-file={}", file("ca.crt")),
                "--authorization-mode=RBAC".into(),
                format!("--audit-policy-file={}", audit_policy.display()),
                format!(
                    "--audit-log-path={}",
                    root.join("logs").join("audit.log").display()
                ),
                "--audit-log-format=json".into(),
                "--audit-log-mode=blocking".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!("--service-account-key-file={}", file("sa.pub")),
                format!("--service-account-signing-key-file={}", file("sa.key")),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                format!("--cert-dir={}", file("apiserver-generated")),
                "--allow-privileged=true".into(),
                "--endpoint-reconciler-type=none".into(),
                "--profiling=false".into(),
                "--v=1".into(),
            ],
        )?;
        plane.spawn(
            "kube-scheduler",
            &assets.kube_scheduler,
            vec![
                format!("--kubeconfig={}", scheduler_kubeconfig.display()),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={scheduler_port}"),
                format!("--cert-dir={}", file("scheduler-generated")),
                "--leader-elect=false".into(),
                "--profiling=false".into(),
                "--v=1".into(),
            ],
        )?;
        plane.spawn(
            "kube-controller-manager",
            &assets.kube_controller_manager,
            vec![
                format!("--kubeconfig={}", controller_manager_kubeconfig.display()),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={controller_manager_port}"),
                format!("--cert-dir={}", file("controller-manager-generated")),
                format!("--flex-volume-plugin-dir={}", root.join("flexvolume").display()),
                "--leader-elect=false".into(),
                "--profiling=false".into(),
                "--controllers=*,-cloud-node-lifecycle-controller,-node-route-controller,-service-lb-controller".into(),
                "--use-service-account-credentials=false".into(),
                "--node-monitor-grace-period=87600h".into(),
                format!("--service-account-private-key-file={}", file("sa.key")),
                format!("--root-ca-file={}", file("ca.crt")),
                format!("--cluster-signing-cert-file={}", file("ca.crt")),
                format!("--cluster-signing-key-file={}", file("ca.key")),
                "--v=1".into(),
            ]
            .into_iter()
            .chain(controller_manager_flags.iter().cloned())
            .collect(),
        )?;
        plane.start_watchdog()?;

        let kubectl = plane.kubectl();
        plane.wait_for("the API server's /readyz", || {
            kubectl
                .run(&["get", "--raw", "/readyz"], None)
                .is_ok_and(|output| output.trim() == "ok")
        })?;
        for (name, port) in [
            ("kube-scheduler", scheduler_port),
            ("kube-controller-manager", controller_manager_port),
        ] {
            let curl = assets.curl.clone();
            plane.wait_for(&format!("{name}'s /healthz"), || healthy(&curl, port))?;
        }
        plane.wait_for("the ServiceAccount default/default", || {
            kubectl
                .run(
                    &["get", "serviceaccount", "default", "--namespace=default"],
                    None,
                )
                .is_ok()
        })?;
        plane.startup = started.elapsed();
        Ok(plane)
    }

    /// The admin kubeconfig (user `admin` in `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The kubeconfig of `spotter controller` (user [`audit::CONTROLLER_USER`], whose
    /// requests the audit log records).
    pub fn controller_kubeconfig(&self) -> PathBuf {
        self.user_kubeconfig(audit::CONTROLLER_USER)
    }

    /// The kubeconfig of `spotter agent` (user [`audit::AGENT_USER`], whose requests the
    /// audit log records).
    pub fn agent_kubeconfig(&self) -> PathBuf {
        self.user_kubeconfig(audit::AGENT_USER)
    }

    /// Every distinct resource request Spotter's users made so far, from the audit log.
    pub fn audited_requests(&self) -> Result<Vec<AuditedRequest>, AuditError> {
        audit::read(&self.folder.path().join("logs").join("audit.log"))
    }

    fn user_kubeconfig(&self, user: &str) -> PathBuf {
        self.folder.path().join(format!("{user}.kubeconfig"))
    }

    /// kubectl with the admin kubeconfig.
    pub fn kubectl(&self) -> Kubectl {
        Kubectl::new(self.kubectl.clone(), self.kubeconfig.clone())
    }

    /// The API server's URL.
    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.api_port)
    }

    /// How long the control plane took to become ready.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The process IDs of etcd, kube-apiserver, kube-scheduler and kube-controller-manager.
    pub fn process_ids(&self) -> Vec<u32> {
        self.components
            .iter()
            .map(|component| component.child.id())
            .collect()
    }

    /// The state folder (certificates, kubeconfigs, `logs/NAME.log`).
    pub fn folder(&self) -> &Path {
        self.folder.path()
    }

    fn spawn(
        &mut self,
        name: &'static str,
        program: &Path,
        arguments: Vec<String>,
    ) -> Result<(), ControlPlaneError> {
        let log_path = self.folder.path().join("logs").join(format!("{name}.log"));
        let log = File::create(&log_path)
            .map_err(|source| io(&format!("create {}", log_path.display()), source))?;
        let log_copy = log
            .try_clone()
            .map_err(|source| io(&format!("open {}", log_path.display()), source))?;
        let child = Command::new(program)
            .args(arguments)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_copy)
            .spawn()
            .map_err(|source| io(&format!("start {}", program.display()), source))?;
        self.components.push(Component { name, child });
        Ok(())
    }

    /// A shell that waits for this process to end and then kills the components and removes
    /// the state folder, for the deaths that skip `Drop`.
    fn start_watchdog(&mut self) -> Result<(), ControlPlaneError> {
        let pids: Vec<String> = self
            .components
            .iter()
            .map(|component| component.child.id().to_string())
            .collect();
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill -KILL {pids} 2>/dev/null; rm -rf '{folder}'",
            parent = std::process::id(),
            pids = pids.join(" "),
            folder = self.folder.path().display(),
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| io("start the watchdog shell", source))?;
        self.watchdog = Some(child);
        Ok(())
    }

    fn wait_for(
        &mut self,
        what: &str,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), ControlPlaneError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if ready() {
                return Ok(());
            }
            for component in &mut self.components {
                if let Ok(Some(status)) = component.child.try_wait() {
                    return Err(ControlPlaneError::Exited {
                        component: component.name.to_string(),
                        status: status.to_string(),
                        log: tail(
                            &self
                                .folder
                                .path()
                                .join("logs")
                                .join(format!("{}.log", component.name)),
                        ),
                    });
                }
            }
            if Instant::now() >= deadline {
                let logs = self
                    .components
                    .iter()
                    .map(|component| {
                        let path = self
                            .folder
                            .path()
                            .join("logs")
                            .join(format!("{}.log", component.name));
                        format!("--- {}\n{}", component.name, tail(&path))
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(ControlPlaneError::Timeout {
                    what: what.to_string(),
                    seconds: READY_TIMEOUT.as_secs(),
                    logs,
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        while let Some(mut component) = self.components.pop() {
            let pid = component.child.id().to_string();
            let terminated = Command::new("kill")
                .args(["-TERM", &pid])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            let deadline = Instant::now() + STOP_GRACE;
            while terminated && Instant::now() < deadline {
                if let Ok(Some(_)) = component.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = component.child.kill();
            let _ = component.child.wait();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// Missing binaries fail a test under CI; elsewhere the error is handed back to be reported
/// as the reason for skipping.
fn fail_in_ci(error: AssetsError, in_ci: bool) -> Result<AssetsError, ControlPlaneError> {
    if in_ci { Err(error.into()) } else { Ok(error) }
}

/// Five distinct loopback ports that were free a moment ago.
fn free_ports() -> Result<[u16; 5], ControlPlaneError> {
    let listeners = (0..5)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| io("pick free ports", source))?;
    let mut ports = [0u16; 5];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .map_err(|source| io("read a picked port", source))?
            .port();
    }
    Ok(ports)
}

fn healthy(curl: &Path, port: u16) -> bool {
    Command::new(curl)
        .args([
            "-sk",
            "--max-time",
            "5",
            &format!("https://127.0.0.1:{port}/healthz"),
        ])
        .output()
        .is_ok_and(|output| output.stdout == b"ok")
}

fn set_private(path: &Path) -> Result<(), ControlPlaneError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(|source| io(&format!("restrict {}", path.display()), source))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

fn io(action: &str, source: std::io::Error) -> ControlPlaneError {
    ControlPlaneError::Io {
        action: action.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_fail_under_ci_and_skip_elsewhere() {
        assert!(matches!(
            fail_in_ci(AssetsError::NotSet, true),
            Err(ControlPlaneError::Assets(AssetsError::NotSet))
        ));
        assert!(matches!(
            fail_in_ci(AssetsError::NotSet, false),
            Ok(AssetsError::NotSet)
        ));
    }
}
