//! Ed25519 signing keys for access tokens: generated, stored as PKCS#8 PEM,
//! published as a JWK. The auth service signs with these; tests use them to
//! mint tokens for services under test.

use crate::auth::AccessClaims;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot generate a key")]
    Generate,
    #[error("not an Ed25519 PKCS#8 key: {0}")]
    Parse(String),
    #[error("cannot sign: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// One Ed25519 key with its id.
pub struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    encoding: EncodingKey,
}

impl SigningKey {
    pub fn generate(kid: impl Into<String>) -> Result<Self, KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate)?;
        Self::from_pkcs8_der(kid, pkcs8.as_ref())
    }

    pub fn from_pkcs8_der(kid: impl Into<String>, der: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| KeyError::Parse(e.to_string()))?;
        Ok(Self {
            kid: kid.into(),
            pkcs8: der.to_vec(),
            public: pair.public_key().as_ref().to_vec(),
            encoding: EncodingKey::from_ed_der(der),
        })
    }

    /// Parse a `-----BEGIN PRIVATE KEY-----` PEM.
    pub fn from_pem(kid: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|e| KeyError::Parse(e.to_string()))?;
        Self::from_pkcs8_der(kid, &der)
    }

    pub fn to_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.pkcs8);
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK (`kty: OKP`, `crv: Ed25519`).
    pub fn jwk(&self) -> Jwk {
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(self.kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.public),
            }),
        }
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// A JWKS of the given keys (current first, then older ones still verifying).
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> JwkSet {
    JwkSet {
        keys: keys.into_iter().map(SigningKey::jwk).collect(),
    }
}
