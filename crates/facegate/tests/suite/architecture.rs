//! The shape of the code, checked: no module of any crate reaches (through `crate::` or `super::` paths in
//! code, or a parent's relative use of its child; test modules and comments aside) a module that reaches it back
//! (an import circle is reported with its members), and no front door holds a rule of the core.

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

/// Whether `source` names its child module `name` by a relative path (`name::x`, `self::name::x`), not as the
/// tail of another path (`crate::other::name::x`, `super::name`).
fn relative_uses(source: &str, name: &str) -> bool {
    let pattern = format!("{name}::");
    source.match_indices(&pattern).any(|(at, _)| {
        let before = &source[..at];
        match before.chars().next_back() {
            Some(c) if c.is_alphanumeric() || c == '_' => false,
            Some(':') => before.ends_with("self::") && !before.ends_with("_self::"),
            _ => true,
        }
    })
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
            // A module may use its parents' items (`super::X`, the items of the file that declares it): that edge
            // is left out. Its use of its own submodules is counted below, by their relative names.
            if &target != module
                && !target.starts_with(&format!("{module}::"))
                && !module.starts_with(&format!("{target}::"))
            {
                uses.insert(target);
            }
        }
        // A parent that calls into its child (`ops::routes()`, `use self::table::Routes`) depends on it: with the
        // child's own imports this can close a circle through a sibling (`openapi` → `routes` → `routes::ops` →
        // `openapi`). Declaring the child (`mod ops;`) is no use of it.
        for child in modules.iter().filter(|m| m.rsplit_once("::").is_some_and(|(p, _)| p == module)) {
            let name = child.rsplit_once("::").map_or(child.as_str(), |(_, n)| n);
            if relative_uses(text, name) {
                uses.insert(child.clone());
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

/// What a front door may not hold, by the text that would show it: the rules live in the core (`facegate-app`),
/// where every door and the CLI share them.
const CORE_ONLY: [(&str, &str); 5] = [
    (".store.", "a store call (the use cases own the store)"),
    ("Store::", "a store call (the use cases own the store)"),
    ("Criteria::default()", "liveness criteria of its own (`ServerConfig::criteria` builds them)"),
    ("vision::similarity", "a similarity rule (`AppState::similarity` and the use cases' thresholds)"),
    ("_threshold", "a configured threshold read from the configuration (the use cases apply them)"),
];

/// The places in `source` (code only: comments and test modules left out) where it holds what `CORE_ONLY`
/// forbids; `_threshold` counts only as a read of the configuration (`config.x_threshold`).
fn core_rules_in(source: &str) -> Vec<(&'static str, String)> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = Vec::new();
    for line in code.lines().map(|l| l.split("//").next().unwrap_or_default()) {
        for (pattern, what) in CORE_ONLY {
            let hit = match pattern {
                ".store." => line.match_indices(pattern).any(|(at, _)| {
                    let rest = &line[at + pattern.len()..];
                    let ident = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
                    ident > 0 && rest[ident..].starts_with('(')
                }),
                "_threshold" => {
                    line.contains("config.") && {
                        line.match_indices("config.").any(|(at, _)| {
                            let rest = &line[at + "config.".len()..];
                            let ident = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
                            rest[..ident].ends_with(pattern)
                        })
                    }
                }
                _ => line.contains(pattern),
            };
            if hit {
                found.push((what, line.trim().to_string()));
            }
        }
    }
    found
}

/// No front door (the `facegate-server` crate: `/v1`, Rekognition, the compat doors, the console, the listener)
/// holds a store call, a configured threshold, liveness criteria of its own or a similarity rule.
fn front_doors_hold_no_core_rule() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 30, "only {} files under {}", files.len(), src.display());
    let mut held = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        for (what, line) in core_rules_in(&text) {
            held.push(format!("{}: {what}: {line}", file.strip_prefix(&src).unwrap_or(&file).display()));
        }
    }
    assert!(held.is_empty(), "front doors holding the core's rules:\n{}", held.join("\n"));
}

fn the_checker_finds_a_core_rule() {
    let door =
        "fn f(app: &AppState) {\n  app.store.session_image(id, name);\n  let t = app.config.smile_threshold;\n}\n\
                fn g() { Criteria::default(); vision::similarity::similarity(m, c); store::Store::open(u, 1); }\n";
    let found: Vec<&str> = core_rules_in(door).into_iter().map(|(what, _)| what).collect();
    assert_eq!(found.len(), 5, "{found:?}");
    let clean = "fn f(app: &AppState) {\n  keys::create(&app.store, new);\n  let t = req.smile_threshold;\n  \
                 // app.store.ping()\n  x.restore.y();\n}\n#[cfg(test)]\nmod tests { fn t() { app.store.ping(); } }\n";
    assert_eq!(core_rules_in(clean), vec![]);
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
    assert!(relative_uses("pub mod ops;\nfn all() { ops::routes() }", "ops"));
    assert!(relative_uses("use self::table::Routes;", "table"));
    assert!(!relative_uses("pub mod ops;\nuse crate::other::ops::X; use super::ops; let devops::x;", "ops"));
    // The circle of the issue: a parent calling its child, the child reaching a sibling that reaches the parent.
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("routes")).expect("mkdir");
    std::fs::write(src.join("lib.rs"), "pub mod openapi;\npub mod routes;\n").expect("write");
    std::fs::write(src.join("openapi.rs"), "pub fn build() { crate::routes::all(); }\n").expect("write");
    std::fs::write(src.join("routes/mod.rs"), "pub mod ops;\npub fn all() { ops::routes(); }\n").expect("write");
    std::fs::write(src.join("routes/ops.rs"), "pub fn routes() { crate::openapi::build(); }\n").expect("write");
    let graph = import_graph(src);
    assert_eq!(
        circle_from(&graph, "openapi"),
        Some(vec!["openapi".to_string(), "routes".to_string(), "routes::ops".to_string()])
    );
}

tests![
    no_crate_has_an_import_circle,
    the_checker_finds_a_circle,
    front_doors_hold_no_core_rule,
    the_checker_finds_a_core_rule,
];
