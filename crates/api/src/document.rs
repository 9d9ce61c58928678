//! Multi-document YAML files: splitting them into documents, reading each document's
//! `apiVersion`, `kind` and name, and deserialising it into a typed manifest while keeping the
//! file, the document, the line and the field path of anything that goes wrong.

use std::fmt;

use serde::de::DeserializeOwned;

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
}

/// Splits `text` into its non-empty YAML documents and reads each one's `apiVersion` and
/// `kind`.
pub fn documents<'a>(file: &str, text: &'a str) -> Result<Vec<Document<'a>>, ManifestError> {
    let mut documents = Vec::new();
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
        documents.push(Document {
            location,
            text: piece,
            first_line,
            api_version,
            kind,
        });
    }
    Ok(documents)
}

impl Document<'_> {
    /// Deserialises the document into `T`, reporting the field path and line of a mismatch.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ManifestError> {
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

    /// Attaches this document's location to a field problem.
    pub fn invalid(&self, error: FieldError) -> ManifestError {
        ManifestError::Invalid {
            location: self.location.clone(),
            field: error.field,
            message: error.message,
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
