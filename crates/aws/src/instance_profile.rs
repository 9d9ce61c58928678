//! Instance profiles for EC2NodeClasses that name a `role` (as Karpenter v1 does): one
//! profile per cluster, region and node class, named after their hash, created with the
//! cluster's tags when missing, holding exactly that role, and deleted with its node class.

use sha2::{Digest, Sha256};

use crate::cluster::ClusterSettings;
use crate::ec2::{Ec2, Ec2Error, Tags};
use crate::launch_template::NODE_CLASS_TAG;

/// The longest instance profile name IAM accepts.
pub const MAX_NAME: usize = 128;

/// `<cluster>_<hash of region and node class>`.
pub fn instance_profile_name(cluster: &str, region: &str, node_class: &str) -> String {
    let digest = Sha256::digest(format!("{region}/{node_class}").as_bytes());
    let hash: String = digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let mut name = format!("{cluster}_{hash}");
    if name.len() > MAX_NAME {
        name = name.split_off(name.len() - MAX_NAME);
    }
    name
}

/// The tags of the profile made for `node_class`.
pub fn instance_profile_tags(cluster: &ClusterSettings, node_class: &str) -> Tags {
    Tags::from([
        (cluster.cluster_tag_key(), "owned".to_string()),
        ("eks:eks-cluster-name".to_string(), cluster.name.clone()),
        (NODE_CLASS_TAG.to_string(), node_class.to_string()),
    ])
}

/// Makes sure the profile `name` exists and holds `role` (and no other role).
pub async fn ensure_instance_profile<E: Ec2>(
    ec2: &E,
    cluster: &ClusterSettings,
    node_class: &str,
    name: &str,
    role: &str,
) -> Result<(), Ec2Error> {
    let roles = match ec2.get_instance_profile(name).await? {
        Some(roles) => roles,
        None => {
            match ec2
                .create_instance_profile(name, &instance_profile_tags(cluster, node_class))
                .await
            {
                Ok(()) => {
                    tracing::info!(
                        instance_profile = name,
                        node_class,
                        "created instance profile"
                    );
                }
                Err(error) if error.code.as_deref() == Some("EntityAlreadyExists") => {}
                Err(error) => return Err(error),
            }
            Vec::new()
        }
    };
    if roles.iter().any(|held| held == role) {
        return Ok(());
    }
    for other in &roles {
        ec2.remove_role_from_instance_profile(name, other).await?;
    }
    ec2.add_role_to_instance_profile(name, role).await
}

/// Deletes the profile `name`: its roles removed, then the profile. Returns whether it
/// existed.
pub async fn delete_instance_profile<E: Ec2>(ec2: &E, name: &str) -> Result<bool, Ec2Error> {
    let Some(roles) = ec2.get_instance_profile(name).await? else {
        return Ok(false);
    };
    for role in &roles {
        match ec2.remove_role_from_instance_profile(name, role).await {
            Ok(()) => {}
            Err(error) if error.code.as_deref() == Some("NoSuchEntity") => {}
            Err(error) => return Err(error),
        }
    }
    match ec2.delete_instance_profile(name).await {
        Ok(()) => Ok(true),
        Err(error) if error.code.as_deref() == Some("NoSuchEntity") => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_distinct_and_fit_iam() {
        let long_cluster = "c".repeat(200);
        let cases = [
            ("seed", "us-east-1", "default"),
            ("seed", "us-west-2", "default"),
            ("seed", "us-east-1", "gpu"),
            (long_cluster.as_str(), "us-east-1", "default"),
        ];
        let names: Vec<String> = cases
            .iter()
            .map(|(cluster, region, node_class)| instance_profile_name(cluster, region, node_class))
            .collect();
        for ((cluster, region, node_class), name) in cases.iter().zip(&names) {
            assert!(name.len() <= MAX_NAME, "{name}");
            assert_eq!(*name, instance_profile_name(cluster, region, node_class));
        }
        assert!(names[0].starts_with("seed_"), "{}", names[0]);
        assert_ne!(names[0], names[1], "per region");
        assert_ne!(names[0], names[2], "per node class");
    }
}
