//! The catalog compiled into the binary: `data/ec2-catalog.json`, embedded with
//! `include_str!` and parsed once, on first use.
//!
//! This is the only place the crate touches the data file at run time, and it
//! does so without I/O.

use std::sync::OnceLock;

use crate::format::parse_catalog;
use crate::model::Catalog;

/// The text of `data/ec2-catalog.json` as compiled into this build.
pub const EMBEDDED_CATALOG_JSON: &str = include_str!("../data/ec2-catalog.json");

/// The embedded catalog, parsed on first call and shared afterwards.
///
/// # Panics
///
/// Panics if the embedded data file does not parse. The file is generated and
/// checked by this crate's tests, so that means the build itself is broken.
pub fn embedded() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        parse_catalog(EMBEDDED_CATALOG_JSON).expect(
            "the embedded EC2 catalog (data/ec2-catalog.json) is corrupt; \
             regenerate it with the generate-catalog binary",
        )
    })
}
