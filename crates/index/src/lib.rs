//! 1:N search over face templates: an exact cosine scan.
//!
//! Templates are L2-normalised, so cosine is a dot product. They live in one contiguous row-major block
//! (SIMD-friendly: the inner loop runs over eight independent accumulators, which the compiler vectorises),
//! with an id per row. Removal swaps the last row into the hole, so the block stays dense. Large indexes are
//! scanned in parallel chunks, each keeping its own top-k, merged at the end.
//!
//! Each row may carry a label (a non-zero `u32`: the person a face belongs to, say). [`FlatIndex::search_labels`]
//! ranks labels by their best row in the same single scan, so grouping costs no second pass.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

use rayon::prelude::*;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum IndexError {
    #[error("template has {got} values, the index holds {expected}-dimensional templates")]
    DimensionMismatch { expected: usize, got: usize },
    #[error("template is not a finite, non-zero vector")]
    InvalidVector,
    #[error("dimension must be at least 1")]
    ZeroDimension,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<K> {
    pub id: K,
    /// Cosine similarity in [-1, 1].
    pub score: f32,
}

/// The best row of one label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelHit<K> {
    pub label: u32,
    /// The label's best cosine similarity.
    pub score: f32,
    /// The row that scored it.
    pub id: K,
}

/// No label.
pub const NO_LABEL: u32 = 0;

/// Rows per parallel chunk; below two chunks the scan runs on the calling thread.
const CHUNK_ROWS: usize = 16_384;

/// An exact cosine index of `dim`-dimensional templates keyed by `K`.
#[derive(Debug, Clone)]
pub struct FlatIndex<K> {
    dim: usize,
    data: Vec<f32>,
    ids: Vec<K>,
    /// Per row, [`NO_LABEL`] or its label.
    labels: Vec<u32>,
    rows: HashMap<K, usize>,
}

impl<K: Clone + Eq + Hash + Send + Sync> FlatIndex<K> {
    pub fn new(dim: usize) -> Result<Self, IndexError> {
        if dim == 0 {
            return Err(IndexError::ZeroDimension);
        }
        Ok(Self { dim, data: Vec::new(), ids: Vec::new(), labels: Vec::new(), rows: HashMap::new() })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, id: &K) -> bool {
        self.rows.contains_key(id)
    }

    /// Adds a template (normalised here, without a label), or replaces the one stored under `id` (keeping its
    /// label).
    pub fn upsert(&mut self, id: K, vector: &[f32]) -> Result<(), IndexError> {
        let normalised = self.normalised(vector)?;
        match self.rows.get(&id) {
            Some(&row) => self.data[row * self.dim..(row + 1) * self.dim].copy_from_slice(&normalised),
            None => {
                self.rows.insert(id.clone(), self.ids.len());
                self.ids.push(id);
                self.labels.push(NO_LABEL);
                self.data.extend_from_slice(&normalised);
            }
        }
        Ok(())
    }

    /// Removes a template; false when `id` was not there.
    pub fn remove(&mut self, id: &K) -> bool {
        let Some(row) = self.rows.remove(id) else {
            return false;
        };
        let last = self.ids.len() - 1;
        if row != last {
            let (dim, moved) = (self.dim, self.ids[last].clone());
            self.data.copy_within(last * dim..(last + 1) * dim, row * dim);
            self.ids.swap(row, last);
            self.labels.swap(row, last);
            self.rows.insert(moved, row);
        }
        self.ids.pop();
        self.labels.pop();
        self.data.truncate(last * self.dim);
        true
    }

    /// Sets the label of `id` ([`NO_LABEL`] clears it); false when `id` is not there.
    pub fn set_label(&mut self, id: &K, label: u32) -> bool {
        match self.rows.get(id) {
            Some(&row) => {
                self.labels[row] = label;
                true
            }
            None => false,
        }
    }

    /// The label of `id` ([`NO_LABEL`] when it has none), `None` when `id` is not there.
    pub fn label(&self, id: &K) -> Option<u32> {
        self.rows.get(id).map(|&row| self.labels[row])
    }

    /// The stored (normalised) template of `id`.
    pub fn get(&self, id: &K) -> Option<&[f32]> {
        self.rows.get(id).map(|&row| &self.data[row * self.dim..(row + 1) * self.dim])
    }

