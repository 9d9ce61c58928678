//! What drift compares of an EC2NodeClass: the hash of its static fields, which a NodeClaim
//! records at its creation (Karpenter's `karpenter.k8s.aws/ec2nodeclass-hash`), and the
//! selector terms whose resolution the cloud compares with each running instance (AMIs,
//! subnets, security groups).
//!
//! The static hash covers every field of the spec except, as Karpenter's `hash:"ignore"` tags:
//! the selector terms (subnets, security groups, capacity reservations, AMIs; their changes are
//! found by what they resolve to, not by their text), `ipPrefixCount`, and `amiFamily`, in
//! whose place the family the class resolves to is hashed (so that writing `amiFamily: AL2023`
//! beside an `al2023@…` alias changes nothing). As Karpenter's hash options do, lists are taken
//! as sets and unset fields as absent (Spotter also takes an empty list or map as unset). The
//! hash is Spotter's own (FNV-1a over the canonical JSON of those fields), so NodeClaims record
//! its version beside it and a hash of another version is not compared.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use spotter_core::stable_hash;

/// A version of an EC2NodeClass, as drift compares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeClassVersion {
    /// The hash of the static fields (16 hex digits).
    pub static_hash: String,
    /// `amiSelectorTerms`, canonical (terms as a set).
    pub ami_selector: String,
    /// `subnetSelectorTerms`, canonical.
    pub subnet_selector: String,
    /// `securityGroupSelectorTerms`, canonical.
    pub security_group_selector: String,
}

/// The fields of the spec the static hash leaves out.
const IGNORED_FIELDS: [&str; 6] = [
    "subnetSelectorTerms",
    "securityGroupSelectorTerms",
    "capacityReservationSelectorTerms",
    "amiSelectorTerms",
    "ipPrefixCount",
    "amiFamily",
];

impl NodeClassVersion {
    /// The version of the EC2NodeClass whose `spec` (as JSON) is given.
    pub fn of(spec: &Value) -> Self {
        let field = |name: &str| canonical(spec.get(name).unwrap_or(&Value::Null));
        NodeClassVersion {
            static_hash: static_hash(spec),
            ami_selector: field("amiSelectorTerms"),
            subnet_selector: field("subnetSelectorTerms"),
            security_group_selector: field("securityGroupSelectorTerms"),
        }
    }
}

/// The hash of the spec's static fields.
pub fn static_hash(spec: &Value) -> String {
    let mut fields = Map::new();
    if let Value::Object(spec) = spec {
        for (name, value) in spec {
            if !IGNORED_FIELDS.contains(&name.as_str()) {
                fields.insert(name.clone(), value.clone());
            }
        }
    }
    fields.insert(
        "amiFamily".to_string(),
        Value::String(resolved_ami_family(spec)),
    );
    stable_hash::fnv1a_hex(canonical(&Value::Object(fields)).as_bytes())
}

