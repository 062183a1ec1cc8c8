# The app's own database role secret, the RDS log groups, the final snapshot name and the buckets'
# destroy switches.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
  mock_data "aws_secretsmanager_random_password" {
    defaults = { random_password = "app-role-password-0123456789abcdefghijklm" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::stratus-test-files-1", id = "stratus-test-files-1" }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/stratus-test-file-metadata" }
  }
  mock_resource "aws_ssm_parameter" {
    defaults = { arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/stratus-test/database-url" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/stratus-test-rds-mon" }
  }
  mock_resource "aws_db_instance" {
    defaults = { address = "stratus-test.abc.eu-west-1.rds.amazonaws.com" }
  }
}

variables {
  name                 = "stratus-test"
  kms_key_arn          = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  isolated_subnet_ids  = ["subnet-1", "subnet-2"]
  db_security_group_id = "sg-1"
}

run "app_role_secret_and_rds_logs" {
  command = apply

  assert {
    condition     = jsondecode(aws_secretsmanager_secret_version.app_db.secret_string) == { username = "stratus_app", password = "app-role-password-0123456789abcdefghijklm" }
    error_message = "the app role's secret is JSON with its own user name and a generated password"
  }
  assert {
    condition     = aws_secretsmanager_secret.app_db.kms_key_id == var.kms_key_arn
    error_message = "the app role's secret is encrypted with the stack's key"
  }
  assert {
    condition     = jsondecode(aws_secretsmanager_secret_version.app_db.secret_string).username != aws_db_instance.this.username
    error_message = "the app never connects as the master user"
  }
  assert {
    condition = (
      toset(keys(aws_cloudwatch_log_group.rds)) == toset(aws_db_instance.this.enabled_cloudwatch_logs_exports) &&
      alltrue([for g in aws_cloudwatch_log_group.rds : g.retention_in_days == 30 && g.kms_key_id == var.kms_key_arn && startswith(g.name, "/aws/rds/instance/stratus-test/")])
    )
    error_message = "every RDS log export has its log group, with retention and the stack's key, under the name RDS uses"
  }
  assert {
    condition     = can(regex("^stratus-test-final-[0-9]{14}$", aws_db_instance.this.final_snapshot_identifier))
    error_message = "the final snapshot is named with the stack's creation time, so a second stack of the same name does not collide"
  }
  assert {
    condition     = aws_s3_bucket.files.force_destroy == false && aws_s3_bucket.files_access_logs.force_destroy == false
    error_message = "by default neither bucket is force-destroyable"
  }
  assert {
    condition     = aws_db_instance.this.iam_database_authentication_enabled && aws_db_instance.this.manage_master_user_password
    error_message = "master password managed by RDS, IAM authentication on"
  }
}

run "dev_buckets_are_force_destroyable" {
  command = plan

  variables {
    files_force_destroy             = true
    files_access_logs_force_destroy = true
  }

  assert {
    condition     = aws_s3_bucket.files.force_destroy && aws_s3_bucket.files_access_logs.force_destroy
    error_message = "both switches reach their buckets"
  }
}

run "the_app_role_cannot_be_the_master" {
  command = plan

  variables {
    db_app_username = "stratus"
  }

  expect_failures = [var.db_app_username]
}
