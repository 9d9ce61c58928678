//! The simulated cloud's side of node class drift: which version of its EC2NodeClass each
//! NodeClaim's instance was launched from, and, when a class changes, which instances no
//! longer match what its selectors resolve to. The simulated cloud has no AMIs, subnets or
//! security groups, so a selector whose terms changed is taken to resolve to something else:
//! every instance launched under the old terms has drifted (AMI first, then security groups,
//! then subnets, Karpenter's AWS provider's order). The static fields are the controllers'
//! business: the class's new static hash goes to the state, as the kube driver reports it.

use std::collections::BTreeMap;

use spotter_api::node_class_version::NodeClassVersion;
use spotter_cloud::NodeClassDrift;
use spotter_controllers::ClusterState;

/// The node classes as they are now, and the version each live instance was launched from.
#[derive(Debug, Default)]
pub struct NodeClasses {
    current: BTreeMap<String, NodeClassVersion>,
    launched_from: BTreeMap<String, NodeClassVersion>,
}

impl NodeClasses {
    /// The scenario's classes at the start, told to the state.
    pub fn new(classes: &BTreeMap<String, NodeClassVersion>, state: &mut ClusterState) -> Self {
        for (name, version) in classes {
            state.node_class_applied(name, version.static_hash.clone());
        }
        NodeClasses {
            current: classes.clone(),
            launched_from: BTreeMap::new(),
        }
    }

    /// A new version of class `name` is applied: the state learns its static hash, and the
    /// claims launched from an earlier version whose selectors differ are recorded as drifted
    /// in [`ClusterState::node_class_drift`] (those that match again are no longer). Returns
    /// how many claims of the class have drifted by their instance now.
    pub fn applied(
        &mut self,
        name: &str,
        version: NodeClassVersion,
        state: &mut ClusterState,
    ) -> usize {
        state.node_class_applied(name, version.static_hash.clone());
        let previous = self.current.insert(name.to_string(), version.clone());
        // Claims with an instance: one still launching gets the new version (a launch
        // resolves its class when it is made), and is compared at the next change.
        let node_claims: Vec<String> = state
            .node_claims
            .values()
            .filter(|claim| claim.instance().is_some())
            .filter(|claim| {
                state
                    .node_pool(&claim.node_pool)
                    .is_some_and(|pool| pool.node_class == name)
            })
            .map(|claim| claim.name.clone())
            .collect();
        self.launched_from
            .retain(|claim, _| state.node_claims.contains_key(claim));
        state
            .node_class_drift
            .retain(|claim, _| state.node_claims.contains_key(claim));
        let mut drifted = 0;
        for claim in node_claims {
            // A claim launched since the last change of its class was launched from the
            // version that was current then, which is `previous`.
            let Some(launched) = self
                .launched_from
                .get(&claim)
                .or(previous.as_ref())
                .cloned()
            else {
                continue;
            };
            self.launched_from.insert(claim.clone(), launched.clone());
            match selector_drift(&launched, &version) {
                Some(drift) => {
                    state.node_class_drift.insert(claim, drift);
                    drifted += 1;
                }
                None => {
                    state.node_class_drift.remove(&claim);
                }
            }
        }
        drifted
    }
}

/// How an instance launched from `launched` differs from what `now` resolves to.
fn selector_drift(launched: &NodeClassVersion, now: &NodeClassVersion) -> Option<NodeClassDrift> {
    if launched.ami_selector != now.ami_selector {
        Some(NodeClassDrift::Ami)
    } else if launched.security_group_selector != now.security_group_selector {
        Some(NodeClassDrift::SecurityGroup)
    } else if launched.subnet_selector != now.subnet_selector {
        Some(NodeClassDrift::Subnet)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(ami: &str, subnets: &str, security_groups: &str) -> NodeClassVersion {
        NodeClassVersion {
            static_hash: "0".to_string(),
            ami_selector: ami.to_string(),
            subnet_selector: subnets.to_string(),
            security_group_selector: security_groups.to_string(),
        }
    }

    #[test]
    fn the_first_selector_that_differs_in_karpenters_order() {
        let launched = version("ami", "subnets", "groups");
        for (now, drift) in [
            (version("ami", "subnets", "groups"), None),
            (
                version("ami-2", "subnets-2", "groups-2"),
                Some(NodeClassDrift::Ami),
            ),
            (
                version("ami", "subnets-2", "groups-2"),
                Some(NodeClassDrift::SecurityGroup),
            ),
            (
                version("ami", "subnets-2", "groups"),
                Some(NodeClassDrift::Subnet),
            ),
        ] {
            assert_eq!(selector_drift(&launched, &now), drift, "{now:?}");
        }
    }
}
