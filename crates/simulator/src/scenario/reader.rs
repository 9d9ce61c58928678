//! The scenario file being read (`Reader`: its name, text and folder) and how a problem in it
//! is reported: at the field's path and line, with the parser's own location and path
//! prefixes removed from its messages. Both `read` (the scenario's shape and values) and
//! `kubernetes` (the objects inside it) report through it.

use std::path::Path;

use super::ScenarioError;
use spotter_api::locate::line_of;

/// The file being read, to locate and report problems.
pub(super) struct Reader<'a> {
    /// The scenario file's name.
    pub file: &'a str,
    /// Its text.
    pub text: &'a str,
    /// The folder manifest paths are relative to.
    pub base_dir: &'a Path,
}

impl Reader<'_> {
    /// A problem with `field`, at the field's line.
    pub fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        let field = field.into();
        ScenarioError::Invalid {
            file: self.file.to_string(),
            line: line_of(self.text, &field),
            field,
            message: message.into(),
        }
    }

    /// A problem in a manifest file listed at `field`.
    pub fn manifest(&self, field: &str, source: spotter_api::ManifestError) -> ScenarioError {
        ScenarioError::Manifest {
            file: self.file.to_string(),
            line: line_of(self.text, field),
            field: field.to_string(),
            source: Box::new(source),
        }
    }
}

/// Removes the parser's own " at line L column C" (the line is reported separately).
pub(super) fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(position) => message[..position].to_string(),
        None => message.to_string(),
    }
}

/// Removes the parser's own path prefix (`market: unknown field ...`): the field is reported
/// separately.
pub(super) fn strip_path(message: &str, path: &str) -> String {
    match message.split_once(": ") {
        Some((prefix, rest))
            if !prefix.is_empty()
                && !prefix.contains(char::is_whitespace)
                && path.starts_with(prefix) =>
        {
            rest.to_string()
        }
        _ => message.to_string(),
    }
}
