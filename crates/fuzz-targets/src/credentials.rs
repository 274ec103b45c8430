//! The other credentials a request may carry: face-login JWTs (EdDSA and HS256 keys known) and API keys. Never
//! a panic, and nothing fuzzed is ever accepted (a fuzzer cannot forge an Ed25519 or HMAC signature or guess a
//! salted hash, so an acceptance is a verification bug).

use auth::jwt::{self, SigningKey, Validation};

/// One input: no panic, and the properties above.
pub fn check(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let ed = SigningKey::ed25519_from_seed("ed".into(), [7; 32]).verifying_key();
    let hs = SigningKey::hs256("hs".into(), b"0123456789abcdef0123456789abcdef".to_vec()).verifying_key();
    let validation =
        Validation { issuer: "facegate".into(), audience: "facegate".into(), now: 1_795_000_000, leeway: 60 };
    let _ = jwt::peek_kid(token);
    let verified = jwt::verify(token, &validation, |kid| match kid {
        "ed" => Some(ed.clone()),
        "hs" => Some(hs.clone()),
        _ => None,
    });
    assert!(verified.is_err(), "a fuzzed token verified: {verified:?}");
    if let Some(key) = auth::api_key::parse(token) {
        let stored =
            "s256$00112233445566778899aabbccddeeff$0000000000000000000000000000000000000000000000000000000000000000";
        assert!(!auth::api_key::verify(stored, &key), "a fuzzed key matched a stored hash");
        assert!(auth::api_key::valid_key_id(key.key_id));
    }
}
