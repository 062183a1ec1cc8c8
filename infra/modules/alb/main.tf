################################################################################
# Application Load Balancer
#
# Listeners: with a certificate, HTTPS:443 serves and HTTP:80 only redirects to it; without one
# (dev, or a CloudFront-only origin), HTTP:80 serves. On the serving listener:
#   priority 1    /metrics, /metrics/*  -> fixed 404 (Prometheus metrics stay inside the VPC)
#   priority 100  secret origin header  -> forward  (only when origin_secret is set)
#   default                             -> forward, or a fixed 403 when origin_secret is set, so
#                                          the ALB cannot be used around CloudFront
################################################################################

data "aws_elb_service_account" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  https = var.certificate_arn != null
  # A separate boolean: the secret itself is sensitive and (from random_password) unknown at plan
  # time, and neither may decide count or for_each.
  require_origin   = var.require_origin_secret
  serving_listener = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http_forward[0].arn
  log_prefix       = "alb"
}

################################################################################
# Load balancer
################################################################################

resource "aws_lb" "this" {
  # checkov:skip=CKV2_AWS_76: WAF is optional (enable_waf) and, when on, includes AWSManagedRulesKnownBadInputsRuleSet (Log4j); behind CloudFront the edge WAF does this
  # checkov:skip=CKV2_AWS_20: with a certificate, port 80 only redirects to HTTPS (aws_lb_listener.http_redirect); without one there is no HTTPS to redirect to
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  subnets            = var.subnet_ids
  security_groups    = [var.security_group_id]

  # Requests whose header names are not valid HTTP are dropped instead of passed to the app.
  drop_invalid_header_fields = true
  desync_mitigation_mode     = "defensive"
  # Must stay below the app's keep-alive timeout (STRATUS_KEEP_ALIVE_TIMEOUT, 75 s), or the app
  # may close an idle connection the ALB is about to reuse and the client gets a 502.
  idle_timeout               = var.idle_timeout_seconds
  enable_deletion_protection = var.enable_deletion_protection
  enable_http2               = true

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = local.log_prefix
    enabled = true
  }

  tags = var.tags

  depends_on = [aws_s3_bucket_policy.logs]

  lifecycle {
    precondition {
      condition     = !var.require_origin_secret || var.origin_secret != null
      error_message = "require_origin_secret needs origin_secret."
    }
  }
}

################################################################################
# Target group and health check
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
################################################################################

resource "aws_lb_target_group" "this" {
  # checkov:skip=CKV_AWS_378: TLS ends at the ALB; the hop to the app is plain HTTP inside the VPC, between two security groups that admit only each other
  name_prefix = "strat-"
  vpc_id      = var.vpc_id
  target_type = var.target_type
  port        = var.target_port
  # TLS ends at the ALB; inside the VPC the app speaks plain HTTP on a private address.
  protocol         = "HTTP"
  protocol_version = "HTTP1"

  # ALB stops sending new requests to a deregistering target at once and waits this long for
  # in-flight ones. It must be >= STRATUS_DRAIN_SECONDS (the app keeps serving that long after
  # SIGTERM) and < STRATUS_SHUTDOWN_TIMEOUT (the app's hard deadline), see docs/deploy-aws.md.
  deregistration_delay = var.deregistration_delay_seconds

  health_check {
    enabled             = true
    path                = var.health_check_path
    protocol            = "HTTP"
    port                = "traffic-port"
    matcher             = "200"
    interval            = var.health_check_interval_seconds
    timeout             = var.health_check_timeout_seconds
    healthy_threshold   = var.healthy_threshold
    unhealthy_threshold = var.unhealthy_threshold
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# Listeners
################################################################################

resource "aws_lb_listener" "http_redirect" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "http_forward" {
  # checkov:skip=CKV_AWS_2: only created when no certificate_arn is given (dev, or an origin reached by CloudFront over HTTP); with a certificate the redirect listener above replaces it
  # checkov:skip=CKV_AWS_103: same listener: no TLS without a certificate
  # checkov:skip=CKV2_AWS_20: same listener: there is no HTTPS listener to redirect to without a certificate
  count = local.https ? 0 : 1

  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.require_origin ? "fixed-response" : "forward"
    target_group_arn = local.require_origin ? null : aws_lb_target_group.this.arn

    dynamic "fixed_response" {
      for_each = local.require_origin ? [1] : []

      content {
        content_type = "text/plain"
        message_body = "Forbidden"
        status_code  = "403"
      }
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = local.require_origin ? "fixed-response" : "forward"
    target_group_arn = local.require_origin ? null : aws_lb_target_group.this.arn

    dynamic "fixed_response" {
      for_each = local.require_origin ? [1] : []

      content {
        content_type = "text/plain"
        message_body = "Forbidden"
        status_code  = "403"
      }
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "hide_metrics" {
  listener_arn = local.serving_listener
  priority     = 1

  action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Not Found"
      status_code  = "404"
    }
  }

  condition {
    path_pattern {
      values = ["/metrics", "/metrics/*"]
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "origin_secret" {
  count = local.require_origin ? 1 : 0

  listener_arn = local.serving_listener
  priority     = 100

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  condition {
    http_header {
      http_header_name = var.origin_secret_header_name
      values           = [var.origin_secret]
    }
  }

  tags = var.tags
}

################################################################################
# Access logs bucket
# ALB access logs support only SSE-S3, not SSE-KMS.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html
################################################################################

resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_145: ALB access log delivery supports only SSE-S3 (AES256), not SSE-KMS
  # checkov:skip=CKV_AWS_18: this is the log sink itself; logging its own access would recurse
  # checkov:skip=CKV_AWS_144: cross-region replication of access logs is not worth the cost here
  # checkov:skip=CKV2_AWS_62: nothing consumes events from the log bucket
  bucket_prefix = "${var.name}-alb-logs-"
  force_destroy = var.access_logs_force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket = aws_s3_bucket.logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_logs_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "logs" {
  # Regions opened before August 2022 deliver as a regional ELB account; newer regions as the
  # log-delivery service principal. Granting both keeps the module region-independent.
  statement {
    sid       = "ElbAccountWritesAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/${local.log_prefix}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]

    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }

  statement {
    sid       = "LogDeliveryWritesAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/${local.log_prefix}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]

    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]

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

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}

################################################################################
# WAF (optional)
# https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-list.html
################################################################################

resource "aws_wafv2_web_acl" "this" {
  count = var.enable_waf ? 1 : 0

  name  = var.name
  scope = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "common"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"

        # The common rule set blocks request bodies over 8 KiB; file uploads are bigger. The app
        # enforces its own body limits, so this one rule only counts.
        rule_action_override {
          name = "SizeRestrictions_BODY"

          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "known-bad-inputs"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "ip-reputation"
    priority = 30

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-ip-reputation"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 40

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit_per_5_minutes
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.enable_waf ? 1 : 0

  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this[0].arn
}

# WAF requires the log group name to start with "aws-waf-logs-".
resource "aws_cloudwatch_log_group" "waf" {
  # checkov:skip=CKV_AWS_338: WAF request logs are kept 90 days by default (waf_log_retention_days); a year of them is rarely worth the storage
  count = var.enable_waf ? 1 : 0

  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.waf_log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  count = var.enable_waf ? 1 : 0

  resource_arn            = aws_wafv2_web_acl.this[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }

  redacted_fields {
    single_header {
      name = lower(var.origin_secret_header_name)
    }
  }
}
