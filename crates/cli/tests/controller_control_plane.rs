//! `spotter controller --cloud-provider fake` on a real control plane (etcd, kube-apiserver,
//! kube-scheduler, kube-controller-manager from `KUBEBUILDER_ASSETS`, see
//! `spotter-test-support`), run as the binary a user runs, with the seed's NodePools and
//! EC2NodeClass applied unchanged by kubectl:
//!
//! - a Deployment's pending pods get NodeClaims of the Spot pool `batch`, their Nodes register
//!   (no `karpenter.sh/unregistered` taint, NodeClaim `Registered`/`Initialized`), and the pods
//!   run on them;
//! - a second replica waits on the Lease and takes over when the leader dies; the restarted
//!   controller launches nothing twice (one NodeClaim per Node, none leaked), also when it
//!   was killed in the middle of a launch;
//! - `/metrics` serves Karpenter's metric names with the cluster's values, and `/readyz` says
//!   which replica leads;
//! - `kubectl get nodepools` shows each pool's nodes and `Ready` (its `status.resources` and
//!   conditions);
//! - a pod pinned to on-demand gets a node of `batch-fallback`;
//! - a Spot outage (the fake cloud's faults ConfigMap) sends the next pods to the on-demand
//!   pool `batch-fallback` as fallback nodes, which are returned to Spot once it ends (the
//!   node of the pod pinned to on-demand stays);
//! - a tag added to the EC2NodeClass drifts every NodeClaim (`Drifted`, reason
//!   `NodeClassDrift`, by the class hash each recorded) and they are replaced within the
//!   budgets, the pods running on the replacements;
//! - a PodDisruptionBudget that allows no disruption holds a deleted NodeClaim's drain, and the
//!   drain finishes once it is removed;
//! - with `consolidateAfter: 1s`, NodeClaims get Karpenter's `Consolidatable` condition;
//!   scaled to zero, the empty nodes are removed within the budgets and no NodeClaim or Node
//!   (a fake instance) is left;
//! - every request the controller made (both replicas, leader election included) is in the
//!   chart's permission list.
//!
//! One control plane serves every case (one test, in order); without the binaries the test
//! fails under `CI=true` and is skipped otherwise.

mod e2e;

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use e2e::{deployment, ensure_permissions_listed, get, items, names, running_pods};
use serde_json::Value;
use spotter_test_support::{ControlPlane, Kubectl, SPOTTER_CRDS};

const NAMESPACE: &str = "spotter";
const DEPLOYMENT: &str = "batch-workers";
/// Long enough for a launch (1 s), a batch (1 s idle) and the scheduler, with room for a
/// loaded machine.
const SETTLE: Duration = Duration::from_secs(90);

