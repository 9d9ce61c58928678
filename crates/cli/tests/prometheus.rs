//! The metrics against a real Prometheus: `spotter simulate --serve` runs
//! `examples/scenarios/served-outage.yaml` (a Spot outage with fallbacks, insufficient-capacity
//! answers, then interruptions) paced at [`SPEED`], Prometheus scrapes it on loopback every
//! second, and once the run is over and scraped, every PromQL expression of
//! `dashboards/spotter.json` and the Karpenter dashboard 20398 queries must return data
//! through Prometheus's HTTP API. The Spot percentage Prometheus computes must be the
//! simulator's own (`/status`), the counters must match the run's report, and
//! `promtool check metrics` must pass on `/metrics`.
//!
//! Needs `prometheus` and `promtool` on PATH (Debian's `prometheus` package; `.ci/run`
//! installs it): without them the test fails under `CI=true` and is skipped otherwise.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;

/// Simulated seconds per wall second: the scenario's 4 hours in 15 s.
const SPEED: &str = "960";
/// The scenario's duration over [`SPEED`], and some margin.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for Prometheus to start, and for a scrape.
const PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(30);

/// Karpenter dashboard 20398's queries (see `shared/reference/karpenter-facts.md` §2).
const DASHBOARD_20398: &[(&str, &str)] = &[
    (
        "Spot Node Percentage",
        r#"(count(karpenter_nodes_allocatable{capacity_type="spot",instance_type=~"$instance_type",nodepool=~"$nodepool",zone=~"$zone"}) or vector(0)) / count(karpenter_nodes_allocatable{instance_type=~"$instance_type",nodepool=~"$nodepool",zone=~"$zone"})*100"#,
    ),
    (
        "Node count",
        r#"count(karpenter_nodes_allocatable{nodepool=~"$nodepool",resource_type="pods"})"#,
    ),
    (
        "Nodes by zone",
        r#"count(karpenter_nodes_total_pod_requests{nodepool=~"$nodepool",resource_type="pods"}) by (zone)"#,
    ),
    (
        "Nodes by NodePool",
        r#"count(karpenter_nodes_total_pod_requests{nodepool=~"$nodepool",resource_type="pods"}) by (nodepool)"#,
    ),
    (
        "NodePool % of limit",
        r#"karpenter_nodepools_usage{resource_type=~"memory|cpu"} / karpenter_nodepools_limit{resource_type=~"memory|cpu"} * 100"#,
    ),
    (
        "Node activity: created",
        "increase(karpenter_nodeclaims_created_total[5m])",
    ),
    (
        "Node activity: terminated",
        "- increase(karpenter_nodeclaims_terminated_total[5m])",
    ),
    (
        "Interruption",
        "idelta(karpenter_interruption_received_messages_total[1m])",
    ),
    ("Pods by zone", "sum(karpenter_pods_state) by (zone)"),
    (
        "Pods by NodePool",
        "sum(karpenter_pods_state) by (nodepool)",
    ),
    (
        "Errors",
        r#"karpenter_cloudprovider_errors_total{controller!~"node.termination|nodeclaim.termination",error!="NodeClaimNotFoundError"}"#,
    ),
];

