//! Face login: an image in, a signed token out; logout and revocation; the JWKS that lets other services
//! check tokens alone; and signing-key rotation.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use store::USERS_COLLECTION;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Code};
use crate::http_error::ErrorBody;
use crate::input::{ImageField, JsonBody, Payload};
use crate::routes::users::UserDto;
use crate::sessions::{consume_for_login, SessionProof};
use crate::state::{largest, AppState};
use crate::time::rfc3339;
use crate::usecases::collections::usable_collection;

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
        (status = 422, description = "`no_face`", body = ErrorBody),
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
        return Err(ApiError::new(Code::InvalidRequest, "`image` is one image, not several"));
    }
    let floor = app.config.login_threshold;
    let threshold = match req.threshold {
        None => floor,
        Some(t) if t.is_finite() && (floor..=100.0).contains(&t) => t,
        Some(_) => {
            return Err(ApiError::invalid_parameter(format!(
                "threshold must lie between the configured floor {floor} and 100"
            )))
        }
    };
    let _admission = app.pool.admit()?;
    usable_collection(&app, USERS_COLLECTION).await?;
    let live = match &req.liveness_session_id {
        Some(id) => {
            let proof = match (&req.liveness_session_token, &access) {
                (Some(token), _) => SessionProof::Token(token),
                (None, Some(axum::Extension(access))) => SessionProof::Key(access),
                (None, None) => SessionProof::Nothing,
            };
            Some(consume_for_login(&app, id, proof).await?)
        }
        None if app.config.login_requires_liveness => {
            return Err(ApiError::new(
                Code::LivenessRequired,
                "this server logs in only after a liveness session: send `livenessSessionId`",
            ))
        }
        None => None,
    };
    let mut amr = vec!["face".to_string()];
    if live.is_some() {
        amr.push("liveness".into());
    }
    let probe = match images.pop() {
        Some(image) => {
            let analysed = app.analyze(image, app.config.detect_max_side, |f| largest(f).into_iter().collect()).await?;
            let Some(template) = analysed.templates.first() else {
                return Err(ApiError::new(Code::NoFace, "no face was found in the image"));
            };
            if let Some(session_template) = &live {
                if app.similarity(vision::embed::cosine(session_template, &template.vector)) < threshold {
                    return Err(ApiError::new(
                        Code::LivenessMismatch,
                        "the image is not the liveness session's person",
                    ));
                }
            }
            template.vector.clone()
        }
        None => {
            live.ok_or_else(|| ApiError::new(Code::MissingImage, "send the face `image` (or a `livenessSessionId`)"))?
        }
    };
    let no_match = || ApiError::new(Code::NoMatch, "no registered user matches this face");
    let min_cosine = vision::similarity::cosine_for_similarity(app.model, threshold);
    let hit = app.indexes.search(USERS_COLLECTION, &probe, 1, min_cosine).into_iter().next();
    let Some(hit) = hit else {
        tracing::info!("face login: no match");
        return Err(no_match());
    };
    let record = app.store.get_faces(USERS_COLLECTION, &[hit.id]).await?.into_iter().next();
    let user_id = record.and_then(|r| r.external_id).ok_or_else(no_match)?;
    // Deleted (perhaps through another replica) since the index saw the face: no login.
    let user = app.store.get_user(&user_id).await?.ok_or_else(no_match)?;
    let similarity = app.similarity(hit.score);
    let issued = app
        .keyring
        .issue(&user.user_id, user.created_at, similarity, amr)
        .map_err(|e| ApiError::internal("signing a token", e))?;
    tracing::info!(user_id = %user.user_id, jti = %issued.claims.jti, similarity, "face login");
    Ok(Json(FaceLoginResponse {
        access_token: issued.token,
        token_type: "Bearer".into(),
        expires_in: issued.claims.exp - issued.claims.iat,
        expires_at: rfc3339(issued.claims.exp.saturating_mul(1000)),
        user_id: user.user_id.clone(),
        similarity,
        user: UserDto::new(user, None),
    }))
}

