//! Frames for `facegate eval attacks`: the shared data read and turned into what an attacker (or a live person)
//! would put in front of a camera — stills placed on a 640x480 frame, slid across it, turned in perspective,
//! re-encoded; videos decoded to frames at the session's frame rate (with `ffmpeg`).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use image::{DynamicImage, GrayImage, ImageFormat, Rgb, RgbImage};

/// The camera frame size.
pub const W: u32 = 640;
pub const H: u32 = 480;

/// Decodes `video` to RGB frames at `fps` with `ffmpeg` (PNG frames in a temporary folder).
pub fn video_frames(video: &Path, fps: u32) -> Result<Vec<RgbImage>> {
    decode_video(video, &format!("fps={fps}"))
}

/// Decodes `video` at `fps`, each frame scaled down to at most `max_width` pixels across (a browser client's
/// camera frame; aspect kept).
pub fn video_frames_at_most(video: &Path, fps: u32, max_width: u32) -> Result<Vec<RgbImage>> {
    decode_video(video, &format!("fps={fps},scale='min({max_width},iw)':-2"))
}

fn decode_video(video: &Path, filter: &str) -> Result<Vec<RgbImage>> {
    let dir = tempfile::tempdir().context("a temporary folder for video frames")?;
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-nostdin", "-i"])
        .arg(video)
        .args(["-vf", filter])
        .arg(dir.path().join("%05d.png"))
        .output()
        .context("running ffmpeg (needed to read the shared videos: apt-get install ffmpeg)")?;
    if !out.status.success() {
        bail!("ffmpeg could not decode {}: {}", video.display(), String::from_utf8_lossy(&out.stderr));
    }
    let mut files: Vec<_> = std::fs::read_dir(dir.path())?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files.iter().map(|p| Ok(image::open(p).with_context(|| p.display().to_string())?.to_rgb8())).collect()
}

pub fn load(path: &Path) -> Result<RgbImage> {
    Ok(image::open(path).with_context(|| format!("reading {}", path.display()))?.to_rgb8())
}

/// Encodes a frame as a camera client would: JPEG at `quality`, or PNG when `quality` is `None`.
pub fn encode(img: &RgbImage, quality: Option<u8>) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let written = match quality {
        Some(q) => image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q).encode_image(img),
        None => DynamicImage::ImageRgb8(img.clone()).write_to(&mut out, ImageFormat::Png),
    };
    // Encoding an in-memory RGB image into memory cannot fail short of running out of memory.
    written.expect("encoding an in-memory frame");
    out.into_inner()
}

/// `img` scaled by `scale` and pasted on a grey 640x480 frame with its centre at `centre` (frame pixels).
pub fn place(img: &RgbImage, scale: f32, centre: [f32; 2]) -> RgbImage {
    place_on((W, H), img, scale, centre)
}

/// `img` scaled by `scale` and pasted on a grey frame of `size` with its centre at `centre` (frame pixels).
pub fn place_on(size: (u32, u32), img: &RgbImage, scale: f32, centre: [f32; 2]) -> RgbImage {
    let (w, h) = ((img.width() as f32 * scale).round() as u32, (img.height() as f32 * scale).round() as u32);
    let scaled = image::imageops::resize(img, w.max(1), h.max(1), image::imageops::FilterType::Triangle);
    let mut frame = RgbImage::from_pixel(size.0, size.1, Rgb([118, 118, 118]));
    let x = (centre[0] - w as f32 / 2.0).round() as i64;
    let y = (centre[1] - h as f32 / 2.0).round() as i64;
    image::imageops::overlay(&mut frame, &scaled, x, y);
    frame
}

/// `img` filling a 640x480 frame: scaled to cover it, times `zoom` (1 or more), and cropped to its middle.
pub fn fill(img: &RgbImage, zoom: f32) -> RgbImage {
    let s = (W as f32 / img.width() as f32).max(H as f32 / img.height() as f32) * zoom.max(1.0);
    let (w, h) = ((img.width() as f32 * s).ceil() as u32, (img.height() as f32 * s).ceil() as u32);
    let scaled = image::imageops::resize(img, w.max(W), h.max(H), image::imageops::FilterType::Triangle);
    image::imageops::crop_imm(&scaled, (scaled.width() - W) / 2, (scaled.height() - H) / 2, W, H).to_image()
}

/// A flat picture turned in front of the camera: `img` rotated by `yaw` degrees about its vertical axis and
/// `pitch` degrees about its horizontal one, seen by a pinhole camera at `distance` half-widths (perspective:
/// the near edge grows, the far edge shrinks). Outside the picture stays grey.
pub fn turn(img: &RgbImage, yaw: f32, pitch: f32, distance: f32) -> RgbImage {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let half = w.max(h) / 2.0;
    let (sy, cy) = yaw.to_radians().sin_cos();
    let (sp, cp) = pitch.to_radians().sin_cos();
    let d = distance * half;
    let mut out = RgbImage::from_pixel(img.width(), img.height(), Rgb([118, 118, 118]));
    for (ox, oy, px) in out.enumerate_pixels_mut() {
        let (u, v) = (ox as f32 - w / 2.0, oy as f32 - h / 2.0);
        // The picture's plane point (x, y, 0) rotated: X = x cy, Y = y cp, Z = x sy + y sp (toward the camera);
        // projected with focal length d at depth d - Z. Solve for (x, y) from (u, v).
        // u (d - x sy - y sp) = d x cy ; v (d - x sy - y sp) = d y cp.
        let (a11, a12, b1) = (d * cy + u * sy, u * sp, u * d);
        let (a21, a22, b2) = (v * sy, d * cp + v * sp, v * d);
        let det = a11 * a22 - a12 * a21;
        if det.abs() < 1e-6 {
            continue;
        }
        let x = (b1 * a22 - a12 * b2) / det + w / 2.0;
        let y = (a11 * b2 - a21 * b1) / det + h / 2.0;
        if x >= 0.0 && y >= 0.0 && x < w - 1.0 && y < h - 1.0 {
            *px = bilinear(img, x, y);
        }
    }
    out
}

fn bilinear(img: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |dx: u32, dy: u32| img.get_pixel(x0 + dx, y0 + dy).0.map(f32::from);
    let (a, b, c, d) = (p(0, 0), p(1, 0), p(0, 1), p(1, 1));
    let mut o = [0u8; 3];
    for i in 0..3 {
        let top = a[i] + (b[i] - a[i]) * fx;
        let bottom = c[i] + (d[i] - c[i]) * fx;
        o[i] = (top + (bottom - top) * fy).round().clamp(0.0, 255.0) as u8;
    }
    Rgb(o)
}

/// A grey image as RGB.
pub fn rgb_of_gray(g: &GrayImage) -> RgbImage {
    DynamicImage::ImageLuma8(g.clone()).to_rgb8()
}
