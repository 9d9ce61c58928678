//! `spotter agent` and `spotter controller --cloud-provider fake --rebalance-replacement` on a
//! real control plane (`spotter-test-support`), both run as the binaries a user runs, the agent
//! polling a local IMDS mock (`spotter_agent::imds_mock`) as if it ran on the node of the
//! seed's pod:
//!
//! - a Spot interruption armed in IMDS: the agent writes the `SpotInterruption` condition and
//!   the `spotter.dev/interruption` taint on its Node; the controller takes the notice from the
//!   Node, launches exactly one replacement NodeClaim and drains the interrupted one, and the
//!   pod runs again;
//! - a rebalance recommendation armed in IMDS: the agent writes the `RebalanceRecommendation`
//!   condition; the controller launches one replacement first and deletes the recommended
//!   NodeClaim only once the replacement is initialized;
//! - every request the controller and the agent made is in the chart's permission list.
//!
//! The Node is watched (`kubectl get --watch`), since the controller may drain and delete it
//! within a second of the agent's report. It prints the time from arming the notice in IMDS to
//! the replacement NodeClaim. Without the control plane's binaries the test fails under `CI=true` and is
//! skipped otherwise.

mod e2e;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, ensure};
use e2e::{
    AgentProcess, ControllerProcess, INSTANCE_ID_LABEL, condition, deployment,
    ensure_permissions_listed, get, install_seed, items, metric, names, pod_nodes, running_pods,
    wait_until,
};
use serde_json::Value;
use spotter_agent::imds_mock::ImdsMock;
use spotter_test_support::{ControlPlane, Kubectl};

/// Long enough for a launch (1 s), a batch (1 s idle) and the scheduler on a loaded machine.
const SETTLE: Duration = Duration::from_secs(90);
/// How long after the replacement the test looks for a second one.
const LINGER: Duration = Duration::from_secs(5);

