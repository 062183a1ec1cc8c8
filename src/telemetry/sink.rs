//! Log lines to stdout through a buffer that a thread of its own writes out, as nginx's
//! `access_log ... buffer= flush=` does.
//!
//! Writing each request's line straight to stdout costs a `write` system call per request, made while holding
//! stdout's lock, so the runtime's worker threads also queue behind one another for it: on `/health/live`
//! that was about a third of the server's CPU per request. Here a request only copies its line into a
//! shared buffer; the flusher thread writes everything buffered in one call, at most `every` after the
//! first line of a batch.
//!
//! What may be lost: on `kill -9` or a power cut, the lines of the last `every` (100 ms by default). A clean
//! exit (`flush_logs`, called when `stratus` returns) and a panic (the hook installed here) write everything
//! out first. Nothing is ever dropped to keep up: past `LIMIT` bytes (stdout blocked, e.g. a stuck log
//! pipe) the writer writes the buffer itself, which is the old behaviour: it waits for stdout.
//! A `WARN` or `ERROR` line wakes the flusher at once.

use std::{
    io::{self, Write},
    sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError},
    time::{Duration, Instant},
};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Buffered bytes at which the flusher is woken before its interval is up.
const WAKE_AT: usize = 64 * 1024;
/// Buffered bytes at which a writer stops buffering and writes the lot itself.
const LIMIT: usize = 4 * 1024 * 1024;
/// A flushed buffer bigger than this is not kept for reuse (a burst should not pin its memory).
const KEEP_CAPACITY: usize = 256 * 1024;

/// The one buffered stdout of the process (`flush_logs` reaches it from anywhere).
static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();
/// Whether its flusher thread runs (if it could not be started, nothing is buffered).
static FLUSHER: OnceLock<bool> = OnceLock::new();

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// A `WARN`/`ERROR` line is waiting: flush now.
    urgent: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Stdout. Held across taking a batch and writing it, so batches reach it in the order they were taken.
    output: Mutex<Box<dyn Write + Send>>,
    every: Duration,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain bytes behind: still fine to use.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn push(&self, line: &[u8], urgent: bool) {
        let mut pending = lock(&self.pending);
        let before = pending.bytes.len();
        pending.bytes.extend_from_slice(line);
        let newly_urgent = urgent && !pending.urgent;
        pending.urgent |= urgent;
        let len = pending.bytes.len();
        drop(pending);
        if len >= LIMIT {
            self.flush(&mut Vec::new());
        } else if before == 0 || newly_urgent || (before < WAKE_AT && len >= WAKE_AT) {
            // Only when a reason to wake first appears: the first line of a batch (the flusher sleeps
            // without a deadline while the buffer is empty, and this line starts its interval), the
            // batch's first warning, or the batch reaching `WAKE_AT`. The flusher checks each reason
            // again under the lock before it sleeps, so none is missed; waking it for every line past
            // `WAKE_AT` until it ran cost a system call per request (a condvar's notify always makes one).
            self.wake.notify_one();
        }
    }

    /// Writes out everything buffered so far. `spare` is an empty buffer to put in its place.
    fn flush(&self, spare: &mut Vec<u8>) {
        let mut output = lock(&self.output);
        {
            let mut pending = lock(&self.pending);
            if pending.bytes.is_empty() {
                return;
            }
            std::mem::swap(&mut pending.bytes, spare);
            pending.urgent = false;
        }
        // Nowhere to report a failed log write; the service goes on (as tracing's own writer does).
        let _ = output.write_all(spare).and_then(|()| output.flush());
        spare.clear();
        if spare.capacity() > KEEP_CAPACITY {
            *spare = Vec::new();
        }
    }

    fn run_flusher(&self) {
        let mut spare = Vec::new();
        loop {
            let mut pending = lock(&self.pending);
            while pending.bytes.is_empty() {
                pending = self
                    .wake
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let deadline = Instant::now() + self.every;
            while !pending.urgent && pending.bytes.len() < WAKE_AT {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                pending = self
                    .wake
                    .wait_timeout(pending, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            drop(pending);
            self.flush(&mut spare);
        }
    }
}

/// Stdout behind the buffer; give it to `telemetry::init_logs`.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // holds a writer and a lock: nothing worth printing
pub struct BufferedStdout {
    shared: Arc<Shared>,
}

impl BufferedStdout {
    /// The process's buffered stdout, flushed at most `every` after a line is written. The first call
    /// starts the flusher thread and sets `every`; later calls return the same buffer. Falls back to
    /// writing each line at once if no thread can be started.
    pub fn start(every: Duration) -> Option<Self> {
        let shared = SHARED.get_or_init(|| {
            Arc::new(Shared {
                pending: Mutex::new(Pending::default()),
                wake: Condvar::new(),
                output: Mutex::new(Box::new(io::stdout())),
                every,
            })
        });
        let started = *FLUSHER.get_or_init(|| {
            let flusher = Arc::clone(shared);
            let spawned = std::thread::Builder::new()
                .name("log-flusher".into())
                .spawn(move || flusher.run_flusher());
            if spawned.is_ok() {
                let previous = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    flush_logs();
                    previous(info);
                }));
            }
            spawned.is_ok()
        });
        started.then(|| Self {
            shared: Arc::clone(shared),
        })
    }
}

