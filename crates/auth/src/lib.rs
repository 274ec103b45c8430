//! Credentials for the Facegate API, without HTTP:
//! - [`api_key`]: API keys — generated from the OS's CSPRNG, shown once, stored as a salted hash, verified in
//!   constant time;
//! - [`scope`]: what a key may do (`admin`, `faces:compare`, `collections:read`, ...) and on which collections;
//! - [`limiter`]: token buckets (per key, per client address) answering how long to wait;
//! - [`jwt`]: signed tokens (EdDSA/Ed25519 or HS256) for face login, and the JWKS that publishes their keys.

pub mod api_key;
pub mod jwt;
pub mod limiter;
pub mod scope;
pub mod secret;
pub mod sigv4;

pub use api_key::{GeneratedKey, KeyToken};
pub use jwt::{Claims, Jwk, SigningKey, TokenError, Validation, VerifyingKey};
pub use limiter::RateLimiter;
pub use scope::{Access, Scope, ScopeError};
