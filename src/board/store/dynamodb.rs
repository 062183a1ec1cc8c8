//! DynamoDB: `STRATUS_BOARD_URL=dynamodb://TABLE` puts the board here, on the board's single-table shape ([`dynamodb_tables::SUBMISSIONS`]).
//!
//! One table holds everything, in three kinds of item:
//!
//! | item | `username` (partition) | `timestamp` (sort) | other attributes |
//! | --- | --- | --- | --- |
//! | a submission | the username | `2026-11-23T10:30:00.123456Z#<submission id>` | `submission_id`, `number`, `created_at` |
//! | the latest submission | `"\u{1}latest"` | `"\u{1}latest"` | `latest_sort`, `latest_username`, `latest_submission_id`, `latest_number`, `latest_created_at` |
//! | the visit counter | `"\u{1}visits"` | `"\u{1}visits"` | `visit_count` (N) |
//!
//! A username never contains a control character (the domain type refuses them), so no user can own the
//! `\u{1}` partitions. The sort key's fixed-width time sorts in time order, and the id suffix keeps two
//! submissions of the same microsecond apart. The latest item copies the submission under other
//! attribute names, so it stays out of the `by_submission_id` index (a sparse index holds only items that
//! have its key attribute).
//!
//! - Insert: one `TransactWriteItems` puts the submission (never over an existing item) and the latest
//!   item, the latter only if it is newer than the one stored (`latest_sort < :sort`). When that condition
//!   fails (a newer submission won the race), the submission is still stored, alone. The submission id is
//!   the transaction's idempotency token, so an SDK retry after a lost answer writes nothing twice.
//! - Latest and the counter: one `GetItem` each (strongly consistent: a redirect after a POST shows the
//!   new submission). The counter is one `UpdateItem` `ADD` with `UPDATED_NEW`, never retried by the SDK
//!   (a retried `ADD` could count twice).
//! - History: a `Query` on the user's partition, newest first; the cursor is the last key returned.
//!   By id: a `Query` on the `by_submission_id` index.
//! - No `Scan` anywhere.
//!
//! At start-up `DescribeTable` checks the key schema; a table with other keys stops start-up with a message
//! saying what was expected and what was found. Tables are created only with `STRATUS_CREATE_TABLES=true`.

use std::{collections::HashMap, fmt, time::Duration};

use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    operation::{put_item::PutItemError, transact_write_items::TransactWriteItemsError},
    types::{AttributeValue, Put, ReturnValue, TransactWriteItem},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::Rng as _;
use std::sync::Arc;

use super::Store;
use crate::{
    board::{EightDigits, Submission, SubmissionId, Username},
    config::DynamoDbSettings,
    storage::{
        Cursor, Page, PageRequest, StoreError, aws, claim_write,
        dynamodb_tables::{self, SUBMISSIONS},
        ready::{InitError, Ready, bring_up},
    },
    time::{format_timestamp, parse_timestamp},
};

/// Partition and sort key of the latest item.
const LATEST_KEY: &str = "\u{1}latest";
/// Partition and sort key of the visit counter.
const VISITS_KEY: &str = "\u{1}visits";
/// The index that finds a submission by id.
const BY_ID_INDEX: &str = "by_submission_id";
/// Transactions that collide on the latest item are retried this often, with jittered backoff.
const MAX_CONFLICT_RETRIES: u32 = 8;

/// The setting that names the board's table, for messages.
const BOARD_SETTING: &str = "STRATUS_BOARD_URL";

/// The DynamoDB store.
pub struct DynamoDbStore {
    client: Arc<Ready<Client>>,
    table: String,
}

impl fmt::Debug for DynamoDbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoDbStore")
            .field("table", &self.table)
            .field("ready", &self.client.value().is_some())
            .finish()
    }
}

impl DynamoDbStore {
    /// Checks (or, with `STRATUS_CREATE_TABLES=true`, creates) the table. When DynamoDB cannot be reached
    /// within the connect + call timeout, returns a store that answers `Unavailable` and keeps checking in
    /// the background. Fails when the table's keys are not the ones Stratus needs, or the table is missing
    /// and may not be created.
    pub async fn open(settings: &DynamoDbSettings) -> anyhow::Result<Self> {
        let config = aws::sdk_config(&settings.aws).await;
        let client = Client::from_conf(crate::storage::aws_metrics::dynamodb_config(&config));
        let ready = Ready::new("dynamodb");
        let table = settings.table.clone();
        let create = settings.create_tables;
        let budget = settings.aws.connect_timeout + settings.aws.call_timeout * 2;
        let (attempt_client, attempt_table) = (client.clone(), table.clone());
        bring_up(&ready, budget, move || {
            let (client, table) = (attempt_client.clone(), attempt_table.clone());
            async move {
                dynamodb_tables::check_table(&client, &table, &SUBMISSIONS, BOARD_SETTING, create)
                    .await?;
                Ok(client)
            }
        })
        .await?;
        Ok(Self {
            client: ready,
            table,
        })
    }

