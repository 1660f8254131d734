//! AWS Secrets Manager provider.
//!
//! `current_version` is a DescribeSecret (metadata only: no value leaves the service, and it
//! is billed and throttled separately from GetSecretValue), `fetch` is a GetSecretValue.
//! Credentials, region and profile come from `aws-config`'s default chain, optionally topped
//! with an STS AssumeRole.
//!
//! SDK errors are turned into [`ProviderError`]s by service error code first (the codes are
//! the stable contract; HTTP statuses overlap between classes) and by transport failure kind
//! second. Messages carry the operation, the secret id, the code and the service's message;
//! the SDK's output types already redact values in `Debug`, and we never format a response
//! body.

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::config::{Region, SharedCredentialsProvider};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use super::{ErrorClass, Fetched, ProviderError, SecretBytes, SecretRef, SecretSource};
use crate::config::AwsProviderConfig;

const KIND: &str = "aws-secrets-manager";
const DEFAULT_STAGE: &str = "AWSCURRENT";
const DEFAULT_SESSION_NAME: &str = "elastics-sec";

/// Upper bound for one SDK call, connection and response included. Long enough for a slow
/// region under load, short enough that a black-holed endpoint turns into `Unavailable`
/// while the agent still has time to retry within a refresh interval.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// A refused or unreachable endpoint should fail fast rather than eat the operation budget.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A Secrets Manager client for one configured provider.
pub struct AwsProvider {
    client: aws_sdk_secretsmanager::Client,
}

impl AwsProvider {
    /// Resolves region, profile and credentials the way every AWS tool does, then applies the
    /// overrides from the config.
    pub async fn new(cfg: &AwsProviderConfig) -> Result<Self, ProviderError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(OPERATION_TIMEOUT)
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            // One attempt per SDK call: the agent already retries with exponential backoff,
            // full jitter, Retry-After and stale-while-error. Letting the SDK retry as well
            // would multiply the attempts (3 x ours), hide throttling from our backoff and
            // stretch a single "call" past the per-call timeout the agent reasons about.
            .retry_config(RetryConfig::standard().with_max_attempts(1));
        if let Some(region) = &cfg.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &cfg.profile {
            loader = loader.profile_name(profile);
        }
        let base = loader.load().await;
        if base.region().is_none() {
            return Err(ProviderError::new(
                KIND,
                ErrorClass::Invalid,
                "no AWS region: set `region` in the provider config, AWS_REGION, or a profile region",
            ));
        }

        let mut builder = aws_sdk_secretsmanager::config::Builder::from(&base);
        if let Some(role) = &cfg.role_arn {
            // The role's STS client is built from the base config, which has no endpoint
            // override: `endpoint_url` names a Secrets Manager endpoint (VPC endpoint, test
            // server), not an STS one.
            let mut assume = AssumeRoleProvider::builder(role.clone())
                .session_name(
                    cfg.role_session_name
                        .clone()
                        .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned()),
                )
                .configure(&base);
            if let Some(external_id) = &cfg.external_id {
                assume = assume.external_id(external_id.clone());
            }
            builder =
                builder.credentials_provider(SharedCredentialsProvider::new(assume.build().await));
        }
        if let Some(url) = &cfg.endpoint_url {
            builder = builder.endpoint_url(url.clone());
        }
        Ok(Self {
            client: aws_sdk_secretsmanager::Client::from_conf(builder.build()),
        })
    }
}

