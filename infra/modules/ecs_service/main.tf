################################################################################
# ECS on Fargate: cluster, task definition, service, auto scaling, deployment alarm
################################################################################

data "aws_region" "current" {}

locals {
  region         = data.aws_region.current.name
  container_name = "stratus"
  # Runs `stratus migrate` and exits before the app container starts (dependsOn SUCCESS).
  migrate_container_name = "migrate"
}

# The environment both compute variants share (names, values, the migrate subset): one copy.
module "app_env" {
  source = "../../modules/app_env"

  service_name                       = var.name
  port                               = var.container_port
  region                             = local.region
  log_filter                         = var.log_filter
  database_password_secret_arn       = var.database_password_secret_arn
  database_pool_size                 = var.database_pool_size
  database_connect_timeout_seconds   = var.database_connect_timeout_seconds
  database_statement_timeout_seconds = var.database_statement_timeout_seconds
  drain_seconds                      = var.drain_seconds
  shutdown_timeout_seconds           = var.shutdown_timeout_seconds
  request_timeout_seconds            = var.request_timeout_seconds
  keep_alive_timeout_seconds         = var.keep_alive_timeout_seconds
  max_concurrent_requests            = var.max_concurrent_requests
  trusted_proxy_cidrs                = var.trusted_proxy_cidrs
  public_url                         = var.public_url
  board_url                          = var.board_url
  files_url                          = var.files_url
  file_metadata_url                  = var.file_metadata_url
  files_kms_key_arn                  = var.files_kms_key_arn
  max_upload_bytes                   = var.max_upload_bytes
  admin_username                     = var.admin_username
  session_ttl_seconds                = var.session_ttl_seconds
}

locals {
  # The `migrate` init container: `stratus migrate` connected as the master user applies the
  # migrations, then creates or updates the app's login role (module.app_env.migrate_environment).
  # The master password is injected by ECS (execution role) into this container only, so the task
  # role, which the serving app also holds, cannot read the master secret.
  migrate_secrets = {
    DATABASE_URL      = var.database_url_parameter_arn
    DATABASE_PASSWORD = "${var.database_master_secret_arn}:password::"
  }

  # Injected by the ECS agent at start with the execution role; never plaintext in the task
  # definition. DATABASE_URL holds no password (it is seed 004's SSM parameter); the password is read
  # by the app from the Secrets Manager secret RDS manages (DATABASE_SECRET_ARN, module.app_env). The admin
  # values are the operator's own secrets (Secrets Manager or SSM SecureString), optional: unset,
  # the admin login and the API token are off.
  secrets = {
    DATABASE_URL                = var.database_url_parameter_arn
    STRATUS_ADMIN_PASSWORD_HASH = var.admin_password_hash_secret_arn
    STRATUS_API_TOKEN_SHA256    = var.api_token_sha256_secret_arn
  }
  container_secrets = [for k, v in local.secrets : { name = k, valueFrom = v } if v != null]

  # What the execution role may read to inject them: exactly these ARNs.
  operator_secret_arns     = compact([var.admin_password_hash_secret_arn, var.api_token_sha256_secret_arn])
  operator_secretsmanager  = [for a in local.operator_secret_arns : a if split(":", a)[2] == "secretsmanager"]
  operator_ssm_parameters  = [for a in local.operator_secret_arns : a if split(":", a)[2] == "ssm"]
  execution_parameter_arns = concat([var.database_url_parameter_arn], local.operator_ssm_parameters)
  execution_secret_arns    = concat([var.database_master_secret_arn], local.operator_secretsmanager)

  # AWS does not support ECS Exec with a read-only root filesystem (the SSM agent writes into the
  # container), so turning Exec on for a break-glass session trades that hardening away.
  readonly_root_filesystem = !var.enable_execute_command
}

################################################################################
# Cluster
################################################################################

