//! The `/v1` HTTP front door, one module per endpoint family; each registers its routes (handler, OpenAPI
//! operation, access requirement) in [`table::Routes`], and [`all`] gathers them with the other front doors'.

pub mod analysis;
pub mod collection_users;
pub mod collections;
pub mod console;
pub mod faces;
pub mod keys;
pub mod liveness_sessions;
pub mod login;
pub mod login_users;
pub mod ops;
pub mod passive_liveness;
pub mod table;
pub mod verify;
pub mod web;

/// Every route of the server: the `/v1` families, the Rekognition-compatible endpoint and the pages.
pub fn all() -> table::Routes {
    table::Routes::new()
        .merge(faces::routes())
        .merge(analysis::routes())
        .merge(passive_liveness::routes())
        .merge(verify::routes())
        .merge(collections::routes())
        .merge(collection_users::routes())
        .merge(liveness_sessions::routes())
        .merge(login_users::routes())
        .merge(login::routes())
        .merge(keys::routes())
        .merge(ops::routes())
        .merge(web::routes())
        .merge(console::routes())
        .merge(crate::rekognition::routes())
        .merge(crate::compat::routes())
        .merge(crate::streaming::door::routes())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use auth::Scope;

    use crate::access::{Requirement, COLLECTION_PARAM};

    #[test]
    fn each_route_is_listed_once_and_collection_routes_check_the_collection() {
        let all = super::all();
        let mut seen = BTreeSet::new();
        for (method, path, requirement) in all.requirements() {
            assert!(seen.insert((method.to_string(), path.to_string())), "{method} {path} is listed twice");
            if path.contains(&format!("{{{COLLECTION_PARAM}}}")) {
                assert!(matches!(requirement, Requirement::CollectionScope(_)), "{method} {path}: {requirement:?}");
            }
            if path.starts_with("/v1/keys") {
                assert_eq!(requirement, Requirement::Scope(Scope::Admin), "{method} {path}");
            }
        }
        assert!(seen.len() > 40, "only {} routes", seen.len());
    }

    #[test]
    fn the_document_names_each_documented_route() {
        let doc = crate::openapi::build();
        let documented: usize = doc
            .paths
            .paths
            .values()
            .map(|item| [&item.get, &item.post, &item.delete, &item.put].iter().filter(|o| o.is_some()).count())
            .sum();
        // Pages, assets, the WebSocket, the docs themselves and the Rekognition protocol are not operations; the
        // nose challenge's `/challenge/` aliases repeat documented ones.
        let undocumented = [
            "/",
            "/liveness",
            "/sdk/{file}",
            "/web/{file}",
            "/console",
            "/console/{file}",
            "/openapi.json",
            "/docs",
            "/docs/{file}",
            crate::streaming::door::PATH,
        ];
        let routed = super::all()
            .requirements()
            .filter(|(_, path, _)| {
                !undocumented.contains(path)
                    && !path.ends_with("/stream")
                    && !path.starts_with("/compat/nose-challenge/challenge/")
            })
            .count();
        assert_eq!(documented, routed);
    }
}
