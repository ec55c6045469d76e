//! The hub as the network's credential authority. It issues NodeCredentials (which admit a node) and
//! ResearcherCredentials (which let a researcher query), publishes their revocation lists, opens
//! researcher sessions from presentations, and checks the presentation bound to every query before the
//! query goes to the nodes. It signs as its `did:key`, or as the operator's `did:web` when one is
//! configured (its document is served at `/.well-known/did.json`).
//!
//! Invariant: a query reaches the nodes only with a presentation the hub verified itself: signed by the
//! researcher's key, bound to that query and purpose and to the hub's DID, holding an unexpired,
//! unrevoked ResearcherCredential this hub issued to that researcher, approving that purpose.

use crate::store::{CredentialRecord, HubStore, Session, StoreError};
use agora_did::credential::{CredentialFormat, CredentialKind, Draft, Issuer, VerifiedCredential, Verifier};
use agora_did::presentation::Expectation;
use agora_did::status::{StatusEntry, StatusList};
use agora_did::{Identity, VcError};
use agora_protocol::Query;
use libp2p::PeerId;
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a login challenge may be answered.
pub const CHALLENGE_TTL_SECS: i64 = 300;
/// The longest session.
pub const SESSION_SECS: i64 = 3600;
/// The oldest presentation accepted with a query.
pub const QUERY_PRESENTATION_AGE: Duration = Duration::from_secs(300);

/// Errors of the authority.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// A credential or presentation was refused.
    #[error(transparent)]
    Credential(#[from] VcError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The login challenge is unknown, used or expired.
    #[error("the challenge is unknown, already used or expired: ask for a new one")]
    Challenge,
    /// The purpose is not approved.
    #[error(
        "your ResearcherCredential does not approve the purpose `{0}`: ask the network operator, or use one of {1}"
    )]
    Purpose(String, String),
    /// No purpose.
    #[error("a query needs a purpose, one your ResearcherCredential approves")]
    NoPurpose,
    /// Presented by someone other than the session's researcher.
    #[error("the query's presentation is by {found}, not by the signed-in researcher {expected}")]
    NotTheSessionsResearcher {
        /// Session.
        expected: String,
        /// Presentation.
        found: String,
    },
    /// A node without a credential, where one is required.
    #[error("node {0} presented no NodeCredential: the operator issues one with `agora-hub issue node`")]
    NoNodeCredential(PeerId),
    /// A bad argument to issuance.
    #[error("{0}")]
    Invalid(String),
}

/// The revocation lists the hub publishes, one per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// NodeCredentials.
    Nodes,
    /// ResearcherCredentials.
    Researchers,
}

impl ListKind {
    /// The `kind` column and URL segment.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Nodes => "nodes",
            ListKind::Researchers => "researchers",
        }
    }

    /// The kind of a URL segment.
    pub fn parse(s: &str) -> Option<ListKind> {
        match s {
            "nodes" => Some(ListKind::Nodes),
            "researchers" => Some(ListKind::Researchers),
            _ => None,
        }
    }
}

/// What a NodeCredential says about its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeClaims {
    /// Display name.
    pub name: String,
    /// The institution running it.
    pub institution: String,
    /// ISO 3166 country code.
    pub country: String,
    /// The query kinds it may be sent.
    pub query_kinds: Vec<String>,
}

/// What a node's credential allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAdmission {
    /// The query kinds the node may be sent (`None`: any, for nodes admitted without a credential).
    pub query_kinds: Option<Vec<String>>,
    /// The institution, from the credential.
    pub institution: Option<String>,
}

/// The hub's authority.
#[derive(Clone, Debug)]
pub struct Authority {
    issuer: Issuer,
    verifier: Verifier,
    public_url: String,
    store: HubStore,
    open_admission: bool,
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

impl Authority {
    /// The authority of the hub's key, signing as `did_web` if given, publishing under `public_url`.
    pub fn new(
        identity: Identity,
        did_web: Option<&str>,
        public_url: &str,
        store: HubStore,
        open_admission: bool,
    ) -> Result<Authority, AuthorityError> {
        let issuer = match did_web {
            Some(did) => Issuer::web(identity, did)?,
            None => Issuer::key(identity),
        };
        // The hub verifies only credentials it issued (researchers', nodes'): no other issuer's DID is
        // resolved, nor its status list fetched.
        let verifier = Verifier::default().trusting(vec![issuer.did().to_string()]);
        if let Some(did) = did_web {
            verifier
                .resolver()
                .pin(did, &agora_did::resolver::did_web_document(did, &issuer.identity().public_key()))?;
        }
        Ok(Authority {
            issuer,
            verifier,
            public_url: public_url.trim_end_matches('/').to_string(),
            store,
            open_admission,
        })
    }

