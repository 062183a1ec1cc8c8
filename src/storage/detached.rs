//! Store calls that a caller's cancellation cannot cut in half, and writes whose answer is never a lie.
//!
//! A request that times out (or whose client goes away) drops its future. If that future was inside a
//! store call, the call is cancelled wherever it was: sqlx 0.8's pool is not cancel-safe while acquiring
//! a connection, and the fault tests saw a pool stop handing out connections for good after a burst of
//! request timeouts, while PostgreSQL showed them idle. Here every call runs in its own task: the caller
//! may stop waiting, the call itself finishes (each store bounds its calls with its own deadline, so these
//! tasks cannot pile up). An insert that only queues its row for the store's own writer (a task on
//! PostgreSQL, a thread on SQLite: `Store::inserts_queued`) needs no task: dropping it cannot interrupt the writer, so it runs on the
//! caller's task with the same protocol ([`queued`]).
//!
//! A write must not be answered 503 and be made anyway. Each detached call shares a small state machine
//! with its caller:
//!
//! - the store calls [`claim_write`] once it holds its connection, just before the statement that writes;
//! - the caller, when the request's deadline ([`with_deadline`]) passes or its future is dropped, tries to
//!   give up.
//!
//! Exactly one of the two wins. If the caller gave up first, the write is skipped (the client was told 503
//! and nothing was written). If the write was claimed first, the caller keeps waiting past the deadline for
//! the statement's outcome (bounded by the statement timeout), so the client hears what really happened.
//! The request's outer timeout leaves room for that (see `http::Limits::write_grace`).

use std::sync::{
    Arc,
    atomic::{AtomicU8, Ordering},
};

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Page, PageRequest, StoreError, failures::counted};
use crate::board::{Store, Submission, SubmissionId, Username};

/// Wraps a store so that each call runs to completion in its own task.
#[derive(Debug)]
pub struct Detached(Arc<dyn Store>);

impl Detached {
    /// Wraps `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self(store)
    }
}

const WAITING: u8 = 0;
const GAVE_UP: u8 = 1;
const CLAIMED: u8 = 2;

/// What the caller and the call of one detached call agree on.
#[derive(Debug)]
pub(crate) struct CallState(AtomicU8);

impl CallState {
    fn new() -> Self {
        Self(AtomicU8::new(WAITING))
    }

    /// The call is about to write: true when the caller still waits (and now will wait for the outcome).
    pub(crate) fn claim(&self) -> bool {
        match self
            .0
            .compare_exchange(WAITING, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == CLAIMED,
        }
    }

    /// The caller stops waiting: true when no write was claimed (so none will be made).
    fn give_up(&self) -> bool {
        match self
            .0
            .compare_exchange(WAITING, GAVE_UP, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == GAVE_UP,
        }
    }
}

tokio::task_local! {
    /// The state shared with the caller of the current detached call.
    static CALL: Arc<CallState>;
    /// When the current request must be answered.
    static DEADLINE: Instant;
}

/// The current detached call's state, to hand to another task that makes its write (the SQLite writer).
pub(crate) fn current_call() -> Option<Arc<CallState>> {
    CALL.try_with(Arc::clone).ok()
}

/// Called by a store just before the statement that writes: true when the write may go ahead, and from
/// then on the caller waits for its outcome. False when the caller has given up (it was answered 503):
/// the store must then not write. Always true outside a detached call.
pub(crate) fn claim_write() -> bool {
    CALL.try_with(|call| call.claim()).unwrap_or(true)
}

/// A writer's [`claim_write`] for a write queued by another task: true when the write may go ahead,
/// that is, its caller still waits for the reply and, if it came from a detached call
/// ([`current_call`] when it was queued), has not given up; from then on that caller waits for the outcome.
pub(crate) fn claim_queued<T>(
    reply: &tokio::sync::oneshot::Sender<T>,
    call: Option<&Arc<CallState>>,
) -> bool {
    !reply.is_closed() && call.is_none_or(|call| call.claim())
}

/// Runs `request` with a deadline for its store calls: a call that has not claimed its write by then
/// answers `Unavailable`.
pub async fn with_deadline<F: Future>(deadline: Instant, request: F) -> F::Output {
    DEADLINE.scope(deadline, request).await
}

/// Gives up on drop unless the call finished: a dropped caller (client gone, outer timeout) never has
/// an unclaimed write made after it left.
struct Caller(Arc<CallState>);