resource "aws_cloudwatch_log_group" "exec" {
  # checkov:skip=CKV_AWS_338: ECS Exec session transcripts follow the app's log_retention_days (seed 000 keeps 7 days); raise it if sessions are audit evidence
  name              = "/ecs/${var.name}/exec"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = var.kms_key_arn
      logging    = "OVERRIDE"

      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.exec.name
      }
    }
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "app" {
  # checkov:skip=CKV_AWS_338: 7-day retention is the deliberate choice of seed 000 (cost); metric filters in the observability module keep the long-term signal
  name              = "/ecs/${var.name}/app"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

################################################################################
# Task execution role: what the ECS agent needs to start the task (pull, logs, secrets)
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html
################################################################################

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_caller_identity" "current" {}

resource "aws_iam_role" "execution" {
  name_prefix        = "${var.name}-exec-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions
  }

  statement {
    sid = "PullTheAppImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchGetImage",
    ]
    resources = [var.ecr_repository_arn]
  }

  statement {
    sid       = "WriteAppLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.app.arn}:*"]
  }

  statement {
    sid       = "ReadTheInjectedParameters"
    actions   = ["ssm:GetParameters"]
    resources = local.execution_parameter_arns
  }

  # The master password (into the migrate container only) and the operator's admin secrets.
  statement {
    sid       = "ReadTheInjectedSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.execution_secret_arns
  }

  statement {
    sid       = "DecryptInjectedSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "ssm.${local.region}.amazonaws.com",
        "secretsmanager.${local.region}.amazonaws.com",
      ]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-task"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

################################################################################
# Task role: what the app itself may call
################################################################################

resource "aws_iam_role" "task" {
  name_prefix        = "${var.name}-task-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

# DynamoDB, S3, the SSM parameter and the KMS key, scoped by the data module that owns them.
resource "aws_iam_role_policy" "task_app" {
  count = var.attach_app_policy ? 1 : 0

  name   = "app-data"
  role   = aws_iam_role.task.id
  policy = var.app_policy_json
}

# The app's own database secret (not the master's), read by the app at start and again when
# PostgreSQL refuses the password it has.
data "aws_iam_policy_document" "task_database_secret" {
  statement {
    sid       = "ReadTheDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.database_password_secret_arn]
  }

  statement {
    sid       = "DecryptTheDatabaseSecret"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "task_database_secret" {
  name   = "database-secret"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task_database_secret.json
}

moved {
  from = aws_iam_role_policy.task_database_secret[0]
  to   = aws_iam_role_policy.task_database_secret
}

data "aws_iam_policy_document" "task_exec" {
  count = var.enable_execute_command ? 1 : 0

  statement {
    sid = "EcsExecChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"] # Session Manager message channels have no resource-level permissions
  }

  statement {
    sid       = "EcsExecFindLogGroup"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"] # DescribeLogGroups cannot be scoped to one group
  }

  statement {
    sid       = "EcsExecWriteTranscript"
    actions   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.exec.arn}:*"]
  }

  statement {
    sid       = "EcsExecSessionEncryption"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "task_exec" {
  count = var.enable_execute_command ? 1 : 0

  name   = "ecs-exec"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task_exec[0].json
}

################################################################################
# Task definition
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html
################################################################################

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64" # the release binary is built for x86_64 glibc only
  }

  # Fargate task storage; the only writable path in an otherwise read-only container.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = local.migrate_container_name
      image                  = var.image
      essential              = false
      command                = ["migrate"]
      user                   = "10001:10001"
      readonlyRootFilesystem = true
      privileged             = false
      environment            = [for k, v in module.app_env.migrate_environment : { name = k, value = v }]
      secrets                = [for k, v in local.migrate_secrets : { name = k, valueFrom = v }]
      linuxParameters = {
        capabilities = {
          drop = ["ALL"]
        }
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.app.name
          awslogs-region        = local.region
          awslogs-stream-prefix = local.migrate_container_name
        }
      }
    },
    {
      name                   = local.container_name
      image                  = var.image
      essential              = true
      user                   = "10001:10001"
      readonlyRootFilesystem = local.readonly_root_filesystem
      privileged             = false
      portMappings = [
        {
          name          = "http"
          containerPort = var.container_port
          protocol      = "tcp"
        }
      ]
      environment = [for k, v in module.app_env.environment : { name = k, value = v }]
      secrets     = local.container_secrets
      # Starts only after the migrations applied and the app's role exists.
      dependsOn = [
        {
          containerName = local.migrate_container_name
          condition     = "SUCCESS"
        }
      ]
      mountPoints = [
        {
          sourceVolume  = "tmp"
          containerPath = "/tmp"
          readOnly      = false
        }
      ]
      linuxParameters = {
        initProcessEnabled = true # forwards SIGTERM and reaps ECS Exec's children
        capabilities = {
          drop = ["ALL"]
        }
      }
      ulimits = [
        {
          name      = "nofile"
          softLimit = 65536
          hardLimit = 65536
        }
      ]
      healthCheck = {
        command     = ["CMD", "/usr/local/bin/stratus", "healthcheck"]
        interval    = 10
        timeout     = 3
        retries     = 3
        startPeriod = 5
      }
      # SIGTERM, then SIGKILL after this many seconds. The app exits by itself within
      # STRATUS_SHUTDOWN_TIMEOUT, which must be shorter.
      stopTimeout = var.stop_timeout_seconds
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.app.name
          awslogs-region        = local.region
          awslogs-stream-prefix = local.container_name
          mode                  = "non-blocking"
          max-buffer-size       = "25m"
        }
      }
    }
  ])

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.shutdown_timeout_seconds < var.stop_timeout_seconds
      error_message = "shutdown_timeout_seconds must be below stop_timeout_seconds, or ECS kills the app before it finishes in-flight requests."
    }

    precondition {
      condition     = var.drain_seconds < var.shutdown_timeout_seconds
      error_message = "drain_seconds must be below shutdown_timeout_seconds."
    }
  }
}

