//! [`SdkEc2`]: the [`Ec2`] seam on the official SDK clients (`aws-sdk-ec2`, `aws-sdk-ssm`,
//! `aws-sdk-iam`).
//! Requests are built from the plain types, answers read back into them, every page fetched,
//! and errors carried with the code the SDK's typed metadata answered.

use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types as ec2_types;
use aws_smithy_types::DateTime;
use spotter_core::offering::CapacityType;

use crate::ec2::{
    Ec2, Ec2Error, Ec2Instance, Filter, FleetError, FleetInstance, FleetRequest, FleetResponse,
    Image, InstanceTypeInfo, LaunchTemplate, LaunchTemplateRequest, SecurityGroup, SpotPrice,
    Subnet, Tags,
};

/// The EC2 and SSM SDK clients.
#[derive(Clone, Debug)]
pub struct SdkEc2 {
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
    iam: aws_sdk_iam::Client,
    region: Option<String>,
}

impl SdkEc2 {
    /// Clients configured from the standard chain (region, credentials, `AWS_ENDPOINT_URL`).
    /// The SDK's own retries are off: the provider retries with its own policy.
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        SdkEc2::new(&config)
    }

    /// Clients for an SDK configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SdkEc2 {
            ec2: aws_sdk_ec2::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            region: config.region().map(ToString::to_string),
        }
    }

    /// Clients built from existing ones (tests pass mock clients).
    pub fn from_clients(
        ec2: aws_sdk_ec2::Client,
        ssm: aws_sdk_ssm::Client,
        iam: aws_sdk_iam::Client,
    ) -> Self {
        let region = ec2.config().region().map(ToString::to_string);
        SdkEc2 {
            ec2,
            ssm,
            iam,
            region,
        }
    }

    /// The configured region.
    pub fn region(&self) -> Option<String> {
        self.region.clone()
    }
}

/// A failed SDK call as an [`Ec2Error`], with the code from the typed error metadata.
pub fn sdk_error<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Ec2Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transport = matches!(
        error,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    );
    let status = error
        .raw_response()
        .map(|response| response.status().as_u16());
    let code = error.code().map(str::to_string);
    let message = error
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| DisplayErrorContext(&error).to_string());
    Ec2Error {
        operation,
        code,
        message,
        status,
        transport,
    }
}

fn filters(filters: &[Filter]) -> Option<Vec<ec2_types::Filter>> {
    if filters.is_empty() {
        return None;
    }
    Some(
        filters
            .iter()
            .map(|filter| {
                ec2_types::Filter::builder()
                    .name(&filter.name)
                    .set_values(Some(filter.values.clone()))
                    .build()
            })
            .collect(),
    )
}

