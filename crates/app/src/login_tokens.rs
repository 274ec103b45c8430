//! Face-login tokens: issuing them, checking them, and publishing the keys that check them.
//!
//! With EdDSA (the default) the signing keys live in the store, so every replica signs and verifies with the
//! same keys: one current key, and retired keys kept (and published in the JWKS) until every token they
//! signed has expired. Replicas re-read the keys every 30 seconds and at once when a token names a key they
//! do not know. With HS256 the configured secret is the only key, and the JWKS is empty.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use auth::jwt::{self, Claims, Jwk, SigningKey, TokenError, Validation, VerifyingKey};
use store::{Store, StoreError, StoredSigningKey};
use uuid::Uuid;

use crate::config::ServerConfig;

/// Clock skew tolerated between replicas and the services that check tokens, seconds.
const LEEWAY_SECS: i64 = 30;
/// How often each replica re-reads the signing keys.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// A token naming an unknown key makes a replica re-read the keys at most this often.
const MIN_RELOAD_GAP: Duration = Duration::from_secs(1);

struct Keys {
    current: SigningKey,
    verifying: Vec<VerifyingKey>,
    loaded: Instant,
}

pub struct Keyring {
    store: Store,
    /// HS256: the fixed key; `None` with EdDSA (keys in the store).
    fixed: Option<SigningKey>,
    keys: RwLock<Keys>,
    ttl_secs: i64,
    issuer: String,
    audience: String,
}

/// A token just issued.
pub struct Issued {
    pub token: String,
    pub claims: Claims,
}

fn now_secs() -> i64 {
    store::now_millis().div_euclid(1000)
}

fn stored(key: &SigningKey) -> StoredSigningKey {
    let public = match key.verifying_key() {
        VerifyingKey::Ed25519 { key, .. } => key.to_bytes().to_vec(),
        VerifyingKey::Hmac { .. } => Vec::new(),
    };
    StoredSigningKey {
        kid: key.kid().to_string(),
        algorithm: "EdDSA".into(),
        private_key: key.ed25519_seed().map(|s| s.to_vec()).unwrap_or_default(),
        public_key: public,
        created_at: store::now_millis(),
        retired_at: None,
    }
}

fn from_stored(s: &StoredSigningKey) -> Result<(SigningKey, VerifyingKey), StoreError> {
    let seed: [u8; 32] = s
        .private_key
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("signing key {} is not a 32-byte Ed25519 seed", s.kid)))?;
    let signing = SigningKey::ed25519_from_seed(s.kid.clone(), seed);
    let verifying = signing.verifying_key();
    let matches = matches!(&verifying, VerifyingKey::Ed25519 { key, .. } if key.as_bytes().as_slice() == s.public_key);
    if !matches {
        return Err(StoreError::Corrupt(format!(
            "signing key {}: the public key does not match the private key",
            s.kid
        )));
    }
    Ok((signing, verifying))
}

