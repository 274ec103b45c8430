//! Five-point alignment: the similarity transform (rotation, uniform scale, translation) that best maps a
//! face's landmarks onto the standard 112x112 ArcFace template, and the bilinear warp that applies it.

use ::image::RgbImage;

use crate::detect::{BBox, Landmarks5, Point};

/// Side of an aligned face crop.
pub const ALIGNED_SIZE: u32 = 112;

/// Where the five landmarks sit in a 112x112 aligned crop (right eye, left eye, nose, mouth corners).
pub const ARCFACE_TEMPLATE: [[f32; 2]; 5] =
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/// A 2x3 affine matrix mapping source to destination: `[a, b, tx; c, d, ty]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub m: [[f32; 3]; 2],
}

impl Affine {
    pub fn apply(&self, p: Point) -> Point {
        let m = &self.m;
        Point { x: m[0][0] * p.x + m[0][1] * p.y + m[0][2], y: m[1][0] * p.x + m[1][1] * p.y + m[1][2] }
    }

    /// The inverse transform, or `None` when the matrix is singular.
    pub fn inverse(&self) -> Option<Affine> {
        let [[a, b, tx], [c, d, ty]] = self.m;
        let det = a * d - b * c;
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
        Some(Affine { m: [[ia, ib, -(ia * tx + ib * ty)], [ic, id, -(ic * tx + id * ty)]] })
    }

    /// The uniform scale of a similarity transform.
    pub fn scale(&self) -> f32 {
        (self.m[0][0] * self.m[0][0] + self.m[1][0] * self.m[1][0]).sqrt()
    }
}

/// A square view of a face: its box made square (the long side times `scale`) around its centre, scaled to
/// `side` x `side` pixels. With [`warp_affine`], black beyond the image.
pub fn square_view(bbox: &BBox, scale: f32, side: u32) -> Affine {
    let span = bbox.width.max(bbox.height).max(1.0) * scale;
    let centre = bbox.center();
    let k = side as f32 / span;
    let (left, top) = (centre.x - span / 2.0, centre.y - span / 2.0);
    Affine { m: [[k, 0.0, -k * left], [0.0, k, -k * top]] }
}

/// The least-squares similarity transform (no reflection) taking `src` points onto `dst` points.
pub fn similarity_transform(src: &[Point], dst: &[[f32; 2]]) -> Affine {
    let n = src.len().min(dst.len()).max(1) as f64;
    let (mut sx, mut sy, mut dx, mut dy) = (0f64, 0f64, 0f64, 0f64);
    for (s, d) in src.iter().zip(dst) {
        sx += f64::from(s.x);
        sy += f64::from(s.y);
        dx += f64::from(d[0]);
        dy += f64::from(d[1]);
    }
    let (sx, sy, dx, dy) = (sx / n, sy / n, dx / n, dy / n);
    let (mut num_a, mut num_b, mut den) = (0f64, 0f64, 0f64);
    for (s, d) in src.iter().zip(dst) {
        let (px, py) = (f64::from(s.x) - sx, f64::from(s.y) - sy);
        let (qx, qy) = (f64::from(d[0]) - dx, f64::from(d[1]) - dy);
        num_a += px * qx + py * qy;
        num_b += px * qy - py * qx;
        den += px * px + py * py;
    }
    let (a, b) = if den > 0.0 { (num_a / den, num_b / den) } else { (1.0, 0.0) };
    let tx = dx - (a * sx - b * sy);
    let ty = dy - (b * sx + a * sy);
    Affine { m: [[a as f32, -b as f32, tx as f32], [b as f32, a as f32, ty as f32]] }
}

