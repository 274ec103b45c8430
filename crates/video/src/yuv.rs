//! YUV 4:2:0 to RGB (BT.601, studio range: what VP8 carries and what libvpx hands out).

use image::RgbImage;

/// One 8-bit plane: its bytes, from the first pixel of the picture, and the bytes from one row to the next.
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
}

fn clamp(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Converts a `width` x `height` picture whose chroma planes are subsampled by two in both directions.
/// `None` when a plane is shorter than its stride and the picture's size say it must be.
pub fn i420_to_rgb(width: u32, height: u32, y: Plane<'_>, u: Plane<'_>, v: Plane<'_>) -> Option<RgbImage> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let fits =
        |p: &Plane<'_>, pw: usize, ph: usize| ph == 0 || (p.stride >= pw && p.data.len() >= (ph - 1) * p.stride + pw);
    if !fits(&y, w, h) || !fits(&u, cw, ch) || !fits(&v, cw, ch) {
        return None;
    }
    let mut out = vec![0u8; w * h * 3];
    for row in 0..h {
        let yr = &y.data[row * y.stride..row * y.stride + w];
        let ur = &u.data[(row / 2) * u.stride..(row / 2) * u.stride + cw];
        let vr = &v.data[(row / 2) * v.stride..(row / 2) * v.stride + cw];
        let dst = &mut out[row * w * 3..(row + 1) * w * 3];
        for col in 0..w {
            // Fixed point (8 fractional bits) of the BT.601 studio-range matrix.
            let c = 298 * (i32::from(yr[col]) - 16);
            let d = i32::from(ur[col / 2]) - 128;
            let e = i32::from(vr[col / 2]) - 128;
            dst[col * 3] = clamp((c + 409 * e + 128) >> 8);
            dst[col * 3 + 1] = clamp((c - 100 * d - 208 * e + 128) >> 8);
            dst[col * 3 + 2] = clamp((c + 516 * d + 128) >> 8);
        }
    }
    RgbImage::from_raw(width, height, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(data: &[u8], stride: usize) -> Plane<'_> {
        Plane { data, stride }
    }

    #[test]
    fn studio_range_black_white_and_primaries() {
        // 2x2 pixels: one chroma sample each. Y 16 is black, 235 white (no colour).
        let img = i420_to_rgb(2, 2, plane(&[16, 235, 16, 235], 2), plane(&[128], 1), plane(&[128], 1)).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(1, 1).0, [255, 255, 255]);
        // BT.601 red (255, 0, 0) is Y 81, U 90, V 240.
        let red = i420_to_rgb(2, 2, plane(&[81; 4], 2), plane(&[90], 1), plane(&[240], 1)).unwrap();
        let [r, g, b] = red.get_pixel(0, 0).0;
        assert!(r >= 250 && g <= 5 && b <= 5, "{r} {g} {b}");
    }

    #[test]
    fn odd_sizes_and_padded_strides() {
        // 3x3 luma with stride 4, 2x2 chroma with stride 3.
        let y = [16, 16, 16, 0, 16, 16, 16, 0, 16, 16, 16];
        let img =
            i420_to_rgb(3, 3, plane(&y, 4), plane(&[128, 128, 0, 128, 128], 3), plane(&[128, 128, 0, 128, 128], 3));
        assert_eq!(img.map(|i| i.dimensions()), Some((3, 3)));
        // A plane too short for its picture is refused, not read past.
        assert!(i420_to_rgb(3, 3, plane(&y[..10], 4), plane(&[128; 5], 3), plane(&[128; 5], 3)).is_none());
    }
}
