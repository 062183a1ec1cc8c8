################################################################################
# DynamoDB tables
################################################################################

output "submissions_table_name" {
  description = "Name of the submissions table, or null with the postgres engine."
  value       = try(aws_dynamodb_table.submissions[0].name, null)
}

output "file_metadata_table_name" {
  description = "Name of the file-metadata table, or null when files are off."
  value       = try(aws_dynamodb_table.file_metadata[0].name, null)
}

output "table_names" {
  description = "Names of every table the app uses."
  value       = try(concat(aws_dynamodb_table.submissions[*].name, aws_dynamodb_table.file_metadata[*].name), [])
}

output "table_arns" {
  description = "ARNs of every table the app uses."
  value       = try(local.table_arns, [])
}

################################################################################
# RDS PostgreSQL
################################################################################

output "db_instance_identifier" {
  description = "Identifier of the DB instance (CloudWatch DBInstanceIdentifier), or null with DynamoDB."
  value       = try(aws_db_instance.this[0].identifier, null)
}

output "db_address" {
  description = "Host name of the DB instance, or null with DynamoDB."
  value       = try(aws_db_instance.this[0].address, null)
}

output "db_master_secret_arn" {
  description = "ARN of the RDS-managed Secrets Manager secret (JSON with \"username\" and \"password\"), or null with DynamoDB."
  value       = try(aws_db_instance.this[0].master_user_secret[0].secret_arn, null)
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

output "uses_postgres" {
  description = "True when the app talks to RDS (so DATABASE_PASSWORD must be injected)."
  value       = local.postgres
}

################################################################################
# Files bucket
################################################################################

output "files_bucket_name" {
  description = "Name of the files bucket, or null when files are off."
  value       = try(aws_s3_bucket.files[0].id, null)
}

output "files_bucket_arn" {
  description = "ARN of the files bucket, or null when files are off."
  value       = try(aws_s3_bucket.files[0].arn, null)
}

output "files_prefix" {
  description = "Key prefix the app may use in the files bucket."
  value       = var.files_prefix
}

################################################################################
# IAM
################################################################################

output "app_policy_json" {
  description = "IAM policy JSON granting the app exactly its table, bucket-prefix, parameter and key actions."
  value       = try(data.aws_iam_policy_document.app.json, null)
}
