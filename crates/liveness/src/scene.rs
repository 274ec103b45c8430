//! Scene continuity: whether two consecutive frames of a session are one camera's view of one scene, and
//! whether the second is the first picture sent again.
//!
//! A camera watching a person sees the same surroundings from frame to frame (a hand or the person's body may
//! cover some of them, a handheld phone shifts them a little), and the face in it moves no faster than a head
//! does. A slideshow of photos cuts from one picture to another: other surroundings, other light, the face
//! elsewhere. And a camera never delivers the same picture twice: a live face, compared with the frame before
//! it, still differs from it (sensor noise, sub-pixel motion, the skin and eyes never quite still), while a
//! photo sent again re-encoded is the same picture up to compression ([`Continuity::face_residual`]: the face
//! squares are snapped to a lattice fixed in the frame, so that the same picture is sampled on the same cells
//! and compared without resampling).
//!
//! [`ScenePrint`] is what a session keeps of a frame (a coarse colour grid of the whole frame and a fine grey
//! crop of the face, a few kilobytes); [`compare`] measures two prints. The thresholds are calibrated with
//! `facegate eval attacks` on the shared real-person videos (its "scene continuity" line and the README's
//! liveness section).

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::check::Target;

/// The whole frame's colour on a grid of this many cells across and down (area means).
pub const GRID_W: usize = 32;
pub const GRID_H: usize = 24;

/// The face's grey values on a square grid of this side, over the face square (see [`ScenePrint::new`]; without
/// landmarks, [`FACE_SQUARE`] times the face box's larger side, centred on the box).
pub const FACE_SIDE: usize = 48;
pub const FACE_SQUARE: f32 = 1.3;
/// The face square's side in root-mean-square spreads of the rigid landmarks about their centroid (about the
/// face box's size).
pub const FACE_SQUARE_SPREADS: f32 = 3.2;

/// The surroundings are the frame's grid cells outside the inner face: the face square less this share of its
/// side at each edge (hair, ears, neck, shoulders and the room count; they change little between two frames
/// of one camera, and everywhere when a slideshow cuts to another photo).
pub const INNER_FACE_MARGIN: f32 = 0.1;
/// A cell of the surroundings has changed when no cell within [`SHIFT_CELLS`] of it in the other frame comes
/// within this mean colour difference (0-255 levels, after matching the frames' overall colour).
pub const CELL_CHANGED: f32 = 12.0;
/// How far (cells) the surroundings may shift between two frames (a moving person, a handheld camera).
pub const SHIFT_CELLS: i32 = 2;
/// A cut: more than this share of the surroundings changed between two consecutive frames.
pub const MAX_BACKGROUND_CHANGE: f32 = 0.35;
/// Cells of the surroundings needed to judge them at all.
pub const MIN_BACKGROUND_CELLS: usize = 40;
/// A cut: the face moved farther than this many face widths per second, or its size changed faster than
/// this factor per second (e^x).
pub const MAX_FACE_SPEED: f32 = 6.0;
pub const MAX_FACE_GROWTH: f32 = 3.0;
/// The same picture: the face, compared cell for cell with the frame before's on one lattice, differs from it
/// by less than this (mean absolute grey difference, 0-255 levels, inside the face). On the suite a photo
/// re-encoded at another JPEG quality differs by 0.08-0.31, consecutive frames of real people by 0.81 and more.
pub const SAME_PICTURE_RESIDUAL: f32 = 0.5;

