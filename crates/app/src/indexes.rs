//! One in-memory exact index per collection, loaded from the store at start and kept in step with it by
//! replaying the store's change log: after each local write (so a client reads its own writes at once) and
//! every `sync_interval_ms` (so writes made through other replicas arrive within that interval).
//! Replaying is idempotent and strictly in log order, so a local apply and a background one never disagree.
//!
//! Each face row carries its user (of the collection) as the index's label, so a search by user ranks users
//! by their best face in the same single scan as a search by face.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use index::{FlatIndex, Hit, NO_LABEL};
use store::{ChangeOp, Store, StoreResult};
use uuid::Uuid;

/// A collection's templates, labelled with their users.
struct CollectionIndex {
    faces: FlatIndex<Uuid>,
    /// User ids by label (label `i` is `user_ids[i - 1]`) and labels by user id. Labels are never reused while
    /// the server runs, so a deleted user's label only goes unused.
    user_ids: Vec<String>,
    labels: HashMap<String, u32>,
}

impl CollectionIndex {
    fn new(dim: usize) -> Self {
        // `dim` comes from the embedding model (128 or 192): never zero.
        let faces = FlatIndex::new(dim).unwrap_or_else(|_| unreachable!("embedding dimension is positive"));
        Self { faces, user_ids: Vec::new(), labels: HashMap::new() }
    }

    fn label_of(&mut self, user: Option<&str>) -> u32 {
        let Some(user) = user else { return NO_LABEL };
        if let Some(&label) = self.labels.get(user) {
            return label;
        }
        self.user_ids.push(user.to_string());
        let label = self.user_ids.len() as u32;
        self.labels.insert(user.to_string(), label);
        label
    }

    fn user_of(&self, label: u32) -> Option<&str> {
        (label as usize).checked_sub(1).and_then(|i| self.user_ids.get(i)).map(String::as_str)
    }

    fn upsert(&mut self, face: Uuid, template: &[f32], user: Option<&str>) {
        if self.faces.upsert(face, template).is_ok() {
            let label = self.label_of(user);
            self.faces.set_label(&face, label);
        }
    }
}

/// A user whose best face matched.
#[derive(Debug, Clone, PartialEq)]
pub struct UserHit {
    pub user_id: String,
    /// The best face's cosine similarity.
    pub score: f32,
    pub face_id: Uuid,
}

pub struct Indexes {
    store: Store,
    dim: usize,
    collections: RwLock<HashMap<String, CollectionIndex>>,
    /// The last change applied; the mutex also makes replays take turns.
    applied: tokio::sync::Mutex<i64>,
}

impl Indexes {
    /// Loads every template of dimension `dim` from the store.
    pub async fn load(store: Store, dim: usize) -> StoreResult<Self> {
        // Read the log position first: changes committed during the load are replayed afterwards (harmless
        // when the load already saw them).
        let applied = store.latest_change().await?;
        let mut collections: HashMap<String, CollectionIndex> = HashMap::new();
        let mut skipped = 0u64;
        let loaded = store
            .for_each_template(None, |row| {
                if row.template.len() != dim {
                    skipped += 1;
                    return;
                }
                let index = collections.entry(row.collection_id).or_insert_with(|| CollectionIndex::new(dim));
                index.upsert(row.face_id, &row.template, row.user_id.as_deref());
                if !index.faces.contains(&row.face_id) {
                    skipped += 1;
                }
            })
            .await?;
        if skipped > 0 {
            tracing::warn!(skipped, dim, "templates of another model's dimension are not searchable by this server");
        }
        tracing::info!(faces = loaded - skipped, collections = collections.len(), "index loaded from the store");
        let indexes =
            Self { store, dim, collections: RwLock::new(collections), applied: tokio::sync::Mutex::new(applied) };
        indexes.sync().await?;
        Ok(indexes)
    }

