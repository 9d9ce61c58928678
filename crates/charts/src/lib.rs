//! Checks of Spotter's Helm charts (`charts/spotter`, `charts/spotter-nodepools`), used by
//! this crate's tests: finding the outside tools (helm, kubernetes-validate) the way the other
//! test peers are found, running helm, splitting what it renders into objects, and comparing
//! the rendered RBAC rules with the permission list Spotter's code uses
//! (`charts/spotter/rbac-requirements.yaml`).

pub mod helm;
pub mod manifests;
pub mod rbac;
pub mod tools;

use std::path::{Path, PathBuf};

/// The repository's `charts/` folder.
pub fn charts_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts")
}

/// The repository's root folder.
pub fn repository_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
