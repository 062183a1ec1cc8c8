################################################################################
# Security: the KMS key every module encrypts with, and the chained security groups
#
#   internet --80/443--> alb --app_port--> app --5432--> db
#
# Each hop admits only the security group in front of it (security-group references, never
# addresses), so a new task or instance is reachable the moment it joins its group, and nothing
# else is. There is no SSH rule anywhere: operators use ECS Exec or SSM Session Manager.
################################################################################

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
}

################################################################################
# KMS key
# One customer-managed key for the stack's data at rest: logs, SNS, DynamoDB, RDS (storage,
# Performance Insights, the managed master secret), S3, SSM, ECR, EBS. One key keeps the key
# policy reviewable; the IAM policies in the other modules then narrow *who* may use it and,
# with kms:ViaService, *through which service*.
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
################################################################################

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_111: this is a KMS key policy: Resource "*" means this key only, and the write actions are limited to the account root (which delegates to IAM) and to AWS services under conditions
  # checkov:skip=CKV_AWS_356: same key policy: "*" is the only Resource a key policy accepts for its own key
  # checkov:skip=CKV_AWS_109: same key policy: kms:* for the account root is AWS's default key policy, without which IAM policies could not grant the key at all
  # In a key policy, Resource "*" means "this key"; the statements below therefore use "*".
  statement {
    sid       = "AccountAdministersTheKeyThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsThisAccountsLogGroups"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  statement {
    sid       = "RdsEventsPublishToTheEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.rds.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTheEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # EC2 Auto Scaling launches instances with encrypted EBS volumes through its service-linked
  # role, which must be allowed to use the key. The role only exists once Auto Scaling has been
  # used in the account, and a key policy naming a missing role is rejected; hence the switch.
  # https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html
  dynamic "statement" {
    for_each = var.allow_autoscaling_ebs_encryption ? [1] : []

    content {
      sid = "AutoScalingUsesTheKeyForEbsVolumes"
      actions = [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey",
      ]
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.allow_autoscaling_ebs_encryption ? [1] : []

    content {
      sid       = "AutoScalingGrantsForEbsVolumes"
      actions   = ["kms:CreateGrant"]
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"]
      }

      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: data at rest (logs, SNS, DynamoDB, RDS, S3, SSM, ECR, EBS)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

################################################################################
# ALB security group: the only group open to the internet, and only on 80 and 443
################################################################################

data "aws_ec2_managed_prefix_list" "cloudfront" {
  count = var.restrict_alb_to_cloudfront ? 1 : 0

  name = "com.amazonaws.global.cloudfront.origin-facing"
}

resource "aws_security_group" "alb" {
  # checkov:skip=CKV2_AWS_5: attached in another module, to the ALB (alb module); the check does not follow module outputs
  name_prefix = "${var.name}-alb-"
  description = "ALB: HTTP/HTTPS from the internet (or CloudFront), out to the app only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each = var.restrict_alb_to_cloudfront ? toset([]) : toset(var.alb_ingress_ipv4_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP (redirected to HTTPS when a certificate is set)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = var.restrict_alb_to_cloudfront ? toset([]) : toset(var.alb_ingress_ipv4_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

# Behind CloudFront the ALB admits only CloudFront's origin-facing addresses (an AWS-managed
# prefix list). The secret origin header checked by the ALB listener then shuts out other
# CloudFront distributions too. A rule that references this prefix list counts as one rule per
# entry of the list (about 55) against the group's quota of 60: there is room for exactly one such
# rule, on the one port the origin protocol uses (443, or 80 for dev's http-only origin).
resource "aws_vpc_security_group_ingress_rule" "alb_from_cloudfront" {
  # checkov:skip=CKV_AWS_260: the source is CloudFront's origin-facing prefix list, not 0.0.0.0/0 (the check does not resolve prefix lists)
  count = var.restrict_alb_to_cloudfront ? 1 : 0

  security_group_id = aws_security_group.alb.id
  description       = "${var.cloudfront_origin_port == 443 ? "HTTPS" : "HTTP"} from CloudFront origin-facing addresses"
  ip_protocol       = "tcp"
  from_port         = var.cloudfront_origin_port
  to_port           = var.cloudfront_origin_port
  prefix_list_id    = data.aws_ec2_managed_prefix_list.cloudfront[0].id
}

moved {
  from = aws_vpc_security_group_ingress_rule.alb_https_from_cloudfront
  to   = aws_vpc_security_group_ingress_rule.alb_from_cloudfront
}

resource "aws_vpc_security_group_egress_rule" "alb_to_app" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to the app and health-check it"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = aws_security_group.app.id
}

################################################################################
# App security group: Fargate tasks or EC2 instances
################################################################################

resource "aws_security_group" "app" {
  # checkov:skip=CKV2_AWS_5: attached in another module, to the Fargate tasks or EC2 instances (ecs_service / asg_service); the check does not follow module outputs
  name_prefix = "${var.name}-app-"
  description = "Stratus app: the container port from the ALB only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-app" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "app_from_alb" {
  security_group_id            = aws_security_group.app.id
  description                  = "App port from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = aws_security_group.alb.id
}

# AWS APIs (ECR, CloudWatch Logs, Secrets Manager, SSM, S3, DynamoDB) over HTTPS, through the
# NAT gateway, the gateway endpoints or the interface endpoints. AWS publishes no stable address
# list for all of them, so the destination cannot be narrower than "anywhere on 443".
resource "aws_vpc_security_group_egress_rule" "app_https" {
  security_group_id = aws_security_group.app.id
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "app_to_db" {
  security_group_id            = aws_security_group.app.id
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id
}

################################################################################
# Database security group: PostgreSQL from the app only, nothing out
################################################################################

resource "aws_security_group" "db" {
  # checkov:skip=CKV2_AWS_5: attached in another module, to the RDS instance (data module); the check does not follow module outputs
  name_prefix = "${var.name}-db-"
  description = "RDS PostgreSQL: 5432 from the app only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-db" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the app"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.app.id
}
