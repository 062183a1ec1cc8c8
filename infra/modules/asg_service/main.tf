################################################################################
# EC2 Auto Scaling variant (seed 003), selectable instead of ecs_service
#
# t3.micro instances in the private subnets run the release binary under systemd (user data
# below). No AMI baking, no SSH key: the launch template installs a checksummed binary from the
# release bucket, and operators connect with SSM Session Manager.
################################################################################

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

locals {
  region         = data.aws_region.current.name
  partition      = data.aws_partition.current.partition
  release_key    = "${var.release_prefix}${var.release_version}/stratus"
  log_group_name = "/ec2/${var.name}/app"

  # Fetched at every start by ExecStartPre, never rendered into user data: an SSM parameter name or
  # ARN, or a Secrets Manager secret ARN. The admin ones are optional (null: not set).
  secrets = {
    DATABASE_URL                = var.database_url_parameter_name
    STRATUS_ADMIN_PASSWORD_HASH = var.admin_password_hash_secret_arn
    STRATUS_API_TOKEN_SHA256    = var.api_token_sha256_secret_arn
  }
  operator_secret_arns    = compact([var.admin_password_hash_secret_arn, var.api_token_sha256_secret_arn])
  operator_secretsmanager = [for a in local.operator_secret_arns : a if split(":", a)[2] == "secretsmanager"]
  operator_ssm_parameters = [for a in local.operator_secret_arns : a if split(":", a)[2] == "ssm"]

  cloudwatch_agent_config = jsonencode({
    agent = { run_as_user = "root" }
    logs = {
      logs_collected = {
        files = {
          collect_list = [{
            file_path       = "/var/log/stratus/app.log"
            log_group_name  = local.log_group_name
            log_stream_name = "{instance_id}"
          }]
        }
      }
    }
    metrics = {
      namespace              = "CWAgent"
      append_dimensions      = { AutoScalingGroupName = "$${aws:AutoScalingGroupName}" }
      aggregation_dimensions = [["AutoScalingGroupName"]]
      metrics_collected = {
        mem  = { measurement = ["mem_used_percent"] }
        disk = { measurement = ["used_percent"], resources = ["/"] }
      }
    }
  })
}

# The environment both compute variants share: the same names and values as the ECS task definition.
module "app_env" {
  source = "../../modules/app_env"

