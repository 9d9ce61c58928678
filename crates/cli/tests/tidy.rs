//! Tidy: the layer invariants clippy cannot check, read from the source text (in the manner of
//! rust-analyzer's `tidy.rs`). Two rules:
//!
//! - `pure-crate-dependency`: a pure crate's `Cargo.toml` depends on no async runtime, no
//!   Kubernetes client and no AWS or HTTP stack (tokio, kube*, k8s-openapi, aws-*, hyper*,
//!   axum*, ...). `spotter-api` may use k8s-openapi: it is the edge where Kubernetes types
//!   become core types. Development dependencies are not checked (a test may use what it
//!   needs).
//! - `policy-preset-branch`: no code outside `crates/controllers/src/settings.rs` branches on
//!   the policy preset: the presets differ only in `Settings` values (see ARCHITECTURE.md).
//!
//! Every crate under `crates/` must be listed in `PURE_CRATES` or `EDGE_CRATES`, so that a new
//! crate is classified when it is added. The rules are plain line matching, kept simple
//! enough to read; each is tested on small strings below, so that it is known to catch what
//! it names.

use std::path::{Path, PathBuf};

/// Crates with no I/O, clock, async runtime, Kubernetes client or AWS SDK (folder names under
/// `crates/`). The workspace's clippy.toml forbids their wall-clock, file, network and
/// environment calls.
const PURE_CRATES: &[&str] = &[
    "api",
    "catalog",
    "cloud",
    "controllers",
    "core",
    "interruption",
    "market",
    "metrics",
    "report",
    "soak",
];

/// Crates that do I/O: the binary, the node agent, the AWS provider, the fake-node provider, the
/// Kubernetes driver, the Helm charts' checks (they run helm), the HTTP server, the simulator
/// driver, and the test support that starts real peers.
const EDGE_CRATES: &[&str] = &[
    "agent",
    "aws",
    "charts",
    "cli",
    "fake-cloud",
    "kubernetes",
    "server",
    "simulator",
    "test-support",
];

/// Dependencies a pure crate must not have: a name equal to an entry, or starting with an
/// entry that ends in `-` or `*` (`aws-` forbids `aws-sdk-ec2`, `kube*` forbids `kube` and
/// `kube-runtime`).
const FORBIDDEN_IN_PURE_CRATES: &[&str] = &[
    "tokio*",
    "async-std",
    "smol",
    "futures-executor",
    "kube*",
    "k8s-openapi",
    "aws-",
    "hyper*",
    "axum*",
    "tower*",
    "reqwest",
    "ureq",
    "tonic",
];

/// Exceptions to `FORBIDDEN_IN_PURE_CRATES`: (crate folder, dependency).
const ALLOWED_EXCEPTIONS: &[(&str, &str)] = &[
    // The API layer converts Kubernetes objects into core types: it is the edge for them.
    ("api", "k8s-openapi"),
    // The CRDs are generated from the API layer's types: kube with its `derive` feature only
    // (kube-core and kube-derive, no client, no runtime).
    ("api", "kube"),
];

/// The one file allowed to branch on the policy preset: it maps each preset to its settings.
const POLICY_PRESET_HOME: &str = "crates/controllers/src/settings.rs";

/// One broken rule, printed as `file:line: [rule] what`.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    rule: &'static str,
    detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{}:{}: [{}] {}",
            self.file, self.line, self.rule, self.detail
        )
    }
}

#[test]
fn every_crate_is_classified_pure_or_edge() {
    let unclassified: Vec<String> = crate_folders()
        .into_iter()
        .filter(|name| {
            !PURE_CRATES.contains(&name.as_str()) && !EDGE_CRATES.contains(&name.as_str())
        })
        .collect();
    assert!(
        unclassified.is_empty(),
        "crates/{unclassified:?}: [unclassified-crate] add each to PURE_CRATES or EDGE_CRATES in {}",
        file!()
    );
    for name in PURE_CRATES.iter().chain(EDGE_CRATES) {
        assert!(
            workspace_root().join("crates").join(name).is_dir(),
            "crates/{name}: [unknown-crate] listed in {} but not a folder under crates/",
            file!()
        );
    }
}

