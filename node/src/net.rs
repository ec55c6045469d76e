//! The node's libp2p side. Hospital firewalls allow no inbound connections, so the node dials OUT to its
//! hub and keeps that connection up (reconnecting with exponential backoff). Over it the hub sends
//! queries; the node answers each through [`crate::service::QueryService`] on a bounded worker pool, and
//! delivers answers a data steward released later. It answers requests from its hub only.
//!
//! Deliveries and proof messages the node sends on its own are kept in the store's outbox
//! ([`crate::outbox`]) from the moment they are signed until the hub responds: one whose request failed
//! (the connection dropped, the hub did not respond in time) is sent again, on the next retry tick or
//! right after reconnecting, and so is one the node still held when it stopped, once it runs again (a
//! proof message up to [`outbox::MAX_ATTEMPTS`] failed sends, within [`outbox::MAX_PROOF_BYTES`]; a
//! delivery until the hub takes it); so is one the hub refused for now (an error ending in
//! `wire::RETRY_LATER`: it was busy, or a proof arrived before its answer), without counting an attempt
//! (a proof message for at most [`outbox::MAX_PROOF_AGE_SECS`]). One whose signature's window has passed
//! meanwhile is signed again with a fresh header. The hub refuses a message it has already taken
//! (the node's part, or the proof, is settled), so a second copy of one that did arrive changes nothing.
//! This task touches the store only through blocking tasks: it holds the messages in flight, and the
//! ids of those waiting.