impl Drop for Caller {
    fn drop(&mut self) {
        self.0.give_up();
    }
}

/// Runs `call` on its own task and waits for it, until the request's deadline unless the call has
/// claimed its write.
pub(crate) async fn detach<T, Fut>(call: Fut) -> Result<T, StoreError>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let state = Arc::new(CallState::new());
    let caller = Caller(Arc::clone(&state));
    let call = CALL.scope(state, call);
    // The call's log lines (a failed statement's warning) still name the request they belong to.
    let task = match crate::telemetry::request::with_current(Clone::clone) {
        Some(request) => tokio::spawn(crate::telemetry::request::scope(request, call)),
        None => tokio::spawn(call),
    };
    until_deadline_unless_claimed(caller, task)
        .await?
        .map_err(|err| {
            StoreError::unavailable(anyhow::Error::new(err).context("a store call panicked"))
        })?
}

/// [`detach`]'s protocol on the caller's own task, for a call that only queues its write for a writer
/// task and waits for the answer (`Store::inserts_queued`). Dropping such a call cannot cut a write in
/// half: the queued write is the writer's, which skips it unless claimed, so a task of its own would only
/// add a spawn and a hand-off to every write.
pub(crate) async fn queued<T>(
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let state = Arc::new(CallState::new());
    let caller = Caller(Arc::clone(&state));
    until_deadline_unless_claimed(caller, CALL.scope(state, call)).await?
}

/// Waits for `call` until the request's deadline, and past it only if the call has claimed its write.
async fn until_deadline_unless_claimed<R>(
    caller: Caller,
    call: impl Future<Output = R>,
) -> Result<R, StoreError> {
    let mut call = std::pin::pin!(call);
    let finished = match DEADLINE.try_with(|deadline| *deadline).ok() {
        None => call.await,
        Some(deadline) => {
            tokio::select! {
                finished = &mut call => finished,
                () = tokio::time::sleep_until(deadline) => {
                    if caller.0.give_up() {
                        // The same outcome as the outer timeout: the request took too long.
                        crate::telemetry::count_load_shed("timeout");
                        return Err(StoreError::unavailable(anyhow::anyhow!(
                            "the request's deadline passed before the store answered"
                        )));
                    }
                    // The write has started: its outcome, not a guess, is the answer.
                    call.await
                }
            }
        }
    };
    drop(caller);
    Ok(finished)
}

impl Detached {
    /// A read: on the caller's task when the store reads inline (nothing to cut: it has no await point),
    /// otherwise on a task of its own, like every other call.
    async fn read<T, Fut>(&self, call: impl FnOnce(Arc<dyn Store>) -> Fut) -> Result<T, StoreError>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let store = Arc::clone(&self.0);
        if self.0.reads_inline() {
            call(store).await
        } else {
            detach(call(store)).await
        }
    }
}