#[test]
fn pure_crates_depend_on_no_runtime_kubernetes_or_aws() {
    let mut violations = Vec::new();
    for name in PURE_CRATES {
        let file = format!("crates/{name}/Cargo.toml");
        let text = read(&workspace_root().join(&file));
        violations.extend(forbidden_dependencies(name, &file, &text));
    }
    assert_no_violations(&violations);
}

#[test]
fn only_the_settings_branch_on_the_policy_preset() {
    let mut violations = Vec::new();
    for path in rust_sources() {
        let file = relative(&path);
        if file == POLICY_PRESET_HOME {
            continue;
        }
        violations.extend(policy_preset_branches(&file, &read(&path)));
    }
    assert_no_violations(&violations);
}

/// The dependencies of a crate's `Cargo.toml` text that break `pure-crate-dependency`.
///
/// The rule: in every section whose header ends in `dependencies]` except
/// `[dev-dependencies]` (so `[dependencies]`, `[build-dependencies]`,
/// `[target.'cfg(..)'.dependencies]`), each `name = ...` or `name.workspace = ...` key, and each
/// `[dependencies.name]` header, names a dependency; so does `package = "name"` (a renamed
/// one). A dependency is forbidden when it matches `FORBIDDEN_IN_PURE_CRATES` and is not in
/// `ALLOWED_EXCEPTIONS`.
fn forbidden_dependencies(crate_name: &str, file: &str, cargo_toml: &str) -> Vec<Violation> {
    /// Where a line is.
    #[derive(Clone, Copy, PartialEq)]
    enum Section {
        /// A list of dependencies: each key names one.
        Dependencies,
        /// `[dependencies.name]`: one dependency's table (its `package` may rename it).
        OneDependency,
        /// Anything else.
        Other,
    }
    let is_dependencies =
        |section: &str| section.ends_with("dependencies") && !section.ends_with("dev-dependencies");
    let mut violations = Vec::new();
    let mut section = Section::Other;
    for (index, line) in cargo_toml.lines().enumerate() {
        let line = strip_toml_comment(line).trim();
        let mut named = Vec::new();
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']');
            section = if is_dependencies(header) {
                Section::Dependencies
            } else if let Some((parent, dependency)) = header.rsplit_once('.')
                && is_dependencies(parent)
            {
                named.push(dependency.trim_matches('"').to_owned());
                Section::OneDependency
            } else {
                Section::Other
            };
        } else if let Some((key, value)) = line.split_once('=') {
            let key = key.trim();
            if section == Section::Dependencies {
                // `tokio = ...`, `tokio.workspace = true`, `name = { package = "tokio" }`.
                let name = key.split('.').next().unwrap_or_default().trim_matches('"');
                named.push(name.to_owned());
                named.extend(renamed_package(value));
            } else if section == Section::OneDependency && key == "package" {
                named.extend(renamed_package(line));
            }
        }
        for dependency in named {
            if is_forbidden(&dependency)
                && !ALLOWED_EXCEPTIONS.contains(&(crate_name, dependency.as_str()))
            {
                violations.push(Violation {
                    file: file.to_owned(),
                    line: index + 1,
                    rule: "pure-crate-dependency",
                    detail: format!(
                        "the pure crate {crate_name} depends on {dependency}: async runtimes, Kubernetes clients, AWS and HTTP stacks belong in a driver crate"
                    ),
                });
            }
        }
    }
    violations
}

