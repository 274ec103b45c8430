//! The HTTP handlers, one module per endpoint family.

pub mod collections;
pub mod faces;
pub mod ops;
