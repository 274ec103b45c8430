//! Collections (1:N): create, list, get, delete; index faces from an image; list, get and delete faces;
//! search by image and by an enrolled face.

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use store::{FaceBox, NewCollection, NewFace, StoredImage};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::dto::*;
use crate::error::{ApiError, ApiResult, Code};
use crate::http_error::ErrorBody;
use crate::input::{lenient_string, JsonBody, Payload, QueryOptions};
use crate::state::{largest, AppState};

const MAX_METADATA_BYTES: usize = 16 * 1024;
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1-1000 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `nextToken` of the previous page.
    #[serde(default, deserialize_with = "lenient_string")]
    pub next_token: Option<String>,
    /// Only faces with this external id (face listing only).
    #[serde(default, deserialize_with = "lenient_string")]
    pub external_id: Option<String>,
}

pub(crate) fn page_size(limit: Option<u32>) -> ApiResult<u32> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(ApiError::invalid_parameter(format!("limit must lie in 1..{MAX_PAGE}"))),
    }
}

fn max_results(requested: Option<u32>) -> ApiResult<usize> {
    match requested.unwrap_or(10) {
        n @ 1..=1000 => Ok(n as usize),
        _ => Err(ApiError::invalid_parameter("maxResults must lie in 1..1000")),
    }
}

fn parse_face_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::new(Code::FaceNotFound, format!("no face {id:?} in the collection")))
}

/// Checks that the collection exists and holds templates of the model this server runs (without counting its
/// faces: cheap at any size).
pub(crate) async fn usable_collection(app: &AppState, id: &str) -> ApiResult<()> {
    let model = app.store.collection_model(id).await?.ok_or_else(|| ApiError::collection_not_found(id))?;
    if model != app.model.id() {
        return Err(ApiError::new(
            Code::ModelMismatch,
            format!("collection {id:?} holds {model} templates; this server runs {}", app.model.id()),
        ));
    }
    Ok(())
}

async fn existing_collection(app: &AppState, id: &str) -> ApiResult<()> {
    match app.store.collection_model(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::collection_not_found(id)),
    }
}

/// Brings this replica's index up to the write just committed. The write is done whatever happens here: when
/// the store cannot be read back right now, the background follower catches up, and the client still gets its
/// (true) answer instead of an error that would invite a duplicating retry.
pub(crate) async fn catch_up(app: &AppState) {
    if let Err(e) = app.indexes.sync().await {
        tracing::warn!(error = %e, "index catch-up after a write failed; the background follower will retry");
    }
}

/// Create a collection.
#[utoipa::path(post, path = "/v1/collections", tag = "collections",
    request_body = CreateCollectionRequest,
    responses(
        (status = 201, body = CollectionDto),
        (status = 400, description = "`invalid_collection_id`, `invalid_json`, ...", body = ErrorBody),
        (status = 409, description = "`collection_exists`", body = ErrorBody),
    ))]
pub async fn create_collection(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    JsonBody(req): JsonBody<CreateCollectionRequest>,
) -> ApiResult<(StatusCode, Json<CollectionDto>)> {
    if !store::valid_collection_id(&req.collection_id) {
        return Err(ApiError::new(
            Code::InvalidCollectionId,
            "collectionId must be 1-255 characters of A-Z a-z 0-9 _ . -",
        ));
    }
    if !caller.may_use_collection(&req.collection_id) {
        return Err(ApiError::new(
            Code::CollectionForbidden,
            format!("this key may not use collection {:?}", req.collection_id),
        ));
    }
    if req.description.as_ref().is_some_and(|d| d.len() > 1024) {
        return Err(ApiError::invalid_parameter("description is limited to 1024 bytes"));
    }
    let created = app
        .store
        .create_collection(&NewCollection {
            collection_id: req.collection_id,
            description: req.description,
            model: app.model.id().to_string(),
            dimension: app.model.dimension(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// List collections (in id order, paginated).
#[utoipa::path(get, path = "/v1/collections", tag = "collections", params(PageQuery),
    responses((status = 200, body = CollectionList), (status = 400, body = ErrorBody)))]
pub async fn list_collections(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    QueryOptions(q): QueryOptions<PageQuery>,
) -> ApiResult<Json<CollectionList>> {
    let limit = page_size(q.limit)?;
    let after = q.next_token.as_deref();
    let mut collections = match &caller.collections {
        None => app.store.list_collections(after, limit + 1).await?,
        // A key limited to some collections sees only those.
        Some(allowed) => {
            let mut ids: Vec<&String> = allowed.iter().filter(|id| after.is_none_or(|a| id.as_str() > a)).collect();
            ids.sort();
            let mut found = Vec::new();
            for id in ids {
                if found.len() > limit as usize {
                    break;
                }
                if let Some(c) = app.store.get_collection(id).await? {
                    found.push(c);
                }
            }
            found
        }
    };
    let next_token = if collections.len() > limit as usize {
        collections.truncate(limit as usize);
        collections.last().map(|c| c.collection_id.clone())
    } else {
        None
    };
    Ok(Json(CollectionList { collections: collections.into_iter().map(Into::into).collect(), next_token }))
}

/// Describe a collection.
#[utoipa::path(get, path = "/v1/collections/{collectionId}", tag = "collections",
    params(("collectionId" = String, Path)),
    responses((status = 200, body = CollectionDto), (status = 404, body = ErrorBody)))]
