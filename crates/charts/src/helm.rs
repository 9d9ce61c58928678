//! [`Helm`]: the `helm` command, for `helm lint --strict` and `helm template` of a chart
//! with a list of values files, as a user or CI would run them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// helm at a path.
#[derive(Clone, Debug)]
pub struct Helm {
    program: PathBuf,
}

/// What to render: a chart, its values files, and the cluster it is meant for.
#[derive(Clone, Debug)]
pub struct Render {
    /// The chart's folder.
    pub chart: PathBuf,
    /// The release's name.
    pub release: String,
    /// The release's namespace.
    pub namespace: String,
    /// Values files, in order (later ones win).
    pub values_files: Vec<PathBuf>,
    /// `--set` assignments, after the files.
    pub set: Vec<String>,
    /// The target cluster's Kubernetes version (`--kube-version`); helm's default when unset.
    pub kube_version: Option<String>,
}

/// A helm command failed.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    /// helm could not be run.
    #[error("failed to run helm {arguments}: {source}")]
    Spawn {
        /// The arguments.
        arguments: String,
        /// The error.
        source: std::io::Error,
    },
    /// helm exited with an error (or, for lint, printed a warning).
    #[error("helm {arguments} failed ({status}): {output}")]
    Failed {
        /// The arguments.
        arguments: String,
        /// Its exit status.
        status: String,
        /// Its standard output and error.
        output: String,
    },
}

impl Helm {
    /// helm at `program`.
    pub fn new(program: PathBuf) -> Self {
        Helm { program }
    }

    /// `helm lint --strict` of the chart with its values files; returns helm's report.
    pub fn lint_strict(&self, render: &Render) -> Result<String, HelmError> {
        let mut arguments = vec![
            "lint".to_string(),
            "--strict".to_string(),
            render.chart.display().to_string(),
            "--namespace".to_string(),
            render.namespace.clone(),
        ];
        arguments.extend(value_arguments(render));
        self.run(&arguments)
    }

    /// `helm template` of the chart: the rendered manifests.
    pub fn template(&self, render: &Render) -> Result<String, HelmError> {
        let mut arguments = vec![
            "template".to_string(),
            render.release.clone(),
            render.chart.display().to_string(),
            "--namespace".to_string(),
            render.namespace.clone(),
        ];
        arguments.extend(value_arguments(render));
        if let Some(version) = &render.kube_version {
            arguments.push("--kube-version".to_string());
            arguments.push(version.clone());
        }
        self.run(&arguments)
    }

    /// `helm install --dry-run=server` into the cluster of `kubeconfig`: helm reads the
    /// cluster's version and APIs, renders, and prints the manifests and NOTES.txt.
    pub fn install_dry_run(&self, render: &Render, kubeconfig: &Path) -> Result<String, HelmError> {
        let mut arguments = vec![
            "install".to_string(),
            render.release.clone(),
            render.chart.display().to_string(),
            "--namespace".to_string(),
            render.namespace.clone(),
            "--dry-run=server".to_string(),
            "--kubeconfig".to_string(),
            kubeconfig.display().to_string(),
        ];
        arguments.extend(value_arguments(render));
        self.run(&arguments)
    }

    fn run(&self, arguments: &[String]) -> Result<String, HelmError> {
        let joined = arguments.join(" ");
        let output = Command::new(&self.program)
            .args(arguments)
            // helm keeps caches and settings under $HOME; the charts need none of them.
            .env(
                "HELM_CACHE_HOME",
                std::env::temp_dir().join("spotter-helm-cache"),
            )
            .output()
            .map_err(|source| HelmError::Spawn {
                arguments: joined.clone(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(HelmError::Failed {
                arguments: joined,
                status: output.status.to_string(),
                output: format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)),
            })
        }
    }
}

fn value_arguments(render: &Render) -> Vec<String> {
    let files = render
        .values_files
        .iter()
        .flat_map(|file| ["--values".to_string(), file.display().to_string()]);
    let sets = render
        .set
        .iter()
        .flat_map(|assignment| ["--set".to_string(), assignment.clone()]);
    files.chain(sets).collect()
}
