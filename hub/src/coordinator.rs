//! The coordinator turns a researcher's query into a signed request, fans it out to every connected
//! node, verifies each signed answer (signer, query id, freshness) and records it, then reports the
//! combined result. It also admits nodes (their signed hello) and takes deferred answers a node's data
//! steward released. It never combines an answer whose signature or query id does not check out.

use crate::authority::{Authority, AuthorityError};
use crate::net::{Inbound, NetHandle};
use crate::store::{now_ms, HubStore, NodePart, QueryRecord, Session, StoreError};
use agora_protocol::combined::{combine, CombinedResult, NodeReport, NodeState, ProofSummary, ResultStatus};
use agora_protocol::envelope::{Header, Signed};
use agora_protocol::proof::{
    plan_or_reason, query_digest, ChunkProof, ChunkedCell, DatasetCommitment, Expected, Plan, ProofMessage,
    ProofOutcome, ProofState, ProvenCell, ProvenPart, Target, MAX_PARTS_PER_MESSAGE,
};
use agora_protocol::wire::{
    AnswerMessage, NodeHello, Outcome, QueryRequest, WireRequest, WireResponse, HUB_BUSY, RETRY_LATER,
};
use agora_protocol::{NodeAnswer, Query, QueryError};
use agora_zk::archive::{Archived, ArchivedAnswer, ArchivedChunkedAnswer, ArchivedClaim, ArchivedPart};
use agora_zk::{Claim, Criterion};
use base64::Engine;
use libp2p::identity::Keypair;
use libp2p::PeerId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, warn, Instrument};
use uuid::Uuid;

/// Errors of the coordinator, shown to researchers through the API.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The query is malformed.
    #[error("invalid query: {0}")]
    InvalidQuery(#[from] QueryError),
    /// No such query (or not the caller's).
    #[error("no query {0}")]
    NotFound(Uuid),
    /// No node is connected.
    #[error("no node is connected to the hub: start a node or check its hub address")]
    NoNodes,
    /// No connected node's credential allows this kind of query.
    #[error("no connected node is admitted for `{0}` queries")]
    NoNodesForKind(String),
    /// The researcher's credential or presentation was refused.
    #[error("not authorised: {0}")]
    Unauthorised(#[from] AuthorityError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Shutting down.
    #[error("the hub is shutting down")]
    ShuttingDown,
}

/// Settings of the coordinator.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// How long to wait for node answers.
    pub deadline: Duration,
    /// How long the signed request stays valid.
    pub ttl_secs: i64,
    /// Admitted node peer ids; empty admits any.
    pub allowed_nodes: HashSet<PeerId>,
    /// Most queries fanned out at once.
    pub max_inflight: usize,
    /// Most proof messages held at once (being checked, or waiting for a verification): a node's
    /// proof message beyond them is refused with [`agora_protocol::wire::HUB_BUSY`], and the node sends
    /// it again later. Each may be a few MB.
    pub proof_handlers: usize,
}

/// [`CoordinatorConfig::proof_handlers`] of a hub's configuration: at most about 50 MB of proof messages
/// held (runs of ten parts are up to ~3 MB).
pub const PROOF_HANDLERS: usize = 16;

/// Proof verifications (threads) running at once, the hub's [`Coordinator`] over all answers: a run of a
/// cell's parts takes up to all of them and verifies its parts on as many threads.
const VERIFYING: usize = 2;

/// Current Unix time in seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A proof message being checked: its query, its node, and over chunks its cell and run's first part.
type ProofCheck = (Uuid, PeerId, Option<(usize, usize)>);

/// A connected, admitted node.
#[derive(Debug, Clone)]
struct Admitted {
    name: String,
    /// The query kinds its credential allows (`None`: any).
    query_kinds: Option<Vec<String>>,
    /// The credential it was admitted with, checked again before each query is sent to it.
    credential: Option<serde_json::Value>,
}

#[derive(Debug)]
struct Inner {
    store: HubStore,
    net: NetHandle,
    key: Keypair,
    cfg: CoordinatorConfig,
    registry: RwLock<BTreeMap<PeerId, Admitted>>,
    authority: Authority,
    inflight: Semaphore,
    cancel: CancellationToken,
    /// Researchers waiting for a query to settle (long-poll); woken and removed when it does.
    waiters: Mutex<HashMap<Uuid, Arc<Notify>>>,
    /// Proof messages being checked: per answer, and over chunks per run of a cell's parts.
    proving: Mutex<HashSet<ProofCheck>>,
    /// Proof verifications running at once (each ~2 ms of CPU on a blocking thread): [`VERIFYING`]
    /// permits, one a thread (a run of a cell's parts takes one per thread it verifies them on; the
    /// semaphore is fair, so checks asked for after such a run wait for it to start).
    verifying: Arc<Semaphore>,
    /// Proof messages held at once ([`CoordinatorConfig::proof_handlers`]).
    proof_handlers: Arc<Semaphore>,
}

/// Cloneable handle to the coordinator.
#[derive(Debug, Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