#[test]
fn the_agents_notices_reach_the_controller_through_the_node() -> Result<()> {
    let Some(plane) =
        ControlPlane::start_or_skip("the_agents_notices_reach_the_controller_through_the_node")?
    else {
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let kubectl = plane.kubectl();
    let logs = tempfile::tempdir()?;
    install_seed(&kubectl)?;
    let (mut command, address) = ControllerProcess::command(&plane)?;
    command.args([
        "--cloud-provider=fake",
        "--fake-launch-delay=1s",
        "--batch-idle-duration=1s",
        "--batch-max-duration=3s",
        "--log-level=info",
        "--identity=spotter-a",
        "--rebalance-replacement",
    ]);
    let mut controller = ControllerProcess::spawn(command, address, logs.path(), "spotter-a")?;
    kubectl.apply(&deployment(1)?)?;
    wait_until("the pod to run", SETTLE, &mut controller, || {
        Ok(running_pods(&kubectl)? == 1)
    })?;

    // A Spot interruption in IMDS.
    let (interrupted, instance_id) = pod_node(&kubectl)?;
    let mock = runtime.block_on(ImdsMock::start())?;
    mock.set_instance_id(&instance_id);
    let agent = AgentProcess::spawn(&plane, &mock, &interrupted, logs.path())?;
    // The node may be drained and gone within a second: watch it rather than poll it.
    let watch = NodeWatch::start(&kubectl, &interrupted, logs.path())?;
    let claims_before = names(&kubectl, "nodeclaims")?;
    let terminate_at = spotter_interruption::timestamp::format_rfc3339(
        SystemTime::now() + Duration::from_secs(120),
    );
    let started = Instant::now();
    mock.arm_spot_interruption("terminate", &terminate_at);
    wait_until(
        "a replacement NodeClaim for the interrupted node",
        SETTLE,
        &mut controller,
        || Ok(!names(&kubectl, "nodeclaims")?.is_subset(&claims_before)),
    )?;
    let replaced_in = started.elapsed();
    wait_until(
        "the interrupted NodeClaim to drain and go, the pod to run again",
        SETTLE,
        &mut controller,
        || {
            Ok(!names(&kubectl, "nodeclaims")?.contains(&interrupted)
                && running_pods(&kubectl)? == 1)
        },
    )?;
    std::thread::sleep(LINGER);
    let versions = watch.versions()?;
    ensure!(
        versions
            .iter()
            .any(|node| condition(node, "SpotInterruption") == Some("True")
                && taint_keys(node).contains("spotter.dev/interruption")),
        "no version of node {interrupted} had the agent's SpotInterruption condition and taint ({} versions seen); agent log:\n{}",
        versions.len(),
        agent.log()
    );
    let created = new_names(&kubectl, &claims_before)?;
    ensure!(
        created.len() == 1,
        "Spot interruption: {} replacement NodeClaims ({created:?}), expected one:\n{}",
        created.len(),
        controller.log_tail()
    );
    let taken = metric(
        address,
        "spotter_interruption_notices_total",
        "message_type=\"spot_interrupted\",source=\"agent\"",
    )?;
    let messages = metric(
        address,
        "karpenter_interruption_received_messages_total",
        "",
    )?;
    ensure!(
        taken == 1.0 && messages == 0.0,
        "Spot interruption: {taken} agent notices taken (expected 1) and {messages} queue messages counted (expected 0)"
    );
    drop(agent);

    // A rebalance recommendation in IMDS, replaced ahead of the interruption.
    let (recommended, instance_id) = pod_node(&kubectl)?;
    mock.set_spot_instance_action(None);
    mock.set_instance_id(&instance_id);
    let agent = AgentProcess::spawn(&plane, &mock, &recommended, logs.path())?;
    let watch = NodeWatch::start(&kubectl, &recommended, logs.path())?;
    let claims_before = names(&kubectl, "nodeclaims")?;
    let started = Instant::now();
    mock.arm_rebalance_recommendation(&spotter_interruption::timestamp::format_rfc3339(
        SystemTime::now(),
    ));
    let mut rebalance_replaced_in = None;
    let mut drained_while: Option<String> = None;
    wait_until(
        "a replacement, then the recommended NodeClaim to drain and go, the pod to run again",
        SETTLE,
        &mut controller,
        || {
            let claims = get(&kubectl, &["get", "nodeclaims"])?;
            let replacement = items(&claims).iter().find(|claim| {
                claim["metadata"]["name"]
                    .as_str()
                    .is_some_and(|name| !claims_before.contains(name))
            });
            if replacement.is_some() && rebalance_replaced_in.is_none() {
                rebalance_replaced_in = Some(started.elapsed());
            }
            let old = items(&claims)
                .iter()
                .find(|claim| claim["metadata"]["name"] == recommended.as_str());
            if drained_while.is_none()
                && old.is_none_or(|claim| !claim["metadata"]["deletionTimestamp"].is_null())
            {
                // The first sight of the recommended claim going: how was its replacement?
                drained_while = Some(match replacement {
                    Some(claim) => condition(claim, "Initialized")
                        .unwrap_or("absent")
                        .to_owned(),
                    None => "not created".to_owned(),
                });
            }
            Ok(old.is_none() && running_pods(&kubectl)? == 1)
        },
    )?;
    ensure!(
        drained_while.as_deref() == Some("True"),
        "the recommended NodeClaim went while its replacement's Initialized condition was {drained_while:?}: it must be drained only once the replacement is initialized"
    );
    std::thread::sleep(LINGER);
    let versions = watch.versions()?;
    ensure!(
        versions
            .iter()
            .any(|node| condition(node, "RebalanceRecommendation") == Some("True")),
        "no version of node {recommended} had the agent's RebalanceRecommendation condition ({} versions seen); agent log:\n{}",
        versions.len(),
        agent.log()
    );
    let created = new_names(&kubectl, &claims_before)?;
    ensure!(
        created.len() == 1,
        "rebalance: {} replacement NodeClaims ({created:?}), expected one:\n{}",
        created.len(),
        controller.log_tail()
    );
    let rebalanced = metric(
        address,
        "karpenter_nodeclaims_disrupted_total",
        "reason=\"rebalance_recommended\"",
    )?;
    ensure!(
        rebalanced == 1.0,
        "{rebalanced} NodeClaims disrupted for rebalance_recommended, expected one"
    );
    drop(agent);
    controller.ensure_alive()?;
    let checked = ensure_permissions_listed(&plane, "spotter", "fake")?;
    eprintln!(
        "timing: Spot interruption armed in IMDS -> replacement NodeClaim in {replaced_in:.1?}"
    );
    eprintln!(
        "timing: rebalance recommendation armed in IMDS -> replacement NodeClaim in {:.1?}",
        rebalance_replaced_in.unwrap_or_default()
    );
    eprintln!(
        "{checked} distinct requests of the controller and the agent are in the permission list"
    );
    Ok(())
}

/// `kubectl get node NAME --watch -o json` into a file: every version of the node while it
/// lasts. Killed when dropped.
struct NodeWatch {
    child: Child,
    output: std::path::PathBuf,
}

impl NodeWatch {
    fn start(kubectl: &Kubectl, node: &str, logs: &Path) -> Result<Self> {
        let output = logs.join(format!("watch-{node}.json"));
        let child = kubectl
            .command(&["get", "node", node, "--watch", "-o", "json"])
            .stdout(File::create(&output)?)
            .stderr(Stdio::null())
            .spawn()
            .context("failed to start kubectl get --watch")?;
        // The watch starts with the node as it is: wait for it, so nothing later is missed.
        let started = Instant::now();
        while std::fs::metadata(&output)?.len() == 0 {
            ensure!(
                started.elapsed() < Duration::from_secs(30),
                "kubectl get node {node} --watch printed nothing in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(NodeWatch { child, output })
    }

    /// The versions of the node seen so far.
    fn versions(&self) -> Result<Vec<Value>> {
        let text = std::fs::read_to_string(&self.output)?;
        let mut versions = Vec::new();
        for version in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
            match version {
                Ok(version) => versions.push(version),
                // The last object may be cut short by the kill.
                Err(error) if error.is_eof() => break,
                Err(error) => return Err(error.into()),
            }
        }
        Ok(versions)
    }
}

impl Drop for NodeWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The node the Deployment's pod runs on, and its fake instance id.
fn pod_node(kubectl: &Kubectl) -> Result<(String, String)> {
    let node = pod_nodes(kubectl)?
        .into_iter()
        .next()
        .context("the pod runs on no node")?;
    let object = get(kubectl, &["get", "node", &node])?;
    let instance_id = object["metadata"]["labels"][INSTANCE_ID_LABEL]
        .as_str()
        .with_context(|| format!("node {node} has no {INSTANCE_ID_LABEL} label"))?
        .to_owned();
    Ok((node, instance_id))
}

/// The NodeClaims that are not in `before`.
fn new_names(kubectl: &Kubectl, before: &BTreeSet<String>) -> Result<BTreeSet<String>> {
    Ok(names(kubectl, "nodeclaims")?
        .difference(before)
        .cloned()
        .collect())
}

fn taint_keys(node: &Value) -> BTreeSet<String> {
    node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|taint| taint["key"].as_str().map(str::to_owned))
        .collect()
}