/// What a session keeps of a frame to judge the next one against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenePrint {
    /// The frame's RGB area means on a [`GRID_W`] x [`GRID_H`] grid, row by row.
    #[serde(with = "base64_bytes")]
    pub grid: Vec<u8>,
    /// Grey area means of the face square on a [`FACE_SIDE`] x [`FACE_SIDE`] grid, row by row.
    #[serde(with = "base64_bytes")]
    pub face: Vec<u8>,
    /// The face square in normalised frame coordinates.
    pub square: Target,
    /// The face box in normalised frame coordinates, and the frame's aspect (width over height).
    pub face_box: Target,
    pub aspect: f32,
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// The mean of `img` over the pixel rectangle `[x0, x1) x [y0, y1)` (clipped to the image), per channel; the
/// nearest pixel when the rectangle holds none.
fn area_mean(img: &RgbImage, x0: f32, y0: f32, x1: f32, y1: f32) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let clamp = |v: f32, hi: i64| (v.floor() as i64).clamp(0, hi - 1);
    let (ax, ay) = (clamp(x0, w), clamp(y0, h));
    let (bx, by) = (clamp(x1 - 1e-3, w).max(ax), clamp(y1 - 1e-3, h).max(ay));
    let mut sum = [0u32; 3];
    for y in ay..=by {
        for x in ax..=bx {
            let p = img.get_pixel(x as u32, y as u32).0;
            for c in 0..3 {
                sum[c] += u32::from(p[c]);
            }
        }
    }
    let n = ((bx - ax + 1) * (by - ay + 1)) as f32;
    sum.map(|s| s as f32 / n)
}

/// `side` (pixels) rounded to the nearest of the steps 2^(k/8).
fn snap_side(side: f32) -> f32 {
    2f32.powf((side.max(1.0).log2() * SIDE_STEPS_PER_OCTAVE).round() / SIDE_STEPS_PER_OCTAVE)
}

/// The face square's sides: this many steps per doubling.
const SIDE_STEPS_PER_OCTAVE: f32 = 8.0;

/// The centroid of `points` and their root-mean-square distance from it; `None` for fewer than three or a
/// degenerate set.
fn spread(points: &[[f32; 2]]) -> Option<([f32; 2], f32)> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f32;
    let c = points.iter().fold([0.0f32; 2], |s, p| [s[0] + p[0] / n, s[1] + p[1] / n]);
    let r = (points.iter().map(|p| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sum::<f32>() / n).sqrt();
    (r > 1.0).then_some((c, r))
}

/// The integral of the grey image over a rectangle of it, for area means over rectangles with fractional edges
/// inside it (an exact box filter). Only the face square's pixels are summed, not the whole frame's.
struct GreyIntegral {
    /// The rectangle's corner in the image, and its size.
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
    /// `(w + 1) x (h + 1)`: the sum over the rectangle's pixels `[0, x) x [0, y)` at `y * (w + 1) + x`.
    sums: Vec<f64>,
}

impl GreyIntegral {
    /// The integral of `img` over the pixels that `[x0, x1) x [y0, y1)` (pixel units) touches, within the image.
    fn new(img: &RgbImage, x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        let clip = |v: f32, hi: u32| (v.max(0.0) as usize).min(hi as usize);
        let (ax, ay) = (clip(x0.floor(), img.width()), clip(y0.floor(), img.height()));
        let (bx, by) = (clip(x1.ceil(), img.width()).max(ax), clip(y1.ceil(), img.height()).max(ay));
        let (w, h) = (bx - ax, by - ay);
        let mut sums = vec![0.0f64; (w + 1) * (h + 1)];
        for y in 0..h {
            let mut row = 0.0f64;
            for x in 0..w {
                let p = img.get_pixel((ax + x) as u32, (ay + y) as u32).0;
                row += 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
                sums[(y + 1) * (w + 1) + x + 1] = sums[y * (w + 1) + x + 1] + row;
            }
        }
        GreyIntegral { x0: ax, y0: ay, w, h, sums }
    }