impl Coordinator {
    /// A coordinator over a store and a network handle.
    pub fn new(
        store: HubStore,
        net: NetHandle,
        key: Keypair,
        authority: Authority,
        cfg: CoordinatorConfig,
        cancel: CancellationToken,
    ) -> Self {
        let inflight = Semaphore::new(cfg.max_inflight.max(1));
        let proof_handlers = Arc::new(Semaphore::new(cfg.proof_handlers));
        Coordinator {
            inner: Arc::new(Inner {
                store,
                net,
                key,
                cfg,
                registry: RwLock::new(BTreeMap::new()),
                authority,
                inflight,
                cancel,
                waiters: Mutex::new(HashMap::new()),
                proving: Mutex::new(HashSet::new()),
                verifying: Arc::new(Semaphore::new(VERIFYING)),
                proof_handlers,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &HubStore {
        &self.inner.store
    }

    /// The credential authority.
    pub fn authority(&self) -> &Authority {
        &self.inner.authority
    }

    /// The hub's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.key.public().to_peer_id()
    }

    /// Connected, admitted nodes.
    pub fn connected(&self) -> Vec<(PeerId, String)> {
        self.inner.registry.read().expect("registry lock").iter().map(|(p, a)| (*p, a.name.clone())).collect()
    }

    /// Connected nodes whose credential allows every aggregate of `query` and is still valid: each is
    /// checked again (its signature is cached; its status read from the hub's store, where `agora-hub
    /// revoke` writes), and a node whose credential no longer admits it (revoked, expired) leaves the
    /// registry. It was admitted at its hello only, and stayed for as long as it kept its connection.
    async fn admitted_for(&self, query: &Query) -> Vec<(PeerId, String)> {
        let kinds: Vec<&str> = query.aggregates.iter().map(|a| a.kind()).collect();
        let candidates: Vec<(PeerId, String, Option<serde_json::Value>)> = self
            .inner
            .registry
            .read()
            .expect("registry lock")
            .iter()
            .filter(|(_, a)| {
                a.query_kinds.as_ref().is_none_or(|allowed| kinds.iter().all(|k| allowed.iter().any(|x| x == k)))
            })
            .map(|(p, a)| (*p, a.name.clone(), a.credential.clone()))
            .collect();
        let mut admitted = Vec::with_capacity(candidates.len());
        for (peer, name, credential) in candidates {
            match self.inner.authority.admit_node(&peer, credential.as_ref()).await {
                Ok(_) => admitted.push((peer, name)),
                // The store failing is not the credential failing: left out of this query only.
                Err(e @ crate::authority::AuthorityError::Store(_)) => {
                    warn!(target: "hub::net", %peer, %e, "node's credential not checked: left out of this query");
                }
                Err(e) => {
                    warn!(target: "hub::net", %peer, %e, "node no longer admitted: left out of the query and the registry");
                    let mut registry = self.inner.registry.write().expect("registry lock");
                    // Unless it said hello again meanwhile, with another credential.
                    if registry.get(&peer).is_some_and(|a| a.credential == credential) {
                        registry.remove(&peer);
                    }
                }
            }
        }
        admitted
    }

    /// Authorises (with the researcher's presentation), records and fans out a query; returns its id at
    /// once. The result fills in as nodes answer.
    pub async fn submit(
        &self,
        session: &Session,
        query: Query,
        purpose: Option<String>,
        presentation: serde_json::Value,
    ) -> Result<Uuid, HubError> {
        query.validate()?;
        self.inner.authority.authorise_query(session, &presentation, &query, purpose.as_deref()).await?;
        if self.connected().is_empty() {
            return Err(HubError::NoNodes);
        }
        let nodes = self.admitted_for(&query).await;
        if nodes.is_empty() {
            let kinds: Vec<&str> = query.aggregates.iter().map(|a| a.kind()).collect();
            return Err(HubError::NoNodesForKind(kinds.join(", ")));
        }
        let researcher = session.researcher.as_str();
        let t = now();
        let query_id = Uuid::new_v4();
        let request = QueryRequest {
            header: Header::new(query_id, t, self.inner.cfg.ttl_secs),
            researcher: researcher.to_string(),
            purpose: purpose.clone(),
            query: query.clone(),
            presentation: Some(presentation),
        };
        let signed = Signed::sign(&request, &self.inner.key);
        let record = QueryRecord {
            query_id,
            researcher: researcher.to_string(),
            purpose,
            query,
            submitted_at: t,
            deadline_at: t + self.inner.cfg.deadline.as_secs() as i64,
            status: ResultStatus::Running,
        };
        let names: Vec<(String, String)> = nodes.iter().map(|(p, n)| (p.to_string(), n.clone())).collect();
        self.inner.store.insert_query(&record, &serde_json::to_string(&signed).expect("serialises"), &names).await?;
        info!(target: "hub::query", %query_id, nodes = nodes.len(), "query submitted");
        let this = self.clone();
        tokio::spawn(
            async move { this.fan_out(query_id, signed, nodes).await }.instrument(info_span!("query", %query_id)),
        );
        Ok(query_id)
    }

    async fn fan_out(&self, query_id: Uuid, signed: Signed<QueryRequest>, nodes: Vec<(PeerId, String)>) {
        let Ok(_permit) = self.inner.inflight.acquire().await else { return };
        let deadline = self.inner.cfg.deadline;
        let scope = serde_json::from_str::<QueryRequest>(&signed.body).ok().map(|r| AnswerScope {
            query: r.query,
            purpose: r.purpose,
            submitted_at: r.header.issued_at,
        });
        let mut tasks = tokio::task::JoinSet::new();
        for (peer, _) in nodes {
            let net = self.inner.net.clone();
            let req = WireRequest::Query(signed.clone());
            tasks.spawn(async move {
                let res = tokio::time::timeout(deadline, net.request(peer, req)).await;
                (peer, res)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let Ok((peer, res)) = joined else { continue };
            let (state, envelope) = match res {
                Err(_) => (NodeState::NoAnswer { reason: format!("no answer within {} s", deadline.as_secs()) }, None),
                Ok(Err(e)) => (NodeState::NoAnswer { reason: e.to_string() }, None),
                Ok(Ok(WireResponse::Answer(env))) => match check_answer(&env, peer, query_id, scope.as_ref()) {
                    Ok(state) => (state, Some(serde_json::to_string(&env).expect("serialises"))),
                    Err(reason) => {
                        warn!(target: "hub::query", %peer, %reason, "answer refused");
                        (NodeState::NoAnswer { reason }, None)
                    }
                },
                Ok(Ok(WireResponse::Error { message })) => {
                    (NodeState::NoAnswer { reason: format!("node refused the request: {message}") }, None)
                }
                Ok(Ok(WireResponse::Ack)) => {
                    (NodeState::NoAnswer { reason: "node acknowledged without answering".into() }, None)
                }
            };
            match self.inner.store.set_node_state(query_id, &peer.to_string(), &state, envelope.as_deref(), now()).await
            {
                Ok(true) => {}
                Ok(false) => {
                    debug!(target: "hub::query", %query_id, %peer, "the node's part was no longer waiting (settled by its delivery first)")
                }
                Err(e) => warn!(target: "hub::query", %e, "cannot record a node's answer"),
            }
        }
        if let Err(e) = self.refresh_status(query_id).await {
            warn!(target: "hub::query", %e, "cannot record the query's status");
        }
    }

    async fn refresh_status(&self, query_id: Uuid) -> Result<ResultStatus, HubError> {
        let parts = self.inner.store.parts(query_id).await?;
        let status = status_of(&parts);
        if self.inner.store.advance_status(query_id, status).await? {
            info!(target: "hub::query", %query_id, ?status, "query settled");
        }
        self.settled(query_id);
        Ok(status)
    }

    /// Wakes whoever waits for `query_id`.
    fn settled(&self, query_id: Uuid) {
        if let Some(n) = self.inner.waiters.lock().expect("waiters lock").remove(&query_id) {
            n.notify_waiters();
        }
    }

    /// The combined result once the query is no longer running, or as it stands after `limit`.
    pub async fn wait_result(
        &self,
        query_id: Uuid,
        researcher: &str,
        limit: Duration,
        proven_only: bool,
    ) -> Result<CombinedResult, HubError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notify = self.inner.waiters.lock().expect("waiters lock").entry(query_id).or_default().clone();
            let waiting = Waiting { waiters: &self.inner.waiters, query_id, notify };
            let notified = waiting.notify.notified();
            tokio::pin!(notified);
            // Registered before the status is read, so a settle in between is not missed.
            notified.as_mut().enable();
            let r = self.result_with(query_id, researcher, proven_only).await?;
            if r.status != ResultStatus::Running || tokio::time::Instant::now() >= deadline {
                return Ok(r);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.result_with(query_id, researcher, proven_only).await;
            }
        }
    }

    /// The number of queries someone waits for (a test reads it).
    #[doc(hidden)]
    pub fn waited_for(&self) -> usize {
        self.inner.waiters.lock().expect("waiters lock").len()
    }

    /// The combined result of one of the researcher's queries.
    pub async fn result(&self, query_id: Uuid, researcher: &str) -> Result<CombinedResult, HubError> {
        self.result_with(query_id, researcher, false).await
    }

    /// The combined result, of the proven answers only when `proven_only`.
    pub async fn result_with(
        &self,
        query_id: Uuid,
        researcher: &str,
        proven_only: bool,
    ) -> Result<CombinedResult, HubError> {
        let record = self.inner.store.query(query_id).await?.filter(|r| r.researcher == researcher);
        let record = record.ok_or(HubError::NotFound(query_id))?;
        let parts = self.inner.store.parts(query_id).await?;
        Ok(assemble_with(record, parts, proven_only))
    }

    /// Handles an inbound hello or delivery.
    pub async fn handle(&self, inbound: Inbound) {
        match inbound {
            Inbound::Disconnected(peer) => {
                self.inner.registry.write().expect("registry lock").remove(&peer);
                let _ = self.inner.store.mark_disconnected(Some(&peer.to_string()), now()).await;
            }
            Inbound::Request { peer, request, channel } => {
                let response = match request {
                    WireRequest::Hello(hello) => self.hello(peer, hello).await,
                    WireRequest::Deliver(msg) => self.deliver(peer, msg).await,
                    WireRequest::Proof(msg) => self.proof(peer, msg).await,
                    WireRequest::Query(_) => Err("the hub does not answer queries".to_string()),
                };
                let response = match response {
                    Ok(()) => WireResponse::Ack,
                    Err(message) => {
                        warn!(target: "hub::net", %peer, %message, "node request refused");
                        WireResponse::Error { message }
                    }
                };
                self.inner.net.respond(channel, response).await;
            }
        }
    }

    async fn hello(&self, peer: PeerId, hello: Signed<NodeHello>) -> Result<(), String> {
        let v = hello.verify().map_err(|e| e.to_string())?;
        if v.signer != peer {
            return Err("hello is signed by a key other than the connection's".into());
        }
        v.payload.header.check(now(), 300).map_err(|e| e.to_string())?;
        let allowed = &self.inner.cfg.allowed_nodes;
        if !allowed.is_empty() && !allowed.contains(&peer) {
            return Err(format!("node {peer} is not admitted to this network"));
        }
        let admission = match self.inner.authority.admit_node(&peer, v.payload.credential.as_ref()).await {
            Ok(admission) => admission,
            Err(e) => {
                // A node admitted before and refused now (its credential revoked or expired since) is
                // out: its earlier admission does not stand. (Not for the store failing: sent again.)
                if !matches!(e, crate::authority::AuthorityError::Store(_)) {
                    self.inner.registry.write().expect("registry lock").remove(&peer);
                }
                return Err(format!("node not admitted: {e}"));
            }
        };
        let name: String = v.payload.name.chars().filter(|c| !c.is_control()).take(64).collect();
        self.inner.store.upsert_node(&peer.to_string(), &name, &v.payload.summary, now()).await.map_err(later)?;
        // A commitment this hub cannot read (another format version, a malformed root) is not recorded,
        // but does not keep the node out: its answers then simply fail or lack proofs, with the reason.
        match v.payload.commitment.as_ref().map(|c| (c, readable(c))) {
            Some((c, Ok(_))) => {
                self.inner.store.record_commitment(&peer.to_string(), c, now_ms()).await.map_err(later)?
            }
            Some((_, Err(e))) => {
                warn!(target: "hub::net", %peer, %e, "hello carries a commitment this hub cannot read")
            }
            None => {}
        }
        info!(target: "hub::net", %peer, node = %name, "node registered");
        self.inner.registry.write().expect("registry lock").insert(
            peer,
            Admitted { name, query_kinds: admission.query_kinds, credential: v.payload.credential.clone() },
        );
        Ok(())
    }

    async fn deliver(&self, peer: PeerId, msg: Signed<AnswerMessage>) -> Result<(), String> {
        let v = msg.verify().map_err(|e| e.to_string())?;
        let query_id = v.payload.header.query_id;
        let parts = self.inner.store.parts(query_id).await.map_err(later)?;
        let part = parts.iter().find(|p| p.peer_id == peer.to_string()).ok_or("no such query was sent to this node")?;
        if !matches!(part.state, NodeState::Held | NodeState::Waiting) {
            // A first copy may have settled the part and failed before the query's status: done here.
            self.delivered_status(query_id).await?;
            return Err("this node's part of the query is already settled".into());
        }
        let record = self.inner.store.query(query_id).await.map_err(later)?;
        let scope = record.map(|r| AnswerScope { query: r.query, purpose: r.purpose, submitted_at: r.submitted_at });
        let state = check_answer(&msg, peer, query_id, scope.as_ref())?;
        let envelope = serde_json::to_string(&msg).expect("ser");
        let delivered = self
            .inner
            .store
            .deliver_node_state(query_id, &peer.to_string(), &state, &envelope, now())
            .await
            .map_err(later)?;
        self.delivered_status(query_id).await?;
        if !delivered {
            return Err("this node's part of the query is already settled".into());
        }
        info!(target: "hub::query", %query_id, %peer, "deferred answer delivered");
        Ok(())
    }

    /// Sets a query's status from its parts once none waits, and wakes those waiting for it.
    async fn delivered_status(&self, query_id: Uuid) -> Result<(), String> {
        let parts = self.inner.store.parts(query_id).await.map_err(later)?;
        let status = status_of(&parts);
        if status != ResultStatus::Running {
            self.inner.store.advance_status(query_id, status).await.map_err(later)?;
            self.settled(query_id);
        }
        Ok(())
    }

    /// A node's proof of an answer it sent (`peer`: the connection's node), as the network hands it
    /// over: verified against the node's signed commitment and the answer's own cells (the criteria come
    /// from the hub's plan of the query, never from the node); an answer whose proof fails is excluded
    /// from the combination from then on. Over a dataset in chunks, each run of a cell's parts is
    /// verified and kept as it arrives ([`Coordinator::take_run`]), a cell is proven once its runs
    /// cover the chunks and link, and the answer once every cell is. `Err` is the refusal sent
    /// back (a replayed or late message, a message the hub cannot take now); nothing stored changes then.
    pub async fn proof(&self, peer: PeerId, msg: Signed<ProofMessage>) -> Result<(), String> {
        if msg.body.len() > MAX_PROOF_MESSAGE {
            return Err(format!("proof message of {} bytes exceeds {MAX_PROOF_MESSAGE}", msg.body.len()));
        }
        let v = msg.verify().map_err(|e| format!("proof message failed verification: {e}"))?;
        if v.signer != peer {
            return Err("proof message is signed by a key other than the connection's".into());
        }
        v.payload.header.check(now(), 24 * 3600).map_err(|e| format!("proof header: {e}"))?;
        let query_id = v.payload.header.query_id;
        // One check per answer (over chunks, per run of a cell's parts) at a time; a second message
        // meanwhile is refused.
        let cell = match &v.payload.outcome {
            ProofOutcome::Chunked { index, cell, .. } => Some((*index, cell.first)),
            _ => None,
        };
        let key = (query_id, peer, cell);
        if !self.inner.proving.lock().expect("proving lock").insert(key) {
            return Err(format!("a proof of this answer is already being checked; {RETRY_LATER}"));
        }
        let _checking = Checking { proving: &self.inner.proving, key };
        self.settle_proof(peer, query_id, v.payload.outcome, &msg).await
    }

    async fn settle_proof(
        &self,
        peer: PeerId,
        query_id: Uuid,
        outcome: ProofOutcome,
        msg: &Signed<ProofMessage>,
    ) -> Result<(), String> {
        let record = self.inner.store.query(query_id).await.map_err(later)?;
        let record = record.ok_or("no such query")?;
        // The answer travels on the query's stream (or as a steward's delivery) and the proof on its
        // own: give a racing answer a moment to be recorded.
        let mut part = None;
        for _ in 0..25 {
            let parts = self.inner.store.parts(query_id).await.map_err(later)?;
            let p = parts.into_iter().find(|p| p.peer_id == peer.to_string());
            let p = p.ok_or("no such query was sent to this node")?;
            if !matches!(p.state, NodeState::Waiting | NodeState::Held) {
                part = Some(p);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let part = part.ok_or("the node's answer to this query has not arrived yet, retry later")?;
        let NodeState::Answered { answer } = &part.state else {
            return Err("this node did not answer the query".into());
        };
        if part.proof.is_some() {
            return Err("the proof of this answer is already settled".into());
        }
        // Proofs of another statement than this hub's cannot be checked here: the answer stays unproven,
        // saying why.
        let mismatch = match &outcome {
            ProofOutcome::Proven { statement, .. } | ProofOutcome::Chunked { statement, .. } => {
                statement_mismatch(statement)
            }
            ProofOutcome::Unavailable { .. } => None,
        };
        let state = match (outcome, mismatch) {
            (_, Some(reason)) => ProofState::Unproven { reason },
            (ProofOutcome::Unavailable { reason }, None) => {
                let reason: String = reason.chars().filter(|c| !c.is_control()).take(300).collect();
                ProofState::Unproven { reason: format!("the node: {reason}") }
            }
            (ProofOutcome::Proven { commitment, cells, statement }, None) => {
                let registered = self.inner.store.commitments(&peer.to_string()).await.map_err(later)?;
                let submitted = self.inner.store.submitted_ms(query_id).await.map_err(later)?;
                let before_query =
                    submitted.is_some_and(|at| registered.iter().any(|(c, seen)| *c == commitment && *seen < at));
                let answer = answer.clone();
                let record = record.clone();
                let checked = commitment.clone();
                let permit = self.inner.verifying.clone().acquire_owned().await.map_err(stopping)?;
                let mut state = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let population = Population::of(&record, &answer, now());
                    check_proofs(query_id, &record.query, &answer, &checked, &cells, population)
                })
                .await
                .or_else(panicked)?;
                state = with_statement_hint(&statement, state);
                if let ProofState::Proven { committed_before_query, .. } = &mut state {
                    *committed_before_query = before_query;
                    self.inner
                        .store
                        .record_commitment(&peer.to_string(), &commitment, now_ms())
                        .await
                        .map_err(later)?;
                }
                state
            }
            (ProofOutcome::Chunked { commitment, index, cells, cell, .. }, None) => {
                let answer = answer.clone();
                return self.take_run(peer, query_id, &record, answer, commitment, (index, cells), cell, msg).await;
            }
        };
        let envelope = serde_json::to_string(msg).expect("serialises");
        self.settle(peer, query_id, &state, Some(&envelope)).await
    }

    /// Settles the proof of `peer`'s answer as `state` (`envelope`: the message that settled it), or
    /// says it was settled already.
    async fn settle(
        &self,
        peer: PeerId,
        query_id: Uuid,
        state: &ProofState,
        envelope: Option<&str>,
    ) -> Result<(), String> {
        let settled = self.inner.store.set_proof(query_id, &peer.to_string(), state, envelope).await.map_err(later)?;
        if !settled {
            return Err("the proof of this answer is already settled".into());
        }
        match state {
            ProofState::Failed { reason } => {
                warn!(target: "hub::query", %query_id, %peer, %reason, "proof failed: answer excluded")
            }
            s => info!(target: "hub::query", %query_id, %peer, proof = %s.label(), "proof settled"),
        }
        Ok(())
    }

    /// Takes a run of one cell's parts of an answer over a dataset in chunks ([`ProofOutcome::Chunked`]):
    /// its parts' proofs are verified ([`check_chunked_run`]) and the run kept; then, once the cell's
    /// runs cover the dataset's chunks, the cell is checked whole ([`Coordinator::complete_cell`]). A run
    /// for a cell proven already, or overlapping a kept run, is refused before it is verified; a run
    /// that fails excludes the answer. The same run again (its first part, its length and its dataset
    /// those of a kept one) is not verified again but completes the cell if its runs cover it: a
    /// completion cut short (a store error, a restart) is finished by the node sending it again.
    #[allow(clippy::too_many_arguments)]
    async fn take_run(
        &self,
        peer: PeerId,
        query_id: Uuid,
        record: &QueryRecord,
        answer: NodeAnswer,
        commitment: DatasetCommitment,
        (index, cells): (usize, usize),
        run: ChunkedCell,
        msg: &Signed<ProofMessage>,
    ) -> Result<(), String> {
        let node = peer.to_string();
        let store = &self.inner.store;
        let proven = store.proven_cells(query_id, &node).await.map_err(later)?;
        if proven.iter().any(|(i, _)| *i == index) {
            // Every cell kept over this dataset but the answer not settled (a store error or a restart cut
            // its settling short): checking the cell again from its runs (no proof is read) settles it.
            if proven.len() >= cells && proven.iter().all(|(_, root)| *root == commitment.root) {
                self.complete_cell(peer, query_id, record, answer, &commitment, (index, cells)).await?;
            }
            return Err(format!("the proof of cell {index} of this answer is already received"));
        }
        let (first, parts) = (run.first, run.parts.len());
        let kept = store.proof_runs(query_id, &node, index).await.map_err(later)?;
        if kept.iter().any(|(f, n, root)| (*f, *n, root) == (first, parts, &commitment.root)) {
            return match self.complete_cell(peer, query_id, record, answer, &commitment, (index, cells)).await? {
                true => Ok(()),
                false => {
                    Err(format!("parts {first}..{} of cell {index} of this answer are already received", first + parts))
                }
            };
        }
        if let Some((f, n, _)) = kept.iter().find(|(f, n, _)| *f < first.saturating_add(parts) && first < f + n) {
            return Err(format!(
                "a run of {parts} parts from part {first} of cell {index} overlaps parts {f}..{} already received",
                f + n
            ));
        }
        let state = {
            let (answer, query, commitment) = (answer.clone(), record.query.clone(), commitment.clone());
            let population = Population::of(record, &answer, now());
            // A run's parts are verified on as many threads as it takes permits.
            let threads = agora_zk::verify::verifying_threads(run.parts.len()).clamp(1, VERIFYING);
            let permit = self.inner.verifying.clone().acquire_many_owned(threads as u32).await.map_err(stopping)?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                check_chunked_run(query_id, &query, &answer, &commitment, (index, cells), &run, population)
            })
            .await
            .or_else(panicked)?
        };
        let envelope = serde_json::to_string(msg).expect("serialises");
        if !matches!(state, ProofState::Proven { .. }) {
            return self.settle(peer, query_id, &state, Some(&envelope)).await;
        }
        let added = store.add_proof_run(query_id, &node, (index, first, parts), &commitment.root, &envelope).await;
        if !added.map_err(later)? {
            return Err(format!(
                "parts {first}..{} of cell {index} of this answer are already received",
                first + parts
            ));
        }
        drop(envelope);
        info!(target: "hub::query", %query_id, %peer, cell = index, first, parts, "run of a cell over chunks verified");
        self.complete_cell(peer, query_id, record, answer, &commitment, (index, cells)).await.map(|_| ())
    }

    /// Checks cell `index` of `peer`'s answer whole if its kept runs tile the dataset's chunks from the
    /// first, over one dataset (runs over two, or overlapping, fail the answer): its parts, read back a
    /// run at a time without their proofs, must link and add up to the hub's claim
    /// ([`check_chunked_links`]); the cell is then kept as proven ([`Coordinator::keep_cell`]), or the
    /// answer fails. `false` if the runs do not cover the chunks yet.
    async fn complete_cell(
        &self,
        peer: PeerId,
        query_id: Uuid,
        record: &QueryRecord,
        answer: NodeAnswer,
        commitment: &DatasetCommitment,
        (index, cells): (usize, usize),
    ) -> Result<bool, String> {
        let node = peer.to_string();
        let kept = self.inner.store.proof_runs(query_id, &node, index).await.map_err(later)?;
        let failed = |reason: String| ProofState::Failed { reason };
        let mut at = 0;
        for (f, n, root) in &kept {
            let failure = if *root != commitment.root {
                Some(format!("cell {index}'s parts are proven over different datasets"))
            } else if *f < at {
                Some(format!("cell {index}'s runs of parts overlap (parts {f}..{} and ..{at})", f + n))
            } else {
                None
            };
            if let Some(reason) = failure {
                self.settle(peer, query_id, &failed(reason), None).await?;
                return Ok(true);
            }
            if *f > at {
                return Ok(false);
            }
            at = f + n;
        }
        if at < commitment.chunks.len() {
            return Ok(false);
        }
        // Every part's outputs and links, a kept run at a time, without the proofs.
        let Some((_, whole)) = self.cell_of_runs(query_id, &node, index, false).await.map_err(later)? else {
            return Err(format!("a kept run of cell {index} of this answer cannot be read back"));
        };
        let state = {
            let (query, checked) = (record.query.clone(), commitment.clone());
            let population = Population::of(record, &answer, now());
            tokio::task::spawn_blocking(move || {
                check_chunked_links(query_id, &query, &answer, &checked, (index, cells), &whole, population)
            })
            .await
            .or_else(panicked)?
        };
        match state {
            ProofState::Proven { .. } => self.keep_cell(peer, query_id, commitment, (index, cells), state).await?,
            state => self.settle(peer, query_id, &state, None).await?,
        }
        Ok(true)
    }

    /// One cell of `node`'s answer over chunks from its kept runs, in order, with the dataset of its
    /// first run (every run's root is the same, checked before the cell is read back); with the parts'
    /// proofs, or (`proofs` false) without them, holding one run's message at a time. `None` if a run's
    /// message cannot be read back.
    ///
    /// The runs read are those that tile the parts from the first, as [`Coordinator::complete_cell`]
    /// walked them: a run stored after the cell was checked, overlapping its runs, is not read. Two of a
    /// node's messages for one cell are verified at once (each checks the kept runs before the other
    /// is stored), so one that overlaps may be stored after the cell is proven; a kept run's first part
    /// is unique, so the tiling is the one the cell was proven from.
    async fn cell_of_runs(
        &self,
        query_id: Uuid,
        node: &str,
        index: usize,
        proofs: bool,
    ) -> Result<Option<(DatasetCommitment, ChunkedCell)>, StoreError> {
        let mut whole: Option<(DatasetCommitment, ChunkedCell)> = None;
        let mut at = 0;
        for (first, parts, root) in self.inner.store.proof_runs(query_id, node, index).await? {
            // Past the first run's dataset's chunks, or over another dataset (a run over another one,
            // verified at the same time, may start where the cell ends): not the cell's.
            if let Some((commitment, _)) = &whole {
                if at >= commitment.chunks.len() {
                    break;
                } else if root != commitment.root {
                    continue;
                }
            }
            if first < at {
                continue;
            } else if first > at {
                break;
            }
            at = first + parts;
            let envelope = self.inner.store.proof_run(query_id, node, index, first).await?;
            let Some(ProofOutcome::Chunked { commitment, mut cell, .. }) = envelope.as_deref().and_then(outcome_of)
            else {
                return Ok(None);
            };
            if !proofs {
                cell.parts.iter_mut().for_each(|p| p.proof = String::new());
            }
            match &mut whole {
                Some((_, w)) => w.parts.append(&mut cell.parts),
                None => whole = Some((commitment, ChunkedCell { first: 0, ..cell })),
            }
        }
        Ok(whole)
    }

    /// Keeps a proven cell of an answer over a dataset in chunks; once every cell of the answer has
    /// been, over the same dataset, the answer is proven (`state`, this cell's verdict).
    async fn keep_cell(
        &self,
        peer: PeerId,
        query_id: Uuid,
        commitment: &DatasetCommitment,
        (index, cells): (usize, usize),
        mut state: ProofState,
    ) -> Result<(), String> {
        let node = peer.to_string();
        let store = &self.inner.store;
        // A concurrent run, or a first copy whose settling was cut short, may have kept the cell first:
        // the answer is settled from the cells kept either way (`set_proof` settles it once).
        store.add_proven_cell(query_id, &node, index, &commitment.root).await.map_err(later)?;
        let verified = store.proven_cells(query_id, &node).await.map_err(later)?;
        if verified.iter().any(|(_, root)| *root != commitment.root) {
            let reason = "the answer's cells are proven over different datasets".to_string();
            warn!(target: "hub::query", %query_id, %peer, %reason, "proof failed: answer excluded");
            let failed = ProofState::Failed { reason };
            store.set_proof(query_id, &node, &failed, None).await.map_err(later)?;
            return Ok(());
        }
        info!(target: "hub::query", %query_id, %peer, cell = index, of = cells, "proven cell over chunks verified");
        if verified.len() < cells {
            return Ok(());
        }
        let registered = store.commitments(&node).await.map_err(later)?;
        let submitted = store.submitted_ms(query_id).await.map_err(later)?;
        if let ProofState::Proven { committed_before_query, .. } = &mut state {
            *committed_before_query =
                submitted.is_some_and(|at| registered.iter().any(|(c, seen)| c == commitment && *seen < at));
        }
        store.record_commitment(&node, commitment, now_ms()).await.map_err(later)?;
        // The cells' runs stay in `proof_runs`; a concurrent last cell may have settled first.
        if store.set_proof(query_id, &node, &state, None).await.map_err(later)? {
            info!(target: "hub::query", %query_id, %peer, proof = %state.label(), "proof settled");
        }
        Ok(())
    }

    /// The proofs of a query's proven answers, one archived answer per node and proven cell, for
    /// `agora-zk verify`: [`Coordinator::archive_sources`], each read by [`Coordinator::archived`].
    pub async fn archived_proofs(&self, query_id: Uuid, researcher: &str) -> Result<Vec<Archived>, HubError> {
        let mut out = Vec::new();
        for source in self.archive_sources(query_id, researcher).await? {
            out.extend(self.archived(query_id, &source).await?);
        }
        Ok(out)
    }

    /// Where the archived answers of a query's proven answers come from, in order, without reading a
    /// proof: a node's proof message (its cells' archives), or one proven cell of a node whose data is
    /// in chunks. The researcher must be the query's. Each is read by [`Coordinator::archived`], so the
    /// hub holds one message or one cell's parts at a time (`GET /v1/queries/{id}/proofs` streams them).
    pub async fn archive_sources(&self, query_id: Uuid, researcher: &str) -> Result<Vec<ArchiveSource>, HubError> {
        let record = self.inner.store.query(query_id).await?.filter(|r| r.researcher == researcher);
        let record = record.ok_or(HubError::NotFound(query_id))?;
        let mut out = Vec::new();
        for part in self.inner.store.parts(query_id).await? {
            let (NodeState::Answered { answer }, Some(ProofState::Proven { .. })) = (&part.state, &part.proof) else {
                continue;
            };
            let Ok(plan) = Population::of(&record, answer, now()).and_then(|p| p.plan(&record.query)) else {
                continue;
            };
            let claims: Vec<Option<agora_zk::Claim>> =
                claims(query_id, &record.query, answer, &plan).into_iter().map(|(_, c)| c.ok()).collect();
            // The message that proved the answer, or over chunks each proven cell from its runs.
            if self.inner.store.has_proof_envelope(query_id, &part.peer_id).await? {
                out.push(ArchiveSource::Message { peer: part.peer_id, claims });
                continue;
            }
            for (index, _) in self.inner.store.proven_cells(query_id, &part.peer_id).await? {
                if let Some(Some(claim)) = claims.get(index) {
                    out.push(ArchiveSource::Cell { peer: part.peer_id.clone(), index, claim: claim.clone() });
                }
            }
        }
        Ok(out)
    }

    /// The archived answers of one [`ArchiveSource`].
    pub async fn archived(&self, query_id: Uuid, source: &ArchiveSource) -> Result<Vec<Archived>, HubError> {
        match source {
            ArchiveSource::Message { peer, claims } => {
                let Some(envelope) = self.inner.store.proof_envelope(query_id, peer).await? else {
                    return Ok(Vec::new());
                };
                let Some(ProofOutcome::Proven { commitment, cells, .. }) = outcome_of(&envelope) else {
                    return Ok(Vec::new());
                };
                let zk = zk_commitment(&commitment);
                Ok(claims
                    .iter()
                    .zip(&cells)
                    .filter_map(|(claim, cell)| {
                        let claim = claim.as_ref()?;
                        Some(Archived::One(ArchivedAnswer::with_proof(zk.clone(), claim, cell.proof.clone())))
                    })
                    .collect())
            }
            ArchiveSource::Cell { peer, index, claim } => {
                let whole = self.inner.store.proven_cell(query_id, peer, *index).await?;
                let cell = match whole {
                    Some(Some(envelope)) => match outcome_of(&envelope) {
                        Some(ProofOutcome::Chunked { commitment, cell, .. }) => Some((commitment, cell)),
                        _ => None,
                    },
                    Some(None) => self.cell_of_runs(query_id, peer, *index, true).await.map_err(HubError::Store)?,
                    None => None,
                };
                Ok(cell
                    .map(|(commitment, cell)| Archived::Chunked(archived_chunked(&commitment, claim, &cell)))
                    .into_iter()
                    .collect())
            }
        }
    }

    /// Handles inbound messages until cancelled.
    /// Each message is handled on its own task; a proof message only while fewer than
    /// [`CoordinatorConfig::proof_handlers`] are held, else it is refused at once as busy (the node keeps
    /// it and sends it again), so the proof messages the hub holds stay bounded however many nodes send.
    pub async fn serve_inbound(self, mut rx: mpsc::Receiver<Inbound>) {
        loop {
            tokio::select! {
                _ = self.inner.cancel.cancelled() => break,
                msg = rx.recv() => match msg {
                    Some(m @ Inbound::Request { request: WireRequest::Proof(_), .. }) => {
                        match self.inner.proof_handlers.clone().try_acquire_owned() {
                            Ok(permit) => {
                                let this = self.clone();
                                tokio::spawn(async move {
                                    let _permit = permit;
                                    this.handle(m).await
                                });
                            }
                            Err(_) => {
                                let Inbound::Request { peer, channel, .. } = m else { unreachable!() };
                                info!(target: "hub::net", %peer, "proof message refused: the hub holds as many as it may");
                                let busy = WireResponse::Error { message: HUB_BUSY.into() };
                                let net = self.inner.net.clone();
                                tokio::spawn(async move { net.respond(channel, busy).await });
                            }
                        }
                    }
                    Some(m) => {
                        let this = self.clone();
                        tokio::spawn(async move { this.handle(m).await });
                    }
                    None => break,
                }
            }
        }
    }
}

/// Where archived answers come from ([`Coordinator::archive_sources`]).
#[derive(Debug, Clone)]
pub enum ArchiveSource {
    /// A node's proof message: an archived answer per cell whose claim the hub could build.
    Message {
        /// The node.
        peer: String,
        /// Each cell's claim, in the answer's order.
        claims: Vec<Option<agora_zk::Claim>>,
    },
    /// A proven cell over a node's chunks.
    Cell {
        /// The node.
        peer: String,
        /// The cell's place in the answer.
        index: usize,
        /// Its claim.
        claim: agora_zk::Claim,
    },
}

/// The refusal for a store error: the database failing (unreachable, busy) may pass, so it ends with
/// [`RETRY_LATER`] and the node keeps the message and sends it again; a malformed stored value will not,
/// and is final.
fn later(e: StoreError) -> String {
    let transient = match &e {
        StoreError::Db(
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed,
        ) => true,
        // SQLite busy or locked; PostgreSQL's transaction rollbacks (40…), resources (53…), operator
        // interventions (57…) and connections (08…).
        StoreError::Db(sqlx::Error::Database(db)) => db.code().is_some_and(|c| {
            matches!(c.as_ref(), "5" | "6" | "261" | "262" | "517" | "518")
                || ["40", "53", "57", "08"].iter().any(|class| c.starts_with(class))
        }),
        _ => false,
    };
    if transient {
        format!("{e}; {RETRY_LATER}")
    } else {
        e.to_string()
    }
}

/// The refusal when the hub is stopping (its verification permits closed): the node sends it again.
fn stopping(e: tokio::sync::AcquireError) -> String {
    format!("the hub's verifications are closed ({e}); {RETRY_LATER}")
}

/// A proof check that did not finish: one that panicked would panic again on the same message, so the
/// answer is settled unproven with the reason (the node is not at fault: not failed); a check cancelled
/// (the runtime stopping) is refused for the node to send again.
fn panicked(e: tokio::task::JoinError) -> Result<ProofState, String> {
    if e.is_panic() {
        warn!(target: "hub::query", %e, "a proof check panicked: the answer is left unproven");
        Ok(ProofState::Unproven { reason: "the hub's proof check failed on this proof".into() })
    } else {
        Err(format!("the proof check did not run: {e}; {RETRY_LATER}"))
    }
}

/// Holds a proof message's place among the checks in progress (`Inner::proving`), given up on drop
/// (also if the check panics), so a later copy is never refused for a check that ended.
struct Checking<'a> {
    proving: &'a Mutex<HashSet<ProofCheck>>,
    key: ProofCheck,
}

