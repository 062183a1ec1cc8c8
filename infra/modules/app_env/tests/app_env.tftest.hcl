# The app's environment as both compute variants render it. binary_env_names is
# `stratus config --list-env`, passed by scripts/terraform-tests.sh with -var: every name set here must
# be one the binary reads.

variables {
  service_name                       = "stratus-test"
  port                               = 8000
  region                             = "eu-west-1"
  log_filter                         = "info"
  database_password_secret_arn       = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stratus-test/db-app-AbCdEf"
  database_pool_size                 = 10
  database_connect_timeout_seconds   = 5
  database_statement_timeout_seconds = 5
  drain_seconds                      = 5
  shutdown_timeout_seconds           = 25
  request_timeout_seconds            = 10
  keep_alive_timeout_seconds         = 75
  max_concurrent_requests            = 256
  trusted_proxy_cidrs                = ["10.40.0.0/16", "10.41.0.0/16"]
  public_url                         = "https://www.stratus.test"
  board_url                          = "dynamodb://stratus-test-submissions"
  files_url                          = "s3://stratus-test-files-1/files"
  file_metadata_url                  = "dynamodb://stratus-test-file-metadata"
  files_kms_key_arn                  = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  max_upload_bytes                   = 104857600
  admin_username                     = "admin"
  session_ttl_seconds                = 43200
}

run "names_the_binary_reads" {
  command = plan

  assert {
    condition     = alltrue([for name in concat(keys(output.environment), keys(output.migrate_environment)) : contains(var.binary_env_names, name)])
    error_message = "the environment sets a variable the binary does not read (stratus config --list-env): ${join(", ", [for name in concat(keys(output.environment), keys(output.migrate_environment)) : name if !contains(var.binary_env_names, name)])}"
  }
}

run "values" {
  command = plan

  assert {
    condition = (
      output.environment["STRATUS_LISTEN"] == "0.0.0.0:8000" &&
      output.environment["AWS_REGION"] == "eu-west-1" &&
      output.environment["STRATUS_LOG_FORMAT"] == "json" &&
      output.environment["STRATUS_CREATE_TABLES"] == "false" &&
      output.environment["STRATUS_MIGRATE_ON_START"] == "false" &&
      output.environment["STRATUS_TRUSTED_PROXIES"] == "10.40.0.0/16,10.41.0.0/16" &&
      output.environment["STRATUS_SHUTDOWN_TIMEOUT"] == "25" &&
      output.environment["PGSSLROOTCERT"] == output.rds_ca_bundle_path
    )
    error_message = "the fixed settings, the listen port, the joined proxy list and the numbers as strings"
  }
  assert {
    condition = (
      output.environment["DATABASE_SECRET_ARN"] == var.database_password_secret_arn &&
      output.environment["STRATUS_S3_SSE"] == "aws:kms" &&
      output.environment["STRATUS_S3_SSE_KMS_KEY_ID"] == var.files_kms_key_arn &&
      output.environment["STRATUS_BOARD_URL"] == "dynamodb://stratus-test-submissions"
    )
    error_message = "the app connects as its own role and writes files under the stack's key"
  }
  assert {
    condition     = length([for name in ["DATABASE_URL", "DATABASE_PASSWORD", "STRATUS_ADMIN_PASSWORD_HASH", "STRATUS_API_TOKEN_SHA256"] : name if contains(keys(output.environment), name) || contains(keys(output.migrate_environment), name)]) == 0
    error_message = "no secret is plain environment"
  }
  assert {
    condition = output.migrate_environment == {
      STRATUS_LOG_FORMAT              = "json"
      RUST_LOG                        = "info"
      AWS_REGION                      = "eu-west-1"
      PGSSLROOTCERT                   = "/etc/ssl/certs/rds-global-bundle.pem"
      DATABASE_CONNECT_TIMEOUT        = "5"
      STRATUS_APP_DATABASE_SECRET_ARN = var.database_password_secret_arn
    }
    error_message = "migrate gets the log settings, the region, the CA bundle, the connect timeout and the app role's secret, nothing else"
  }
}

run "metrics" {
  command = plan

  assert {
    condition     = output.metrics == { namespace = "Stratus", service = "stratus-test" }
    error_message = "the app's EMF metrics land in the Stratus namespace with the deployment's name as Service"
  }
  assert {
    condition = (
      output.environment["STRATUS_METRICS_EMF"] == "1" &&
      output.environment["STRATUS_METRICS_NAMESPACE"] == output.metrics.namespace &&
      output.environment["STRATUS_SERVICE_NAME"] == output.metrics.service
    )
    error_message = "the app is told to write EMF under the namespace and Service the dashboard reads"
  }
}

run "unset_settings_are_left_out" {
  command = plan

  variables {
    board_url         = null
    files_kms_key_arn = null
  }

  assert {
    condition     = !contains(keys(output.environment), "STRATUS_BOARD_URL") && !contains(keys(output.environment), "STRATUS_S3_SSE_KMS_KEY_ID")
    error_message = "a null setting is not rendered (the board stays in PostgreSQL, no key id without a key)"
  }
  assert {
    condition     = output.environment["STRATUS_S3_SSE"] == "AES256"
    error_message = "without a KMS key the files are written with SSE-S3"
  }
}
