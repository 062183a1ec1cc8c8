################################################################################
# The app's environment, one copy for both compute variants
#
# ecs_service renders it into the task definition (the app container, and the migrate subset into the
# init container); asg_service renders it into the user data's /etc/stratus/stratus.env. The two
# modules pass their own values in, so a setting added here reaches Fargate and EC2 alike.
################################################################################

locals {
  # Baked into the image by the Dockerfile (ADD of the RDS global CA bundle) and installed at the same
  # path by the EC2 user data; keep all three in step.
  rds_ca_bundle_path = "/etc/ssl/certs/rds-global-bundle.pem"

  s3_sse = var.files_kms_key_arn == null ? "AES256" : "aws:kms"

  # The CloudWatch namespace of the app's EMF metrics; the Service dimension is var.service_name.
  metrics_namespace = "Stratus"

  # Every name here must be one the binary reads (`stratus config --list-env`); infra/tests and the
  # compute modules' terraform tests enforce that. Durations are plain seconds. A null value means
  # "not set" and is left out of the output.
  environment = {
    STRATUS_LISTEN                  = "0.0.0.0:${var.port}"
    STRATUS_LOG_FORMAT              = "json"
    RUST_LOG                        = var.log_filter
    AWS_REGION                      = var.region
    STRATUS_CREATE_TABLES           = "false" # tables are Terraform's; the app never creates them in AWS
    DATABASE_POOL_SIZE              = tostring(var.database_pool_size)
    DATABASE_CONNECT_TIMEOUT        = tostring(var.database_connect_timeout_seconds)
    DATABASE_STATEMENT_TIMEOUT      = tostring(var.database_statement_timeout_seconds)
    PGSSLROOTCERT                   = local.rds_ca_bundle_path
    STRATUS_DRAIN_SECONDS           = tostring(var.drain_seconds)
    STRATUS_SHUTDOWN_TIMEOUT        = tostring(var.shutdown_timeout_seconds)
    STRATUS_REQUEST_TIMEOUT         = tostring(var.request_timeout_seconds)
    STRATUS_MAX_CONCURRENT_REQUESTS = tostring(var.max_concurrent_requests)
    STRATUS_KEEP_ALIVE_TIMEOUT      = tostring(var.keep_alive_timeout_seconds)
    STRATUS_TRUSTED_PROXIES         = join(",", var.trusted_proxy_cidrs)
    # The app's own login role, read by the app itself (task role or instance profile), so a new
    # password is picked up when PostgreSQL refuses the old one. Not the master user: `stratus migrate`
    # (the ECS init container, EC2's ExecStartPre) creates this role with DML rights only.
    DATABASE_SECRET_ARN = var.database_password_secret_arn
    # Migrations are `stratus migrate`'s job; the serving app (DML rights only) never tries DDL.
    STRATUS_MIGRATE_ON_START = "false"
    # Absolute links (feed, sitemap): the CloudFront or custom domain, else the ALB.
    STRATUS_PUBLIC_URL = var.public_url
    # The board in DynamoDB (board_store = "dynamodb"); unset keeps it in DATABASE_URL's database.
    STRATUS_BOARD_URL = var.board_url
    # Files: objects in S3 under the prefix, metadata in DynamoDB (data module).
    STRATUS_FILES_URL         = var.files_url
    STRATUS_FILE_METADATA_URL = var.file_metadata_url
    STRATUS_S3_SSE            = local.s3_sse
    STRATUS_S3_SSE_KMS_KEY_ID = var.files_kms_key_arn
    STRATUS_MAX_UPLOAD_BYTES  = tostring(var.max_upload_bytes)
    # Admin: the user name and session lifetime are plain settings; the password hash and the API
    # token digest are secrets, injected or fetched by the compute module, never set here.
    STRATUS_ADMIN_USERNAME = var.admin_username
    STRATUS_SESSION_TTL    = tostring(var.session_ttl_seconds)
    # Once a minute the app prints its counts and latencies as CloudWatch EMF documents to stdout,
    # which CloudWatch Logs turns into metrics (docs/deploy-aws.md, "Application metrics"; the
    # observability module's dashboard and alarms read them through the metrics output).
    STRATUS_METRICS_EMF       = "1"
    STRATUS_METRICS_NAMESPACE = local.metrics_namespace
    STRATUS_SERVICE_NAME      = var.service_name
  }

  # What `stratus migrate` needs besides DATABASE_URL and the master password (which the compute
  # module supplies as secrets): it connects as the master user, applies the migrations, then creates
  # or updates the app's login role from STRATUS_APP_DATABASE_SECRET_ARN.
  migrate_environment = {
    STRATUS_LOG_FORMAT              = local.environment.STRATUS_LOG_FORMAT
    RUST_LOG                        = local.environment.RUST_LOG
    AWS_REGION                      = local.environment.AWS_REGION
    PGSSLROOTCERT                   = local.environment.PGSSLROOTCERT
    DATABASE_CONNECT_TIMEOUT        = local.environment.DATABASE_CONNECT_TIMEOUT
    STRATUS_APP_DATABASE_SECRET_ARN = var.database_password_secret_arn
  }
}
