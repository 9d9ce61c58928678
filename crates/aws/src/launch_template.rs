//! Launch templates: one per resolved configuration (node class × AMI × the labels and taints
//! the node registers with), named after the hash of its content so that the same
//! configuration always finds the same template, created when missing and remembered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use spotter_core::taints::Taint;

use crate::cluster::ClusterSettings;
use crate::ec2::{Ec2, Ec2Error, Filter, LaunchTemplateRequest};
use crate::node_class::{ResolvedAmi, ResolvedNodeClass};
use crate::user_data::{UserDataError, user_data};

/// The tag naming the EC2NodeClass a launch template was made from.
pub const NODE_CLASS_TAG: &str = "karpenter.k8s.aws/ec2nodeclass";

/// The launch template for `ami` of `node_class`, for a node with `labels` and `taints`.
pub fn template_request(
    cluster: &ClusterSettings,
    node_class: &ResolvedNodeClass,
    ami: &ResolvedAmi,
    labels: &BTreeMap<String, String>,
    taints: &[Taint],
) -> Result<LaunchTemplateRequest, UserDataError> {
    let text = user_data(cluster, node_class.user_data.as_deref(), labels, taints)?;
    let mut tags = node_class.tags.clone();
    tags.insert(cluster.cluster_tag_key(), "owned".to_string());
    tags.insert("eks:eks-cluster-name".to_string(), cluster.name.clone());
    tags.insert(NODE_CLASS_TAG.to_string(), node_class.name.clone());
    let mut request = LaunchTemplateRequest {
        name: String::new(),
        image_id: ami.id.clone(),
        instance_profile: node_class.instance_profile.clone(),
        security_group_ids: node_class.security_group_ids.clone(),
        user_data_base64: aws_smithy_types::base64::encode(text.as_bytes()),
        block_device_mappings: node_class.block_devices.clone(),
        metadata: node_class.metadata.clone(),
        detailed_monitoring: node_class.detailed_monitoring,
        tags,
    };
    request.name = template_name(&cluster.name, &request);
    Ok(request)
}

/// `spotter/<cluster>/<hash of the content>`.
pub fn template_name(cluster: &str, request: &LaunchTemplateRequest) -> String {
    let content = serde_json::to_vec(&LaunchTemplateRequest {
        name: String::new(),
        ..request.clone()
    })
    .unwrap_or_default();
    let digest = Sha256::digest(&content);
    let hash: String = digest
        .iter()
        .take(10)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("spotter/{cluster}/{hash}")
}

/// The launch templates known to exist.
#[derive(Debug, Default)]
pub struct LaunchTemplates {
    known: Mutex<BTreeSet<String>>,
}

impl LaunchTemplates {
    /// Makes sure the template exists (described, else created) and returns its name.
    pub async fn ensure<E: Ec2>(
        &self,
        ec2: &E,
        request: &LaunchTemplateRequest,
    ) -> Result<String, Ec2Error> {
        if self.is_known(&request.name) {
            return Ok(request.name.clone());
        }
        let existing = ec2
            .describe_launch_templates(&[Filter::new(
                "launch-template-name",
                [request.name.clone()],
            )])
            .await?;
        if !existing
            .iter()
            .any(|template| template.name == request.name)
        {
            match ec2.create_launch_template(request).await {
                Ok(_) => {
                    tracing::info!(launch_template = %request.name, "created launch template");
                }
                Err(error)
                    if error.code.as_deref()
                        == Some("InvalidLaunchTemplateName.AlreadyExistsException") => {}
                Err(error) => return Err(error),
            }
        }
        if let Ok(mut known) = self.known.lock() {
            known.insert(request.name.clone());
        }
        Ok(request.name.clone())
    }

    /// Deletes the templates made from the EC2NodeClass `node_class` for `cluster` (when the
    /// node class is deleted) and returns their names; one already gone is not an error.
    pub async fn delete_for_node_class<E: Ec2>(
        &self,
        ec2: &E,
        cluster: &ClusterSettings,
        node_class: &str,
    ) -> Result<Vec<String>, Ec2Error> {
        let templates = ec2
            .describe_launch_templates(&[
                Filter::new(format!("tag:{}", cluster.cluster_tag_key()), ["owned"]),
                Filter::new(format!("tag:{NODE_CLASS_TAG}"), [node_class]),
            ])
            .await?;
        let mut deleted = Vec::new();
        for template in templates {
            match ec2.delete_launch_template(&template.name).await {
                Ok(()) => {}
                Err(error)
                    if error.code.as_deref()
                        == Some("InvalidLaunchTemplateName.NotFoundException") => {}
                Err(error) => return Err(error),
            }
            self.forget(&template.name);
            deleted.push(template.name);
        }
        deleted.sort();
        Ok(deleted)
    }

    /// Forgets a template (after EC2 said it does not exist).
    pub fn forget(&self, name: &str) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(name);
        }
    }

    fn is_known(&self, name: &str) -> bool {
        self.known
            .lock()
            .map(|known| known.contains(name))
            .unwrap_or(false)
    }
}