impl Drop for Checking<'_> {
    fn drop(&mut self) {
        self.proving.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
    }
}

/// What a kept signed proof message says (`None` if it cannot be read).
fn outcome_of(envelope: &str) -> Option<ProofOutcome> {
    let signed = serde_json::from_str::<Signed<ProofMessage>>(envelope).ok()?;
    Some(serde_json::from_str::<ProofMessage>(&signed.body).ok()?.outcome)
}

/// Checks a node's signed statement: signature, signer, query id, and the answer's own id.
/// What an answer is checked against: the query, its purpose and when the hub sent it.
struct AnswerScope {
    query: Query,
    purpose: Option<String>,
    submitted_at: i64,
}

fn check_answer(
    env: &Signed<AnswerMessage>,
    peer: PeerId,
    query_id: Uuid,
    scope: Option<&AnswerScope>,
) -> Result<NodeState, String> {
    let v = env.verify().map_err(|e| format!("answer failed verification: {e}"))?;
    if v.signer != peer {
        return Err("answer is signed by a key other than the answering node's".into());
    }
    if v.payload.header.query_id != query_id {
        return Err("answer is for another query".into());
    }
    v.payload.header.check(now(), 24 * 3600).map_err(|e| format!("answer header: {e}"))?;
    Ok(match v.payload.outcome {
        Outcome::Answered { answer } => {
            if answer.query_id != query_id {
                return Err("answer body is for another query".into());
            }
            if let Some(scope) = scope {
                answer.check_shape(&scope.query).map_err(|e| format!("answer does not fit the query: {e}"))?;
                // Whom it counts: everyone, or those consenting to the query's purpose at a time between
                // the query's sending and the answer's signing.
                let latest = v.payload.header.issued_at;
                Population::stated(scope.purpose.as_deref(), scope.submitted_at, &answer, latest)?;
            }
            NodeState::Answered { answer }
        }
        Outcome::Held => NodeState::Held,
        Outcome::Rejected { rejection } => NodeState::Rejected { rejection },
    })
}

