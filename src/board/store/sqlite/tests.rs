//! Unit tests of `sqlite`.

use time::UtcOffset;

use super::*;

fn settings(dir: &tempfile::TempDir) -> SqliteSettings {
    SqliteSettings {
        path: dir.path().join("stratus.db"),
        read_connections: 4,
        statement_timeout: Duration::from_secs(10),
        migrate_on_start: true,
    }
}

#[tokio::test]
async fn without_migrate_on_start_an_unmigrated_file_is_refused_and_a_migrated_one_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let checked = SqliteSettings {
        migrate_on_start: false,
        ..settings(&dir)
    };
    let err = SqliteStore::open(&checked, Role::Serve)
        .await
        .err()
        .map(|err| format!("{err:#}"))
        .unwrap_or_default();
    assert!(
        err.contains("no migrations applied") && err.contains("run `stratus migrate` first"),
        "{err}"
    );
    SqliteStore::migrate_only(&checked)
        .await
        .expect("migrate applies the migrations whatever STRATUS_MIGRATE_ON_START says");
    let store = SqliteStore::open(&checked, Role::Serve)
        .await
        .expect("a migrated file opens without migrating");
    store.close().await;
}

async fn open(dir: &tempfile::TempDir, role: Role) -> SqliteStore {
    SqliteStore::open(&settings(dir), role)
        .await
        .unwrap_or_else(|err| panic!("store opens: {err:#}"))
}

fn submission(user: &str, digits: &str) -> Submission {
    let parse = || -> anyhow::Result<Submission> {
        Ok(Submission::new(
            Username::parse(user)?,
            EightDigits::parse(digits)?,
        ))
    };
    parse().unwrap_or_else(|err| panic!("test submission: {err:#}"))
}

/// What the file holds, read by a maintenance store (which keeps nothing in memory).
async fn latest_in_file(dir: &tempfile::TempDir) -> Option<Submission> {
    let file = open(dir, Role::Maintain).await;
    let latest = file.latest_submission().await.ok().flatten();
    file.close().await;
    latest
}

#[tokio::test]
async fn one_process_serves_a_file_and_maintenance_runs_beside_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serving = open(&dir, Role::Serve).await;
    let refused = SqliteStore::open(&settings(&dir), Role::Serve)
        .await
        .err()
        .map(|err| format!("{err:#}"))
        .unwrap_or_default();
    assert!(
        refused.contains("another Stratus process is serving the SQLite database")
            && refused.contains("use PostgreSQL"),
        "{refused}"
    );
    let maintenance = open(&dir, Role::Maintain).await;
    assert_eq!(maintenance.latest_submission().await.ok(), Some(None));
    maintenance.close().await;

    serving.close().await;
    drop(serving);
    let next = open(&dir, Role::Serve).await;
    next.close().await;
}

#[tokio::test]
async fn the_latest_in_memory_is_what_the_file_holds_after_concurrent_inserts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(open(&dir, Role::Serve).await);
    assert_eq!(store.latest_submission().await.ok(), Some(None));
    // Concurrent inserts commit in groups; the newest row of the file is the last of the last group.
    let inserts = (0..200).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let s = submission(&format!("user{}", i % 7), &format!("{i:08}"));
            store.insert_submission(&s).await.map(|()| s)
        })
    });
    let mut acknowledged = Vec::new();
    for insert in futures::future::join_all(inserts).await {
        if let Ok(Ok(s)) = insert {
            acknowledged.push(s);
        }
    }
    assert_eq!(acknowledged.len(), 200);
    let cached = store.latest_submission().await.ok().flatten();
    assert!(cached.is_some());
    assert_eq!(cached, latest_in_file(&dir).await);

    // A timestamp finer than the file keeps, at another offset: the memory holds it as the file does.
    let mut odd = submission("ada", "12345678");
    odd.created_at = odd
        .created_at
        .replace_nanosecond(123_456_789)
        .map(|t| t.to_offset(UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC)))
        .unwrap_or(odd.created_at);
    assert!(store.insert_submission(&odd).await.is_ok());
    let cached = store.latest_submission().await.ok().flatten();
    assert_eq!(cached, latest_in_file(&dir).await);
    assert_eq!(cached.map(|s| s.id), Some(odd.id));
    store.close().await;
}

#[tokio::test]
async fn a_failed_insert_leaves_the_latest_correct() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(open(&dir, Role::Serve).await);
    let first = submission("ada", "11111111");
    assert!(store.insert_submission(&first).await.is_ok());
    // The same id again breaks the primary key: refused alone, and in a group beside good inserts.
    assert!(store.insert_submission(&first).await.is_err());
    assert_eq!(
        store.latest_submission().await.ok(),
        Some(Some(first.clone()))
    );
    let good = submission("grace", "22222222");
    let (dup, ok) = tokio::join!(
        store.insert_submission(&first),
        store.insert_submission(&good)
    );
    assert!(dup.is_err());
    assert!(ok.is_ok());
    assert_eq!(store.latest_submission().await.ok(), Some(Some(good)));
    assert_eq!(
        store.latest_submission().await.ok().flatten(),
        latest_in_file(&dir).await
    );
    store.close().await;
}

fn views(store: &SqliteStore) -> WriterQueue {
    store
        .view_queue()
        .unwrap_or_else(|| panic!("the SQLite store counts views itself"))
}

/// The whole cause chain of a store call's error; empty when it succeeded.
fn error_text<T>(result: Result<T, StoreError>) -> String {
    result
        .err()
        .map(|err| format!("{:#}", anyhow::Error::from(err)))
        .unwrap_or_default()
}

