# envs/prod planned with a mocked provider: what its defaults refuse and how the pieces are wired.

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
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_secretsmanager_random_password" {
    defaults = { random_password = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL" }
  }
  mock_data "aws_ec2_managed_prefix_list" {
    defaults = { id = "pl-3b927c52" }
  }
}

mock_provider "aws" {
  alias = "us_east_1"

  # The real provider knows the validation records' names at plan time; the mock needs telling.
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
}

variables {
  github_repository = "example-org/stratus"
}

# Defect 3: the defaults (CDN on, no certificate) used to plan a CloudFront origin that cannot connect,
# with only a warning. Now the plan stops and says what to set.
run "defaults_stop_with_what_to_set" {
  command = plan

  expect_failures = [var.alb_certificate_arn, var.origin_domain_name]
}

run "cdn_with_https_origin" {
  command = plan

  variables {
    alb_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    origin_domain_name  = "origin.stratus.test"
    domain_names        = ["www.stratus.test"]
    route53_zone_id     = "Z0123456789"
  }

  assert {
    condition     = local.public_url == "https://www.stratus.test"
    error_message = "STRATUS_PUBLIC_URL is the custom domain"
  }
  assert {
    condition     = output.url == "https://www.stratus.test"
    error_message = "the site's URL is the custom domain"
  }
}

run "timing_chain_and_readiness" {
  command = plan

  variables {
    enable_cdn = false
  }

  assert {
    condition = (
      local.drain_seconds <= local.deregistration_delay_seconds &&
      local.deregistration_delay_seconds < local.shutdown_timeout_seconds &&
      local.shutdown_timeout_seconds < local.stop_timeout_seconds &&
      local.alb_idle_timeout_seconds < local.keep_alive_timeout_seconds
    )
    error_message = "timing chain: drain <= deregistration < shutdown < stop, ALB idle < keep-alive"
  }
  assert {
    condition     = var.health_check_path == "/health/ready"
    error_message = "the ALB checks readiness, not the database"
  }
}

run "http_without_cdn_is_allowed" {
  command = plan

  variables {
    enable_cdn = false
  }
}
