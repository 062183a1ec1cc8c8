################################################################################
# Network: one VPC, three subnet tiers per AZ
#
#   public    ALB and NAT gateways; the only tier with a route to the internet gateway
#   private   the app (Fargate tasks or EC2 instances); egress through NAT and/or VPC endpoints
#   isolated  RDS; no route out of the VPC at all
#
# Address plan (relative to var.cidr, so any /16../20 works):
#   quarter 0..2 of the VPC     -> private subnets, one per AZ (the big tier: every task takes an IP)
#   quarter 3, eighths 0..2     -> public subnets
#   quarter 3, eighths 4..6     -> isolated subnets
################################################################################

data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394: the module uses slice(names, 0, az_count) of the sorted names, so a zone AWS adds later (it sorts last) never moves the subnets
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  spare_quarter  = cidrsubnet(var.cidr, 2, 3)
  private_cidrs  = [for i in range(var.az_count) : cidrsubnet(var.cidr, 2, i)]
  public_cidrs   = [for i in range(var.az_count) : cidrsubnet(local.spare_quarter, 3, i)]
  isolated_cidrs = [for i in range(var.az_count) : cidrsubnet(local.spare_quarter, 3, 4 + i)]
  nat_gateway_count = {
    per_az = var.az_count
    single = 1
    none   = 0
  }[var.nat_gateway_mode]

  create_interface_endpoints = var.enable_interface_endpoints && length(var.interface_endpoint_services) > 0
}

################################################################################
# VPC
################################################################################

resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # interface endpoints with private DNS need both

  tags = merge(var.tags, { Name = var.name })

  lifecycle {
    precondition {
      condition     = var.nat_gateway_mode != "none" || var.enable_interface_endpoints
      error_message = "nat_gateway_mode = \"none\" leaves the private subnets without a way to ECR, CloudWatch Logs and Secrets Manager: set enable_interface_endpoints = true."
    }
  }
}

# The default security group of a VPC allows all traffic between its members. Nothing uses it here;
# managing it with no rules makes sure nothing accidentally can.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = var.name })
}

################################################################################
# Subnets
################################################################################

resource "aws_subnet" "public" {
  count = var.az_count

  vpc_id            = aws_vpc.this.id
  cidr_block        = local.public_cidrs[count.index]
  availability_zone = local.azs[count.index]
  # The ALB and the NAT gateways get their addresses explicitly; nothing launched here
  # should receive a public IP by accident.
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.name}-public-${local.azs[count.index]}", Tier = "public" })
}

resource "aws_subnet" "private" {
  count = var.az_count

  vpc_id            = aws_vpc.this.id
  cidr_block        = local.private_cidrs[count.index]
  availability_zone = local.azs[count.index]

  tags = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}", Tier = "private" })
}

resource "aws_subnet" "isolated" {
  count = var.az_count

  vpc_id            = aws_vpc.this.id
  cidr_block        = local.isolated_cidrs[count.index]
  availability_zone = local.azs[count.index]

  tags = merge(var.tags, { Name = "${var.name}-isolated-${local.azs[count.index]}", Tier = "isolated" })
}

################################################################################
# NAT gateways
# https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway.html
#
# per_az: one per AZ, so losing an AZ does not cut the others' egress (~$33/month each + $0.045/GB).
# single: one for the whole VPC; cheaper, but every private subnet loses egress if its AZ fails,
#         and cross-AZ traffic to it is billed.
# none:   no egress to the internet; the app reaches AWS through the VPC endpoints only
#         (set enable_interface_endpoints = true, or image pulls, logs and secrets will fail).
################################################################################

resource "aws_eip" "nat" {
  count = local.nat_gateway_count

  domain = "vpc"

  tags = merge(var.tags, { Name = "${var.name}-nat-${local.azs[count.index]}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_gateway_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = merge(var.tags, { Name = "${var.name}-${local.azs[count.index]}" })

  depends_on = [aws_internet_gateway.this]
}

################################################################################
# Routing
################################################################################

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = var.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# One private route table per AZ so that each can point at its own NAT gateway.
resource "aws_route_table" "private" {
  count = var.az_count

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}" })
}

resource "aws_route" "private_nat" {
  count = local.nat_gateway_count > 0 ? var.az_count : 0

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.nat_gateway_mode == "per_az" ? count.index : 0].id
}

