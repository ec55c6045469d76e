//! A hub impostor inside the test: a real libp2p peer with its own key that a real `agora-node` process
//! dials. It sends hand-made (forged, unsigned, replayed, expired) requests and reads the raw responses.

use agora_protocol::envelope::{Header, Signed};
use agora_protocol::transport::{build_swarm, Behaviour, BehaviourEvent, TransportConfig};
use agora_protocol::wire::{AnswerMessage, Outcome, QueryRequest, RejectionCode, WireRequest, WireResponse};
use agora_protocol::{Aggregate, Cohort, GroupBy, Query};
use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, Swarm};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use uuid::Uuid;

pub(crate) struct FakeHub {
    pub(crate) key: Keypair,
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) node: PeerId,
    pub(crate) child: Child,
    pub(crate) _dir: tempfile::TempDir,
    /// Every response the node sent, as JSON text.
    pub(crate) wire_log: Vec<String>,
}

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn count_query() -> Query {
    Query {
        version: 1,
        cohort: Cohort::Everyone,
        measure: None,
        aggregates: vec![Aggregate::Count],
        group_by: GroupBy::default(),
        reference_date: time::macros::date!(2026 - 01 - 01),
    }
}

pub(crate) fn request(id: Uuid, issued_at: i64, ttl: i64) -> QueryRequest {
    QueryRequest {
        header: Header::new(id, issued_at, ttl),
        researcher: "ada".into(),
        purpose: None,
        query: count_query(),
        presentation: None,
    }
}

impl FakeHub {
    /// Starts a node (already initialised data in `setup`) that dials this fake hub.
    pub(crate) async fn start(env: &[(&str, &str)], setup: impl FnOnce(&std::path::Path)) -> FakeHub {
        let key = Keypair::generate_ed25519();
        let cfg = TransportConfig {
            request_timeout: Duration::from_secs(20),
            max_concurrent_streams: 64,
            agent: "fake-hub".into(),
        };
        let mut swarm = build_swarm(key.clone(), &cfg).unwrap();
        swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let hub_address = format!("{addr}/p2p/{}", key.public().to_peer_id());
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("node");
        let node_bin = agora_tests::bin("agora-node").unwrap();
        let out = std::process::Command::new(&node_bin)
            .arg("--data-dir")
            .arg(&data)
            .args(["init", "--name", "fake-hub-node", "--hub-address", &hub_address, "--http-listen", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let node: PeerId = String::from_utf8(out.stdout).unwrap().trim().parse().unwrap();
        setup(&data);
        let child = spawn_node(&data, env, &dir.path().join("node.log"));
        let mut hub = FakeHub { key, swarm, node, child, _dir: dir, wire_log: Vec::new() };
        hub.hello().await;
        hub
    }

    /// Stops the node at once (SIGKILL) and starts it again over the same data directory, with `env`;
    /// returns once it has said hello again. Its log goes on in the same file.
    pub(crate) async fn restart(&mut self, env: &[(&str, &str)]) {
        self.child.kill().await.unwrap();
        let data = self._dir.path().join("node");
        self.child = spawn_node(&data, env, &self._dir.path().join("node.log"));
        self.hello().await;
    }

    /// Waits for the node to dial in and say hello, and acknowledges it.
    async fn hello(&mut self) {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::Message {
                    peer,
                    message: Message::Request { request: WireRequest::Hello(h), channel, .. },
                    ..
                })) = self.swarm.select_next_some().await
                {
                    assert_eq!(peer, self.node);
                    let v = h.verify().expect("the node's hello is signed by its key");
                    assert_eq!(v.signer, self.node);
                    self.wire_log.push(serde_json::to_string(&h).unwrap());
                    let _ = self.swarm.behaviour_mut().rr.send_response(channel, WireResponse::Ack);
                    break;
                }
            }
        })
        .await
        .expect("the node dialled the hub and said hello within 20 s");
    }

    /// Sends a raw request and waits for the node's response.
    pub(crate) async fn send(&mut self, req: WireRequest) -> WireResponse {
        let id = self.swarm.behaviour_mut().rr.send_request(&self.node, req);
        let resp = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match self.swarm.select_next_some().await {
                    SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::Message {
                        message: Message::Response { request_id, response },
                        ..
                    })) if request_id == id => break response,
                    SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::OutboundFailure {
                        request_id,
                        error,
                        ..
                    })) if request_id == id => panic!("request failed: {error}"),
                    _ => {}
                }
            }
        })
        .await
        .expect("the node answered within 20 s");
        self.wire_log.push(serde_json::to_string(&resp).unwrap());
        resp
    }

    /// Signs a request with this fake hub's key and sends it.
    pub(crate) async fn query(&mut self, req: &QueryRequest) -> WireResponse {
        let signed = Signed::sign(req, &self.key);
        self.send(WireRequest::Query(signed)).await
    }

    /// The node's verified statement in a response.
    pub(crate) fn outcome(&self, resp: &WireResponse) -> Outcome {
        match resp {
            WireResponse::Answer(env) => {
                let v: agora_protocol::Verified<AnswerMessage> = env.verify().expect("node answers are signed");
                assert_eq!(v.signer, self.node, "signed by the node's own key");
                v.payload.outcome
            }
            other => panic!("expected a signed answer, got {other:?}"),
        }
    }

    pub(crate) fn rejection_code(&self, resp: &WireResponse) -> RejectionCode {
        match self.outcome(resp) {
            Outcome::Rejected { rejection } => rejection.code,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("node.log")).unwrap_or_default()
    }
}

/// `agora-node run` over `data`, with `env`, its log appended to `log`.
fn spawn_node(data: &std::path::Path, env: &[(&str, &str)], log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(agora_tests::bin("agora-node").unwrap())
        .arg("--data-dir")
        .arg(data)
        .arg("run")
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .env("AGORA_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}
