//! `spotter controller` at scale: a benchmark that prints figures, not a test.
//!
//! ```text
//! KUBEBUILDER_ASSETS=/tmp/kube-assets cargo bench -p spotter --bench controller_scale
//! KUBEBUILDER_ASSETS=/tmp/kube-assets cargo bench -p spotter --bench controller_scale -- --pods 1000
//! ```
//!
//! It starts a control plane (etcd, kube-apiserver, kube-scheduler, kube-controller-manager;
//! see `spotter-test-support`), installs the CRDs, the seed's EC2NodeClass and a NodePool
//! `bench` of Spot `m5.2xlarge` nodes (ten of the benchmark's pods, 750m CPU and 1 GiB each,
//! fill one), and runs the built `spotter controller --cloud-provider fake` as a child
//! process. It then creates the pods in waves, one Deployment a wave, each once the previous
//! one runs, and measures:
//!
//! - the controller's resident memory (`VmRSS`, `VmHWM`), sampled all along: the peak, and the
//!   mean over `--settle` seconds once every pod runs (steady state at full size);
//!   `VmRSS` is also split into `RssAnon` (heap, stacks) and `RssFile` (the executable's pages);
//! - for every pod the controller provisioned for, the time from kube-scheduler marking it
//!   unschedulable to the controller's answer, its first `Nominated` event: the NodeClaim it
//!   names being seen if that NodeClaim was created for the pod, else (a place on a NodeClaim
//!   in flight) the event being seen. That is pending pod -> NodeClaim created, the issue's
//!   latency, p50, p90, p99, max. Also how many pods were nominated again (kube-scheduler gave
//!   their place to another pod) and the p99 to each pod's last nomination;
//! - for every pod, the time from the benchmark's watch seeing it to seeing the NodeClaim that
//!   its node belongs to (pod `spec.nodeName` -> Node -> NodeClaim by provider ID; zero when
//!   that NodeClaim already existed): p50, p90, p99, max. This one also charges a pod for
//!   kube-scheduler binding it to a later node than the one it was nominated to;
//! - the time until every pod runs, and the controller's CPU time.
//!
//! Flags (after `--`): `--pods N` (10000), `--waves N` (10), `--batch-idle-duration D` (1s)
//! and `--batch-max-duration D` (10s), the controller's batching window, `--launch-delay D`
//! (1s), the fake cloud's time to a Node, `--pod-creation-qps N` (20, kube-controller-manager's
//! default `--kube-api-qps`, which paces a ReplicaSet's pod creations: at 20 a second a wave
//! keeps the batch window open to its maximum), `--settle SECONDS` (30), `--stall SECONDS` (60): a
//! wave whose pods stop starting for that long is left unfinished (and its pods counted as never
//! running) rather than waited for. The same as env:
//! `SPOTTER_BENCH_PODS`, `SPOTTER_BENCH_WAVES`, ... A quick run: `--pods 1000 --waves 2`.
//! The controller's log is kept in `target/tmp/controller_scale/controller.log`. `/metrics` is
//! scraped every 15 seconds all along, as Prometheus would, so that the memory figures include
//! encoding it.
//!
//! For experiments, `SPOTTER_BENCH_CONTROLLER_ENV="NAME=VALUE NAME=VALUE"` adds variables to
//! the controller's environment (say `MALLOC_ARENA_MAX=2`, or `LD_PRELOAD` of another
//! allocator), and `SPOTTER_BENCH_CONTROLLER_WRAPPER=heaptrack` runs it under that program
//! (the memory figures are then the wrapper's, not the controller's).

mod memory;
mod observer;

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use spotter_test_support::{Assets, ControlPlane, Kubectl, SPOTTER_CRDS};

use crate::memory::{Sampler, mib};
use crate::observer::{BENCH_LABEL, WAVE_LABEL};

/// Pods a `bench` node holds.
const PODS_PER_NODE: usize = 10;
/// The longest one wave may take to run.
const WAVE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often progress is printed.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);
/// How often `/metrics` is scraped (a common Prometheus scrape interval).
const SCRAPE_INTERVAL: Duration = Duration::from_secs(15);
/// The controller's system namespace (Lease, faults ConfigMap).
const NAMESPACE: &str = "spotter";

