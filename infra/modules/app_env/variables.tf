################################################################################
# The app's environment: what differs between deployments and compute variants
#
# No defaults: the compute modules hold them (and document them); this module only turns values into
# the variables the binary reads.
################################################################################

variable "service_name" {
  description = "The deployment's name (e.g. stratus-prod): the Service dimension of the app's metrics."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$", var.service_name))
    error_message = "service_name must be 1-255 letters, digits, dots, hyphens or underscores (a CloudWatch dimension value)."
  }
}

variable "port" {
  description = "Port the app listens on (STRATUS_LISTEN 0.0.0.0:<port>)."
  type        = number
  nullable    = false

  validation {
    condition     = var.port >= 1 && var.port <= 65535
    error_message = "port must be 1-65535."
  }
}

variable "region" {
  description = "AWS region of the stack (AWS_REGION)."
  type        = string
  nullable    = false
}

variable "log_filter" {
  description = "RUST_LOG filter."
  type        = string
  nullable    = false
}

################################################################################
# Database
################################################################################

variable "database_password_secret_arn" {
  description = "Secrets Manager secret of the app's own login role (DATABASE_SECRET_ARN; STRATUS_APP_DATABASE_SECRET_ARN for migrate)."
  type        = string
  nullable    = false
}

variable "database_pool_size" {
  description = "Connections per app instance (DATABASE_POOL_SIZE)."
  type        = number
  nullable    = false
}

variable "database_connect_timeout_seconds" {
  description = "DATABASE_CONNECT_TIMEOUT, seconds."
  type        = number
  nullable    = false
}

variable "database_statement_timeout_seconds" {
  description = "DATABASE_STATEMENT_TIMEOUT, seconds."
  type        = number
  nullable    = false
}

################################################################################
# HTTP and shutdown timing
################################################################################

variable "drain_seconds" {
  description = "STRATUS_DRAIN_SECONDS."
  type        = number
  nullable    = false
}

variable "shutdown_timeout_seconds" {
  description = "STRATUS_SHUTDOWN_TIMEOUT, seconds."
  type        = number
  nullable    = false
}

variable "request_timeout_seconds" {
  description = "STRATUS_REQUEST_TIMEOUT, seconds."
  type        = number
  nullable    = false
}

variable "keep_alive_timeout_seconds" {
  description = "STRATUS_KEEP_ALIVE_TIMEOUT, seconds."
  type        = number
  nullable    = false
}

variable "max_concurrent_requests" {
  description = "STRATUS_MAX_CONCURRENT_REQUESTS."
  type        = number
  nullable    = false
}

variable "trusted_proxy_cidrs" {
  description = "CIDRs whose X-Forwarded-For the app trusts (STRATUS_TRUSTED_PROXIES, comma-separated)."
  type        = list(string)
  nullable    = false
}

variable "public_url" {
  description = "STRATUS_PUBLIC_URL: scheme and host people reach the site at."
  type        = string
  nullable    = false
}

################################################################################
# Board and files
################################################################################

variable "board_url" {
  description = "STRATUS_BOARD_URL (dynamodb://<table>); null keeps the board in DATABASE_URL's database."
  type        = string
  default     = null
}

variable "files_url" {
  description = "STRATUS_FILES_URL (s3://<bucket>/<prefix>)."
  type        = string
  nullable    = false
}

variable "file_metadata_url" {
  description = "STRATUS_FILE_METADATA_URL (dynamodb://<table>)."
  type        = string
  nullable    = false
}

variable "files_kms_key_arn" {
  description = "KMS key for the files (STRATUS_S3_SSE_KMS_KEY_ID, with STRATUS_S3_SSE = aws:kms); null: AES256."
  type        = string
  default     = null
}

variable "max_upload_bytes" {
  description = "STRATUS_MAX_UPLOAD_BYTES."
  type        = number
  nullable    = false
}

################################################################################
# Admin
################################################################################

variable "admin_username" {
  description = "STRATUS_ADMIN_USERNAME."
  type        = string
  nullable    = false
}

variable "session_ttl_seconds" {
  description = "STRATUS_SESSION_TTL, seconds."
  type        = number
  nullable    = false
}
