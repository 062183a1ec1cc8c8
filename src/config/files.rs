//! Uploaded files: where the bytes go (a directory or S3, with its encryption), where the metadata goes,
//! and the upload size limit.

use std::path::PathBuf;

use clap::Args;

use super::{AwsArgs, AwsSettings, ConfigError, DatabaseArgs, DynamoDbSettings};

/// File settings, as given.
#[derive(Debug, Args)]
#[command(next_help_heading = "Files")]
pub struct FilesArgs {
    /// Where uploaded files are kept: `file://PATH` (a local directory, the default) or `s3://BUCKET/PREFIX`
    /// (the AWS credential chain; `AWS_ENDPOINT_URL` for an S3-compatible server).
    #[arg(long, env = "STRATUS_FILES_URL", default_value = "file://./data/files")]
    pub files_url: String,

    /// Keep file metadata in DynamoDB: `dynamodb://TABLE`. Unset: in `DATABASE_URL`'s database.
    #[arg(long, env = "STRATUS_FILE_METADATA_URL")]
    pub file_metadata_url: Option<String>,

    /// Server-side encryption of S3 objects: `AES256` (SSE-S3, the default) or `aws:kms` (SSE-KMS).
    #[arg(long, env = "STRATUS_S3_SSE", default_value = "AES256", value_parser = parse_sse_mode)]
    pub s3_sse: SseMode,

    /// The KMS key for `STRATUS_S3_SSE=aws:kms` (id, ARN or alias); unset: the bucket's default key.
    #[arg(long, env = "STRATUS_S3_SSE_KMS_KEY_ID")]
    pub s3_sse_kms_key_id: Option<String>,

    /// Where uploads to S3 gather each 5 MiB part on disk before sending it (unnamed temporary files, at
    /// most one part per upload in progress); unset: the system's temporary directory (`TMPDIR`, else
    /// `/tmp`).
    #[arg(long, env = "STRATUS_UPLOAD_SPOOL_DIR")]
    pub upload_spool_dir: Option<PathBuf>,

    /// The largest upload accepted, in bytes; larger ones are refused with 413.
    #[arg(long, env = "STRATUS_MAX_UPLOAD_BYTES", default_value_t = 100 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_upload_bytes: u64,

    /// Make files public on purpose: anyone may list and download them, even with an admin configured.
    #[arg(long, env = "STRATUS_FILES_PUBLIC", default_value_t = false, action = clap::ArgAction::Set)]
    pub files_public: bool,
}

impl FilesArgs {
    /// Where files and their metadata go; DynamoDB and S3 use `database`'s timeouts and `aws`.
    pub(super) fn settings(
        &self,
        database: &DatabaseArgs,
        aws: &AwsArgs,
    ) -> Result<FilesSettings, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            name: "STRATUS_FILES_URL",
            message,
        };
        let objects = if let Some(path) = self.files_url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(invalid(
                    "file:// needs a directory, e.g. file://./data/files".into(),
                ));
            }
            ObjectStoreUrl::File(PathBuf::from(path))
        } else if let Some(rest) = self.files_url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            // S3's rules for bucket names (the common subset: no dots, which break virtual-hosted TLS).
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !bucket.starts_with('-')
                && !bucket.ends_with('-');
            if !valid_bucket {
                return Err(invalid(format!(
                    "`{bucket}` is not an S3 bucket name (3 to 63 of a-z, 0-9 and `-`); expected s3://BUCKET/PREFIX"
                )));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|part| part == "." || part == "..")
                || prefix.contains("//")
                || prefix.chars().any(char::is_control)
            {
                return Err(invalid(format!("`{prefix}` is not a usable key prefix")));
            }
            ObjectStoreUrl::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            }
        } else {
            return Err(invalid(
                "expected file://DIRECTORY or s3://BUCKET/PREFIX".into(),
            ));
        };
        let sse = match (self.s3_sse, &self.s3_sse_kms_key_id) {
            (SseMode::Aes256, Some(_)) => {
                return Err(ConfigError::Inconsistent(
                    "STRATUS_S3_SSE_KMS_KEY_ID is set, but STRATUS_S3_SSE is AES256: set STRATUS_S3_SSE=aws:kms to use the key.".into(),
                ));
            }
            (SseMode::Aes256, None) => S3Sse::S3,
            (SseMode::Kms, key) => S3Sse::Kms {
                key_id: key.clone().filter(|k| !k.is_empty()),
            },
        };
        Ok(FilesSettings {
            objects,
            sse,
            metadata: self
                .file_metadata_url
                .as_deref()
                .filter(|url| !url.is_empty())
                .map(|url| database.dynamodb("STRATUS_FILE_METADATA_URL", url, aws))
                .transpose()?,
            max_upload_bytes: self.max_upload_bytes,
            spool_dir: self
                .upload_spool_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir),
            aws: database.aws(aws),
        })
    }
}

/// Uploaded files: where the bytes go, where their metadata goes.
#[derive(Debug, Clone)]
pub struct FilesSettings {
    /// `STRATUS_FILES_URL`.
    pub objects: ObjectStoreUrl,
    /// Server-side encryption for S3.
    pub sse: S3Sse,
    /// File metadata in DynamoDB (`STRATUS_FILE_METADATA_URL`); `None`: in the relational database.
    pub metadata: Option<DynamoDbSettings>,
    /// `STRATUS_MAX_UPLOAD_BYTES`.
    pub max_upload_bytes: u64,
    /// `STRATUS_UPLOAD_SPOOL_DIR`, or the system's temporary directory.
    pub spool_dir: PathBuf,
    /// AWS client settings for S3.
    pub aws: AwsSettings,
}

/// Where uploaded files' bytes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectStoreUrl {
    /// A local directory.
    File(PathBuf),
    /// An S3 bucket, keys under `prefix` (empty, or ending without `/`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/`.
        prefix: String,
    },
}

/// S3 server-side encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Sse {
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS (`aws:kms`), with the key, or the bucket's default key when `None`.
    Kms {
        /// `STRATUS_S3_SSE_KMS_KEY_ID`.
        key_id: Option<String>,
    },
}

/// `STRATUS_S3_SSE` as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseMode {
    /// `AES256`.
    Aes256,
    /// `aws:kms`.
    Kms,
}

fn parse_sse_mode(raw: &str) -> Result<SseMode, String> {
    match raw {
        "AES256" => Ok(SseMode::Aes256),
        "aws:kms" => Ok(SseMode::Kms),
        other => Err(format!("`{other}` is not AES256 or aws:kms")),
    }
}
