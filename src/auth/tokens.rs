//! Short-lived signed access tokens for local sign-in (HS256 JWT): issuer, audience,
//! expiry and not-before are checked with a small clock skew; every token carries a
//! session id (`jti`) that logout revokes. Several keys can be configured: the
//! first signs, all verify, so keys rotate without signing anyone out.
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Allowed clock difference between instances.
pub const CLOCK_SKEW_SECONDS: u64 = 30;
/// Shorter secrets are refused.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("token keys: {0}")]
    Invalid(String),
    #[error("token key file {path}: {source}")]
    File { path: String, source: std::io::Error },
}

/// `kid=base64secret,kid2=base64secret`.
pub fn parse_keys(spec: &str) -> Result<Vec<SigningKey>, KeyError> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (kid, secret) =
                entry.split_once('=').ok_or_else(|| KeyError::Invalid("expected kid=base64secret".into()))?;
            let secret = base64::engine::general_purpose::STANDARD
                .decode(secret.trim())
                .map_err(|_| KeyError::Invalid(format!("key {kid}: secret is not base64")))?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeyError::Invalid(format!("key {kid}: at least {MIN_SECRET_BYTES} bytes")));
            }
            Ok(SigningKey { kid: kid.trim().to_owned(), secret })
        })
        .collect()
}

/// For the embedded default: a random key kept in the data directory (0600), made
/// on first start. Several instances must share configured keys instead.
pub fn load_or_create_key_file(path: &Path) -> Result<Vec<SigningKey>, KeyError> {
    let file_err = |source| KeyError::File { path: path.display().to_string(), source };
    if let Ok(text) = std::fs::read_to_string(path) {
        return parse_keys(&text);
    }
    let mut secret = [0u8; 48];
    rand::fill(&mut secret);
    let kid = format!("k{}", Utc::now().format("%Y%m%d"));
    let line = format!("{kid}={}\n", base64::engine::general_purpose::STANDARD.encode(secret));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(file_err)?;
    }
    std::fs::write(path, &line).map_err(file_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(file_err)?;
    }
    parse_keys(&line)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// `user:<id>`
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// The session id.
    pub jti: String,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.strip_prefix("user:")?.parse().ok()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid token")]
pub struct InvalidToken;

pub struct TokenService {
    keys: Vec<(String, EncodingKey, DecodingKey)>,
    issuer: String,
    audience: String,
    ttl: chrono::Duration,
}

impl TokenService {
    pub fn new(
        keys: &[SigningKey],
        issuer: &str,
        audience: &str,
        ttl_seconds: u64,
    ) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Invalid("no signing key".into()));
        }
        Ok(Self {
            keys: keys
                .iter()
                .map(|k| {
                    (k.kid.clone(), EncodingKey::from_secret(&k.secret), DecodingKey::from_secret(&k.secret))
                })
                .collect(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl: chrono::Duration::seconds(ttl_seconds.min(i64::MAX as u64) as i64),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn ttl(&self) -> chrono::Duration {
        self.ttl
    }

    /// A token for `user_id` in session `session_id`, valid from `now` for the TTL.
    pub fn issue(
        &self,
        user_id: i64,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), InvalidToken> {
        let (kid, key, _) = self.keys.first().ok_or(InvalidToken)?;
        let expires = now + self.ttl;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: format!("user:{user_id}"),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires.timestamp(),
            jti: session_id.to_owned(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, key).map_err(|_| InvalidToken)?;
        Ok((token, expires))
    }

    /// Signature (by `kid`), issuer, audience, expiry and not-before.
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| InvalidToken)?;
        if header.alg != Algorithm::HS256 {
            return Err(InvalidToken);
        }
        let kid = header.kid.ok_or(InvalidToken)?;
        let (_, _, key) = self.keys.iter().find(|(k, ..)| *k == kid).ok_or(InvalidToken)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = CLOCK_SKEW_SECONDS;
        jsonwebtoken::decode::<Claims>(token, key, &validation).map(|d| d.claims).map_err(|_| InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, byte: u8) -> SigningKey {
        SigningKey { kid: kid.into(), secret: vec![byte; 32] }
    }

    fn service(keys: &[SigningKey]) -> TokenService {
        TokenService::new(keys, "verband", "verband-api", 900).expect("service")
    }

    #[test]
    fn issued_tokens_verify_and_carry_user_and_session() {
        let s = service(&[key("a", 1)]);
        let (token, _) = s.issue(42, "sess", Utc::now()).expect("issue");
        let claims = s.verify(&token).expect("valid");
        assert_eq!((claims.user_id(), claims.jti.as_str()), (Some(42), "sess"));
    }

    #[test]
    fn expired_foreign_tampered_and_wrong_audience_tokens_are_refused() {
        let s = service(&[key("a", 1)]);
        let (old, _) = s.issue(1, "x", Utc::now() - chrono::Duration::hours(2)).expect("issue");
        assert!(s.verify(&old).is_err(), "expired");
        let other = service(&[key("a", 2)]);
        let (foreign, _) = other.issue(1, "x", Utc::now()).expect("issue");
        assert!(s.verify(&foreign).is_err(), "signed with another secret under the same kid");
        let (token, _) = s.issue(1, "x", Utc::now()).expect("issue");
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64");
        let forged = String::from_utf8(claims).expect("utf8").replace("user:1", "user:2");
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
        assert!(s.verify(&parts.join(".")).is_err(), "tampered");
        let aud = TokenService::new(&[key("a", 1)], "verband", "someone-else", 900).expect("service");
        let (token, _) = aud.issue(1, "x", Utc::now()).expect("issue");
        assert!(s.verify(&token).is_err(), "wrong audience");
        let future = s.issue(1, "x", Utc::now() + chrono::Duration::minutes(10)).expect("issue").0;
        assert!(s.verify(&future).is_err(), "not yet valid");
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_while_their_key_is_configured() {
        let old = service(&[key("old", 1)]);
        let (token, _) = old.issue(7, "s", Utc::now()).expect("issue");
        let rotated = service(&[key("new", 2), key("old", 1)]);
        assert!(rotated.verify(&token).is_ok(), "old key still verifies");
        let (fresh, _) = rotated.issue(7, "s", Utc::now()).expect("issue");
        assert_eq!(jsonwebtoken::decode_header(&fresh).expect("header").kid.as_deref(), Some("new"));
        let retired = service(&[key("new", 2)]);
        assert!(retired.verify(&token).is_err(), "a removed key no longer verifies");
    }

    #[test]
    fn key_specs_are_validated() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(parse_keys(&format!("a={b64}, b={b64}")).expect("keys").len(), 2);
        assert!(parse_keys("a=short").is_err());
        assert!(parse_keys("nokid").is_err());
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 8]);
        assert!(parse_keys(&format!("a={short}")).is_err());
    }
}
