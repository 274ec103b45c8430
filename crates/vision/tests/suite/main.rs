//! The vision crate's integration tests, one binary (each module was its own binary, and each linked tract):
//! `cargo test --workspace --test suite -- faces::` runs one module. One pipeline serves every module.

mod common;

mod analysis;
mod decode;
mod faces;
mod onnxruntime;
mod reference;
