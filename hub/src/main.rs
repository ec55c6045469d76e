//! The `agora-hub` binary: parses the command line, loads the configuration, starts tracing and calls
//! into the `agora_hub` library.

use agora_hub::authority::Authority;
use agora_hub::client::{HubClient, QueryArgs, Researcher};
use agora_hub::config::Config;
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(name = "agora-hub", version, about = "The Agora hub: federated aggregate queries over Agora nodes")]
struct Cli {
    /// The hub's data directory (key, config, SQLite store).
    #[arg(long, global = true, env = "AGORA_HUB_DATA_DIR", default_value = ".agora/hub")]
    data_dir: PathBuf,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long, global = true)]
    dump_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Create the data directory, the hub key (Ed25519, mode 0600) and hub.toml; print the peer id.
    Init {
        /// libp2p listen address written to hub.toml.
        #[arg(long)]
        p2p_listen: Option<String>,
        /// HTTP listen address written to hub.toml.
        #[arg(long)]
        http_listen: Option<std::net::SocketAddr>,
        /// Database URL written to hub.toml (default: SQLite in the data directory).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Run the hub until Ctrl-C.
    Run,
    /// Issue a credential (printed as JSON, or a JWT with --format jwt).
    Issue {
        #[command(subcommand)]
        command: IssueCommand,
    },
    /// Revoke a credential this hub issued (by its id, urn:uuid:…).
    Revoke {
        /// The credential id.
        id: String,
    },
    /// List the credentials this hub issued.
    Credentials,
    /// Verify a credential, or a presentation (with --challenge and --domain), and print what it says.
    Verify(agora_did::files::VerifyArgs),
    /// Print the hub's DID (and its did:web document, if it has one).
    Did,
    /// Submit a federated query and print the combined table.
    Query {
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        query: QueryArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json_output: bool,
        /// How long to wait for the result, in seconds.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
    /// Print a query's current result.
    Result {
        #[command(flatten)]
        connect: Connect,
        /// The query id.
        id: uuid::Uuid,
    },
    /// List the node registry.
    Nodes {
        #[command(flatten)]
        connect: Connect,
    },
}

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Hub connection")]
struct Connect {
    /// The hub's API.
    #[arg(long, env = "AGORA_HUB_URL", default_value = "http://127.0.0.1:8080")]
    hub: String,
    /// The researcher's key file (`agora-wallet keygen`).
    #[arg(long, env = "AGORA_RESEARCHER_KEY")]
    key: PathBuf,
    /// The researcher's ResearcherCredential (JSON, or a compact JWT).
    #[arg(long, env = "AGORA_RESEARCHER_CREDENTIAL")]
    credential: PathBuf,
}

impl Connect {
    async fn login(&self) -> anyhow::Result<HubClient> {
        let researcher = Researcher::from_files(&self.key, &self.credential)?;
        Ok(HubClient::login(&self.hub, researcher).await?)
    }
}

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Credential")]
struct IssueOptions {
    /// Days the credential is valid.
    #[arg(long, default_value_t = 365)]
    valid_days: i64,
    /// `di` (Data Integrity, eddsa-rdfc-2022) or `jwt` (VC-JOSE).
    #[arg(long, default_value = "di")]
    format: agora_did::CredentialFormat,
    /// Write it here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum IssueCommand {
    /// A NodeCredential admitting a node to the network.
    Node {
        /// The node's peer id (`agora-node init` prints it).
        #[arg(long)]
        peer_id: libp2p::PeerId,
        /// Its display name.
        #[arg(long)]
        name: String,
        /// The institution running it.
        #[arg(long)]
        institution: String,
        /// Its country (ISO 3166 code).
        #[arg(long)]
        country: String,
        /// The query kinds it may be sent.
        #[arg(long, value_delimiter = ',', default_value = "count,sum,mean,sd,histogram")]
        query_kinds: Vec<String>,
        #[command(flatten)]
        options: IssueOptions,
    },
    /// A ResearcherCredential letting a researcher query the network for approved purposes.
    Researcher {
        /// The researcher's DID (`agora-wallet keygen` prints it).
        #[arg(long)]
        holder: String,
        /// Their name.
        #[arg(long)]
        name: String,
        /// Their institution.
        #[arg(long)]
        institution: String,
        /// Approved purposes or studies.
        #[arg(long, value_delimiter = ',', required = true)]
        purposes: Vec<String>,
        #[command(flatten)]
        options: IssueOptions,
    },
}

async fn authority(config: &Config) -> anyhow::Result<Authority> {
    let key = agora_did::Identity::from_key_file(&config.key_file()).context("run `agora-hub init` first")?;
    let store = agora_hub::store::HubStore::connect(&config.database_url()).await?;
    Ok(Authority::new(
        key,
        config.did_web.as_deref(),
        &config.public_url_for(config.http_listen),
        store,
        config.open_admission,
    )?)
}

fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AGORA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

fn cancel_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        t.cancel();
    });
    token
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(&cli.data_dir).context("reading the hub configuration")?;
    if cli.dump_config {
        print!("{}", config.redacted_toml());
        return Ok(());
    }
    let Some(command) = cli.command else { bail!("no command given: try `agora-hub --help`") };
    match command {
        Command::Init { p2p_listen, http_listen, database_url } => {
            std::fs::create_dir_all(&cli.data_dir).with_context(|| format!("creating {}", cli.data_dir.display()))?;
            let key_path = config.key_file();
            let secret = agora_did::keyfile::create_secret(&key_path)?;
            let mut file_cfg = Config { data_dir: cli.data_dir.clone(), ..Config::default() };
            if let Some(a) = p2p_listen {
                file_cfg.p2p_listen = a;
            }
            if let Some(a) = http_listen {
                file_cfg.http_listen = a;
            }
            file_cfg.database_url = database_url;
            let cfg_path = Config::file(&cli.data_dir);
            if !cfg_path.exists() {
                std::fs::write(&cfg_path, toml::to_string_pretty(&file_cfg)?)
                    .with_context(|| format!("writing {}", cfg_path.display()))?;
            }
            let peer = agora_did::keyfile::keypair(secret).public().to_peer_id();
            println!("{peer}");
            eprintln!("hub initialised in {}: peer id {peer}", cli.data_dir.display());
        }
        Command::Run => {
            init_tracing();
            let cancel = cancel_on_signals();
            agora_hub::run(config, cancel).await?;
        }
        Command::Issue { command } => {
            let authority = authority(&config).await?;
            let (id, credential, out) = match command {
                IssueCommand::Node { peer_id, name, institution, country, query_kinds, options } => {
                    let claims = agora_hub::authority::NodeClaims { name, institution, country, query_kinds };
                    let (id, vc) = authority.issue_node(&peer_id, &claims, options.valid_days, options.format).await?;
                    (id, vc, options.out)
                }
                IssueCommand::Researcher { holder, name, institution, purposes, options } => {
                    let (id, vc) = authority
                        .issue_researcher(&holder, &name, &institution, &purposes, options.valid_days, options.format)
                        .await?;
                    (id, vc, options.out)
                }
            };
            agora_did::files::write(out.as_deref(), &credential)?;
            eprintln!("issued {id} as {}", authority.did());
        }
        Command::Revoke { id } => {
            authority(&config).await?.revoke(&id).await?;
            eprintln!("revoked {id}: verifiers see it when they next fetch the status list (within 5 minutes)");
        }
        Command::Credentials => {
            let store = agora_hub::store::HubStore::connect(&config.database_url()).await?;
            println!("{}", serde_json::to_string_pretty(&store.credentials().await?)?);
        }
        Command::Verify(args) => println!("{}", serde_json::to_string_pretty(&args.run().await?)?),
        Command::Did => {
            let authority = authority(&config).await?;
            println!("{}", authority.did());
            if let Some(doc) = authority.did_document() {
                println!("{}", serde_json::to_string_pretty(&doc)?);
            }
        }
        Command::Query { connect, query, json_output, wait } => {
            let purpose = query.purpose.clone();
            let q = query.to_query()?;
            let client = connect.login().await?;
            let id = client.submit(q, purpose).await?;
            let result = client.wait(id, Duration::from_secs(wait)).await?;
            if json_output {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print!("{}", result.to_table());
            }
        }
        Command::Result { connect, id } => {
            let client = connect.login().await?;
            print!("{}", client.result(id).await?.to_table());
        }
        Command::Nodes { connect } => {
            let client = connect.login().await?;
            println!("{}", serde_json::to_string_pretty(&client.nodes().await?)?);
        }
    }
    Ok(())
}
