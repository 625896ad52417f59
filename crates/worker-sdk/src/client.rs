//! HTTP access to the API: authentication (login, refresh ahead of expiry, re-login) and one
//! `call` used by everything else, which retries once with fresh credentials on a 401.

use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::wire::{ErrorBody, LoginRequest, LoginResponse, RefreshRequest, RefreshResponse};

/// Timeout of ordinary API calls (claims get their wait on top).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long before expiry an access token is refreshed (unless 80 % of its lifetime is later).
const REFRESH_AHEAD: Duration = Duration::from_secs(60);
/// Lifetime assumed for a token whose expiry cannot be read.
const UNKNOWN_LIFETIME: Duration = Duration::from_secs(300);
/// Pause before the token manager tries again after a failed refresh.
const RENEW_RETRY: Duration = Duration::from_secs(5);

/// A failed call to the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    /// The server answered with an error status.
    #[error("HTTP {status}: {message}")]
    Status {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The request did not get an answer (connection refused, timeout, reset).
    #[error("network error: {0}")]
    Transport(String),
    /// A successful answer whose body was not what the contract promises.
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// The server refused the credentials.
    #[error("login refused: {0}")]
    LoginRefused(String),
}

impl ApiError {
    /// Worth retrying later: no answer, a server-side failure, or rate limiting.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::Decode(_) | Self::LoginRefused(_) => false,
        }
    }

    /// The HTTP status, when the server answered.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error code of the server's error body, when it gave one.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The server's message (or the whole description when it did not answer).
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Status { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub(crate) fn transport(error: &reqwest::Error) -> Self {
        Self::Transport(error_chain(error))
    }
}

/// An error with its sources, `outer: inner: innermost`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A raw answer: status and body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body parsed as `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::Decode(format!("HTTP {} with an unexpected body: {e}", self.status))
        })
    }

    /// This answer as an error (for any status the caller did not expect).
    pub(crate) fn error(&self) -> ApiError {
        let parsed: ErrorBody = serde_json::from_slice(&self.body).unwrap_or_default();
        let message = parsed.message.unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&self.body);
            let text = text.trim();
            if text.is_empty() {
                self.status
                    .canonical_reason()
                    .unwrap_or("no message")
                    .to_owned()
            } else {
                text.chars().take(200).collect()
            }
        });
        ApiError::Status {
            status: self.status.as_u16(),
            code: parsed.code,
            message,
        }
    }
}

/// Expiry (and issue time, when present) of a JWT, read without verifying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenTimes {
    pub exp: i64,
    pub iat: Option<i64>,
}

/// Reads `exp` and `iat` from a JWT's payload (base64url JSON); `None` if it is no JWT.
pub(crate) fn decode_token_times(token: &str) -> Option<TokenTimes> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let number = |name: &str| {
        let value = claims.get(name)?;
        value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
    };
    Some(TokenTimes {
        exp: number("exp")?,
        iat: number("iat"),
    })
}

