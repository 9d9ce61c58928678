//! The repository's example Karpenter manifests, for tests that check every one of them: the
//! NodePools and EC2NodeClasses of `examples/seed/*.yaml` and those embedded in the scenarios
//! of `examples/scenarios/*.yaml` (their `nodePools` and `ec2NodeClasses` lists).

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

/// One example manifest.
#[derive(Clone, Debug)]
pub struct Example {
    /// Where it comes from: `examples/seed/nodepools.yaml#2`, `examples/scenarios/default.yaml nodePools[0]`.
    pub source: String,
    /// `NodePool` or `EC2NodeClass`.
    pub kind: String,
    /// The manifest as YAML text.
    pub yaml: String,
}

/// Reading the examples failed.
#[derive(Debug, thiserror::Error)]
#[error("failed to read the example {source_name}: {message}")]
pub struct ExamplesError {
    /// The file.
    pub source_name: String,
    /// What went wrong.
    pub message: String,
}

/// The repository's `examples/` folder.
pub fn examples_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Every NodePool and EC2NodeClass among the examples, in file order.
pub fn karpenter_manifests() -> Result<Vec<Example>, ExamplesError> {
    let mut found = Vec::new();
    for (folder, embedded) in [("seed", false), ("scenarios", true)] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(examples_folder().join(folder))
            .map_err(|error| failure(folder, error))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "yaml")
            })
            .collect();
        paths.sort();
        for path in paths {
            let name = format!(
                "examples/{folder}/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            let text = std::fs::read_to_string(&path).map_err(|error| failure(&name, error))?;
            if embedded {
                let scenario: Value =
                    serde_yaml_ng::from_str(&text).map_err(|error| failure(&name, error))?;
                for list in ["nodePools", "ec2NodeClasses"] {
                    let items = scenario.get(list).and_then(Value::as_sequence);
                    for (index, item) in items.into_iter().flatten().enumerate() {
                        found.push(example(format!("{name} {list}[{index}]"), item, &name)?);
                    }
                }
            } else {
                for (index, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
                    let value = <Value as serde::Deserialize>::deserialize(document)
                        .map_err(|error| failure(&name, error))?;
                    found.push(example(format!("{name}#{}", index + 1), &value, &name)?);
                }
            }
        }
    }
    found.retain(|example| matches!(example.kind.as_str(), "NodePool" | "EC2NodeClass"));
    Ok(found)
}

fn example(source: String, value: &Value, file: &str) -> Result<Example, ExamplesError> {
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let yaml = serde_yaml_ng::to_string(value).map_err(|error| failure(file, error))?;
    Ok(Example { source, kind, yaml })
}

fn failure(source_name: &str, error: impl std::fmt::Display) -> ExamplesError {
    ExamplesError {
        source_name: source_name.to_string(),
        message: error.to_string(),
    }
}
