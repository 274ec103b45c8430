//! Access control for every request, in one middleware: who is calling (the admin key, a stored API key, a
//! user's token, or — on an open loopback server — anyone), whether they may call this route and touch this
//! collection, and whether their rate limit and monthly quota leave room.
//!
//! The order matters and is fixed: authenticate (401; failures are limited per client address, 429) → the
//! key's rate limit (429 `rate_limited`) → scope and collection (403) → the monthly quota (429
//! `quota_exceeded`, counted in the store) → the handler, with the caller's [`Access`] in the request. The rules
//! are the core's (`app::callers`); this module reads the credentials from the request and answers in HTTP.

use std::net::{IpAddr, SocketAddr};

use auth::{Access, Scope};
use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::http_error::ErrorAnswer;
use app::callers::{self, Count};
use app::error::{ApiError, Code};
use app::state::AppState;

/// The path parameter that names a collection.
pub const COLLECTION_PARAM: &str = "collectionId";

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Probes, docs, the JWKS: anyone.
    Public,
    /// Face login: anyone (limited per client address) when `open_routes` lists `face_login`, the one setting for
    /// every door's face login; otherwise a key (valid, counted, limited as a key).
    Login,
    /// A user's face-login token (checked by the handler); refused tokens spend the client address's tokens.
    UserToken,
    /// Any valid key (its own usage).
    AnyKey,
    /// A liveness session's own token (checked by the handler against the session; refused tokens spend the
    /// client address's tokens), or a key with this scope.
    SessionTokenOr(Scope),
    /// A key with this scope (`admin` has them all).
    Scope(Scope),
    /// A key with this scope that may use the collection named by the route's `{collectionId}`.
    CollectionScope(Scope),
    /// A session token carried in the request body (checked by the handler); refused tokens and unknown sessions
    /// spend the client address's tokens.
    TokenInBody,
    /// Open to anyone (limited per client address) when the configuration lists the route in `open_routes`;
    /// otherwise a key with this scope. A key, when sent, is always checked and counted.
    OpenIf(OpenRoute, Scope),
    /// A user's face-login token (checked by the handler, which limits what it reaches to its own user), or a key
    /// with this scope.
    UserTokenOr(Scope),
    /// An AWS Signature V4 (the admin pair or a key's pair), checked by the Rekognition front door itself (it
    /// reads the signed body); the operation in the request names the scope and collection, as its `/v1` twin's
    /// route does, and [`admit`] applies them.
    AwsSignature,
}

pub use app::config::OpenRoute;

pub use app::callers::LOCAL_CALLER;

/// The client's address (see [`client_ip`]), put in every request's extensions for handlers whose limits
/// depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Whether a bearer credential is a JWT (three base64url parts), not an API key.
fn is_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with("fg_")
}

/// The access layer of one route: the shared state and the route's requirement (from the route table,
/// the `routes::table` module).
#[derive(Clone)]
pub struct Gate {
    pub app: AppState,
    pub requirement: Requirement,
}

