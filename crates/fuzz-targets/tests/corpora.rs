//! Every fuzz target over its seed corpus (fuzz/seeds.py: hand-written cases, and images and weights from
//! ../shared), in the ordinary test build: the properties the fuzzers check hold on these inputs, and a
//! target that panics on one fails here without a fuzzing build. `scripts/fuzz` mutates the same corpora
//! under libFuzzer (opt-in; fuzz/README.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Failed, Trial};

/// The seed corpora written by fuzz/seeds.py into `out/corpus/TARGET/`.
fn write_seeds(out: &Path) -> Result<(), String> {
    let root = testkit::repo_root();
    let status = Command::new("python3")
        .arg(root.join("fuzz/seeds.py"))
        .arg(out)
        .arg(testkit::shared_dir().join("data"))
        .status()
        .map_err(|e| format!("python3 fuzz/seeds.py: {e}"))?;
    status.success().then_some(()).ok_or_else(|| format!("fuzz/seeds.py failed: {status}"))
}

fn inputs(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    Ok(files)
}

/// Replays one target's corpus; a panic names the input.
fn replay(target: &str, check: fn(&[u8]), dir: &Path) -> Result<(), Failed> {
    let files = inputs(dir)?;
    if files.len() < 2 {
        return Err(format!("{}: {} seeds for {target}, expected its whole corpus", dir.display(), files.len()).into());
    }
    for file in files {
        let data = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let outcome = std::panic::catch_unwind(|| check(&data));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Err(format!("{target} on {}: {message}", file.display()).into());
        }
    }
    Ok(())
}

fn main() {
    let seeds = tempfile::tempdir().expect("temp dir");
    let seeded = write_seeds(seeds.path());
    let trials = fuzz_targets::TARGETS
        .iter()
        .map(|&(target, check)| {
            let (dir, seeded) = (seeds.path().join("corpus").join(target), seeded.clone());
            Trial::test(target, move || {
                seeded?;
                replay(target, check, &dir)
            })
        })
        .collect();
    let conclusion = testkit::trials::run(trials);
    drop(seeds);
    conclusion.exit();
}
