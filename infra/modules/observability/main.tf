################################################################################
# Observability (seed 001): one dashboard over the three tiers, alarms to an SNS topic, metric
# filters that turn the app's JSON log lines into metrics, and the app's own metrics (EMF).
################################################################################

data "aws_region" "current" {}

locals {
  region         = data.aws_region.current.name
  ecs            = var.compute == "ecs"
  has_rds        = var.rds_instance_identifier != null
  alarm_actions  = [aws_sns_topic.alarms.arn]
  alb_dimensions = { LoadBalancer = var.lb_arn_suffix }
  tg_dimensions  = { LoadBalancer = var.lb_arn_suffix, TargetGroup = var.target_group_arn_suffix }

  # tolist/tomap: the two branches have different shapes, and a conditional needs one type.
  compute_cpu_metric = local.ecs ? (
    tolist(["AWS/ECS", "CPUUtilization", "ClusterName", var.ecs_cluster_name, "ServiceName", var.ecs_service_name])
    ) : (
    tolist(["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", var.asg_name])
  )
  # EC2 publishes no memory metric without the CloudWatch agent's custom namespace.
  compute_memory_metric = local.ecs ? (
    tolist(["AWS/ECS", "MemoryUtilization", "ClusterName", var.ecs_cluster_name, "ServiceName", var.ecs_service_name])
    ) : (
    tolist(["CWAgent", "mem_used_percent", "AutoScalingGroupName", var.asg_name])
  )
  compute_dimensions = local.ecs ? (
    tomap({ ClusterName = var.ecs_cluster_name, ServiceName = var.ecs_service_name })
    ) : (
    tomap({ AutoScalingGroupName = var.asg_name })
  )

  # The app's own metrics: once a minute it prints an EMF document to stdout, and CloudWatch Logs turns
  # it into metrics (docs/deploy-aws.md, "Application metrics"). Service-level metrics carry the Service
  # dimension; per-route ones Service and Route, whose values (the route templates) the dashboard finds
  # with SEARCH rather than a list kept here.
  app_namespace  = var.app_metrics.namespace
  app_dimensions = { Service = var.app_metrics.service }
  app_metric     = [local.app_namespace, "Service", var.app_metrics.service]
  app_route_search = {
    for metric, stat in { LatencyP99 = "Maximum", Http5xx = "Sum" } :
    metric => "SEARCH('{\"${local.app_namespace}\",Route,Service} MetricName=\"${metric}\" Service=\"${var.app_metrics.service}\"', '${stat}', 60)"
  }
}

################################################################################
# SNS topic
################################################################################

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn

  tags = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

################################################################################
# Metric filters on the app's JSON logs (tracing-subscriber's json format: "level" at the top)
################################################################################

