//! `cargo bench -p facegate-index`: search latency (p50 / p99 of 50 queries, top 10) over 10k, 100k and 1M
//! random 128-d templates (SFace's size).

use std::time::Instant;

use index::FlatIndex;

fn main() {
    let dim = 128;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    for n in [10_000u32, 100_000, 1_000_000] {
        let mut idx = FlatIndex::new(dim).expect("index");
        for i in 0..n {
            let v: Vec<f32> = (0..dim).map(|_| next()).collect();
            idx.upsert(i, &v).expect("insert");
        }
        let mut times = Vec::new();
        for _ in 0..50 {
            let q: Vec<f32> = (0..dim).map(|_| next()).collect();
            let t = Instant::now();
            let hits = idx.search(&q, 10, -1.0).expect("search");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(hits.len(), 10);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{n:>9} templates x {dim}: search top-10 p50 {:.3} ms, p99 {:.3} ms ({} threads)",
            times[times.len() / 2],
            times[times.len() * 99 / 100],
            rayon::current_num_threads()
        );
    }
}
