//! The workflow-engine adapter of reefguide (labcas-contract §2): [`Airflow`] implements
//! [`WorkflowEngine`](reefguide_ports::workflow_engine::WorkflowEngine) over Airflow 2's stable
//! REST API, reached either directly (`{url}/api/v1`, HTTP basic auth: [`Airflow::rest`]) or
//! through AWS MWAA's `InvokeRestApi` operation ([`Airflow::mwaa`]).
//!
//! The protocol (paths, JSON shapes, paging, how a status becomes an
//! [`EngineError`](reefguide_ports::workflow_engine::EngineError)) is written once, over a small
//! internal transport that carries one call and brings back its status and JSON body; the two
//! transports are the only difference between the two ways in.

mod mwaa;
mod protocol;
mod rest;

use std::time::Duration;

use aws_config::SdkConfig;
use secrecy::SecretString;
use thiserror::Error;

pub use self::mwaa::MwaaSettings;
use self::mwaa::MwaaTransport;
use self::protocol::Transport;
use self::rest::RestTransport;

/// An Airflow 2 deployment, reached directly or through MWAA.
#[derive(Debug)]
pub struct Airflow {
    transport: Box<dyn Transport>,
}

/// Why an [`Airflow`] could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SetupError {
    /// The webserver URL is not an absolute `http://` or `https://` URL.
    #[error("invalid Airflow URL {0}")]
    InvalidUrl(String),
    /// The HTTP client could not be built (e.g. no TLS backend).
    #[error("cannot build the HTTP client for Airflow: {0}")]
    HttpClient(String),
    /// The name is not an MWAA environment name (`[a-zA-Z][0-9a-zA-Z-_]*`, at most 80).
    #[error("invalid MWAA environment name {0:?}")]
    InvalidEnvironment(String),
    /// Neither the settings nor the AWS chain name a region.
    #[error("no AWS region for MWAA: set mwaa_region, AWS_REGION or a profile's region")]
    NoRegion,
}

impl Airflow {
    /// Airflow's webserver at `url` (its stable REST API is `{url}/api/v1`), with HTTP basic auth
    /// (the API's `basic_auth` backend); each call may take `request_timeout`, connecting
    /// included. Nothing is sent until the first call.
    ///
    /// # Errors
    /// [`SetupError::InvalidUrl`] when `url` is not an absolute `http://` or `https://` URL
    /// without a query; [`SetupError::HttpClient`] when the HTTP client cannot be built.
    pub fn rest(
        url: &str,
        username: impl Into<String>,
        password: SecretString,
        request_timeout: Duration,
    ) -> Result<Self, SetupError> {
        let transport = RestTransport::new(url, username.into(), password, request_timeout)?;
        Ok(Self {
            transport: Box::new(transport),
        })
    }

    /// The MWAA environment of `settings`, with region and credentials from the standard AWS
    /// chain (environment, profile, IMDS or the ECS task role) and the overrides of `settings`.
    /// Credentials are resolved on first use, not here.
    ///
    /// # Errors
    /// [`SetupError::InvalidEnvironment`] for a name MWAA does not allow; [`SetupError::NoRegion`]
    /// when neither the settings nor the AWS chain name a region.
    pub async fn mwaa(settings: &MwaaSettings) -> Result<Self, SetupError> {
        let transport = MwaaTransport::connect(settings).await?;
        Ok(Self {
            transport: Box::new(transport),
        })
    }

    /// The MWAA environment of `settings`, with the region and credentials of an already loaded
    /// AWS configuration (overridden by `settings`), e.g. static credentials in tests.
    ///
    /// # Errors
    /// As [`Airflow::mwaa`].
    pub fn mwaa_with_config(
        shared: &SdkConfig,
        settings: &MwaaSettings,
    ) -> Result<Self, SetupError> {
        let transport = MwaaTransport::from_sdk_config(shared, settings)?;
        Ok(Self {
            transport: Box::new(transport),
        })
    }
}
