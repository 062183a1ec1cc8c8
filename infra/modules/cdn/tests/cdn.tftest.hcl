# What moto cannot create (CloudFront cache and response-headers policies, so the distribution and
# what hangs off it): checked here with a mocked provider instead.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
  mock_resource "aws_cloudfront_distribution" {
    defaults = { domain_name = "d111111abcdef8.cloudfront.net", arn = "arn:aws:cloudfront::123456789012:distribution/E1", hosted_zone_id = "Z2FDTNDATAQYW2" }
  }
}

mock_provider "aws" {
  alias = "us_east_1"

  mock_resource "aws_acm_certificate" {
    override_during = plan
    defaults = {
      arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
      domain_validation_options = [{
        domain_name           = "www.stratus.test"
        resource_record_name  = "_0123.www.stratus.test."
        resource_record_type  = "CNAME"
        resource_record_value = "_4567.acm-validations.aws."
      }]
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
  mock_resource "aws_wafv2_web_acl" {
    defaults = { arn = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/stratus-test-cdn/0123" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::stratus-test-cdn-logs-1", id = "stratus-test-cdn-logs-1" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-stratus-test-cdn" }
  }
  mock_resource "aws_cloudwatch_log_delivery_destination" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:delivery-destination:stratus-test-cloudfront-s3" }
  }
  mock_resource "aws_cloudwatch_log_delivery_source" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:delivery-source:stratus-test-cloudfront" }
  }
}

variables {
  name               = "stratus-test"
  origin_domain_name = "origin.stratus.test"
  origin_secret      = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"
  enable_waf         = true
}

run "policies_and_distribution" {
  command = apply

  assert {
    condition = (
      aws_cloudfront_cache_policy.static.min_ttl == 86400 && aws_cloudfront_cache_policy.static.default_ttl == 31536000 &&
      aws_cloudfront_cache_policy.static.parameters_in_cache_key_and_forwarded_to_origin[0].cookies_config[0].cookie_behavior == "none" &&
      aws_cloudfront_cache_policy.static.parameters_in_cache_key_and_forwarded_to_origin[0].query_strings_config[0].query_string_behavior == "none"
    )
    error_message = "/static: a year, no cookies or query strings in the key"
  }
  assert {
    condition     = aws_cloudfront_cache_policy.pages.default_ttl == 0 && aws_cloudfront_cache_policy.pages.parameters_in_cache_key_and_forwarded_to_origin[0].query_strings_config[0].query_string_behavior == "all"
    error_message = "pages: the origin's Cache-Control decides, nothing cached without it"
  }
  assert {
    condition = (
      aws_cloudfront_response_headers_policy.security.security_headers_config[0].strict_transport_security[0].access_control_max_age_sec == 31536000 &&
      aws_cloudfront_response_headers_policy.security.security_headers_config[0].frame_options[0].frame_option == "DENY"
    )
    error_message = "HSTS a year, frames denied"
  }
  assert {
    condition = (
      aws_cloudfront_distribution.this.default_cache_behavior[0].cache_policy_id == aws_cloudfront_cache_policy.pages.id &&
      aws_cloudfront_distribution.this.default_cache_behavior[0].response_headers_policy_id == aws_cloudfront_response_headers_policy.security.id &&
      aws_cloudfront_distribution.this.ordered_cache_behavior[0].cache_policy_id == aws_cloudfront_cache_policy.static.id &&
      aws_cloudfront_distribution.this.default_cache_behavior[0].viewer_protocol_policy == "redirect-to-https"
    )
    error_message = "the distribution uses the three policies and redirects to HTTPS"
  }
  assert {
    condition = (
      one([for o in aws_cloudfront_distribution.this.origin : o.custom_origin_config[0].origin_protocol_policy]) == "https-only" &&
      one([for o in aws_cloudfront_distribution.this.origin : [for h in o.custom_header : h.value if h.name == "X-Origin-Verify"]])[0] == var.origin_secret
    )
    error_message = "HTTPS to the origin, with the secret header the ALB requires"
  }
  assert {
    condition     = aws_cloudfront_distribution.this.web_acl_id == aws_wafv2_web_acl.this[0].arn && aws_wafv2_web_acl.this[0].scope == "CLOUDFRONT"
    error_message = "the CLOUDFRONT-scope web ACL (us-east-1) guards the distribution"
  }
  assert {
    condition     = output.url == "https://d111111abcdef8.cloudfront.net"
    error_message = "without a custom domain the site's URL is the distribution's"
  }
}

run "custom_domain" {
  command = plan

  variables {
    domain_names    = ["www.stratus.test"]
    route53_zone_id = "Z0123456789"
  }

  assert {
    condition     = output.url == "https://www.stratus.test"
    error_message = "with a custom domain the site's URL (STRATUS_PUBLIC_URL) is that domain"
  }
  assert {
    condition     = aws_acm_certificate.this[0].domain_name == "www.stratus.test" && aws_acm_certificate.this[0].validation_method == "DNS"
    error_message = "the viewer certificate (us-east-1) is DNS-validated in the zone"
  }
}
