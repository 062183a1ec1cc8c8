################################################################################
# Instances
################################################################################

output "asg_name" {
  description = "Name of the Auto Scaling group."
  value       = try(aws_autoscaling_group.this.name, null)
}

output "launch_template_id" {
  description = "ID of the launch template."
  value       = try(aws_launch_template.this.id, null)
}

output "instance_role_arn" {
  description = "ARN of the instances' IAM role."
  value       = try(aws_iam_role.instance.arn, null)
}

output "log_group_name" {
  description = "Name of the app's CloudWatch log group."
  value       = try(aws_cloudwatch_log_group.app.name, null)
}

################################################################################
# Release
################################################################################

output "release_bucket_name" {
  description = "Bucket CI uploads release binaries to."
  value       = try(aws_s3_bucket.releases.id, null)
}

output "release_bucket_arn" {
  description = "ARN of the release bucket."
  value       = try(aws_s3_bucket.releases.arn, null)
}

output "release_key" {
  description = "Object key of the release the launch template installs."
  value       = local.release_key
}

output "app_metrics" {
  description = "CloudWatch namespace and Service dimension of the app's EMF metrics (for the observability module)."
  value       = module.app_env.metrics
}
