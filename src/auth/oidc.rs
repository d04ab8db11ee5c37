//! OpenID Connect as a resource server: bearer JWTs from configured issuers are
//! verified with the issuer's keys (discovery document → JWKS, cached, fetched
//! again when a token names an unknown `kid`), and `iss`, `aud`, `exp`, `nbf` are
//! checked with a small clock skew. A token maps to a user through
//! `external_subject` = `<iss>|<sub>`; there is no silent account creation.
use crate::config::OidcIssuer;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// Clock difference tolerated against the issuer.
pub const CLOCK_SKEW_SECONDS: u64 = 60;
/// By default an unknown `kid` fetches the JWKS again at most this often per
/// issuer (random `kid`s must not make us hammer the issuer).
pub const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("token not acceptable")]
    Rejected,
    #[error("issuer unreachable: {0}")]
    Unreachable(String),
}

#[derive(Debug, Deserialize)]
struct Discovery {
    jwks_uri: String,
    #[serde(default)]
    introspection_endpoint: Option<String>,
    #[serde(default)]
    authorization_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint: Option<String>,
}

/// Where a browser signs in at an issuer.
#[derive(Debug, Clone)]
pub struct BrowserEndpoints {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
}

#[derive(Debug, Deserialize)]
struct Unverified {
    iss: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Verified {
    iss: String,
    sub: String,
    #[serde(default)]
    nonce: Option<String>,
}

#[derive(Default)]
struct KeyCache {
    jwks_uri: Option<String>,
    introspection_endpoint: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    keys: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    fetched_at: Option<Instant>,
}

struct Issuer {
    config: OidcIssuer,
    cache: RwLock<KeyCache>,
}

pub struct OidcVerifier {
    http: reqwest::Client,
    /// For the `oauth2` crate's requests: no redirects (no SSRF through the issuer).
    oauth_http: reqwest::Client,
    issuers: Vec<Issuer>,
    min_refresh: Duration,
}

/// Signature algorithms accepted from an issuer: asymmetric only, so a public key
/// can never be used as an HMAC secret.
fn asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

impl OidcVerifier {
    pub fn new(issuers: &[OidcIssuer], min_refresh: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let oauth_http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            http,
            oauth_http,
            issuers: issuers
                .iter()
                .map(|c| Issuer { config: c.clone(), cache: RwLock::new(KeyCache::default()) })
                .collect(),
            min_refresh,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The external subject (`<iss>|<sub>`) of a valid access token.
    pub async fn verify(&self, token: &str) -> Result<String, OidcError> {
        let (issuer, _) = self.issuer_of(token)?;
        let claims = self.verify_for(issuer, token, &issuer.config.audience).await?;
        Ok(external_subject(&claims.iss, &claims.sub))
    }

    /// The external subject of a browser sign-in's ID token: audience is our client
    /// id, and the nonce must be the one we sent.
    pub async fn verify_id_token(
        &self,
        token: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<String, OidcError> {
        let (issuer, _) = self.issuer_of(token)?;
        let claims = self.verify_for(issuer, token, client_id).await?;
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(OidcError::Rejected);
        }
        Ok(external_subject(&claims.iss, &claims.sub))
    }

    fn issuer_of(&self, token: &str) -> Result<(&Issuer, jsonwebtoken::Header), OidcError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| OidcError::Rejected)?;
        if !asymmetric(header.alg) {
            return Err(OidcError::Rejected);
        }
        // Only to choose the issuer's keys; everything is verified afterwards.
        let claims: Unverified =
            jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(|_| OidcError::Rejected)?;
        let iss = claims.iss.ok_or(OidcError::Rejected)?;
        let issuer = self.issuers.iter().find(|i| i.config.issuer == iss).ok_or(OidcError::Rejected)?;
        Ok((issuer, header))
    }

