//! Access-token verification shared by every service (defence in depth: the
//! gateway checks tokens, and each service checks them again; no service
//! trusts a header it did not verify).
//!
//! Tokens are EdDSA JWTs signed by the auth service; public keys come from its
//! JWKS, cached and refetched when a token names an unknown `kid` (rotation).

use crate::problem::{problem, problem_response};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, ResponseError};
use common_types::{Role, UserId};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use settings::TokenVerifySettings;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub sub: UserId,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    pub jti: uuid::Uuid,
    pub iss: String,
    pub aud: String,
}

/// The verified caller of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthUser {
    pub id: UserId,
    pub role: Role,
    /// The raw bearer token, for calls made on the caller's behalf.
    pub token: String,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// 403 unless the caller is an organizer or an admin.
    pub fn require_organizer(&self) -> Result<(), AuthError> {
        if self.role.can_organize() {
            Ok(())
        } else {
            Err(AuthError::Forbidden("organizers and admins only"))
        }
    }

    pub fn require_admin(&self) -> Result<(), AuthError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AuthError::Forbidden("admins only"))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token has expired")]
    Expired,
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    #[error("cannot fetch signing keys: {0}")]
    KeysUnavailable(String),
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Missing | AuthError::Invalid(_) | AuthError::Expired => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
            AuthError::KeysUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let (slug, title) = match self {
            AuthError::Missing => ("unauthenticated", "Authentication required"),
            AuthError::Invalid(_) => ("invalid-token", "Invalid access token"),
            AuthError::Expired => ("token-expired", "Access token expired"),
            AuthError::Forbidden(_) => ("forbidden", "Not allowed"),
            AuthError::KeysUnavailable(_) => ("auth-unavailable", "Cannot verify tokens right now"),
        };
        let mut response =
            problem_response(problem(self.status_code(), slug, title, self.to_string()));
        if self.status_code() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

enum KeySource {
    Static,
    Remote {
        url: String,
        client: reqwest::Client,
    },
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Verifies access tokens against a JWKS.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    source: KeySource,
    cache: RwLock<KeyCache>,
    validation: Validation,
}

/// Do not hammer auth when someone sends tokens with made-up key ids.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(5);

impl JwtVerifier {
    /// Keys fetched from the auth service's JWKS URL, on first use.
    pub fn remote(settings: &TokenVerifySettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        Self::build(
            KeySource::Remote {
                url: settings.jwks_url.clone(),
                client,
            },
            HashMap::new(),
            settings,
        )
    }

    /// Keys given up front (the auth service itself, and tests).
    pub fn from_jwks(jwks: &JwkSet, settings: &TokenVerifySettings) -> Self {
        Self::build(KeySource::Static, decoding_keys(jwks), settings)
    }

    fn build(
        source: KeySource,
        keys: HashMap<String, DecodingKey>,
        settings: &TokenVerifySettings,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 5;
        Self {
            inner: Arc::new(VerifierInner {
                source,
                cache: RwLock::new(KeyCache {
                    keys,
                    fetched_at: None,
                }),
                validation,
            }),
        }
    }

    /// Replace the known keys (the auth service after a rotation).
    pub async fn set_keys(&self, jwks: &JwkSet) {
        let mut cache = self.inner.cache.write().await;
        cache.keys = decoding_keys(jwks);
    }

    pub async fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Invalid("no key id".into()))?;
        let key = match self.key(&kid).await {
            Some(key) => key,
            None => {
                self.refresh().await?;
                self.key(&kid)
                    .await
                    .ok_or_else(|| AuthError::Invalid(format!("unknown key id {kid}")))?
            }
        };
        jsonwebtoken::decode::<AccessClaims>(token, &key, &self.inner.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid(e.to_string()),
            })
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.inner.cache.read().await.keys.get(kid).cloned()
    }

    async fn refresh(&self) -> Result<(), AuthError> {
        let KeySource::Remote { url, client } = &self.inner.source else {
            return Ok(());
        };
        {
            let cache = self.inner.cache.read().await;
            if cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < MIN_REFETCH_INTERVAL)
            {
                return Ok(());
            }
        }
        let jwks: JwkSet = client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?;
        let mut cache = self.inner.cache.write().await;
        cache.keys = decoding_keys(&jwks);
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }
}

fn decoding_keys(jwks: &JwkSet) -> HashMap<String, DecodingKey> {
    jwks.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
        })
        .collect()
}

/// The bearer token of a request, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl FromRequest for AuthUser {
    type Error = AuthError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer_token(req).map(str::to_string);
        let verifier = req.app_data::<web::Data<JwtVerifier>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(AuthError::Missing)?;
            let verifier = verifier
                .ok_or_else(|| AuthError::KeysUnavailable("no verifier configured".into()))?;
            let claims = verifier.verify(&token).await?;
            Ok(AuthUser {
                id: claims.sub,
                role: claims.role,
                token,
            })
        })
    }
}
