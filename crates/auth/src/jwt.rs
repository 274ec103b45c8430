//! Signed tokens (JWS compact JWTs) for face login: EdDSA with Ed25519 by default, so other services can check
//! a token with nothing but the public keys of the JWKS; HS256 with a shared secret as an option.
//!
//! Verification trusts nothing in the token before its signature holds: the header must name a supported
//! algorithm (`none` never is), a `kid` this server knows, and the very algorithm of that key (no algorithm
//! confusion); then the claims must be in date and for this issuer and audience.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::Signer;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::secret::{random_bytes, to_hex};

/// Longest token looked at (a token is a few hundred bytes; this bounds the work an attacker can cause).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    EdDsa,
    Hs256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Hs256 => "HS256",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "EdDSA" => Some(Algorithm::EdDsa),
            "HS256" => Some(Algorithm::Hs256),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    #[error("the token names no key this server knows")]
    UnknownKey,
    #[error("the token's algorithm does not match its key")]
    AlgorithmMismatch,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued in the future")]
    NotYetValid,
    #[error("the token is for another issuer")]
    WrongIssuer,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the key cannot be used: {0}")]
    Key(String),
}

/// What a face-login token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user id.
    pub sub: String,
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// Unique token id (for revocation).
    pub jti: String,
    /// The calibrated similarity (0-100) of the face that logged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// How the user authenticated: `face`, and `liveness` when a liveness session was passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// When the user record the token was issued to was created (ms since the epoch): a user id deleted and
    /// registered again is another record, which the old tokens must not open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_created_at: Option<i64>,
}

/// The claims as they arrive: `aud` may be a string or a list.
#[derive(Deserialize)]
struct ReceivedClaims {
    iss: String,
    sub: String,
    aud: Audience,
    iat: i64,
    exp: i64,
    /// Not before (RFC 7519 4.1.5): Facegate's own tokens carry none, but a token that says so is held to it.
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
    #[serde(default)]
    similarity: Option<f32>,
    #[serde(default)]
    amr: Vec<String>,
    #[serde(default)]
    user_created_at: Option<i64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    /// Critical extensions: none are supported, so a token that has any is refused (RFC 7515 §4.1.11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crit: Option<serde_json::Value>,
}

/// What a verified token must satisfy.
#[derive(Debug, Clone)]
pub struct Validation {
    pub issuer: String,
    pub audience: String,
    /// Seconds since the epoch.
    pub now: i64,
    /// Clock skew tolerated, seconds.
    pub leeway: i64,
}

/// A private key that signs tokens.
#[derive(Clone)]
pub enum SigningKey {
    Ed25519 { kid: String, key: ed25519_dalek::SigningKey },
    Hmac { kid: String, secret: Vec<u8> },
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid()).field("alg", &self.algorithm()).finish_non_exhaustive()
    }
}

/// A key that checks tokens (the public half of an Ed25519 key, or the HS256 secret).
#[derive(Clone)]
pub enum VerifyingKey {
    Ed25519 { kid: String, key: ed25519_dalek::VerifyingKey },
    Hmac { kid: String, secret: Vec<u8> },
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey").field("kid", &self.kid()).finish_non_exhaustive()
    }
}

/// A public key as published in a JWKS (RFC 8037: `OKP`, `Ed25519`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

impl SigningKey {
    /// A new Ed25519 key from the OS's CSPRNG, with a random key id.
    pub fn generate_ed25519() -> Self {
        let kid = to_hex(&random_bytes::<8>());
        Self::ed25519_from_seed(kid, random_bytes())
    }

    pub fn ed25519_from_seed(kid: String, seed: [u8; 32]) -> Self {
        SigningKey::Ed25519 { kid, key: ed25519_dalek::SigningKey::from_bytes(&seed) }
    }

    /// An HS256 key; the secret should hold at least 32 bytes.
    pub fn hs256(kid: String, secret: Vec<u8>) -> Self {
        SigningKey::Hmac { kid, secret }
    }

