//! Why an instance no longer matches its node class: what a provider's drift check answers
//! (Karpenter's `cloudprovider.DriftReason` values of the AWS provider), and what the NodeClaim's
//! `Drifted` condition then gives as its reason.

use std::fmt;

/// How a launched instance differs from what its node class would launch now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeClassDrift {
    /// Its AMI is none of the node class's resolved AMIs (a new AMI was released for the
    /// alias, or the selector changed).
    Ami,
    /// Its subnet is none of the node class's resolved subnets.
    Subnet,
    /// Its security groups are not exactly the node class's resolved security groups.
    SecurityGroup,
}

impl NodeClassDrift {
    /// The reason Karpenter writes on the NodeClaim's `Drifted` condition.
    pub fn reason(self) -> &'static str {
        match self {
            NodeClassDrift::Ami => "AMIDrift",
            NodeClassDrift::Subnet => "SubnetDrift",
            NodeClassDrift::SecurityGroup => "SecurityGroupDrift",
        }
    }
}

impl fmt::Display for NodeClassDrift {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.reason())
    }
}
