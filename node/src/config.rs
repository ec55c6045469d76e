//! The node's configuration: `node.toml` in the data directory, every key overridable by an
//! `AGORA_NODE_*` environment variable (nested keys with `__`, e.g. `AGORA_NODE_POLICY__THRESHOLD=20`).

use crate::policy::PolicyConfig;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The node's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The node's display name in the hub's registry (an institution label, never patient data).
    pub name: String,
    /// Where the keys, the config, the store and spooled uploads live.
    pub data_dir: PathBuf,
    /// The hub's libp2p address, ending in `/p2p/<hub peer id>`: the node dials out to it and answers
    /// queries signed by that peer only.
    pub hub_address: Option<String>,
    /// The DID the hub issues credentials as (its did:web, if the operator has one). Default: the
    /// `did:key` of the hub's peer id.
    pub hub_did: Option<String>,
    /// The public base URL of this node's HTTP API, under which its revocation list is published.
    /// Default: the address it is bound to.
    pub public_url: Option<String>,
    /// Local HTTP API (ingest, job status): loopback by default, for the hospital's own operators.
    pub http_listen: SocketAddr,
    /// Largest ingest upload the HTTP API accepts, in bytes; use the CLI for larger files.
    pub max_body_bytes: u64,
    /// Resources per ingest transaction.
    pub ingest_batch: usize,
    /// Queries executed at once.
    pub query_workers: usize,
    /// Prove answers of provable kinds with STARK proofs sent after the answer (agora-zk).
    pub prove_answers: bool,
    /// Proofs computed at once (each adds its own columns to the snapshot's memory: BENCHMARKS.md).
    pub prover_workers: usize,
    /// Proofs waiting for a worker; when full, an answer goes out with "prover busy" instead.
    pub prover_queue: usize,
    /// The most rows the node's snapshot may hold (per patient: the patient, their sex, each distinct
    /// condition and medication code and code prefix, their birth month, every plausible value of each
    /// measure, which are left out, and not proven, when only they exceed it, and each measure's latest
    /// value). The default is the most the proof format holds, 3,932,158 (a 2^22-row trace): every
    /// statement measured there peaks within 1.5 GB (1.05 GB for the commit, 1.16–1.41 GB per proof;
    /// 0.57–1.24 GB at 2^21, 0.37–1.30 GB at 2^20; BENCHMARKS.md), and a proof takes 30 s (one
    /// criterion) to 221 s (the widest statements), about half at 2^21 and a quarter at 2^20. The extensions (but a
    /// proof's even rows while they fit) and the polynomials go to scratch files in
    /// `<data_dir>/prover-scratch`: about 6 GB per snapshot at 2^22 and 0.2 GB per column of each
    /// running proof, of which up to 4 GiB are kept between proofs for the next to overwrite
    /// (agora-zk's `scratch.rs`). A lower cap bounds proving time and disk instead. Each worker proves with its own
    /// columns: `prover_workers` above 1 multiplies the proofs' part.
    pub prover_max_rows: usize,
    /// A store above `prover_max_rows` is committed in chunks of whole patients, each at most
    /// `prover_max_rows` rows and proven on its own (agora-zk's chunks: no chunk's own count is
    /// disclosed), in at most this many (1: never; 10 by default; at most 256, agora-zk's most; a
    /// cell's parts go to the hub in messages of at most ten). Memory stays that of one chunk's proof
    /// (a parked chunk keeps its rows and its Merkle tree in scratch files); time and scratch disk grow
    /// with the chunks (a chunk's proof takes about three times a single snapshot's of the same rows, and
    /// a chunk of 2^22 trace rows keeps about 6 GB of scratch files: BENCHMARKS.md, "Chunks"). Raise it
    /// for a larger store when the data directory's disk holds the chunks' scratch files.
    pub prover_max_chunks: usize,
    /// Commit every plausible value of each measure (not only each patient's latest), so that answers
    /// over every value are proven too; the rows make every proof over the snapshot slower (a larger
    /// trace), so a node may turn them off.
    pub prover_every_value: bool,
    /// The hospital's query policy and disclosure control.
    pub policy: PolicyConfig,
}

