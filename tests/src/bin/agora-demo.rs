//! The Agora demo: a hub and three hospital nodes as separate processes on loopback, each with its own
//! synthetic patients, and a few federated queries whose combined tables are printed.

use agora_hub::client::QueryArgs;
use agora_tests::{NetOptions, TestNet};
use anyhow::Context;
use clap::Parser;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(name = "agora-demo", about = "Start a hub and hospital nodes on loopback and run federated queries")]
struct Cli {
    /// Number of hospital nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Synthetic patients per node.
    #[arg(long, default_value_t = 2000)]
    patients: usize,
    /// Keep the network running after the queries, until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
    /// Keep the data directories here (default: a temporary directory, removed at exit).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Parser)]
struct Example {
    #[command(flatten)]
    q: QueryArgs,
}

fn example(title: &str, args: &[&str]) -> (String, QueryArgs) {
    let mut argv = vec!["example"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--reference-date", "2026-01-01"]);
    (title.to_string(), Example::parse_from(argv).q)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let started = Instant::now();
    println!(
        "Starting a hub and {} hospital nodes on loopback ({} synthetic patients each)...",
        cli.nodes, cli.patients
    );
    let net = TestNet::spawn(NetOptions {
        nodes: cli.nodes,
        patients_per_node: cli.patients,
        dir: cli.dir.clone(),
        ..NetOptions::default()
    })
    .await
    .context("starting the demo network")?;
    println!("hub    {}  (API {})", net.ready.peer_id, net.hub_url());
    for n in &net.nodes {
        println!("node   {}  {}  (local API {})", n.peer_id, n.name, n.http);
    }
    println!("ready in {:.1} s\n", started.elapsed().as_secs_f64());

    let examples = [
        example("Patients with type 2 diabetes (ICD-10-CM E11*), by sex", &["--condition", "icd10cm:E11*", "--by-sex"]),
        example(
            "Latest HbA1c (LOINC 4548-4) of patients with type 2 diabetes, by age band",
            &["--condition", "icd10cm:E11*", "--measure", "loinc:4548-4", "--aggregate", "count,mean,sd", "--age-bands", "40,65"],
        ),
        example(
            "Latest serum glucose (LOINC 2345-7, mg/dL; mmol/L inputs converted), histogram",
            &["--measure", "loinc:2345-7", "--aggregate", "count,mean,sd,histogram", "--edges", "70,100,126,200"],
        ),
        example(
            "Systolic blood pressure (LOINC 8480-6, a panel component) of hypertensive patients on lisinopril, by sex",
            &["--condition", "icd10cm:I10", "--medication", "rxnorm:314076", "--measure", "loinc:8480-6", "--aggregate", "count,mean,sd", "--by-sex"],
        ),
        example(
            "Small cells: diabetic patients with CKD stage 3 (N18.3*), by sex and age band (cells below 10 are suppressed at the node)",
            &["--condition", "icd10cm:E11*", "--condition", "icd10cm:N18.3*", "--by-sex", "--age-bands", "50,70"],
        ),
    ];
    let client = net.client().await?;
    for (title, args) in examples {
        println!("== {title}");
        let query = args.to_query()?;
        let t = Instant::now();
        let id = client.submit(query, Some("demo".into())).await?;
        let result = client.wait(id, Duration::from_secs(30)).await?;
        print!("{}", result.to_table());
        println!("  (round trip {:.1} ms)\n", t.elapsed().as_secs_f64() * 1000.0);
    }
    if cli.keep_running {
        println!("The network keeps running. Try:");
        println!(
            "  AGORA_RESEARCHER_KEY={} AGORA_RESEARCHER_CREDENTIAL={} target/release/agora-hub query --hub {} \\\n      --purpose demo --condition icd10cm:I10 --by-sex",
            net.researcher_key.display(),
            net.researcher_credential.display(),
            net.hub_url()
        );
        println!("Press Ctrl-C to stop.");
        tokio::signal::ctrl_c().await?;
    }
    println!("Stopping the hub and nodes.");
    Ok(())
}
