//! Proven answers: what a node commits to, which answers can carry a STARK proof, and the message that
//! carries the proofs after the answer.
//!
//! A node commits to a *snapshot* of rows `(code, value)` derived from its store (agora-zk's format v2):
//! one row per person (code [`row_code`]`("person")`), one per person and sex, one per distinct
//! (person, condition code) and one per distinct (person, medication code). A count over such rows is
//! then exactly the number of patients of a simple cohort: everyone, one sex, one exact condition code
//! or one exact medication code. [`plan`] says whether a query is of that kind and which code its
//! count is over; the hub computes the same plan itself and never takes the code from the node.
//!
//! The proof follows the answer ([`ProofMessage`], signed by the node); until it arrives the hub shows
//! the answer as *proof pending*. An answer whose proof fails is excluded from the combination, with
//! the reason.

use crate::envelope::{Header, Payload};
use crate::query::{Aggregate, Cohort, Query};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The highest code a committed row may carry (agora-zk format v2: `2^62 - 1`).
pub const MAX_ROW_CODE: u64 = (1 << 62) - 1;

/// The code of a committed row: SHA-256 of the kind and its parts, joined by NUL bytes, first eight
/// bytes big-endian, top two bits cleared (a field element below `2^62`). Public: anyone can recompute
/// the code a query counts over.
pub fn row_code(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes")) & MAX_ROW_CODE
}

/// The digest a proof's public inputs bind: SHA-256 over a domain tag, the query id and the query's
/// canonical JSON. A proof for one query fails for any other.
pub fn query_digest(query_id: Uuid, query: &Query) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"agora.proof.query.v1\0");
    h.update(query_id.as_bytes());
    h.update(serde_json::to_vec(query).expect("a query serialises"));
    h.finalize().into()
}

/// A cell of an answer a proof covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProvenPart {
    /// The whole cohort's patient count.
    Patients,
}

/// One proof target of a query: which cell, counted over which row code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The cell.
    pub part: ProvenPart,
    /// The row code the count is over.
    pub code: u64,
}

/// Why a query's answer cannot carry a proof (yet).
pub const UNPROVABLE_KIND: &str =
    "only ungrouped patient counts of everyone, one sex, or one exact condition or medication code are proven so far";

/// The proof targets of a query, or `None` when its kind is not provable yet ([`UNPROVABLE_KIND`]).
pub fn plan(query: &Query) -> Option<Vec<Target>> {
    if query.measure.is_some() || query.group_by.is_grouped() {
        return None;
    }
    if query.aggregates.is_empty() || !query.aggregates.iter().all(|a| matches!(a, Aggregate::Count)) {
        return None;
    }
    let code = match &query.cohort {
        Cohort::Everyone => row_code(&["person"]),
        Cohort::Sex { sex } => row_code(&["sex", sex.as_str()]),
        Cohort::Condition { code } if !code.prefix => row_code(&["condition", code.system.short(), &code.code]),
        Cohort::Medication { code } if !code.prefix => row_code(&["medication", code.system.short(), &code.code]),
        _ => return None,
    };
    Some(vec![Target { part: ProvenPart::Patients, code }])
}

/// A node's published dataset commitment (agora-zk's `Commitment`, with the data version it covers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatasetCommitment {
    /// agora-zk's commitment format version.
    pub version: u32,
    /// Rows of the committed trace (a power of two).
    pub trace_length: usize,
    /// The commitment root (hex).
    pub root: String,
    /// The node's data version the snapshot was taken at.
    pub data_version: u64,
}

/// One proven cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProvenCell {
    /// Which cell of the answer.
    pub part: ProvenPart,
    /// The winterfell proof (base64).
    pub proof: String,
}

/// What a node says about the proof of one of its answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProofOutcome {
    /// The proofs, over the snapshot `commitment` names.
    Proven {
        /// The snapshot the proofs are over.
        commitment: DatasetCommitment,
        /// One proof per target of the query's plan.
        cells: Vec<ProvenCell>,
    },
    /// The node cannot prove this answer (busy, not provable over its population, ...).
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// A node's signed proof of an answer it sent earlier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProofMessage {
    /// The query's id, with the node's window and nonce.
    pub header: Header,
    /// The proofs, or why there are none.
    pub outcome: ProofOutcome,
}

impl Payload for ProofMessage {
    const KIND: &'static str = "agora.proof.v1";
}