/// The proof criterion of a plan's literal (the hub derives every claim's criteria from its own plan).
pub fn criterion(l: &agora_protocol::proof::Literal) -> Criterion {
    Criterion { code: l.code, negated: l.negated, or_previous: l.or_previous, min: l.min, max: l.max }
}

/// The largest proof message accepted: up to `MAX_PROOFS_PER_ANSWER` proofs (or a run of
/// `MAX_PARTS_PER_MESSAGE` parts with a chunk list of up to `MAX_CHUNKS_PER_DATASET`) of at most 250 KB (the
/// format's target; 148–163 KB at 2^20 rows, and `agora_zk::format::MAX_AUX_WIDTH` keeps the widest
/// statement under it at every trace length: 197 KB at 2^20, 219 KB at 2^22, BENCHMARKS.md), each a
/// third larger in base64, below the wire's 4 MiB frame. (Before archive format 5 the widest proofs
/// were 252 KB at 2^21 rows and 263 KB at 2^22, and an answer of eleven of those exceeded it.)
pub const MAX_PROOF_MESSAGE: usize = 3648 << 10;

/// Whom a node's answer counts, as the answer says ([`NodeAnswer::consented`]): every patient, or only
/// those whose consent to the query's purpose was active through the UTC day the node ran the query on
/// (`agora_protocol::proof::consent_cutoff`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Population {
    /// Every patient the node holds.
    Everyone,
    /// The patients consenting to `purpose` through the UTC day of `at` (Unix seconds).
    ConsentedTo {
        /// The query's purpose.
        purpose: String,
        /// When the node ran the query.
        at: i64,
    },
}

