//! `spotter controller --cloud-provider fake --interruption-queue NAME` on a real control plane
//! (`spotter-test-support`) with the queue on a moto server (`MOTO_SERVER`), run as the binary
//! a user runs:
//!
//! - a queue that does not exist stops the controller at start with an error naming the queue
//!   and the region;
//! - a Spot interruption warning for a fake node's instance, sent to the queue as EventBridge
//!   delivers it, AND the same warning armed in the IMDS (a local mock) that a real
//!   `spotter agent` for that node polls every second, 1 s apart, in both orders: exactly one
//!   replacement NodeClaim, one deletion (drain) of the interrupted NodeClaim, one notice
//!   taken, and the message deleted from the queue;
//! - a warning for an instance of no NodeClaim is deleted too, and changes nothing;
//! - every request the controller made is in the chart's permission list.
//!
//! It prints the time from the queue message (queue first) and from the IMDS notice (agent
//! first) to the replacement NodeClaim. Without the control plane's binaries or moto
//! the test fails under `CI=true` and is skipped otherwise.

mod e2e;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, ensure};
use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;
use e2e::{
    AgentProcess, ControllerProcess, INSTANCE_ID_LABEL, deployment, ensure_permissions_listed, get,
    install_seed, metric, names, pod_nodes, running_pods, use_moto, wait_until,
};
use serde_json::json;
use spotter_agent::imds_mock::ImdsMock;
use spotter_test_support::{ControlPlane, Moto};

const QUEUE: &str = "spotter-interruption";
const REGION: &str = "us-east-1";
/// Long enough for a launch (1 s), a batch (1 s idle) and the scheduler on a loaded machine.
const SETTLE: Duration = Duration::from_secs(90);
/// How long after the replacement the test looks for a second one.
const LINGER: Duration = Duration::from_secs(5);

