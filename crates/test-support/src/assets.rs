//! Finding the control plane's binaries: kube-apiserver, kube-scheduler and
//! kube-controller-manager in `$KUBEBUILDER_ASSETS`; etcd from `$ETCD`, that folder or `PATH`
//! (Debian's `etcd-server`); kubectl from `$KUBECTL`, that folder or `PATH`; openssl and curl
//! from `PATH`.

use std::path::{Path, PathBuf};

/// The environment variable naming the folder of Kubernetes binaries (envtest's convention).
pub const ASSETS_VARIABLE: &str = "KUBEBUILDER_ASSETS";

/// Every program the control plane needs, found.
#[derive(Clone, Debug)]
pub struct Assets {
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `kube-scheduler`.
    pub kube_scheduler: PathBuf,
    /// `kube-controller-manager`.
    pub kube_controller_manager: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
    /// `kubectl`.
    pub kubectl: PathBuf,
    /// `openssl`, for the certificates.
    pub openssl: PathBuf,
    /// `curl`, for the components' health endpoints.
    pub curl: PathBuf,
}

/// A program the control plane needs is missing.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    /// `KUBEBUILDER_ASSETS` is not set.
    #[error(
        "failed to find the Kubernetes binaries: {ASSETS_VARIABLE} is not set; point it at a folder holding kube-apiserver, kube-scheduler and kube-controller-manager (.ci/run unpacks them from ../shared/tools/kube)"
    )]
    NotSet,
    /// A binary is not in the folder, or not executable.
    #[error(
        "failed to find {name} in {folder} ({ASSETS_VARIABLE}): unpack it there and make it executable"
    )]
    MissingBinary {
        /// The binary.
        name: String,
        /// The folder.
        folder: String,
    },
    /// A program is not on `PATH`.
    #[error("failed to find {name}: {hint}")]
    MissingProgram {
        /// The program.
        name: String,
        /// How to install it.
        hint: String,
    },
}

impl Assets {
    /// Finds everything from the environment.
    pub fn from_env() -> Result<Self, AssetsError> {
        let folder = std::env::var_os(ASSETS_VARIABLE)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .ok_or(AssetsError::NotSet)?;
        let in_folder = |name: &str| {
            let path = folder.join(name);
            if is_executable(&path) {
                Ok(path)
            } else {
                Err(AssetsError::MissingBinary {
                    name: name.to_string(),
                    folder: folder.display().to_string(),
                })
            }
        };
        let anywhere = |name: &str, variable: &str, hint: &str| {
            std::env::var_os(variable)
                .map(PathBuf::from)
                .filter(|path| is_executable(path))
                .or_else(|| Some(folder.join(name)).filter(|path| is_executable(path)))
                .or_else(|| on_path(name))
                .ok_or_else(|| AssetsError::MissingProgram {
                    name: name.to_string(),
                    hint: hint.to_string(),
                })
        };
        Ok(Assets {
            kube_apiserver: in_folder("kube-apiserver")?,
            kube_scheduler: in_folder("kube-scheduler")?,
            kube_controller_manager: in_folder("kube-controller-manager")?,
            etcd: anywhere(
                "etcd",
                "ETCD",
                "install Debian's etcd-server (apt-get install etcd-server) or set ETCD",
            )?,
            kubectl: anywhere("kubectl", "KUBECTL", "install kubectl or set KUBECTL")?,
            openssl: anywhere("openssl", "OPENSSL", "install openssl")?,
            curl: anywhere("curl", "CURL", "install curl")?,
        })
    }
}

/// The first executable `name` in `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|folder| folder.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}
