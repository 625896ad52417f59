//! Tokens of trusted external issuers (labcas-contract §4) with jsonwebtoken: each issuer has
//! one algorithm and its key (an HS256 secret, an RS256 public key, or the keys of a JWKS URL,
//! fetched and cached), its audience, and the claim naming the user.
//!
//! A token's `iss` is read before anything is checked, only to choose the issuer; everything is
//! then checked against that issuer alone, with its one algorithm, so neither `alg: none` nor a
//! token signed for one issuer's algorithm with another issuer's key material passes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reefguide_domain::auth::errors::TokenRejection;
use reefguide_domain::user::identity::uid_of_dn;
use reefguide_domain::{ExternalIdentity, IssuerName, Username};
use reefguide_ports::{ExternalTokenError, ExternalTokenVerifier};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

/// Tolerated clock skew for `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 5;

/// How long fetched JWKS keys are used before they are fetched again.
const JWKS_TTL: Duration = Duration::from_secs(600);

/// The shortest time between two fetches of one JWKS (a token with an unknown `kid` asks for a
/// fetch; a stream of such tokens must not become a stream of fetches).
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(30);

/// The largest JWKS document read.
const JWKS_MAX_BYTES: usize = 256 * 1024;

/// The username claim when the issuer names none.
pub const DEFAULT_USERNAME_CLAIM: &str = "username";

/// How one trusted issuer signs its tokens.
pub enum IssuerKey {
    /// HS256 with this shared secret.
    Hs256(SecretString),
    /// RS256 with this public key (PEM).
    Rs256Pem(String),
    /// RS256 with the keys published at this JWKS URL, chosen by the token's `kid`.
    Jwks(String),
}

/// One trusted issuer, as configured.
pub struct TrustedIssuer {
    /// The `iss` its tokens carry.
    pub issuer: IssuerName,
    /// The `aud` its tokens must carry.
    pub audience: String,
    /// Its algorithm and key.
    pub key: IssuerKey,
    /// The claim naming the user; when absent from a token, the `uid=` of `sub`.
    pub username_claim: String,
}

/// Verifies the tokens of the trusted issuers.
pub struct ExternalJwtVerifier {
    issuers: HashMap<String, Issuer>,
}

impl std::fmt::Debug for ExternalJwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalJwtVerifier")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A trusted issuer ready to check tokens.
struct Issuer {
    name: IssuerName,
    validation: Validation,
    keys: Keys,
    username_claim: String,
}

/// Where an issuer's verification key comes from.
enum Keys {
    /// One key, known at start-up.
    Fixed(DecodingKey),
    /// The keys of a JWKS URL.
    Fetched(Arc<JwksKeys>),
}

/// The cached keys of a JWKS URL.
struct JwksKeys {
    url: String,
    client: reqwest::Client,
    cache: Mutex<JwksCache>,
}

#[derive(Default)]
struct JwksCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Why an issuer's configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("external_jwt issuer {issuer:?}: {reason}")]
pub struct IssuerConfigError {
    issuer: String,
    reason: String,
}

