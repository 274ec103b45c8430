//! Facegate's application core: every use case (what the service does, in its own words), the service they run on
//! ([`state::AppState`]: models, store, indexes, inference pool, signing keys, metrics), its typed configuration and
//! its error codes. No front door lives here and none is imported: the HTTP adapters (`/v1`, Rekognition, the
//! drop-in doors, the console) in `facegate-server` and the CLI in `facegate` call these use cases, and the crate
//! has no HTTP server among its dependencies, so the compiler keeps the layers.

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

    /// Every package of the lock file with the names of its dependencies.
    fn lock_graph() -> BTreeMap<String, BTreeSet<String>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
        let lock: toml::Table =
            std::fs::read_to_string(&path).expect("Cargo.lock").parse().expect("Cargo.lock is TOML");
        let mut graph = BTreeMap::<String, BTreeSet<String>>::new();
        for package in lock["package"].as_array().expect("packages") {
            let name = package["name"].as_str().expect("a name").to_string();
            let deps = package.get("dependencies").and_then(|d| d.as_array()).cloned().unwrap_or_default();
            let names = deps.iter().filter_map(|d| d.as_str()?.split(' ').next().map(str::to_string));
            graph.entry(name).or_default().extend(names);
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
    /// OpenAPI crate is among its dependencies. HTTP reaches it only as the store's S3 client (`object_store`, which
    /// brings `reqwest` and `hyper` as an HTTP client).
    #[test]
    fn the_core_depends_on_no_http_server() {
        let graph = lock_graph();
        let front = ["axum", "axum-core", "hyper", "hyper-util", "tower", "tower-http", "utoipa", "facegate-server"];
        let reached = reach(&graph, "facegate-app", &["object_store"]);
        let found: Vec<&str> = front.iter().copied().filter(|f| reached.contains(*f)).collect();
        assert!(found.is_empty(), "facegate-app reaches {found:?} other than through the S3 client");
        assert!(reached.contains("facegate-store") && reached.contains("object_store"), "{reached:?}");
        let everything = reach(&graph, "facegate-app", &[]);
        assert!(!everything.contains("axum") && !everything.contains("utoipa"), "no server framework at any depth");
    }
}
