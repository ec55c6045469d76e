//! The node's local HTTP API (it listens on loopback by default; the hospital decides what to expose).
//!
//! For its operators: `POST /v1/ingest` takes a FHIR Bundle or Bulk NDJSON body, spools it to disk within
//! the size limit and returns a job id; `GET /v1/ingest/jobs/{id}` gives the job's status and
//! per-resource errors. Uploads over the limit are refused with 413 before anything is stored. One ingest
//! runs at a time.
//!
//! For patients' wallets ([`crate::consent`]): `POST /v1/consent/challenge` gives a one-time challenge and
//! the node's DID; `POST /v1/consent` grants consent and `POST /v1/consent/revoke` withdraws it, each with
//! `{"presentation": …}` of the ConsentCredential answering that challenge. `GET /v1/status/consent` is the
//! node's signed revocation list, `GET /v1/did` its DID.

use crate::ingest::{self, IngestOptions, PseudonymKey};
use crate::store::Store;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};
use uuid::Uuid;

/// Shared state of the node API.
#[derive(Clone)]
pub struct NodeApi {
    /// The store file.
    pub store_path: PathBuf,
    /// Where uploads are spooled.
    pub spool_dir: PathBuf,
    /// The pseudonym key.
    pub pseudonym: Arc<PseudonymKey>,
    /// Patients' credentials and consent.
    pub patients: crate::consent::PatientCredentials,
    /// Largest upload.
    pub max_body_bytes: u64,
    /// Resources per transaction.
    pub batch_size: usize,
    /// The data directory (for the cross-process ingest lock).
    pub data_dir: PathBuf,
    /// One ingest at a time in this process.
    pub ingest_lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for NodeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeApi").field("store_path", &self.store_path).finish_non_exhaustive()
    }
}

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Too large.
    #[error("upload exceeds the node's limit of {0} bytes (max_body_bytes): use `agora-node ingest` for large files")]
    TooLarge(u64),
    /// Empty.
    #[error("the upload is empty: send a FHIR Bundle or Bulk Data NDJSON")]
    Empty,
    /// Not found.
    #[error("no ingest job {0}")]
    NoJob(String),
    /// Internal.
    #[error("{0}")]
    Internal(String),
    /// A wallet's request was refused.
    #[error("{0}")]
    Consent(#[from] crate::consent::ConsentError),
    /// A malformed wallet request.
    #[error("{0}")]
    BadRequest(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Empty => StatusCode::BAD_REQUEST,
            ApiError::NoJob(_) => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Consent(crate::consent::ConsentError::Store(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Consent(crate::consent::ConsentError::NotIssuedHere) => StatusCode::NOT_FOUND,
            ApiError::Consent(_) => StatusCode::FORBIDDEN,
        };
        if let ApiError::Consent(crate::consent::ConsentError::Store(e)) = &self {
            tracing::error!(target: "node::api", %e, "store error");
            return (status, Json(serde_json::json!({ "error": "internal error in the node's store" })))
                .into_response();
        }
        (status, Json(serde_json::json!({ "error": self.to_string() }))).into_response()
    }
}

#[derive(Debug, Serialize)]
struct JobCreated {
    job_id: String,
}

async fn health(State(api): State<NodeApi>) -> Result<Json<serde_json::Value>, ApiError> {
    let path = api.store_path.clone();
    let summary = tokio::task::spawn_blocking(move || Store::open(&path).and_then(|s| s.summary()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(serde_json::json!({ "status": "ok", "summary": summary })))
}

/// How much of an oversized upload is read and thrown away so that the client, still sending, reads the
/// 413 instead of a broken connection; past this (or [`DRAIN_TIME`]) the connection is simply closed.
const DRAIN_BYTES: u64 = 1 << 30;
/// The longest an oversized upload is drained.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads and discards the rest of a refused body, within [`DRAIN_BYTES`] and [`DRAIN_TIME`]. Nothing of it
/// is stored.
async fn drain(mut stream: axum::body::BodyDataStream) {
    let mut seen: u64 = 0;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

async fn ingest_upload(State(api): State<NodeApi>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let mut stream = body.into_data_stream();
    if let Some(len) = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > api.max_body_bytes {
            warn!(target: "node::api", bytes = len, limit = api.max_body_bytes, "oversized upload refused");
            drain(stream).await;
            return Err(ApiError::TooLarge(api.max_body_bytes));
        }
    }
    let job_id = Uuid::new_v4().to_string();
    tokio::fs::create_dir_all(&api.spool_dir).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let spool = api.spool_dir.join(format!("{job_id}.upload"));
    let mut file = tokio::fs::File::create(&spool).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut written: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&spool).await;
                return Err(ApiError::Internal(format!("upload interrupted: {e}")));
            }
        };
        written += chunk.len() as u64;
        if written > api.max_body_bytes {
            drop(file);
            let _ = tokio::fs::remove_file(&spool).await;
            warn!(target: "node::api", limit = api.max_body_bytes, "oversized upload refused");
            drain(stream).await;
            return Err(ApiError::TooLarge(api.max_body_bytes));
        }
        file.write_all(&chunk).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    file.sync_all().await.map_err(|e| ApiError::Internal(e.to_string()))?;
    drop(file);
    if written == 0 {
        let _ = tokio::fs::remove_file(&spool).await;
        return Err(ApiError::Empty);
    }
    let store_path = api.store_path.clone();
    let id = job_id.clone();
    let name = spool.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&store_path).map_err(|e| e.to_string())?;
        ingest::create_job(&store, &id, &[name]).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::Internal)?;
    info!(target: "node::api", job_id = %job_id, bytes = written, "ingest job accepted");
    let id = job_id.clone();
    tokio::spawn(async move {
        let _guard = api.ingest_lock.lock().await;
        let res = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let _lock = ingest::IngestLock::acquire(&api.data_dir).map_err(|e| e.to_string())?;
            let mut store = Store::open(&api.store_path).map_err(|e| e.to_string())?;
            let opts = IngestOptions { batch_size: api.batch_size };
            let report =
                ingest::run_job(&mut store, &api.pseudonym, &id, std::slice::from_ref(&spool), &opts, &mut |_| {})
                    .map_err(|e| e.to_string());
            let _ = std::fs::remove_file(&spool);
            report.map(|r| info!(target: "node::ingest", job_id = %id, "{r}"))
        })
        .await;
        match res {
            Ok(Err(e)) => warn!(target: "node::ingest", %e, "ingest job failed"),
            Err(e) => warn!(target: "node::ingest", %e, "ingest worker failed"),
            Ok(Ok(())) => {}
        }
    });
    Ok((StatusCode::ACCEPTED, Json(JobCreated { job_id })).into_response())
}

