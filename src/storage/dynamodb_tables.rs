//! The DynamoDB tables Stratus expects: the one description that the DynamoDB backends check at start-up
//! and that `stratus config --dynamodb-schemas` prints for the Terraform checks.

use serde::Serialize;

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
