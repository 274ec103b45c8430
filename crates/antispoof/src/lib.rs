//! Passive anti-spoofing (presentation attack detection) from one image.
//!
//! - [`pickle`] and [`pth`]: the official PyTorch weights are read directly, no Python, no conversion step;
//! - [`minifasnet`]: the MiniFASNetV2 and MiniFASNetV1SE networks, built in our own code as ONNX graphs from
//!   the weights (their channel widths are read from the tensors), so they run on the same inference backends
//!   as every other model (tract, or ONNX Runtime);
//! - [`passive`]: the crops each network expects (the face box scaled 2.7x / 4.0x), and the ensemble.

pub mod error;
pub mod minifasnet;
pub mod passive;
pub mod pickle;
pub mod pth;

pub use error::{AntispoofError, PthError};
pub use passive::{PassiveLiveness, PassiveScore, SpoofModelFile, SPOOF_MODELS};