    /// Checks (or creates) the table, retrying for up to `wait` while DynamoDB cannot be reached.
    pub async fn migrate_only(settings: &DynamoDbSettings, wait: Duration) -> anyhow::Result<()> {
        let config = aws::sdk_config(&settings.aws).await;
        let client = Client::new(&config);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match dynamodb_tables::check_table(
                &client,
                &settings.table,
                &SUBMISSIONS,
                BOARD_SETTING,
                settings.create_tables,
            )
            .await
            {
                Ok(()) => return Ok(()),
                Err(InitError::Fatal(err)) => return Err(err),
                Err(InitError::Retry(err)) if tokio::time::Instant::now() >= deadline => {
                    return Err(err.context(format!("DynamoDB was not reachable within {wait:?}")));
                }
                Err(InitError::Retry(err)) => {
                    tracing::warn!(error.message = %err, "DynamoDB not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn client(&self) -> Result<&Client, StoreError> {
        self.client.get()
    }

    fn key(partition: &str, sort: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                SUBMISSIONS.hash_key.name.to_owned(),
                AttributeValue::S(partition.to_owned()),
            ),
            (
                sort_key_name().to_owned(),
                AttributeValue::S(sort.to_owned()),
            ),
        ])
    }

    /// Puts the submission alone, never over an existing item. An existing item under the same key is
    /// this very submission (the key holds its id), stored by an earlier attempt.
    async fn put_submission_alone(
        &self,
        item: HashMap<String, AttributeValue>,
    ) -> Result<(), StoreError> {
        let result = self
            .client()?
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#u)")
            .expression_attribute_names("#u", SUBMISSIONS.hash_key.name)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(sdk_unavailable("storing a submission", err)),
        }
    }
}

fn sort_key_name() -> &'static str {
    SUBMISSIONS
        .range_key
        .as_ref()
        .map_or("timestamp", |key| key.name)
}

fn sdk_unavailable<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
    err: E,
) -> StoreError {
    StoreError::unavailable(aws::describe(err).context(what))
}

/// The sort key of a submission: its time, fixed width, then its id.
fn sort_key(submission: &Submission) -> String {
    format!(
        "{}#{}",
        format_timestamp(submission.created_at),
        submission.id
    )
}

fn submission_item(submission: &Submission) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            "username".to_owned(),
            AttributeValue::S(submission.username.to_string()),
        ),
        (
            sort_key_name().to_owned(),
            AttributeValue::S(sort_key(submission)),
        ),
        (
            "submission_id".to_owned(),
            AttributeValue::S(submission.id.to_string()),
        ),
        (
            "number".to_owned(),
            AttributeValue::S(submission.number.to_string()),
        ),
        (
            "created_at".to_owned(),
            AttributeValue::S(format_timestamp(submission.created_at)),
        ),
    ])
}

fn latest_item(submission: &Submission) -> HashMap<String, AttributeValue> {
    let mut item = DynamoDbStore::key(LATEST_KEY, LATEST_KEY);
    for (name, value) in [
        ("latest_sort", sort_key(submission)),
        ("latest_username", submission.username.to_string()),
        ("latest_submission_id", submission.id.to_string()),
        ("latest_number", submission.number.to_string()),
        ("latest_created_at", format_timestamp(submission.created_at)),
    ] {
        item.insert(name.to_owned(), AttributeValue::S(value));
    }
    item
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> anyhow::Result<&'a str> {
    item.get(name)
        .and_then(|value| value.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| anyhow!("the item has no string attribute `{name}`"))
}

/// Reads a submission from an item, with attribute names prefixed by `prefix` (`""` or `"latest_"`).
fn submission_from_item(
    item: &HashMap<String, AttributeValue>,
    prefix: &str,
) -> Result<Submission, StoreError> {
    let parse = || -> anyhow::Result<Submission> {
        Ok(Submission {
            id: SubmissionId::parse(text(item, &format!("{prefix}submission_id"))?)?,
            username: Username::parse(text(item, &format!("{prefix}username"))?)?,
            number: EightDigits::parse(text(item, &format!("{prefix}number"))?)?,
            created_at: parse_timestamp(text(item, &format!("{prefix}created_at"))?)?,
        })
    };
    parse().map_err(|err| {
        StoreError::unavailable(err.context("a stored submission could not be read"))
    })
}

