################################################################################
# Stratus dev: the same modules, sized for cost (see docs/deploy-aws.md, "Monthly cost")
#
#   ALB (HTTP unless a certificate is given) -> 1 Fargate task -> RDS db.t4g.micro single-AZ,
#   DynamoDB (board, file metadata), S3 (files): the same three tiers as prod.
#   2 AZs, one NAT gateway, no CDN/WAF by default, no deletion protection, short log retention.
################################################################################

locals {
  name = "stratus-${var.environment}"
  ecs  = var.compute == "ecs"
  # STRATUS_PUBLIC_URL: where people reach the site (CloudFront's or the custom domain), else the ALB.
  public_url = var.enable_cdn ? module.cdn[0].url : module.alb.url

  # Same timing chain as prod (docs/deploy-aws.md, "Timing chain").
  drain_seconds                = 5
  deregistration_delay_seconds = 20
  shutdown_timeout_seconds     = 25
  stop_timeout_seconds         = 30
  alb_idle_timeout_seconds     = 60
  keep_alive_timeout_seconds   = 75
}

check "shutdown_timing_chain" {
  assert {
    condition = (
      local.drain_seconds <= local.deregistration_delay_seconds &&
      local.deregistration_delay_seconds < local.shutdown_timeout_seconds &&
      local.shutdown_timeout_seconds < local.stop_timeout_seconds &&
      local.alb_idle_timeout_seconds < local.keep_alive_timeout_seconds
    )
    error_message = "Timing chain broken: need drain <= deregistration < shutdown < stop, and ALB idle < keep-alive."
  }
}

################################################################################
# Network and security
################################################################################

module "network" {
  source = "../../modules/network"

  name                    = local.name
  cidr                    = var.vpc_cidr
  az_count                = 2
  nat_gateway_mode        = "single"
  flow_log_traffic_type   = "REJECT"
  flow_log_retention_days = 30
  kms_key_arn             = module.security.kms_key_arn
}

module "security" {
  source = "../../modules/security"

  name                             = local.name
  vpc_id                           = module.network.vpc_id
  app_port                         = 8000
  restrict_alb_to_cloudfront       = var.enable_cdn
  cloudfront_origin_port           = var.alb_certificate_arn == null ? 80 : 443
  allow_autoscaling_ebs_encryption = !local.ecs
  kms_deletion_window_days         = 7
}

################################################################################
# Data
################################################################################

module "data" {
  source = "../../modules/data"

  name                            = local.name
  board_store                     = var.board_store
  deletion_protection             = var.deletion_protection
  kms_key_arn                     = module.security.kms_key_arn
  isolated_subnet_ids             = module.network.isolated_subnet_ids
  db_security_group_id            = module.security.db_security_group_id
  db_instance_class               = "db.t4g.micro"
  db_multi_az                     = false
  db_performance_insights_enabled = true
  db_monitoring_interval_seconds  = 0
  files_access_log_retention_days = 14
  db_log_retention_days           = 14
  files_force_destroy             = !var.deletion_protection
  files_access_logs_force_destroy = true
  secret_recovery_window_days     = 0
}

################################################################################
# Load balancer and (optional) CDN
################################################################################

module "alb" {
  source = "../../modules/alb"

  name                         = local.name
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.public_subnet_ids
  security_group_id            = module.security.alb_security_group_id
  certificate_arn              = var.alb_certificate_arn
  require_origin_secret        = var.enable_cdn
  target_type                  = local.ecs ? "ip" : "instance"
  target_port                  = 8000
  health_check_path            = var.health_check_path
  deregistration_delay_seconds = local.deregistration_delay_seconds
  idle_timeout_seconds         = local.alb_idle_timeout_seconds
  enable_deletion_protection   = var.deletion_protection
  enable_waf                   = false
  access_logs_retention_days   = 14
  access_logs_force_destroy    = true
  secret_recovery_window_days  = 0
  kms_key_arn                  = module.security.kms_key_arn
}

module "cdn" {
  source = "../../modules/cdn"
  count  = var.enable_cdn ? 1 : 0
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name = local.name
  # Without a certificate on the ALB, CloudFront reaches it over plain HTTP (dev only).
  origin_domain_name     = module.alb.dns_name
  origin_protocol_policy = var.alb_certificate_arn == null ? "http-only" : "https-only"
  origin_secret          = module.alb.origin_secret
  enable_waf             = false
  logs_retention_days    = 14
  logs_force_destroy     = true
}

################################################################################
# CI
################################################################################

module "ci" {
  source = "../../modules/ci"

  name                       = local.name
  kms_key_arn                = module.security.kms_key_arn
  repository_name            = "stratus-${var.environment}"
  keep_images                = 10
  github_repository          = var.github_repository
  github_branch              = var.github_branch
  create_oidc_provider       = var.create_github_oidc_provider
  existing_oidc_provider_arn = var.existing_github_oidc_provider_arn
  deploy_to_ecs              = local.ecs
  ecs_service_arn            = local.ecs ? module.ecs_service[0].service_arn : null
  ecs_task_role_arns         = local.ecs ? [module.ecs_service[0].execution_role_arn, module.ecs_service[0].task_role_arn] : []
  enable_release_uploads     = !local.ecs
  force_delete               = !var.deletion_protection
  release_bucket_arn         = local.ecs ? null : module.asg_service[0].release_bucket_arn
}