/// The middleware, layered on each route with its requirement (it runs after routing).
pub async fn enforce(State(gate): State<Gate>, params: RawPathParams, mut request: Request, next: Next) -> Response {
    let app = gate.app;
    if gate.requirement != Requirement::Public {
        if let Err(e) = open_mode_guard(&app, request.headers()) {
            return refuse(&app, request, e).await;
        }
    }
    if gate.requirement == Requirement::Scope(Scope::Admin) {
        if let Some(kind) = form_encoding(request.headers()) {
            let message = format!("administration takes JSON, never a form encoding ({kind})");
            return refuse(&app, request, ApiError::new(Code::UnsupportedMediaType, message)).await;
        }
    }
    let ip = client_ip(&app, &request);
    request.extensions_mut().insert(ClientAddress(ip));
    let need = match gate.requirement {
        Requirement::Scope(Scope::Metrics) if app.config.metrics_public => Requirement::Public,
        need => need,
    };
    // User tokens, and session tokens where a route takes them, are checked by the handler.
    let handler_checks_token = match need {
        Requirement::UserToken | Requirement::TokenInBody => true,
        Requirement::UserTokenOr(_) => matches!(credentials(request.headers()), Some(Ok(t)) if is_jwt(t)),
        Requirement::SessionTokenOr(_) => {
            let in_query = query_session_token(request.uri().query());
            if in_query && credentials(request.headers()).is_some() {
                // Two credentials, one in the URL: which one is meant is ambiguous, and neither may silently win.
                let error = ApiError::new(
                    Code::AmbiguousCredentials,
                    "send either credentials in the Authorization header or a session token in `?token=`, not both",
                );
                return refuse(&app, request, error).await;
            }
            carries_session_token(request.headers()) || in_query
        }
        _ => false,
    };
    let outcome = match need {
        Requirement::Public => Ok(None),
        // The Rekognition front door checks the signature itself: the body it reads is signed.
        Requirement::AwsSignature => Ok(None),
        _ if handler_checks_token => {
            // Valid tokens are not limited (a backend may check many from one address); refused ones are.
            if let Err(e) = callers::peek_address(&app, ip) {
                return refuse(&app, request, e).await;
            }
            let response = next.run(request).await;
            // A session that does not exist counts as a refusal too: guessing session ids costs budget.
            if matches!(response.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) {
                callers::spend_address(&app, ip);
            }
            return response;
        }
        Requirement::Login
            if credentials(request.headers()).is_none() && app.config.open_routes.contains(&OpenRoute::FaceLogin) =>
        {
            callers::limit_address(&app, ip).map(|_| None)
        }
        Requirement::OpenIf(route, _)
            if credentials(request.headers()).is_none() && app.config.open_routes.contains(&route) =>
        {
            callers::limit_address(&app, ip).map(|_| None)
        }
        Requirement::OpenIf(_, scope) | Requirement::UserTokenOr(scope) => {
            admit_key(&app, request.headers(), ip, Some(scope), None, Count::Yes).await.map(Some)
        }
        Requirement::Login => admit_key(&app, request.headers(), ip, None, None, Count::Yes).await.map(Some),
        // Reading one's own usage is neither counted nor refused by the quota.
        Requirement::AnyKey => admit_key(&app, request.headers(), ip, None, None, Count::No).await.map(Some),
        Requirement::UserToken | Requirement::TokenInBody => Ok(None),
        Requirement::SessionTokenOr(scope) => {
            admit_key(&app, request.headers(), ip, Some(scope), None, Count::Yes).await.map(Some)
        }
        Requirement::Scope(scope) => {
            admit_key(&app, request.headers(), ip, Some(scope), None, Count::Yes).await.map(Some)
        }
        Requirement::CollectionScope(scope) => {
            let collection = params.iter().find(|(name, _)| *name == COLLECTION_PARAM).map(|(_, v)| v.to_string());
            admit_key(&app, request.headers(), ip, Some(scope), collection.as_deref(), Count::Yes).await.map(Some)
        }
    };
    match outcome {
        Ok(access) => {
            if let Some(access) = access {
                request.extensions_mut().insert(access);
            }
            next.run(request).await
        }
        Err(e) => refuse(&app, request, e).await,
    }
}

/// On an open loopback server (no admin key: every caller is admin) a web page of any origin could otherwise make
/// the browser call it (a form needs no preflight), and a DNS name rebound to 127.0.0.1 could read it: every
/// request must be addressed to a loopback host, and one from a page (`Origin`) must come from this server's own
/// origin or one listed in `cors_origins`. With an admin key this is not needed: credentials travel in headers,
/// which a foreign page cannot set without CORS.
fn open_mode_guard(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if app.config.admin_key.is_some() {
        return Ok(());
    }
    let host = headers.get(header::HOST).map(|h| h.to_str().unwrap_or("\u{fffd}"));
    if let Some(host) = host {
        if !loopback_host(host) {
            return Err(ApiError::new(
                Code::ForeignHost,
                "an open server (no admin key) answers only requests addressed to this machine (localhost, 127.0.0.1, [::1])",
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let own = host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"));
        let listed = app.config.cors_origins.iter().any(|o| o == "*" || o == origin);
        if !(own || listed) {
            return Err(ApiError::new(
                Code::ForeignOrigin,
                "an open server (no admin key) refuses requests from web pages of other origins: set an admin key, \
                 or list the origin in cors_origins",
            ));
        }
    }
    Ok(())
}

/// Whether a `Host` header names this machine: `localhost` (or a name under it), `127.x.x.x` or `[::1]`, with any
/// port.
pub fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        },
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The form encoding of a request's body (what an HTML form can send without a preflight), if it is one.
fn form_encoding(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().unwrap_or_default();
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(essence.as_str(), "multipart/form-data" | "application/x-www-form-urlencoded" | "text/plain")
        .then_some(essence)
}

/// A refusal answered before the handler read the body: the body is read and dropped first (bounded, like an
/// oversized one), so that a client still sending it reads the answer. Closing a connection with unread bytes
/// makes the kernel reset it, and the client then sees a broken connection instead of the 401 or 429.
async fn refuse(app: &AppState, request: Request, error: ApiError) -> Response {
    crate::input::discard_body(request.into_body(), app.body_timeout()).await;
    error.into_response()
}

/// The token in `Authorization: Bearer` (or `x-api-key`), when one is there: for handlers that check tokens
/// themselves (face-login tokens).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    credentials(headers).and_then(Result::ok)
}

/// Whether the request's credentials are a liveness session token.
fn carries_session_token(headers: &HeaderMap) -> bool {
    matches!(credentials(headers), Some(Ok(t)) if t.starts_with(app::usecases::liveness_sessions::token::SESSION_TOKEN_PREFIX))
}

/// Whether the query string carries a session token (`token=fls_...`, as WebSocket clients send it).
fn query_session_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|kv| {
            kv.strip_prefix("token=")
                .is_some_and(|t| t.starts_with(app::usecases::liveness_sessions::token::SESSION_TOKEN_PREFIX))
        })
    })
}