    /// The DID the hub issues as, and the domain researchers' presentations name.
    pub fn did(&self) -> &str {
        self.issuer.did()
    }

    /// The DID document to serve at `/.well-known/did.json`, when the hub is a `did:web`.
    pub fn did_document(&self) -> Option<Value> {
        self.did()
            .starts_with("did:web:")
            .then(|| agora_did::resolver::did_web_document(self.did(), &self.issuer.identity().public_key()))
    }

    /// The URL of a status list.
    pub fn list_url(&self, kind: ListKind) -> String {
        format!("{}/v1/status/{}", self.public_url, kind.as_str())
    }

    async fn issue(
        &self,
        draft: Draft,
        list: ListKind,
        name: &str,
        valid_days: i64,
        format: CredentialFormat,
    ) -> Result<(String, Value), AuthorityError> {
        if valid_days <= 0 {
            return Err(AuthorityError::Invalid("--valid-days must be at least 1".into()));
        }
        let now = OffsetDateTime::now_utc();
        let until = now + time::Duration::days(valid_days);
        let subject = draft.to_json(self.did())["credentialSubject"]["id"].as_str().unwrap_or_default().to_string();
        let record = CredentialRecord {
            id: draft.id().to_string(),
            kind: list.as_str().to_string(),
            subject,
            name: name.to_string(),
            issued_at: unix(now),
            valid_until: Some(unix(until)),
            revoked_at: None,
        };
        let index = self.store.insert_credential(&record).await?;
        let draft = draft.valid_until(until).status(StatusEntry { list: self.list_url(list), index });
        Ok((record.id, self.issuer.issue(&draft, format).await?))
    }

    /// Issues a NodeCredential to the node with `peer`'s key.
    pub async fn issue_node(
        &self,
        peer: &PeerId,
        node: &NodeClaims,
        valid_days: i64,
        format: CredentialFormat,
    ) -> Result<(String, Value), AuthorityError> {
        let did = agora_did::did_of_peer(peer)?;
        let draft = Draft::new(CredentialKind::NodeCredential, &did)
            .claim("name", node.name.as_str())
            .claim("institution", node.institution.as_str())
            .claim("country", node.country.as_str())
            .claim("queryKinds", node.query_kinds.clone());
        self.issue(draft, ListKind::Nodes, &node.name, valid_days, format).await
    }

    /// Issues a ResearcherCredential to the holder of `holder_did`.
    pub async fn issue_researcher(
        &self,
        holder_did: &str,
        name: &str,
        institution: &str,
        purposes: &[String],
        valid_days: i64,
        format: CredentialFormat,
    ) -> Result<(String, Value), AuthorityError> {
        if !holder_did.starts_with("did:") {
            return Err(AuthorityError::Invalid(format!("--holder must be the researcher's DID, not `{holder_did}`")));
        }
        if purposes.is_empty() {
            return Err(AuthorityError::Invalid("name at least one approved purpose with --purposes".into()));
        }
        let draft = Draft::new(CredentialKind::ResearcherCredential, holder_did)
            .claim("name", name)
            .claim("institution", institution)
            .claim("purposes", purposes.to_vec());
        self.issue(draft, ListKind::Researchers, name, valid_days, format).await
    }

    /// Revokes a credential: the next status list published shows it.
    pub async fn revoke(&self, id: &str) -> Result<(), AuthorityError> {
        self.store.revoke_credential(id, unix(OffsetDateTime::now_utc())).await?;
        Ok(())
    }

    async fn list(&self, kind: ListKind) -> Result<StatusList, AuthorityError> {
        let mut list = StatusList::new();
        for i in self.store.revoked_indexes(kind.as_str()).await? {
            list.revoke(i);
        }
        Ok(list)
    }

    /// The signed status list credential of a kind, as published.
    pub async fn status_list(&self, kind: ListKind) -> Result<Value, AuthorityError> {
        let list = self.list(kind).await?;
        Ok(list.to_credential(&self.list_url(kind), &self.issuer).await?)
    }

    /// The hub checks its own lists from its store, never over HTTP.
    async fn refresh_local_list(&self, kind: ListKind) -> Result<(), AuthorityError> {
        let list = self.list(kind).await?;
        self.verifier.status_lists().put_local(&self.list_url(kind), self.did(), list);
        Ok(())
    }