impl Population {
    /// The population `answer` states for the query of `record`, checked at `now`: as
    /// [`Population::stated`] (the answer itself was checked when it arrived, up to its own signing).
    pub fn of(record: &QueryRecord, answer: &NodeAnswer, now: i64) -> Result<Population, String> {
        Population::stated(record.purpose.as_deref(), record.submitted_at, answer, now)
    }

    /// The population `answer` states for a query of `purpose` sent at `submitted_at`: only that
    /// purpose, at a time between `submitted_at` and `latest` (the answer's signing, or a later check),
    /// each within the allowed clock difference, so no consent that had ended before the query was sent
    /// is counted and the time is the query's run.
    pub fn stated(
        purpose: Option<&str>,
        submitted_at: i64,
        answer: &NodeAnswer,
        latest: i64,
    ) -> Result<Population, String> {
        let Some(c) = &answer.consented else { return Ok(Population::Everyone) };
        if purpose != Some(c.purpose.as_str()) {
            return Err("the answer counts patients consenting to another purpose than the query's".into());
        }
        let skew = agora_protocol::envelope::CLOCK_SKEW_SECS;
        if c.at < submitted_at - skew || c.at > latest + skew {
            return Err(format!(
                "the answer counts consents active at {}, outside the query's time (sent at {submitted_at}, \
                 answered by {latest})",
                c.at
            ));
        }
        Ok(Population::ConsentedTo { purpose: c.purpose.clone(), at: c.at })
    }

