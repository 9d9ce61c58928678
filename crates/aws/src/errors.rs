//! What EC2's error codes mean to Spotter: a failed call ([`Ec2Error`]) becomes a typed
//! [`CloudError`] (throttled, transient, permission with an instruction, not found, invalid),
//! and CreateFleet's per-override `Errors` become the exact offerings that had no capacity.
//! Codes are matched as the SDK's typed metadata answered them, never parsed from messages.

use std::collections::BTreeSet;

use spotter_cloud::{CloudError, OfferingKey};
use spotter_core::offering::CapacityType;

use crate::ec2::{Ec2Error, FleetError, FleetOverride, iam_action};

/// Codes that mean "slow down".
pub const THROTTLING_CODES: [&str; 6] = [
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestThrottled",
];

/// Fleet error codes that mean the offering cannot be launched now (it belongs in the
/// unavailable-offerings cache).
pub const CAPACITY_CODES: [&str; 9] = [
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "MaxSpotInstanceCountExceeded",
    "VcpuLimitExceeded",
    "UnfulfillableCapacity",
    "Unsupported",
    "InsufficientFreeAddressesInSubnet",
    "SpotMaxPriceTooLow",
    "ReservationCapacityExceeded",
];

/// The code EC2 answers when the Spot service-linked role is missing and cannot be created.
pub const SPOT_SERVICE_LINKED_ROLE_CODE: &str = "AuthFailure.ServiceLinkedRoleCreationNotPermitted";

/// Codes that mean the caller's IAM policy does not allow the call.
pub const PERMISSION_CODES: [&str; 3] = [
    "UnauthorizedOperation",
    "AccessDenied",
    "AccessDeniedException",
];

/// The code EC2 answers when the credentials themselves were not accepted.
pub const CREDENTIALS_CODE: &str = "AuthFailure";

/// The instruction for credentials EC2 did not accept.
pub const CREDENTIALS_INSTRUCTION: &str = "check the controller's AWS credentials (its IAM role for service accounts or Pod Identity association, or the AWS_* environment): EC2 did not accept them";

/// Codes that mean the object does not exist.
pub const NOT_FOUND_CODES: [&str; 5] = [
    "InvalidInstanceID.NotFound",
    "InvalidInstanceID.Malformed",
    "InvalidLaunchTemplateName.NotFoundException",
    "InvalidLaunchTemplateId.NotFound",
    "ParameterNotFound",
];

/// Codes of a server-side failure that may not happen again.
pub const SERVER_CODES: [&str; 5] = [
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
];

/// The instruction for a missing Spot service-linked role.
pub const SPOT_SERVICE_LINKED_ROLE_INSTRUCTION: &str = "create the EC2 Spot service-linked role: aws iam create-service-linked-role --aws-service-name spot.amazonaws.com (or allow iam:CreateServiceLinkedRole for spot.amazonaws.com in the controller's IAM policy)";

/// What a failed call means to the caller.
pub fn cloud_error(error: &Ec2Error, what: &str) -> CloudError {
    let operation = error.operation.to_string();
    let code = error.code.as_deref().unwrap_or_default();
    if THROTTLING_CODES.contains(&code) {
        return CloudError::Throttled {
            operation,
            retry_after: None,
        };
    }
    if code == SPOT_SERVICE_LINKED_ROLE_CODE {
        return CloudError::PermissionDenied {
            operation,
            instruction: SPOT_SERVICE_LINKED_ROLE_INSTRUCTION.to_string(),
        };
    }
    if PERMISSION_CODES.contains(&code) {
        return CloudError::PermissionDenied {
            instruction: permission_instruction(error.operation),
            operation,
        };
    }
    if code == CREDENTIALS_CODE {
        return CloudError::PermissionDenied {
            operation,
            instruction: CREDENTIALS_INSTRUCTION.to_string(),
        };
    }
    if NOT_FOUND_CODES.contains(&code) {
        return CloudError::NotFound {
            what: what.to_string(),
        };
    }
    if error.transport
        || error.status.is_some_and(|status| status >= 500)
        || SERVER_CODES.contains(&code)
    {
        return CloudError::Transient {
            operation,
            message: error.to_string(),
        };
    }
    CloudError::InvalidRequest {
        reason: error.to_string(),
    }
}