/// The lines of a Rust source that break `policy-preset-branch`.
///
/// The rule, on each line with its `//` comment removed: the line names a preset
/// (`Policy::Spotter`, `Policy::Karpenter`) or the settings' preset field (`settings.policy`)
/// and also branches: a `match` or an `if`, a match arm (`=>`), a comparison (`==`, `!=`) or
/// `matches!`. Naming a preset to build settings (`Settings::for_policy(Policy::Karpenter)`,
/// `policy: Policy::Spotter`) is not a branch.
fn policy_preset_branches(file: &str, source: &str) -> Vec<Violation> {
    const PRESET_NAMES: [&str; 3] = ["Policy::Spotter", "Policy::Karpenter", "settings.policy"];
    const BRANCH_KEYWORDS: [&str; 2] = ["match", "if"];
    const BRANCH_SYMBOLS: [&str; 4] = ["=>", "==", "!=", "matches!"];
    let mut violations = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let code = strip_rust_comment(line);
        let Some(preset) = PRESET_NAMES.iter().find(|name| code.contains(*name)) else {
            continue;
        };
        let mut words = code.split(|c: char| !(c.is_alphanumeric() || c == '_'));
        let branch = words
            .find_map(|word| BRANCH_KEYWORDS.into_iter().find(|keyword| word == *keyword))
            .or_else(|| {
                BRANCH_SYMBOLS
                    .into_iter()
                    .find(|symbol| code.contains(symbol))
            });
        if let Some(branch) = branch {
            violations.push(Violation {
                file: file.to_owned(),
                line: index + 1,
                rule: "policy-preset-branch",
                detail: format!(
                    "`{}` branches on {preset} with `{branch}`: presets differ only in Settings values (give the behaviour a Settings field, set it in {POLICY_PRESET_HOME})",
                    code.trim(),
                ),
            });
        }
    }
    violations
}

/// Whether a dependency name matches `FORBIDDEN_IN_PURE_CRATES`.
fn is_forbidden(dependency: &str) -> bool {
    FORBIDDEN_IN_PURE_CRATES.iter().any(|pattern| {
        if let Some(prefix) = pattern.strip_suffix('*') {
            dependency.starts_with(prefix)
        } else if pattern.ends_with('-') {
            dependency.starts_with(pattern)
        } else {
            dependency == *pattern
        }
    })
}

/// The name in a `package = "name"` inside `value`, if there is one.
fn renamed_package(value: &str) -> Option<String> {
    let after = value
        .split("package")
        .nth(1)?
        .trim_start()
        .strip_prefix('=')?;
    let name = after.trim_start().strip_prefix('"')?;
    Some(name.split('"').next()?.to_owned())
}

/// A TOML line without its `#` comment (a `#` inside a string is rare in a Cargo.toml and
/// only ever makes the check stricter).
fn strip_toml_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or_default()
}

/// A Rust line without its `//` comment (doc comments included). A `//` inside a string
/// literal cuts the line short, which can only hide a branch on that same line.
fn strip_rust_comment(line: &str) -> &str {
    line.split("//").next().unwrap_or_default()
}

