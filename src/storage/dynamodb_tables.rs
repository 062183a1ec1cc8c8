//! The DynamoDB tables Stratus expects: the one description that the DynamoDB backends check at start-up
//! and that `stratus config --dynamodb-schemas` prints for the Terraform checks.

use std::{fmt, time::Duration};

use anyhow::anyhow;
use aws_sdk_dynamodb::{
    Client,
    error::{ProvideErrorMetadata as _, SdkError},
    operation::describe_table::DescribeTableError,
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TableDescription, TableStatus,
    },
};
use serde::Serialize;

use super::{aws, ready::InitError};

/// An attribute of a key.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct KeyAttribute {
    /// Attribute name.
    pub name: &'static str,
    /// Attribute type (`S`, `N`, `B`).
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A global secondary index.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SecondaryIndex {
    /// Index name.
    pub name: &'static str,
    /// Partition key.
    pub hash_key: KeyAttribute,
    /// Sort key.
    pub range_key: Option<KeyAttribute>,
    /// Projection type.
    pub projection: &'static str,
}

/// A table's keys and indexes.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TableSchema {
    /// What the table is for (the table name itself is configuration).
    pub role: &'static str,
    /// Partition key.
    pub hash_key: KeyAttribute,
    /// Sort key.
    pub range_key: Option<KeyAttribute>,
    /// Global secondary indexes.
    pub global_secondary_indexes: &'static [SecondaryIndex],
}

/// The board's table: partition `username`, sort `timestamp`. It also holds the visit counter
/// and the "latest" item under keys no username can take.
pub const SUBMISSIONS: TableSchema = TableSchema {
    role: "submissions",
    hash_key: KeyAttribute {
        name: "username",
        kind: "S",
    },
    range_key: Some(KeyAttribute {
        name: "timestamp",
        kind: "S",
    }),
    global_secondary_indexes: &[SecondaryIndex {
        name: "by_submission_id",
        hash_key: KeyAttribute {
            name: "submission_id",
            kind: "S",
        },
        range_key: None,
        projection: "ALL",
    }],
};

/// The file metadata table: partition `file_id`, listed per owner by a GSI.
pub const FILE_METADATA: TableSchema = TableSchema {
    role: "file_metadata",
    hash_key: KeyAttribute {
        name: "file_id",
        kind: "S",
    },
    range_key: None,
    global_secondary_indexes: &[SecondaryIndex {
        name: "by_owner",
        hash_key: KeyAttribute {
            name: "owner",
            kind: "S",
        },
        range_key: Some(KeyAttribute {
            name: "created_at",
            kind: "S",
        }),
        projection: "ALL",
    }],
};

/// Every table, in a fixed order.
pub const TABLES: &[TableSchema] = &[SUBMISSIONS, FILE_METADATA];

/// A table's keys and indexes as found, in the same words as the expected schema.
#[derive(Debug, PartialEq, Eq)]
struct FoundSchema {
    hash: Option<(String, String)>,
    range: Option<(String, String)>,
    indexes: Vec<FoundIndex>,
}

#[derive(Debug, PartialEq, Eq)]
struct FoundIndex {
    name: String,
    hash: Option<(String, String)>,
    range: Option<(String, String)>,
    projection: String,
}

fn describe_key(key: Option<&(String, String)>) -> String {
    key.map_or_else(|| "none".into(), |(name, kind)| format!("{name} ({kind})"))
}

fn owned(key: Option<&KeyAttribute>) -> Option<(String, String)> {
    key.map(|k| (k.name.to_owned(), k.kind.to_owned()))
}

impl FoundSchema {
    fn expected(schema: &TableSchema) -> Self {
        Self {
            hash: owned(Some(&schema.hash_key)),
            range: owned(schema.range_key.as_ref()),
            indexes: schema
                .global_secondary_indexes
                .iter()
                .map(|index| FoundIndex {
                    name: index.name.to_owned(),
                    hash: owned(Some(&index.hash_key)),
                    range: owned(index.range_key.as_ref()),
                    projection: index.projection.to_owned(),
                })
                .collect(),
        }
    }

    fn from_description(table: &TableDescription) -> Self {
        let kind_of = |name: &str| {
            table
                .attribute_definitions()
                .iter()
                .find(|a| a.attribute_name() == name)
                .map_or_else(
                    || "?".to_owned(),
                    |a| a.attribute_type().as_str().to_owned(),
                )
        };
        let key_of = |schema: &[KeySchemaElement], key_type: KeyType| {
            schema
                .iter()
                .find(|k| *k.key_type() == key_type)
                .map(|k| (k.attribute_name().to_owned(), kind_of(k.attribute_name())))
        };
        Self {
            hash: key_of(table.key_schema(), KeyType::Hash),
            range: key_of(table.key_schema(), KeyType::Range),
            indexes: table
                .global_secondary_indexes()
                .iter()
                .map(|index| FoundIndex {
                    name: index.index_name().unwrap_or_default().to_owned(),
                    hash: key_of(index.key_schema(), KeyType::Hash),
                    range: key_of(index.key_schema(), KeyType::Range),
                    projection: index
                        .projection()
                        .and_then(|p| p.projection_type())
                        .map_or_else(|| "?".to_owned(), |p| p.as_str().to_owned()),
                })
                .collect(),
        }
    }

