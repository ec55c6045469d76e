//! Checking an answer's proof against a published commitment. Links no prover code.

use crate::air::{CountSumAir, PublicInputs};
use crate::format::{
    aux_width, capacity, proof_options, Commitment, FORMAT_VERSION, MAIN_WIDTH, MAX_THRESHOLD, MIN_TRACE_LENGTH,
};
use crate::ZkError;
use winter_air::proof::{Context, Proof};
use winter_air::{Air, TraceInfo};
use winter_crypto::hashers::Blake3_256;
use winter_crypto::{DefaultRandomCoin, Digest, MerkleTree};
use winter_math::fields::f64::BaseElement;
use winter_verifier::AcceptableOptions;
use winter_verifier::{ByteReader as _, Deserializable as _, DeserializationError, Serializable as _};

/// The hash of format v2's commitments.
pub type Hash = Blake3_256<BaseElement>;

/// The largest proof accepted (a v2 proof is well under 200 KB).
pub const MAX_PROOF_BYTES: usize = 1 << 20;

/// What an answer claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The digest of the query answered.
    pub query: [u8; 32],
    /// The code selected.
    pub code: u64,
    /// Rows selected (0 when suppressed: not disclosed).
    pub count: u64,
    /// Sum of their values (0 when suppressed: not disclosed).
    pub sum: u64,
    /// `Some(T)`: the count is suppressed, and proven below the node's threshold `T`.
    pub suppressed_below: Option<u32>,
}

fn shape(detail: impl Into<String>) -> ZkError {
    ZkError::Shape { version: FORMAT_VERSION, detail: detail.into() }
}

/// Parses a proof and checks that its shape and parameters are those of the commitment's format, before
/// anything of winterfell's verifier (which panics on some hostile shapes) sees it.
pub fn parse_proof(commitment: &Commitment, suppressed: bool, bytes: &[u8]) -> Result<Proof, ZkError> {
    let aux = aux_width(suppressed);
    if !commitment.trace_length.is_power_of_two() || commitment.trace_length < MIN_TRACE_LENGTH {
        return Err(shape(format!("commitment trace length {}", commitment.trace_length)));
    }
    if bytes.len() > MAX_PROOF_BYTES {
        return Err(ZkError::Malformed(format!("{} bytes, at most {MAX_PROOF_BYTES}", bytes.len())));
    }
    // winterfell's deserializer asserts on many hostile headers (found by `cargo fuzz run stark_proof`:
    // a trace length of 2^255 overflows `usize::pow`, out-of-range proof options fail an assert). Format
    // v2 fixes the whole proof context (trace shape, field, options, number of constraints), so compare
    // the proof's opening bytes with the expected context before deserializing anything.
    let expected = expected_context(commitment.trace_length, suppressed);
    match bytes.get(..expected.len()) {
        None => return Err(ZkError::Malformed("shorter than a proof header".into())),
        Some(header) if header[..4] != expected[..4] => {
            return Err(shape(format!(
                "trace header {:?} (expected main width, auxiliary width, random elements and log2 length {:?})",
                &header[..4],
                &expected[..4]
            )))
        }
        Some(header) if header != expected.as_slice() => {
            return Err(shape("proof context (field, options or constraints) differs from the format's"))
        }
        Some(_) => {}
    }
    // Lengths bounded by the input (crate::reader); anything else that panics in the deserializer is a
    // refusal too (it is pure).
    let proof = std::panic::catch_unwind(|| {
        let mut reader = crate::reader::BoundedReader::new(bytes);
        let proof = Proof::read_from(&mut reader)?;
        if reader.has_more_bytes() {
            return Err(DeserializationError::UnconsumedBytes);
        }
        Ok(proof)
    })
    .map_err(|_| ZkError::Malformed("the proof's structure is out of range".into()))?
    .map_err(|e: DeserializationError| ZkError::Malformed(e.to_string()))?;
    let info = proof.trace_info();
    if info.main_trace_width() != MAIN_WIDTH {
        return Err(shape(format!("main trace width {} (expected {MAIN_WIDTH})", info.main_trace_width())));
    }
    if !info.is_multi_segment() || info.aux_segment_width() != aux || info.get_num_aux_segment_rand_elements() != 1 {
        return Err(shape(format!("auxiliary segment width {} (expected {aux})", info.aux_segment_width())));
    }
    if info.length() != commitment.trace_length {
        return Err(shape(format!("trace length {} (committed {})", info.length(), commitment.trace_length)));
    }
    if proof.options() != &proof_options() {
        return Err(shape("proof options differ from the format's"));
    }
    Ok(proof)
}