/// Where the proof of one node's answer stands, as the hub reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProofState {
    /// The answer is of a provable kind and its proof has not arrived.
    Pending,
    /// Every cell of the plan verified against the node's commitment.
    Proven {
        /// The commitment root the proof is over.
        root: String,
        /// The data version the node committed.
        data_version: u64,
        /// Whether the node had registered this commitment (in a hello or an earlier proof) before
        /// the query was submitted; if not, the snapshot could have been made for this query.
        #[serde(default)]
        committed_before_query: bool,
    },
    /// A proof failed verification: the answer is excluded from the combination.
    Failed {
        /// Why.
        reason: String,
    },
    /// No proof: the query's kind is not provable yet, or the node could not prove it.
    Unproven {
        /// Why.
        reason: String,
    },
}

impl ProofState {
    /// A short label for tables.
    pub fn label(&self) -> String {
        match self {
            ProofState::Pending => "proof pending".into(),
            ProofState::Proven { root, committed_before_query, .. } => format!(
                "proven over {}…{}",
                &root[..root.len().min(12)],
                if *committed_before_query { "" } else { " (commitment first seen after the query)" }
            ),
            ProofState::Failed { reason } => format!("PROOF FAILED ({reason}): excluded"),
            ProofState::Unproven { reason } if reason == UNPROVABLE_KIND => "no proof (kind not provable yet)".into(),
            ProofState::Unproven { reason } => format!("no proof ({reason})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{CodeMatch, CodeSystem, Sex};
    use crate::query::GroupBy;

    fn query(cohort: Cohort, aggregates: Vec<Aggregate>) -> Query {
        Query {
            version: crate::QUERY_VERSION,
            cohort,
            measure: None,
            aggregates,
            group_by: GroupBy::default(),
            reference_date: time::macros::date!(2026 - 01 - 01),
        }
    }

    #[test]
    fn row_codes_are_sha256_prefixes_below_2_62() {
        // SHA-256("person") = 38a81e87e79631e6...: computed with `printf person | sha256sum`.
        let expected = 0x38a8_1e87_e796_31e6_u64 & MAX_ROW_CODE;
        assert_eq!(row_code(&["person"]), expected);
        assert!(row_code(&["condition", "icd10cm", "E11.9"]) <= MAX_ROW_CODE);
        assert_ne!(row_code(&["condition", "icd10cm", "E11.9"]), row_code(&["condition", "icd10cm", "E11.8"]));
        // The separator keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(row_code(&["ab", "c"]), row_code(&["a", "bc"]));
    }

    #[test]
    fn only_simple_ungrouped_counts_are_provable() {
        let e11 = CodeMatch { system: CodeSystem::Icd10Cm, code: "E11.9".into(), prefix: false };
        let p = plan(&query(Cohort::Condition { code: e11.clone() }, vec![Aggregate::Count])).unwrap();
        assert_eq!(p, vec![Target { part: ProvenPart::Patients, code: row_code(&["condition", "icd10cm", "E11.9"]) }]);
        let p = plan(&query(Cohort::Sex { sex: Sex::Female }, vec![Aggregate::Count])).unwrap();
        assert_eq!(p[0].code, row_code(&["sex", "female"]));
        assert!(plan(&query(Cohort::Everyone, vec![Aggregate::Count])).is_some());

        let prefix = CodeMatch { prefix: true, ..e11.clone() };
        assert!(plan(&query(Cohort::Condition { code: prefix }, vec![Aggregate::Count])).is_none());
        assert!(plan(&query(Cohort::Everyone, vec![Aggregate::Mean])).is_none());
        assert!(plan(&query(Cohort::Everyone, vec![])).is_none());
        assert!(plan(&query(Cohort::All { of: vec![Cohort::Everyone] }, vec![Aggregate::Count])).is_none());
        let mut grouped = query(Cohort::Everyone, vec![Aggregate::Count]);
        grouped.group_by.sex = true;
        assert!(plan(&grouped).is_none());
    }

    #[test]
    fn the_query_digest_binds_the_id_and_the_query() {
        let q = query(Cohort::Everyone, vec![Aggregate::Count]);
        let id = Uuid::from_u128(7);
        assert_eq!(query_digest(id, &q), query_digest(id, &q.clone()));
        assert_ne!(query_digest(id, &q), query_digest(Uuid::from_u128(8), &q));
        let other = query(Cohort::Sex { sex: Sex::Male }, vec![Aggregate::Count]);
        assert_ne!(query_digest(id, &q), query_digest(id, &other));
    }
}
