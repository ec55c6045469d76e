//! Federated round-trip benchmark: a hub and three nodes on loopback (release binaries), small data.
//! Reports the round trip a researcher sees (submit → settled result), the part beyond the slowest
//! node's own execution, and a burst of queries in flight at once.
//! Run: `cargo build --release --bins && target/release/agora-bench-federation`.

use agora_protocol::combined::{NodeState, ResultStatus};
use agora_protocol::{Aggregate, Cohort, GroupBy, Query};
use agora_tests::{NetOptions, TestNet};
use clap::Parser;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
struct Cli {
    /// Sequential round trips measured.
    #[arg(long, default_value_t = 300)]
    rounds: usize,
    /// Queries submitted at once in the burst.
    #[arg(long, default_value_t = 500)]
    burst: usize,
    /// Patients per node.
    #[arg(long, default_value_t = 200)]
    patients: usize,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let net = TestNet::spawn(NetOptions {
        nodes: 3,
        patients_per_node: cli.patients,
        node_env: vec![
            ("AGORA_LOG".into(), "warn".into()),
            ("AGORA_NODE_POLICY__RATE_PER_MINUTE".into(), "1000000".into()),
            ("AGORA_NODE_POLICY__RATE_PER_10_HOURS".into(), "1000000".into()),
        ],
        hub_env: vec![("AGORA_LOG".into(), "warn".into()), ("AGORA_HUB_QUERY_DEADLINE_SECS".into(), "60".into())],
        ..NetOptions::default()
    })
    .await?;
    let query = Query {
        version: 1,
        cohort: Cohort::Condition { code: "icd10cm:E11*".parse().map_err(anyhow::Error::msg)? },
        measure: None,
        aggregates: vec![Aggregate::Count],
        group_by: GroupBy { sex: true, age_bands: None },
        reference_date: time::macros::date!(2026 - 01 - 01),
    };
    let client = net.client().await?;
    // Warm up.
    for _ in 0..10 {
        let id = client.submit(query.clone(), Some("demo".into())).await?;
        client.wait(id, Duration::from_secs(30)).await?;
    }
    let mut total = Vec::new();
    let mut beyond = Vec::new();
    let mut submits = Vec::new();
    for _ in 0..cli.rounds {
        let t = Instant::now();
        let id = client.submit(query.clone(), Some("demo".into())).await?;
        submits.push(t.elapsed().as_secs_f64() * 1000.0);
        let r = client.wait(id, Duration::from_secs(30)).await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(r.status == ResultStatus::Complete, "query {id} did not complete: {:?}", r.status);
        let slowest = r
            .nodes
            .iter()
            .filter_map(|n| match &n.state {
                NodeState::Answered { answer } => Some(answer.exec_micros as f64 / 1000.0),
                _ => None,
            })
            .fold(0.0, f64::max);
        total.push(ms);
        beyond.push(ms - slowest);
    }
    total.sort_by(f64::total_cmp);
    submits.sort_by(f64::total_cmp);
    beyond.sort_by(f64::total_cmp);
    println!(
        "sequential round trips: {} queries, hub + 3 nodes on loopback, {} patients per node",
        cli.rounds, cli.patients
    );
    println!(
        "  round trip         p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms",
        pct(&total, 0.5),
        pct(&total, 0.9),
        pct(&total, 0.99)
    );
    println!(
        "  of which submit      p50 {:.2} ms  (the researcher's presentation made and checked by the hub)",
        pct(&submits, 0.5)
    );
    println!(
        "  beyond slowest node p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms",
        pct(&beyond, 0.5),
        pct(&beyond, 0.9),
        pct(&beyond, 0.99)
    );

    // Burst: every query submitted at once, then every result awaited.
    let t = Instant::now();
    let mut ids = Vec::with_capacity(cli.burst);
    let submits = futures_join(cli.burst, |_| {
        let c = client.clone();
        let q = query.clone();
        async move { c.submit(q, Some("demo".into())).await }
    })
    .await;
    for s in submits {
        ids.push(s?);
    }
    let results = futures_join(ids.len(), |i| {
        let c = client.clone();
        let id = ids[i];
        async move { c.wait(id, Duration::from_secs(120)).await }
    })
    .await;
    let mut complete = 0;
    for r in results {
        if r?.status == ResultStatus::Complete {
            complete += 1;
        }
    }
    println!(
        "burst: {} queries in flight at once: {} complete, {} lost, all settled in {:.2} s",
        cli.burst,
        complete,
        cli.burst - complete,
        t.elapsed().as_secs_f64()
    );
    anyhow::ensure!(complete == cli.burst, "some burst queries did not complete");
    Ok(())
}

async fn futures_join<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
