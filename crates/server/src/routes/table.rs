//! The route table: each route family lists its routes once — the handler, its OpenAPI operation (the path and
//! method come from the handler's `#[utoipa::path]`, so the document and the router cannot disagree) and the
//! access requirement the access layer enforces before the handler runs. [`super::all`] gathers the families;
//! the router, the OpenAPI document and access control are all built from that one list.

use std::collections::{BTreeSet, HashMap, HashSet};

use axum::body::Body;
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method};
use axum::middleware;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};

use crate::access::{enforce, Gate, Requirement};
use app::error::ApiError;
use app::state::AppState;

/// What the OpenAPI document takes from a documented route.
struct Doc {
    operation: fn() -> utoipa::openapi::path::Operation,
    /// The `tag` of its `#[utoipa::path]` (utoipa keeps it apart from the operation).
    tags: fn() -> Vec<&'static str>,
    schemas: fn(&mut Vec<(String, RefOr<Schema>)>),
}

/// The header that names an error's code when the body's shape has no field for it.
pub const ERROR_CODE_HEADER: header::HeaderName = header::HeaderName::from_static("x-facegate-error-code");

/// An error in a front door's own shape: its status (where that system documents another one for the code) and
/// body (`{"message": ...}`, `{"detail": ...}`), from the typed error; the other headers stay those of the code.
pub type ErrorShape = fn(&ApiError) -> (u16, serde_json::Value);

struct Route {
    path: String,
    method: Method,
    handler: MethodRouter<AppState>,
    requirement: Requirement,
    doc: Option<Doc>,
    errors: Option<ErrorShape>,
}

/// The front doors' error shapes by path prefix (`/compat/<door>/`), for answers no route gave: no such path or
/// method under a door, a path refused before routing.
#[derive(Clone, Default)]
pub struct DoorShapes(Vec<(String, ErrorShape)>);

impl DoorShapes {
    /// An error response for `path` in its door's shape, when it is under a door and not dressed yet.
    pub fn dress(&self, path: &str, response: Response) -> Response {
        if response.headers().contains_key(ERROR_CODE_HEADER) {
            return response;
        }
        match self
            .0
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()) || path == prefix.trim_end_matches('/'))
        {
            Some((_, shape)) => reshape(response, *shape),
            None => response,
        }
    }
}

/// Re-dresses an error response (one that carries its [`ApiError`]) in `shape`.
fn reshape(response: Response, shape: ErrorShape) -> Response {
    let Some(error) = response.extensions().get::<ApiError>().cloned() else { return response };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // The shape has no room for Facegate's code: it travels in a header, for logs and for clients that want it.
    parts.headers.insert(ERROR_CODE_HEADER, HeaderValue::from_static(error.code.as_str()));
    let (status, body) = shape(&error);
    parts.status = axum::http::StatusCode::from_u16(status).unwrap_or(parts.status);
    Response::from_parts(parts, Body::from(serde_json::to_vec(&body).unwrap_or_default()))
}

/// The routes of one family (or of all of them, merged).
#[derive(Default)]
pub struct Routes {
    routes: Vec<Route>,
}

fn filter_of(method: &Method) -> MethodFilter {
    match *method {
        Method::POST => MethodFilter::POST,
        Method::DELETE => MethodFilter::DELETE,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        _ => MethodFilter::GET,
    }
}

