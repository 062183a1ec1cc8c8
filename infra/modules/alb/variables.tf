################################################################################
# Load balancer
################################################################################

variable "name" {
  description = "Name of the load balancer and prefix for its resources (at most 32 characters)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "ID of the VPC."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "subnet_ids" {
  description = "Public subnet IDs for the load balancer, in at least two AZs."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An ALB needs subnets in at least two availability zones."
  }
}

variable "security_group_id" {
  description = "ID of the ALB security group (security module)."
  type        = string
  nullable    = false
}

variable "idle_timeout_seconds" {
  description = "Seconds an idle client or target connection stays open. Must stay below the app's STRATUS_KEEP_ALIVE_TIMEOUT (75 s)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.idle_timeout_seconds >= 1 && var.idle_timeout_seconds < 75
    error_message = "idle_timeout_seconds must be 1-74: below the app's keep-alive timeout of 75 s."
  }
}

variable "enable_deletion_protection" {
  description = "Refuse to delete the load balancer until this is turned off."
  type        = bool
  default     = true
  nullable    = false
}

################################################################################
# Listeners
################################################################################

variable "certificate_arn" {
  description = "ACM certificate ARN (same region) for the HTTPS listener. Null serves plain HTTP on port 80 (dev, or an origin only CloudFront reaches)."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN or null."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false

  validation {
    condition     = startswith(var.ssl_policy, "ELBSecurityPolicy-TLS13-")
    error_message = "ssl_policy must be one of the TLS 1.3 ELB policies (ELBSecurityPolicy-TLS13-*)."
  }
}

variable "require_origin_secret" {
  description = "Generate an origin secret (Secrets Manager) and forward only requests that carry it in origin_secret_header_name (CloudFront adds it; output origin_secret); answer 403 to all others."
  type        = bool
  default     = false
  nullable    = false
}

variable "secret_recovery_window_days" {
  description = "Days a deleted origin secret can still be restored (0 deletes it at once; dev)."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or 7-30."
  }
}

variable "origin_secret_header_name" {
  description = "Header that carries the origin secret."
  type        = string
  default     = "X-Origin-Verify"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+$", var.origin_secret_header_name))
    error_message = "origin_secret_header_name must be a valid HTTP header name."
  }
}

################################################################################
# Target group and health check
################################################################################

variable "target_type" {
  description = "\"ip\" for Fargate tasks (awsvpc), \"instance\" for the EC2 Auto Scaling variant."
  type        = string
  default     = "ip"
  nullable    = false

  validation {
    condition     = contains(["ip", "instance"], var.target_type)
    error_message = "target_type must be \"ip\" or \"instance\"."
  }
}

variable "target_port" {
  description = "Port the app listens on (the container port)."
  type        = number
  default     = 8000
  nullable    = false

  validation {
    condition     = var.target_port >= 1 && var.target_port <= 65535
    error_message = "target_port must be a TCP port."
  }
}

variable "health_check_path" {
  description = "Target health check path. \"/health/ready\" (default) fails only when the target is draining or saturated (every request slot taken) and never asks the database, so a database outage cannot make every target unhealthy; \"/health\" also checks the database (seed 001's deep check), \"/health/live\" only the process. See docs/deploy-aws.md."
  type        = string
  default     = "/health/ready"
  nullable    = false

  validation {
    condition     = contains(["/health/ready", "/health", "/health/live"], var.health_check_path)
    error_message = "health_check_path must be a health route the binary serves: \"/health/ready\", \"/health\" or \"/health/live\"."
  }
}

variable "health_check_interval_seconds" {
  description = "Seconds between health checks of one target."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.health_check_interval_seconds >= 5 && var.health_check_interval_seconds <= 300
    error_message = "health_check_interval_seconds must be 5-300."
  }
}

variable "health_check_timeout_seconds" {
  description = "Seconds to wait for a health check answer; must be below the interval."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.health_check_timeout_seconds >= 2 && var.health_check_timeout_seconds <= 120
    error_message = "health_check_timeout_seconds must be 2-120."
  }
}

variable "healthy_threshold" {
  description = "Consecutive successes before a target is healthy."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.healthy_threshold >= 2 && var.healthy_threshold <= 10
    error_message = "healthy_threshold must be 2-10."
  }
}

variable "unhealthy_threshold" {
  description = "Consecutive failures before a target is unhealthy."
  type        = number
  default     = 3
  nullable    = false

  validation {
    condition     = var.unhealthy_threshold >= 2 && var.unhealthy_threshold <= 10
    error_message = "unhealthy_threshold must be 2-10."
  }
}

variable "deregistration_delay_seconds" {
  description = "Seconds the ALB waits for in-flight requests of a deregistering target. Keep it >= STRATUS_DRAIN_SECONDS and < STRATUS_SHUTDOWN_TIMEOUT (defaults 5 and 25)."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must be 0-3600."
  }
}

################################################################################
# Access logs
################################################################################

variable "access_logs_retention_days" {
  description = "Days to keep ALB access logs in S3."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.access_logs_retention_days >= 1
    error_message = "access_logs_retention_days must be at least 1."
  }
}

variable "access_logs_force_destroy" {
  description = "Let terraform destroy delete the log bucket even when it holds logs (dev only)."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# WAF
################################################################################

variable "enable_waf" {
  description = "Attach a regional WAF web ACL with AWS managed rules (common, known bad inputs, IP reputation) and a per-IP rate limit. About $5/month + $1 per rule + $0.60 per million requests."
  type        = bool
  default     = false
  nullable    = false
}

variable "waf_rate_limit_per_5_minutes" {
  description = "Requests one IP may send in 5 minutes before WAF blocks it."
  type        = number
  default     = 2000
  nullable    = false

  validation {
    condition     = var.waf_rate_limit_per_5_minutes >= 10
    error_message = "waf_rate_limit_per_5_minutes must be at least 10 (the WAF minimum)."
  }
}

variable "waf_log_retention_days" {
  description = "Retention of the WAF log group in days."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.waf_log_retention_days)
    error_message = "waf_log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN for the WAF log group."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
