################################################################################
# Environment
################################################################################

variable "region" {
  description = "AWS region for everything except CloudFront's global pieces (us-east-1)."
  type        = string
  default     = "eu-west-1"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "environment" {
  description = "Environment name; resources are named stratus-<environment>."
  type        = string
  default     = "dev"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,15}$", var.environment))
    error_message = "environment must be 2-16 lowercase letters or digits."
  }
}

variable "compute" {
  description = "\"ecs\" (Fargate, seeds 000/002) or \"asg\" (EC2 Auto Scaling, seed 003)."
  type        = string
  default     = "ecs"
  nullable    = false

  validation {
    condition     = contains(["ecs", "asg"], var.compute)
    error_message = "compute must be \"ecs\" or \"asg\"."
  }
}

variable "board_store" {
  description = "Where the board (submissions, visit counter) lives: \"dynamodb\" (seed 000's table; the per-visit counter writes stay off the single RDS writer) or \"postgres\" (in RDS with users, posts and sessions). RDS PostgreSQL exists either way."
  type        = string
  default     = "dynamodb"
  nullable    = false

  validation {
    condition     = contains(["postgres", "dynamodb"], var.board_store)
    error_message = "board_store must be \"postgres\" or \"dynamodb\"."
  }
}

variable "deletion_protection" {
  description = "Deletion protection on the ALB, the DynamoDB tables and the DB instance. Set false and apply before `terraform destroy`."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Network
################################################################################

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (/16 to /20)."
  type        = string
  default     = "10.41.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be an IPv4 CIDR block."
  }
}

################################################################################
# Edge
################################################################################

variable "alb_certificate_arn" {
  description = "Regional ACM certificate for the ALB's HTTPS listener. Null serves plain HTTP (acceptable for dev only)."
  type        = string
  default     = null
}

variable "enable_cdn" {
  description = "Put CloudFront in front of the ALB (seed 002); off in dev by default."
  type        = bool
  default     = false
  nullable    = false
}

variable "health_check_path" {
  description = "ALB health check path: \"/health/ready\" (draining and saturation only, never the database: a database outage cannot make ECS or the ASG replace the fleet), \"/health\" (also the database, seed 001's deep check) or \"/health/live\" (process only). See docs/deploy-aws.md."
  type        = string
  default     = "/health/ready"
  nullable    = false

  validation {
    condition     = contains(["/health/ready", "/health", "/health/live"], var.health_check_path)
    error_message = "health_check_path must be \"/health/ready\", \"/health\" or \"/health/live\"."
  }
}

################################################################################
# App
################################################################################

variable "max_upload_bytes" {
  description = "STRATUS_MAX_UPLOAD_BYTES: largest file upload the app accepts (100 MiB by default)."
  type        = number
  default     = 104857600
  nullable    = false

  validation {
    condition     = var.max_upload_bytes >= 1 && var.max_upload_bytes <= 5368709120
    error_message = "max_upload_bytes must be 1 byte to 5 GiB."
  }
}

variable "admin_password_hash_secret_arn" {
  description = "ARN of a Secrets Manager secret or SSM SecureString you create holding STRATUS_ADMIN_PASSWORD_HASH (argon2id PHC string). Null: no admin login. See docs/deploy-aws.md."
  type        = string
  default     = null
}

variable "api_token_sha256_secret_arn" {
  description = "ARN of a Secrets Manager secret or SSM SecureString you create holding STRATUS_API_TOKEN_SHA256 (hex SHA-256 of the API bearer token). Null: no API token."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Image tag Terraform puts in the task definition it registers (the deploy pipeline swaps it for each release)."
  type        = string
  default     = "bootstrap"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,128}$", var.image_tag))
    error_message = "image_tag must be a valid image tag."
  }
}

variable "enable_execute_command" {
  description = "ECS Exec for debugging (makes the container's root filesystem writable while on)."
  type        = bool
  default     = true
  nullable    = false
}

variable "asg_release_version" {
  description = "compute = \"asg\" only: release version CI uploaded to the release bucket."
  type        = string
  default     = null

  validation {
    condition     = var.compute != "asg" || var.asg_release_version != null
    error_message = "compute = \"asg\" runs a release binary from the release bucket: set asg_release_version and asg_release_sha256 (scripts/aws bootstrap uploads the first release and passes both)."
  }
}

variable "asg_release_sha256" {
  description = "compute = \"asg\" only: SHA-256 of that release binary."
  type        = string
  default     = null

  validation {
    condition     = var.compute != "asg" || var.asg_release_sha256 != null
    error_message = "compute = \"asg\" needs asg_release_sha256, the SHA-256 of the release binary (instances refuse a download that does not match)."
  }
}

################################################################################
# CI and alarms
################################################################################

variable "github_repository" {
  description = "GitHub repository (owner/name) whose workflows may deploy."
  type        = string
  nullable    = false
}

variable "github_branch" {
  description = "Branch whose workflow runs may deploy."
  type        = string
  default     = "main"
  nullable    = false
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (false if another stack already did)."
  type        = bool
  default     = true
  nullable    = false
}

variable "existing_github_oidc_provider_arn" {
  description = "ARN of the existing GitHub OIDC provider when create_github_oidc_provider is false."
  type        = string
  default     = null
}

variable "alarm_emails" {
  description = "Email addresses that receive alarm notifications."
  type        = list(string)
  default     = []
  nullable    = false
}