    /// The `k` templates most similar to `query`, best first, keeping only scores at or above `min_score`.
    pub fn search(&self, query: &[f32], k: usize, min_score: f32) -> Result<Vec<Hit<K>>, IndexError> {
        let q = self.normalised(query)?;
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.len();
        let top = if rows < 2 * CHUNK_ROWS {
            self.scan(&q, 0, rows, k, min_score)
        } else {
            let chunks: Vec<(usize, usize)> =
                (0..rows).step_by(CHUNK_ROWS).map(|start| (start, (start + CHUNK_ROWS).min(rows))).collect();
            chunks.par_iter().map(|&(start, end)| self.scan(&q, start, end, k, min_score)).reduce(
                BinaryHeap::new,
                |mut a, b| {
                    for entry in b {
                        push_bounded(&mut a, entry, k);
                    }
                    a
                },
            )
        };
        let mut hits: Vec<Scored> = top.into_vec();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
        Ok(hits.into_iter().map(|s| Hit { id: self.ids[s.row].clone(), score: s.score.clamp(-1.0, 1.0) }).collect())
    }

    /// The `k` labels whose best row is most similar to `query`, best first, each with that row; rows without
    /// a label, rows scoring under `min_score` and the row of `exclude` are left out. One scan, as [`Self::search`].
    pub fn search_labels(
        &self,
        query: &[f32],
        k: usize,
        min_score: f32,
        exclude: Option<&K>,
    ) -> Result<Vec<LabelHit<K>>, IndexError> {
        let q = self.normalised(query)?;
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let skip = exclude.and_then(|id| self.rows.get(id).copied());
        let rows = self.len();
        let best = if rows < 2 * CHUNK_ROWS {
            self.scan_labels(&q, 0, rows, min_score, skip)
        } else {
            let chunks: Vec<(usize, usize)> =
                (0..rows).step_by(CHUNK_ROWS).map(|start| (start, (start + CHUNK_ROWS).min(rows))).collect();
            chunks.par_iter().map(|&(start, end)| self.scan_labels(&q, start, end, min_score, skip)).reduce(
                HashMap::new,
                |mut a, b| {
                    for (label, entry) in b {
                        keep_better(&mut a, label, entry);
                    }
                    a
                },
            )
        };
        let mut hits: Vec<(u32, Scored)> = best.into_iter().collect();
        hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.1.row.cmp(&b.1.row)));
        hits.truncate(k);
        Ok(hits
            .into_iter()
            .map(|(label, s)| LabelHit { label, score: s.score.clamp(-1.0, 1.0), id: self.ids[s.row].clone() })
            .collect())
    }

    fn scan_labels(
        &self,
        q: &[f32],
        start: usize,
        end: usize,
        min_score: f32,
        skip: Option<usize>,
    ) -> HashMap<u32, Scored> {
        let mut best = HashMap::new();
        let rows = self.data[start * self.dim..end * self.dim].chunks_exact(self.dim);
        for (i, (row, &label)) in rows.zip(&self.labels[start..end]).enumerate() {
            if label == NO_LABEL || skip == Some(start + i) {
                continue;
            }
            let score = dot(q, row);
            if score >= min_score {
                keep_better(&mut best, label, Scored { score, row: start + i });
            }
        }
        best
    }

    fn scan(&self, q: &[f32], start: usize, end: usize, k: usize, min_score: f32) -> BinaryHeap<Scored> {
        let mut heap = BinaryHeap::with_capacity(k + 1);
        for (i, row) in self.data[start * self.dim..end * self.dim].chunks_exact(self.dim).enumerate() {
            let score = dot(q, row);
            if score >= min_score {
                push_bounded(&mut heap, Scored { score, row: start + i }, k);
            }
        }
        heap
    }

    fn normalised(&self, v: &[f32]) -> Result<Vec<f32>, IndexError> {
        if v.len() != self.dim {
            return Err(IndexError::DimensionMismatch { expected: self.dim, got: v.len() });
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err(IndexError::InvalidVector);
        }
        Ok(v.iter().map(|x| x / norm).collect())
    }
}

/// A heap entry ordered so that the heap's top is the *worst* kept score (a min-heap of the best k).
#[derive(Debug, Clone, Copy)]
struct Scored {
    score: f32,
    row: usize,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: lower score is "greater", so it sits on top and is evicted first; on ties the later row goes.
        other.score.total_cmp(&self.score).then(self.row.cmp(&other.row))
    }
}

fn keep_better(best: &mut HashMap<u32, Scored>, label: u32, entry: Scored) {
    best.entry(label)
        .and_modify(|kept| {
            if entry < *kept {
                *kept = entry;
            }
        })
        .or_insert(entry);
}

fn push_bounded(heap: &mut BinaryHeap<Scored>, entry: Scored, k: usize) {
    if heap.len() < k {
        heap.push(entry);
    } else if let Some(worst) = heap.peek() {
        if entry < *worst {
            heap.pop();
            heap.push(entry);
        }
    }
}

/// Dot product with eight independent accumulators (vectorised by the compiler).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}
