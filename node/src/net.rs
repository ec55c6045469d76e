//! The node's libp2p side. Hospital firewalls allow no inbound connections, so the node dials OUT to its
//! hub and keeps that connection up (reconnecting with exponential backoff). Over it the hub sends
//! queries; the node answers each through [`crate::service::QueryService`] on a bounded worker pool, and
//! delivers answers a data steward released later. It answers requests from its hub only.
//!
//! Deliveries and proof messages the node sends on its own are kept in the store's outbox
//! ([`crate::outbox`]) from the moment they are signed until the hub responds. One the hub did not take
//! is sent again after a delay (2 s, doubling to two minutes per message: [`Schedule`]), and so is one
//! the node still held when it stopped, once it runs again. A proof message is given up after
//! [`outbox::MAX_ATTEMPTS`] failed sends (a request that timed out or failed; not one whose connection
//! closed under it), within [`outbox::MAX_PROOF_BYTES`]; a delivery is kept until the hub takes it. A
//! refusal ending in `wire::RETRY_LATER` (the hub busy, a passing database error there, a proof arriving
//! before its answer or while a copy of it is being checked) counts no attempt; a proof message is kept
//! a week at most ([`outbox::MAX_PROOF_AGE_SECS`]). One whose signature's window has passed meanwhile is
//! signed again with a fresh header; one that no longer parses is not sent again (a proof message is
//! dropped, a delivery left in the store). The hub refuses a message it has already taken (the node's
//! part, or the proof, is settled), so a second copy of one that did arrive changes nothing but to
//! finish a settling the hub had cut short. An answer's proof is
//! recorded as owed before the answer leaves, and cleared with its last message: a node stopped in
//! between sends the hub the reason when it starts again.
//! At most [`MAX_KEPT_IN_FLIGHT`] kept messages are in flight at once, proof messages at most
//! [`MAX_PROOFS_IN_FLIGHT`] of them, and deliveries due go first, so a steward's released answer never
//! waits behind a backlog of proofs. This task touches the outbox
//! only through blocking tasks: it holds the messages in flight, and the ids of those waiting.

use crate::outbox::{self, Kind, MessageId};
use crate::service::QueryService;
use agora_protocol::envelope::Signed;
use agora_protocol::transport::{build_swarm, Behaviour, BehaviourEvent, TransportConfig};
use agora_protocol::wire::{AnswerMessage, Outcome, QueryRequest, WireRequest, WireResponse, RETRY_LATER};
use agora_protocol::NodeAnswer;
use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::{dial_opts::DialOpts, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// Errors of the node's network side.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Bad hub address.
    #[error(
        "hub address `{0}` must be a multiaddr ending in /p2p/<hub peer id>, e.g. /ip4/10.0.0.5/tcp/7000/p2p/12D3Koo…"
    )]
    HubAddress(String),
    /// Transport.
    #[error("cannot build the libp2p transport: {0}")]
    Transport(String),
}

/// The hub's address and peer id, parsed from `/…/p2p/<id>`.
pub fn parse_hub_address(addr: &str) -> Result<(Multiaddr, PeerId), NetError> {
    let mut ma: Multiaddr = addr.parse().map_err(|_| NetError::HubAddress(addr.into()))?;
    match ma.pop() {
        Some(Protocol::P2p(peer)) => Ok((ma, peer)),
        _ => Err(NetError::HubAddress(addr.into())),
    }
}

/// A message to send: its place in the outbox (`None` when it could not be kept there: it is sent
/// once), and the message.
type Outgoing = (Option<MessageId>, WireRequest);

/// A kept message read back to be sent again.
#[derive(Debug)]
enum Loaded {
    /// The message (signed again if its window had passed).
    Message(WireRequest),
    /// No longer kept (taken, given up, or unreadable and dropped).
    Gone,
    /// The store could not be read now: the message waits for its next turn.
    NotNow,
}
/// How often the task looks for kept messages due to be sent again, and a hello due again.
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// The most kept messages in flight at once (sent, or being read back to be sent): a backlog of proof
/// messages of a few MB each goes out a few at a time, not all within one request timeout.
pub const MAX_KEPT_IN_FLIGHT: usize = 4;
/// The most proof messages among them: one slot is always left to deliveries, so an answer a
/// researcher waits for never waits for a backlog of proofs the hub checks one by one.
pub const MAX_PROOFS_IN_FLIGHT: usize = MAX_KEPT_IN_FLIGHT - 1;

