//! What a failed Kubernetes API call means to the fake cloud's callers: a
//! [`CloudError`] with the operation named (`create Node batch-x7k2p`), `PermissionDenied`
//! saying which RBAC rule to add for a 403, `Throttled` for a 429, `Transient` for the rest
//! (the call may be retried: every fake-cloud call is idempotent).

use spotter_cloud::CloudError;

/// The CloudError for a failed API call: `operation` names the call and its object, `verb`
/// and `resource` the RBAC rule it needs.
pub fn from_kube(operation: &str, verb: &str, resource: &str, error: kube::Error) -> CloudError {
    match error {
        kube::Error::Api(status) if status.code == 403 => CloudError::PermissionDenied {
            operation: operation.to_owned(),
            instruction: format!(
                "let Spotter's ServiceAccount {verb} {resource} (a ClusterRole rule with verbs \
                 [{verb}] on resources [{resource}]); the API server said: {}",
                status.message
            ),
        },
        kube::Error::Api(status) if status.code == 429 => CloudError::Throttled {
            operation: operation.to_owned(),
            retry_after: None,
        },
        kube::Error::Api(status) => CloudError::Transient {
            operation: operation.to_owned(),
            message: format!(
                "the API server answered {} {}: {}",
                status.code, status.reason, status.message
            ),
        },
        other => CloudError::Transient {
            operation: operation.to_owned(),
            message: format!("failed to reach the API server: {other}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        let mut status = kube::core::Status::failure("the server said no", reason);
        status.code = code;
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn status_codes_become_typed_cloud_errors() {
        // (code, expected variant, text in the message)
        let cases = [
            (
                403,
                "PermissionDenied",
                "verbs [create] on resources [nodes]",
            ),
            (429, "Throttled", "throttled"),
            (500, "Transient", "500 InternalError: the server said no"),
            (409, "Transient", "409"),
        ];
        for (code, variant, in_message) in cases {
            let reason = match code {
                403 => "Forbidden",
                429 => "TooManyRequests",
                500 => "InternalError",
                _ => "Conflict",
            };
            let error = from_kube("create Node a", "create", "nodes", api_error(code, reason));
            let name = match &error {
                CloudError::PermissionDenied { .. } => "PermissionDenied",
                CloudError::Throttled { .. } => "Throttled",
                CloudError::Transient { .. } => "Transient",
                _ => "other",
            };
            assert_eq!(name, variant, "{code}");
            let message = error.to_string();
            assert!(message.contains(in_message), "{message}");
            assert!(message.contains("create Node a"), "{message}");
        }
    }
}
