//! The verification pool: how many password checks run at once on the
//! blocking pool, how many may wait, and the argon2 working memory they
//! share.
//!
//! Argon2 needs its `m` KiB of working memory per verification (19 MiB with
//! the default parameters). Verifications run on the blocking pool, at most
//! `max_concurrent_verifications` at once; up to `verification_queue` more
//! wait, and any beyond that are turned away ([`Busy`]). The working memory
//! is kept in a pool while verifications follow each other, and handed back
//! to the system when the last one finishes.

use argon2::Block;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Argon2's working memory for one verification at a time.
pub(super) struct Memory(Vec<Block>);

/// glibc serves no allocation above its largest mmap threshold (32 MiB on
/// 64-bit systems) from its arenas: such a buffer is mapped on its own and
/// unmapped when dropped, so the memory goes back to the system instead of
/// staying in an arena. Only the blocks argon2 uses are ever touched, so the
/// rest of the reservation costs address space, not memory.
const MAPPED_ON_ITS_OWN: usize = 32 * 1024 + 64;

impl Memory {
    pub(super) fn new(blocks: usize) -> Memory {
        let mut memory = Vec::with_capacity(blocks.max(MAPPED_ON_ITS_OWN));
        memory.resize(blocks, Block::default());
        Memory(memory)
    }

    pub(super) fn at_least(&mut self, blocks: usize) -> &mut [Block] {
        if self.0.len() < blocks {
            *self = Memory::new(blocks);
        }
        &mut self.0
    }
}

/// Too many sign-ins are already waiting for a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are waiting")]
pub struct Busy;

/// How many password checks run at once, and how many may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyLimits {
    /// Checks that run at once; 0 means one per core.
    pub concurrent: usize,
    /// Checks that may wait for a turn.
    pub queue: usize,
}

/// Admission to the blocking pool, and the pool of working memory.
pub(super) struct Gate {
    running: Arc<Semaphore>,
    /// Checks admitted and not yet finished: running and waiting.
    admitted: AtomicUsize,
    capacity: usize,
    /// Working memory between checks; emptied when the last check ends.
    spare: Mutex<Vec<Memory>>,
}

/// A place among the admitted checks. Dropping it when it was the last one
/// hands the spare working memory back.
struct Ticket {
    gate: Arc<Gate>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.gate.admitted.fetch_sub(1, Ordering::AcqRel) == 1 {
            let idle = std::mem::take(&mut *self.gate.spare.lock().unwrap_or_else(|e| e.into_inner()));
            drop(idle);
        }
    }
}

impl Gate {
    pub(super) fn new(limits: VerifyLimits) -> Arc<Gate> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let concurrent = if limits.concurrent == 0 { cores } else { limits.concurrent.min(Semaphore::MAX_PERMITS) };
        Arc::new(Gate {
            running: Arc::new(Semaphore::new(concurrent)),
            admitted: AtomicUsize::new(0),
            capacity: concurrent.saturating_add(limits.queue),
            spare: Mutex::new(Vec::new()),
        })
    }

    fn admit(self: &Arc<Gate>) -> Result<Ticket, Busy> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let ticket = Ticket { gate: self.clone() };
        if before >= self.capacity {
            drop(ticket);
            return Err(Busy);
        }
        Ok(ticket)
    }

    fn take_memory(&self, blocks: usize) -> Memory {
        self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_else(|| Memory::new(blocks))
    }

    fn give_back(&self, memory: Memory) {
        self.spare.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
    }

    /// Run `check` on the blocking pool with working memory, once a turn is
    /// free. The permit and the ticket travel with the check, so a client
    /// that goes away does not free its turn before its check ends.
    pub(super) async fn run<T: Send + 'static>(
        self: &Arc<Gate>,
        blocks: usize,
        check: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let ticket = self.admit()?;
        let permit: OwnedSemaphorePermit = self.running.clone().acquire_owned().await.map_err(|_| Busy)?;
        let gate = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = gate.take_memory(blocks);
            let result = check(&mut memory);
            gate.give_back(memory);
            drop(permit);
            drop(ticket);
            result
        })
        .await
        .map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_beyond_the_queue_are_turned_away_and_at_most_the_limit_run_at_once() {
        let gate = Gate::new(VerifyLimits { concurrent: 2, queue: 3 });
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let attempts = (0..10).map(|_| {
            let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                gate.run(8, move |_memory| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            })
        });
        let results = futures_util::future::join_all(attempts.collect::<Vec<_>>()).await;
        let busy = results.iter().filter(|r| r.as_ref().unwrap().is_err()).count();
        assert_eq!(busy, 5, "2 running + 3 waiting admitted, the rest turned away");
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn working_memory_is_handed_back_when_the_last_check_ends() {
        let gate = Gate::new(VerifyLimits { concurrent: 2, queue: 2 });
        let (first, second) =
            tokio::join!(gate.run(1024, |memory| memory.0.len()), gate.run(1024, |memory| memory.0.len()));
        assert_eq!((first, second), (Ok(1024), Ok(1024)));
        assert!(gate.spare.lock().unwrap().is_empty(), "idle, yet memory is kept");
        assert_eq!(gate.admitted.load(Ordering::SeqCst), 0);
    }
}
