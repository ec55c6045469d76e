//! The node's query service: the one place a signed request from the hub becomes a signed answer. It
//! passes every request through the hospital's [`crate::policy::Gate`], runs admitted queries with
//! [`crate::query::execute`] (which applies disclosure control), signs the outcome with the node key, and
//! delivers answers a data steward approved (or a denial) later. Calls here block: run them on
//! `spawn_blocking` — except [`QueryService::check_researcher`], which verifies the researcher's
//! presentation (async: it may fetch the hub's revocation list) before the gate runs.

use crate::outbox::{self, MessageId, OutboxError};
use crate::policy::{self, Decision, Gate, PolicyConfig, PolicyError};
use crate::proofs::Prover;
use crate::query;
use crate::store::{Store, StoreError};
use agora_protocol::envelope::{Header, Signed};
use agora_protocol::wire::{
    AnswerMessage, NodeHello, Outcome, QueryRequest, Rejection, RejectionCode, WireRequest, WireResponse,
};
use libp2p::identity::Keypair;
use libp2p::PeerId;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tracing::{info, warn};
use uuid::Uuid;

/// Errors of the query service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The query log.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The outbox.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

impl From<rusqlite::Error> for ServiceError {
    fn from(e: rusqlite::Error) -> Self {
        ServiceError::Store(StoreError::Sqlite(e))
    }
}

/// A statement released by the data steward, kept in the outbox as `MessageId`, with the request it
/// answers (when it is an answer).
pub type Released = (MessageId, Signed<AnswerMessage>, Option<QueryRequest>);

/// How long a node's signed statements stay valid, in seconds.
const ANSWER_TTL_SECS: i64 = 3600;

/// The query service.
pub struct QueryService {
    name: String,
    hub: PeerId,
    hub_did: String,
    verifier: agora_did::credential::Verifier,
    node_credential: Option<serde_json::Value>,
    store_path: PathBuf,
    key: Keypair,
    gate: Gate,
    threshold: u32,
    conns: Mutex<Vec<Store>>,
    releasing: Mutex<()>,
    prover: Option<Arc<Prover>>,
}