#[test]
fn dashboard_queries_have_data_in_a_real_prometheus() -> Result<()> {
    let Some((prometheus, promtool)) = tools()? else {
        return Ok(());
    };
    let started = Instant::now();
    let work = tempfile::tempdir()?;
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios/served-outage.yaml");
    let report_dir = work.path().join("report");
    let mut spotter = Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_spotter"))
            .arg("simulate")
            .arg(&scenario)
            .args(["--serve", "127.0.0.1:0", "--speed", SPEED, "--linger", "2m"])
            .arg("--out")
            .arg(&report_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        "spotter simulate",
    )?;
    let spotter_address = served_address(&mut spotter)?;

    let prometheus_address = free_loopback_address()?;
    let config = work.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: spotter\n    static_configs:\n      - targets: ['{spotter_address}']\n"
        ),
    )?;
    let prometheus_log = work.path().join("prometheus.log");
    let _prometheus = Process::spawn(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prometheus_address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&prometheus_log)?),
        "prometheus",
    )?;
    let client = Client::new(prometheus_address);
    wait_for(PROMETHEUS_TIMEOUT, "Prometheus to be ready", || {
        Ok(client.get_status("/-/ready")? == 200)
    })
    .with_context(|| log_of(&prometheus_log))?;

    let spotter_client = Client::new(spotter_address);
    let status = wait_for(RUN_TIMEOUT, "the simulation to finish", || {
        let status: Value = serde_json::from_str(&spotter_client.get("/status", None)?)?;
        Ok((status["finished"] == true).then_some(status))
    })?;
    let finished_at = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    // The served state no longer changes: wait for a scrape that started after that.
    wait_for(PROMETHEUS_TIMEOUT, "a scrape of the final state", || {
        let scraped = client.query(r#"timestamp(up{job="spotter"} == 1)"#)?;
        Ok(values(&scraped)
            .first()
            .is_some_and(|time| *time > finished_at + 0.1))
    })
    .with_context(|| log_of(&prometheus_log))?;

    let dashboard = support::dashboard();
    let expressions = support::expressions(&dashboard);
    ensure!(
        expressions.len() >= 20,
        "only {} queries",
        expressions.len()
    );
    let queries = expressions
        .iter()
        .map(|(title, expr)| (format!("spotter.json: {title}"), expr.clone()))
        .chain(
            DASHBOARD_20398
                .iter()
                .map(|(title, expr)| (format!("20398: {title}"), expr.to_string())),
        );
    let mut empty = Vec::new();
    for (title, expr) in queries {
        let query = support::substitute(&expr);
        let result = client
            .query(&query)
            .with_context(|| format!("{title}: {query}"))?;
        if result.as_array().is_none_or(Vec::is_empty) {
            empty.push(format!("{title}: {query}"));
        }
    }
    ensure!(
        empty.is_empty(),
        "queries without data:\n{}",
        empty.join("\n")
    );

    // The Spot percentage of dashboard 20398, as Prometheus computes it from the scraped
    // series, against the simulator's own figure. After the run nothing changes, so the only
    // difference left is floating-point rounding: both divide the same two node counts.
    let spot_percentage = single_value(&client.query(&support::substitute(DASHBOARD_20398[0].1))?)?;
    let simulator_percentage = status["spotPercentage"]
        .as_f64()
        .ok_or_else(|| anyhow!("no spotPercentage in {status}"))?;
    ensure!(
        (spot_percentage - simulator_percentage).abs() < 1e-9,
        "Prometheus computes {spot_percentage}% Spot, the simulator says {simulator_percentage}% ({status})"
    );
    // And the fallback showed: while the outage lasted, Prometheus saw on-demand nodes.
    let lowest = single_value(&client.query(&format!(
        "min_over_time(({})[5m:1s])",
        support::substitute(DASHBOARD_20398[0].1)
    ))?)?;
    ensure!(
        lowest < 100.0,
        "the Spot percentage never fell below {lowest}%"
    );
    let ratio = single_value(&client.query("spotter_spot_ratio * 100")?)?;
    ensure!(
        (ratio - simulator_percentage).abs() < 1e-9,
        "spotter_spot_ratio: {ratio}"
    );
    let nodes = single_value(&client.query(&support::substitute(DASHBOARD_20398[1].1))?)?;
    ensure!(
        status["nodes"]["total"].as_f64() == Some(nodes),
        "{nodes} nodes in Prometheus, {status}"
    );

    // The counters against the run's report.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json"))?)?;
    let summary = &report["summary"];
    let counted = |query: &str| -> Result<f64> { single_value(&client.query(query)?) };
    ensure!(
        summary["fallbacks"]
            .as_f64()
            .is_some_and(|fallbacks| fallbacks > 0.0)
    );
    ensure!(
        counted("sum(spotter_fallback_total)")? == summary["fallbacks"].as_f64().unwrap_or(-1.0)
    );
    ensure!(
        summary["interruptions"]
            .as_f64()
            .is_some_and(|count| count > 0.0)
    );
    ensure!(
        counted("sum(karpenter_interruption_received_messages_total)")?
            == summary["interruptions"].as_f64().unwrap_or(-1.0)
    );
    ensure!(
        counted(r#"sum(karpenter_cloudprovider_errors_total{error="InsufficientCapacityError"})"#)?
            > 0.0
    );
    ensure!(counted("max_over_time(sum(spotter_fallback_nodes)[5m:1s])")? > 0.0);
    // A report without returns to Spot (a policy without them) counts none.
    let returns = summary["returnsToSpot"].as_f64().unwrap_or(0.0);
    ensure!(counted("sum(spotter_return_to_spot_total)")? == returns);
    ensure!(counted("sum(spotter_estimated_savings_usd_per_hour)")? > 0.0);

    // promtool reads the Prometheus text format; Prometheus itself scraped OpenMetrics (a
    // scrape error would have left `up` at 0 above).
    let text = spotter_client.get("/metrics", Some("text/plain; version=0.0.4"))?;
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    check
        .stdin
        .take()
        .ok_or_else(|| anyhow!("promtool's stdin"))?
        .write_all(text.as_bytes())?;
    let output = check.wait_with_output()?;
    ensure!(
        output.status.success(),
        "promtool check metrics failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    spotter.stop();
    eprintln!("checked in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `prometheus` and `promtool` from PATH; `None` (with a note) when missing outside CI.
fn tools() -> Result<Option<(PathBuf, PathBuf)>> {
    let found = (on_path("prometheus"), on_path("promtool"));
    if let (Some(prometheus), Some(promtool)) = found {
        return Ok(Some((prometheus, promtool)));
    }
    let ci = std::env::var("CI").unwrap_or_default();
    if ci.eq_ignore_ascii_case("true") || ci == "1" {
        bail!(
            "prometheus and promtool must be on PATH under CI (Debian's prometheus package; .ci/run installs it)"
        );
    }
    eprintln!(
        "note: prometheus or promtool is not on PATH; skipping the test against a real Prometheus \
         (apt-get install prometheus)"
    );
    Ok(None)
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|directory| directory.join(program))
        .find(|path| path.is_file())
}

/// A child process, killed when dropped.
struct Process {
    child: Child,
    name: &'static str,
}

impl Process {
    fn spawn(command: &mut Command, name: &'static str) -> Result<Self> {
        let child = command
            .spawn()
            .with_context(|| format!("failed to start {name}"))?;
        Ok(Self { child, name })
    }

    fn stop(&mut self) {
        // Already gone is fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            eprintln!("stopping {}", self.name);
        }
        self.stop();
    }
}

/// The address `spotter simulate --serve 127.0.0.1:0` says it serves on.
fn served_address(spotter: &mut Process) -> Result<SocketAddr> {
    let stderr = spotter
        .child
        .stderr
        .take()
        .ok_or_else(|| anyhow!("spotter's stderr"))?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("Serving http://") {
                let address = rest.split('/').next().unwrap_or_default().to_string();
                let _ = sender.send(address);
            }
        }
    });
    let address = receiver
        .recv_timeout(Duration::from_secs(20))
        .context("spotter did not say where it serves")?;
    address
        .parse()
        .with_context(|| format!("spotter serves on {address:?}"))
}

