//! Collections (1:N): create, list, describe, delete; index the faces of an image; list, describe and delete
//! faces; search by image and by an enrolled face.

use bytes::Bytes;
use store::{Collection, FaceBox, FaceRecord, NewCollection, NewFace, StoredImage};
use uuid::Uuid;
use vision::{Face, QualityIssue, Wanted};

use crate::error::{ApiError, ApiResult, Code, Field};
use crate::inference::{largest, ImageInfo};
use crate::state::AppState;
use crate::usecases::analysis;

const MAX_METADATA_BYTES: usize = 16 * 1024;
const DEFAULT_PAGE: u32 = 100;
/// The largest page of a listing.
pub const MAX_PAGE: u32 = 1000;

/// One page of a listing: its size (checked by [`Page::size`]) and the token of the previous page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: Option<u32>,
    pub next_token: Option<String>,
}

impl Page {
    /// The page size: 1..=1000, default 100.
    pub fn size(&self) -> ApiResult<u32> {
        match self.limit.unwrap_or(DEFAULT_PAGE) {
            n @ 1..=MAX_PAGE => Ok(n),
            _ => Err(ApiError::invalid_field(Field::PageSize, format!("must lie in 1..{MAX_PAGE}"))),
        }
    }
}

/// Items of one page and the token of the next (when there is one).
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// Cuts `items` (fetched with one more than `limit`) to the page and names the next page by its last item.
pub(crate) fn paged<T>(mut items: Vec<T>, limit: u32, token: impl Fn(&T) -> String) -> Listed<T> {
    let next_token = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(token)
    } else {
        None
    };
    Listed { items, next_token }
}

fn max_results(requested: Option<u32>) -> ApiResult<usize> {
    match requested.unwrap_or(10) {
        n @ 1..=1000 => Ok(n as usize),
        _ => Err(ApiError::invalid_field(Field::MaxResults, "must lie in 1..1000")),
    }
}

fn parse_face_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::new(Code::FaceNotFound, format!("no face {id:?} in the collection")))
}

fn face_not_found(collection: &str, face: Uuid) -> ApiError {
    ApiError::new(Code::FaceNotFound, format!("no face {face} in collection {collection:?}"))
}

/// A collection named by a caller who may use it: the only way to name a collection to the use cases of
/// collections and of their users, so that no front door — nor the CLI — reaches a collection without its
/// caller's collection scope checked (the compiler sees to it: the field is private).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectionRef<'a> {
    id: &'a str,
}

impl<'a> CollectionRef<'a> {
    /// Collection `id` for `caller`: `collection_not_found` for an id no collection can have (as for one that does
    /// not exist), `collection_forbidden` when the caller's key is limited to other collections.
    pub fn of(caller: &auth::Access, id: &'a str) -> ApiResult<Self> {
        if !store::valid_collection_id(id) {
            return Err(ApiError::collection_not_found(id));
        }
        if !caller.may_use_collection(id) {
            return Err(ApiError::new(Code::CollectionForbidden, format!("this key may not use collection {id:?}")));
        }
        Ok(CollectionRef { id })
    }

    pub fn id(&self) -> &'a str {
        self.id
    }
}

/// Checks that the collection exists and holds templates of the model this server runs (without counting its
/// faces: cheap at any size).
pub async fn usable_collection(app: &AppState, id: &str) -> ApiResult<()> {
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
pub async fn catch_up(app: &AppState) {
    if let Err(e) = app.indexes.sync().await {
        tracing::warn!(error = %e, "index catch-up after a write failed; the background follower will retry");
    }
}

/// The content type of an image by its first bytes.
pub fn sniff_content_type(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xff, 0xd8, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [b'G', b'I', b'F', ..] => "image/gif",
        [b'B', b'M', ..] => "image/bmp",
        _ => "application/octet-stream",
    }
}

