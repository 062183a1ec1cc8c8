################################################################################
# KMS key
################################################################################

output "kms_key_arn" {
  description = "ARN of the stack's KMS key."
  value       = try(aws_kms_key.this.arn, null)
}

output "kms_key_id" {
  description = "ID of the stack's KMS key."
  value       = try(aws_kms_key.this.key_id, null)
}

output "kms_alias_name" {
  description = "Alias of the stack's KMS key."
  value       = try(aws_kms_alias.this.name, null)
}

################################################################################
# Security groups
################################################################################

output "alb_security_group_id" {
  description = "ID of the ALB security group."
  value       = try(aws_security_group.alb.id, null)
}

output "app_security_group_id" {
  description = "ID of the app security group (Fargate tasks or EC2 instances)."
  value       = try(aws_security_group.app.id, null)
}

output "db_security_group_id" {
  description = "ID of the database security group."
  value       = try(aws_security_group.db.id, null)
}
