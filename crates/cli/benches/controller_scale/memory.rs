//! The controller's resident memory and CPU time, sampled from `/proc/<pid>/status` (`VmRSS`,
//! `VmHWM`, and `VmRSS` split into `RssAnon`, the heap and stacks, and `RssFile`, the pages of
//! the executable and libraries mapped in) and `/proc/<pid>/stat` (`utime` + `stime`) by a thread every
//! [`SAMPLE_INTERVAL`], until the process is gone or the sampler is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the process is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// One sample.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// When it was taken.
    pub at: Instant,
    /// `VmRSS`, in KiB.
    pub resident_kib: u64,
    /// `VmHWM` (the resident peak so far, as the kernel counts it), in KiB.
    pub high_water_kib: u64,
    /// `RssAnon`: anonymous memory (heap, stacks), in KiB.
    pub anonymous_kib: u64,
    /// `RssFile`: file-backed pages (the executable's code and data), in KiB.
    pub file_kib: u64,
    /// CPU time used so far (user + system).
    pub cpu: Duration,
}

/// Samples one process in the background.
#[derive(Debug)]
pub struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling process `pid`.
    pub fn start(pid: u32) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let ticks_per_second = clock_ticks_per_second();
        let thread = {
            let samples = samples.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(sample) = sample(pid, ticks_per_second) else {
                        return;
                    };
                    samples
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(sample);
                    std::thread::sleep(SAMPLE_INTERVAL);
                }
            })
        };
        Sampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// The latest sample.
    pub fn latest(&self) -> Option<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .copied()
    }

    /// The largest `VmRSS` sampled, in KiB.
    pub fn peak_resident_kib(&self) -> u64 {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|sample| sample.resident_kib)
            .max()
            .unwrap_or(0)
    }

    /// The mean `VmRSS` of the samples taken since `since`, in KiB.
    pub fn mean_resident_kib_since(&self, since: Instant) -> u64 {
        self.mean_since(since, |sample| sample.resident_kib)
    }

    /// The mean of `RssAnon` and of `RssFile` over the samples taken since `since`, in KiB.
    pub fn mean_split_kib_since(&self, since: Instant) -> (u64, u64) {
        (
            self.mean_since(since, |sample| sample.anonymous_kib),
            self.mean_since(since, |sample| sample.file_kib),
        )
    }

    fn mean_since(&self, since: Instant, value: fn(&Sample) -> u64) -> u64 {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let recent: Vec<u64> = samples
            .iter()
            .filter(|sample| sample.at >= since)
            .map(value)
            .collect();
        if recent.is_empty() {
            0
        } else {
            recent.iter().sum::<u64>() / recent.len() as u64
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Mebibytes from KiB, for display.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn sample(pid: u32, ticks_per_second: u64) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Sample {
        at: Instant::now(),
        resident_kib: field("VmRSS:")?,
        high_water_kib: field("VmHWM:")?,
        anonymous_kib: field("RssAnon:").unwrap_or(0),
        file_kib: field("RssFile:").unwrap_or(0),
        cpu: cpu_time(&stat, ticks_per_second).unwrap_or_default(),
    })
}

/// `utime + stime` from `/proc/<pid>/stat` (fields 14 and 15, counted after the command name,
/// which may hold spaces but ends at the last `)`).
fn cpu_time(stat: &str, ticks_per_second: u64) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0: utime (14) is index 11, stime (15) index 12.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (user + system) as f64 / ticks_per_second.max(1) as f64,
    ))
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}