impl ExternalJwtVerifier {
    /// A verifier of `issuers`' tokens; JWKS are fetched with `client`.
    ///
    /// # Errors
    /// An RS256 key that is not an RSA public key in PEM, or the same issuer twice.
    pub fn new(
        issuers: Vec<TrustedIssuer>,
        client: reqwest::Client,
    ) -> Result<Self, IssuerConfigError> {
        super::jwt::install_crypto_provider();
        let mut ready = HashMap::new();
        for trusted in issuers {
            let name = trusted.issuer.as_str().to_owned();
            let error = |reason: String| IssuerConfigError {
                issuer: name.clone(),
                reason,
            };
            let (algorithm, keys) = match trusted.key {
                IssuerKey::Hs256(secret) => (
                    Algorithm::HS256,
                    Keys::Fixed(DecodingKey::from_secret(secret.expose_secret().as_bytes())),
                ),
                IssuerKey::Rs256Pem(pem) => (
                    Algorithm::RS256,
                    Keys::Fixed(
                        DecodingKey::from_rsa_pem(pem.replace("\\n", "\n").as_bytes()).map_err(
                            |e| error(format!("rs256_public_key is not an RSA public key: {e}")),
                        )?,
                    ),
                ),
                IssuerKey::Jwks(url) => (
                    Algorithm::RS256,
                    Keys::Fetched(Arc::new(JwksKeys {
                        url,
                        client: client.clone(),
                        cache: Mutex::new(JwksCache::default()),
                    })),
                ),
            };
            let mut validation = Validation::new(algorithm);
            validation.algorithms = vec![algorithm];
            validation.set_issuer(&[trusted.issuer.as_str()]);
            validation.set_audience(&[trusted.audience.as_str()]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            validation.validate_nbf = true;
            validation.leeway = LEEWAY_SECONDS;
            let issuer = Issuer {
                name: trusted.issuer,
                validation,
                keys,
                username_claim: trusted.username_claim,
            };
            if ready.insert(name.clone(), issuer).is_some() {
                return Err(error("configured twice".into()));
            }
        }
        Ok(Self { issuers: ready })
    }
}

/// The claim read before verification: only to choose the issuer.
#[derive(Deserialize)]
struct IssuerClaim {
    iss: Option<String>,
}

#[async_trait]
impl ExternalTokenVerifier for ExternalJwtVerifier {
    async fn verify(&self, token: &str) -> Result<ExternalIdentity, ExternalTokenError> {
        let issuer = jsonwebtoken::dangerous::insecure_decode_claims::<IssuerClaim>(token)
            .ok()
            .and_then(|claims| claims.iss)
            .and_then(|iss| self.issuers.get(&iss))
            .ok_or(ExternalTokenError::UnknownIssuer)?;
        issuer.verify(token).await
    }
}

impl Issuer {
    /// Checks `token` against this issuer alone and names its user.
    async fn verify(&self, token: &str) -> Result<ExternalIdentity, ExternalTokenError> {
        let rejected = ExternalTokenError::Rejected;
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| rejected(TokenRejection::Malformed))?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(rejected(TokenRejection::Malformed));
        }
        let key = match &self.keys {
            Keys::Fixed(key) => key.clone(),
            Keys::Fetched(jwks) => jwks.key(self, header.kid.as_deref()).await?,
        };
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &self.validation)
            .map_err(|error| rejected(rejection_of(error.kind())))?
            .claims;
        let username = self
            .username_of(&claims)
            .ok_or(rejected(TokenRejection::NoUsername))?;
        Ok(ExternalIdentity {
            issuer: self.name.clone(),
            username,
        })
    }

    /// The username claim, else the `uid=` of `sub`; `None` when neither names a usable one.
    fn username_of(&self, claims: &Map<String, Value>) -> Option<Username> {
        let named = claims
            .get(&self.username_claim)
            .and_then(Value::as_str)
            .map(ToOwned::to_owned);
        let raw = match named {
            Some(name) => name,
            None => uid_of_dn(claims.get("sub").and_then(Value::as_str)?)?,
        };
        Username::parse(&raw).ok()
    }
}

/// What a jsonwebtoken error means for the caller.
fn rejection_of(kind: &ErrorKind) -> TokenRejection {
    match kind {
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        _ => TokenRejection::Malformed,
    }
}

