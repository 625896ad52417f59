//! Helpers shared by the wire (JSON) representations.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize as _;

/// ISO-8601 UTC with milliseconds, as ReefGuide serialises timestamps.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_and_z() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678912Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(timestamp(at), "2026-01-02T03:04:05.678Z");
    }
}

/// The wire form of a role.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RoleName {
    /// Administrator.
    Admin,
    /// Analyst.
    Analyst,
    /// Worker.
    Worker,
}

impl From<reefguide_domain::Role> for RoleName {
    fn from(role: reefguide_domain::Role) -> Self {
        match role {
            reefguide_domain::Role::Admin => RoleName::Admin,
            reefguide_domain::Role::Analyst => RoleName::Analyst,
            reefguide_domain::Role::Worker => RoleName::Worker,
        }
    }
}

/// A user as the API shows it: `{"id","email","username","roles"}`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UserDto {
    /// Id.
    #[schema(example = 1)]
    pub id: i32,
    /// Email (lower-cased); null for an account of an external token issuer (labcas-contract
    /// §4).
    #[schema(example = "ana@example.com")]
    pub email: Option<String>,
    /// The external username, else the email.
    #[schema(example = "ana@example.com")]
    pub username: String,
    /// Roles.
    pub roles: Vec<RoleName>,
}

impl From<&reefguide_domain::User> for UserDto {
    fn from(user: &reefguide_domain::User) -> Self {
        Self {
            id: user.id.get(),
            email: user.email().map(|email| email.as_str().to_owned()),
            username: user.username().to_owned(),
            roles: user
                .roles
                .as_slice()
                .iter()
                .copied()
                .map(RoleName::from)
                .collect(),
        }
    }
}

/// `{"message": "..."}`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MessageResponse {
    /// A human sentence.
    pub message: String,
}

impl MessageResponse {
    /// Wraps a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Collects validation failures of several fields into one 400 with details.
#[derive(Debug, Default)]
pub struct Validation {
    details: Vec<crate::errors::ErrorDetail>,
}

impl Validation {
    /// Records `result`'s error under `path`, returning the value when valid.
    pub fn field<T, E: std::fmt::Display>(
        &mut self,
        path: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        result
            .map_err(|error| {
                self.details.push(crate::errors::ErrorDetail {
                    path: path.to_owned(),
                    message: error.to_string(),
                })
            })
            .ok()
    }

