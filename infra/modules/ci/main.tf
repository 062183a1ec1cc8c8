################################################################################
# CI: the ECR repository and a GitHub Actions deploy role (OIDC, no stored AWS keys)
#
# The role's trust is pinned to one repository and one branch; it may push images to this one
# repository and roll out one ECS service, nothing else.
# https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services
################################################################################

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  github_oidc_host  = "token.actions.githubusercontent.com"
  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.existing_oidc_provider_arn
  deploys_ecs       = var.deploy_to_ecs
}

################################################################################
# ECR repository
################################################################################

resource "aws_ecr_repository" "this" {
  name = var.repository_name
  # A tag, once pushed, always means the same image: deployments and rollbacks are exact.
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Drop untagged layers after a day"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 1
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest ${var.keep_images} images (rollback targets)"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

################################################################################
# GitHub OIDC provider (one per account; reuse an existing one with create_oidc_provider = false)
################################################################################

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.github_oidc_host}"
  client_id_list = ["sts.amazonaws.com"]

  tags = var.tags
}

################################################################################
# Deploy role
################################################################################

data "aws_iam_policy_document" "deploy_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Exact subject: this repository, this branch. Pull requests, forks, tags and other
    # branches get no credentials. (A job that sets `environment:` presents a different subject
    # and is refused too.)
    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_host}:sub"
      values   = ["repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"]
    }
  }
}

resource "aws_iam_role" "deploy" {
  name_prefix          = "${var.name}-gh-deploy-"
  assume_role_policy   = data.aws_iam_policy_document.deploy_assume.json
  max_session_duration = 3600

  tags = var.tags
}

data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions
  }

  statement {
    sid = "PushToTheAppRepository"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:InitiateLayerUpload",
      "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload",
      "ecr:PutImage",
      "ecr:BatchGetImage",
      "ecr:DescribeImages",
      "ecr:DescribeImageScanFindings",
    ]
    resources = [aws_ecr_repository.this.arn]
  }

  # Image layers are encrypted with the stack key; ECR uses it on the pusher's behalf.
  statement {
    sid       = "EncryptLayersThroughEcr"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ecr.${data.aws_region.current.name}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = local.deploys_ecs ? [1] : []

    content {
      sid       = "RollOutTheService"
      actions   = ["ecs:UpdateService", "ecs:DescribeServices"]
      resources = [var.ecs_service_arn]
    }
  }

  dynamic "statement" {
    for_each = local.deploys_ecs ? [1] : []

    content {
      sid = "RegisterTaskDefinitionRevisions"
      actions = [
        "ecs:DescribeTaskDefinition",
        "ecs:RegisterTaskDefinition",
      ]
      resources = ["*"] # neither action supports resource-level permissions
    }
  }

  dynamic "statement" {
    for_each = local.deploys_ecs ? [1] : []

    content {
      sid       = "HandTheTaskItsRoles"
      actions   = ["iam:PassRole"]
      resources = var.ecs_task_role_arns

      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["ecs-tasks.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.enable_release_uploads ? [1] : []

    content {
      sid       = "UploadReleaseBinaries"
      actions   = ["s3:PutObject"]
      resources = ["${var.release_bucket_arn}/${var.release_prefix}*"]
    }
  }

  # The release bucket is SSE-KMS with the stack's key: S3 asks KMS for a data key on the uploader's
  # behalf (GenerateDataKey), and a multipart upload (`aws s3 cp` of a binary over 8 MiB) also needs
  # Decrypt to assemble the parts. Only through S3, only for that bucket (Bucket Key: the context
  # is the bucket's ARN).
  dynamic "statement" {
    for_each = var.enable_release_uploads ? [1] : []

    content {
      sid       = "EncryptReleasesThroughS3"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${data.aws_region.current.name}.amazonaws.com"]
      }

      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:s3:arn"
        values   = [var.release_bucket_arn, "${var.release_bucket_arn}/${var.release_prefix}*"]
      }
    }
  }
}

resource "aws_iam_role_policy" "deploy" {
  name   = "push-and-deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json

  lifecycle {
    precondition {
      condition     = !var.deploy_to_ecs || (var.ecs_service_arn != null && length(var.ecs_task_role_arns) > 0)
      error_message = "deploy_to_ecs needs ecs_service_arn and ecs_task_role_arns."
    }

    precondition {
      condition     = !var.enable_release_uploads || var.release_bucket_arn != null
      error_message = "enable_release_uploads needs release_bucket_arn."
    }
  }
}