    pub fn kid(&self) -> &str {
        match self {
            SigningKey::Ed25519 { kid, .. } | SigningKey::Hmac { kid, .. } => kid,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Ed25519 { .. } => Algorithm::EdDsa,
            SigningKey::Hmac { .. } => Algorithm::Hs256,
        }
    }

    /// The Ed25519 seed (the private key), to persist it.
    pub fn ed25519_seed(&self) -> Option<[u8; 32]> {
        match self {
            SigningKey::Ed25519 { key, .. } => Some(key.to_bytes()),
            SigningKey::Hmac { .. } => None,
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Ed25519 { kid, key } => VerifyingKey::Ed25519 { kid: kid.clone(), key: key.verifying_key() },
            SigningKey::Hmac { kid, secret } => VerifyingKey::Hmac { kid: kid.clone(), secret: secret.clone() },
        }
    }

    /// The compact JWS of `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let header = Header {
            alg: self.algorithm().as_str().to_string(),
            kid: Some(self.kid().to_string()),
            typ: Some("JWT".into()),
            crit: None,
        };
        let encode = |v: &dyn erased::Json| -> Result<String, TokenError> {
            Ok(URL_SAFE_NO_PAD.encode(v.to_json().map_err(|e| TokenError::Key(e.to_string()))?))
        };
        let signing_input = format!("{}.{}", encode(&header)?, encode(claims)?);
        let signature = match self {
            SigningKey::Ed25519 { key, .. } => key.sign(signing_input.as_bytes()).to_bytes().to_vec(),
            SigningKey::Hmac { secret, .. } => hmac(secret, signing_input.as_bytes())?.finalize().into_bytes().to_vec(),
        };
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

mod erased {
    pub trait Json {
        fn to_json(&self) -> serde_json::Result<Vec<u8>>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Result<Vec<u8>> {
            serde_json::to_vec(self)
        }
    }
}

fn hmac(secret: &[u8], data: &[u8]) -> Result<Hmac<Sha256>, TokenError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|e| TokenError::Key(e.to_string()))?;
    mac.update(data);
    Ok(mac)
}

impl VerifyingKey {
    pub fn ed25519_from_public(kid: String, public: &[u8]) -> Result<Self, TokenError> {
        let bytes: [u8; 32] =
            public.try_into().map_err(|_| TokenError::Key("an Ed25519 public key has 32 bytes".into()))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| TokenError::Key(e.to_string()))?;
        Ok(VerifyingKey::Ed25519 { kid, key })
    }

    pub fn kid(&self) -> &str {
        match self {
            VerifyingKey::Ed25519 { kid, .. } | VerifyingKey::Hmac { kid, .. } => kid,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            VerifyingKey::Ed25519 { .. } => Algorithm::EdDsa,
            VerifyingKey::Hmac { .. } => Algorithm::Hs256,
        }
    }

    /// The public key as a JWK; `None` for HS256 (a shared secret is never published).
    pub fn to_jwk(&self) -> Option<Jwk> {
        match self {
            VerifyingKey::Ed25519 { kid, key } => Some(Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
                kid: kid.clone(),
                alg: Algorithm::EdDsa.as_str().into(),
                use_: "sig".into(),
            }),
            VerifyingKey::Hmac { .. } => None,
        }
    }

    fn check_signature(&self, signing_input: &[u8], signature: &[u8]) -> Result<(), TokenError> {
        match self {
            VerifyingKey::Ed25519 { key, .. } => {
                let signature =
                    ed25519_dalek::Signature::from_slice(signature).map_err(|_| TokenError::BadSignature)?;
                key.verify_strict(signing_input, &signature).map_err(|_| TokenError::BadSignature)?;
                Ok(())
            }
            VerifyingKey::Hmac { secret, .. } => {
                hmac(secret, signing_input)?.verify_slice(signature).map_err(|_| TokenError::BadSignature)
            }
        }
    }
}

/// The key id a token names, read without checking anything (to pick the key).
pub fn peek_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    header.kid
}

