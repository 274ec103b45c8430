//! Image decoding with limits: formats are sniffed from the bytes (never trusted from a file name), sizes are
//! checked on the header before any pixel is decoded, and the EXIF orientation is applied so that faces come
//! out upright.

use std::io::Cursor;

use ::image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::error::{Result, VisionError};

/// Limits applied to every image before and while it is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest encoded size accepted, in bytes.
    pub max_bytes: usize,
    /// Largest width x height accepted, checked on the header (decompression bombs never get decoded).
    pub max_pixels: u64,
    /// Smallest width and height accepted: nothing smaller can hold a detectable face.
    pub min_side: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self { max_bytes: 15 * 1024 * 1024, max_pixels: 40_000_000, min_side: 16 }
    }
}

/// A decoded, upright RGB image.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    pub rgb: RgbImage,
    /// The format the bytes were in.
    pub format: &'static str,
    /// The EXIF orientation tag that was applied (1 = none).
    pub exif_orientation: u8,
}

impl DecodedImage {
    pub fn width(&self) -> u32 {
        self.rgb.width()
    }
    pub fn height(&self) -> u32 {
        self.rgb.height()
    }
}

fn format_name(format: ImageFormat) -> Option<&'static str> {
    match format {
        ImageFormat::Jpeg => Some("jpeg"),
        ImageFormat::Png => Some("png"),
        ImageFormat::WebP => Some("webp"),
        ImageFormat::Bmp => Some("bmp"),
        ImageFormat::Gif => Some("gif"),
        _ => None,
    }
}

fn corrupt(e: ::image::ImageError) -> VisionError {
    match e {
        ::image::ImageError::Unsupported(_) => VisionError::UnsupportedFormat,
        other => VisionError::CorruptImage(other.to_string()),
    }
}

/// Decodes JPEG, PNG, WebP, BMP or GIF (first frame) bytes into an upright RGB image.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage> {
    if bytes.is_empty() {
        return Err(VisionError::EmptyImage);
    }
    if bytes.len() > limits.max_bytes {
        return Err(VisionError::ImageTooLarge { size: bytes.len(), limit: limits.max_bytes });
    }
    let format = ::image::guess_format(bytes).map_err(|_| VisionError::UnsupportedFormat)?;
    let format_str = format_name(format).ok_or(VisionError::UnsupportedFormat)?;

    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        // The JPEG decoder fills a cut-off scan with grey; an upload cut short must fail instead.
        return Err(VisionError::CorruptImage("truncated JPEG: no end-of-image marker after the image data".into()));
    }
    // The reader keeps the image crate's default allocation limit as a second line of defence.
    let reader = || ImageReader::with_format(Cursor::new(bytes), format);
    // The header alone: refuse oversized images before allocating their pixels.
    let (width, height) = reader().into_dimensions().map_err(corrupt)?;
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(VisionError::TooManyPixels { width, height, limit: limits.max_pixels });
    }
    if width < limits.min_side || height < limits.min_side {
        return Err(VisionError::ImageTooSmall { width, height, min: limits.min_side });
    }

    let mut decoder = reader().into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().unwrap_or(::image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    Ok(DecodedImage { rgb: img.into_rgb8(), format: format_str, exif_orientation: orientation.to_exif() })
}

/// Whether a JPEG's bytes reach its end-of-image marker. Walks the marker segments from the start to the
/// first start-of-scan (skipping the EXIF thumbnail, which has markers of its own), then looks for EOI
/// (`FF D9`) after it: inside entropy-coded data a `FF` byte is always followed by `00` or a restart marker,
/// so the first EOI found there is the image's own.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    loop {
        // Skip fill bytes before a marker.
        while i < bytes.len() && bytes[i] == 0xff && bytes.get(i + 1) == Some(&0xff) {
            i += 1;
        }
        if i + 4 > bytes.len() || bytes[i] != 0xff {
            return false;
        }
        let marker = bytes[i + 1];
        let length = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if marker == 0xda {
            let scan_start = i + 2 + length;
            return bytes.get(scan_start..).is_some_and(|rest| rest.windows(2).any(|w| w == [0xff, 0xd9]));
        }
        if length < 2 {
            return false;
        }
        i += 2 + length;
    }
}

/// Reads and decodes an image file.
pub fn decode_file(path: &std::path::Path, limits: &DecodeLimits) -> Result<DecodedImage> {
    let bytes = std::fs::read(path).map_err(|source| VisionError::Io { path: path.display().to_string(), source })?;
    decode(&bytes, limits)
}

/// Encodes an image as a JPEG of `quality` (1-100), scaled down (a triangle filter, keeping its aspect) so that
/// neither side exceeds `max_side`: a kept copy of an upload whose size no longer depends on what was sent.
pub fn encode_jpeg_within(img: &RgbImage, max_side: u32, quality: u8) -> Result<Vec<u8>> {
    let longest = img.width().max(img.height());
    let scaled;
    let img = if longest > max_side && max_side > 0 {
        let scale = f64::from(max_side) / f64::from(longest);
        let w = ((f64::from(img.width()) * scale).round() as u32).max(1);
        let h = ((f64::from(img.height()) * scale).round() as u32).max(1);
        scaled = ::image::imageops::resize(img, w, h, ::image::imageops::FilterType::Triangle);
        &scaled
    } else {
        img
    };
    let mut out = Vec::new();
    ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode_image(img)
        .map_err(|e| VisionError::CorruptImage(format!("encoding a JPEG: {e}")))?;
    Ok(out)
}

