# envs/dev planned with a mocked provider: the public URL, the timing chain, the asg switch.

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
  mock_resource "aws_lb" {
    override_during = plan
    defaults = {
      dns_name   = "stratus-dev-1.eu-west-1.elb.amazonaws.com"
      arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/stratus-dev/0123456789abcdef"
      arn_suffix = "app/stratus-dev/0123456789abcdef"
    }
  }
}

mock_provider "aws" {
  alias = "us_east_1"
}

variables {
  github_repository = "example-org/stratus"
}

run "ecs_defaults" {
  command = plan

  assert {
    condition     = local.public_url == "http://stratus-dev-1.eu-west-1.elb.amazonaws.com"
    error_message = "without CDN and certificate STRATUS_PUBLIC_URL is the ALB's http:// URL"
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

run "asg_needs_a_release" {
  command = plan

  variables {
    compute = "asg"
  }

  expect_failures = [var.asg_release_version, var.asg_release_sha256]
}