  service_name                       = var.name
  port                               = var.app_port
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

################################################################################
# Release bucket: CI uploads releases/<version>/stratus here
################################################################################

resource "aws_s3_bucket" "releases" {
  # checkov:skip=CKV_AWS_18: release artifacts are written only by the CI role and read by instances; CloudTrail records who did what
  # checkov:skip=CKV_AWS_144: binaries can be rebuilt from git; no cross-region copy needed
  # checkov:skip=CKV2_AWS_62: nothing consumes events from this bucket
  bucket_prefix = "${var.name}-releases-"
  force_destroy = var.releases_force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "releases" {
  bucket                  = aws_s3_bucket.releases.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "releases" {
  bucket = aws_s3_bucket.releases.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "releases" {
  bucket = aws_s3_bucket.releases.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "releases" {
  bucket = aws_s3_bucket.releases.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "releases" {
  bucket = aws_s3_bucket.releases.id

  rule {
    id     = "expire-old-releases"
    status = "Enabled"

    filter {}

    expiration {
      days = var.releases_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "releases" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.releases.arn, "${aws_s3_bucket.releases.arn}/*"]

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

resource "aws_s3_bucket_policy" "releases" {
  bucket = aws_s3_bucket.releases.id
  policy = data.aws_iam_policy_document.releases.json

  depends_on = [aws_s3_bucket_public_access_block.releases]
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "app" {
  # checkov:skip=CKV_AWS_338: 7-day retention is the deliberate choice of seed 000 (cost); metric filters keep the long-term signal
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

################################################################################
# Instance role
################################################################################

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "instance" {
  name_prefix        = "${var.name}-ec2-"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json

  tags = var.tags
}

# Session Manager (a shell without SSH or a bastion), and nothing else of the SSM agent's: not
# AmazonSSMManagedInstanceCore, which also grants ssm:GetParameter(s) on every parameter in the
# account, Run Command, State Manager and inventory. The agent registers the instance and opens
# the session channels; none of these actions accepts a narrower resource.
# https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-create-iam-instance-profile.html
data "aws_iam_policy_document" "session_manager" {
  # checkov:skip=CKV_AWS_111: the ssmmessages channel actions have no resource-level permissions; UpdateInstanceInformation is scoped to this account's instances
  # checkov:skip=CKV_AWS_356: same statement: Session Manager's channel actions accept only "*" as resource
  statement {
    sid       = "RegisterWithSystemsManager"
    actions   = ["ssm:UpdateInstanceInformation"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${data.aws_caller_identity.current.account_id}:instance/*"]
  }

  statement {
    sid = "SessionManagerChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "session_manager" {
  name   = "session-manager"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.session_manager.json
}

resource "aws_iam_role_policy" "app" {
  count = var.attach_app_policy ? 1 : 0

  name   = "app-data"
  role   = aws_iam_role.instance.id
  policy = var.app_policy_json
}

data "aws_iam_policy_document" "instance" {
  statement {
    sid       = "DownloadReleases"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.releases.arn}/${var.release_prefix}*"]
  }

  statement {
    sid     = "ReadTheParametersFetchedAtStart"
    actions = ["ssm:GetParameter"]
    resources = concat(
      ["arn:${local.partition}:ssm:${local.region}:${data.aws_caller_identity.current.account_id}:parameter${var.database_url_parameter_name}"],
      local.operator_ssm_parameters,
    )
  }

  # The app's role secret (the app), the master secret (`stratus migrate` in ExecStartPre), the admin
  # secrets (fetched at start). One instance role holds all three: on EC2 the processes share it.
  statement {
    sid       = "ReadTheDatabaseAndAdminSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat([var.database_password_secret_arn, var.database_master_secret_arn], local.operator_secretsmanager)
  }

  statement {
    sid       = "DecryptReleasesAndSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "s3.${local.region}.amazonaws.com",
        "ssm.${local.region}.amazonaws.com",
        "secretsmanager.${local.region}.amazonaws.com",
      ]
    }
  }

  statement {
    sid       = "ShipAppLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.app.arn}:*"]
  }

  statement {
    sid       = "PublishAgentMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions; the namespace condition narrows it

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["CWAgent"]
    }
  }
}

resource "aws_iam_role_policy" "instance" {
  name   = "run-stratus"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.instance.json
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${var.name}-"
  role        = aws_iam_role.instance.name

  tags = var.tags
}

################################################################################
# Launch template
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html
################################################################################

resource "aws_launch_template" "this" {
  name_prefix   = "${var.name}-"
  description   = "Stratus ${var.release_version}"
  image_id      = data.aws_ssm_parameter.ami.value
  instance_type = var.instance_type
  ebs_optimized = true
  # No key_name: there is no SSH. Session Manager gives a shell when one is needed.

  iam_instance_profile {
    arn = aws_iam_instance_profile.this.arn
  }

  vpc_security_group_ids = var.security_group_ids

  # IMDSv2 only, and one hop: containers or proxies on the host cannot reach the credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size_gb
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/templates/user_data.sh.tftpl", {
    environment             = module.app_env.environment
    release_bucket          = aws_s3_bucket.releases.id
    release_key             = local.release_key
    release_sha256          = var.release_sha256
    rds_ca_bundle_path      = module.app_env.rds_ca_bundle_path
    secrets                 = { for name, ref in local.secrets : name => ref if ref != null }
    stop_timeout_seconds    = var.stop_timeout_seconds
    app_port                = var.app_port
    master_secret_arn       = var.database_master_secret_arn
    app_secret_arn          = var.database_password_secret_arn
    cloudwatch_agent_config = local.cloudwatch_agent_config
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = var.name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = var.name })
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.shutdown_timeout_seconds < var.stop_timeout_seconds
      error_message = "shutdown_timeout_seconds must be below stop_timeout_seconds (systemd TimeoutStopSec)."
    }
  }
}

################################################################################
# Auto Scaling group
################################################################################

resource "aws_autoscaling_group" "this" {
  name_prefix         = "${var.name}-"
  min_size            = var.min_size
  desired_capacity    = var.desired_capacity
  max_size            = var.max_size
  vpc_zone_identifier = var.subnet_ids
  target_group_arns   = [var.target_group_arn]

  # Replace instances the ALB finds unhealthy, not just ones EC2 finds dead. The grace period
  # covers boot, package install and the binary download (about a minute on t3.micro).
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period_seconds
  default_instance_warmup   = 120
  enabled_metrics           = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupTotalInstances"]

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # A new launch template version (new release, new settings) rolls through the group,
  # launching each replacement before terminating the old instance.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      instance_warmup        = 120
      auto_rollback          = true
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = var.name })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity] # the scaling policies own it after creation
  }
}

################################################################################
# Scaling: seed 003's alarms, +1 instance above 80 % CPU, -1 below 20 %, each over 2 x 5 min
################################################################################

resource "aws_autoscaling_policy" "scale_out" {
  name                   = "${var.name}-scale-out"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "SimpleScaling"
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = 1
  cooldown               = 300
}

resource "aws_autoscaling_policy" "scale_in" {
  name                   = "${var.name}-scale-in"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "SimpleScaling"
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = -1
  cooldown               = 300
}

resource "aws_cloudwatch_metric_alarm" "cpu_high" {
  alarm_name          = "${var.name}-cpu-high"
  alarm_description   = "Scale out: average CPU above ${var.scale_out_cpu_percent}% for 2 x 5 minutes."
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.this.name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.scale_out_cpu_percent
  alarm_actions       = [aws_autoscaling_policy.scale_out.arn]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "cpu_low" {
  alarm_name          = "${var.name}-cpu-low"
  alarm_description   = "Scale in: average CPU below ${var.scale_in_cpu_percent}% for 2 x 5 minutes."
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.this.name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = var.scale_in_cpu_percent
  alarm_actions       = [aws_autoscaling_policy.scale_in.arn]

  tags = var.tags
}