fn tags_of(tags: &[ec2_types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|tag| {
            Some((
                tag.key()?.to_string(),
                tag.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn tag_specification(
    resource_type: ec2_types::ResourceType,
    tags: &Tags,
) -> ec2_types::TagSpecification {
    ec2_types::TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(
            tags.iter()
                .map(|(key, value)| ec2_types::Tag::builder().key(key).value(value).build())
                .collect(),
        ))
        .build()
}

fn system_time(time: Option<&DateTime>) -> Option<SystemTime> {
    time.and_then(|time| SystemTime::try_from(*time).ok())
}

fn overrides_of(
    launched: Option<&ec2_types::LaunchTemplateAndOverridesResponse>,
) -> Option<&ec2_types::FleetLaunchTemplateOverrides> {
    launched.and_then(|launched| launched.overrides())
}

fn next(token: Option<&str>) -> Option<String> {
    token.filter(|token| !token.is_empty()).map(str::to_string)
}

impl Ec2 for SdkEc2 {
    async fn create_fleet(&self, request: &FleetRequest) -> Result<FleetResponse, Ec2Error> {
        let capacity_type = match request.capacity_type {
            CapacityType::Spot => ec2_types::DefaultTargetCapacityType::Spot,
            CapacityType::OnDemand | CapacityType::Reserved => {
                ec2_types::DefaultTargetCapacityType::OnDemand
            }
        };
        let configs = request
            .launch_template_configs
            .iter()
            .map(|config| {
                ec2_types::FleetLaunchTemplateConfigRequest::builder()
                    .launch_template_specification(
                        ec2_types::FleetLaunchTemplateSpecificationRequest::builder()
                            .launch_template_name(&config.launch_template_name)
                            .version("$Latest")
                            .build(),
                    )
                    .set_overrides(Some(
                        config
                            .overrides
                            .iter()
                            .map(|entry| {
                                ec2_types::FleetLaunchTemplateOverridesRequest::builder()
                                    .instance_type(ec2_types::InstanceType::from(
                                        entry.instance_type.as_str(),
                                    ))
                                    .subnet_id(&entry.subnet_id)
                                    .set_priority(entry.priority)
                                    .build()
                            })
                            .collect(),
                    ))
                    .build()
            })
            .collect();
        let allocation = request.allocation.as_str();
        let answer = self
            .ec2
            .create_fleet()
            .r#type(ec2_types::FleetType::Instant)
            .client_token(&request.client_token)
            .target_capacity_specification(
                ec2_types::TargetCapacitySpecificationRequest::builder()
                    .total_target_capacity(1)
                    .default_target_capacity_type(capacity_type)
                    .build(),
            )
            .spot_options(
                ec2_types::SpotOptionsRequest::builder()
                    .allocation_strategy(ec2_types::SpotAllocationStrategy::from(allocation))
                    .build(),
            )
            .on_demand_options(
                ec2_types::OnDemandOptionsRequest::builder()
                    .allocation_strategy(ec2_types::FleetOnDemandAllocationStrategy::from(
                        allocation,
                    ))
                    .build(),
            )
            .set_launch_template_configs(Some(configs))
            .tag_specifications(tag_specification(
                ec2_types::ResourceType::Instance,
                &request.tags,
            ))
            .tag_specifications(tag_specification(
                ec2_types::ResourceType::Volume,
                &request.tags,
            ))
            .tag_specifications(tag_specification(
                ec2_types::ResourceType::Fleet,
                &request.tags,
            ))
            .send()
            .await
            .map_err(|error| sdk_error("CreateFleet", error))?;
        let mut instances = Vec::new();
        for launched in answer.instances() {
            let overrides = overrides_of(launched.launch_template_and_overrides());
            for instance_id in launched.instance_ids() {
                instances.push(FleetInstance {
                    instance_id: instance_id.clone(),
                    instance_type: launched
                        .instance_type()
                        .map(|instance_type| instance_type.as_str().to_string())
                        .or_else(|| {
                            overrides
                                .and_then(|overrides| overrides.instance_type())
                                .map(|instance_type| instance_type.as_str().to_string())
                        }),
                    subnet_id: overrides
                        .and_then(|overrides| overrides.subnet_id())
                        .map(str::to_string),
                    zone: overrides
                        .and_then(|overrides| overrides.availability_zone())
                        .map(str::to_string),
                });
            }
        }
        let errors = answer
            .errors()
            .iter()
            .map(|error| {
                let overrides = overrides_of(error.launch_template_and_overrides());
                FleetError {
                    code: error.error_code().unwrap_or_default().to_string(),
                    message: error.error_message().unwrap_or_default().to_string(),
                    instance_type: overrides
                        .and_then(|overrides| overrides.instance_type())
                        .map(|instance_type| instance_type.as_str().to_string()),
                    subnet_id: overrides
                        .and_then(|overrides| overrides.subnet_id())
                        .map(str::to_string),
                    zone: overrides
                        .and_then(|overrides| overrides.availability_zone())
                        .map(str::to_string),
                }
            })
            .collect();
        Ok(FleetResponse {
            fleet_id: answer.fleet_id().map(str::to_string),
            instances,
            errors,
        })
    }

    async fn create_launch_template(
        &self,
        request: &LaunchTemplateRequest,
    ) -> Result<String, Ec2Error> {
        let block_devices = request
            .block_device_mappings
            .iter()
            .map(|device| {
                ec2_types::LaunchTemplateBlockDeviceMappingRequest::builder()
                    .device_name(&device.device_name)
                    .ebs(
                        ec2_types::LaunchTemplateEbsBlockDeviceRequest::builder()
                            .set_volume_size(device.volume_size_gib)
                            .set_volume_type(
                                device
                                    .volume_type
                                    .as_deref()
                                    .map(ec2_types::VolumeType::from),
                            )
                            .set_iops(device.iops)
                            .set_throughput(device.throughput)
                            .set_encrypted(device.encrypted)
                            .set_kms_key_id(device.kms_key_id.clone())
                            .set_delete_on_termination(device.delete_on_termination)
                            .set_snapshot_id(device.snapshot_id.clone())
                            .build(),
                    )
                    .build()
            })
            .collect();
        let metadata = &request.metadata;
        let data = ec2_types::RequestLaunchTemplateData::builder()
            .image_id(&request.image_id)
            .iam_instance_profile(
                ec2_types::LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                    .name(&request.instance_profile)
                    .build(),
            )
            .set_security_group_ids(Some(request.security_group_ids.clone()))
            .user_data(&request.user_data_base64)
            .set_block_device_mappings(Some(block_devices))
            .metadata_options(
                ec2_types::LaunchTemplateInstanceMetadataOptionsRequest::builder()
                    .http_endpoint(
                        ec2_types::LaunchTemplateInstanceMetadataEndpointState::from(
                            metadata.http_endpoint.as_str(),
                        ),
                    )
                    .http_protocol_ipv6(
                        ec2_types::LaunchTemplateInstanceMetadataProtocolIpv6::from(
                            metadata.http_protocol_ipv6.as_str(),
                        ),
                    )
                    .http_put_response_hop_limit(metadata.http_put_response_hop_limit)
                    .http_tokens(ec2_types::LaunchTemplateHttpTokensState::from(
                        metadata.http_tokens.as_str(),
                    ))
                    .build(),
            )
            .monitoring(
                ec2_types::LaunchTemplatesMonitoringRequest::builder()
                    .enabled(request.detailed_monitoring)
                    .build(),
            )
            .build();
        let answer = self
            .ec2
            .create_launch_template()
            .launch_template_name(&request.name)
            .launch_template_data(data)
            .tag_specifications(tag_specification(
                ec2_types::ResourceType::LaunchTemplate,
                &request.tags,
            ))
            .send()
            .await
            .map_err(|error| sdk_error("CreateLaunchTemplate", error))?;
        Ok(answer
            .launch_template()
            .and_then(|template| template.launch_template_id())
            .unwrap_or_default()
            .to_string())
    }

    async fn describe_launch_templates(
        &self,
        filter: &[Filter],
    ) -> Result<Vec<LaunchTemplate>, Ec2Error> {
        let mut templates = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .ec2
                .describe_launch_templates()
                .set_filters(filters(filter))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| sdk_error("DescribeLaunchTemplates", error))?;
            templates.extend(answer.launch_templates().iter().map(|template| {
                LaunchTemplate {
                    id: template
                        .launch_template_id()
                        .unwrap_or_default()
                        .to_string(),
                    name: template
                        .launch_template_name()
                        .unwrap_or_default()
                        .to_string(),
                }
            }));
            token = next(answer.next_token());
            if token.is_none() {
                return Ok(templates);
            }
        }
    }

    async fn delete_launch_template(&self, name: &str) -> Result<(), Ec2Error> {
        self.ec2
            .delete_launch_template()
            .launch_template_name(name)
            .send()
            .await
            .map_err(|error| sdk_error("DeleteLaunchTemplate", error))?;
        Ok(())
    }

    async fn describe_instances(&self, filter: &[Filter]) -> Result<Vec<Ec2Instance>, Ec2Error> {
        let mut instances = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .ec2
                .describe_instances()
                .set_filters(filters(filter))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| sdk_error("DescribeInstances", error))?;
            for reservation in answer.reservations() {
                for instance in reservation.instances() {
                    instances.push(Ec2Instance {
                        id: instance.instance_id().unwrap_or_default().to_string(),
                        instance_type: instance
                            .instance_type()
                            .map(|instance_type| instance_type.as_str().to_string())
                            .unwrap_or_default(),
                        zone: instance
                            .placement()
                            .and_then(|placement| placement.availability_zone())
                            .unwrap_or_default()
                            .to_string(),
                        spot: instance.instance_lifecycle()
                            == Some(&ec2_types::InstanceLifecycleType::Spot),
                        state: instance
                            .state()
                            .and_then(|state| state.name())
                            .map(|name| name.as_str().to_string())
                            .unwrap_or_default(),
                        launch_time: system_time(instance.launch_time()),
                        tags: tags_of(instance.tags()),
                        image_id: instance.image_id().unwrap_or_default().to_string(),
                        subnet_id: instance.subnet_id().unwrap_or_default().to_string(),
                        security_group_ids: {
                            let mut groups: Vec<String> = instance
                                .security_groups()
                                .iter()
                                .filter_map(|group| group.group_id())
                                .map(str::to_string)
                                .collect();
                            groups.sort();
                            groups
                        },
                    });
                }
            }
            token = next(answer.next_token());
            if token.is_none() {
                return Ok(instances);
            }
        }
    }

    async fn terminate_instances(&self, instance_ids: &[String]) -> Result<(), Ec2Error> {
        self.ec2
            .terminate_instances()
            .set_instance_ids(Some(instance_ids.to_vec()))
            .send()
            .await
            .map_err(|error| sdk_error("TerminateInstances", error))?;
        Ok(())
    }

    async fn describe_subnets(&self, filter: &[Filter]) -> Result<Vec<Subnet>, Ec2Error> {
        let mut subnets = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .ec2
                .describe_subnets()
                .set_filters(filters(filter))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| sdk_error("DescribeSubnets", error))?;
            subnets.extend(answer.subnets().iter().map(|subnet| Subnet {
                id: subnet.subnet_id().unwrap_or_default().to_string(),
                zone: subnet.availability_zone().unwrap_or_default().to_string(),
                zone_id: subnet.availability_zone_id().map(str::to_string),
                available_ip_addresses: subnet.available_ip_address_count().unwrap_or_default(),
                tags: tags_of(subnet.tags()),
            }));
            token = next(answer.next_token());
            if token.is_none() {
                return Ok(subnets);
            }
        }
    }

    async fn describe_security_groups(
        &self,
        filter: &[Filter],
    ) -> Result<Vec<SecurityGroup>, Ec2Error> {
        let mut groups = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .ec2
                .describe_security_groups()
                .set_filters(filters(filter))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| sdk_error("DescribeSecurityGroups", error))?;
            groups.extend(answer.security_groups().iter().map(|group| SecurityGroup {
                id: group.group_id().unwrap_or_default().to_string(),
                name: group.group_name().unwrap_or_default().to_string(),
                tags: tags_of(group.tags()),
            }));
            token = next(answer.next_token());
            if token.is_none() {
                return Ok(groups);
            }
        }
    }

    async fn describe_images(&self, filter: &[Filter]) -> Result<Vec<Image>, Ec2Error> {
        let mut images = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .ec2
                .describe_images()
                .set_filters(filters(filter))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| sdk_error("DescribeImages", error))?;
            images.extend(answer.images().iter().map(|image| {
                Image {
                    id: image.image_id().unwrap_or_default().to_string(),
                    name: image.name().unwrap_or_default().to_string(),
                    architecture: image
                        .architecture()
                        .map(|architecture| architecture.as_str().to_string())
                        .unwrap_or_default(),
                    creation_date: image.creation_date().unwrap_or_default().to_string(),
                }
            }));
            token = next(answer.next_token());
            if token.is_none() {
                return Ok(images);
            }
        }
    }

    async fn describe_instance_types(&self) -> Result<Vec<InstanceTypeInfo>, Ec2Error> {
        let mut types = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .ec2
                .describe_instance_types()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| sdk_error("DescribeInstanceTypes", error))?;
            types.extend(answer.instance_types().iter().map(|info| {
                InstanceTypeInfo {
                    name: info
                        .instance_type()
                        .map(|instance_type| instance_type.as_str().to_string())
                        .unwrap_or_default(),
                    vcpu: info
                        .v_cpu_info()
                        .and_then(|cpu| cpu.default_v_cpus())
                        .and_then(|vcpu| u32::try_from(vcpu).ok())
                        .unwrap_or_default(),
                    memory_mib: info
                        .memory_info()
                        .and_then(|memory| memory.size_in_mib())
                        .and_then(|mib| u64::try_from(mib).ok())
                        .unwrap_or_default(),
                    architectures: info
                        .processor_info()
                        .map(|processor| {
                            processor
                                .supported_architectures()
                                .iter()
                                .map(|architecture| architecture.as_str().to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                    bare_metal: info.bare_metal().unwrap_or(false),
                }
            }));
            token = next(answer.next_token());
            if token.is_none() {
                return Ok(types);
            }
        }
    }

    async fn describe_instance_type_offerings(&self) -> Result<Vec<(String, String)>, Ec2Error> {
        let mut offerings = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .ec2
                .describe_instance_type_offerings()
                .location_type(ec2_types::LocationType::AvailabilityZone)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| sdk_error("DescribeInstanceTypeOfferings", error))?;
            offerings.extend(
                answer
                    .instance_type_offerings()
                    .iter()
                    .filter_map(|offering| {
                        Some((
                            offering.instance_type()?.as_str().to_string(),
                            offering.location()?.to_string(),
                        ))
                    }),
            );
            token = next(answer.next_token());
            if token.is_none() {
                return Ok(offerings);
            }
        }
    }

    async fn describe_spot_price_history(
        &self,
        start: SystemTime,
    ) -> Result<Vec<SpotPrice>, Ec2Error> {
        let mut prices = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .ec2
                .describe_spot_price_history()
                .product_descriptions("Linux/UNIX")
                .start_time(DateTime::from(start))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| sdk_error("DescribeSpotPriceHistory", error))?;
            prices.extend(answer.spot_price_history().iter().filter_map(|price| {
                Some(SpotPrice {
                    instance_type: price.instance_type()?.as_str().to_string(),
                    zone: price.availability_zone()?.to_string(),
                    price_per_hour: price.spot_price()?.parse().ok()?,
                    timestamp: system_time(price.timestamp()),
                })
            }));
            token = next(answer.next_token());
            if token.is_none() {
                return Ok(prices);
            }
        }
    }

    async fn get_spot_placement_scores(
        &self,
        instance_types: &[String],
        target_capacity: u32,
        region: &str,
    ) -> Result<Vec<(String, u8)>, Ec2Error> {
        let mut scores = Vec::new();
        let mut token: Option<String> = None;
        let target_capacity = i32::try_from(target_capacity).unwrap_or(i32::MAX);
        loop {
            let answer = self
                .ec2
                .get_spot_placement_scores()
                .set_instance_types(Some(instance_types.to_vec()))
                .target_capacity(target_capacity)
                .single_availability_zone(true)
                .region_names(region)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| sdk_error("GetSpotPlacementScores", error))?;
            scores.extend(answer.spot_placement_scores().iter().filter_map(|score| {
                let value = u8::try_from(score.score()?.clamp(1, 10)).ok()?;
                Some((score.availability_zone_id()?.to_string(), value))
            }));
            token = next(answer.next_token());
            if token.is_none() {
                return Ok(scores);
            }
        }
    }

    async fn describe_availability_zones(&self) -> Result<Vec<(String, String)>, Ec2Error> {
        let answer = self
            .ec2
            .describe_availability_zones()
            .send()
            .await
            .map_err(|error| sdk_error("DescribeAvailabilityZones", error))?;
        Ok(answer
            .availability_zones()
            .iter()
            .filter_map(|zone| Some((zone.zone_name()?.to_string(), zone.zone_id()?.to_string())))
            .collect())
    }

    async fn get_parameter(&self, name: &str) -> Result<String, Ec2Error> {
        let answer = self
            .ssm
            .get_parameter()
            .name(name)
            .send()
            .await
            .map_err(|error| sdk_error("GetParameter", error))?;
        Ok(answer
            .parameter()
            .and_then(|parameter| parameter.value())
            .unwrap_or_default()
            .to_string())
    }

    async fn get_instance_profile(&self, name: &str) -> Result<Option<Vec<String>>, Ec2Error> {
        match self
            .iam
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
        {
            Ok(answer) => Ok(Some(
                answer
                    .instance_profile()
                    .map(|profile| {
                        profile
                            .roles()
                            .iter()
                            .map(|role| role.role_name().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            Err(error) => {
                let error = sdk_error("GetInstanceProfile", error);
                if error.code.as_deref() == Some("NoSuchEntity") {
                    return Ok(None);
                }
                Err(error)
            }
        }
    }

    async fn create_instance_profile(&self, name: &str, tags: &Tags) -> Result<(), Ec2Error> {
        let tags = tags
            .iter()
            .map(|(key, value)| {
                aws_sdk_iam::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .map_err(|error| Ec2Error {
                        operation: "CreateInstanceProfile",
                        code: None,
                        message: format!("failed to build tag {key}: {error}"),
                        status: None,
                        transport: false,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.iam
            .create_instance_profile()
            .instance_profile_name(name)
            .path("/")
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|error| sdk_error("CreateInstanceProfile", error))?;
        Ok(())
    }

    async fn add_role_to_instance_profile(&self, name: &str, role: &str) -> Result<(), Ec2Error> {
        self.iam
            .add_role_to_instance_profile()
            .instance_profile_name(name)
            .role_name(role)
            .send()
            .await
            .map_err(|error| sdk_error("AddRoleToInstanceProfile", error))?;
        Ok(())
    }

    async fn remove_role_from_instance_profile(
        &self,
        name: &str,
        role: &str,
    ) -> Result<(), Ec2Error> {
        self.iam
            .remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(role)
            .send()
            .await
            .map_err(|error| sdk_error("RemoveRoleFromInstanceProfile", error))?;
        Ok(())
    }

    async fn delete_instance_profile(&self, name: &str) -> Result<(), Ec2Error> {
        self.iam
            .delete_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .map_err(|error| sdk_error("DeleteInstanceProfile", error))?;
        Ok(())
    }
}
