//! `agora-did` holds the identities of Agora's parties and the W3C Verifiable Credentials they exchange.
//!
//! - [`keyfile`]: Ed25519 key files; [`identity`]: one key seen as a libp2p `PeerId` and a `did:key`.
//! - [`resolver`]: DID resolution (`did:key` locally; `did:web` over HTTPS, cached, or pinned).
//! - [`contexts`]: the JSON-LD contexts, shipped inside the binary: verification never fetches one.
//! - [`credential`]: the credentials of the network (NodeCredential, ResearcherCredential,
//!   ConsentCredential, DiagnosisCredential), issued as Data Integrity (`eddsa-rdfc-2022`) or VC-JOSE
//!   JWTs, and their verification with every check a relying party needs (proof, issuer, validity
//!   period, revocation).
//! - [`presentation`]: Verifiable Presentations bound to a verifier's challenge and domain.
//! - [`status`]: Bitstring Status Lists, for revocation.
//! - [`files`]: credential files and the `verify` subcommand the binaries share.
//!
//! Invariant: a secret key is only ever written to a file of mode 0600 and never printed or logged;
//! verification fails closed, with a reason a person can act on, and never panics on hostile input.

pub mod contexts;
pub mod credential;
pub mod files;
pub mod identity;
pub mod keyfile;
pub mod presentation;
pub mod resolver;
pub mod seen;
pub mod status;

/// The parts of SpruceID's `ssi` Agora uses, under the paths of the `ssi` umbrella crate.
mod ssi {
    pub(crate) use ssi_claims as claims;
    pub(crate) use ssi_json_ld as json_ld;
    pub(crate) use ssi_jwk as jwk;
    pub(crate) use ssi_jwk::JWK;
    pub(crate) use ssi_status as status;
    pub(crate) use ssi_verification_methods as verification_methods;
    pub(crate) mod dids {
        pub(crate) use did_web::DIDWeb;
        pub(crate) use ssi_dids_core::*;
    }
}

pub use credential::{CredentialFormat, CredentialKind, Issuer, VerifiedCredential};
pub use identity::{did_key, did_of_peer, peer_of_did, Identity};
pub use presentation::{Expectation, VerifiedPresentation};
pub use resolver::Resolver;
pub use status::StatusList;

/// Why a credential, presentation or DID was not accepted. Every message says what was wrong; none
/// carries a claim value of the credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VcError {
    /// Not JSON, or not shaped like a credential or presentation.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Credential, presentation, ...
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A JSON-LD context Agora does not ship.
    #[error("unknown JSON-LD context `{0}`: Agora verifies offline and accepts only the contexts it ships (W3C credentials v2, Data Integrity, Agora v1)")]
    UnknownContext(String),
    /// A proof type or cryptosuite other than the supported ones.
    #[error("unsupported proof `{0}`: use a Data Integrity proof with cryptosuite eddsa-rdfc-2022 (or Ed25519Signature2020), or a VC-JOSE JWT signed with EdDSA")]
    UnsupportedProof(String),
    /// No proof at all.
    #[error("the {0} carries no proof")]
    NoProof(&'static str),
    /// The signature does not verify.
    #[error("the {what}'s signature does not verify: {detail}")]
    BadSignature {
        /// Credential or presentation.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// Past `validUntil`.
    #[error("the credential expired at {0}")]
    Expired(String),
    /// Before `validFrom`.
    #[error("the credential is not valid before {0}")]
    NotYetValid(String),
    /// Revoked through its status list.
    #[error("the credential was revoked by its issuer (status list {list}, index {index})")]
    Revoked {
        /// The status list credential.
        list: String,
        /// The entry.
        index: u64,
    },
    /// The status could not be checked.
    #[error("cannot check the credential's revocation status at {list}: {detail}")]
    Status {
        /// The status list credential.
        list: String,
        /// Why.
        detail: String,
    },
    /// Issued by someone other than expected.
    #[error("the credential is issued by {found}, not by {expected}")]
    WrongIssuer {
        /// Expected.
        expected: String,
        /// Found.
        found: String,
    },
    /// Signed by a key of another DID than its issuer (or holder) claims.
    #[error("the {what} is signed with a key of {signer}, but claims to come from {claimed}")]
    SignerMismatch {
        /// Credential or presentation.
        what: &'static str,
        /// The DID of the signing key.
        signer: String,
        /// The issuer or holder named.
        claimed: String,
    },
    /// Not the credential type expected.
    #[error("expected a {expected}, got a credential of types {found}")]
    WrongType {
        /// Expected.
        expected: &'static str,
        /// Found.
        found: String,
    },
    /// The presentation answers another challenge: a replay, or a presentation made for another request.
    #[error("the presentation's challenge does not match this request (a replay, or made for another request)")]
    WrongChallenge,
    /// The presentation is for another verifier.
    #[error("the presentation is addressed to {found}, not to {expected}")]
    WrongDomain {
        /// Expected.
        expected: String,
        /// Found.
        found: String,
    },
    /// A presentation holding no credential about its holder from an issuer the verifier trusts.
    #[error("the presentation by {holder} holds no credential issued by {trusted}: credentials not by {trusted} are not read")]
    NoTrustedCredential {
        /// The presentation's holder.
        holder: String,
        /// The issuers trusted.
        trusted: String,
    },
    /// The presentation's signer is not the subject of a credential in it.
    #[error("the presentation is signed by {holder}, but a credential in it is about {subject}: only its subject may present it")]
    HolderMismatch {
        /// The DID that signed the presentation.
        holder: String,
        /// The credential's subject.
        subject: String,
    },
    /// The presentation's proof is too old.
    #[error("the presentation was made at {0}, too long ago: make a new one")]
    StalePresentation(String),
    /// A DID that cannot be used.
    #[error("{0}")]
    BadDid(String),
    /// A DID that does not resolve.
    #[error("cannot resolve {did}: {detail}")]
    Unresolvable {
        /// The DID.
        did: String,
        /// Why.
        detail: String,
    },
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Signing(String),
}