/// A loopback address with a port free a moment ago (Prometheus cannot report the port it
/// picked for :0).
fn free_loopback_address() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Polls `check` until it yields a value or `timeout` passes.
fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T>,
) -> Result<T::Value>
where
    T: Waited,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check() {
            Ok(value) => {
                if let Some(value) = value.done() {
                    return Ok(value);
                }
            }
            Err(error) => last_error = Some(error),
        }
        if Instant::now() > deadline {
            bail!(
                "timed out after {} s waiting for {what}{}",
                timeout.as_secs(),
                last_error
                    .map(|error| format!(": {error:#}"))
                    .unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What [`wait_for`] waits for: `true`, or `Some`.
trait Waited: Sized {
    type Value;
    fn done(self) -> Option<Self::Value>;
}

impl Waited for bool {
    type Value = ();
    fn done(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Waited for Option<T> {
    type Value = T;
    fn done(self) -> Option<T> {
        self
    }
}

/// HTTP to one loopback server.
struct Client {
    address: SocketAddr,
    agent: ureq::Agent,
}

impl Client {
    fn new(address: SocketAddr) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Self { address, agent }
    }

    fn get_status(&self, path: &str) -> Result<u16> {
        let response = self
            .agent
            .get(format!("http://{}{path}", self.address))
            .call()?;
        Ok(response.status().as_u16())
    }

    fn get(&self, path: &str, accept: Option<&str>) -> Result<String> {
        let mut request = self.agent.get(format!("http://{}{path}", self.address));
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        let mut response = request.call()?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string()?;
        ensure!(status == 200, "GET {path}: {status} {body}");
        Ok(body)
    }

    /// An instant query's `data.result`.
    fn query(&self, query: &str) -> Result<Value> {
        let mut response = self
            .agent
            .get(format!("http://{}/api/v1/query", self.address))
            .query("query", query)
            .call()?;
        let body: Value = serde_json::from_str(&response.body_mut().read_to_string()?)?;
        ensure!(body["status"] == "success", "{body}");
        Ok(body["data"]["result"].clone())
    }
}

/// The sample values of an instant vector (`NaN` stays `NaN`).
fn values(result: &Value) -> Vec<f64> {
    result
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|sample| sample["value"][1].as_str())
        .filter_map(|value| value.parse().ok())
        .collect()
}

/// The value of a one-sample instant vector.
fn single_value(result: &Value) -> Result<f64> {
    match values(result).as_slice() {
        [value] => Ok(*value),
        other => bail!("expected one sample, got {other:?} from {result}"),
    }
}

fn log_of(path: &Path) -> String {
    format!(
        "Prometheus's log:\n{}",
        std::fs::read_to_string(path).unwrap_or_default()
    )
}