/// Which kept messages are in flight and which wait, until when: the network task's view of the
/// outbox (the messages themselves stay in the store). An id is known from the moment it is admitted
/// until the hub takes it or the outbox gives up on it; an id already known is not admitted again.
/// Deliveries take their turn before every proof message due, and proof messages never take the
/// last free slot.
#[derive(Debug, Default)]
struct Schedule {
    /// Kept messages sent and not yet responded to, or being read back to be sent.
    in_flight: usize,
    /// How many of those are proof messages.
    proofs_in_flight: usize,
    /// Kept messages waiting, each with the time it may be sent again.
    waiting: VecDeque<(MessageId, Instant)>,
    /// Every id known, and its kind.
    known: HashMap<MessageId, Kind>,
    /// How many times each message was sent again so far (its next delay doubles).
    retries: HashMap<MessageId, u32>,
}

impl Schedule {
    /// The delay before a message's `k`-th resend: 2 s doubling to two minutes.
    fn delay(k: u32) -> Duration {
        (RETRY_EVERY * 2u32.saturating_pow(k.min(6))).min(Duration::from_secs(120))
    }

    /// Whether a message of `kind` may take a slot now.
    fn room(&self, kind: Kind) -> bool {
        self.in_flight < MAX_KEPT_IN_FLIGHT && (kind == Kind::Delivery || self.proofs_in_flight < MAX_PROOFS_IN_FLIGHT)
    }

    fn take(&mut self, kind: Kind) {
        self.in_flight += 1;
        if kind == Kind::Proof {
            self.proofs_in_flight += 1;
        }
    }

    /// Frees the slot `id` held.
    fn free(&mut self, id: MessageId) {
        debug_assert!(self.in_flight > 0, "a slot freed that was not taken");
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.known.get(&id) == Some(&Kind::Proof) {
            debug_assert!(self.proofs_in_flight > 0, "a proof's slot freed that was not taken");
            self.proofs_in_flight = self.proofs_in_flight.saturating_sub(1);
        }
    }

    /// A kept message to send: true to send it now (a slot is taken), false when it waits (not
    /// connected, or as many in flight as its kind may have) or is already known.
    fn admit(&mut self, id: MessageId, kind: Kind, connected: bool, now: Instant) -> bool {
        if self.known.contains_key(&id) {
            return false;
        }
        self.known.insert(id, kind);
        if connected && self.room(kind) {
            self.take(kind);
            return true;
        }
        self.waiting.push_back((id, now));
        false
    }

    /// The waiting messages due to be sent again, deliveries first and then proof messages (each
    /// oldest first), as many as slots are free; their slots are taken while they are read back.
    fn due(&mut self, connected: bool, now: Instant) -> Vec<MessageId> {
        let mut out = Vec::new();
        if !connected {
            return out;
        }
        for turn in [Kind::Delivery, Kind::Proof] {
            let mut later = VecDeque::new();
            while let Some((id, at)) = self.waiting.pop_front() {
                let kind = self.known.get(&id).copied().unwrap_or(Kind::Proof);
                if kind == turn && at <= now && self.room(kind) {
                    self.take(kind);
                    out.push(id);
                } else {
                    later.push_back((id, at));
                }
            }
            self.waiting = later;
        }
        out
    }

    /// A message in flight is answered for good, or read back as gone: its slot and id are free.
    fn done(&mut self, id: MessageId) {
        self.free(id);
        self.forget(id);
    }

    /// The outbox no longer keeps a message that was not in flight.
    fn forget(&mut self, id: MessageId) {
        self.known.remove(&id);
        self.retries.remove(&id);
    }

    /// A message in flight was not taken: its slot is free (whether it is kept, the outbox decides).
    fn unsent(&mut self, id: MessageId) {
        self.free(id);
    }

    /// A message read back to be sent finds the hub gone: it waits again, first, its slot free.
    fn put_back(&mut self, id: MessageId, now: Instant) {
        self.free(id);
        self.waiting.push_front((id, now));
    }

    /// The outbox keeps a message not taken: it waits for its next delay.
    fn again(&mut self, id: MessageId, now: Instant) {
        let k = self.retries.entry(id).or_insert(0);
        self.waiting.push_back((id, now + Self::delay(*k)));
        *k += 1;
    }
}

/// Reconnection backoff: 0.5 s doubling to 30 s, reset on a successful connection.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);
    fn take(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }
    fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