fn assert_no_violations(violations: &[Violation]) {
    let report: Vec<String> = violations.iter().map(Violation::to_string).collect();
    assert!(violations.is_empty(), "tidy:\n{}", report.join("\n"));
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder names under `crates/`, sorted.
fn crate_folders() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("crates"))
        .expect("crates/ is readable")
        .map(|entry| entry.expect("crates/ lists").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .map(|path| {
            path.file_name()
                .expect("a folder name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Every `.rs` file under `crates/*/src`, sorted (tests, benches and examples may name the
/// presets as they like: they choose which preset to run, they do not implement one).
fn rust_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for name in crate_folders() {
        collect_rust_files(
            &workspace_root().join("crates").join(name).join("src"),
            &mut files,
        );
    }
    files.sort();
    files
}

fn collect_rust_files(folder: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("a folder lists").path();
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// `path` relative to the workspace root, with `/` separators.
fn relative(path: &Path) -> String {
    let root = workspace_root()
        .canonicalize()
        .expect("the workspace root exists");
    let path = path.canonicalize().expect("a listed file exists");
    path.strip_prefix(&root)
        .unwrap_or(&path)
        .components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()))
}

// The checkers on small texts: each rule catches what it names and lets the rest through.

#[test]
fn forbidden_dependencies_are_found_in_every_form() {
    let cases = [
        (
            "plain",
            "core",
            "[dependencies]\ntokio = \"1\"\n",
            vec![(2, "tokio")],
        ),
        (
            "workspace",
            "core",
            "[dependencies]\nthiserror.workspace = true\nkube.workspace = true\n",
            vec![(3, "kube")],
        ),
        (
            "prefixed",
            "cloud",
            "[dependencies]\naws-sdk-ec2 = { version = \"1\" }\nkube-runtime = \"2\"\ntokio-util = \"0.7\"\n",
            vec![(2, "aws-sdk-ec2"), (3, "kube-runtime"), (4, "tokio-util")],
        ),
        (
            "table",
            "controllers",
            "[dependencies.hyper]\nversion = \"1\"\n[dependencies.runtime]\npackage = \"tokio\"\n",
            vec![(1, "hyper"), (4, "tokio")],
        ),
        (
            "renamed",
            "core",
            "[dependencies]\nruntime = { package = \"tokio\", version = \"1\" }\n",
            vec![(2, "tokio")],
        ),
        (
            "target",
            "metrics",
            "[target.'cfg(unix)'.dependencies]\naxum = \"0.8\"\n",
            vec![(2, "axum")],
        ),
        (
            "build",
            "report",
            "[build-dependencies]\nreqwest = \"0.12\"\n",
            vec![(2, "reqwest")],
        ),
        (
            "dev only",
            "core",
            "[dev-dependencies]\ntokio = \"1\"\n[package]\nname = \"tokio\"\n",
            vec![],
        ),
        (
            "api may convert k8s",
            "api",
            "[dependencies]\nk8s-openapi.workspace = true\n",
            vec![],
        ),
        (
            "k8s elsewhere",
            "core",
            "[dependencies]\nk8s-openapi.workspace = true # not here\nserde = \"1\"\n",
            vec![(2, "k8s-openapi")],
        ),
    ];
    for (name, crate_name, text, expected) in cases {
        let found: Vec<(usize, String)> = forbidden_dependencies(crate_name, "Cargo.toml", text)
            .into_iter()
            .map(|violation| {
                assert_eq!(violation.rule, "pure-crate-dependency", "{name}");
                let dependency = violation
                    .detail
                    .split(" depends on ")
                    .nth(1)
                    .and_then(|rest| rest.split(':').next())
                    .unwrap_or_default()
                    .to_owned();
                (violation.line, dependency)
            })
            .collect();
        let expected: Vec<(usize, String)> = expected
            .into_iter()
            .map(|(line, dependency)| (line, dependency.to_owned()))
            .collect();
        assert_eq!(found, expected, "{name}");
    }
}

#[test]
fn policy_preset_branches_are_found_and_settings_values_pass() {
    let cases = [
        (
            "match arm",
            "match policy {\n    Policy::Spotter => 1,\n    Policy::Karpenter => 2,\n}\n",
            vec![2, 3],
        ),
        (
            "or-pattern arm",
            "    Policy::Spotter | Policy::Karpenter => {}\n",
            vec![1],
        ),
        (
            "comparison",
            "if settings.policy == Policy::Karpenter {\n",
            vec![1],
        ),
        (
            "inequality",
            "let plain = policy != Policy::Spotter;\n",
            vec![1],
        ),
        (
            "matches!",
            "let spot_first = matches!(policy, Policy::Spotter);\n",
            vec![1],
        ),
        (
            "if let",
            "if let Policy::Karpenter = self.policy {\n",
            vec![1],
        ),
        (
            "match on the field",
            "    match self.settings.policy {\n",
            vec![1],
        ),
        (
            "building settings",
            "let settings = Settings::for_policy(Policy::Karpenter);\n",
            vec![],
        ),
        (
            "a preset as a value",
            "Options { policy: Policy::Spotter, ..Options::default() }\n",
            vec![],
        ),
        (
            "in a comment",
            "// match Policy::Spotter => here is prose\n/// `Policy::Karpenter` == plain\n",
            vec![],
        ),
        (
            "another policy type",
            "ConsolidationPolicy::WhenEmpty => true,\n",
            vec![],
        ),
        (
            "a word containing if",
            "let diff = Policy::Spotter;\n",
            vec![],
        ),
    ];
    for (name, source, expected) in cases {
        let found: Vec<usize> = policy_preset_branches("src/example.rs", source)
            .iter()
            .map(|violation| {
                assert_eq!(violation.rule, "policy-preset-branch", "{name}");
                assert!(
                    violation.to_string().starts_with(&format!(
                        "src/example.rs:{}: [policy-preset-branch] ",
                        violation.line
                    )),
                    "{name}: {violation}"
                );
                violation.line
            })
            .collect();
        assert_eq!(found, expected, "{name}");
    }
}
