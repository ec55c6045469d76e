//! The researcher REST API (axum) and its OpenAPI document. Only this module knows the HTTP shapes.
//!
//! A researcher signs in by presenting their ResearcherCredential: `POST /v1/auth/challenge`, then
//! `POST /v1/auth/session` with a presentation answering that challenge, which returns a session token.
//! Every researcher route needs `Authorization: Bearer <session token>`, and a query submission also
//! carries a presentation bound to that query, which the nodes verify too. Public routes: health, the
//! OpenAPI document, the hub's DID document (`/.well-known/did.json`) and its revocation lists
//! (`/v1/status/{nodes,researchers}`). Errors map to statuses in one place, [`ApiError`].

use crate::authority::{AuthorityError, ListKind};
use crate::coordinator::{Coordinator, HubError};
use crate::store::{NodeRecord, Session, StoreError};
use agora_protocol::combined::{CombinedResult, ResultStatus};
use agora_protocol::Query;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// An API error: a status and a message safe to show the caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or unknown session.
    #[error("missing, unknown or expired session: sign in with your ResearcherCredential (POST /v1/auth/challenge, then /v1/auth/session) and send `Authorization: Bearer <token>`")]
    Unauthorized,
    /// Not found.
    #[error("{0}")]
    NotFound(String),
    /// The body was refused.
    #[error("{message}")]
    Body {
        /// Status.
        status: StatusCode,
        /// Why.
        message: String,
    },
    /// A coordinator error.
    #[error(transparent)]
    Hub(#[from] HubError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Hub(HubError::Store(e))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body is larger than the hub accepts (max_body_bytes)".to_string()
        } else {
            r.body_text()
        };
        ApiError::Body { status, message }
    }
}

/// The JSON error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Hub(HubError::Unauthorised(AuthorityError::Store(_))) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Hub(HubError::Unauthorised(AuthorityError::Invalid(_))) => StatusCode::BAD_REQUEST,
            ApiError::Hub(HubError::Unauthorised(_)) => StatusCode::FORBIDDEN,
            ApiError::Hub(HubError::NoNodesForKind(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Body { status, .. } => *status,
            ApiError::Hub(HubError::InvalidQuery(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Hub(HubError::NotFound(_)) => StatusCode::NOT_FOUND,
            ApiError::Hub(HubError::NoNodes) | ApiError::Hub(HubError::ShuttingDown) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Hub(HubError::Store(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let error = match &self {
            ApiError::Hub(HubError::Store(e)) | ApiError::Hub(HubError::Unauthorised(AuthorityError::Store(e))) => {
                tracing::error!(target: "hub::api", %e, "store error");
                "internal error in the hub's store".to_string()
            }
            other => other.to_string(),
        };
        (status, Json(ErrorBody { error })).into_response()
    }
}

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The coordinator.
    pub coordinator: Coordinator,
}

/// A query submission.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitQuery {
    /// The query.
    pub query: Query,
    /// The purpose or study: one the researcher's credential approves.
    #[serde(default)]
    pub purpose: Option<String>,
    /// The researcher's presentation of their ResearcherCredential, bound to this query: its challenge is
    /// `agora_protocol::query_challenge(query, purpose)` and its domain the hub's DID. A Data Integrity
    /// object or a VC-JOSE compact JWS string.
    #[schema(value_type = Object)]
    pub presentation: serde_json::Value,
}

/// A login challenge.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Challenge {
    /// Put this in the presentation (`challenge`, or `nonce` in a JWT).
    pub challenge: String,
    /// The hub's DID: the presentation's `domain` (or `aud`).
    pub domain: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A presentation opening a session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// A presentation of a ResearcherCredential answering a challenge of `/v1/auth/challenge`.
    #[schema(value_type = Object)]
    pub presentation: serde_json::Value,
}

/// An open session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionOpened {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The researcher's DID.
    pub researcher: String,
    /// Their name.
    pub name: String,
    /// Approved purposes.
    pub purposes: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The id of a submitted query.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Submitted {
    /// Its id.
    pub query_id: Uuid,
}

/// A line of the query list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuerySummary {
    /// Id.
    pub query_id: Uuid,
    /// Status.
    pub status: ResultStatus,
    /// Unix seconds.
    pub submitted_at: i64,
    /// Readable form.
    pub readable: String,
}

/// Health.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The hub's peer id.
    pub peer_id: String,
    /// The DID the hub issues credentials as.
    pub did: String,
    /// Connected nodes.
    pub nodes: usize,
}

async fn session(state: &AppState, headers: &HeaderMap) -> Result<Session, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    state.coordinator.store().session(token.trim(), crate::coordinator::now()).await?.ok_or(ApiError::Unauthorized)
}

