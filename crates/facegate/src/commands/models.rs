use anyhow::Result;
use serde::Serialize;
use vision::models::{ModelRepository, MANIFEST};

use super::print_json;
use crate::cli::CommonArgs;

#[derive(Serialize)]
struct ModelRow {
    id: &'static str,
    file: &'static str,
    role: vision::models::ModelRole,
    sha256: &'static str,
    embedded_in_binary: bool,
    /// Where it loads from now, or why it does not load.
    loads_from: Option<String>,
    error: Option<String>,
}

pub fn run(common: &CommonArgs, json: bool) -> Result<()> {
    let repo = ModelRepository::new(common.models_dir.clone());
    let rows: Vec<ModelRow> = MANIFEST
        .iter()
        .map(|spec| {
            let (loads_from, error) = match repo.load(spec) {
                Ok(m) => (Some(m.origin.to_string()), None),
                Err(e) => (None, Some(e.to_string())),
            };
            ModelRow {
                id: spec.id,
                file: spec.file,
                role: spec.role,
                sha256: spec.sha256,
                embedded_in_binary: spec.embedded.is_some(),
                loads_from,
                error,
            }
        })
        .collect();
    if json {
        return print_json(&rows);
    }
    match repo.dir() {
        Some(d) => println!("models directory: {} (searched first)", d.display()),
        None => println!("models directory: none configured (embedded models only)"),
    }
    for r in &rows {
        println!(
            "  {:<14} {:<36} sha256 {}  {}",
            r.id,
            r.file,
            r.sha256,
            match (&r.loads_from, &r.error) {
                (Some(from), _) => format!("OK, from {from}"),
                (None, Some(e)) => format!("NOT LOADED: {e}"),
                (None, None) => String::new(),
            }
        );
    }
    Ok(())
}