resource "aws_cloudwatch_log_metric_filter" "errors" {
  name           = "${var.name}-app-errors"
  log_group_name = var.app_log_group_name
  pattern        = "{ $.level = \"ERROR\" }"

  metric_transformation {
    name          = "AppErrors"
    namespace     = "Stratus/${var.name}"
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

resource "aws_cloudwatch_log_metric_filter" "warnings" {
  name           = "${var.name}-app-warnings"
  log_group_name = var.app_log_group_name
  pattern        = "{ $.level = \"WARN\" }"

  metric_transformation {
    name          = "AppWarnings"
    namespace     = "Stratus/${var.name}"
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

resource "aws_cloudwatch_log_metric_filter" "panics" {
  name           = "${var.name}-app-panics"
  log_group_name = var.app_log_group_name
  pattern        = "panicked"

  metric_transformation {
    name          = "AppPanics"
    namespace     = "Stratus/${var.name}"
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

################################################################################
# Alarms
################################################################################

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  alarm_name          = "${var.name}-unhealthy-hosts"
  alarm_description   = "At least one target failed its ALB health check for 3 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = local.tg_dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "no_healthy_hosts" {
  alarm_name          = "${var.name}-no-healthy-hosts"
  alarm_description   = "No healthy target: every task or instance fails /health/ready (draining, or every request slot taken), so the ALB fails open and sends to all."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  dimensions          = local.tg_dimensions
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "alb_5xx_rate" {
  alarm_name          = "${var.name}-5xx-rate"
  alarm_description   = "More than ${var.five_xx_rate_percent}% of requests answered 5xx (by the app or by the ALB itself) for 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.five_xx_rate_percent
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF(requests >= 20, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)"
    label       = "5xx %"
    return_data = true
  }

  metric_query {
    id = "target5xx"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = local.alb_dimensions
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "elb5xx"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = local.alb_dimensions
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = local.alb_dimensions
      period      = 60
      stat        = "Sum"
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "p99_latency" {
  alarm_name          = "${var.name}-p99-latency"
  alarm_description   = "p99 target response time above ${var.p99_latency_seconds} s for 5 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = local.tg_dimensions
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.p99_latency_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "compute_cpu" {
  alarm_name          = "${var.name}-${var.compute}-cpu-high"
  alarm_description   = "Average app CPU above ${var.cpu_alarm_percent}% for 10 minutes even though auto scaling should have added capacity (max reached?)."
  namespace           = local.compute_cpu_metric[0]
  metric_name         = local.compute_cpu_metric[1]
  dimensions          = local.compute_dimensions
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.cpu_alarm_percent
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "app_errors" {
  alarm_name          = "${var.name}-app-errors"
  alarm_description   = "The app logged more than ${var.app_error_threshold} ERROR lines in 5 minutes."
  namespace           = "Stratus/${var.name}"
  metric_name         = "AppErrors"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.app_error_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags

  depends_on = [aws_cloudwatch_log_metric_filter.errors]
}

resource "aws_cloudwatch_metric_alarm" "rds_cpu" {
  count = local.has_rds ? 1 : 0

  alarm_name          = "${var.name}-rds-cpu-high"
  alarm_description   = "RDS CPU above ${var.cpu_alarm_percent}% for 10 minutes."
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = var.rds_instance_identifier }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.cpu_alarm_percent
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "rds_free_storage" {
  count = local.has_rds ? 1 : 0

  alarm_name          = "${var.name}-rds-free-storage-low"
  alarm_description   = "RDS free storage below ${var.rds_free_storage_alarm_gb} GiB (storage autoscaling may be at its ceiling)."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = var.rds_instance_identifier }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = var.rds_free_storage_alarm_gb * 1073741824
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

# The database, watched apart from the load balancer's health check. The ALB checks /health/ready,
# which never asks the database, so a database outage no longer empties the target group (ECS and
# the ASG would replace every task or instance); /health still answers 503 while the database is
# unreachable, and these two make the outage visible.
resource "aws_cloudwatch_metric_alarm" "rds_unavailable" {
  count = local.has_rds ? 1 : 0

  alarm_name          = "${var.name}-rds-unavailable"
  alarm_description   = "The DB instance published no metrics for 3 minutes: stopped, failed or stuck in a failover. The app answers 503 on /health (and on what needs the database) but stays in the target group."
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = var.rds_instance_identifier }
  statistic           = "SampleCount"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

# The app's own counts (EMF). Its 5xx rate and p99 are not alarmed on again here: the ALB alarms above
# see every request, the ALB's own 5xx included, and the ALB's p99 is a true percentile over all
# targets, where the app's per-task p99s cannot be combined into one.
resource "aws_cloudwatch_metric_alarm" "store_errors" {
  alarm_name          = "${var.name}-store-errors"
  alarm_description   = "The app counted more than ${var.store_error_threshold} failed calls to its stores in 5 minutes (StoreErrors)."
  namespace           = local.app_namespace
  metric_name         = "StoreErrors"
  dimensions          = local.app_dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.store_error_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "load_shed" {
  alarm_name          = "${var.name}-load-shed"
  alarm_description   = "The app shed requests (LoadShed: every request slot taken) in 3 of the last 5 minutes: it needs capacity that auto scaling has not added (at its maximum?)."
  namespace           = local.app_namespace
  metric_name         = "LoadShed"
  dimensions          = local.app_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

# RDS's own account of what happened to the instance: failovers, failures, reboots, maintenance.
resource "aws_db_event_subscription" "rds" {
  count = local.has_rds ? 1 : 0

  name             = "${var.name}-rds"
  sns_topic        = aws_sns_topic.alarms.arn
  source_type      = "db-instance"
  source_ids       = [var.rds_instance_identifier]
  event_categories = ["availability", "failover", "failure", "low storage", "maintenance", "recovery", "restoration"]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each = toset(var.dynamodb_table_names)

  alarm_name          = "${each.value}-throttles"
  alarm_description   = "DynamoDB throttled reads or writes on ${each.value} (on-demand tables throttle only past their burst limits)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  # ThrottledRequests needs an Operation dimension; the table-level throttle events do not.
  metric_query {
    id          = "throttles"
    expression  = "FILL(reads, 0) + FILL(writes, 0)"
    label       = "Throttle events"
    return_data = true
  }

  metric_query {
    id = "reads"

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ReadThrottleEvents"
      dimensions  = { TableName = each.value }
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "writes"

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "WriteThrottleEvents"
      dimensions  = { TableName = each.value }
      period      = 300
      stat        = "Sum"
    }
  }

  tags = var.tags
}

################################################################################
# Dashboard
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
################################################################################

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name

  dashboard_body = jsonencode({
    widgets = concat(
      [
        {
          type = "metric", x = 0, y = 0, width = 12, height = 6
          properties = {
            title  = "ALB requests and 5xx"
            region = local.region
            stat   = "Sum"
            period = 60
            metrics = [
              ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.lb_arn_suffix],
              ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.lb_arn_suffix],
              ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.lb_arn_suffix],
            ]
          }
        },
        {
          type = "metric", x = 12, y = 0, width = 12, height = 6
          properties = {
            title  = "Target response time (s)"
            region = local.region
            period = 60
            metrics = [
              ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.lb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "p50", label = "p50" }],
              ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.lb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "p99", label = "p99" }],
            ]
          }
        },
        {
          type = "metric", x = 0, y = 6, width = 12, height = 6
          properties = {
            title  = "Healthy / unhealthy targets"
            region = local.region
            stat   = "Minimum"
            period = 60
            metrics = [
              ["AWS/ApplicationELB", "HealthyHostCount", "LoadBalancer", var.lb_arn_suffix, "TargetGroup", var.target_group_arn_suffix],
              ["AWS/ApplicationELB", "UnHealthyHostCount", "LoadBalancer", var.lb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "Maximum" }],
            ]
          }
        },
        {
          type = "metric", x = 12, y = 6, width = 12, height = 6
          properties = {
            title   = "App CPU and memory (%)"
            region  = local.region
            stat    = "Average"
            period  = 60
            metrics = [local.compute_cpu_metric, local.compute_memory_metric]
          }
        },
        {
          type = "metric", x = 0, y = 12, width = 12, height = 6
          properties = {
            title  = "App log levels"
            region = local.region
            stat   = "Sum"
            period = 300
            metrics = [
              ["Stratus/${var.name}", "AppErrors"],
              ["Stratus/${var.name}", "AppWarnings"],
              ["Stratus/${var.name}", "AppPanics"],
            ]
          }
        },
      ],
      local.has_rds ? [
        {
          type = "metric", x = 12, y = 12, width = 12, height = 6
          properties = {
            title  = "RDS CPU, connections, free storage"
            region = local.region
            period = 300
            metrics = [
              ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", var.rds_instance_identifier, { stat = "Average" }],
              ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", var.rds_instance_identifier, { stat = "Maximum", yAxis = "right" }],
              ["AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", var.rds_instance_identifier, { stat = "Minimum", yAxis = "right" }],
            ]
          }
        },
      ] : [],
      length(var.dynamodb_table_names) > 0 ? [
        {
          type = "metric", x = 0, y = 18, width = 12, height = 6
          properties = {
            title  = "DynamoDB throttles"
            region = local.region
            stat   = "Sum"
            period = 300
            metrics = flatten([for t in var.dynamodb_table_names : [
              ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", t],
              ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", t],
            ]])
          }
        },
      ] : [],
      # The app's EMF metrics. Latencies are each task's percentile over the minute; with several
      # tasks the Maximum is the slowest task's.
      [
        {
          type = "metric", x = 0, y = 24, width = 12, height = 6
          properties = {
            title  = "App requests, 4xx and 5xx"
            region = local.region
            stat   = "Sum"
            period = 60
            metrics = [
              concat(local.app_metric, ["Requests"]),
              concat(local.app_metric, ["Http4xx"]),
              concat(local.app_metric, ["Http5xx"]),
            ]
          }
        },
        {
          type = "metric", x = 12, y = 24, width = 12, height = 6
          properties = {
            title  = "App latency (ms, slowest task)"
            region = local.region
            stat   = "Maximum"
            period = 60
            metrics = [
              concat(local.app_metric, ["LatencyP50", { label = "p50" }]),
              concat(local.app_metric, ["LatencyP90", { label = "p90" }]),
              concat(local.app_metric, ["LatencyP99", { label = "p99" }]),
            ]
          }
        },
        {
          type = "metric", x = 0, y = 30, width = 8, height = 6
          properties = {
            title   = "Store errors"
            region  = local.region
            stat    = "Sum"
            period  = 60
            metrics = [concat(local.app_metric, ["StoreErrors"])]
          }
        },
        {
          type = "metric", x = 8, y = 30, width = 8, height = 6
          properties = {
            title   = "Requests shed (load shedding)"
            region  = local.region
            stat    = "Sum"
            period  = 60
            metrics = [concat(local.app_metric, ["LoadShed"])]
          }
        },
        {
          type = "metric", x = 16, y = 30, width = 8, height = 6
          properties = {
            title   = "Visit counter batch size (mean)"
            region  = local.region
            stat    = "Average"
            period  = 60
            metrics = [concat(local.app_metric, ["VisitBatchSize"])]
          }
        },
        {
          type = "metric", x = 0, y = 36, width = 12, height = 6
          properties = {
            title   = "p99 latency by route (ms, slowest task)"
            region  = local.region
            period  = 60
            metrics = [[{ expression = local.app_route_search["LatencyP99"], id = "route_p99" }]]
          }
        },
        {
          type = "metric", x = 12, y = 36, width = 12, height = 6
          properties = {
            title   = "5xx by route"
            region  = local.region
            period  = 60
            metrics = [[{ expression = local.app_route_search["Http5xx"], id = "route_5xx" }]]
          }
        },
      ],
    )
  })
}
