//! Issuing access tokens and refresh tokens.

use crate::keys::KeyRing;
use base64::Engine;
use common_types::{Role, UserId};
use rand::RngCore;
use serde::Serialize;
use service_http::AccessClaims;
use sha2::{Digest, Sha256};

pub struct TokenIssuer {
    pub keys: KeyRing,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
}

/// The body of a successful login or refresh.
#[derive(Debug, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// A new refresh token: the value goes to the client once, only its hash is kept.
pub struct NewRefreshToken {
    pub value: String,
    pub hash: Vec<u8>,
}

impl TokenIssuer {
    pub fn access_token(&self, user: UserId, role: Role) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user,
            role,
            iat: now,
            exp: now + self.access_ttl_secs,
            jti: uuid::Uuid::new_v4(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        Ok(self.keys.current.sign(&claims)?)
    }

    pub fn pair(
        &self,
        user: UserId,
        role: Role,
        refresh: NewRefreshToken,
    ) -> anyhow::Result<TokenPair> {
        Ok(TokenPair {
            access_token: self.access_token(user, role)?,
            refresh_token: refresh.value,
            token_type: "Bearer",
            expires_in: self.access_ttl_secs,
        })
    }
}

/// 256 random bits, URL-safe. Unguessable, so a fast hash (SHA-256) is
/// enough to store it: there is nothing to brute-force.
pub fn new_refresh_token() -> NewRefreshToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&value);
    NewRefreshToken { value, hash }
}

pub fn hash_refresh_token(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}
