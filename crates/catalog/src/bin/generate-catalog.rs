//! `generate-catalog`: converts the public EC2 source files into the catalog
//! data file embedded by `spotter-catalog`.
//!
//! ```text
//! cargo run -p spotter-catalog --bin generate-catalog -- --source DIR [--out FILE]
//! ```
//!
//! `DIR` holds `instance-types.json` and `prices-<region>.json`. `FILE`
//! defaults to this crate's `data/ec2-catalog.json`.

// A build tool: it reads the source data and writes the data file.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use spotter_catalog::generate::{GenerateError, SourceTexts, generate_catalog_json};
use spotter_catalog::parse_catalog;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "Convert the public EC2 data into spotter-catalog's data/ec2-catalog.json")]
struct Arguments {
    /// Folder with instance-types.json and prices-REGION.json.
    #[arg(long, value_name = "DIR")]
    source: PathBuf,
    /// Output file [default: this crate's data/ec2-catalog.json].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    match run(&arguments) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("generate-catalog: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(arguments: &Arguments) -> Result<(), GenerateError> {
    let out = arguments
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/ec2-catalog.json"));
    let sources = SourceTexts::read_dir(&arguments.source)?;
    let text = generate_catalog_json(&sources)?;
    std::fs::write(&out, &text).map_err(|source| GenerateError::Write {
        path: out.clone(),
        source,
    })?;
    let catalog = parse_catalog(&text).map_err(GenerateError::SelfCheck)?;
    eprintln!("wrote {} ({} bytes)", out.display(), text.len());
    for name in catalog.regions() {
        if let Ok(region) = catalog.region(name) {
            let offerings = region.offerings().count();
            let spot = region.offerings().filter(|(_, p)| p.spot_offered()).count();
            let estimated = region
                .offerings()
                .filter(|(_, p)| p.on_demand.estimated)
                .count();
            eprintln!(
                "  {name}: {offerings} instance types ({estimated} with estimated on-demand), \
                 {spot} offered as Spot"
            );
        }
    }
    for (region, ratio) in &catalog.meta.on_demand_ratios {
        eprintln!(
            "  {region} / {} on-demand ratio: {} over {} types",
            ratio.base_region, ratio.median, ratio.pairs
        );
    }
    let check = &catalog.meta.allocatable_check;
    eprintln!(
        "  allocatable formula: {}/{} documented types reproduced exactly",
        check.exact, check.compared
    );
    Ok(())
}
