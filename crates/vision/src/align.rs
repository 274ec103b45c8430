//! Five-point alignment: the similarity transform (rotation, uniform scale, translation) that best maps a
//! face's landmarks onto the standard 112x112 ArcFace template, and the bilinear warp that applies it.

use ::image::{Rgb, RgbImage};

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
pub fn warp_affine(img: &RgbImage, transform: &Affine, width: u32, height: u32) -> RgbImage {
    let mut out = RgbImage::new(width, height);
    let Some(inv) = transform.inverse() else {
        return out;
    };
    let (sw, sh) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let fetch = |x: i64, y: i64, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= sw || y >= sh {
            0.0
        } else {
            f32::from(raw[((y * sw + x) * 3) as usize + c])
        }
    };
    for v in 0..height {
        for u in 0..width {
            let p = inv.apply(Point { x: u as f32, y: v as f32 });
            let (x0, y0) = (p.x.floor(), p.y.floor());
            let (fx, fy) = (p.x - x0, p.y - y0);
            let (xi, yi) = (x0 as i64, y0 as i64);
            let mut px = [0u8; 3];
            for (c, out_c) in px.iter_mut().enumerate() {
                let top = fetch(xi, yi, c) * (1.0 - fx) + fetch(xi + 1, yi, c) * fx;
                let bottom = fetch(xi, yi + 1, c) * (1.0 - fx) + fetch(xi + 1, yi + 1, c) * fx;
                *out_c = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
            }
            out.put_pixel(u, v, Rgb(px));
        }
    }
    out
}

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

    #[test]
    fn warp_by_identity_copies_the_image() {
        let mut img = RgbImage::new(8, 6);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = Rgb([(x * 30) as u8, (y * 40) as u8, 7]);
        }
        let id = Affine { m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] };
        assert_eq!(warp_affine(&img, &id, 8, 6), img);
    }
}
