//! The `agora-node` binary: parses the command line, loads the configuration, starts tracing and calls
//! into the `agora_node` library.

use agora_node::config::Config;
use agora_node::ingest::{self, IngestOptions, Progress};
use agora_node::policy;
use agora_node::store::Store;
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "agora-node",
    version,
    about = "The Agora node: a hospital's on-prem store and federated query endpoint"
)]
struct Cli {
    /// The node's data directory (keys, node.toml, the SQLite store).
    #[arg(long, global = true, env = "AGORA_NODE_DATA_DIR", default_value = ".agora/node")]
    data_dir: PathBuf,
    /// Print the effective configuration and exit (keys live in their own files and are never printed).
    #[arg(long, global = true)]
    dump_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the data directory, node.toml, the node key (Ed25519, mode 0600), the pseudonym key and an
    /// empty store; print the node's libp2p peer id. Existing keys are kept.
    Init {
        /// Display name in the hub's registry (an institution label).
        #[arg(long)]
        name: Option<String>,
        /// The hub's libp2p address, ending in /p2p/<hub peer id>.
        #[arg(long)]
        hub_address: Option<String>,
        /// Local HTTP API address.
        #[arg(long)]
        http_listen: Option<std::net::SocketAddr>,
    },
    /// Dial the hub and answer its queries; serve the local HTTP API. Runs until Ctrl-C or SIGTERM.
    Run,
    /// Ingest FHIR R4 Bundles and Bulk Data NDJSON files (or directories of them).
    Ingest {
        /// Files or directories (`*.ndjson`, `*.json`).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Job id (default: a new one). Re-running an interrupted job with its id completes it.
        #[arg(long)]
        job_id: Option<String>,
        /// No progress bar; the summary still goes to stdout.
        #[arg(long)]
        quiet: bool,
        /// Print the whole report as JSON instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Print an ingest job's status and errors as JSON.
    Job {
        /// The job id.
        id: String,
    },
    /// Write synthetic FHIR NDJSON (made-up patients) for demos and benchmarks.
    Synth {
        /// Number of patients.
        #[arg(long, default_value_t = 1000)]
        patients: usize,
        /// Random seed: the same seed gives the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output directory.
        #[arg(long, default_value = "synth")]
        out: PathBuf,
    },
    /// The data steward's queue of held queries.
    Queries {
        #[command(subcommand)]
        command: QueriesCommand,
    },
    /// Issue a credential to a patient's wallet (printed as JSON, or a JWT with --format jwt).
    Issue {
        #[command(subcommand)]
        command: IssueCommand,
    },
    /// The NodeCredential the hub issued to this node.
    Credential {
        #[command(subcommand)]
        command: CredentialCommand,
    },
    /// Verify a credential, or a presentation (with --challenge and --domain), and print what it says.
    Verify(agora_did::files::VerifyArgs),
    /// Print this node's DID.
    Did,
}

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Credential")]
struct IssueOptions {
    /// The patient's FHIR Patient id in this node's data.
    #[arg(long)]
    patient: String,
    /// The DID of the patient's wallet.
    #[arg(long)]
    holder: String,
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
    /// A ConsentCredential: the patient may grant it (by presenting it at the node) and revoke it.
    Consent {
        #[command(flatten)]
        options: IssueOptions,
        /// The purpose or study consented to.
        #[arg(long)]
        purpose: String,
        /// The data the consent covers: all of the patient's (the query engine applies a consent to all
        /// of it; a narrower scope is refused).
        #[arg(long, value_delimiter = ',', default_value = "conditions,measurements,medications")]
        scope: Vec<String>,
    },
    /// A DiagnosisCredential attesting a condition in the patient's record (e.g. for trial eligibility).
    Diagnosis {
        #[command(flatten)]
        options: IssueOptions,
        /// The condition, as system:code (a `*` suffix matches a prefix), e.g. icd10cm:E11*.
        #[arg(long)]
        condition: String,
    },
}

#[derive(Debug, Subcommand)]
enum CredentialCommand {
    /// Check a NodeCredential (issued by this node's hub, about this node's key) and install it: the node
    /// presents it to the hub when it connects.
    Install {
        /// The credential file (JSON, or a compact JWT).
        file: PathBuf,
    },
    /// Print the installed NodeCredential.
    Show,
}

#[derive(Debug, Subcommand)]
enum QueriesCommand {
    /// List queries waiting for approval, in readable form.
    Pending {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a held query: the running node executes it and sends the answer to the hub.
    Approve {
        /// The query id.
        id: uuid::Uuid,
    },
    /// Reject a held query; the hub is told the reason.
    Reject {
        /// The query id.
        id: uuid::Uuid,
        /// Why (sent to the hub and the researcher).
        #[arg(long, default_value = "rejected by the data steward")]
        reason: String,
    },
    /// Count refused and rejected queries by reason.
    Rejections,
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

fn init(
    cli_dir: &Path,
    name: Option<String>,
    hub_address: Option<String>,
    http_listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(cli_dir).with_context(|| format!("creating {}", cli_dir.display()))?;
    let mut cfg = Config::load(cli_dir).context("reading the node configuration")?;
    let secret = if cfg.key_file().exists() {
        agora_did::keyfile::read_secret(&cfg.key_file())?
    } else {
        agora_did::keyfile::create_secret(&cfg.key_file())?
    };
    if !cfg.pseudonym_key_file().exists() {
        agora_did::keyfile::create_secret(&cfg.pseudonym_key_file())?;
    }
    if let Some(n) = name {
        cfg.name = n;
    }
    if let Some(a) = hub_address {
        agora_node::net::parse_hub_address(&a)?;
        cfg.hub_address = Some(a);
    }
    if let Some(a) = http_listen {
        cfg.http_listen = a;
    }
    cfg.data_dir = cli_dir.to_path_buf();
    std::fs::write(Config::file(cli_dir), cfg.to_toml()).with_context(|| "writing node.toml".to_string())?;
    Store::open(&cfg.store_path())?;
    let peer = agora_did::keyfile::keypair(secret).public().to_peer_id();
    println!("{peer}");
    eprintln!("node `{}` initialised in {}: peer id {peer}", cfg.name, cli_dir.display());
    Ok(())
}

/// Files named on the command line, with directories expanded to their `*.ndjson` and `*.json` files.
fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "ndjson" || x == "json"))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        bail!("no .ndjson or .json files found in the paths given");
    }
    Ok(out)
}

