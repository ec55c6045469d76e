//! `agora-zk verify ANSWER.json...`: checks archived answers offline, against the commitment each names.
//! Built without the `prover` feature (the default) it links only the verifier; with it, `agora-zk
//! example` writes a proven answer over a synthetic snapshot, to try the verifier on.

use agora_zk::archive::ArchivedAnswer;
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
    /// Verify archived answers (JSON, format agora-zk/count-sum/2: one per file, or an array); exits 1 if
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
        /// Data rows in the snapshot (codes 0..4, values below 40,000).
        #[arg(long, default_value_t = 10_000)]
        rows: usize,
        /// The code to count and sum.
        #[arg(long, default_value_t = 2)]
        code: u64,
        /// The disclosure threshold (0 for none).
        #[arg(long, default_value_t = 10)]
        threshold: u32,
        /// Where to write the answer.
        #[arg(long)]
        out: PathBuf,
    },
}

#[cfg(feature = "prover")]
fn example(rows: usize, code: u64, threshold: u32, out: &std::path::Path) -> anyhow::Result<()> {
    use agora_zk::prove::{Row, Snapshot};
    let data: Vec<Row> = (0..rows as u64)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
            Row { code: x % 4, value: (x % 40_000) as u32 }
        })
        .collect();
    let mut seed = [0u8; 32];
    getrandom(&mut seed);
    let snapshot = Snapshot::build(data, seed)?;
    let query: [u8; 32] = sha2::Sha256::digest(format!("example: code {code}")).into();
    let (claim, proof) = snapshot.prove_cell(query, code, threshold)?;
    let answer = ArchivedAnswer::new(snapshot.commitment().clone(), &claim, &proof);
    std::fs::write(out, serde_json::to_string_pretty(&answer)?)?;
    println!(
        "wrote {}: {} over {rows} rows, proof {} bytes",
        out.display(),
        match claim.suppressed_below {
            Some(t) => format!("count of code {code} suppressed (<{t})"),
            None => format!("count {} and sum {} of code {code}", claim.count, claim.sum),
        },
        proof.len()
    );
    Ok(())
}

#[cfg(feature = "prover")]
fn getrandom(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rngs::OsRng.fill_bytes(buf);
}

fn main() -> anyhow::Result<ExitCode> {
    let answers = match Cli::parse().command {
        Command::Verify { answers } => answers,
        #[cfg(feature = "prover")]
        Command::Example { rows, code, threshold, out } => {
            example(rows, code, threshold, &out)?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let mut refused = 0;
    for path in &answers {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // One archived answer, or an array of them (as the hub's `GET /v1/queries/{id}/proofs` gives).
        let items: Vec<Result<ArchivedAnswer, String>> = match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
            Ok(values) => values
                .into_iter()
                .map(|v| serde_json::from_value(v).map_err(|e| format!("not an archived answer: {e}")))
                .collect(),
            Err(_) => {
                vec![serde_json::from_str::<ArchivedAnswer>(&text).map_err(|e| format!("not an archived answer: {e}"))]
            }
        };
        if items.is_empty() {
            refused += 1;
            println!("{}: REFUSED: no archived answer in the file", path.display());
        }
        let many = items.len() > 1;
        for (i, item) in items.into_iter().enumerate() {
            let label = if many { format!("{}[{i}]", path.display()) } else { path.display().to_string() };
            match item.and_then(|a| a.verify().map(|c| (a, c)).map_err(|e| e.to_string())) {
                Ok((answer, claim)) => println!(
                    "{label}: verified: {} for query {} over dataset {} (format v{}, {} rows)",
                    match claim.suppressed_below {
                        Some(t) => format!(
                            "the count of code {} is below {t} (suppressed; no count or sum disclosed)",
                            claim.code
                        ),
                        None => format!("count {} and sum {} of code {}", claim.count, claim.sum, claim.code),
                    },
                    answer.query,
                    answer.commitment.root,
                    answer.commitment.version,
                    answer.commitment.trace_length
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