#[test]
fn controller_runs_a_cluster_on_a_real_control_plane() -> Result<()> {
    let started = Instant::now();
    let Some(plane) =
        ControlPlane::start_or_skip("controller_runs_a_cluster_on_a_real_control_plane")?
    else {
        return Ok(());
    };
    let kubectl = plane.kubectl();
    let logs = tempfile::tempdir()?;
    install(&kubectl)?;

    let mut leader = Controller::start(&plane, logs.path(), "spotter-a")?;
    wait_for_lease_holder(&kubectl, "spotter-a", &mut [&mut leader])?;
    let launched = Instant::now();
    kubectl.apply(&deployment(6)?)?;
    wait_for_running_pods(&kubectl, 6, &mut [&mut leader])?;
    eprintln!(
        "6 pending pods -> running on new Spot nodes in {:.1?}",
        launched.elapsed()
    );
    nodes_are_registered_spot_nodes_of_batch(&kubectl)?;
    metrics_show_the_cluster(&leader)?;
    // The NodePools' status: `kubectl get nodepools` shows their nodes and readiness.
    let mut last_table = String::new();
    wait_until(
        "the NodePools' status to count their nodes and say Ready",
        SETTLE,
        &mut [&mut leader],
        || {
            let batch_nodes = names(&kubectl, "nodes")?.len().to_string();
            let table = kubectl.run(&["get", "nodepools", "--no-headers"], None)?;
            last_table = format!("{batch_nodes} nodes; kubectl get nodepools:\n{table}");
            let rows: Vec<Vec<&str>> = table
                .lines()
                .map(|line| line.split_whitespace().collect())
                .collect();
            // NAME NODECLASS NODES READY AGE
            Ok(rows.iter().any(|row| {
                row.first() == Some(&"batch")
                    && row.get(2) == Some(&batch_nodes.as_str())
                    && row.get(3) == Some(&"True")
            }) && rows.iter().any(|row| {
                row.first() == Some(&"batch-fallback")
                    && row.get(2) == Some(&"0")
                    && row.get(3) == Some(&"True")
            }))
        },
    )
    .with_context(|| last_table.clone())?;
    let batch = get(&kubectl, &["get", "nodepool", "batch"])?;
    ensure!(
        batch["status"]["resources"]["cpu"].is_string()
            && batch["status"]["resources"]["memory"].is_string(),
        "NodePool batch's status.resources lacks cpu or memory: {}",
        batch["status"]
    );

    // A standby replica waits; when the leader dies it takes over, and launches nothing twice.
    let mut standby = Controller::start(&plane, logs.path(), "spotter-b")?;
    std::thread::sleep(Duration::from_secs(3));
    ensure!(
        lease_holder(&kubectl)? == "spotter-a",
        "the standby took the Lease from a live leader"
    );
    ensure!(
        http_status(&standby, "/readyz")? == 503 && http_status(&leader, "/readyz")? == 200,
        "/readyz should answer 200 on the leader only"
    );
    let claims_before = names(&kubectl, "nodeclaims")?;
    leader.kill();
    let failover = Instant::now();
    wait_for_lease_holder(&kubectl, "spotter-b", &mut [&mut standby])?;
    eprintln!(
        "the standby led {:.1?} after the leader died",
        failover.elapsed()
    );
    kubectl.run(&["scale", "deployment", DEPLOYMENT, "--replicas=9"], None)?;
    wait_for_running_pods(&kubectl, 9, &mut [&mut standby])?;
    let claims_after = names(&kubectl, "nodeclaims")?;
    ensure!(
        claims_before.is_subset(&claims_after),
        "the new leader replaced NodeClaims it should have adopted: {claims_before:?} -> {claims_after:?}"
    );
    one_node_claim_per_node(&kubectl)?;

    // Killed in the middle of a launch: the restarted controller finishes it, once.
    kubectl.run(&["scale", "deployment", DEPLOYMENT, "--replicas=12"], None)?;
    wait_until(
        "a new NodeClaim to be created",
        SETTLE,
        &mut [&mut standby],
        || Ok(names(&kubectl, "nodeclaims")?.len() > claims_after.len()),
    )?;
    standby.kill();
    let mut restarted = Controller::start(&plane, logs.path(), "spotter-c")?;
    wait_for_running_pods(&kubectl, 12, &mut [&mut restarted])?;
    std::thread::sleep(Duration::from_secs(3));
    one_node_claim_per_node(&kubectl)?;

    // A pod pinned to on-demand: the fallback pool.
    kubectl.apply(&pinned_on_demand_pod())?;
    wait_until(
        "the pinned pod to run",
        SETTLE,
        &mut [&mut restarted],
        || {
            let pod = get(
                &kubectl,
                &["get", "pod", "pinned-on-demand", "-n", "default"],
            )?;
            Ok(pod["status"]["phase"] == "Running")
        },
    )?;
    let pod = get(
        &kubectl,
        &["get", "pod", "pinned-on-demand", "-n", "default"],
    )?;
    let pinned_node = pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let node = get(&kubectl, &["get", "node", &pinned_node])?;
    ensure!(
        node["metadata"]["labels"]["karpenter.sh/nodepool"] == "batch-fallback",
        "the pod pinned to on-demand runs on {}",
        node["metadata"]["labels"]
    );
    kubectl.run(
        &["delete", "pod", "pinned-on-demand", "-n", "default"],
        None,
    )?;

    // A Spot outage: the next pods go to the on-demand pool, as fallback nodes.
    kubectl.apply(&faults("spot:*:*"))?;
    kubectl.run(&["scale", "deployment", DEPLOYMENT, "--replicas=15"], None)?;
    wait_for_running_pods(&kubectl, 15, &mut [&mut restarted])?;
    let fallback_claims: BTreeSet<String> = items(&get(&kubectl, &["get", "nodeclaims"])?)
        .iter()
        .filter(|claim| {
            claim["metadata"]["annotations"]["spotter.dev/fallback"] == "true"
                && claim["metadata"]["labels"]["karpenter.sh/capacity-type"] == "on-demand"
        })
        .filter_map(|claim| claim["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    ensure!(
        !fallback_claims.is_empty() && !fallback_claims.contains(&pinned_node),
        "the Spot outage launched no fallback NodeClaim (or marked the pinned pod's node as one): {fallback_claims:?}"
    );

    // Once it ends, the fallback nodes are returned to Spot (replacement first) and go; the
    // node of the pod pinned to on-demand is no fallback node and stays.
    kubectl.apply(&faults(""))?;
    let outage_over = Instant::now();
    let returned = wait_until(
        "the fallback nodes to be returned to Spot",
        SETTLE * 3,
        &mut [&mut restarted],
        || {
            let claims = names(&kubectl, "nodeclaims")?;
            Ok(running_pods(&kubectl)? == 15 && claims.is_disjoint(&fallback_claims))
        },
    );
    if returned.is_err() {
        for arguments in [
            &["get", "pods", "-n", "default", "-o", "wide"][..],
            &[
                "get",
                "nodes",
                "-L",
                "karpenter.sh/capacity-type,karpenter.sh/nodepool",
            ][..],
            &["get", "nodeclaims"][..],
        ] {
            eprintln!("{}", kubectl.run(arguments, None).unwrap_or_default());
        }
    }
    returned?;
    eprintln!(
        "after the outage, the fallback nodes {fallback_claims:?} were returned to Spot in {:.1?}",
        outage_over.elapsed()
    );

    // A static field of the EC2NodeClass changes (a tag): every NodeClaim recorded the class's
    // hash, so each has drifted (`NodeClassDrift`) and is replaced, replacement first, within
    // the pool's budget (raised to 50% first: a budget change drifts nothing); the pods run on
    // the replacements, which record the new hash. As Karpenter, drift replaces one node
    // with pods per command (about 15 s each here).
    kubectl.run(
        &[
            "patch",
            "nodepool",
            "batch",
            "--type=merge",
            "-p",
            r#"{"spec":{"disruption":{"budgets":[{"nodes":"50%"}]}}}"#,
        ],
        None,
    )?;
    let drifted_claims = names(&kubectl, "nodeclaims")?;
    let hashes_before = node_class_hashes(&kubectl)?;
    ensure!(
        hashes_before.len() == 1,
        "every NodeClaim should record the same node class hash: {hashes_before:?}"
    );
    kubectl.run(
        &[
            "patch",
            "ec2nodeclass",
            "default",
            "--type=merge",
            "-p",
            r#"{"spec":{"tags":{"team":"batch"}}}"#,
        ],
        None,
    )?;
    let class_changed = Instant::now();
    let mut drift_reasons = BTreeSet::new();
    wait_until(
        "the nodes drifted from the EC2NodeClass to be replaced",
        SETTLE * 6,
        &mut [&mut restarted],
        || {
            let claims = get(&kubectl, &["get", "nodeclaims"])?;
            drift_reasons.extend(items(&claims).iter().filter_map(|claim| {
                condition(claim, "Drifted")
                    .filter(|drifted| drifted["status"] == "True")
                    .and_then(|drifted| drifted["reason"].as_str().map(str::to_owned))
            }));
            Ok(running_pods(&kubectl)? == 15
                && names(&kubectl, "nodeclaims")?.is_disjoint(&drifted_claims))
        },
    )?;
    ensure!(
        drift_reasons == BTreeSet::from(["NodeClassDrift".to_string()]),
        "the drifted NodeClaims' Drifted reasons: {drift_reasons:?}"
    );
    let hashes_after = node_class_hashes(&kubectl)?;
    ensure!(
        hashes_after.len() == 1 && hashes_after.is_disjoint(&hashes_before),
        "the replacements should record the class's new hash: {hashes_before:?} -> {hashes_after:?}"
    );
    one_node_claim_per_node(&kubectl)?;
    eprintln!(
        "a tag added to the EC2NodeClass: {} drifted nodes replaced in {:.1?}",
        drifted_claims.len(),
        class_changed.elapsed()
    );

    // A PodDisruptionBudget that allows nothing holds a deleted NodeClaim's drain.
    kubectl.apply(&blocking_pod_disruption_budget())?;
    let victim = pod_nodes(&kubectl)?
        .into_iter()
        .next()
        .context("no pod runs on a node")?;
    kubectl.run(&["delete", "nodeclaim", &victim, "--wait=false"], None)?;
    std::thread::sleep(Duration::from_secs(8));
    ensure!(
        names(&kubectl, "nodeclaims")?.contains(&victim),
        "NodeClaim {victim} went despite a PodDisruptionBudget that allows no eviction"
    );
    ensure!(
        pod_nodes(&kubectl)?.contains(&victim),
        "pods left node {victim} despite a PodDisruptionBudget that allows no eviction"
    );
    kubectl.run(&["delete", "pdb", "batch-workers", "-n", "default"], None)?;
    wait_until(
        "the deleted NodeClaim to drain and go",
        SETTLE,
        &mut [&mut restarted],
        || Ok(!names(&kubectl, "nodeclaims")?.contains(&victim)),
    )?;
    wait_for_running_pods(&kubectl, 15, &mut [&mut restarted])?;

    // Scaled to zero: the empty nodes go, and nothing is left behind.
    kubectl.run(
        &[
            "patch",
            "nodepools",
            "batch",
            "batch-fallback",
            "--type=merge",
            "-p",
            r#"{"spec":{"disruption":{"consolidateAfter":"1s"}}}"#,
        ],
        None,
    )?;
    // With no pod event for `consolidateAfter` (now 1 s), NodeClaims say Consolidatable.
    wait_until(
        "a NodeClaim to be Consolidatable",
        SETTLE,
        &mut [&mut restarted],
        || {
            let claims = get(&kubectl, &["get", "nodeclaims"])?;
            Ok(items(&claims).iter().any(|claim| {
                claim["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|condition| {
                        condition["type"] == "Consolidatable" && condition["status"] == "True"
                    })
            }))
        },
    )?;
    kubectl.run(&["scale", "deployment", DEPLOYMENT, "--replicas=0"], None)?;
    let emptied = Instant::now();
    wait_until(
        "every node to be removed",
        SETTLE * 2,
        &mut [&mut restarted],
        || Ok(names(&kubectl, "nodes")?.is_empty() && names(&kubectl, "nodeclaims")?.is_empty()),
    )?;
    eprintln!(
        "scaled to zero: every node removed in {:.1?}",
        emptied.elapsed()
    );
    restarted.ensure_alive()?;
    let checked = ensure_permissions_listed(&plane, NAMESPACE, "fake")?;
    eprintln!("{checked} distinct requests of the controller are in the permission list");
    eprintln!("all cases done in {:.1?}", started.elapsed());
    Ok(())
}

