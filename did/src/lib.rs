//! `agora-did` holds the identities of Agora's parties. Today: the Ed25519 key files of nodes and the hub
//! ([`keyfile`]), from which both the libp2p `PeerId` and (with the credentials issue) the `did:key` are
//! derived, so a peer's network identity and its DID are one key. Still to come here: did:key / did:web
//! documents, and the W3C Verifiable Credentials the hub issues to nodes and researchers and nodes issue
//! to patients (consent, diagnosis), with their verification.
//!
//! Invariant: a secret key is only ever written to a file of mode 0600 and never printed or logged.

pub mod keyfile;
