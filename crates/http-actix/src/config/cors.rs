//! The `cors_allowed_origins` setting: which browser origins may call the API across origins.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::{Host, Url};

/// The browser origins allowed to call the API across origins (CORS).
///
/// In `reefguide.toml`: `"*"` or an array of origins; in the environment: `*` or a
/// comma-separated list. Each origin is `http(s)://host[:port]` with no path, compared as
/// browsers send it (scheme and host lower-cased, the scheme's default port left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`*`), as ReefGuide answers.
    #[default]
    Any,
    /// Only these origins (none when empty).
    List(Vec<Origin>),
}

impl CorsOrigins {
    /// Reads the setting's text form: `*`, or origins separated by commas (blanks ignored).
    ///
    /// # Errors
    /// The first entry that is not an origin, or `*` inside a list.
    pub fn parse(raw: &str) -> Result<Self, InvalidOrigin> {
        if raw.trim() == "*" {
            return Ok(Self::Any);
        }
        Self::from_entries(raw.split(',').filter(|entry| !entry.trim().is_empty()))
    }

    fn from_entries<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidOrigin> {
        entries
            .into_iter()
            .map(Origin::parse)
            .collect::<Result<_, _>>()
            .map(Self::List)
    }
}

impl Serialize for CorsOrigins {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Any => serializer.serialize_str("*"),
            Self::List(origins) => serializer.collect_seq(origins.iter().map(Origin::as_str)),
        }
    }
}

impl<'de> Deserialize<'de> for CorsOrigins {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CorsOriginsVisitor)
    }
}

struct CorsOriginsVisitor;

impl<'de> serde::de::Visitor<'de> for CorsOriginsVisitor {
    type Value = CorsOrigins;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("\"*\", a comma-separated list of origins or an array of origins")
    }

    fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<CorsOrigins, E> {
        CorsOrigins::parse(raw).map_err(E::custom)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<CorsOrigins, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = seq.next_element::<String>()? {
            entries.push(entry);
        }
        CorsOrigins::from_entries(entries.iter().map(String::as_str))
            .map_err(serde::de::Error::custom)
    }
}

/// One browser origin, serialised as browsers send it in `Origin` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

/// An entry of `cors_allowed_origins` that is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is not an origin (http(s)://host[:port]): {reason}")]
pub struct InvalidOrigin {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Origin {
    /// Parses an origin (with the `url` crate, as a browser would) and serialises it as browsers
    /// send it: scheme and host lower-cased, internationalised names in punycode, the scheme's
    /// default port left out.
    ///
    /// # Errors
    /// When `raw` is not `http(s)://host[:port]`: no URL, another scheme, a path (a trailing `/`
    /// included), query, fragment or user, a wildcard or odd characters in the host, port 0.
    pub fn parse(raw: &str) -> Result<Self, InvalidOrigin> {
        let invalid = |reason: &str| InvalidOrigin {
            entry: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = raw.trim();
        if trimmed == "*" {
            return Err(invalid("\"*\" stands alone, not in a list"));
        }
        let url = Url::parse(trimmed).map_err(|error| invalid(&format!("not a URL ({error})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        // The parsed URL has the path `/` whether or not one was written, so look at the text.
        let authority = trimmed.split_once("://").map_or("", |(_, rest)| rest);
        if authority.contains(['/', '?', '#']) {
            return Err(invalid("an origin has no path, query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("an origin has no user name"));
        }
        if let Some(Host::Domain(domain)) = url.host()
            && !domain.split('.').all(is_dns_label)
        {
            return Err(invalid(
                "the host must be a DNS name or an IP address ([…] for IPv6)",
            ));
        }
        if url.port() == Some(0) {
            return Err(invalid("the port must be from 1 to 65535"));
        }
        Ok(Self(url.origin().ascii_serialization()))
    }

    /// The origin as browsers send it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A DNS label: letters, digits and inner hyphens (punycode included).
fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(raw: &str) -> Vec<String> {
        match CorsOrigins::parse(raw).expect("valid") {
            CorsOrigins::List(origins) => origins.iter().map(|o| o.as_str().to_owned()).collect(),
            CorsOrigins::Any => vec!["*".to_owned()],
        }
    }

    #[test]
    fn origins_are_normalised_as_browsers_send_them() {
        assert_eq!(origins(" * "), ["*"]);
        assert_eq!(
            origins("http://127.0.0.1:4200, HTTPS://App.Example.org:443,http://[::1]:80,"),
            [
                "http://127.0.0.1:4200",
                "https://app.example.org",
                "http://[::1]"
            ]
        );
        assert_eq!(
            origins("https://bücher.example"),
            ["https://xn--bcher-kva.example"]
        );
        assert_eq!(origins(""), Vec::<String>::new());
    }

    #[test]
    fn what_is_not_an_origin_is_refused_with_the_reason() {
        for bad in [
            "app.example.org",
            "ftp://app.example.org",
            "https://app.example.org/",
            "https://app.example.org/path",
            "https://app.example.org?x=1",
            "https://app.example.org#top",
            "https://user@app.example.org",
            "https://app.example.org:0",
            "https://app.example.org:99999",
            "https://app example.org",
            "https://",
            "http://[::1",
            "http://*.example.org",
            "*,http://localhost:4200",
        ] {
            let error = CorsOrigins::parse(bad).expect_err(bad);
            assert!(!error.reason.is_empty(), "{bad}");
        }
    }
}
