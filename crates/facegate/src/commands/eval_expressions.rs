//! `facegate eval expressions`: the mouth's openness and the expression network's classes on Yale's posed
//! expressions (`normal`, `happy`, `sad`, `surprised`), with the service's own detection, crops and models.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use vision::analysis::{EXPRESSIONS, MOUTH_OPEN_THRESHOLD};

use super::eval_liveness::{analyse_all, binary, eval_pipeline, print_binary, read_labels, root_of, BinaryOutput};
use super::print_json;
use crate::cli::CommonArgs;

/// The expression class each Yale condition poses.
const POSED: [(&str, &str); 4] = [("normal", "neutral"), ("happy", "happy"), ("sad", "sad"), ("surprised", "surprise")];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConditionOutput {
    /// The class the condition poses.
    expected: String,
    images: usize,
    /// Images whose most likely class is the one posed.
    top_class_right: usize,
    /// How often each class came out most likely.
    top_classes: BTreeMap<String, usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExpressionsOutput {
    /// Mouth open (`surprised`) against closed (`normal`): the inner lips' gap over the mouth's width.
    mouth_open: BinaryOutput,
    /// The expression network's most likely class per posed condition.
    conditions: BTreeMap<String, ConditionOutput>,
    /// Over all four conditions.
    top_class_accuracy: f64,
}

pub fn run(common: &CommonArgs, labels: &Path, root: Option<&Path>, json: bool) -> Result<()> {
    let root = root_of(labels, root);
    let rows = read_labels(labels)?;
    let mut images = Vec::new();
    for r in &rows {
        let condition = r.get("condition").context("the labels file has no `condition` column")?;
        if let Some((_, expected)) = POSED.iter().find(|(c, _)| c == condition) {
            let path = root.join(r.get("path").context("the labels file has no `path` column")?);
            images.push((path, condition.clone(), *expected));
        }
    }
    let pipeline = eval_pipeline(common)?;
    let paths: Vec<_> = images.iter().map(|(p, _, _)| p.clone()).collect();
    let (analyses, ms) = analyse_all(common, &pipeline, &paths)?;

    let mouth: Vec<(bool, Option<f32>)> = images
        .iter()
        .zip(&analyses)
        .filter(|((_, c, _), _)| c == "surprised" || c == "normal")
        .map(|((_, c, _), a)| (c == "surprised", a.as_ref().map(|a| a.mouth_open)))
        .collect();
    let mouth_open = binary(labels, MOUTH_OPEN_THRESHOLD, &mouth, ms);

    let mut conditions: BTreeMap<String, ConditionOutput> = BTreeMap::new();
    for ((_, condition, expected), a) in images.iter().zip(&analyses) {
        let entry = conditions.entry(condition.clone()).or_insert_with(|| ConditionOutput {
            expected: expected.to_string(),
            images: 0,
            top_class_right: 0,
            top_classes: BTreeMap::new(),
        });
        entry.images += 1;
        let top = a.as_ref().and_then(|a| {
            let best = a.expressions.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1))?.0;
            EXPRESSIONS.get(best).copied()
        });
        let top = top.unwrap_or(app::error::Code::NoFace.as_str());
        *entry.top_classes.entry(top.to_string()).or_default() += 1;
        entry.top_class_right += usize::from(top == *expected);
    }
    let right: usize = conditions.values().map(|c| c.top_class_right).sum();
    let out =
        ExpressionsOutput { mouth_open, top_class_accuracy: right as f64 / images.len().max(1) as f64, conditions };
    if json {
        return print_json(&out);
    }
    print_binary("mouth open (surprised) vs closed (normal)", &out.mouth_open);
    for (condition, c) in &out.conditions {
        let tops: Vec<String> = c.top_classes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "{condition:<10} expected {:<9} {} of {} right  (most likely: {})",
            c.expected,
            c.top_class_right,
            c.images,
            tops.join(", ")
        );
    }
    println!("expression top class: {:.1} % of {} images", out.top_class_accuracy * 100.0, images.len());
    Ok(())
}
