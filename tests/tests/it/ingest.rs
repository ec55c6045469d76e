//! Ingest through the real binary and the node's HTTP API: a kill -9 mid-ingest loses nothing that was
//! committed and leaves no half-written resource; uploads over the limit are refused with nothing lost.

use agora_node::store::Store;
use agora_tests::{NetOptions, TestNet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn node(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(agora_tests::bin("agora-node").unwrap()).arg("--data-dir").arg(data).args(args).output().unwrap()
}

fn counts(data: &Path) -> Vec<i64> {
    let store = Store::open(&data.join("node.db")).unwrap();
    ["person", "measurement", "condition_occurrence", "drug_exposure", "visit_occurrence", "source_record"]
        .iter()
        .map(|t| store.conn().query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0)).unwrap())
        .collect()
}

fn synth_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort_by_key(|p| !p.ends_with("Patient.ndjson"));
    files
}

#[tokio::test]
async fn kill_9_mid_ingest_loses_nothing_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let synth = tmp.path().join("synth");
    assert!(node(tmp.path(), &["synth", "--patients", "6000", "--seed", "9", "--out", synth.to_str().unwrap()])
        .status
        .success());
    let files = synth_files(&synth);

    // A clean ingest in another store gives the reference counts.
    let clean = tmp.path().join("clean");
    assert!(node(&clean, &["init"]).status.success());
    let mut args = vec!["ingest", "--quiet"];
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let out = node(&clean, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference = counts(&clean);

    // Now kill -9 an ingest as soon as something is committed.
    let data = tmp.path().join("node");
    assert!(node(&data, &["init"]).status.success());
    let mut full = vec!["ingest", "--quiet", "--job-id", "job-kill"];
    full.extend(names.iter().map(String::as_str));
    let mut child =
        Command::new(agora_tests::bin("agora-node").unwrap()).arg("--data-dir").arg(&data).args(&full).spawn().unwrap();
    let start = Instant::now();
    loop {
        let c = counts(&data);
        if c[1] > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "ingest finished before it could be killed: make the input larger"
        );
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = counts(&data);
    assert!(partial[1] < reference[1], "killed before the end: {partial:?} vs {reference:?}");

    // No half-written resource: every blood-pressure panel has both components, every row its person.
    let store = Store::open(&data.join("node.db")).unwrap();
    let q = |sql: &str| -> i64 { store.conn().query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        q("SELECT COUNT(*) FROM measurement WHERE code = '8480-6'"),
        q("SELECT COUNT(*) FROM measurement WHERE code = '8462-4'")
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM measurement m LEFT JOIN person p USING (person_id) WHERE p.person_id IS NULL"),
        0
    );
    drop(store);

    // The job shows as interrupted, and re-running it completes it without doubling anything.
    let out = node(&data, &["job", "job-kill"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(status["state"], "interrupted", "a killed job shows as interrupted: {status}");
    let out = node(&data, &full);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(counts(&data), reference);
    let out = node(&data, &["job", "job-kill"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["state"], "done");
}

#[tokio::test]
async fn http_ingest_refuses_oversized_uploads_and_reports_errors() {
    let net = TestNet::spawn(NetOptions {
        nodes: 1,
        patients_per_node: 20,
        node_env: vec![("AGORA_NODE_MAX_BODY_BYTES".into(), (8 * 1024 * 1024).to_string())],
        ..NetOptions::default()
    })
    .await
    .unwrap();
    let node = &net.nodes[0];
    let before = counts(&node.data_dir);
    let http = reqwest::Client::new();

    // A 100 MB body is refused with a clear error, and nothing stored changes.
    let body = vec![b' '; 100 * 1024 * 1024];
    let resp = http.post(format!("{}/v1/ingest", node.http)).body(body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("exceeds the node's limit"), "{v}");
    assert_eq!(counts(&node.data_dir), before);
    let spool = node.data_dir.join("spool");
    assert_eq!(std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0), 0, "nothing left in the spool");

    // A small upload with good and bad lines: a job id, then per-resource errors with line numbers.
    let ndjson = concat!(
        r#"{"resourceType":"Patient","id":"http-p1","gender":"female","birthDate":"1970-05-02"}"#,
        "\n",
        r#"{"resourceType":"Observation","id":"http-o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"subject":{"reference":"Patient/http-p1"},"effectiveDateTime":"2025-01-01T00:00:00Z","valueQuantity":{"value":5.5,"code":"mmol/L","system":"http://unitsofmeasure.org"}}"#,
        "\n",
        "{not json\n",
        r#"{"resourceType":"Observation","id":"http-o2","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"effectiveDateTime":"2025-01-01T00:00:00Z","valueQuantity":{"value":90,"code":"mg/dL"}}"#,
        "\n",
    );
    let resp = http.post(format!("{}/v1/ingest", node.http)).body(ndjson).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let job: serde_json::Value = resp.json().await.unwrap();
    let id = job["job_id"].as_str().unwrap().to_string();
    let start = Instant::now();
    let status = loop {
        let s: serde_json::Value =
            http.get(format!("{}/v1/ingest/jobs/{id}", node.http)).send().await.unwrap().json().await.unwrap();
        if s["state"] == "done" || s["state"] == "failed" {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "job did not finish: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status["state"], "done", "{status}");
    let errors = status["errors"].as_array().unwrap();
    let lines: Vec<i64> = errors.iter().filter_map(|e| e["line"].as_i64()).collect();
    assert!(lines.contains(&3), "the malformed line 3 is reported: {status}");
    assert!(lines.contains(&4), "the observation without a subject on line 4 is reported: {status}");
    let after = counts(&node.data_dir);
    assert_eq!((after[0], after[1]), (before[0] + 1, before[1] + 1), "one patient and one glucose value added");

    let resp = http.get(format!("{}/v1/ingest/jobs/no-such-job", node.http)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}
