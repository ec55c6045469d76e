//! The dataset commitment, format version 3.
//!
//! A snapshot is a list of *blocks*, one per patient, each a list of rows `(code, value)`: `code` is a
//! committed attribute a criterion tests (the patient's sex, a condition or medication code, the
//! person itself) or a measure's code, `value` an unsigned 32-bit measurement in its canonical unit and
//! scale (0 on attribute rows). A block lists its attribute rows before its measure rows, and no
//! attribute code twice. It is laid out as the main segment of a winterfell execution trace:
//!
//! | column | holds |
//! |---|---|
//! | 0 | `code` (a data row: at most [`MAX_CODE`] `= 2^62 - 1`; a padding row: [`PAD_CODE`] `= 2^62`) |
//! | 1 | `value` |
//! | 2 ..= 33 | the 32 bits of `value`, least significant first (a range check: sums cannot wrap) |
//! | 34 | `first`: 1 on a block's first row and on every padding row, else 0 |
//! | 35 | the selector: 1 on rows `0 ..= n-k-2`, 0 on the rest (the rows the constraints apply to) |
//!
//! The trace has `n` rows, `n` a power of two ≥ [`MIN_TRACE_LENGTH`]; row 0 is padding, rows
//! `1 ..= n-k-1` hold the blocks then padding (`code = PAD_CODE`, `value = 0`, `first = 1`), row `n-k-1`
//! is padding, and the last `k = random_rows(n)` rows are uniformly random field elements drawn from the
//! snapshot's secret seed, exempt from every constraint. The commitment is the root of winterfell's
//! Merkle tree (BLAKE3-256) over the rows of the trace's low-degree extension with the fixed
//! [`proof_options`]: exactly the main-trace commitment that every proof over this snapshot opens, so no
//! hash is computed inside the proof and a proof is tied to the snapshot by comparing one digest.

use serde::{Deserialize, Serialize};
use winter_air::{BatchingMethod, FieldExtension, ProofOptions};

/// The commitment format this crate writes and reads.
///
/// Version 1 (never deployed) had 256 random rows at least and proofs without the zero-knowledge
/// layout of the composition polynomial; version 2 masks more openings per proof (see
/// [`OPENINGS_PER_PROOF`]) and so needs at least 1,024 random rows; it committed flat rows, one per
/// (patient, attribute), so a proof could count one attribute only. Version 3 groups the rows into
/// patient blocks (the `first` column), so that a proof evaluates a conjunction of criteria per patient,
/// and has at least 2,048 random rows (traces of at least 4,096 rows), so that every snapshot serves the
/// proofs of a whole answer.
pub const FORMAT_VERSION: u32 = 3;
/// Bits of a committed value.
pub const VALUE_BITS: usize = 32;
/// Columns of the committed (main) trace segment.
pub const MAIN_WIDTH: usize = 4 + VALUE_BITS;
/// The block-start column.
pub const FIRST: usize = 2 + VALUE_BITS;
/// The selector column.
pub const SELECTOR: usize = 3 + VALUE_BITS;
/// The most criteria one statement tests (eight: e.g. the person or a sex group, an age band, a
/// consent and five of the cohort's). Each unranged criterion costs four auxiliary columns; a statement
/// also stays within [`MAX_AUX_WIDTH`].
pub const MAX_CRITERIA: usize = 8;
/// The widest auxiliary segment a statement may have (ranged criteria cost up to 69 columns each,
/// `crate::range`): each column adds about 0.37 KB to a proof (42 openings of a base-field value,
/// `crate::openings`, and two out-of-domain values) and its extension to the prover's memory; at 128
/// a proof stays under the 250 KB per answer the hub's message limit assumes at every trace length
/// (measured: 219 KB at 2^22 rows, BENCHMARKS.md). An age band, a histogram bin and a sex need about 90;
/// several ranges with bounds below 2^31 can exceed it (the node then refuses the answer's proofs).
pub const MAX_AUX_WIDTH: usize = 128;
/// The widest auxiliary segment a proof can have at all (winterfell reads at most 254 columns in all):
/// the verifier's bound, above the prover's [`MAX_AUX_WIDTH`] so that a proof made under a wider
/// policy still verifies.
pub const READABLE_AUX_WIDTH: usize = 254 - MAIN_WIDTH;
const _: () = assert!(MAX_AUX_WIDTH <= READABLE_AUX_WIDTH);
/// Bits of the gap `threshold - 1 - count` that proves a suppressed count below its threshold.
pub const GAP_BITS: usize = 6;
/// The highest disclosure threshold a suppressed cell can be proven below.
pub const MAX_THRESHOLD: u32 = 1 << GAP_BITS;
/// Rows of the window whose bits range-check the witnesses of a sum of squares: the last
/// `SQUARES_WINDOW` counted rows (`n - k` is a multiple of it) hold them, every other window zeros.
pub const SQUARES_WINDOW: usize = 128;
/// Bits of the low part of the cross sum `Σ lo·hi` (it enters the sum of squares times `2^17`, so its
/// low 15 bits fall in the low word).
pub const Y_LO_BITS: usize = 15;
/// Bits of the cross sum's high part (the cross sum is below `2^54`).
pub const Y_HI_BITS: usize = 39;
/// Bits of the carry from the low word (`Σ lo² + 2^17·y_lo < 2^55`).
pub const CARRY_BITS: usize = 23;
const _: () = assert!(Y_LO_BITS + Y_HI_BITS + CARRY_BITS <= SQUARES_WINDOW);
/// Bits of a chunk's low word `ℓ` of its own sum of squares (`crate::air`, "Chunks"): range-checked in
/// its window too, since the parts' low words are added.
pub const LOW_BITS: usize = 32;
/// Bits of the carry out of the parts' low words added (below `MAX_CHUNKS · 2^32 = 2^40`), proven by the
/// last part: in the first half of its window, before the row where the masks it reads are.
pub const LOWS_CARRY_BITS: usize = 8;
const _: () = assert!(LOWS_CARRY_BITS + Y_LO_BITS + Y_HI_BITS + CARRY_BITS + LOW_BITS <= SQUARES_WINDOW);
const _: () = assert!(LOWS_CARRY_BITS < CHUNK_WINDOW / 2);