async fn job(State(api): State<NodeApi>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let path = api.store_path.clone();
    let lookup = id.clone();
    let status = tokio::task::spawn_blocking(move || {
        let store = Store::open(&path).map_err(|e| e.to_string())?;
        ingest::job_status(&store, &lookup).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::Internal)?;
    match status {
        Some(s) => Ok(Json(s).into_response()),
        None => Err(ApiError::NoJob(id)),
    }
}

/// The largest wallet request body.
const MAX_WALLET_BODY: usize = 256 * 1024;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WalletRequest {
    presentation: serde_json::Value,
}

fn wallet_body(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let req: WalletRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("send {{\"presentation\": …}} as JSON: {e}")))?;
    Ok(req.presentation)
}

async fn consent_challenge(State(api): State<NodeApi>) -> Result<Json<serde_json::Value>, ApiError> {
    let (challenge, domain, expires_at) = api.patients.challenge()?;
    Ok(Json(serde_json::json!({ "challenge": challenge, "domain": domain, "expires_at": expires_at })))
}

async fn consent_grant(
    State(api): State<NodeApi>,
    body: axum::body::Bytes,
) -> Result<Json<crate::consent::ConsentChange>, ApiError> {
    Ok(Json(api.patients.grant(&wallet_body(&body)?).await?))
}

async fn consent_revoke(
    State(api): State<NodeApi>,
    body: axum::body::Bytes,
) -> Result<Json<crate::consent::ConsentChange>, ApiError> {
    Ok(Json(api.patients.revoke(&wallet_body(&body)?).await?))
}

async fn consent_status(State(api): State<NodeApi>) -> Result<Response, ApiError> {
    let vc = api.patients.status_list().await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/vc+ld+json")], Json(vc)).into_response())
}

async fn did(State(api): State<NodeApi>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "did": api.patients.did() }))
}

/// The router.
pub fn router(api: NodeApi) -> Router {
    let wallet = Router::new()
        .route("/v1/consent/challenge", post(consent_challenge))
        .route("/v1/consent", post(consent_grant))
        .route("/v1/consent/revoke", post(consent_revoke))
        .route("/v1/status/consent", get(consent_status))
        .route("/v1/did", get(did))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_WALLET_BODY))
        .with_state(api.clone());
    Router::new()
        .merge(wallet)
        .route("/v1/health", get(health))
        .route("/v1/ingest", post(ingest_upload))
        .route("/v1/ingest/jobs/{id}", get(job))
        .with_state(api)
}
