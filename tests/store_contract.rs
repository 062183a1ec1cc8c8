//! The `Store` contract, one suite run unchanged against SQLite, PostgreSQL and DynamoDB.
//!
//! Each check is an `async fn(Arc<dyn Store>)` in `checks`; `contract!` makes one test per check per
//! backend (`sqlite::history_is_newest_first_and_pages_without_gaps`, `postgres::...`, `dynamodb::...`).
//! Every test gets its own store (a temporary SQLite file, a UUID-named PostgreSQL database, a UUID-named
//! DynamoDB table), opened through the production path (`storage::open` with settings parsed from flags)
//! and removed afterwards, also when the check fails.
//!
//! PostgreSQL and moto come from `scripts/test-services.sh`; without them the tests fail, never skip.

#[path = "contract/support.rs"]
mod support;

use std::{collections::BTreeSet, future::Future, sync::Arc};

use stratus::{
    board::{EightDigits, Store, Submission, SubmissionId, Username, VisitCounter},
    storage::{self, Cursor, Page, PageLimit, PageRequest, StoreError},
};
use support::{DynamoTable, PgDatabase, settings};
use time::{Duration, OffsetDateTime, macros::datetime};

/// A store error with its causes, for failure messages.
fn chain(err: &StoreError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
    DynamoDb,
}

/// What to remove after the test.
enum Fixture {
    Sqlite(tempfile::TempDir),
    Postgres(PgDatabase),
    DynamoDb(DynamoTable),
}

async fn open(backend: Backend) -> (Arc<dyn Store>, Fixture) {
    let (flag, url, extra, fixture) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("stratus.db").display());
            ("--database-url", url, vec![], Fixture::Sqlite(dir))
        }
        Backend::Postgres => {
            let db = PgDatabase::create().await;
            (
                "--database-url",
                db.url("sslmode=require"),
                vec!["--database-pool-size", "16"],
                Fixture::Postgres(db),
            )
        }
        Backend::DynamoDb => {
            let table = DynamoTable::new();
            (
                "--board-url",
                format!("dynamodb://{}", table.name),
                vec!["--create-tables", "true"],
                Fixture::DynamoDb(table),
            )
        }
    };
    // Generous deadlines: these tests check behaviour, not latency, and moto answers one request at a time,
    // so under a parallel test run a call may queue for seconds.
    let mut args = vec![
        flag,
        url.as_str(),
        "--database-connect-timeout",
        "30s",
        "--database-statement-timeout",
        "30s",
        "--request-timeout",
        "60s",
    ];
    args.extend(extra);
    let settings = settings(&args);
    let store = storage::open(
        &settings.database,
        settings.board.as_ref(),
        storage::Role::Serve,
    )
    .await
    .unwrap_or_else(|err| panic!("{backend:?} store opens: {err:#}"))
    .board;
    store
        .ping()
        .await
        .unwrap_or_else(|err| panic!("{backend:?} store is set up at once: {}", chain(&err)));
    (store, fixture)
}

/// Runs one check on a fresh store, then removes the store, whether the check passed or not.
async fn run<F, Fut>(backend: Backend, check: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (store, fixture) = open(backend).await;
    let outcome = tokio::spawn(check(Arc::clone(&store))).await;
    store.close().await;
    match fixture {
        Fixture::Sqlite(dir) => drop(dir),
        Fixture::Postgres(db) => db.drop_now().await,
        Fixture::DynamoDb(table) => table.delete_now().await,
    }
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

fn username(raw: &str) -> Username {
    Username::parse(raw).unwrap_or_else(|err| panic!("{raw:?}: {err}"))
}

fn number(raw: &str) -> EightDigits {
    EightDigits::parse(raw).unwrap_or_else(|err| panic!("{raw:?}: {err}"))
}

fn submission_at(user: &str, digits: &str, at: OffsetDateTime) -> Submission {
    Submission {
        id: SubmissionId::generate(),
        username: username(user),
        number: number(digits),
        created_at: at,
    }
}

const T0: OffsetDateTime = datetime!(2026-11-23 10:30:00.123456 UTC);

async fn insert(store: &Arc<dyn Store>, submission: &Submission) {
    store
        .insert_submission(submission)
        .await
        .unwrap_or_else(|err| panic!("insert {}: {}", submission.id, chain(&err)));
}

async fn page(
    store: &Arc<dyn Store>,
    user: &Username,
    limit: &str,
    cursor: Option<Cursor>,
) -> Page<Submission> {
    let request = PageRequest {
        limit: PageLimit::parse(limit).expect("valid limit"),
        cursor,
    };
    store
        .submissions_by_user(user, &request)
        .await
        .unwrap_or_else(|err| panic!("history of {user}: {}", chain(&err)))
}

/// Every page of a user's history, following cursors (bounded, so a cursor loop fails instead of hanging).
async fn whole_history(store: &Arc<dyn Store>, user: &Username, limit: &str) -> Vec<Submission> {
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let page = page(store, user, limit, cursor).await;
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => {
                cursor = Some(Cursor::parse(next.as_str()).expect("cursors are URL-safe tokens"))
            }
            None => return all,
        }
    }
    panic!("history of {user} did not end after 1000 pages");
}

