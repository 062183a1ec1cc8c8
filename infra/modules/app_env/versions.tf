terraform {
  required_version = ">= 1.6"

  # No provider: the module only computes values, so it needs no AWS credentials to test or plan.
}
