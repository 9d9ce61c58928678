//! Spotter's cluster simulator: a discrete-event engine on a virtual clock that runs the real
//! controllers (`spotter-controllers`) against a simulated EC2 market built from the embedded
//! catalog (`spotter-cloud`) and a simulated cluster (pods, Deployments, Jobs, DaemonSets,
//! PodDisruptionBudgets, a kube-scheduler stand-in), checks the invariants all through the run
//! and reports Spot share, fallbacks, interruptions, pods disrupted and dollars saved.
//!
//! The simulator is a driver: it performs the actions the controllers return; the controllers
//! do not know they are simulated.

mod baseline;
mod faults;
pub mod invariants;
mod lifecycle;
mod node_classes;
pub mod observer;
mod perform;
mod recorder;
pub mod scenario;
mod scheduler;
pub mod simulation;
mod workloads;

pub use observer::{NoObserver, Observer};
pub use scenario::Scenario;
pub use simulation::{Options, SimulationError, compare, run, run_observed};
pub use spotter_controllers::Policy;
pub use spotter_report::{Comparison, Report};