#[test]
fn one_interruption_from_the_queue_and_the_agent_gives_one_replacement() -> Result<()> {
    let Some(plane) = ControlPlane::start_or_skip(
        "one_interruption_from_the_queue_and_the_agent_gives_one_replacement",
    )?
    else {
        return Ok(());
    };
    let Some(moto) = Moto::start() else {
        return Ok(());
    };
    // A worker thread serves the IMDS mock while the test waits.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let sqs = runtime.block_on(sqs_client(&moto.endpoint));
    let queue_url = runtime
        .block_on(sqs.create_queue().queue_name(QUEUE).send())
        .context("failed to create the queue on moto")?
        .queue_url
        .context("moto returned no queue URL")?;
    let kubectl = plane.kubectl();
    let logs = tempfile::tempdir()?;
    install_seed(&kubectl)?;

    // A queue that does not exist: an error at start, naming it and the region.
    let missing = controller_command(&plane, &moto.endpoint, "no-such-queue", "spotter-x")?
        .0
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("failed to run spotter controller")?;
    let error = String::from_utf8_lossy(&missing.stderr);
    ensure!(
        missing.status.code() == Some(2)
            && error.contains("`no-such-queue`")
            && error.contains(&format!("in region {REGION}")),
        "a missing queue should stop the controller with an error naming it and the region: {}\n{error}",
        missing.status
    );

    let mut controller = start_controller(&plane, &moto.endpoint, logs.path(), "spotter-a")?;
    let metrics = controller.address;
    kubectl.apply(&deployment(1)?)?;
    wait_until("the pod to run", SETTLE, &mut controller, || {
        Ok(running_pods(&kubectl)? == 1)
    })?;

    // A warning for an instance of no NodeClaim: deleted, and nothing happens.
    let claims_before = names(&kubectl, "nodeclaims")?;
    send(
        &runtime,
        &sqs,
        &queue_url,
        &spot_warning("i-0ffffffffffffffff"),
    )?;
    wait_until(
        "the unknown instance's message to be deleted",
        SETTLE,
        &mut controller,
        || Ok(metric(metrics, "karpenter_interruption_deleted_messages_total", "")? >= 1.0),
    )?;
    ensure!(
        names(&kubectl, "nodeclaims")? == claims_before,
        "a warning for an unknown instance changed the NodeClaims"
    );

    let mut timings = Vec::new();
    for (case, queue_first) in [
        ("the queue, then the agent 1 s later", true),
        ("the agent, then the queue 1 s later", false),
    ] {
        let interrupted = pod_nodes(&kubectl)?
            .into_iter()
            .next()
            .context("the pod runs on no node")?;
        let node = get(&kubectl, &["get", "node", &interrupted])?;
        let instance_id = node["metadata"]["labels"][INSTANCE_ID_LABEL]
            .as_str()
            .with_context(|| format!("node {interrupted} has no {INSTANCE_ID_LABEL} label"))?
            .to_owned();
        // `spotter agent` on the node, polling an IMDS that will announce the interruption.
        let imds = runtime.block_on(ImdsMock::start())?;
        imds.set_instance_id(&instance_id);
        let agent = AgentProcess::spawn(&plane, &imds, &interrupted, logs.path())?;
        let terminate_at = spotter_interruption::timestamp::format_rfc3339(
            SystemTime::now() + Duration::from_secs(120),
        );
        let claims_before = names(&kubectl, "nodeclaims")?;
        let disrupted_before = metric(
            metrics,
            "karpenter_nodeclaims_disrupted_total",
            "reason=\"spot_interrupted\"",
        )?;
        let deleted_before = metric(metrics, "karpenter_interruption_deleted_messages_total", "")?;

        let started = Instant::now();
        if queue_first {
            send(&runtime, &sqs, &queue_url, &spot_warning(&instance_id))?;
            std::thread::sleep(Duration::from_secs(1));
            imds.arm_spot_interruption("terminate", &terminate_at);
        } else {
            imds.arm_spot_interruption("terminate", &terminate_at);
            std::thread::sleep(Duration::from_secs(1));
            send(&runtime, &sqs, &queue_url, &spot_warning(&instance_id))?;
        }
        wait_until(
            &format!("{case}: a replacement NodeClaim"),
            SETTLE,
            &mut controller,
            || Ok(!names(&kubectl, "nodeclaims")?.is_subset(&claims_before)),
        )?;
        let replaced_in = started.elapsed();
        wait_until(
            &format!("{case}: the interrupted NodeClaim to drain and go, the pod to run again"),
            SETTLE,
            &mut controller,
            || {
                Ok(!names(&kubectl, "nodeclaims")?.contains(&interrupted)
                    && running_pods(&kubectl)? == 1)
            },
        )?;
        wait_until(
            &format!("{case}: the message to be deleted"),
            SETTLE,
            &mut controller,
            || {
                Ok(
                    metric(metrics, "karpenter_interruption_deleted_messages_total", "")?
                        > deleted_before,
                )
            },
        )?;
        std::thread::sleep(LINGER);

        let created: BTreeSet<String> = names(&kubectl, "nodeclaims")?
            .difference(&claims_before)
            .cloned()
            .collect();
        ensure!(
            created.len() == 1,
            "{case}: {} replacement NodeClaims ({created:?}), expected one:\n{}",
            created.len(),
            controller.log_tail()
        );
        let disrupted = metric(
            metrics,
            "karpenter_nodeclaims_disrupted_total",
            "reason=\"spot_interrupted\"",
        )? - disrupted_before;
        ensure!(
            disrupted == 1.0,
            "{case}: {disrupted} NodeClaims disrupted for spot_interrupted, expected one"
        );
        ensure!(
            agent.log().contains("notice written on the Node"),
            "{case}: the agent did not report the interruption on its Node:\n{}",
            agent.log()
        );
        drop(agent);
        let log = controller.log();
        let deletions = log
            .lines()
            .filter(|line| line.contains("deleting a NodeClaim") && line.contains(&interrupted))
            .count();
        let taken: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("interruption notice from") && line.contains(&instance_id))
            .collect();
        ensure!(
            deletions == 1 && taken.len() == 1,
            "{case}: NodeClaim {interrupted} deleted (drained) {deletions} times and {} notices taken for {instance_id}, expected one each:\n{}",
            taken.len(),
            controller.log_tail()
        );
        let source = if taken[0].contains("from the queue") {
            "queue"
        } else {
            "agent"
        };
        eprintln!(
            "{case}: the {source}'s notice was taken; replacement NodeClaim {created:?} created {replaced_in:.1?} after the first notice"
        );
        timings.push((case, source, replaced_in));
    }

    // Every message was deleted: the queue is empty, in flight included.
    let attributes = runtime
        .block_on(
            sqs.get_queue_attributes()
                .queue_url(&queue_url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send(),
        )
        .context("failed to read the queue's attributes")?
        .attributes
        .unwrap_or_default();
    let left: u64 = [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .filter_map(|name| attributes.get(name)?.parse::<u64>().ok())
    .sum();
    ensure!(
        left == 0,
        "{left} messages left on the queue: {attributes:?}"
    );
    let deleted = metric(metrics, "karpenter_interruption_deleted_messages_total", "")?;
    ensure!(deleted == 3.0, "{deleted} messages deleted, expected 3");
    controller.ensure_alive()?;
    let checked = ensure_permissions_listed(&plane, "spotter", "fake")?;
    eprintln!(
        "{checked} distinct requests of the controller and the agent are in the permission list"
    );
    for (case, source, replaced_in) in timings {
        eprintln!(
            "timing: {case} (taken from the {source}) -> replacement NodeClaim in {replaced_in:.1?}"
        );
    }
    Ok(())
}

async fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    aws_sdk_sqs::Client::new(&config)
}

