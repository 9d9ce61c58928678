//! Insufficient capacity at the EC2 seam: a wrapper of any [`Ec2`] that answers CreateFleet
//! with `InsufficientInstanceCapacity` for chosen offerings (as EC2 does, per override in the
//! fleet's `Errors`), and passes the other overrides to the wrapped EC2. moto never answers
//! fleet errors, so this is how the wire tests refuse capacity.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::SystemTime;

use spotter_aws::ec2::{
    Ec2, Ec2Error, Ec2Instance, Filter, FleetError, FleetRequest, FleetResponse, Image,
    InstanceTypeInfo, LaunchTemplate, LaunchTemplateRequest, SecurityGroup, SpotPrice, Subnet,
    Tags,
};
use spotter_cloud::OfferingKey;

/// An EC2 that refuses some offerings.
#[derive(Debug)]
pub struct IceInjector<E> {
    inner: E,
    refused: Mutex<BTreeSet<OfferingKey>>,
}

impl<E> IceInjector<E> {
    /// Wraps `inner`, refusing nothing yet.
    pub fn new(inner: E) -> Self {
        IceInjector {
            inner,
            refused: Mutex::new(BTreeSet::new()),
        }
    }

    /// Refuses these offerings from now on (and only these).
    pub fn refuse(&self, offerings: impl IntoIterator<Item = OfferingKey>) {
        let mut refused = self.refused.lock().expect("lock");
        refused.clear();
        refused.extend(offerings);
    }
}

impl<E: Ec2> Ec2 for IceInjector<E> {
    async fn create_fleet(&self, request: &FleetRequest) -> Result<FleetResponse, Ec2Error> {
        let refused = self.refused.lock().expect("lock").clone();
        let mut errors = Vec::new();
        let mut remaining = request.clone();
        for config in &mut remaining.launch_template_configs {
            config.overrides.retain(|candidate| {
                let key = OfferingKey {
                    capacity_type: request.capacity_type,
                    instance_type: candidate.instance_type.clone(),
                    zone: candidate.zone.clone(),
                };
                if refused.contains(&key) {
                    errors.push(FleetError {
                        code: "InsufficientInstanceCapacity".to_string(),
                        message: format!("We currently do not have sufficient {key} capacity"),
                        instance_type: Some(candidate.instance_type.clone()),
                        subnet_id: Some(candidate.subnet_id.clone()),
                        zone: Some(candidate.zone.clone()),
                    });
                    false
                } else {
                    true
                }
            });
        }
        remaining
            .launch_template_configs
            .retain(|config| !config.overrides.is_empty());
        if remaining.launch_template_configs.is_empty() {
            return Ok(FleetResponse {
                fleet_id: None,
                instances: Vec::new(),
                errors,
            });
        }
        let mut response = self.inner.create_fleet(&remaining).await?;
        errors.extend(response.errors);
        response.errors = errors;
        Ok(response)
    }

    async fn create_launch_template(
        &self,
        request: &LaunchTemplateRequest,
    ) -> Result<String, Ec2Error> {
        self.inner.create_launch_template(request).await
    }

    async fn describe_launch_templates(
        &self,
        filters: &[Filter],
    ) -> Result<Vec<LaunchTemplate>, Ec2Error> {
        self.inner.describe_launch_templates(filters).await
    }

    async fn delete_launch_template(&self, name: &str) -> Result<(), Ec2Error> {
        self.inner.delete_launch_template(name).await
    }

    async fn describe_instances(&self, filters: &[Filter]) -> Result<Vec<Ec2Instance>, Ec2Error> {
        self.inner.describe_instances(filters).await
    }

    async fn terminate_instances(&self, instance_ids: &[String]) -> Result<(), Ec2Error> {
        self.inner.terminate_instances(instance_ids).await
    }

    async fn describe_subnets(&self, filters: &[Filter]) -> Result<Vec<Subnet>, Ec2Error> {
        self.inner.describe_subnets(filters).await
    }

    async fn describe_security_groups(
        &self,
        filters: &[Filter],
    ) -> Result<Vec<SecurityGroup>, Ec2Error> {
        self.inner.describe_security_groups(filters).await
    }

    async fn describe_images(&self, filters: &[Filter]) -> Result<Vec<Image>, Ec2Error> {
        self.inner.describe_images(filters).await
    }

    async fn describe_instance_types(&self) -> Result<Vec<InstanceTypeInfo>, Ec2Error> {
        self.inner.describe_instance_types().await
    }

    async fn describe_instance_type_offerings(&self) -> Result<Vec<(String, String)>, Ec2Error> {
        self.inner.describe_instance_type_offerings().await
    }

    async fn describe_spot_price_history(
        &self,
        start: SystemTime,
    ) -> Result<Vec<SpotPrice>, Ec2Error> {
        self.inner.describe_spot_price_history(start).await
    }

    async fn get_parameter(&self, name: &str) -> Result<String, Ec2Error> {
        self.inner.get_parameter(name).await
    }

    async fn get_instance_profile(&self, name: &str) -> Result<Option<Vec<String>>, Ec2Error> {
        self.inner.get_instance_profile(name).await
    }

    async fn create_instance_profile(&self, name: &str, tags: &Tags) -> Result<(), Ec2Error> {
        self.inner.create_instance_profile(name, tags).await
    }

    async fn add_role_to_instance_profile(&self, name: &str, role: &str) -> Result<(), Ec2Error> {
        self.inner.add_role_to_instance_profile(name, role).await
    }

    async fn remove_role_from_instance_profile(
        &self,
        name: &str,
        role: &str,
    ) -> Result<(), Ec2Error> {
        self.inner
            .remove_role_from_instance_profile(name, role)
            .await
    }
}