    /// The hub's plan of `query` over this population.
    pub fn plan(&self, query: &agora_protocol::Query) -> Result<Plan, String> {
        let plan = plan_or_reason(query)?;
        match self {
            Population::Everyone => Ok(plan),
            Population::ConsentedTo { purpose, at } => plan.consented(purpose, *at),
        }
    }
}

/// Why this hub cannot check proofs of `statement` (a node's name for what its proofs state), or
/// `None` when it is this hub's own or unnamed. A node and a hub of different releases may prove and
/// check different statements; the answer then stays unproven, saying so, rather than failing as
/// forged. Nodes older than the name send none: their proofs are checked as before (they may well be
/// of this hub's statement), and a failure says what the name would have told
/// ([`with_statement_hint`]).
pub fn statement_mismatch(statement: &str) -> Option<String> {
    let ours = agora_zk::archive::ARCHIVE_FORMAT;
    if statement == ours || statement.is_empty() {
        return None;
    }
    let statement: String = statement.chars().filter(|c| !c.is_control()).take(60).collect();
    Some(format!("the node proves {statement} and this hub checks {ours}: run the same release on both"))
}

/// `state` of proofs naming `statement`, a failure of unnamed ones (a node older than the name)
/// saying that an older release may prove another statement.
pub fn with_statement_hint(statement: &str, state: ProofState) -> ProofState {
    match state {
        ProofState::Failed { reason } if statement.is_empty() => ProofState::Failed {
            reason: format!(
                "{reason}; the node's proofs name no statement: a release older than this hub's may prove \
                 another than {}, upgrade the node",
                agora_zk::archive::ARCHIVE_FORMAT
            ),
        },
        state => state,
    }
}

/// Checks a node's proofs of its answer: one per target of the hub's own plan of the query (over the
/// population the node says it counted), each against the claim the answer itself makes, over the
/// commitment the node signed.
pub fn check_proofs(
    query_id: Uuid,
    query: &agora_protocol::Query,
    answer: &NodeAnswer,
    commitment: &DatasetCommitment,
    cells: &[ProvenCell],
    population: Result<Population, String>,
) -> ProofState {
    let failed = |reason: String| ProofState::Failed { reason };
    let (population, claims) = match checked_claims(query_id, query, answer, commitment, population, false) {
        Ok(checked) => checked,
        Err(state) => return state,
    };
    if cells.len() != claims.len() || claims.iter().zip(cells).any(|((t, _), c)| t.part != c.part || t.group != c.group)
    {
        return failed(format!(
            "{} proofs for an answer with {} cells to prove (the whole cohort and each released group)",
            cells.len(),
            claims.len()
        ));
    }
    let zk = zk_commitment(commitment);
    for ((target, claim), cell) in claims.into_iter().zip(cells) {
        let what = format!("{} ({})", part_name(target.part), target.group);
        let claim = match claim {
            Ok(claim) => claim,
            Err(e) => return failed(format!("{what}: {e}")),
        };
        let proof = match base64::engine::general_purpose::STANDARD.decode(&cell.proof) {
            Ok(p) => p,
            Err(e) => return failed(format!("the proof is not base64: {e}")),
        };
        if let Err(e) = agora_zk::verify_claim(&zk, &claim, &proof) {
            return failed(format!("{what}: {e}"));
        }
    }
    proven(commitment, population)
}

/// A proof's verdict over `commitment`, for `population`.
fn proven(commitment: &DatasetCommitment, population: Population) -> ProofState {
    ProofState::Proven {
        root: commitment.root.clone(),
        data_version: commitment.data_version,
        committed_before_query: false,
        consented_to: match population {
            Population::Everyone => None,
            Population::ConsentedTo { purpose, .. } => Some(purpose),
        },
    }
}

/// What an answer's proofs must show, checked before any is read: the hub's own plan of the query over
/// the population the node says it counted, a whole-cohort row first, proofs over the answer's data
/// version, and a commitment in chunks (whose root names its list) exactly when the proofs are
/// `over_chunks`. `Err` is the answer's proof state (failed, or unproven when the plan has none).
fn checked_claims(
    query_id: Uuid,
    query: &agora_protocol::Query,
    answer: &NodeAnswer,
    commitment: &DatasetCommitment,
    population: Result<Population, String>,
    over_chunks: bool,
) -> Result<(Population, Vec<TargetClaim>), ProofState> {
    let failed = |reason: String| ProofState::Failed { reason };
    match (over_chunks, commitment.chunks.is_empty()) {
        (false, false) => {
            return Err(failed("the dataset is committed in chunks: its proofs come in runs of a cell's parts".into()))
        }
        (true, true) => return Err(failed("a proof over chunks names a dataset without chunks".into())),
        (true, false) => commitment.check_chunks().map_err(|e| failed(format!("the dataset's commitment: {e}")))?,
        (false, true) => {}
    }
    let population = population.map_err(failed)?;
    let plan = population.plan(query).map_err(|reason| ProofState::Unproven { reason })?;
    let claims = claims(query_id, query, answer, &plan);
    if claims.first().is_none_or(|(t, _)| !t.group.is_total()) {
        return Err(failed("the answer has no whole-cohort row".into()));
    }
    if commitment.data_version != answer.data_version {
        return Err(failed(format!(
            "the proof is over data version {}, the answer over {}",
            commitment.data_version, answer.data_version
        )));
    }
    Ok((population, claims))
}