impl std::fmt::Debug for QueryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryService").field("name", &self.name).finish_non_exhaustive()
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl QueryService {
    /// A service over the store at `store_path`, answering queries signed by `hub`.
    pub fn new(
        name: String,
        store_path: PathBuf,
        key: Keypair,
        policy: PolicyConfig,
        hub: PeerId,
        hub_did: String,
        node_credential: Option<serde_json::Value>,
    ) -> Result<QueryService, PolicyError> {
        let threshold = policy.threshold;
        // Researchers' credentials are the hub's: no other issuer's DID or status list is fetched.
        let verifier = agora_did::credential::Verifier::default().trusting(vec![hub_did.clone()]);
        verifier.status_lists().set_ttl(std::time::Duration::from_secs(policy.status_ttl_secs));
        Ok(QueryService {
            name,
            hub,
            hub_did,
            verifier,
            node_credential,
            store_path,
            key,
            gate: Gate::new(policy, vec![hub])?,
            threshold,
            conns: Mutex::new(Vec::new()),
            releasing: Mutex::new(()),
            prover: None,
        })
    }

    /// Proves answers with `prover` (see [`crate::proofs`]).
    pub fn with_prover(mut self, prover: Arc<Prover>) -> QueryService {
        self.prover = Some(prover);
        self
    }

    /// The prover, when the node proves its answers.
    pub fn prover(&self) -> Option<&Arc<Prover>> {
        self.prover.as_ref()
    }

    /// The purpose whose consenting patients alone an answer to `request` counts, or `None` when it
    /// counts every patient.
    fn consent_purpose<'a>(&self, request: &'a QueryRequest) -> Option<&'a str> {
        let purpose = request.purpose.as_deref();
        self.gate.config().needs_consent(purpose).then(|| purpose.unwrap_or_default())
    }

    fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> Result<T, ServiceError> {
        let pooled = self.conns.lock().expect("pool lock").pop();
        let store = match pooled {
            Some(s) => s,
            None => Store::open(&self.store_path)?,
        };
        let out = f(&store);
        // A connection left inside a transaction (a failed rollback) is not reused.
        if store.conn().is_autocommit() {
            self.conns.lock().expect("pool lock").push(store);
        }
        Ok(out)
    }

    /// The signed hello sent on every connection to the hub.
    pub fn hello(&self) -> Result<Signed<NodeHello>, ServiceError> {
        let summary = self.with_store(|s| s.summary())??;
        let hello = NodeHello {
            name: self.name.clone(),
            summary,
            header: Header::new(Uuid::nil(), now(), 300),
            credential: self.node_credential.clone(),
            commitment: self.prover.as_ref().and_then(|p| p.commitment()),
        };
        Ok(Signed::sign(&hello, &self.key))
    }

    fn sign(&self, query_id: Uuid, outcome: Outcome) -> WireResponse {
        let msg = AnswerMessage { header: Header::new(query_id, now(), ANSWER_TTL_SECS), outcome };
        WireResponse::Answer(Signed::sign(&msg, &self.key))
    }

    /// Verifies the researcher's presentation a request carries: by the researcher the hub names, bound
    /// to this query and purpose and to the hub's DID, holding a valid, unrevoked ResearcherCredential the
    /// hub issued that approves the purpose. `Ok` for requests the gate refuses anyway (not the hub's).
    pub async fn check_researcher(&self, signed: &Signed<QueryRequest>) -> Result<(), String> {
        if !self.gate.config().require_researcher_credential {
            return Ok(());
        }
        let Ok(verified) = signed.verify() else { return Ok(()) };
        if verified.signer != self.hub {
            return Ok(());
        }
        let request = verified.payload;
        let presentation =
            request.presentation.as_ref().ok_or("the query carries no presentation of a ResearcherCredential")?;
        let purpose = request.purpose.as_deref().ok_or("the query states no purpose")?;
        let expect = agora_did::Expectation {
            challenge: agora_protocol::query_challenge(&request.query, Some(purpose)),
            domain: self.hub_did.clone(),
            max_age: std::time::Duration::from_secs(self.gate.config().max_query_age_secs.max(1) as u64),
        };
        let vp = self
            .verifier
            .presentation(presentation, &expect)
            .await
            .map_err(|e| format!("researcher presentation: {e}"))?;
        if vp.holder != request.researcher {
            return Err(format!("the presentation is by {}, not by the researcher the hub names", vp.holder));
        }
        let credential = vp
            .credentials
            .iter()
            .find(|c| c.kind == Some(agora_did::CredentialKind::ResearcherCredential))
            .ok_or("the presentation holds no ResearcherCredential")?;
        credential.expect_issuer(&self.hub_did).map_err(|e| e.to_string())?;
        if !credential.claim_list("purposes").iter().any(|p| p == purpose) {
            return Err(format!("the researcher's credential does not approve the purpose `{purpose}`"));
        }
        Ok(())
    }

    /// Answers one signed request: a signed answer, hold or rejection; or an unsigned error when the
    /// request itself cannot be attributed to the hub. `credential` is the outcome of
    /// [`QueryService::check_researcher`].
    pub fn answer(&self, signed: &Signed<QueryRequest>, credential: &Result<(), String>) -> WireResponse {
        let res = self.with_store(|store| match self.gate.admit_with(store, signed, now(), credential) {
            Err(rejection) => Err(rejection),
            Ok(admitted) => {
                let id = admitted.request.header.query_id;
                match admitted.decision {
                    Decision::Hold => {
                        info!(target: "node::query", query_id = %id, "query held for the data steward");
                        Ok((id, Outcome::Held))
                    }
                    Decision::Run => Ok((id, self.run(store, &admitted.request))),
                }
            }
        });
        match res {
            Ok(Ok((id, outcome))) => self.sign(id, outcome),
            Ok(Err(rejection)) => {
                info!(target: "node::query", code = rejection.code.as_str(), "query rejected");
                match rejection.code {
                    // Nothing attributable to sign for: answer plainly.
                    RejectionCode::BadSignature | RejectionCode::UnknownHub => {
                        WireResponse::Error { message: rejection.to_string() }
                    }
                    _ => {
                        let id = serde_json::from_str::<QueryRequest>(&signed.body)
                            .map(|r| r.header.query_id)
                            .unwrap_or_else(|_| Uuid::nil());
                        self.sign(id, Outcome::Rejected { rejection })
                    }
                }
            }
            Err(e) => {
                warn!(target: "node::query", %e, "store unavailable");
                WireResponse::Error { message: "the node's store is unavailable".into() }
            }
        }
    }

    fn run(&self, store: &Store, request: &QueryRequest) -> Outcome {
        let id = request.header.query_id;
        // Consent is judged when the query runs (a held query runs when its steward approves it), and
        // the answer says when.
        let population = match self.consent_purpose(request) {
            Some(purpose) => query::Population::ConsentedTo { purpose, at: now().max(request.header.issued_at) },
            None => query::Population::Everyone,
        };
        match query::execute_within(store, &request.query, id, self.threshold, population) {
            Ok(answer) => {
                if let Err(e) = policy::mark_answered(store, id) {
                    warn!(target: "node::query", %e, "cannot record the answer in the query log");
                }
                info!(target: "node::query", query_id = %id, micros = answer.exec_micros, "query answered");
                Outcome::Answered { answer }
            }
            Err(e) => {
                warn!(target: "node::query", query_id = %id, %e, "query failed");
                if let Err(e) = policy::mark_failed(store, id, &e.to_string()) {
                    warn!(target: "node::query", %e, "cannot record the failure in the query log");
                }
                Outcome::Rejected { rejection: Rejection::new(RejectionCode::Internal, e.to_string()) }
            }
        }
    }

    /// Runs queries the data steward approved since the last call, and signs denials. Each statement is
    /// kept in the outbox in the transaction that clears its release mark ([`policy::released`]), so it
    /// is delivered once and survives a restart until the hub takes it. An answer comes with its request,
    /// for its proof.
    pub fn approved_answers(&self) -> Result<Vec<Released>, ServiceError> {
        let _one_at_a_time = self.releasing.lock().expect("release lock");
        self.with_store(|store| -> Result<Vec<Released>, ServiceError> {
            let mut out = Vec::new();
            for release in policy::pending_releases(store)? {
                let (query_id, outcome, request) = match release {
                    policy::Release::Approved(request) => {
                        (request.header.query_id, self.run(store, &request), Some(*request))
                    }
                    policy::Release::Denied { query_id, rejection } => {
                        (query_id, Outcome::Rejected { rejection }, None)
                    }
                };
                let msg = AnswerMessage { header: Header::new(query_id, now(), ANSWER_TTL_SECS), outcome };
                let signed = Signed::sign(&msg, &self.key);
                let keep = || -> Result<Option<MessageId>, ServiceError> {
                    let tx =
                        rusqlite::Transaction::new_unchecked(store.conn(), rusqlite::TransactionBehavior::Immediate)?;
                    if !policy::released(&tx, query_id)? {
                        return Ok(None);
                    }
                    let id = outbox::put(&tx, &WireRequest::Deliver(signed.clone()), now())?;
                    // An answer's proof is owed from the moment the answer is kept.
                    if matches!(msg.outcome, Outcome::Answered { .. })
                        && request.as_ref().is_some_and(|r| self.proves(&r.query))
                    {
                        outbox::owe(&tx, query_id, now())?;
                    }
                    tx.commit()?;
                    Ok(Some(id))
                };
                match keep() {
                    Ok(Some(id)) => out.push((id, signed, request)),
                    Ok(None) => {}
                    // Its mark stays: it is run and kept on a later call. Those kept so far go out.
                    Err(e) => {
                        warn!(target: "node::query", query_id = %query_id, %e, "cannot keep a released statement for delivery");
                        break;
                    }
                }
            }
            Ok(out)
        })?
    }

    /// The message kept in the outbox as `id`, to be sent again: signed again with a fresh header (the
    /// same statement) when its window has passed or will within ten minutes, or it is older than the
    /// hub accepts (a day), and kept so. `None` when it is no longer kept.
    pub fn kept_message(&self, id: MessageId) -> Result<Option<WireRequest>, ServiceError> {
        let Some(req) = self.with_outbox(|c| outbox::get(c, id))? else { return Ok(None) };
        // Only this node's own statement is signed again (nothing written into the store by another
        // hand gets the node's signature).
        let own = self.key.public().to_peer_id();
        let signer = match &req {
            WireRequest::Deliver(signed) => signed.verify().map(|v| v.signer).ok(),
            WireRequest::Proof(signed) => signed.verify().map(|v| v.signer).ok(),
            _ => None,
        };
        if signer != Some(own) {
            warn!(target: "node::net", message = id, "a kept message is not signed by this node: dropped");
            self.with_outbox(|c| outbox::taken(c, id))?;
            return Ok(None);
        }
        let now = now();
        let stale = |h: &Header| h.expires_at < now + 600 || now - h.issued_at > 23 * 3600;
        let fresh = match &req {
            WireRequest::Deliver(signed) => match serde_json::from_str::<AnswerMessage>(&signed.body) {
                Ok(msg) if stale(&msg.header) => {
                    let header = Header::new(msg.header.query_id, now, ANSWER_TTL_SECS);
                    Some(WireRequest::Deliver(Signed::sign(&AnswerMessage { header, ..msg }, &self.key)))
                }
                _ => None,
            },
            WireRequest::Proof(signed) => {
                match serde_json::from_str::<agora_protocol::proof::ProofMessage>(&signed.body) {
                    Ok(msg) if stale(&msg.header) => {
                        let outcome = msg.outcome;
                        Some(WireRequest::Proof(crate::proofs::proof_message(&self.key, msg.header.query_id, outcome)))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match fresh {
            Some(fresh) => {
                let kept = self.with_outbox(|c| outbox::replace(c, id, &fresh))?;
                if kept {
                    info!(target: "node::net", message = id, "a kept message signed again with a fresh header");
                }
                Ok(kept.then_some(fresh))
            }
            None => Ok(Some(req)),
        }
    }

    /// The answers whose proof was being made when the node stopped (owed: [`outbox::owe`]) get a
    /// signed reason instead, kept in the outbox in the transaction that clears the debt, so the hub
    /// shows them unproven rather than pending for ever. Returns how many.
    pub fn settle_owed_proofs(&self) -> Result<usize, ServiceError> {
        const REASON: &str = "the node stopped before this answer's proof was made";
        self.with_store(|store| -> Result<usize, ServiceError> {
            let owed = outbox::owed(store.conn())?;
            for &query_id in &owed {
                let msg = WireRequest::Proof(self.unproven(query_id, REASON));
                let tx = rusqlite::Transaction::new_unchecked(store.conn(), rusqlite::TransactionBehavior::Immediate)?;
                outbox::put(&tx, &msg, now())?;
                outbox::paid(&tx, query_id)?;
                tx.commit()?;
            }
            Ok(owed.len())
        })?
    }

    /// Whether an answer to `query` is followed by a proof this node makes (a provable kind, and a
    /// prover): its proof is then owed ([`outbox::owe`]) from before the answer leaves.
    pub fn proves(&self, query: &agora_protocol::Query) -> bool {
        self.prover.is_some() && agora_protocol::proof::plan(query).is_some()
    }

    /// Keeps `msg` in the outbox; with `paid`, that answer's proof debt is cleared in the same
    /// transaction (`msg` is its last proof message).
    pub fn keep_message(&self, msg: &WireRequest, paid: Option<Uuid>) -> Result<MessageId, ServiceError> {
        self.with_store(|store| -> Result<MessageId, ServiceError> {
            let tx = rusqlite::Transaction::new_unchecked(store.conn(), rusqlite::TransactionBehavior::Immediate)?;
            let id = outbox::put(&tx, msg, now())?;
            if let Some(query_id) = paid {
                outbox::paid(&tx, query_id)?;
            }
            tx.commit()?;
            Ok(id)
        })?
    }

    /// Runs `f` over the node's outbox ([`crate::outbox`]).
    pub fn with_outbox<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, OutboxError>,
    ) -> Result<T, ServiceError> {
        Ok(self.with_store(|store| f(store.conn()))??)
    }

    /// A signed statement that this node does not prove an answer, and why.
    pub fn unproven(&self, query_id: Uuid, reason: &str) -> Signed<agora_protocol::proof::ProofMessage> {
        let outcome = agora_protocol::proof::ProofOutcome::Unavailable { reason: reason.to_string() };
        crate::proofs::proof_message(&self.key, query_id, outcome)
    }
}
