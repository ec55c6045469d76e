//! The `agora-hub` binary: parses the command line, loads the configuration, starts tracing and calls
//! into the `agora_hub` library.

use agora_hub::client::{HubClient, QueryArgs};
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
    /// Manage researcher accounts.
    Researcher {
        #[command(subcommand)]
        command: ResearcherCommand,
    },
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
    /// The researcher's API token.
    #[arg(long, env = "AGORA_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Debug, Subcommand)]
enum ResearcherCommand {
    /// Add a researcher and print their API token (shown once).
    Add {
        /// Account name.
        name: String,
    },
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
        Command::Researcher { command: ResearcherCommand::Add { name } } => {
            let store = agora_hub::store::HubStore::connect(&config.database_url()).await?;
            let token = store.add_researcher(&name, agora_hub::coordinator::now()).await?;
            println!("{token}");
            eprintln!("researcher `{name}` added; the token above is shown once");
        }
        Command::Query { connect, query, json_output, wait } => {
            let purpose = query.purpose.clone();
            let q = query.to_query()?;
            let client = HubClient::new(&connect.hub, &connect.token);
            let id = client.submit(q, purpose).await?;
            let result = client.wait(id, Duration::from_secs(wait)).await?;
            if json_output {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print!("{}", result.to_table());
            }
        }
        Command::Result { connect, id } => {
            let client = HubClient::new(&connect.hub, &connect.token);
            print!("{}", client.result(id).await?.to_table());
        }
        Command::Nodes { connect } => {
            let client = HubClient::new(&connect.hub, &connect.token);
            println!("{}", serde_json::to_string_pretty(&client.nodes().await?)?);
        }
    }
    Ok(())
}