################################################################################
# Compute
################################################################################

module "ecs_service" {
  source = "../../modules/ecs_service"
  count  = local.ecs ? 1 : 0

  name                              = local.name
  image                             = "${module.ci.repository_url}:${var.image_tag}"
  ecr_repository_arn                = module.ci.repository_arn
  cpu                               = 256
  memory                            = 512
  container_port                    = 8000
  subnet_ids                        = module.network.private_subnet_ids
  security_group_ids                = [module.security.app_security_group_id]
  target_group_arn                  = module.alb.target_group_arn
  target_group_arn_suffix           = module.alb.target_group_arn_suffix
  lb_arn_suffix                     = module.alb.arn_suffix
  health_check_grace_period_seconds = 30
  desired_count                     = 1
  min_capacity                      = 1
  max_capacity                      = 2
  log_filter                        = "info,stratus=debug"
  drain_seconds                     = local.drain_seconds
  shutdown_timeout_seconds          = local.shutdown_timeout_seconds
  stop_timeout_seconds              = local.stop_timeout_seconds
  keep_alive_timeout_seconds        = local.keep_alive_timeout_seconds
  trusted_proxy_cidrs               = [module.network.vpc_cidr]
  database_url_parameter_arn        = module.data.database_url_parameter_arn
  database_password_secret_arn      = module.data.app_db_secret_arn
  database_master_secret_arn        = module.data.db_master_secret_arn
  public_url                        = local.public_url
  database_pool_size                = 5
  board_url                         = module.data.board_url
  files_url                         = module.data.files_url
  file_metadata_url                 = module.data.file_metadata_url
  files_kms_key_arn                 = module.data.files_kms_key_arn
  max_upload_bytes                  = var.max_upload_bytes
  admin_password_hash_secret_arn    = var.admin_password_hash_secret_arn
  api_token_sha256_secret_arn       = var.api_token_sha256_secret_arn
  app_policy_json                   = module.data.app_policy_json
  kms_key_arn                       = module.security.kms_key_arn
  log_retention_days                = 7
  enable_execute_command            = var.enable_execute_command
  alarm_topic_arn                   = module.observability.alarm_topic_arn
}

module "asg_service" {
  source = "../../modules/asg_service"
  count  = local.ecs ? 0 : 1

  name                           = local.name
  instance_type                  = "t3.micro"
  subnet_ids                     = module.network.private_subnet_ids
  security_group_ids             = [module.security.app_security_group_id]
  target_group_arn               = module.alb.target_group_arn
  kms_key_arn                    = module.security.kms_key_arn
  release_version                = var.asg_release_version
  release_sha256                 = var.asg_release_sha256
  releases_force_destroy         = true
  app_port                       = 8000
  drain_seconds                  = local.drain_seconds
  shutdown_timeout_seconds       = local.shutdown_timeout_seconds
  stop_timeout_seconds           = local.stop_timeout_seconds
  keep_alive_timeout_seconds     = local.keep_alive_timeout_seconds
  trusted_proxy_cidrs            = [module.network.vpc_cidr]
  database_url_parameter_name    = module.data.database_url_parameter_name
  database_password_secret_arn   = module.data.app_db_secret_arn
  database_master_secret_arn     = module.data.db_master_secret_arn
  public_url                     = local.public_url
  board_url                      = module.data.board_url
  files_url                      = module.data.files_url
  file_metadata_url              = module.data.file_metadata_url
  files_kms_key_arn              = module.data.files_kms_key_arn
  max_upload_bytes               = var.max_upload_bytes
  admin_password_hash_secret_arn = var.admin_password_hash_secret_arn
  api_token_sha256_secret_arn    = var.api_token_sha256_secret_arn
  app_policy_json                = module.data.app_policy_json
  min_size                       = 1
  desired_capacity               = 1
  max_size                       = 2
}

################################################################################
# Observability
################################################################################

module "observability" {
  source = "../../modules/observability"

  name                    = local.name
  kms_key_arn             = module.security.kms_key_arn
  alarm_emails            = var.alarm_emails
  compute                 = var.compute
  lb_arn_suffix           = module.alb.arn_suffix
  target_group_arn_suffix = module.alb.target_group_arn_suffix
  ecs_cluster_name        = local.ecs ? module.ecs_service[0].cluster_name : null
  ecs_service_name        = local.ecs ? module.ecs_service[0].service_name : null
  asg_name                = local.ecs ? null : module.asg_service[0].asg_name
  app_log_group_name      = local.ecs ? module.ecs_service[0].log_group_name : module.asg_service[0].log_group_name
  app_metrics             = local.ecs ? module.ecs_service[0].app_metrics : module.asg_service[0].app_metrics
  rds_instance_identifier = module.data.db_instance_identifier
  dynamodb_table_names    = module.data.table_names
}
