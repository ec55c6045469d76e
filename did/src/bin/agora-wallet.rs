//! `agora-wallet`: a minimal wallet for researchers and patients. It keeps an Ed25519 key (its DID is the
//! key's `did:key`), presents credentials for a verifier's challenge, and grants or revokes consent at a
//! hospital node by presenting a ConsentCredential there.

use agora_did::credential::Issuer;
use agora_did::{CredentialFormat, Identity};
use anyhow::bail;
use clap::{Parser, Subcommand};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "agora-wallet", version, about = "Keep a key, present credentials, grant and revoke consent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a new key (mode 0600) and print its DID.
    Keygen {
        /// The key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the DID of a key.
    Did {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Print a presentation of credentials for a challenge and domain.
    Present {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
        /// Credential files (JSON, or compact JWTs).
        #[arg(long = "credential", required = true)]
        credentials: Vec<PathBuf>,
        /// The verifier's challenge.
        #[arg(long)]
        challenge: String,
        /// The verifier's DID.
        #[arg(long)]
        domain: String,
        /// `jwt` (VC-JOSE) or `di` (Data Integrity).
        #[arg(long, default_value = "jwt")]
        format: CredentialFormat,
    },
    /// Grant consent at a node: fetch its challenge, present the ConsentCredential, print the outcome.
    Grant {
        #[command(flatten)]
        at: AtNode,
    },
    /// Revoke consent at a node the same way.
    Revoke {
        #[command(flatten)]
        at: AtNode,
    },
    /// Verify a credential, or a presentation (with --challenge and --domain).
    Verify(agora_did::files::VerifyArgs),
}

#[derive(Debug, clap::Args)]
struct AtNode {
    /// The node's HTTP API, e.g. http://127.0.0.1:7100.
    #[arg(long)]
    node: String,
    /// The key file.
    #[arg(long)]
    key: PathBuf,
    /// The ConsentCredential file.
    #[arg(long)]
    credential: PathBuf,
}

async fn at_node(at: &AtNode, action: &str) -> anyhow::Result<Value> {
    let holder = Issuer::key(Identity::from_key_file(&at.key)?);
    let credential = agora_did::files::read(&at.credential)?;
    let http = reqwest::Client::new();
    let base = at.node.trim_end_matches('/');
    let challenge: Value =
        http.post(format!("{base}/v1/consent/challenge")).send().await?.error_for_status()?.json().await?;
    let (Some(c), Some(d)) = (challenge["challenge"].as_str(), challenge["domain"].as_str()) else {
        bail!("the node's challenge response is malformed: {challenge}");
    };
    let vp = agora_did::presentation::present(&holder, &[credential], c, d, CredentialFormat::Jose).await?;
    let url = match action {
        "grant" => format!("{base}/v1/consent"),
        _ => format!("{base}/v1/consent/revoke"),
    };
    let resp = http.post(url).json(&serde_json::json!({ "presentation": vp })).send().await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("the node refused ({status}): {}", body["error"].as_str().unwrap_or("no reason given"));
    }
    Ok(body)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Keygen { out } => {
            let secret = agora_did::keyfile::create_secret(&out)?;
            println!("{}", Identity::from_secret(secret).did());
        }
        Command::Did { key } => println!("{}", Identity::from_key_file(&key)?.did()),
        Command::Present { key, credentials, challenge, domain, format } => {
            let holder = Issuer::key(Identity::from_key_file(&key)?);
            let creds = credentials.iter().map(|p| agora_did::files::read(p)).collect::<Result<Vec<_>, _>>()?;
            let vp = agora_did::presentation::present(&holder, &creds, &challenge, &domain, format).await?;
            println!("{}", agora_did::files::to_text(&vp));
        }
        Command::Grant { at } => println!("{}", serde_json::to_string_pretty(&at_node(&at, "grant").await?)?),
        Command::Revoke { at } => println!("{}", serde_json::to_string_pretty(&at_node(&at, "revoke").await?)?),
        Command::Verify(args) => println!("{}", serde_json::to_string_pretty(&args.run().await?)?),
    }
    Ok(())
}