async fn researcher(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    Ok(session(state, headers).await?.researcher)
}

/// A challenge to sign in with.
#[utoipa::path(post, path = "/v1/auth/challenge", responses((status = 200, body = Challenge)))]
async fn challenge(State(state): State<AppState>) -> Result<Json<Challenge>, ApiError> {
    let authority = state.coordinator.authority();
    let (challenge, expires_at) = authority.challenge().await.map_err(HubError::from)?;
    Ok(Json(Challenge { challenge, domain: authority.did().to_string(), expires_at }))
}

/// Opens a session from a presentation of a ResearcherCredential.
#[utoipa::path(post, path = "/v1/auth/session", request_body = SessionRequest,
    responses((status = 200, body = SessionOpened), (status = 403, body = ErrorBody)))]
async fn open_session(
    State(state): State<AppState>,
    body: Result<Json<SessionRequest>, JsonRejection>,
) -> Result<Json<SessionOpened>, ApiError> {
    let Json(body) = body?;
    let (token, s) = state.coordinator.authority().open_session(&body.presentation).await.map_err(HubError::from)?;
    tracing::info!(target: "hub::api", researcher = %s.researcher, "session opened");
    Ok(Json(SessionOpened {
        token,
        researcher: s.researcher,
        name: s.name,
        purposes: s.purposes,
        expires_at: s.expires_at,
    }))
}

/// The hub's DID document, when it is a did:web.
async fn did_document(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .coordinator
        .authority()
        .did_document()
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("this hub has no did:web (set did_web in hub.toml)".into()))
}

/// A revocation list: a signed BitstringStatusListCredential.
#[utoipa::path(get, path = "/v1/status/{list}", params(("list" = String, Path, description = "nodes or researchers")),
    responses((status = 200, description = "a signed BitstringStatusListCredential"), (status = 404, body = ErrorBody)))]
async fn status_list(State(state): State<AppState>, Path(list): Path<String>) -> Result<Response, ApiError> {
    let kind = ListKind::parse(&list)
        .ok_or_else(|| ApiError::NotFound(format!("no status list `{list}`: use nodes or researchers")))?;
    let vc = state.coordinator.authority().status_list(kind).await.map_err(HubError::from)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/vc+ld+json")], Json(vc)).into_response())
}

/// Liveness and connected nodes.
#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = Health)))]
async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        peer_id: state.coordinator.peer_id().to_string(),
        did: state.coordinator.authority().did().to_string(),
        nodes: state.coordinator.connected().len(),
    })
}

/// The node registry.
#[utoipa::path(get, path = "/v1/nodes", responses((status = 200, body = [NodeRecord]), (status = 401, body = ErrorBody)))]
async fn nodes(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<NodeRecord>>, ApiError> {
    researcher(&state, &headers).await?;
    Ok(Json(state.coordinator.store().nodes().await?))
}

/// Submits a federated query; the result fills in at `/v1/queries/{id}`.
#[utoipa::path(post, path = "/v1/queries", request_body = SubmitQuery,
    responses((status = 202, body = Submitted), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SubmitQuery>, JsonRejection>,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    let who = session(&state, &headers).await?;
    let Json(body) = body?;
    let query_id = state.coordinator.submit(&who, body.query, body.purpose, body.presentation).await?;
    Ok((StatusCode::ACCEPTED, Json(Submitted { query_id })))
}

/// The caller's queries, newest first.
#[utoipa::path(get, path = "/v1/queries", responses((status = 200, body = [QuerySummary]), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<QuerySummary>>, ApiError> {
    let who = researcher(&state, &headers).await?;
    let records = state.coordinator.store().queries_of(&who, 200).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| QuerySummary {
                query_id: r.query_id,
                status: r.status,
                submitted_at: r.submitted_at,
                readable: r.query.to_string(),
            })
            .collect(),
    ))
}

/// Options of `GET /v1/queries/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ResultParams {
    /// Wait up to this many milliseconds (at most 30,000) for the query to settle before answering.
    #[serde(default)]
    pub wait_ms: u64,
    /// Combine only the answers whose proof verified (pending and unproven answers are listed, not
    /// added).
    #[serde(default)]
    pub proven_only: bool,
}

/// The longest a result request may wait.
const MAX_WAIT_MS: u64 = 30_000;