const CURSOR_PREFIX: &str = "dynamodb:";

fn encode_cursor(sort: &str) -> Cursor {
    Cursor::from_store(URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{sort}")))
}

/// The sort key a cursor holds, checked to be one a submission can have (so junk never reaches DynamoDB).
fn decode_cursor(cursor: &Cursor) -> Result<String, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.as_str())
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let sort = text
        .strip_prefix(CURSOR_PREFIX)
        .ok_or(StoreError::InvalidCursor)?;
    let (at, id) = sort.split_once('#').ok_or(StoreError::InvalidCursor)?;
    match (parse_timestamp(at), SubmissionId::parse(id)) {
        (Ok(parsed), Ok(_)) if format_timestamp(parsed) == at => Ok(sort.to_owned()),
        _ => Err(StoreError::InvalidCursor),
    }
}

/// Whether a submission id (a UUIDv7) was made in the last few seconds: a `by_submission_id` index that
/// has not caught up yet may then still miss it.
fn made_recently(id: SubmissionId) -> bool {
    let made_ms = uuid::Uuid::parse_str(&id.to_string())
        .ok()
        .and_then(|uuid| uuid.get_timestamp())
        .map(|ts| {
            let (secs, nanos) = ts.to_unix();
            u128::from(secs) * 1000 + u128::from(nanos / 1_000_000)
        });
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    made_ms.is_some_and(|made| now_ms.saturating_sub(made) < 3_000)
}

