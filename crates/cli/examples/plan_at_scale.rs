//! `spotter plan` at scale, as a benchmark that prints its figures: N pods (100,000 by
//! default) that differ only in labels no selector reads, written as one multi-document YAML
//! text in memory (about 640 bytes a pod), read with `spotter_api::Manifests` beside the seed's
//! NodePools and planned against us-east-1, as `spotter plan -f` does. It prints the wall-clock
//! time to read and to solve, the process's CPU time (which a busy machine does not inflate)
//! and its peak resident memory (Linux's `/proc/self/stat` and VmHWM).
//!
//! Run with `cargo run --release -p spotter --example plan_at_scale [-- PODS]`. The target
//! (issue 15): 100,000 pods in under 3 s and under 500 MB on one core.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use spotter_api::Manifests;
use spotter_core::solver::{SchedulingInput, solve};
use spotter_core::unavailable_offerings::UnavailableOfferings;

fn main() -> anyhow::Result<()> {
    let pods: usize = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 100_000,
    };
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed");
    let pools = std::fs::read_to_string(seed.join("nodepools.yaml"))?;
    let node_class = std::fs::read_to_string(seed.join("ec2nodeclass.yaml"))?;
    let text = pods_yaml(pods);
    println!(
        "{pods} pods, {:.1} MB of YAML",
        text.len() as f64 / 1_000_000.0
    );

    let started = Instant::now();
    let mut manifests = Manifests::default();
    manifests.add("nodepools.yaml", &pools)?;
    manifests.add("ec2nodeclass.yaml", &node_class)?;
    manifests.add("pods.yaml", &text)?;
    let manifests = manifests.finish()?;
    drop(text);
    let read = started.elapsed();

    let catalog = spotter_catalog::embedded();
    let region = catalog.region("us-east-1")?;
    let instance_types = spotter_catalog::instance_types::instance_types(region);
    let unavailable = UnavailableOfferings::new();
    let started = Instant::now();
    let plan = solve(&SchedulingInput {
        pods: &manifests.pending_pods,
        nodes: &manifests.nodes,
        node_pools: &manifests.node_pools,
        instance_types: &instance_types,
        daemon_set_pods: &manifests.daemon_set_pods,
        unavailable: &unavailable,
        pool_usage: None,
    });
    let solved = started.elapsed();
    let placed: usize = plan.node_claims.iter().map(|claim| claim.pods.len()).sum();
    println!(
        "read {:.2} s, solved {:.2} s, total {:.2} s wall clock; CPU time {}; peak RSS {}; {} NodeClaims for {placed} pods, {} unschedulable",
        read.as_secs_f64(),
        solved.as_secs_f64(),
        (read + solved).as_secs_f64(),
        cpu_time().unwrap_or_else(|| "unknown".to_string()),
        peak_resident_memory().unwrap_or_else(|| "unknown".to_string()),
        plan.node_claims.len(),
        plan.unschedulable.len(),
    );
    Ok(())
}

/// `pods` Pods selecting the seed's pools, each with its own name and `instance` label.
fn pods_yaml(pods: usize) -> String {
    let mut text = String::with_capacity(pods * 660);
    for index in 0..pods {
        let _ = write!(
            text,
            "---
apiVersion: v1
kind: Pod
metadata:
  name: worker-{index:06}
  namespace: default
  labels:
    app: batch-worker
    instance: worker-{index:06}
    revision: r{}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions:
              - key: karpenter.sh/nodepool
                operator: In
                values: [\"batch\", \"batch-fallback\"]
  containers:
    - name: worker
      image: public.ecr.aws/docker/library/busybox:stable
      command: [\"sh\", \"-c\", \"sleep 3600\"]
      resources:
        requests:
          cpu: 10m
          memory: 16Mi
",
            index % 97
        );
    }
    text
}

/// The peak resident memory of this process, from `/proc/self/status` (Linux only).
fn peak_resident_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(format!("{} MB", kilobytes / 1024))
}

/// The user and system CPU time of this process so far (the YAML generation included), from
/// `/proc/self/stat` in clock ticks of 10 ms (Linux only).
fn cpu_time() -> Option<String> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses: utime and stime are the
    // 12th and 13th of them.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(format!(
        "{:.2} s (user {:.2} s, system {:.2} s)",
        (user + system) as f64 / 100.0,
        user as f64 / 100.0,
        system as f64 / 100.0
    ))
}
