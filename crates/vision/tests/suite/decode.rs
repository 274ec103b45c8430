//! Malformed and unusual inputs: each gives its typed error, never a panic; EXIF orientation is applied.

use crate::common;

use std::io::Cursor;

use image::{ImageFormat, RgbImage};
use vision::{decode, DecodeLimits, VisionError};

fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

#[test]
fn empty_input_is_empty_image() {
    assert!(matches!(decode(&[], &limits()), Err(VisionError::EmptyImage)));
}

#[test]
fn random_bytes_and_text_are_unsupported() {
    // A fixed pseudo-random sequence (xorshift), so the test is repeatable.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert!(matches!(decode(&noise, &limits()), Err(VisionError::UnsupportedFormat)));
    let text = b"name,score\nalice,0.9\n-- this is not an image --\n";
    assert!(matches!(decode(text, &limits()), Err(VisionError::UnsupportedFormat)));
}

#[test]
fn truncated_jpeg_is_corrupt() {
    let bytes = common::read("samples/face_recognition/obama.jpg");
    for cut in [3, 20, 200, bytes.len() / 3, bytes.len() - 100] {
        let r = decode(&bytes[..cut], &limits());
        assert!(matches!(r, Err(VisionError::CorruptImage(_))), "cut at {cut}: {:?}", r.map(|d| d.rgb.dimensions()));
    }
}

#[test]
fn png_header_claiming_ten_gigapixels_is_refused_before_decoding() {
    let png = testkit::png_claiming(100_000, 100_000);
    match decode(&png, &limits()) {
        Err(VisionError::TooManyPixels { width, height, .. }) => assert_eq!((width, height), (100_000, 100_000)),
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
}

#[test]
fn one_pixel_image_is_too_small() {
    let png = encode(&RgbImage::new(1, 1), ImageFormat::Png);
    assert!(matches!(decode(&png, &limits()), Err(VisionError::ImageTooSmall { width: 1, height: 1, .. })));
}

#[test]
fn oversized_input_is_refused_by_byte_count() {
    let small = DecodeLimits { max_bytes: 1000, ..limits() };
    let bytes = common::read("samples/face_recognition/obama.jpg");
    assert!(matches!(decode(&bytes, &small), Err(VisionError::ImageTooLarge { .. })));
}

#[test]
fn formats_are_sniffed_from_content_not_name() {
    // rot_0.jpg is a PNG under a .jpg name.
    let d = decode(&common::read("samples/insightface/rotate/rot_0.jpg"), &limits()).expect("decodes");
    assert_eq!(d.format, "png");
    let img = d.rgb;
    for format in [ImageFormat::Png, ImageFormat::Bmp, ImageFormat::Gif, ImageFormat::WebP, ImageFormat::Jpeg] {
        let bytes = encode(&img, format);
        let back = decode(&bytes, &limits()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(back.rgb.dimensions(), img.dimensions(), "{format:?}");
    }
}

/// A JPEG APP1 segment carrying only an EXIF orientation tag.
fn exif_orientation_segment(orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes()); // first IFD at offset 8
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes()); // count
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    let mut body = b"Exif\0\0".to_vec();
    body.extend(tiff);
    let mut seg = vec![0xff, 0xe1];
    seg.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    seg.extend(body);
    seg
}

#[test]
fn exif_orientation_turns_the_image_upright() {
    let pipeline = common::pipeline();
    let upright = decode(&common::read("samples/face_recognition/obama_small.jpg"), &limits()).expect("decodes").rgb;
    // Store the pixels turned a quarter counter-clockwise and tag them "rotate 90 CW to display" (6).
    let stored = image::imageops::rotate270(&upright);
    let jpeg = encode(&stored, ImageFormat::Jpeg);
    let mut tagged = jpeg[..2].to_vec(); // SOI
    tagged.extend(exif_orientation_segment(6));
    tagged.extend_from_slice(&jpeg[2..]);

    let d = decode(&tagged, &limits()).expect("decodes");
    assert_eq!(d.exif_orientation, 6);
    assert_eq!(d.rgb.dimensions(), upright.dimensions());
    let faces = pipeline.find_faces(&d.rgb).expect("detect");
    assert_eq!(faces.rotation, vision::Rotation::None, "upright after EXIF, no retry needed");
    let face = faces.largest().expect("a face");
    assert!(face.quality.roll.abs() < 15.0, "eyes level: roll {}", face.quality.roll);
    let reference = pipeline.find_faces(&upright).expect("detect");
    let r = reference.largest().expect("a face").detection.bbox;
    let b = face.detection.bbox;
    assert!((r.x - b.x).abs() < 4.0 && (r.y - b.y).abs() < 4.0, "{r:?} vs {b:?}");
}