/// How long a token obtained at `now_unix` stays valid. Uses `exp - iat` when both are known
/// (immune to clock skew between worker and server), else `exp - now`.
pub(crate) fn token_lifetime(times: Option<TokenTimes>, now_unix: i64) -> Duration {
    let Some(times) = times else {
        return UNKNOWN_LIFETIME;
    };
    let seconds = match times.iat {
        Some(iat) if times.exp > iat => times.exp - iat,
        _ => times.exp - now_unix,
    };
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

/// When to refresh a token of this lifetime, counted from when it was obtained: 60 s before it
/// expires, or at 80 % of its lifetime when that is later (short-lived tokens), at least 1 s.
pub(crate) fn refresh_delay(lifetime: Duration) -> Duration {
    let ahead = lifetime.saturating_sub(REFRESH_AHEAD);
    let eighty = lifetime.mul_f64(0.8);
    ahead.max(eighty).max(Duration::from_secs(1))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Refresh token and when the access token should next be renewed.
#[derive(Debug)]
struct Renewal {
    refresh_token: String,
    refresh_at: Instant,
}

/// The API client shared by every part of a worker.
#[derive(Debug)]
pub(crate) struct ApiClient {
    http: reqwest::Client,
    /// `http(s)://host[:port]/api`, no trailing slash.
    base: String,
    email: String,
    password: String,
    access_token: RwLock<String>,
    renewal: tokio::sync::Mutex<Renewal>,
}

impl ApiClient {
    pub(crate) fn new(
        http: reqwest::Client,
        base: String,
        email: String,
        password: String,
    ) -> Self {
        Self {
            http,
            base,
            email,
            password,
            access_token: RwLock::new(String::new()),
            renewal: tokio::sync::Mutex::new(Renewal {
                refresh_token: String::new(),
                refresh_at: Instant::now(),
            }),
        }
    }

    /// The underlying HTTP client (for presigned URLs and the ECS metadata endpoint).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn current_token(&self) -> String {
        self.access_token
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn store(&self, renewal: &mut Renewal, access: String, refresh: Option<String>) {
        let lifetime = token_lifetime(decode_token_times(&access), now_unix());
        renewal.refresh_at = Instant::now() + refresh_delay(lifetime);
        if let Some(refresh) = refresh {
            renewal.refresh_token = refresh;
        }
        *self
            .access_token
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = access;
    }

    /// Logs in with the credentials. `LoginRefused` when the server says no.
    pub(crate) async fn login(&self) -> Result<(), ApiError> {
        let mut renewal = self.renewal.lock().await;
        self.login_locked(&mut renewal).await
    }

    async fn login_locked(&self, renewal: &mut Renewal) -> Result<(), ApiError> {
        let body = LoginRequest {
            email: &self.email,
            password: &self.password,
        };
        let reply = self.send_unauthenticated("/auth/login", &body).await?;
        match reply.status {
            StatusCode::OK => {
                let tokens: LoginResponse = reply.json()?;
                self.store(renewal, tokens.token, Some(tokens.refresh_token));
                tracing::debug!("logged in");
                Ok(())
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(ApiError::LoginRefused(reply.error().message()))
            }
            _ => Err(reply.error()),
        }
    }

    /// A new access token: from the refresh token, or by logging in again when it is refused.
    async fn renew_locked(&self, renewal: &mut Renewal) -> Result<(), ApiError> {
        if !renewal.refresh_token.is_empty() {
            let body = RefreshRequest {
                refresh_token: &renewal.refresh_token,
            };
            let reply = self.send_unauthenticated("/auth/token", &body).await?;
            match reply.status {
                StatusCode::OK => {
                    let tokens: RefreshResponse = reply.json()?;
                    self.store(renewal, tokens.token, tokens.refresh_token);
                    tracing::debug!("access token refreshed");
                    return Ok(());
                }
                StatusCode::UNAUTHORIZED => {
                    tracing::info!("refresh token refused; logging in again");
                }
                _ => return Err(reply.error()),
            }
        }
        self.login_locked(renewal).await
    }

    /// Renews the credentials after `stale` was refused, unless another task already did.
    async fn reauthenticate(&self, stale: &str) -> Result<(), ApiError> {
        let mut renewal = self.renewal.lock().await;
        if self.current_token() != stale {
            return Ok(());
        }
        self.renew_locked(&mut renewal).await
    }

    /// Background task: refreshes the access token ahead of its expiry until `stop`.
    pub(crate) async fn keep_fresh(&self, stop: CancellationToken) {
        loop {
            let due = self.renewal.lock().await.refresh_at;
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(due) => {}
            }
            let mut renewal = self.renewal.lock().await;
            if renewal.refresh_at > Instant::now() {
                continue; // renewed meanwhile after a 401
            }
            if let Err(error) = self.renew_locked(&mut renewal).await {
                tracing::warn!(%error, "could not refresh the access token; retrying");
                renewal.refresh_at = Instant::now() + RENEW_RETRY;
            }
        }
    }

    async fn send_unauthenticated<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Reply, ApiError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| ApiError::transport(&e))?;
        read_reply(response).await
    }

    /// An authenticated call to `path` (below `/api`); a 401 renews the credentials and retries
    /// once. Every answer is returned as a [`Reply`]; only a missing answer is an error.
    pub(crate) async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<Reply, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut retried = false;
        loop {
            let token = self.current_token();
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&token)
                .timeout(timeout);
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(|e| ApiError::transport(&e))?;
            let reply = read_reply(response).await?;
            if reply.status == StatusCode::UNAUTHORIZED && !retried {
                retried = true;
                self.reauthenticate(&token).await?;
                continue;
            }
            return Ok(reply);
        }
    }

    /// `POST path` with a JSON body and the default timeout.
    pub(crate) async fn post<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Reply, ApiError> {
        self.call(Method::POST, path, &[], Some(body), CALL_TIMEOUT)
            .await
    }
}

