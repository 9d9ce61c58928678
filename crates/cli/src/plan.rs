//! `spotter plan`: reads manifests, builds the region's instance types from the embedded
//! catalog, applies `--unavailable`, runs the solver and prints the plan; it fails with exit
//! code 4 when some pod is unschedulable, so that CI can gate on a plan.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use spotter_api::Manifests;
use spotter_core::offering::CapacityType;
use spotter_core::solver::{SchedulingInput, solve};
use spotter_core::unavailable_offerings::{OfferingSelector, UnavailableOfferings};

use crate::output::write_stdout;
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
    let zones: Vec<&str> = region.zones.iter().map(|zone| zone.name.as_str()).collect();
    let zone_warnings = manifests.unknown_zone_warnings(&region.name, &zones);
    for warning in manifests.warnings.iter().chain(&zone_warnings) {
        eprintln!("warning: {warning}");
    }
    let instance_types = spotter_catalog::instance_types::instance_types(region);
    let mut unavailable = UnavailableOfferings::new();
    for text in &arguments.unavailable {
        let selectors = parse_selector(text, region)
            .map_err(|error| Failure::Input(error.context(format!("--unavailable {text:?}"))))?;
        for selector in selectors {
            unavailable.mark(selector);
        }
    }
    let input = SchedulingInput {
        pods: &manifests.pending_pods,
        nodes: &manifests.nodes,
        node_pools: &manifests.node_pools,
        instance_types: &instance_types,
        daemon_set_pods: &manifests.daemon_set_pods,
        unavailable: &unavailable,
        pool_usage: None,
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
    write_stdout(&text).map_err(|error| {
        Failure::Internal(anyhow::Error::from(error).context("failed to write the plan"))
    })?;
    if plan.unschedulable.is_empty() {
        Ok(())
    } else {
        Err(Failure::Unschedulable(plan.unschedulable.len()))
    }
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

/// Parses `capacity-type=spot,instance-type=m5.large,zone=ap-northeast-2a`: the keys are
/// ANDed, and a key given several times means any of its values (`capacity-type=spot,
/// capacity-type=on-demand` is both capacity types), so one text may give several selectors.
fn parse_selector(
    text: &str,
    region: &spotter_catalog::Region,
) -> anyhow::Result<Vec<OfferingSelector>> {
    let mut capacity_types: Vec<CapacityType> = Vec::new();
    let mut instance_types: Vec<String> = Vec::new();
    let mut zones: Vec<String> = Vec::new();
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            anyhow!("{part:?} is not key=value; keys are capacity-type, instance-type and zone")
        })?;
        let value = value.trim();
        match key.trim() {
            "capacity-type" => capacity_types.push(CapacityType::parse(value)?),
            "instance-type" => {
                if region.offering(value).is_none() {
                    return Err(anyhow!(
                        "instance type {value:?} is not offered in {}",
                        region.name
                    ));
                }
                instance_types.push(value.to_string());
            }
            "zone" => {
                if region.zone(value).is_none() {
                    let zones: Vec<&str> =
                        region.zones.iter().map(|zone| zone.name.as_str()).collect();
                    return Err(anyhow!(
                        "zone {value:?} is not in {}; its zones are {}",
                        region.name,
                        zones.join(", ")
                    ));
                }
                zones.push(value.to_string());
            }
            other => {
                return Err(anyhow!(
                    "unknown key {other:?}; keys are capacity-type, instance-type and zone"
                ));
            }
        }
    }
    if capacity_types.is_empty() && instance_types.is_empty() && zones.is_empty() {
        return Err(anyhow!(
            "the selector is empty; give at least one of capacity-type=, instance-type=, zone="
        ));
    }
    // An absent key is open: one `None` stands for every value.
    let open_or_each = |values: Vec<String>| -> Vec<Option<String>> {
        if values.is_empty() {
            vec![None]
        } else {
            values.into_iter().map(Some).collect()
        }
    };
    let capacity_types: Vec<Option<CapacityType>> = if capacity_types.is_empty() {
        vec![None]
    } else {
        capacity_types.into_iter().map(Some).collect()
    };
    let instance_types = open_or_each(instance_types);
    let zones = open_or_each(zones);
    let mut selectors = Vec::new();
    for capacity_type in &capacity_types {
        for instance_type in &instance_types {
            for zone in &zones {
                let selector = OfferingSelector {
                    capacity_type: *capacity_type,
                    instance_type: instance_type.clone(),
                    zone: zone.clone(),
                };
                if !selectors.contains(&selector) {
                    selectors.push(selector);
                }
            }
        }
    }
    Ok(selectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_selector_unions_repeated_keys() {
        let Ok(region) = spotter_catalog::embedded().region("us-east-1") else {
            panic!("the catalog has us-east-1");
        };
        let selector = |capacity_type: Option<CapacityType>, zone: Option<&str>| OfferingSelector {
            capacity_type,
            instance_type: None,
            zone: zone.map(str::to_string),
        };
        let cases = [
            (
                "capacity-type=spot",
                vec![selector(Some(CapacityType::Spot), None)],
            ),
            (
                "capacity-type=spot,capacity-type=on-demand",
                vec![
                    selector(Some(CapacityType::Spot), None),
                    selector(Some(CapacityType::OnDemand), None),
                ],
            ),
            (
                "capacity-type=spot,zone=us-east-1a,zone=us-east-1b,capacity-type=spot",
                vec![
                    selector(Some(CapacityType::Spot), Some("us-east-1a")),
                    selector(Some(CapacityType::Spot), Some("us-east-1b")),
                ],
            ),
        ];
        for (text, expected) in cases {
            let parsed = parse_selector(text, region).unwrap_or_else(|error| panic!("{error}"));
            assert_eq!(parsed, expected, "{text}");
        }
        assert!(parse_selector("", region).is_err());
    }
}
