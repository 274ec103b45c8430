//! The HTTP handlers, one module per endpoint family.

pub mod analysis;
pub mod collections;
pub mod faces;
pub mod keys;
pub mod liveness;
pub mod login;
pub mod ops;
pub mod sessions;
pub mod users;
pub mod verify;
pub mod web;