pub async fn get_collection(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<CollectionDto>> {
    let collection = app.store.get_collection(&id).await?.ok_or_else(|| ApiError::collection_not_found(&id))?;
    Ok(Json(collection.into()))
}

/// Delete a collection with all its faces and stored images.
#[utoipa::path(delete, path = "/v1/collections/{collectionId}", tag = "collections",
    params(("collectionId" = String, Path)),
    responses((status = 200, body = DeleteCollectionResponse), (status = 404, body = ErrorBody)))]
pub async fn delete_collection(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeleteCollectionResponse>> {
    let deleted_faces = app.store.delete_collection(&id).await?;
    catch_up(&app).await;
    Ok(Json(DeleteCollectionResponse { collection_id: id, deleted_faces }))
}

/// Index the faces of an image into a collection.
///
/// The largest face (or all faces, up to `maxFaces`) is checked against the quality bar, embedded and stored
/// with `externalId` and `metadata`; faces below the bar come back in `unindexedFaces` with the reasons.
/// The image itself is stored only with `storeImage: true`.
#[utoipa::path(post, path = "/v1/collections/{collectionId}/faces", tag = "collections",
    params(("collectionId" = String, Path)),
    request_body(content = IndexFacesRequest, description = "JSON with base64 `image`; multipart with an `image` file; or a raw image with options in the query"),
    responses(
        (status = 200, body = IndexFacesResponse),
        (status = 400, body = ErrorBody),
        (status = 404, description = "`collection_not_found`", body = ErrorBody),
        (status = 422, description = "`no_face`", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn index_faces(
    State(app): State<AppState>,
    Path(id): Path<String>,
    mut payload: Payload,
) -> ApiResult<Json<IndexFacesResponse>> {
    let image = payload.take_image("image")?;
    let req: IndexFacesRequest = payload.options()?;
    let _admission = app.pool.admit()?;
    if let Some(m) = &req.metadata {
        if !m.is_object() {
            return Err(ApiError::invalid_parameter("metadata must be a JSON object"));
        }
        if m.to_string().len() > MAX_METADATA_BYTES {
            return Err(ApiError::invalid_parameter("metadata is limited to 16 KiB"));
        }
    }
    if req.client_request_token.as_deref().is_some_and(|t| !store::valid_client_token(t)) {
        return Err(ApiError::invalid_parameter("clientRequestToken must be 1-64 characters of A-Z a-z 0-9 _ -"));
    }
    if req.external_id.as_ref().is_some_and(|e| e.is_empty() || e.len() > 255) {
        return Err(ApiError::invalid_parameter("externalId must be 1-255 bytes"));
    }
    let max_faces = match (req.faces, req.max_faces) {
        (FaceSelection::Largest, _) => 1,
        (FaceSelection::All, None) => 20,
        (FaceSelection::All, Some(n @ 1..=100)) => n as usize,
        (FaceSelection::All, Some(_)) => return Err(ApiError::invalid_parameter("maxFaces must lie in 1..100")),
    };
    usable_collection(&app, &id).await?;

    let filter = req.quality_filter == QualityFilter::Auto;
    let stored_copy = req.store_image.then(|| image.clone());
    // `largest`: the largest face, if it clears the quality bar (never a smaller one instead). `all`: faces by
    // size, largest first; the first `max_faces` that clear the bar.
    let only_largest = req.faces == FaceSelection::Largest;
    let analyzed = app
        .analyze(image, app.config.detect_max_side, move |faces| {
            let mut order: Vec<usize> = (0..faces.len()).collect();
            order.sort_by(|&a, &b| faces[b].detection.bbox.area().total_cmp(&faces[a].detection.bbox.area()));
            let candidates = if only_largest { 1 } else { order.len() };
            order
                .into_iter()
                .take(candidates)
                .filter(|&i| !filter || faces[i].quality.acceptable())
                .take(max_faces)
                .collect()
        })
        .await?;
    if analyzed.faces.is_empty() {
        return Err(ApiError::new(Code::NoFace, "no face was found in the image"));
    }
    let largest_face = largest(&analyzed.faces);
    let image_id = Uuid::new_v4();
    let mut new_faces = Vec::new();
    let mut unindexed = Vec::new();
    for (i, face) in analyzed.faces.iter().enumerate() {
        if only_largest && Some(i) != largest_face {
            // Not a candidate at all with `faces: largest`.
            continue;
        }
        match analyzed.template_of(i) {
            Some(template) => {
                let b = face.detection.bbox;
                new_faces.push(NewFace {
                    face_id: Uuid::now_v7(),
                    image_id,
                    external_id: req.external_id.clone(),
                    metadata: req.metadata.clone(),
                    bbox: FaceBox { x: b.x, y: b.y, width: b.width, height: b.height },
                    detection_score: face.detection.score,
                    quality: face.quality.score,
                    template: template.vector.clone(),
                });
            }
            None => {
                let mut reasons: Vec<String> = if filter {
                    face.quality.issues.iter().map(|q| q.code().to_string()).collect()
                } else {
                    Vec::new()
                };
                if reasons.is_empty() {
                    reasons.push("exceeds_max_faces".to_string());
                }
                unindexed.push(UnindexedFace { face: FaceDto::from(face), reasons });
            }
        }
    }
    let mut records = Vec::new();
    if !new_faces.is_empty() {
        let stored = stored_copy.map(|bytes| StoredImage {
            image_id,
            content_type: sniff_content_type(&bytes).to_string(),
            bytes: bytes.to_vec(),
        });
        records = match app
            .store
            .add_faces_once(&id, req.client_request_token.as_deref(), &new_faces, stored.as_ref())
            .await?
        {
            store::Added::New(r) | store::Added::Earlier(r) => r,
        };
        catch_up(&app).await;
    }
    Ok(Json(IndexFacesResponse {
        face_records: records.into_iter().map(Into::into).collect(),
        unindexed_faces: unindexed,
        image: analyzed.image,
        face_model: app.face_model(),
    }))
}

pub(crate) fn sniff_content_type(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xff, 0xd8, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [b'G', b'I', b'F', ..] => "image/gif",
        [b'B', b'M', ..] => "image/bmp",
        _ => "application/octet-stream",
    }
}

/// List the faces of a collection in enrolment order (paginated; optionally only one external id).
#[utoipa::path(get, path = "/v1/collections/{collectionId}/faces", tag = "collections",
    params(("collectionId" = String, Path), PageQuery),
    responses((status = 200, body = FaceList), (status = 404, body = ErrorBody)))]