fn method_of(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Post => Method::POST,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Trace => Method::TRACE,
        HttpMethod::Get => Method::GET,
    }
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// A documented route: `P` is the handler's `#[utoipa::path]` (its `__path_<handler>` type), which names
    /// the path and method.
    pub fn operation<P, H, T>(mut self, handler: H, requirement: Requirement) -> Self
    where
        P: utoipa::Path + utoipa::__dev::SchemaReferences + utoipa::__dev::Tags<'static>,
        H: Handler<T, AppState>,
        T: 'static,
    {
        for method in P::methods() {
            let method = method_of(&method);
            self.routes.push(Route {
                path: P::path(),
                handler: axum::routing::on(filter_of(&method), handler.clone()),
                method,
                requirement,
                doc: Some(Doc { operation: P::operation, tags: P::tags, schemas: P::schemas }),
                errors: None,
            });
        }
        self
    }

    /// A route left out of the OpenAPI document (pages, assets, the WebSocket, the Rekognition protocol).
    pub fn undocumented<H, T>(mut self, method: Method, path: &str, handler: H, requirement: Requirement) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.routes.push(Route {
            path: path.to_string(),
            handler: axum::routing::on(filter_of(&method), handler),
            method,
            requirement,
            doc: None,
            errors: None,
        });
        self
    }

    /// Every route so far answers errors (its handler's and the access layer's) in `shape`.
    pub fn errors_as(mut self, shape: ErrorShape) -> Self {
        for route in &mut self.routes {
            route.errors = Some(shape);
        }
        self
    }

    /// The error shape of each front door (its routes' first two path segments), for [`DoorShapes::dress`].
    pub fn door_shapes(&self) -> DoorShapes {
        let mut out: Vec<(String, ErrorShape)> = Vec::new();
        for route in &self.routes {
            let Some(shape) = route.errors else { continue };
            let segments: Vec<&str> = route.path.split('/').filter(|s| !s.is_empty()).take(2).collect();
            let prefix = format!("/{}/", segments.join("/"));
            if !out.iter().any(|(p, _)| *p == prefix) {
                out.push((prefix, shape));
            }
        }
        DoorShapes(out)
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.routes.extend(other.routes);
        self
    }

    /// Every route with its requirement: `(method, path, requirement)`.
    pub fn requirements(&self) -> impl Iterator<Item = (&Method, &str, Requirement)> {
        self.routes.iter().map(|r| (&r.method, r.path.as_str(), r.requirement))
    }

    /// The documented operations and the schemas they name, added to `doc`. Each operation carries its tag
    /// (declared in `doc`'s tag list, added there when missing), and a unique `operationId` — its handler's
    /// name, prefixed with its tag where front doors share a name (`detect`, `health`, `verify`...), so that a
    /// generated client gets one method per operation.
    pub fn document(&self, doc: &mut OpenApi) {
        let mut schemas = Vec::new();
        let mut operations = Vec::new();
        for route in &self.routes {
            let Some(d) = &route.doc else { continue };
            let method = match route.method {
                Method::POST => HttpMethod::Post,
                Method::DELETE => HttpMethod::Delete,
                Method::PUT => HttpMethod::Put,
                Method::PATCH => HttpMethod::Patch,
                _ => HttpMethod::Get,
            };
            let mut operation = (d.operation)();
            let tags: Vec<String> = (d.tags)().iter().map(ToString::to_string).collect();
            if !tags.is_empty() {
                operation.tags = Some(tags);
            }
            operations.push((route.path.as_str(), method, operation));
            (d.schemas)(&mut schemas);
        }
        let mut uses: HashMap<String, usize> = HashMap::new();
        for (_, _, operation) in &operations {
            *uses.entry(operation.operation_id.clone().unwrap_or_default()).or_default() += 1;
        }
        let declared: HashSet<String> = doc.tags.iter().flatten().map(|t| t.name.clone()).collect();
        let mut undeclared = BTreeSet::new();
        for (path, method, mut operation) in operations {
            let tag = operation.tags.as_ref().and_then(|t| t.first()).cloned().unwrap_or_default();
            if let Some(id) = operation.operation_id.as_mut() {
                if uses.get(id.as_str()).copied().unwrap_or_default() > 1 && !tag.is_empty() {
                    let prefix: String = tag.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
                    *id = format!("{}_{id}", prefix.split('_').filter(|w| !w.is_empty()).collect::<Vec<_>>().join("_"));
                }
            }
            if !tag.is_empty() && !declared.contains(&tag) {
                undeclared.insert(tag);
            }
            doc.paths.add_path_operation(path, vec![method], operation);
        }
        let tags = doc.tags.get_or_insert_with(Vec::new);
        tags.extend(undeclared.into_iter().map(utoipa::openapi::tag::Tag::new));
        let components = doc.components.get_or_insert_with(Default::default);
        components.schemas.extend(schemas);
    }

    /// Schema names that two routes' handlers define differently: each is documented with one of the two
    /// shapes, so the other route's document is wrong (a front door's `VerifyRequest` over another's).
    pub fn clashing_schemas(&self) -> Vec<String> {
        let mut schemas = Vec::new();
        for route in &self.routes {
            if let Some(d) = &route.doc {
                (d.schemas)(&mut schemas);
            }
        }
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut clashes = BTreeSet::new();
        for (name, schema) in schemas {
            let shape = serde_json::to_string(&schema).unwrap_or_default();
            match seen.get(&name) {
                Some(other) if *other != shape => {
                    clashes.insert(name);
                }
                Some(_) => {}
                None => {
                    seen.insert(name, shape);
                }
            }
        }
        clashes.into_iter().collect()
    }

    /// The router: each route behind the access layer with its own requirement.
    pub fn into_router(self, app: &AppState) -> Router<AppState> {
        let mut router = Router::new();
        for route in self.routes {
            let gate = Gate { app: app.clone(), requirement: route.requirement };
            // The path's text is checked inside the access layer: a caller learns nothing of a path before its
            // credentials are (a wrong key gets 401 whatever the path holds).
            let mut handler = route
                .handler
                .route_layer(middleware::from_fn(crate::text_input::check_path))
                .route_layer(middleware::from_fn_with_state(gate, enforce));
            if let Some(shape) = route.errors {
                handler =
                    handler.route_layer(middleware::map_response(move |r: Response| async move { reshape(r, shape) }));
            }
            router = router.route(&route.path, handler);
        }
        router
    }
}