mod checks {
    use super::*;

    pub(crate) async fn an_empty_store_has_no_latest_and_no_visits(store: Arc<dyn Store>) {
        assert_eq!(store.latest_submission().await.ok(), Some(None));
        assert_eq!(store.visit_count().await.ok(), Some(0));
        assert_eq!(
            store.submission(SubmissionId::generate()).await.ok(),
            Some(None)
        );
        let empty = page(&store, &username("nobody"), "20", None).await;
        assert!(empty.items.is_empty());
        assert!(empty.next_cursor.is_none());
    }

    pub(crate) async fn a_submission_reads_back_identically_as_latest_and_by_id(
        store: Arc<dyn Store>,
    ) {
        let stored = submission_at("ada", "00012345", T0);
        insert(&store, &stored).await;
        assert_eq!(
            store.latest_submission().await.ok(),
            Some(Some(stored.clone()))
        );
        assert_eq!(
            store.submission(stored.id).await.ok(),
            Some(Some(stored.clone()))
        );
        // Microseconds survive, and so do leading zeros.
        let read = store
            .submission(stored.id)
            .await
            .ok()
            .flatten()
            .expect("stored");
        assert_eq!(read.created_at.microsecond(), 123_456);
        assert_eq!(read.number.as_str(), "00012345");
    }

    pub(crate) async fn counting_visits_reads_the_latest_submission_with_them(
        store: Arc<dyn Store>,
    ) {
        let counted = |n| {
            let store = Arc::clone(&store);
            async move {
                store
                    .add_visits_and_read_latest(n)
                    .await
                    .unwrap_or_else(|err| panic!("add_visits_and_read_latest: {}", chain(&err)))
            }
        };
        assert_eq!(counted(3).await, (3, None), "an empty store");
        let first = submission_at("ada", "00000001", T0);
        insert(&store, &first).await;
        assert_eq!(counted(1).await, (4, Some(first.clone())));
        let second = submission_at("grace", "00000002", T0 + Duration::milliseconds(1));
        insert(&store, &second).await;
        assert_eq!(counted(10).await, (14, Some(second.clone())));
        assert_eq!(store.visit_count().await.ok(), Some(14));
        // Through the batching counter the page uses: every view sees the submission acknowledged before it.
        let (counter, writer) = VisitCounter::spawn(Arc::clone(&store));
        let visit = counter
            .record()
            .await
            .unwrap_or_else(|err| panic!("record: {}", chain(&err)));
        assert_eq!(visit.number, 15);
        assert_eq!(visit.latest.as_deref(), Some(&second));
        let third = submission_at("linus", "00000003", T0 + Duration::milliseconds(2));
        insert(&store, &third).await;
        let views: Vec<_> = (0..50)
            .map(|_| {
                let counter = counter.clone();
                tokio::spawn(async move { counter.record().await })
            })
            .collect();
        for view in views {
            let visit = view
                .await
                .expect("task runs")
                .unwrap_or_else(|err| panic!("record: {}", chain(&err)));
            assert_eq!(visit.latest.as_deref(), Some(&third));
        }
        drop(counter);
        writer.await.expect("the visit writer stops");
        assert_eq!(store.visit_count().await.ok(), Some(65));
    }