/// The AMI family the class resolves to, as Karpenter's `EC2NodeClass.AMIFamily()`: the
/// `amiFamily` field when set, else the family of an `alias` term, else `Custom`.
pub fn resolved_ami_family(spec: &Value) -> String {
    if let Some(family) = spec.get("amiFamily").and_then(Value::as_str) {
        return family.to_string();
    }
    let alias = spec
        .get("amiSelectorTerms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|term| term.get("alias").and_then(Value::as_str));
    let family = alias.and_then(|alias| alias.split('@').next());
    match family {
        Some("al2") => "AL2",
        Some("al2023") => "AL2023",
        Some("bottlerocket") => "Bottlerocket",
        Some("windows2019") => "Windows2019",
        Some("windows2022") => "Windows2022",
        _ => "Custom",
    }
    .to_string()
}

/// The value as compact JSON with object keys sorted, list items sorted (a list is a set),
/// and nulls, empty lists and empty maps left out; `""` for what is left with nothing.
fn canonical(value: &Value) -> String {
    normalized(value).map_or_else(String::new, |value| value.to_string())
}

fn normalized(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Array(items) => {
            let mut items: Vec<(String, Value)> = items
                .iter()
                .filter_map(normalized)
                .map(|item| (item.to_string(), item))
                .collect();
            items.sort_by(|left, right| left.0.cmp(&right.0));
            items.dedup_by(|left, right| left.0 == right.0);
            (!items.is_empty())
                .then(|| Value::Array(items.into_iter().map(|(_, item)| item).collect()))
        }
        Value::Object(fields) => {
            // Inserted in key order, so that the text is canonical whether or not serde_json's
            // `preserve_order` is on somewhere in the build.
            let sorted: BTreeMap<&String, Value> = fields
                .iter()
                .filter_map(|(name, value)| normalized(value).map(|value| (name, value)))
                .collect();
            let fields: Map<String, Value> = sorted
                .into_iter()
                .map(|(name, value)| (name.clone(), value))
                .collect();
            (!fields.is_empty()).then_some(Value::Object(fields))
        }
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed() -> Value {
        json!({
            "role": "KarpenterNodeRole-seed",
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "seed"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "seed"}}],
            "tags": {"team": "batch"},
            "blockDeviceMappings": [
                {"deviceName": "/dev/xvda", "ebs": {"volumeSize": "100Gi"}},
                {"deviceName": "/dev/xvdb", "ebs": {"volumeSize": "50Gi"}}
            ]
        })
    }

    fn edited(edit: impl Fn(&mut Value)) -> Value {
        let mut spec = seed();
        edit(&mut spec);
        spec
    }

    #[test]
    fn static_fields_change_the_hash_and_dynamic_ones_do_not() {
        let base = static_hash(&seed());
        let cases: Vec<(&str, Value, bool)> = vec![
            (
                "a tag",
                edited(|spec| spec["tags"]["team"] = json!("web")),
                true,
            ),
            (
                "user data",
                edited(|spec| spec["userData"] = json!("#!/bin/bash")),
                true,
            ),
            (
                "the role",
                edited(|spec| spec["role"] = json!("OtherRole")),
                true,
            ),
            (
                "a kubelet setting",
                edited(|spec| spec["kubelet"] = json!({"maxPods": 110})),
                true,
            ),
            (
                "a volume size",
                edited(|spec| spec["blockDeviceMappings"][1]["ebs"]["volumeSize"] = json!("80Gi")),
                true,
            ),
            (
                "another AMI family",
                edited(|spec| spec["amiSelectorTerms"] = json!([{"alias": "bottlerocket@latest"}])),
                true,
            ),
            (
                "another AMI version",
                edited(|spec| spec["amiSelectorTerms"] = json!([{"alias": "al2023@v20241120"}])),
                false,
            ),
            (
                "the family written out beside its alias",
                edited(|spec| spec["amiFamily"] = json!("AL2023")),
                false,
            ),
            (
                "other subnets",
                edited(|spec| spec["subnetSelectorTerms"] = json!([{"id": "subnet-1"}])),
                false,
            ),
            (
                "other security groups",
                edited(|spec| spec["securityGroupSelectorTerms"] = json!([{"name": "nodes"}])),
                false,
            ),
            (
                "a prefix count",
                edited(|spec| spec["ipPrefixCount"] = json!(2)),
                false,
            ),
            (
                "block devices in another order",
                edited(|spec| {
                    if let Some(devices) = spec["blockDeviceMappings"].as_array_mut() {
                        devices.reverse();
                    }
                }),
                false,
            ),
            (
                "an unset field written as null",
                edited(|spec| spec["context"] = Value::Null),
                false,
            ),
            (
                "an empty kubelet map",
                edited(|spec| spec["kubelet"] = json!({})),
                false,
            ),
        ];
        for (case, spec, changes) in cases {
            assert_eq!(static_hash(&spec) != base, changes, "{case}");
        }
    }

    #[test]
    fn the_family_resolves_as_karpenter_resolves_it() {
        for (spec, family) in [
            (
                json!({"amiSelectorTerms": [{"alias": "al2@latest"}]}),
                "AL2",
            ),
            (
                json!({"amiSelectorTerms": [{"alias": "bottlerocket@v1.20.0"}]}),
                "Bottlerocket",
            ),
            (
                json!({"amiSelectorTerms": [{"id": "ami-1"}], "amiFamily": "AL2023"}),
                "AL2023",
            ),
            (json!({"amiSelectorTerms": [{"id": "ami-1"}]}), "Custom"),
            (json!({}), "Custom"),
        ] {
            assert_eq!(resolved_ami_family(&spec), family, "{spec}");
        }
    }

    #[test]
    fn selectors_are_compared_as_sets() {
        let version = NodeClassVersion::of(&seed());
        let reordered = NodeClassVersion::of(&edited(|spec| {
            spec["securityGroupSelectorTerms"] = json!([{"id": "sg-2"}, {"id": "sg-1"}]);
        }));
        let ordered = NodeClassVersion::of(&edited(|spec| {
            spec["securityGroupSelectorTerms"] = json!([{"id": "sg-1"}, {"id": "sg-2"}]);
        }));
        assert_eq!(reordered, ordered);
        assert_ne!(
            version.security_group_selector,
            ordered.security_group_selector
        );
        assert_eq!(version.static_hash, ordered.static_hash);
        let new_ami = NodeClassVersion::of(&edited(|spec| {
            spec["amiSelectorTerms"] = json!([{"alias": "al2023@v20241120"}]);
        }));
        assert_ne!(version.ami_selector, new_ami.ami_selector);
        assert_eq!(version.subnet_selector, new_ami.subnet_selector);
    }
}
