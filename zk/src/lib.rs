//! `agora-zk`: STARK proofs (winterfell 0.13) that a node's aggregate answer was computed over exactly the
//! dataset it committed to, with the query's predicate evaluated inside the proof.
//!
//! - [`format`]: the versioned dataset commitment a node publishes before any proof exists, and the fixed
//!   proof parameters it implies.
//! - [`air`]: the algebraic statement (the patients whose committed rows meet criteria in clauses,
//!   or the count and sum of a measure's values over them), shared by prover and verifier.
//! - [`verify`]: the verifier; it links no prover code (the `prover` feature is off for the hub).
//! - [`openings`]: how a proof carries its auxiliary openings on the wire (as base-field elements).
//! - `prove` (feature `prover`): snapshots, their commitments, and proofs.
//!
//! What format v3 proves, and why its proofs are zero-knowledge (masked trace, randomized quotient
//! segments, a DEEP randomizer; two patches of winterfell in `zk/vendor`), is in `zk/README.md`.

pub mod air;
pub mod archive;
#[cfg(feature = "prover")]
mod columns;
pub mod format;
#[cfg(feature = "prover")]
mod lde;
#[cfg(feature = "prover")]
mod leaves;
pub mod openings;
#[cfg(feature = "prover")]
pub mod pool;
#[cfg(feature = "prover")]
pub mod prove;
pub mod range;
mod reader;
pub mod rescue;
#[cfg(feature = "prover")]
mod scratch;
pub mod verify;

pub use air::Criterion;
pub use format::{Commitment, FORMAT_VERSION};
pub use verify::{verify_chunked, verify_claim, ChunkPart, Claim, MAX_CHUNKS};

/// Why a snapshot, a proof or a verification failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZkError {
    /// The proof bytes do not parse.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The proof's trace or parameters are not those of the commitment format.
    #[error("proof shape does not match commitment format v{version}: {detail}")]
    Shape {
        /// The commitment format version checked against.
        version: u32,
        /// Which part differs.
        detail: String,
    },
    /// The proof was computed over a different dataset than the commitment names.
    #[error("proof is over dataset {found}, not the committed {expected}")]
    ForeignCommitment {
        /// The committed root (hex).
        expected: String,
        /// The root the proof opens (hex).
        found: String,
    },
    /// The STARK verifier refused the proof for these public inputs.
    #[error("proof does not verify for this query and these outputs: {0}")]
    Rejected(String),
    /// A commitment of an unknown version or with inconsistent fields.
    #[error("bad commitment: {0}")]
    BadCommitment(String),
    /// The dataset does not fit the format (too many rows).
    #[error("dataset too large: {rows} rows, at most {max}")]
    TooLarge {
        /// Rows given.
        rows: usize,
        /// The most the format allows.
        max: usize,
    },
    /// The snapshot's mask is used up: re-commit with a fresh seed before proving again.
    #[error("snapshot has served its {0} proofs: re-commit it with a fresh seed")]
    BudgetExhausted(usize),
    /// The proving queue is full: the answer goes out unproven.
    #[error("the proving queue is full")]
    Busy,
    /// The proving pool has stopped.
    #[error("the proving pool has stopped")]
    Stopped,
    /// The prover failed (an honest prover never should).
    #[error("proving failed: {0}")]
    Prover(String),
}
