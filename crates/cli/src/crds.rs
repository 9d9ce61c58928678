//! `spotter crds`: Karpenter's CRDs (NodePool, NodeClaim, EC2NodeClass) as Spotter's types
//! generate them: one multi-document YAML stream on stdout (`spotter crds | kubectl apply -f -`),
//! or one file per CRD in a folder (`--out charts/spotter/crds`, the chart's committed copy).

use std::path::PathBuf;

use anyhow::Context;

use crate::Failure;

/// Arguments of `spotter crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArguments {
    /// Write one file per CRD (karpenter.sh_nodepools.yaml, ...) into this folder instead of
    /// printing them.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Prints or writes the CRDs.
pub fn run(arguments: &CrdsArguments) -> Result<(), Failure> {
    let crds = spotter_api::crd::all()
        .context("failed to generate the CRDs")
        .map_err(Failure::Internal)?;
    match &arguments.out {
        None => {
            let stream = spotter_api::crd::to_yaml_stream(&crds)
                .context("failed to render the CRDs")
                .map_err(Failure::Internal)?;
            print!("{stream}");
        }
        Some(folder) => {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("failed to create {}", folder.display()))
                .map_err(Failure::Input)?;
            for crd in &crds {
                let path = folder.join(spotter_api::crd::file_name(crd));
                let text = spotter_api::crd::to_yaml(crd)
                    .context("failed to render the CRDs")
                    .map_err(Failure::Internal)?;
                std::fs::write(&path, text)
                    .with_context(|| format!("failed to write {}", path.display()))
                    .map_err(Failure::Input)?;
            }
        }
    }
    Ok(())
}
