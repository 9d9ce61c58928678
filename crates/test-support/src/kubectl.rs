//! [`Kubectl`]: the `kubectl` command bound to a kubeconfig, for tests that drive a control
//! plane the way a user would (`apply -f -`, `get`, `wait`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The CustomResourceDefinitions `spotter crds` prints.
pub const SPOTTER_CRDS: [&str; 3] = [
    "nodepools.karpenter.sh",
    "nodeclaims.karpenter.sh",
    "ec2nodeclasses.karpenter.k8s.aws",
];

/// kubectl with a kubeconfig.
#[derive(Clone, Debug)]
pub struct Kubectl {
    program: PathBuf,
    kubeconfig: PathBuf,
}

/// A kubectl command failed.
#[derive(Debug, thiserror::Error)]
pub enum KubectlError {
    /// kubectl could not be run.
    #[error("failed to run kubectl {arguments}: {source}")]
    Spawn {
        /// The arguments.
        arguments: String,
        /// The error.
        source: std::io::Error,
    },
    /// kubectl exited with an error.
    #[error("kubectl {arguments} failed ({status}): {stderr}")]
    Failed {
        /// The arguments.
        arguments: String,
        /// Its exit status.
        status: String,
        /// Its error output: the API server's message.
        stderr: String,
    },
}

impl KubectlError {
    /// kubectl's error output (empty when it could not be run).
    pub fn stderr(&self) -> &str {
        match self {
            KubectlError::Spawn { .. } => "",
            KubectlError::Failed { stderr, .. } => stderr,
        }
    }
}

impl Kubectl {
    /// kubectl at `program` with `kubeconfig`.
    pub fn new(program: PathBuf, kubeconfig: PathBuf) -> Self {
        Kubectl {
            program,
            kubeconfig,
        }
    }

    /// kubectl with `arguments` as a command not started yet, for what runs on (a `--watch`):
    /// the caller directs its output and owns the process.
    pub fn command(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(arguments)
            .stdin(Stdio::null());
        command
    }

    /// Runs kubectl with `arguments`, `stdin` piped in; returns its standard output.
    pub fn run(&self, arguments: &[&str], stdin: Option<&str>) -> Result<String, KubectlError> {
        let joined = arguments.join(" ");
        let spawn_error = |source| KubectlError::Spawn {
            arguments: joined.clone(),
            source,
        };
        let mut child = Command::new(&self.program)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg("--request-timeout=30s")
            .args(arguments)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // kubectl may exit before reading everything; its exit status then tells why.
            match pipe.write_all(text.as_bytes()) {
                Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(spawn_error(error));
                }
                _ => {}
            }
        }
        let output = child.wait_with_output().map_err(spawn_error)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(KubectlError::Failed {
                arguments: joined,
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    /// `kubectl apply -f -` with `manifests`.
    pub fn apply(&self, manifests: &str) -> Result<String, KubectlError> {
        self.run(&["apply", "-f", "-"], Some(manifests))
    }

    /// `kubectl apply -f -` with CustomResourceDefinitions, then waits (up to 60 s each) until
    /// every one named in `names` is Established.
    pub fn install_crds(&self, manifests: &str, names: &[&str]) -> Result<(), KubectlError> {
        self.apply(manifests)?;
        for name in names {
            self.run(
                &[
                    "wait",
                    "--for=condition=Established",
                    "--timeout=60s",
                    &format!("crd/{name}"),
                ],
                None,
            )?;
        }
        Ok(())
    }

    /// `kubectl create -f -` with `manifests`.
    pub fn create(&self, manifests: &str) -> Result<String, KubectlError> {
        self.run(&["create", "-f", "-"], Some(manifests))
    }
}