    /// The integral at a fractional point of the rectangle's own coordinates (clamped to it), interpolated
    /// bilinearly: exact for an image constant over each pixel.
    fn at(&self, x: f32, y: f32) -> f64 {
        let x = f64::from(x).clamp(0.0, self.w as f64);
        let y = f64::from(y).clamp(0.0, self.h as f64);
        let (x0, y0) =
            ((x.floor() as usize).min(self.w.saturating_sub(1)), (y.floor() as usize).min(self.h.saturating_sub(1)));
        let (fx, fy) = (x - x0 as f64, y - y0 as f64);
        let s = |xx: usize, yy: usize| self.sums[yy * (self.w + 1) + xx];
        let top = s(x0, y0) + (s(x0 + 1, y0) - s(x0, y0)) * fx;
        let bottom = s(x0, y0 + 1) + (s(x0 + 1, y0 + 1) - s(x0, y0 + 1)) * fx;
        top + (bottom - top) * fy
    }

    /// The mean grey over `[x0, x1) x [y0, y1)` (image pixel units), the part inside the rectangle; 0 outside.
    fn mean(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> f32 {
        let (ox, oy) = (self.x0 as f32, self.y0 as f32);
        let (x0, y0, x1, y1) = (x0 - ox, y0 - oy, x1 - ox, y1 - oy);
        let clip = |v: f32, hi: usize| v.clamp(0.0, hi as f32);
        let (ax, ay, bx, by) = (clip(x0, self.w), clip(y0, self.h), clip(x1, self.w), clip(y1, self.h));
        let area = f64::from((bx - ax) * (by - ay));
        if area <= 1e-6 {
            return 0.0;
        }
        let sum = self.at(bx, by) - self.at(ax, by) - self.at(bx, ay) + self.at(ax, ay);
        (sum / area) as f32
    }
}

impl ScenePrint {
    /// The print of frame `img` whose face lies in the pixel box `(x, y, width, height)`, with the face's rigid
    /// landmarks `points` (normalised frame coordinates).
    pub fn new(img: &RgbImage, bbox: [f32; 4], points: &[[f32; 2]]) -> Self {
        let (w, h) = (img.width().max(1) as f32, img.height().max(1) as f32);
        let mut grid = Vec::with_capacity(GRID_W * GRID_H * 3);
        let (cw, ch) = (w / GRID_W as f32, h / GRID_H as f32);
        for gy in 0..GRID_H {
            for gx in 0..GRID_W {
                let m = area_mean(img, gx as f32 * cw, gy as f32 * ch, (gx + 1) as f32 * cw, (gy + 1) as f32 * ch);
                grid.extend(m.map(|v| v.round().clamp(0.0, 255.0) as u8));
            }
        }
        // The face square: centred on the rigid landmarks, its side from their spread (the same picture at
        // another scale or place gives the same square on the face), else the face box.
        let [bx, by, bw, bh] = bbox;
        let px: Vec<[f32; 2]> = points.iter().map(|p| [p[0] * w, p[1] * h]).collect();
        let (cx, cy, side) = match spread(&px) {
            Some((c, r)) => (c[0], c[1], FACE_SQUARE_SPREADS * r),
            None => (bx + bw / 2.0, by + bh / 2.0, FACE_SQUARE * bw.max(bh).max(1.0)),
        };
        // Snapped to a lattice fixed in the frame: the side to steps of 2^(1/8), the corner to whole cells. The
        // same picture sent again, its landmarks jittering by a pixel, is then sampled on the very same cells,
        // and two frames are compared cell for cell without resampling (see `face_residual`).
        let side = snap_side(side);
        let cell = side / FACE_SIDE as f32;
        let (sx, sy) = ((cx / cell).round() * cell - side / 2.0, (cy / cell).round() * cell - side / 2.0);
        let integral = GreyIntegral::new(img, sx, sy, sx + side, sy + side);
        let mut face = Vec::with_capacity(FACE_SIDE * FACE_SIDE);
        for fy in 0..FACE_SIDE {
            for fx in 0..FACE_SIDE {
                let (x0, y0) = (sx + fx as f32 * cell, sy + fy as f32 * cell);
                face.push(integral.mean(x0, y0, x0 + cell, y0 + cell).round().clamp(0.0, 255.0) as u8);
            }
        }
        ScenePrint {
            grid,
            face,
            square: Target { x: sx / w, y: sy / h, width: side / w, height: side / h },
            face_box: Target { x: bx / w, y: by / h, width: bw / w, height: bh / h },
            aspect: w / h,
        }
    }