/// Warps `img` by `transform` (source to destination) into a `width` x `height` image, bilinear, with black
/// outside the source.
///
/// It runs for every detection refinement, aligned face and mesh crop, so it stays cheap: source positions
/// step along each row, in fixed point with [`WARP_FRACTION_BITS`] fractional bits (OpenCV's warp keeps 5),
/// the blend in integers, one bounds check for the four neighbours of a pixel inside the image, and pixels
/// wholly outside left black. (The float version with libm's floor and round per pixel took twice as long.)
pub fn warp_affine(img: &RgbImage, transform: &Affine, width: u32, height: u32) -> RgbImage {
    let (dw, dh) = (width as usize, height as usize);
    let mut out = vec![0u8; dw * dh * 3];
    if let Some(inv) = transform.inverse() {
        let (sw, sh) = (i64::from(img.width()), i64::from(img.height()));
        let stride = img.width() as usize * 3;
        let raw = img.as_raw();
        let one = 1i64 << WARP_FRACTION_BITS;
        let scale = one as f32;
        for (v, row) in out.chunks_exact_mut(dw * 3).enumerate() {
            for (u, px) in row.chunks_exact_mut(3).enumerate() {
                let p = inv.apply(Point { x: u as f32, y: v as f32 });
                // Positions left of or above -1 fall wholly outside; from there on, shifted to be positive, the
                // conversion truncates as a floor would. (NaN compares false and is left black too.)
                if !(p.x >= -1.0 && p.y >= -1.0 && p.x < sw as f32 && p.y < sh as f32) {
                    continue;
                }
                let (tx, ty) = (((p.x + 1.0) * scale) as i64, ((p.y + 1.0) * scale) as i64);
                let (xi, yi) = ((tx >> WARP_FRACTION_BITS) - 1, (ty >> WARP_FRACTION_BITS) - 1);
                let (fx, fy) = (tx & (one - 1), ty & (one - 1));
                let (fx, fy, one) = (fx as i32, fy as i32, one as i32);
                // At most 255 << 20 before the shift: within i32, and within 0..=255 after it.
                let blend = |a: i32, b: i32, c: i32, d: i32| -> u8 {
                    let top = a * (one - fx) + b * fx;
                    let bottom = c * (one - fx) + d * fx;
                    let v = (top * (one - fy) + bottom * fy + (1 << (2 * WARP_FRACTION_BITS - 1)))
                        >> (2 * WARP_FRACTION_BITS);
                    v as u8
                };
                if xi >= 0 && yi >= 0 && xi + 1 < sw && yi + 1 < sh {
                    let o = yi as usize * stride + xi as usize * 3;
                    let (top, bottom) = (&raw[o..o + 6], &raw[o + stride..o + stride + 6]);
                    let n = |s: &[u8], k: usize| i32::from(s[k]);
                    for (c, out_c) in px.iter_mut().enumerate() {
                        *out_c = blend(n(top, c), n(top, c + 3), n(bottom, c), n(bottom, c + 3));
                    }
                } else {
                    // On the border: the neighbours outside the image count as black.
                    let fetch = |x: i64, y: i64, c: usize| -> i32 {
                        if x < 0 || y < 0 || x >= sw || y >= sh {
                            0
                        } else {
                            i32::from(raw[y as usize * stride + x as usize * 3 + c])
                        }
                    };
                    for (c, out_c) in px.iter_mut().enumerate() {
                        *out_c = blend(
                            fetch(xi, yi, c),
                            fetch(xi + 1, yi, c),
                            fetch(xi, yi + 1, c),
                            fetch(xi + 1, yi + 1, c),
                        );
                    }
                }
            }
        }
    }
    RgbImage::from_raw(width, height, out).unwrap_or_else(|| RgbImage::new(width, height))
}

/// Fractional bits of the source positions [`warp_affine`] blends at: a 1/1024 pixel step, under a tenth of a
/// grey level from the exact blend.
pub const WARP_FRACTION_BITS: u32 = 10;

