//! The direct transport: `{url}/api/v1/…` over HTTP(S) with basic auth (the API's `basic_auth`
//! backend).

use std::error::Error as _;
use std::time::Duration;

use async_trait::async_trait;
use reefguide_ports::workflow_engine::EngineError;
use reqwest::{Client, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::SetupError;
use crate::protocol::{ApiRequest, ApiResponse, Method, Transport};

/// Airflow's webserver, called directly.
#[derive(Debug)]
pub(crate) struct RestTransport {
    client: Client,
    /// `{url}/api/v1`, without a trailing `/`.
    api: String,
    username: String,
    password: SecretString,
}

impl RestTransport {
    /// A transport to the webserver at `url` (`http://host:port`, maybe with a path prefix).
    ///
    /// # Errors
    /// [`SetupError::InvalidUrl`] when `url` is not an absolute `http` or `https` URL;
    /// [`SetupError::HttpClient`] when the HTTP client cannot be built.
    pub(crate) fn new(
        url: &str,
        username: String,
        password: SecretString,
        request_timeout: Duration,
    ) -> Result<Self, SetupError> {
        let parsed =
            Url::parse(url).map_err(|error| SetupError::InvalidUrl(format!("{url:?}: {error}")))?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.cannot_be_a_base()
            || parsed.query().is_some()
        {
            return Err(SetupError::InvalidUrl(format!(
                "{url:?}: an http:// or https:// URL without a query is expected"
            )));
        }
        let client = Client::builder()
            .timeout(request_timeout)
            .connect_timeout(request_timeout)
            .build()
            .map_err(|error| SetupError::HttpClient(error.to_string()))?;
        Ok(Self {
            client,
            api: format!("{}/api/v1", parsed.as_str().trim_end_matches('/')),
            username,
            password,
        })
    }
}

/// A reqwest failure with its causes (reqwest's own message omits them).
fn describe(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[async_trait]
impl Transport for RestTransport {
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, EngineError> {
        let url = format!("{}{}", self.api, request.path);
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Patch => reqwest::Method::PATCH,
        };
        let mut builder = self
            .client
            .request(method, &url)
            .basic_auth(&self.username, Some(self.password.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json");
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let unavailable = |error: reqwest::Error| {
            EngineError::Unavailable(format!("{request}: {}", describe(&error)))
        };
        let response = builder.send().await.map_err(unavailable)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(unavailable)?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(ApiResponse { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(url: &str) -> Result<RestTransport, SetupError> {
        RestTransport::new(
            url,
            "admin".to_owned(),
            SecretString::from("secret"),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn the_api_is_below_the_url() {
        let api = |url| transport(url).map(|transport| transport.api);
        assert_eq!(
            api("http://127.0.0.1:8080").ok().as_deref(),
            Some("http://127.0.0.1:8080/api/v1")
        );
        assert_eq!(
            api("https://example.org/airflow/").ok().as_deref(),
            Some("https://example.org/airflow/api/v1")
        );
    }

    #[test]
    fn urls_that_are_not_http_are_refused() {
        for url in ["", "127.0.0.1:8080", "ftp://example.org", "http://a/?x=1"] {
            assert!(
                matches!(transport(url), Err(SetupError::InvalidUrl(_))),
                "{url:?}"
            );
        }
    }

    #[test]
    fn the_password_never_prints() {
        let transport = transport("http://127.0.0.1:8080").expect("a transport");
        assert!(!format!("{transport:?}").contains("secret"));
    }
}
