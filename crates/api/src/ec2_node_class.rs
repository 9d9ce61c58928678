//! `karpenter.k8s.aws/v1` EC2NodeClass: the fields Karpenter v1 requires are checked; the
//! rest (block devices, user data, kubelet settings, tags) is carried without interpretation.

use serde::Deserialize;

use crate::document::FieldError;
use crate::node_pool::Metadata;

/// The API version Spotter reads EC2NodeClasses in.
pub const API_VERSION: &str = "karpenter.k8s.aws/v1";

/// An EC2NodeClass manifest.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ec2NodeClassManifest {
    /// `karpenter.k8s.aws/v1`.
    pub api_version: String,
    /// Metadata.
    pub metadata: Metadata,
    /// Spec.
    pub spec: Ec2NodeClassSpec,
}

/// The part of `spec` Spotter checks.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ec2NodeClassSpec {
    /// `amiSelectorTerms` (required in v1).
    #[serde(default)]
    pub ami_selector_terms: Vec<serde_yaml_ng::Value>,
    /// `subnetSelectorTerms`.
    #[serde(default)]
    pub subnet_selector_terms: Vec<serde_yaml_ng::Value>,
    /// `securityGroupSelectorTerms`.
    #[serde(default)]
    pub security_group_selector_terms: Vec<serde_yaml_ng::Value>,
    /// The IAM role for the nodes.
    #[serde(default)]
    pub role: Option<String>,
    /// Or an instance profile.
    #[serde(default)]
    pub instance_profile: Option<String>,
}

impl Ec2NodeClassManifest {
    /// Checks Karpenter v1's required fields; returns the name.
    pub fn validate(self) -> Result<String, FieldError> {
        if self.api_version != API_VERSION {
            return Err(FieldError::new(
                "apiVersion",
                format!(
                    "{:?} is not supported: Spotter reads {API_VERSION} EC2NodeClasses",
                    self.api_version
                ),
            ));
        }
        if self.metadata.name.is_empty() {
            return Err(FieldError::new(
                "metadata.name",
                "missing: an EC2NodeClass needs a name",
            ));
        }
        for (field, terms) in [
            ("spec.amiSelectorTerms", &self.spec.ami_selector_terms),
            ("spec.subnetSelectorTerms", &self.spec.subnet_selector_terms),
            (
                "spec.securityGroupSelectorTerms",
                &self.spec.security_group_selector_terms,
            ),
        ] {
            if terms.is_empty() {
                return Err(FieldError::new(
                    field,
                    "missing: Karpenter v1 requires at least one term",
                ));
            }
        }
        match (&self.spec.role, &self.spec.instance_profile) {
            (Some(_), Some(_)) => Err(FieldError::new(
                "spec.role",
                "set either role or instanceProfile, not both",
            )),
            (None, None) => Err(FieldError::new(
                "spec.role",
                "missing: set role (or instanceProfile)",
            )),
            _ => Ok(self.metadata.name),
        }
    }
}
