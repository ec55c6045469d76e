//! The messages of the `/agora/query/1` request-response protocol. Nodes dial out to the hub; over that
//! connection the hub sends [`WireRequest::Query`] and a node sends [`WireRequest::Hello`] (on connect)
//! and [`WireRequest::Deliver`] (an answer released later by a data steward). Every payload is signed.

use crate::answer::NodeAnswer;
use crate::envelope::{Header, Payload, Signed};
use crate::query::Query;
use serde::{Deserialize, Serialize};

/// The hub asks a node to run a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueryRequest {
    /// Id, validity window and nonce.
    pub header: Header,
    /// Who asked: the researcher's DID, as the hub verified it.
    pub researcher: String,
    /// The stated purpose or study, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The query.
    pub query: Query,
    /// The researcher's Verifiable Presentation of their ResearcherCredential, bound to this query
    /// ([`crate::query_challenge`]) and to the hub's DID. Nodes verify it themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub presentation: Option<serde_json::Value>,
}

impl Payload for QueryRequest {
    const KIND: &'static str = "agora.query.v1";
}

/// Why a node refused a query. The code is stable; the message is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejection {
    /// Stable machine-readable reason.
    pub code: RejectionCode,
    /// Human-readable explanation.
    pub message: String,
}

/// Stable rejection reasons, counted per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    /// Unsigned, badly signed or malformed envelope.
    BadSignature,
    /// Signed by a key that is not this node's hub.
    UnknownHub,
    /// Expired, too old, or from the future.
    Stale,
    /// Nonce already used.
    Replayed,
    /// The query is malformed or of an unsupported version.
    InvalidQuery,
    /// The node's policy does not allow this query kind, researcher or purpose.
    NotAllowed,
    /// The researcher exceeded the node's rate limit.
    RateLimited,
    /// The node's data steward rejected it.
    DeniedBySteward,
    /// The researcher's credential is missing, invalid, revoked, or does not cover the query's purpose.
    Unauthorized,
    /// The node failed to run it.
    Internal,
}

impl RejectionCode {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionCode::BadSignature => "bad_signature",
            RejectionCode::UnknownHub => "unknown_hub",
            RejectionCode::Stale => "stale",
            RejectionCode::Replayed => "replayed",
            RejectionCode::InvalidQuery => "invalid_query",
            RejectionCode::NotAllowed => "not_allowed",
            RejectionCode::RateLimited => "rate_limited",
            RejectionCode::DeniedBySteward => "denied_by_steward",
            RejectionCode::Unauthorized => "unauthorized",
            RejectionCode::Internal => "internal",
        }
    }
}

impl Rejection {
    /// A rejection with a reason.
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Self {
        Rejection { code, message: message.into() }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// What a node says about a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The aggregate answer.
    Answered {
        /// The answer.
        answer: NodeAnswer,
    },
    /// Held for the node's data steward; the answer follows in a [`WireRequest::Deliver`] if approved.
    Held,
    /// Refused.
    Rejected {
        /// Why.
        rejection: Rejection,
    },
}

/// A node's signed statement about a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnswerMessage {
    /// The query's id, with the node's own window and nonce.
    pub header: Header,
    /// What the node says.
    pub outcome: Outcome,
}

impl Payload for AnswerMessage {
    const KIND: &'static str = "agora.answer.v1";
}

/// Aggregate facts about a node's data, shown in the hub's registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DataSummary {
    /// Version of the node's data; it grows with every ingest that changes it.
    pub data_version: u64,
    /// Patients in the store, rounded down to a multiple of 10.
    pub patients: u64,
    /// Measurements in the store, rounded down to a multiple of 10.
    pub measurements: u64,
    /// Conditions in the store, rounded down to a multiple of 10.
    pub conditions: u64,
}

/// A node introduces itself after connecting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeHello {
    /// The node's display name (an institution's label, never patient data).
    pub name: String,
    /// Its data summary.
    pub summary: DataSummary,
    /// Window and nonce (the query id is nil).
    pub header: Header,
    /// The NodeCredential the hub issued to this node, if it holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
    /// The node's current dataset commitment, once its snapshot is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<crate::proof::DatasetCommitment>,
}

impl Payload for NodeHello {
    const KIND: &'static str = "agora.hello.v1";
}

/// A request on `/agora/query/1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireRequest {
    /// Hub → node: run this query.
    Query(Signed<QueryRequest>),
    /// Node → hub: a deferred answer.
    Deliver(Signed<AnswerMessage>),
    /// Node → hub: who I am and what I hold.
    Hello(Signed<NodeHello>),
    /// Node → hub: the proof of an answer sent earlier (or why there is none).
    Proof(Signed<crate::proof::ProofMessage>),
}

impl WireRequest {
    /// The request's kind, as logs and the node's outbox name it: `query`, `delivery`, `hello` or
    /// `proof`.
    pub fn kind(&self) -> &'static str {
        match self {
            WireRequest::Query(_) => "query",
            WireRequest::Deliver(_) => "delivery",
            WireRequest::Hello(_) => "hello",
            WireRequest::Proof(_) => "proof",
        }
    }
}

/// How the hub's error messages for a request it could not take yet end: the sender may send the same
/// request again later. Every other error is final.
pub const RETRY_LATER: &str = "retry later";
/// The hub's error message for a request it had no room to take.
pub const HUB_BUSY: &str = "hub is busy, retry later";

/// A response on `/agora/query/1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireResponse {
    /// Node → hub: the node's signed statement about the query.
    Answer(Signed<AnswerMessage>),
    /// Accepted.
    Ack,
    /// Refused before anything could be signed (e.g. the request itself did not verify).
    Error {
        /// Why.
        message: String,
    },
}