/// Rows of the window of a chunk's proof (`crate::air`, "Chunks"): the last [`CHUNK_WINDOW`] rows before
/// the random ones (`n - k` is a multiple of it), where two permutations of the in-AIR hash open the
/// masks the chunk shares with its neighbours, one in each half.
pub const CHUNK_WINDOW: usize = 128;
const _: () = assert!(CHUNK_WINDOW == SQUARES_WINDOW && 2 * crate::rescue::ROWS <= CHUNK_WINDOW);

/// The code of a padding row: outside every data code.
pub const PAD_CODE: u64 = 1 << 62;
/// The highest data code (codes are field elements; nodes derive them from code systems by hashing,
/// `agora_protocol::proof::row_code`).
pub const MAX_CODE: u64 = PAD_CODE - 1;
/// The shortest trace.
pub const MIN_TRACE_LENGTH: usize = 4096;
/// The longest trace (2^22 rows) a commitment may name.
pub const MAX_TRACE_LENGTH: usize = 1 << 22;

/// Queries per proof.
pub const NUM_QUERIES: usize = 42;
/// Low-degree extension blowup.
pub const BLOWUP: usize = 4;
/// Proof-of-work bits before the query positions are drawn.
pub const GRINDING_BITS: u32 = 16;

/// The proof parameters of format v3 (as v2's): 42 queries at blowup 4 with 16 bits of grinding and a quadratic
/// extension of the 64-bit field: 99 bits conjectured security (winterfell's
/// `Proof::conjectured_security` reports the figure for each proof; see BENCHMARKS.md for the proven one).
pub fn proof_options() -> ProofOptions {
    ProofOptions::new(
        NUM_QUERIES,
        BLOWUP,
        GRINDING_BITS,
        FieldExtension::Quadratic,
        8,
        31,
        BatchingMethod::Linear,
        BatchingMethod::Linear,
    )
}

/// Degrees of room in each segment of the constraint composition polynomial for the prover's
/// randomizer (the patched `AirContext::set_zk_quotient_slack`): it must exceed the number of points at
/// which a proof reveals those segments: the queries, their Merkle siblings, `z` and `g·z`
/// (zk/README.md): `2 · 42 + 2 = 86`.
pub const ZK_QUOTIENT_SLACK: usize = 128;
const _: () = assert!(ZK_QUOTIENT_SLACK > 2 * NUM_QUERIES + 2, "the slack must exceed the revealed points");

