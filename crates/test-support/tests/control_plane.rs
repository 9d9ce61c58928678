//! The control plane itself: it starts, serves the API with the admin kubeconfig, schedules a
//! pod onto a kubelet-less Node (the scheduler and the node-lifecycle settings work), and
//! leaves no process and no folder behind once dropped. Without the binaries: fails under
//! `CI=true`, skipped otherwise.

use std::path::Path;
use std::time::{Duration, Instant};

use spotter_test_support::ControlPlane;

const NODE: &str = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"fake-node-1","labels":{"kubernetes.io/hostname":"fake-node-1"}},"status":{"capacity":{"cpu":"4","memory":"16Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"test"}]}}"#;
const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"sleeper","namespace":"default"},"spec":{"containers":[{"name":"main","image":"busybox","resources":{"requests":{"cpu":"1"}}}]}}"#;

#[test]
fn the_control_plane_schedules_and_leaves_nothing_behind() -> Result<(), Box<dyn std::error::Error>>
{
    let Some(plane) =
        ControlPlane::start_or_skip("the_control_plane_schedules_and_leaves_nothing_behind")?
    else {
        return Ok(());
    };
    eprintln!("control plane ready in {:.1?}", plane.startup_time());
    let kubectl = plane.kubectl();
    assert_eq!(
        kubectl.run(&["get", "--raw", "/readyz"], None)?.trim(),
        "ok"
    );
    assert!(
        kubectl
            .run(&["cluster-info"], None)?
            .contains(&plane.server())
    );

    kubectl.create(NODE)?;
    kubectl.create(POD)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let node_name = loop {
        let bound = kubectl.run(
            &["get", "pod", "sleeper", "-o", "jsonpath={.spec.nodeName}"],
            None,
        )?;
        if !bound.is_empty() || Instant::now() > deadline {
            break bound;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        node_name, "fake-node-1",
        "kube-scheduler did not bind the pod"
    );

    let processes = plane.process_ids();
    let folder = plane.folder().to_path_buf();
    assert_eq!(processes.len(), 4);
    assert!(processes.iter().all(|pid| running(*pid)));
    let stopping = Instant::now();
    drop(plane);
    eprintln!("control plane stopped in {:.1?}", stopping.elapsed());
    let still_running: Vec<u32> = processes.into_iter().filter(|pid| running(*pid)).collect();
    assert!(still_running.is_empty(), "left running: {still_running:?}");
    assert!(!folder.exists(), "left {}", folder.display());
    Ok(())
}

/// Whether a process (not a zombie) has this ID.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
        .is_ok_and(|stat| !stat.contains(") Z "))
}
