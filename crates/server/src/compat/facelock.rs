//! `/compat/facelock`: "Face Lock Server" (FastAPI + Rekognition): register a face, verify a face for a JWT,
//! read and delete users — every endpoint of its README, with its trailing slashes, multipart forms, field names
//! and FastAPI's `{"detail": ...}` errors. Its users are Facegate's users (`/v1/users`), its tokens Facegate's
//! face-login tokens (EdDSA, or HS256 with `token_secret` for backends that check with a shared secret).
//!
//! Access: `/register/` and `/verify/` were open in that system; here they need a key (scope `users` /
//! face login) unless `open_routes` lists `facelock_register` / `face_login` (then anyone, limited per
//! address). `/users/me/`, `/users/` and `DELETE /users/{user_id}/` take a face-login token — limited to its own
//! user — or a key with the `users` scope, which reaches every user.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{bearer_token, OpenRoute, Requirement::*};
use crate::http_error::{ApiResult, HttpError};
use crate::input::{lenient_string, Payload};
use crate::routes::table::Routes;
use app::error::{ApiError, Code};
use app::state::AppState;
use app::usecases::collections::Page;
use app::usecases::login_users::{self, LoginAttempt, Profile, UsersCaller};
use auth::Scope;

/// The one `face_image` file of a form.
fn face_image(payload: &mut Payload) -> ApiResult<bytes::Bytes> {
    let mut images = payload.take_images("face_image")?;
    match (images.pop(), images.is_empty()) {
        (Some(image), true) => Ok(image),
        _ => Err(HttpError::from(ApiError::new(Code::MissingImage, "send one face_image file"))),
    }
}

/// That system's default `similarity_threshold`.
const DEFAULT_SIMILARITY: f32 = 90.0;

#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

/// Welcome message.
#[utoipa::path(get, path = "/compat/facelock/", tag = "compat: facelock", responses((status = 200, body = Message)))]
pub async fn welcome() -> Json<Message> {
    Json(Message { message: "Welcome to Face Lock Server (Facegate)".into() })
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FacelockServiceHealth)]
pub struct ServiceHealth {
    pub status: &'static str,
    pub version: &'static str,
}

/// System health check.
#[utoipa::path(get, path = "/compat/facelock/health", tag = "compat: facelock", responses((status = 200, body = ServiceHealth)))]
pub async fn health() -> Json<ServiceHealth> {
    Json(ServiceHealth { status: "healthy", version: env!("CARGO_PKG_VERSION") })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiDocs {
    pub docs_url: &'static str,
    pub openapi_url: &'static str,
    pub message: &'static str,
}

/// API documentation information.
#[utoipa::path(get, path = "/compat/facelock/api-docs", tag = "compat: facelock", responses((status = 200, body = ApiDocs)))]
pub async fn api_docs() -> Json<ApiDocs> {
    Json(ApiDocs {
        docs_url: "/docs",
        openapi_url: "/openapi.json",
        message:
            "Facegate documents every front door in one OpenAPI document; this one is under the tag `compat: facelock`",
    })
}

/// The OAuth2 password endpoint: as in that system, it refuses — tokens come from `/verify/`.
#[utoipa::path(post, path = "/compat/facelock/token", tag = "compat: facelock",
    responses((status = 400, description = "`{\"detail\": ...}`")))]
pub async fn token() -> HttpError {
    ApiError::new(Code::NotApplicable, "log in with a face: POST /verify/ with face_image returns the token").into()
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterForm {
    #[serde(default, deserialize_with = "lenient_string")]
    #[schema(value_type = String)]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    #[schema(value_type = Option<String>)]
    pub full_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    #[schema(value_type = Option<String>)]
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub success: bool,
    pub user_id: String,
    pub face_id: String,
    pub message: String,
}

/// Register a new user with facial data (multipart: `user_id`, `full_name`, `email`, `face_image`).
#[utoipa::path(post, path = "/compat/facelock/register/", tag = "compat: facelock",
    request_body(content = RegisterForm, content_type = "multipart/form-data"),
    responses((status = 200, body = Registered), (status = 400, description = "`{\"detail\": ...}`: no face detected, ...")))]
pub async fn register(
    State(app): State<AppState>,
    caller: Option<axum::Extension<auth::Access>>,
    mut payload: Payload,
) -> ApiResult<Json<Registered>> {
    let image = face_image(&mut payload)?;
    let form: RegisterForm = payload.options()?;
    let profile = Profile { user_id: form.user_id.unwrap_or_default(), full_name: form.full_name, email: form.email };
    // Without a key (the route opened by `open_routes`), a refusal names no other user.
    let caller = caller.as_ref().map_or(UsersCaller::Anonymous, |k| UsersCaller::Key(&k.0));
    let registered = login_users::register(&app, caller, profile, vec![image], false).await?;
    let face_id = registered.faces.first().map(|f| f.face_id.to_string()).unwrap_or_default();
    Ok(Json(Registered {
        success: true,
        user_id: registered.user.user_id,
        face_id,
        message: "User registered successfully".into(),
    }))
}