/// Linear functionals of each trace column one proof reveals, counted over the base field (zk/README.md):
/// for each query `x`, the column at `x` (opened), at `x`'s Merkle sibling `y` (its leaf hash), and at
/// `g·x` and `g·y` (the constraint composition at `x` and `y` depends on the next row); and three points
/// of the quadratic extension (two functionals each): `z`, `g·z` and `g²·z` (the composition at `g·z`).
/// The FRI layers add none: the DEEP randomizer masks them (zk/README.md).
pub const OPENINGS_PER_PROOF: usize = 4 * NUM_QUERIES + 2 * 3;

/// Random rows at the end of a trace of `n` rows: `n / 16`, and at least 2,048 (so that even the
/// smallest snapshot serves the ten proofs an answer grouped by sex with moments needs). Any `k` linear
/// functionals (evaluations outside the trace domain) of a column masked by `k` random rows are
/// uniformly distributed whatever the data (zk/README.md), so a snapshot's main segment, which every
/// proof over it opens again, stays masked for [`proof_budget`] proofs; then the node re-commits with a
/// fresh seed.
pub fn random_rows(n: usize) -> usize {
    (n / 16).max(2048)
}

/// How many proofs one snapshot may serve before its mask is used up.
pub fn proof_budget(n: usize) -> usize {
    random_rows(n) / OPENINGS_PER_PROOF
}

/// The number of data rows a trace of `n` rows holds (rows 0 and `n-k-1` are padding).
pub fn capacity(n: usize) -> usize {
    n - random_rows(n) - 2
}

/// The trace length for `rows` data rows, or `None` when beyond [`MAX_TRACE_LENGTH`].
pub fn trace_length_for(rows: usize) -> Option<usize> {
    let mut n = MIN_TRACE_LENGTH;
    while capacity(n) < rows {
        n *= 2;
        if n > MAX_TRACE_LENGTH {
            return None;
        }
    }
    Some(n)
}

/// What a node publishes about a snapshot (and, later, anchors on the ledger).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// Always [`FORMAT_VERSION`] for this crate.
    pub version: u32,
    /// Rows of the execution trace (a power of two).
    pub trace_length: usize,
    /// The BLAKE3-256 Merkle root of the trace's low-degree extension (hex).
    pub root: String,
}

impl Commitment {
    /// Checks the version and the shape fields, and returns the root's bytes.
    pub fn root_bytes(&self) -> Result<[u8; 32], crate::ZkError> {
        if self.version != FORMAT_VERSION {
            return Err(crate::ZkError::BadCommitment(format!(
                "version {} (this build reads version {FORMAT_VERSION})",
                self.version
            )));
        }
        if !self.trace_length.is_power_of_two()
            || self.trace_length < MIN_TRACE_LENGTH
            || self.trace_length > MAX_TRACE_LENGTH
        {
            return Err(crate::ZkError::BadCommitment(format!(
                "trace length {} is not a power of two in [{MIN_TRACE_LENGTH}, {MAX_TRACE_LENGTH}]",
                self.trace_length
            )));
        }
        let bytes = hex::decode(&self.root).map_err(|_| crate::ZkError::BadCommitment("root is not hex".into()))?;
        bytes.try_into().map_err(|_| crate::ZkError::BadCommitment("root is not 32 bytes".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_capacity() {
        assert_eq!(random_rows(4096), 2048);
        assert_eq!(capacity(4096), 2046);
        assert_eq!(trace_length_for(0), Some(4096));
        assert_eq!(trace_length_for(2046), Some(4096));
        assert_eq!(trace_length_for(2047), Some(8192));
        assert_eq!(OPENINGS_PER_PROOF, 174);
        assert_eq!(proof_budget(4096), 11);
        assert_eq!(proof_budget(1 << 20), 376);

        // 2^20 rows: 65,536 random rows, 983,038 data rows.
        assert_eq!(capacity(1 << 20), (1 << 20) - (1 << 16) - 2);
        assert_eq!(trace_length_for(capacity(1 << 20)), Some(1 << 20));
        assert_eq!(trace_length_for(capacity(MAX_TRACE_LENGTH) + 1), None);
        // Every trace length's counted rows end on a whole window of the squares' range checks.
        for log in 12..=22 {
            let n = 1usize << log;
            assert!((n - random_rows(n)).is_multiple_of(SQUARES_WINDOW) && n - random_rows(n) > SQUARES_WINDOW);
        }
    }
}
