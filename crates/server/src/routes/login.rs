//! Face login: an image in, a signed token out; logout and revocation; the JWKS that lets other services
//! check tokens alone; and signing-key rotation.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::bearer_token;
use crate::dto::UserDto;
use crate::http_error::ErrorBody;
use crate::http_error::{ApiResult, HttpError};
use crate::input::{ImageField, OptionsBody, Payload};
use app::error::{ApiError, Code};
use app::state::AppState;
use app::time::rfc3339;
use app::usecases::liveness_sessions::Credential;
use app::usecases::login_users::{self, LoginAttempt, Revocation};

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaceLoginRequest {
    #[serde(default)]
    #[schema(value_type = String, format = Byte)]
    pub image: Option<ImageField>,
    /// Similarity needed (0-100); at least the server's `login_threshold` (default 80 = false match rate 1e-4
    /// per user), which is also the default.
    #[serde(default)]
    pub threshold: Option<f32>,
    /// A liveness session that has just succeeded (required when the server sets `login_requires_liveness`):
    /// its face logs in — the image, when sent as well, must be the same person — and the session is used up.
    /// It needs the session's token (`livenessSessionToken`) or the API key that created the session.
    #[serde(default)]
    pub liveness_session_id: Option<String>,
    /// The token the session was created with (`fls_...`): the id alone logs nobody in.
    #[serde(default)]
    pub liveness_session_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceLoginResponse {
    /// The signed token (JWT): send it as `Authorization: Bearer TOKEN`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    pub expires_at: String,
    pub user_id: String,
    pub similarity: f32,
    pub user: UserDto,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeTokenRequest {
    /// A token to revoke (its `jti` is read from it; it must have been issued by this service).
    #[serde(default)]
    pub token: Option<String>,
    /// Or the `jti` of a token.
    #[serde(default)]
    pub jti: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedToken {
    pub jti: String,
    /// False when it was revoked already.
    pub revoked: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Jwks {
    /// Public keys (`OKP`/`Ed25519`): the current signing key and those retired while their tokens may live.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<auth::Jwk>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKey {
    /// The new signing key's id.
    pub kid: String,
}

/// Log in with a face: the user whose registered face matches best (at or above the threshold) gets a
/// signed token.
#[utoipa::path(post, path = "/v1/auth/face-login", tag = "auth",
    request_body(content = FaceLoginRequest, description = "JSON with base64 `image`; or multipart; or a raw image body"),
    responses(
        (status = 200, body = FaceLoginResponse),
        (status = 400, description = "`invalid_parameter` (e.g. a threshold below the configured floor)", body = ErrorBody),
        (status = 401, description = "`no_match`: nobody registered matches this face", body = ErrorBody),
        (status = 422, description = "`no_face`; `multiple_faces`: a second face at least 0.8 of the largest's height", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many attempts from this address", body = ErrorBody),
    ))]
pub async fn face_login(
    State(app): State<AppState>,
    access: Option<axum::Extension<auth::Access>>,
    mut payload: Payload,
) -> ApiResult<Json<FaceLoginResponse>> {
    let mut images = payload.take_images("image")?;
    let req: FaceLoginRequest = payload.options()?;
    if images.len() > 1 {
        return Err(HttpError::from(ApiError::new(Code::InvalidRequest, "`image` is one image, not several")));
    }
    let credential = match (&req.liveness_session_token, &access) {
        (Some(token), _) => Credential::SessionToken(token),
        (None, Some(axum::Extension(access))) => Credential::Key(access),
        (None, None) => Credential::None,
    };
    let attempt = LoginAttempt {
        image: images.pop(),
        threshold: req.threshold,
        liveness_session: req.liveness_session_id.as_deref().map(|id| (id, credential)),
    };
    let login = login_users::face_login(&app, attempt).await?;
    let claims = &login.claims;
    Ok(Json(FaceLoginResponse {
        access_token: login.token,
        token_type: "Bearer".into(),
        expires_in: claims.exp - claims.iat,
        expires_at: rfc3339(claims.exp.saturating_mul(1000)),
        user_id: login.user.user_id.clone(),
        similarity: login.similarity,
        user: UserDto::new(login.user, None),
    }))
}

/// Log out: revokes the face-login token sent as `Authorization: Bearer`.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody)))]
pub async fn logout(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<StatusCode> {
    login_users::logout(&app, bearer_token(&headers)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a face-login token (by the token or its `jti`): from now on every replica refuses it.
#[utoipa::path(post, path = "/v1/auth/revoke", tag = "auth", request_body = RevokeTokenRequest,
    responses((status = 200, body = RevokedToken), (status = 400, body = ErrorBody)))]
pub async fn revoke(
    State(app): State<AppState>,
    OptionsBody(req): OptionsBody<RevokeTokenRequest>,
) -> ApiResult<Json<RevokedToken>> {
    let which = match (req.token, req.jti) {
        (Some(token), None) => Revocation::Token(token),
        (None, Some(jti)) => Revocation::Jti(jti),
        _ => {
            return Err(HttpError::from(ApiError::invalid_parameter("send either `token` or `jti` (1-128 characters)")))
        }
    };
    let (jti, revoked) = login_users::revoke(&app, which).await?;
    Ok(Json(RevokedToken { jti, revoked }))
}

/// The public keys that check face-login tokens (RFC 7517). Cacheable for 5 minutes.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, body = Jwks)))]
pub async fn jwks(State(app): State<AppState>) -> Response {
    let mut response = Json(Jwks { keys: login_users::signing_keys(&app) }).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// Start signing with a new key (admin). The previous key stays in the JWKS until its tokens have expired.
#[utoipa::path(post, path = "/v1/auth/signing-keys/rotate", tag = "auth",
    responses((status = 200, body = RotatedKey), (status = 409, description = "`not_applicable` with HS256", body = ErrorBody)))]
pub async fn rotate_signing_key(State(app): State<AppState>) -> ApiResult<Json<RotatedKey>> {
    Ok(Json(RotatedKey { kid: login_users::rotate_signing_key(&app).await? }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_face_login, _, _>(face_login, Login)
        .operation::<__path_logout, _, _>(logout, UserToken)
        .operation::<__path_revoke, _, _>(revoke, Scope(Scope::Users))
        .operation::<__path_jwks, _, _>(jwks, Public)
        .operation::<__path_rotate_signing_key, _, _>(rotate_signing_key, Scope(Scope::Admin))
}
