//! One in-memory exact index per collection, loaded from the store at start and kept in step with it by
//! replaying the store's change log: after each local write (so a client reads its own writes at once) and
//! every `sync_interval_ms` (so writes made through other replicas arrive within that interval).
//! Replaying is idempotent and strictly in log order, so a local apply and a background one never disagree.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use index::{FlatIndex, Hit};
use store::{ChangeOp, Store, StoreResult};
use uuid::Uuid;

pub struct Indexes {
    store: Store,
    dim: usize,
    collections: RwLock<HashMap<String, FlatIndex<Uuid>>>,
    /// The last change applied; the mutex also makes replays take turns.
    applied: tokio::sync::Mutex<i64>,
}

impl Indexes {
    /// Loads every template of dimension `dim` from the store.
    pub async fn load(store: Store, dim: usize) -> StoreResult<Self> {
        // Read the log position first: changes committed during the load are replayed afterwards (harmless
        // when the load already saw them).
        let applied = store.latest_change().await?;
        let mut collections: HashMap<String, FlatIndex<Uuid>> = HashMap::new();
        let mut skipped = 0u64;
        let loaded = store
            .for_each_template(None, |row| {
                if row.template.len() != dim {
                    skipped += 1;
                    return;
                }
                let index = collections.entry(row.collection_id).or_insert_with(|| new_index(dim));
                if index.upsert(row.face_id, &row.template).is_err() {
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
                            let index =
                                collections.entry(change.collection_id.clone()).or_insert_with(|| new_index(self.dim));
                            let _ = index.upsert(face_id, t);
                        }
                        // Deleted since (its delete follows in the log), or another model's template.
                        _ => {}
                    },
                    (ChangeOp::Delete, Some(face_id)) => {
                        if let Some(index) = collections.get_mut(&change.collection_id) {
                            index.remove(&face_id);
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
            Some(index) => index.search(query, k, min_cosine).unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// The template of a face, when this replica holds it.
    pub fn template(&self, collection: &str, face_id: &Uuid) -> Option<Vec<f32>> {
        let collections = self.collections.read().unwrap_or_else(|e| e.into_inner());
        collections.get(collection).and_then(|i| i.get(face_id)).map(|t| t.to_vec())
    }

    pub fn len(&self, collection: &str) -> usize {
        let collections = self.collections.read().unwrap_or_else(|e| e.into_inner());
        collections.get(collection).map_or(0, |i| i.len())
    }

    /// (collection, faces) for every non-empty index.
    pub fn sizes(&self) -> Vec<(String, usize)> {
        let collections = self.collections.read().unwrap_or_else(|e| e.into_inner());
        let mut sizes: Vec<_> = collections.iter().map(|(c, i)| (c.clone(), i.len())).collect();
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

fn new_index(dim: usize) -> FlatIndex<Uuid> {
    // `dim` comes from the embedding model (128 or 192): never zero.
    FlatIndex::new(dim).unwrap_or_else(|_| unreachable!("embedding dimension is positive"))
}
