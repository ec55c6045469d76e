//! `agora-zk verify ANSWER.json...`: checks archived answers offline, against the commitment each names.
//! Built without the `prover` feature (the default) it links only the verifier; with it, `agora-zk
//! example` writes a proven answer over a synthetic snapshot, to try the verifier on.

use agora_zk::archive::Archived;
#[cfg(feature = "prover")]
use agora_zk::archive::{ArchivedAnswer, ArchivedChunkedAnswer};
use anyhow::Context;
use clap::{Parser, Subcommand};
#[cfg(feature = "prover")]
use sha2::Digest as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "agora-zk", about = "Check Agora's STARK-proven answers offline", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify archived answers (JSON, format agora-zk/cohort/5 or 4, or 3 without a measure, or
    /// agora-zk/chunked/1 over a dataset committed in chunks: one per file, or an array); exits 1 if
    /// any is refused.
    Verify {
        /// Answer files.
        #[arg(required = true)]
        answers: Vec<PathBuf>,
    },
    /// Commit a synthetic snapshot, prove one cell over it and write the archived answer (needs the
    /// `prover` feature).
    #[cfg(feature = "prover")]
    Example {
        /// Patients in the snapshot (each a block of a person row, a sex row (codes 101, 102), a
        /// condition row (codes 0..4) and a measure row (code 200, values below 40,000)).
        #[arg(long, default_value_t = 2_500)]
        patients: usize,
        /// The condition code the cohort needs (with the person row).
        #[arg(long, default_value_t = 2)]
        code: u64,
        /// The disclosure threshold (0 for none).
        #[arg(long, default_value_t = 10)]
        threshold: u32,
        /// Commit the patients in this many chunks (a snapshot each) and prove the answer over them
        /// (format agora-zk/chunked/1); 0 for one snapshot (format agora-zk/cohort/5).
        #[arg(long, default_value_t = 0)]
        chunks: usize,
        /// Where to write the answer.
        #[arg(long)]
        out: PathBuf,
    },
}

#[cfg(feature = "prover")]
fn example(patients: usize, code: u64, threshold: u32, chunks: usize, out: &std::path::Path) -> anyhow::Result<()> {
    use agora_zk::prove::{Block, Row, Snapshot, Statement};
    use agora_zk::Criterion;
    let blocks: Vec<Block> = (0..patients as u64)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
            vec![
                Row::attribute(100),
                Row::attribute(101 + x % 2),
                Row::attribute(x % 4),
                Row { code: 200, value: (x % 40_000) as u32 },
            ]
        })
        .collect();
    let query: [u8; 32] = sha2::Sha256::digest(format!("example: code {code}")).into();
    let statement = Statement {
        measure_range: None,
        criteria: vec![Criterion::has(100), Criterion::has(code)],
        measure: None,
        squares: false,
        threshold,
    };
    let snapshot = |blocks: Vec<Block>| {
        let mut seed = [0u8; 32];
        getrandom(&mut seed);
        Snapshot::build(blocks, seed)
    };
    let (claim, bytes) = if chunks == 0 {
        let snapshot = snapshot(blocks)?;
        let (claim, proof) = snapshot.prove(query, &statement)?;
        let answer = ArchivedAnswer::new(snapshot.commitment().clone(), &claim, &proof);
        (claim, serde_json::to_string_pretty(&answer)?)
    } else {
        // Whole patients per chunk, in order.
        let size = patients.div_ceil(chunks).max(1);
        let snapshots = blocks.chunks(size).map(|c| snapshot(c.to_vec())).collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&Snapshot> = snapshots.iter().collect();
        let (claim, parts) = agora_zk::prove::prove_chunked(&refs, query, &statement)?;
        let dataset = snapshots.iter().map(|s| s.commitment().clone()).collect();
        (claim.clone(), serde_json::to_string_pretty(&ArchivedChunkedAnswer::new(dataset, &claim, &parts))?)
    };
    std::fs::write(out, &bytes)?;
    println!(
        "wrote {}: {} over {patients} patients{}, {} bytes",
        out.display(),
        match claim.suppressed_below {
            Some(t) => format!("patients with code {code} suppressed (<{t})"),
            None => format!("{} patients with code {code}", claim.count),
        },
        if chunks == 0 {
            String::new()
        } else {
            format!(" in {} chunks", patients.div_ceil(patients.div_ceil(chunks).max(1)))
        },
        bytes.len()
    );
    Ok(())
}

#[cfg(feature = "prover")]
fn getrandom(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rngs::OsRng.fill_bytes(buf);
}

/// What a verified claim states, in words.
fn describe(claim: &agora_zk::Claim) -> String {
    let range = |r: Option<agora_zk::air::Range>| match r {
        Some(r) => format!(
            " within [{}, {}]",
            r.min.map_or("-".into(), |v| v.to_string()),
            r.max.map_or("-".into(), |v| v.to_string())
        ),
        None => String::new(),
    };
    let cohort = claim
        .criteria
        .iter()
        .map(|c| format!("{}{}{}", if c.negated { "no " } else { "" }, c.code, range(c.range())))
        .collect::<Vec<_>>()
        .join(" and ");
    let what = match claim.measure {
        Some(m) => format!("values of {m}{} of the patients with {cohort}", range(claim.measure_range)),
        None => format!("patients with {cohort}"),
    };
    match (claim.suppressed_below, claim.measure, claim.measure_range) {
        (Some(t), ..) => format!("the number of {what} is below {t} (suppressed; nothing else disclosed)"),
        (None, Some(_), None) => format!(
            "{} {what}, summing to {}{}",
            claim.count,
            claim.sum,
            claim.sum_sq.map_or(String::new(), |q| format!(", their squares to {q}"))
        ),
        (None, ..) => format!("{} {what}", claim.count),
    }
}

fn main() -> anyhow::Result<ExitCode> {
    let answers = match Cli::parse().command {
        Command::Verify { answers } => answers,
        #[cfg(feature = "prover")]
        Command::Example { patients, code, threshold, chunks, out } => {
            example(patients, code, threshold, chunks, &out)?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let mut refused = 0;
    for path in &answers {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // One archived answer, or an array of them (as the hub's `GET /v1/queries/{id}/proofs` gives).
        let items = Archived::all_from_json(&text);
        if items.is_empty() {
            refused += 1;
            println!("{}: REFUSED: no archived answer in the file", path.display());
        }
        let many = items.len() > 1;
        for (i, item) in items.into_iter().enumerate() {
            let label = if many { format!("{}[{i}]", path.display()) } else { path.display().to_string() };
            match item.and_then(|a| a.verify().map(|c| (a, c)).map_err(|e| e.to_string())) {
                Ok((answer, claim)) => println!(
                    "{label}: verified: {} for query {} over {}",
                    describe(&claim),
                    answer.query(),
                    answer.dataset()
                ),
                Err(reason) => {
                    refused += 1;
                    println!("{label}: REFUSED: {reason}");
                }
            }
        }
    }
    Ok(if refused == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
