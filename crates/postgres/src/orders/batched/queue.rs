//! Group commit, per key: the first item for an idle key starts a worker
//! that runs a batch at once with whatever is queued; items that arrive
//! while a batch is in flight queue up and form the next batch. The worker
//! ends, and the key's entry is removed, as soon as its queue is empty, so
//! idle keys cost nothing and workers never pile up.
//!
//! Nothing here knows about purchases or PostgreSQL; the [`Runner`] does the
//! work and answers the items. That keeps the scheduling testable alone.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::BatchSettings;

/// Runs one batch of items of one key, and answers each item itself.
pub(super) trait Runner: Send + Sync + 'static {
    type Key: Copy + Eq + Hash + fmt::Display + Send + Sync + 'static;
    type Item: Send + 'static;

    /// Runs `batch` (in arrival order, never empty). Batches of one key run
    /// one after the other, never together.
    fn run(&self, key: Self::Key, batch: Vec<Self::Item>) -> impl Future<Output = ()> + Send;
}

/// One key's waiting items and the signal that they fill a batch.
struct Queue<T> {
    pending: VecDeque<Waiting<T>>,
    full: Arc<Notify>,
}

struct Waiting<T> {
    item: T,
    since: Instant,
}

/// Per-key queues, each drained by at most one worker task.
pub(super) struct GroupCommit<R: Runner> {
    runner: R,
    settings: BatchSettings,
    /// A key is present exactly while its worker lives. Held only for
    /// queue operations, never across an await, hence a std mutex.
    queues: Mutex<HashMap<R::Key, Queue<R::Item>>>,
}

