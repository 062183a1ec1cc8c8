################################################################################
# Data: the three tiers' stores and the IAM policy that lets the app (ECS task role or EC2
# instance role) use exactly these.
#
#   RDS PostgreSQL (always): users, blog posts, admin sessions, and the board unless board_store
#                            is "dynamodb" (DATABASE_URL, from the SSM parameter)
#   DynamoDB submissions     (board_store = "dynamodb", seed 000): the board (STRATUS_BOARD_URL)
#   S3 files bucket + DynamoDB file_metadata (always, seed 004): uploads (STRATUS_FILES_URL,
#                            STRATUS_FILE_METADATA_URL)
################################################################################

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  region         = data.aws_region.current.name
  board_dynamodb = var.board_store == "dynamodb"
  db_log_exports = ["postgresql", "upgrade"]
  db_port        = 5432
  files_arn      = aws_s3_bucket.files.arn

  # No password in the URL: the app reads it from the RDS-managed secret (DATABASE_SECRET_ARN).
  database_url = "postgres://${var.db_username}@${aws_db_instance.this.address}:${local.db_port}/${var.db_name}?sslmode=verify-full"
  # Unset (null) keeps the board in DATABASE_URL's database.
  board_url         = local.board_dynamodb ? "dynamodb://${aws_dynamodb_table.submissions[0].name}" : null
  files_url         = "s3://${aws_s3_bucket.files.id}/${trimsuffix(var.files_prefix, "/")}"
  file_metadata_url = "dynamodb://${aws_dynamodb_table.file_metadata.name}"
}

################################################################################
# DynamoDB tables
# Key schemas must equal `stratus config --dynamodb-schemas` (checked by infra/tests); the app
# verifies them at start with DescribeTable and never creates tables in AWS.
################################################################################

