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

/// The obvious grouping: every labelled row scored, the best per label kept, labels sorted by it.
fn reference_labels(
    data: &[(u32, Vec<f32>)],
    label_of: impl Fn(u32) -> u32,
    q: &[f32],
    k: usize,
    min: f32,
    exclude: Option<u32>,
) -> Vec<(u32, u32, f32)> {
    let mut best: std::collections::HashMap<u32, (u32, f32)> = std::collections::HashMap::new();
    for (id, score) in reference(data, q, data.len(), min) {
        let label = label_of(id);
        if label == index::NO_LABEL || Some(id) == exclude {
            continue;
        }
        let kept = best.entry(label).or_insert((id, score));
        if score > kept.1 {
            *kept = (id, score);
        }
    }
    let mut all: Vec<(u32, u32, f32)> = best.into_iter().map(|(l, (id, s))| (l, id, s)).collect();
    all.sort_by(|a, b| b.2.total_cmp(&a.2));
    all.truncate(k);
    all
}

fn labelled(n: u32, dim: usize, seed: u64, label_of: &impl Fn(u32) -> u32) -> (Vec<(u32, Vec<f32>)>, FlatIndex<u32>) {
    let mut rng = Rng(seed);
    let data: Vec<(u32, Vec<f32>)> = (0..n).map(|i| (i, rng.vector(dim))).collect();
    let mut idx = index_of(&data, dim);
    for (id, _) in &data {
        assert!(idx.set_label(id, label_of(*id)));
    }
    (data, idx)
}

fn assert_same_labels(got: &[index::LabelHit<u32>], want: &[(u32, u32, f32)]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g.score - w.2).abs() < 1e-5, "{g:?} vs {w:?}");
        // Equal scores (two labels' rows at the same similarity) may come in either order.
        assert!(want.iter().any(|x| (x.0, x.1) == (g.label, g.id) && (x.2 - g.score).abs() < 1e-5), "{g:?}");
    }
}

#[test]
fn labels_are_ranked_by_their_best_row_in_one_scan() {
    // Five rows per label, one row in seven unlabelled.
    let label_of = |id: u32| if id % 7 == 3 { index::NO_LABEL } else { 1 + id / 5 };
    let (data, idx) = labelled(2000, 48, 5, &label_of);
    let mut rng = Rng(17);
    for _ in 0..20 {
        let q = rng.vector(48);
        for (k, min) in [(1, -1.0), (10, -1.0), (25, 0.1), (400, 0.0)] {
            let got = idx.search_labels(&q, k, min, None).expect("search");
            assert_same_labels(&got, &reference_labels(&data, label_of, &q, k, min, None));
        }
    }
    // A row's own label is found through its row; excluding the row, through the label's other rows.
    let (probe_id, probe) = data[12].clone();
    let top = idx.search_labels(&probe, 1, -1.0, None).expect("search");
    assert_eq!((top[0].label, top[0].id), (label_of(probe_id), probe_id));
    let without = idx.search_labels(&probe, 500, -1.0, Some(&probe_id)).expect("search");
    assert!(without.iter().all(|h| h.id != probe_id));
    assert_same_labels(&without, &reference_labels(&data, label_of, &probe, 500, -1.0, Some(probe_id)));
    assert_eq!(idx.search_labels(&probe, 0, -1.0, None).expect("search"), vec![]);
}

#[test]
fn labels_follow_their_rows_through_removal_and_relabelling() {
    let label_of = |id: u32| 1 + id % 10;
    let (data, mut idx) = labelled(500, 16, 8, &label_of);
    // Removing rows moves the last rows into their holes: their labels must move with them.
    let mut kept = Vec::new();
    for (id, v) in &data {
        if id % 4 == 0 {
            assert!(idx.remove(id));
        } else {
            kept.push((*id, v.clone()));
        }
    }
    for (id, _) in &kept {
        assert_eq!(idx.label(id), Some(label_of(*id)));
    }
    assert_eq!(idx.label(&0), None, "removed");
    // Relabel label 3's rows as label 99 and clear label 4's: searches see it at once.
    let relabel = |id: u32| match label_of(id) {
        3 => 99,
        4 => index::NO_LABEL,
        l => l,
    };
    for (id, _) in &kept {
        idx.set_label(id, relabel(*id));
    }
    assert!(!idx.set_label(&0, 5), "a removed row has no label to set");
    let mut rng = Rng(23);
    for _ in 0..10 {
        let q = rng.vector(16);
        let got = idx.search_labels(&q, 20, -1.0, None).expect("search");
        assert!(got.iter().all(|h| h.label != 3 && h.label != 4));
        assert_same_labels(&got, &reference_labels(&kept, relabel, &q, 20, -1.0, None));
    }
    // Upserting a labelled row's template keeps its label.
    let (id, _) = kept[0].clone();
    idx.upsert(id, &rng.vector(16)).expect("replace");
    assert_eq!(idx.label(&id), Some(relabel(id)));
}

#[test]
fn labels_of_a_large_index_are_merged_across_parallel_chunks() {
    // Over two chunks of rows: the scan runs in parallel and each chunk's best rows per label are merged.
    let label_of = |id: u32| 1 + id % 1000;
    let (data, idx) = labelled(40_000, 32, 31, &label_of);
    let mut rng = Rng(41);
    for _ in 0..3 {
        let q = rng.vector(32);
        let got = idx.search_labels(&q, 50, 0.2, None).expect("search");
        assert_same_labels(&got, &reference_labels(&data, label_of, &q, 50, 0.2, None));
    }
}
