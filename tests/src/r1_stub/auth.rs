//! Authentication: passport-jwt's bearer check, R1's login and its token refresh.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use base64::Engine as _;
use chrono::Utc;
use serde_json::{Value, json};

use super::http::Answer;
use super::state::{RefreshToken, Shared, State, hex_sha256};
use super::zod::{Field, check_object, validation_failure};

/// Lifetime of R1's access tokens (`TOKEN_EXPIRY = '10m'`).
const ACCESS_TOKEN_LIFETIME_SECONDS: i64 = 600;
/// Lifetime of R1's refresh tokens (`REFRESH_DURATION_HOURS = 48`).
const REFRESH_TOKEN_LIFETIME_SECONDS: i64 = 48 * 3600;
/// The user id of the worker account.
const WORKER_USER_ID: i64 = 1;

/// passport-jwt with `ExtractJwt.fromAuthHeaderAsBearerToken()`: `Ok` for a live token of this
/// stub, else passport's 401.
pub(super) fn authenticate(req: &HttpRequest, shared: &Shared) -> Result<(), Answer> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut parts = header.split_whitespace();
    let (Some(scheme), Some(token)) = (parts.next(), parts.next()) else {
        return Err(Answer::unauthorized());
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Answer::unauthorized());
    }
    let now = Utc::now().timestamp();
    match shared.state().access_tokens.get(token) {
        Some(&expiry) if expiry > now => Ok(()),
        _ => Err(Answer::unauthorized()),
    }
}

/// A JWT-shaped access token like R1's (`{id, email, roles, iss, iat, exp}`, RS256 header); its
/// signature is random, since the stub checks tokens against the ones it issued.
fn issue_access_token(state: &mut State, email: &str) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let iat = Utc::now().timestamp();
    let exp = iat + ACCESS_TOKEN_LIFETIME_SECONDS;
    let header = engine.encode(br#"{"alg":"RS256","typ":"JWT","kid":"r1-stub"}"#);
    let claims = json!({
        "id": WORKER_USER_ID,
        "email": email,
        "roles": ["ADMIN"],
        "iss": "http://r1-stub.invalid",
        "iat": iat,
        "exp": exp,
    });
    let payload = engine.encode(claims.to_string());
    let signature = engine.encode(rand::random::<[u8; 32]>());
    let token = format!("{header}.{payload}.{signature}");
    state.access_tokens.insert(token.clone(), exp);
    token
}

/// `POST /api/auth/login`.
pub(super) fn login(shared: &Shared, body: &Value) -> Answer {
    let issues = check_object(
        body,
        &[("email", Field::Email), ("password", Field::String)],
    );
    if !issues.is_empty() {
        return validation_failure("Body", issues);
    }
    let email = body["email"].as_str().unwrap_or_default();
    let password = body["password"].as_str().unwrap_or_default();
    let options = &shared.options;
    if email != options.worker_email || password != options.worker_password {
        return Answer::error(StatusCode::UNAUTHORIZED, "Invalid credentials");
    }
    let mut state = shared.state();
    let token = issue_access_token(&mut state, email);
    state.next_refresh += 1;
    let id = state.next_refresh;
    let secret = hex_sha256(&rand::random::<[u8; 32]>());
    state.refresh_tokens.insert(
        id,
        RefreshToken {
            token: secret.clone(),
            expiry_time: Utc::now().timestamp() + REFRESH_TOKEN_LIFETIME_SECONDS,
        },
    );
    let contents = json!({"id": id, "token": secret}).to_string();
    let refresh_token = base64::engine::general_purpose::STANDARD.encode(contents);
    Answer::json(
        StatusCode::OK,
        &json!({"token": token, "refreshToken": refresh_token}),
    )
}

/// `POST /api/auth/token`: a new access token (R1 does not rotate refresh tokens).
pub(super) fn refresh(shared: &Shared, body: &Value) -> Answer {
    let issues = check_object(body, &[("refreshToken", Field::String)]);
    if !issues.is_empty() {
        return validation_failure("Body", issues);
    }
    let encoded = body["refreshToken"].as_str().unwrap_or_default();
    // Node's Buffer.from(…, 'base64') ignores padding and whitespace.
    let cleaned: String = encoded
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(cleaned.as_bytes())
        .unwrap_or_default();
    let Ok(contents) = serde_json::from_slice::<Value>(&decoded) else {
        return Answer::error(StatusCode::UNAUTHORIZED, "Invalid JSON in refresh token");
    };
    if !check_object(
        &contents,
        &[("id", Field::Number), ("token", Field::String)],
    )
    .is_empty()
    {
        return Answer::error(StatusCode::UNAUTHORIZED, "Invalid refresh token format");
    }
    let mut state = shared.state();
    let known = contents["id"]
        .as_i64()
        .and_then(|id| state.refresh_tokens.get(&id))
        .filter(|row| Some(row.token.as_str()) == contents["token"].as_str())
        .map(|row| row.expiry_time);
    let Some(expiry_time) = known else {
        return Answer::error(StatusCode::UNAUTHORIZED, "Refresh token is invalid");
    };
    if expiry_time <= Utc::now().timestamp() {
        return Answer::error(StatusCode::UNAUTHORIZED, "Refresh token has expired");
    }
    let email = shared.options.worker_email.clone();
    let token = issue_access_token(&mut state, &email);
    Answer::json(StatusCode::OK, &json!({"token": token}))
}
