//! LabCAS tokens as the LabCAS backend mints them (HS256 with a shared secret, `iss = aud =
//! "LabCAS"`, an LDAP DN in `sub`), and the issuer setting that trusts them.

use reefguide_http_actix::config::ExternalJwtSettings;
use serde_json::{Value, json};

/// The shared secret of the tests' LabCAS issuer.
pub const LABCAS_SECRET: &str = "the-labcas-backend-shared-secret";

/// The `[[external_jwt]]` entry trusting the tests' LabCAS tokens.
#[must_use]
pub fn labcas_issuer() -> ExternalJwtSettings {
    ExternalJwtSettings {
        issuer: "LabCAS".into(),
        audience: "LabCAS".into(),
        hs256_secret: Some(LABCAS_SECRET.into()),
        rs256_public_key: None,
        jwks_url: None,
        username_claim: None,
    }
}

/// LabCAS's claims for `uid`, valid for an hour.
#[must_use]
pub fn labcas_claims(uid: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": "LabCAS",
        "aud": "LabCAS",
        "sub": format!("uid={uid},dc=edrn,dc=jpl,dc=nasa,dc=gov"),
        "iat": now,
        "exp": now + 3600,
    })
}

/// A token as the LabCAS backend mints it for `uid`.
#[must_use]
pub fn labcas_token(uid: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &labcas_claims(uid),
        &jsonwebtoken::EncodingKey::from_secret(LABCAS_SECRET.as_bytes()),
    )
    .expect("signed")
}
