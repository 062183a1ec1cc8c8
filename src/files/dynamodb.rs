//! File metadata in DynamoDB (`STRATUS_FILE_METADATA_URL=dynamodb://TABLE`), in the shape of the table Terraform creates
//! ([`FILE_METADATA`]: partition key `file_id`, index `by_owner` on `owner` + `created_at`).
//!
//! Each file is two items, written and deleted together in one transaction:
//!
//! | item | `file_id` (table key) | `owner` (index partition) | `created_at` (index sort) |
//! | --- | --- | --- | --- |
//! | the record | the file id | the owner's user id (absent: the file has none) | RFC 3339, fixed width |
//! | its listing entry | `"\u{1}all#<file id>"` | `"\u{1}all"` | the same |
//!
//! Both carry the whole record (`id`, `name`, `size`, `sha256`, `content_type`, `file_owner`, `created_at`),
//! so any listing is one `Query` on `by_owner`, newest first: an owner's files under their id, every file
//! under `"\u{1}all"`, which no user id (a UUID) can be. No `Scan` anywhere, not even in the sweep.
//!
//! The `"\u{1}all"` partition of the index takes every upload: one index partition sustains about 1,000
//! writes a second, far beyond what uploads of files reach. The index is eventually consistent: a file may
//! show in a listing a moment after its upload was answered (on AWS; moto is immediate). `GetItem` on the
//! record is strongly consistent.
//!
//! At start-up `DescribeTable` checks the keys (as the board's DynamoDB store does); a table with other
//! keys stops start-up, a missing one too unless `STRATUS_CREATE_TABLES=true` creates it. When DynamoDB
//! cannot be reached, the service starts anyway and each call checks again until the check succeeds.

use std::collections::HashMap;

use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, Delete, Put, TransactWriteItem},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use tokio::sync::OnceCell;

use super::{
    domain::{ContentType, FileId, FileMeta, FileName, Sha256Digest},
    metadata::FileMetadataStore,
};
use crate::{
    config::DynamoDbSettings,
    storage::{Cursor, PageRequest},
    storage::{
        InitError, Page, StoreError, aws, claim_write, detach, dynamodb_tables::FILE_METADATA,
    },
    time::{format_timestamp, parse_timestamp},
    users::UserId,
};

/// The index partition that lists every file.
const ALL: &str = "\u{1}all";
const INDEX: &str = "by_owner";
const CURSOR_PREFIX: &str = "files-dynamodb:";

/// File metadata in a DynamoDB table.
#[derive(Debug)]
pub struct DynamoFileMetadata {
    client: Client,
    table: String,
    create: bool,
    checked: OnceCell<()>,
}

impl DynamoFileMetadata {
    /// Checks the table (creating it with `STRATUS_CREATE_TABLES=true`). A wrong or missing table stops
    /// start-up; an unreachable DynamoDB does not (calls answer 503 until the check succeeds).
    pub async fn open(settings: &DynamoDbSettings) -> anyhow::Result<Self> {
        let config = aws::sdk_config(&settings.aws).await;
        let store = Self {
            client: Client::from_conf(crate::storage::aws_metrics::dynamodb_config(&config)),
            table: settings.table.clone(),
            create: settings.create_tables,
            checked: OnceCell::new(),
        };
        let budget = settings.aws.connect_timeout + settings.aws.call_timeout * 2;
        match tokio::time::timeout(budget, store.check()).await {
            Ok(Ok(())) => {}
            Ok(Err(InitError::Fatal(err))) => return Err(err),
            Ok(Err(InitError::Retry(err))) => {
                tracing::warn!(error.message = %err, table = %store.table, "the file metadata table could not be checked yet; file requests answer 503 until it can");
            }
            Err(_) => {
                tracing::warn!(table = %store.table, "DynamoDB did not answer the file metadata table check in time; file requests answer 503 until it does");
            }
        }
        Ok(store)
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn check(&self) -> Result<(), InitError> {
        self.checked
            .get_or_try_init(|| {
                crate::storage::dynamodb_tables::check_table(
                    &self.client,
                    &self.table,
                    &FILE_METADATA,
                    "STRATUS_FILE_METADATA_URL",
                    self.create,
                )
            })
            .await
            .map(drop)
    }

    /// The client, once the table has been checked.
    async fn client(&self) -> Result<Client, StoreError> {
        match self.check().await {
            Ok(()) => Ok(self.client.clone()),
            Err(InitError::Retry(err) | InitError::Fatal(err)) => Err(StoreError::Unavailable(
                err.context("the file metadata table is not usable"),
            )),
        }
    }
}

fn sdk_unavailable<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
    err: E,
) -> StoreError {
    crate::storage::failures::count(what);
    StoreError::unavailable(aws::describe(err).context(what))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn record_attributes(meta: &FileMeta) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("id".to_owned(), s(meta.id.to_string())),
        ("name".to_owned(), s(meta.name.as_str())),
        ("size".to_owned(), AttributeValue::N(meta.size.to_string())),
        ("sha256".to_owned(), s(meta.sha256.to_string())),
        ("content_type".to_owned(), s(meta.content_type.as_str())),
        (
            "created_at".to_owned(),
            s(format_timestamp(meta.created_at)),
        ),
    ]);
    if let Some(owner) = meta.owner {
        item.insert("file_owner".to_owned(), s(owner.to_string()));
    }
    item
}

