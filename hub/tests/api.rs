//! The researcher API through the router, without a socket: signing in with a ResearcherCredential,
//! query authorisation by presentation, body limits, malformed and invalid queries, unknown ids, the DID
//! document, the revocation lists, and the OpenAPI document.

use agora_did::credential::{Issuer, Verifier};
use agora_did::{CredentialFormat, Identity};
use agora_hub::api::{router, AppState};
use agora_hub::authority::Authority;
use agora_hub::coordinator::{Coordinator, CoordinatorConfig};
use agora_hub::store::HubStore;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const MAX_BODY: usize = 64 * 1024;

struct App {
    router: axum::Router,
    coordinator: Coordinator,
    authority: Authority,
    researcher: Issuer,
    credential: serde_json::Value,
    credential_id: String,
    _dir: tempfile::TempDir,
}

const DID_WEB: &str = "did:web:hub.agora.test";

async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = HubStore::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display())).await.unwrap();
    let key = libp2p::identity::Keypair::generate_ed25519();
    let identity = agora_did::identity::identity_of_keypair(&key).unwrap();
    let authority = Authority::new(identity, Some(DID_WEB), "https://hub.agora.test", store.clone(), false).unwrap();
    let researcher = Issuer::key(Identity::generate());
    let purposes = vec!["study-7".to_string()];
    let (credential_id, credential) = authority
        .issue_researcher(researcher.did(), "Ada", "AEI", &purposes, 30, CredentialFormat::DataIntegrity)
        .await
        .unwrap();
    let (_task, net, _inbound, _addr) =
        agora_hub::net::listen(key.clone(), "/ip4/127.0.0.1/tcp/0", Duration::from_secs(5)).await.unwrap();
    let cfg = CoordinatorConfig {
        deadline: Duration::from_secs(2),
        ttl_secs: 60,
        allowed_nodes: Default::default(),
        max_inflight: 8,
        proof_handlers: agora_hub::coordinator::PROOF_HANDLERS,
    };
    let coordinator = Coordinator::new(store, net, key, authority.clone(), cfg, CancellationToken::new());
    App {
        router: router(AppState { coordinator: coordinator.clone() }, MAX_BODY),
        coordinator,
        authority,
        researcher,
        credential,
        credential_id,
        _dir: dir,
    }
}

