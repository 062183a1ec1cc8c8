//! Failed store operations, counted by operation in `stratus_store_errors_total{operation}` (and the
//! `StoreErrors` of the CloudWatch metrics, `telemetry::emf`).
//!
//! Counted where the operation fails, once per operation: in [`super::Detached`] for the board's store
//! (its method names), in [`super::SqlDb`] for everything on the relational database, and by the file
//! stores. A batch of visits that fails is one failure, however many page views waited for it.
//!
//! The label is never built from input: the board's operations are their method names, and the other
//! stores name each call with a `&'static str` sentence ("storing a user"), mapped here to a short name.
//! A sentence not in the table is its own label: still one of a fixed set, written in the source.

use super::StoreError;

/// The board's store operations ([`crate::board::store::Store`]'s methods).
pub const BOARD_OPERATIONS: &[&str] = &[
    "ping",
    "insert_submission",
    "latest_submission",
    "submission",
    "submissions_by_user",
    "add_visits",
    "add_visits_and_read_latest",
    "visit_count",
];

/// What each relational or file-store call is called in its error messages, and its label.
const NAMED: &[(&str, &str)] = &[
    ("storing a user", "users_insert"),
    ("reading a user", "users_get"),
    ("listing users", "users_list"),
    ("storing a session", "sessions_insert"),
    ("looking up a session", "sessions_get"),
    ("deleting a session", "sessions_delete"),
    ("reserving a sign-in attempt", "signin_attempts_reserve"),
    ("clearing sign-in attempts", "signin_attempts_clear"),
    ("storing a new post", "posts_insert"),
    ("reading a post", "posts_get"),
    ("reading a published post", "posts_get_published"),
    ("listing posts", "posts_list"),
    ("saving a post", "posts_update"),
    ("publishing a post", "posts_publish"),
    ("deleting a post", "posts_delete"),
    ("storing file metadata", "files_insert"),
    ("reading file metadata", "files_get"),
    ("listing files", "files_list"),
    ("listing file metadata", "files_list"),
    ("deleting file metadata", "files_delete"),
    ("reading an object", "objects_get"),
    ("checking an object", "objects_head"),
    ("deleting an object", "objects_delete"),
    ("listing objects", "objects_list"),
    ("storing an object", "objects_put"),
    ("starting a multipart upload", "objects_put"),
    ("uploading a part", "objects_put"),
    ("completing a multipart upload", "objects_put"),
];

/// The label of the call named `what`.
pub fn operation(what: &'static str) -> &'static str {
    NAMED
        .iter()
        .find(|(sentence, _)| *sentence == what)
        .map_or(what, |(_, name)| name)
}

/// Every label known in advance, so that each is exported at 0 from start-up.
pub fn known_operations() -> impl Iterator<Item = &'static str> {
    let mut names: Vec<&'static str> = BOARD_OPERATIONS
        .iter()
        .chain(NAMED.iter().map(|(_, name)| name))
        .copied()
        .collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter()
}

/// Counts one failure of the call named `what` (a sentence of [`NAMED`] or an operation's name).
pub fn count(what: &'static str) {
    crate::telemetry::count_store_error(operation(what));
}

/// Passes `result` on, counting it when the store was unavailable (an invalid cursor is the caller's).
pub(crate) fn counted<T>(
    what: &'static str,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    if let Err(StoreError::Unavailable(_)) = &result {
        count(what);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_store_is_counted_under_its_operation_and_a_bad_cursor_is_not() {
        let metrics = crate::telemetry::metrics_handle();
        let value = || {
            metrics.render().lines().find_map(|line| {
                line.strip_prefix(
                    r#"stratus_store_errors_total{operation="a test's own operation"} "#,
                )
                .and_then(|v| v.parse::<u64>().ok())
            })
        };
        let failed: Result<(), _> = counted(
            "a test's own operation",
            Err(StoreError::unavailable(anyhow::anyhow!("down"))),
        );
        assert!(failed.is_err());
        assert_eq!(value(), Some(1));
        let refused: Result<(), _> =
            counted("a test's own operation", Err(StoreError::InvalidCursor));
        assert!(refused.is_err());
        assert_eq!(value(), Some(1), "the caller's mistake, not the store's");
        let users = metrics.render();
        assert!(
            users.contains(r#"stratus_store_errors_total{operation="users_insert"}"#),
            "known operations are exported from the start"
        );
    }

    #[test]
    fn sentences_map_to_short_names_and_others_are_their_own_label() {
        assert_eq!(operation("storing a user"), "users_insert");
        assert_eq!(operation("reading file metadata"), "files_get");
        assert_eq!(operation("add_visits"), "add_visits");
        let known: Vec<_> = known_operations().collect();
        assert!(known.contains(&"insert_submission") && known.contains(&"files_get"));
        assert!(
            known.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        assert!(
            known
                .iter()
                .all(|name| name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')),
            "{known:?}"
        );
    }
}
