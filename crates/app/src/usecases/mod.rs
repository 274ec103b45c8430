//! The use cases: what Facegate does, once, for every front door. The `/v1` handlers, the Rekognition-compatible
//! API and the CLI all call these; each takes typed input (image bytes, typed options) and returns a typed result
//! or an [`ApiError`](crate::error::ApiError) with its [`Code`](crate::error::Code). Nothing here knows of HTTP,
//! JSON field names or AWS (`tests::use_cases_know_no_front_door` checks the imports); `tests` runs them on the
//! real models, a real SQLite store and real photos.

pub mod analysis;
pub mod buckets;
pub mod collection_users;
pub mod collections;
pub mod faces;
pub mod keys;
pub mod liveness_sessions;
pub mod liveness_stream;
pub mod login_users;
pub mod verification;

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;
