//! The shape of the code, checked: no module of any crate reaches (through `crate::` or `super::` paths in
//! code; test modules and comments aside) a module that reaches it back. An import circle is reported with its members.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `routes/mod.rs` → `routes`, `routes/faces.rs` → `routes::faces`; the crate root is left out (it declares
/// every module).
fn module_name(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.is_empty() || (parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main")) {
        return None;
    }
    Some(parts.join("::"))
}

/// The identifier paths that follow `prefix` in `source` (`crate::a::b::C` → `a::b::C`; a group
/// `crate::{a::B, c}` gives `a::B` and `c`).
fn paths_after(source: &str, prefix: &str) -> Vec<String> {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    for (at, _) in source.match_indices(prefix) {
        if source[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &source[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The group's top-level items, each up to its first `{`, `,` or `}`.
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(group[start..i].to_string());
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(group[start..i].to_string());
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(rest[..rest.find(|c| !ident(c)).unwrap_or(rest.len())].to_string());
        }
    }
    out.into_iter()
        .map(|p| {
            let p = p.trim();
            p[..p.find(|c| !ident(c)).unwrap_or(p.len())].trim_end_matches(':').to_string()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// The longest known module that `path` (relative to `base`) starts with.
fn resolve(modules: &BTreeSet<String>, base: &str, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().find_map(|n| {
        let name = parts[..n].join("::");
        let name = if base.is_empty() { name } else { format!("{base}::{name}") };
        modules.contains(&name).then_some(name)
    })
}

fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let sources: BTreeMap<String, String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            // Test modules may reach anywhere; comments (doc links) are not imports.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let text: String =
                code.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
            Some((module_name(src, f)?, text))
        })
        .collect();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, text) in &sources {
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        let mut uses = BTreeSet::new();
        let found = paths_after(text, "crate::")
            .into_iter()
            .filter_map(|p| resolve(&modules, "", &p))
            .chain(paths_after(text, "super::").into_iter().filter_map(|p| resolve(&modules, parent, &p)));
        for target in found {
            // A module may use its own submodules and its parents' items without forming a circle of files.
            if &target != module
                && !target.starts_with(&format!("{module}::"))
                && !module.starts_with(&format!("{target}::"))
            {
                uses.insert(target);
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A circle through `start`, if there is one.
fn circle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == start {
                return Some(path.clone());
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

fn no_crate_has_an_import_circle() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    let mut circles = Vec::new();
    for entry in std::fs::read_dir(&crates).expect("the crates directory").flatten() {
        let src = entry.path().join("src");
        if !src.is_dir() {
            continue;
        }
        let graph = import_graph(&src);
        checked += graph.len();
        for module in graph.keys() {
            if let Some(circle) = circle_from(&graph, module) {
                circles.push(format!("{}: {}", entry.file_name().to_string_lossy(), circle.join(" → ")));
                break;
            }
        }
    }
    assert!(checked > 50, "only {checked} modules were found");
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

fn the_checker_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into_iter()
    .collect();
    assert_eq!(circle_from(&graph, "a"), Some(vec!["a".to_string(), "b".to_string(), "c".to_string()]));
    assert_eq!(circle_from(&graph, "d"), None);
    let modules = BTreeSet::from(["routes".to_string(), "routes::faces".to_string()]);
    assert_eq!(resolve(&modules, "", "routes::faces::detect"), Some("routes::faces".to_string()));
    let found = paths_after("use crate::routes::faces; x_crate::no", "crate::");
    assert_eq!(found, vec!["routes::faces"]);
    let grouped = paths_after("use crate::{access::{A, B}, dto::Face, time};", "crate::");
    assert_eq!(grouped, vec!["access", "dto::Face", "time"]);
}

tests![no_crate_has_an_import_circle, the_checker_finds_a_circle,];
