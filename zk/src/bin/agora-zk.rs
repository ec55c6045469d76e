//! `agora-zk verify ANSWER.json...`: checks archived answers offline, against the commitment each names.
//! Links only the verifier.

use agora_zk::archive::ArchivedAnswer;
use anyhow::Context;
use clap::{Parser, Subcommand};
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
    /// Verify archived answers (JSON, format agora-zk/count-sum/1); exits 1 if any is refused.
    Verify {
        /// Answer files.
        #[arg(required = true)]
        answers: Vec<PathBuf>,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    let Command::Verify { answers } = Cli::parse().command;
    let mut refused = 0;
    for path in &answers {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let outcome = serde_json::from_str::<ArchivedAnswer>(&text)
            .map_err(|e| format!("not an archived answer: {e}"))
            .and_then(|a| a.verify().map(|c| (a, c)).map_err(|e| e.to_string()));
        match outcome {
            Ok((answer, claim)) => println!(
                "{}: verified: count {} and sum {} of code {} for query {} over dataset {} (format v{}, {} rows)",
                path.display(),
                claim.count,
                claim.sum,
                claim.code,
                answer.query,
                answer.commitment.root,
                answer.commitment.version,
                answer.commitment.trace_length
            ),
            Err(reason) => {
                refused += 1;
                println!("{}: REFUSED: {reason}", path.display());
            }
        }
    }
    Ok(if refused == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