use crate::outbox::{self, MessageId};
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
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

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
/// How often messages waiting to be sent again are retried while connected.
const RETRY_EVERY: Duration = Duration::from_secs(2);

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
    /// Messages to send: new ones, and waiting ones read back from the outbox.
    deliver_tx: mpsc::Sender<Outgoing>,
    deliver_rx: mpsc::Receiver<Outgoing>,
    /// Outbox ids to send again (a failed send still kept, or one kept when the node started).
    wait_tx: mpsc::Sender<MessageId>,
    wait_rx: mpsc::Receiver<MessageId>,
    backoff: Backoff,
    connected: bool,
    /// Deliveries and proof messages sent and not yet responded to.
    in_flight: HashMap<OutboundRequestId, Option<MessageId>>,
    /// The outbox ids waiting to be sent again (their messages stay in the store meanwhile).
    waiting: VecDeque<MessageId>,
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
        // A proof message is up to about 2 MB: few are read back ahead of sending.
        let (deliver_tx, deliver_rx) = mpsc::channel(8);
        let (wait_tx, wait_rx) = mpsc::channel(1024);
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
            wait_tx,
            wait_rx,
            backoff: Backoff { next: Backoff::MIN },
            connected: false,
            in_flight: HashMap::new(),
            waiting: VecDeque::new(),
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
        self.kept_from_before();
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
                Some((id, req)) = self.deliver_rx.recv() => self.send_kept(id, req),
                Some(id) = self.wait_rx.recv() => self.waiting.push_back(id),
                _ = approvals.tick(), if self.connected => self.deliver_approved(),
                _ = retries.tick(), if self.connected && !self.waiting.is_empty() => self.resend(),
                ev = self.swarm.select_next_some() => {
                    if let Some(delay) = self.event(ev) {
                        redial.as_mut().reset(tokio::time::Instant::now() + delay);
                    }
                }
            }
        }
        info!(target: "node::net", "network task stopped");
    }

    /// Messages the outbox still held when the node started wait to be sent again.
    fn kept_from_before(&self) {
        let service = self.service.clone();
        let wait = self.wait_tx.clone();
        tokio::spawn(async move {
            match tokio::task::spawn_blocking(move || service.with_outbox(outbox::waiting)).await {
                Ok(Ok(ids)) => {
                    if !ids.is_empty() {
                        info!(target: "node::net", messages = ids.len(), "messages kept from before the start wait for the hub");
                    }
                    for id in ids {
                        let _ = wait.send(id).await;
                    }
                }
                Ok(Err(e)) => warn!(target: "node::net", %e, "cannot read the outbox"),
                Err(e) => warn!(target: "node::net", %e, "outbox reader failed"),
            }
        });
    }

    /// Sends a delivery or proof message; it stays in the outbox until the hub responds. While
    /// disconnected it waits (its id only: the message stays in the store).
    fn send_kept(&mut self, id: Option<MessageId>, req: WireRequest) {
        if !self.connected {
            match id {
                Some(id) => self.waiting.push_back(id),
                None => {
                    warn!(target: "node::net", kind = kind(&req), "dropped a message the outbox could not keep: no hub connection")
                }
            }
            return;
        }
        let request = self.swarm.behaviour_mut().rr.send_request(&self.hub, req);
        self.in_flight.insert(request, id);
    }

    /// The hub took the message, or refused it for good: the outbox lets it go.
    fn settled(&self, id: MessageId) {
        let service = self.service.clone();
        tokio::spawn(async move {
            match tokio::task::spawn_blocking(move || service.with_outbox(|c| outbox::taken(c, id))).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(target: "node::net", %e, "cannot clear a message the hub took from the outbox"),
                Err(e) => warn!(target: "node::net", %e, "outbox writer failed"),
            }
        });
    }

    /// A send failed: the attempt is counted, and the message waits to be sent again unless the outbox
    /// gives up on it ([`outbox::failed`]).
    fn failed(&self, id: MessageId) {
        let service = self.service.clone();
        let wait = self.wait_tx.clone();
        tokio::spawn(async move {
            match tokio::task::spawn_blocking(move || service.with_outbox(|c| outbox::failed(c, id))).await {
                Ok(Ok(true)) => {
                    let _ = wait.send(id).await;
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => warn!(target: "node::net", %e, "cannot count a failed send in the outbox"),
                Err(e) => warn!(target: "node::net", %e, "outbox writer failed"),
            }
        });
    }

    /// The hub asked for the message later: it waits to be sent again, unless the outbox gives up on it
    /// ([`outbox::deferred`]).
    fn deferred(&self, id: MessageId) {
        let service = self.service.clone();
        let wait = self.wait_tx.clone();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        tokio::spawn(async move {
            match tokio::task::spawn_blocking(move || service.with_outbox(|c| outbox::deferred(c, id, now))).await {
                Ok(Ok(true)) => {
                    let _ = wait.send(id).await;
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => warn!(target: "node::net", %e, "cannot keep a deferred message in the outbox"),
                Err(e) => warn!(target: "node::net", %e, "outbox writer failed"),
            }
        });
    }

    /// Sends every waiting message again, read back from the outbox a few at a time (signed again
    /// first when its window has passed: [`QueryService::kept_message`]).
    fn resend(&mut self) {
        let ids: Vec<MessageId> = self.waiting.drain(..).collect();
        if ids.is_empty() {
            return;
        }
        info!(target: "node::net", messages = ids.len(), "sending messages the hub did not take again");
        let service = self.service.clone();
        let deliver = self.deliver_tx.clone();
        tokio::spawn(async move {
            for id in ids {
                let service = service.clone();
                match tokio::task::spawn_blocking(move || service.kept_message(id)).await {
                    Ok(Ok(Some(req))) => {
                        let _ = deliver.send((Some(id), req)).await;
                    }
                    // Given up or dropped meanwhile.
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => warn!(target: "node::net", %e, "cannot read a waiting message back"),
                    Err(e) => warn!(target: "node::net", %e, "outbox reader failed"),
                }
            }
        });
    }

    /// Sends the signed hello (name, data summary, credential, current commitment).
    fn say_hello(&mut self) {
        match self.service.hello() {
            Ok(hello) => {
                self.swarm.behaviour_mut().rr.send_request(&self.hub, WireRequest::Hello(hello));
            }
            Err(e) => warn!(target: "node::net", %e, "cannot build the hello"),
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
                            if let Some(id) = sent {
                                self.deferred(id);
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
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, error, .. } => {
                warn!(target: "node::net", %error, "message to the hub failed");
                if let Some(id) = self.in_flight.remove(&request_id).flatten() {
                    self.failed(id);
                }
            }
            request_response::Event::InboundFailure { error, .. } => {
                debug!(target: "node::net", %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

/// A message's kind, for logs.
fn kind(req: &WireRequest) -> &'static str {
    match req {
        WireRequest::Deliver(_) => "delivery",
        WireRequest::Proof(_) => "proof",
        WireRequest::Hello(_) => "hello",
        WireRequest::Query(_) => "query",
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
        tokio::spawn(async move { keep_and_send(&service, &tx, WireRequest::Proof(msg)).await });
        return;
    };
    tokio::spawn(async move {
        let (signed_tx, mut signed) = mpsc::channel(1);
        let proving = async move {
            prover.prove_each(query_id, &request.query, &answer, &signed_tx, WireRequest::Proof).await;
        };
        let keeping = async {
            while let Some(msg) = signed.recv().await {
                keep_and_send(&service, &tx, msg).await;
            }
        };
        tokio::join!(proving, keeping);
    });
}

/// Keeps `msg` in the outbox, then hands it to the network task to send. One the outbox cannot keep
/// (the store failed) is sent once all the same.
async fn keep_and_send(service: &Arc<QueryService>, tx: &mpsc::Sender<Outgoing>, msg: WireRequest) {
    let keeping = service.clone();
    let kept = msg.clone();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let id = match tokio::task::spawn_blocking(move || keeping.with_outbox(|c| outbox::put(c, &kept, now))).await {
        Ok(Ok(id)) => Some(id),
        Ok(Err(e)) => {
            warn!(target: "node::net", %e, kind = kind(&msg), "cannot keep a message in the outbox: sending it once");
            None
        }
        Err(e) => {
            warn!(target: "node::net", %e, kind = kind(&msg), "outbox writer failed: sending the message once");
            None
        }
    };
    let _ = tx.send((id, msg)).await;
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
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff { next: Backoff::MIN };
        let seq: Vec<u128> = (0..8).map(|_| b.take().as_millis()).collect();
        assert_eq!(seq, vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        b.reset();
        assert_eq!(b.take(), Backoff::MIN);
    }
}
