//! `stratus files sweep`: reconcile the object store with the metadata.
//!
//! - An object with a file id for a key, older than `--older-than` (default 1 h) and without metadata is an
//!   orphan: an upload whose metadata write failed and whose clean-up failed too, or a process that died
//!   between the two writes. It is removed (listed only, with `--dry-run`). The age threshold keeps the
//!   sweep away from uploads still in progress: their object exists before their metadata does.
//! - Metadata whose object is missing is reported, never changed: only a person can say whether the bytes
//!   should be restored (from a bucket version) or the record deleted.
//! - Keys that are not file ids were not written by this service and are reported, never touched.
//!
//! Objects are listed once (a LIST of the prefix); metadata is read through the paged listing (on DynamoDB
//! a `Query` of the index, not a `Scan`). The sweep runs beside serving instances; it changes nothing they
//! rely on.

use std::{collections::HashSet, time::Duration};

use futures_util::TryStreamExt as _;
use time::OffsetDateTime;

use super::{FileId, Files, ListedObject, Objects};
use crate::{
    storage::StoreError,
    storage::{PageLimit, PageRequest},
};

/// What a sweep found and did.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// Objects looked at.
    pub objects_seen: usize,
    /// Orphan objects older than the threshold (removed unless it was a dry run).
    pub orphans: Vec<ListedObject>,
    /// Orphans actually removed.
    pub removed: usize,
    /// Metadata records looked at.
    pub records_seen: usize,
    /// Records whose object is missing.
    pub missing_objects: Vec<FileId>,
    /// Keys under the prefix that are not file ids.
    pub foreign_keys: Vec<String>,
}

/// Runs one sweep.
pub async fn sweep(
    files: &Files,
    older_than: Duration,
    dry_run: bool,
) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    let cutoff = OffsetDateTime::now_utc() - older_than;
    let mut present: HashSet<FileId> = HashSet::new();
    let mut listed = files.objects.list();
    while let Some(object) = listed.try_next().await? {
        report.objects_seen += 1;
        let Some(id) = object.id else {
            report.foreign_keys.push(object.key.clone());
            continue;
        };
        present.insert(id);
        if object.last_modified > cutoff || files.metadata.get(id).await?.is_some() {
            continue;
        }
        if !dry_run {
            files.objects.delete_key(&Objects::path_of(&object)).await?;
            report.removed += 1;
            tracing::info!(file_id = %id, key = %object.key, "removed an orphan object");
        }
        report.orphans.push(object);
    }
    let mut page = PageRequest {
        limit: PageLimit::parse("100").unwrap_or_default(),
        cursor: None,
    };
    loop {
        let records = files.metadata.list(None, &page).await?;
        for record in &records.items {
            report.records_seen += 1;
            // An upload that finished after the object listing is not missing: ask the store itself.
            if !present.contains(&record.id) && !files.objects.exists(record.id).await? {
                report.missing_objects.push(record.id);
            }
        }
        match records.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    Ok(report)
}

impl SweepReport {
    /// The report as lines for a person (and a log scraper): one per finding, then a summary.
    pub fn lines(&self, dry_run: bool) -> Vec<String> {
        let mut lines = Vec::new();
        for orphan in &self.orphans {
            lines.push(format!(
                "orphan object {} ({} bytes, last modified {}): {}",
                orphan.key,
                orphan.size,
                crate::time::format_timestamp(orphan.last_modified),
                if dry_run {
                    "would be removed"
                } else {
                    "removed"
                }
            ));
        }
        for id in &self.missing_objects {
            lines.push(format!(
                "metadata without an object: file {id} (left as it is)"
            ));
        }
        for key in &self.foreign_keys {
            lines.push(format!("not a file id, left alone: {key}"));
        }
        lines.push(format!(
            "sweep{}: {} objects and {} metadata records checked; {} orphan objects {}; {} records without an object",
            if dry_run { " (dry run)" } else { "" },
            self.objects_seen,
            self.records_seen,
            self.orphans.len(),
            if dry_run { "found" } else { "removed" },
            self.missing_objects.len()
        ));
        lines
    }
}