fn entry_key(id: FileId) -> String {
    format!("{ALL}#{id}")
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> anyhow::Result<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| anyhow!("the item has no string attribute `{name}`"))
}

fn meta_from_item(item: &HashMap<String, AttributeValue>) -> Result<FileMeta, StoreError> {
    let parse = || -> anyhow::Result<FileMeta> {
        let size = item
            .get("size")
            .and_then(|v| v.as_n().ok())
            .ok_or_else(|| anyhow!("the item has no number attribute `size`"))?;
        Ok(FileMeta {
            id: FileId::parse(text(item, "id")?)?,
            name: FileName::from_stored(text(item, "name")?),
            size: size.parse()?,
            sha256: Sha256Digest::parse(text(item, "sha256")?)?,
            content_type: ContentType::from_stored(text(item, "content_type")?),
            owner: item
                .get("file_owner")
                .and_then(|v| v.as_s().ok())
                .map(|o| UserId::parse(o))
                .transpose()?,
            created_at: parse_timestamp(text(item, "created_at")?)?,
        })
    };
    parse().map_err(|err| {
        StoreError::unavailable(err.context("a stored file record could not be read"))
    })
}

fn encode_cursor(created_at: &str, key: &str) -> Cursor {
    Cursor::from_store(URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{created_at}|{key}")))
}

/// `(created_at, file_id key)` of a cursor, checked to be values this store writes.
fn decode_cursor(cursor: &Cursor) -> Result<(String, String), StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.as_str())
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let rest = text
        .strip_prefix(CURSOR_PREFIX)
        .ok_or(StoreError::InvalidCursor)?;
    let (at, key) = rest.split_once('|').ok_or(StoreError::InvalidCursor)?;
    let id = key.strip_prefix(&format!("{ALL}#")).unwrap_or(key);
    match (parse_timestamp(at), FileId::parse(id)) {
        (Ok(parsed), Ok(_)) if format_timestamp(parsed) == at => {
            Ok((at.to_owned(), key.to_owned()))
        }
        _ => Err(StoreError::InvalidCursor),
    }
}