    fn cell(&self, x: i32, y: i32) -> Option<[f32; 3]> {
        if x < 0 || y < 0 || x >= GRID_W as i32 || y >= GRID_H as i32 {
            return None;
        }
        let i = (y as usize * GRID_W + x as usize) * 3;
        Some([f32::from(self.grid[i]), f32::from(self.grid[i + 1]), f32::from(self.grid[i + 2])])
    }

    /// Whether grid cell `(x, y)`'s centre lies in the inner face (see [`INNER_FACE_MARGIN`]).
    fn near_face(&self, x: usize, y: usize) -> bool {
        let (cx, cy) = ((x as f32 + 0.5) / GRID_W as f32, (y as f32 + 0.5) / GRID_H as f32);
        let (s, m) = (&self.square, INNER_FACE_MARGIN);
        cx >= s.x + s.width * m
            && cx <= s.x + s.width * (1.0 - m)
            && cy >= s.y + s.height * m
            && cy <= s.y + s.height * (1.0 - m)
    }

    fn valid(&self) -> bool {
        self.grid.len() == GRID_W * GRID_H * 3 && self.face.len() == FACE_SIDE * FACE_SIDE
    }
}

/// How two consecutive frames relate (see [`compare`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Continuity {
    /// The share of background cells (away from both faces) that changed; `None` when too few were seen.
    pub background_change: Option<f32>,
    /// The face's speed (face widths per second) and its size's rate of change (log per second).
    pub face_speed: f32,
    pub face_growth: f32,
    /// The face compared cell for cell with the one before: the mean grey difference (0-255); `None` when the
    /// two face squares do not lie on one lattice (see `face_residual`).
    pub face_residual: Option<f32>,
}

impl Continuity {
    /// Whether the second frame cannot follow the first in one camera's view of one scene.
    pub fn is_cut(&self) -> bool {
        self.background_change.is_some_and(|c| c > MAX_BACKGROUND_CHANGE)
            || self.face_speed > MAX_FACE_SPEED
            || self.face_growth > MAX_FACE_GROWTH
    }

    /// Whether the second frame's face is the first's picture again, up to compression.
    pub fn is_same_picture(&self) -> bool {
        self.face_residual.is_some_and(|r| r < SAME_PICTURE_RESIDUAL)
    }
}

/// The share of `a`'s background cells that have no counterpart within [`SHIFT_CELLS`] in `b`, after matching
/// `b`'s overall colour to `a`'s; `None` with fewer than [`MIN_BACKGROUND_CELLS`] background cells.
fn background_change(a: &ScenePrint, b: &ScenePrint) -> Option<f32> {
    let background: Vec<(usize, usize)> = (0..GRID_H)
        .flat_map(|y| (0..GRID_W).map(move |x| (x, y)))
        .filter(|&(x, y)| !a.near_face(x, y) && !b.near_face(x, y))
        .collect();
    if background.len() < MIN_BACKGROUND_CELLS {
        return None;
    }
    // Exposure and white balance drift: one gain per channel, from the background's means.
    let mut gain = [1.0f32; 3];
    for (c, g) in gain.iter_mut().enumerate() {
        let sa: f32 = background.iter().filter_map(|&(x, y)| a.cell(x as i32, y as i32)).map(|v| v[c]).sum();
        let sb: f32 = background.iter().filter_map(|&(x, y)| b.cell(x as i32, y as i32)).map(|v| v[c]).sum();
        *g = if sb > 1.0 { (sa / sb).clamp(0.6, 1.6) } else { 1.0 };
    }
    let changed = |from: &ScenePrint, to: &ScenePrint, gain_to: [f32; 3], x: usize, y: usize| -> bool {
        let Some(v) = from.cell(x as i32, y as i32) else { return false };
        let mut best = f32::MAX;
        for dy in -SHIFT_CELLS..=SHIFT_CELLS {
            for dx in -SHIFT_CELLS..=SHIFT_CELLS {
                if let Some(u) = to.cell(x as i32 + dx, y as i32 + dy) {
                    let d = (0..3).map(|c| (v[c] - u[c] * gain_to[c]).abs()).sum::<f32>() / 3.0;
                    best = best.min(d);
                }
            }
        }
        best > CELL_CHANGED
    };
    let inverse = gain.map(|g| 1.0 / g);
    // Either way: something new in the second frame, or something of the first gone.
    let n = background.iter().filter(|&&(x, y)| changed(a, b, gain, x, y) || changed(b, a, inverse, x, y)).count();
    Some(n as f32 / background.len() as f32)
}

