//! `process_*` metrics, as the Prometheus client libraries name them, read from `/proc/self` (Linux)
//! every few seconds by the metrics upkeep thread.
//!
//! Read here rather than through the `metrics-process` crate: that brings `procfs` (and per-OS crates)
//! for six numbers that are three short text files, and `unsafe_code` is forbidden in this crate, so
//! `sysconf` is out of reach: like the Prometheus Go client's procfs, CPU ticks are taken as USER_HZ =
//! 100, the value Linux exports to user space on every mainstream architecture. Elsewhere nothing is
//! read and the metrics are absent.

use std::fs;

/// Clock ticks per second in `/proc/<pid>/stat` (USER_HZ).
const USER_HZ: f64 = 100.0;

pub(super) fn describe() {
    metrics::describe_gauge!(
        "process_cpu_seconds_total",
        metrics::Unit::Seconds,
        "User and system CPU time spent (a counter; exported as a gauge to keep fractions of a second)"
    );
    metrics::describe_gauge!(
        "process_resident_memory_bytes",
        metrics::Unit::Bytes,
        "Resident memory size"
    );
    metrics::describe_gauge!(
        "process_virtual_memory_bytes",
        metrics::Unit::Bytes,
        "Virtual memory size"
    );
    metrics::describe_gauge!("process_open_fds", "Open file descriptors");
    metrics::describe_gauge!("process_max_fds", "Limit on open file descriptors (soft)");
    metrics::describe_gauge!("process_threads", "OS threads");
    metrics::describe_gauge!(
        "process_start_time_seconds",
        metrics::Unit::Seconds,
        "Start time of the process since the Unix epoch"
    );
}

/// Reads `/proc/self` and sets the gauges; what cannot be read is left as it was.
pub(super) fn update() {
    if let Some(stat) = Stat::read() {
        metrics::gauge!("process_cpu_seconds_total").set(stat.cpu_ticks as f64 / USER_HZ);
        metrics::gauge!("process_virtual_memory_bytes").set(stat.vsize as f64);
        if let Some(boot) = boot_time() {
            metrics::gauge!("process_start_time_seconds")
                .set(boot as f64 + stat.start_ticks as f64 / USER_HZ);
        }
    }
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        if let Some(kib) = field(&status, "VmRSS:") {
            metrics::gauge!("process_resident_memory_bytes").set(kib as f64 * 1024.0);
        }
        if let Some(threads) = field(&status, "Threads:") {
            metrics::gauge!("process_threads").set(threads as f64);
        }
    }
    if let Ok(fds) = fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
    }
    if let Some(max) = fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| max_open_files(&limits))
    {
        metrics::gauge!("process_max_fds").set(max as f64);
    }
}

/// The numbers wanted from `/proc/self/stat`.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    cpu_ticks: u64,
    start_ticks: u64,
    vsize: u64,
}

impl Stat {
    fn read() -> Option<Self> {
        Self::parse(&fs::read_to_string("/proc/self/stat").ok()?)
    }

    /// Fields after the command name (which may hold spaces and parentheses: split after the last `)`),
    /// counted from 3 (`state`) as in proc(5): utime 14, stime 15, starttime 22, vsize 23.
    fn parse(text: &str) -> Option<Self> {
        let (_, rest) = text.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let number = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
        Some(Self {
            cpu_ticks: number(14)? + number(15)?,
            start_ticks: number(22)?,
            vsize: number(23)?,
        })
    }
}

/// The first number after `name` on its line (`VmRSS:   1234 kB`).
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soft limit of `Max open files` in `/proc/self/limits`; `None` when unlimited.
fn max_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// When the machine booted, in seconds since the Unix epoch (`btime` in `/proc/stat`).
fn boot_time() -> Option<u64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_as_proc5_lays_them_out() {
        let stat = "4242 (stra tus) (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 50 0 0 20 0 9 0 \
                    123456 987654321 2345 18446744073709551615 1 1 0 0 0 0 0 4096 17920";
        assert_eq!(
            Stat::parse(stat),
            Some(Stat {
                cpu_ticks: 200,
                start_ticks: 123456,
                vsize: 987654321
            })
        );
        assert_eq!(Stat::parse("no closing parenthesis"), None);
        let status = "Name:\tstratus\nVmRSS:\t   20480 kB\nThreads:\t9\n";
        assert_eq!(field(status, "VmRSS:"), Some(20480));
        assert_eq!(field(status, "Threads:"), Some(9));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 1048576              files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            max_open_files(
                "Max open files            unlimited            unlimited            files"
            ),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_be_read() {
        let stat = Stat::read().expect("/proc/self/stat");
        assert!(stat.vsize > 0);
        assert!(boot_time().is_some());
        assert!(
            max_open_files(&fs::read_to_string("/proc/self/limits").expect("limits")).is_some()
        );
    }
}