pub async fn list_faces(
    State(app): State<AppState>,
    Path(id): Path<String>,
    QueryOptions(q): QueryOptions<PageQuery>,
) -> ApiResult<Json<FaceList>> {
    let limit = page_size(q.limit)?;
    let after = match q.next_token.as_deref() {
        Some(t) => Some(Uuid::parse_str(t).map_err(|_| ApiError::invalid_parameter("nextToken is not one we issued"))?),
        None => None,
    };
    existing_collection(&app, &id).await?;
    let mut faces = app.store.list_faces(&id, after, limit + 1, q.external_id.as_deref()).await?;
    let next_token = if faces.len() > limit as usize {
        faces.truncate(limit as usize);
        faces.last().map(|f| f.face_id.to_string())
    } else {
        None
    };
    Ok(Json(FaceList { faces: faces.into_iter().map(Into::into).collect(), next_token }))
}

/// Describe one face.
#[utoipa::path(get, path = "/v1/collections/{collectionId}/faces/{faceId}", tag = "collections",
    params(("collectionId" = String, Path), ("faceId" = String, Path)),
    responses((status = 200, body = FaceRecordDto), (status = 404, body = ErrorBody)))]
pub async fn get_face(
    State(app): State<AppState>,
    Path((id, face_id)): Path<(String, String)>,
) -> ApiResult<Json<FaceRecordDto>> {
    let face_id = parse_face_id(&face_id)?;
    match app.store.get_face(&id, face_id).await? {
        Some(face) => Ok(Json(face.into())),
        None if app.store.collection_model(&id).await?.is_none() => Err(ApiError::collection_not_found(&id)),
        None => Err(ApiError::new(Code::FaceNotFound, format!("no face {face_id} in collection {id:?}"))),
    }
}

