//! A process's resident memory, sampled from `/proc/<pid>/status` while it
//! runs, on a thread of its own (so it samples on time whatever the load
//! generator's runtime is doing).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

/// The resident memory seen while sampling.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// The highest resident set, including the kernel's own high-water mark
    /// (`VmHWM`), which catches peaks between samples.
    pub peak_kib: u64,
    pub mean_kib: u64,
    pub samples: u64,
}

/// Samples one process until [`MemorySampler::finish`].
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Memory>,
}

impl MemorySampler {
    /// Starts sampling process `pid` every `every`; sampling ends by itself
    /// when the process goes away.
    #[must_use]
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            let (mut peak, mut total, mut samples) = (0, 0, 0);
            while !stopped.load(Ordering::Relaxed) {
                let Ok(status) = std::fs::read_to_string(&path) else {
                    break;
                };
                if let Some(rss) = status_kib(&status, "VmRSS") {
                    peak = peak.max(rss);
                    total += rss;
                    samples += 1;
                }
                if let Some(hwm) = status_kib(&status, "VmHWM") {
                    peak = peak.max(hwm);
                }
                std::thread::sleep(every);
            }
            Memory {
                peak_kib: peak,
                mean_kib: total.checked_div(samples).unwrap_or(0),
                samples,
            }
        });
        Self { stop, thread }
    }

    /// Stops sampling and returns what was seen.
    #[must_use]
    pub fn finish(self) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// A `kB` field of `/proc/<pid>/status`, such as `VmRSS`.
#[must_use]
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_fields_of_proc_status() {
        let status = "Name:\trecordshop\nVmHWM:\t   30120 kB\nVmRSS:\t   24576 kB\nThreads:\t5\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(24_576));
        assert_eq!(status_kib(status, "VmHWM"), Some(30_120));
        assert_eq!(status_kib(status, "VmSwap"), None);
        assert_eq!(status_kib(status, "Threads"), None);
    }

    #[test]
    fn samples_its_own_memory() {
        let sampler = MemorySampler::start(std::process::id(), Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(30));
        let memory = sampler.finish();
        assert!(memory.samples >= 1);
        assert!(memory.peak_kib >= memory.mean_kib && memory.mean_kib > 0);
    }
}