# Submissions (seed 000), only with board_store = "dynamodb": one item per submission, newest last
# within a user; the visit counter and the "latest" pointer live here too under keys no username
# can take.
resource "aws_dynamodb_table" "submissions" {
  count = local.board_dynamodb ? 1 : 0

  name                        = "${var.name}-submissions"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "username"
  range_key                   = "timestamp"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "username"
    type = "S"
  }

  attribute {
    name = "timestamp"
    type = "S"
  }

  attribute {
    name = "submission_id"
    type = "S"
  }

  global_secondary_index {
    name            = "by_submission_id"
    hash_key        = "submission_id"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

# File metadata (seed 004, always): one item per uploaded object; listed per owner, newest first.
resource "aws_dynamodb_table" "file_metadata" {
  name                        = "${var.name}-file-metadata"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "file_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "file_id"
    type = "S"
  }

  attribute {
    name = "owner"
    type = "S"
  }

  attribute {
    name = "created_at"
    type = "S"
  }

  global_secondary_index {
    name            = "by_owner"
    hash_key        = "owner"
    range_key       = "created_at"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

################################################################################
# RDS PostgreSQL 16
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html
################################################################################

resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.name}-"
  description = "${var.name}: isolated subnets (no route out of the VPC)"
  subnet_ids  = var.isolated_subnet_ids

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(var.isolated_subnet_ids) >= 2 && var.db_security_group_id != null
      error_message = "RDS needs isolated_subnet_ids in two or more AZs and db_security_group_id."
    }
  }
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-pg16-"
  family      = "postgres16"
  description = "${var.name}: TLS required, slow statements logged"

  # Refuse unencrypted connections; the app also verifies the server (sslmode=verify-full).
  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "immediate"
  }

  parameter {
    name         = "log_min_duration_statement"
    value        = "1000"
    apply_method = "immediate"
  }

  parameter {
    name         = "log_connections"
    value        = "1"
    apply_method = "immediate"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  count = var.db_monitoring_interval_seconds > 0 ? 1 : 0

  name_prefix        = "${var.name}-rds-mon-"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  count = var.db_monitoring_interval_seconds > 0 ? 1 : 0

  role       = aws_iam_role.rds_monitoring[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# RDS would create these on the first export, never expiring and not encrypted with our key; made
# here first (the instance depends on them), with retention and the stack's key.
resource "aws_cloudwatch_log_group" "rds" {
  # checkov:skip=CKV_AWS_338: PostgreSQL's own log (slow statements, connections) is kept db_log_retention_days, 30 by default; raise it where those logs are audit evidence
  for_each = toset(local.db_log_exports)

  name              = "/aws/rds/instance/${var.name}/${each.key}"
  retention_in_days = var.db_log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_db_instance" "this" {
  # checkov:skip=CKV_AWS_157: Multi-AZ is the db_multi_az variable: true in prod, false in the cheap dev environment
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  port           = local.db_port

  db_name  = var.db_name
  username = var.db_username
  # RDS creates the password, stores it in Secrets Manager (encrypted with our key) and rotates it.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn
  # Lets operators log in with short-lived IAM tokens instead of the master password.
  iam_database_authentication_enabled = true

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.db_security_group_id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = var.db_multi_az
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  backup_retention_period = var.db_backup_retention_days
  backup_window           = "03:00-04:00"
  maintenance_window      = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot   = true
  deletion_protection     = var.deletion_protection
  skip_final_snapshot     = false
  # Stamped with the creation time (kept by ignore_changes), so a later stack of the same name
  # does not collide with the snapshot this one leaves behind.
  final_snapshot_identifier = "${var.name}-final-${formatdate("YYYYMMDDhhmmss", timestamp())}"
  delete_automated_backups  = false

  auto_minor_version_upgrade      = true
  allow_major_version_upgrade     = false
  apply_immediately               = false
  enabled_cloudwatch_logs_exports = local.db_log_exports

  performance_insights_enabled          = var.db_performance_insights_enabled
  performance_insights_kms_key_id       = var.db_performance_insights_enabled ? var.kms_key_arn : null
  performance_insights_retention_period = var.db_performance_insights_enabled ? 7 : null

  monitoring_interval = var.db_monitoring_interval_seconds
  monitoring_role_arn = var.db_monitoring_interval_seconds > 0 ? aws_iam_role.rds_monitoring[0].arn : null

  tags = var.tags

  lifecycle {
    ignore_changes = [final_snapshot_identifier]
  }

  depends_on = [aws_cloudwatch_log_group.rds]
}

################################################################################
# The app's own database role (not the master user). `stratus migrate`, connected as the master
# user, applies the migrations and then creates or updates this login role with this password,
# granting it only SELECT/INSERT/UPDATE/DELETE on the schema's tables and USAGE/SELECT on its
# sequences. The serving app connects with it (DATABASE_SECRET_ARN = this secret).
# The password comes from Secrets Manager's generator; ignore_changes keeps the first one drawn.
################################################################################

data "aws_secretsmanager_random_password" "app_db" {
  password_length     = 40
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "app_db" {
  # checkov:skip=CKV2_AWS_57: the app role's password changes only through `stratus migrate`, which sets it from this secret at every deployment; put a new value and redeploy to rotate
  name_prefix             = "${var.name}/db-app-"
  description             = "${var.name}: the app's PostgreSQL login role (${var.db_app_username}), set by stratus migrate"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "app_db" {
  secret_id = aws_secretsmanager_secret.app_db.id
  secret_string = jsonencode({
    username = var.db_app_username
    password = data.aws_secretsmanager_random_password.app_db.random_password
  })

  lifecycle {
    ignore_changes = [secret_string]
  }
}

################################################################################
# SSM parameter (seed 004): DATABASE_URL, no password in it
# ECS injects it with `secrets`; the EC2 variant reads it at boot.
################################################################################

resource "aws_ssm_parameter" "database_url" {
  name        = "/${var.name}/database-url"
  description = "DATABASE_URL for ${var.name} (RDS PostgreSQL); the app reads the password from the RDS-managed secret"
  type        = "SecureString"
  key_id      = var.kms_key_arn
  value       = local.database_url

  tags = var.tags
}

################################################################################
# Files bucket (seed 004): objects under files_prefix, metadata in the file_metadata table
################################################################################

resource "aws_s3_bucket" "files" {
  # checkov:skip=CKV_AWS_144: cross-region replication is a disaster-recovery decision with its own cost; versioning and PITR cover mistakes
  # checkov:skip=CKV2_AWS_62: nothing consumes object events yet
  bucket_prefix = "${var.name}-files-"
  force_destroy = var.files_force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "files" {
  bucket                  = aws_s3_bucket.files.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "files" {
  bucket = aws_s3_bucket.files.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "files" {
  bucket = aws_s3_bucket.files.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true # one KMS call per object batch instead of per object: cheaper
  }
}

resource "aws_s3_bucket_versioning" "files" {
  bucket = aws_s3_bucket.files.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "files" {
  bucket = aws_s3_bucket.files.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.files_noncurrent_version_expiration_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.files]
}

resource "aws_s3_bucket_logging" "files" {
  bucket        = aws_s3_bucket.files.id
  target_bucket = aws_s3_bucket.files_access_logs.id
  target_prefix = "files/"

  # S3 checks at once that the target accepts log delivery: its policy must already be there.
  depends_on = [aws_s3_bucket_policy.files_access_logs, aws_s3_bucket_ownership_controls.files_access_logs]
}

data "aws_iam_policy_document" "files" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.files.arn, "${aws_s3_bucket.files.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOldTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.files.arn, "${aws_s3_bucket.files.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # Every object is SSE-KMS under our key. A PutObject (or CreateMultipartUpload) that asks for
  # anything else is refused; one that asks for nothing gets the bucket default (SSE-KMS, this
  # key). "IfExists" because UploadPart and CompleteMultipartUpload, also s3:PutObject, carry no
  # encryption headers: a plain Null test would break every multipart upload.
  statement {
    sid       = "DenyUploadsNotEncryptedWithKms"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.files.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }

  statement {
    sid       = "DenyUploadsUnderAnotherKmsKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.files.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [var.kms_key_arn]
    }
  }
}

resource "aws_s3_bucket_policy" "files" {
  bucket = aws_s3_bucket.files.id
  policy = data.aws_iam_policy_document.files.json

  depends_on = [aws_s3_bucket_public_access_block.files]
}

# Server access logs of the files bucket. S3 delivers these only to SSE-S3 buckets.
resource "aws_s3_bucket" "files_access_logs" {
  # checkov:skip=CKV_AWS_145: S3 server access log delivery supports only SSE-S3 target buckets
  # checkov:skip=CKV_AWS_18: this is the log sink itself; logging its own access would recurse
  # checkov:skip=CKV_AWS_144: access logs are not worth replicating across regions
  # checkov:skip=CKV2_AWS_62: nothing consumes events from the log bucket
  bucket_prefix = "${var.name}-files-logs-"
  force_destroy = var.files_access_logs_force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "files_access_logs" {
  bucket                  = aws_s3_bucket.files_access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "files_access_logs" {
  bucket = aws_s3_bucket.files_access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "files_access_logs" {
  bucket = aws_s3_bucket.files_access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "files_access_logs" {
  bucket = aws_s3_bucket.files_access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "files_access_logs" {
  bucket = aws_s3_bucket.files_access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.files_access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "files_access_logs" {
  statement {
    sid       = "S3LogDeliveryFromTheFilesBucket"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.files_access_logs.arn}/files/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.files.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.files_access_logs.arn, "${aws_s3_bucket.files_access_logs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "files_access_logs" {
  bucket = aws_s3_bucket.files_access_logs.id
  policy = data.aws_iam_policy_document.files_access_logs.json

  depends_on = [aws_s3_bucket_public_access_block.files_access_logs]
}

################################################################################
# The app's access policy (attached by ecs_service to the task role, by asg_service to the
# instance role). Exactly what the binary calls, on exactly these resources.
################################################################################

data "aws_iam_policy_document" "app" {
  # The board (board_store = "dynamodb"). Transactions are authorized per contained action:
  # Put/Update by PutItem/UpdateItem, ConditionCheck by ConditionCheckItem. There is no separate
  # TransactWriteItems permission.
  # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
  dynamic "statement" {
    for_each = local.board_dynamodb ? [1] : []

    content {
      sid = "ReadWriteTheBoardTable"
      actions = [
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
      ]
      resources = [
        aws_dynamodb_table.submissions[0].arn,
        "${aws_dynamodb_table.submissions[0].arn}/index/by_submission_id",
      ]
    }
  }

  # File metadata: one item per object, written after the object, deleted with it, listed per
  # owner through the by_owner index. DescribeTable is the start-up schema check.
  statement {
    sid = "ReadWriteTheFileMetadataTable"
    actions = [
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:DeleteItem",
      "dynamodb:Query",
    ]
    resources = [
      aws_dynamodb_table.file_metadata.arn,
      "${aws_dynamodb_table.file_metadata.arn}/index/by_owner",
    ]
  }

  # Objects only under the prefix: single and multipart uploads (s3:PutObject covers
  # Create/UploadPart/Complete), downloads, deletes, and cleaning up failed multipart uploads.
  statement {
    sid = "ObjectsUnderTheFilesPrefix"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${local.files_arn}/${var.files_prefix}*"]
  }

  # Listing (the orphan sweep) only below the prefix. "IfExists": S3 also consults ListBucket,
  # without any s3:prefix, to decide whether a GET/HEAD of a missing key answers 404 or 403. The
  # app reads 404 as "no such object" (the sweep's existence check); a 403 there would be an
  # outage. A list without a prefix passes too, which in this bucket (the app's files only; the
  # access logs have their own bucket) shows nothing beyond the prefix.
  statement {
    sid       = "ListOnlyTheFilesPrefix"
    actions   = ["s3:ListBucket"]
    resources = [local.files_arn]

    condition {
      test     = "StringLikeIfExists"
      variable = "s3:prefix"
      values   = [var.files_prefix, "${var.files_prefix}*"]
    }
  }

  statement {
    sid       = "ReadTheDatabaseUrlParameter"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.database_url.arn]
  }

  # SSE-KMS objects: S3 asks KMS for a data key on upload and to decrypt it on download, on the
  # caller's behalf. Only through S3, and only for this bucket (with S3 Bucket Keys the
  # encryption context is the bucket ARN; without, the object ARN).
  statement {
    sid       = "UseTheKeyThroughS3ForTheFilesBucket"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [local.files_arn, "${local.files_arn}/${var.files_prefix}*"]
    }
  }

  # The tables and the SecureString parameter are encrypted with the same key; again only
  # through those services.
  statement {
    sid       = "UseTheKeyThroughDynamodbAndSsm"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com", "ssm.${local.region}.amazonaws.com"]
    }
  }
}

################################################################################
# RDS and the files tier used to be optional (count = 0 or 1); they always exist now. These keep
# a stack applied before that change from destroying and recreating them.
################################################################################

moved {
  from = aws_dynamodb_table.file_metadata[0]
  to   = aws_dynamodb_table.file_metadata
}

moved {
  from = aws_db_subnet_group.this[0]
  to   = aws_db_subnet_group.this
}

moved {
  from = aws_db_parameter_group.this[0]
  to   = aws_db_parameter_group.this
}

moved {
  from = aws_db_instance.this[0]
  to   = aws_db_instance.this
}

moved {
  from = aws_s3_bucket.files[0]
  to   = aws_s3_bucket.files
}

moved {
  from = aws_s3_bucket_public_access_block.files[0]
  to   = aws_s3_bucket_public_access_block.files
}

moved {
  from = aws_s3_bucket_ownership_controls.files[0]
  to   = aws_s3_bucket_ownership_controls.files
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.files[0]
  to   = aws_s3_bucket_server_side_encryption_configuration.files
}

moved {
  from = aws_s3_bucket_versioning.files[0]
  to   = aws_s3_bucket_versioning.files
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.files[0]
  to   = aws_s3_bucket_lifecycle_configuration.files
}

moved {
  from = aws_s3_bucket_policy.files[0]
  to   = aws_s3_bucket_policy.files
}

moved {
  from = aws_s3_bucket.files_access_logs[0]
  to   = aws_s3_bucket.files_access_logs
}

moved {
  from = aws_s3_bucket_public_access_block.files_access_logs[0]
  to   = aws_s3_bucket_public_access_block.files_access_logs
}

moved {
  from = aws_s3_bucket_ownership_controls.files_access_logs[0]
  to   = aws_s3_bucket_ownership_controls.files_access_logs
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.files_access_logs[0]
  to   = aws_s3_bucket_server_side_encryption_configuration.files_access_logs
}

moved {
  from = aws_s3_bucket_versioning.files_access_logs[0]
  to   = aws_s3_bucket_versioning.files_access_logs
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.files_access_logs[0]
  to   = aws_s3_bucket_lifecycle_configuration.files_access_logs
}

moved {
  from = aws_s3_bucket_policy.files_access_logs[0]
  to   = aws_s3_bucket_policy.files_access_logs
}

moved {
  from = aws_s3_bucket_logging.files[0]
  to   = aws_s3_bucket_logging.files
}