/// The network task.
pub struct NodeNet {
    swarm: Swarm<Behaviour>,
    hub: PeerId,
    hub_addr: Multiaddr,
    service: Arc<QueryService>,
    workers: Arc<Semaphore>,
    done_tx: mpsc::Sender<(ResponseChannel<WireResponse>, WireResponse)>,
    done_rx: mpsc::Receiver<(ResponseChannel<WireResponse>, WireResponse)>,
    /// New messages to send (kept in the outbox first, when they can be).
    deliver_tx: mpsc::Sender<Outgoing>,
    deliver_rx: mpsc::Receiver<Outgoing>,
    /// Kept messages read back to be sent ([`Loaded`]).
    loaded_tx: mpsc::Sender<(MessageId, Loaded)>,
    loaded_rx: mpsc::Receiver<(MessageId, Loaded)>,
    /// The outbox's verdict on a message not taken: still kept (to be sent again) or given up.
    kept_tx: mpsc::Sender<(MessageId, bool)>,
    kept_rx: mpsc::Receiver<(MessageId, bool)>,
    backoff: Backoff,
    connected: bool,
    /// Deliveries and proof messages sent and not yet responded to.
    in_flight: HashMap<OutboundRequestId, Option<MessageId>>,
    /// The kept messages in flight and waiting.
    schedule: Schedule,
    /// The last hello sent, and when one is due again after the hub did not take it.
    hello: Option<OutboundRequestId>,
    hello_due: Option<Instant>,
}

impl NodeNet {
    /// Prepares the task; nothing is dialled until [`NodeNet::run`].
    pub fn new(
        key: Keypair,
        hub_address: &str,
        service: Arc<QueryService>,
        workers: usize,
    ) -> Result<NodeNet, NetError> {
        let (hub_addr, hub) = parse_hub_address(hub_address)?;
        let cfg = TransportConfig {
            request_timeout: Duration::from_secs(60),
            max_concurrent_streams: 2048,
            agent: format!("agora-node/{}", env!("CARGO_PKG_VERSION")),
        };
        let swarm = build_swarm(key, &cfg).map_err(|e| NetError::Transport(e.to_string()))?;
        let (done_tx, done_rx) = mpsc::channel(1024);
        // A proof message is up to about 3 MB: few wait ahead of sending.
        let (deliver_tx, deliver_rx) = mpsc::channel(8);
        let (loaded_tx, loaded_rx) = mpsc::channel(MAX_KEPT_IN_FLIGHT);
        let (kept_tx, kept_rx) = mpsc::channel(1024);
        Ok(NodeNet {
            swarm,
            hub,
            hub_addr,
            service,
            workers: Arc::new(Semaphore::new(workers.max(1))),
            done_tx,
            done_rx,
            deliver_tx,
            deliver_rx,
            loaded_tx,
            loaded_rx,
            kept_tx,
            kept_rx,
            backoff: Backoff { next: Backoff::MIN },
            connected: false,
            in_flight: HashMap::new(),
            schedule: Schedule::default(),
            hello: None,
            hello_due: None,
        })
    }

