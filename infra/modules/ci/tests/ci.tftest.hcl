# The deploy role: ECR only through ECR, the release bucket's key only through S3 (EC2 variant).

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
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
  }
}

variables {
  name              = "stratus-test"
  kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  github_repository = "example-org/stratus"
}

run "release_uploads_may_use_the_key_through_s3" {
  command = plan

  variables {
    enable_release_uploads = true
    release_bucket_arn     = "arn:aws:s3:::stratus-test-releases-1"
  }

  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.deploy.statement : s.resources if s.sid == "UploadReleaseBinaries"])) == toset(["arn:aws:s3:::stratus-test-releases-1/releases/*"])
    error_message = "uploads only under releases/"
  }
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.deploy.statement :
      s.sid == "EncryptReleasesThroughS3" &&
      toset(s.actions) == toset(["kms:GenerateDataKey", "kms:Decrypt"]) &&
      anytrue([for c in s.condition : c.variable == "kms:ViaService" && contains(c.values, "s3.eu-west-1.amazonaws.com")]) &&
      anytrue([for c in s.condition : c.variable == "kms:EncryptionContext:aws:s3:arn" && contains(c.values, "arn:aws:s3:::stratus-test-releases-1")])
    ])
    error_message = "the release bucket is SSE-KMS: the role needs the key through S3, for that bucket only (else `aws s3 cp` is denied)"
  }
}

run "ecs_only_role_has_no_s3" {
  command = plan

  variables {
    deploy_to_ecs      = true
    ecs_service_arn    = "arn:aws:ecs:eu-west-1:123456789012:service/stratus-test/stratus-test"
    ecs_task_role_arns = ["arn:aws:iam::123456789012:role/exec", "arn:aws:iam::123456789012:role/task"]
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.deploy.statement : !contains(["UploadReleaseBinaries", "EncryptReleasesThroughS3"], s.sid)])
    error_message = "the ECS variant's deploy role touches no bucket"
  }
  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.deploy.statement : s.resources if s.sid == "HandTheTaskItsRoles"])) == toset(["arn:aws:iam::123456789012:role/exec", "arn:aws:iam::123456789012:role/task"])
    error_message = "PassRole only for the task's two roles"
  }
}
