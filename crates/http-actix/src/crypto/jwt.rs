//! RS256 access tokens with jsonwebtoken's aws-lc backend, and the JWKS that publishes the key.

use std::sync::{Arc, Once};

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reefguide_domain::auth::errors::TokenRejection;
use reefguide_domain::{AccessClaims, Email, Roles, User, UserId};
use reefguide_ports::{IssuedToken, TokenIssuer, TokenVerifier};
use serde::{Deserialize, Serialize};

use super::keys::RsaKeyPair;
use super::verified::VerifiedTokens;

/// Tolerated clock skew when checking expiry, in seconds.
const LEEWAY_SECONDS: u64 = 5;

/// The claims of an access token, as ReefGuide clients read them.
#[derive(Debug, Serialize, Deserialize)]
struct WireClaims {
    id: i64,
    email: String,
    roles: Vec<String>,
    iss: String,
    iat: i64,
    exp: i64,
}

/// One JSON Web Key (RFC 7517) for an RS256 signing key.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Jwk {
    /// Key type: `RSA`.
    pub kty: &'static str,
    /// Intended use: `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
    /// Algorithm: `RS256`.
    pub alg: &'static str,
    /// Key id, as in token headers.
    pub kid: String,
    /// Base64url modulus.
    pub n: String,
    /// Base64url public exponent.
    pub e: String,
}

/// A JWK set.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// Signs and verifies access tokens with one RSA key pair.
#[derive(Clone)]
pub struct JwtKeys {
    inner: Arc<Inner>,
}

struct Inner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    issuer: String,
    ttl: Duration,
    validation: Validation,
    jwks: Jwks,
    verified: VerifiedTokens,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.inner.kid)
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

pub(crate) fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error only means a provider is installed already.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    });
}

impl JwtKeys {
    /// Builds the signer/verifier. `kid` defaults to the key's RFC 7638 thumbprint.
    pub fn new(
        pair: &RsaKeyPair,
        kid: Option<String>,
        issuer: String,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        install_crypto_provider();
        let kid = kid.unwrap_or_else(|| pair.thumbprint());
        let encoding = EncodingKey::from_rsa_pem(pair.private_pem().as_bytes())?;
        let (n, e) = (pair.modulus_b64(), pair.exponent_b64());
        let decoding = DecodingKey::from_rsa_components(&n, &e)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        validation.validate_aud = false;
        validation.leeway = LEEWAY_SECONDS;
        let jwks = Jwks {
            keys: vec![Jwk {
                kty: "RSA",
                use_: "sig",
                alg: "RS256",
                kid: kid.clone(),
                n,
                e,
            }],
        };
        Ok(Self {
            inner: Arc::new(Inner {
                encoding,
                decoding,
                kid,
                issuer,
                ttl,
                validation,
                jwks,
                verified: VerifiedTokens::new(Duration::seconds(LEEWAY_SECONDS.cast_signed())),
            }),
        })
    }

    /// The JWKS publishing the verification key.
    pub fn jwks(&self) -> &Jwks {
        &self.inner.jwks
    }

    /// The key id written in token headers.
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }
}