fn main() -> Result<()> {
    // Both ring and aws-lc-rs are compiled in: rustls must be told which to use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // `cargo test --all-targets` runs bench targets without `--bench`: nothing to check here.
    if !std::env::args().any(|argument| argument == "--bench") {
        println!("controller_scale is a benchmark: run it with cargo bench");
        return Ok(());
    }
    let options = Options::parse()?;
    println!(
        "controller_scale: {} pods in {} waves (~{} nodes), batch idle {} / max {}, launch delay {}, pods created at up to {}/s",
        options.pods,
        options.waves,
        options.pods.div_ceil(PODS_PER_NODE),
        options.batch_idle,
        options.batch_max,
        options.launch_delay,
        options.pod_creation_qps
    );
    let started = Instant::now();
    let assets = Assets::from_env().context("the benchmark needs a control plane")?;
    let plane = ControlPlane::start_with(
        &assets,
        &[
            format!("--kube-api-qps={}", options.pod_creation_qps),
            format!("--kube-api-burst={}", options.pod_creation_qps.max(30)),
        ],
    )?;
    println!(
        "control plane ready in {:.1?} ({})",
        plane.startup_time(),
        plane.folder().display()
    );
    let kubectl = plane.kubectl();
    install(&kubectl)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let observed: observer::Shared = Arc::new(Mutex::new(observer::Observed::default()));
    let client = runtime.block_on(client(plane.kubeconfig()))?;
    {
        let _entered = runtime.enter();
        observer::spawn(&client, &observed);
    }

    let logs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("controller_scale");
    std::fs::create_dir_all(&logs)?;
    let mut controller = Controller::start(&plane, &logs.join("controller.log"), &options)?;
    let sampler = Sampler::start(controller.child.id());
    controller.wait_until_ready()?;
    println!(
        "controller ready (log: {}); resident {:.1} MiB",
        controller.log.display(),
        mib(sampler.latest().map_or(0, |sample| sample.resident_kib))
    );

    let pods_started = Instant::now();
    let mut wave_times = Vec::new();
    let mut last_progress = Instant::now();
    let mut last_scrape = Instant::now();
    for wave in 0..options.waves {
        let replicas = options.wave_size(wave);
        let wave_started = Instant::now();
        kubectl.apply(&deployment(wave, replicas))?;
        let mut running_before = 0;
        let mut changed = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(500));
            controller.ensure_alive()?;
            let running = observer::lock(&observed).running_in_wave(wave);
            if last_progress.elapsed() >= PROGRESS_INTERVAL {
                last_progress = Instant::now();
                progress(&started, wave, &options, &observed, &sampler);
            }
            if last_scrape.elapsed() >= SCRAPE_INTERVAL {
                last_scrape = Instant::now();
                controller.scrape();
            }
            if running >= replicas {
                break;
            }
            if running != running_before {
                running_before = running;
                changed = Instant::now();
            } else if changed.elapsed() > options.stall {
                println!(
                    "wave {}: {} of {replicas} pods still not running after {}s without progress; going on",
                    wave + 1,
                    replicas - running,
                    options.stall.as_secs()
                );
                break;
            }
            if wave_started.elapsed() > WAVE_TIMEOUT {
                bail!(
                    "wave {} did not run within {WAVE_TIMEOUT:?} ({running}/{replicas} pods running); the controller's log ends with:\n{}",
                    wave + 1,
                    controller.log_tail()
                );
            }
        }
        let took = wave_started.elapsed();
        println!(
            "wave {}/{}: {}/{replicas} pods running after {took:.1?}",
            wave + 1,
            options.waves,
            observer::lock(&observed).running_in_wave(wave)
        );
        wave_times.push(took);
    }
    let all_running = observer::lock(&observed)
        .last_running()
        .map_or(pods_started.elapsed(), |last| {
            last.saturating_duration_since(pods_started)
        });

    println!(
        "waves done; measuring steady state for {}s",
        options.settle.as_secs()
    );
    let settle_started = Instant::now();
    while settle_started.elapsed() < options.settle {
        std::thread::sleep(Duration::from_secs(1));
        controller.ensure_alive()?;
        if last_scrape.elapsed() >= SCRAPE_INTERVAL {
            last_scrape = Instant::now();
            controller.scrape();
        }
    }
    let scheduling = controller.scheduling_passes();
    let figures = Figures::collect(
        &options,
        &observed,
        &sampler,
        settle_started,
        all_running,
        &wave_times,
        scheduling,
    );
    drop(controller);
    drop(sampler);
    println!("{}", figures.table());
    println!("total {:.1?}", started.elapsed());
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// The benchmark's settings.
#[derive(Debug)]
struct Options {
    pods: usize,
    waves: usize,
    batch_idle: String,
    batch_max: String,
    launch_delay: String,
    pod_creation_qps: u32,
    settle: Duration,
    stall: Duration,
}