/// The default `prover_max_chunks`: ten chunks of at most 2^22 trace rows (39 million rows), which keep
/// about 60 GB of scratch disk; an operator with the disk raises it (BENCHMARKS.md, "Chunks").
pub const DEFAULT_MAX_CHUNKS: usize = 10;

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "agora-node".into(),
            data_dir: PathBuf::from(".agora/node"),
            hub_address: None,
            hub_did: None,
            public_url: None,
            http_listen: "127.0.0.1:7100".parse().expect("valid address"),
            max_body_bytes: 64 * 1024 * 1024,
            ingest_batch: 50_000,
            query_workers: 2,
            prove_answers: true,
            prover_workers: 1,
            prover_queue: 16,
            prover_max_rows: agora_zk::format::capacity(agora_zk::format::MAX_TRACE_LENGTH),
            prover_max_chunks: DEFAULT_MAX_CHUNKS,
            prover_every_value: true,
            policy: PolicyConfig::default(),
        }
    }
}

/// Errors loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// figment failed.
    #[error("node configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is out of range.
    #[error("node configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// The config file inside a data directory.
    pub fn file(data_dir: &Path) -> PathBuf {
        data_dir.join("node.toml")
    }

    /// Loads defaults, then `node.toml`, then `AGORA_NODE_*` variables, and checks the result.
    pub fn load(data_dir: &Path) -> Result<Config, ConfigError> {
        let mut c: Config =
            Figment::from(Serialized::defaults(Config { data_dir: data_dir.into(), ..Config::default() }))
                .merge(Toml::file(Config::file(data_dir)))
                .merge(Env::prefixed("AGORA_NODE_").split("__"))
                .extract()
                .map_err(Box::new)?;
        if c.data_dir.as_os_str().is_empty() {
            c.data_dir = data_dir.into();
        }
        c.policy.validate().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if c.query_workers == 0 || c.ingest_batch == 0 || c.prover_workers == 0 {
            return Err(ConfigError::Invalid(
                "query_workers, prover_workers and ingest_batch must be at least 1".into(),
            ));
        }
        let most = agora_protocol::proof::MAX_CHUNKS_PER_DATASET;
        if !(1..=most).contains(&c.prover_max_chunks) {
            return Err(ConfigError::Invalid(format!(
                "prover_max_chunks is {}: it must be 1 to {most}",
                c.prover_max_chunks
            )));
        }
        Ok(c)
    }

    /// The SQLite store.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("node.db")
    }

    /// The node's Ed25519 key (libp2p identity and message signatures).
    pub fn key_file(&self) -> PathBuf {
        self.data_dir.join("node.key")
    }

    /// The secret the patient pseudonyms are keyed with.
    pub fn pseudonym_key_file(&self) -> PathBuf {
        self.data_dir.join("pseudonym.key")
    }

    /// The NodeCredential the hub issued (`agora-node credential install`).
    pub fn node_credential_file(&self) -> PathBuf {
        self.data_dir.join("node-credential.json")
    }

    /// The public base URL, given the address the API is bound to.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{bound}"))
    }

    /// Where HTTP uploads are spooled before ingest.
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }

    /// The effective configuration as TOML (it holds no secrets: keys live in their own files).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prover_max_chunks_is_ten_by_default_and_one_to_256() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(dir.path()).unwrap().prover_max_chunks, 10);
        for (value, ok) in [(0, false), (1, true), (11, true), (256, true), (257, false)] {
            std::fs::write(Config::file(dir.path()), format!("prover_max_chunks = {value}\n")).unwrap();
            match Config::load(dir.path()) {
                Ok(c) => assert!(ok && c.prover_max_chunks == value, "{value}"),
                Err(e) => assert!(!ok && e.to_string().contains("1 to 256"), "{value}: {e}"),
            }
        }
    }
}
