//! An answer as it is archived and handed to auditors: the commitment it is over, what it claims, and
//! its proof, in one JSON document that `agora-zk verify` checks offline.

use crate::air::Criterion;
use crate::format::Commitment;
use crate::verify::{verify_claim, Claim};
use crate::ZkError;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The archive format's name and version: also the name a node gives what its proofs state.
pub const ARCHIVE_FORMAT: &str = "agora-zk/cohort/5";

/// The archive format before it, whose archives verify as its own do (an archive names its criteria and
/// their bounds): version 4's proofs carry their auxiliary openings as extension elements
/// (`crate::openings`; version 5's as base-field ones), and its nodes valued consent rows in seconds
/// (version 5's in days: `agora_protocol::proof::consent_until`), which changes the plans a hub makes of
/// a node's answer but not what an archived claim states.
pub const ARCHIVE_FORMAT_4: &str = "agora-zk/cohort/4";

/// The archive format before that: its statements over a measure read the verdict at the measure's row
/// (version 4 reads the whole block's), so only its counts without a measure still verify.
pub const ARCHIVE_FORMAT_3: &str = "agora-zk/cohort/3";

/// One proven answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedAnswer {
    /// Always [`ARCHIVE_FORMAT`].
    pub format: String,
    /// The node's published commitment.
    pub commitment: Commitment,
    /// The query's digest (hex).
    pub query: String,
    /// The cohort's criteria (absent in an older format's archive, which `verify` then refuses by its
    /// format name).
    #[serde(default)]
    pub criteria: Vec<Criterion>,
    /// The measure's row code, when its values are counted and summed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<u64>,
    /// The count claimed: patients, or the measure's values.
    pub count: u64,
    /// The sum claimed (0 without a measure).
    pub sum: u64,
    /// The sum of squares claimed, when proven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum_sq: Option<u128>,
    /// The range of the measure's values counted (a histogram bin of every value; no sum claimed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_range: Option<crate::air::Range>,
    /// Set when the count is suppressed: the threshold it is proven below (count and sum are then 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_below: Option<u32>,
    /// The STARK proof (base64).
    pub proof: String,
}

impl ArchivedAnswer {
    /// Packs a claim and its proof.
    pub fn new(commitment: Commitment, claim: &Claim, proof: &[u8]) -> ArchivedAnswer {
        ArchivedAnswer {
            format: ARCHIVE_FORMAT.into(),
            commitment,
            query: hex::encode(claim.query),
            criteria: claim.criteria.clone(),
            measure: claim.measure,
            count: claim.count,
            sum: claim.sum,
            sum_sq: claim.sum_sq,
            measure_range: claim.measure_range,
            suppressed_below: claim.suppressed_below,
            proof: base64::engine::general_purpose::STANDARD.encode(proof),
        }
    }

    /// The claim.
    pub fn claim(&self) -> Result<Claim, ZkError> {
        let query = hex::decode(&self.query)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| ZkError::Malformed("query digest is not 32 bytes of hex".into()))?;
        Ok(Claim {
            query,
            criteria: self.criteria.clone(),
            measure: self.measure,
            count: self.count,
            sum: self.sum,
            sum_sq: self.sum_sq,
            measure_range: self.measure_range,
            suppressed_below: self.suppressed_below,
        })
    }

    /// Verifies the answer.
    pub fn verify(&self) -> Result<Claim, ZkError> {
        if self.format == ARCHIVE_FORMAT_3 && self.measure.is_some() {
            return Err(ZkError::Malformed(format!(
                "archive format `{ARCHIVE_FORMAT_3}` with a measure: its proof is of the earlier statement \
                 (the verdict read at the measure's row), which this build no longer verifies"
            )));
        }
        if ![ARCHIVE_FORMAT, ARCHIVE_FORMAT_4, ARCHIVE_FORMAT_3].contains(&self.format.as_str()) {
            return Err(ZkError::Malformed(format!(
                "archive format `{}` (expected {ARCHIVE_FORMAT}, or {ARCHIVE_FORMAT_4}, or {ARCHIVE_FORMAT_3} without a measure)",
                self.format
            )));
        }
        let claim = self.claim()?;
        let proof = base64::engine::general_purpose::STANDARD
            .decode(&self.proof)
            .map_err(|_| ZkError::Malformed("proof is not base64".into()))?;
        verify_claim(&self.commitment, &claim, &proof)?;
        Ok(claim)
    }
}