#[async_trait]
impl FileMetadataStore for DynamoFileMetadata {
    fn backend(&self) -> &'static str {
        "dynamodb"
    }

    #[tracing::instrument(name = "Store file metadata", skip_all, fields(file_id = %meta.id, backend = "dynamodb"))]
    async fn insert(&self, meta: &FileMeta) -> Result<(), StoreError> {
        let client = self.client().await?;
        let table = self.table.clone();
        let meta = meta.clone();
        detach(async move {
            let mut record = record_attributes(&meta);
            let mut entry = record.clone();
            record.insert("file_id".to_owned(), s(meta.id.to_string()));
            if let Some(owner) = meta.owner {
                record.insert("owner".to_owned(), s(owner.to_string()));
            }
            entry.insert("file_id".to_owned(), s(entry_key(meta.id)));
            entry.insert("owner".to_owned(), s(ALL));
            let put = |item| {
                Put::builder()
                    .table_name(&table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(file_id)")
                    .build()
                    .map_err(StoreError::unavailable)
            };
            let (record, entry) = (put(record)?, put(entry)?);
            if !claim_write() {
                return Err(StoreError::unavailable(anyhow!(
                    "the request gave up before the write was made"
                )));
            }
            client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(record).build())
                .transact_items(TransactWriteItem::builder().put(entry).build())
                // The file id makes an SDK retry after a lost answer write nothing twice.
                .client_request_token(meta.id.to_string())
                .send()
                .await
                .map(drop)
                .map_err(|err| sdk_unavailable("storing file metadata", err))
        })
        .await
    }

    async fn get(&self, id: FileId) -> Result<Option<FileMeta>, StoreError> {
        let client = self.client().await?;
        let table = self.table.clone();
        let item = detach(async move {
            client
                .get_item()
                .table_name(table)
                .key("file_id", s(id.to_string()))
                .consistent_read(true)
                .send()
                .await
                .map(|out| out.item)
                .map_err(|err| sdk_unavailable("reading file metadata", err))
        })
        .await?;
        item.as_ref().map(meta_from_item).transpose()
    }

    async fn list(
        &self,
        owner: Option<UserId>,
        page: &PageRequest,
    ) -> Result<Page<FileMeta>, StoreError> {
        let client = self.client().await?;
        let table = self.table.clone();
        let partition = owner.map_or_else(|| ALL.to_owned(), |o| o.to_string());
        let start = page.cursor.as_ref().map(decode_cursor).transpose()?;
        let limit = page.limit.get() as usize;
        let items = detach(async move {
            let mut start_key = start.map(|(at, key)| {
                HashMap::from([
                    ("file_id".to_owned(), s(key)),
                    ("owner".to_owned(), s(partition.clone())),
                    ("created_at".to_owned(), s(at)),
                ])
            });
            let mut items = Vec::new();
            // One item more than asked says whether another page exists.
            while items.len() <= limit {
                let output = client
                    .query()
                    .table_name(&table)
                    .index_name(INDEX)
                    .key_condition_expression("#o = :o")
                    .expression_attribute_names("#o", "owner")
                    .expression_attribute_values(":o", s(partition.clone()))
                    .scan_index_forward(false)
                    .limit(i32::try_from(limit + 1 - items.len()).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start_key.take())
                    .send()
                    .await
                    .map_err(|err| sdk_unavailable("listing file metadata", err))?;
                items.extend(output.items.unwrap_or_default());
                match output.last_evaluated_key {
                    Some(key) if !key.is_empty() => start_key = Some(key),
                    _ => break,
                }
            }
            Ok(items)
        })
        .await?;
        let more = items.len() > limit;
        let shown = &items[..items.len().min(limit)];
        let next_cursor = match shown.last() {
            Some(last) if more => Some(encode_cursor(
                text(last, "created_at").map_err(StoreError::unavailable)?,
                text(last, "file_id").map_err(StoreError::unavailable)?,
            )),
            _ => None,
        };
        Ok(Page {
            items: shown.iter().map(meta_from_item).collect::<Result<_, _>>()?,
            next_cursor,
        })
    }

    #[tracing::instrument(name = "Delete file metadata", skip_all, fields(file_id = %id, backend = "dynamodb"))]
    async fn delete(&self, id: FileId) -> Result<bool, StoreError> {
        if self.get(id).await?.is_none() {
            return Ok(false);
        }
        let client = self.client().await?;
        let table = self.table.clone();
        detach(async move {
            let delete = |key: String| {
                Delete::builder()
                    .table_name(&table)
                    .key("file_id", s(key))
                    .build()
                    .map_err(StoreError::unavailable)
            };
            let (record, entry) = (delete(id.to_string())?, delete(entry_key(id))?);
            if !claim_write() {
                return Err(StoreError::unavailable(anyhow!(
                    "the request gave up before the write was made"
                )));
            }
            client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(record).build())
                .transact_items(TransactWriteItem::builder().delete(entry).build())
                .send()
                .await
                .map(|_| true)
                .map_err(|err| sdk_unavailable("deleting file metadata", err))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let at = "2026-01-02T03:04:05.678901Z";
        let key = entry_key(FileId::generate());
        assert_eq!(
            decode_cursor(&encode_cursor(at, &key)).ok(),
            Some((at.to_owned(), key))
        );
        for junk in [
            "files-dynamodb:",
            "files-dynamodb:2026|x",
            "files-sqlite:12",
            "files-dynamodb:2026-01-02T03:04:05Z|\u{1}all#x",
        ] {
            let cursor = Cursor::from_store(URL_SAFE_NO_PAD.encode(junk));
            assert!(decode_cursor(&cursor).is_err(), "{junk}");
        }
    }
}