#[async_trait]
impl Store for DynamoDbStore {
    fn backend(&self) -> &'static str {
        "dynamodb"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client()?
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(VISITS_KEY, VISITS_KEY)))
            .send()
            .await
            .map(drop)
            .map_err(|err| sdk_unavailable("pinging DynamoDB", err))
    }

    async fn insert_submission(&self, submission: &Submission) -> Result<(), StoreError> {
        let client = self.client()?;
        let sort = sort_key(submission);
        let put_submission = Put::builder()
            .table_name(&self.table)
            .set_item(Some(submission_item(submission)))
            .condition_expression("attribute_not_exists(#u)")
            .expression_attribute_names("#u", SUBMISSIONS.hash_key.name)
            .build()
            .map_err(StoreError::unavailable)?;
        let put_latest = Put::builder()
            .table_name(&self.table)
            .set_item(Some(latest_item(submission)))
            .condition_expression("attribute_not_exists(#s) OR #s < :s")
            .expression_attribute_names("#s", "latest_sort")
            .expression_attribute_values(":s", AttributeValue::S(sort))
            .build()
            .map_err(StoreError::unavailable)?;
        // A caller answered 503 meanwhile must not have its write made; one that still waits now waits
        // for the outcome (the retries below are idempotent: same client request token).
        if !claim_write() {
            return Err(StoreError::unavailable(anyhow::anyhow!(
                "the request gave up before the submission was written"
            )));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .put(put_submission.clone())
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().put(put_latest.clone()).build())
                .client_request_token(submission.id.to_string())
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let (conflict, condition_failed) = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let codes: Vec<&str> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|reason| reason.code())
                        .collect();
                    (
                        codes.contains(&"TransactionConflict"),
                        codes.contains(&"ConditionalCheckFailed"),
                    )
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => (true, false),
                _ => (false, false),
            };
            if condition_failed && !conflict {
                // A newer submission is already the latest (or this one is stored already): store it alone.
                return self.put_submission_alone(submission_item(submission)).await;
            }
            if conflict && attempt < MAX_CONFLICT_RETRIES {
                // Another writer holds the latest item: back off with full jitter and try again.
                let cap_ms = 10u64 << attempt.min(6);
                let wait = rand::rng().random_range(0..=cap_ms);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                continue;
            }
            return Err(sdk_unavailable("storing a submission", err));
        }
    }

    async fn latest_submission(&self) -> Result<Option<Submission>, StoreError> {
        let output = self
            .client()?
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(LATEST_KEY, LATEST_KEY)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| sdk_unavailable("reading the latest submission", err))?;
        output
            .item()
            .map(|item| submission_from_item(item, "latest_"))
            .transpose()
    }

    async fn submission(&self, id: SubmissionId) -> Result<Option<Submission>, StoreError> {
        let client = self.client()?;
        // A global secondary index is eventually consistent: a submission made a moment ago may not be in
        // it yet. For ids made in the last seconds, look a few more times before answering "none".
        let mut tries = if made_recently(id) { 6 } else { 1 };
        loop {
            let output = client
                .query()
                .table_name(&self.table)
                .index_name(BY_ID_INDEX)
                .key_condition_expression("#i = :i")
                .expression_attribute_names("#i", "submission_id")
                .expression_attribute_values(":i", AttributeValue::S(id.to_string()))
                .limit(1)
                .send()
                .await
                .map_err(|err| sdk_unavailable("reading a submission", err))?;
            if let Some(item) = output.items().first() {
                return submission_from_item(item, "").map(Some);
            }
            tries -= 1;
            if tries == 0 {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn submissions_by_user(
        &self,
        username: &Username,
        page: &PageRequest,
    ) -> Result<Page<Submission>, StoreError> {
        let start = page.cursor.as_ref().map(decode_cursor).transpose()?;
        let limit = page.limit.get() as usize;
        let start_key = start.map(|sort| Self::key(username.as_str(), &sort));
        // One extra item tells whether another page exists, so the last page has no dangling cursor.
        let output = self
            .client()?
            .query()
            .table_name(&self.table)
            .key_condition_expression("#u = :u")
            .expression_attribute_names("#u", SUBMISSIONS.hash_key.name)
            .expression_attribute_values(":u", AttributeValue::S(username.to_string()))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(i32::try_from(limit + 1).map_err(StoreError::unavailable)?)
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(|err| sdk_unavailable("reading a user's submissions", err))?;
        let found = output.items();
        let shown = &found[..found.len().min(limit)];
        let next_sort = if found.len() > limit {
            shown
                .last()
                .map(|item| text(item, sort_key_name()))
                .transpose()
        } else {
            // Fewer items than asked for, yet a LastEvaluatedKey: DynamoDB stopped at its 1 MB page size.
            output
                .last_evaluated_key()
                .map(|key| text(key, sort_key_name()))
                .transpose()
        }
        .map_err(|err| StoreError::unavailable(err.context("reading a cursor")))?;
        let items = shown
            .iter()
            .map(|item| submission_from_item(item, ""))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            next_cursor: next_sort.map(encode_cursor),
        })
    }

    async fn add_visits(&self, n: u64) -> Result<u64, StoreError> {
        let output = self
            .client()?
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(VISITS_KEY, VISITS_KEY)))
            .update_expression("ADD #c :n")
            .expression_attribute_names("#c", "visit_count")
            .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            // `ADD` is not idempotent: an SDK retry after an attempt that timed out but was applied would
            // count the batch twice. No retry, then: the batch fails (its page views answer 503) and the
            // count never grows by more than the visits it acknowledged.
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|err| sdk_unavailable("counting visits", err))?;
        output
            .attributes()
            .and_then(|attributes| attributes.get("visit_count"))
            .and_then(|value| value.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| StoreError::unavailable(anyhow!("DynamoDB returned no new visit count")))
    }

    async fn visit_count(&self) -> Result<u64, StoreError> {
        let output = self
            .client()?
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(VISITS_KEY, VISITS_KEY)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| sdk_unavailable("reading the visit count", err))?;
        match output.item().and_then(|item| item.get("visit_count")) {
            None => Ok(0),
            Some(value) => value
                .as_n()
                .ok()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| StoreError::unavailable(anyhow!("the visit count is not a number"))),
        }
    }

    async fn close(&self) {
        self.client.stop();
    }
}

// ---- The table check -------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let sort = format!("2026-01-02T03:04:05.678901Z#{}", SubmissionId::generate());
        assert_eq!(decode_cursor(&encode_cursor(&sort)).ok(), Some(sort));
        for junk in [
            "dynamodb:",
            "dynamodb:2026-01-02T03:04:05Z#x",
            "sqlite:12",
            "dynamodb:\u{1}latest",
        ] {
            let cursor = Cursor::from_store(URL_SAFE_NO_PAD.encode(junk));
            assert!(decode_cursor(&cursor).is_err(), "{junk}");
        }
    }

    #[test]
    fn sort_keys_keep_same_instant_submissions_apart_and_in_time_order() {
        let username = Username::parse("ada").ok();
        let number = EightDigits::parse("01234567").ok();
        let (Some(username), Some(number)) = (username, number) else {
            panic!("valid fixtures");
        };
        let a = Submission::new(username.clone(), number.clone());
        let mut b = Submission::new(username, number);
        b.created_at = a.created_at;
        assert_ne!(sort_key(&a), sort_key(&b));
        let mut later = a.clone();
        later.created_at += time::Duration::microseconds(1);
        assert!(sort_key(&later) > sort_key(&a));
    }

    #[test]
    fn ids_made_now_are_recent() {
        assert!(made_recently(SubmissionId::generate()));
    }
}