/// The key a request carries: `Authorization: Bearer KEY` or `x-api-key: KEY`.
pub fn credentials(headers: &HeaderMap) -> Option<Result<&str, ApiError>> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default();
        return Some(match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                Ok(token.trim())
            }
            _ => Err(ApiError::new(Code::Unauthorized, "use `Authorization: Bearer KEY` or `x-api-key: KEY`")),
        });
    }
    headers.get("x-api-key").map(|v| match v.to_str() {
        Ok(key) if !key.trim().is_empty() => Ok(key.trim()),
        _ => Err(ApiError::new(Code::Unauthorized, "the x-api-key header is empty or not text")),
    })
}

/// Authenticates the request's key, then applies its rate limit, scope, collection and quota.
async fn admit_key(
    app: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
    scope: Option<Scope>,
    collection: Option<&str>,
    count: Count,
) -> Result<Access, ApiError> {
    let authenticated = match credentials(headers).transpose() {
        Ok(credential) => callers::authenticate(app, credential).await,
        Err(e) => Err(e),
    };
    let (access, limits) = match authenticated {
        Ok(found) => found,
        Err(e) if e.code.status() == 401 => {
            // Failed attempts spend the address's tokens: guessing keys is slow.
            callers::limit_address(app, ip)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    callers::admit(app, access, limits, scope, collection, count).await
}

/// The client's address: from the configured proxy header (its last entry), else the connection's peer.
pub(crate) fn client_ip(app: &AppState, request: &Request) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip());
    let Some(name) = &app.config.client_ip_header else { return peer };
    request
        .headers()
        .get_all(name.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_either_header() {
        let mut h = HeaderMap::new();
        assert!(credentials(&h).is_none());
        h.insert("x-api-key", axum::http::HeaderValue::from_static(" fg_key "));
        assert_eq!(credentials(&h).unwrap().unwrap(), "fg_key");
        h.insert(header::AUTHORIZATION, axum::http::HeaderValue::from_static("bearer other"));
        assert_eq!(credentials(&h).unwrap().unwrap(), "other", "Authorization wins");
        h.insert(header::AUTHORIZATION, axum::http::HeaderValue::from_static("Basic dXNlcjpwYXNz"));
        assert_eq!(credentials(&h).unwrap().unwrap_err().code, Code::Unauthorized);
    }

    #[test]
    fn loopback_hosts_and_form_encodings() {
        for host in [
            "localhost",
            "localhost:8080",
            "LOCALHOST.",
            "app.localhost:3000",
            "127.0.0.1",
            "127.1.2.3:99",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.nip.io",
            "192.168.1.2:8080",
            "[::2]:80",
            "localhost.evil",
            "",
        ] {
            assert!(!loopback_host(host), "{host}");
        }
        let mut h = HeaderMap::new();
        assert_eq!(form_encoding(&h), None);
        for (value, form) in [
            ("application/json", false),
            ("multipart/form-data; boundary=x", true),
            ("Application/X-WWW-Form-Urlencoded", true),
            ("text/plain;charset=utf-8", true),
        ] {
            h.insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static(value));
            assert_eq!(form_encoding(&h).is_some(), form, "{value}");
        }
    }
}
