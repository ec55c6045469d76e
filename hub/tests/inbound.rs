//! The hub's inbound side over real libp2p: a node's proof message beyond the proof messages the hub
//! may hold at once is refused as busy (the node keeps it and sends it again), before it is verified.

use agora_hub::authority::Authority;
use agora_hub::coordinator::{Coordinator, CoordinatorConfig};
use agora_hub::store::HubStore;
use agora_protocol::envelope::{Header, Signed};
use agora_protocol::proof::{ProofMessage, ProofOutcome};
use agora_protocol::transport::{build_swarm, BehaviourEvent, TransportConfig};
use agora_protocol::wire::{WireRequest, WireResponse, HUB_BUSY};
use futures::StreamExt;
use libp2p::request_response::{Event, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::Multiaddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A hub holding at most `proof_handlers` proof messages, serving its inbound messages; its address.
async fn hub(proof_handlers: usize, dir: &tempfile::TempDir, cancel: &CancellationToken) -> Multiaddr {
    let store = HubStore::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display())).await.unwrap();
    let key = libp2p::identity::Keypair::generate_ed25519();
    let identity = agora_did::identity::identity_of_keypair(&key).unwrap();
    let authority = Authority::new(identity, None, "https://hub.agora.test", store.clone(), false).unwrap();
    let (task, net, inbound, addr) =
        agora_hub::net::listen(key.clone(), "/ip4/127.0.0.1/tcp/0", Duration::from_secs(5)).await.unwrap();
    tokio::spawn(task.run(cancel.clone()));
    let cfg = CoordinatorConfig {
        deadline: Duration::from_secs(2),
        ttl_secs: 60,
        allowed_nodes: Default::default(),
        max_inflight: 8,
        proof_handlers,
    };
    let coordinator = Coordinator::new(store, net, key.clone(), authority, cfg, cancel.clone());
    tokio::spawn(coordinator.serve_inbound(inbound));
    addr.with(libp2p::multiaddr::Protocol::P2p(key.public().to_peer_id()))
}

/// Sends one proof message from a new node to the hub at `addr`; the hub's response.
async fn send_proof(addr: Multiaddr) -> WireResponse {
    let node = libp2p::identity::Keypair::generate_ed25519();
    let cfg = TransportConfig {
        request_timeout: Duration::from_secs(10),
        max_concurrent_streams: 8,
        agent: "test-node".into(),
    };
    let mut swarm = build_swarm(node.clone(), &cfg).unwrap();
    let Some(libp2p::multiaddr::Protocol::P2p(hub)) = addr.iter().last() else { panic!("{addr}") };
    swarm.dial(addr).unwrap();
    let outcome = ProofOutcome::Unavailable { reason: "no snapshot yet".into() };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let msg = ProofMessage { header: Header::new(Uuid::new_v4(), now, 3600), outcome };
    let mut sent = None;
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == hub && sent.is_none() => {
                    let req = WireRequest::Proof(Signed::sign(&msg, &node));
                    sent = Some(swarm.behaviour_mut().rr.send_request(&hub, req));
                }
                SwarmEvent::Behaviour(BehaviourEvent::Rr(Event::Message {
                    message: Message::Response { request_id, response },
                    ..
                })) if Some(request_id) == sent => return response,
                SwarmEvent::Behaviour(BehaviourEvent::Rr(Event::OutboundFailure { error, .. })) => {
                    panic!("the request failed: {error}")
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the hub responded within 20 s")
}

#[tokio::test]
async fn proof_messages_beyond_those_the_hub_may_hold_are_refused_as_busy() {
    let cancel = CancellationToken::new();
    let dir = tempfile::tempdir().unwrap();
    // Holding none: every proof message is refused as busy, a refusal the node sends again after.
    let full = hub(0, &dir, &cancel).await;
    let response = send_proof(full).await;
    assert_eq!(response, WireResponse::Error { message: HUB_BUSY.into() });
    assert!(HUB_BUSY.ends_with(agora_protocol::wire::RETRY_LATER));
    // Room for one: the message is read and judged (here: for a query the hub never sent).
    let dir = tempfile::tempdir().unwrap();
    let open = hub(1, &dir, &cancel).await;
    match send_proof(open).await {
        WireResponse::Error { message } => assert_eq!(message, "no such query"),
        other => panic!("{other:?}"),
    }
    cancel.cancel();
}
