# The target group's health check (seed 001's timings on /health/ready) and the origin secret.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
  mock_data "aws_secretsmanager_random_password" {
    defaults = { random_password = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL" }
  }
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/stratus-test/0123456789abcdef" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/strat-1/0123456789abcdef" }
  }
  mock_resource "aws_lb_listener" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/stratus-test/0123456789abcdef/0123456789abcdef" }
  }
}

variables {
  name              = "stratus-test"
  vpc_id            = "vpc-0123456789abcdef0"
  subnet_ids        = ["subnet-1", "subnet-2"]
  security_group_id = "sg-1"
  kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "health_check_is_readiness_with_seed_001_timings" {
  command = plan

  assert {
    condition     = aws_lb_target_group.this.health_check[0].path == "/health/ready"
    error_message = "the ALB checks /health/ready (draining and saturation), not the database"
  }
  assert {
    condition = (
      aws_lb_target_group.this.health_check[0].interval == 30 &&
      aws_lb_target_group.this.health_check[0].healthy_threshold == 2 &&
      aws_lb_target_group.this.health_check[0].unhealthy_threshold == 3 &&
      aws_lb_target_group.this.health_check[0].timeout < aws_lb_target_group.this.health_check[0].interval &&
      aws_lb_target_group.this.health_check[0].matcher == "200"
    )
    error_message = "30 s interval, 2 to rise, 3 to fall, 200 only"
  }
  assert {
    condition     = aws_lb_target_group.this.deregistration_delay == "20" && aws_lb.this.idle_timeout == 60
    error_message = "deregistration delay 20 s (drain 5 <= 20 < shutdown 25), idle timeout 60 s (< keep-alive 75)"
  }
  assert {
    condition     = length(aws_secretsmanager_secret.origin) == 0 && length(aws_lb_listener_rule.origin_secret) == 0
    error_message = "no origin secret without require_origin_secret"
  }
}

run "origin_secret_lives_in_secrets_manager_and_gates_the_listener" {
  command = apply

  variables {
    require_origin_secret = true
  }

  assert {
    condition     = aws_secretsmanager_secret.origin[0].kms_key_id == var.kms_key_arn
    error_message = "the origin secret is kept in Secrets Manager under the stack's key"
  }
  assert {
    condition     = anytrue([for c in aws_lb_listener_rule.origin_secret[0].condition : length(c.http_header) == 1 && one(c.http_header).http_header_name == "X-Origin-Verify" && toset(one(c.http_header).values) == toset(["0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"])])
    error_message = "the listener forwards only requests carrying the generated secret"
  }
  assert {
    condition     = aws_lb_listener.http_forward[0].default_action[0].type == "fixed-response" && aws_lb_listener.http_forward[0].default_action[0].fixed_response[0].status_code == "403"
    error_message = "everything else gets 403"
  }
  assert {
    condition     = output.origin_secret == "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"
    error_message = "the cdn module gets the same secret"
  }
}

run "deep_health_check_stays_available" {
  command = plan

  variables {
    health_check_path = "/health"
  }

  assert {
    condition     = aws_lb_target_group.this.health_check[0].path == "/health"
    error_message = "seed 001's deep check can still be chosen"
  }
}

run "unknown_health_route_is_refused" {
  command = plan

  variables {
    health_check_path = "/healthz"
  }

  expect_failures = [var.health_check_path]
}
