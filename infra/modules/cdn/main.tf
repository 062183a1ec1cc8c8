################################################################################
# CDN (seed 002): CloudFront in front of the ALB
#
#   /static/*  fingerprinted assets: cached for a year whatever the origin says, no cookies,
#              no query strings in the key
#   default    pages and /api/v1: the origin's Cache-Control decides (nothing cached without
#              it); every viewer header, cookie and query string is forwarded
#
# CloudFront adds a secret header on every origin request; the ALB forwards only requests that
# carry it, so the ALB cannot be used to go around CloudFront (and its WAF).
# Global pieces (certificate, WAF, log delivery) live in us-east-1, through the aws.us_east_1
# provider the caller passes (configuration_aliases in versions.tf).
################################################################################

data "aws_caller_identity" "current" {}

locals {
  custom_domain = length(var.domain_names) > 0
  origin_id     = "alb"
  # AWS-managed policies, referenced by their documented IDs.
  # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html
  all_viewer_except_host_header = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
}

################################################################################
# Certificate (optional): ACM in us-east-1, validated through Route 53
################################################################################

resource "aws_acm_certificate" "this" {
  count = local.custom_domain ? 1 : 0

  provider                  = aws.us_east_1
  domain_name               = var.domain_names[0]
  subject_alternative_names = slice(var.domain_names, 1, length(var.domain_names))
  validation_method         = "DNS"
  key_algorithm             = "EC_prime256v1"

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  for_each = local.custom_domain ? {
    for o in aws_acm_certificate.this[0].domain_validation_options : o.domain_name => o
  } : {}

  zone_id         = var.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count = local.custom_domain ? 1 : 0

  provider                = aws.us_east_1
  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

################################################################################
# Cache and response-header policies
################################################################################

resource "aws_cloudfront_cache_policy" "static" {
  name        = "${var.name}-static"
  comment     = "Fingerprinted /static assets: immutable, cached a year"
  min_ttl     = 86400
  default_ttl = 31536000
  max_ttl     = 31536000

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_cache_policy" "pages" {
  name        = "${var.name}-pages"
  comment     = "Pages and API: follow the origin's Cache-Control; without it, do not cache"
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = 86400

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    query_strings_config {
      query_string_behavior = "all"
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "security" {
  # checkov:skip=CKV_AWS_259: HSTS preload is a hard-to-undo commitment for the whole registrable domain; it is the opt-in variable hsts_preload (max-age, includeSubDomains and override are always set)
  name    = "${var.name}-security-headers"
  comment = "HSTS and the usual hardening headers on every response"

  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = var.hsts_preload
      override                   = true
    }

    content_type_options {
      override = true
    }

    frame_options {
      frame_option = "DENY"
      override     = true
    }

    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = false
    }
  }
}

################################################################################
# Distribution
################################################################################

resource "aws_cloudfront_distribution" "this" {
  # checkov:skip=CKV_AWS_86: access logs go through CloudFront standard logging v2 (aws_cloudwatch_log_delivery below), which this check does not recognise
  # checkov:skip=CKV_AWS_310: one ALB origin spread over 2-3 AZs; a second origin would need a second region
  # checkov:skip=CKV_AWS_305: the app serves "/" itself; a default root object would bypass it
  # checkov:skip=CKV_AWS_374: no geo restriction: the app serves everyone
  # checkov:skip=CKV2_AWS_47: the optional WAF (enable_waf) carries AWSManagedRulesKnownBadInputsRuleSet, which covers Log4j; WAF is off in dev for cost
  # checkov:skip=CKV_AWS_68: WAF is optional (enable_waf): on in prod, off in dev for cost
  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  price_class     = var.price_class
  comment         = "${var.name}: Stratus"
  aliases         = var.domain_names
  web_acl_id      = var.enable_waf ? aws_wafv2_web_acl.this[0].arn : null

  origin {
    origin_id   = local.origin_id
    domain_name = var.origin_domain_name

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = var.origin_protocol_policy
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = 30
      origin_keepalive_timeout = 5
    }

    custom_header {
      name  = var.origin_secret_header_name
      value = var.origin_secret
    }

    # The app builds absolute links (Atom feed, sitemap, redirects) from the host the viewer used. With the
    # all_viewer_except_host_header policy the origin sees the ALB's name as Host, so CloudFront also
    # says the public name; the app believes it only from STRATUS_TRUSTED_PROXIES (the ALB's subnets).
    dynamic "custom_header" {
      for_each = length(var.domain_names) > 0 ? [var.domain_names[0]] : []
      content {
        name  = "X-Forwarded-Host"
        value = custom_header.value
      }
    }
  }

  default_cache_behavior {
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.pages.id
    origin_request_policy_id   = local.all_viewer_except_host_header
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
  }

  ordered_cache_behavior {
    path_pattern               = "/static/*"
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.static.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn            = local.custom_domain ? aws_acm_certificate_validation.this[0].certificate_arn : null
    cloudfront_default_certificate = !local.custom_domain
    ssl_support_method             = local.custom_domain ? "sni-only" : null
    minimum_protocol_version       = "TLSv1.2_2021"
  }

  tags = var.tags
}

