# The database stays watched although the ALB no longer asks it (health check on /health/ready).

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:stratus-test-alarms" }
  }
}

variables {
  name                    = "stratus-test"
  kms_key_arn             = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  lb_arn_suffix           = "app/stratus-test/0123456789abcdef"
  target_group_arn_suffix = "targetgroup/strat-1/0123456789abcdef"
  ecs_cluster_name        = "stratus-test"
  ecs_service_name        = "stratus-test"
  app_log_group_name      = "/ecs/stratus-test/app"
  rds_instance_identifier = "stratus-test"
  dynamodb_table_names    = ["stratus-test-file-metadata"]
}

run "database_alarm_and_events" {
  command = apply

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.rds_unavailable[0].namespace == "AWS/RDS" &&
      aws_cloudwatch_metric_alarm.rds_unavailable[0].dimensions["DBInstanceIdentifier"] == "stratus-test" &&
      aws_cloudwatch_metric_alarm.rds_unavailable[0].treat_missing_data == "breaching" &&
      aws_cloudwatch_metric_alarm.rds_unavailable[0].alarm_actions == toset([aws_sns_topic.alarms.arn])
    )
    error_message = "an alarm fires when the DB instance goes silent, to the alarm topic"
  }
  assert {
    condition     = contains(aws_db_event_subscription.rds[0].event_categories, "failover") && contains(aws_db_event_subscription.rds[0].event_categories, "failure") && contains(aws_db_event_subscription.rds[0].source_ids, "stratus-test") && aws_db_event_subscription.rds[0].sns_topic == aws_sns_topic.alarms.arn
    error_message = "RDS failovers and failures reach the alarm topic"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.no_healthy_hosts.treat_missing_data == "breaching"
    error_message = "an empty target group alarms too"
  }
}
