# The database stays watched although the ALB no longer asks it (health check on /health/ready), and
# the app's own EMF metrics reach the dashboard and the alarms under the names the app writes them.

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
  app_metrics             = { namespace = "Stratus", service = "stratus-test" }
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

run "app_metrics" {
  command = apply

  # Every service-level metric of the app's EMF contract is on the dashboard, in its namespace and with
  # its Service dimension (each line starts ["Stratus","Service","stratus-test","<metric>").
  assert {
    condition = alltrue([
      for m in ["Requests", "Http4xx", "Http5xx", "LatencyP50", "LatencyP90", "LatencyP99", "StoreErrors", "LoadShed", "VisitBatchSize"] :
      strcontains(aws_cloudwatch_dashboard.this.dashboard_body, trimsuffix(jsonencode(["Stratus", "Service", "stratus-test", m]), "]"))
    ])
    error_message = "a service-level EMF metric is missing from the dashboard"
  }
  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for line in w.properties.metrics : try(line[0].expression, [])
      ]
      ])) == toset([
      "SEARCH('{\"Stratus\",Route,Service} MetricName=\"LatencyP99\" Service=\"stratus-test\"', 'Maximum', 60)",
      "SEARCH('{\"Stratus\",Route,Service} MetricName=\"Http5xx\" Service=\"stratus-test\"', 'Sum', 60)",
    ])
    error_message = "the per-route widgets search the [Service, Route] dimension set of this service"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.store_errors.namespace == "Stratus" &&
      aws_cloudwatch_metric_alarm.store_errors.metric_name == "StoreErrors" &&
      aws_cloudwatch_metric_alarm.store_errors.dimensions == tomap({ Service = "stratus-test" }) &&
      aws_cloudwatch_metric_alarm.store_errors.threshold == 5 &&
      aws_cloudwatch_metric_alarm.store_errors.alarm_actions == toset([aws_sns_topic.alarms.arn])
    )
    error_message = "failed store calls alarm on the app's StoreErrors, to the alarm topic"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.load_shed.metric_name == "LoadShed" &&
      aws_cloudwatch_metric_alarm.load_shed.dimensions == tomap({ Service = "stratus-test" }) &&
      aws_cloudwatch_metric_alarm.load_shed.datapoints_to_alarm == 3 &&
      aws_cloudwatch_metric_alarm.load_shed.treat_missing_data == "notBreaching" &&
      aws_cloudwatch_metric_alarm.load_shed.alarm_actions == toset([aws_sns_topic.alarms.arn])
    )
    error_message = "sustained load shedding alarms, to the alarm topic"
  }
}
