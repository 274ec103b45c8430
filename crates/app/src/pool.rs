//! The inference pool: a fixed number of worker threads running model inference off the async runtime.
//!
//! Admission is per request: a request that needs inference first takes one of `workers + queue` permits,
//! for its whole life. When none is left it is refused at once (503 + Retry-After) instead of piling up
//! memory and latency. (Per request, not per job: a comparison runs two jobs in parallel, and refusing one of
//! them half-way would waste the other.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

type Job = Box<dyn FnOnce() + Send + 'static>;

pub struct InferencePool {
    sender: Mutex<Option<mpsc::SyncSender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    queued: Arc<AtomicUsize>,
    busy: Arc<AtomicUsize>,
    admission: Arc<Semaphore>,
    size: usize,
    capacity: usize,
}

/// Held by a request while it may use the pool.
pub type Admission = OwnedSemaphorePermit;

impl InferencePool {
    /// `workers` threads; at most `workers + queue` requests admitted at once.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let admitted = workers + queue.max(1);
        // Each admitted request runs at most a few jobs at once: the channel never fills before admission does.
        let (sender, receiver) = mpsc::sync_channel::<Job>(admitted * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        let busy = Arc::new(AtomicUsize::new(0));
        let handles = (0..workers)
            .map(|i| {
                let receiver = receiver.clone();
                let (queued, busy) = (queued.clone(), busy.clone());
                std::thread::Builder::new()
                    .name(format!("inference-{i}"))
                    .spawn(move || loop {
                        let job = match receiver.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        queued.fetch_sub(1, Ordering::Relaxed);
                        busy.fetch_add(1, Ordering::Relaxed);
                        job();
                        busy.fetch_sub(1, Ordering::Relaxed);
                    })
                    .expect("spawning an inference thread")
            })
            .collect();
        Self {
            sender: Mutex::new(Some(sender)),
            workers: Mutex::new(handles),
            queued,
            busy,
            admission: Arc::new(Semaphore::new(admitted)),
            size: workers,
            capacity: queue.max(1),
        }
    }

    /// Admits a request, or refuses it with 503 when `workers + queue` requests are already in.
    pub fn admit(&self) -> Result<Admission, ApiError> {
        self.admission.clone().try_acquire_owned().map_err(|_| ApiError::overloaded(1))
    }

    /// Requests admitted now.
    pub fn admitted(&self) -> usize {
        self.size + self.capacity - self.admission.available_permits()
    }

    /// Runs `f` on a worker and waits for its result (call with an [`Admission`] held).
    pub async fn run<R, F>(&self, f: F) -> Result<R, ApiError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(result);
        });
        {
            let sender = self.sender.lock().map_err(|_| ApiError::internal("inference pool", "poisoned"))?;
            let Some(sender) = sender.as_ref() else {
                return Err(ApiError::overloaded(1));
            };
            self.queued.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = sender.try_send(job) {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                return Err(match e {
                    mpsc::TrySendError::Full(_) => ApiError::overloaded(1),
                    mpsc::TrySendError::Disconnected(_) => ApiError::internal("inference pool", "stopped"),
                });
            }
        }
        match rx.await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(panic)) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(ApiError::internal("inference panicked", what))
            }
            Err(_) => Err(ApiError::internal("inference pool", "worker dropped the job")),
        }
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Jobs running now.
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Lets queued jobs finish, then stops the workers.
    pub fn shutdown(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Ok(mut workers) = self.workers.lock() {
            for handle in workers.drain(..) {
                let _ = handle.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admits_workers_plus_queue_requests() {
        let pool = InferencePool::new(2, 3);
        let held: Vec<_> = (0..5).map(|_| pool.admit().unwrap()).collect();
        assert_eq!(pool.admitted(), 5);
        let refused = pool.admit().unwrap_err();
        assert_eq!((refused.code, refused.retry_after), (crate::error::Code::Overloaded, Some(1)));
        drop(held);
        assert!(pool.admit().is_ok());
        pool.shutdown();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queues_jobs_and_survives_panics() {
        let pool = Arc::new(InferencePool::new(1, 1));
        // Hold the one worker; the next job waits in the queue and runs once the worker is free.
        let gate = Arc::new(Barrier::new(2));
        let g = gate.clone();
        let running = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move || g.wait()).await }
        });
        while pool.busy() == 0 {
            tokio::task::yield_now().await;
        }
        let queued = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|| 7).await }
        });
        while pool.queued() == 0 {
            tokio::task::yield_now().await;
        }
        gate.wait();
        running.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap().unwrap(), 7);

        let panicked = pool.run(|| -> u8 { panic!("boom") }).await.unwrap_err();
        assert_eq!(panicked.code, crate::error::Code::Internal);
        assert_eq!(pool.run(|| 5).await.unwrap(), 5, "the worker survives a panicking job");
        pool.shutdown();
    }
}