impl TokenIssuer for JwtKeys {
    /// Issues a token for a local account (an external issuer's account has no email and gets
    /// no token of ours: it uses its issuer's tokens).
    fn issue(&self, user: &User, now: DateTime<Utc>) -> anyhow::Result<IssuedToken> {
        let email = user.email().with_context(|| {
            format!("user {} is an external account: no token of ours", user.id)
        })?;
        let expires_at = now + self.inner.ttl;
        let claims = WireClaims {
            id: i64::from(user.id.get()),
            email: email.as_str().to_owned(),
            roles: user
                .roles
                .as_slice()
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            iss: self.inner.issuer.clone(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.inner.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.inner.encoding)?;
        Ok(IssuedToken { token, expires_at })
    }
}

impl TokenVerifier for JwtKeys {
    /// Verifies the token, or recalls it when the very same token was verified before (see
    /// `verified`).
    fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection> {
        if let Some(recalled) = self.inner.verified.recall(token, Utc::now()) {
            return recalled;
        }
        let claims = self.verify_signed(token)?;
        self.inner.verified.remember(token, &claims);
        Ok(claims)
    }
}

impl JwtKeys {
    /// Checks the token's header, signature, issuer and expiry, and reads its claims.
    fn verify_signed(&self, token: &str) -> Result<AccessClaims, TokenRejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Malformed)?;
        if header.alg != Algorithm::RS256 || header.kid.as_deref() != Some(self.inner.kid.as_str())
        {
            return Err(TokenRejection::Malformed);
        }
        let data =
            jsonwebtoken::decode::<WireClaims>(token, &self.inner.decoding, &self.inner.validation)
                .map_err(|e| match e.kind() {
                    ErrorKind::ExpiredSignature => TokenRejection::Expired,
                    ErrorKind::InvalidSignature => TokenRejection::BadSignature,
                    ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
                    _ => TokenRejection::Malformed,
                })?;
        let claims = data.claims;
        let user_id = UserId::new(claims.id).map_err(|_| TokenRejection::Malformed)?;
        let email = Email::parse(&claims.email).map_err(|_| TokenRejection::Malformed)?;
        let roles = Roles::parse(&claims.roles).map_err(|_| TokenRejection::Malformed)?;
        let timestamp = |secs| DateTime::from_timestamp(secs, 0).ok_or(TokenRejection::Malformed);
        Ok(AccessClaims {
            user_id,
            email,
            roles,
            issued_at: timestamp(claims.iat)?,
            expires_at: timestamp(claims.exp)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use reefguide_domain::Role;
    use std::sync::LazyLock;

    static PAIR: LazyLock<RsaKeyPair> =
        LazyLock::new(|| RsaKeyPair::generate().expect("key generation"));

    fn keys() -> JwtKeys {
        JwtKeys::new(
            &PAIR,
            None,
            "https://reefguide.test".into(),
            Duration::minutes(10),
        )
        .expect("keys")
    }

    fn user() -> User {
        User::local(
            UserId::new(7).expect("positive"),
            Email::parse("ana@example.com").expect("email"),
            [Role::Analyst].into_iter().collect(),
        )
    }

    #[test]
    fn issued_token_verifies_with_claims() {
        let keys = keys();
        let token = keys.issue(&user(), Utc::now()).expect("issue").token;
        let claims = keys.verify(&token).expect("verify");
        assert_eq!(claims.user_id, user().id);
        assert_eq!(claims.roles, user().roles);
    }

    #[test]
    fn header_carries_kid_and_rs256() {
        let keys = keys();
        let token = keys.issue(&user(), Utc::now()).expect("issue").token;
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some(keys.kid()));
    }

    #[test]
    fn expired_token_is_refused() {
        let keys = keys();
        let token = keys
            .issue(&user(), Utc::now() - Duration::hours(1))
            .expect("issue")
            .token;
        assert_eq!(keys.verify(&token), Err(TokenRejection::Expired));
    }

    #[test]
    fn token_from_another_issuer_is_refused() {
        let other = JwtKeys::new(
            &PAIR,
            None,
            "https://evil.test".into(),
            Duration::minutes(10),
        )
        .expect("keys");
        let token = other.issue(&user(), Utc::now()).expect("issue").token;
        assert_eq!(keys().verify(&token), Err(TokenRejection::WrongIssuer));
    }

    #[test]
    fn tampered_payload_is_refused() {
        let keys = keys();
        let token = keys.issue(&user(), Utc::now()).expect("issue").token;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let payload =
            String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("utf8");
        parts[1] = URL_SAFE_NO_PAD.encode(payload.replace("ANALYST", "ADMIN"));
        assert_eq!(
            keys.verify(&parts.join(".")),
            Err(TokenRejection::BadSignature)
        );
    }

    #[test]
    fn a_remembered_token_vouches_for_no_other() {
        let keys = keys();
        let token = keys.issue(&user(), Utc::now()).expect("issue").token;
        let first = keys.verify(&token).expect("verify");
        assert_eq!(keys.verify(&token), Ok(first));
        // The same token with another signature (its first character changed).
        let (unsigned, signature) = token.rsplit_once('.').expect("three parts");
        let other = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{unsigned}.{other}{}", &signature[1..]);
        assert_eq!(keys.verify(&forged), Err(TokenRejection::BadSignature));
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(keys().verify("not.a.jwt"), Err(TokenRejection::Malformed));
        assert_eq!(keys().verify(""), Err(TokenRejection::Malformed));
    }
}
