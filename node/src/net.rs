//! The node's libp2p side. Hospital firewalls allow no inbound connections, so the node dials OUT to its
//! hub and keeps that connection up (reconnecting with exponential backoff). Over it the hub sends
//! queries; the node answers each through [`crate::service::QueryService`] on a bounded worker pool, and
//! delivers answers a data steward released later. It answers requests from its hub only.
//!
//! Deliveries and proof messages the node sends on its own are kept until the hub responds: one whose
//! request failed (the connection dropped, the hub did not respond in time) is sent again, on the next
//! retry tick or right after reconnecting (a proof message up to [`MAX_ATTEMPTS`] times, at most
//! [`MAX_OUTBOX`] waiting; a delivery, whose answer has left the store, until the hub takes it); so is one the hub refused for now (an error ending in `wire::RETRY_LATER`: it was busy, or
//! a proof arrived before its answer). The hub refuses a message it has already taken (the node's part, or the proof, is settled), so a
//! second copy of one that did arrive changes nothing.

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

/// How many times a proof message is sent before the node gives up on it (deliveries are kept).
pub const MAX_ATTEMPTS: u32 = 5;
/// The most proof messages waiting to be sent again; beyond, the oldest is dropped.
pub const MAX_OUTBOX: usize = 64;
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
    deliver_tx: mpsc::Sender<WireRequest>,
    deliver_rx: mpsc::Receiver<WireRequest>,
    backoff: Backoff,
    connected: bool,
    /// Deliveries and proof messages sent and not yet responded to, with their attempts so far.
    in_flight: HashMap<OutboundRequestId, (WireRequest, u32)>,
    /// Those whose request failed, waiting to be sent again.
    outbox: VecDeque<(WireRequest, u32)>,
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
        let (deliver_tx, deliver_rx) = mpsc::channel(64);
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
            backoff: Backoff { next: Backoff::MIN },
            connected: false,
            in_flight: HashMap::new(),
            outbox: VecDeque::new(),
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
                Some(req) = self.deliver_rx.recv() => self.send_kept(req, 0),
                _ = approvals.tick(), if self.connected => self.deliver_approved(),
                _ = retries.tick(), if self.connected && !self.outbox.is_empty() => self.resend(),
                ev = self.swarm.select_next_some() => {
                    if let Some(delay) = self.event(ev) {
                        redial.as_mut().reset(tokio::time::Instant::now() + delay);
                    }
                }
            }
        }
        info!(target: "node::net", "network task stopped");
    }

    /// Sends a delivery or proof message and keeps it until the hub responds; while disconnected it
    /// waits in the outbox.
    fn send_kept(&mut self, req: WireRequest, attempts: u32) {
        if !self.connected {
            self.keep(req, attempts);
            return;
        }
        let id = self.swarm.behaviour_mut().rr.send_request(&self.hub, req.clone());
        self.in_flight.insert(id, (req, attempts + 1));
    }

    /// Puts a message back in the outbox. A delivery (a steward-released answer, gone from the store
    /// once taken) is kept until the hub takes or refuses it; a proof message is given up after
    /// [`MAX_ATTEMPTS`], and beyond [`MAX_OUTBOX`] waiting proofs the oldest proof is dropped (its answer
    /// then stays "proof pending" at the hub).
    fn keep(&mut self, req: WireRequest, attempts: u32) {
        let delivery = matches!(req, WireRequest::Deliver(_));
        if !delivery && attempts >= MAX_ATTEMPTS {
            warn!(target: "node::net", kind = kind(&req), attempts, "giving up on a message the hub never took");
            return;
        }
        let proofs = self.outbox.iter().filter(|(r, _)| !matches!(r, WireRequest::Deliver(_))).count();
        if !delivery && proofs >= MAX_OUTBOX {
            if let Some(at) = self.outbox.iter().position(|(r, _)| !matches!(r, WireRequest::Deliver(_))) {
                self.outbox.remove(at);
                warn!(target: "node::net", "outbox full: dropped the oldest waiting proof message");
            }
        }
        self.outbox.push_back((req, attempts));
    }

    /// Sends every waiting message again.
    fn resend(&mut self) {
        let waiting: Vec<_> = self.outbox.drain(..).collect();
        if !waiting.is_empty() {
            info!(target: "node::net", messages = waiting.len(), "sending messages the hub did not take again");
        }
        for (req, attempts) in waiting {
            self.send_kept(req, attempts);
        }
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
                    for (a, request) in answers {
                        let answer = answered(&a);
                        let _ = tx.send(WireRequest::Deliver(a)).await;
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
                    // the hub had no room for it.
                    let sent = self.in_flight.remove(&request_id);
                    match response {
                        WireResponse::Error { message } if message.ends_with(RETRY_LATER) => {
                            if let Some((req, attempts)) = sent {
                                self.keep(req, attempts);
                            }
                        }
                        WireResponse::Ack => debug!(target: "node::net", "hub acknowledged"),
                        WireResponse::Error { message } => {
                            warn!(target: "node::net", %message, "hub refused a message")
                        }
                        WireResponse::Answer(_) => warn!(target: "node::net", "unexpected answer from the hub"),
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, error, .. } => {
                warn!(target: "node::net", %error, "message to the hub failed");
                if let Some((req, attempts)) = self.in_flight.remove(&request_id) {
                    self.keep(req, attempts);
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
/// (or the reason there is none) follows to the hub as [`WireRequest::Proof`].
fn follow_with_proof(
    service: &Arc<QueryService>,
    tx: mpsc::Sender<WireRequest>,
    request: QueryRequest,
    answer: NodeAnswer,
) {
    if agora_protocol::proof::plan(&request.query).is_none() {
        return;
    }
    let query_id = request.header.query_id;
    let Some(prover) = service.prover().cloned() else {
        let msg = service.unproven(query_id, "this node does not prove its answers (prove_answers = false)");
        tokio::spawn(async move {
            let _ = tx.send(WireRequest::Proof(msg)).await;
        });
        return;
    };
    tokio::spawn(async move {
        prover.prove_each(query_id, &request.query, &answer, &tx, WireRequest::Proof).await;
    });
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
