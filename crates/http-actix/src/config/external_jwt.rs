//! `[[external_jwt]]`: the external token issuers trusted beside our own tokens (labcas-contract
//! §4), each with one algorithm and key.

use reefguide_domain::IssuerName;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{ConfigError, check_http_url};
use crate::crypto::external::DEFAULT_USERNAME_CLAIM;
use crate::crypto::{IssuerKey, TrustedIssuer};

/// The shortest HS256 secret accepted, in bytes.
pub const MIN_HS256_SECRET_BYTES: usize = 16;

/// One trusted external issuer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalJwtSettings {
    /// The `iss` of its tokens (LabCAS: `LabCAS`).
    pub issuer: String,
    /// The `aud` its tokens must carry (LabCAS: `LabCAS`).
    pub audience: String,
    /// HS256 shared secret.
    #[serde(skip_serializing)]
    pub hs256_secret: Option<SecretString>,
    /// RS256 public key (PEM; literal `\n` accepted).
    pub rs256_public_key: Option<String>,
    /// RS256 keys published at this JWKS URL (fetched, cached 10 min, fetched again for an
    /// unknown `kid`).
    pub jwks_url: Option<String>,
    /// The claim naming the user (default `username`); without it, the `uid=` of `sub`.
    pub username_claim: Option<String>,
}

impl ExternalJwtSettings {
    /// The issuer ready for the verifier.
    ///
    /// # Errors
    /// Any rule of [`check_issuers`] this issuer breaks, by setting.
    pub fn trusted(&self) -> Result<TrustedIssuer, ConfigError> {
        let issuer = IssuerName::parse(&self.issuer)
            .map_err(|e| ConfigError::invalid("external_jwt.issuer", e.to_string()))?;
        if self.audience.trim().is_empty() {
            return Err(invalid(&self.issuer, "audience", "must not be empty"));
        }
        let key = match (&self.hs256_secret, &self.rs256_public_key, &self.jwks_url) {
            (Some(secret), None, None) => {
                use secrecy::ExposeSecret as _;
                if secret.expose_secret().len() < MIN_HS256_SECRET_BYTES {
                    return Err(invalid(
                        &self.issuer,
                        "hs256_secret",
                        &format!("must be at least {MIN_HS256_SECRET_BYTES} bytes"),
                    ));
                }
                IssuerKey::Hs256(secret.clone())
            }
            (None, Some(pem), None) => IssuerKey::Rs256Pem(pem.clone()),
            (None, None, Some(url)) => {
                check_http_url("external_jwt.jwks_url", Some(url))?;
                IssuerKey::Jwks(url.clone())
            }
            _ => {
                return Err(invalid(
                    &self.issuer,
                    "hs256_secret",
                    "exactly one of hs256_secret, rs256_public_key and jwks_url is needed",
                ));
            }
        };
        let username_claim = self
            .username_claim
            .clone()
            .unwrap_or_else(|| DEFAULT_USERNAME_CLAIM.to_owned());
        if username_claim.trim().is_empty() {
            return Err(invalid(&self.issuer, "username_claim", "must not be empty"));
        }
        Ok(TrustedIssuer {
            issuer,
            audience: self.audience.clone(),
            key,
            username_claim,
        })
    }
}

/// The issuers ready for the verifier, checked: each whole, none twice, none using the issuer
/// of our own tokens (`own_issuer`, once known: it may follow the port bound).
///
/// # Errors
/// The first rule broken, naming the issuer and the setting.
pub fn check_issuers(
    issuers: &[ExternalJwtSettings],
    own_issuer: Option<&str>,
) -> Result<Vec<TrustedIssuer>, ConfigError> {
    let mut trusted = Vec::with_capacity(issuers.len());
    for settings in issuers {
        if Some(settings.issuer.as_str()) == own_issuer {
            return Err(invalid(
                &settings.issuer,
                "issuer",
                "is the issuer of this server's own tokens",
            ));
        }
        if trusted
            .iter()
            .any(|seen: &TrustedIssuer| seen.issuer.as_str() == settings.issuer)
        {
            return Err(invalid(&settings.issuer, "issuer", "is configured twice"));
        }
        trusted.push(settings.trusted()?);
    }
    Ok(trusted)
}

fn invalid(issuer: &str, field: &str, reason: &str) -> ConfigError {
    ConfigError::invalid(
        "external_jwt",
        format!("issuer {issuer:?}: {field} {reason}"),
    )
}
