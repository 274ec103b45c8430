//! Image decoding (JPEG, PNG, WebP, BMP, GIF; EXIF orientation): never a panic, never an allocation beyond the
//! limits, and whatever decodes respects them.

/// One input: no panic, and the properties above.
pub fn check(data: &[u8]) {
    let limits = vision::DecodeLimits { max_bytes: 1 << 20, max_pixels: 4_000_000, min_side: 16 };
    if let Ok(image) = vision::decode(data, &limits) {
        let (w, h) = (u64::from(image.width()), u64::from(image.height()));
        assert!(w * h <= limits.max_pixels, "{w}x{h} decoded past the pixel limit");
        assert!(w >= 16 && h >= 16, "{w}x{h} decoded under the minimum side");
        assert!((1..=8).contains(&image.exif_orientation));
    }
}