impl JwksKeys {
    /// The key `kid` (a token without `kid` needs a JWKS of exactly one key): from the cache,
    /// fetched when the cache is old or does not know `kid` (at most every
    /// [`JWKS_MIN_REFETCH`]).
    async fn key(
        &self,
        issuer: &Issuer,
        kid: Option<&str>,
    ) -> Result<DecodingKey, ExternalTokenError> {
        let mut cache = self.cache.lock().await;
        let age = cache.fetched_at.map(|at| at.elapsed());
        let stale = age.is_none_or(|age| age >= JWKS_TTL);
        let may_refetch = age.is_none_or(|age| age >= JWKS_MIN_REFETCH);
        if stale || (pick(&cache.keys, kid).is_none() && may_refetch) {
            match self.fetch().await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at = Some(Instant::now());
                }
                // Old keys still serve while the URL fails; with none, the caller must retry.
                Err(reason) if cache.keys.is_empty() => {
                    return Err(ExternalTokenError::KeysUnavailable {
                        issuer: issuer.name.to_string(),
                        reason,
                    });
                }
                Err(reason) => {
                    tracing::warn!(issuer = %issuer.name, %reason, "cannot refresh a JWKS; using the keys fetched before");
                }
            }
        }
        pick(&cache.keys, kid).ok_or(ExternalTokenError::Rejected(TokenRejection::Malformed))
    }

    /// The RSA signing keys of the JWKS document, by `kid` (keys without `kid`, or of another
    /// kind or use, are left out).
    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?;
        if response
            .content_length()
            .is_some_and(|length| length > JWKS_MAX_BYTES as u64)
        {
            return Err(format!("the JWKS is larger than {JWKS_MAX_BYTES} bytes"));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > JWKS_MAX_BYTES {
            return Err(format!("the JWKS is larger than {JWKS_MAX_BYTES} bytes"));
        }
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))?;
        Ok(set
            .keys
            .iter()
            .filter(|jwk| {
                matches!(
                    jwk.algorithm,
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
                )
            })
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                Some((kid, DecodingKey::from_jwk(jwk).ok()?))
            })
            .collect())
    }
}