/// The faces of `a` and `b` compared cell for cell where their squares lie on one lattice (the same side, the
/// corners whole cells apart; see [`ScenePrint::new`]): the mean absolute grey difference over the inner face
/// (the middle three fifths of `a`'s square), after matching brightness. `None` when the squares' sides differ
/// (the face grew or shrank a step, or a picture was rescaled) or they overlap too little.
fn face_residual(a: &ScenePrint, b: &ScenePrint) -> Option<f32> {
    let (wa, wb) = (a.square.width, b.square.width);
    if (wa - wb).abs() > 1e-3 * wa.max(wb) || a.aspect <= 0.0 {
        return None;
    }
    let cell_x = wa / FACE_SIDE as f32;
    let cell_y = a.square.height / FACE_SIDE as f32;
    let (dx, dy) =
        (((b.square.x - a.square.x) / cell_x).round() as i64, ((b.square.y - a.square.y) / cell_y).round() as i64);
    let n = FACE_SIDE as i64;
    let (lo, hi) = (n / 5, n - n / 5);
    let pairs: Vec<(f32, f32)> = (lo..hi)
        .flat_map(|y| (lo..hi).map(move |x| (x, y)))
        .filter_map(|(x, y)| {
            let (u, v) = (x - dx, y - dy);
            ((0..n).contains(&u) && (0..n).contains(&v))
                .then(|| (f32::from(a.face[(y * n + x) as usize]), f32::from(b.face[(v * n + u) as usize])))
        })
        .collect();
    if pairs.len() < ((hi - lo) * (hi - lo) / 2) as usize {
        return None;
    }
    let (sa, sb) = pairs.iter().fold((0.0, 0.0), |s, p| (s.0 + p.0, s.1 + p.1));
    let gain = if sb > 1.0 { (sa / sb).clamp(0.6, 1.6) } else { 1.0 };
    Some(pairs.iter().map(|(p, q)| (p - q * gain).abs()).sum::<f32>() / pairs.len() as f32)
}

/// How frame `b`, `dt_ms` after frame `a`, continues it.
pub fn compare(a: &ScenePrint, b: &ScenePrint, dt_ms: i64) -> Option<Continuity> {
    if !a.valid() || !b.valid() || (a.aspect - b.aspect).abs() > 0.02 {
        return None;
    }
    let dt = (dt_ms.max(1) as f32 / 1000.0).max(0.033);
    let (ca, cb) = (a.face_box.centre(), b.face_box.centre());
    // Face widths in frame-width units; distances with x scaled by the aspect so that both axes agree.
    let width = a.face_box.width.max(b.face_box.width).max(1e-4);
    let moved = (ca[0] - cb[0]).hypot((ca[1] - cb[1]) / a.aspect) / width;
    let size = |t: &Target| (t.width * t.height).max(1e-8).sqrt();
    let growth = (size(&b.face_box) / size(&a.face_box)).ln().abs();
    Some(Continuity {
        background_change: background_change(a, b),
        face_speed: moved / dt,
        face_growth: growth / dt,
        face_residual: face_residual(a, b),
    })
}
