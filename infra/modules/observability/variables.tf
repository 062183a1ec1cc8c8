################################################################################
# Observability
################################################################################

variable "name" {
  description = "Name of the dashboard and prefix of the alarms, topic and metric namespace (Stratus/<name>)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the SNS topic (its policy must let CloudWatch use it; the security module's does)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "alarm_emails" {
  description = "Email addresses subscribed to the alarm topic (each must confirm once)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$", e))])
    error_message = "alarm_emails must be email addresses."
  }
}

################################################################################
# What to watch
################################################################################

variable "compute" {
  description = "Which compute variant runs the app: \"ecs\" or \"asg\"."
  type        = string
  default     = "ecs"
  nullable    = false

  validation {
    condition     = contains(["ecs", "asg"], var.compute)
    error_message = "compute must be \"ecs\" or \"asg\"."
  }
}

variable "lb_arn_suffix" {
  description = "ARN suffix of the ALB."
  type        = string
  nullable    = false
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the app's target group."
  type        = string
  nullable    = false
}

variable "ecs_cluster_name" {
  description = "ECS cluster name (compute = \"ecs\")."
  type        = string
  default     = null
}

variable "ecs_service_name" {
  description = "ECS service name (compute = \"ecs\")."
  type        = string
  default     = null
}

variable "asg_name" {
  description = "Auto Scaling group name (compute = \"asg\")."
  type        = string
  default     = null
}

variable "app_log_group_name" {
  description = "The app's CloudWatch log group (JSON lines) for the metric filters."
  type        = string
  nullable    = false
}

variable "app_metrics" {
  description = "Namespace and Service dimension of the app's EMF metrics: the compute module's app_metrics output."
  type = object({
    namespace = string
    service   = string
  })
  nullable = false
}

variable "rds_instance_identifier" {
  description = "DB instance identifier; null when the app uses DynamoDB."
  type        = string
  default     = null
}

variable "dynamodb_table_names" {
  description = "DynamoDB tables to watch for throttling."
  type        = list(string)
  default     = []
  nullable    = false
}

################################################################################
# Thresholds
################################################################################

variable "five_xx_rate_percent" {
  description = "5xx share of requests (app + ALB) that raises an alarm."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.five_xx_rate_percent > 0 && var.five_xx_rate_percent <= 100
    error_message = "five_xx_rate_percent must be in (0, 100]."
  }
}

variable "p99_latency_seconds" {
  description = "p99 target response time that raises an alarm."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.p99_latency_seconds > 0
    error_message = "p99_latency_seconds must be positive."
  }
}

variable "cpu_alarm_percent" {
  description = "CPU (app and RDS) that raises an alarm after 10 minutes."
  type        = number
  default     = 80
  nullable    = false

  validation {
    condition     = var.cpu_alarm_percent > 0 && var.cpu_alarm_percent <= 100
    error_message = "cpu_alarm_percent must be in (0, 100]."
  }
}

variable "rds_free_storage_alarm_gb" {
  description = "RDS free storage (GiB) below which an alarm fires."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.rds_free_storage_alarm_gb > 0
    error_message = "rds_free_storage_alarm_gb must be positive."
  }
}

variable "store_error_threshold" {
  description = "Failed store calls (the app's StoreErrors metric) in 5 minutes that raise an alarm."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.store_error_threshold >= 0
    error_message = "store_error_threshold must not be negative."
  }
}

variable "app_error_threshold" {
  description = "ERROR log lines in 5 minutes that raise an alarm."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.app_error_threshold >= 0
    error_message = "app_error_threshold must not be negative."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
