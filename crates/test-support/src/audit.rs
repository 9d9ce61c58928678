//! The API server's audit log of the control plane: every request the Spotter users
//! ([`SPOTTER_USERS`]) make is logged at the `Metadata` level (who, verb, resource,
//! subresource, namespace, response code), so that a test can compare what the controller
//! and the agent really did with the permissions the Helm chart grants them. The other users
//! (the admin kubectl of the tests, the scheduler, the controller-manager) are not logged.

use std::path::Path;

use serde::Deserialize;

/// The user of `spotter controller` in the tests ([`crate::ControlPlane::controller_kubeconfig`]).
pub const CONTROLLER_USER: &str = "spotter-controller";
/// The user of `spotter agent` in the tests ([`crate::ControlPlane::agent_kubeconfig`]).
pub const AGENT_USER: &str = "spotter-agent";
/// The users whose requests are audited.
pub const SPOTTER_USERS: [&str; 2] = [CONTROLLER_USER, AGENT_USER];

/// The audit policy: `Metadata` for the Spotter users, nothing for anyone else.
pub const POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: [spotter-controller, spotter-agent]
- level: None
";

/// One audited request on a resource (requests to non-resource URLs such as `/version` are
/// left out: every authenticated user may make them).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuditedRequest {
    /// Who made it.
    pub user: String,
    /// The RBAC verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ...).
    pub verb: String,
    /// The API group (`""` for the core group).
    pub group: String,
    /// The resource, with its subresource as `pods/eviction`.
    pub resource: String,
    /// The namespace, for a namespaced request.
    pub namespace: Option<String>,
    /// The HTTP status code of the answer.
    pub code: Option<u16>,
    /// The request URI, for messages.
    pub uri: String,
}

/// Reading the audit log failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be read.
    #[error("failed to read the audit log {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line is not an audit event.
    #[error("failed to read line {line} of the audit log {path}: {source}")]
    Line {
        /// The file.
        path: String,
        /// The 1-based line number.
        line: usize,
        /// The parser's error.
        source: serde_json::Error,
    },
}

/// The distinct resource requests of the audit log at `path`, sorted (a request is read from
/// its `ResponseComplete` entry, or its `ResponseStarted` one for a watch still open; an empty
/// list when nothing was logged yet).
pub fn read(path: &Path) -> Result<Vec<AuditedRequest>, AuditError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(AuditError::Read {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let mut requests = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(line).map_err(|source| AuditError::Line {
            path: path.display().to_string(),
            line: index + 1,
            source,
        })?;
        if !matches!(event.stage.as_str(), "ResponseComplete" | "ResponseStarted") {
            continue;
        }
        let Some(object) = event.object_ref else {
            continue;
        };
        let Some(resource) = object.resource else {
            continue;
        };
        let resource = match object.subresource {
            Some(subresource) if !subresource.is_empty() => format!("{resource}/{subresource}"),
            _ => resource,
        };
        requests.push(AuditedRequest {
            user: event.user.username,
            verb: event.verb,
            group: object.api_group.unwrap_or_default(),
            resource,
            namespace: object.namespace.filter(|namespace| !namespace.is_empty()),
            code: event.response_status.and_then(|status| status.code),
            uri: event.request_uri,
        });
    }
    // A watch logs ResponseStarted, then ResponseComplete when it ends: one request.
    requests.sort();
    requests.dedup();
    Ok(requests)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    stage: String,
    verb: String,
    #[serde(rename = "requestURI")]
    request_uri: String,
    user: User,
    object_ref: Option<ObjectRef>,
    response_status: Option<ResponseStatus>,
}

#[derive(Deserialize)]
struct User {
    username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRef {
    resource: Option<String>,
    subresource: Option<String>,
    namespace: Option<String>,
    api_group: Option<String>,
}

#[derive(Deserialize)]
struct ResponseStatus {
    code: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (user, verb, group, resource, namespace, code).
    type Summary<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<u16>,
    );

    #[test]
    fn reads_resource_requests_and_skips_the_rest() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let path = folder.path().join("audit.log");
        let lines = [
            r#"{"kind":"Event","stage":"ResponseComplete","verb":"patch","requestURI":"/api/v1/nodes/n1/status","user":{"username":"spotter-agent"},"objectRef":{"resource":"nodes","name":"n1","apiVersion":"v1","subresource":"status"},"responseStatus":{"code":200}}"#,
            r#"{"kind":"Event","stage":"ResponseStarted","verb":"watch","requestURI":"/apis/karpenter.sh/v1/nodeclaims?watch=true","user":{"username":"spotter-controller"},"objectRef":{"resource":"nodeclaims","apiGroup":"karpenter.sh","apiVersion":"v1"},"responseStatus":{"code":200}}"#,
            r#"{"kind":"Event","stage":"ResponseComplete","verb":"watch","requestURI":"/apis/karpenter.sh/v1/nodeclaims?watch=true","user":{"username":"spotter-controller"},"objectRef":{"resource":"nodeclaims","apiGroup":"karpenter.sh","apiVersion":"v1"},"responseStatus":{"code":200}}"#,
            r#"{"kind":"Event","stage":"ResponseComplete","verb":"get","requestURI":"/version","user":{"username":"spotter-controller"},"responseStatus":{"code":200}}"#,
            r#"{"kind":"Event","stage":"ResponseComplete","verb":"update","requestURI":"/apis/coordination.k8s.io/v1/namespaces/spotter/leases/l","user":{"username":"spotter-controller"},"objectRef":{"resource":"leases","namespace":"spotter","apiGroup":"coordination.k8s.io"},"responseStatus":{"code":403}}"#,
        ];
        std::fs::write(&path, lines.join("\n")).expect("the log is written");
        let requests = read(&path).expect("the log reads");
        let summary: Vec<Summary> = requests
            .iter()
            .map(|request| {
                (
                    request.user.as_str(),
                    request.verb.as_str(),
                    request.group.as_str(),
                    request.resource.as_str(),
                    request.namespace.as_deref(),
                    request.code,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "spotter-agent",
                    "patch",
                    "",
                    "nodes/status",
                    None,
                    Some(200)
                ),
                (
                    "spotter-controller",
                    "update",
                    "coordination.k8s.io",
                    "leases",
                    Some("spotter"),
                    Some(403)
                ),
                (
                    "spotter-controller",
                    "watch",
                    "karpenter.sh",
                    "nodeclaims",
                    None,
                    Some(200)
                ),
            ]
        );
        std::fs::write(&path, "not json").expect("the log is written");
        let error = read(&path).expect_err("a broken line is an error");
        assert!(error.to_string().contains("line 1"), "{error}");
        assert_eq!(
            read(&folder.path().join("missing.log")).expect("no log yet reads as empty"),
            []
        );
    }
}
