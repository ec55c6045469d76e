//! `agora-node` is the self-contained node a hospital runs on-prem. It ingests FHIR R4 into a local
//! SQLite store shaped after the OMOP CDM ([`ingest`], [`store`]), and answers the hub's signed federated
//! queries ([`service`]) after the hospital's policy admits them ([`policy`]), with small cells suppressed
//! ([`disclosure`]). It dials out to its hub over libp2p ([`net`]) and serves a local HTTP API for the
//! hospital's operators ([`api`]).
//!
//! Invariant: no row-level value, identifier, name, address or full birth date ever leaves the node, in an
//! answer, a log line or an error message. Every released count is at least the node's threshold.

pub mod api;
pub mod config;
pub mod consent;
pub mod disclosure;
pub mod ingest;
pub mod net;
pub mod outbox;
pub mod policy;
pub mod proofs;
pub mod query;
pub mod service;
pub mod spool;
pub mod store;
pub mod synth;
pub mod units;

use crate::config::Config;
use crate::ingest::PseudonymKey;
use crate::service::QueryService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Errors starting or running the node.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A key file.
    #[error(transparent)]
    Key(#[from] agora_did::keyfile::KeyFileError),
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Marking interrupted jobs.
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    /// The policy.
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    /// The network.
    #[error(transparent)]
    Net(#[from] net::NetError),
    /// The hub's DID.
    #[error(transparent)]
    Did(#[from] agora_did::VcError),
    /// The node credential file.
    #[error("cannot read the NodeCredential {0}: {1}")]
    NodeCredential(String, String),
    /// No hub configured.
    #[error("no hub_address configured: set it in node.toml or AGORA_NODE_HUB_ADDRESS (the hub prints it at start)")]
    NoHub,
    /// HTTP.
    #[error("cannot serve HTTP on {addr}: {source} (is the port in use? choose another with http_listen)")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing the ready file.
    #[error("cannot write {0}: {1}")]
    ReadyFile(String, std::io::Error),
}

/// Where a running node can be reached; also written to `ready.json` in the data directory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ready {
    /// The node's peer id.
    pub peer_id: String,
    /// The local HTTP API's address.
    pub http: SocketAddr,
    /// The node's DID.
    pub did: String,
}

/// The NodeCredential installed in the data directory, if any (a JSON object, or a JWT as a string).
pub fn node_credential(config: &Config) -> Result<Option<serde_json::Value>, RunError> {
    let path = config.node_credential_file();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = text.trim();
            let value = if text.starts_with('{') || text.starts_with('"') {
                serde_json::from_str(text)
                    .map_err(|e| RunError::NodeCredential(path.display().to_string(), e.to_string()))?
            } else {
                serde_json::Value::String(text.to_string())
            };
            Ok(Some(value))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RunError::NodeCredential(path.display().to_string(), e.to_string())),
    }
}

/// The DID the hub issues as: configured, or the `did:key` of its peer id.
pub fn hub_did(config: &Config, hub: &libp2p::PeerId) -> Result<String, RunError> {
    match &config.hub_did {
        Some(did) => Ok(did.clone()),
        None => Ok(agora_did::did_of_peer(hub)?),
    }
}

/// Reads the pseudonym key of a data directory.
pub fn pseudonym_key(config: &Config) -> Result<PseudonymKey, RunError> {
    Ok(PseudonymKey::from_bytes(agora_did::keyfile::read_secret(&config.pseudonym_key_file())?))
}

/// Runs the node until `cancel` fires: the network task (dialling the hub) and the local HTTP API.
pub async fn run(config: Config, cancel: CancellationToken) -> Result<(), RunError> {
    let key = agora_did::keyfile::read_keypair(&config.key_file())?;
    let peer_id = key.public().to_peer_id();
    let pseudonym = Arc::new(pseudonym_key(&config)?);
    let hub_address = config.hub_address.clone().ok_or(RunError::NoHub)?;
    let (_, hub) = net::parse_hub_address(&hub_address)?;
    if let Some(lock) = ingest::IngestLock::try_acquire(&config.data_dir)? {
        let store = store::Store::open(&config.store_path())?;
        let n = ingest::mark_interrupted(&store, &lock, true)?;
        if n > 0 {
            info!(target: "node", jobs = n, "ingest jobs cut off by an earlier process are marked interrupted");
        }
    }
    let mut service = QueryService::new(
        config.name.clone(),
        config.store_path(),
        key.clone(),
        config.policy.clone(),
        hub,
        hub_did(&config, &hub)?,
        node_credential(&config)?,
    )?;
    if config.prove_answers {
        let settings = proofs::ProverSettings {
            threshold: config.policy.threshold,
            workers: config.prover_workers,
            queue: config.prover_queue,
            max_rows: config.prover_max_rows,
            max_chunks: config.prover_max_chunks,
            every_value: config.prover_every_value,
        };
        let prover = proofs::Prover::start(config.store_path(), key.clone(), settings, cancel.clone());
        // Commit before connecting, so the first hello registers the commitment before any query can
        // reach this node (bounded: a very large store connects unproven and commits in the background).
        let first = prover.clone();
        let committing = tokio::spawn(async move {
            if let Err(e) = first.commit_current().await {
                tracing::warn!(target: "node::proof", %e, "cannot commit the first snapshot");
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(30), committing).await;
        service = service.with_prover(prover);
    }
    let service = Arc::new(service);
    let key_for_did = key.clone();
    let net_task = net::NodeNet::new(key, &hub_address, service, config.query_workers)?;

    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|source| RunError::Http { addr: config.http_listen, source })?;
    let http = listener.local_addr().map_err(|source| RunError::Http { addr: config.http_listen, source })?;
    let identity = agora_did::identity::identity_of_keypair(&key_for_did).expect("the node key is Ed25519");
    let did = identity.did().to_string();
    let patients = consent::PatientCredentials::new(
        identity,
        config.store_path(),
        &config.public_url_for(http),
        pseudonym.clone(),
    );
    let app = api::router(api::NodeApi {
        store_path: config.store_path(),
        spool_dir: config.spool_dir(),
        patients,
        pseudonym,
        max_body_bytes: config.max_body_bytes,
        batch_size: config.ingest_batch,
        data_dir: config.data_dir.clone(),
        ingest_lock: Arc::new(tokio::sync::Mutex::new(())),
    });
    let ready = Ready { peer_id: peer_id.to_string(), http, did };
    let ready_path = config.data_dir.join("ready.json");
    std::fs::write(&ready_path, serde_json::to_vec_pretty(&ready).expect("serialises"))
        .map_err(|e| RunError::ReadyFile(ready_path.display().to_string(), e))?;
    info!(target: "node", peer_id = %peer_id, hub = %hub, http = %http, "node ready");

    let net = tokio::spawn(net_task.run(cancel.clone()));
    let shutdown = cancel.clone();
    let served = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), net).await;
    let _ = std::fs::remove_file(&ready_path);
    served.map_err(|source| RunError::Http { addr: http, source })
}