/// FastAPI's `{"detail": ...}`; that system answers 400 where no face is found or none matches, and for `/token`.
fn facelock_error(e: &ApiError) -> (u16, serde_json::Value) {
    let (status, body) = super::fastapi_error(e);
    match e.code {
        Code::NoFace | Code::NoMatch | Code::NotApplicable => (400, body),
        _ => (status, body),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyForm {
    /// Similarity needed, 0-100 (default 90; at least the server's `login_threshold`).
    #[serde(default)]
    pub similarity_threshold: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FacelockVerified)]
pub struct Verified {
    pub success: bool,
    pub user_id: String,
    pub similarity: f32,
    pub message: String,
    /// A Facegate face-login token: `Authorization: Bearer TOKEN`.
    pub token: String,
}

/// Verify a face and get an authentication token (multipart: `face_image`, `similarity_threshold`).
#[utoipa::path(post, path = "/compat/facelock/verify/", tag = "compat: facelock",
    request_body(content = VerifyForm, content_type = "multipart/form-data"),
    responses((status = 200, body = Verified), (status = 400, description = "`{\"detail\": ...}`: no matching face found, ...")))]
pub async fn verify(State(app): State<AppState>, mut payload: Payload) -> ApiResult<Json<Verified>> {
    let image = face_image(&mut payload)?;
    let form: VerifyForm = payload.options()?;
    let attempt = LoginAttempt {
        image: Some(image),
        threshold: Some(form.similarity_threshold.unwrap_or(DEFAULT_SIMILARITY)),
        liveness_session: None,
    };
    let login = login_users::face_login(&app, attempt).await?;
    Ok(Json(Verified {
        success: true,
        user_id: login.user.user_id,
        similarity: login.similarity,
        message: "Face verified successfully".into(),
        token: login.token,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    pub user_id: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub face_count: u64,
    pub created_at: String,
}

impl From<store::User> for UserInfo {
    fn from(u: store::User) -> Self {
        UserInfo {
            user_id: u.user_id,
            full_name: u.full_name,
            email: u.email,
            face_count: u.face_count,
            created_at: app::time::rfc3339(u.created_at),
        }
    }
}

/// The user of the request's face-login token (checked) when it brings no key: what a token may do with users is
/// the use cases' rule ([`UsersCaller`]).
async fn token_user(app: &AppState, headers: &HeaderMap, key: Option<&auth::Access>) -> ApiResult<Option<store::User>> {
    match key {
        Some(_) => Ok(None),
        None => Ok(Some(login_users::token_user(app, bearer_token(headers)).await?.1)),
    }
}

fn users_caller<'a>(key: Option<&'a auth::Access>, user: Option<&'a store::User>) -> UsersCaller<'a> {
    match (key, user) {
        (Some(key), _) => UsersCaller::Key(key),
        (None, Some(user)) => UsersCaller::User(user),
        (None, None) => UsersCaller::Anonymous,
    }
}

/// The user a face-login token belongs to.
#[utoipa::path(get, path = "/compat/facelock/users/me/", tag = "compat: facelock",
    responses((status = 200, body = UserInfo), (status = 401, description = "`{\"detail\": ...}`")))]
pub async fn me(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Json<UserInfo>> {
    let (_, user) = login_users::token_user(&app, bearer_token(&headers)).await?;
    Ok(Json(user.into()))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FacelockUserList)]
pub struct UserList {
    pub users: Vec<UserInfo>,
    pub count: usize,
}

/// Registered users: a token sees its own user, a key with the `users` scope every user (the first 1000).
#[utoipa::path(get, path = "/compat/facelock/users/", tag = "compat: facelock",
    responses((status = 200, body = UserList), (status = 401, description = "`{\"detail\": ...}`")))]
pub async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    key: Option<axum::Extension<auth::Access>>,
) -> ApiResult<Json<UserList>> {
    let key = key.as_ref().map(|k| &k.0);
    let user = token_user(&app, &headers, key).await?;
    let page = Page { limit: Some(app::usecases::collections::MAX_PAGE), next_token: None };
    let listed = login_users::list(&app, users_caller(key, user.as_ref()), &page).await?;
    let users: Vec<UserInfo> = listed.items.into_iter().map(Into::into).collect();
    Ok(Json(UserList { count: users.len(), users }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub success: bool,
    pub user_id: String,
    pub message: String,
}

/// Delete a user's facial data: a token only its own user, a key with the `users` scope any.
#[utoipa::path(delete, path = "/compat/facelock/users/{user_id}/", tag = "compat: facelock",
    params(("user_id" = String, Path)),
    responses((status = 200, body = Deleted), (status = 403, description = "`{\"detail\": ...}`"), (status = 404, description = "`{\"detail\": ...}`")))]
pub async fn delete(
    State(app): State<AppState>,
    headers: HeaderMap,
    key: Option<axum::Extension<auth::Access>>,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    let key = key.as_ref().map(|k| &k.0);
    let user = token_user(&app, &headers, key).await?;
    login_users::delete(&app, users_caller(key, user.as_ref()), &user_id).await?;
    Ok(Json(Deleted { success: true, user_id, message: "User deleted successfully".into() }))
}

/// The routes of this front door, answering errors as FastAPI does.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_welcome, _, _>(welcome, Public)
        .operation::<__path_health, _, _>(health, Public)
        .operation::<__path_api_docs, _, _>(api_docs, Public)
        .operation::<__path_token, _, _>(token, Public)
        .operation::<__path_register, _, _>(register, OpenIf(OpenRoute::FacelockRegister, Scope::Users))
        .operation::<__path_verify, _, _>(verify, OpenIf(OpenRoute::FaceLogin, Scope::Users))
        .operation::<__path_me, _, _>(me, UserToken)
        .operation::<__path_list, _, _>(list, UserTokenOr(Scope::Users))
        .operation::<__path_delete, _, _>(delete, UserTokenOr(Scope::Users))
        .errors_as(facelock_error)
}
