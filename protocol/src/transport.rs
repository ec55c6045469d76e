//! The libp2p stack both sides run: TCP + Noise + Yamux, identify, ping, and the `/agora/query/1`
//! request-response protocol with JSON frames. Building a swarm does no I/O until it listens or dials.

use crate::wire::{WireRequest, WireResponse};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, identity::Keypair, noise, ping, request_response, tcp, yamux, StreamProtocol, Swarm};
use std::time::Duration;

/// Largest request frame accepted on `/agora/query/1`: a node's proof message carries up to
/// `proof::MAX_PROOFS_PER_ANSWER` STARK proofs of at most 250 KB each, in base64.
pub const MAX_REQUEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest response frame accepted on `/agora/query/1`.
pub const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

mod behaviour {
    #![allow(missing_docs)]
    use super::*;

    /// The composed behaviour.
    #[derive(NetworkBehaviour)]
    pub struct Behaviour {
        /// `/agora/query/1`.
        pub rr: request_response::json::Behaviour<WireRequest, WireResponse>,
        /// Peer identification.
        pub identify: identify::Behaviour,
        /// Liveness.
        pub ping: ping::Behaviour,
    }
}
pub use behaviour::{Behaviour, BehaviourEvent};

/// Settings of the swarm.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// How long a request may wait for its response.
    pub request_timeout: Duration,
    /// Most concurrent streams per connection.
    pub max_concurrent_streams: usize,
    /// The agent string announced by identify (`agora-node/0.1.0`).
    pub agent: String,
}

/// Builds a swarm for a key.
pub fn build_swarm(
    key: Keypair,
    cfg: &TransportConfig,
) -> Result<Swarm<Behaviour>, Box<dyn std::error::Error + Send + Sync>> {
    let rr_cfg = request_response::Config::default()
        .with_request_timeout(cfg.request_timeout)
        .with_max_concurrent_streams(cfg.max_concurrent_streams);
    let agent = cfg.agent.clone();
    let mut yamux_cfg = yamux::Config::default();
    #[allow(deprecated)]
    yamux_cfg.set_max_num_streams(cfg.max_concurrent_streams.max(512));
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, move || yamux_cfg.clone())?
        .with_behaviour(|key| {
            let codec = request_response::json::codec::Codec::default()
                .set_request_size_maximum(MAX_REQUEST_BYTES)
                .set_response_size_maximum(MAX_RESPONSE_BYTES);
            let codec_rr = request_response::Behaviour::with_codec(
                codec,
                [(StreamProtocol::new(crate::QUERY_PROTOCOL), request_response::ProtocolSupport::Full)],
                rr_cfg,
            );
            Behaviour {
                rr: codec_rr,
                identify: identify::Behaviour::new(
                    identify::Config::new("/agora/1".into(), key.public()).with_agent_version(agent),
                ),
                ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(15))),
            }
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}
