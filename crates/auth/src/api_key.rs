//! API keys: `fg_<key id>_<secret>`. The key id (12 characters of base32) is public: it names the key in
//! listings, logs and usage. The secret (32 random bytes, base64url) is shown once, when the key is created;
//! the store keeps only `s256$<salt>$<SHA-256(salt || secret)>`, with a random salt per key, and a presented
//! key is checked against it in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::{from_hex, random_bytes, to_hex};

pub const PREFIX: &str = "fg_";
const KEY_ID_LEN: usize = 12;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const HASH_SCHEME: &str = "s256";

/// A key just generated: give `token` to its owner, store `key_id` and `stored_hash`.
pub struct GeneratedKey {
    pub key_id: String,
    /// The whole key, `fg_<key id>_<secret>`: shown once, never stored.
    pub token: String,
    pub stored_hash: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey").field("key_id", &self.key_id).field("token", &"<secret>").finish()
    }
}

/// A presented key split into its parts (nothing checked yet but the shape).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyToken<'a> {
    pub key_id: &'a str,
    secret: &'a str,
}

impl std::fmt::Debug for KeyToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyToken").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

pub fn generate() -> GeneratedKey {
    let id_bytes: [u8; KEY_ID_LEN] = random_bytes();
    let key_id: String = id_bytes.iter().map(|b| BASE32[usize::from(b & 31)] as char).collect();
    let secret = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let salt: [u8; 16] = random_bytes();
    let stored_hash = format!("{HASH_SCHEME}${}${}", to_hex(&salt), to_hex(&digest(&salt, &secret)));
    GeneratedKey { token: format!("{PREFIX}{key_id}_{secret}"), key_id, stored_hash }
}

/// Splits `fg_<key id>_<secret>`; `None` for anything else (then the key cannot be one of ours).
pub fn parse(token: &str) -> Option<KeyToken<'_>> {
    let rest = token.strip_prefix(PREFIX)?;
    let (key_id, secret) = rest.split_once('_')?;
    let id_ok = key_id.len() == KEY_ID_LEN && key_id.bytes().all(|b| BASE32.contains(&b));
    let secret_ok = !secret.is_empty()
        && secret.len() <= 128
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(KeyToken { key_id, secret })
}

/// Whether the presented key's secret matches the stored hash (constant time in the secret).
pub fn verify(stored_hash: &str, presented: &KeyToken<'_>) -> bool {
    let mut parts = stored_hash.split('$');
    let (Some(HASH_SCHEME), Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(salt), Some(hash)) = (from_hex(salt), from_hex(hash)) else { return false };
    let computed = digest(&salt, presented.secret);
    hash.len() == computed.len() && bool::from(computed.as_slice().ct_eq(&hash))
}

fn digest(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// An AWS access key pair issued for an API key (Signature V4): `FGAK` + 16 characters of base32 (upper case,
/// the shape of AWS's own ids), and a 40-character secret. Unlike an API key's secret, the server keeps this
/// secret itself: Signature V4 is an HMAC with it.
pub struct AwsKeyPair {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for AwsKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKeyPair").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

pub const AWS_ACCESS_KEY_PREFIX: &str = "FGAK";

pub fn generate_aws_pair() -> AwsKeyPair {
    let id: String =
        random_bytes::<16>().iter().map(|b| BASE32[usize::from(b & 31)].to_ascii_uppercase() as char).collect();
    AwsKeyPair {
        access_key_id: format!("{AWS_ACCESS_KEY_PREFIX}{id}"),
        secret_access_key: URL_SAFE_NO_PAD.encode(random_bytes::<30>()),
    }
}

/// Whether a key id has the shape of ours (for path parameters).
pub fn valid_key_id(key_id: &str) -> bool {
    key_id.len() == KEY_ID_LEN && key_id.bytes().all(|b| BASE32.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_pairs_have_aws_shapes() {
        let (a, b) = (generate_aws_pair(), generate_aws_pair());
        assert_eq!((a.access_key_id.len(), a.secret_access_key.len()), (20, 40));
        assert!(a.access_key_id.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_ne!(a.secret_access_key, b.secret_access_key);
        assert!(!format!("{a:?}").contains(&a.secret_access_key));
    }

    #[test]
    fn generated_keys_verify_and_others_do_not() {
        let k = generate();
        assert!(k.token.starts_with("fg_"));
        let parsed = parse(&k.token).unwrap();
        assert_eq!(parsed.key_id, k.key_id);
        assert!(valid_key_id(&k.key_id));
        assert!(verify(&k.stored_hash, &parsed));
        assert!(!k.stored_hash.contains(&k.token[16..]), "the secret is not in the stored hash");

        let other = generate();
        assert_ne!(other.key_id, k.key_id);
        assert!(!verify(&other.stored_hash, &parsed));
        // Same id, another secret.
        let forged = format!("fg_{}_{}", k.key_id, URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert!(!verify(&k.stored_hash, &parse(&forged).unwrap()));
        // Same secret, salted differently: a different hash.
        assert!(!verify("s256$00$00", &parsed));
        assert!(!verify("md5$aa$bb", &parsed));
        assert!(!verify("", &parsed));
        assert!(format!("{k:?}").contains("<secret>"));
    }

    #[test]
    fn shapes() {
        assert!(parse("fg_abcdefghijkl_secret-part_with_underscores").is_some());
        assert!(parse("fg_abcdefghijk_short").is_none(), "11-character id");
        assert!(parse("fg_ABCDEFGHIJKL_x").is_none(), "upper case is not base32 here");
        assert!(parse("fg_abcdefghijkl_").is_none());
        assert!(parse("abcdefghijkl_x").is_none());
        assert!(parse("fg_abcdefghijkl_a b").is_none());
        assert!(parse("").is_none());
    }
}