/// What to allow for `operation` (`allow ec2:CreateFleet ... in the controller's IAM policy`).
pub fn permission_instruction(operation: &str) -> String {
    let action = iam_action(operation)
        .map(str::to_string)
        .unwrap_or_else(|| format!("ec2:{operation}"));
    let scope = match operation {
        "CreateFleet" => {
            " on fleet, instance, volume, network-interface, spot-instances-request and launch-template resources (plus ec2:RunInstances and ec2:CreateTags, and iam:PassRole on the node role)"
        }
        "CreateLaunchTemplate" => " (plus ec2:CreateTags on launch-template resources)",
        "TerminateInstances" | "DeleteLaunchTemplate" => {
            " on resources tagged kubernetes.io/cluster/<cluster>: owned"
        }
        _ => "",
    };
    format!("allow {action}{scope} in the controller's IAM policy (see docs/iam-policy.json)")
}

/// CreateFleet's per-override errors, sorted by what they mean.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetErrors {
    /// Offerings every override of which answered a capacity code.
    pub unavailable: Vec<OfferingKey>,
    /// The first permission problem, as an error that says what to do.
    pub permission: Option<CloudError>,
    /// The other errors (`code: message`), for the error a launch without instance returns.
    pub other: Vec<String>,
}

/// Sorts the fleet `errors` of a request whose overrides were `overrides`: an offering is
/// unavailable when every one of its overrides (its zone's subnets) answered a capacity code.
pub fn classify_fleet_errors(
    capacity_type: CapacityType,
    overrides: &[FleetOverride],
    errors: &[FleetError],
) -> FleetErrors {
    let mut result = FleetErrors::default();
    let mut failed_overrides: BTreeSet<(String, String)> = BTreeSet::new();
    for error in errors {
        let code = error.code.as_str();
        if CAPACITY_CODES.contains(&code) {
            let instance_type = error.instance_type.clone().unwrap_or_default();
            let failed_subnets: Vec<&FleetOverride> = overrides
                .iter()
                .filter(|candidate| candidate.instance_type == instance_type)
                .filter(|candidate| match (&error.subnet_id, &error.zone) {
                    (Some(subnet), _) => &candidate.subnet_id == subnet,
                    (None, Some(zone)) => &candidate.zone == zone,
                    (None, None) => true,
                })
                .collect();
            for failed in failed_subnets {
                failed_overrides.insert((failed.instance_type.clone(), failed.subnet_id.clone()));
            }
        } else if code == SPOT_SERVICE_LINKED_ROLE_CODE {
            result
                .permission
                .get_or_insert(CloudError::PermissionDenied {
                    operation: "CreateFleet".to_string(),
                    instruction: SPOT_SERVICE_LINKED_ROLE_INSTRUCTION.to_string(),
                });
        } else if PERMISSION_CODES.contains(&code) {
            result
                .permission
                .get_or_insert(CloudError::PermissionDenied {
                    operation: "CreateFleet".to_string(),
                    instruction: permission_instruction("CreateFleet"),
                });
        } else {
            result.other.push(format!("{code}: {}", error.message));
        }
    }
    let mut offerings: Vec<OfferingKey> = Vec::new();
    for candidate in overrides {
        let offering = OfferingKey {
            capacity_type,
            instance_type: candidate.instance_type.clone(),
            zone: candidate.zone.clone(),
        };
        if offerings.contains(&offering) {
            continue;
        }
        let every_subnet_failed = overrides
            .iter()
            .filter(|other| {
                other.instance_type == candidate.instance_type && other.zone == candidate.zone
            })
            .all(|other| {
                failed_overrides.contains(&(other.instance_type.clone(), other.subnet_id.clone()))
            });
        if every_subnet_failed {
            offerings.push(offering);
        }
    }
    result.unavailable = offerings;
    result.other.sort();
    result.other.dedup();
    result
}

