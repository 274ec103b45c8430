use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use server::dto::FaceDto;
use vision::Rotation;

use super::{load_pipeline, print_json, read_file};
use crate::cli::CommonArgs;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetectOutput<'a> {
    image: String,
    width: u32,
    height: u32,
    format: &'a str,
    exif_orientation: u8,
    /// Quarter turns applied when no face was found upright; coordinates are in the turned image.
    rotation: Rotation,
    /// In the HTTP API's shape (`boundingBox`, `landmarks`, `confidence`, `quality`).
    faces: Vec<FaceDto>,
    detect_ms: f64,
}

pub fn run(common: &CommonArgs, image: &Path, json: bool) -> Result<()> {
    let pipeline = load_pipeline(common)?;
    let bytes = read_file(image)?;
    let decoded = pipeline.decode(&bytes).with_context(|| format!("decoding {}", image.display()))?;
    let t = Instant::now();
    let found = pipeline.find_faces(&decoded.rgb)?;
    let detect_ms = t.elapsed().as_secs_f64() * 1000.0;
    let out = DetectOutput {
        image: image.display().to_string(),
        width: found.image.width(),
        height: found.image.height(),
        format: decoded.format,
        exif_orientation: decoded.exif_orientation,
        rotation: found.rotation,
        faces: found.faces.iter().map(FaceDto::from).collect(),
        detect_ms,
    };
    if json {
        return print_json(&out);
    }
    println!(
        "{}: {}x{} {}, {} face(s) in {:.1} ms{}",
        out.image,
        out.width,
        out.height,
        out.format,
        found.faces.len(),
        detect_ms,
        match found.rotation {
            Rotation::None => String::new(),
            r => format!(" (image turned {} degrees clockwise)", r.degrees()),
        }
    );
    for (i, f) in found.faces.iter().enumerate() {
        let b = f.detection.bbox;
        let q = &f.quality;
        println!(
            "  #{i} score {:.3}  box x={:.0} y={:.0} w={:.0} h={:.0}  quality {:.2} (eyes {:.0}px, sharpness {:.0}, brightness {:.2}, yaw {:+.0}, roll {:+.0}){}",
            f.detection.score,
            b.x,
            b.y,
            b.width,
            b.height,
            q.score,
            q.eye_distance,
            q.sharpness,
            q.brightness,
            q.yaw,
            q.roll,
            if q.issues.is_empty() { String::new() } else { format!("  issues: {:?}", q.issues) }
        );
    }
    Ok(())
}
