//! The hub's configuration: `hub.toml` in the data directory, every key overridable by an `AGORA_HUB_*`
//! environment variable (nested keys with `__`, e.g. `AGORA_HUB_DATABASE_URL`).

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The hub's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the key, the config and (by default) the SQLite store live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: `hub.db` in the data directory.
    pub database_url: Option<String>,
    /// libp2p listen address nodes dial.
    pub p2p_listen: String,
    /// HTTP listen address of the researcher API.
    pub http_listen: SocketAddr,
    /// How long the hub waits for node answers, in seconds.
    pub query_deadline_secs: u64,
    /// How long a signed query stays valid, in seconds.
    pub query_ttl_secs: i64,
    /// Peer ids of the nodes admitted to the network; empty admits any node that signs its hello.
    pub allowed_nodes: Vec<String>,
    /// Largest request body the API accepts, in bytes.
    pub max_body_bytes: usize,
    /// Most queries being fanned out at once; more wait.
    pub max_inflight_queries: usize,
    /// The operator's `did:web` (e.g. `did:web:hub.example.org`): credentials are issued as it, and its
    /// document is served at `/.well-known/did.json`. Default: the hub key's `did:key`.
    pub did_web: Option<String>,
    /// The public base URL of this API (status lists are published under it). Default: the HTTP address
    /// the hub is bound to.
    pub public_url: Option<String>,
    /// Admit nodes that present no NodeCredential (for a closed test network only).
    pub open_admission: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(".agora/hub"),
            database_url: None,
            p2p_listen: "/ip4/127.0.0.1/tcp/7000".into(),
            http_listen: "127.0.0.1:8080".parse().expect("valid address"),
            query_deadline_secs: 10,
            query_ttl_secs: 300,
            allowed_nodes: Vec::new(),
            max_body_bytes: 1024 * 1024,
            max_inflight_queries: 1024,
            did_web: None,
            public_url: None,
            open_admission: false,
        }
    }
}

impl Config {
    /// The config file inside a data directory.
    pub fn file(data_dir: &Path) -> PathBuf {
        data_dir.join("hub.toml")
    }

    /// Loads defaults, then `hub.toml` of the data directory, then `AGORA_HUB_*` variables.
    pub fn load(data_dir: &Path) -> Result<Config, Box<figment::Error>> {
        let mut c: Config =
            Figment::from(Serialized::defaults(Config { data_dir: data_dir.into(), ..Config::default() }))
                .merge(Toml::file(Config::file(data_dir)))
                .merge(Env::prefixed("AGORA_HUB_").split("__"))
                .extract()
                .map_err(Box::new)?;
        if c.data_dir.as_os_str().is_empty() {
            c.data_dir = data_dir.into();
        }
        Ok(c)
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("hub.db").display()))
    }

    /// The key file.
    pub fn key_file(&self) -> PathBuf {
        self.data_dir.join("hub.key")
    }

    /// The public base URL, given the address the API is bound to.
    pub fn public_url_for(&self, bound: std::net::SocketAddr) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{bound}"))
    }

    /// The config with secrets redacted, as TOML (for `--dump-config`).
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        if let Some(url) = &c.database_url {
            c.database_url = Some(redact_url(url));
        }
        toml::to_string_pretty(&c).unwrap_or_default()
    }
}

/// Hides the password of a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://agora:s3cret@127.0.0.1:5432/hub"), "postgres://agora:***@127.0.0.1:5432/hub");
        assert_eq!(redact_url("sqlite://hub.db"), "sqlite://hub.db");
    }
}
