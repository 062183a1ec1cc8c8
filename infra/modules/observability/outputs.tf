################################################################################
# Observability
################################################################################

output "alarm_topic_arn" {
  description = "ARN of the SNS topic every alarm notifies."
  value       = try(aws_sns_topic.alarms.arn, null)
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = try(aws_cloudwatch_dashboard.this.dashboard_name, null)
}

output "metric_namespace" {
  description = "CloudWatch namespace of the log-derived metrics."
  value       = "Stratus/${var.name}"
}

output "alarm_names" {
  description = "Names of the alarms this module created."
  value = try(concat(
    [
      aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name,
      aws_cloudwatch_metric_alarm.no_healthy_hosts.alarm_name,
      aws_cloudwatch_metric_alarm.alb_5xx_rate.alarm_name,
      aws_cloudwatch_metric_alarm.p99_latency.alarm_name,
      aws_cloudwatch_metric_alarm.compute_cpu.alarm_name,
      aws_cloudwatch_metric_alarm.app_errors.alarm_name,
      aws_cloudwatch_metric_alarm.store_errors.alarm_name,
      aws_cloudwatch_metric_alarm.load_shed.alarm_name,
    ],
    aws_cloudwatch_metric_alarm.rds_cpu[*].alarm_name,
    aws_cloudwatch_metric_alarm.rds_free_storage[*].alarm_name,
    aws_cloudwatch_metric_alarm.rds_unavailable[*].alarm_name,
    [for a in aws_cloudwatch_metric_alarm.dynamodb_throttles : a.alarm_name],
  ), [])
}
