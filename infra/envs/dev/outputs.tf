output "url" {
  description = "Where the site answers: CloudFront when on, else the ALB."
  value       = var.enable_cdn ? module.cdn[0].url : module.alb.url
}

output "alb_dns_name" {
  description = "DNS name of the ALB."
  value       = module.alb.dns_name
}

output "ecr_repository_url" {
  description = "Push images here (the pipeline does)."
  value       = module.ci.repository_url
}

output "deploy_role_arn" {
  description = "GitHub repository variable AWS_DEPLOY_ROLE_ARN for this environment."
  value       = module.ci.deploy_role_arn
}

output "ecs_cluster_name" {
  description = "ECS cluster, null with compute = \"asg\"."
  value       = local.ecs ? module.ecs_service[0].cluster_name : null
}

output "ecs_service_name" {
  description = "ECS service, null with compute = \"asg\"."
  value       = local.ecs ? module.ecs_service[0].service_name : null
}

output "task_definition_family" {
  description = "Task definition family the pipeline registers revisions in."
  value       = local.ecs ? module.ecs_service[0].task_definition_family : null
}

output "container_name" {
  description = "Name of the app container in the task definition."
  value       = local.ecs ? module.ecs_service[0].container_name : null
}

output "release_bucket_name" {
  description = "compute = \"asg\": bucket CI uploads release binaries to."
  value       = local.ecs ? null : module.asg_service[0].release_bucket_name
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.observability.dashboard_name
}

output "submissions_table_name" {
  description = "DynamoDB submissions table (board_store = \"dynamodb\"), else null."
  value       = module.data.submissions_table_name
}

output "files_bucket_name" {
  description = "S3 bucket for uploaded files."
  value       = module.data.files_bucket_name
}
