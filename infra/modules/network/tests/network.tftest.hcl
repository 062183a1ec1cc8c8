# Gateway endpoints carry policies: this account's buckets and tables, ECR layers, Amazon Linux repos.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\"}" }
  }
  mock_resource "aws_vpc" {
    defaults = { id = "vpc-0123456789abcdef0", cidr_block = "10.40.0.0/16" }
  }
}

variables {
  name        = "stratus-test"
  cidr        = "10.40.0.0/16"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "gateway_endpoints_have_policies" {
  command = plan

  assert {
    condition     = alltrue([for e in aws_vpc_endpoint.gateway : e.policy != null && e.policy != ""])
    error_message = "both gateway endpoints carry a policy"
  }
  assert {
    condition = (
      toset([for s in data.aws_iam_policy_document.s3_endpoint.statement : s.sid]) == toset(["ThisAccountsBucketsOnly", "EcrImageLayers", "AmazonLinux2023Repositories"]) &&
      anytrue([for s in data.aws_iam_policy_document.s3_endpoint.statement : s.sid == "ThisAccountsBucketsOnly" && anytrue([for c in s.condition : c.variable == "aws:ResourceAccount" && contains(c.values, "123456789012")])])
    )
    error_message = "S3 through the endpoint: this account's buckets, ECR's layer bucket and the AL2023 repositories only"
  }
  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.dynamodb_endpoint.statement : s.resources])) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/*"])
    error_message = "DynamoDB through the endpoint: this account's tables in this region only"
  }
}