    async fn verify_for(&self, issuer: &Issuer, token: &str, audience: &str) -> Result<Verified, OidcError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| OidcError::Rejected)?;
        let kid = header.kid.ok_or(OidcError::Rejected)?;
        let (key, key_alg) = self.key(issuer, &kid).await?;
        if key_alg.is_some_and(|a| a != header.alg) {
            return Err(OidcError::Rejected);
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&issuer.config.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = CLOCK_SKEW_SECONDS;
        jsonwebtoken::decode::<Verified>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|_| OidcError::Rejected)
    }

    /// The endpoints for a browser sign-in at the issuer named `issuer` (or the first
    /// issuer with a client id).
    pub async fn browser_endpoints(&self, issuer: Option<&str>) -> Result<BrowserEndpoints, OidcError> {
        let chosen = self
            .issuers
            .iter()
            .filter(|i| i.config.client_id.is_some())
            .find(|i| issuer.is_none_or(|want| i.config.issuer == want))
            .ok_or(OidcError::Rejected)?;
        let mut cache = chosen.cache.write().await;
        if cache.jwks_uri.is_none() {
            self.discover(chosen, &mut cache).await?;
        }
        Ok(BrowserEndpoints {
            issuer: chosen.config.issuer.clone(),
            client_id: chosen.config.client_id.clone().unwrap_or_default(),
            client_secret: chosen.config.client_secret.clone(),
            authorization_endpoint: cache.authorization_endpoint.clone().ok_or(OidcError::Rejected)?,
            token_endpoint: cache.token_endpoint.clone().ok_or(OidcError::Rejected)?,
        })
    }

    /// The HTTP client for the `oauth2` crate (no redirects).
    pub fn oauth_http(&self) -> &reqwest::Client {
        &self.oauth_http
    }

    /// An opaque token, through RFC 7662 introspection at the issuers that have a
    /// client id and secret configured; the first that calls it active decides.
    pub async fn introspect(&self, token: &str) -> Result<String, OidcError> {
        use oauth2::basic::BasicClient;
        use oauth2::{AccessToken, ClientId, ClientSecret, IntrospectionUrl, TokenIntrospectionResponse};
        for issuer in &self.issuers {
            let (Some(id), Some(secret)) = (&issuer.config.client_id, &issuer.config.client_secret) else {
                continue;
            };
            let endpoint = {
                let mut cache = issuer.cache.write().await;
                if cache.jwks_uri.is_none() {
                    self.discover(issuer, &mut cache).await?;
                }
                cache.introspection_endpoint.clone()
            };
            let Some(endpoint) = endpoint else { continue };
            let url = IntrospectionUrl::new(endpoint).map_err(|e| OidcError::Unreachable(e.to_string()))?;
            let client = BasicClient::new(ClientId::new(id.clone()))
                .set_client_secret(ClientSecret::new(secret.clone()))
                .set_introspection_url(url);
            let response = client
                .introspect(&AccessToken::new(token.to_owned()))
                .request_async(&self.oauth_http)
                .await
                .map_err(|e| OidcError::Unreachable(e.to_string()))?;
            if !response.active() {
                continue;
            }
            let Some(sub) = response.sub() else { continue };
            if response.exp().is_some_and(|exp| exp <= chrono::Utc::now()) {
                continue;
            }
            if response.aud().is_some_and(|aud| !aud.contains(&issuer.config.audience)) {
                continue;
            }
            let iss = response.iss().unwrap_or(&issuer.config.issuer);
            if iss != issuer.config.issuer {
                continue;
            }
            return Ok(external_subject(iss, sub));
        }
        Err(OidcError::Rejected)
    }

    async fn discover(&self, issuer: &Issuer, cache: &mut KeyCache) -> Result<(), OidcError> {
        let url = format!("{}/.well-known/openid-configuration", issuer.config.issuer.trim_end_matches('/'));
        let discovery: Discovery = self.get_json(&url).await?;
        cache.jwks_uri = Some(discovery.jwks_uri);
        cache.introspection_endpoint = discovery.introspection_endpoint;
        cache.authorization_endpoint = discovery.authorization_endpoint;
        cache.token_endpoint = discovery.token_endpoint;
        Ok(())
    }

    async fn key(&self, issuer: &Issuer, kid: &str) -> Result<(DecodingKey, Option<Algorithm>), OidcError> {
        if let Some(found) = issuer.cache.read().await.keys.get(kid) {
            return Ok(found.clone());
        }
        let mut cache = issuer.cache.write().await;
        if let Some(found) = cache.keys.get(kid) {
            return Ok(found.clone());
        }
        if cache.fetched_at.is_some_and(|t| t.elapsed() < self.min_refresh) {
            return Err(OidcError::Rejected);
        }
        self.refresh(issuer, &mut cache).await?;
        cache.keys.get(kid).cloned().ok_or(OidcError::Rejected)
    }

    async fn refresh(&self, issuer: &Issuer, cache: &mut KeyCache) -> Result<(), OidcError> {
        cache.fetched_at = Some(Instant::now());
        if cache.jwks_uri.is_none() {
            self.discover(issuer, cache).await?;
        }
        let jwks_uri = cache.jwks_uri.clone().ok_or(OidcError::Rejected)?;
        let set: JwkSet = self.get_json(&jwks_uri).await?;
        cache.keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                let alg = jwk.common.key_algorithm.and_then(|a| a.to_string().parse::<Algorithm>().ok());
                Some((kid, (key, alg)))
            })
            .collect();
        tracing::info!(issuer = %issuer.config.issuer, keys = cache.keys.len(), "fetched signing keys");
        Ok(())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(OidcError::Unreachable(format!("HTTP {}", response.status())));
        }
        response.json().await.map_err(|e| OidcError::Unreachable(e.without_url().to_string()))
    }
}

pub fn external_subject(iss: &str, sub: &str) -> String {
    format!("{iss}|{sub}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_algorithms_are_never_accepted_from_an_issuer() {
        assert!(!asymmetric(Algorithm::HS256));
        assert!(asymmetric(Algorithm::RS256));
        assert!(asymmetric(Algorithm::ES256));
    }
}
