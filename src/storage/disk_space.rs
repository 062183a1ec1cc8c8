//! The local disks the service writes to, and telling "out of space" apart from other store failures.
//!
//! With the embedded default (SQLite and a local files directory) a full disk refuses every write while
//! reads keep working. Two things follow:
//! - a write refused for lack of space is answered with a sentence that says so (503 for a board write,
//!   507 for an upload that does not fit, `Retry-After` on both) instead of "the database is unavailable";
//!   [`is_out_of_space`] recognises the cause, whichever layer (SQLite, the file system, PostgreSQL) saw it;
//! - `/health` reports each disk's free bytes and `full` status ([`DiskWatch`]), and turns `degraded`
//!   (still 200) while one is full. Readiness (`/health/ready`) does not fail on it: reads still work, and
//!   the instances of a fleet usually share the cause (one volume, one bucket), so taking them out of
//!   rotation would turn "no new writes" into "nothing at all" (docs/reliability.md, full disk).
//!
//! Nothing here keeps state: free space is asked of the kernel (`statvfs`) at each check, so the report
//! recovers the moment space is freed, without a restart.

use std::{
    error::Error,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use serde::Serialize;
use utoipa::ToSchema;

use crate::config::{DatabaseUrl, ObjectStoreUrl, Settings};

/// Below this many free bytes a disk is `full`: no SQLite commit or upload part reliably fits.
pub const FULL_BELOW_BYTES: u64 = 1024 * 1024;

/// Below this share of its size (and [`LOW_BELOW_BYTES`]) a disk is `low`.
const LOW_BELOW_FRACTION: f64 = 0.05;
/// A disk with at least this much free is never `low`, however large it is.
const LOW_BELOW_BYTES: u64 = 1024 * 1024 * 1024;

/// `ENOSPC` and `EDQUOT` on Linux.
const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

/// Whether `err` (or anything in its chain of causes) says the disk or quota is full.
pub fn is_out_of_space(err: &(dyn Error + 'static)) -> bool {
    std::iter::successors(Some(err), |e: &&(dyn Error + 'static)| (*e).source()).any(|cause| {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && (matches!(io.raw_os_error(), Some(ENOSPC | EDQUOT))
                || io.kind() == std::io::ErrorKind::StorageFull)
        {
            return true;
        }
        if cause
            .downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code)
            == Some(rusqlite::ErrorCode::DiskFull)
        {
            return true;
        }
        if let Some(sqlx::Error::Database(db)) = cause.downcast_ref::<sqlx::Error>()
            // SQLITE_FULL, and PostgreSQL's disk_full.
            && matches!(db.code().as_deref(), Some("13" | "53100"))
        {
            return true;
        }
        // Layers that keep only the text of the error they wrapped (a blocking task's error, an object
        // store's generic error) still carry the kernel's or SQLite's sentence.
        let text = cause.to_string();
        text.contains("No space left on device")
            || text.contains("database or disk is full")
            || text.contains("Disk quota exceeded")
    })
}

/// What one disk looks like now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiskReport {
    /// What the service keeps there: `database`, `files` or `upload spool`.
    #[schema(example = "database")]
    pub holds: String,
    /// The directory checked.
    #[schema(example = "data")]
    pub path: String,
    /// `ok`, `low` (under 5 % and under 1 GiB free) or `full` (under 1 MiB free: writes are refused).
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Bytes an unprivileged writer can still use.
    #[schema(example = 10_737_418_240_u64)]
    pub free_bytes: u64,
    /// The file system's size.
    #[schema(example = 21_474_836_480_u64)]
    pub total_bytes: u64,
}

/// The local directories the service writes to, checked on demand.
#[derive(Debug, Default)]
pub struct DiskWatch {
    dirs: Vec<(&'static str, PathBuf)>,
}

impl DiskWatch {
    /// The SQLite database's directory, the local files directory, and (for S3) the upload spool: the
    /// local disks this configuration writes to.
    pub fn from_settings(settings: &Settings) -> Self {
        let mut dirs = Vec::new();
        if let DatabaseUrl::Sqlite(sqlite) = &settings.database {
            dirs.push(("database", parent_dir(&sqlite.path)));
        }
        match &settings.files.objects {
            ObjectStoreUrl::File(dir) => dirs.push(("files", dir.clone())),
            ObjectStoreUrl::S3 { .. } => {
                dirs.push(("upload spool", settings.files.spool_dir.clone()))
            }
        }
        Self { dirs }
    }

