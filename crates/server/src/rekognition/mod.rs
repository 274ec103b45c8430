//! An AWS Rekognition-compatible API: `POST /` with `X-Amz-Target: RekognitionService.<Operation>` and an
//! `application/x-amz-json-1.1` body, authenticated with AWS Signature V4, so that AWS SDKs pointed at Facegate
//! (`endpoint_url=...`) work unchanged.
//!
//! Each operation translates AWS shapes onto the use case that does the work ([`app::usecases`]) and back;
//! every error code answers with its AWS error type from the one table (`{"__type", "message"}`). Operations: DetectFaces, CompareFaces,
//! IndexFaces, ListFaces, DeleteFaces, SearchFaces, SearchFacesByImage, CreateCollection, DescribeCollection,
//! ListCollections, DeleteCollection, CreateFaceLivenessSession, GetFaceLivenessSessionResults; and the Users of a
//! collection: CreateUser, DeleteUser, ListUsers, AssociateFaces, DisassociateFaces, SearchUsers,
//! SearchUsersByImage.
//!
//! Credentials: the admin pair from the configuration, or a pair issued for an API key
//! (`POST /v1/keys/{keyId}/aws-credentials`). This front door checks the signature ([`signed`]: it reads the
//! signed body) and then has the access layer apply the operation's scope and collection, the key's rate limit
//! and quota, exactly as on the `/v1` route that does the same work.
//!
//! Modules: [`errors`] (AWS's error shape), [`signed`] (Signature V4 admission and the operation table),
//! [`operations`] (each operation: AWS shapes in, a use case, AWS shapes out), [`face_details`] (`FaceDetail` and
//! the attributes that choose it), [`users`] (the Users operations).
//!
//! Shapes: boxes and landmarks as ratios of the image's width and height; `Confidence` = detection score × 100;
//! `Quality.Brightness` = mean luminance × 100; `Quality.Sharpness` = variance of the Laplacian of the aligned
//! face / 10, capped at 100; `Similarity` = the calibrated similarity (FMR on LFW), capped at 100.

mod collection_users;
mod errors;
mod face_details;
mod operations;
mod signed;

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

pub use errors::AwsError;
pub(crate) use signed::signer;
pub use signed::{operation_requirement, SignedRequest};

use crate::access::Requirement::AwsSignature;
use crate::routes::table::Routes;
use app::state::AppState;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// `POST /`: a signed request is admitted (signature, scope, collection, limits, quota), then its operation runs.
pub async fn dispatch(State(app): State<AppState>, request: Request) -> Response {
    let ip = crate::access::client_ip(&app, &request);
    let (region, caller, signed) = match signed::admit(&app, ip, request).await {
        Ok(admitted) => admitted,
        Err(e) => return e.into_response(),
    };
    let answer = if collection_users::OPERATIONS.contains(&signed.operation.as_str()) {
        collection_users::handle(&app, &caller, &signed.operation, &signed.request).await
    } else {
        operations::handle(app, caller, &region, signed).await
    };
    match answer {
        Ok(v) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], v.to_string()).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /`: the operations, behind a Signature V4 that [`dispatch`] checks (each operation's scope comes from
/// [`operation_requirement`]).
pub fn routes() -> Routes {
    Routes::new().undocumented(axum::http::Method::POST, "/", dispatch, AwsSignature)
}