/// The image a face was indexed from, when it was stored (`storeImage: true`).
#[utoipa::path(get, path = "/v1/collections/{collectionId}/faces/{faceId}/image", tag = "collections",
    params(("collectionId" = String, Path), ("faceId" = String, Path)),
    responses((status = 200, description = "The image bytes", content_type = "image/jpeg"), (status = 404, body = ErrorBody)))]
pub async fn get_face_image(
    State(app): State<AppState>,
    Path((id, face_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let face_id = parse_face_id(&face_id)?;
    let face = app
        .store
        .get_face(&id, face_id)
        .await?
        .ok_or_else(|| ApiError::new(Code::FaceNotFound, format!("no face {face_id} in collection {id:?}")))?;
    let image = app
        .store
        .get_image(&id, face.image_id)
        .await?
        .ok_or_else(|| ApiError::new(Code::ImageNotStored, "the image of this face was not stored"))?;
    Ok(([(header::CONTENT_TYPE, image.content_type)], Body::from(image.bytes)).into_response())
}

/// Delete one face (and its stored image).
#[utoipa::path(delete, path = "/v1/collections/{collectionId}/faces/{faceId}", tag = "collections",
    params(("collectionId" = String, Path), ("faceId" = String, Path)),
    responses((status = 200, body = DeleteFacesResponse), (status = 404, body = ErrorBody)))]
pub async fn delete_face(
    State(app): State<AppState>,
    Path((id, face_id)): Path<(String, String)>,
) -> ApiResult<Json<DeleteFacesResponse>> {
    let face = parse_face_id(&face_id)?;
    let response = delete_some(&app, &id, vec![face_id]).await?;
    if response.deleted_faces.is_empty() {
        return Err(ApiError::new(Code::FaceNotFound, format!("no face {face} in collection {id:?}")));
    }
    Ok(Json(response))
}