/// Writes out whatever log lines are still buffered. Call before the process exits.
pub fn flush_logs() {
    if let Some(shared) = SHARED.get() {
        shared.flush(&mut Vec::new());
    }
}

/// Writes `lines` (whole lines, each ending in `\n`) to stdout as log lines go: into the buffer when
/// it is in use, else straight to stdout under its lock. Either way never between the bytes of a log line.
pub(crate) fn write_raw(lines: &[u8]) {
    if lines.is_empty() {
        return;
    }
    match SHARED.get() {
        Some(shared) if FLUSHER.get() == Some(&true) => shared.push(lines, false),
        _ => {
            let mut stdout = io::stdout().lock();
            // Nowhere to report a failed write, as for log lines.
            let _ = stdout.write_all(lines).and_then(|()| stdout.flush());
        }
    }
}

/// One log line on its way into the buffer.
#[allow(missing_debug_implementations)] // a borrowed buffer and a flag
pub struct Line<'a> {
    shared: &'a Shared,
    urgent: bool,
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.shared.push(bytes, self.urgent);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedStdout {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.shared,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        Line {
            shared: &self.shared,
            // ERROR < WARN < INFO in `tracing`'s order.
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What reached "stdout".
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Written {
        fn bytes(&self) -> Vec<u8> {
            lock(&self.0).clone()
        }
    }

    fn shared(every: Duration) -> (Arc<Shared>, Written) {
        let written = Written::default();
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            output: Mutex::new(Box::new(written.clone())),
            every,
        });
        (shared, written)
    }

    #[test]
    fn lines_wait_for_the_interval_and_warnings_do_not() {
        let (shared, written) = shared(Duration::from_secs(3600));
        shared.push(b"{\"a\":1}\n", false);
        shared.push(b"{\"b\":2}\n", false);
        let pending = lock(&shared.pending);
        assert_eq!(pending.bytes, b"{\"a\":1}\n{\"b\":2}\n");
        assert!(!pending.urgent);
        drop(pending);
        shared.push(b"{\"level\":\"WARN\"}\n", true);
        assert!(lock(&shared.pending).urgent);
        assert!(written.bytes().is_empty(), "nothing written before a flush");
    }

    #[test]
    fn a_flush_writes_everything_in_order() {
        let (shared, written) = shared(Duration::from_secs(3600));
        shared.push(b"one\n", false);
        shared.push(b"two\n", false);
        let mut spare = Vec::new();
        shared.flush(&mut spare);
        assert_eq!(written.bytes(), b"one\ntwo\n");
        assert!(lock(&shared.pending).bytes.is_empty());
        assert!(spare.is_empty(), "the written batch is cleared for reuse");
        shared.push(b"three\n", false);
        shared.flush(&mut spare);
        assert_eq!(written.bytes(), b"one\ntwo\nthree\n");
    }

    #[test]
    fn past_the_limit_the_writer_writes_itself() {
        let (shared, written) = shared(Duration::from_secs(3600));
        let line = vec![b'x'; 1024];
        for _ in 0..(LIMIT / line.len() + 1) {
            shared.push(&line, false);
        }
        assert_eq!(written.bytes().len(), LIMIT, "written without a flusher");
        assert_eq!(lock(&shared.pending).bytes.len(), 1024);
    }

    /// Waits until `written` ends with `tail`, failing after 10 s.
    fn wait_for(written: &Written, tail: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !written.bytes().ends_with(tail) {
            assert!(
                Instant::now() < deadline,
                "the flusher never wrote {tail:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_full_batch_and_a_warning_wake_the_flusher_before_its_interval() {
        let (shared, written) = shared(Duration::from_secs(3600));
        let flusher = Arc::clone(&shared);
        std::thread::spawn(move || flusher.run_flusher());
        let line = [b'x'; 1000];
        let mut pushed = 0;
        while pushed < WAKE_AT + line.len() {
            shared.push(&line, false);
            pushed += line.len();
        }
        wait_for(&written, &line);
        // A second batch: its first warning wakes the flusher once, and later warnings need no wake.
        let second: &[u8] = b"info\nwarn 1\nwarn 2\n";
        shared.push(b"info\n", false);
        shared.push(b"warn 1\n", true);
        shared.push(b"warn 2\n", true);
        wait_for(&written, second);
        assert_eq!(written.bytes().len(), pushed + second.len());
    }

    #[test]
    fn the_flusher_writes_each_batch_after_its_interval() {
        let (shared, written) = shared(Duration::from_millis(20));
        let flusher = Arc::clone(&shared);
        std::thread::spawn(move || flusher.run_flusher());
        for round in 0..3 {
            let line = format!("line {round}\n");
            shared.push(line.as_bytes(), false);
            wait_for(&written, line.as_bytes());
        }
        assert_eq!(written.bytes(), b"line 0\nline 1\nline 2\n");
    }
}
