//! An answer as it is archived and handed to auditors: the commitment it is over, what it claims, and
//! its proof, in one JSON document that `agora-zk verify` checks offline.

use crate::air::{ChunkLink, Criterion};
use crate::format::Commitment;
use crate::verify::{verify_chunked, verify_claim, ChunkPart, Claim};
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
        ArchivedAnswer::with_proof(commitment, claim, base64::engine::general_purpose::STANDARD.encode(proof))
    }

    /// Packs a claim and its proof, already in base64 (as a node sends it).
    pub fn with_proof(commitment: Commitment, claim: &Claim, proof: String) -> ArchivedAnswer {
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
            proof,
        }
    }

    /// The claim.
    pub fn claim(&self) -> Result<Claim, ZkError> {
        Ok(Claim {
            query: digest(&self.query)?,
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
        verify_claim(&self.commitment, &claim, &proof_bytes(&self.proof)?)?;
        Ok(claim)
    }
}

/// A query digest from its hex.
fn digest(query: &str) -> Result<[u8; 32], ZkError> {
    hex::decode(query)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| ZkError::Malformed("query digest is not 32 bytes of hex".into()))
}

fn proof_bytes(proof: &str) -> Result<Vec<u8>, ZkError> {
    base64::engine::general_purpose::STANDARD
        .decode(proof)
        .map_err(|_| ZkError::Malformed("proof is not base64".into()))
}

/// The archive format of an answer over a dataset committed in chunks ([`ArchivedChunkedAnswer`]).
pub const CHUNKED_FORMAT: &str = "agora-zk/chunked/1";

/// What an answer over chunks claims: the query's digest (hex), the cohort, the measure, and its count
/// and sum (and sum of squares, when claimed), or the threshold its hidden count is below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedClaim {
    /// The query's digest (hex).
    pub query: String,
    /// The cohort's criteria.
    pub criteria: Vec<Criterion>,
    /// The measure's row code, when its values are counted and summed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<u64>,
    /// The count claimed (0 when suppressed).
    pub count: u64,
    /// The sum claimed (0 without a measure, with a range on it, or when suppressed).
    pub sum: u64,
    /// The sum of the squares of the measure's values, when claimed (a standard deviation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum_sq: Option<u128>,
    /// The range of the measure's values counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_range: Option<crate::air::Range>,
    /// Set when the count is suppressed: the threshold it is proven below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_below: Option<u32>,
}

impl ArchivedClaim {
    /// The archived form of an answer's claim.
    pub fn of(claim: &Claim) -> ArchivedClaim {
        ArchivedClaim {
            query: hex::encode(claim.query),
            criteria: claim.criteria.clone(),
            measure: claim.measure,
            count: claim.count,
            sum: claim.sum,
            sum_sq: claim.sum_sq,
            measure_range: claim.measure_range,
            suppressed_below: claim.suppressed_below,
        }
    }

    /// The claim it archives (its query digest read from hex).
    pub fn to_claim(&self) -> Result<Claim, ZkError> {
        Ok(Claim {
            query: digest(&self.query)?,
            criteria: self.criteria.clone(),
            measure: self.measure,
            count: self.count,
            sum: self.sum,
            sum_sq: self.sum_sq,
            measure_range: self.measure_range,
            suppressed_below: self.suppressed_below,
        })
    }
}

/// One chunk's part, as archived: its masked outputs, its links and its proof (the chunk's commitment
/// is the dataset's at the same place).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedPart {
    /// The masked count (a field element).
    pub count: u64,
    /// The masked sum (a field element; 0 when the statement has none).
    pub sum: u64,
    /// The digests of the boundaries before and after the chunk (and, on the last part of a suppressed
    /// answer, the parts' masked counts added; with a sum of squares, the part's masked low word and
    /// rest of its own, and on the last part the parts' added).
    pub link: ChunkLink,
    /// The STARK proof (base64).
    pub proof: String,
}

impl ArchivedPart {
    /// Part `index` of an answer with `claim` over the chunks `dataset`: over that chunk's commitment,
    /// of the claim's statement with this part's masked outputs, suppressed as the claim is only when it
    /// is the last part; with its proof decoded, or (`proof` false) none, for
    /// [`crate::verify::check_linked`].
    pub fn part(&self, claim: &Claim, dataset: &[Commitment], index: usize, proof: bool) -> Result<ChunkPart, ZkError> {
        let commitment = dataset
            .get(index)
            .ok_or_else(|| ZkError::Rejected(format!("part {index} of a dataset of {} chunks", dataset.len())))?;
        let last = index + 1 == dataset.len();
        Ok(ChunkPart {
            commitment: commitment.clone(),
            claim: Claim {
                count: self.count,
                sum: self.sum,
                suppressed_below: claim.suppressed_below.filter(|_| last),
                ..claim.clone()
            },
            link: self.link,
            proof: if proof { proof_bytes(&self.proof)? } else { Vec::new() },
        })
    }
}