impl Keyring {
    /// The keys for `config`: the HS256 secret, or the store's current Ed25519 key (created on first start).
    pub async fn load(store: Store, config: &ServerConfig) -> Result<Self, StoreError> {
        let fixed = match (config.token_algorithm, &config.token_secret) {
            (crate::config::TokenAlgorithm::Hs256, Some(secret)) => {
                Some(SigningKey::hs256("hs256".into(), secret.expose().as_bytes().to_vec()))
            }
            _ => None,
        };
        let keys = match &fixed {
            Some(key) => Keys { current: key.clone(), verifying: vec![key.verifying_key()], loaded: Instant::now() },
            None => {
                let current = store.current_signing_key_or(&stored(&SigningKey::generate_ed25519())).await?;
                let (current, verifying) = from_stored(&current)?;
                Keys { current, verifying: vec![verifying], loaded: Instant::now() }
            }
        };
        let ring = Keyring {
            store,
            fixed,
            keys: RwLock::new(keys),
            ttl_secs: i64::try_from(config.token_ttl_seconds).unwrap_or(i64::MAX),
            issuer: config.token_issuer.clone(),
            audience: config.token_audience.clone(),
        };
        ring.refresh().await?;
        Ok(ring)
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Re-reads the store's keys: the current one signs; it and those retired less than a token lifetime
    /// ago verify.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        if self.fixed.is_some() {
            return Ok(());
        }
        let cutoff = store::now_millis() - (self.ttl_secs + LEEWAY_SECS) * 1000;
        let stored = self.store.signing_keys(cutoff).await?;
        let mut current = None;
        let mut verifying = Vec::with_capacity(stored.len());
        for s in &stored {
            let (signing, verify) = from_stored(s)?;
            if s.retired_at.is_none() && current.is_none() {
                current = Some(signing);
            }
            verifying.push(verify);
        }
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = current {
            keys.current = current;
        }
        if !verifying.is_empty() {
            keys.verifying = verifying;
        }
        keys.loaded = Instant::now();
        Ok(())
    }

    /// Makes a new Ed25519 key current; the old one keeps verifying until its tokens expire. `None` with HS256.
    pub async fn rotate(&self) -> Result<Option<String>, StoreError> {
        if self.fixed.is_some() {
            return Ok(None);
        }
        let key = SigningKey::generate_ed25519();
        self.store.rotate_signing_key(&stored(&key)).await?;
        self.refresh().await?;
        Ok(Some(key.kid().to_string()))
    }

    /// A signed token for `user_id`.
    /// A token for the user record `user_id` created at `user_created_at` (ms): the token opens that record
    /// only, not a later one under the same id.
    pub fn issue(
        &self,
        user_id: &str,
        user_created_at: i64,
        similarity: f32,
        amr: Vec<String>,
    ) -> Result<Issued, TokenError> {
        let now = now_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user_id.to_string(),
            aud: self.audience.clone(),
            iat: now,
            exp: now.saturating_add(self.ttl_secs),
            jti: Uuid::new_v4().to_string(),
            similarity: Some((similarity * 100.0).round() / 100.0),
            amr,
            user_created_at: Some(user_created_at),
        };
        let key = self.keys.read().unwrap_or_else(|p| p.into_inner()).current.clone();
        Ok(Issued { token: key.sign(&claims)?, claims })
    }

    fn find(&self, kid: &str) -> Option<VerifyingKey> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.verifying.iter().find(|k| k.kid() == kid).cloned()
    }

    /// Checks a token's signature and claims (not its revocation: see [`Keyring::check_revoked`]).
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let validation = Validation {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            now: now_secs(),
            leeway: LEEWAY_SECS,
        };
        if let Some(kid) = jwt::peek_kid(token) {
            let stale = self.keys.read().unwrap_or_else(|p| p.into_inner()).loaded.elapsed() >= MIN_RELOAD_GAP;
            if self.find(&kid).is_none() && stale {
                // Another replica may have rotated: re-read once before refusing.
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "re-reading the signing keys failed");
                }
            }
        }
        jwt::verify(token, &validation, |kid| self.find(kid))
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.store.is_token_revoked(jti).await
    }

    /// Revokes a token id until `expires_at` (seconds; by default the longest a token can live from now).
    pub async fn revoke(&self, jti: &str, expires_at: Option<i64>) -> Result<bool, StoreError> {
        let until = expires_at.unwrap_or_else(|| now_secs().saturating_add(self.ttl_secs + LEEWAY_SECS));
        self.store.revoke_token(jti, until.saturating_mul(1000)).await
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Vec<Jwk> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.verifying.iter().filter_map(VerifyingKey::to_jwk).collect()
    }

    /// Re-reads the keys every [`REFRESH_INTERVAL`] until the task is aborted.
    pub fn follow(self: &std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        let ring = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = ring.refresh().await {
                    tracing::warn!(error = %e, "re-reading the signing keys failed");
                }
            }
        })
    }
}
