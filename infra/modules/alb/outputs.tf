################################################################################
# Load balancer
################################################################################

output "arn" {
  description = "ARN of the load balancer."
  value       = try(aws_lb.this.arn, null)
}

output "arn_suffix" {
  description = "ARN suffix of the load balancer (the CloudWatch LoadBalancer dimension)."
  value       = try(aws_lb.this.arn_suffix, null)
}

output "dns_name" {
  description = "DNS name of the load balancer (CloudFront origin, or the target of a Route 53 alias)."
  value       = try(aws_lb.this.dns_name, null)
}

output "zone_id" {
  description = "Route 53 hosted zone ID of the load balancer, for alias records."
  value       = try(aws_lb.this.zone_id, null)
}

output "idle_timeout_seconds" {
  description = "Idle timeout of the load balancer in seconds."
  value       = try(aws_lb.this.idle_timeout, null)
}

################################################################################
# Listeners
################################################################################

output "origin_secret" {
  description = "The generated origin secret (with require_origin_secret) for the cdn module's origin_secret; null otherwise."
  value       = try(local.origin_secret, null)
  sensitive   = true
}

output "origin_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the origin secret, or null."
  value       = try(aws_secretsmanager_secret.origin[0].arn, null)
}

output "serving_listener_arn" {
  description = "ARN of the listener that forwards to the app (HTTPS with a certificate, else HTTP)."
  value       = try(local.serving_listener, null)
}

output "url" {
  description = "Base URL of the load balancer."
  value       = try("${local.https ? "https" : "http"}://${aws_lb.this.dns_name}", null)
}

################################################################################
# Target group
################################################################################

output "target_group_arn" {
  description = "ARN of the app's target group."
  value       = try(aws_lb_target_group.this.arn, null)
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (the CloudWatch TargetGroup dimension)."
  value       = try(aws_lb_target_group.this.arn_suffix, null)
}

output "deregistration_delay_seconds" {
  description = "Deregistration delay of the target group in seconds."
  value       = try(tonumber(aws_lb_target_group.this.deregistration_delay), null)
}

################################################################################
# Access logs and WAF
################################################################################

output "access_logs_bucket_name" {
  description = "Name of the S3 bucket holding the access logs."
  value       = try(aws_s3_bucket.logs.id, null)
}

output "web_acl_arn" {
  description = "ARN of the WAF web ACL, or null when WAF is off."
  value       = try(aws_wafv2_web_acl.this[0].arn, null)
}