/// The error of a CreateFleet that launched nothing.
pub fn launch_failure(errors: FleetErrors) -> CloudError {
    if let Some(permission) = errors.permission {
        return permission;
    }
    if errors.other.is_empty() && !errors.unavailable.is_empty() {
        return CloudError::InsufficientCapacity {
            offerings: errors.unavailable,
        };
    }
    if errors.other.is_empty() {
        return CloudError::Transient {
            operation: "CreateFleet".to_string(),
            message: "the fleet launched no instance and answered no error".to_string(),
        };
    }
    CloudError::InvalidRequest {
        reason: format!(
            "CreateFleet launched no instance: {}{}",
            errors.other.join("; "),
            if errors.unavailable.is_empty() {
                String::new()
            } else {
                format!(
                    "; no capacity for {}",
                    errors
                        .unavailable
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet_override(instance_type: &str, subnet: &str, zone: &str) -> FleetOverride {
        FleetOverride {
            instance_type: instance_type.to_string(),
            subnet_id: subnet.to_string(),
            zone: zone.to_string(),
            priority: None,
        }
    }

    fn fleet_error(code: &str, instance_type: &str, subnet: &str) -> FleetError {
        FleetError {
            code: code.to_string(),
            message: String::new(),
            instance_type: Some(instance_type.to_string()),
            subnet_id: Some(subnet.to_string()),
            zone: None,
        }
    }

    fn key(instance_type: &str, zone: &str) -> OfferingKey {
        OfferingKey {
            capacity_type: CapacityType::Spot,
            instance_type: instance_type.to_string(),
            zone: zone.to_string(),
        }
    }

    #[test]
    fn an_offering_is_unavailable_only_when_every_subnet_of_its_zone_failed() {
        let overrides = [
            fleet_override("m5.large", "subnet-a1", "zone-a"),
            fleet_override("m5.large", "subnet-a2", "zone-a"),
            fleet_override("c5.large", "subnet-a1", "zone-a"),
            fleet_override("c5.large", "subnet-a2", "zone-a"),
        ];
        let cases = [
            (
                "one of two subnets out of addresses",
                vec![fleet_error(
                    "InsufficientFreeAddressesInSubnet",
                    "m5.large",
                    "subnet-a1",
                )],
                vec![],
            ),
            (
                "both subnets refused",
                vec![
                    fleet_error("InsufficientInstanceCapacity", "m5.large", "subnet-a1"),
                    fleet_error("InsufficientInstanceCapacity", "m5.large", "subnet-a2"),
                ],
                vec![key("m5.large", "zone-a")],
            ),
            (
                "an error without subnet covers the type in every zone",
                vec![FleetError {
                    code: "Unsupported".to_string(),
                    message: String::new(),
                    instance_type: Some("c5.large".to_string()),
                    subnet_id: None,
                    zone: None,
                }],
                vec![key("c5.large", "zone-a")],
            ),
        ];
        for (name, errors, expected) in cases {
            let classified = classify_fleet_errors(CapacityType::Spot, &overrides, &errors);
            assert_eq!(classified.unavailable, expected, "{name}");
            assert!(classified.other.is_empty(), "{name}");
        }
    }

    #[test]
    fn call_errors_map_to_typed_cloud_errors() {
        type Check = fn(&CloudError) -> bool;
        let cases: [(Ec2Error, Check); 7] = [
            (
                Ec2Error::service("DescribeSubnets", "AuthFailure", "bad key", 401),
                |error| matches!(error, CloudError::PermissionDenied { instruction, .. } if instruction.starts_with("check the controller's AWS credentials")),
            ),
            (
                Ec2Error::service("CreateFleet", "RequestLimitExceeded", "slow down", 503),
                |error| matches!(error, CloudError::Throttled { .. }),
            ),
            (
                Ec2Error::service("TerminateInstances", "UnauthorizedOperation", "no", 403),
                |error| matches!(error, CloudError::PermissionDenied { instruction, .. } if instruction.starts_with("allow ec2:TerminateInstances")),
            ),
            (
                Ec2Error::service("GetParameter", "AccessDeniedException", "no", 400),
                |error| matches!(error, CloudError::PermissionDenied { instruction, .. } if instruction.starts_with("allow ssm:GetParameter")),
            ),
            (
                Ec2Error::service(
                    "TerminateInstances",
                    "InvalidInstanceID.NotFound",
                    "gone",
                    400,
                ),
                |error| matches!(error, CloudError::NotFound { what } if what == "thing"),
            ),
            (
                Ec2Error {
                    operation: "DescribeInstances",
                    code: None,
                    message: "timed out".to_string(),
                    status: None,
                    transport: true,
                },
                |error| matches!(error, CloudError::Transient { .. }),
            ),
            (
                Ec2Error::service("CreateFleet", "InvalidParameterValue", "bad", 400),
                |error| matches!(error, CloudError::InvalidRequest { .. }),
            ),
        ];
        for (error, check) in cases {
            let mapped = cloud_error(&error, "thing");
            assert!(check(&mapped), "{error} -> {mapped:?}");
        }
    }
}