    /// Whether `self` (found) has everything `expected` needs. Extra indexes are fine.
    fn satisfies(&self, expected: &Self) -> bool {
        self.hash == expected.hash
            && self.range == expected.range
            && expected
                .indexes
                .iter()
                .all(|want| self.indexes.iter().any(|have| have == want))
    }
}

impl fmt::Display for FoundSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "partition key {}, sort key {}",
            describe_key(self.hash.as_ref()),
            describe_key(self.range.as_ref())
        )?;
        if self.indexes.is_empty() {
            write!(f, ", no global secondary index")?;
        }
        for index in &self.indexes {
            write!(
                f,
                ", index {} (partition key {}, sort key {}, projection {})",
                index.name,
                describe_key(index.hash.as_ref()),
                describe_key(index.range.as_ref()),
                index.projection
            )?;
        }
        Ok(())
    }
}

fn is_retryable<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => !matches!(
            service.err().code(),
            Some(
                "ResourceNotFoundException"
                    | "AccessDeniedException"
                    | "UnrecognizedClientException"
                    | "ValidationException"
            )
        ),
        _ => true,
    }
}

/// `DescribeTable`, then compare with `schema`. Missing table: create it when allowed, else a clear error.
/// `setting` names the variable that chose the table, for the messages. Shared by every DynamoDB table
/// Stratus uses (the board here, file metadata in `files::dynamodb`).
pub(crate) async fn check_table(
    client: &Client,
    table: &str,
    schema: &TableSchema,
    setting: &str,
    create: bool,
) -> Result<(), InitError> {
    let expected = FoundSchema::expected(schema);
    let mut created = false;
    for _ in 0..40 {
        let described = client.describe_table().table_name(table).send().await;
        let description = match described {
            Ok(output) => output.table,
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(DescribeTableError::ResourceNotFoundException(_))
                ) =>
            {
                if !create {
                    return Err(InitError::Fatal(anyhow!(
                        "the DynamoDB table `{table}` ({setting}) does not exist. Expected: {expected}. Create it with \
                         Terraform (`stratus config --dynamodb-schemas` prints the schema), or set \
                         STRATUS_CREATE_TABLES=true for local development."
                    )));
                }
                if !created {
                    create_table(client, table, schema).await?;
                    created = true;
                }
                None
            }
            Err(err) => {
                let retry = is_retryable(&err);
                let err = aws::describe(err).context(format!("DescribeTable `{table}` failed"));
                return Err(if retry {
                    InitError::Retry(err)
                } else {
                    InitError::Fatal(err)
                });
            }
        };
        if let Some(description) = description {
            let found = FoundSchema::from_description(&description);
            if !found.satisfies(&expected) {
                return Err(InitError::Fatal(anyhow!(
                    "the DynamoDB table `{table}` ({setting}) does not have the keys Stratus needs.\n  expected: {expected}\n  found:    {found}\n\
                     Fix the table (Terraform writes it from `stratus config --dynamodb-schemas`) or point {setting} at another table."
                )));
            }
            match description.table_status() {
                Some(TableStatus::Active | TableStatus::Updating) | None => return Ok(()),
                Some(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(InitError::Retry(anyhow!(
        "the DynamoDB table `{table}` did not become active"
    )))
}

async fn create_table(client: &Client, table: &str, schema: &TableSchema) -> Result<(), InitError> {
    let build = |err: aws_sdk_dynamodb::error::BuildError| InitError::Fatal(err.into());
    let key = |key: &KeyAttribute, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(key.name)
            .key_type(key_type)
            .build()
            .map_err(build)
    };
    let mut attributes: Vec<&KeyAttribute> = vec![&schema.hash_key];
    attributes.extend(schema.range_key.as_ref());
    for index in schema.global_secondary_indexes {
        attributes.push(&index.hash_key);
        attributes.extend(index.range_key.as_ref());
    }
    attributes.sort_by_key(|a| a.name);
    attributes.dedup_by_key(|a| a.name);
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(&schema.hash_key, KeyType::Hash)?);
    if let Some(range) = &schema.range_key {
        request = request.key_schema(key(range, KeyType::Range)?);
    }
    for attribute in attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute.name)
                .attribute_type(ScalarAttributeType::from(attribute.kind))
                .build()
                .map_err(build)?,
        );
    }
    for index in schema.global_secondary_indexes {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(index.name)
            .key_schema(key(&index.hash_key, KeyType::Hash)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::from(index.projection))
                    .build(),
            );
        if let Some(range) = &index.range_key {
            gsi = gsi.key_schema(key(range, KeyType::Range)?);
        }
        request = request.global_secondary_indexes(gsi.build().map_err(build)?);
    }
    match request.send().await {
        Ok(_) => {
            tracing::info!(
                table,
                "created the DynamoDB table (STRATUS_CREATE_TABLES=true)"
            );
            Ok(())
        }
        // Another instance created it a moment ago.
        Err(err) if err.code() == Some("ResourceInUseException") => Ok(()),
        Err(err) => {
            let retry = is_retryable(&err);
            let err = aws::describe(err).context(format!("CreateTable `{table}` failed"));
            Err(if retry {
                InitError::Retry(err)
            } else {
                InitError::Fatal(err)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_schema_reads_as_a_sentence() {
        assert_eq!(
            FoundSchema::expected(&SUBMISSIONS).to_string(),
            "partition key username (S), sort key timestamp (S), index by_submission_id \
             (partition key submission_id (S), sort key none, projection ALL)"
        );
    }
}