/// Delete several faces at once; ids not in the collection are listed in `notFound`.
#[utoipa::path(post, path = "/v1/collections/{collectionId}/faces/delete", tag = "collections",
    params(("collectionId" = String, Path)),
    request_body = DeleteFacesRequest,
    responses((status = 200, body = DeleteFacesResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_faces(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<DeleteFacesRequest>,
) -> ApiResult<Json<DeleteFacesResponse>> {
    if req.face_ids.is_empty() || req.face_ids.len() > 1000 {
        return Err(ApiError::invalid_parameter("faceIds must hold 1-1000 ids"));
    }
    Ok(Json(delete_some(&app, &id, req.face_ids).await?))
}

async fn delete_some(app: &AppState, id: &str, face_ids: Vec<String>) -> ApiResult<DeleteFacesResponse> {
    existing_collection(app, id).await?;
    let mut not_found = Vec::new();
    let mut ids = Vec::new();
    for raw in face_ids {
        match Uuid::parse_str(&raw) {
            Ok(u) => ids.push(u),
            Err(_) => not_found.push(raw),
        }
    }
    let deleted = app.store.delete_faces(id, &ids).await?;
    catch_up(app).await;
    not_found.extend(ids.iter().filter(|i| !deleted.contains(i)).map(|i| i.to_string()));
    Ok(DeleteFacesResponse { deleted_faces: deleted, not_found })
}

/// Search a collection with the faces of an image (the largest, or all), top `maxResults` above the threshold.
#[utoipa::path(post, path = "/v1/collections/{collectionId}/search", tag = "collections",
    params(("collectionId" = String, Path)),
    request_body(content = SearchRequest, description = "JSON with base64 `image`; multipart with an `image` file; or a raw image with options in the query"),
    responses(
        (status = 200, body = SearchResponse),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`no_face` in the probe", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn search(
    State(app): State<AppState>,
    Path(id): Path<String>,
    mut payload: Payload,
) -> ApiResult<Json<SearchResponse>> {
    let image = payload.take_image("image")?;
    let req: SearchRequest = payload.options()?;
    let _admission = app.pool.admit()?;
    let threshold = app.threshold(req.threshold)?;
    let k = max_results(req.max_results)?;
    usable_collection(&app, &id).await?;
    let all = req.faces == FaceSelection::All;
    let analyzed = app
        .analyze(image, app.config.detect_max_side, move |faces| {
            if all {
                (0..faces.len()).collect()
            } else {
                largest(faces).into_iter().collect()
            }
        })
        .await?;
    if analyzed.faces.is_empty() {
        return Err(ApiError::new(Code::NoFace, "no face was found in the image"));
    }
    let mut results = Vec::new();
    for (slot, &i) in analyzed.embedded.iter().enumerate() {
        let query = analyzed.templates[slot].vector.clone();
        let matches = find(&app, &id, query, k, threshold, None).await?;
        results.push(SearchResult { searched_face: FaceDto::from(&analyzed.faces[i]), matches });
    }
    Ok(Json(SearchResponse { image: analyzed.image.clone(), results, threshold, face_model: app.face_model() }))
}

/// Search a collection with a face already in it (the face itself is not among the matches).
#[utoipa::path(post, path = "/v1/collections/{collectionId}/faces/{faceId}/search", tag = "collections",
    params(("collectionId" = String, Path), ("faceId" = String, Path)),
    request_body = SearchByFaceRequest,
    responses((status = 200, body = SearchByFaceResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn search_by_face(
    State(app): State<AppState>,
    Path((id, face_id)): Path<(String, String)>,
    JsonBody(req): JsonBody<SearchByFaceRequest>,
) -> ApiResult<Json<SearchByFaceResponse>> {
    let threshold = app.threshold(req.threshold)?;
    let k = max_results(req.max_results)?;
    let face_id = parse_face_id(&face_id)?;
    usable_collection(&app, &id).await?;
    let template = match app.indexes.template(&id, &face_id) {
        Some(t) => t,
        None => app
            .store
            .face_template(&id, face_id)
            .await?
            .ok_or_else(|| ApiError::new(Code::FaceNotFound, format!("no face {face_id} in collection {id:?}")))?,
    };
    let matches = find(&app, &id, template, k, threshold, Some(face_id)).await?;
    Ok(Json(SearchByFaceResponse { face_id, matches, threshold, face_model: app.face_model() }))
}

/// The index's top `k` (above `threshold`), resolved to face records; `exclude` is left out.
async fn find(
    app: &AppState,
    collection: &str,
    query: Vec<f32>,
    k: usize,
    threshold: f32,
    exclude: Option<Uuid>,
) -> ApiResult<Vec<MatchDto>> {
    let min_cosine = vision::similarity::cosine_for_similarity(app.model, threshold);
    let indexes = app.indexes.clone();
    let collection_owned = collection.to_string();
    let want = k + usize::from(exclude.is_some());
    // A large index is scanned on several threads; keep that off the async workers.
    let hits = tokio::task::spawn_blocking(move || indexes.search(&collection_owned, &query, want, min_cosine))
        .await
        .map_err(|e| ApiError::internal("search", e))?;
    let hits: Vec<_> = hits.into_iter().filter(|h| Some(h.id) != exclude).take(k).collect();
    let ids: Vec<Uuid> = hits.iter().map(|h| h.id).collect();
    let mut records: std::collections::HashMap<Uuid, store::FaceRecord> =
        app.store.get_faces(collection, &ids).await?.into_iter().map(|r| (r.face_id, r)).collect();
    Ok(hits
        .into_iter()
        .filter_map(|hit| {
            // A face deleted (through another replica) since the index saw it has no record: leave it out.
            let record = records.remove(&hit.id)?;
            Some(MatchDto {
                face_id: hit.id,
                image_id: record.image_id,
                external_id: record.external_id,
                metadata: record.metadata,
                similarity: app.similarity(hit.score),
                cosine: hit.score,
            })
        })
        .collect())
}
