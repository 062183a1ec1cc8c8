################################################################################
# Security
################################################################################

variable "name" {
  description = "Name prefix for every resource (e.g. \"stratus-prod\")."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "ID of the VPC the security groups belong to."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

################################################################################
# KMS key
################################################################################

variable "kms_deletion_window_days" {
  description = "Days a scheduled key deletion waits before the key (and everything encrypted with it) is gone."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "allow_autoscaling_ebs_encryption" {
  description = "Let the EC2 Auto Scaling service-linked role use the key for encrypted EBS volumes. Needed for the asg_service variant; the role must already exist in the account (it does once any Auto Scaling group has been created)."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Security groups
################################################################################

variable "app_port" {
  description = "Port the app listens on inside the VPC (the container port; STRATUS_LISTEN uses it)."
  type        = number
  default     = 8000
  nullable    = false

  validation {
    condition     = var.app_port >= 1024 && var.app_port <= 65535
    error_message = "app_port must be an unprivileged port (1024-65535): the app runs as a non-root user."
  }
}

variable "alb_ingress_ipv4_cidrs" {
  description = "IPv4 ranges allowed to reach the ALB on 80/443. The internet by default; ignored when restrict_alb_to_cloudfront is true."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false

  validation {
    condition     = alltrue([for c in var.alb_ingress_ipv4_cidrs : can(cidrhost(c, 0))])
    error_message = "alb_ingress_ipv4_cidrs must be IPv4 CIDR blocks."
  }
}

variable "restrict_alb_to_cloudfront" {
  description = "Admit only CloudFront's origin-facing address ranges to the ALB (use with the cdn module)."
  type        = bool
  default     = false
  nullable    = false
}

variable "cloudfront_origin_port" {
  description = "With restrict_alb_to_cloudfront: the one port CloudFront reaches the ALB on (443 for an https-only origin, 80 for http-only). One port only: a rule on CloudFront's prefix list costs about 55 of the group's 60 rules."
  type        = number
  default     = 443
  nullable    = false

  validation {
    condition     = contains([80, 443], var.cloudfront_origin_port)
    error_message = "cloudfront_origin_port must be 443 (https-only origin) or 80 (http-only origin)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
