//! Argon2id password hashes, computed off the async runtime.

use crate::configuration::PasswordHashCost;
use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// Hashes and verifies passwords at one configured cost. The hash string
/// records its own parameters, so a hash made at another cost still verifies.
#[derive(Clone)]
pub struct PasswordHasherService {
    cost: PasswordHashCost,
    /// A hash of a random password at the current cost: unknown accounts are
    /// verified against it, so a login for a missing user takes as long as one
    /// for an existing user (no account-existence leak through timing).
    decoy: String,
}

fn argon2(cost: PasswordHashCost) -> anyhow::Result<Argon2<'static>> {
    let params = match cost {
        // OWASP password storage cheat sheet: m=19 MiB, t=2, p=1.
        PasswordHashCost::Owasp => Params::new(19 * 1024, 2, 1, None),
        // The smallest argon2 accepts: milliseconds instead of ~50 ms per hash,
        // so a load test can create thousands of users. Refused in production.
        PasswordHashCost::DevFast => Params::new(8, 1, 1, None),
    }
    .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(cost: PasswordHashCost, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(cost)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

fn verify_blocking(hash: &str, password: &str) -> anyhow::Result<bool> {
    let parsed = PasswordHash::new(hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
    // Parameters come from the stored hash itself.
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(anyhow::anyhow!("verifying a password: {e}")),
    }
}

impl PasswordHasherService {
    pub async fn new(cost: PasswordHashCost) -> anyhow::Result<Self> {
        let random = uuid::Uuid::new_v4().to_string();
        let decoy = tokio::task::spawn_blocking(move || hash_blocking(cost, &random))
            .await
            .context("password hashing task")??;
        Ok(Self { cost, decoy })
    }

    #[tracing::instrument(name = "password.hash", skip_all)]
    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        let cost = self.cost;
        tokio::task::spawn_blocking(move || hash_blocking(cost, password.expose_secret()))
            .await
            .context("password hashing task")?
    }

    /// Whether `password` matches `hash`; with no hash (unknown account) the
    /// decoy is checked and the answer is always false.
    #[tracing::instrument(name = "password.verify", skip_all)]
    pub async fn verify(
        &self,
        hash: Option<String>,
        password: SecretString,
    ) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.clone());
        let matches =
            tokio::task::spawn_blocking(move || verify_blocking(&hash, password.expose_secret()))
                .await
                .context("password verification task")??;
        Ok(known && matches)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password_and_records_owasp_parameters() {
        let hasher = PasswordHasherService::new(PasswordHashCost::Owasp)
            .await
            .unwrap();
        let hash = hasher
            .hash(SecretString::from("correct horse battery"))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher
            .verify(
                Some(hash.clone()),
                SecretString::from("correct horse battery")
            )
            .await
            .unwrap());
        assert!(!hasher
            .verify(Some(hash), SecretString::from("wrong horse battery"))
            .await
            .unwrap());
        assert!(!hasher
            .verify(None, SecretString::from("anything at all"))
            .await
            .unwrap());
    }
}
