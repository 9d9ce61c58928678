//! What the driver hears: objects applied or deleted (already converted), a kind listed for
//! the first time, the answers of cloud calls that ran in the background, and interruption
//! notices read from the SQS queue.

use spotter_cloud::{CloudError, Launched};
use spotter_controllers::pod_disruption_budget::PodDisruptionBudget;
use spotter_core::pod::Pod;
use spotter_interruption::notice::Notice;

use crate::convert::{ConvertError, NodeClaimView, NodeClassView, NodePoolView, NodeView, PodView};

/// One thing that happened.
#[derive(Debug)]
pub enum Observation {
    /// An object was created or changed.
    Applied(Box<Object>),
    /// An object of a kind was deleted (by key).
    Deleted(Kind, String),
    /// An object could not be converted: it is reported and ignored.
    Invalid(Kind, String, ConvertError),
    /// A kind was listed completely (the driver is ready once every kind is).
    Synced(Kind),
    /// A launch answered.
    LaunchCompleted {
        /// The NodeClaim.
        node_claim: String,
        /// The answer.
        result: Result<Launched, CloudError>,
    },
    /// A NodeClaim's instance is gone (terminated, or found missing).
    InstanceGone {
        /// The NodeClaim.
        node_claim: String,
    },
    /// The cloud's answer to which launched NodeClaims drifted from their node class.
    NodeClassDrift(std::collections::BTreeMap<String, spotter_cloud::NodeClassDrift>),
    /// The cloud's answer to the Spot placement scores asked for.
    PlacementScores(Result<spotter_core::placement_scores::PlacementScores, CloudError>),
    /// The region's instance types were read again (new Spot prices, zones that stopped or
    /// started offering a type), by the cloud provider's catalog refresh.
    InstanceTypes(std::sync::Arc<Vec<spotter_core::instance_type::InstanceType>>),
    /// An interruption notice read from the SQS interruption queue (the agent's notices
    /// arrive as Node conditions instead). The message it came in is deleted from the queue
    /// once this is sent.
    QueueNotice {
        /// The instance and what is about to happen to it.
        notice: Notice,
        /// SQS's id of the message, for the logs.
        message_id: String,
    },
}

/// A converted object.
#[derive(Debug)]
pub enum Object {
    /// A NodePool.
    NodePool(NodePoolView),
    /// A NodeClaim.
    NodeClaim(NodeClaimView),
    /// A Node.
    Node(NodeView),
    /// A pod.
    Pod(PodView),
    /// A DaemonSet (by key) and the pod it runs on every node.
    DaemonSet(String, Pod),
    /// A PodDisruptionBudget.
    PodDisruptionBudget(PodDisruptionBudget),
    /// An EC2NodeClass.
    NodeClass(NodeClassView),
}

/// The kinds the driver watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `karpenter.sh/v1` NodePool.
    NodePool,
    /// `karpenter.sh/v1` NodeClaim.
    NodeClaim,
    /// v1 Node.
    Node,
    /// v1 Pod.
    Pod,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// policy/v1 PodDisruptionBudget.
    PodDisruptionBudget,
    /// `karpenter.k8s.aws/v1` EC2NodeClass.
    NodeClass,
}

impl Kind {
    /// Every kind, in the order a restarted controller applies them.
    pub const ALL: [Kind; 7] = [
        Kind::NodeClass,
        Kind::NodePool,
        Kind::DaemonSet,
        Kind::PodDisruptionBudget,
        Kind::NodeClaim,
        Kind::Node,
        Kind::Pod,
    ];

    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NodePool => "NodePool",
            Kind::NodeClaim => "NodeClaim",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::DaemonSet => "DaemonSet",
            Kind::PodDisruptionBudget => "PodDisruptionBudget",
            Kind::NodeClass => "EC2NodeClass",
        }
    }
}
