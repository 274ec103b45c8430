//! Exactness of the scan against a plain reference, at 0, 1, thousands and a million templates.

use index::{FlatIndex, Hit, IndexError};

/// A repeatable pseudo-random vector stream (xorshift), values in [-1, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.next()).collect()
    }
}

fn normalise(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn index_of(data: &[(u32, Vec<f32>)], dim: usize) -> FlatIndex<u32> {
    let mut idx = FlatIndex::new(dim).expect("index");
    for (id, v) in data {
        idx.upsert(*id, v).expect("insert");
    }
    idx
}

/// The obvious implementation: score everything, sort, cut.
fn reference(data: &[(u32, Vec<f32>)], q: &[f32], k: usize, min: f32) -> Vec<(u32, f32)> {
    let q = normalise(q);
    let mut all: Vec<(u32, f32)> = data
        .iter()
        .map(|(id, v)| (*id, normalise(v).iter().zip(&q).map(|(a, b)| a * b).sum::<f32>()))
        .filter(|(_, s)| *s >= min)
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1));
    all.truncate(k);
    all
}

#[test]
fn empty_index_finds_nothing_and_checks_dimensions() {
    let idx: FlatIndex<u32> = FlatIndex::new(128).expect("index");
    assert!(idx.search(&[0.5; 128], 5, -1.0).expect("search").is_empty());
    assert_eq!(idx.search(&[0.5; 64], 5, -1.0), Err(IndexError::DimensionMismatch { expected: 128, got: 64 }));
    assert_eq!(idx.search(&[0.0; 128], 5, -1.0), Err(IndexError::InvalidVector));
    assert!(FlatIndex::<u32>::new(0).is_err());
}

#[test]
fn single_template_is_found_by_itself_and_honours_the_threshold() {
    let mut rng = Rng(7);
    let mut idx = FlatIndex::new(128).expect("index");
    let v = rng.vector(128);
    idx.upsert("face-1".to_string(), &v).expect("insert");
    let hits = idx.search(&v, 3, 0.5).expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, "face-1");
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    let negated: Vec<f32> = v.iter().map(|x| -x).collect();
    assert!(idx.search(&negated, 3, 0.0).expect("search").is_empty(), "score -1 is below threshold 0");
}

#[test]
fn top_k_equals_the_reference_on_thousands_of_templates() {
    let mut rng = Rng(42);
    let data: Vec<(u32, Vec<f32>)> = (0..5000).map(|i| (i, rng.vector(128))).collect();
    let idx = index_of(&data, 128);
    for _ in 0..20 {
        let q = rng.vector(128);
        let got: Vec<(u32, f32)> =
            idx.search(&q, 10, 0.05).expect("search").into_iter().map(|h| (h.id, h.score)).collect();
        let want = reference(&data, &q, 10, 0.05);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.0, w.0);
            assert!((g.1 - w.1).abs() < 1e-5);
        }
    }
}

#[test]
fn removal_and_replacement_keep_the_index_consistent() {
    let mut rng = Rng(3);
    let data: Vec<(u32, Vec<f32>)> = (0..300).map(|i| (i, rng.vector(32))).collect();
    let mut idx = index_of(&data, 32);
    // Remove every third, including the first and the last row.
    let mut kept = Vec::new();
    for (id, v) in &data {
        if id % 3 == 0 || *id == 299 {
            assert!(idx.remove(id));
        } else {
            kept.push((*id, v.clone()));
        }
    }
    assert!(!idx.remove(&0), "already removed");
    assert_eq!(idx.len(), kept.len());
    for (id, v) in &kept {
        let top = idx.search(v, 1, -1.0).expect("search");
        assert_eq!(top[0].id, *id, "each kept template is its own nearest neighbour");
        assert_eq!(idx.get(id).map(<[f32]>::len), Some(32));
    }
    // Replace one template: the old vector no longer finds it first, the new one does.
    let (id, old) = kept[0].clone();
    let new = rng.vector(32);
    idx.upsert(id, &new).expect("replace");
    assert_eq!(idx.len(), kept.len());
    assert_eq!(idx.search(&new, 1, -1.0).expect("search")[0].id, id);
    assert!(idx.search(&old, 1, -1.0).expect("search")[0].score < 0.999);
}

#[test]
fn a_million_templates_are_searched_exactly() {
    let dim = 128;
    let n = 1_000_000u32;
    let mut rng = Rng(99);
    let mut idx = FlatIndex::new(dim).expect("index");
    let mut probe = Vec::new();
    for i in 0..n {
        let v = rng.vector(dim);
        if i == 765_432 {
            probe = v.clone();
        }
        idx.upsert(i, &v).expect("insert");
    }
    assert_eq!(idx.len(), 1_000_000);
    // A slightly perturbed copy of one template finds it first, across the parallel chunks.
    let noisy: Vec<f32> = probe.iter().map(|x| x + 0.01 * rng.next()).collect();
    let hits: Vec<Hit<u32>> = idx.search(&noisy, 5, -1.0).expect("search");
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0].id, 765_432);
    assert!(hits[0].score > 0.99);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    // Random 128-d vectors are nearly orthogonal: the runner-up is far below.
    assert!(hits[1].score < 0.5);
}
