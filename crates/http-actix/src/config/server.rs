//! The server section: where this instance listens, the URLs clients reach it at, where it keeps
//! its files, which browser origins may call it, and how it logs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, CorsOrigins, check_http_url};

/// The listener, the public URLs, the data directory, CORS and logging.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServerSettings {
    /// Address to listen on.
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Public base URL of the API; the JWT issuer (`iss`). Unset: `public_url` when that is set,
    /// else `http://<host>:<port>` of the listener (see [`ServerSettings::urls`]).
    pub api_domain: Option<String>,
    /// Base URL at which clients reach this API, used in the local store's signed URLs. Unset:
    /// `api_domain` when that is set (unless `port` is 0), else `http://<host>:<port>` of the
    /// listener (see [`ServerSettings::urls`]).
    pub public_url: Option<String>,
    /// Directory for the embedded default's SQLite database, development keys and local result
    /// files.
    pub data_dir: PathBuf,
    /// HTTP worker threads (default: number of CPUs).
    pub http_workers: Option<usize>,
    /// Browser origins allowed to call the API (CORS): `*` (any origin, as ReefGuide) or a list
    /// of `scheme://host[:port]` origins.
    pub cors_allowed_origins: CorsOrigins,
    /// Log filter (`tracing` env-filter syntax), e.g. `info` or `warn,reefguide=debug`.
    pub log_level: String,
    /// `text` (one readable line per event, the default) or `json` (one JSON object per line,
    /// for log collectors).
    pub log_format: LogFormat,
    /// Bearer token `GET /metrics` requires; unset: the metrics are open (as `/api/health`).
    pub metrics_token: Option<String>,
    /// Seconds between SIGTERM (or SIGINT) and closing the listener: the server still serves,
    /// but `/api/health` answers 503 `draining`, so a load balancer that checks it stops sending
    /// requests (0: close at once, as when the orchestrator deregisters first, like ECS).
    pub shutdown_delay_seconds: u64,
    /// Seconds requests in flight get to finish once the listener is closed; then they are cut
    /// and the process exits (long polls answer 204 at once, so only real work waits).
    pub shutdown_grace_seconds: u64,
}

/// The most [`ServerSettings::shutdown_delay_seconds`] and
/// [`ServerSettings::shutdown_grace_seconds`] may be.
const MAX_SHUTDOWN_SECONDS: u64 = 600;

/// How the server stops on SIGTERM or SIGINT: it drains (long polls answer at once, readiness
/// fails) and keeps serving for `delay`, then closes its listener and gives requests in flight
/// up to `grace` to finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownPlan {
    /// Serving while draining, before the listener closes.
    pub delay: std::time::Duration,
    /// The bound on requests in flight after the listener closes.
    pub grace: std::time::Duration,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (`message` among them),
    /// `target`, and the `span` of the request (`request_id`) when there is one.
    Json,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 5000,
            api_domain: None,
            public_url: None,
            data_dir: PathBuf::from("reefguide-data"),
            http_workers: None,
            cors_allowed_origins: CorsOrigins::Any,
            log_level: "info".into(),
            log_format: LogFormat::Text,
            metrics_token: None,
            shutdown_delay_seconds: 0,
            // Below the 30 s orchestrators commonly wait before a SIGKILL (ECS, Kubernetes).
            shutdown_grace_seconds: 25,
        }
    }
}

/// The base URLs of a running server (see [`ServerSettings::urls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrls {
    /// The API's public base URL and the JWT issuer (`iss`), exactly as configured or derived.
    pub api_domain: String,
    /// Where clients reach this API (the local store's signed URLs, local workers' API URL),
    /// without a trailing `/`.
    pub public_url: String,
    /// Whether a derived URL names the loopback address in place of a wildcard listen address:
    /// clients on other machines cannot use it, they need `public_url` and `api_domain` set.
    pub loopback_for_wildcard: bool,
}

