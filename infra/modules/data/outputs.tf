################################################################################
# DynamoDB tables
################################################################################

output "submissions_table_name" {
  description = "Name of the board's submissions table, or null with board_store = \"postgres\"."
  value       = try(aws_dynamodb_table.submissions[0].name, null)
}

output "file_metadata_table_name" {
  description = "Name of the file-metadata table."
  value       = try(aws_dynamodb_table.file_metadata.name, null)
}

output "table_names" {
  description = "Names of every table the app uses."
  value       = try(concat(aws_dynamodb_table.submissions[*].name, [aws_dynamodb_table.file_metadata.name]), [])
}

output "table_arns" {
  description = "ARNs of every table the app uses."
  value       = try(concat(aws_dynamodb_table.submissions[*].arn, [aws_dynamodb_table.file_metadata.arn]), [])
}

################################################################################
# RDS PostgreSQL
################################################################################

output "db_instance_identifier" {
  description = "Identifier of the DB instance (CloudWatch DBInstanceIdentifier)."
  value       = try(aws_db_instance.this.identifier, null)
}

output "db_address" {
  description = "Host name of the DB instance."
  value       = try(aws_db_instance.this.address, null)
}

output "db_master_secret_arn" {
  description = "ARN of the RDS-managed Secrets Manager secret (JSON with \"username\" and \"password\"); the app's DATABASE_SECRET_ARN."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "app_db_secret_arn" {
  description = "ARN of the secret ({\"username\",\"password\"}) of the app's own login role: the serving app's DATABASE_SECRET_ARN and `stratus migrate`'s STRATUS_APP_DATABASE_SECRET_ARN."
  value       = try(aws_secretsmanager_secret.app_db.arn, null)
}

output "db_master_username" {
  description = "Master user name (DATABASE_URL's user; `stratus migrate` connects as it)."
  value       = var.db_username
}

output "db_log_group_names" {
  description = "The RDS log groups (postgresql, upgrade), created with retention and the stack's key."
  value       = try([for g in aws_cloudwatch_log_group.rds : g.name], [])
}

################################################################################
# SSM parameter
################################################################################

output "database_url_parameter_arn" {
  description = "ARN of the SecureString parameter holding DATABASE_URL."
  value       = try(aws_ssm_parameter.database_url.arn, null)
}

output "database_url_parameter_name" {
  description = "Name of the SecureString parameter holding DATABASE_URL."
  value       = try(aws_ssm_parameter.database_url.name, null)
}

output "board_url" {
  description = "STRATUS_BOARD_URL (dynamodb://TABLE) with board_store = \"dynamodb\", else null (the board stays in DATABASE_URL's database)."
  value       = local.board_url
}

################################################################################
# Files bucket
################################################################################

output "files_bucket_name" {
  description = "Name of the files bucket."
  value       = try(aws_s3_bucket.files.id, null)
}

output "files_bucket_arn" {
  description = "ARN of the files bucket."
  value       = try(aws_s3_bucket.files.arn, null)
}

output "files_prefix" {
  description = "Key prefix the app may use in the files bucket."
  value       = var.files_prefix
}

output "files_url" {
  description = "STRATUS_FILES_URL: s3://BUCKET/PREFIX (the prefix without its trailing slash)."
  value       = local.files_url
}

output "file_metadata_url" {
  description = "STRATUS_FILE_METADATA_URL: dynamodb://TABLE."
  value       = local.file_metadata_url
}

output "files_kms_key_arn" {
  description = "The customer managed key the bucket encrypts with: STRATUS_S3_SSE = aws:kms and STRATUS_S3_SSE_KMS_KEY_ID."
  value       = var.kms_key_arn
}

################################################################################
# IAM
################################################################################

output "app_policy_json" {
  description = "IAM policy JSON granting the app exactly its table, bucket-prefix, parameter and key actions."
  value       = try(data.aws_iam_policy_document.app.json, null)
}