/// A query's status and combined result, with every node's part.
#[utoipa::path(get, path = "/v1/queries/{id}", params(("id" = Uuid, Path, description = "query id"), ResultParams),
    responses((status = 200, body = CombinedResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn result(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    axum::extract::Query(params): axum::extract::Query<ResultParams>,
) -> Result<Json<CombinedResult>, ApiError> {
    let who = researcher(&state, &headers).await?;
    let wait = std::time::Duration::from_millis(params.wait_ms.min(MAX_WAIT_MS));
    if wait.is_zero() {
        return Ok(Json(state.coordinator.result_with(id, &who, params.proven_only).await?));
    }
    Ok(Json(state.coordinator.wait_result(id, &who, wait, params.proven_only).await?))
}

/// The proofs of a query's proven answers, one archived answer per node and proven cell (agora-zk's
/// format `agora-zk/cohort/5`, or `agora-zk/chunked/1` for a node that committed its data in chunks:
/// the chunks' commitments and a part per chunk), for `agora-zk verify` to check offline. Each holds the node's
/// commitment, the query digest (`agora_protocol::proof::query_digest` of the query id and query), the
/// cohort's criteria and the measure if any, the answer's count and sum (or the threshold they are
/// below) and the proof. The array is streamed, a node's message or one cell over chunks at a time, so
/// the hub never holds a whole export (a cell over 256 chunks is about 85 MB); should reading one fail
/// half-way, the response ends there without its closing bracket, which no JSON reader takes for whole.
#[utoipa::path(get, path = "/v1/queries/{id}/proofs", params(("id" = Uuid, Path, description = "query id")),
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn proofs(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<Uuid>) -> Result<Response, ApiError> {
    use axum::body::{Body, Bytes};
    use futures::StreamExt;
    let who = researcher(&state, &headers).await?;
    let sources = state.coordinator.archive_sources(id, &who).await?;
    let coordinator = state.coordinator.clone();
    // State: the sources left, whether nothing was written yet, and whether the stream has ended (the
    // closing bracket written, or an error met: then the body ends there, without it).
    let items = futures::stream::unfold((sources.into_iter(), true, false), move |(mut rest, first, ended)| {
        let coordinator = coordinator.clone();
        async move {
            if ended {
                return None;
            }
            let Some(source) = rest.next() else {
                return Some((Ok(Bytes::from_static(b"]")), (rest, first, true)));
            };
            let chunk = match coordinator.archived(id, &source).await {
                Ok(archived) => array_items(first, &archived).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match chunk {
                Ok(buf) => {
                    let first = first && buf.is_empty();
                    Some((Ok(Bytes::from(buf)), (rest, first, false)))
                }
                Err(e) => {
                    tracing::warn!(target: "hub::api", query_id = %id, %e, "proof export cut short");
                    Some((Err(std::io::Error::other(e)), (rest, first, true)))
                }
            }
        }
    });
    let body = futures::stream::once(futures::future::ready(Ok(Bytes::from_static(b"[")))).chain(items);
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response())
}

/// `items` as they continue a JSON array's text: comma-separated, with a comma first unless nothing
/// was written yet (`first`).
fn array_items<T: Serialize>(first: bool, items: &[T]) -> serde_json::Result<Vec<u8>> {
    items.iter().enumerate().try_fold(Vec::new(), |mut buf, (i, item)| {
        if !(first && i == 0) {
            buf.push(b',');
        }
        serde_json::to_writer(&mut buf, item).map(|()| buf)
    })
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Agora hub API", description = "Federated aggregate queries over Agora nodes"),
    paths(health, nodes, submit, list, result, proofs, challenge, open_session, status_list),
    components(schemas(
        SubmitQuery,
        Submitted,
        QuerySummary,
        Health,
        ErrorBody,
        NodeRecord,
        CombinedResult,
        Challenge,
        SessionRequest,
        SessionOpened
    ))
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The router.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/nodes", get(nodes))
        .route("/v1/queries", get(list).post(submit))
        .route("/v1/queries/{id}", get(result))
        .route("/v1/queries/{id}/proofs", get(proofs))
        .route("/openapi.json", get(openapi))
        .route("/v1/auth/challenge", axum::routing::post(challenge))
        .route("/v1/auth/session", axum::routing::post(open_session))
        .route("/v1/status/{list}", get(status_list))
        .route("/.well-known/did.json", get(did_document))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::array_items;

    #[test]
    fn streamed_items_make_one_array_whatever_sources_are_empty() {
        // Sources as the proofs endpoint meets them: empty ones first, between and last.
        for sources in [vec![], vec![vec![]], vec![vec![], vec![1, 2], vec![], vec![3], vec![]], vec![vec![4]]] {
            let mut text = b"[".to_vec();
            let mut first = true;
            for source in &sources {
                let chunk = array_items(first, source).unwrap();
                first = first && chunk.is_empty();
                text.extend(chunk);
            }
            text.push(b']');
            let parsed: Vec<i32> = serde_json::from_slice(&text).unwrap();
            assert_eq!(parsed, sources.concat(), "{}", String::from_utf8_lossy(&text));
        }
    }
}
