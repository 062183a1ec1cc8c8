//! The PostgreSQL password, from wherever the configuration says it is.
//!
//! The value only ever lives in a [`SecretString`] (whose `Debug` is redacted) until it is handed to the
//! connection options. Errors name the source (file path, parameter name, secret ARN), never the value.

use anyhow::{Context as _, anyhow};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use secrecy::SecretString;
use serde::Deserialize;

use super::{aws, ready::InitError};
use crate::config::{AwsSettings, PasswordSource};

/// Who to log in as, when the source says (RDS secrets do), and with what password.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    /// Replaces the URL's user name.
    pub(crate) username: Option<String>,
    /// The password.
    pub(crate) password: Option<SecretString>,
}

/// Reads the password. Unreachable AWS APIs are worth retrying; a missing file, parameter or secret is not.
pub(crate) async fn resolve(
    source: &PasswordSource,
    aws_settings: &AwsSettings,
) -> Result<Credentials, InitError> {
    match source {
        PasswordSource::None => Ok(Credentials::default()),
        PasswordSource::Inline(password) => Ok(Credentials {
            username: None,
            password: Some(password.clone()),
        }),
        PasswordSource::File(path) => {
            let text = tokio::fs::read_to_string(path)
                .await
                .with_context(|| {
                    format!("DATABASE_PASSWORD_FILE: could not read {}", path.display())
                })
                .map_err(InitError::Fatal)?;
            let password = non_empty(text.trim()).ok_or_else(|| {
                InitError::Fatal(anyhow!(
                    "DATABASE_PASSWORD_FILE: {} is empty",
                    path.display()
                ))
            })?;
            Ok(Credentials {
                username: None,
                password: Some(password),
            })
        }
        PasswordSource::SsmParameter(name) => {
            let config = aws::sdk_config(aws_settings).await;
            let output = aws_sdk_ssm::Client::new(&config)
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|err| {
                    let definite = matches!(
                        err.as_service_error(),
                        Some(
                            GetParameterError::ParameterNotFound(_)
                                | GetParameterError::ParameterVersionNotFound(_)
                                | GetParameterError::InvalidKeyId(_)
                        )
                    );
                    let err = aws::describe(err).context(format!(
                        "DATABASE_PASSWORD_SSM_PARAMETER: could not read the parameter {name}"
                    ));
                    if definite {
                        InitError::Fatal(err)
                    } else {
                        InitError::Retry(err)
                    }
                })?;
            let password = output
                .parameter()
                .and_then(|p| p.value())
                .and_then(non_empty)
                .ok_or_else(|| {
                    InitError::Fatal(anyhow!(
                        "DATABASE_PASSWORD_SSM_PARAMETER: the parameter {name} has no value"
                    ))
                })?;
            tracing::info!(parameter = %name, "database password read from SSM");
            Ok(Credentials {
                username: None,
                password: Some(password),
            })
        }
        PasswordSource::SecretsManager(arn) => {
            read_secret(arn, "DATABASE_SECRET_ARN", aws_settings).await
        }
    }
}

/// Reads a Secrets Manager secret with the JSON `{"username": .., "password": ..}`; `setting` names where
/// the ARN came from, for the errors.
pub(crate) async fn read_secret(
    arn: &str,
    setting: &str,
    aws_settings: &AwsSettings,
) -> Result<Credentials, InitError> {
    let config = aws::sdk_config(aws_settings).await;
    let output = aws_sdk_secretsmanager::Client::new(&config)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| {
            let definite = matches!(
                err.as_service_error(),
                Some(
                    GetSecretValueError::ResourceNotFoundException(_)
                        | GetSecretValueError::DecryptionFailure(_)
                )
            );
            let err =
                aws::describe(err).context(format!("{setting}: could not read the secret {arn}"));
            if definite {
                InitError::Fatal(err)
            } else {
                InitError::Retry(err)
            }
        })?;
    let credentials = output
        .secret_string()
        .and_then(parse_rds_secret)
        .ok_or_else(|| {
            InitError::Fatal(anyhow!(
                "{setting}: the secret {arn} is not JSON with a string `password` (and optionally `username`)"
            ))
        })?;
    tracing::info!(secret = %arn, setting, "database credentials read from Secrets Manager");
    Ok(credentials)
}

/// The JSON RDS writes for a managed master password: `{"username": "...", "password": "..."}`.
/// Parse errors are dropped, not shown: serde quotes the offending value, and that may be the password.
fn parse_rds_secret(text: &str) -> Option<Credentials> {
    #[derive(Deserialize)]
    struct RdsSecret {
        username: Option<String>,
        password: String,
    }
    let secret: RdsSecret = serde_json::from_str(text).ok()?;
    Some(Credentials {
        username: secret.username.filter(|u| !u.is_empty()),
        password: Some(non_empty(&secret.password)?),
    })
}

fn non_empty(text: &str) -> Option<SecretString> {
    (!text.is_empty()).then(|| SecretString::from(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn rds_secrets_give_user_and_password() {
        let credentials = parse_rds_secret(
            r#"{"username":"stratus","password":"p@ss\"word","engine":"postgres"}"#,
        );
        assert_eq!(
            credentials.as_ref().and_then(|c| c.username.as_deref()),
            Some("stratus")
        );
        assert_eq!(
            credentials
                .as_ref()
                .and_then(|c| c.password.as_ref())
                .map(|p| p.expose_secret().to_owned()),
            Some("p@ss\"word".to_owned())
        );
    }

    #[test]
    fn secrets_without_a_string_password_are_refused() {
        assert!(parse_rds_secret(r#"{"username":"stratus"}"#).is_none());
        assert!(parse_rds_secret(r#"{"password":12345678}"#).is_none());
        assert!(parse_rds_secret(r#"{"password":""}"#).is_none());
        assert!(parse_rds_secret("hunter2").is_none());
    }

    #[test]
    fn credentials_debug_output_hides_the_password() {
        let credentials = parse_rds_secret(r#"{"password":"hunter2hunter2"}"#);
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }
}
