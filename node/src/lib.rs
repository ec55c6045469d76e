//! `agora-node` is the self-contained node a hospital runs on-prem. It ingests HL7 FHIR R4 into an
//! OMOP-shaped SQLite store ([`store`], [`ingest`]), answers federated aggregate queries from the hub
//! ([`query`]) under the hospital's own policy ([`policy`]) and disclosure control ([`disclosure`]), and
//! talks to the hub over libp2p by dialling out ([`net`]).
//!
//! Invariant: nothing row-level leaves this crate's process. Only [`agora_protocol::NodeAnswer`]s, whose
//! counts below the node's threshold are suppressed, are sent; no log line carries a name, identifier,
//! birth date or clinical value.

pub mod disclosure;
pub mod ingest;
pub mod policy;
pub mod query;
pub mod store;
pub mod synth;
pub mod units;