impl ServerSettings {
    /// Checks the URLs.
    ///
    /// # Errors
    /// `api_domain` or `public_url` that is not an `http://` or `https://` URL.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_http_url("api_domain", self.api_domain.as_deref())?;
        check_http_url("public_url", self.public_url.as_deref())?;
        for (setting, seconds) in [
            ("shutdown_delay_seconds", self.shutdown_delay_seconds),
            ("shutdown_grace_seconds", self.shutdown_grace_seconds),
        ] {
            if seconds > MAX_SHUTDOWN_SECONDS {
                return Err(ConfigError::invalid(
                    setting,
                    format!("must be at most {MAX_SHUTDOWN_SECONDS} seconds"),
                ));
            }
        }
        Ok(())
    }

    /// How the server stops (see [`ShutdownPlan`]).
    #[must_use]
    pub fn shutdown_plan(&self) -> ShutdownPlan {
        ShutdownPlan {
            delay: std::time::Duration::from_secs(self.shutdown_delay_seconds),
            grace: std::time::Duration::from_secs(self.shutdown_grace_seconds),
        }
    }

    /// The base URLs of this server once it listens on `bound_port`: each configured one as
    /// given, the others derived.
    ///
    /// - `public_url`: as set; else `api_domain` when that is set and `port` is not 0 (with port
    ///   0 the free port picked at start is not known in advance); else the listener's URL.
    /// - `api_domain`: as set; else `public_url` when that is set; else the listener's URL.
    ///
    /// The listener's URL is `http://<host>:<bound_port>`, with the loopback address for a
    /// wildcard host (`0.0.0.0`, `::`), which only clients on this machine can use.
    #[must_use]
    pub fn urls(&self, bound_port: u16) -> ServerUrls {
        let wildcard = self.host.is_unspecified();
        let host = match self.host {
            IpAddr::V4(_) if wildcard => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) if wildcard => IpAddr::V6(Ipv6Addr::LOCALHOST),
            host => host,
        };
        let listener = format!("http://{}", SocketAddr::new(host, bound_port));
        let public_url = self
            .public_url
            .clone()
            .or_else(|| self.api_domain.clone().filter(|_| self.port != 0));
        let api_domain = self.api_domain.clone().or_else(|| self.public_url.clone());
        let derived = public_url.is_none() || api_domain.is_none();
        ServerUrls {
            public_url: public_url
                .unwrap_or_else(|| listener.clone())
                .trim_end_matches('/')
                .to_owned(),
            api_domain: api_domain.unwrap_or(listener),
            loopback_for_wildcard: wildcard && derived,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_derive_from_host_and_port_unless_set() {
        let settings = |configure: fn(&mut ServerSettings)| {
            let mut settings = ServerSettings::default();
            configure(&mut settings);
            settings
        };
        let urls = settings(|s| s.port = 8080).urls(8080);
        assert_eq!(urls.api_domain, "http://127.0.0.1:8080");
        assert_eq!(urls.public_url, "http://127.0.0.1:8080");
        assert!(!urls.loopback_for_wildcard);

        // Only api_domain: public_url follows it (as before), except with port 0.
        let domain =
            |s: &mut ServerSettings| s.api_domain = Some("https://reef.example.org/".into());
        let urls = settings(domain).urls(5000);
        assert_eq!(urls.api_domain, "https://reef.example.org/");
        assert_eq!(urls.public_url, "https://reef.example.org");
        let urls = settings(|s| {
            s.api_domain = Some("https://reef.example.org".into());
            s.port = 0;
        })
        .urls(40123);
        assert_eq!(urls.api_domain, "https://reef.example.org");
        assert_eq!(urls.public_url, "http://127.0.0.1:40123");

        // Only public_url: the issuer follows it.
        let urls = settings(|s| s.public_url = Some("http://10.0.0.5:5000".into())).urls(5000);
        assert_eq!(urls.api_domain, "http://10.0.0.5:5000");
        assert_eq!(urls.public_url, "http://10.0.0.5:5000");

        // A wildcard host: the loopback address, flagged.
        let urls = settings(|s| s.host = IpAddr::from([0, 0, 0, 0])).urls(5000);
        assert_eq!(urls.api_domain, "http://127.0.0.1:5000");
        assert!(urls.loopback_for_wildcard);
        let urls = settings(|s| s.host = IpAddr::V6(Ipv6Addr::UNSPECIFIED)).urls(5000);
        assert_eq!(urls.public_url, "http://[::1]:5000");
        assert!(urls.loopback_for_wildcard);
        let urls = settings(|s| {
            s.host = IpAddr::from([0, 0, 0, 0]);
            s.api_domain = Some("https://reef.example.org".into());
            s.public_url = Some("https://files.example.org".into());
        })
        .urls(5000);
        assert!(!urls.loopback_for_wildcard, "nothing derived");
        let urls = settings(|s| s.host = IpAddr::V6(Ipv6Addr::LOCALHOST)).urls(5000);
        assert_eq!(urls.api_domain, "http://[::1]:5000");
    }
}
