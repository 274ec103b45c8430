//! Token buckets: a bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one
//! token or is told how long to wait for it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn refilled(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * self.rate).min(self.burst)
    }
}

/// Buckets by key (API key id, client address). Limits may differ per key and are read at each request, so a
/// changed limit applies at once. The map is pruned of full (idle) buckets when it grows past `max_keys`.
#[derive(Debug)]
pub struct RateLimiter<K> {
    buckets: Mutex<HashMap<K, Bucket>>,
    max_keys: usize,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    pub fn new(max_keys: usize) -> Self {
        Self { buckets: Mutex::new(HashMap::new()), max_keys: max_keys.max(1) }
    }

    /// Takes a token from `key`'s bucket (`rate` per second, `burst` at most), or returns how long until one
    /// is there. A `rate` that is not positive and finite means no limit.
    pub fn acquire(&self, key: &K, rate: f64, burst: u32, now: Instant) -> Result<(), Duration> {
        if !(rate.is_finite() && rate > 0.0) {
            return Ok(());
        }
        let burst = f64::from(burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= self.max_keys && !buckets.contains_key(key) {
            buckets.retain(|_, b| b.refilled(now) < b.burst);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket { tokens: burst, at: now, rate, burst });
        let mut tokens = bucket.refilled(now);
        bucket.rate = rate;
        bucket.burst = burst;
        tokens = tokens.min(burst);
        bucket.at = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            Err(Duration::from_secs_f64((1.0 - tokens) / rate))
        }
    }

    /// Whether `key`'s bucket holds a token now, without taking it (a bucket never used is full).
    pub fn peek(&self, key: &K, rate: f64, burst: u32, now: Instant) -> Result<(), Duration> {
        if !(rate.is_finite() && rate > 0.0) {
            return Ok(());
        }
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let tokens = buckets.get(key).map_or(f64::from(burst.max(1)), |b| b.refilled(now).min(f64::from(burst.max(1))));
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / rate))
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Seconds for a `Retry-After` header: the wait rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_at_rate() {
        let limiter = RateLimiter::new(16);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.acquire(&"k", 2.0, 3, t0).is_ok());
        }
        let wait = limiter.acquire(&"k", 2.0, 3, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert_eq!(retry_after_secs(wait), 1);
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.acquire(&"k", 2.0, 3, t1).is_ok());
        assert!(limiter.acquire(&"k", 2.0, 3, t1).is_err());
        assert!(limiter.peek(&"k", 2.0, 3, t1).is_err(), "peeking an empty bucket");
        assert!(limiter.peek(&"new", 2.0, 3, t1).is_ok(), "peeking a bucket never used");
        // Another key has its own bucket.
        assert!(limiter.acquire(&"other", 2.0, 3, t1).is_ok());
        // Long idle: the bucket holds at most `burst`.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(limiter.acquire(&"k", 2.0, 3, t2).is_ok());
        }
        assert!(limiter.acquire(&"k", 2.0, 3, t2).is_err());
    }

    #[test]
    fn no_rate_means_no_limit_and_idle_buckets_are_pruned() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(limiter.acquire(&1, 0.0, 1, t0).is_ok());
            assert!(limiter.acquire(&1, f64::NAN, 1, t0).is_ok());
        }
        assert!(limiter.is_empty());
        limiter.acquire(&1, 1.0, 1, t0).unwrap();
        limiter.acquire(&2, 1.0, 1, t0).unwrap();
        // Both buckets are refilled 10 s later: adding a third prunes them.
        limiter.acquire(&3, 1.0, 1, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(limiter.len(), 1);
    }
}