/// The claim cell `index` (of `cells`) of an answer over a dataset in chunks must show, with its name:
/// the commitment names its chunk list, the cell is the plan's `index`-th of `cells` (as many as the
/// plan has) and the one `cell` says it is. `Err` is the answer's proof state.
#[allow(clippy::too_many_arguments)]
fn chunked_claim(
    query_id: Uuid,
    query: &agora_protocol::Query,
    answer: &NodeAnswer,
    commitment: &DatasetCommitment,
    (index, cells): (usize, usize),
    cell: &ChunkedCell,
    population: Result<Population, String>,
) -> Result<(Claim, String, Population), ProofState> {
    let failed = |reason: String| ProofState::Failed { reason };
    let (population, claims) = checked_claims(query_id, query, answer, commitment, population, true)?;
    if cells != claims.len() {
        return Err(failed(format!("{cells} cells stated for an answer with {} cells to prove", claims.len())));
    }
    let Some((target, claim)) = claims.into_iter().nth(index) else {
        return Err(failed(format!("cell {index} of an answer with {cells} cells to prove")));
    };
    let what = format!("{} ({})", part_name(target.part), target.group);
    if target.part != cell.part || target.group != cell.group {
        return Err(failed(format!("cell {index} is the plan's {what}, not the one proven")));
    }
    let claim = claim.map_err(|e| failed(format!("{what}: {e}")))?;
    Ok((claim, what, population))
}

/// Checks a run of one cell's parts of an answer over a dataset committed in chunks
/// ([`ProofOutcome::Chunked`]): the cell is the plan's (as [`check_chunked_links`] says), the run holds
/// one to [`MAX_PARTS_PER_MESSAGE`] parts within the dataset's chunks, and each part's proof shows its
/// masked outputs over its chunk, for the claim the answer makes for that cell (agora-zk's
/// `verify_chunk`, each part built as the archive form auditors check builds it). `Proven` says these
/// parts verified; the cell is proven once [`check_chunked_links`] passes over all of them.
pub fn check_chunked_run(
    query_id: Uuid,
    query: &agora_protocol::Query,
    answer: &NodeAnswer,
    commitment: &DatasetCommitment,
    at: (usize, usize),
    run: &ChunkedCell,
    population: Result<Population, String>,
) -> ProofState {
    let failed = |reason: String| ProofState::Failed { reason };
    let (claim, what, population) = match chunked_claim(query_id, query, answer, commitment, at, run, population) {
        Ok(checked) => checked,
        Err(state) => return state,
    };
    let chunks = commitment.chunks.len();
    let end = run.first.checked_add(run.parts.len()).filter(|end| *end <= chunks);
    let Some(end) = end.filter(|_| (1..=MAX_PARTS_PER_MESSAGE).contains(&run.parts.len())) else {
        return failed(format!(
            "{what}: a run of {} parts from part {}, for a dataset of {chunks} chunks (1 to {MAX_PARTS_PER_MESSAGE} \
             parts a message)",
            run.parts.len(),
            run.first
        ));
    };
    let dataset = zk_chunks(commitment);
    if let Err(e) = agora_zk::verify::check_dataset(&claim, &dataset) {
        return failed(format!("{what}: {e}"));
    }
    // The parts as built until the first that cannot be, their proofs verified on the machine's cores
    // (`verify_chunks`): the first part that fails, in order, is the one reported, as in turn.
    let mut parts = Vec::with_capacity(run.parts.len());
    let mut unbuilt = None;
    for (i, p) in (run.first..end).zip(&run.parts) {
        match archived_part(p).part(&claim, &dataset, i, true) {
            Ok(part) => parts.push(part),
            Err(e) => {
                unbuilt = Some((i, e));
                break;
            }
        }
    }
    let threads = agora_zk::verify::verifying_threads(parts.len()).clamp(1, VERIFYING);
    if let Err((k, e)) = agora_zk::verify::verify_chunks(&parts, threads) {
        return failed(format!("{what}: part {}: {e}", run.first + k));
    }
    if let Some((i, e)) = unbuilt {
        return failed(format!("{what}: part {i}: {e}"));
    }
    proven(commitment, population)
}

/// Checks one whole cell of an answer over a dataset committed in chunks, its parts' proofs verified
/// already ([`check_chunked_run`]) and not read here: the commitment names its chunk list, the cell is
/// the plan's `index`-th of `cells` (as many as the plan has), and its parts (one per chunk, in order)
/// link and add up to the claim the answer makes for that cell (agora-zk's `check_linked`). `Proven`
/// says this cell is; the answer is proven when every cell is.
pub fn check_chunked_links(
    query_id: Uuid,
    query: &agora_protocol::Query,
    answer: &NodeAnswer,
    commitment: &DatasetCommitment,
    at: (usize, usize),
    cell: &ChunkedCell,
    population: Result<Population, String>,
) -> ProofState {
    let failed = |reason: String| ProofState::Failed { reason };
    let (claim, what, population) = match chunked_claim(query_id, query, answer, commitment, at, cell, population) {
        Ok(checked) => checked,
        Err(state) => return state,
    };
    let dataset = zk_chunks(commitment);
    if cell.first != 0 {
        return failed(format!("{what}: a whole cell's parts start at part 0, not {}", cell.first));
    }
    if cell.parts.len() != dataset.len() {
        return failed(format!("{what}: {} parts for a dataset of {} chunks", cell.parts.len(), dataset.len()));
    }
    let parts = cell.parts.iter().enumerate().map(|(i, p)| archived_part(p).part(&claim, &dataset, i, false));
    let checked =
        parts.collect::<Result<Vec<_>, _>>().and_then(|parts| agora_zk::verify::check_linked(&claim, &dataset, &parts));
    if let Err(e) = checked {
        return failed(format!("{what}: {e}"));
    }
    proven(commitment, population)
}

/// The chunks of a dataset in chunks, as agora-zk's commitments.
fn zk_chunks(commitment: &DatasetCommitment) -> Vec<agora_zk::format::Commitment> {
    (commitment.chunks.iter())
        .map(|c| agora_zk::format::Commitment {
            version: commitment.version,
            trace_length: c.trace_length,
            root: c.root.clone(),
        })
        .collect()
}

/// A part as archived (its proof in base64, as sent).
fn archived_part(p: &ChunkProof) -> ArchivedPart {
    ArchivedPart {
        count: p.count,
        sum: p.sum,
        link: agora_zk::air::ChunkLink {
            prev: p.link.prev,
            next: p.link.next,
            total: p.link.total,
            squares: p.link.squares,
            squares_total: p.link.squares_total,
        },
        proof: p.proof.clone(),
    }
}

/// A cell's proof over chunks in the archive form `agora-zk verify` checks, with the hub's own claim.
fn archived_chunked(commitment: &DatasetCommitment, claim: &Claim, cell: &ChunkedCell) -> ArchivedChunkedAnswer {
    ArchivedChunkedAnswer {
        format: agora_zk::archive::CHUNKED_FORMAT.into(),
        dataset: zk_chunks(commitment),
        claim: ArchivedClaim::of(claim),
        parts: cell.parts.iter().map(archived_part).collect(),
    }
}