fn run_ingest(
    config: &Config,
    paths: &[PathBuf],
    job_id: Option<String>,
    quiet: bool,
    json: bool,
) -> anyhow::Result<()> {
    let files = expand(paths)?;
    let key = agora_node::pseudonym_key(config).context("run `agora-node init` first")?;
    let lock = match ingest::IngestLock::try_acquire(&config.data_dir)? {
        Some(lock) => lock,
        None => {
            eprintln!("another ingest into this store is running: waiting for it to finish");
            ingest::IngestLock::acquire(&config.data_dir)?
        }
    };
    let mut store = Store::open(&config.store_path())?;
    ingest::mark_interrupted(&store, &lock, false)?;
    let job_id = job_id.unwrap_or_else(|| {
        let t = time::OffsetDateTime::now_utc();
        format!("cli-{}-{}", t.unix_timestamp(), &uuid::Uuid::new_v4().simple().to_string()[..8])
    });
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
            .expect("valid template"),
    );
    let opts = IngestOptions { batch_size: config.ingest_batch };
    let report = ingest::run_job(&mut store, &key, &job_id, &files, &opts, &mut |p: &Progress| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
        bar.set_message(format!("{} resources", p.resources));
    })
    .with_context(|| format!("ingest job {job_id}"))?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    for issue in report.issues.iter().take(20) {
        eprintln!("{issue}");
    }
    if report.n_issues > 20 {
        eprintln!("... {} issues in all: `agora-node job {job_id}` lists them", report.n_issues);
    }
    println!("{report} (job {job_id})");
    Ok(())
}

fn queries(config: &Config, command: QueriesCommand) -> anyhow::Result<()> {
    let store = Store::open(&config.store_path())?;
    match command {
        QueriesCommand::Pending { json } => {
            let held = policy::pending(&store)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&held)?);
            } else if held.is_empty() {
                println!("no queries waiting for approval");
            } else {
                for q in held {
                    let at = time::OffsetDateTime::from_unix_timestamp(q.received_at)
                        .ok()
                        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                        .unwrap_or_default();
                    println!("{}  from {}  received {at}", q.query_id, q.researcher);
                    if let Some(p) = &q.purpose {
                        println!("  purpose: {p}");
                    }
                    for line in q.query.lines() {
                        println!("  {line}");
                    }
                }
            }
        }
        QueriesCommand::Approve { id } => {
            policy::approve(&store, id)?;
            println!("approved {id}: the running node executes it and sends the answer to the hub");
        }
        QueriesCommand::Reject { id, reason } => {
            policy::reject(&store, id, &reason)?;
            println!("rejected {id}");
        }
        QueriesCommand::Rejections => {
            let counts = policy::rejection_counts(&store)?;
            if counts.is_empty() {
                println!("no queries refused");
            }
            for (code, n) in counts {
                println!("{code:>20}  {n}");
            }
        }
    }
    Ok(())
}

fn patients(config: &Config) -> anyhow::Result<agora_node::consent::PatientCredentials> {
    let identity = agora_did::Identity::from_key_file(&config.key_file()).context("run `agora-node init` first")?;
    let pseudonyms = std::sync::Arc::new(agora_node::pseudonym_key(config)?);
    Ok(agora_node::consent::PatientCredentials::new(
        identity,
        config.store_path(),
        &config.public_url_for(config.http_listen),
        pseudonyms,
    ))
}