impl Options {
    /// From the flags after `--` (cargo adds `--bench`), else the env, else the defaults.
    fn parse() -> Result<Self> {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for (flag, variable) in [
            ("pods", "SPOTTER_BENCH_PODS"),
            ("waves", "SPOTTER_BENCH_WAVES"),
            ("batch-idle-duration", "SPOTTER_BENCH_BATCH_IDLE_DURATION"),
            ("batch-max-duration", "SPOTTER_BENCH_BATCH_MAX_DURATION"),
            ("launch-delay", "SPOTTER_BENCH_LAUNCH_DELAY"),
            ("pod-creation-qps", "SPOTTER_BENCH_POD_CREATION_QPS"),
            ("settle", "SPOTTER_BENCH_SETTLE"),
            ("stall", "SPOTTER_BENCH_STALL"),
        ] {
            if let Ok(value) = std::env::var(variable) {
                values.insert(flag.to_owned(), value);
            }
        }
        let mut arguments = std::env::args().skip(1);
        while let Some(argument) = arguments.next() {
            if argument == "--bench" {
                continue;
            }
            let Some(flag) = argument.strip_prefix("--") else {
                bail!("unexpected argument {argument:?}");
            };
            let (flag, value) = match flag.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), value.to_owned()),
                None => (
                    flag.to_owned(),
                    arguments
                        .next()
                        .with_context(|| format!("--{flag} needs a value"))?,
                ),
            };
            values.insert(flag, value);
        }
        let mut take =
            |flag: &str, default: &str| values.remove(flag).unwrap_or_else(|| default.to_owned());
        let count = |flag: &str, text: String| -> Result<usize> {
            text.parse::<usize>()
                .ok()
                .filter(|count| *count > 0)
                .with_context(|| format!("--{flag} {text:?}: give a positive count"))
        };
        let options = Options {
            pods: count("pods", take("pods", "10000"))?,
            waves: count("waves", take("waves", "10"))?,
            batch_idle: take("batch-idle-duration", "1s"),
            batch_max: take("batch-max-duration", "10s"),
            launch_delay: take("launch-delay", "1s"),
            pod_creation_qps: u32::try_from(count(
                "pod-creation-qps",
                take("pod-creation-qps", "20"),
            )?)
            .context("--pod-creation-qps: too large")?,
            settle: Duration::from_secs(
                take("settle", "30")
                    .parse()
                    .context("--settle: give seconds")?,
            ),
            stall: Duration::from_secs(
                take("stall", "60")
                    .parse()
                    .context("--stall: give seconds")?,
            ),
        };
        if let Some(flag) = values.keys().next() {
            bail!(
                "unknown flag --{flag}; the flags are --pods, --waves, --batch-idle-duration, --batch-max-duration, --launch-delay, --pod-creation-qps, --settle, --stall"
            );
        }
        ensure!(options.waves <= options.pods, "more waves than pods");
        Ok(options)
    }

    /// The pods of wave `wave`: the pods split as evenly as they go.
    fn wave_size(&self, wave: usize) -> usize {
        self.pods / self.waves + usize::from(wave < self.pods % self.waves)
    }
}

/// The measured figures.
#[derive(Debug)]
struct Figures {
    pods: usize,
    claims: usize,
    nodes: usize,
    peak_resident_kib: u64,
    high_water_kib: u64,
    steady_resident_kib: u64,
    steady_anonymous_kib: u64,
    steady_file_kib: u64,
    cpu: Duration,
    nominations: observer::NominationLatencies,
    latencies: Vec<Duration>,
    unmatched: usize,
    running: usize,
    all_running: Duration,
    slowest_wave: Duration,
    scheduling: Option<SchedulingPasses>,
}