/// A `spotter controller` process, killed when dropped.
struct Controller {
    identity: String,
    child: Child,
    log: PathBuf,
    address: SocketAddr,
}

impl Controller {
    fn start(plane: &ControlPlane, logs: &Path, identity: &str) -> Result<Self> {
        let log = logs.join(format!("{identity}.log"));
        let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(env!("CARGO_BIN_EXE_spotter"))
            .args([
                "controller",
                "--cloud-provider=fake",
                "--fake-launch-delay=1s",
                "--batch-idle-duration=1s",
                "--batch-max-duration=3s",
                "--unavailable-offering-ttl=5s",
                "--return-to-spot-after=10s",
                "--log-format=text",
                "--log-level=info",
            ])
            .arg(format!(
                "--kubeconfig={}",
                plane.controller_kubeconfig().display()
            ))
            .arg(format!("--identity={identity}"))
            .arg(format!("--metrics-address={address}"))
            .arg(format!("--health-address={address}"))
            .env_remove("KUBECONFIG")
            .env_remove("POD_NAME")
            .env_remove("CLOUD_PROVIDER")
            .env_remove("DISABLE_LEADER_ELECTION")
            .stdout(Stdio::null())
            .stderr(File::create(&log)?)
            .spawn()
            .context("failed to start spotter controller")?;
        Ok(Controller {
            identity: identity.to_owned(),
            child,
            log,
            address,
        })
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// An error with the end of the log when the process has exited.
    fn ensure_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "spotter controller {} exited ({status}):\n{}",
                self.identity,
                self.log_tail()
            );
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

fn install(kubectl: &Kubectl) -> Result<()> {
    let crds = Command::new(env!("CARGO_BIN_EXE_spotter"))
        .arg("crds")
        .output()
        .context("failed to run spotter crds")?;
    ensure!(crds.status.success(), "spotter crds failed");
    kubectl.install_crds(&String::from_utf8(crds.stdout)?, &SPOTTER_CRDS)?;
    kubectl.run(&["create", "namespace", NAMESPACE], None)?;
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed");
    for file in ["ec2nodeclass.yaml", "nodepools.yaml"] {
        let text = std::fs::read_to_string(seed.join(file))
            .with_context(|| format!("failed to read examples/seed/{file}"))?;
        kubectl.apply(&text)?;
    }
    Ok(())
}

fn faults(unavailable: &str) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "spotter-fake-cloud", "namespace": NAMESPACE},
        "data": {"unavailable": unavailable},
    })
    .to_string()
}