async fn issue(config: &Config, command: IssueCommand) -> anyhow::Result<()> {
    let patients = patients(config)?;
    let (id, vc, out) = match command {
        IssueCommand::Consent { options: o, purpose, scope } => {
            let (id, vc) =
                patients.issue_consent(&o.patient, &o.holder, &purpose, &scope, o.valid_days, o.format).await?;
            (id, vc, o.out)
        }
        IssueCommand::Diagnosis { options: o, condition } => {
            let (id, vc) = patients.issue_diagnosis(&o.patient, &o.holder, &condition, o.valid_days, o.format).await?;
            (id, vc, o.out)
        }
    };
    agora_did::files::write(out.as_deref(), &vc)?;
    eprintln!("issued {id} as {}", patients.did());
    Ok(())
}

async fn install_credential(config: &Config, file: &Path) -> anyhow::Result<()> {
    let credential = agora_did::files::read(file)?;
    let verified = agora_did::credential::Verifier::default().credential(&credential).await?;
    verified.expect_kind(agora_did::CredentialKind::NodeCredential)?;
    let me = agora_did::Identity::from_key_file(&config.key_file()).context("run `agora-node init` first")?;
    if verified.subject.as_deref() != Some(me.did()) {
        bail!("this NodeCredential is about {}, not this node ({})", verified.subject.unwrap_or_default(), me.did());
    }
    if let Some(hub) = config.hub_address.as_deref() {
        let (_, hub) = agora_node::net::parse_hub_address(hub)?;
        let hub_did = agora_node::hub_did(config, &hub)?;
        verified.expect_issuer(&hub_did)?;
    }
    agora_did::files::write(Some(&config.node_credential_file()), &credential)?;
    eprintln!(
        "installed the NodeCredential issued by {}; the node presents it to the hub when it connects",
        verified.issuer
    );
    Ok(())
}

/// Has the allocator give freed memory back to the system at once. glibc otherwise keeps what a commit
/// or a proof freed (its trim threshold grows with the large blocks freed), and the node's resident
/// memory grows by it: one proof at 2^20 rows peaked at 1,086–1,146 MB with the default and 1,027 MB
/// with a threshold of 0, at the same speed, and each further chunk of a dataset held then only its
/// Merkle tree (BENCHMARKS.md, "Chunks").
fn return_freed_memory() {
    // SAFETY: `mallopt` only sets one of the allocator's parameters; 0 is a valid trim threshold.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 0);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(&cli.data_dir).context("reading the node configuration")?;
    if cli.dump_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    let Some(command) = cli.command else { bail!("no command given: try `agora-node --help`") };
    match command {
        Command::Init { name, hub_address, http_listen } => init(&cli.data_dir, name, hub_address, http_listen)?,
        Command::Run => {
            return_freed_memory();
            init_tracing();
            let cancel = cancel_on_signals();
            agora_node::run(config, cancel).await?;
        }
        Command::Ingest { paths, job_id, quiet, json } => {
            init_tracing();
            tokio::task::spawn_blocking(move || run_ingest(&config, &paths, job_id, quiet, json)).await??;
        }
        Command::Job { id } => {
            let store = Store::open(&config.store_path())?;
            if let Some(lock) = ingest::IngestLock::try_acquire(&config.data_dir)? {
                // Nobody is ingesting: a job still `running` was cut off.
                ingest::mark_interrupted(&store, &lock, false)?;
            }
            match ingest::job_status(&store, &id)? {
                Some(s) => println!("{}", serde_json::to_string_pretty(&s)?),
                None => bail!("no ingest job `{id}` in {}", config.store_path().display()),
            }
        }
        Command::Synth { patients, seed, out } => {
            let report = agora_node::synth::write_ndjson(&out, patients, seed)
                .with_context(|| format!("writing synthetic data to {}", out.display()))?;
            println!("{report} to {}", out.display());
        }
        Command::Queries { command } => queries(&config, command)?,
        Command::Issue { command } => issue(&config, command).await?,
        Command::Credential { command: CredentialCommand::Install { file } } => {
            install_credential(&config, &file).await?
        }
        Command::Credential { command: CredentialCommand::Show } => match agora_node::node_credential(&config)? {
            Some(c) => println!("{}", serde_json::to_string_pretty(&c)?),
            None => bail!("no NodeCredential installed: `agora-node credential install FILE`"),
        },
        Command::Verify(args) => println!("{}", serde_json::to_string_pretty(&args.run().await?)?),
        Command::Did => println!("{}", agora_did::Identity::from_key_file(&config.key_file())?.did()),
    }
    Ok(())
}
