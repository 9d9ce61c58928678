//! Multi-document YAML files: splitting them into documents, reading each document's
//! `apiVersion`, `kind` and name, and deserialising it into a typed manifest while keeping the
//! file, the document, the line and the field path of anything that goes wrong.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::locate::line_of;

/// Where in the inputs an object or a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file name as given.
    pub file: String,
    /// The document's position in the file, from 1.
    pub document: usize,
    /// `Kind "name"`, once known.
    pub object: Option<String>,
    /// The line in the file, from 1, when known.
    pub line: Option<usize>,
}

/// Everything that can be wrong with a manifest file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("failed to read {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A document is not valid YAML.
    #[error("{location}: failed to parse YAML: {message}")]
    Yaml {
        /// Where.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// A document has a kind Spotter does not read.
    #[error(
        "{location}: unknown kind {kind:?} (apiVersion {api_version:?}); expected karpenter.sh/v1 NodePool, karpenter.k8s.aws/v1 EC2NodeClass, v1 Pod or Node, apps/v1 Deployment or DaemonSet, or batch/v1 Job"
    )]
    UnknownKind {
        /// Where.
        location: Location,
        /// The document's apiVersion.
        api_version: String,
        /// The document's kind.
        kind: String,
    },
    /// A field has a value that is not allowed.
    #[error("{location}: field {field}: {message}")]
    Invalid {
        /// Where.
        location: Location,
        /// The field path (`spec.template.spec.requirements[0].operator`).
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// A problem with one field, before its location in the file is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field path.
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// One YAML document of a file.
#[derive(Debug)]
pub struct Document<'a> {
    /// Where it is.
    pub location: Location,
    /// Its text.
    pub text: &'a str,
    /// The line its text starts on, from 1.
    pub first_line: usize,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// The parsed document when its header had to be read from it (see `peek_header`).
    value: Option<serde_yaml_ng::Value>,
}

/// Splits `text` into its non-empty YAML documents and reads each one's `apiVersion` and
/// `kind`.
pub fn documents<'a>(file: &str, text: &'a str) -> Result<Vec<Document<'a>>, ManifestError> {
    let mut documents = Vec::new();
    each_document(file, text, |document| {
        documents.push(document);
        Ok(())
    })?;
    Ok(documents)
}

/// [`documents`], one at a time: each is handed to `visit` and dropped before the next is
/// parsed, so that a large file never holds all its parsed documents at once. Returns how many
/// there were.
pub fn each_document<'a>(
    file: &str,
    text: &'a str,
    mut visit: impl FnMut(Document<'a>) -> Result<(), ManifestError>,
) -> Result<usize, ManifestError> {
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    let mut pieces = Vec::new();
    for (line_number, line) in (1..).zip(text.split_inclusive('\n')) {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "..." {
            pieces.push((start, offset, start_line));
            start = offset + line.len();
            start_line = line_number + 1;
        }
        offset += line.len();
    }
    pieces.push((start, text.len(), start_line));
    let mut index = 0;
    for (begin, end, first_line) in pieces {
        let piece = &text[begin..end];
        if piece
            .lines()
            .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
        {
            continue;
        }
        index += 1;
        let mut location = Location {
            file: file.to_string(),
            document: index,
            object: None,
            line: Some(first_line),
        };
        // The common layout (`apiVersion:`, `kind:` and `metadata:` with `name:` as plain
        // top-level keys) is read from the lines, and the document parsed once, straight into
        // its type; anything else is parsed into a value first.
        if let Some(header) = peek_header(piece) {
            location.object = Some(format!("{} {:?}", header.kind, header.name));
            visit(Document {
                location,
                text: piece,
                first_line,
                api_version: header.api_version,
                kind: header.kind,
                value: None,
            })?;
            continue;
        }
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(piece).map_err(|error| ManifestError::Yaml {
                location: Location {
                    line: error
                        .location()
                        .map(|at| first_line + at.line() - 1)
                        .or(Some(first_line)),
                    ..location.clone()
                },
                message: strip_location(&error.to_string()),
            })?;
        let text_field = |name: &str| {
            value
                .get(name)
                .and_then(serde_yaml_ng::Value::as_str)
                .map(str::to_string)
        };
        let invalid = |location: &Location, field: &str, message: &str| ManifestError::Invalid {
            location: location.clone(),
            field: field.to_string(),
            message: message.to_string(),
        };
        if !value.is_mapping() {
            return Err(invalid(
                &location,
                "(document)",
                "expected a Kubernetes object (a mapping with apiVersion and kind)",
            ));
        }
        let kind = text_field("kind")
            .ok_or_else(|| invalid(&location, "kind", "missing: every object needs a kind"))?;
        let api_version = text_field("apiVersion").ok_or_else(|| {
            invalid(
                &location,
                "apiVersion",
                "missing: every object needs an apiVersion",
            )
        })?;
        let name = value
            .get("metadata")
            .and_then(|metadata| metadata.get("name"))
            .and_then(serde_yaml_ng::Value::as_str);
        location.object = Some(match name {
            Some(name) => format!("{kind} {name:?}"),
            None => kind.clone(),
        });
        visit(Document {
            location,
            text: piece,
            first_line,
            api_version,
            kind,
            value: Some(value),
        })?;
    }
    Ok(index)
}