/// Creates a collection for templates of the running model; `caller` must be allowed to use it.
pub async fn create(
    app: &AppState,
    caller: &auth::Access,
    collection_id: String,
    description: Option<String>,
) -> ApiResult<Collection> {
    if !store::valid_collection_id(&collection_id) {
        return Err(ApiError::new(Code::InvalidCollectionId, "must be 1-255 characters of A-Z a-z 0-9 _ . -")
            .with_field(Field::CollectionId));
    }
    if !caller.may_use_collection(&collection_id) {
        return Err(ApiError::new(
            Code::CollectionForbidden,
            format!("this key may not use collection {collection_id:?}"),
        ));
    }
    if description.as_ref().is_some_and(|d| d.len() > 1024) {
        return Err(ApiError::invalid_field(Field::Description, "is limited to 1024 bytes"));
    }
    Ok(app
        .store
        .create_collection(&NewCollection {
            collection_id,
            description,
            model: app.model.id().to_string(),
            dimension: app.model.dimension(),
        })
        .await?)
}

/// The collections `caller` may see, in id order.
pub async fn list(app: &AppState, caller: &auth::Access, page: &Page) -> ApiResult<Listed<Collection>> {
    let limit = page.size()?;
    let after = page.next_token.as_deref();
    let collections = match &caller.collections {
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
    Ok(paged(collections, limit, |c| c.collection_id.clone()))
}

pub async fn describe(app: &AppState, collection: CollectionRef<'_>) -> ApiResult<Collection> {
    let id = collection.id();
    app.store.get_collection(id).await?.ok_or_else(|| ApiError::collection_not_found(id))
}

/// Deletes a collection with its faces and stored images; returns how many faces went.
pub async fn delete(app: &AppState, collection: CollectionRef<'_>) -> ApiResult<u64> {
    let id = collection.id();
    let deleted_faces = app.store.delete_collection(id).await?;
    catch_up(app).await;
    Ok(deleted_faces)
}

/// Which faces of an image to index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexSelection {
    /// The largest face, if it clears the quality bar (never a smaller one instead).
    Largest,
    /// Faces by size, largest first: the first `max` (1..=100, default 20) that clear the bar.
    All { max: Option<u32> },
}

/// What to index and how.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub selection: IndexSelection,
    /// Leave out faces under the quality bar.
    pub quality_filter: bool,
    pub external_id: Option<String>,
    /// A JSON object kept with each face (16 KiB at most).
    pub metadata: Option<serde_json::Value>,
    /// Makes the call idempotent: a retry with the same token returns the faces indexed the first time.
    pub client_request_token: Option<String>,
    /// Keep the image (for `GET .../faces/{faceId}/image`).
    pub store_image: bool,
    /// Also measure the faces (the largest [`analysis::MAX_ANALYSED_FACES`], indexed or not) to this depth, in
    /// the same pass: Rekognition's `FaceDetail`s.
    pub measure: Option<analysis::Depth>,
}

/// Why a face of the image was not indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotIndexedReason {
    Quality(QualityIssue),
    /// More faces cleared the bar than the selection takes.
    ExceedsMaxFaces,
}

impl NotIndexedReason {
    /// The `/v1` API's and the CLI's name (`too_small`, `exceeds_max_faces`).
    pub fn code(self) -> &'static str {
        match self {
            NotIndexedReason::Quality(q) => q.code(),
            NotIndexedReason::ExceedsMaxFaces => "exceeds_max_faces",
        }
    }
}

pub struct NotIndexed {
    pub face: Face,
    pub reasons: Vec<NotIndexedReason>,
    /// What [`IndexOptions::measure`] asked for, when the face is among the largest measured.
    pub measured: Option<analysis::Measured>,
}

/// A face this call indexed, as detected now.
pub struct IndexedFace {
    pub face_id: Uuid,
    pub face: Face,
    /// What [`IndexOptions::measure`] asked for, when the face is among the largest measured.
    pub measured: Option<analysis::Measured>,
}

pub struct Indexed {
    pub records: Vec<FaceRecord>,
    /// The face detected for each record this call indexed (a retry's earlier records have none).
    pub detected: Vec<IndexedFace>,
    pub not_indexed: Vec<NotIndexed>,
    pub image: ImageInfo,
    pub face_model: String,
}

