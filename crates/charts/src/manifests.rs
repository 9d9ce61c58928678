//! The objects of a rendered chart: the YAML stream split into documents (empty ones, which
//! templates behind a false `if` leave, dropped), with the accessors the checks need.

use serde_yaml_ng::Value;

/// One rendered object.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// The object as YAML.
    pub value: Value,
}

/// The rendered stream is not YAML.
#[derive(Debug, thiserror::Error)]
#[error("failed to read the rendered document {index} as YAML: {source}")]
pub struct ManifestsError {
    /// The document's index in the stream, from 1.
    pub index: usize,
    /// The parser's error.
    pub source: serde_yaml_ng::Error,
}

/// The objects of a YAML stream, in order.
pub fn objects(stream: &str) -> Result<Vec<Object>, ManifestsError> {
    let mut found = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(stream).enumerate() {
        let value = <Value as serde::Deserialize>::deserialize(document).map_err(|source| {
            ManifestsError {
                index: index + 1,
                source,
            }
        })?;
        if !value.is_null() {
            found.push(Object { value });
        }
    }
    Ok(found)
}

/// The groups whose kinds Kubernetes itself serves (the core group and `*.k8s.io`), the ones
/// an offline validator has schemas for.
pub fn is_built_in_group(group: &str) -> bool {
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

impl Object {
    /// `kind`.
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// `metadata.namespace` (empty for a cluster-scoped object).
    pub fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    }

    /// The API group of `apiVersion` (empty for the core group).
    pub fn group(&self) -> &str {
        let api_version = self.value["apiVersion"].as_str().unwrap_or_default();
        api_version
            .rsplit_once('/')
            .map_or("", |(group, _version)| group)
    }

    /// The object as one YAML document.
    pub fn to_yaml(&self) -> Result<String, serde_yaml_ng::Error> {
        serde_yaml_ng::to_string(&self.value)
    }
}

/// The objects as one YAML stream.
pub fn to_stream(objects: &[&Object]) -> Result<String, serde_yaml_ng::Error> {
    let mut stream = String::new();
    for object in objects {
        stream.push_str("---\n");
        stream.push_str(&object.to_yaml()?);
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_documents_are_dropped_and_groups_are_read() {
        let stream = "---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: n\n---\napiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: b\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: c\n";
        let found = objects(stream).expect("a valid stream");
        let summary: Vec<(&str, &str, &str, &str, bool)> = found
            .iter()
            .map(|object| {
                (
                    object.kind(),
                    object.name(),
                    object.namespace(),
                    object.group(),
                    is_built_in_group(object.group()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("Service", "a", "n", "", true),
                ("NodePool", "b", "", "karpenter.sh", false),
                ("Role", "c", "", "rbac.authorization.k8s.io", true),
            ]
        );
    }

    #[test]
    fn a_bad_document_names_its_index() {
        let error = objects("a: 1\n---\n[unclosed\n").expect_err("not YAML");
        assert_eq!(error.index, 2);
    }
}