/// A document's `apiVersion`, `kind` and `metadata.name`, as read from its lines.
struct Header {
    api_version: String,
    kind: String,
    name: String,
}

/// Reads the header of a document written the usual way: `apiVersion:` and `kind:` with plain
/// values at the top level, and `name:` first among the keys of the top-level `metadata:`
/// block. `None` for anything else (flow style, quoting, anchors...), which is then parsed.
fn peek_header(piece: &str) -> Option<Header> {
    let plain = |value: &str| {
        let value = value.trim();
        (!value.is_empty()
            && value.bytes().all(|byte| {
                byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'/' | b'-' | b'_')
            }))
        .then(|| value.to_string())
    };
    let mut api_version = None;
    let mut kind = None;
    let mut name = None;
    let mut lines = piece.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(value) = line.strip_prefix("apiVersion:") {
            api_version = Some(plain(value)?);
        } else if let Some(value) = line.strip_prefix("kind:") {
            kind = Some(plain(value)?);
        } else if line.trim_end() == "metadata:" {
            let first_key = lines.peek()?;
            let key = first_key.trim_start();
            let indent = first_key.len() - key.len();
            if indent == 0 {
                return None;
            }
            while let Some(next) = lines.peek() {
                let trimmed = next.trim_start();
                let next_indent = next.len() - trimmed.len();
                if next_indent == 0 && !trimmed.is_empty() {
                    break;
                }
                if next_indent == indent
                    && let Some(value) = trimmed.strip_prefix("name:")
                {
                    name = Some(plain(value)?);
                }
                lines.next();
            }
        }
    }
    Some(Header {
        api_version: api_version?,
        kind: kind?,
        name: name?,
    })
}

impl Document<'_> {
    /// Deserialises the document into `T`, reporting the field path and line of a mismatch.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ManifestError> {
        // Straight from the text, or from the value already parsed; a mismatch is parsed again
        // from the text, with the field path tracked and the line of the events.
        let parsed = match &self.value {
            Some(value) => T::deserialize(value).ok(),
            None => T::deserialize(serde_yaml_ng::Deserializer::from_str(self.text)).ok(),
        };
        if let Some(parsed) = parsed {
            return Ok(parsed);
        }
        if self.value.is_none()
            && let Err(error) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(self.text)
        {
            return Err(ManifestError::Yaml {
                location: Location {
                    line: error
                        .location()
                        .map(|at| self.first_line + at.line() - 1)
                        .or(self.location.line),
                    ..self.location.clone()
                },
                message: strip_location(&error.to_string()),
            });
        }
        let deserializer = serde_yaml_ng::Deserializer::from_str(self.text);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let field = error.path().to_string();
            let inner = error.inner();
            ManifestError::Invalid {
                location: Location {
                    line: inner
                        .location()
                        .map(|at| self.first_line + at.line() - 1)
                        .or(self.location.line),
                    ..self.location.clone()
                },
                field: if field == "." {
                    "(document)".to_string()
                } else {
                    field
                },
                message: strip_location(&inner.to_string()),
            }
        })
    }

    /// Attaches this document's location to a field problem, with the line of the field (or
    /// of its deepest parent in the text).
    pub fn invalid(&self, error: FieldError) -> ManifestError {
        ManifestError::Invalid {
            location: self.locate(&error.field),
            field: error.field,
            message: error.message,
        }
    }

    /// This document's location, with the line of `field` (a path such as
    /// `spec.template.spec.requirements[0].operator`) or of its deepest parent in the text.
    pub fn locate(&self, field: &str) -> Location {
        Location {
            line: line_of(self.text, field)
                .map(|line| self.first_line + line - 1)
                .or(self.location.line),
            ..self.location.clone()
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(formatter, ":{line}")?;
        }
        write!(formatter, ": document {}", self.document)?;
        if let Some(object) = &self.object {
            write!(formatter, " ({object})")?;
        }
        Ok(())
    }
}

/// Removes the parser's own " at line L column C" (the location is reported separately).
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(position) => message[..position].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_tracks_their_lines() {
        let text = "# comment\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n\n---\napiVersion: apps/v1\nkind: Deployment\n";
        let Ok(documents) = documents("f.yaml", text) else {
            panic!("valid YAML");
        };
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[0].kind, "Pod");
        assert_eq!(documents[0].first_line, 3);
        assert_eq!(documents[0].location.object.as_deref(), Some("Pod \"a\""));
        assert_eq!(documents[1].location.document, 2);
        assert_eq!(documents[1].first_line, 10);
    }

    #[test]
    fn reports_yaml_errors_with_file_and_line() {
        let text = "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: [unclosed\n";
        let Err(error) = documents("bad.yaml", text) else {
            panic!("invalid YAML must fail");
        };
        let message = error.to_string();
        assert!(message.starts_with("bad.yaml:"), "{message}");
        assert!(message.contains("document 2"), "{message}");
    }

    #[test]
    fn missing_kind_is_named() {
        let Err(error) = documents("x.yaml", "apiVersion: v1\nmetadata: {}\n") else {
            panic!("a document without kind must fail");
        };
        assert!(error.to_string().contains("field kind"), "{error}");
    }
}
