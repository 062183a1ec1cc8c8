terraform {
  # 1.10+ for S3-native state locking (use_lockfile); the modules themselves need only 1.6.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.100 is what the offline checks run (scripts/terraform-tests.sh); 6.x is what `init` downloads.
      version = ">= 5.100, < 7.0"
    }
  }

  # Partial configuration: `terraform init -backend-config=backend.hcl` (scripts/aws bootstrap writes it).
  backend "s3" {}
}

locals {
  default_tags = {
    Project     = "stratus"
    Environment = var.environment
    ManagedBy   = "terraform"
    Repository  = var.github_repository
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.default_tags
  }
}

# CloudFront's certificate, its WAF and its log delivery must live in us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = local.default_tags
  }
}
