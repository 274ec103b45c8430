use thiserror::Error;

/// Reading a PyTorch checkpoint.
#[derive(Debug, Error)]
pub enum PthError {
    #[error("the checkpoint ends early")]
    Truncated,
    #[error("invalid pickle: {0}")]
    Pickle(String),
    #[error("not a PyTorch checkpoint: {0}")]
    Format(String),
    #[error("tensor {name}: {message}")]
    Tensor { name: String, message: String },
}

/// Building or running the anti-spoofing models.
#[derive(Debug, Error)]
pub enum AntispoofError {
    #[error("{file}: {source}")]
    Checkpoint { file: String, source: PthError },
    #[error("{file}: the weights do not fit a MiniFASNet: {message}")]
    Architecture { file: String, message: String },
    #[error(
        "passive liveness needs {missing} in the models directory ({dir}); see MODELS.md for where they come from"
    )]
    ModelUnavailable { missing: String, dir: String },
    #[error("{file}: SHA-256 {actual} is not the published one ({expected})")]
    Checksum { file: String, expected: String, actual: String },
    #[error(transparent)]
    Vision(#[from] vision::VisionError),
    #[error("{0}")]
    Io(String),
}
