//! Proving off the node's request path: a bounded queue in front of a fixed number of proving threads.
//!
//! A node answers first and proves after; [`ProverPool::try_submit`] never waits: when the queue is full
//! it refuses (`ZkError::Busy`) and the answer goes out marked unproven. One dispatcher task owns the
//! queue; each proof runs on tokio's blocking pool under a semaphore of `workers` permits; cancelling the
//! token stops the dispatcher and drops what is still queued (their receivers see the channel closed).

use crate::prove::{Snapshot, Statement};
use crate::verify::{ChunkPart, Claim};
use crate::ZkError;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;

/// What a proof job returns: the claim and its proof bytes.
pub type Proven = Result<(Claim, Vec<u8>), ZkError>;

/// What a job over a dataset in chunks returns: the whole claim and one part per chunk.
pub type ProvenChunked = Result<(Claim, Vec<ChunkPart>), ZkError>;

/// A queued proof: it proves and sends its outcome to whoever waits for it.
struct Job(Box<dyn FnOnce() + Send>);

/// A handle to the pool; cheap to clone.
#[derive(Clone)]
pub struct ProverPool {
    tx: mpsc::Sender<Job>,
}

impl ProverPool {
    /// Starts the dispatcher: at most `workers` proofs at once, at most `queue` waiting.
    pub fn start(workers: usize, queue: usize, cancel: CancellationToken) -> (ProverPool, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job>(queue.max(1));
        let permits = Arc::new(Semaphore::new(workers.max(1)));
        let task = tokio::spawn(async move {
            loop {
                let job = tokio::select! {
                    _ = cancel.cancelled() => break,
                    job = rx.recv() => match job { Some(job) => job, None => break },
                };
                let permit = tokio::select! {
                    _ = cancel.cancelled() => break,
                    permit = permits.clone().acquire_owned() => permit.expect("semaphore never closed"),
                };
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    (job.0)();
                });
            }
        });
        (ProverPool { tx }, task)
    }

    /// Queues a proof of `statement` over `snapshot`, or refuses at once if the queue is full or the
    /// pool stopped.
    pub fn try_submit(
        &self,
        snapshot: Arc<Snapshot>,
        query: [u8; 32],
        statement: Statement,
    ) -> Result<oneshot::Receiver<Proven>, ZkError> {
        self.submit(move || snapshot.prove(query, &statement))
    }

    /// Queues a proof of `statement` over a dataset in `chunks` (`prove::prove_chunked`: the chunks one
    /// after another on one worker), or refuses at once as [`ProverPool::try_submit`] does.
    pub fn try_submit_chunked(
        &self,
        chunks: Vec<Arc<Snapshot>>,
        query: [u8; 32],
        statement: Statement,
    ) -> Result<oneshot::Receiver<ProvenChunked>, ZkError> {
        self.submit(move || {
            let chunks: Vec<&Snapshot> = chunks.iter().map(Arc::as_ref).collect();
            crate::prove::prove_chunked(&chunks, query, &statement)
        })
    }

    fn submit<T: Send + 'static>(
        &self,
        prove: impl FnOnce() -> Result<T, ZkError> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T, ZkError>>, ZkError> {
        let (reply, rx) = oneshot::channel();
        let job = Job(Box::new(move || {
            let _ = reply.send(proven_or_reason(prove));
        }));
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ZkError::Busy,
            mpsc::error::TrySendError::Closed(_) => ZkError::Stopped,
        })?;
        Ok(rx)
    }
}

/// `prove()`, or a prover error if it panicked (a scratch file that cannot be read, say): the node then
/// says the proof failed, not that the pool stopped. The panic's own message stays in the node's log
/// (the panic hook prints it): it is not passed on, since the reason travels to the hub and a message
/// may hold anything.
fn proven_or_reason<T>(prove: impl FnOnce() -> Result<T, ZkError>) -> Result<T, ZkError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(prove))
        .unwrap_or_else(|_| Err(ZkError::Prover("the prover failed (its panic is in the node's log)".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_that_panics_is_a_prover_error_without_its_message() {
        let e = proven_or_reason::<()>(|| panic!("reading the prover's scratch file: code 4711 value 93")).unwrap_err();
        assert!(matches!(&e, ZkError::Prover(m) if m.contains("prover failed")), "{e}");
        assert!(!e.to_string().contains("4711"), "{e}");
        assert!(proven_or_reason::<()>(|| Err(ZkError::Busy)).is_err_and(|e| matches!(e, ZkError::Busy)));
    }
}
