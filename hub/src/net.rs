//! The hub's libp2p side: one task owns the swarm, listens for nodes (which dial out to the hub), sends
//! queries and hands inbound hellos and deliveries to the service over a bounded channel. Callers talk to
//! it through a cloneable [`NetHandle`].

use agora_protocol::transport::{build_swarm, Behaviour, BehaviourEvent, TransportConfig};
use agora_protocol::wire::{WireRequest, WireResponse};
use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Errors of the hub's network side.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The listen address is not a multiaddr.
    #[error("p2p listen address `{0}` is not a multiaddr such as /ip4/127.0.0.1/tcp/7000")]
    BadAddr(String),
    /// Listening failed.
    #[error("cannot listen on {addr}: {detail} (is the port in use? choose another with p2p_listen)")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        detail: String,
    },
    /// Building the transport failed.
    #[error("cannot build the libp2p transport: {0}")]
    Transport(String),
    /// The network task has stopped.
    #[error("the hub's network task has stopped")]
    Stopped,
    /// The request failed.
    #[error("{0}")]
    Request(String),
}

/// A message from a node that the service must handle.
#[derive(Debug)]
pub enum Inbound {
    /// A request (hello or delivery) and the channel to answer on.
    Request {
        /// The sending node.
        peer: PeerId,
        /// What it sent.
        request: WireRequest,
        /// Where the response goes.
        channel: ResponseChannel<WireResponse>,
    },
    /// A node's last connection closed.
    Disconnected(PeerId),
}

enum Command {
    Request { peer: PeerId, request: WireRequest, reply: oneshot::Sender<Result<WireResponse, NetError>> },
    Respond { channel: ResponseChannel<WireResponse>, response: WireResponse },
}

/// Handle to the network task.
#[derive(Clone, Debug)]
pub struct NetHandle {
    tx: mpsc::Sender<Command>,
}

impl NetHandle {
    /// Sends a request to a connected node and waits for its response. Cancel-safe: dropping the future
    /// abandons the response.
    pub async fn request(&self, peer: PeerId, request: WireRequest) -> Result<WireResponse, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Request { peer, request, reply }).await.map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Answers an inbound request.
    pub async fn respond(&self, channel: ResponseChannel<WireResponse>, response: WireResponse) {
        let _ = self.tx.send(Command::Respond { channel, response }).await;
    }
}

/// The network task, ready to run.
pub struct HubNet {
    swarm: Swarm<Behaviour>,
    rx: mpsc::Receiver<Command>,
    inbound: mpsc::Sender<Inbound>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<WireResponse, NetError>>>,
}

/// Starts listening and returns the task, its handle, the inbound stream and the bound address.
pub async fn listen(
    key: Keypair,
    listen: &str,
    request_timeout: Duration,
) -> Result<(HubNet, NetHandle, mpsc::Receiver<Inbound>, Multiaddr), NetError> {
    let addr: Multiaddr = listen.parse().map_err(|_| NetError::BadAddr(listen.into()))?;
    let cfg = TransportConfig {
        request_timeout,
        max_concurrent_streams: 2048,
        agent: format!("agora-hub/{}", env!("CARGO_PKG_VERSION")),
    };
    let mut swarm = build_swarm(key, &cfg).map_err(|e| NetError::Transport(e.to_string()))?;
    swarm.listen_on(addr.clone()).map_err(|e| NetError::Listen { addr: listen.into(), detail: e.to_string() })?;
    // Wait for the bound address (the port may have been 0).
    let bound = loop {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => break address,
            SwarmEvent::ListenerError { error, .. } => {
                return Err(NetError::Listen { addr: listen.into(), detail: error.to_string() })
            }
            SwarmEvent::ListenerClosed { reason: Err(e), .. } => {
                return Err(NetError::Listen { addr: listen.into(), detail: e.to_string() })
            }
            _ => {}
        }
    };
    let (tx, rx) = mpsc::channel(1024);
    // Inbound node messages may be up to the wire's 4 MiB (proofs): at most 256 wait.
    let (in_tx, in_rx) = mpsc::channel(256);
    Ok((HubNet { swarm, rx, inbound: in_tx, pending: HashMap::new() }, NetHandle { tx }, in_rx, bound))
}

impl HubNet {
    /// Drives the swarm until cancelled.
    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(cmd) = self.rx.recv() => self.command(cmd),
                ev = self.swarm.select_next_some() => self.event(ev),
            }
        }
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(NetError::Stopped));
        }
        info!(target: "hub::net", "network task stopped");
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Request { peer, request, reply } => {
                if !self.swarm.is_connected(&peer) {
                    let _ = reply.send(Err(NetError::Request("node is not connected".into())));
                    return;
                }
                let id = self.swarm.behaviour_mut().rr.send_request(&peer, request);
                self.pending.insert(id, reply);
            }
            Command::Respond { channel, response } => {
                if self.swarm.behaviour_mut().rr.send_response(channel, response).is_err() {
                    debug!(target: "hub::net", "response dropped: the node's stream closed");
                }
            }
        }
    }

    fn event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => self.rr_event(ev),
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                info!(target: "hub::net", peer = %peer_id, addr = %endpoint.get_remote_address(), "node connected");
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, cause, .. } => {
                info!(target: "hub::net", peer = %peer_id, cause = ?cause.map(|c| c.to_string()), "node disconnected");
                let _ = self.inbound.try_send(Inbound::Disconnected(peer_id));
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                debug!(target: "hub::net", %error, "incoming connection failed");
            }
            _ => {}
        }
    }

    fn rr_event(&mut self, ev: request_response::Event<WireRequest, WireResponse>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    if matches!(request, WireRequest::Query(_)) {
                        let _ = self.swarm.behaviour_mut().rr.send_response(
                            channel,
                            WireResponse::Error { message: "the hub does not answer queries".into() },
                        );
                        return;
                    }
                    if let Err(mpsc::error::TrySendError::Full(Inbound::Request { channel, .. })) =
                        self.inbound.try_send(Inbound::Request { peer, request, channel })
                    {
                        let _ = self.swarm.behaviour_mut().rr.send_response(
                            channel,
                            WireResponse::Error { message: agora_protocol::wire::HUB_BUSY.into() },
                        );
                    }
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(reply) = self.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, error, peer, .. } => {
                let reason = match &error {
                    request_response::OutboundFailure::ConnectionClosed => "node disconnected mid-query".to_string(),
                    request_response::OutboundFailure::Timeout => "node did not answer in time".to_string(),
                    other => other.to_string(),
                };
                debug!(target: "hub::net", %peer, %reason, "request failed");
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request(reason)));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                warn!(target: "hub::net", %peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}
