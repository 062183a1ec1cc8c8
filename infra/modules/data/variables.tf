################################################################################
# Data
################################################################################

variable "name" {
  description = "Name prefix for tables, the DB instance, buckets and the parameter."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "board_store" {
  description = "Where the board (submissions and the visit counter) lives: \"postgres\" (in RDS with everything else) or \"dynamodb\" (seed 000's table, STRATUS_BOARD_URL). RDS exists either way."
  type        = string
  default     = "postgres"
  nullable    = false

  validation {
    condition     = contains(["postgres", "dynamodb"], var.board_store)
    error_message = "board_store must be \"postgres\" or \"dynamodb\"."
  }
}

variable "deletion_protection" {
  description = "Deletion protection on the DynamoDB tables and the DB instance."
  type        = bool
  default     = true
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key that encrypts tables, the DB (storage, Performance Insights, master secret), the bucket and the parameter."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

################################################################################
# RDS PostgreSQL
################################################################################

variable "isolated_subnet_ids" {
  description = "Isolated subnet IDs (no route out of the VPC) for the DB subnet group, in at least two AZs."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "db_security_group_id" {
  description = "Security group of the DB instance (the security module's db group)."
  type        = string
  default     = null
}

variable "db_engine_version" {
  description = "PostgreSQL version; a major version (\"16\") lets RDS apply minor upgrades."
  type        = string
  default     = "16"
  nullable    = false

  validation {
    condition     = can(regex("^16(\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be PostgreSQL 16 (\"16\" or \"16.x\"): the parameter group family is postgres16."
  }
}

variable "db_instance_class" {
  description = "DB instance class. db.t4g.micro (dev) is about $12/month single-AZ; db.t4g.small about $24."
  type        = string
  default     = "db.t4g.small"
  nullable    = false

  validation {
    condition     = startswith(var.db_instance_class, "db.")
    error_message = "db_instance_class must be an RDS instance class such as db.t4g.small."
  }
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage in GiB."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 65536
    error_message = "db_allocated_storage_gb must be 20-65536."
  }
}

variable "db_max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.db_max_allocated_storage_gb >= 20
    error_message = "db_max_allocated_storage_gb must be at least 20."
  }
}

variable "db_multi_az" {
  description = "Standby in a second AZ with automatic failover (doubles the instance cost)."
  type        = bool
  default     = true
  nullable    = false
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time restore window)."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be 1-35."
  }
}

variable "db_name" {
  description = "Name of the database the app uses."
  type        = string
  default     = "stratus"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must start with a letter and hold only lowercase letters, digits and underscores."
  }
}

variable "db_username" {
  description = "Master user name; its password is generated and kept in Secrets Manager by RDS."
  type        = string
  default     = "stratus"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.db_username)) && !contains(["admin", "postgres", "rdsadmin"], var.db_username)
    error_message = "db_username must be 1-16 lowercase letters, digits or underscores, start with a letter, and not be a reserved name."
  }
}

variable "db_app_username" {
  description = "The app's own login role, created by `stratus migrate` with DML rights only; its password is generated into a Secrets Manager secret (output app_db_secret_arn)."
  type        = string
  default     = "stratus_app"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_app_username)) && !contains(["admin", "postgres", "rdsadmin", "stratus"], var.db_app_username)
    error_message = "db_app_username must be a lowercase PostgreSQL role name other than the master user's (\"stratus\") or a reserved one."
  }
}

variable "db_log_retention_days" {
  description = "Retention of the RDS log groups (postgresql, upgrade) in days."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.db_log_retention_days)
    error_message = "db_log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret (the app's database password) can still be restored; 0 deletes it at once."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or 7-30."
  }
}

variable "db_performance_insights_enabled" {
  description = "Performance Insights (7 days free retention)."
  type        = bool
  default     = true
  nullable    = false
}

variable "db_monitoring_interval_seconds" {
  description = "Enhanced Monitoring interval; 0 turns it off."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.db_monitoring_interval_seconds)
    error_message = "db_monitoring_interval_seconds must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

################################################################################
# Files bucket
################################################################################

variable "files_prefix" {
  description = "Key prefix the app may use in the files bucket (ends with \"/\")."
  type        = string
  default     = "files/"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+/$", var.files_prefix))
    error_message = "files_prefix must be one path segment ending in \"/\", e.g. \"files/\"."
  }
}

variable "files_noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted file version is kept before S3 deletes it."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.files_noncurrent_version_expiration_days >= 1
    error_message = "files_noncurrent_version_expiration_days must be at least 1."
  }
}

variable "files_access_log_retention_days" {
  description = "Days to keep the files bucket's server access logs."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.files_access_log_retention_days >= 1
    error_message = "files_access_log_retention_days must be at least 1."
  }
}

variable "files_force_destroy" {
  description = "Let terraform destroy delete the files bucket with every uploaded file in it (dev; prod ties it to deletion_protection being off)."
  type        = bool
  default     = false
  nullable    = false
}

variable "files_access_logs_force_destroy" {
  description = "Let terraform destroy delete the files bucket's access-log bucket with its logs."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
