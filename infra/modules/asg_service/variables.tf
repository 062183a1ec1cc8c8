################################################################################
# Instances
################################################################################

variable "name" {
  description = "Name prefix for the group, launch template, role and buckets."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "instance_type" {
  description = "EC2 instance type (seed 003: t3.micro, x86_64 like the release binary)."
  type        = string
  default     = "t3.micro"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type)) && !can(regex("^[a-z]+[0-9]+g", var.instance_type))
    error_message = "instance_type must be an x86_64 instance type (the release binary is x86_64; Graviton \"g\" types cannot run it)."
  }
}

variable "ami_ssm_parameter" {
  description = "Public SSM parameter naming the AMI: Amazon Linux 2023 x86_64 by default (SSM agent and AWS CLI preinstalled)."
  type        = string
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
  nullable    = false

  validation {
    condition     = startswith(var.ami_ssm_parameter, "/aws/service/")
    error_message = "ami_ssm_parameter must be an AWS public parameter (/aws/service/...)."
  }
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted gp3 root volume in GiB."
  type        = number
  default     = 8
  nullable    = false

  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 100
    error_message = "root_volume_size_gb must be 8-100."
  }
}

variable "subnet_ids" {
  description = "Private subnet IDs for the instances."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Give subnets in at least two AZs."
  }
}

variable "security_group_ids" {
  description = "Security groups of the instances (the security module's app group)."
  type        = list(string)
  nullable    = false
}

variable "target_group_arn" {
  description = "ARN of the ALB target group (target_type \"instance\")."
  type        = string
  nullable    = false
}

variable "health_check_grace_period_seconds" {
  description = "Seconds the group ignores failing ALB checks of a new instance (boot, install, download)."
  type        = number
  default     = 180
  nullable    = false

  validation {
    condition     = var.health_check_grace_period_seconds >= 60
    error_message = "health_check_grace_period_seconds must be at least 60: an instance boots and installs before it serves."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the root volumes, the release bucket and the log group. Its policy must let the Auto Scaling service-linked role use it (security module allow_autoscaling_ebs_encryption)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

################################################################################
# Release
################################################################################

variable "release_version" {
  description = "Release to run: CI uploads the binary to s3://<release bucket>/<release_prefix><version>/stratus."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.release_version))
    error_message = "release_version must be a plain version or commit id."
  }
}

variable "release_sha256" {
  description = "SHA-256 of the release binary; instances refuse a download that does not match."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.release_sha256))
    error_message = "release_sha256 must be 64 lowercase hex digits."
  }
}

variable "release_prefix" {
  description = "Key prefix of releases in the release bucket."
  type        = string
  default     = "releases/"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+/$", var.release_prefix))
    error_message = "release_prefix must be one path segment ending in \"/\"."
  }
}

variable "releases_retention_days" {
  description = "Days a release binary is kept in the bucket."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = var.releases_retention_days >= 30
    error_message = "releases_retention_days must be at least 30 so rollbacks stay possible."
  }
}

variable "releases_force_destroy" {
  description = "Let terraform destroy delete the release bucket with its objects (dev only)."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# App settings (same meaning as in ecs_service)
################################################################################

variable "app_port" {
  description = "Port the app listens on (STRATUS_LISTEN=0.0.0.0:<port>)."
  type        = number
  default     = 8000
  nullable    = false

  validation {
    condition     = var.app_port >= 1024 && var.app_port <= 65535
    error_message = "app_port must be an unprivileged port: the service runs as uid 10001."
  }
}

variable "log_filter" {
  description = "RUST_LOG filter directive."
  type        = string
  default     = "info"
  nullable    = false
}

variable "drain_seconds" {
  description = "STRATUS_DRAIN_SECONDS."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.drain_seconds >= 0 && var.drain_seconds <= 60
    error_message = "drain_seconds must be 0-60."
  }
}

variable "shutdown_timeout_seconds" {
  description = "STRATUS_SHUTDOWN_TIMEOUT; must be below stop_timeout_seconds."
  type        = number
  default     = 25
  nullable    = false

  validation {
    condition     = var.shutdown_timeout_seconds >= 1 && var.shutdown_timeout_seconds <= 300
    error_message = "shutdown_timeout_seconds must be 1-300."
  }
}

variable "stop_timeout_seconds" {
  description = "systemd TimeoutStopSec: seconds between SIGTERM and SIGKILL."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 600
    error_message = "stop_timeout_seconds must be 2-600."
  }
}