/// The face-login token in `Authorization: Bearer` and its user, checked: signature, dates, issuer,
/// audience, not revoked, and issued to the user record that holds its user id now (a user deleted and
/// registered again under the same id, perhaps with another person's face, is another record: the old
/// tokens no longer open it).
pub async fn bearer_user(app: &AppState, headers: &HeaderMap) -> ApiResult<(auth::Claims, store::User)> {
    let token = match crate::access::credentials(headers) {
        Some(Ok(token)) => token,
        _ => {
            return Err(ApiError::new(Code::InvalidToken, "send the face-login token as `Authorization: Bearer TOKEN`"))
        }
    };
    let claims = app.keyring.verify(token).await.map_err(|e| ApiError::new(Code::InvalidToken, e.to_string()))?;
    if app.keyring.is_revoked(&claims.jti).await? {
        return Err(ApiError::new(Code::InvalidToken, "the token has been revoked"));
    }
    let user = app
        .store
        .get_user(&claims.sub)
        .await?
        .ok_or_else(|| ApiError::new(Code::InvalidToken, "the token's user no longer exists"))?;
    if claims.user_created_at != Some(user.created_at) {
        return Err(ApiError::new(Code::InvalidToken, "the token was issued to an earlier user of this id"));
    }
    Ok((claims, user))
}

/// Log out: revokes the face-login token sent as `Authorization: Bearer`.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody)))]
pub async fn logout(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<StatusCode> {
    let (claims, _) = bearer_user(&app, &headers).await?;
    app.keyring.revoke(&claims.jti, Some(claims.exp)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a face-login token (by the token or its `jti`): from now on every replica refuses it.
#[utoipa::path(post, path = "/v1/auth/revoke", tag = "auth", request_body = RevokeTokenRequest,
    responses((status = 200, body = RevokedToken), (status = 400, body = ErrorBody)))]
pub async fn revoke(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<RevokeTokenRequest>,
) -> ApiResult<Json<RevokedToken>> {
    let (jti, exp) = match (req.token, req.jti) {
        (Some(token), None) => {
            // Signature and issuer must hold (an expired token needs no revoking, but is accepted).
            let claims = app.keyring.verify(&token).await;
            match claims {
                Ok(c) => (c.jti, Some(c.exp)),
                Err(auth::TokenError::Expired) => {
                    return Err(ApiError::invalid_parameter("the token has expired already"));
                }
                Err(e) => return Err(ApiError::invalid_parameter(format!("not a token of this service: {e}"))),
            }
        }
        (None, Some(jti)) if !jti.is_empty() && jti.len() <= 128 => (jti, None),
        _ => return Err(ApiError::invalid_parameter("send either `token` or `jti` (1-128 characters)")),
    };
    let revoked = app.keyring.revoke(&jti, exp).await?;
    tracing::info!(jti = %jti, "token revoked");
    Ok(Json(RevokedToken { jti, revoked }))
}

/// The public keys that check face-login tokens (RFC 7517). Cacheable for 5 minutes.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, body = Jwks)))]
pub async fn jwks(State(app): State<AppState>) -> Response {
    let mut response = Json(Jwks { keys: app.keyring.jwks() }).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// Start signing with a new key (admin). The previous key stays in the JWKS until its tokens have expired.
#[utoipa::path(post, path = "/v1/auth/signing-keys/rotate", tag = "auth",
    responses((status = 200, body = RotatedKey), (status = 409, description = "`not_applicable` with HS256", body = ErrorBody)))]
pub async fn rotate_signing_key(State(app): State<AppState>) -> ApiResult<Json<RotatedKey>> {
    match app.keyring.rotate().await? {
        Some(kid) => {
            tracing::info!(kid = %kid, "signing key rotated");
            Ok(Json(RotatedKey { kid }))
        }
        None => Err(ApiError::new(
            Code::NotApplicable,
            "tokens are signed with the configured HS256 secret: change token_secret to rotate",
        )),
    }
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
