//! Credentials and presentations as files, the way the command-line tools read and write them: a JSON
//! document (Data Integrity), or a bare compact JWS (VC-JOSE), which is kept as a JSON string in memory.
//! [`VerifyArgs`] is the `verify` subcommand every Agora binary shares.

use crate::credential::Verifier;
use crate::presentation::Expectation;
use crate::VcError;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors reading or writing credential files.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a credential.
    #[error("{path}: {source}")]
    Credential {
        /// The file.
        path: String,
        /// Why.
        source: VcError,
    },
}

/// Reads a credential or presentation file.
pub fn read(path: &Path) -> Result<Value, FileError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| FileError::Io { path: path.display().to_string(), source })?;
    crate::presentation::parse_presentation(&text)
        .map_err(|source| FileError::Credential { path: path.display().to_string(), source })
}

/// The text of a credential or presentation: pretty JSON, or the bare JWS.
pub fn to_text(value: &Value) -> String {
    match value {
        Value::String(jws) => jws.clone(),
        other => serde_json::to_string_pretty(other).expect("JSON serialises"),
    }
}

/// Writes a credential to `out`, or prints it.
pub fn write(out: Option<&Path>, value: &Value) -> Result<(), FileError> {
    let text = to_text(value);
    match out {
        Some(path) => std::fs::write(path, format!("{text}\n"))
            .map_err(|source| FileError::Io { path: path.display().to_string(), source }),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// `verify FILE [--challenge C --domain D]`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// A file holding a credential or presentation (JSON, or a compact JWT).
    pub file: PathBuf,
    /// The challenge a presentation must answer.
    #[arg(long, requires = "domain")]
    pub challenge: Option<String>,
    /// The domain a presentation must name.
    #[arg(long, requires = "challenge")]
    pub domain: Option<String>,
}

impl VerifyArgs {
    /// Verifies the file and returns what it says, as JSON.
    pub async fn run(&self) -> Result<Value, FileError> {
        let value = read(&self.file)?;
        let verifier = Verifier::default();
        let failed = |source| FileError::Credential { path: self.file.display().to_string(), source };
        let report = match (&self.challenge, &self.domain) {
            (Some(challenge), Some(domain)) => {
                let expect = Expectation {
                    challenge: challenge.clone(),
                    domain: domain.clone(),
                    max_age: Duration::from_secs(3600),
                };
                serde_json::to_value(verifier.presentation(&value, &expect).await.map_err(failed)?)
            }
            _ => serde_json::to_value(verifier.credential(&value).await.map_err(failed)?),
        };
        Ok(report.expect("a verified credential serialises"))
    }
}