/// The 112x112 aligned crop of a face from its five landmarks.
pub fn align_face(img: &RgbImage, landmarks: &Landmarks5) -> RgbImage {
    let transform = similarity_transform(landmarks, &ARCFACE_TEMPLATE);
    warp_affine(img, &transform, ALIGNED_SIZE, ALIGNED_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_similarity_transform() {
        let truth = Affine { m: [[0.8, -0.3, 12.0], [0.3, 0.8, -4.0]] };
        let src: Vec<Point> = ARCFACE_TEMPLATE.iter().map(|p| Point { x: p[0] * 2.0 + 7.0, y: p[1] * 1.5 }).collect();
        let dst: Vec<[f32; 2]> = src
            .iter()
            .map(|p| {
                let q = truth.apply(*p);
                [q.x, q.y]
            })
            .collect();
        let est = similarity_transform(&src, &dst);
        for r in 0..2 {
            for c in 0..3 {
                assert!((est.m[r][c] - truth.m[r][c]).abs() < 1e-3, "{est:?} vs {truth:?}");
            }
        }
        let back = est.inverse().expect("invertible");
        let p = back.apply(est.apply(Point { x: 3.0, y: 9.0 }));
        assert!((p.x - 3.0).abs() < 1e-3 && (p.y - 9.0).abs() < 1e-3);
    }

    /// The warp as first written: every neighbour fetched with its own bounds check, libm's floor and round.
    fn reference_warp(img: &RgbImage, transform: &Affine, width: u32, height: u32) -> RgbImage {
        let mut out = RgbImage::new(width, height);
        let inv = transform.inverse().expect("invertible");
        let (sw, sh) = (i64::from(img.width()), i64::from(img.height()));
        let fetch = |x: i64, y: i64, c: usize| -> f32 {
            if x < 0 || y < 0 || x >= sw || y >= sh {
                0.0
            } else {
                f32::from(img.get_pixel(x as u32, y as u32)[c])
            }
        };
        for (u, v, px) in out.enumerate_pixels_mut() {
            let p = inv.apply(Point { x: u as f32, y: v as f32 });
            let (x0, y0) = (p.x.floor(), p.y.floor());
            let (fx, fy) = (p.x - x0, p.y - y0);
            for c in 0..3 {
                let (xi, yi) = (x0 as i64, y0 as i64);
                let top = fetch(xi, yi, c) * (1.0 - fx) + fetch(xi + 1, yi, c) * fx;
                let bottom = fetch(xi, yi + 1, c) * (1.0 - fx) + fetch(xi + 1, yi + 1, c) * fx;
                px[c] = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    #[test]
    fn the_warp_matches_a_plain_bilinear_warp_inside_and_across_the_border() {
        let mut img = RgbImage::new(61, 47);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = ::image::Rgb([(x * 7 + y * 3) as u8, (x * y) as u8, (255 - x * 4) as u8]);
        }
        // Rotations, scales up and down, views reaching past every edge.
        let views = [
            Affine { m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] },
            Affine { m: [[0.8, -0.3, 12.0], [0.3, 0.8, -4.0]] },
            Affine { m: [[2.3, 0.4, -20.5], [-0.4, 2.3, -3.25]] },
            Affine { m: [[0.45, 0.0, 30.0], [0.0, 0.45, 30.0]] },
            square_view(&BBox { x: -10.0, y: 30.0, width: 50.0, height: 40.0 }, 1.5, 64),
        ];
        for view in views {
            let (fast, plain) = (warp_affine(&img, &view, 80, 70), reference_warp(&img, &view, 80, 70));
            let worst = fast.as_raw().iter().zip(plain.as_raw()).map(|(a, b)| a.abs_diff(*b)).max();
            // Positions in 1/1024 pixel steps: at most one level apart, and rarely that.
            assert!(worst.is_some_and(|d| d <= 1), "{view:?}: differs by {worst:?}");
            let exact = fast.as_raw().iter().zip(plain.as_raw()).filter(|(a, b)| a == b).count();
            assert!(exact * 100 >= fast.as_raw().len() * 95, "{view:?}: {exact} of {} equal", fast.as_raw().len());
        }
    }

    #[test]
    fn warp_by_identity_copies_the_image() {
        let mut img = RgbImage::new(8, 6);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = ::image::Rgb([(x * 30) as u8, (y * 40) as u8, 7]);
        }
        let id = Affine { m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] };
        assert_eq!(warp_affine(&img, &id, 8, 6), img);
    }
}
