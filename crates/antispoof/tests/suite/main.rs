//! The anti-spoofing crate's integration tests, one binary (named `suite` like every crate's).

mod reference;