/// The controller's provisioning passes, from its
/// `karpenter_scheduler_scheduling_duration_seconds` histogram.
#[derive(Clone, Copy, Debug)]
struct SchedulingPasses {
    count: u64,
    mean: Duration,
    /// The upper bound of the bucket that holds the 99th percentile.
    p99_at_most: f64,
}

impl SchedulingPasses {
    /// Reads the histogram out of a `/metrics` text.
    fn parse(text: &str) -> Option<Self> {
        const NAME: &str = "karpenter_scheduler_scheduling_duration_seconds";
        let value = |line: &str| line.rsplit(' ').next()?.parse::<f64>().ok();
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        let (mut count, mut sum) = (0.0, 0.0);
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(NAME) else {
                continue;
            };
            if let Some(labels) = rest.strip_prefix("_bucket{") {
                let bound = labels.split("le=\"").nth(1)?.split('"').next()?;
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                buckets.push((bound, value(line)?));
            } else if rest.starts_with("_count") {
                count += value(line)?;
            } else if rest.starts_with("_sum") {
                sum += value(line)?;
            }
        }
        if count == 0.0 {
            return None;
        }
        buckets.sort_by(|left, right| left.0.total_cmp(&right.0));
        let p99_at_most = buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= count * 0.99)
            .map_or(f64::INFINITY, |(bound, _)| *bound);
        Some(SchedulingPasses {
            count: count as u64,
            mean: Duration::from_secs_f64(sum / count),
            p99_at_most,
        })
    }
}

impl Figures {
    fn collect(
        options: &Options,
        observed: &observer::Shared,
        sampler: &Sampler,
        settle_started: Instant,
        all_running: Duration,
        wave_times: &[Duration],
        scheduling: Option<SchedulingPasses>,
    ) -> Self {
        let observed = observer::lock(observed);
        let (mut latencies, unmatched) = observed.claim_latencies();
        latencies.sort();
        let nominations = observed.nomination_latencies();
        let (steady_anonymous_kib, steady_file_kib) = sampler.mean_split_kib_since(settle_started);
        let latest = sampler.latest();
        Figures {
            pods: options.pods,
            claims: observed.claims.len(),
            nodes: observed.nodes.len(),
            peak_resident_kib: sampler.peak_resident_kib(),
            high_water_kib: latest.map_or(0, |sample| sample.high_water_kib),
            steady_resident_kib: sampler.mean_resident_kib_since(settle_started),
            steady_anonymous_kib,
            steady_file_kib,
            cpu: latest.map_or(Duration::ZERO, |sample| sample.cpu),
            nominations,
            latencies,
            unmatched,
            running: observed.counts().running,
            all_running,
            slowest_wave: wave_times.iter().copied().max().unwrap_or_default(),
            scheduling,
        }
    }

