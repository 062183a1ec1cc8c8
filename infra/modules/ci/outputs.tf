################################################################################
# ECR repository
################################################################################

output "repository_url" {
  description = "URL of the ECR repository (docker push target)."
  value       = try(aws_ecr_repository.this.repository_url, null)
}

output "repository_arn" {
  description = "ARN of the ECR repository."
  value       = try(aws_ecr_repository.this.arn, null)
}

output "repository_name" {
  description = "Name of the ECR repository."
  value       = try(aws_ecr_repository.this.name, null)
}

################################################################################
# Deploy role
################################################################################

output "deploy_role_arn" {
  description = "ARN of the GitHub Actions deploy role (the AWS_DEPLOY_ROLE_ARN repository variable)."
  value       = try(aws_iam_role.deploy.arn, null)
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider the role trusts."
  value       = try(local.oidc_provider_arn, null)
}
