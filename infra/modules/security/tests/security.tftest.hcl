# Plan-level checks of the security-group chain with a mocked provider (no AWS, no moto):
#   internet --80/443--> alb --app_port--> app --5432--> db
# and the CloudFront restriction: exactly one rule on the origin-facing prefix list (each such rule
# costs ~55 of a group's 60 rules; two made the first prod apply fail).

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
  mock_data "aws_ec2_managed_prefix_list" {
    defaults = { id = "pl-3b927c52" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }
}

variables {
  name     = "stratus-test"
  vpc_id   = "vpc-0123456789abcdef0"
  app_port = 8000
}

run "open_alb_admits_the_internet_on_80_and_443_only" {
  command = apply

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.alb_http) == 1 && length(aws_vpc_security_group_ingress_rule.alb_https) == 1
    error_message = "without CloudFront the ALB takes HTTP and HTTPS from the internet"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.alb_http["0.0.0.0/0"].from_port == 80 && aws_vpc_security_group_ingress_rule.alb_https["0.0.0.0/0"].to_port == 443
    error_message = "the ALB's internet rules are 80 and 443"
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.alb_from_cloudfront) == 0
    error_message = "no CloudFront rule without restrict_alb_to_cloudfront"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.app_from_alb.referenced_security_group_id == aws_security_group.alb.id && aws_vpc_security_group_ingress_rule.app_from_alb.from_port == 8000 && aws_vpc_security_group_ingress_rule.app_from_alb.to_port == 8000
    error_message = "the app admits the ALB's group on the app port only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_app.referenced_security_group_id == aws_security_group.app.id && aws_vpc_security_group_ingress_rule.db_from_app.from_port == 5432 && aws_vpc_security_group_ingress_rule.db_from_app.to_port == 5432
    error_message = "the database admits the app's group on 5432 only"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.alb_to_app.referenced_security_group_id == aws_security_group.app.id && aws_vpc_security_group_egress_rule.app_to_db.referenced_security_group_id == aws_security_group.db.id
    error_message = "egress follows the same chain"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.app_https.from_port == 443 && aws_vpc_security_group_egress_rule.app_https.to_port == 443
    error_message = "the app's only open egress is HTTPS"
  }
}

run "behind_cloudfront_one_prefix_list_rule_on_443" {
  command = apply

  variables {
    restrict_alb_to_cloudfront = true
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.alb_http) == 0 && length(aws_vpc_security_group_ingress_rule.alb_https) == 0
    error_message = "behind CloudFront nothing but CloudFront reaches the ALB"
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.alb_from_cloudfront) == 1
    error_message = "exactly one rule may reference CloudFront's prefix list (~55 rules each, 60 per group)"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.alb_from_cloudfront[0].from_port == 443 && aws_vpc_security_group_ingress_rule.alb_from_cloudfront[0].to_port == 443
    error_message = "the https-only origin needs 443 only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.alb_from_cloudfront[0].prefix_list_id == "pl-3b927c52"
    error_message = "the rule's source is the origin-facing prefix list"
  }
}

run "dev_http_origin_uses_80_only" {
  command = apply

  variables {
    restrict_alb_to_cloudfront = true
    cloudfront_origin_port     = 80
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.alb_from_cloudfront) == 1 && aws_vpc_security_group_ingress_rule.alb_from_cloudfront[0].from_port == 80
    error_message = "an http-only origin gets one rule, on 80"
  }
}

run "a_second_cloudfront_port_is_refused" {
  command = plan

  variables {
    cloudfront_origin_port = 8080
  }

  expect_failures = [var.cloudfront_origin_port]
}