    /// Applies every change the store has logged since the last one applied; returns how many.
    pub async fn sync(&self) -> StoreResult<usize> {
        let mut applied = self.applied.lock().await;
        let mut total = 0;
        loop {
            let changes = self.store.changes_since(*applied, 2000).await?;
            if changes.is_empty() {
                return Ok(total);
            }
            total += changes.len();
            let mut collections = self.collections.write().unwrap_or_else(|e| e.into_inner());
            for change in &changes {
                match (change.op, change.face_id) {
                    (ChangeOp::Add, Some(face_id)) => match &change.template {
                        Some(t) if t.len() == self.dim => {
                            let index = collections
                                .entry(change.collection_id.clone())
                                .or_insert_with(|| CollectionIndex::new(self.dim));
                            index.upsert(face_id, t, change.user_id.as_deref());
                        }
                        // Deleted since (its delete follows in the log), or another model's template.
                        _ => {}
                    },
                    (ChangeOp::Delete, Some(face_id)) => {
                        if let Some(index) = collections.get_mut(&change.collection_id) {
                            index.faces.remove(&face_id);
                        }
                    }
                    (ChangeOp::User, Some(face_id)) => {
                        if let Some(index) = collections.get_mut(&change.collection_id) {
                            let label = index.label_of(change.user_id.as_deref());
                            index.faces.set_label(&face_id, label);
                        }
                    }
                    (ChangeOp::DropCollection, _) => {
                        collections.remove(&change.collection_id);
                    }
                    _ => {}
                }
                *applied = change.seq;
            }
        }
    }

    /// The `k` faces of a collection most similar to `query`, at or above `min_cosine`.
    pub fn search(&self, collection: &str, query: &[f32], k: usize, min_cosine: f32) -> Vec<Hit<Uuid>> {
        let collections = self.collections.read().unwrap_or_else(|e| e.into_inner());
        match collections.get(collection) {
            Some(index) => index.faces.search(query, k, min_cosine).unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// The `k` users of a collection whose best face is most similar to `query` (at or above `min_cosine`),
    /// leaving out the face `exclude`: one scan.
    pub fn search_users(
        &self,
        collection: &str,
        query: &[f32],
        k: usize,
        min_cosine: f32,
        exclude: Option<&Uuid>,
    ) -> Vec<UserHit> {
        let collections = self.collections.read().unwrap_or_else(|e| e.into_inner());
        let Some(index) = collections.get(collection) else { return Vec::new() };
        let hits = index.faces.search_labels(query, k, min_cosine, exclude).unwrap_or_default();
        hits.into_iter()
            .filter_map(|h| {
                let user_id = index.user_of(h.label)?.to_string();
                Some(UserHit { user_id, score: h.score, face_id: h.id })
            })
            .collect()
    }

    /// The user a face of a collection is associated with, as this replica knows it.
    pub fn user_of(&self, collection: &str, face_id: &Uuid) -> Option<String> {
        let collections = self.collections.read().unwrap_or_else(|e| e.into_inner());
        let index = collections.get(collection)?;
        index.faces.label(face_id).and_then(|l| index.user_of(l)).map(String::from)
    }

    /// The template of a face, when this replica holds it.
    pub fn template(&self, collection: &str, face_id: &Uuid) -> Option<Vec<f32>> {
        let collections = self.collections.read().unwrap_or_else(|e| e.into_inner());
        collections.get(collection).and_then(|i| i.faces.get(face_id)).map(|t| t.to_vec())
    }

    pub fn len(&self, collection: &str) -> usize {
        let collections = self.collections.read().unwrap_or_else(|e| e.into_inner());
        collections.get(collection).map_or(0, |i| i.faces.len())
    }

    /// (collection, faces) for every non-empty index.
    pub fn sizes(&self) -> Vec<(String, usize)> {
        let collections = self.collections.read().unwrap_or_else(|e| e.into_inner());
        let mut sizes: Vec<_> = collections.iter().map(|(c, i)| (c.clone(), i.faces.len())).collect();
        sizes.sort();
        sizes
    }

    /// Follows the store in the background until the returned handle is aborted.
    pub fn follow(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                match me.sync().await {
                    Ok(_) if failing => {
                        tracing::info!("index follows the store again");
                        failing = false;
                    }
                    Ok(_) => {}
                    Err(e) if !failing => {
                        tracing::warn!(error = %e, "index cannot follow the store; retrying");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        })
    }
}
