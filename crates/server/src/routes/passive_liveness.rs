//! Stateless liveness: passive anti-spoofing of every face in one image.

use axum::extract::State;

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{FaceDto, ImageInfo};
use crate::http_error::ErrorBody;
use crate::http_error::{ApiResult, HttpError};
use crate::input::{ImageField, Payload};
use app::error::ApiError;
use app::state::AppState;
use app::usecases::analysis;

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PassiveRequest {
    #[serde(default)]
    #[schema(value_type = String, format = Byte)]
    pub image: Option<ImageField>,
    /// A face is real when its score reaches this (0..1; default: the server's `passive_threshold`, 0.05).
    #[serde(default)]
    pub threshold: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassiveModelScore {
    /// `MiniFASNetV2` (face box x2.7) or `MiniFASNetV1SE` (x4.0).
    pub model: String,
    /// Softmax: the probability of "real", and of each attack class.
    pub real: f32,
    pub attack: f32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassiveFace {
    pub face: FaceDto,
    /// `score >= threshold`.
    pub is_real: bool,
    /// The ensemble's score 0..1 (the sigmoid of the two networks' mean log-odds of "real").
    pub score: f32,
    pub threshold: f32,
    /// The published rule, for reference: `real` when "real" wins the networks' summed softmaxes, else `attack`.
    pub model_verdict: String,
    pub models: Vec<PassiveModelScore>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassiveResponse {
    pub image: ImageInfo,
    /// Every face, largest first.
    pub faces: Vec<PassiveFace>,
    pub threshold: f32,
}

/// Passive liveness: is each face in the image a live person, or a photo or screen held to the camera?
///
/// Runs the MiniFASNet V2 and V1SE networks (built from the official weights, which must be in the server's
/// models directory) on each face with the context they were trained with.
#[utoipa::path(post, path = "/v1/liveness/passive", tag = "liveness",
    request_body(content = PassiveRequest, description = "JSON with base64 `image`; or multipart; or a raw image body"),
    responses(
        (status = 200, body = PassiveResponse),
        (status = 400, body = ErrorBody),
        (status = 422, description = "`no_face`", body = ErrorBody),
        (status = 501, description = "`model_unavailable`: the anti-spoofing weights are not installed", body = ErrorBody),
    ))]
pub async fn passive(State(app): State<AppState>, mut payload: Payload) -> ApiResult<Json<PassiveResponse>> {
    let image = payload.take_image("image")?;
    let req: PassiveRequest = payload.options()?;
    if req.threshold.is_some_and(|t| !(t.is_finite() && (0.0..=1.0).contains(&t))) {
        return Err(HttpError::from(ApiError::invalid_parameter("threshold must lie in 0..1")));
    }
    let checked = analysis::passive(&app, image, req.threshold).await?;
    let names = ["MiniFASNetV2", "MiniFASNetV1SE"];
    let faces = checked
        .faces
        .into_iter()
        .map(|f| PassiveFace {
            face: FaceDto::from(&f.face),
            is_real: f.is_real,
            score: f.score.real,
            threshold: checked.threshold,
            model_verdict: if f.score.model_verdict_real { "real" } else { "attack" }.into(),
            models: f
                .score
                .per_model
                .iter()
                .zip(names)
                .map(|(p, model)| PassiveModelScore { model: model.into(), real: p[1], attack: p[0] + p[2] })
                .collect(),
        })
        .collect();
    Ok(Json(PassiveResponse { image: checked.image.into(), faces, threshold: checked.threshold }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new().operation::<__path_passive, _, _>(passive, Scope(Scope::Liveness))
}
