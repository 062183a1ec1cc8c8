################################################################################
# Service
################################################################################

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = try(aws_ecs_cluster.this.name, null)
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = try(aws_ecs_cluster.this.arn, null)
}

output "service_name" {
  description = "Name of the ECS service."
  value       = try(aws_ecs_service.this.name, null)
}

output "service_arn" {
  description = "ARN of the ECS service (what the deploy role may update)."
  value       = try(aws_ecs_service.this.id, null)
}

output "task_definition_family" {
  description = "Task definition family; the pipeline registers new revisions in it."
  value       = try(aws_ecs_task_definition.this.family, null)
}

output "task_definition_arn" {
  description = "ARN of the revision Terraform registered last."
  value       = try(aws_ecs_task_definition.this.arn, null)
}

output "container_name" {
  description = "Name of the app container in the task definition."
  value       = local.container_name
}

output "migrate_container_name" {
  description = "Name of the init container that runs `stratus migrate` before the app starts."
  value       = local.migrate_container_name
}

################################################################################
# IAM
################################################################################

output "execution_role_arn" {
  description = "ARN of the task execution role (pull, logs, secret injection)."
  value       = try(aws_iam_role.execution.arn, null)
}

output "task_role_arn" {
  description = "ARN of the task role (the app's own AWS permissions)."
  value       = try(aws_iam_role.task.arn, null)
}

################################################################################
# Logs and alarms
################################################################################

output "log_group_name" {
  description = "Name of the app's CloudWatch log group (JSON lines)."
  value       = try(aws_cloudwatch_log_group.app.name, null)
}

output "app_metrics" {
  description = "CloudWatch namespace and Service dimension of the app's EMF metrics (for the observability module)."
  value       = module.app_env.metrics
}

output "rollback_alarm_name" {
  description = "Name of the 5xx-rate alarm that rolls deployments back."
  value       = try(aws_cloudwatch_metric_alarm.target_5xx_rate.alarm_name, null)
}