variable "request_timeout_seconds" {
  description = "STRATUS_REQUEST_TIMEOUT."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.request_timeout_seconds >= 1 && var.request_timeout_seconds <= 300
    error_message = "request_timeout_seconds must be 1-300."
  }
}

variable "keep_alive_timeout_seconds" {
  description = "STRATUS_KEEP_ALIVE_TIMEOUT; must exceed the ALB idle timeout (60 s)."
  type        = number
  default     = 75
  nullable    = false

  validation {
    condition     = var.keep_alive_timeout_seconds > 60 && var.keep_alive_timeout_seconds <= 4000
    error_message = "keep_alive_timeout_seconds must be above 60 (the ALB idle timeout) and at most 4000."
  }
}

variable "max_concurrent_requests" {
  description = "STRATUS_MAX_CONCURRENT_REQUESTS."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = var.max_concurrent_requests >= 1
    error_message = "max_concurrent_requests must be at least 1."
  }
}

variable "trusted_proxy_cidrs" {
  description = "STRATUS_TRUSTED_PROXIES: the VPC CIDR in AWS."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.trusted_proxy_cidrs) > 0 && alltrue([for c in var.trusted_proxy_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "trusted_proxy_cidrs must be non-empty CIDR blocks and must not trust the whole internet."
  }
}

variable "database_url_parameter_name" {
  description = "Name of the SSM parameter holding DATABASE_URL (data module)."
  type        = string
  nullable    = false

  validation {
    condition     = startswith(var.database_url_parameter_name, "/")
    error_message = "database_url_parameter_name must be a parameter path starting with \"/\"."
  }
}

variable "database_password_secret_arn" {
  description = "DATABASE_SECRET_ARN of the service: the secret ({\"username\",\"password\"}) of the app's own login role (data module app_db_secret_arn), which ExecStartPre's `stratus migrate` creates with DML rights only."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+$", var.database_password_secret_arn))
    error_message = "database_password_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "database_master_secret_arn" {
  description = "The RDS-managed master secret (data module db_master_secret_arn): ExecStartPre runs `stratus migrate` with it before every start."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+$", var.database_master_secret_arn))
    error_message = "database_master_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "public_url" {
  description = "STRATUS_PUBLIC_URL: the site's public base URL for absolute links (feed, sitemap)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]+)?$", var.public_url))
    error_message = "public_url must be a scheme and host (and optional port), without a path or trailing slash."
  }
}

variable "database_pool_size" {
  description = "DATABASE_POOL_SIZE per instance."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.database_pool_size >= 1 && var.database_pool_size <= 100
    error_message = "database_pool_size must be 1-100."
  }
}

variable "database_connect_timeout_seconds" {
  description = "DATABASE_CONNECT_TIMEOUT in seconds."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.database_connect_timeout_seconds >= 1 && var.database_connect_timeout_seconds <= 60
    error_message = "database_connect_timeout_seconds must be 1-60."
  }
}

variable "database_statement_timeout_seconds" {
  description = "DATABASE_STATEMENT_TIMEOUT in seconds."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.database_statement_timeout_seconds >= 1 && var.database_statement_timeout_seconds <= 300
    error_message = "database_statement_timeout_seconds must be 1-300."
  }
}

################################################################################
# Board, files and admin
################################################################################

variable "board_url" {
  description = "STRATUS_BOARD_URL: dynamodb://TABLE to keep the board in DynamoDB (data module board_url); null keeps it in DATABASE_URL's database."
  type        = string
  default     = null

  validation {
    condition     = var.board_url == null || can(regex("^dynamodb://[A-Za-z0-9_.-]{3,255}$", var.board_url))
    error_message = "board_url must be dynamodb://TABLE or null."
  }
}

variable "files_url" {
  description = "STRATUS_FILES_URL: s3://BUCKET/PREFIX where uploads go (data module files_url). The instance role may touch only that prefix."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._-]+)*$", var.files_url))
    error_message = "files_url must be s3://BUCKET or s3://BUCKET/PREFIX (no trailing slash)."
  }
}

variable "file_metadata_url" {
  description = "STRATUS_FILE_METADATA_URL: dynamodb://TABLE holding one item per file (data module file_metadata_url)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^dynamodb://[A-Za-z0-9_.-]{3,255}$", var.file_metadata_url))
    error_message = "file_metadata_url must be dynamodb://TABLE."
  }
}

