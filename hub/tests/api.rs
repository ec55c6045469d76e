//! The researcher API through the router, without a socket: authentication, body limits, malformed and
//! invalid queries, unknown ids, and the OpenAPI document.

use agora_hub::api::{router, AppState};
use agora_hub::coordinator::{Coordinator, CoordinatorConfig};
use agora_hub::store::HubStore;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const MAX_BODY: usize = 64 * 1024;

async fn app() -> (axum::Router, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = HubStore::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display())).await.unwrap();
    let token = store.add_researcher("ada", 0).await.unwrap();
    let key = libp2p::identity::Keypair::generate_ed25519();
    let (_task, net, _inbound, _addr) =
        agora_hub::net::listen(key.clone(), "/ip4/127.0.0.1/tcp/0", Duration::from_secs(5)).await.unwrap();
    let cfg = CoordinatorConfig {
        deadline: Duration::from_secs(2),
        ttl_secs: 60,
        allowed_nodes: Default::default(),
        max_inflight: 8,
    };
    let coordinator = Coordinator::new(store, net, key, cfg, CancellationToken::new());
    (router(AppState { coordinator }, MAX_BODY), token, dir)
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

const VALID: &str = r#"{"query": {"version": 1, "cohort": {"kind": "everyone"}, "aggregates": [{"kind": "count"}],
    "reference_date": "2026-01-01"}}"#;

#[tokio::test]
async fn every_refusal_names_its_reason() {
    let (app, token, _dir) = app().await;

    let (s, v) = call(&app, Request::get("/v1/health").body(Body::empty()).unwrap()).await;
    assert_eq!((s, v["status"].as_str(), v["nodes"].as_u64()), (StatusCode::OK, Some("ok"), Some(0)));

    let (s, v) = call(&app, Request::get("/v1/nodes").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("Authorization: Bearer"));

    let (s, _) = call(&app, post("agora_wrong", VALID)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, v) = call(&app, post(&token, "{not json")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(!v["error"].as_str().unwrap().is_empty());

    let (s, v) = call(&app, post(&token, r#"{"query": {"version": 1}}"#)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"].as_str().unwrap().contains("missing field"), "{v}");

    let v2 = VALID.replace("\"version\": 1", "\"version\": 2");
    let (s, v) = call(&app, post(&token, v2)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"].as_str().unwrap().contains("version 2 is not supported"), "{v}");

    let big = format!(r#"{{"purpose": "{}", {}"#, "x".repeat(MAX_BODY + 1), &VALID[1..]);
    let (s, v) = call(&app, post(&token, big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"].as_str().unwrap().contains("larger than the hub accepts"), "{v}");

    let (s, v) = call(&app, post(&token, VALID)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(v["error"].as_str().unwrap().contains("no node is connected"), "{v}");

    let uri = format!("/v1/queries/{}", uuid::Uuid::new_v4());
    let (s, _) =
        call(&app, Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap())
            .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, v) = call(
        &app,
        Request::get("/v1/queries").header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((s, v.as_array().map(|a| a.len())), (StatusCode::OK, Some(0)), "refused queries are not recorded");
}

#[tokio::test]
async fn openapi_document_lists_the_routes() {
    let (app, _token, _dir) = app().await;
    let (s, v) = call(&app, Request::get("/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    for path in ["/v1/health", "/v1/nodes", "/v1/queries", "/v1/queries/{id}"] {
        assert!(v["paths"].get(path).is_some(), "missing {path}");
    }
    assert!(v["components"]["schemas"].get("CombinedResult").is_some());
}