async fn read_reply(response: reqwest::Response) -> Result<Reply, ApiError> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| ApiError::transport(&e))?;
    Ok(Reply {
        status,
        body: body.to_vec(),
    })
}

/// Normalises a user-given API URL to `scheme://host[:port][/prefix]/api` without a trailing
/// slash. `None` unless it is an http(s) URL.
pub(crate) fn normalise_base_url(url: &str) -> Option<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return None;
    }
    if trimmed.ends_with("/api") {
        Some(trimmed.to_owned())
    } else {
        Some(format!("{trimmed}/api"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &serde_json::Value) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.signature",
            engine.encode(br#"{"alg":"RS256","typ":"JWT","kid":"k"}"#),
            engine.encode(claims.to_string())
        )
    }

    #[test]
    fn decodes_exp_and_iat() {
        let token = jwt(&serde_json::json!({"id": 1, "exp": 1_700_000_600, "iat": 1_700_000_000}));
        assert_eq!(
            decode_token_times(&token),
            Some(TokenTimes {
                exp: 1_700_000_600,
                iat: Some(1_700_000_000)
            })
        );
        let no_iat = jwt(&serde_json::json!({"exp": 5}));
        assert_eq!(
            decode_token_times(&no_iat),
            Some(TokenTimes { exp: 5, iat: None })
        );
    }

    #[test]
    fn rejects_non_jwts() {
        assert_eq!(decode_token_times("opaque"), None);
        assert_eq!(decode_token_times("a.!!!.c"), None);
        assert_eq!(
            decode_token_times(&jwt(&serde_json::json!({"id": 1}))),
            None
        );
        let not_json = format!(
            "a.{}.c",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("nope")
        );
        assert_eq!(decode_token_times(&not_json), None);
    }

    #[test]
    fn lifetime_prefers_iat_and_falls_back_to_now() {
        let times = Some(TokenTimes {
            exp: 1600,
            iat: Some(1000),
        });
        // The worker's clock is far off: exp - iat still gives the real lifetime.
        assert_eq!(token_lifetime(times, 99_999), Duration::from_secs(600));
        let times = Some(TokenTimes {
            exp: 1600,
            iat: None,
        });
        assert_eq!(token_lifetime(times, 1300), Duration::from_secs(300));
        assert_eq!(token_lifetime(times, 2000), Duration::ZERO);
        assert_eq!(token_lifetime(None, 0), UNKNOWN_LIFETIME);
    }

    #[test]
    fn refresh_timing() {
        // Ten minutes: 60 s ahead of expiry.
        assert_eq!(
            refresh_delay(Duration::from_secs(600)),
            Duration::from_secs(540)
        );
        // Two minutes: 80 % (96 s) is later than 60 s ahead.
        assert_eq!(
            refresh_delay(Duration::from_secs(120)),
            Duration::from_secs(96)
        );
        // Degenerate lifetimes still wait a moment.
        assert_eq!(refresh_delay(Duration::ZERO), Duration::from_secs(1));
    }

    #[test]
    fn base_url_normalisation() {
        for input in [
            "http://127.0.0.1:5000",
            "http://127.0.0.1:5000/",
            "http://127.0.0.1:5000/api",
            "http://127.0.0.1:5000/api/",
        ] {
            assert_eq!(
                normalise_base_url(input).as_deref(),
                Some("http://127.0.0.1:5000/api")
            );
        }
        assert_eq!(
            normalise_base_url("https://x.org/reef").as_deref(),
            Some("https://x.org/reef/api")
        );
        assert_eq!(normalise_base_url("ftp://x"), None);
        assert_eq!(normalise_base_url("127.0.0.1:5000"), None);
        assert_eq!(normalise_base_url("http://"), None);
    }

    #[test]
    fn error_replies() {
        let reply = Reply {
            status: StatusCode::CONFLICT,
            body: br#"{"status":409,"message":"lease lost","code":"lease_lost"}"#.to_vec(),
        };
        let error = reply.error();
        assert_eq!(error.status(), Some(409));
        assert_eq!(error.code(), Some("lease_lost"));
        assert_eq!(error.message(), "lease lost");
        assert!(!error.is_transient());
        let html = Reply {
            status: StatusCode::BAD_GATEWAY,
            body: b"<html>bad gateway</html>".to_vec(),
        };
        assert!(html.error().is_transient());
        assert_eq!(html.error().code(), None);
        assert!(ApiError::Transport("reset".into()).is_transient());
    }
}