resource "aws_route_table_association" "private" {
  count = var.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# Isolated subnets keep only the implicit local route: the database has no path out of the VPC.
resource "aws_route_table" "isolated" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-isolated" })
}

resource "aws_route_table_association" "isolated" {
  count = var.az_count

  subnet_id      = aws_subnet.isolated[count.index].id
  route_table_id = aws_route_table.isolated.id
}

################################################################################
# VPC endpoints
# Gateway endpoints (S3, DynamoDB) are free and keep that traffic, including ECR image layers,
# which ECR serves from S3, off the NAT gateways. Interface endpoints cost ~$7.30/month per AZ
# each; they are what lets the app run with nat_gateway_mode = "none".
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html
################################################################################

# Endpoint policies: a second fence after IAM. Through these endpoints the VPC reaches only this
# account's buckets and tables, with the actions the stack uses, plus the two AWS-owned buckets it
# needs: ECR's image layers (Fargate image pulls) and the Amazon Linux 2023 package repositories
# (the EC2 variant's dnf install).
# https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html
data "aws_iam_policy_document" "s3_endpoint" {
  # checkov:skip=CKV_AWS_283: an endpoint policy must name principal "*"; the account conditions and the listed AWS-owned buckets are what narrow it
  statement {
    sid = "ThisAccountsBucketsOnly"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
      "s3:ListBucket",
      "s3:GetBucketLocation",
    ]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "EcrImageLayers"
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::prod-${data.aws_region.current.name}-starport-layer-bucket/*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  # dnf fetches these anonymously, so no principal condition can apply.
  statement {
    sid       = "AmazonLinux2023Repositories"
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::al2023-repos-${data.aws_region.current.name}-de612dc2/*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
  }
}

data "aws_iam_policy_document" "dynamodb_endpoint" {
  statement {
    sid = "ThisAccountsTablesOnly"
    actions = [
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:Query",
    ]
    resources = ["arn:${data.aws_partition.current.partition}:dynamodb:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:table/*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_vpc_endpoint" "gateway" {
  for_each = toset(["s3", "dynamodb"])

  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id
  policy            = each.key == "s3" ? data.aws_iam_policy_document.s3_endpoint.json : data.aws_iam_policy_document.dynamodb_endpoint.json

  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

resource "aws_security_group" "endpoints" {
  count = local.create_interface_endpoints ? 1 : 0

  name_prefix = "${var.name}-endpoints-"
  description = "Interface VPC endpoints: HTTPS from inside the VPC only"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-endpoints" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  count = local.create_interface_endpoints ? 1 : 0

  security_group_id = aws_security_group.endpoints[0].id
  description       = "HTTPS from the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = aws_vpc.this.cidr_block
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.create_interface_endpoints ? toset(var.interface_endpoint_services) : toset([])

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true

  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

################################################################################
# Flow logs
# https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-cwl.html
################################################################################

resource "aws_cloudwatch_log_group" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name              = "/vpc/${var.name}/flow-logs"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [aws_vpc.this.owner_id]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name_prefix        = "${var.name}-flow-logs-"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  statement {
    sid = "WriteToTheFlowLogGroupOnly"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = ["${aws_cloudwatch_log_group.flow_logs[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs[0].id
  policy = data.aws_iam_policy_document.flow_logs[0].json
}

resource "aws_flow_log" "this" {
  count = var.enable_flow_logs ? 1 : 0

  vpc_id                   = aws_vpc.this.id
  traffic_type             = var.flow_log_traffic_type
  log_destination_type     = "cloud-watch-logs"
  log_destination          = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn             = aws_iam_role.flow_logs[0].arn
  max_aggregation_interval = 600

  tags = merge(var.tags, { Name = var.name })
}