resource "aws_route53_record" "alias" {
  for_each = local.custom_domain ? toset(flatten([for d in var.domain_names : ["${d}|A", "${d}|AAAA"]])) : toset([])

  zone_id = var.route53_zone_id
  name    = split("|", each.value)[0]
  type    = split("|", each.value)[1]

  alias {
    name                   = aws_cloudfront_distribution.this.domain_name
    zone_id                = aws_cloudfront_distribution.this.hosted_zone_id
    evaluate_target_health = false
  }
}

################################################################################
# Access logs (CloudFront standard logging v2 to S3; no bucket ACLs needed)
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging.html
################################################################################

resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_145: log delivery writes with SSE-S3; KMS would need a key in us-east-1 just for logs
  # checkov:skip=CKV_AWS_18: this is the log sink itself; logging its own access would recurse
  # checkov:skip=CKV_AWS_144: access logs are not worth replicating across regions
  # checkov:skip=CKV2_AWS_62: nothing consumes events from the log bucket
  provider      = aws.us_east_1
  bucket_prefix = "${var.name}-cdn-logs-"
  force_destroy = var.logs_force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "logs" {
  provider                = aws.us_east_1
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  provider = aws.us_east_1
  bucket   = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  provider = aws.us_east_1
  bucket   = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  provider = aws.us_east_1
  bucket   = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  provider = aws.us_east_1
  bucket   = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.logs_retention_days
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
  statement {
    sid       = "CloudWatchLogsDeliveryWritesCloudFrontLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/AWSLogs/${data.aws_caller_identity.current.account_id}/CloudFront/*"]

    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
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
  provider = aws.us_east_1
  bucket   = aws_s3_bucket.logs.id
  policy   = data.aws_iam_policy_document.logs.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}

resource "aws_cloudwatch_log_delivery_source" "this" {
  provider     = aws.us_east_1
  name         = "${var.name}-cloudfront"
  log_type     = "ACCESS_LOGS"
  resource_arn = aws_cloudfront_distribution.this.arn

  tags = var.tags
}

resource "aws_cloudwatch_log_delivery_destination" "s3" {
  provider      = aws.us_east_1
  name          = "${var.name}-cloudfront-s3"
  output_format = "parquet"

  delivery_destination_configuration {
    destination_resource_arn = aws_s3_bucket.logs.arn
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_delivery" "this" {
  provider                 = aws.us_east_1
  delivery_source_name     = aws_cloudwatch_log_delivery_source.this.name
  delivery_destination_arn = aws_cloudwatch_log_delivery_destination.s3.arn

  tags = var.tags

  depends_on = [aws_s3_bucket_policy.logs]
}

################################################################################
# WAF (optional): CLOUDFRONT scope, so us-east-1
################################################################################

resource "aws_wafv2_web_acl" "this" {
  count = var.enable_waf ? 1 : 0

  provider = aws.us_east_1
  name     = "${var.name}-cdn"
  scope    = "CLOUDFRONT"

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

        # File uploads exceed the rule set's 8 KiB body limit; the app enforces its own.
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
      metric_name                = "${var.name}-cdn-common"
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
      metric_name                = "${var.name}-cdn-known-bad-inputs"
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
      metric_name                = "${var.name}-cdn-ip-reputation"
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
      metric_name                = "${var.name}-cdn-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-cdn"
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "waf" {
  # checkov:skip=CKV_AWS_158: this group lives in us-east-1 (CloudFront WAF logs must), where the stack's regional KMS key does not exist; CloudWatch Logs still encrypts it with an AWS-owned key
  # checkov:skip=CKV_AWS_338: WAF request logs are kept waf_log_retention_days (90 by default); a year of them is rarely worth the storage
  count = var.enable_waf ? 1 : 0

  provider          = aws.us_east_1
  name              = "aws-waf-logs-${var.name}-cdn"
  retention_in_days = var.waf_log_retention_days

  tags = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  count = var.enable_waf ? 1 : 0

  provider                = aws.us_east_1
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
}