    fn dial(&mut self) {
        let opts = DialOpts::peer_id(self.hub).addresses(vec![self.hub_addr.clone()]).build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!(target: "node::net", %e, "dial failed at once");
        }
    }

    /// Runs until cancelled: keeps the hub connection up and serves its queries.
    pub async fn run(mut self, cancel: CancellationToken) {
        self.kept_from_before().await;
        self.dial();
        let redial = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(redial);
        let mut approvals = tokio::time::interval(Duration::from_millis(500));
        approvals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retries = tokio::time::interval(RETRY_EVERY);
        retries.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A newly committed snapshot is registered at the hub by a fresh hello.
        let mut commits = self.service.prover().map(|p| p.commits());
        loop {
            let committed = async {
                match commits.as_mut() {
                    Some(rx) => rx.changed().await.ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(()) = committed => {
                    if self.connected {
                        self.say_hello();
                    }
                }
                _ = &mut redial, if !self.connected => {
                    self.dial();
                    redial.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(3600));
                }
                Some((channel, response)) = self.done_rx.recv() => {
                    if self.swarm.behaviour_mut().rr.send_response(channel, response).is_err() {
                        debug!(target: "node::net", "the hub closed the stream before the answer was sent");
                    }
                }
                Some((id, req)) = self.deliver_rx.recv() => self.send_new(id, req),
                Some((id, req)) = self.loaded_rx.recv() => self.send_loaded(id, req),
                Some((id, kept)) = self.kept_rx.recv() => {
                    if kept {
                        self.schedule.again(id, Instant::now());
                    } else {
                        self.schedule.forget(id);
                    }
                    // The slot it held may go to another message due.
                    self.resend();
                }
                _ = approvals.tick(), if self.connected => self.deliver_approved(),
                _ = retries.tick(), if self.connected => {
                    if self.hello_due.is_some_and(|at| at <= Instant::now()) {
                        self.say_hello();
                    }
                    self.resend();
                }
                ev = self.swarm.select_next_some() => {
                    if let Some(delay) = self.event(ev) {
                        redial.as_mut().reset(tokio::time::Instant::now() + delay);
                    }
                }
            }
        }
        info!(target: "node::net", "network task stopped");
    }

    /// Messages the outbox still held when the node started wait to be sent again (read before the
    /// first dial, so that none is admitted twice).
    async fn kept_from_before(&mut self) {
        // A store busy at start (an ingest writing) is waited for a few times (15 s in all).
        let mut owed_settled = false;
        for wait in [0, 1, 2, 4, 8] {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            if !owed_settled {
                let service = self.service.clone();
                match tokio::task::spawn_blocking(move || service.settle_owed_proofs()).await {
                    Ok(Ok(n)) => {
                        owed_settled = true;
                        if n > 0 {
                            warn!(target: "node::net", answers = n, "proofs cut short when the node stopped: the hub is told why");
                        }
                    }
                    Ok(Err(e)) => warn!(target: "node::net", %e, "cannot read the proofs owed"),
                    Err(e) => warn!(target: "node::net", %e, "outbox reader failed"),
                }
            }
            let service = self.service.clone();
            match tokio::task::spawn_blocking(move || service.with_outbox(outbox::waiting)).await {
                Ok(Ok(ids)) => {
                    if !ids.is_empty() {
                        info!(target: "node::net", messages = ids.len(), "messages kept from before the start wait for the hub");
                    }
                    let now = Instant::now();
                    for (id, kind) in ids {
                        self.schedule.admit(id, kind, false, now);
                    }
                    return;
                }
                Ok(Err(e)) => warn!(target: "node::net", %e, "cannot read the outbox"),
                Err(e) => warn!(target: "node::net", %e, "outbox reader failed"),
            }
        }
        warn!(target: "node::net", "the messages kept from before the start wait for the next start");
    }

    /// Sends a new delivery or proof message, kept in the outbox until the hub responds; it waits (its
    /// id only: the message stays in the store) while disconnected or while as many kept messages as
    /// may be are in flight. One the outbox could not keep is sent once, if the hub is connected.
    fn send_new(&mut self, id: Option<MessageId>, req: WireRequest) {
        match id {
            Some(id) => {
                // Only deliveries and proof messages are kept.
                let kind = Kind::of(&req).unwrap_or(Kind::Proof);
                if self.schedule.admit(id, kind, self.connected, Instant::now()) {
                    self.send(Some(id), req);
                }
            }
            None if self.connected => self.send(None, req),
            None => {
                warn!(target: "node::net", kind = req.kind(), "dropped a message the outbox could not keep: no hub connection")
            }
        }
    }

    /// A kept message read back to be sent again (its slot taken by [`Schedule::due`]).
    fn send_loaded(&mut self, id: MessageId, read: Loaded) {
        match read {
            Loaded::Gone => {
                self.schedule.done(id);
                self.resend();
            }
            Loaded::NotNow => {
                self.schedule.unsent(id);
                self.schedule.again(id, Instant::now());
                self.resend();
            }
            Loaded::Message(_) if !self.connected => self.schedule.put_back(id, Instant::now()),
            Loaded::Message(req) => self.send(Some(id), req),
        }
    }

    fn send(&mut self, id: Option<MessageId>, req: WireRequest) {
        let request = self.swarm.behaviour_mut().rr.send_request(&self.hub, req);
        self.in_flight.insert(request, id);
    }

    /// The hub took the message, or refused it for good: the outbox lets it go.
    fn settled(&mut self, id: MessageId) {
        self.schedule.done(id);
        let service = self.service.clone();
        tokio::spawn(async move {
            match tokio::task::spawn_blocking(move || service.with_outbox(|c| outbox::taken(c, id))).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(target: "node::net", %e, "cannot clear a message the hub took from the outbox"),
                Err(e) => warn!(target: "node::net", %e, "outbox writer failed"),
            }
        });
    }

    /// The hub did not take the message: its slot is free, and the outbox says whether it is sent
    /// again ([`outbox::failed`] when `attempt` counts, else [`outbox::deferred`]: the hub asked for it
    /// later, or the connection closed under it).
    fn not_taken(&mut self, id: MessageId, attempt: bool) {
        self.schedule.unsent(id);
        let service = self.service.clone();
        let kept = self.kept_tx.clone();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        tokio::spawn(async move {
            let judged = tokio::task::spawn_blocking(move || {
                service.with_outbox(|c| if attempt { outbox::failed(c, id) } else { outbox::deferred(c, id, now) })
            })
            .await;
            let still = match judged {
                Ok(Ok(still)) => still,
                Ok(Err(e)) => {
                    warn!(target: "node::net", %e, "cannot record a send the hub did not take in the outbox");
                    true
                }
                Err(e) => {
                    warn!(target: "node::net", %e, "outbox writer failed");
                    true
                }
            };
            let _ = kept.send((id, still)).await;
        });
    }

    /// Sends the waiting messages that are due again, as many as slots are free, each read back from
    /// the outbox (signed again first when its window has passed: [`QueryService::kept_message`]).
    fn resend(&mut self) {
        let ids = self.schedule.due(self.connected, Instant::now());
        if ids.is_empty() {
            return;
        }
        debug!(target: "node::net", messages = ids.len(), "sending messages the hub did not take again");
        let service = self.service.clone();
        let loaded = self.loaded_tx.clone();
        tokio::spawn(async move {
            for id in ids {
                let service = service.clone();
                let dropping = service.clone();
                let read = match tokio::task::spawn_blocking(move || service.kept_message(id)).await {
                    Ok(Ok(Some(req))) => Loaded::Message(req),
                    Ok(Ok(None)) => Loaded::Gone,
                    // A kept message that no longer parses never will: it is not retried in this run. A
                    // proof message is dropped; a delivery (its release mark cleared) stays in the store
                    // for an operator or a later release to read.
                    Ok(Err(crate::service::ServiceError::Outbox(e @ outbox::OutboxError::Corrupt { .. }))) => {
                        warn!(target: "node::net", %e, "a kept message cannot be read back: not sent again");
                        let _ =
                            tokio::task::spawn_blocking(move || dropping.with_outbox(|c| outbox::drop_proof(c, id)))
                                .await;
                        Loaded::Gone
                    }
                    Ok(Err(e)) => {
                        warn!(target: "node::net", %e, "cannot read a waiting message back now");
                        Loaded::NotNow
                    }
                    Err(e) => {
                        warn!(target: "node::net", %e, "outbox reader failed");
                        Loaded::NotNow
                    }
                };
                let _ = loaded.send((id, read)).await;
            }
        });
    }

    /// Sends the signed hello (name, data summary, credential, current commitment).
    /// A hello the hub did not take (busy, or the request failed) is sent again on a later retry tick.
    fn say_hello(&mut self) {
        self.hello_due = None;
        match self.service.hello() {
            Ok(hello) => {
                self.hello = Some(self.swarm.behaviour_mut().rr.send_request(&self.hub, WireRequest::Hello(hello)));
            }
            Err(e) => warn!(target: "node::net", %e, "cannot build the hello"),
        }
    }

    /// The hello `request` was not taken: another is due after a few seconds.
    fn hello_not_taken(&mut self, request: OutboundRequestId) {
        if self.hello == Some(request) {
            self.hello = None;
            self.hello_due = Some(Instant::now() + 2 * RETRY_EVERY);
        }
    }

    /// Answers released by the data steward go to the hub as deliveries.
    fn deliver_approved(&mut self) {
        let service = self.service.clone();
        let tx = self.deliver_tx.clone();
        let workers = self.workers.clone();
        let service_for_proofs = self.service.clone();
        tokio::spawn(async move {
            let Ok(_permit) = workers.acquire_owned().await else { return };
            let res = tokio::task::spawn_blocking(move || service.approved_answers()).await;
            match res {
                Ok(Ok(answers)) => {
                    for (id, a, request) in answers {
                        let answer = answered(&a);
                        let _ = tx.send((Some(id), WireRequest::Deliver(a))).await;
                        if let (Some(request), Some(answer)) = (request, answer) {
                            follow_with_proof(&service_for_proofs, tx.clone(), request, answer);
                        }
                    }
                }
                Ok(Err(e)) => warn!(target: "node::net", %e, "cannot run approved queries"),
                Err(e) => warn!(target: "node::net", %e, "approved-query worker failed"),
            }
        });
    }

    /// Handles a swarm event; returns a redial delay when the hub connection is lost.
    fn event(&mut self, ev: SwarmEvent<BehaviourEvent>) -> Option<Duration> {
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == self.hub => {
                info!(target: "node::net", hub = %peer_id, "connected to the hub");
                self.connected = true;
                self.backoff.reset();
                self.say_hello();
                self.resend();
                None
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } if peer_id == self.hub => {
                self.connected = false;
                let d = self.backoff.take();
                warn!(target: "node::net", retry_in_ms = d.as_millis() as u64, "lost the hub connection");
                Some(d)
            }
            SwarmEvent::OutgoingConnectionError { peer_id: Some(p), error, .. } if p == self.hub => {
                let d = self.backoff.take();
                warn!(target: "node::net", %error, retry_in_ms = d.as_millis() as u64, "cannot reach the hub");
                (!self.connected).then_some(d)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => {
                self.rr_event(ev);
                None
            }
            _ => None,
        }
    }

    fn rr_event(&mut self, ev: request_response::Event<WireRequest, WireResponse>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    if peer != self.hub {
                        let _ = self.swarm.behaviour_mut().rr.send_response(
                            channel,
                            WireResponse::Error { message: "this node answers its hub only".into() },
                        );
                        return;
                    }
                    let WireRequest::Query(signed) = request else {
                        let _ = self.swarm.behaviour_mut().rr.send_response(
                            channel,
                            WireResponse::Error { message: "a node accepts only queries".into() },
                        );
                        return;
                    };
                    let service = self.service.clone();
                    let workers = self.workers.clone();
                    let done = self.done_tx.clone();
                    let proofs = self.deliver_tx.clone();
                    tokio::spawn(async move {
                        let Ok(_permit) = workers.acquire_owned().await else { return };
                        let credential = service.check_researcher(&signed).await;
                        let request = serde_json::from_str::<QueryRequest>(&signed.body).ok();
                        let answering = service.clone();
                        let response = tokio::task::spawn_blocking(move || answering.answer(&signed, &credential))
                            .await
                            .unwrap_or_else(|_| WireResponse::Error {
                                message: "the node failed to run the query".into(),
                            });
                        let answer = match &response {
                            WireResponse::Answer(a) => answered(a),
                            _ => None,
                        };
                        // Its proof is owed from before the answer leaves (a stop meanwhile is told).
                        if let (Some(request), Some(_)) = (&request, &answer) {
                            if service.proves(&request.query) {
                                let (owing, query_id) = (service.clone(), request.header.query_id);
                                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                                let owed = tokio::task::spawn_blocking(move || {
                                    owing.with_outbox(|c| outbox::owe(c, query_id, now))
                                })
                                .await;
                                if !matches!(owed, Ok(Ok(()))) {
                                    warn!(target: "node::net", "cannot record a proof owed: a stop while proving leaves the answer pending");
                                }
                            }
                        }
                        let _ = done.send((channel, response)).await;
                        if let (Some(request), Some(answer)) = (request, answer) {
                            follow_with_proof(&service, proofs, request, answer);
                        }
                    });
                }
                request_response::Message::Response { request_id, response } => {
                    // The hub took it, or refused it for good: either way it is not sent again, unless
                    // the hub had no room for it. (Hellos are not kept: they have no id here.)
                    let sent = self.in_flight.remove(&request_id).flatten();
                    match response {
                        WireResponse::Error { message } if message.ends_with(RETRY_LATER) => {
                            debug!(target: "node::net", %message, "the hub will take it later");
                            self.hello_not_taken(request_id);
                            if let Some(id) = sent {
                                self.not_taken(id, false);
                            }
                            return;
                        }
                        WireResponse::Ack => debug!(target: "node::net", "hub acknowledged"),
                        WireResponse::Error { message } => {
                            warn!(target: "node::net", %message, "hub refused a message")
                        }
                        WireResponse::Answer(_) => warn!(target: "node::net", "unexpected answer from the hub"),
                    }
                    if let Some(id) = sent {
                        self.settled(id);
                        // Its slot goes to the next message due.
                        self.resend();
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, error, .. } => {
                warn!(target: "node::net", %error, "message to the hub failed");
                self.hello_not_taken(request_id);
                // A connection that closed (or never opened) under the request says nothing of the
                // message: no attempt is counted for it.
                let attempt = !matches!(
                    error,
                    request_response::OutboundFailure::ConnectionClosed
                        | request_response::OutboundFailure::DialFailure
                );
                if let Some(id) = self.in_flight.remove(&request_id).flatten() {
                    self.not_taken(id, attempt);
                }
            }
            request_response::Event::InboundFailure { error, .. } => {
                debug!(target: "node::net", %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

/// The answer a signed statement carries, if it is one.
fn answered(env: &Signed<AnswerMessage>) -> Option<NodeAnswer> {
    match serde_json::from_str::<AnswerMessage>(&env.body).ok()?.outcome {
        Outcome::Answered { answer } => Some(answer),
        _ => None,
    }
}

/// Proves an answer just sent, if its query is of a provable kind, off the answering path; the proof
/// (or the reason there is none) follows to the hub as [`WireRequest::Proof`], each message kept in the
/// outbox as it is signed.
fn follow_with_proof(
    service: &Arc<QueryService>,
    tx: mpsc::Sender<Outgoing>,
    request: QueryRequest,
    answer: NodeAnswer,
) {
    if agora_protocol::proof::plan(&request.query).is_none() {
        return;
    }
    let query_id = request.header.query_id;
    let service = service.clone();
    let Some(prover) = service.prover().cloned() else {
        let msg = service.unproven(query_id, "this node does not prove its answers (prove_answers = false)");
        tokio::spawn(async move {
            keep_and_send(&service, &tx, WireRequest::Proof(msg), None).await;
        });
        return;
    };
    // The proof was recorded as owed before the answer left ([`QueryService::proves`]); the last
    // message is kept in the transaction that clears the debt, so a node stopped before it tells the
    // hub why, and one stopped after sends the proof alone.
    tokio::spawn(async move {
        let (signed_tx, mut signed) = mpsc::channel(1);
        let proving = async move {
            prover.prove_each(query_id, &request.query, &answer, &signed_tx, WireRequest::Proof).await;
        };
        let keeping = async {
            // The debt is cleared with the last message only if every message before it was kept.
            let (mut held, mut all_kept) = (None, true);
            while let Some(msg) = signed.recv().await {
                if let Some(previous) = held.replace(msg) {
                    all_kept &= keep_and_send(&service, &tx, previous, None).await;
                }
            }
            match held {
                Some(last) => {
                    keep_and_send(&service, &tx, last, all_kept.then_some(query_id)).await;
                }
                None => {
                    let paying = service.clone();
                    let paid = tokio::task::spawn_blocking(move || paying.with_outbox(|c| outbox::paid(c, query_id)));
                    if !matches!(paid.await, Ok(Ok(()))) {
                        warn!(target: "node::net", "cannot clear a proof owed: the hub may be told it was cut short");
                    }
                }
            }
        };
        tokio::join!(proving, keeping);
    });
}

/// Keeps `msg` in the outbox (clearing `paid`'s proof debt in the same transaction: its last
/// message), then hands it to the network task to send; returns whether it was kept. One the outbox
/// cannot keep (the store failed) is sent once all the same.
async fn keep_and_send(
    service: &Arc<QueryService>,
    tx: &mpsc::Sender<Outgoing>,
    msg: WireRequest,
    paid: Option<Uuid>,
) -> bool {
    let keeping = service.clone();
    let kept = msg.clone();
    let id = match tokio::task::spawn_blocking(move || keeping.keep_message(&kept, paid)).await {
        Ok(Ok(id)) => Some(id),
        Ok(Err(e)) => {
            warn!(target: "node::net", %e, kind = msg.kind(), "cannot keep a message in the outbox: sending it once");
            None
        }
        Err(e) => {
            warn!(target: "node::net", %e, kind = msg.kind(), "outbox writer failed: sending the message once");
            None
        }
    };
    let _ = tx.send((id, msg)).await;
    id.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_address_needs_a_peer_id() {
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        let (addr, p) = parse_hub_address(&format!("/ip4/127.0.0.1/tcp/7000/p2p/{peer}")).unwrap();
        assert_eq!(p, peer);
        assert_eq!(addr.to_string(), "/ip4/127.0.0.1/tcp/7000");
        assert!(parse_hub_address("/ip4/127.0.0.1/tcp/7000").is_err());
        assert!(parse_hub_address("not an address").is_err());
    }

    #[test]
    fn kept_messages_go_out_a_few_at_a_time_and_wait_longer_each_time() {
        let t = Instant::now();
        let mut s = Schedule::default();
        // Disconnected: everything waits.
        assert!(!s.admit(1, Kind::Proof, false, t));
        assert!(s.due(false, t).is_empty());
        // Connected: up to the cap in flight, the rest waits; an id known already is not admitted again.
        let sent: Vec<bool> = (2..=6).map(|id| s.admit(id, Kind::Delivery, true, t)).collect();
        assert_eq!(sent, [true, true, true, true, false]);
        assert!(!s.admit(2, Kind::Delivery, true, t), "already in flight");
        assert!(!s.admit(1, Kind::Proof, true, t), "already waiting");
        assert!(s.due(true, t).is_empty(), "no slot free");
        // One taken: its slot goes to the oldest delivery waiting, before the older proof message.
        s.done(2);
        assert_eq!(s.due(true, t), vec![6]);
        s.done(6);
        assert_eq!(s.due(true, t), vec![1]);
        // One not taken and still kept: it waits 2 s, then 4 s after the next time.
        s.unsent(3);
        s.again(3, t);
        assert!(s.due(true, t).is_empty(), "the one not taken is not due yet");
        assert!(s.due(true, t + Duration::from_millis(1_999)).is_empty());
        assert_eq!(s.due(true, t + RETRY_EVERY), vec![3]);
        s.unsent(3);
        s.again(3, t);
        assert!(s.due(true, t + Duration::from_secs(3)).is_empty());
        assert_eq!(s.due(true, t + Duration::from_secs(4)), vec![3]);
        assert_eq!(Schedule::delay(10), Duration::from_secs(120), "at most two minutes");
        // Read back as gone, or given up: forgotten, and admitted again only as a new message would be.
        s.done(3);
        assert!(s.admit(3, Kind::Delivery, true, t));
        s.unsent(3);
        s.forget(3);
        assert!(!s.known.contains_key(&3));
        // Read back while the hub is gone: it waits again, first.
        s.put_back(4, t);
        assert_eq!(s.waiting.front().map(|w| w.0), Some(4));
        assert!(s.in_flight <= MAX_KEPT_IN_FLIGHT);
    }

    #[test]
    fn proof_messages_leave_a_slot_to_deliveries_and_wait_behind_them() {
        let t = Instant::now();
        let mut s = Schedule::default();
        // A backlog of proof messages takes all but one slot.
        let sent: Vec<bool> = (1..=5).map(|id| s.admit(id, Kind::Proof, true, t)).collect();
        assert_eq!(sent, [true, true, true, false, false]);
        assert_eq!((s.in_flight, s.proofs_in_flight), (MAX_PROOFS_IN_FLIGHT, MAX_PROOFS_IN_FLIGHT));
        assert!(s.due(true, t).is_empty(), "the last slot is not a proof's");
        // A delivery signed after them goes out at once, in the slot left.
        assert!(s.admit(10, Kind::Delivery, true, t));
        assert_eq!(s.in_flight, MAX_KEPT_IN_FLIGHT);
        // With every slot taken the next delivery waits, and goes before the older proofs when one frees.
        assert!(!s.admit(11, Kind::Delivery, true, t));
        s.done(1);
        assert_eq!(s.due(true, t), vec![11], "the delivery, not proof 4");
        assert!(s.due(true, t).is_empty());
        // A delivery's slot freed goes to a proof only while proofs hold fewer than theirs.
        s.done(10);
        s.done(11);
        assert_eq!(s.due(true, t), vec![4]);
        assert!(s.due(true, t).is_empty(), "proofs hold three slots again");
        assert_eq!((s.in_flight, s.proofs_in_flight), (3, 3));
        // A proof not taken frees a proof's slot; one put back frees it too.
        s.unsent(4);
        assert_eq!(s.proofs_in_flight, 2);
        assert_eq!(s.due(true, t), vec![5]);
        s.put_back(5, t);
        assert_eq!((s.in_flight, s.proofs_in_flight), (2, 2));
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff { next: Backoff::MIN };
        let seq: Vec<u128> = (0..8).map(|_| b.take().as_millis()).collect();
        assert_eq!(seq, vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        b.reset();
        assert_eq!(b.take(), Backoff::MIN);
    }
}