/// The key named `kid`, or the only key when the token names none.
fn pick(keys: &HashMap<String, DecodingKey>, kid: Option<&str>) -> Option<DecodingKey> {
    match kid {
        Some(kid) => keys.get(kid).cloned(),
        None if keys.len() == 1 => keys.values().next().cloned(),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::crypto::RsaKeyPair;

    const SECRET: &str = "labcas-shared-secret-for-tests";

    static OTHER_PAIR: LazyLock<RsaKeyPair> =
        LazyLock::new(|| RsaKeyPair::generate().expect("key generation"));
    static ATTACKER_PAIR: LazyLock<RsaKeyPair> =
        LazyLock::new(|| RsaKeyPair::generate().expect("key generation"));

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// LabCAS (HS256) and Other (RS256 with OTHER_PAIR's public key).
    fn verifier() -> ExternalJwtVerifier {
        ExternalJwtVerifier::new(
            vec![
                TrustedIssuer {
                    issuer: IssuerName::parse("LabCAS").expect("issuer"),
                    audience: "LabCAS".into(),
                    key: IssuerKey::Hs256(SECRET.into()),
                    username_claim: DEFAULT_USERNAME_CLAIM.into(),
                },
                TrustedIssuer {
                    issuer: IssuerName::parse("Other").expect("issuer"),
                    audience: "other-api".into(),
                    key: IssuerKey::Rs256Pem(OTHER_PAIR.public_pem().to_owned()),
                    username_claim: "preferred_username".into(),
                },
            ],
            reqwest::Client::new(),
        )
        .expect("verifier")
    }

    /// LabCAS's claims for thomas, valid for an hour.
    fn labcas_claims() -> Value {
        json!({
            "iss": "LabCAS",
            "aud": "LabCAS",
            "sub": "uid=thomas,dc=edrn,dc=jpl,dc=nasa,dc=gov",
            "iat": now(),
            "exp": now() + 3600,
        })
    }

    fn hs256(claims: &Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .expect("signed")
    }

    fn rs256(claims: &Value, pair: &RsaKeyPair, kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(ToOwned::to_owned);
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(pair.private_pem().as_bytes()).expect("key"),
        )
        .expect("signed")
    }

    fn with(mut claims: Value, key: &str, value: Value) -> Value {
        claims[key] = value;
        claims
    }

    fn without(mut claims: Value, key: &str) -> Value {
        claims.as_object_mut().expect("object").remove(key);
        claims
    }

    async fn username(token: &str) -> Result<String, ExternalTokenError> {
        verifier()
            .verify(token)
            .await
            .map(|identity| identity.username.to_string())
    }

    fn rejected(rejection: TokenRejection) -> Result<String, ExternalTokenError> {
        Err(ExternalTokenError::Rejected(rejection))
    }

    #[tokio::test]
    async fn a_labcas_token_names_the_uid_of_its_subject_or_its_username_claim() {
        let token = hs256(&labcas_claims(), SECRET.as_bytes());
        let identity = verifier().verify(&token).await.expect("accepted");
        assert_eq!(identity.issuer.as_str(), "LabCAS");
        assert_eq!(identity.username.as_str(), "thomas");

        let named = with(labcas_claims(), "username", json!("tom"));
        assert_eq!(
            username(&hs256(&named, SECRET.as_bytes())).await,
            Ok("tom".into())
        );

        let other = json!({"iss": "Other", "aud": "other-api", "exp": now() + 60,
            "preferred_username": "ana"});
        assert_eq!(
            username(&rs256(&other, &OTHER_PAIR, None)).await,
            Ok("ana".into())
        );
    }

    #[tokio::test]
    async fn forged_expired_and_misdirected_tokens_are_refused() {
        let claims = labcas_claims;
        // Signed with another secret.
        let forged = hs256(&claims(), b"not-the-labcas-secret-at-all!!");
        assert_eq!(
            username(&forged).await,
            rejected(TokenRejection::BadSignature)
        );
        // alg: none, no signature.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        assert_eq!(username(&none).await, rejected(TokenRejection::Malformed));
        // Expired beyond the leeway; within it, accepted.
        let expired = with(claims(), "exp", json!(now() - 60));
        assert_eq!(
            username(&hs256(&expired, SECRET.as_bytes())).await,
            rejected(TokenRejection::Expired)
        );
        let just = with(claims(), "exp", json!(now() - 2));
        assert!(username(&hs256(&just, SECRET.as_bytes())).await.is_ok());
        // Not yet valid.
        let early = with(claims(), "nbf", json!(now() + 60));
        assert_eq!(
            username(&hs256(&early, SECRET.as_bytes())).await,
            rejected(TokenRejection::NotYetValid)
        );
        // Wrong audience, no audience, no expiry.
        let elsewhere = with(claims(), "aud", json!("SomeoneElse"));
        assert_eq!(
            username(&hs256(&elsewhere, SECRET.as_bytes())).await,
            rejected(TokenRejection::WrongAudience)
        );
        for missing in ["aud", "exp"] {
            let token = hs256(&without(claims(), missing), SECRET.as_bytes());
            assert!(username(&token).await.is_err(), "{missing} missing");
        }
        // No usable username.
        let nameless = with(claims(), "sub", json!("cn=Thomas,dc=edrn"));
        assert_eq!(
            username(&hs256(&nameless, SECRET.as_bytes())).await,
            rejected(TokenRejection::NoUsername)
        );
        let traversal = with(claims(), "username", json!(".."));
        assert_eq!(
            username(&hs256(&traversal, SECRET.as_bytes())).await,
            rejected(TokenRejection::NoUsername)
        );
        // An issuer nobody trusts, or none at all: not an external token.
        for iss in [json!("Mallory"), Value::Null] {
            let token = hs256(&with(claims(), "iss", iss), SECRET.as_bytes());
            assert_eq!(
                username(&token).await,
                Err(ExternalTokenError::UnknownIssuer)
            );
        }
        assert_eq!(
            username("not a jwt").await,
            Err(ExternalTokenError::UnknownIssuer)
        );
    }

    #[tokio::test]
    async fn no_algorithm_or_key_confusion_between_issuers() {
        // HS256 for the RS256 issuer, keyed with its public key (the classic confusion).
        let other = json!({"iss": "Other", "aud": "other-api", "exp": now() + 60,
            "preferred_username": "ana"});
        let confused = hs256(&other, OTHER_PAIR.public_pem().as_bytes());
        assert_eq!(
            username(&confused).await,
            rejected(TokenRejection::Malformed)
        );
        // RS256 for the HS256 issuer.
        let rs = rs256(&labcas_claims(), &ATTACKER_PAIR, None);
        assert_eq!(username(&rs).await, rejected(TokenRejection::Malformed));
        // The RS256 issuer's algorithm with another key.
        let stranger = rs256(&other, &ATTACKER_PAIR, None);
        assert_eq!(
            username(&stranger).await,
            rejected(TokenRejection::BadSignature)
        );
        // One issuer's valid token relabelled as the other's fails the other's checks.
        let relabelled = hs256(
            &with(labcas_claims(), "iss", json!("Other")),
            SECRET.as_bytes(),
        );
        assert_eq!(
            username(&relabelled).await,
            rejected(TokenRejection::Malformed)
        );
    }

    /// A JWKS server on a free port serving OTHER_PAIR as `k1`; the number of fetches.
    async fn jwks_server() -> (String, Arc<AtomicUsize>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let body = json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
            "n": OTHER_PAIR.modulus_b64(), "e": OTHER_PAIR.exponent_b64(),
        }]});
        let counted = Arc::clone(&fetches);
        let server = actix_web::HttpServer::new(move || {
            let counted = Arc::clone(&counted);
            let body = body.clone();
            actix_web::App::new().route(
                "/jwks.json",
                actix_web::web::get().to(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = body.clone();
                    async move { actix_web::HttpResponse::Ok().json(body) }
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bound");
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        (format!("http://127.0.0.1:{port}/jwks.json"), fetches)
    }

    fn jwks_verifier(url: String) -> ExternalJwtVerifier {
        ExternalJwtVerifier::new(
            vec![TrustedIssuer {
                issuer: IssuerName::parse("Keycloak").expect("issuer"),
                audience: "reefguide".into(),
                key: IssuerKey::Jwks(url),
                username_claim: DEFAULT_USERNAME_CLAIM.into(),
            }],
            reqwest::Client::new(),
        )
        .expect("verifier")
    }

    #[actix_web::test]
    async fn jwks_keys_are_fetched_once_and_an_unknown_kid_cannot_force_fetches() {
        let (url, fetches) = jwks_server().await;
        let verifier = jwks_verifier(url);
        let claims = json!({"iss": "Keycloak", "aud": "reefguide", "exp": now() + 60,
            "username": "ana"});
        for _ in 0..3 {
            let token = rs256(&claims, &OTHER_PAIR, Some("k1"));
            assert!(verifier.verify(&token).await.is_ok());
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "cached");
        for _ in 0..3 {
            let token = rs256(&claims, &ATTACKER_PAIR, Some("k9"));
            assert_eq!(
                verifier.verify(&token).await,
                Err(ExternalTokenError::Rejected(TokenRejection::Malformed))
            );
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "no fetch storm");
        let forged = rs256(&claims, &ATTACKER_PAIR, Some("k1"));
        assert_eq!(
            verifier.verify(&forged).await,
            Err(ExternalTokenError::Rejected(TokenRejection::BadSignature))
        );
    }

    #[tokio::test]
    async fn an_unreachable_jwks_is_unavailable_not_a_bad_token() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let verifier = jwks_verifier(format!("http://127.0.0.1:{port}/jwks.json"));
        let claims = json!({"iss": "Keycloak", "aud": "reefguide", "exp": now() + 60,
            "username": "ana"});
        let token = rs256(&claims, &OTHER_PAIR, Some("k1"));
        assert!(matches!(
            verifier.verify(&token).await,
            Err(ExternalTokenError::KeysUnavailable { .. })
        ));
    }
}