    /// The validated values, or a 400 naming every failed field.
    pub fn finish<T: AllValid>(self, values: T) -> Result<T::Output, crate::errors::ApiError> {
        match values.all_valid() {
            Some(output) if self.details.is_empty() => Ok(output),
            _ => Err(crate::errors::ApiError::validation(self.details)),
        }
    }
}

/// A tuple of `Option`s that is complete only when every field validated.
pub trait AllValid {
    /// The tuple of values.
    type Output;
    /// The values when all are present.
    fn all_valid(self) -> Option<Self::Output>;
}

impl<A> AllValid for (Option<A>,) {
    type Output = A;
    fn all_valid(self) -> Option<A> {
        self.0
    }
}

impl<A, B> AllValid for (Option<A>, Option<B>) {
    type Output = (A, B);
    fn all_valid(self) -> Option<(A, B)> {
        Some((self.0?, self.1?))
    }
}

impl<A, B, C> AllValid for (Option<A>, Option<B>, Option<C>) {
    type Output = (A, B, C);
    fn all_valid(self) -> Option<(A, B, C)> {
        Some((self.0?, self.1?, self.2?))
    }
}

impl<A, B, C, D> AllValid for (Option<A>, Option<B>, Option<C>, Option<D>) {
    type Output = (A, B, C, D);
    fn all_valid(self) -> Option<(A, B, C, D)> {
        Some((self.0?, self.1?, self.2?, self.3?))
    }
}

/// The client address used for rate limits: with `trust_forwarded_for`, the last address of
/// `X-Forwarded-For`, the one the trusted proxy in front of the server appended (the entries
/// before it are whatever the client sent, so trusting the first would let a client choose the
/// address its limits count against); else, or when that entry is no address, the peer's.
pub fn client_ip(req: &actix_web::HttpRequest, trust_forwarded_for: bool) -> std::net::IpAddr {
    trust_forwarded_for
        .then(|| last_forwarded_for(req.headers()))
        .flatten()
        .or_else(|| req.peer_addr().map(|addr| addr.ip()))
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
}

/// The last entry of every `X-Forwarded-For` header line taken as one list, as an address
/// (a port, as some proxies add, is dropped).
fn last_forwarded_for(headers: &actix_web::http::header::HeaderMap) -> Option<std::net::IpAddr> {
    let last = headers
        .get_all("x-forwarded-for")
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .rfind(|entry| !entry.is_empty())?;
    last.parse::<std::net::IpAddr>()
        .ok()
        .or_else(|| last.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// Deserialises an integer, also from an integer-valued number such as `7.0`: JSON Schema's
/// `integer`, which the OpenAPI document promises, admits both.
///
/// # Errors
/// When the value is not a number, has a fraction, or is outside `i64`.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    number
        .as_i64()
        .or_else(|| number.as_f64().and_then(integral))
        .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, got {number}")))
}

/// An integer from a query-string value: `7`, and also an integer-valued number such as `7.0`
/// or `7e2` (JSON Schema's `integer` admits them, and ReefGuide's `Number(...)` coercion
/// accepts them). Surrounding white space is ignored; anything else, or a value outside `i64`,
/// is `None`.
pub fn query_integer(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    raw.parse::<i64>()
        .ok()
        .or_else(|| raw.parse::<f64>().ok().and_then(integral))
}

/// `value` as an `i64` when it is integral and well inside `i64` (so the cast is exact).
fn integral(value: f64) -> Option<i64> {
    (value.fract() == 0.0 && (-9.2e18..9.2e18).contains(&value)).then_some(value as i64)
}

/// A query-string integer within `range` (of `i64`, `u64`, …), `None` when it is not one.
pub fn query_integer_in<T>(raw: &str, range: std::ops::RangeInclusive<T>) -> Option<T>
where
    T: TryFrom<i64> + PartialOrd,
{
    query_integer(raw)
        .and_then(|n| T::try_from(n).ok())
        .filter(|n| range.contains(n))
}

#[cfg(test)]
mod whole_number_tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "super::whole_number")]
        n: i64,
    }

    #[test]
    fn integral_numbers_are_integers() {
        for (raw, n) in [("7", 7), ("7.0", 7), ("-2147483648.0", -2_147_483_648)] {
            let holder: Holder =
                serde_json::from_str(&format!(r#"{{"n": {raw}}}"#)).expect("an integer");
            assert_eq!(holder.n, n);
        }
        for raw in ["7.5", "1e300", "\"7\"", "18446744073709551615"] {
            assert!(serde_json::from_str::<Holder>(&format!(r#"{{"n": {raw}}}"#)).is_err());
        }
    }
}

#[cfg(test)]
mod query_integer_tests {
    use super::{query_integer, query_integer_in};

    #[test]
    fn integral_query_values_are_integers() {
        for (raw, n) in [
            ("7", 7),
            (" 7 ", 7),
            ("753068378.0", 753_068_378),
            ("7e2", 700),
            ("-3", -3),
        ] {
            assert_eq!(query_integer(raw), Some(n), "{raw}");
        }
        for raw in ["", "7.5", "abc", "NaN", "inf", "1e300", "0x10", "7 7"] {
            assert_eq!(query_integer(raw), None, "{raw}");
        }
    }

    #[test]
    fn ranges_bound_query_integers() {
        assert_eq!(query_integer_in("5", 1..=10), Some(5));
        assert_eq!(query_integer_in("-1", 0..=10_u64), None);
        assert_eq!(query_integer_in("0", 1..=10), None);
        assert_eq!(query_integer_in("11.0", 1..=10), None);
    }
}

#[cfg(test)]
mod client_ip_tests {
    use std::net::{IpAddr, SocketAddr};

    use actix_web::test::TestRequest;

    use super::client_ip;

    fn request(forwarded: &[&str]) -> actix_web::HttpRequest {
        let peer: SocketAddr = "10.0.0.9:41000".parse().expect("an address");
        forwarded
            .iter()
            .fold(TestRequest::default().peer_addr(peer), |request, line| {
                request.append_header(("X-Forwarded-For", *line))
            })
            .to_http_request()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn the_proxy_appended_entry_counts_not_the_clients() {
        // The client sent "1.2.3.4"; the proxy appended the address it saw.
        let spoofed = request(&["1.2.3.4, 203.0.113.7"]);
        assert_eq!(client_ip(&spoofed, true), ip("203.0.113.7"));
        assert_eq!(
            client_ip(&request(&["1.2.3.4", "203.0.113.8"]), true),
            ip("203.0.113.8")
        );
        assert_eq!(
            client_ip(&request(&["[2001:db8::1]:443"]), true),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(&request(&["198.51.100.2:5000"]), true),
            ip("198.51.100.2")
        );
    }

    #[test]
    fn the_peer_counts_when_the_header_is_untrusted_absent_or_bad() {
        assert_eq!(client_ip(&request(&["203.0.113.7"]), false), ip("10.0.0.9"));
        assert_eq!(client_ip(&request(&[]), true), ip("10.0.0.9"));
        assert_eq!(
            client_ip(&request(&["203.0.113.7, unknown"]), true),
            ip("10.0.0.9")
        );
        assert_eq!(client_ip(&request(&[" , "]), true), ip("10.0.0.9"));
    }
}