    async fn researcher_credential(
        &self,
        vp: &Value,
        expect: &Expectation,
    ) -> Result<VerifiedCredential, AuthorityError> {
        self.refresh_local_list(ListKind::Researchers).await?;
        let verified = self.verifier.presentation(vp, expect).await?;
        let credential =
            verified.credentials.into_iter().find(|c| c.kind == Some(CredentialKind::ResearcherCredential)).ok_or(
                VcError::WrongType { expected: "ResearcherCredential", found: "none in the presentation".into() },
            )?;
        credential.expect_issuer(self.did())?;
        Ok(credential)
    }

    /// A new login challenge.
    pub async fn challenge(&self) -> Result<(String, i64), AuthorityError> {
        let challenge = agora_did::presentation::new_challenge();
        let expires_at = unix(OffsetDateTime::now_utc()) + CHALLENGE_TTL_SECS;
        self.store.add_challenge(&challenge, expires_at).await?;
        Ok((challenge, expires_at))
    }

    /// Opens a session for the researcher whose presentation answers one of the hub's challenges.
    pub async fn open_session(&self, vp: &Value) -> Result<(String, Session), AuthorityError> {
        let challenge = match vp {
            Value::String(jws) => agora_did::credential::jose_claim(jws, "nonce"),
            other => other.get("proof").and_then(|p| p.get("challenge")).and_then(Value::as_str).map(str::to_string),
        }
        .ok_or(VcError::WrongChallenge)?;
        let expect = Expectation {
            challenge: challenge.clone(),
            domain: self.did().to_string(),
            max_age: Duration::from_secs(CHALLENGE_TTL_SECS as u64),
        };
        let credential = self.researcher_credential(vp, &expect).await?;
        let now = unix(OffsetDateTime::now_utc());
        if !self.store.take_challenge(&challenge, now).await? {
            return Err(AuthorityError::Challenge);
        }
        let expires_at = credential.valid_until.map_or(now + SESSION_SECS, |u| unix(u).min(now + SESSION_SECS));
        let session = Session {
            researcher: credential.subject.clone().unwrap_or_default(),
            name: credential.claim_str("name").unwrap_or_default().chars().take(200).collect(),
            purposes: credential.claim_list("purposes"),
            credential_id: credential.id.clone().unwrap_or_default(),
            expires_at,
        };
        let token = self.store.create_session(&session).await?;
        Ok((token, session))
    }

    /// Checks the presentation a query carries: by the session's researcher, bound to this query and
    /// purpose, with a credential approving the purpose.
    pub async fn authorise_query(
        &self,
        session: &Session,
        vp: &Value,
        query: &Query,
        purpose: Option<&str>,
    ) -> Result<(), AuthorityError> {
        let purpose = purpose.ok_or(AuthorityError::NoPurpose)?;
        let expect = Expectation {
            challenge: agora_protocol::query_challenge(query, Some(purpose)),
            domain: self.did().to_string(),
            max_age: QUERY_PRESENTATION_AGE,
        };
        let credential = self.researcher_credential(vp, &expect).await?;
        let holder = credential.subject.clone().unwrap_or_default();
        if holder != session.researcher {
            return Err(AuthorityError::NotTheSessionsResearcher {
                expected: session.researcher.clone(),
                found: holder,
            });
        }
        let purposes = credential.claim_list("purposes");
        if !purposes.iter().any(|p| p == purpose) {
            return Err(AuthorityError::Purpose(purpose.to_string(), purposes.join(", ")));
        }
        Ok(())
    }

    /// Admits a node whose hello came from `peer`: its NodeCredential must be this hub's, about the
    /// node's own key, valid and unrevoked. Without a credential, only under open admission.
    pub async fn admit_node(&self, peer: &PeerId, credential: Option<&Value>) -> Result<NodeAdmission, AuthorityError> {
        let Some(credential) = credential else {
            return if self.open_admission {
                Ok(NodeAdmission { query_kinds: None, institution: None })
            } else {
                Err(AuthorityError::NoNodeCredential(*peer))
            };
        };
        self.refresh_local_list(ListKind::Nodes).await?;
        let verified = self.verifier.credential(credential).await?;
        verified.expect_kind(CredentialKind::NodeCredential)?;
        verified.expect_issuer(self.did())?;
        let node_did = agora_did::did_of_peer(peer)?;
        if verified.subject.as_deref() != Some(node_did.as_str()) {
            return Err(VcError::HolderMismatch {
                holder: node_did,
                subject: verified.subject.clone().unwrap_or_default(),
            }
            .into());
        }
        Ok(NodeAdmission {
            query_kinds: Some(verified.claim_list("queryKinds")),
            institution: verified.claim_str("institution").map(str::to_string),
        })
    }
}
