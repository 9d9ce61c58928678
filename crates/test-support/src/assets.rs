//! Finding the control plane's binaries: kube-apiserver, kube-scheduler and
//! kube-controller-manager in `$KUBEBUILDER_ASSETS`; etcd from `$ETCD`, that folder or `PATH`
//! (Debian's `etcd-server`); kubectl from `$KUBECTL`, that folder or `PATH`; openssl and curl
//! from `PATH`.

use std::ffi::OsString;
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
        "failed to find the Kubernetes binaries: {ASSETS_VARIABLE} is not set; point it at a folder holding kube-apiserver, kube-scheduler and kube-controller-manager (.ci/run unpacks them from the shared test tools; the README says how to do it locally)"
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
    /// Finds everything from the process's environment.
    pub fn from_env() -> Result<Self, AssetsError> {
        Self::from_variables(|name| std::env::var_os(name))
    }

    /// Finds everything from the environment variables `variable` returns.
    pub fn from_variables(
        variable: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self, AssetsError> {
        let folder = variable(ASSETS_VARIABLE)
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
        let anywhere = |name: &str, override_variable: &str, hint: &str| {
            variable(override_variable)
                .map(PathBuf::from)
                .filter(|path| is_executable(path))
                .or_else(|| Some(folder.join(name)).filter(|path| is_executable(path)))
                .or_else(|| on_path(name, variable("PATH")))
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

/// The first executable `name` in the folders of `path` (a `PATH` value).
pub fn on_path(name: &str, path: Option<OsString>) -> Option<PathBuf> {
    std::env::split_paths(&path?)
        .map(|folder| folder.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Environment variables of a case.
    type Variables = Vec<(&'static str, OsString)>;

    fn executable(folder: &Path, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = folder.join(name);
        std::fs::write(&path, "#!/bin/sh\n").expect("write a stand-in binary");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("make it executable");
    }

    #[test]
    fn assets_are_found_or_named_as_missing() {
        let full = tempfile::tempdir().expect("a folder");
        for name in [
            "kube-apiserver",
            "kube-scheduler",
            "kube-controller-manager",
            "etcd",
            "kubectl",
            "openssl",
            "curl",
        ] {
            executable(full.path(), name);
        }
        let without_scheduler = tempfile::tempdir().expect("a folder");
        for name in ["kube-apiserver", "kube-controller-manager"] {
            executable(without_scheduler.path(), name);
        }
        let without_etcd = tempfile::tempdir().expect("a folder");
        for name in [
            "kube-apiserver",
            "kube-scheduler",
            "kube-controller-manager",
        ] {
            executable(without_etcd.path(), name);
        }
        let empty_path = tempfile::tempdir().expect("a folder");
        let folder = |dir: &tempfile::TempDir| dir.path().as_os_str().to_owned();
        // (case, variables, the error's text, or None when everything is found)
        let cases: Vec<(&str, Variables, Option<&str>)> = vec![
            (
                "everything in the folder",
                vec![(ASSETS_VARIABLE, folder(&full))],
                None,
            ),
            ("no variable", vec![], Some("KUBEBUILDER_ASSETS is not set")),
            (
                "an empty variable",
                vec![(ASSETS_VARIABLE, OsString::new())],
                Some("is not set"),
            ),
            (
                "no scheduler",
                vec![(ASSETS_VARIABLE, folder(&without_scheduler))],
                Some("failed to find kube-scheduler in"),
            ),
            (
                "no etcd anywhere",
                vec![
                    (ASSETS_VARIABLE, folder(&without_etcd)),
                    ("PATH", folder(&empty_path)),
                ],
                Some("apt-get install etcd-server"),
            ),
            (
                "etcd from $ETCD",
                vec![
                    (ASSETS_VARIABLE, folder(&without_etcd)),
                    ("ETCD", full.path().join("etcd").into_os_string()),
                    ("PATH", folder(&full)),
                ],
                None,
            ),
        ];
        for (case, variables, expected) in cases {
            let variables: BTreeMap<&str, OsString> = variables.into_iter().collect();
            let result = Assets::from_variables(|name| variables.get(name).cloned());
            match (result, expected) {
                (Ok(_), None) => {}
                (Err(error), Some(text)) => {
                    assert!(error.to_string().contains(text), "{case}: {error}")
                }
                (Ok(assets), Some(text)) => panic!("{case}: found {assets:?}, expected {text:?}"),
                (Err(error), None) => panic!("{case}: {error}"),
            }
        }
    }
}
