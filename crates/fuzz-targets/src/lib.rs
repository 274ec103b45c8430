//! The fuzz targets' bodies: what each one feeds to Facegate and the properties it checks besides "no panic"
//! (a violated property panics, as libFuzzer expects). `fuzz/fuzz_targets` hands libFuzzer's inputs to these
//! functions; `tests/corpora.rs` replays the seed corpora (fuzz/seeds.py) through them in every test run, so a
//! property broken on a known input fails `cargo test` without a fuzzing build.

pub mod api_request;
pub mod credentials;
pub mod decode_image;
pub mod sigv4;
pub mod torch_pth;

/// A target's body: one input, checked (a violated property panics).
pub type Check = fn(&[u8]);

/// The targets by name, as `scripts/fuzz` and the corpora's folders name them.
pub const TARGETS: &[(&str, Check)] = &[
    ("decode_image", decode_image::check),
    ("torch_pth", torch_pth::check),
    ("sigv4", sigv4::check),
    ("credentials", credentials::check),
    ("api_request", api_request::check),
];
