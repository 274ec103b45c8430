//! `/compat/liveness-api`: the serverless liveness-session and face-comparison API (AWS SAM, Rekognition behind
//! it). `POST /session {clientRequestToken}` → `{SessionId}`; `GET /session/{id}` → `{clientRequestToken, status,
//! comparisonResult}`; `POST /compare {source, target}` → `{comparisonResult}`; the static token is sent as
//! `Authorization: Bearer` and is a Facegate API key here.
//!
//! `comparisonResult` is on that system's scale, 0-1: Facegate's similarity (0-100) over 100 for `/compare`, and
//! the session's confidence over 100 once it has a result (null before). `status` is Rekognition's liveness
//! session state (`CREATED`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `EXPIRED`). The answer to `POST /session`
//! also carries `sessionToken`, which Facegate's browser client needs to send the session's frames (the
//! original's client used AWS credentials instead).

use axum::extract::{Extension, Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Requirement::*;
use crate::http_error::ApiResult;
use crate::input::{decode_base64, JsonBody, OptionsBody};
use crate::routes::table::Routes;
use app::state::AppState;
use app::usecases::faces::{self, CompareOptions};
use app::usecases::liveness_sessions::{self, CreateOptions, Credential};
use auth::Scope;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartSession {
    /// Makes the call idempotent: the same token returns the same session.
    #[serde(default, deserialize_with = "crate::input::lenient_string")]
    pub client_request_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionStarted {
    #[serde(rename = "SessionId")]
    pub session_id: String,
    /// For Facegate's browser client (`/sdk/facegate-liveness.js`): the credential that sends this session's
    /// frames. Not in the original API.
    #[serde(rename = "sessionToken")]
    pub session_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionChecked {
    pub client_request_token: Option<String>,
    /// `CREATED`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED` or `EXPIRED`.
    pub status: String,
    /// The session's confidence over 100 (0-1; 0.5 and above if and only if it succeeded), null until it has a
    /// result.
    pub comparison_result: Option<f32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareImages {
    /// Base64.
    pub source: String,
    /// Base64.
    pub target: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Compared {
    /// The similarity of the source's largest face to the target's, over 100 (0-1).
    pub comparison_result: f32,
}

/// Start a liveness session (random challenges, a head turn among them).
#[utoipa::path(post, path = "/compat/liveness-api/session", tag = "compat: liveness-api",
    request_body = StartSession,
    responses((status = 200, body = SessionStarted), (status = 400, description = "`{\"message\": ...}`")))]
pub async fn start_session(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    OptionsBody(req): OptionsBody<StartSession>,
) -> ApiResult<Json<SessionStarted>> {
    let options = CreateOptions {
        challenges: None,
        challenge_count: None,
        exclude: Vec::new(),
        require_head_turn: true,
        audit_images: 0,
        client_request_token: req.client_request_token,
        output: None,
        face_area: None,
        stream_challenges: Vec::new(),
    };
    let created = liveness_sessions::create(&app, &caller, options).await?;
    Ok(Json(SessionStarted { session_id: created.row.session_id, session_token: created.token }))
}

/// A session's state and, once it has one, its result.
#[utoipa::path(get, path = "/compat/liveness-api/session/{sessionId}", tag = "compat: liveness-api",
    params(("sessionId" = String, Path)),
    responses((status = 200, body = SessionChecked), (status = 404, description = "`{\"message\": ...}`")))]
pub async fn check_session(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(session_id): Path<String>,
) -> ApiResult<Json<SessionChecked>> {
    let status = liveness_sessions::status(&app, &session_id, Credential::Key(&caller)).await?;
    let result = status.session.result();
    Ok(Json(SessionChecked {
        client_request_token: status.row.client_request_token,
        status: result.status.as_str().to_string(),
        comparison_result: result.status.is_final().then(|| result.confidence / 100.0),
    }))
}

/// Compare the largest face of `source` with the largest face of `target`.
#[utoipa::path(post, path = "/compat/liveness-api/compare", tag = "compat: liveness-api",
    request_body = CompareImages,
    responses((status = 200, body = Compared), (status = 400, description = "`{\"message\": ...}`"),
        (status = 422, description = "`{\"message\": ...}`: no face")))]
pub async fn compare(State(app): State<AppState>, JsonBody(req): JsonBody<CompareImages>) -> ApiResult<Json<Compared>> {
    let (source, target) = (decode_base64("source", &req.source)?, decode_base64("target", &req.target)?);
    let compared = faces::compare(&app, source, target, CompareOptions::default()).await?;
    Ok(Json(Compared { comparison_result: compared.best().0 / 100.0 }))
}

/// The routes of this front door, answering errors as API Gateway does.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_start_session, _, _>(start_session, Scope(Scope::Liveness))
        .operation::<__path_check_session, _, _>(check_session, Scope(Scope::Liveness))
        .operation::<__path_compare, _, _>(compare, Scope(Scope::FacesCompare))
        .errors_as(super::gateway_error)
}