/// The Merkle root of the main trace a proof opens.
pub fn opened_root(proof: &Proof) -> Result<[u8; 32], ZkError> {
    let options = proof.options();
    let lde_domain_size = proof.trace_info().length() * options.blowup_factor();
    let fri_layers = options.to_fri_options().num_fri_layers(lde_domain_size);
    let (trace_roots, _, _) = proof
        .commitments
        .clone()
        .parse::<Hash>(2, fri_layers)
        .map_err(|e| ZkError::Malformed(format!("commitments: {e}")))?;
    Ok(trace_roots[0].as_bytes())
}

/// The serialized proof context every format v2 proof of this shape opens with.
fn expected_context(trace_length: usize, suppressed: bool) -> Vec<u8> {
    let info = TraceInfo::new_multi_segment(MAIN_WIDTH, aux_width(suppressed), 1, trace_length, vec![]);
    let inputs = PublicInputs {
        commitment: [0; 32],
        query: [0; 32],
        code: 0,
        count: 0,
        sum: 0,
        suppressed_below: if suppressed { 1 } else { 0 },
    };
    let air = CountSumAir::new(info.clone(), inputs, proof_options());
    let num_constraints = air.context().num_assertions() + air.context().num_transition_constraints();
    Context::new::<BaseElement>(info, proof_options(), num_constraints).to_bytes()
}

/// Verifies that `proof` shows `claim` over the dataset `commitment` names.
pub fn verify_count_sum(commitment: &Commitment, claim: &Claim, proof: &[u8]) -> Result<(), ZkError> {
    let root = commitment.root_bytes()?;
    let max_rows = capacity(commitment.trace_length) as u64;
    if claim.count > max_rows {
        return Err(ZkError::Rejected(format!("count {} exceeds the snapshot's {max_rows} rows", claim.count)));
    }
    if claim.code > crate::format::MAX_CODE {
        return Err(ZkError::Rejected(format!(
            "code {} is above the format's {}",
            claim.code,
            crate::format::MAX_CODE
        )));
    }
    if claim.sum > claim.count * u64::from(u32::MAX) {
        return Err(ZkError::Rejected(format!("sum {} exceeds count × 2^32", claim.sum)));
    }
    let suppressed_below = match claim.suppressed_below {
        None => 0,
        Some(t) if (1..=MAX_THRESHOLD).contains(&t) && claim.count == 0 && claim.sum == 0 => t,
        Some(t) => {
            return Err(ZkError::Rejected(format!(
                "a suppressed claim carries no count or sum and a threshold in 1..={MAX_THRESHOLD} (got {t})"
            )))
        }
    };
    let proof = parse_proof(commitment, suppressed_below != 0, proof)?;
    let opened = opened_root(&proof)?;
    if opened != root {
        return Err(ZkError::ForeignCommitment { expected: hex::encode(root), found: hex::encode(opened) });
    }
    let inputs = PublicInputs {
        commitment: root,
        query: claim.query,
        code: claim.code,
        count: claim.count,
        sum: claim.sum,
        suppressed_below,
    };
    let acceptable = AcceptableOptions::OptionSet(vec![proof_options()]);
    let outcome = std::panic::catch_unwind(move || {
        winter_verifier::verify::<CountSumAir, Hash, DefaultRandomCoin<Hash>, MerkleTree<Hash>>(
            proof,
            inputs,
            &acceptable,
        )
    });
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ZkError::Rejected(e.to_string())),
        Err(_) => Err(ZkError::Rejected("the verifier refused the proof's structure".into())),
    }
}