    /// Each distinct file system's state (directories on one file system are reported once); an
    /// unreadable directory is left out (the store check reports a store that cannot work).
    pub async fn check(&self) -> Vec<DiskReport> {
        let dirs = self.dirs.clone();
        let reports = tokio::task::spawn_blocking(move || {
            let mut seen = Vec::new();
            let mut reports = Vec::new();
            for (holds, dir) in dirs {
                let Some((device, report)) = probe(holds, &dir) else {
                    continue;
                };
                if let Some(at) = seen.iter().position(|d| *d == device) {
                    let earlier: &mut DiskReport = &mut reports[at];
                    earlier.holds = format!("{}, {holds}", earlier.holds);
                    continue;
                }
                seen.push(device);
                reports.push(report);
            }
            reports
        })
        .await
        .unwrap_or_default();
        for report in &reports {
            metrics::gauge!("stratus_disk_free_bytes", "holds" => report.holds.clone())
                .set(report.free_bytes as f64);
        }
        reports
    }
}

fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

// The field types of `statvfs` differ between platforms; on this one some conversions are no-ops.
#[allow(clippy::useless_conversion)]
fn probe(holds: &'static str, dir: &Path) -> Option<(u64, DiskReport)> {
    let device = std::fs::metadata(dir).ok()?.dev();
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    let block = u64::from(stat.fragment_size());
    let free_bytes = u64::from(stat.blocks_available()).saturating_mul(block);
    let total_bytes = u64::from(stat.blocks()).saturating_mul(block);
    Some((
        device,
        DiskReport {
            holds: holds.to_owned(),
            path: dir.display().to_string(),
            status: status_of(free_bytes, total_bytes),
            free_bytes,
            total_bytes,
        },
    ))
}

fn status_of(free: u64, total: u64) -> &'static str {
    if free < FULL_BELOW_BYTES {
        "full"
    } else if free < LOW_BELOW_BYTES && (free as f64) < total as f64 * LOW_BELOW_FRACTION {
        "low"
    } else {
        "ok"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_out_of_space_however_deeply_wrapped() {
        let io = std::io::Error::from_raw_os_error(ENOSPC);
        let wrapped = anyhow::Error::new(io)
            .context("writing the part")
            .context("upload");
        assert!(is_out_of_space(wrapped.as_ref()));
        let other = anyhow::Error::new(std::io::Error::from_raw_os_error(13)).context("upload");
        assert!(!is_out_of_space(other.as_ref()));
    }

    #[test]
    fn sqlite_full_is_out_of_space() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert!(is_out_of_space(&full));
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(!is_out_of_space(&busy));
    }

    #[test]
    fn status_thresholds() {
        let gib = 1024 * 1024 * 1024;
        assert_eq!(status_of(0, gib), "full");
        assert_eq!(status_of(FULL_BELOW_BYTES - 1, gib), "full");
        assert_eq!(status_of(FULL_BELOW_BYTES, 100 * FULL_BELOW_BYTES), "low");
        assert_eq!(
            status_of(10 * FULL_BELOW_BYTES, 100 * FULL_BELOW_BYTES),
            "ok"
        );
        assert_eq!(
            status_of(2 * FULL_BELOW_BYTES, 100 * FULL_BELOW_BYTES),
            "low"
        );
        assert_eq!(status_of(2 * gib, 100 * gib), "ok");
    }

    #[tokio::test]
    async fn the_current_directory_is_reported_once() {
        let dir = std::env::temp_dir();
        let watch = DiskWatch {
            dirs: vec![("database", dir.clone()), ("files", dir)],
        };
        let reports = watch.check().await;
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].holds, "database, files");
        assert!(reports[0].total_bytes > 0);
    }
}
