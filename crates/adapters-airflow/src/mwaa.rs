//! The AWS MWAA transport: each call is one `InvokeRestApi` of the environment (SigV4-signed by
//! the SDK with the credentials of the AWS chain), which MWAA forwards to the environment's
//! webserver.
//!
//! MWAA answers a 2xx of the webserver as the operation's output (`RestApiStatusCode`,
//! `RestApiResponse`) and a 4xx or 5xx as a `RestApiClientException` or `RestApiServerException`
//! carrying the same two fields: all three become the same [`ApiResponse`], so that the protocol
//! maps the webserver's status as for a direct call. MWAA's own refusals (IAM denial, unknown
//! environment, invalid input such as a path longer than MWAA's 64 characters) are errors of the
//! transport.
//!
//! The operation sends its calls to the host `env.<endpoint host>`. With an explicit endpoint
//! ([`MwaaSettings::endpoint_url`]) that prefix is not added: the SDK has no setting to turn the
//! injection off, so an interceptor removes the prefix the operation stores before the endpoint
//! is resolved.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_mwaa::Client;
use aws_sdk_mwaa::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_mwaa::config::timeout::TimeoutConfig;
use aws_sdk_mwaa::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_mwaa::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_mwaa::operation::invoke_rest_api::InvokeRestApiError;
use aws_sdk_mwaa::types::RestApiMethod;
use aws_smithy_runtime_api::client::endpoint::EndpointPrefix;
use aws_smithy_types::{Document, Number};
use reefguide_ports::workflow_engine::EngineError;
use serde_json::Value;

use crate::SetupError;
use crate::protocol::{ApiRequest, ApiResponse, Method, Transport};

/// Longest MWAA environment name.
const ENVIRONMENT_MAX_LEN: usize = 80;

/// How to reach an MWAA environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MwaaSettings {
    /// The environment's name (`[a-zA-Z][0-9a-zA-Z-_]*`, at most 80 characters).
    pub environment: String,
    /// The environment's region, overriding the one of the AWS chain.
    pub region: Option<String>,
    /// An endpoint instead of AWS's own (`https://airflow.<region>.amazonaws.com`), used as it
    /// is: without the `env.` host prefix the operation otherwise adds (tests, proxies).
    pub endpoint_url: Option<String>,
    /// How long one attempt of a call may take, connecting included.
    pub request_timeout: Duration,
}

impl MwaaSettings {
    /// Settings for `environment` in the region of the AWS chain, on AWS's endpoint, with a
    /// 10-second timeout.
    #[must_use]
    pub fn new(environment: impl Into<String>) -> Self {
        Self {
            environment: environment.into(),
            region: None,
            endpoint_url: None,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Whether `name` follows MWAA's rule for environment names.
fn is_environment_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        && name.len() <= ENVIRONMENT_MAX_LEN
}

/// The SDK behaviour this transport was written and tested against (pinned, so that an SDK
/// upgrade does not silently change retries or timeouts).
fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// Removes the endpoint prefix (`env.`) an operation asked for, before the endpoint is resolved.
#[derive(Debug)]
struct NoHostPrefix;

impl Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }

    fn modify_before_retry_loop(
        &self,
        _context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<EndpointPrefix>();
        Ok(())
    }
}

/// An MWAA environment's webserver, called through `InvokeRestApi`.
#[derive(Debug)]
pub(crate) struct MwaaTransport {
    client: Client,
    environment: String,
}

impl MwaaTransport {
    /// A transport with region and credentials from the AWS chain (environment, profile, IMDS or
    /// the ECS task role), overridden by `settings`. Credentials are resolved on first use.
    ///
    /// # Errors
    /// [`SetupError::InvalidEnvironment`] for a name MWAA does not allow;
    /// [`SetupError::NoRegion`] when neither the settings nor the AWS chain name a region.
    pub(crate) async fn connect(settings: &MwaaSettings) -> Result<Self, SetupError> {
        check_environment(&settings.environment)?;
        let region = RegionProviderChain::first_try(settings.region.clone().map(Region::new))
            .or_default_provider()
            .region()
            .await
            .ok_or(SetupError::NoRegion)?;
        let shared = aws_config::defaults(behavior_version())
            .region(region)
            .load()
            .await;
        Self::from_sdk_config(&shared, settings)
    }