#[async_trait::async_trait]
impl SecretSource for AwsProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn current_version(&self, secret: &SecretRef) -> Result<String, ProviderError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(&secret.id)
            .send()
            .await
            .map_err(|e| classify("DescribeSecret", &secret.id, e))?;
        // DescribeSecret still answers for a secret scheduled for deletion, while
        // GetSecretValue refuses it: report it as gone here so the two calls agree.
        if out.deleted_date().is_some() {
            return Err(ProviderError::new(
                KIND,
                ErrorClass::NotFound,
                format!(
                    "DescribeSecret {}: the secret is scheduled for deletion",
                    secret.id
                ),
            ));
        }
        let versions = out.version_ids_to_stages().cloned().unwrap_or_default();
        if let Some(pinned) = &secret.version {
            let Some(stages) = versions.get(pinned) else {
                return Err(ProviderError::new(
                    KIND,
                    ErrorClass::NotFound,
                    format!("DescribeSecret {}: no version {pinned}", secret.id),
                ));
            };
            // With both a version and a stage, GetSecretValue insists they match; check the
            // same thing here so a refresh does not report a version `fetch` would refuse.
            if let Some(stage) = &secret.stage {
                if !stages.iter().any(|s| s == stage) {
                    return Err(ProviderError::new(
                        KIND,
                        ErrorClass::NotFound,
                        format!(
                            "DescribeSecret {}: version {pinned} does not have stage {stage}",
                            secret.id
                        ),
                    ));
                }
            }
            return Ok(pinned.clone());
        }
        let stage = secret.stage.as_deref().unwrap_or(DEFAULT_STAGE);
        versions
            .into_iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(version, _)| version)
            .ok_or_else(|| {
                ProviderError::new(
                    KIND,
                    ErrorClass::NotFound,
                    format!("DescribeSecret {}: no version has stage {stage}", secret.id),
                )
            })
    }

    async fn fetch(&self, secret: &SecretRef) -> Result<Fetched, ProviderError> {
        let mut req = self.client.get_secret_value().secret_id(&secret.id);
        if let Some(version) = &secret.version {
            req = req.version_id(version);
        }
        if let Some(stage) = &secret.stage {
            req = req.version_stage(stage);
        }
        let mut out = req
            .send()
            .await
            .map_err(|e| classify("GetSecretValue", &secret.id, e))?;
        // Move the value out of the response (no copy) straight into a zeroizing buffer.
        let (value, binary) = if let Some(s) = out.secret_string.take() {
            (SecretBytes::from_string(s), false)
        } else if let Some(b) = out.secret_binary.take() {
            (SecretBytes::new(b.into_inner()), true)
        } else {
            return Err(ProviderError::new(
                KIND,
                ErrorClass::Invalid,
                format!(
                    "GetSecretValue {}: the response has neither SecretString nor SecretBinary",
                    secret.id
                ),
            ));
        };
        let version = out.version_id.take().ok_or_else(|| {
            ProviderError::new(
                KIND,
                ErrorClass::Invalid,
                format!(
                    "GetSecretValue {}: the response has no VersionId",
                    secret.id
                ),
            )
        })?;
        Ok(Fetched {
            value,
            version,
            content_type: None,
            binary,
        })
    }
}

