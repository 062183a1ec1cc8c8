################################################################################
# The app's environment
################################################################################

output "environment" {
  description = "The app's plain environment variables (name => value), the unset (null) ones left out. Secrets are not in it."
  value       = { for name, value in local.environment : name => value if value != null }
}

output "migrate_environment" {
  description = "The environment of `stratus migrate` run as the master user (the ECS init container), without its secrets."
  value       = local.migrate_environment
}

output "metrics" {
  description = "Where the app's EMF metrics land: their CloudWatch namespace and the value of their Service dimension."
  value = {
    namespace = local.metrics_namespace
    service   = var.service_name
  }
}

output "rds_ca_bundle_path" {
  description = "Where the RDS CA bundle is on the image and on the EC2 instances (PGSSLROOTCERT)."
  value       = local.rds_ca_bundle_path
}
