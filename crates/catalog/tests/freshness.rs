//! Checks that the committed `data/ec2-catalog.json` is exactly what the
//! generator makes from the source data in `SPOTTER_EC2_SOURCE_DIR`.
//!
//! Without that variable the check is skipped with a note, except under CI
//! (`CI=true`), where the source data must be provided.

// Reads the source data named by an environment variable, as CI provides it.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use spotter_catalog::EMBEDDED_CATALOG_JSON;
use spotter_catalog::generate::{SourceTexts, generate_catalog_json};

const SOURCE_DIR_VARIABLE: &str = "SPOTTER_EC2_SOURCE_DIR";

#[test]
fn committed_catalog_matches_the_source_data() {
    let Some(dir) = std::env::var_os(SOURCE_DIR_VARIABLE) else {
        let ci = std::env::var("CI").unwrap_or_default();
        if ci.eq_ignore_ascii_case("true") || ci == "1" {
            panic!(
                "{SOURCE_DIR_VARIABLE} is not set: CI must point it at the EC2 source data \
                 folder (instance-types.json, prices-<region>.json) so the freshness check runs"
            );
        }
        eprintln!(
            "note: {SOURCE_DIR_VARIABLE} is not set; skipping the check that \
             data/ec2-catalog.json is up to date with the EC2 source data"
        );
        return;
    };
    let dir = resolve(Path::new(&dir));
    let sources = SourceTexts::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{SOURCE_DIR_VARIABLE}={}: {error}", dir.display()));
    let generated = generate_catalog_json(&sources)
        .unwrap_or_else(|error| panic!("generating from {}: {error}", dir.display()));
    if generated != EMBEDDED_CATALOG_JSON {
        let first_difference = generated
            .lines()
            .zip(EMBEDDED_CATALOG_JSON.lines())
            .position(|(fresh, committed)| fresh != committed)
            .map_or_else(
                || "one file is a prefix of the other".to_owned(),
                |index| format!("first difference at line {}", index + 1),
            );
        panic!(
            "crates/catalog/data/ec2-catalog.json is stale ({first_difference}). Regenerate it \
             with:\n    cargo run -p spotter-catalog --bin generate-catalog -- --source {}",
            dir.display()
        );
    }
}

/// The source folder as given, or, when relative and missing, relative to the
/// workspace root (tests run in the crate folder, people usually don't).
fn resolve(dir: &Path) -> PathBuf {
    let candidates = [
        dir.to_path_buf(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir),
    ];
    let found = if dir.is_relative() && !dir.exists() {
        &candidates[1]
    } else {
        &candidates[0]
    };
    found.canonicalize().unwrap_or_else(|_| found.clone())
}
