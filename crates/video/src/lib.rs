//! Video decoding for the liveness stream.
//!
//! Amplify's `FaceLivenessDetector` records the camera with the browser's `MediaRecorder` and sends one
//! continuous WebM, cut into chunks; Chromium writes VP8 in it, with no duration and no cues (a live recording).
//! [`decode_webm`] demuxes the WebM ([`matroska_demuxer`], pure Rust) and decodes its video track with the
//! system's libvpx ([`vpx`]), handing each shown frame, as RGB with its timestamp, to a callback that may stop
//! the decoding: the caller keeps only the frames it measures, never the whole video in memory.

mod vpx;
mod webm;
mod yuv;

pub use vpx::{available, Codec};
pub use webm::{decode_webm, Frame, Limits, VideoInfo};

/// Why a video could not be decoded: the client's bytes (except [`VideoError::Decoder`] when libvpx cannot
/// start, a server fault).
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("the video is not a WebM (Matroska) file: {0}")]
    Container(String),
    #[error("the video has no video track")]
    NoVideoTrack,
    #[error("the video's codec {0} is not supported (VP8 or VP9 in WebM)")]
    UnsupportedCodec(String),
    #[error("the video is {width}x{height}: at most {max_width}x{max_height} is accepted")]
    TooLarge { width: u64, height: u64, max_width: u32, max_height: u32 },
    #[error("the video has more than {0} frames")]
    TooManyFrames(u32),
    #[error("the video's frames could not be decoded: {0}")]
    Corrupt(String),
    #[error("the video decoder could not start: {0}")]
    Decoder(String),
}

impl VideoError {
    /// Whether the fault is the video's (the client's), not the server's.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, VideoError::Decoder(_))
    }
}