impl App {
    /// Signs in through the API: challenge, presentation, session.
    async fn sign_in(&self, holder: &Issuer, credential: &serde_json::Value) -> (StatusCode, serde_json::Value) {
        let (s, c) = call(&self.router, Request::post("/v1/auth/challenge").body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(c["domain"], DID_WEB);
        let vp = agora_did::presentation::present(
            holder,
            std::slice::from_ref(credential),
            c["challenge"].as_str().unwrap(),
            DID_WEB,
            CredentialFormat::Jose,
        )
        .await
        .unwrap();
        let body = serde_json::json!({ "presentation": vp }).to_string();
        call(
            &self.router,
            Request::post("/v1/auth/session")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// A query body with a presentation bound to `bound_query` and `bound_purpose`.
    async fn body(
        &self,
        query: &serde_json::Value,
        purpose: &str,
        bound_query: &serde_json::Value,
        bound_purpose: &str,
    ) -> String {
        let q: agora_protocol::Query = serde_json::from_value(bound_query.clone()).unwrap();
        let challenge = agora_protocol::query_challenge(&q, Some(bound_purpose));
        let vp = agora_did::presentation::present(
            &self.researcher,
            std::slice::from_ref(&self.credential),
            &challenge,
            DID_WEB,
            CredentialFormat::Jose,
        )
        .await
        .unwrap();
        serde_json::json!({ "query": query, "purpose": purpose, "presentation": vp }).to_string()
    }
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

fn post(token: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post("/v1/queries")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

const VALID: &str = r#"{"version": 1, "cohort": {"kind": "everyone"}, "aggregates": [{"kind": "count"}],
    "reference_date": "2026-01-01"}"#;

#[tokio::test]
async fn every_refusal_names_its_reason() {
    let app = app().await;
    let valid: serde_json::Value = serde_json::from_str(VALID).unwrap();

    let (s, v) = call(&app.router, Request::get("/v1/health").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (s, v["status"].as_str(), v["nodes"].as_u64(), v["did"].as_str()),
        (StatusCode::OK, Some("ok"), Some(0), Some(DID_WEB))
    );

    let (s, v) = call(&app.router, Request::get("/v1/nodes").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("Authorization: Bearer"));

    // Signing in: someone else's credential, then the researcher's own.
    let thief = Issuer::key(Identity::generate());
    let (s, v) = app.sign_in(&thief, &app.credential).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"].as_str().unwrap().contains("only its subject may present it"), "{v}");
    let (s, v) = app.sign_in(&app.researcher, &app.credential).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["researcher"], app.researcher.did());
    let token = v["token"].as_str().unwrap().to_string();

    let body = app.body(&valid, "study-7", &valid, "study-7").await;
    let (s, _) = call(&app.router, post("agora_wrong", body.clone())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, v) = call(&app.router, post(&token, "{not json")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(!v["error"].as_str().unwrap().is_empty());

    let (s, v) = call(&app.router, post(&token, r#"{"query": {"version": 1}, "presentation": "x"}"#)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"].as_str().unwrap().contains("missing field"), "{v}");

    let (s, v) = call(&app.router, post(&token, format!(r#"{{"query": {VALID}}}"#))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"].as_str().unwrap().contains("presentation"), "{v}");

    let mut v2 = valid.clone();
    v2["version"] = 2.into();
    let (s, v) = call(&app.router, post(&token, app.body(&v2, "study-7", &valid, "study-7").await)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"].as_str().unwrap().contains("version 2 is not supported"), "{v}");

    // A presentation made for another query, or another purpose; a purpose not approved.
    let mut other = valid.clone();
    other["aggregates"] = serde_json::json!([{"kind": "count"}, {"kind": "mean"}]);
    other["measure"] = serde_json::json!({"code": {"system": "loinc", "code": "2345-7"}, "selection": "latest"});
    let (s, v) = call(&app.router, post(&token, app.body(&valid, "study-7", &other, "study-7").await)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"].as_str().unwrap().contains("challenge does not match"), "{v}");
    let (s, v) = call(&app.router, post(&token, app.body(&valid, "marketing", &valid, "marketing").await)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"].as_str().unwrap().contains("does not approve the purpose `marketing`"), "{v}");

    let big = format!(r#"{{"purpose": "{}", "query": {VALID}, "presentation": "x"}}"#, "x".repeat(MAX_BODY + 1));
    let (s, v) = call(&app.router, post(&token, big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"].as_str().unwrap().contains("larger than the hub accepts"), "{v}");

    // Authorised, but no node is connected.
    let (s, v) = call(&app.router, post(&token, body)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(v["error"].as_str().unwrap().contains("no node is connected"), "{v}");

    let uri = format!("/v1/queries/{}", uuid::Uuid::new_v4());
    let (s, _) = call(
        &app.router,
        Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Waiting for queries that are unknown (or another researcher's) leaves nothing behind at the hub.
    for _ in 0..3 {
        let uri = format!("/v1/queries/{}?wait_ms=1", uuid::Uuid::new_v4());
        let auth = format!("Bearer {token}");
        let (s, _) =
            call(&app.router, Request::get(uri).header("authorization", auth).body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.coordinator.waited_for(), 0, "no waiter left for queries nobody will settle");
    // The proofs of a query unknown (or another researcher's): refused before any byte is streamed.
    let uri = format!("/v1/queries/{}/proofs", uuid::Uuid::new_v4());
    let (s, v) = call(
        &app.router,
        Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(v["error"].as_str().unwrap().starts_with("no query "), "{v}");

    let (s, v) = call(
        &app.router,
        Request::get("/v1/queries").header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((s, v.as_array().map(|a| a.len())), (StatusCode::OK, Some(0)), "refused queries are not recorded");

    // Revoked: no new session, no new query; the published list says so.
    app.authority.revoke(&app.credential_id).await.unwrap();
    let (s, v) = app.sign_in(&app.researcher, &app.credential).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"].as_str().unwrap().contains("revoked"), "{v}");
    let (s, v) = call(&app.router, post(&token, app.body(&valid, "study-7", &valid, "study-7").await)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, list) = call(&app.router, Request::get("/v1/status/researchers").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let verifier = Verifier::default();
    verifier
        .resolver()
        .pin(DID_WEB, &call(&app.router, Request::get("/.well-known/did.json").body(Body::empty()).unwrap()).await.1)
        .unwrap();
    let list = verifier.credential(&list).await.unwrap();
    let bits = agora_did::StatusList::decode(list.claim_str("encodedList").unwrap()).unwrap();
    assert!(bits.is_revoked(0) && !bits.is_revoked(1));
    let (s, _) = call(&app.router, Request::get("/v1/status/other").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn openapi_document_lists_the_routes() {
    let app = app().await;
    let (s, v) = call(&app.router, Request::get("/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    for path in ["/v1/health", "/v1/nodes", "/v1/queries", "/v1/queries/{id}", "/v1/auth/challenge", "/v1/auth/session"]
    {
        assert!(v["paths"].get(path).is_some(), "missing {path}");
    }
    assert!(v["components"]["schemas"].get("CombinedResult").is_some());
}
