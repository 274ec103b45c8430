//! The video crate's integration tests, one binary (named `suite` like every crate's).

mod webm;