    /// A transport with the region and credentials of `shared`, overridden by `settings`.
    ///
    /// # Errors
    /// [`SetupError::InvalidEnvironment`] for a name MWAA does not allow;
    /// [`SetupError::NoRegion`] when neither `settings` nor `shared` name a region.
    pub(crate) fn from_sdk_config(
        shared: &SdkConfig,
        settings: &MwaaSettings,
    ) -> Result<Self, SetupError> {
        check_environment(&settings.environment)?;
        let mut builder = aws_sdk_mwaa::config::Builder::from(shared)
            .behavior_version(behavior_version())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(settings.request_timeout)
                    .operation_attempt_timeout(settings.request_timeout)
                    .build(),
            );
        match &settings.region {
            Some(region) => builder = builder.region(Region::new(region.clone())),
            None if shared.region().is_none() => return Err(SetupError::NoRegion),
            None => {}
        }
        if let Some(url) = &settings.endpoint_url {
            builder = builder.endpoint_url(url).interceptor(NoHostPrefix);
        }
        Ok(Self {
            client: Client::from_conf(builder.build()),
            environment: settings.environment.clone(),
        })
    }
}

/// Refuses an environment name MWAA does not allow.
fn check_environment(name: &str) -> Result<(), SetupError> {
    if is_environment_name(name) {
        Ok(())
    } else {
        Err(SetupError::InvalidEnvironment(name.to_owned()))
    }
}

/// JSON as a Smithy document.
fn to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(flag) => Document::Bool(*flag),
        Value::Number(number) => Document::Number(if let Some(n) = number.as_u64() {
            Number::PosInt(n)
        } else if let Some(n) = number.as_i64() {
            Number::NegInt(n)
        } else {
            Number::Float(number.as_f64().unwrap_or(f64::NAN))
        }),
        Value::String(text) => Document::String(text.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), to_document(value)))
                .collect(),
        ),
    }
}

/// A Smithy document as JSON (a float JSON cannot hold becomes `null`).
fn to_json(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(flag) => Value::Bool(*flag),
        Document::Number(Number::PosInt(n)) => Value::from(*n),
        Document::Number(Number::NegInt(n)) => Value::from(*n),
        Document::Number(Number::Float(n)) => {
            serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
        }
        Document::String(text) => Value::String(text.clone()),
        Document::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Document::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), to_json(value)))
                .collect(),
        ),
    }
}

/// The webserver's answer carried by an exception, with `default_status` when MWAA gave none.
fn carried(status: Option<i32>, body: Option<&Document>, default_status: u16) -> ApiResponse {
    ApiResponse {
        status: status
            .and_then(|status| u16::try_from(status).ok())
            .unwrap_or(default_status),
        body: body.map_or(Value::Null, to_json),
    }
}

