//! AL2023 user data: a MIME multipart document whose Spotter part is a nodeadm `NodeConfig`
//! (cluster name, API endpoint, CA, service CIDR; kubelet flags registering the node with its
//! labels and taints, and the `karpenter.sh/unregistered:NoExecute` taint Karpenter removes
//! once the node is registered). The node class's own user data comes first, as its own part.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use spotter_core::taints::Taint;

use crate::cluster::ClusterSettings;

/// The MIME boundary.
pub const BOUNDARY: &str = "//";

/// The taint every node registers with until Karpenter (Spotter) has seen it.
pub const UNREGISTERED_TAINT: &str = "karpenter.sh/unregistered:NoExecute";

/// Why user data could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserDataError {
    /// The node class's user data is a MIME document, which is not merged yet.
    #[error(
        "failed to build user data: spec.userData is a MIME multipart document, which Spotter does not merge yet; give a NodeConfig or a shell script instead"
    )]
    MimeNotSupported,
}

/// The user data (plain text, not yet base64) for a node of `cluster` with `labels` and
/// `taints`, after the node class's `custom` part if any.
pub fn user_data(
    cluster: &ClusterSettings,
    custom: Option<&str>,
    labels: &BTreeMap<String, String>,
    taints: &[Taint],
) -> Result<String, UserDataError> {
    let mut document = String::new();
    document.push_str("MIME-Version: 1.0\n");
    let _ = writeln!(
        document,
        "Content-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\n"
    );
    if let Some(custom) = custom {
        let trimmed = custom.trim_start();
        if trimmed.starts_with("MIME-Version") {
            return Err(UserDataError::MimeNotSupported);
        }
        let content_type = if trimmed.starts_with("#!") {
            "text/x-shellscript; charset=\"us-ascii\""
        } else {
            "application/node.eks.aws"
        };
        let _ = writeln!(document, "--{BOUNDARY}\nContent-Type: {content_type}\n");
        document.push_str(custom.trim_end());
        document.push_str("\n\n");
    }
    let _ = writeln!(
        document,
        "--{BOUNDARY}\nContent-Type: application/node.eks.aws\n"
    );
    document.push_str(&node_config(cluster, labels, taints));
    let _ = writeln!(document, "\n--{BOUNDARY}--");
    Ok(document)
}

/// The nodeadm `NodeConfig` YAML.
pub fn node_config(
    cluster: &ClusterSettings,
    labels: &BTreeMap<String, String>,
    taints: &[Taint],
) -> String {
    let mut yaml = String::new();
    yaml.push_str("apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n");
    let _ = writeln!(yaml, "    name: {}", quoted(&cluster.name));
    let _ = writeln!(yaml, "    apiServerEndpoint: {}", quoted(&cluster.endpoint));
    let _ = writeln!(
        yaml,
        "    certificateAuthority: {}",
        quoted(&cluster.certificate_authority)
    );
    let _ = writeln!(yaml, "    cidr: {}", quoted(&cluster.service_cidr));
    yaml.push_str("  kubelet:\n    flags:\n");
    if !labels.is_empty() {
        let labels: Vec<String> = labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        let _ = writeln!(
            yaml,
            "      - {}",
            quoted(&format!("--node-labels={}", labels.join(",")))
        );
    }
    let mut registered: Vec<String> = vec![UNREGISTERED_TAINT.to_string()];
    registered.extend(taints.iter().map(ToString::to_string));
    let _ = writeln!(
        yaml,
        "      - {}",
        quoted(&format!("--register-with-taints={}", registered.join(",")))
    );
    yaml
}

/// A YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotter_core::taints::Effect;

    fn cluster() -> ClusterSettings {
        ClusterSettings::new(
            "seed",
            "https://seed.example",
            "Q0EK",
            "10.100.0.0/16",
            "1.34",
        )
    }

    #[test]
    fn node_config_registers_labels_and_taints_with_the_unregistered_taint() {
        let labels = BTreeMap::from([
            ("karpenter.sh/nodepool".to_string(), "batch".to_string()),
            ("workload".to_string(), "batch".to_string()),
        ]);
        let taints = [Taint::new("dedicated", "batch", Effect::NoSchedule)];
        let document = user_data(&cluster(), None, &labels, &taints).expect("built");
        for expected in [
            "Content-Type: multipart/mixed; boundary=\"//\"",
            "Content-Type: application/node.eks.aws",
            "kind: NodeConfig",
            "name: \"seed\"",
            "apiServerEndpoint: \"https://seed.example\"",
            "certificateAuthority: \"Q0EK\"",
            "cidr: \"10.100.0.0/16\"",
            "--node-labels=karpenter.sh/nodepool=batch,workload=batch",
            "--register-with-taints=karpenter.sh/unregistered:NoExecute,dedicated=batch:NoSchedule",
            "--//--",
        ] {
            assert!(
                document.contains(expected),
                "missing {expected:?} in\n{document}"
            );
        }
    }

    #[test]
    fn custom_user_data_comes_first_as_its_own_part() {
        let cases = [
            ("#!/bin/bash\necho hi", "text/x-shellscript"),
            (
                "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig",
                "application/node.eks.aws",
            ),
        ];
        for (custom, content_type) in cases {
            let document =
                user_data(&cluster(), Some(custom), &BTreeMap::new(), &[]).expect("built");
            let custom_at = document.find(custom).expect("custom part present");
            let spotter_at = document.find("cidr:").expect("spotter part present");
            assert!(custom_at < spotter_at, "{document}");
            assert!(document[..custom_at].contains(content_type), "{document}");
        }
    }

    #[test]
    fn mime_custom_user_data_is_refused_with_an_instruction() {
        let error = user_data(
            &cluster(),
            Some("MIME-Version: 1.0\n"),
            &BTreeMap::new(),
            &[],
        )
        .expect_err("refused");
        assert_eq!(error, UserDataError::MimeNotSupported);
    }
}