fn pinned_on_demand_pod() -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pinned-on-demand", "namespace": "default"},
        "spec": {
            "nodeSelector": {"karpenter.sh/capacity-type": "on-demand"},
            "terminationGracePeriodSeconds": 5,
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{
                    "key": "karpenter.sh/nodepool",
                    "operator": "In",
                    "values": ["batch", "batch-fallback"],
                }]}],
            }}},
            "containers": [{
                "name": "worker",
                "image": "public.ecr.aws/docker/library/busybox:stable",
                "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
            }],
        },
    })
    .to_string()
}

/// `/metrics` of `controller` has Karpenter's families with the cluster's values.
fn metrics_show_the_cluster(controller: &Controller) -> Result<()> {
    let text = http_get(controller, "/metrics")?;
    for family in [
        "karpenter_nodeclaims_created_total{",
        "karpenter_nodes_allocatable{",
        "karpenter_nodepools_usage{",
        "karpenter_pods_state{",
    ] {
        ensure!(text.contains(family), "/metrics has no {family}:\n{text}");
    }
    ensure!(
        text.lines().any(
            |line| line.starts_with("karpenter_nodeclaims_created_total{")
                && line.contains("nodepool=\"batch\"")
                && !line.ends_with(" 0")
        ),
        "/metrics counts no NodeClaim created for batch"
    );
    Ok(())
}

fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn http_status(controller: &Controller, path: &str) -> Result<u16> {
    let response = http_agent()
        .get(format!("http://{}{path}", controller.address))
        .call()?;
    Ok(response.status().as_u16())
}

fn http_get(controller: &Controller, path: &str) -> Result<String> {
    let mut response = http_agent()
        .get(format!("http://{}{path}", controller.address))
        .call()?;
    ensure!(
        response.status().as_u16() == 200,
        "GET {path}: {}",
        response.status()
    );
    Ok(response.body_mut().read_to_string()?)
}

fn blocking_pod_disruption_budget() -> String {
    serde_json::json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": DEPLOYMENT, "namespace": "default"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": DEPLOYMENT}}},
    })
    .to_string()
}

/// The nodes the Deployment's pods run on.
fn pod_nodes(kubectl: &Kubectl) -> Result<BTreeSet<String>> {
    let list = get(
        kubectl,
        &["get", "pods", "-n", "default", "-l", "app=batch-workers"],
    )?;
    Ok(items(&list)
        .iter()
        .filter_map(|pod| pod["spec"]["nodeName"].as_str().map(str::to_owned))
        .collect())
}

fn wait_for_running_pods(
    kubectl: &Kubectl,
    count: usize,
    controllers: &mut [&mut Controller],
) -> Result<()> {
    wait_until(
        &format!("{count} running pods"),
        SETTLE,
        controllers,
        || Ok(running_pods(kubectl)? == count),
    )
}

