//! Liveness challenges, judged on the server from what the face analysis measures.
//!
//! [`Signals`] are one frame's measurements of one face (pose, eye openness, smile, nose tip in normalised
//! frame coordinates). [`Criteria`] hold the thresholds. [`check`] decides one challenge [`Kind`] on a
//! frame, optionally against a baseline frame of the same person (neutral face, eyes open, looking ahead):
//! with a baseline, a challenge must show a *change* from it, not merely a state — a photo of a smiling
//! person does not pass "smile" against a baseline of the same photo.

pub mod approach;
pub mod check;
pub mod geometry;
pub mod light;
pub mod measure;
pub mod replay;
pub mod scene;
pub mod session;
pub mod signals;
pub mod stream;

pub use check::{check, CheckOutcome, Criteria, Kind, Reason, Target, SESSION_KINDS};
pub use measure::{
    measure_faces, FrameMeasurement, FrameStamp, MeasureError, MeasuredFace, PreparedFrame, TakenFrame, Template,
};
pub use session::{
    confidence, ChallengeEvidence, ChallengeSpec, FaceArea, FailReason, Feedback, FrameError, FrameVerdict, Guidance,
    Observation, ObservedFace, Session, SessionOptions, SessionResult, Status,
};
pub use signals::Signals;