/// Turns an SDK error into a classified, value-free [`ProviderError`].
fn classify<E>(op: &str, id: &str, err: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let retry_after = err
        .raw_response()
        .and_then(|r| r.headers().get("retry-after"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);

    if let Some(code) = err.code() {
        let class = class_of_code(code, err.message(), status);
        let mut message = format!("{op} {id}: {code}");
        if let Some(m) = err.message() {
            message.push_str(": ");
            message.push_str(m);
        }
        if let Some(s) = status {
            message.push_str(&format!(" (HTTP {s})"));
        }
        let e = ProviderError::new(KIND, class, message);
        return if class == ErrorClass::Throttled {
            e.with_retry_after(retry_after)
        } else {
            e
        };
    }

    // No service error code: a transport failure, a timeout, a credentials problem, or a
    // response the SDK could not parse. The SDK's own error chain names the cause (connection
    // refused, timed out, which credential provider failed) and never holds a value; response
    // bodies are not part of it.
    let detail = chain(&err);
    if has_credentials_error(&err) {
        return ProviderError::new(
            KIND,
            ErrorClass::Auth,
            format!("{op} {id}: no usable AWS credentials: {detail}"),
        );
    }
    let class = match &err {
        SdkError::ConstructionFailure(_) => ErrorClass::Invalid,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => ErrorClass::Unavailable,
        SdkError::ResponseError(_) | SdkError::ServiceError(_) => match status {
            Some(429) => ErrorClass::Throttled,
            Some(s) if s >= 500 => ErrorClass::Unavailable,
            Some(401) | Some(403) => ErrorClass::AccessDenied,
            Some(404) => ErrorClass::NotFound,
            // An unreadable 2xx/4xx answer: a proxy or a broken endpoint in between, which
            // may well go away (a captive portal, a restarting load balancer).
            _ => ErrorClass::Unavailable,
        },
        _ => ErrorClass::Unavailable,
    };
    let mut message = format!("{op} {id}: ");
    match (&err, status) {
        (SdkError::ResponseError(_) | SdkError::ServiceError(_), Some(s)) => {
            message.push_str(&format!("unexpected HTTP {s} response"));
        }
        _ => message.push_str(&detail),
    }
    let e = ProviderError::new(KIND, class, message);
    if class == ErrorClass::Throttled {
        e.with_retry_after(retry_after)
    } else {
        e
    }
}

/// Secrets Manager (and AWS-wide) error codes to classes.
fn class_of_code(code: &str, message: Option<&str>, status: Option<u16>) -> ErrorClass {
    match code {
        "ResourceNotFoundException" => ErrorClass::NotFound,
        "AccessDeniedException" | "AccessDenied" => ErrorClass::AccessDenied,
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "ExpiredToken"
        | "InvalidClientTokenId"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "SignatureDoesNotMatch"
        | "RequestExpired" => ErrorClass::Auth,
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ProvisionedThroughputExceededException" => ErrorClass::Throttled,
        "InternalServiceError" | "InternalFailure" | "ServiceUnavailable" => {
            ErrorClass::Unavailable
        }
        // Secrets Manager answers InvalidRequestException for a secret that is scheduled for
        // deletion; from the reader's side that secret is gone.
        "InvalidRequestException"
            if message.is_some_and(|m| {
                let m = m.to_ascii_lowercase();
                m.contains("deleted") || m.contains("deletion")
            }) =>
        {
            ErrorClass::NotFound
        }
        "InvalidRequestException"
        | "InvalidParameterException"
        | "DecryptionFailure"
        | "ValidationException" => ErrorClass::Invalid,
        _ => match status {
            Some(429) => ErrorClass::Throttled,
            Some(s) if s >= 500 => ErrorClass::Unavailable,
            _ => ErrorClass::Invalid,
        },
    }
}

/// `outer: inner: innermost`, from each error's `Display` (the SDK's `DisplayErrorContext`
/// appends a `Debug` dump as well, which is noise in a log line).
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        // Some layers repeat their source's text; keep each piece once.
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// Whether a credentials provider failure is somewhere in the error chain (the SDK reports
/// identity resolution failures as dispatch failures, which would otherwise look like an
/// outage and be retried forever).
fn has_credentials_error(err: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<CredentialsError>().is_some() {
            return true;
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_classes() {
        let c = |code, msg| class_of_code(code, msg, Some(400));
        assert_eq!(c("ResourceNotFoundException", None), ErrorClass::NotFound);
        assert_eq!(c("AccessDeniedException", None), ErrorClass::AccessDenied);
        assert_eq!(c("UnrecognizedClientException", None), ErrorClass::Auth);
        assert_eq!(c("ExpiredTokenException", None), ErrorClass::Auth);
        assert_eq!(c("ThrottlingException", None), ErrorClass::Throttled);
        assert_eq!(c("InternalServiceError", None), ErrorClass::Unavailable);
        assert_eq!(
            c(
                "InvalidRequestException",
                Some("You can't perform this operation on the secret because it was marked for deletion.")
            ),
            ErrorClass::NotFound
        );
        assert_eq!(
            c("InvalidRequestException", Some("bad")),
            ErrorClass::Invalid
        );
        assert_eq!(c("DecryptionFailure", None), ErrorClass::Invalid);
        assert_eq!(
            class_of_code("Whatever", None, Some(503)),
            ErrorClass::Unavailable
        );
        assert_eq!(
            class_of_code("Whatever", None, Some(429)),
            ErrorClass::Throttled
        );
    }

    type GetError = aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;

    fn dispatch(
        source: aws_sdk_secretsmanager::error::BoxError,
    ) -> SdkError<GetError, HttpResponse> {
        SdkError::dispatch_failure(aws_sdk_secretsmanager::error::ConnectorError::other(
            source, None,
        ))
    }

    #[test]
    fn credentials_failures_are_auth_not_outages() {
        // The SDK reports a failed identity resolution as a dispatch failure wrapping the
        // provider's CredentialsError.
        let e = classify(
            "GetSecretValue",
            "app/x",
            dispatch(Box::new(CredentialsError::not_loaded(
                "no providers in chain",
            ))),
        );
        assert_eq!(e.class, ErrorClass::Auth, "{e}");
        assert!(e.message.contains("GetSecretValue app/x"), "{e}");
        assert!(e.message.contains("no providers in chain"), "{e}");
    }

    #[test]
    fn transport_failures_are_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = classify(
            "DescribeSecret",
            "app/x",
            SdkError::<GetError, HttpResponse>::dispatch_failure(
                aws_sdk_secretsmanager::error::ConnectorError::io(Box::new(io)),
            ),
        );
        assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
        assert!(e.message.contains("reset by peer"), "{e}");
        let e = classify(
            "DescribeSecret",
            "app/x",
            SdkError::<GetError, HttpResponse>::timeout_error(
                "operation timeout (all attempts including retries) occurred after 30s",
            ),
        );
        assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
    }
}
