//! The use cases: what Facegate does, once, for every front door. The `/v1` handlers, the Rekognition-compatible
//! API and the CLI all call these; each takes typed input (image bytes, typed options) and returns a typed result
//! or an [`ApiError`](crate::error::ApiError) with its [`Code`](crate::error::Code). Nothing here knows of HTTP,
//! JSON field names or AWS (a test checks the imports: `tests::use_cases_know_no_front_door`).

pub mod collections;
pub mod faces;
pub mod liveness_sessions;

#[cfg(test)]
mod tests {
    /// Whether a use-case source file names a front door or its wire shapes.
    fn front_door_names(source: &str) -> Vec<&'static str> {
        [
            "axum",
            "hyper",
            "crate::routes",
            "crate::rekognition",
            "crate::dto",
            "crate::input",
            "crate::http_error",
            "serde_json::json!",
        ]
        .into_iter()
        .filter(|name| source.contains(name))
        .collect()
    }

    #[test]
    fn use_cases_know_no_front_door() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/usecases");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("the use-case sources") {
            let path = entry.expect("a directory entry").path();
            let source = std::fs::read_to_string(&path).expect("a use-case source");
            let source = source.split("#[cfg(test)]").next().unwrap_or_default();
            assert_eq!(front_door_names(source), Vec::<&str>::new(), "{} imports a front door", path.display());
            checked += 1;
        }
        assert!(checked >= 3, "only {checked} use-case files were found");
    }
}