/// Checks a token's signature with the key `find` gives for its `kid`, then its claims against `validation`.
pub fn verify(
    token: &str,
    validation: &Validation,
    find: impl FnOnce(&str) -> Option<VerifyingKey>,
) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed);
    let header: Header = serde_json::from_slice(&decode(header_b64)?).map_err(|_| TokenError::Malformed)?;
    let alg = Algorithm::parse(&header.alg).ok_or_else(|| TokenError::UnsupportedAlgorithm(header.alg.clone()))?;
    if header.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = find(&kid).ok_or(TokenError::UnknownKey)?;
    if key.algorithm() != alg {
        return Err(TokenError::AlgorithmMismatch);
    }
    let signature = decode(signature_b64)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    key.check_signature(signing_input.as_bytes(), &signature)?;

    let received: ReceivedClaims = serde_json::from_slice(&decode(payload_b64)?).map_err(|_| TokenError::Malformed)?;
    if validation.now >= received.exp.saturating_add(validation.leeway) {
        return Err(TokenError::Expired);
    }
    let not_before = received.nbf.unwrap_or(received.iat).max(received.iat);
    if not_before > validation.now.saturating_add(validation.leeway) {
        return Err(TokenError::NotYetValid);
    }
    if received.iss != validation.issuer {
        return Err(TokenError::WrongIssuer);
    }
    let aud = match received.aud {
        Audience::One(a) if a == validation.audience => a,
        Audience::Many(list) if list.contains(&validation.audience) => validation.audience.clone(),
        _ => return Err(TokenError::WrongAudience),
    };
    Ok(Claims {
        iss: received.iss,
        sub: received.sub,
        aud,
        iat: received.iat,
        exp: received.exp,
        jti: received.jti,
        similarity: received.similarity,
        amr: received.amr,
        user_created_at: received.user_created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "facegate".into(),
            sub: "alice".into(),
            aud: "app".into(),
            iat: now,
            exp: now + 60,
            jti: "j1".into(),
            similarity: Some(91.5),
            amr: vec!["face".into()],
            user_created_at: Some(1_700_000_000_000),
        }
    }

    fn validation(now: i64) -> Validation {
        Validation { issuer: "facegate".into(), audience: "app".into(), now, leeway: 0 }
    }

    fn b64json(v: serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn ed25519_tokens_verify_with_the_public_key_only() {
        let key = SigningKey::generate_ed25519();
        let public = key.verifying_key();
        let token = key.sign(&claims(1000)).unwrap();
        assert_eq!(peek_kid(&token).as_deref(), Some(key.kid()));
        let got = verify(&token, &validation(1010), |kid| (kid == public.kid()).then(|| public.clone())).unwrap();
        assert_eq!(got, claims(1000));
        // The JWK round-trips to a key that verifies.
        let jwk = public.to_jwk().unwrap();
        let x = URL_SAFE_NO_PAD.decode(&jwk.x).unwrap();
        let from_jwk = VerifyingKey::ed25519_from_public(jwk.kid.clone(), &x).unwrap();
        assert!(verify(&token, &validation(1010), |_| Some(from_jwk.clone())).is_ok());
    }

    #[test]
    fn tampering_and_bad_claims_are_refused() {
        let key = SigningKey::generate_ed25519();
        let public = key.verifying_key();
        let find = |_: &str| Some(public.clone());
        let token = key.sign(&claims(1000)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();

        // A changed payload (another user) keeps the old signature.
        let mut forged = claims(1000);
        forged.sub = "mallory".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let t = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(verify(&t, &validation(1010), find), Err(TokenError::BadSignature));

        // alg none, with or without a signature.
        let none = b64json(serde_json::json!({"alg": "none", "kid": key.kid()}));
        for t in [format!("{none}.{}.", parts[1]), format!("{none}.{}.{}", parts[1], parts[2])] {
            assert_eq!(verify(&t, &validation(1010), find), Err(TokenError::UnsupportedAlgorithm("none".into())));
        }
        // HS256 signed with the public key as the secret (algorithm confusion).
        let confused = SigningKey::hs256(key.kid().into(), public.to_jwk().unwrap().x.into_bytes());
        let t = confused.sign(&claims(1000)).unwrap();
        assert_eq!(verify(&t, &validation(1010), find), Err(TokenError::AlgorithmMismatch));
        // A kid nobody knows.
        assert_eq!(verify(&token, &validation(1010), |_| None), Err(TokenError::UnknownKey));
        // Another key's signature.
        let other = SigningKey::generate_ed25519().verifying_key();
        assert_eq!(verify(&token, &validation(1010), |_| Some(other.clone())), Err(TokenError::BadSignature));
        // Dates, issuer, audience.
        assert_eq!(verify(&token, &validation(1060), find), Err(TokenError::Expired));
        assert_eq!(verify(&token, &validation(900), find), Err(TokenError::NotYetValid));
        let v = Validation { issuer: "other".into(), ..validation(1010) };
        assert_eq!(verify(&token, &v, find), Err(TokenError::WrongIssuer));
        let v = Validation { audience: "other".into(), ..validation(1010) };
        assert_eq!(verify(&token, &v, find), Err(TokenError::WrongAudience));
        // Shapes.
        for bad in ["", "a.b", "a.b.c.d", "!!.??.**", &"x".repeat(MAX_TOKEN_BYTES + 1)] {
            assert_eq!(verify(bad, &validation(1010), find), Err(TokenError::Malformed), "{bad:.20}");
        }
        // A signed `nbf` in the future holds the token back until then.
        let hs = SigningKey::hs256("n".into(), b"0123456789abcdef0123456789abcdef".to_vec());
        let header = b64json(serde_json::json!({"alg": "HS256", "kid": "n"}));
        let later = b64json(serde_json::json!({"iss": "facegate", "sub": "bob", "aud": "app",
            "iat": 1000, "nbf": 1030, "exp": 2000, "jti": "j"}));
        let input = format!("{header}.{later}");
        let sig = URL_SAFE_NO_PAD
            .encode(hmac(b"0123456789abcdef0123456789abcdef", input.as_bytes()).unwrap().finalize().into_bytes());
        let held = format!("{input}.{sig}");
        let public = hs.verifying_key();
        assert_eq!(verify(&held, &validation(1010), |_| Some(public.clone())), Err(TokenError::NotYetValid));
        assert!(verify(&held, &validation(1030), |_| Some(public.clone())).is_ok());
        // A critical extension we do not understand.
        let crit = b64json(serde_json::json!({"alg": "EdDSA", "kid": key.kid(), "crit": ["exp"]}));
        let t = format!("{crit}.{}.{}", parts[1], parts[2]);
        assert_eq!(verify(&t, &validation(1010), find), Err(TokenError::Malformed));
    }

    #[test]
    fn hs256_round_trip_and_list_audiences() {
        let key = SigningKey::hs256("h".into(), b"0123456789abcdef0123456789abcdef".to_vec());
        let public = key.verifying_key();
        assert!(public.to_jwk().is_none());
        let token = key.sign(&claims(1000)).unwrap();
        assert!(verify(&token, &validation(1001), |_| Some(public.clone())).is_ok());
        let wrong = SigningKey::hs256("h".into(), b"another secret of thirty-two bytes".to_vec()).verifying_key();
        assert_eq!(verify(&token, &validation(1001), |_| Some(wrong.clone())), Err(TokenError::BadSignature));

        // `aud` as a list is accepted when it holds ours.
        let header = b64json(serde_json::json!({"alg": "HS256", "kid": "h"}));
        let payload = b64json(serde_json::json!({"iss": "facegate", "sub": "bob", "aud": ["x", "app"],
            "iat": 1000, "exp": 2000, "jti": "j"}));
        let input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD
            .encode(hmac(b"0123456789abcdef0123456789abcdef", input.as_bytes()).unwrap().finalize().into_bytes());
        let got = verify(&format!("{input}.{sig}"), &validation(1001), |_| Some(public.clone())).unwrap();
        assert_eq!((got.sub.as_str(), got.aud.as_str()), ("bob", "app"));
    }
}
