# The EC2 variant: user data runs `stratus migrate` as the master user before every start, sets only
# names the binary reads (binary_env_names, from `stratus config --list-env`, passed with -var), and
# the instance role has Session Manager without AmazonSSMManagedInstanceCore's account-wide reads.

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
  mock_data "aws_ssm_parameter" {
    defaults = { value = "ami-0123456789abcdef0" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::stratus-test-releases-1", id = "stratus-test-releases-1" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/ec2/stratus-test/app" }
  }
  mock_resource "aws_launch_template" {
    defaults = { id = "lt-0123456789abcdef0", latest_version = 1 }
  }
  mock_resource "aws_autoscaling_group" {
    defaults = { name = "stratus-test-1", arn = "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:0:autoScalingGroupName/stratus-test-1" }
  }
  mock_resource "aws_autoscaling_policy" {
    defaults = { arn = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:0:autoScalingGroupName/stratus-test-1:policyName/p" }
  }
  mock_resource "aws_iam_instance_profile" {
    defaults = { arn = "arn:aws:iam::123456789012:instance-profile/stratus-test" }
  }
}

variables {
  name                         = "stratus-test"
  subnet_ids                   = ["subnet-1", "subnet-2"]
  security_group_ids           = ["sg-1"]
  target_group_arn             = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/strat-1/0123456789abcdef"
  kms_key_arn                  = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  release_version              = "release-1"
  release_sha256               = "0000000000000000000000000000000000000000000000000000000000000000"
  trusted_proxy_cidrs          = ["10.40.0.0/16"]
  database_url_parameter_name  = "/stratus-test/database-url"
  database_password_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stratus-test/db-app-AbCdEf"
  database_master_secret_arn   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123-AbCdEf"
  files_url                    = "s3://stratus-test-files-1/files"
  file_metadata_url            = "dynamodb://stratus-test-file-metadata"
  files_kms_key_arn            = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  public_url                   = "http://stratus-test-1.eu-west-1.elb.amazonaws.com"
  app_policy_json              = "{}"
}

run "user_data" {
  command = apply

  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "ExecStartPre=/usr/bin/env DATABASE_SECRET_ARN=${var.database_master_secret_arn} STRATUS_APP_DATABASE_SECRET_ARN=${var.database_password_secret_arn} /usr/local/bin/stratus migrate")
    error_message = "the service's start runs `stratus migrate` as the master user, with the app role's secret"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "DATABASE_SECRET_ARN=\"${var.database_password_secret_arn}\"") && strcontains(base64decode(aws_launch_template.this.user_data), "STRATUS_MIGRATE_ON_START=\"false\"")
    error_message = "the service itself connects as the app role and never migrates"
  }
  assert {
    condition = alltrue([
      for m in regexall("(?m)^([A-Z][A-Z0-9_]*)=\"|printf '([A-Z][A-Z0-9_]*)=%s", base64decode(aws_launch_template.this.user_data)) :
      contains(var.binary_env_names, coalesce(m[0], m[1]))
    ])
    error_message = "user data sets a variable the binary does not read (stratus config --list-env)"
  }
  assert {
    condition     = aws_launch_template.this.metadata_options[0].http_tokens == "required" && aws_launch_template.this.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "IMDSv2 only, encrypted root volume"
  }
}

# moto has no StartInstanceRefresh: how a new release rolls through the group is checked here.
run "instance_refresh" {
  command = plan

  assert {
    condition = (
      aws_autoscaling_group.this.instance_refresh[0].strategy == "Rolling" &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].min_healthy_percentage == 100 &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].auto_rollback == true &&
      aws_autoscaling_group.this.health_check_type == "ELB"
    )
    error_message = "a new launch template version replaces instances one by one, keeping full capacity, rolling back on failure"
  }
}

run "instance_role" {
  command = plan

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.session_manager.statement : s.actions])) == toset(["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"])
    error_message = "Session Manager only: no ssm:GetParameter(s) on every parameter, no Run Command"
  }
  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.instance.statement : s.resources if s.sid == "ReadTheParametersFetchedAtStart"])) == toset(["arn:aws:ssm:eu-west-1:123456789012:parameter/stratus-test/database-url"])
    error_message = "the instance reads the DATABASE_URL parameter only"
  }
  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.instance.statement : s.resources if s.sid == "ReadTheDatabaseAndAdminSecrets"])) == toset([var.database_password_secret_arn, var.database_master_secret_arn])
    error_message = "the instance reads the app role's secret and the master secret (migrate), nothing else"
  }
}
