//! WebM recordings made at test time by Debian's ffmpeg from a shared real approach clip, encoded the way
//! Chromium's MediaRecorder writes them (VP8, a live WebM: no duration, no cues), decoded by the crate and
//! compared with ffmpeg's own decoding of the same bytes.

use std::ops::ControlFlow;
use std::process::Command;

use video::{decode_webm, Codec, Limits, VideoError};

const LIMITS: Limits = Limits { max_width: 1920, max_height: 1920, max_frames: 1000 };

fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(args)
        .output()
        .expect("ffmpeg runs (apt-get install ffmpeg)");
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn clip() -> String {
    let path = testkit::shared_data("approach/a03_genuine_aiphile_walk_to_webcam.mp4");
    assert!(path.exists(), "{} is missing", path.display());
    path.display().to_string()
}

/// Three seconds of the approach at 15 fps, 640x480, as a live VP8 WebM (what MediaRecorder writes).
fn recording(extra: &[&str]) -> Vec<u8> {
    let clip = clip();
    let mut args = vec!["-ss", "9", "-t", "3", "-i", &clip, "-an", "-vf", "fps=15"];
    args.extend_from_slice(extra);
    args.extend(["-c:v", "libvpx", "-b:v", "1M", "-f", "webm", "-live", "1", "pipe:1"]);
    ffmpeg(&args)
}

fn decode_all(bytes: &[u8], limits: &Limits) -> Result<(video::VideoInfo, Vec<video::Frame>), VideoError> {
    let mut frames = Vec::new();
    let info = decode_webm(bytes, limits, |f| {
        frames.push(f);
        ControlFlow::Continue(())
    })?;
    Ok((info, frames))
}

#[test]
fn a_live_vp8_recording_decodes_as_ffmpeg_decodes_it() {
    let bytes = recording(&[]);
    let (info, frames) = decode_all(&bytes, &LIMITS).expect("decodes");
    assert_eq!((info.codec, info.width, info.height, info.truncated), (Codec::Vp8, 640, 480, false));
    assert_eq!(info.frames as usize, frames.len());
    assert_eq!(frames.len(), 45, "3 s at 15 fps");
    // Timestamps from the container, 1/15 s apart.
    for pair in frames.windows(2) {
        let step = pair[1].timestamp_ms - pair[0].timestamp_ms;
        assert!((60..=73).contains(&step), "step {step} ms");
    }
    // The same pixels as ffmpeg's own VP8 decoder gives for the same bytes (colour conversion rounding and
    // chroma upsampling differ a little).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.webm");
    std::fs::write(&path, &bytes).unwrap();
    let raw = ffmpeg(&["-i", path.to_str().unwrap(), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
    let size = 640 * 480 * 3;
    assert_eq!(raw.len(), size * 45);
    for i in [0, 22, 44] {
        let theirs = &raw[i * size..(i + 1) * size];
        let ours = frames[i].image.as_raw();
        let mean: f64 = ours.iter().zip(theirs).map(|(a, b)| f64::from(a.abs_diff(*b))).sum::<f64>() / size as f64;
        assert!(mean < 2.5, "frame {i}: mean difference {mean:.2} from ffmpeg's decoding");
    }
}

#[test]
fn a_recording_cut_short_keeps_the_frames_before_the_cut() {
    let bytes = recording(&[]);
    let (_, all) = decode_all(&bytes, &LIMITS).unwrap();
    let (info, frames) = decode_all(&bytes[..bytes.len() * 6 / 10], &LIMITS).expect("the part before the cut");
    assert!(info.truncated);
    assert!(frames.len() > 10 && frames.len() < all.len(), "{} of {}", frames.len(), all.len());
    assert_eq!(frames[5].image.as_raw(), all[5].image.as_raw());
}

#[test]
fn the_caller_stops_the_decoding() {
    let bytes = recording(&[]);
    let mut seen = 0;
    let info = decode_webm(&bytes, &LIMITS, |_| {
        seen += 1;
        if seen == 5 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!((seen, info.frames), (5, 5));
}

#[test]
fn limits_are_typed_errors() {
    let bytes = recording(&[]);
    let small = Limits { max_width: 320, max_height: 320, max_frames: 1000 };
    assert!(matches!(
        decode_all(&bytes, &small),
        Err(VideoError::TooLarge { width: 640, height: 480, max_width: 320, max_height: 320 })
    ));
    let few = Limits { max_frames: 10, ..LIMITS };
    assert!(matches!(decode_all(&bytes, &few), Err(VideoError::TooManyFrames(10))));
}

#[test]
fn vp9_decodes_too() {
    let clip = clip();
    let bytes = ffmpeg(&[
        "-ss",
        "9",
        "-t",
        "1",
        "-i",
        &clip,
        "-an",
        "-vf",
        "fps=15",
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-f",
        "webm",
        "pipe:1",
    ]);
    let (info, frames) = decode_all(&bytes, &LIMITS).expect("decodes");
    assert_eq!((info.codec, frames.len()), (Codec::Vp9, 15));
}

#[test]
fn what_is_not_a_vp8_or_vp9_webm_is_refused_by_kind() {
    assert!(matches!(decode_all(b"", &LIMITS), Err(VideoError::Container(_))));
    assert!(matches!(decode_all(&[0x42u8; 4096], &LIMITS), Err(VideoError::Container(_))));
    let png = std::fs::read(testkit::shared_dir().join("models/reference/obama_aligned112.png")).expect("a PNG");
    assert!(matches!(decode_all(&png, &LIMITS), Err(VideoError::Container(_))));
    // Matroska with another codec (Motion JPEG): refused by its name.
    let clip = clip();
    let mjpeg = ffmpeg(&["-t", "1", "-i", &clip, "-an", "-c:v", "mjpeg", "-f", "matroska", "pipe:1"]);
    match decode_all(&mjpeg, &LIMITS) {
        Err(VideoError::UnsupportedCodec(id)) => assert_eq!(id, "V_MJPEG"),
        other => panic!("{:?}", other.map(|(i, _)| i)),
    }
    // A WebM whose VP8 frames are garbage: the decoder's error, not a panic.
    let mut broken = recording(&[]);
    let n = broken.len();
    for b in &mut broken[n / 10..n / 2] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    if let Err(e) = decode_all(&broken, &LIMITS) {
        assert!(e.is_client_error(), "{e}");
    }
}