/// Whether this hub can read a node's commitment: one snapshot's in agora-zk's format, or a chunk list
/// its root names with every chunk's in the format.
fn readable(c: &DatasetCommitment) -> Result<(), String> {
    if c.chunks.is_empty() {
        return zk_commitment(c).root_bytes().map(|_| ()).map_err(|e| e.to_string());
    }
    c.check_chunks()?;
    for zk in zk_chunks(c) {
        zk.root_bytes().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Why the node will not prove `answer`, known from the plan before its proof message says so: a cell
/// whose statement, disclosed or suppressed, is wider than the format allows (the node refuses such an
/// answer before proving any cell, with the same reason, `agora_zk::air::check_cell_width`).
fn too_wide(record: &QueryRecord, answer: &NodeAnswer) -> Option<String> {
    let plan = Population::of(record, answer, now()).ok()?.plan(&record.query).ok()?;
    plan.targets(answer).into_iter().find_map(|t| {
        let criteria: Vec<Criterion> = t.criteria.iter().map(criterion).collect();
        let squares = matches!(t.cell, Expected::Moments { sum_sq: Some(_), .. });
        let range = t.measure_range.map(|(min, max)| agora_zk::air::Range { min, max });
        let width = agora_zk::air::check_cell_width(&criteria, t.measure.is_some(), squares, range).err()?;
        Some(format!("{} ({}): {width}", part_name(t.part), t.group))
    })
}

/// How a proven part is named in reasons.
fn part_name(part: ProvenPart) -> String {
    match part {
        ProvenPart::Patients => "patients".into(),
        ProvenPart::Moments => "moments".into(),
        ProvenPart::Bin(i) => format!("histogram bin {i}"),
    }
}

/// agora-zk's view of a node's published commitment (without the data version it covers).
fn zk_commitment(c: &DatasetCommitment) -> agora_zk::format::Commitment {
    agora_zk::format::Commitment { version: c.version, trace_length: c.trace_length, root: c.root.clone() }
}

/// A target of the plan and what the answer claims for it (or why no committed data could give it).
type TargetClaim = (Target, Result<Claim, String>);

/// What an answer claims for each target of the plan, as the statement its proof must show: the
/// criteria and measure from the plan, the count and sum (or the threshold they are below) from the
/// answer's cell, the digest of the query. A cell no committed data could give is an error.
fn claims(query_id: Uuid, query: &agora_protocol::Query, answer: &NodeAnswer, plan: &Plan) -> Vec<TargetClaim> {
    let digest = query_digest(query_id, query);
    plan.targets(answer)
        .into_iter()
        .map(|target| {
            let claim = target.outputs().map(|outputs| Claim {
                query: digest,
                criteria: target.criteria.iter().map(criterion).collect(),
                measure: target.measure,
                count: outputs.map_or(0, |o| o.count),
                sum: outputs.map_or(0, |o| o.sum),
                sum_sq: outputs.and_then(|o| o.sum_sq),
                measure_range: target.measure_range.map(|(min, max)| agora_zk::air::Range { min, max }),
                suppressed_below: outputs.is_none().then_some(answer.threshold),
            });
            (target, claim)
        })
        .collect()
}

fn status_of(parts: &[NodePart]) -> ResultStatus {
    if parts.iter().any(|p| matches!(p.state, NodeState::Waiting)) {
        ResultStatus::Running
    } else if parts.iter().any(|p| matches!(p.state, NodeState::Held | NodeState::NoAnswer { .. })) {
        ResultStatus::Partial
    } else {
        ResultStatus::Complete
    }
}

/// Builds the researcher's view: the combination of the verified answers whose proof did not fail,
/// and every node's part with its proof state.
pub fn assemble(record: QueryRecord, parts: Vec<NodePart>) -> CombinedResult {
    assemble_with(record, parts, false)
}

/// As [`assemble`]; with `proven_only`, the combination holds only answers whose proof verified (pending
/// and unproven ones are listed but not added).
pub fn assemble_with(record: QueryRecord, parts: Vec<NodePart>, proven_only: bool) -> CombinedResult {
    let unprovable = plan_or_reason(&record.query).err();
    let nodes: Vec<NodeReport> = parts
        .into_iter()
        .map(|p| {
            let proof = match (&p.state, p.proof) {
                (NodeState::Answered { .. }, Some(proof)) => Some(proof),
                (NodeState::Answered { answer }, None) => {
                    Some(match unprovable.clone().or_else(|| too_wide(&record, answer)) {
                        None => ProofState::Pending,
                        Some(reason) => ProofState::Unproven { reason },
                    })
                }
                _ => None,
            };
            NodeReport { node: p.peer_id, name: p.node_name, state: p.state, proof }
        })
        .collect();
    let answers: Vec<&NodeAnswer> = nodes
        .iter()
        .filter(|n| match &n.proof {
            Some(ProofState::Failed { .. }) => false,
            Some(ProofState::Proven { .. }) => true,
            _ => !proven_only,
        })
        .filter_map(|n| match &n.state {
            NodeState::Answered { answer } => Some(answer),
            _ => None,
        })
        .collect();
    let unit = answers.iter().find_map(|a| a.unit.clone());
    let rows = combine(&answers);
    let proofs = ProofSummary::of(&nodes);
    CombinedResult {
        query_id: record.query_id,
        query: record.query,
        researcher: record.researcher,
        status: record.status,
        unit,
        rows,
        nodes,
        proofs,
        proven_only,
    }
}

/// One wait for a query's settling: its entry in the waiters' map is removed when the last waiter
/// leaves, however it leaves (settled, timed out, the query unknown or another researcher's). Without
/// it a wait that ended otherwise than by a settling left its entry behind: any signed-in researcher
/// asking for random ids grew the map by one each time.
struct Waiting<'a> {
    waiters: &'a Mutex<HashMap<Uuid, Arc<Notify>>>,
    query_id: Uuid,
    notify: Arc<Notify>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut waiters = self.waiters.lock().expect("waiters lock");
        // Clones are taken under this lock: the map's and ours only means nobody else waits.
        let last = waiters.get(&self.query_id).is_some_and(|n| Arc::ptr_eq(n, &self.notify))
            && Arc::strong_count(&self.notify) == 2;
        if last {
            waiters.remove(&self.query_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passing_store_errors_are_sent_again() {
        assert!(later(StoreError::Db(sqlx::Error::PoolTimedOut)).ends_with(RETRY_LATER));
        assert!(later(StoreError::Db(sqlx::Error::Io(std::io::Error::other("reset")))).ends_with(RETRY_LATER));
        assert!(!later(StoreError::Db(sqlx::Error::RowNotFound)).ends_with(RETRY_LATER));
        let corrupt = later(StoreError::Corrupt { what: "answer", detail: "EOF".into() });
        assert_eq!(corrupt, "hub store holds a malformed answer: EOF", "final");
    }

    /// A node admitted at its hello whose credential is revoked while it stays connected: the next
    /// query leaves it out, and it leaves the registry (it was sent every query until it reconnected).
    #[tokio::test]
    async fn a_node_whose_credential_is_revoked_is_sent_no_more_queries() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display());
        let store = HubStore::connect(&url).await.unwrap();
        let key = libp2p::identity::Keypair::generate_ed25519();
        let identity = agora_did::identity::identity_of_keypair(&key).unwrap();
        let authority = Authority::new(identity, None, "https://hub.agora.test", store.clone(), false).unwrap();
        let (_task, net, _inbound, _addr) =
            crate::net::listen(key.clone(), "/ip4/127.0.0.1/tcp/0", Duration::from_secs(5)).await.unwrap();
        let cfg = CoordinatorConfig {
            deadline: Duration::from_secs(2),
            ttl_secs: 60,
            allowed_nodes: Default::default(),
            max_inflight: 8,
            proof_handlers: PROOF_HANDLERS,
        };
        let hub = Coordinator::new(store, net, key, authority.clone(), cfg, CancellationToken::new());
        let (kept, revoked) =
            (libp2p::identity::Keypair::generate_ed25519(), libp2p::identity::Keypair::generate_ed25519());
        let claims = crate::authority::NodeClaims {
            name: "n".into(),
            institution: "i".into(),
            country: "NO".into(),
            query_kinds: vec!["count".into()],
        };
        let mut ids = Vec::new();
        for node in [&kept, &revoked] {
            let peer = node.public().to_peer_id();
            let format = agora_did::credential::CredentialFormat::DataIntegrity;
            let (id, vc) = authority.issue_node(&peer, &claims, 30, format).await.unwrap();
            let admission = authority.admit_node(&peer, Some(&vc)).await.unwrap();
            let admitted =
                Admitted { name: peer.to_string(), query_kinds: admission.query_kinds, credential: Some(vc) };
            hub.inner.registry.write().unwrap().insert(peer, admitted);
            ids.push(id);
        }
        let query = Query {
            version: 1,
            cohort: agora_protocol::Cohort::Everyone,
            measure: None,
            aggregates: vec![agora_protocol::Aggregate::Count],
            group_by: Default::default(),
            reference_date: time::macros::date!(2026 - 01 - 01),
        };
        assert_eq!(hub.admitted_for(&query).await.len(), 2);
        authority.revoke(&ids[1]).await.unwrap();
        let sent: Vec<PeerId> = hub.admitted_for(&query).await.into_iter().map(|(p, _)| p).collect();
        assert_eq!(sent, [kept.public().to_peer_id()]);
        assert_eq!(hub.connected().len(), 1, "the revoked node left the registry");
    }

    #[tokio::test]
    async fn a_check_that_panicked_leaves_the_answer_unproven_and_a_cancelled_one_is_sent_again() {
        let e = tokio::task::spawn_blocking(|| -> ProofState { panic!("a check's bug") }).await.unwrap_err();
        assert_eq!(
            panicked(e),
            Ok(ProofState::Unproven { reason: "the hub's proof check failed on this proof".into() })
        );
        let task = tokio::spawn(std::future::pending::<ProofState>());
        task.abort();
        let e = task.await.unwrap_err();
        assert!(panicked(e).unwrap_err().ends_with(RETRY_LATER));
    }
}
