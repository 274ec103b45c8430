//! WebM (Matroska) demuxing: the first video track's frames, decoded in order.

use std::io::Cursor;
use std::ops::ControlFlow;

use image::RgbImage;
use matroska_demuxer::{Frame as Block, MatroskaFile, TrackType};

use crate::vpx::{Codec, Decoder};
use crate::VideoError;

/// What a video may hold at most.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_width: u32,
    pub max_height: u32,
    /// Frames decoded at most (shown or not).
    pub max_frames: u32,
}

/// The video track, as decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub codec: Codec,
    /// The track's declared size (each frame carries its own).
    pub width: u32,
    pub height: u32,
    /// Frames shown.
    pub frames: u32,
    /// The data ended inside an element: a recording cut short. The frames before the cut were decoded.
    pub truncated: bool,
}

/// One shown frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// From the start of the recording, milliseconds.
    pub timestamp_ms: i64,
    pub image: RgbImage,
}

/// Decodes the first video track of the WebM `bytes`, handing each shown frame to `on_frame` in order
/// until it answers [`ControlFlow::Break`]. Frames whose timestamps do not increase are handed over as they
/// come: judging their order is the caller's business.
pub fn decode_webm(
    bytes: &[u8],
    limits: &Limits,
    mut on_frame: impl FnMut(Frame) -> ControlFlow<()>,
) -> Result<VideoInfo, VideoError> {
    let mut file = MatroskaFile::open(Cursor::new(bytes)).map_err(|e| VideoError::Container(e.to_string()))?;
    let track = file.tracks().iter().find(|t| t.track_type() == TrackType::Video).ok_or(VideoError::NoVideoTrack)?;
    let codec = Codec::from_matroska(track.codec_id())
        .ok_or_else(|| VideoError::UnsupportedCodec(track.codec_id().to_string()))?;
    let number = track.track_number().get();
    let (width, height) = track.video().map(|v| (v.pixel_width().get(), v.pixel_height().get())).unwrap_or((0, 0));
    let too_large = |w: u64, h: u64| w > u64::from(limits.max_width) || h > u64::from(limits.max_height);
    if too_large(width, height) {
        return Err(VideoError::TooLarge { width, height, max_width: limits.max_width, max_height: limits.max_height });
    }
    // Nanoseconds per timestamp tick.
    let scale = file.info().timestamp_scale().get();
    let mut info = VideoInfo { codec, width: width as u32, height: height as u32, frames: 0, truncated: false };
    let mut decoder = Decoder::new(codec)?;
    let mut block = Block::default();
    let mut decoded = 0u32;
    loop {
        match file.next_frame(&mut block) {
            Ok(true) => {}
            Ok(false) => break,
            // A recording cut inside an element after some frames: keep what came before the cut.
            Err(_) if info.frames > 0 => {
                info.truncated = true;
                break;
            }
            Err(e) => return Err(VideoError::Container(e.to_string())),
        }
        if block.track != number {
            continue;
        }
        decoded += 1;
        if decoded > limits.max_frames {
            return Err(VideoError::TooManyFrames(limits.max_frames));
        }
        let timestamp_ms =
            i64::try_from(u128::from(block.timestamp) * u128::from(scale) / 1_000_000).unwrap_or(i64::MAX);
        let mut stop = false;
        let mut oversized = None;
        decoder.decode(&block.data, |image| {
            if stop || oversized.is_some() {
                return;
            }
            if too_large(u64::from(image.width()), u64::from(image.height())) {
                oversized = Some((image.width(), image.height()));
                return;
            }
            info.frames += 1;
            stop = on_frame(Frame { timestamp_ms, image }).is_break();
        })?;
        if let Some((w, h)) = oversized {
            return Err(VideoError::TooLarge {
                width: u64::from(w),
                height: u64::from(h),
                max_width: limits.max_width,
                max_height: limits.max_height,
            });
        }
        if stop {
            break;
        }
    }
    if info.frames == 0 {
        return Err(VideoError::Corrupt("no frame could be shown".into()));
    }
    Ok(info)
}