/// An `InvokeRestApi` failure: the webserver's answer when MWAA forwarded one, else the transport
/// error.
fn failure(
    request: &ApiRequest,
    error: SdkError<InvokeRestApiError, aws_sdk_mwaa::config::http::HttpResponse>,
) -> Result<ApiResponse, EngineError> {
    let message = |what: &str| format!("{request} through MWAA: {what}");
    let SdkError::ServiceError(service) = &error else {
        // Not sent, timed out, or no readable answer.
        return Err(EngineError::Unavailable(message(
            &DisplayErrorContext(&error).to_string(),
        )));
    };
    let status = service.raw().status().as_u16();
    let described = message(&DisplayErrorContext(service.err()).to_string());
    match service.err() {
        InvokeRestApiError::RestApiClientException(exception) => Ok(carried(
            exception.rest_api_status_code(),
            exception.rest_api_response(),
            400,
        )),
        InvokeRestApiError::RestApiServerException(exception) => Ok(carried(
            exception.rest_api_status_code(),
            exception.rest_api_response(),
            500,
        )),
        InvokeRestApiError::AccessDeniedException(_) => {
            Err(EngineError::CredentialsRefused(described))
        }
        // An unknown environment or an invalid call: MWAA's answer, not Airflow's, so never
        // `NotFound` (which would say the run is gone).
        InvokeRestApiError::ResourceNotFoundException(_)
        | InvokeRestApiError::ValidationException(_) => Err(EngineError::Refused(described)),
        InvokeRestApiError::InternalServerException(_) => Err(EngineError::Unavailable(described)),
        other => Err(match (status, other.code()) {
            // Bad, expired or unsigned credentials.
            (401 | 403, _)
            | (
                _,
                Some(
                    "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException"
                    | "MissingAuthenticationTokenException",
                ),
            ) => EngineError::CredentialsRefused(described),
            (429 | 500..=599, _) | (_, Some("ThrottlingException")) => {
                EngineError::Unavailable(described)
            }
            (400..=499, _) => EngineError::Refused(described),
            _ => EngineError::Unavailable(described),
        }),
    }
}

#[async_trait]
impl Transport for MwaaTransport {
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, EngineError> {
        let method = match request.method {
            Method::Get => RestApiMethod::Get,
            Method::Post => RestApiMethod::Post,
            Method::Patch => RestApiMethod::Patch,
        };
        let query = (!request.query.is_empty()).then(|| {
            Document::Object(
                request
                    .query
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), Document::String(value.clone())))
                    .collect::<HashMap<_, _>>(),
            )
        });
        let sent = self
            .client
            .invoke_rest_api()
            .name(&self.environment)
            .path(&request.path)
            .method(method)
            .set_query_parameters(query)
            .set_body(request.body.as_ref().map(to_document))
            .send()
            .await;
        match sent {
            Ok(output) => Ok(ApiResponse {
                status: output
                    .rest_api_status_code()
                    .and_then(|status| u16::try_from(status).ok())
                    .unwrap_or(200),
                body: output.rest_api_response().map_or(Value::Null, to_json),
            }),
            Err(error) => failure(request, error),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn environment_names_follow_mwaa_rule() {
        for name in ["a", "MyEnv", "labcas-airflow_2", &"a".repeat(80)] {
            assert!(is_environment_name(name), "{name:?}");
        }
        for name in ["", "1env", "-env", "env.x", "env/x", &"a".repeat(81)] {
            assert!(!is_environment_name(name), "{name:?}");
        }
    }

    #[test]
    fn json_survives_a_round_trip_through_documents() {
        let value = json!({
            "dag_run_id": "reefguide-1-1",
            "conf": {"n": 3, "neg": -4, "x": 1.5, "flag": true, "none": null, "list": ["a", 2]},
        });
        assert_eq!(to_json(&to_document(&value)), value);
    }

    #[tokio::test]
    async fn a_region_is_required() {
        let shared = SdkConfig::builder()
            .behavior_version(behavior_version())
            .build();
        let settings = MwaaSettings::new("env");
        assert!(matches!(
            MwaaTransport::from_sdk_config(&shared, &settings),
            Err(SetupError::NoRegion)
        ));
        let settings = MwaaSettings {
            region: Some("us-west-2".to_owned()),
            ..settings
        };
        let transport = MwaaTransport::from_sdk_config(&shared, &settings).expect("a transport");
        assert_eq!(
            transport.client.config().region(),
            Some(&Region::new("us-west-2"))
        );
    }

    #[test]
    fn invalid_environment_names_are_refused() {
        let shared = SdkConfig::builder().build();
        assert!(matches!(
            MwaaTransport::from_sdk_config(&shared, &MwaaSettings::new("no/slash")),
            Err(SetupError::InvalidEnvironment(_))
        ));
    }
}
