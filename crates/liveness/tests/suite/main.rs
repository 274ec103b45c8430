//! The liveness crate's integration tests, one binary: `cargo test --workspace --test suite -- scene::` runs
//! one module. One pipeline serves every module.

mod common;

mod check;
mod scene;
mod session;