fn send(
    runtime: &tokio::runtime::Runtime,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    body: &str,
) -> Result<()> {
    runtime
        .block_on(
            sqs.send_message()
                .queue_url(queue_url)
                .message_body(body)
                .send(),
        )
        .context("failed to send a message to the queue")?;
    Ok(())
}

/// An EC2 Spot Instance Interruption Warning for `instance_id`, issued now, as EventBridge
/// puts it on the queue.
fn spot_warning(instance_id: &str) -> String {
    json!({
        "version": "0",
        "id": format!("spot-{instance_id}"),
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": spotter_interruption::timestamp::format_rfc3339(SystemTime::now()),
        "region": REGION,
        "resources": [format!("arn:aws:ec2:{REGION}b:instance/{instance_id}")],
        "detail": {"instance-id": instance_id, "instance-action": "terminate"},
    })
    .to_string()
}

/// The command line of a controller reading `queue` on moto at `endpoint`, and its address.
fn controller_command(
    plane: &ControlPlane,
    endpoint: &str,
    queue: &str,
    identity: &str,
) -> Result<(Command, SocketAddr)> {
    let (mut command, address) = ControllerProcess::command(plane)?;
    command
        .args([
            "--cloud-provider=fake",
            "--fake-launch-delay=1s",
            "--batch-idle-duration=1s",
            "--batch-max-duration=3s",
            "--log-level=info",
        ])
        .arg(format!("--interruption-queue={queue}"))
        .arg(format!("--identity={identity}"));
    use_moto(&mut command, "AWS_ENDPOINT_URL_SQS", endpoint, REGION);
    Ok((command, address))
}

/// A controller reading the test's queue, its log in `logs`.
fn start_controller(
    plane: &ControlPlane,
    endpoint: &str,
    logs: &Path,
    identity: &str,
) -> Result<ControllerProcess> {
    let (command, address) = controller_command(plane, endpoint, QUEUE, identity)?;
    ControllerProcess::spawn(command, address, logs, identity)
}
