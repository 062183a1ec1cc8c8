################################################################################
# Service
################################################################################

variable "name" {
  description = "Name of the cluster, service and task family, and prefix for their resources."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "image" {
  description = "Container image, ECR repository URL plus an immutable tag (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/stratus:1f2e3d4). Used when Terraform registers a task definition revision; the deploy pipeline swaps the tag afterwards."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[^:@]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$", var.image))
    error_message = "image must carry a tag or a digest (repository:tag or repository@sha256:...)."
  }
}

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository the image comes from; the execution role may pull from it only."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecr:", var.ecr_repository_arn))
    error_message = "ecr_repository_arn must be an ECR repository ARN."
  }
}

variable "cpu" {
  description = "Fargate task CPU units (256 = 0.25 vCPU, seed 000's size)."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "memory" {
  description = "Fargate task memory in MiB (512 with 256 CPU; see the Fargate size table for other pairs)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880
    error_message = "memory must be 512-122880 MiB and match a Fargate size for the chosen cpu."
  }
}

variable "container_port" {
  description = "Port the container listens on (STRATUS_LISTEN=0.0.0.0:<port>)."
  type        = number
  default     = 8000
  nullable    = false

  validation {
    condition     = var.container_port >= 1024 && var.container_port <= 65535
    error_message = "container_port must be an unprivileged port (1024-65535): the container runs as uid 10001."
  }
}

variable "subnet_ids" {
  description = "Private subnet IDs for the tasks (no public IP is assigned)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Give subnets in at least two AZs so the tasks spread across them."
  }
}

variable "security_group_ids" {
  description = "Security groups of the tasks (the security module's app group)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.security_group_ids) >= 1
    error_message = "At least one security group is required."
  }
}

variable "health_check_grace_period_seconds" {
  description = "Seconds ECS ignores failing ALB health checks of a new task. The app is ready in well under a second; 30 s covers slow image pulls without hiding broken tasks."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.health_check_grace_period_seconds >= 0 && var.health_check_grace_period_seconds <= 600
    error_message = "health_check_grace_period_seconds must be 0-600."
  }
}

variable "enable_execute_command" {
  description = "Allow ECS Exec (break-glass shell through SSM, no SSH). AWS does not support it with a read-only root filesystem, so turning it on also makes the root filesystem writable for the new revision."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Load balancer wiring
################################################################################

variable "target_group_arn" {
  description = "ARN of the ALB target group (alb module)."
  type        = string
  nullable    = false
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the target group, for CloudWatch metrics."
  type        = string
  nullable    = false
}

variable "lb_arn_suffix" {
  description = "ARN suffix of the load balancer, for CloudWatch metrics."
  type        = string
  nullable    = false
}

################################################################################
# App settings (environment of the container)
################################################################################

variable "log_filter" {
  description = "RUST_LOG filter directive."
  type        = string
  default     = "info"
  nullable    = false
}

variable "drain_seconds" {
  description = "STRATUS_DRAIN_SECONDS: after SIGTERM the app answers 503 on /health but keeps serving this long, so the ALB sees it leave before connections close."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.drain_seconds >= 0 && var.drain_seconds <= 60
    error_message = "drain_seconds must be 0-60."
  }
}

variable "shutdown_timeout_seconds" {
  description = "STRATUS_SHUTDOWN_TIMEOUT: the app's hard deadline after SIGTERM. Must be below stop_timeout_seconds."
  type        = number
  default     = 25
  nullable    = false

  validation {
    condition     = var.shutdown_timeout_seconds >= 1 && var.shutdown_timeout_seconds <= 119
    error_message = "shutdown_timeout_seconds must be 1-119 (Fargate stops a container after at most 120 s)."
  }
}

variable "stop_timeout_seconds" {
  description = "ECS stopTimeout: seconds between SIGTERM and SIGKILL."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 120
    error_message = "stop_timeout_seconds must be 2-120 (the Fargate maximum)."
  }
}

variable "request_timeout_seconds" {
  description = "STRATUS_REQUEST_TIMEOUT: the app's per-request deadline."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.request_timeout_seconds >= 1 && var.request_timeout_seconds <= 300
    error_message = "request_timeout_seconds must be 1-300."
  }
}

variable "keep_alive_timeout_seconds" {
  description = "STRATUS_KEEP_ALIVE_TIMEOUT: idle keep-alive connections are closed after this many seconds. Must exceed the ALB idle timeout (60 s)."
  type        = number
  default     = 75
  nullable    = false

  validation {
    condition     = var.keep_alive_timeout_seconds > 60 && var.keep_alive_timeout_seconds <= 4000
    error_message = "keep_alive_timeout_seconds must be above the ALB idle timeout of 60 s (and at most 4000)."
  }
}

variable "max_concurrent_requests" {
  description = "STRATUS_MAX_CONCURRENT_REQUESTS: requests one task serves at once; more get 503 quickly instead of queueing."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = var.max_concurrent_requests >= 1
    error_message = "max_concurrent_requests must be at least 1."
  }
}

variable "trusted_proxy_cidrs" {
  description = "STRATUS_TRUSTED_PROXIES: CIDRs whose X-Forwarded-* headers the app believes. In AWS, the VPC CIDR (the ALB's addresses)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.trusted_proxy_cidrs) > 0 && alltrue([for c in var.trusted_proxy_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "trusted_proxy_cidrs must be non-empty CIDR blocks and must not trust the whole internet."
  }
}

################################################################################
# Database
################################################################################

variable "database_url_parameter_arn" {
  description = "ARN of the SSM parameter holding DATABASE_URL (no password in it); data module."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ssm:", var.database_url_parameter_arn))
    error_message = "database_url_parameter_arn must be an SSM parameter ARN."
  }
}