variable "files_kms_key_arn" {
  description = "Customer managed key the files bucket encrypts with: sets STRATUS_S3_SSE = aws:kms and STRATUS_S3_SSE_KMS_KEY_ID. Null uses SSE-S3 (STRATUS_S3_SSE = AES256)."
  type        = string
  default     = null

  validation {
    condition     = var.files_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.files_kms_key_arn))
    error_message = "files_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "max_upload_bytes" {
  description = "STRATUS_MAX_UPLOAD_BYTES: largest upload the app accepts (100 MiB by default)."
  type        = number
  default     = 104857600
  nullable    = false

  validation {
    condition     = var.max_upload_bytes >= 1 && var.max_upload_bytes <= 5368709120
    error_message = "max_upload_bytes must be 1 byte to 5 GiB (the largest single S3 PUT)."
  }
}

variable "admin_username" {
  description = "STRATUS_ADMIN_USERNAME: the admin's login name."
  type        = string
  default     = "admin"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.@-]{1,64}$", var.admin_username))
    error_message = "admin_username must be 1-64 letters, digits or _.@-."
  }
}

variable "session_ttl_seconds" {
  description = "STRATUS_SESSION_TTL: lifetime of an admin session in seconds (12 h by default). Sessions live in PostgreSQL, shared by every instance."
  type        = number
  default     = 43200
  nullable    = false

  validation {
    condition     = var.session_ttl_seconds >= 300 && var.session_ttl_seconds <= 2592000
    error_message = "session_ttl_seconds must be 5 minutes to 30 days."
  }
}

variable "admin_password_hash_secret_arn" {
  description = "ARN of a Secrets Manager secret or SSM SecureString parameter (created by the operator) holding STRATUS_ADMIN_PASSWORD_HASH, an argon2id PHC string; fetched at every start. Null: no admin login."
  type        = string
  default     = null

  validation {
    condition     = var.admin_password_hash_secret_arn == null || can(regex("^arn:aws[a-z-]*:(secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+|ssm:[^:]+:[0-9]{12}:parameter/.+)$", var.admin_password_hash_secret_arn))
    error_message = "admin_password_hash_secret_arn must be the full ARN of a Secrets Manager secret (no JSON key suffix) or an SSM parameter."
  }
}

variable "api_token_sha256_secret_arn" {
  description = "ARN of a Secrets Manager secret or SSM SecureString parameter (created by the operator) holding STRATUS_API_TOKEN_SHA256, the hex SHA-256 of the API bearer token; fetched at every start. Null: no API token."
  type        = string
  default     = null

  validation {
    condition     = var.api_token_sha256_secret_arn == null || can(regex("^arn:aws[a-z-]*:(secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+|ssm:[^:]+:[0-9]{12}:parameter/.+)$", var.api_token_sha256_secret_arn))
    error_message = "api_token_sha256_secret_arn must be the full ARN of a Secrets Manager secret (no JSON key suffix) or an SSM parameter."
  }
}

variable "attach_app_policy" {
  description = "Attach app_policy_json to the instance role."
  type        = bool
  default     = true
  nullable    = false
}

variable "app_policy_json" {
  description = "IAM policy JSON with the app's data access (data module output app_policy_json)."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the app log group in days."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

################################################################################
# Scaling (seed 003)
################################################################################

variable "min_size" {
  description = "Fewest instances."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.min_size >= 1
    error_message = "min_size must be at least 1."
  }
}

variable "desired_capacity" {
  description = "Instances at creation; the scaling alarms own the number afterwards."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.desired_capacity >= 1
    error_message = "desired_capacity must be at least 1."
  }
}

variable "max_size" {
  description = "Most instances."
  type        = number
  default     = 4
  nullable    = false

  validation {
    condition     = var.max_size >= 1 && var.max_size <= 20
    error_message = "max_size must be 1-20."
  }
}

variable "scale_out_cpu_percent" {
  description = "Average CPU above which one instance is added (2 x 5 minutes)."
  type        = number
  default     = 80
  nullable    = false

  validation {
    condition     = var.scale_out_cpu_percent > 0 && var.scale_out_cpu_percent <= 100
    error_message = "scale_out_cpu_percent must be in (0, 100]."
  }
}

variable "scale_in_cpu_percent" {
  description = "Average CPU below which one instance is removed (2 x 5 minutes)."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.scale_in_cpu_percent >= 0 && var.scale_in_cpu_percent < 100
    error_message = "scale_in_cpu_percent must be in [0, 100)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
