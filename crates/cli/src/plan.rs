//! `spotter plan`: reads manifests, builds the region's instance types from the embedded
//! catalog, applies `--unavailable`, runs the solver and prints the plan.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use spotter_api::Manifests;
use spotter_core::offering::CapacityType;
use spotter_core::solver::{SchedulingInput, solve};
use spotter_core::unavailable_offerings::{OfferingSelector, UnavailableOfferings};

use crate::plan_output::PlanReport;
use crate::{Failure, OutputFormat, PlanArguments};

/// Runs `spotter plan`.
pub fn run(arguments: &PlanArguments) -> Result<(), Failure> {
    let catalog = spotter_catalog::embedded();
    let region = catalog
        .region(&arguments.region)
        .map_err(|error| Failure::Input(anyhow!(error).context("--region")))?;
    let files = expand_files(&arguments.files).map_err(Failure::Input)?;
    let manifests = Manifests::load(&files).map_err(|error| Failure::Input(error.into()))?;
    for warning in &manifests.warnings {
        eprintln!("warning: {warning}");
    }
    let instance_types = spotter_catalog::instance_types::instance_types(region);
    let mut unavailable = UnavailableOfferings::new();
    for text in &arguments.unavailable {
        let selector = parse_selector(text, region)
            .map_err(|error| Failure::Input(error.context(format!("--unavailable {text:?}"))))?;
        unavailable.mark(selector);
    }
    let input = SchedulingInput {
        pods: &manifests.pending_pods,
        nodes: &manifests.nodes,
        node_pools: &manifests.node_pools,
        instance_types: &instance_types,
        daemon_set_pods: &manifests.daemon_set_pods,
        unavailable: &unavailable,
    };
    let plan = solve(&input);
    let report = PlanReport::new(&region.name, &manifests, &plan);
    let text = match arguments.output {
        OutputFormat::Table => report.table(),
        OutputFormat::Json => serde_json::to_string_pretty(&report)
            .map(|json| json + "\n")
            .map_err(|error| Failure::Internal(error.into()))?,
        OutputFormat::Yaml => {
            serde_yaml_ng::to_string(&report).map_err(|error| Failure::Internal(error.into()))?
        }
    };
    print!("{text}");
    Ok(())
}

/// Files as given, and the `*.yaml` / `*.yml` files of folders, sorted by name.
fn expand_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("failed to read folder {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|entry| is_yaml(entry))
                .collect();
            entries.sort();
            if entries.is_empty() {
                return Err(anyhow!(
                    "folder {} holds no .yaml or .yml file",
                    path.display()
                ));
            }
            files.extend(entries);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(anyhow!("{}: no such file or folder", path.display()));
        }
    }
    Ok(files)
}

fn is_yaml(path: &Path) -> bool {
    path.is_file()
        && matches!(
            path.extension().and_then(|extension| extension.to_str()),
            Some("yaml" | "yml")
        )
}

/// Parses `capacity-type=spot,instance-type=m5.large,zone=ap-northeast-2a`.
fn parse_selector(
    text: &str,
    region: &spotter_catalog::Region,
) -> anyhow::Result<OfferingSelector> {
    let mut selector = OfferingSelector::default();
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            anyhow!("{part:?} is not key=value; keys are capacity-type, instance-type and zone")
        })?;
        match key.trim() {
            "capacity-type" => selector.capacity_type = Some(CapacityType::parse(value.trim())?),
            "instance-type" => {
                if region.offering(value.trim()).is_none() {
                    return Err(anyhow!(
                        "instance type {value:?} is not offered in {}",
                        region.name
                    ));
                }
                selector.instance_type = Some(value.trim().to_string());
            }
            "zone" => {
                if region.zone(value.trim()).is_none() {
                    let zones: Vec<&str> =
                        region.zones.iter().map(|zone| zone.name.as_str()).collect();
                    return Err(anyhow!(
                        "zone {value:?} is not in {}; its zones are {}",
                        region.name,
                        zones.join(", ")
                    ));
                }
                selector.zone = Some(value.trim().to_string());
            }
            other => {
                return Err(anyhow!(
                    "unknown key {other:?}; keys are capacity-type, instance-type and zone"
                ));
            }
        }
    }
    if selector == OfferingSelector::default() {
        return Err(anyhow!(
            "the selector is empty; give at least one of capacity-type=, instance-type=, zone="
        ));
    }
    Ok(selector)
}
