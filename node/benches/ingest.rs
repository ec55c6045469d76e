//! Ingest throughput on observation-heavy synthetic NDJSON (`agora_node::synth`, about 80% Observations),
//! one node, one store, and beside it the floor measured in the same run: the same files parsed with
//! `serde_json` into `Value`s and written with plain prepared inserts (one `source_record` row and the
//! resource's analytic rows), with no validation, units, pseudonyms, dedup or job bookkeeping.
//!
//! `cargo bench -p agora-node --bench ingest -- --patients 20000`
//!
//! Prints resources per second for both, and the process's peak RSS after each phase (VmHWM; the ingest
//! runs first, so its figure is the ingest's own peak).

#![allow(missing_docs)]

use agora_node::ingest::{run_job, IngestOptions, PseudonymKey};
use agora_node::store::Store;
use rusqlite::params;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut f: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    f.sort_by_key(|p| (!p.ends_with("Patient.ndjson"), p.clone()));
    f
}

fn subject(v: &Value) -> &str {
    v["subject"]["reference"].as_str().unwrap_or("").trim_start_matches("Patient/")
}

fn code(cc: &Value) -> (&str, &str) {
    let c = &cc["coding"][0];
    (c["system"].as_str().unwrap_or(""), c["code"].as_str().unwrap_or(""))
}

/// The floor: parse and insert, nothing else.
fn floor(files: &[PathBuf], store: &mut Store, batch: usize) -> u64 {
    let tx_size = batch;
    let mut n: u64 = 0;
    let mut persons = std::collections::HashMap::<String, i64>::new();
    let conn = store.conn_mut();
    let mut tx = conn.transaction().unwrap();
    let mut in_tx = 0;
    for f in files {
        let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(f).unwrap());
        for line in reader.lines() {
            let line = line.unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            let ty = v["resourceType"].as_str().unwrap_or("");
            tx.prepare_cached("INSERT INTO source_record (resource_type, fhir_id, job_id) VALUES (?1, ?2, 'floor')")
                .unwrap()
                .execute(params![ty, v["id"].as_str().unwrap_or("")])
                .unwrap();
            let source = tx.last_insert_rowid();
            let person = persons.get(subject(&v)).copied().unwrap_or(0);
            match ty {
                "Patient" => {
                    tx.prepare_cached(
                        "INSERT INTO person (pseudonym, sex, year_of_birth, month_of_birth, source_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .unwrap()
                    .execute(params![v["id"].as_str(), v["gender"].as_str().unwrap_or("unknown"), 1970, 1, source])
                    .unwrap();
                    persons.insert(v["id"].as_str().unwrap_or("").to_string(), tx.last_insert_rowid());
                }
                "Observation" => {
                    let t = v["effectiveDateTime"].as_str().map_or(0, |s| s.len() as i64);
                    let put = |cc: &Value, q: &Value| {
                        let (system, c) = code(cc);
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO measurement (person_id, system, code, measured_at, value_e3, unit, source_id)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )
                        .unwrap()
                        .execute(params![
                            person,
                            system,
                            c,
                            t + source,
                            (q["value"].as_f64().unwrap_or(0.0) * 1000.0) as i64,
                            q["code"].as_str().unwrap_or(""),
                            source
                        ])
                        .unwrap();
                    };
                    if v["valueQuantity"].is_object() {
                        put(&v["code"], &v["valueQuantity"]);
                    }
                    for c in v["component"].as_array().into_iter().flatten() {
                        put(&c["code"], &c["valueQuantity"]);
                    }
                }
                "Condition" => {
                    let (system, c) = code(&v["code"]);
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO condition_occurrence (person_id, system, code, start_at, source_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .unwrap()
                    .execute(params![person, system, c, source, source])
                    .unwrap();
                }
                "MedicationRequest" => {
                    let (system, c) = code(&v["medicationCodeableConcept"]);
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO drug_exposure (person_id, kind, system, code, start_at, source_id) VALUES (?1, 'request', ?2, ?3, ?4, ?5)",
                    )
                    .unwrap()
                    .execute(params![person, system, c, source, source])
                    .unwrap();
                }
                "Encounter" => {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO visit_occurrence (person_id, class, start_at, end_at, source_id) VALUES (?1, ?2, ?3, ?3, ?4)",
                    )
                    .unwrap()
                    .execute(params![person, v["class"]["code"].as_str(), source, source])
                    .unwrap();
                }
                _ => {}
            }
            n += 1;
            in_tx += 1;
            if in_tx == tx_size {
                tx.commit().unwrap();
                tx = conn.transaction().unwrap();
                in_tx = 0;
            }
        }
    }
    tx.commit().unwrap();
    n
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let patients = arg("--patients", 20_000);
    let batch = arg("--batch", 5_000);
    let tmp = tempfile::tempdir_in(std::env::var("AGORA_BENCH_DIR").unwrap_or_else(|_| "target".into())).unwrap();
    let synth = tmp.path().join("synth");
    let t = Instant::now();
    let report = agora_node::synth::write_ndjson(&synth, patients, 7).unwrap();
    let bytes: u64 = files(&synth).iter().map(|f| f.metadata().unwrap().len()).sum();
    println!(
        "input: {} resources ({} observations, {} measurement values), {:.0} MB, written in {:.1} s",
        report.resources(),
        report.observations,
        report.measurements,
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let rss_before = peak_rss_mb();

    let mut store = Store::open(&tmp.path().join("node.db")).unwrap();
    let key = PseudonymKey::from_bytes([7; 32]);
    let t = Instant::now();
    let r =
        run_job(&mut store, &key, "bench", &files(&synth), &IngestOptions { batch_size: batch }, &mut |_| {}).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(r.counts.stored, report.resources(), "every synthetic resource is stored");
    let rss_ingest = peak_rss_mb();
    println!(
        "agora ingest: {} resources in {:.2} s = {:.0} resources/s; peak RSS {:.0} MB (before: {:.0} MB)",
        r.counts.resources,
        secs,
        r.counts.resources as f64 / secs,
        rss_ingest,
        rss_before
    );
    drop(store);

    let mut store = Store::open(&tmp.path().join("floor.db")).unwrap();
    let t = Instant::now();
    let n = floor(&files(&synth), &mut store, batch);
    let floor_secs = t.elapsed().as_secs_f64();
    println!(
        "floor (serde_json Value + prepared inserts): {n} resources in {floor_secs:.2} s = {:.0} resources/s; peak RSS {:.0} MB",
        n as f64 / floor_secs,
        peak_rss_mb()
    );
    println!("agora ingest / floor: {:.2}x the floor's time", secs / floor_secs);
}
