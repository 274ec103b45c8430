//! Facegate's application core: every use case (what the service does, in its own words), the service they run on
//! ([`state::AppState`]: models, store, indexes, inference pool, signing keys, metrics), its typed configuration and
//! its error codes. No front door lives here and none is imported: the HTTP adapters (`/v1`, Rekognition, the
//! drop-in doors, the console) in `facegate-server` and the CLI in `facegate` call these use cases, and the crate
//! has no HTTP server (nor client: the S3 client is handed in) among its dependencies, so the compiler keeps the
//! layers.

pub mod callers;
pub mod config;
pub mod error;
pub mod indexes;
pub mod inference;
pub mod login_tokens;
pub mod metrics;
pub mod pool;
pub mod service;
pub mod state;
pub mod time;
pub mod turns;
pub mod usecases;

pub use config::{ConfigError, ServerConfig};
pub use service::ServerError;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    /// Every package of the lock file with the names of what it builds with. The lock lists a workspace crate's
    /// dev-dependencies too (the store's tests use the S3 adapter): for the workspace's own crates the edges come
    /// from their manifests' `[dependencies]` and `[build-dependencies]` instead.
    fn lock_graph() -> BTreeMap<String, BTreeSet<String>> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let read = |path: std::path::PathBuf| -> toml::Table {
            std::fs::read_to_string(&path).expect("readable").parse().expect("TOML")
        };
        let lock = read(root.join("Cargo.lock"));
        let mut graph = BTreeMap::<String, BTreeSet<String>>::new();
        for package in lock["package"].as_array().expect("packages") {
            let name = package["name"].as_str().expect("a name").to_string();
            let deps = package.get("dependencies").and_then(|d| d.as_array()).cloned().unwrap_or_default();
            let names = deps.iter().filter_map(|d| d.as_str()?.split(' ').next().map(str::to_string));
            graph.entry(name).or_default().extend(names);
        }
        let members = std::fs::read_dir(root.join("crates")).expect("crates/").flatten();
        for manifest in members.map(|e| e.path().join("Cargo.toml")).filter(|p| p.is_file()) {
            let manifest = read(manifest);
            let name = manifest["package"]["name"].as_str().expect("a package name").to_string();
            let mut deps = BTreeSet::new();
            for section in ["dependencies", "build-dependencies"] {
                for (key, spec) in manifest.get(section).and_then(|d| d.as_table()).into_iter().flatten() {
                    let package = spec.get("package").and_then(|p| p.as_str()).unwrap_or(key);
                    deps.insert(package.to_string());
                }
            }
            graph.insert(name, deps);
        }
        graph
    }

    /// What `root` depends on, directly or not, without looking inside `opaque` packages.
    fn reach(graph: &BTreeMap<String, BTreeSet<String>>, root: &str, opaque: &[&str]) -> BTreeSet<String> {
        let (mut seen, mut todo) = (BTreeSet::new(), vec![root.to_string()]);
        while let Some(name) = todo.pop() {
            for dep in graph.get(&name).into_iter().flatten() {
                if seen.insert(dep.clone()) && !opaque.contains(&dep.as_str()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen
    }

    /// The layers, kept by the compiler: the core cannot name a front door because no HTTP server, router or
    /// OpenAPI crate is among its dependencies; nor does it carry an HTTP client — the S3 client is an adapter
    /// (`facegate-s3`) the program hands in (`service::open`), so `cargo tree -p facegate-app` shows none of them.
    #[test]
    fn the_core_depends_on_no_http_server() {
        let graph = lock_graph();
        let http = [
            "axum",
            "axum-core",
            "hyper",
            "hyper-util",
            "tower",
            "tower-http",
            "utoipa",
            "reqwest",
            "object_store",
            "facegate-server",
            "facegate-s3",
        ];
        let reached = reach(&graph, "facegate-app", &[]);
        let found: Vec<&str> = http.iter().copied().filter(|f| reached.contains(*f)).collect();
        assert!(found.is_empty(), "facegate-app reaches {found:?}");
        assert!(reached.contains("facegate-store") && reached.contains("facegate-liveness"), "{reached:?}");
        // The S3 adapter is what brings them, for the programs that hand it in.
        let adapter = reach(&graph, "facegate-s3", &[]);
        assert!(adapter.contains("object_store") && adapter.contains("hyper"), "{adapter:?}");
    }
}
