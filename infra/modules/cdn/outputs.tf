################################################################################
# Distribution
################################################################################

output "distribution_id" {
  description = "ID of the CloudFront distribution (for invalidations)."
  value       = try(aws_cloudfront_distribution.this.id, null)
}

output "distribution_arn" {
  description = "ARN of the CloudFront distribution."
  value       = try(aws_cloudfront_distribution.this.arn, null)
}

output "domain_name" {
  description = "The distribution's *.cloudfront.net host name."
  value       = try(aws_cloudfront_distribution.this.domain_name, null)
}

output "url" {
  description = "Public URL of the site."
  value       = try("https://${length(var.domain_names) > 0 ? var.domain_names[0] : aws_cloudfront_distribution.this.domain_name}", null)
}

################################################################################
# Logs and WAF
################################################################################

output "logs_bucket_name" {
  description = "S3 bucket (us-east-1) holding the access logs."
  value       = try(aws_s3_bucket.logs.id, null)
}

output "web_acl_arn" {
  description = "ARN of the CLOUDFRONT WAF web ACL, or null when WAF is off."
  value       = try(aws_wafv2_web_acl.this[0].arn, null)
}