/// An answer over a dataset committed in chunks, as archived: the node's list of chunk commitments,
/// what the answer claims, and one part per chunk. `agora-zk verify` checks it as
/// [`crate::verify::verify_chunked`] does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedChunkedAnswer {
    /// Always [`CHUNKED_FORMAT`].
    pub format: String,
    /// The node's published chunk commitments, in order.
    pub dataset: Vec<Commitment>,
    /// What the answer claims.
    pub claim: ArchivedClaim,
    /// One part per chunk, in the dataset's order.
    pub parts: Vec<ArchivedPart>,
}

impl ArchivedChunkedAnswer {
    /// Packs an answer over the chunks `dataset`: its claim and parts (as `prove_chunked` gives them).
    pub fn new(dataset: Vec<Commitment>, claim: &Claim, parts: &[ChunkPart]) -> ArchivedChunkedAnswer {
        ArchivedChunkedAnswer {
            format: CHUNKED_FORMAT.into(),
            dataset,
            claim: ArchivedClaim::of(claim),
            parts: parts
                .iter()
                .map(|p| ArchivedPart {
                    count: p.claim.count,
                    sum: p.claim.sum,
                    link: p.link,
                    proof: base64::engine::general_purpose::STANDARD.encode(&p.proof),
                })
                .collect(),
        }
    }

    /// Verifies the answer: its format, one part per chunk of the dataset, and
    /// [`crate::verify::verify_chunked`].
    pub fn verify(&self) -> Result<Claim, ZkError> {
        if self.format != CHUNKED_FORMAT {
            return Err(ZkError::Malformed(format!("archive format `{}` (expected {CHUNKED_FORMAT})", self.format)));
        }
        if self.dataset.len() > crate::verify::MAX_CHUNKS {
            return Err(ZkError::Rejected(format!(
                "{} chunks, at most {}",
                self.dataset.len(),
                crate::verify::MAX_CHUNKS
            )));
        }
        if self.parts.len() != self.dataset.len() {
            return Err(ZkError::Rejected(format!(
                "{} parts for a dataset of {} chunks",
                self.parts.len(),
                self.dataset.len()
            )));
        }
        let claim = self.claim.to_claim()?;
        let parts = (self.parts.iter().enumerate())
            .map(|(i, p)| p.part(&claim, &self.dataset, i, true))
            .collect::<Result<Vec<_>, ZkError>>()?;
        verify_chunked(&claim, &self.dataset, &parts)?;
        Ok(claim)
    }
}

/// An archived answer of either kind, told apart by its format.
///
/// It is read from JSON text ([`Archived::from_json`], or as a serde value from a JSON deserializer),
/// never through `serde_json::Value`: a sum of squares may exceed `2^64`, which a `Value` cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Archived {
    /// Over one snapshot.
    One(ArchivedAnswer),
    /// Over a dataset committed in chunks.
    Chunked(ArchivedChunkedAnswer),
}

impl Archived {
    /// Reads an archived answer from JSON text: one whose format is `agora-zk/chunked/…` as
    /// [`ArchivedChunkedAnswer`] (which refuses another version than [`CHUNKED_FORMAT`] by name), any
    /// other as [`ArchivedAnswer`].
    pub fn from_json(text: &str) -> Result<Archived, String> {
        #[derive(Deserialize)]
        struct Format {
            format: Option<String>,
        }
        let read = |e: serde_json::Error| format!("not an archived answer: {e}");
        let format = serde_json::from_str::<Format>(text).map_err(read)?.format;
        if format.is_some_and(|f| f.starts_with("agora-zk/chunked/")) {
            serde_json::from_str(text).map(Archived::Chunked).map_err(read)
        } else {
            serde_json::from_str(text).map(Archived::One).map_err(read)
        }
    }

    /// Reads a file's archived answers: one, or an array of them (as the hub's
    /// `GET /v1/queries/{id}/proofs` gives), each read on its own.
    pub fn all_from_json(text: &str) -> Vec<Result<Archived, String>> {
        match serde_json::from_str::<Vec<Box<serde_json::value::RawValue>>>(text) {
            Ok(items) => items.iter().map(|raw| Archived::from_json(raw.get())).collect(),
            Err(_) => vec![Archived::from_json(text)],
        }
    }

    /// Verifies it, returning its claim.
    pub fn verify(&self) -> Result<Claim, ZkError> {
        match self {
            Archived::One(a) => a.verify(),
            Archived::Chunked(a) => a.verify(),
        }
    }

    /// The query's digest (hex).
    pub fn query(&self) -> &str {
        match self {
            Archived::One(a) => &a.query,
            Archived::Chunked(a) => &a.claim.query,
        }
    }

    /// The dataset it is over, in words.
    pub fn dataset(&self) -> String {
        match self {
            Archived::One(a) => format!(
                "dataset {} (format v{}, {} rows)",
                a.commitment.root, a.commitment.version, a.commitment.trace_length
            ),
            Archived::Chunked(a) => format!(
                "the dataset in {} chunks {}",
                a.dataset.len(),
                a.dataset.iter().map(|c| c.root.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Archived {
    /// As [`Archived::from_json`] (with a JSON deserializer only: it reads the value's own text).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Archived, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        Archived::from_json(raw.get()).map_err(serde::de::Error::custom)
    }
}