################################################################################
# Service
################################################################################

resource "aws_ecs_service" "this" {
  name                    = var.name
  cluster                 = aws_ecs_cluster.this.arn
  task_definition         = aws_ecs_task_definition.this.arn
  desired_count           = var.desired_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  enable_execute_command  = var.enable_execute_command
  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"

  # Measured start-to-ready is well under a second, so the ALB's first checks (30 s apart) find
  # a ready task; 30 s only covers image pull jitter. A long grace period would just hide tasks
  # that never become healthy.
  health_check_grace_period_seconds = var.health_check_grace_period_seconds

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  availability_zone_rebalancing      = "ENABLED"

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = var.target_group_arn
    container_name   = local.container_name
    container_port   = var.container_port
  }

  # Tasks that never get healthy stop the rollout and ECS returns to the last good revision.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # A deployment whose tasks run but answer 5xx is rolled back too.
  alarms {
    enable      = true
    rollback    = true
    alarm_names = [aws_cloudwatch_metric_alarm.target_5xx_rate.alarm_name]
  }

  tags = var.tags

  lifecycle {
    # desired_count belongs to auto scaling; task_definition to the deploy pipeline, which
    # registers a revision with the new image (see docs/deploy-aws.md, "Deploying").
    ignore_changes = [desired_count, task_definition]
  }

  depends_on = [aws_iam_role_policy.execution]
}

################################################################################
# Deployment alarm: target 5xx rate
################################################################################

resource "aws_cloudwatch_metric_alarm" "target_5xx_rate" {
  alarm_name          = "${var.name}-target-5xx-rate"
  alarm_description   = "More than ${var.rollback_5xx_rate_percent}% of requests answered 5xx by the app; rolls a running ECS deployment back."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.rollback_5xx_rate_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  ok_actions          = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]

  # Below 20 requests a minute one error is noise, not a rate.
  metric_query {
    id          = "rate"
    expression  = "IF(requests >= 20, 100 * FILL(errors, 0) / requests, 0)"
    label       = "Target 5xx %"
    return_data = true
  }

  metric_query {
    id = "errors"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      period      = 60
      stat        = "Sum"
      dimensions = {
        LoadBalancer = var.lb_arn_suffix
        TargetGroup  = var.target_group_arn_suffix
      }
    }
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      period      = 60
      stat        = "Sum"
      dimensions = {
        LoadBalancer = var.lb_arn_suffix
        TargetGroup  = var.target_group_arn_suffix
      }
    }
  }

  tags = var.tags
}

################################################################################
# Auto scaling
# Target tracking rather than seed 003's two step alarms (+1 above 80 %, -1 below 20 %, each
# after 2 x 5 minutes): it sizes the step to the gap, reacts in about 3 minutes instead of 10,
# scales in slowly on its own (15 low datapoints) and needs no hand-made alarms.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-autoscaling-targettracking.html
################################################################################

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.this.name}"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity

  tags = var.tags
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension
  resource_id        = aws_appautoscaling_target.this.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "memory" {
  name               = "${var.name}-memory"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension
  resource_id        = aws_appautoscaling_target.this.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.memory_target_percent
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageMemoryUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "requests" {
  count = var.requests_per_target == null ? 0 : 1

  name               = "${var.name}-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension
  resource_id        = aws_appautoscaling_target.this.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_target
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${var.lb_arn_suffix}/${var.target_group_arn_suffix}"
    }
  }
}