    pub(crate) async fn latest_follows_the_newest_submission_of_anyone(store: Arc<dyn Store>) {
        let mut last = None;
        for (i, user) in ["ada", "grace", "ada", "linus"].into_iter().enumerate() {
            let s = submission_at(user, "12345678", T0 + Duration::milliseconds(i as i64));
            insert(&store, &s).await;
            assert_eq!(store.latest_submission().await.ok(), Some(Some(s.clone())));
            last = Some(s);
        }
        assert!(last.is_some());
    }

    pub(crate) async fn history_is_newest_first_and_pages_without_gaps(store: Arc<dyn Store>) {
        let ada = username("ada");
        let mut mine = Vec::new();
        for i in 0..7 {
            let s = submission_at("ada", &format!("{i:08}"), T0 + Duration::seconds(i));
            insert(&store, &s).await;
            mine.push(s);
            // Someone else's submissions in between must not show up.
            insert(
                &store,
                &submission_at("grace", "99999999", T0 + Duration::seconds(i)),
            )
            .await;
        }
        mine.reverse();
        let first = page(&store, &ada, "3", None).await;
        assert_eq!(first.items, mine[..3].to_vec());
        let cursor = first.next_cursor.expect("a second page exists");
        // Cursors survive the trip through a URL and back.
        let cursor = Cursor::parse(cursor.as_str()).expect("a cursor is a URL-safe token");
        let second = page(&store, &ada, "3", Some(cursor)).await;
        assert_eq!(second.items, mine[3..6].to_vec());
        let third = page(&store, &ada, "3", second.next_cursor).await;
        assert_eq!(third.items, mine[6..].to_vec());
        assert!(third.next_cursor.is_none(), "the last page has no cursor");
        // A page that ends exactly at the last item has no cursor either.
        let exact = page(&store, &ada, "7", None).await;
        assert_eq!(exact.items, mine);
        assert!(exact.next_cursor.is_none());
        assert_eq!(whole_history(&store, &ada, "1").await, mine);
    }

    pub(crate) async fn a_cursor_this_store_did_not_write_is_refused(store: Arc<dyn Store>) {
        insert(&store, &submission_at("ada", "12345678", T0)).await;
        for junk in [
            "bm90LWEtY3Vyc29y",
            "c3FsaXRlOjA",
            "cG9zdGdyZXM6LTE",
            "AAAA",
            "x",
        ] {
            let cursor = Cursor::parse(junk).expect("plausible token");
            let request = PageRequest {
                limit: PageLimit::DEFAULT,
                cursor: Some(cursor),
            };
            let result = store.submissions_by_user(&username("ada"), &request).await;
            assert!(
                matches!(result, Err(StoreError::InvalidCursor)),
                "{junk}: {result:?}"
            );
        }
    }

    pub(crate) async fn unicode_and_64_character_usernames_round_trip(store: Arc<dyn Store>) {
        let names = [
            "Zoë 🚀 ユーザー".to_owned(),
            "עברית ومرحبا".to_owned(),
            "<script>alert(1)</script>' OR 1=1 --".to_owned(),
            "é".repeat(64),
            "🦀".repeat(64),
            "a".repeat(64),
        ];
        for (i, name) in names.iter().enumerate() {
            let s = submission_at(name, "01234567", T0 + Duration::milliseconds(i as i64));
            insert(&store, &s).await;
            assert_eq!(
                store.submission(s.id).await.ok(),
                Some(Some(s.clone())),
                "{name}"
            );
            assert_eq!(
                store.latest_submission().await.ok(),
                Some(Some(s.clone())),
                "{name}"
            );
            let history = page(&store, &username(name), "20", None).await;
            assert_eq!(history.items, vec![s.clone()], "{name}");
        }
        // A name that is a prefix of another is a different user.
        let history = page(&store, &username(&"a".repeat(63)), "20", None).await;
        assert!(history.items.is_empty());
    }

    pub(crate) async fn two_submissions_in_the_same_instant_are_both_kept(store: Arc<dyn Store>) {
        let a = submission_at("ada", "11111111", T0);
        let b = submission_at("ada", "22222222", T0);
        insert(&store, &a).await;
        insert(&store, &b).await;
        let history = page(&store, &username("ada"), "20", None).await;
        let ids: BTreeSet<String> = history.items.iter().map(|s| s.id.to_string()).collect();
        assert_eq!(ids, BTreeSet::from([a.id.to_string(), b.id.to_string()]));
        assert_eq!(store.submission(a.id).await.ok(), Some(Some(a)));
        assert_eq!(store.submission(b.id).await.ok(), Some(Some(b)));
    }