/// Resizes by bilinear interpolation with pixel centres aligned (as OpenCV's `INTER_LINEAR`): each output
/// pixel reads the four source pixels around its centre. Several times faster than a filtered resample for
/// the detector's downscaling, where the network itself is robust to the aliasing.
pub fn resize_bilinear(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    let (dw, dh) = (width as usize, height as usize);
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return RgbImage::new(width, height);
    }
    // For each output column: the two source columns and the weight of the second.
    let axis = |src: usize, dst: usize| -> Vec<(usize, usize, f32)> {
        let scale = src as f32 / dst as f32;
        (0..dst)
            .map(|d| {
                let pos = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (pos.floor() as usize).min(src - 1);
                let i1 = (i0 + 1).min(src - 1);
                (i0, i1, pos - i0 as f32)
            })
            .collect()
    };
    let xs = axis(sw, dw);
    let ys = axis(sh, dh);
    let raw = img.as_raw();
    let mut out = vec![0u8; dw * dh * 3];
    for (row, &(y0, y1, fy)) in out.chunks_exact_mut(dw * 3).zip(&ys) {
        let r0 = &raw[y0 * sw * 3..(y0 + 1) * sw * 3];
        let r1 = &raw[y1 * sw * 3..(y1 + 1) * sw * 3];
        for (px, &(x0, x1, fx)) in row.chunks_exact_mut(3).zip(&xs) {
            for c in 0..3 {
                let top = f32::from(r0[x0 * 3 + c]) * (1.0 - fx) + f32::from(r0[x1 * 3 + c]) * fx;
                let bottom = f32::from(r1[x0 * 3 + c]) * (1.0 - fx) + f32::from(r1[x1 * 3 + c]) * fx;
                px[c] = (top * (1.0 - fy) + bottom * fy + 0.5) as u8;
            }
        }
    }
    RgbImage::from_raw(width, height, out).unwrap_or_else(|| RgbImage::new(width, height))
}

/// A quarter-turn rotation of an image, clockwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Rotation {
    None,
    Cw90,
    Cw180,
    Cw270,
}

impl Rotation {
    pub fn degrees(self) -> u32 {
        match self {
            Rotation::None => 0,
            Rotation::Cw90 => 90,
            Rotation::Cw180 => 180,
            Rotation::Cw270 => 270,
        }
    }

    pub fn apply(self, img: &RgbImage) -> RgbImage {
        match self {
            Rotation::None => img.clone(),
            Rotation::Cw90 => ::image::imageops::rotate90(img),
            Rotation::Cw180 => ::image::imageops::rotate180(img),
            Rotation::Cw270 => ::image::imageops::rotate270(img),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_resize_keeps_flat_colours_and_halves_a_ramp() {
        let flat = RgbImage::from_pixel(40, 30, ::image::Rgb([10, 200, 77]));
        let small = resize_bilinear(&flat, 13, 7);
        assert_eq!(small.dimensions(), (13, 7));
        assert!(small.pixels().all(|p| p.0 == [10, 200, 77]));
        // A horizontal ramp 0, 10, 20, ... halved: each output pixel averages two neighbours.
        let ramp = RgbImage::from_fn(8, 2, |x, _| ::image::Rgb([(x * 10) as u8; 3]));
        let half = resize_bilinear(&ramp, 4, 1);
        let values: Vec<u8> = half.pixels().map(|p| p.0[0]).collect();
        assert_eq!(values, [5, 25, 45, 65]);
    }

    #[test]
    fn a_kept_jpeg_is_bounded_and_decodes_to_the_same_picture() {
        // A 3000x1000 gradient: scaled to 1200x400, small images kept at their size.
        let big = RgbImage::from_fn(3000, 1000, |x, y| ::image::Rgb([(x / 12) as u8, (y / 4) as u8, 128]));
        let bytes = encode_jpeg_within(&big, 1200, 90).unwrap();
        let back = decode(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!((back.width(), back.height(), back.format), (1200, 400, "jpeg"));
        let (p, q) = (back.rgb.get_pixel(600, 200).0, big.get_pixel(1500, 500).0);
        assert!(p.iter().zip(q).all(|(a, b)| a.abs_diff(b) <= 6), "{p:?} vs {q:?}");
        let small = RgbImage::from_pixel(64, 48, ::image::Rgb([200, 30, 30]));
        let kept = decode(&encode_jpeg_within(&small, 1200, 90).unwrap(), &DecodeLimits::default()).unwrap();
        assert_eq!((kept.width(), kept.height()), (64, 48));
    }
}