    fn table(&self) -> Table {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(["figure", "value", "target"]);
        let rows: Vec<[String; 3]> = vec![
            row(
                "pods / NodeClaims / Nodes",
                format!("{} / {} / {}", self.pods, self.claims, self.nodes),
                "",
            ),
            row(
                "resident memory, peak (VmRSS sampled)",
                format!("{:.1} MiB", mib(self.peak_resident_kib)),
                "< 64 MiB",
            ),
            row(
                "resident memory, peak (VmHWM)",
                format!("{:.1} MiB", mib(self.high_water_kib)),
                "< 64 MiB",
            ),
            row(
                "resident memory, steady state at full size",
                format!("{:.1} MiB", mib(self.steady_resident_kib)),
                "< 64 MiB",
            ),
            row(
                "  of which RssAnon (heap, stacks) / RssFile (executable)",
                format!(
                    "{:.1} MiB / {:.1} MiB",
                    mib(self.steady_anonymous_kib),
                    mib(self.steady_file_kib)
                ),
                "",
            ),
            row(
                "pending pod -> first nomination, p50",
                seconds(percentile(&self.nominations.first, 0.50)),
                "",
            ),
            row(
                "pending pod -> first nomination, p90",
                seconds(percentile(&self.nominations.first, 0.90)),
                "",
            ),
            row(
                "pending pod -> first nomination, p99",
                seconds(percentile(&self.nominations.first, 0.99)),
                "< 2 s",
            ),
            row(
                "pending pod -> first nomination, max",
                seconds(self.nominations.first.last().copied()),
                "",
            ),
            row(
                "pods nominated again (their place taken by another pod)",
                self.nominations.nominated_again.to_string(),
                "",
            ),
            row(
                "pending pod -> last nomination, p99",
                seconds(percentile(&self.nominations.last, 0.99)),
                "",
            ),
            row(
                "pods never nominated / nominated to an unseen NodeClaim",
                format!(
                    "{} / {}",
                    self.nominations.never_nominated, self.nominations.claim_unseen
                ),
                "",
            ),
            row(
                "pod seen -> its node's NodeClaim seen, p50",
                seconds(percentile(&self.latencies, 0.50)),
                "",
            ),
            row(
                "pod seen -> its node's NodeClaim seen, p90",
                seconds(percentile(&self.latencies, 0.90)),
                "",
            ),
            row(
                "pod seen -> its node's NodeClaim seen, p99",
                seconds(percentile(&self.latencies, 0.99)),
                "",
            ),
            row(
                "pod seen -> its node's NodeClaim seen, max",
                seconds(self.latencies.last().copied()),
                "",
            ),
            row(
                "pods not on a NodeClaim's node (never bound too)",
                self.unmatched.to_string(),
                "0",
            ),
            row(
                "pods never Running",
                (self.pods - self.running.min(self.pods)).to_string(),
                "0",
            ),
            row(
                "first wave created -> last pod Running",
                seconds(Some(self.all_running)),
                "",
            ),
            row(
                "slowest wave (with any wait for stalled pods)",
                seconds(Some(self.slowest_wave)),
                "",
            ),
            row(
                "provisioning passes: count, mean, p99 at most",
                self.scheduling.map_or("not scraped".to_owned(), |passes| {
                    format!(
                        "{}, {:.2} s, {} s",
                        passes.count,
                        passes.mean.as_secs_f64(),
                        passes.p99_at_most
                    )
                }),
                "",
            ),
            row(
                "controller CPU time (user + system)",
                seconds(Some(self.cpu)),
                "",
            ),
        ];
        for cells in rows {
            table.add_row(cells);
        }
        table
    }
}

fn row(figure: &str, value: String, target: &str) -> [String; 3] {
    [figure.to_owned(), value, target.to_owned()]
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "-".to_owned(),
        |duration| format!("{:.2} s", duration.as_secs_f64()),
    )
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], fraction: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn progress(
    started: &Instant,
    wave: usize,
    options: &Options,
    observed: &observer::Shared,
    sampler: &Sampler,
) {
    let counts = observer::lock(observed).counts();
    let latest = sampler.latest();
    println!(
        "[{:>6.0}s] wave {}/{}: pods {} seen, {} bound, {} running; NodeClaims {}, Nodes {}; controller resident {:.1} MiB (peak {:.1} MiB), CPU {:.0}s",
        started.elapsed().as_secs_f64(),
        wave + 1,
        options.waves,
        counts.pods,
        counts.bound,
        counts.running,
        counts.claims,
        counts.nodes,
        mib(latest.map_or(0, |sample| sample.resident_kib)),
        mib(sampler.peak_resident_kib()),
        latest.map_or(0.0, |sample| sample.cpu.as_secs_f64()),
    );
}

/// The CRDs, the seed's EC2NodeClass, the `bench` NodePool and the system namespace.
fn install(kubectl: &Kubectl) -> Result<()> {
    let crds = Command::new(env!("CARGO_BIN_EXE_spotter"))
        .arg("crds")
        .output()
        .context("failed to run spotter crds")?;
    ensure!(crds.status.success(), "spotter crds failed");
    kubectl.install_crds(&String::from_utf8(crds.stdout)?, &SPOTTER_CRDS)?;
    kubectl.run(&["create", "namespace", NAMESPACE], None)?;
    let node_class =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed/ec2nodeclass.yaml");
    kubectl.apply(
        &std::fs::read_to_string(node_class)
            .context("failed to read examples/seed/ec2nodeclass.yaml")?,
    )?;
    kubectl.apply(&node_pool())?;
    Ok(())
}

