//! How a proof carries the auxiliary segment's openings on the wire.
//!
//! winterfell writes each value a query opens in the auxiliary segment as an element of the quadratic
//! extension: 16 bytes. agora-zk's auxiliary values are all in the base field (zk/README.md), so the
//! second coefficient of each is zero. Since archive format `agora-zk/cohort/5` a proof carries them as
//! base-field elements, 8 bytes each: 43 KB less per proof at the format's widest statement (128
//! auxiliary columns, 42 queries). The verifier reads either form (the older one from the archives and
//! nodes of earlier releases: they differ in length, so neither can be taken for the other) and lifts
//! the values back before winterfell's verifier sees them. Its Merkle openings then check the lifted
//! values against the committed tree, so the encoding cannot change what verifies. The older form is
//! read only while every value in it is a base-field one: that bound is the verifier's, not just the
//! prover's (a value outside it can meet every constraint and break a chunk's masks: [`lift`]).

use crate::ZkError;
use winter_air::proof::{Proof, Queries};

/// Bytes of a base-field element, and of an element of its quadratic extension.
const BASE: usize = 8;
const EXTENSION: usize = 2 * BASE;

/// The auxiliary segment's query set (a proof of format v3 has two segments; the second is it).
const AUX: usize = 1;

/// A query set's values and its Merkle opening, as bytes (the opening still to be parsed, with the
/// bounded reader for a hostile proof: `crate::verify`).
pub(crate) fn split(queries: &Queries) -> (&[u8], &[u8]) {
    (queries.value_bytes(), queries.opening_bytes())
}

/// Puts `values` in place of the auxiliary query set's values, beside its opening.
fn set_values(proof: &mut Proof, values: Vec<u8>) {
    let (_, opening) =
        std::mem::replace(&mut proof.trace_queries[AUX], Queries::from_parts(Vec::new(), Vec::new())).into_parts();
    proof.trace_queries[AUX] = Queries::from_parts(values, opening);
}

/// The proof's bytes with its auxiliary openings as base-field elements. Refused if any opened value is
/// outside the base field (the prover's invariant broken: a bug, never the data).
pub fn compact(mut proof: Proof) -> Result<Vec<u8>, ZkError> {
    let queries = proof.trace_queries.get(AUX).ok_or_else(|| ZkError::Prover("no auxiliary segment".into()))?;
    let (values, _) = split(queries);
    if !values.len().is_multiple_of(EXTENSION) {
        return Err(ZkError::Prover(format!(
            "auxiliary openings of {} bytes are not extension elements",
            values.len()
        )));
    }
    let mut base = Vec::with_capacity(values.len() / 2);
    for element in values.chunks_exact(EXTENSION) {
        let (low, high) = element.split_at(BASE);
        if high.iter().any(|&b| b != 0) {
            return Err(ZkError::Prover("an auxiliary value outside the base field".into()));
        }
        base.extend_from_slice(low);
    }
    set_values(&mut proof, base);
    Ok(proof.to_bytes())
}

/// Lifts a parsed proof's auxiliary openings back to extension elements when they are carried as
/// base-field ones (`aux_width` values per opened row); leaves the older form as it is once every value
/// in it is a base-field one (its second coefficient zero). Any other length, or a value of the older
/// form outside the base field, is refused, saying which.
pub fn lift(proof: &mut Proof, aux_width: usize) -> Result<(), ZkError> {
    let rows = usize::from(proof.num_unique_queries);
    if rows == 0 || aux_width == 0 {
        return Err(ZkError::Malformed("a proof without opened rows or auxiliary columns".into()));
    }
    let queries = proof
        .trace_queries
        .get(AUX)
        .ok_or_else(|| ZkError::Malformed("the proof opens no auxiliary segment".into()))?;
    let (values, _) = split(queries);
    let base = rows * aux_width * BASE;
    if values.len() == 2 * base {
        // The older form: every value must still be a base-field one. An auxiliary segment in the
        // extension field would let a prover out of the statement: `x^7`, the in-proof hash's S-box, is
        // not one-to-one there (7 divides `p + 1`), so a chunk's mask times a seventh root of unity opens
        // the same digest as the mask itself, and the masks no longer telescope (zk/README.md, "Chunks").
        if let Some(at) = values.chunks_exact(EXTENSION).position(|e| e[BASE..].iter().any(|&b| b != 0)) {
            return Err(ZkError::Malformed(format!(
                "auxiliary opening {at} (row {}, column {}) is outside the base field",
                at / aux_width,
                at % aux_width
            )));
        }
        return Ok(());
    }
    if values.len() != base {
        return Err(ZkError::Malformed(format!(
            "auxiliary openings of {} bytes: {rows} rows of {aux_width} values are {base} bytes as base-field \
             elements or {} as extension elements",
            values.len(),
            2 * base
        )));
    }
    let mut lifted = Vec::with_capacity(2 * base);
    for element in values.chunks_exact(BASE) {
        lifted.extend_from_slice(element);
        lifted.extend_from_slice(&[0; BASE]);
    }
    set_values(proof, lifted);
    Ok(())
}