#[async_trait]
impl Store for Detached {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }

    fn reads_inline(&self) -> bool {
        self.0.reads_inline()
    }

    fn inserts_queued(&self) -> bool {
        self.0.inserts_queued()
    }

    /// Views queued to the store's own writer are claimed by it, like queued inserts: a caller that
    /// left before its view was counted is not counted.
    fn view_queue(&self) -> Option<crate::board::store::WriterQueue> {
        self.0.view_queue()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        counted(
            "ping",
            self.read(|store| async move { store.ping().await }).await,
        )
    }

    async fn insert_submission(&self, submission: &Submission) -> Result<(), StoreError> {
        let result = if self.0.inserts_queued() {
            queued(self.0.insert_submission(submission)).await
        } else {
            let (store, submission) = (Arc::clone(&self.0), submission.clone());
            detach(async move { store.insert_submission(&submission).await }).await
        };
        counted("insert_submission", result)
    }

    async fn latest_submission(&self) -> Result<Option<Submission>, StoreError> {
        let result = self
            .read(|store| async move { store.latest_submission().await })
            .await;
        counted("latest_submission", result)
    }

    async fn submission(&self, id: SubmissionId) -> Result<Option<Submission>, StoreError> {
        let result = self
            .read(|store| async move { store.submission(id).await })
            .await;
        counted("submission", result)
    }

    async fn submissions_by_user(
        &self,
        username: &Username,
        page: &PageRequest,
    ) -> Result<Page<Submission>, StoreError> {
        let (username, page) = (username.clone(), page.clone());
        let result = self
            .read(|store| async move { store.submissions_by_user(&username, &page).await })
            .await;
        counted("submissions_by_user", result)
    }

    async fn add_visits(&self, n: u64) -> Result<u64, StoreError> {
        let store = Arc::clone(&self.0);
        counted(
            "add_visits",
            detach(async move { store.add_visits(n).await }).await,
        )
    }

    async fn add_visits_and_read_latest(
        &self,
        n: u64,
    ) -> Result<(u64, Option<Submission>), StoreError> {
        let store = Arc::clone(&self.0);
        counted(
            "add_visits_and_read_latest",
            detach(async move { store.add_visits_and_read_latest(n).await }).await,
        )
    }

    async fn visit_count(&self) -> Result<u64, StoreError> {
        let result = self
            .read(|store| async move { store.visit_count().await })
            .await;
        counted("visit_count", result)
    }

    async fn close(&self) {
        self.0.close().await;
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Mutex, time::Duration};

    use tokio::sync::Notify;

    use super::*;
    use crate::board::{EightDigits, Username};

    /// An insert that waits for `before_claim`, claims its write, records the answer, then waits for
    /// `after_claim` before it "commits". `queued`: the way the SQLite and PostgreSQL stores insert (the
    /// write goes to a writer, which claims it; the caller only waits for the answer), run on the
    /// caller's task by `Detached` (`queued`); otherwise the insert itself claims, on a detached task.
    #[derive(Debug, Default)]
    struct Probe {
        before_claim: Arc<Notify>,
        after_claim: Arc<Notify>,
        claimed: Arc<Mutex<Option<bool>>>,
        queued: bool,
    }

    fn not_used<T>() -> Result<T, StoreError> {
        Err(StoreError::unavailable(anyhow::anyhow!(
            "not used in this test"
        )))
    }

    /// The writer's side of one write: wait for its turn, claim, record, "commit".
    async fn make_write(
        probe: (Arc<Notify>, Arc<Notify>, Arc<Mutex<Option<bool>>>),
        claim: impl FnOnce() -> bool,
    ) -> Result<(), StoreError> {
        let (before_claim, after_claim, seen) = probe;
        before_claim.notified().await;
        let claimed = claim();
        if let Ok(mut seen) = seen.lock() {
            *seen = Some(claimed);
        }
        if !claimed {
            return Err(StoreError::unavailable(anyhow::anyhow!("caller gone")));
        }
        after_claim.notified().await;
        Ok(())
    }

    #[async_trait]
    impl Store for Probe {
        fn backend(&self) -> &'static str {
            "probe"
        }

        fn inserts_queued(&self) -> bool {
            self.queued
        }

        async fn ping(&self) -> Result<(), StoreError> {
            not_used()
        }

        async fn insert_submission(&self, _: &Submission) -> Result<(), StoreError> {
            let parts = (
                Arc::clone(&self.before_claim),
                Arc::clone(&self.after_claim),
                Arc::clone(&self.claimed),
            );
            if !self.queued {
                return make_write(parts, claim_write).await;
            }
            // A writer claims the queued write unless its caller is gone, as `sqlite::writer::Queued::claim`.
            let (reply, answer) = tokio::sync::oneshot::channel();
            let call = current_call();
            tokio::spawn(async move {
                let claim = || claim_queued(&reply, call.as_ref());
                let written = make_write(parts, claim).await;
                let _ = reply.send(written);
            });
            answer
                .await
                .map_err(|_| StoreError::unavailable(anyhow::anyhow!("the writer stopped")))?
        }

        async fn latest_submission(&self) -> Result<Option<Submission>, StoreError> {
            not_used()
        }
        async fn submission(&self, _: SubmissionId) -> Result<Option<Submission>, StoreError> {
            not_used()
        }
        async fn submissions_by_user(
            &self,
            _: &Username,
            _: &PageRequest,
        ) -> Result<Page<Submission>, StoreError> {
            not_used()
        }
        async fn add_visits(&self, _: u64) -> Result<u64, StoreError> {
            not_used()
        }
        async fn visit_count(&self) -> Result<u64, StoreError> {
            not_used()
        }
        async fn close(&self) {}
    }

    fn submission() -> Option<Submission> {
        Some(Submission::new(
            Username::parse("ada").ok()?,
            EightDigits::parse("01234567").ok()?,
        ))
    }

    async fn claimed(probe: &Probe) -> Option<bool> {
        for _ in 0..100 {
            if let Some(seen) = probe.claimed.lock().ok().and_then(|s| *s) {
                return Some(seen);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// The write came to its turn after its caller had given up, and was not made.
    async fn assert_skipped(probe: &Probe, queued: bool) {
        assert_eq!(
            claimed(probe).await,
            Some(false),
            "the write was skipped (queued: {queued})"
        );
    }

    fn setup(queued: bool) -> (Arc<Probe>, Detached, Submission) {
        let probe = Arc::new(Probe {
            queued,
            ..Probe::default()
        });
        let store = Detached::new(Arc::clone(&probe) as Arc<dyn Store>);
        let new = submission().expect("valid test values");
        (probe, store, new)
    }

    #[tokio::test]
    async fn a_detached_call_runs_as_the_request_that_made_it() {
        let request = crate::telemetry::request::RequestContext {
            request_id: "req-7".into(),
            instance: "i".into(),
            method: axum::http::Method::POST,
            route: None,
            uri: axum::http::Uri::from_static("/"),
            trace: crate::telemetry::trace::TraceContext::from_headers(&Default::default()),
        };
        let seen = crate::telemetry::request::scope(
            request,
            detach(async {
                Ok(crate::telemetry::request::with_current(|r| {
                    r.request_id.to_string()
                }))
            }),
        )
        .await;
        assert_eq!(seen.ok().flatten().as_deref(), Some("req-7"));
        // Outside a request, none.
        let seen = detach(async { Ok(crate::telemetry::request::current_instance()) }).await;
        assert!(matches!(seen, Ok(None)));
    }

    #[tokio::test]
    async fn a_write_whose_caller_waits_is_claimed_and_answered() {
        for queued in [false, true] {
            let (probe, store, new) = setup(queued);
            probe.before_claim.notify_one();
            probe.after_claim.notify_one();
            assert!(
                store.insert_submission(&new).await.is_ok(),
                "queued: {queued}"
            );
            assert_eq!(claimed(&probe).await, Some(true), "queued: {queued}");
        }
    }

    #[tokio::test]
    async fn a_write_whose_caller_was_dropped_is_never_made() {
        for queued in [false, true] {
            let (probe, store, new) = setup(queued);
            // The caller's future is dropped (an outer timeout, a client gone), then the call gets its turn.
            assert!(
                tokio::time::timeout(Duration::from_millis(20), store.insert_submission(&new))
                    .await
                    .is_err(),
                "queued: {queued}"
            );
            probe.before_claim.notify_one();
            assert_skipped(&probe, queued).await;
        }
    }

    #[tokio::test]
    async fn a_deadline_before_the_claim_answers_unavailable_and_skips_the_write() {
        for queued in [false, true] {
            let (probe, store, new) = setup(queued);
            let deadline = Instant::now() + Duration::from_millis(20);
            let answer = with_deadline(deadline, store.insert_submission(&new)).await;
            assert!(
                matches!(answer, Err(StoreError::Unavailable(_))),
                "queued: {queued}"
            );
            probe.before_claim.notify_one();
            assert_skipped(&probe, queued).await;
        }
    }

    #[tokio::test]
    async fn a_deadline_after_the_claim_waits_for_the_real_outcome() {
        for queued in [false, true] {
            let (probe, store, new) = setup(queued);
            probe.before_claim.notify_one();
            let release = Arc::clone(&probe);
            tokio::spawn(async move {
                // Well past the deadline below.
                tokio::time::sleep(Duration::from_millis(100)).await;
                release.after_claim.notify_one();
            });
            let deadline = Instant::now() + Duration::from_millis(20);
            let answer = with_deadline(deadline, store.insert_submission(&new)).await;
            assert!(
                answer.is_ok(),
                "the claimed write's success is the answer (queued: {queued})"
            );
            assert_eq!(claimed(&probe).await, Some(true), "queued: {queued}");
        }
    }

    #[tokio::test]
    async fn a_read_past_the_deadline_answers_unavailable() {
        let deadline = Instant::now() + Duration::from_millis(20);
        // A read that never answers.
        let read = detach(std::future::pending::<Result<(), StoreError>>());
        let answer = with_deadline(deadline, read).await;
        assert!(matches!(answer, Err(StoreError::Unavailable(_))));
    }
}
