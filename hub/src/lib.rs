//! `agora-hub` is the network operator's hub: it keeps the registry of nodes (which dial out to it over
//! libp2p), fans researchers' federated queries out to them, verifies and records each node's signed
//! aggregate answer, and combines them ([`agora_protocol::combined`]). Researchers reach it through the
//! REST API in [`api`] or the CLI client in [`client`].
//!
//! Invariant: the hub never receives or stores a row-level value. It cannot lower a node's disclosure
//! threshold and never fills in a cell a node suppressed.

pub mod api;
pub mod authority;
pub mod client;
pub mod config;
pub mod coordinator;
pub mod net;
pub mod store;

use crate::config::Config;
use crate::coordinator::{Coordinator, CoordinatorConfig};
use libp2p::{Multiaddr, PeerId};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Errors starting or running the hub.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The key file.
    #[error(transparent)]
    Key(#[from] agora_did::keyfile::KeyFileError),
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The network.
    #[error(transparent)]
    Net(#[from] net::NetError),
    /// HTTP.
    #[error("cannot serve HTTP on {addr}: {source} (is the port in use? choose another with http_listen)")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Bad node id in config.
    #[error("allowed_nodes entry `{0}` is not a peer id")]
    BadPeer(String),
    /// Writing the ready file.
    #[error("cannot write {0}: {1}")]
    ReadyFile(String, std::io::Error),
    /// The credential authority.
    #[error(transparent)]
    Authority(#[from] authority::AuthorityError),
}

/// Where a running hub can be reached; also written to `ready.json` in the data directory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ready {
    /// The hub's peer id.
    pub peer_id: String,
    /// The libp2p address nodes dial, ending in `/p2p/<peer id>`.
    pub p2p: String,
    /// The HTTP address of the API.
    pub http: SocketAddr,
    /// The DID the hub issues credentials as.
    pub did: String,
}

/// Runs the hub until `cancel` fires.
pub async fn run(config: Config, cancel: CancellationToken) -> Result<(), RunError> {
    let key = agora_did::keyfile::read_keypair(&config.key_file())?;
    let peer_id: PeerId = key.public().to_peer_id();
    let store = store::HubStore::connect(&config.database_url()).await?;
    store.mark_disconnected(None, coordinator::now()).await?;
    let deadline = Duration::from_secs(config.query_deadline_secs.max(1));
    let (net_task, handle, inbound, bound) = net::listen(key.clone(), &config.p2p_listen, deadline).await?;
    let allowed_nodes = config
        .allowed_nodes
        .iter()
        .map(|p| p.parse::<PeerId>().map_err(|_| RunError::BadPeer(p.clone())))
        .collect::<Result<_, _>>()?;
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|source| RunError::Http { addr: config.http_listen, source })?;
    let http = listener.local_addr().map_err(|source| RunError::Http { addr: config.http_listen, source })?;
    let identity = agora_did::identity::identity_of_keypair(&key).expect("the hub key is Ed25519");
    let authority = authority::Authority::new(
        identity,
        config.did_web.as_deref(),
        &config.public_url_for(http),
        store.clone(),
        config.open_admission,
    )?;
    let did = authority.did().to_string();
    let coordinator = Coordinator::new(
        store,
        handle,
        key,
        authority,
        CoordinatorConfig {
            deadline,
            ttl_secs: config.query_ttl_secs,
            allowed_nodes,
            max_inflight: config.max_inflight_queries,
            proof_handlers: coordinator::PROOF_HANDLERS,
        },
        cancel.clone(),
    );
    let p2p: Multiaddr = bound.with(libp2p::multiaddr::Protocol::P2p(peer_id));
    let ready = Ready { peer_id: peer_id.to_string(), p2p: p2p.to_string(), http, did };
    info!(target: "hub", peer_id = %peer_id, p2p = %p2p, http = %http, "hub ready");
    let ready_path = config.data_dir.join("ready.json");
    std::fs::write(&ready_path, serde_json::to_vec_pretty(&ready).expect("serialises"))
        .map_err(|e| RunError::ReadyFile(ready_path.display().to_string(), e))?;

    let net = tokio::spawn(net_task.run(cancel.clone()));
    let inbound_task = tokio::spawn(coordinator.clone().serve_inbound(inbound));
    let app = api::router(api::AppState { coordinator }, config.max_body_bytes);
    let shutdown = cancel.clone();
    let served = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
    cancel.cancel();
    // Stop in reverse dependency order, bounded.
    let _ = tokio::time::timeout(Duration::from_secs(5), inbound_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), net).await;
    let _ = std::fs::remove_file(&ready_path);
    served.map_err(|source| RunError::Http { addr: http, source })
}