fn lease_holder(kubectl: &Kubectl) -> Result<String> {
    let lease = get(
        kubectl,
        &["get", "lease", "spotter-leader-election", "-n", NAMESPACE],
    )?;
    Ok(lease["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or("")
        .to_owned())
}

fn wait_for_lease_holder(
    kubectl: &Kubectl,
    identity: &str,
    controllers: &mut [&mut Controller],
) -> Result<()> {
    wait_until(
        &format!("{identity} to hold the Lease"),
        SETTLE,
        controllers,
        || Ok(lease_holder(kubectl).unwrap_or_default() == identity),
    )
}

/// The node class hashes the NodeClaims record (`karpenter.k8s.aws/ec2nodeclass-hash`), each
/// checked to be of Spotter's hash version.
fn node_class_hashes(kubectl: &Kubectl) -> Result<BTreeSet<String>> {
    let claims = get(kubectl, &["get", "nodeclaims"])?;
    let mut hashes = BTreeSet::new();
    for claim in items(&claims) {
        let annotations = &claim["metadata"]["annotations"];
        ensure!(
            annotations["karpenter.k8s.aws/ec2nodeclass-hash-version"] == "spotter-v1",
            "NodeClaim {} has no node class hash of Spotter's version: {annotations}",
            claim["metadata"]["name"]
        );
        let hash = annotations["karpenter.k8s.aws/ec2nodeclass-hash"]
            .as_str()
            .context("a NodeClaim without a node class hash")?;
        hashes.insert(hash.to_owned());
    }
    Ok(hashes)
}

/// The condition of `type_` on an object, if it has one.
fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == type_)
}

/// Every NodeClaim is launched onto exactly one Node and every Node belongs to one NodeClaim:
/// nothing was launched twice or leaked.
fn one_node_claim_per_node(kubectl: &Kubectl) -> Result<()> {
    let claims = get(kubectl, &["get", "nodeclaims"])?;
    let nodes = names(kubectl, "nodes")?;
    let claimed: BTreeSet<String> = items(&claims)
        .iter()
        .filter_map(|claim| claim["status"]["nodeName"].as_str().map(str::to_owned))
        .collect();
    ensure!(
        claimed == nodes && items(&claims).len() == nodes.len(),
        "NodeClaims and Nodes differ: {} NodeClaims naming {claimed:?}, Nodes {nodes:?}",
        items(&claims).len()
    );
    Ok(())
}

fn nodes_are_registered_spot_nodes_of_batch(kubectl: &Kubectl) -> Result<()> {
    let nodes = get(kubectl, &["get", "nodes"])?;
    ensure!(!items(&nodes).is_empty(), "no nodes");
    for node in items(&nodes) {
        let name = node["metadata"]["name"].as_str().unwrap_or("?");
        let labels = &node["metadata"]["labels"];
        ensure!(
            labels["karpenter.sh/nodepool"] == "batch"
                && labels["karpenter.sh/capacity-type"] == "spot",
            "node {name} is not a Spot node of batch: {labels}"
        );
        ensure!(
            labels["karpenter.sh/registered"] == "true",
            "node {name} is not labelled registered: {labels}"
        );
        let taints = node["spec"]["taints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        ensure!(
            !taints
                .iter()
                .any(|taint| taint["key"] == "karpenter.sh/unregistered"),
            "node {name} still has the unregistered taint"
        );
        ensure!(
            node["spec"]["providerID"]
                .as_str()
                .is_some_and(|id| id.starts_with("fake://")),
            "node {name} has no fake provider ID"
        );
    }
    let claims = get(kubectl, &["get", "nodeclaims"])?;
    for claim in items(&claims) {
        let name = claim["metadata"]["name"].as_str().unwrap_or("?");
        for condition in ["Launched", "Registered", "Initialized", "Ready"] {
            let status = claim["status"]["conditions"]
                .as_array()
                .and_then(|conditions| conditions.iter().find(|found| found["type"] == condition))
                .map(|found| found["status"].clone());
            ensure!(
                status == Some(Value::from("True")),
                "NodeClaim {name} condition {condition} is {status:?}"
            );
        }
    }
    one_node_claim_per_node(kubectl)
}

/// Polls `done` every 500 ms until it holds; fails after `timeout`, or at once when one of
/// `controllers` exited, with the end of its log.
fn wait_until(
    what: &str,
    timeout: Duration,
    controllers: &mut [&mut Controller],
    mut done: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let started = Instant::now();
    loop {
        for controller in controllers.iter_mut() {
            controller.ensure_alive()?;
        }
        if done()? {
            return Ok(());
        }
        if started.elapsed() > timeout {
            let logs: Vec<String> = controllers
                .iter()
                .map(|controller| {
                    format!("--- {}:\n{}", controller.identity, controller.log_tail())
                })
                .collect();
            return Err(anyhow!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                logs.join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