variable "database_password_secret_arn" {
  description = "DATABASE_SECRET_ARN of the serving app: the secret ({\"username\",\"password\"}) of the app's own login role (data module app_db_secret_arn), which the `migrate` container creates with DML rights only. The app reads it with the task role."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+$", var.database_password_secret_arn))
    error_message = "database_password_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "database_master_secret_arn" {
  description = "The RDS-managed master secret (data module db_master_secret_arn). Its password is injected by ECS into the `migrate` container only (execution role); the task role cannot read it."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+$", var.database_master_secret_arn))
    error_message = "database_master_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "public_url" {
  description = "STRATUS_PUBLIC_URL: the site's public base URL for absolute links (feed, sitemap), e.g. https://example.com or https://d123.cloudfront.net; the environments pass the CloudFront or custom domain, else the ALB's URL."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]+)?$", var.public_url))
    error_message = "public_url must be a scheme and host (and optional port), without a path or trailing slash."
  }
}

variable "database_pool_size" {
  description = "DATABASE_POOL_SIZE per task. Keep max_capacity x pool size below the database's max_connections (db.t4g.micro: about 80)."
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
  description = "DATABASE_STATEMENT_TIMEOUT in seconds; keep it below request_timeout_seconds."
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
  description = "STRATUS_FILES_URL: s3://BUCKET/PREFIX where uploads go (data module files_url). The task role may touch only that prefix."
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
  description = "STRATUS_SESSION_TTL: lifetime of an admin session in seconds (12 h by default). Sessions live in PostgreSQL, shared by every task."
  type        = number
  default     = 43200
  nullable    = false

  validation {
    condition     = var.session_ttl_seconds >= 300 && var.session_ttl_seconds <= 2592000
    error_message = "session_ttl_seconds must be 5 minutes to 30 days."
  }
}

variable "admin_password_hash_secret_arn" {
  description = "ARN of a Secrets Manager secret or SSM SecureString parameter (created by the operator) holding STRATUS_ADMIN_PASSWORD_HASH, an argon2id PHC string; injected with `secrets`. Null: no admin login."
  type        = string
  default     = null

  validation {
    condition     = var.admin_password_hash_secret_arn == null || can(regex("^arn:aws[a-z-]*:(secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+|ssm:[^:]+:[0-9]{12}:parameter/.+)$", var.admin_password_hash_secret_arn))
    error_message = "admin_password_hash_secret_arn must be the full ARN of a Secrets Manager secret (no JSON key suffix) or an SSM parameter."
  }
}

variable "api_token_sha256_secret_arn" {
  description = "ARN of a Secrets Manager secret or SSM SecureString parameter (created by the operator) holding STRATUS_API_TOKEN_SHA256, the hex SHA-256 of the API bearer token; injected with `secrets`. Null: no API token."
  type        = string
  default     = null

  validation {
    condition     = var.api_token_sha256_secret_arn == null || can(regex("^arn:aws[a-z-]*:(secretsmanager:[^:]+:[0-9]{12}:secret:[^:]+|ssm:[^:]+:[0-9]{12}:parameter/.+)$", var.api_token_sha256_secret_arn))
    error_message = "api_token_sha256_secret_arn must be the full ARN of a Secrets Manager secret (no JSON key suffix) or an SSM parameter."
  }
}

################################################################################
# Permissions
################################################################################

variable "attach_app_policy" {
  description = "Attach app_policy_json to the task role. A separate switch because the policy text is only known after apply."
  type        = bool
  default     = true
  nullable    = false
}

variable "app_policy_json" {
  description = "IAM policy JSON for the task role: the app's access to its tables, bucket prefix, parameter and key (data module output app_policy_json)."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "KMS key for the log groups and ECS Exec sessions; the execution role may decrypt injected secrets with it."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

################################################################################
# Logs and alarms
################################################################################

variable "log_retention_days" {
  description = "Retention of the app log group in days (seed 000: 7)."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "rollback_5xx_rate_percent" {
  description = "Target 5xx rate (percent of requests, per minute, 2 of 3 minutes) that rolls a deployment back and notifies alarm_topic_arn."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.rollback_5xx_rate_percent > 0 && var.rollback_5xx_rate_percent <= 100
    error_message = "rollback_5xx_rate_percent must be in (0, 100]."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic notified by the 5xx alarm; null for none."
  type        = string
  default     = null
}

################################################################################
# Auto scaling
################################################################################

variable "desired_count" {
  description = "Tasks at creation (2: one per AZ). Auto scaling owns the number afterwards."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.desired_count >= 1
    error_message = "desired_count must be at least 1."
  }
}

variable "min_capacity" {
  description = "Fewest tasks auto scaling keeps."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.min_capacity >= 1
    error_message = "min_capacity must be at least 1."
  }
}

variable "max_capacity" {
  description = "Most tasks auto scaling runs."
  type        = number
  default     = 4
  nullable    = false

  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 100
    error_message = "max_capacity must be 1-100."
  }
}

variable "cpu_target_percent" {
  description = "Average service CPU that target tracking holds."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be 10-90."
  }
}

variable "memory_target_percent" {
  description = "Average service memory that target tracking holds."
  type        = number
  default     = 75
  nullable    = false

  validation {
    condition     = var.memory_target_percent >= 10 && var.memory_target_percent <= 90
    error_message = "memory_target_percent must be 10-90."
  }
}

variable "requests_per_target" {
  description = "Optional third policy: ALB requests per task per minute to hold. Null turns it off."
  type        = number
  default     = null

  validation {
    condition     = var.requests_per_target == null || try(var.requests_per_target >= 1, false)
    error_message = "requests_per_target must be at least 1 or null."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
