################################################################################
# Distribution
################################################################################

variable "name" {
  description = "Name prefix for the distribution's policies, logs and WAF."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "price_class" {
  description = "CloudFront price class: which edge locations serve (PriceClass_100 = North America and Europe, cheapest)."
  type        = string
  default     = "PriceClass_100"
  nullable    = false

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "hsts_preload" {
  description = "Add \"preload\" to Strict-Transport-Security. Only with a custom domain you intend to submit to the browsers' preload list: it is hard to undo and covers every subdomain."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Origin
################################################################################

variable "origin_domain_name" {
  description = "Host name CloudFront connects to: with https-only, a name on the ALB's certificate that points at the ALB (e.g. origin.example.com); with http-only, the ALB's DNS name."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9.-]+$", var.origin_domain_name))
    error_message = "origin_domain_name must be a host name."
  }
}

variable "origin_protocol_policy" {
  description = "\"https-only\" (prod: the ALB has a certificate for origin_domain_name) or \"http-only\" (dev: the ALB has none; CloudFront-to-ALB traffic then crosses the internet unencrypted)."
  type        = string
  default     = "https-only"
  nullable    = false

  validation {
    condition     = contains(["https-only", "http-only"], var.origin_protocol_policy)
    error_message = "origin_protocol_policy must be \"https-only\" or \"http-only\"."
  }
}

variable "origin_secret" {
  description = "Value of the secret header CloudFront adds to origin requests; the ALB (alb module origin_secret) requires it."
  type        = string
  sensitive   = true
  nullable    = false

  validation {
    condition     = length(var.origin_secret) >= 32
    error_message = "origin_secret must be at least 32 characters."
  }
}

variable "origin_secret_header_name" {
  description = "Name of the secret origin header (same as the alb module's)."
  type        = string
  default     = "X-Origin-Verify"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+$", var.origin_secret_header_name))
    error_message = "origin_secret_header_name must be a valid HTTP header name."
  }
}

################################################################################
# Custom domain (optional)
################################################################################

variable "domain_names" {
  description = "Host names the distribution answers to (first one is the certificate's subject). Empty uses the *.cloudfront.net name and certificate."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for d in var.domain_names : can(regex("^[a-z0-9.-]+$", d))])
    error_message = "domain_names must be lowercase host names."
  }
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone for certificate validation and the alias records; required with domain_names."
  type        = string
  default     = null
}

################################################################################
# Logs
################################################################################

variable "logs_retention_days" {
  description = "Days to keep CloudFront access logs."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.logs_retention_days >= 1
    error_message = "logs_retention_days must be at least 1."
  }
}

variable "logs_force_destroy" {
  description = "Let terraform destroy delete the log bucket even when it holds logs (dev only)."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# WAF
################################################################################

variable "enable_waf" {
  description = "Attach a CLOUDFRONT-scope WAF web ACL with AWS managed rules and a per-IP rate limit."
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

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
