//! Session tokens: `fls_<session id>_<secret>`, handed to the browser that runs a liveness session; the store
//! keeps only their SHA-256.

use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult, Code};

/// Session tokens: `fls_<session id>_<secret>`.
pub const SESSION_TOKEN_PREFIX: &str = "fls_";

pub fn sha256_hex(bytes: &[u8]) -> String {
    auth::secret::to_hex(&Sha256::digest(bytes))
}

/// A new session token for `session_id`, and the hash the store keeps.
pub fn new_token(session_id: &str) -> (String, String) {
    let secret = auth::secret::to_hex(&auth::secret::random_bytes::<24>());
    let token = format!("{SESSION_TOKEN_PREFIX}{session_id}_{secret}");
    let hash = sha256_hex(token.as_bytes());
    (token, hash)
}

/// Checks a presented session token against the session's stored hash.
pub fn verify_token(token: &str, session_id: &str, stored_hash: &str) -> ApiResult<()> {
    let named = token.strip_prefix(SESSION_TOKEN_PREFIX).and_then(|rest| rest.rsplit_once('_')).map(|(id, _)| id);
    if named.is_some_and(|id| id != session_id) {
        return Err(ApiError::new(Code::SessionTokenMismatch, "this session token belongs to another session"));
    }
    let presented = sha256_hex(token.as_bytes());
    if named.is_none() || !auth::secret::secrets_equal(presented.as_bytes(), stored_hash.as_bytes()) {
        return Err(ApiError::new(Code::InvalidSessionToken, "the session token is not valid"));
    }
    Ok(())
}