/// The visit count in the file, read by a maintenance store.
async fn count_in_file(dir: &tempfile::TempDir) -> Option<u64> {
    let file = open(dir, Role::Maintain).await;
    let count = file.visit_count().await.ok();
    file.close().await;
    count
}

/// Holds SQLite's write lock from another connection while `queue` runs and for 200 ms after, so
/// that what `queue` sends the writer waits and then commits as one group (the first write it takes
/// may commit alone; `queue` should start with one that does not matter).
async fn with_writer_blocked<T>(dir: &tempfile::TempDir, queue: impl Future<Output = T>) -> T {
    let blocker = rusqlite::Connection::open(settings(dir).path).expect("blocker opens");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("blocker takes the write lock");
    let release = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        blocker.execute_batch("COMMIT").expect("blocker lets go");
    };
    let (out, ()) = tokio::join!(queue, release);
    out
}

#[tokio::test]
async fn views_are_numbered_exactly_durably_and_show_the_newest_submission() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(open(&dir, Role::Serve).await);
    let first = views(&store)
        .view()
        .await
        .expect("a view before any submission");
    assert_eq!((first.number, first.latest), (1, None));

    // Views and inserts at once: every view gets its own number, with no gap.
    let tasks = (0..300).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            if i % 15 == 0 {
                let s = submission("ada", &format!("{i:08}"));
                store.insert_submission(&s).await.map(|()| None)
            } else {
                views(&store).view().await.map(|visit| Some(visit.number))
            }
        })
    });
    let mut numbers = Vec::new();
    for task in futures::future::join_all(tasks).await {
        match task {
            Ok(Ok(Some(number))) => numbers.push(number),
            Ok(Ok(None)) => {}
            other => panic!("every write succeeds: {other:?}"),
        }
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (2..=281).collect::<Vec<u64>>());

    // A view after an acknowledged insert shows it (as it reads back from the file).
    let newest = submission("grace", "87654321");
    assert!(store.insert_submission(&newest).await.is_ok());
    let seen = views(&store).view().await.expect("a view").latest;
    assert_eq!(seen.as_deref().map(|s| s.id), Some(newest.id));
    assert_eq!(seen.as_deref().cloned(), latest_in_file(&dir).await);
    store.close().await;
    drop(store);
    assert_eq!(count_in_file(&dir).await, Some(282));
}

#[tokio::test]
async fn views_in_a_group_with_a_failing_insert_are_counted_and_the_good_insert_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(open(&dir, Role::Serve).await);
    let first = submission("ada", "11111111");
    assert!(store.insert_submission(&first).await.is_ok());
    let good = submission("grace", "22222222");
    let queue = views(&store);
    let (_, dup, view_a, ok, view_b) = with_writer_blocked(&dir, async {
        tokio::join!(
            store.add_visits(0),
            store.insert_submission(&first),
            queue.view(),
            store.insert_submission(&good),
            queue.view(),
        )
    })
    .await;
    let refused = error_text(dup);
    assert!(refused.contains("UNIQUE"), "{refused}");
    assert!(ok.is_ok());
    let (a, b) = (view_a.expect("view a"), view_b.expect("view b"));
    assert_eq!((a.number, b.number), (1, 2));
    // Written one by one after the group failed: each view shows what had committed before it.
    assert_eq!(a.latest.as_deref().map(|s| s.id), Some(first.id));
    assert_eq!(b.latest.as_deref().map(|s| s.id), Some(good.id));
    assert_eq!(store.latest_submission().await.ok(), Some(Some(good)));
    store.close().await;
    drop(store);
    assert_eq!(count_in_file(&dir).await, Some(2));
}

#[tokio::test]
async fn a_group_of_views_commits_as_one_and_closing_makes_what_was_queued() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(open(&dir, Role::Serve).await);
    let queue = views(&store);
    let (_, a, b, c, ()) = with_writer_blocked(&dir, async {
        tokio::join!(
            store.add_visits(0),
            queue.view(),
            queue.view(),
            queue.view(),
            store.close()
        )
    })
    .await;
    let numbers = [a, b, c].map(|v| v.map(|v| v.number).ok());
    assert_eq!(numbers, [Some(1), Some(2), Some(3)]);
    let after = error_text(queue.view().await);
    assert!(after.contains("the SQLite writer has stopped"), "{after}");
    drop(store);
    assert_eq!(count_in_file(&dir).await, Some(3));
}

#[test]
fn a_read_that_raced_a_commit_never_replaces_the_newer_row() {
    let cache = LatestCache::default();
    let older = submission("ada", "11111111");
    let newer = submission("grace", "22222222");
    let Lookup::Unknown(before) = cache.lookup() else {
        panic!("nothing is known at start")
    };
    // A commit lands while a read of the file (which found `older`) is running.
    cache.committed(std::iter::once(&Write::Insert(Box::new(newer.clone()))));
    cache.fill(before, Some(&older));
    assert!(matches!(cache.lookup(), Lookup::Known(Some(s)) if s == newer));

    // After a failed write nothing is known; a read after it fills the cache.
    cache.forget();
    let Lookup::Unknown(after) = cache.lookup() else {
        panic!("a failed write empties the cache")
    };
    cache.fill(after, Some(&older));
    assert!(matches!(cache.lookup(), Lookup::Known(Some(s)) if s == older));
    // Visits alone change nothing.
    cache.committed([Write::AddVisits(3), Write::View].iter());
    assert!(matches!(cache.lookup(), Lookup::Known(Some(s)) if s == older));
}