/// Spot `m5.2xlarge` only (7910m CPU allocatable: ten 750m pods), never consolidated during
/// the run, no limits.
fn node_pool() -> String {
    serde_json::json!({
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "bench"},
        "spec": {
            "template": {"spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                "requirements": [
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]},
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.2xlarge"]},
                ],
                "expireAfter": "720h",
            }},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "1h"},
        },
    })
    .to_string()
}

/// Wave `wave`'s Deployment of `replicas` pods on the `bench` pool.
fn deployment(wave: usize, replicas: usize) -> String {
    let labels = serde_json::json!({
        "app": format!("bench-{wave}"),
        BENCH_LABEL: "true",
        WAVE_LABEL: wave.to_string(),
    });
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": format!("bench-{wave}"), "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": format!("bench-{wave}")}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"karpenter.sh/nodepool": "bench"},
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{
                        "name": "worker",
                        "image": "registry.k8s.io/pause:3.9",
                        "resources": {"requests": {"cpu": "750m", "memory": "1Gi"}},
                    }],
                },
            },
        },
    })
    .to_string()
}

async fn client(kubeconfig: &Path) -> Result<kube::Client> {
    let file = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await?;
    Ok(kube::Client::try_from(config)?)
}

/// The `spotter controller` process, killed when dropped.
struct Controller {
    child: Child,
    log: PathBuf,
    address: SocketAddr,
}

impl Controller {
    fn start(plane: &ControlPlane, log: &Path, options: &Options) -> Result<Self> {
        let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut command = match std::env::var("SPOTTER_BENCH_CONTROLLER_WRAPPER") {
            Ok(wrapper) if !wrapper.is_empty() => {
                let mut command = Command::new(wrapper);
                command.arg(env!("CARGO_BIN_EXE_spotter"));
                command
            }
            _ => Command::new(env!("CARGO_BIN_EXE_spotter")),
        };
        for variable in std::env::var("SPOTTER_BENCH_CONTROLLER_ENV")
            .unwrap_or_default()
            .split_whitespace()
        {
            let (name, value) = variable.split_once('=').with_context(|| {
                format!("SPOTTER_BENCH_CONTROLLER_ENV: {variable:?} is not NAME=VALUE")
            })?;
            command.env(name, value);
        }
        let child = command
            .args([
                "controller",
                "--cloud-provider=fake",
                "--log-format=text",
                "--log-level=info",
                "--identity=spotter-bench",
            ])
            .arg(format!("--fake-launch-delay={}", options.launch_delay))
            .arg(format!("--batch-idle-duration={}", options.batch_idle))
            .arg(format!("--batch-max-duration={}", options.batch_max))
            .arg(format!("--kubeconfig={}", plane.kubeconfig().display()))
            .arg(format!("--metrics-address={address}"))
            .arg(format!("--health-address={address}"))
            .env_remove("KUBECONFIG")
            .env_remove("POD_NAME")
            .env_remove("CLOUD_PROVIDER")
            .env_remove("DISABLE_LEADER_ELECTION")
            .stdout(Stdio::null())
            .stderr(File::create(log)?)
            .spawn()
            .context("failed to start spotter controller")?;
        Ok(Controller {
            child,
            log: log.to_path_buf(),
            address,
        })
    }

    /// The provisioning passes so far, from the controller's `/metrics`.
    fn scheduling_passes(&self) -> Option<SchedulingPasses> {
        SchedulingPasses::parse(&self.scrape()?)
    }

    /// `/metrics`, as Prometheus asks for it; `None` if it cannot be read.
    fn scrape(&self) -> Option<String> {
        ureq::get(format!("http://{}/metrics", self.address))
            .header("Accept", "application/openmetrics-text; version=1.0.0")
            .call()
            .ok()?
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .ok()
    }

    /// Waits for `/readyz` to answer 200: every kind listed, the Lease held.
    fn wait_until_ready(&mut self) -> Result<()> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let started = Instant::now();
        loop {
            self.ensure_alive()?;
            let ready = agent
                .get(format!("http://{}/readyz", self.address))
                .call()
                .is_ok_and(|response| response.status().as_u16() == 200);
            if ready {
                return Ok(());
            }
            ensure!(
                started.elapsed() < Duration::from_secs(120),
                "the controller was not ready within 2 minutes; its log ends with:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn ensure_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("spotter controller exited ({status}):\n{}", self.log_tail());
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
