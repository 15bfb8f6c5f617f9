//! The signing key and the retired keys that still verify.
//!
//! Key ids are derived from the public key, so the same key always has the
//! same `kid` on every instance and after every restart, and a retired key
//! listed by its public half keeps the id its tokens carry.

use crate::configuration::Settings;
use anyhow::Context;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use secrecy::ExposeSecret;
use service_http::signing::SigningKey;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key
/// bytes follow it.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

pub struct KeyRing {
    pub current: SigningKey,
    retired: Vec<Jwk>,
}

fn kid_for(public: &[u8]) -> String {
    let digest = Sha256::digest(public);
    format!(
        "ed25519-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
    )
}

fn public_bytes_of(key: &SigningKey) -> anyhow::Result<Vec<u8>> {
    match &key.jwk().algorithm {
        AlgorithmParameters::OctetKeyPair(p) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&p.x)
            .context("public key of the signing key"),
        _ => anyhow::bail!("the signing key is not Ed25519"),
    }
}

/// A signing key from a private PEM, with its derived key id.
pub fn signing_key_from_pem(pem: &str) -> anyhow::Result<SigningKey> {
    let probe = SigningKey::from_pem("probe", pem).context("parsing the signing key PEM")?;
    let kid = kid_for(&public_bytes_of(&probe)?);
    Ok(SigningKey::from_pem(kid, pem)?)
}

fn public_jwk(public: &[u8]) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            key_id: Some(kid_for(public)),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public),
        }),
    }
}

/// The public JWK of a retired key given as a `PUBLIC KEY` or `PRIVATE KEY` PEM.
fn retired_jwk(pem: &str) -> anyhow::Result<Jwk> {
    if pem.contains("PRIVATE KEY") {
        let key = signing_key_from_pem(pem)?;
        return Ok(public_jwk(&public_bytes_of(&key)?));
    }
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .context("retired key PEM is not base64")?;
    let public = der
        .strip_prefix(&ED25519_SPKI_PREFIX[..])
        .filter(|rest| rest.len() == 32)
        .context("retired key is not an Ed25519 public key")?;
    Ok(public_jwk(public))
}

impl KeyRing {
    /// The signing key from `signing_key_pem`, else from `signing_key_file`
    /// (created with a new key when missing, so restarts keep tokens valid),
    /// plus every retired key in `previous_key_files`.
    pub fn load(settings: &Settings) -> anyhow::Result<Self> {
        let current = match &settings.signing_key_pem {
            Some(pem) if !pem.expose_secret().trim().is_empty() => {
                signing_key_from_pem(pem.expose_secret())?
            }
            _ => load_or_create(Path::new(&settings.signing_key_file))?,
        };
        let mut retired = Vec::new();
        for file in settings
            .previous_key_files
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
        {
            let pem = std::fs::read_to_string(file)
                .with_context(|| format!("reading retired key {file}"))?;
            let jwk = retired_jwk(&pem).with_context(|| format!("retired key {file}"))?;
            if jwk.common.key_id.as_deref() != Some(current.kid()) {
                retired.push(jwk);
            }
        }
        Ok(Self { current, retired })
    }

    /// Current key first, then the retired ones.
    pub fn jwks(&self) -> JwkSet {
        let mut keys = vec![self.current.jwk()];
        keys.extend(self.retired.iter().cloned());
        JwkSet { keys }
    }
}

fn load_or_create(path: &Path) -> anyhow::Result<SigningKey> {
    match std::fs::read_to_string(path) {
        Ok(pem) => {
            signing_key_from_pem(&pem).with_context(|| format!("signing key {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let generated = SigningKey::generate("probe")?;
            let pem = generated.to_pem();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            write_private(path, &pem)?;
            tracing::warn!(path = %path.display(), "generated a new token signing key");
            signing_key_from_pem(&pem)
        }
        Err(e) => Err(e).with_context(|| format!("reading signing key {}", path.display())),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // create_new: two instances starting together must not overwrite each
    // other's key; the loser reads the winner's.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(pem.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(not(unix))]
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_key_keeps_its_id_whether_given_as_private_or_public_pem() {
        let key = signing_key_from_pem(&SigningKey::generate("x").unwrap().to_pem()).unwrap();
        let public = public_bytes_of(&key).unwrap();
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&public);
        let public_pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&spki)
        );
        let from_public = retired_jwk(&public_pem).unwrap();
        let from_private = retired_jwk(&key.to_pem()).unwrap();
        assert_eq!(from_public.common.key_id.as_deref(), Some(key.kid()));
        assert_eq!(from_public, from_private);
    }
}