/// Indexes the faces of an image into a collection: each chosen face is checked against the quality bar,
/// embedded and stored (with the image when asked).
pub async fn index_faces(
    app: &AppState,
    collection: CollectionRef<'_>,
    image: Bytes,
    options: IndexOptions,
) -> ApiResult<Indexed> {
    let id = collection.id();
    let _admission = app.pool.admit()?;
    if let Some(m) = &options.metadata {
        if !m.is_object() {
            return Err(ApiError::invalid_field(Field::Metadata, "must be a JSON object"));
        }
        if m.to_string().len() > MAX_METADATA_BYTES {
            return Err(ApiError::invalid_field(Field::Metadata, "is limited to 16 KiB"));
        }
    }
    if options.client_request_token.as_deref().is_some_and(|t| !store::valid_client_token(t)) {
        return Err(ApiError::invalid_field(Field::ClientRequestToken, "must be 1-64 characters of A-Z a-z 0-9 _ -"));
    }
    if options.external_id.as_ref().is_some_and(|e| e.is_empty() || e.len() > 255) {
        return Err(ApiError::invalid_field(Field::ExternalId, "must be 1-255 bytes"));
    }
    let max_faces = match options.selection {
        IndexSelection::Largest => 1,
        IndexSelection::All { max: None } => 20,
        IndexSelection::All { max: Some(n @ 1..=100) } => n as usize,
        IndexSelection::All { max: Some(_) } => {
            return Err(ApiError::invalid_field(Field::MaxFaces, "must lie in 1..100"))
        }
    };
    usable_collection(app, id).await?;

    let filter = options.quality_filter;
    let stored_copy = options.store_image.then(|| image.clone());
    let only_largest = options.selection == IndexSelection::Largest;
    let wanted = if only_largest { Wanted::Largest } else { Wanted::Every };
    let (depth, analyzer) = (options.measure, app.pipeline.clone());
    let select = move |faces: &[Face]| {
        let mut order: Vec<usize> = (0..faces.len()).collect();
        order.sort_by(|&a, &b| faces[b].detection.bbox.area().total_cmp(&faces[a].detection.bbox.area()));
        let candidates = if only_largest { 1 } else { order.len() };
        order
            .into_iter()
            .take(candidates)
            .filter(|&i| !filter || faces[i].quality.acceptable())
            .take(max_faces)
            .collect()
    };
    let (analyzed, (mut measured, took)) = app
        .analyze_inspecting(image, app.config.detect_max_side, wanted, select, move |img, faces| {
            let started = std::time::Instant::now();
            let measured = match depth {
                None => Vec::new(),
                Some(depth) => {
                    let boxes: Vec<vision::BBox> = faces.iter().map(|f| f.detection.bbox).collect();
                    analysis::measure_largest(analyzer.analyzer(), img, &boxes, depth)?
                }
            };
            Ok((measured, started.elapsed()))
        })
        .await?;
    if depth.is_some() {
        app.metrics.observe_inference("analysis", took.as_secs_f64());
    }
    let mut measured_of = |i: usize| measured.get_mut(i).and_then(Option::take);
    if analyzed.faces.is_empty() {
        return Err(ApiError::new(Code::NoFace, "no face was found in the image"));
    }
    let largest_face = largest(&analyzed.faces);
    let image_id = Uuid::new_v4();
    let mut new_faces = Vec::new();
    let mut not_indexed = Vec::new();
    let mut detected = Vec::new();
    for (i, face) in analyzed.faces.iter().enumerate() {
        if only_largest && Some(i) != largest_face {
            // Not a candidate at all when only the largest face is.
            continue;
        }
        match analyzed.template_of(i) {
            Some(template) => {
                let b = face.detection.bbox;
                let face_id = Uuid::now_v7();
                detected.push(IndexedFace { face_id, face: face.clone(), measured: measured_of(i) });
                new_faces.push(NewFace {
                    face_id,
                    image_id,
                    external_id: options.external_id.clone(),
                    metadata: options.metadata.clone(),
                    bbox: analyzed.image.face_box(&b),
                    detection_score: face.detection.score,
                    quality: face.quality.score,
                    template: template.vector.clone(),
                });
            }
            None => {
                let mut reasons: Vec<NotIndexedReason> = if filter {
                    face.quality.issues.iter().map(|q| NotIndexedReason::Quality(*q)).collect()
                } else {
                    Vec::new()
                };
                if reasons.is_empty() {
                    reasons.push(NotIndexedReason::ExceedsMaxFaces);
                }
                not_indexed.push(NotIndexed { face: face.clone(), reasons, measured: measured_of(i) });
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
            .add_faces_once(id, options.client_request_token.as_deref(), &new_faces, stored.as_ref())
            .await?
        {
            store::Added::New(r) | store::Added::Earlier(r) => r,
        };
        catch_up(app).await;
    }
    Ok(Indexed { records, detected, not_indexed, image: analyzed.image, face_model: app.face_model() })
}

/// The faces of a collection in enrolment order (optionally only those of one external id, or of one user).
pub async fn list_faces(
    app: &AppState,
    collection: CollectionRef<'_>,
    page: &Page,
    filter: store::FaceFilter<'_>,
) -> ApiResult<Listed<FaceRecord>> {
    let id = collection.id();
    let limit = page.size()?;
    let after = match page.next_token.as_deref() {
        Some(t) => {
            Some(Uuid::parse_str(t).map_err(|_| ApiError::invalid_field(Field::NextToken, "is not one we issued"))?)
        }
        None => None,
    };
    existing_collection(app, id).await?;
    let faces = app.store.list_faces(id, after, limit + 1, filter).await?;
    Ok(paged(faces, limit, |f| f.face_id.to_string()))
}

/// The faces of a collection among `face_ids` (1-4096 ids; ids that are not there are left out), in face id
/// order.
pub async fn faces_among(
    app: &AppState,
    collection: CollectionRef<'_>,
    face_ids: &[String],
) -> ApiResult<Vec<FaceRecord>> {
    let id = collection.id();
    if face_ids.is_empty() || face_ids.len() > 4096 {
        return Err(ApiError::invalid_field(Field::FaceIds, "must hold 1-4096 ids"));
    }
    existing_collection(app, id).await?;
    let ids: Vec<Uuid> = face_ids.iter().filter_map(|f| Uuid::parse_str(f).ok()).collect();
    let mut faces = app.store.get_faces(id, &ids).await?;
    faces.sort_by_key(|f| f.face_id);
    Ok(faces)
}

pub async fn describe_face(app: &AppState, collection: CollectionRef<'_>, face_id: &str) -> ApiResult<FaceRecord> {
    let id = collection.id();
    let face_id = parse_face_id(face_id)?;
    match app.store.get_face(id, face_id).await? {
        Some(face) => Ok(face),
        None if app.store.collection_model(id).await?.is_none() => Err(ApiError::collection_not_found(id)),
        None => Err(face_not_found(id, face_id)),
    }
}

/// The image a face was indexed from, when it was kept.
pub async fn face_image(app: &AppState, collection: CollectionRef<'_>, face_id: &str) -> ApiResult<store::StoredImage> {
    let id = collection.id();
    let face_id = parse_face_id(face_id)?;
    let face = app.store.get_face(id, face_id).await?.ok_or_else(|| face_not_found(id, face_id))?;
    app.store
        .get_image(id, face.image_id)
        .await?
        .ok_or_else(|| ApiError::new(Code::ImageNotStored, "the image of this face was not stored"))
}

pub struct Deleted {
    pub deleted: Vec<Uuid>,
    /// Ids that are not (or no longer) in the collection.
    pub not_found: Vec<String>,
}

/// Deletes 1-1000 faces (and their stored images).
pub async fn delete_faces(app: &AppState, collection: CollectionRef<'_>, face_ids: Vec<String>) -> ApiResult<Deleted> {
    let id = collection.id();
    if face_ids.is_empty() || face_ids.len() > 1000 {
        return Err(ApiError::invalid_field(Field::FaceIds, "must hold 1-1000 ids"));
    }
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
    Ok(Deleted { deleted, not_found })
}

/// Deletes one face; `face_not_found` when it is not there.
pub async fn delete_face(app: &AppState, collection: CollectionRef<'_>, face_id: &str) -> ApiResult<Deleted> {
    let id = collection.id();
    let face = parse_face_id(face_id)?;
    let deleted = delete_faces(app, collection, vec![face_id.to_string()]).await?;
    if deleted.deleted.is_empty() {
        return Err(face_not_found(id, face));
    }
    Ok(deleted)
}

/// An enrolled face that matched.
pub struct Match {
    pub face_id: Uuid,
    pub image_id: Uuid,
    pub external_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// The user of the collection the face is associated with.
    pub user_id: Option<String>,
    /// Where the face was in its image, and the detector's confidence in it.
    pub bbox: FaceBox,
    pub detection_score: f32,
    /// Calibrated 0-100.
    pub similarity: f32,
    pub cosine: f32,
}

/// How to search.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchOptions {
    /// A calibrated similarity 0-100 a match must reach; `None`: the server's match threshold.
    pub threshold: Option<f32>,
    /// Matches per searched face, 1-1000 (default 10).
    pub max_results: Option<u32>,
    /// Search with every face of the probe (else its largest).
    pub all_faces: bool,
}

pub struct FaceMatches {
    pub searched_face: Face,
    /// Most similar first.
    pub matches: Vec<Match>,
}

pub struct ImageSearch {
    pub image: ImageInfo,
    /// One per searched face.
    pub results: Vec<FaceMatches>,
    pub threshold: f32,
    pub face_model: String,
}

/// Searches a collection with the faces of an image.
pub async fn search(
    app: &AppState,
    collection: CollectionRef<'_>,
    image: Bytes,
    options: SearchOptions,
) -> ApiResult<ImageSearch> {
    let id = collection.id();
    let _admission = app.pool.admit()?;
    let threshold = app.threshold(options.threshold)?;
    let k = max_results(options.max_results)?;
    usable_collection(app, id).await?;
    let all = options.all_faces;
    let wanted = if all { Wanted::Every } else { Wanted::Largest };
    let analyzed = app
        .analyze(image, app.config.detect_max_side, wanted, move |faces| {
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
        let matches = find(app, id, query, k, threshold, None).await?;
        results.push(FaceMatches { searched_face: analyzed.faces[i].clone(), matches });
    }
    Ok(ImageSearch { image: analyzed.image, results, threshold, face_model: app.face_model() })
}

pub struct FaceSearch {
    pub face_id: Uuid,
    pub matches: Vec<Match>,
    pub threshold: f32,
    pub face_model: String,
}

/// Searches a collection with a face already in it (the face itself is not among the matches).
pub async fn search_by_face(
    app: &AppState,
    collection: CollectionRef<'_>,
    face_id: &str,
    threshold: Option<f32>,
    max_results: Option<u32>,
) -> ApiResult<FaceSearch> {
    let id = collection.id();
    let threshold = app.threshold(threshold)?;
    let k = self::max_results(max_results)?;
    let face_id = parse_face_id(face_id)?;
    usable_collection(app, id).await?;
    let template = match app.indexes.template(id, &face_id) {
        Some(t) => t,
        None => app.store.face_template(id, face_id).await?.ok_or_else(|| face_not_found(id, face_id))?,
    };
    let matches = find(app, id, template, k, threshold, Some(face_id)).await?;
    Ok(FaceSearch { face_id, matches, threshold, face_model: app.face_model() })
}

/// The index's top `k` (above `threshold`), resolved to face records; `exclude` is left out.
async fn find(
    app: &AppState,
    collection: &str,
    query: Vec<f32>,
    k: usize,
    threshold: f32,
    exclude: Option<Uuid>,
) -> ApiResult<Vec<Match>> {
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
    let mut records: std::collections::HashMap<Uuid, FaceRecord> =
        app.store.get_faces(collection, &ids).await?.into_iter().map(|r| (r.face_id, r)).collect();
    Ok(hits
        .into_iter()
        .filter_map(|hit| {
            // A face deleted (through another replica) since the index saw it has no record: leave it out.
            let record = records.remove(&hit.id)?;
            Some(Match {
                face_id: hit.id,
                image_id: record.image_id,
                external_id: record.external_id,
                metadata: record.metadata,
                user_id: record.user_id,
                bbox: record.bbox,
                detection_score: record.detection_score,
                similarity: app.similarity(hit.score),
                cosine: hit.score,
            })
        })
        .collect())
}
