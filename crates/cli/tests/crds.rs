//! `spotter crds` and the chart's committed copy: the stream is the three CRDs, each one
//! document, and `charts/spotter/crds/` holds exactly what `spotter crds --out` writes. When
//! the types change, regenerate the copy with `UPDATE_CRDS=1 cargo test -p spotter --test crds`
//! (or `cargo run -- crds --out charts/spotter/crds`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

const FILES: &[&str] = &[
    "karpenter.sh_nodepools.yaml",
    "karpenter.sh_nodeclaims.yaml",
    "karpenter.k8s.aws_ec2nodeclasses.yaml",
];

fn chart_crds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/spotter/crds")
}

fn spotter(arguments: &[&str]) -> Result<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_spotter"))
        .args(arguments)
        .output()
        .context("failed to run spotter")?;
    ensure!(
        output.status.success(),
        "spotter {} failed: {}",
        arguments.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

#[test]
fn the_stream_holds_the_three_crds_in_order() -> Result<()> {
    let stream = spotter(&["crds"])?;
    let names: Vec<String> = serde_yaml_ng::Deserializer::from_str(&stream)
        .map(|document| {
            let value = <serde_yaml_ng::Value as serde::Deserialize>::deserialize(document)?;
            ensure!(
                value["kind"] == "CustomResourceDefinition",
                "not a CRD: {value:?}"
            );
            Ok(value["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string())
        })
        .collect::<Result<_>>()?;
    assert_eq!(
        names,
        [
            "nodepools.karpenter.sh",
            "nodeclaims.karpenter.sh",
            "ec2nodeclasses.karpenter.k8s.aws"
        ]
    );
    Ok(())
}

#[test]
fn the_charts_copy_of_the_crds_is_fresh() -> Result<()> {
    let generated = tempfile::tempdir()?;
    let folder = generated.path().display().to_string();
    spotter(&["crds", "--out", &folder])?;
    let stream = spotter(&["crds"])?;
    let mut concatenated = String::new();
    let update = std::env::var("UPDATE_CRDS").as_deref() == Ok("1");
    for file in FILES {
        let fresh = std::fs::read_to_string(generated.path().join(file))
            .with_context(|| format!("spotter crds --out wrote no {file}"))?;
        concatenated.push_str(&fresh);
        let committed_path = chart_crds().join(file);
        if update {
            std::fs::create_dir_all(chart_crds())?;
            std::fs::write(&committed_path, &fresh)?;
            continue;
        }
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        assert!(
            committed == fresh,
            "charts/spotter/crds/{file} is stale: regenerate it with `UPDATE_CRDS=1 cargo test -p spotter --test crds` (or `cargo run -- crds --out charts/spotter/crds`) and commit the result"
        );
    }
    assert_eq!(stream, concatenated, "the stream is the files, in order");
    let mut committed_files: Vec<String> = std::fs::read_dir(chart_crds())?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    committed_files.sort();
    let mut expected: Vec<String> = FILES.iter().map(|file| file.to_string()).collect();
    expected.sort();
    assert_eq!(
        committed_files, expected,
        "charts/spotter/crds holds other files"
    );
    Ok(())
}
