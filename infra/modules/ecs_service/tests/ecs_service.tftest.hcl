# The task definition, its roles and the service's scaling, planned with a mocked provider.
# binary_env_names is `stratus config --list-env`, passed by scripts/terraform-tests.sh:
#   terraform test -var "binary_env_names=$(stratus config --list-env | jq -R . | jq -sc .)"
# every name the task definition sets must be one the binary reads.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/stratus-test/app" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/stratus-test" }
  }
}

variables {
  name                           = "stratus-test"
  image                          = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/stratus:abc123"
  ecr_repository_arn             = "arn:aws:ecr:eu-west-1:123456789012:repository/stratus"
  subnet_ids                     = ["subnet-1", "subnet-2"]
  security_group_ids             = ["sg-1"]
  target_group_arn               = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/strat-1/0123456789abcdef"
  target_group_arn_suffix        = "targetgroup/strat-1/0123456789abcdef"
  lb_arn_suffix                  = "app/stratus-test/0123456789abcdef"
  trusted_proxy_cidrs            = ["10.40.0.0/16"]
  database_url_parameter_arn     = "arn:aws:ssm:eu-west-1:123456789012:parameter/stratus-test/database-url"
  database_password_secret_arn   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stratus-test/db-app-AbCdEf"
  database_master_secret_arn     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123-AbCdEf"
  files_url                      = "s3://stratus-test-files-1/files"
  file_metadata_url              = "dynamodb://stratus-test-file-metadata"
  files_kms_key_arn              = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  kms_key_arn                    = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  public_url                     = "https://www.stratus.test"
  board_url                      = "dynamodb://stratus-test-submissions"
  app_policy_json                = "{}"
  admin_password_hash_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stratus-test/admin-password-hash-AbCdEf"
}

run "task_definition" {
  command = plan

  assert {
    condition     = [for c in jsondecode(aws_ecs_task_definition.this.container_definitions) : c.name] == ["migrate", "stratus"]
    error_message = "the task runs a migrate init container and the app"
  }
  assert {
    condition = alltrue(flatten([
      for c in jsondecode(aws_ecs_task_definition.this.container_definitions) : [
        for e in concat(c.environment, c.secrets) : contains(var.binary_env_names, e.name)
      ]
    ]))
    error_message = "a container sets a variable the binary does not read (stratus config --list-env): ${join(", ", flatten([for c in jsondecode(aws_ecs_task_definition.this.container_definitions) : [for e in concat(c.environment, c.secrets) : e.name if !contains(var.binary_env_names, e.name)]]))}"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].essential == false && jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command == ["migrate"]
    error_message = "migrate is a non-essential container running `stratus migrate`"
  }
  assert {
    condition = (
      { for s in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets : s.name => s.valueFrom }["DATABASE_PASSWORD"] == "${var.database_master_secret_arn}:password::" &&
      { for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.name => e.value }["STRATUS_APP_DATABASE_SECRET_ARN"] == var.database_password_secret_arn &&
      !contains([for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.name], "DATABASE_SECRET_ARN")
    )
    error_message = "migrate gets the master password injected (execution role) and the app role's secret ARN; no secret ARN the task role would need to read"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[1].dependsOn == [{ containerName = "migrate", condition = "SUCCESS" }]
    error_message = "the app starts only after migrate exited 0"
  }
  assert {
    condition = (
      { for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[1].environment : e.name => e.value }["DATABASE_SECRET_ARN"] == var.database_password_secret_arn &&
      { for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[1].environment : e.name => e.value }["STRATUS_MIGRATE_ON_START"] == "false" &&
      { for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[1].environment : e.name => e.value }["STRATUS_PUBLIC_URL"] == "https://www.stratus.test"
    )
    error_message = "the app connects as its own role, never migrates, and knows its public URL"
  }
  assert {
    condition = (
      tonumber({ for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[1].environment : e.name => e.value }["STRATUS_DRAIN_SECONDS"]) <
      tonumber({ for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[1].environment : e.name => e.value }["STRATUS_SHUTDOWN_TIMEOUT"]) &&
      tonumber({ for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[1].environment : e.name => e.value }["STRATUS_SHUTDOWN_TIMEOUT"]) <
      jsondecode(aws_ecs_task_definition.this.container_definitions)[1].stopTimeout &&
      jsondecode(aws_ecs_task_definition.this.container_definitions)[1].stopTimeout == 30
    )
    error_message = "timing chain: drain < shutdown timeout < stopTimeout (30)"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[1].healthCheck.command == ["CMD", "/usr/local/bin/stratus", "healthcheck"]
    error_message = "the container health check is `stratus healthcheck` (liveness)"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[1].readonlyRootFilesystem == true && jsondecode(aws_ecs_task_definition.this.container_definitions)[0].readonlyRootFilesystem == true
    error_message = "read-only root filesystems when ECS Exec is off"
  }
}

run "iam_scopes" {
  command = plan

  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.execution.statement : s.resources if s.sid == "ReadTheInjectedSecrets"])) == toset([var.database_master_secret_arn, var.admin_password_hash_secret_arn])
    error_message = "the execution role reads exactly the master secret (for migrate) and the operator's secrets"
  }
  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.task_database_secret.statement : s.resources if s.sid == "ReadTheDatabaseSecret"])) == toset([var.database_password_secret_arn])
    error_message = "the task role (the app) reads the app role's secret only, never the master secret"
  }
  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.execution.statement : s.resources if s.sid == "ReadTheInjectedParameters"])) == toset([var.database_url_parameter_arn])
    error_message = "the execution role reads the DATABASE_URL parameter only"
  }
}

# What moto cannot create (Application Auto Scaling tags): checked here instead.
run "auto_scaling" {
  command = plan

  variables {
    min_capacity        = 2
    max_capacity        = 4
    requests_per_target = 500
  }

  assert {
    condition     = aws_appautoscaling_target.this.min_capacity == 2 && aws_appautoscaling_target.this.max_capacity == 4
    error_message = "scaling bounds come from the variables"
  }
  assert {
    condition     = aws_appautoscaling_target.this.resource_id == "service/stratus-test/stratus-test" && aws_appautoscaling_target.this.scalable_dimension == "ecs:service:DesiredCount"
    error_message = "the target is the service's desired count"
  }
  assert {
    condition = (
      aws_appautoscaling_policy.cpu.target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ECSServiceAverageCPUUtilization" &&
      aws_appautoscaling_policy.cpu.target_tracking_scaling_policy_configuration[0].target_value == 60 &&
      aws_appautoscaling_policy.memory.target_tracking_scaling_policy_configuration[0].target_value == 75 &&
      aws_appautoscaling_policy.requests[0].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].resource_label == "app/stratus-test/0123456789abcdef/targetgroup/strat-1/0123456789abcdef"
    )
    error_message = "target tracking on CPU 60 %, memory 75 % and, when set, requests per target"
  }
  assert {
    condition     = aws_ecs_service.this.deployment_minimum_healthy_percent == 100 && aws_ecs_service.this.deployment_circuit_breaker[0].rollback
    error_message = "rollouts keep full capacity and roll back on failure"
  }
}

run "a_public_url_with_a_path_is_refused" {
  command = plan

  variables {
    public_url = "https://www.stratus.test/"
  }

  expect_failures = [var.public_url]
}
