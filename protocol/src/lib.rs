//! `agora-protocol` owns every type that crosses a process boundary in Agora: the federated
//! [`query::Query`], the aggregate [`answer::NodeAnswer`] a node returns, the [`combined::CombinedResult`]
//! the hub hands researchers, the [`envelope::Signed`] envelope every message travels in, and the
//! [`wire`] messages of the `/agora/query/1` libp2p protocol.
//!
//! It does no I/O. Its invariant: no type here can hold a row-level value, a patient identifier or free
//! text from a patient record; an answer cell that fell below a node's disclosure threshold is
//! [`answer::Cell::Suppressed`] and carries no value at all.

pub mod answer;
pub mod codes;
pub mod combined;
pub mod envelope;
pub mod number;
pub mod proof;
pub mod query;
pub mod transport;
pub mod wire;

pub use answer::{AgeBand, AnswerRow, Cell, Consented, GroupKey, Moments, NodeAnswer};
pub use codes::{Code, CodeMatch, CodeSystem, Sex};
pub use envelope::{EnvelopeError, Header, Signed, Verified};
pub use query::{query_challenge, Aggregate, Cohort, GroupBy, Measure, Query, QueryError, Selection};

/// The current version of the federated query format; nodes refuse other versions with a clear reason.
pub const QUERY_VERSION: u32 = 1;

/// The libp2p protocol name of the federation request-response protocol.
pub const QUERY_PROTOCOL: &str = "/agora/query/1";

/// Fixed-point scale of clinical values: the store and the answers hold values in thousandths of the
/// variable's canonical unit, so sums are exact integers.
pub const VALUE_SCALE: i64 = 1000;
