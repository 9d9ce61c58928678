"""moto's server, with CreateFleet refusing chosen offerings for insufficient capacity.

moto never answers a fleet's `Errors`, so Spotter's tests start moto through this script
(written out and run by spotter-test-support's `Moto::start_refusing`). Before each CreateFleet
it reads the file named by SPOTTER_MOTO_REFUSED_OFFERINGS: one offering a line,
`capacity-type:instance-type:zone`, `*` matching any value, `#` starting a comment. Every
override of the request that matches is taken out and answered as EC2 answers it, an
`InsufficientInstanceCapacity` entry in `Errors` naming the override; the others go to moto as
usual. When none is left, the answer has no instance and only the errors.
"""

import fnmatch
import os
import sys

from moto.core.responses import ActionResult
from moto.ec2.responses.fleets import Fleets

REFUSED = os.environ.get("SPOTTER_MOTO_REFUSED_OFFERINGS", "")


def refused_patterns():
    if not REFUSED or not os.path.exists(REFUSED):
        return []
    patterns = []
    with open(REFUSED, encoding="utf-8") as lines:
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line:
                fields = line.split(":")
                if len(fields) == 3:
                    patterns.append(fields)
    return patterns


def is_refused(patterns, offering):
    return any(
        all(fnmatch.fnmatchcase(value, pattern) for value, pattern in zip(offering, fields))
        for fields in patterns
    )


original_create_fleet = Fleets.create_fleet


def create_fleet(self):
    patterns = refused_patterns()
    if not patterns:
        return original_create_fleet(self)
    target = self._get_param("TargetCapacitySpecification", {}) or {}
    capacity_type = target.get("DefaultTargetCapacityType", "on-demand")
    configs = self._get_param("LaunchTemplateConfigs", []) or []
    errors = []
    kept_configs = []
    for config in configs:
        kept = []
        for override in config.get("Overrides") or []:
            zone = override.get("AvailabilityZone")
            subnet_id = override.get("SubnetId")
            if not zone and subnet_id:
                zone = self.ec2_backend.get_subnet(subnet_id).availability_zone
            offering = (capacity_type, override.get("InstanceType", ""), zone or "")
            if is_refused(patterns, offering):
                errors.append(
                    {
                        "LaunchTemplateAndOverrides": {
                            "LaunchTemplateSpecification": config.get(
                                "LaunchTemplateSpecification", {}
                            ),
                            "Overrides": {
                                "InstanceType": offering[1],
                                "SubnetId": subnet_id,
                                "AvailabilityZone": offering[2],
                            },
                        },
                        "Lifecycle": "spot" if capacity_type == "spot" else "on-demand",
                        "ErrorCode": "InsufficientInstanceCapacity",
                        "ErrorMessage": "We currently do not have sufficient %s capacity in the Availability Zone you requested (%s)."
                        % (offering[1], offering[2]),
                    }
                )
            else:
                kept.append(override)
        if kept:
            config["Overrides"] = kept
            kept_configs.append(config)
    if not errors:
        return original_create_fleet(self)
    if not kept_configs:
        return ActionResult({"FleetId": "fleet-refused", "Instances": [], "Errors": errors})
    self.params["LaunchTemplateConfigs"] = kept_configs
    result = original_create_fleet(self)
    result.result["Errors"] = errors
    return result


Fleets.create_fleet = create_fleet

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
