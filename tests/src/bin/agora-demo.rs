//! The Agora demo: a hub and three hospital nodes as separate processes on loopback, each with its own
//! synthetic patients, a few federated queries whose combined tables are printed, and patients granting
//! and revoking consent from their wallets, which changes what a consent-bound study can count.

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
        // Study 7 counts only patients who consented; the `demo` purpose counts everyone.
        node_env: vec![("AGORA_NODE_POLICY__CONSENT_PURPOSES".into(), "[\"study-7\"]".into())],
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
    proven_examples(&client).await?;
    let wallet = consent_walkthrough(&net, &client).await?;
    if cli.keep_running {
        println!("The network keeps running. Try:");
        println!(
            "  AGORA_RESEARCHER_KEY={} AGORA_RESEARCHER_CREDENTIAL={} target/release/agora-hub query --hub {} \\\n      --purpose demo --condition icd10cm:I10 --by-sex",
            net.researcher_key.display(),
            net.researcher_credential.display(),
            net.hub_url()
        );
        let node = &net.nodes[0];
        println!(
            "  target/release/agora-wallet revoke --node {} --key {} --credential {}",
            node.http,
            wallet.0.display(),
            wallet.1.display()
        );
        println!("Press Ctrl-C to stop.");
        tokio::signal::ctrl_c().await?;
    }
    println!("Stopping the hub and nodes.");
    Ok(())
}

/// Issues ConsentCredentials to twelve patients of the first hospital, has their wallets grant them, then
/// three revoke; prints the consent-bound count after each step, with its proof. Returns one wallet (key, credential) whose
/// consent is still active.
async fn consent_walkthrough(
    net: &TestNet,
    client: &agora_hub::client::HubClient,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let node = &net.nodes[0];
    let count = || async {
        let q = Example::parse_from(["example", "--reference-date", "2026-01-01"]).q.to_query()?;
        let id = client.submit(q, Some("study-7".into())).await?;
        let t = Instant::now();
        let mut r = client.wait(id, Duration::from_secs(30)).await?;
        // Its proof follows: over the consenting patients (a new snapshot with each consent change).
        while r.proofs.pending > 0 && t.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            r = client.result(id).await?;
        }
        let part = r.nodes.iter().find(|n| n.name == node.name);
        let cell = part.and_then(|n| match &n.state {
            agora_protocol::combined::NodeState::Answered { answer } => answer.total().map(|t| t.patients),
            _ => None,
        });
        let proof = part.and_then(|n| n.proof.as_ref()).map_or(String::new(), |p| format!("; {}", p.label()));
        anyhow::Ok(match cell {
            Some(agora_protocol::Cell::Value(n)) => format!("{n}{proof}"),
            Some(agora_protocol::Cell::Suppressed) => format!("suppressed (<10){proof}"),
            None => "no answer".to_string(),
        })
    };
    println!("== Patients' consent at {} (study-7 counts only consenting patients; threshold 10)", node.name);
    println!("  patients counted for study-7 before any consent: {}", count().await?);
    let wallets = net.root.join("wallets");
    std::fs::create_dir_all(&wallets)?;
    let patients = std::fs::read_to_string(node.synth_dir.join("Patient.ndjson"))?;
    let wallet_bin = agora_tests::bin("agora-wallet")?;
    let run = |cmd: &mut std::process::Command| -> anyhow::Result<String> {
        let out = cmd.output()?;
        anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    };
    let mut granted = Vec::new();
    for (i, line) in patients.lines().take(12).enumerate() {
        let id = serde_json::from_str::<serde_json::Value>(line)?["id"].as_str().unwrap_or_default().to_string();
        let key = wallets.join(format!("patient-{i}.key"));
        let vc = wallets.join(format!("patient-{i}.consent.json"));
        let did = run(std::process::Command::new(&wallet_bin).arg("keygen").arg("--out").arg(&key))?;
        let out = vc.display().to_string();
        net.node_cli(
            node,
            &["issue", "consent", "--patient", &id, "--holder", &did, "--purpose", "study-7", "--out", &out],
        )
        .await?;
        run(std::process::Command::new(&wallet_bin)
            .args(["grant", "--node", &node.http, "--key"])
            .arg(&key)
            .arg("--credential")
            .arg(&vc))?;
        granted.push((key, vc));
    }
    println!("  12 wallets presented their ConsentCredential: study-7 count {}", count().await?);
    for (key, vc) in &granted[..3] {
        run(std::process::Command::new(&wallet_bin)
            .args(["revoke", "--node", &node.http, "--key"])
            .arg(key)
            .arg("--credential")
            .arg(vc))?;
    }
    println!("  3 wallets revoked their consent: study-7 count {} (9 consenting patients)\n", count().await?);
    Ok(granted.swap_remove(11))
}

/// Queries whose every cell carries a zero-knowledge STARK proof: a cohort of two criteria grouped by
/// sex, the mean and standard deviation of a measure over an `any of` cohort, and a cohort with an age
/// criterion grouped by age band (ages compared with the committed birth months inside the proofs). The answer comes
/// first, the proofs follow and the hub verifies them against each node's commitment before the result
/// says "proven".
async fn proven_examples(client: &agora_hub::client::HubClient) -> anyhow::Result<()> {
    let examples: [(&str, &[&str]); 3] = [
        (
            "patients with essential hypertension (ICD-10-CM I10) and without type 2 diabetes (E11.9), by sex",
            &["--condition", "icd10cm:I10", "--without-condition", "icd10cm:E11.9", "--by-sex"],
        ),
        (
            "latest HbA1c (LOINC 4548-4) of patients with type 1 or type 2 diabetes (any of E10*, E11*), mean and sd",
            &[
                "--any-condition",
                "icd10cm:E10*",
                "--any-condition",
                "icd10cm:E11*",
                "--measure",
                "loinc:4548-4",
                "--aggregate",
                "count,mean,sd",
            ],
        ),
        (
            "patients aged 40 and over with essential hypertension (I10), by age band",
            &["--condition", "icd10cm:I10", "--age-min", "40", "--age-bands", "65,80"],
        ),
    ];
    for (title, args) in examples {
        println!("== Proven: {title}; each node's cells with STARK proofs");
        proven_example(client, args).await?;
    }
    Ok(())
}

async fn proven_example(client: &agora_hub::client::HubClient, args: &[&str]) -> anyhow::Result<()> {
    let query = example("", args).1.to_query()?;
    let t = Instant::now();
    let id = client.submit(query, Some("demo".into())).await?;
    let first = client.wait(id, Duration::from_secs(30)).await?;
    let answered = t.elapsed();
    let mut result = first;
    while result.proofs.pending > 0 && t.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        result = client.result(id).await?;
    }
    print!("{}", result.to_table());
    println!(
        "  (answers in {:.1} ms; proofs proven and verified {:.1} s after the query)\n",
        answered.as_secs_f64() * 1000.0,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