impl<R: Runner> GroupCommit<R> {
    pub(super) fn new(runner: R, settings: BatchSettings) -> Self {
        Self {
            runner,
            settings,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Queues `item` behind the other items of `key`, starting the key's
    /// worker if it has none. Must be called within a tokio runtime.
    pub(super) fn submit(self: &Arc<Self>, key: R::Key, item: R::Item) {
        let waiting = Waiting {
            item,
            since: Instant::now(),
        };
        let start_worker = match self.lock().entry(key) {
            Entry::Occupied(mut queue) => {
                let queue = queue.get_mut();
                queue.pending.push_back(waiting);
                if queue.pending.len() >= self.max_batch() {
                    queue.full.notify_one();
                }
                false
            }
            Entry::Vacant(vacant) => {
                vacant.insert(Queue {
                    pending: VecDeque::from([waiting]),
                    full: Arc::new(Notify::new()),
                });
                true
            }
        };
        if start_worker {
            tokio::spawn(Arc::clone(self).work(key));
        }
    }

    /// Items of `key` waiting for a batch (not those of the batch in flight).
    pub(super) fn queued(&self, key: R::Key) -> usize {
        self.lock().get(&key).map_or(0, |queue| queue.pending.len())
    }

    /// Keys with a live worker.
    pub(super) fn active_keys(&self) -> usize {
        self.lock().len()
    }

    fn max_batch(&self) -> usize {
        self.settings.max_batch.max(1)
    }

    /// Nothing panics while the lock is held, but a poisoned lock must not
    /// take every later purchase down with it: the map is still consistent.
    fn lock(&self) -> MutexGuard<'_, HashMap<R::Key, Queue<R::Item>>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The worker of `key`: batch after batch until the queue is empty.
    async fn work(self: Arc<Self>, key: R::Key) {
        let mut guard = WorkerGuard {
            owner: Arc::clone(&self),
            key,
            finished: false,
        };
        // Whether the last batch held several items: the key is busy.
        let mut busy = false;
        loop {
            let Some(batch) = self.next_batch(key, busy).await else {
                // `next_batch` removed the entry, with no await since.
                guard.finished = true;
                return;
            };
            busy = batch.len() > 1;
            self.runner.run(key, batch).await;
        }
    }

    /// The next batch of `key`, or `None` (and the entry removed) when its
    /// queue is empty.
    ///
    /// A batch starts at once unless the key is `busy` (its last batch held
    /// several items): a lone request, or a lone client buying again, waits
    /// for nothing. When busy and the waiting items do not fill a batch, the
    /// worker waits for more, but only until the oldest of them has waited
    /// `max_wait` in all (the time it spent behind the batch in flight
    /// counts), so `max_wait` bounds the collection delay any item sees, and
    /// `max_wait = 0` is pure group commit.
    async fn next_batch(&self, key: R::Key, busy: bool) -> Option<Vec<R::Item>> {
        loop {
            let (deadline, full) = {
                let mut queues = self.lock();
                let queue = queues.get_mut(&key)?;
                let Some(oldest) = queue.pending.front() else {
                    queues.remove(&key);
                    return None;
                };
                let deadline = oldest.since + self.settings.max_wait;
                if !busy || queue.pending.len() >= self.max_batch() || Instant::now() >= deadline {
                    let size = queue.pending.len().min(self.max_batch());
                    return Some(queue.pending.drain(..size).map(|w| w.item).collect());
                }
                (deadline, Arc::clone(&queue.full))
            };
            // Woken early when the batch fills; a stale wake-up only costs
            // one more look at the queue.
            let _ = tokio::time::timeout_at(deadline, full.notified()).await;
        }
    }
}

/// Removes the key's entry if its worker stops without emptying the queue:
/// a panic in the runner, or the runtime shutting down. The waiting items
/// are dropped with the entry (their callers learn the batch stopped), and
/// the next item for the key starts a fresh worker instead of queueing
/// behind a dead one.
struct WorkerGuard<R: Runner> {
    owner: Arc<GroupCommit<R>>,
    key: R::Key,
    finished: bool,
}

impl<R: Runner> Drop for WorkerGuard<R> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let dropped = self
            .owner
            .lock()
            .remove(&self.key)
            .map_or(0, |queue| queue.pending.len());
        tracing::error!(
            key = %self.key,
            dropped,
            panicking = std::thread::panicking(),
            "a batch worker stopped early; its waiting requests are failed"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::{Semaphore, mpsc, oneshot};

    use super::*;

    /// Records each batch as (key, items); panics on item 0; holds every
    /// batch until the test adds a permit to `gate`.
    struct Recorder {
        batches: mpsc::UnboundedSender<(u32, Vec<u32>)>,
        gate: Arc<Semaphore>,
    }

    impl Runner for Recorder {
        type Key = u32;
        type Item = (u32, oneshot::Sender<()>);

        async fn run(&self, key: u32, batch: Vec<Self::Item>) {
            if let Ok(permit) = self.gate.acquire().await {
                permit.forget();
            }
            let items: Vec<u32> = batch.iter().map(|(item, _)| *item).collect();
            assert!(!items.contains(&0), "item 0 makes the runner panic");
            let _ = self.batches.send((key, items));
            for (_, done) in batch {
                let _ = done.send(());
            }
        }
    }

    type Batches = mpsc::UnboundedReceiver<(u32, Vec<u32>)>;

    fn group(
        max_batch: usize,
        max_wait: Duration,
    ) -> (Arc<GroupCommit<Recorder>>, Arc<Semaphore>, Batches) {
        let (batches, seen) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let runner = Recorder {
            batches,
            gate: Arc::clone(&gate),
        };
        let settings = BatchSettings {
            max_batch,
            max_wait,
        };
        (Arc::new(GroupCommit::new(runner, settings)), gate, seen)
    }

    fn submit(group: &Arc<GroupCommit<Recorder>>, key: u32, item: u32) -> oneshot::Receiver<()> {
        let (done, answer) = oneshot::channel();
        group.submit(key, (item, done));
        answer
    }

    /// Waits, with a bound, until `condition` holds.
    async fn until(mut condition: impl FnMut() -> bool) {
        for _ in 0..2_000 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("condition not reached within 2 s");
    }

    #[tokio::test]
    async fn a_lone_item_runs_at_once_and_the_worker_ends() {
        let (group, gate, mut seen) = group(8, Duration::from_secs(3600));
        gate.add_permits(1);
        let answer = submit(&group, 1, 7);
        let answered = tokio::time::timeout(Duration::from_secs(5), answer).await;
        assert!(matches!(answered, Ok(Ok(()))), "not delayed by max_wait");
        assert_eq!(seen.recv().await, Some((1, vec![7])));
        until(|| group.active_keys() == 0).await;
    }

    #[tokio::test]
    async fn items_behind_a_batch_in_flight_form_the_next_batches_in_arrival_order() {
        let (group, gate, mut seen) = group(3, Duration::ZERO);
        let first = submit(&group, 1, 1);
        // The first batch holds item 1 and waits at the gate.
        until(|| group.queued(1) == 0).await;
        let rest: Vec<_> = (2..=6).map(|item| submit(&group, 1, item)).collect();
        let other_key = submit(&group, 2, 9);
        assert_eq!(group.queued(1), 5);
        gate.add_permits(4);
        assert!(first.await.is_ok());
        for answer in rest {
            assert!(answer.await.is_ok());
        }
        assert!(other_key.await.is_ok());
        let mut of_key_1 = Vec::new();
        while let Ok((key, items)) = seen.try_recv() {
            if key == 1 {
                of_key_1.push(items);
            }
        }
        assert_eq!(of_key_1, [vec![1], vec![2, 3, 4], vec![5, 6]]);
        until(|| group.active_keys() == 0).await;
    }

    #[tokio::test]
    async fn a_lone_client_buying_again_and_again_never_waits() {
        let (group, gate, _seen) = group(8, Duration::from_secs(3600));
        gate.add_permits(100);
        for item in 1..=50 {
            let answer = submit(&group, 1, item);
            let answered = tokio::time::timeout(Duration::from_secs(5), answer).await;
            assert!(matches!(answered, Ok(Ok(()))), "item {item} was delayed");
        }
    }

    /// Runs batch [1], then [2, 3] (queued behind it), leaving the key busy
    /// with [2, 3] in flight at the gate; returns when item 4 is queued.
    async fn busy_key(
        group: &Arc<GroupCommit<Recorder>>,
        gate: &Semaphore,
        seen: &mut Batches,
    ) -> (Instant, oneshot::Receiver<()>) {
        let first = submit(group, 1, 1);
        until(|| group.queued(1) == 0).await;
        let (second, third) = (submit(group, 1, 2), submit(group, 1, 3));
        gate.add_permits(1);
        assert!(first.await.is_ok());
        assert_eq!(seen.recv().await, Some((1, vec![1])));
        until(|| group.queued(1) == 0).await;
        let queued_at = Instant::now();
        let fourth = submit(group, 1, 4);
        gate.add_permits(1);
        assert!(second.await.is_ok() && third.await.is_ok());
        assert_eq!(seen.recv().await, Some((1, vec![2, 3])));
        (queued_at, fourth)
    }

    #[tokio::test]
    async fn a_busy_key_waits_for_more_items_until_the_batch_is_full() {
        let (group, gate, mut seen) = group(2, Duration::from_secs(3600));
        let (_, fourth) = busy_key(&group, &gate, &mut seen).await;
        gate.add_permits(1);
        // Item 4 alone does not fill a batch of a busy key: the worker waits,
        // and item 5 filling it cuts the wait short.
        let fifth = submit(&group, 1, 5);
        let answered = tokio::time::timeout(Duration::from_secs(5), fourth).await;
        assert!(matches!(answered, Ok(Ok(()))));
        assert!(fifth.await.is_ok());
        assert_eq!(seen.recv().await, Some((1, vec![4, 5])));
    }

    #[tokio::test]
    async fn a_busy_key_waits_at_most_max_wait_for_more_items() {
        const MAX_WAIT: Duration = Duration::from_millis(300);
        let (group, gate, mut seen) = group(100, MAX_WAIT);
        let (queued_at, fourth) = busy_key(&group, &gate, &mut seen).await;
        gate.add_permits(1);
        let answered = tokio::time::timeout(Duration::from_secs(5), fourth).await;
        assert!(matches!(answered, Ok(Ok(()))), "the wait is bounded");
        assert!(
            queued_at.elapsed() >= MAX_WAIT,
            "a busy key collects for max_wait"
        );
        assert_eq!(seen.recv().await, Some((1, vec![4])));
    }

    #[tokio::test]
    async fn a_panicking_batch_fails_its_callers_without_wedging_the_key() {
        let (group, gate, mut seen) = group(8, Duration::ZERO);
        gate.add_permits(2);
        let doomed = submit(&group, 1, 0);
        assert!(doomed.await.is_err(), "the caller learns the batch stopped");
        until(|| group.active_keys() == 0).await;
        let later = submit(&group, 1, 5);
        assert!(later.await.is_ok(), "a fresh worker serves the key");
        assert_eq!(seen.recv().await, Some((1, vec![5])));
        until(|| group.active_keys() == 0).await;
    }
}