    pub(crate) async fn the_counter_is_exact_under_400_concurrent_increments(
        store: Arc<dyn Store>,
    ) {
        let tasks: Vec<_> = (0..400)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.add_visits(1).await })
            })
            .collect();
        let mut totals = BTreeSet::new();
        for task in tasks {
            let total = task
                .await
                .expect("task runs")
                .unwrap_or_else(|err| panic!("add_visits: {}", chain(&err)));
            assert!(totals.insert(total), "total {total} returned twice");
        }
        assert_eq!(totals, (1..=400).collect::<BTreeSet<u64>>());
        assert_eq!(store.visit_count().await.ok(), Some(400));
        // Batches add up too.
        assert_eq!(store.add_visits(100).await.ok(), Some(500));
        // And through the batching counter the board uses: 400 visits at once, each a distinct position.
        let (counter, writer) = VisitCounter::spawn(Arc::clone(&store));
        let visits: Vec<_> = (0..400)
            .map(|_| {
                let counter = counter.clone();
                tokio::spawn(async move { counter.record().await })
            })
            .collect();
        let mut positions = BTreeSet::new();
        for visit in visits {
            let position = visit
                .await
                .expect("task runs")
                .unwrap_or_else(|err| panic!("record: {}", chain(&err)))
                .number;
            assert!(positions.insert(position));
        }
        drop(counter);
        writer.await.expect("the visit writer stops");
        assert_eq!(positions, (501..=900).collect::<BTreeSet<u64>>());
        assert_eq!(store.visit_count().await.ok(), Some(900));
    }

    pub(crate) async fn every_acknowledged_concurrent_write_is_present(store: Arc<dyn Store>) {
        let users = ["ada", "grace", "linus", "zoë", "ユーザー"];
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let store = Arc::clone(&store);
                let s =
                    Submission::new(username(users[i % users.len()]), number(&format!("{i:08}")));
                tokio::spawn(async move { store.insert_submission(&s).await.map(|()| s) })
            })
            .collect();
        let mut acknowledged = Vec::new();
        for task in tasks {
            acknowledged.push(
                task.await
                    .expect("task runs")
                    .unwrap_or_else(|err| panic!("insert: {}", chain(&err))),
            );
        }
        for s in &acknowledged {
            assert_eq!(
                store.submission(s.id).await.ok(),
                Some(Some(s.clone())),
                "{}",
                s.id
            );
        }
        for user in users {
            let user = username(user);
            let history = whole_history(&store, &user, "7").await;
            let expected: BTreeSet<String> = acknowledged
                .iter()
                .filter(|s| s.username == user)
                .map(|s| s.id.to_string())
                .collect();
            let found: BTreeSet<String> = history.iter().map(|s| s.id.to_string()).collect();
            assert_eq!(found, expected, "history of {user}");
            assert_eq!(
                history.len(),
                expected.len(),
                "no duplicates in the history of {user}"
            );
        }
        let latest = store
            .latest_submission()
            .await
            .ok()
            .flatten()
            .expect("a latest submission");
        assert!(acknowledged.contains(&latest));
    }
}

macro_rules! suite {
    ($module:ident, $backend:expr, [$($check:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    crate::run($backend, crate::checks::$check).await;
                }
            )*
        }
    };
}

macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        suite!(sqlite, crate::Backend::Sqlite, [$($check),*]);
        suite!(postgres, crate::Backend::Postgres, [$($check),*]);
        suite!(dynamodb, crate::Backend::DynamoDb, [$($check),*]);
    };
}

contract!(
    an_empty_store_has_no_latest_and_no_visits,
    a_submission_reads_back_identically_as_latest_and_by_id,
    counting_visits_reads_the_latest_submission_with_them,
    latest_follows_the_newest_submission_of_anyone,
    history_is_newest_first_and_pages_without_gaps,
    a_cursor_this_store_did_not_write_is_refused,
    unicode_and_64_character_usernames_round_trip,
    two_submissions_in_the_same_instant_are_both_kept,
    the_counter_is_exact_under_400_concurrent_increments,
    every_acknowledged_concurrent_write_is_present,
);
