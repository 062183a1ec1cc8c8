################################################################################
# CI
################################################################################

variable "name" {
  description = "Name prefix for the deploy role."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the image layers."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

################################################################################
# ECR repository
################################################################################

variable "repository_name" {
  description = "Name of the ECR repository."
  type        = string
  default     = "stratus"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9]+([._/-][a-z0-9]+)*$", var.repository_name))
    error_message = "repository_name must be a valid ECR repository name (lowercase, digits, . _ - /)."
  }
}

variable "force_delete" {
  description = "Let terraform destroy delete the repository with the images in it (dev; prod ties it to deletion_protection being off)."
  type        = bool
  default     = false
  nullable    = false
}

variable "keep_images" {
  description = "How many images to keep (older ones expire); they are the rollback targets."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.keep_images >= 1
    error_message = "keep_images must be at least 1."
  }
}

################################################################################
# GitHub trust
################################################################################

variable "github_repository" {
  description = "GitHub repository allowed to assume the deploy role, as \"owner/name\"."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must be \"owner/name\"."
  }
}

variable "github_branch" {
  description = "Branch whose workflow runs may assume the deploy role."
  type        = string
  default     = "main"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.github_branch)) && !strcontains(var.github_branch, "*")
    error_message = "github_branch must be one exact branch name (no wildcards)."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider. Set false and pass existing_oidc_provider_arn when the account already has one (there can be only one per URL)."
  type        = bool
  default     = true
  nullable    = false
}

variable "existing_oidc_provider_arn" {
  description = "ARN of an existing token.actions.githubusercontent.com OIDC provider (when create_oidc_provider is false)."
  type        = string
  default     = null

  validation {
    condition     = var.existing_oidc_provider_arn == null || can(regex(":oidc-provider/token.actions.githubusercontent.com$", coalesce(var.existing_oidc_provider_arn, "-")))
    error_message = "existing_oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com provider."
  }
}

################################################################################
# What the role may deploy
################################################################################

variable "deploy_to_ecs" {
  description = "Let the role roll out ecs_service_arn (the ECS variant). A boolean apart from the ARN because the ARN is unknown until the service exists."
  type        = bool
  default     = false
  nullable    = false
}

variable "ecs_service_arn" {
  description = "ARN of the ECS service the role may update (with deploy_to_ecs)."
  type        = string
  default     = null
}

variable "ecs_task_role_arns" {
  description = "Execution and task role ARNs the role may pass to new task definition revisions."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "enable_release_uploads" {
  description = "Let the role upload release binaries to release_bucket_arn (the EC2 variant)."
  type        = bool
  default     = false
  nullable    = false
}

variable "release_bucket_arn" {
  description = "S3 bucket ARN where CI uploads release binaries (with enable_release_uploads)."
  type        = string
  default     = null
}

variable "release_prefix" {
  description = "Key prefix for release binaries in release_bucket_arn."
  type        = string
  default     = "releases/"
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
