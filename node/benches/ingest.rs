//! Ingest throughput on observation-heavy synthetic NDJSON (`agora_node::synth`, about 80% Observations),
//! one node, one store, and beside it the floor measured in the same run: the same files parsed with
//! `serde_json` into borrowed structs holding only the fields inserted, and written with the same prepared
//! inserts into the same schema (one `source_record` row and the resource's analytic rows) with the same
//! batch and page-cache settings, but no validation, units, pseudonyms, references or job bookkeeping.
//!
//! `cargo bench -p agora-node --bench ingest -- --patients 20000`
//!
//! Prints resources per second for both, and the process's peak RSS after each phase (VmHWM; the ingest
//! runs first, so its figure is the ingest's own peak).

#![allow(missing_docs)]

use agora_node::ingest::{run_job, IngestOptions, PseudonymKey};
use agora_node::store::Store;
use rusqlite::params;
use serde::Deserialize;
use std::borrow::Cow;
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

/// Just the fields the floor's inserts need, borrowed from the line (the cheapest serde_json parse).
#[derive(Deserialize)]
struct Min<'a> {
    #[serde(rename = "resourceType", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    gender: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subject: Option<Reference<'a>>,
    #[serde(borrow, default)]
    code: Option<Concept<'a>>,
    #[serde(rename = "medicationCodeableConcept", borrow, default)]
    medication: Option<Concept<'a>>,
    #[serde(rename = "valueQuantity", borrow, default)]
    value: Option<Quantity<'a>>,
    #[serde(borrow, default)]
    component: Vec<Component<'a>>,
    #[serde(rename = "effectiveDateTime", borrow, default)]
    effective: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    class: Option<Coding<'a>>,
}

#[derive(Deserialize)]
struct Reference<'a> {
    #[serde(borrow)]
    reference: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Concept<'a> {
    #[serde(borrow, default)]
    coding: Vec<Coding<'a>>,
}

#[derive(Deserialize)]
struct Coding<'a> {
    #[serde(borrow, default)]
    system: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Quantity<'a> {
    value: f64,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Component<'a> {
    #[serde(borrow)]
    code: Concept<'a>,
    #[serde(rename = "valueQuantity", borrow, default)]
    value: Option<Quantity<'a>>,
}

fn code<'a>(cc: Option<&'a Concept<'a>>) -> (&'a str, &'a str) {
    let c = cc.and_then(|c| c.coding.first());
    (c.and_then(|c| c.system.as_deref()).unwrap_or(""), c.and_then(|c| c.code.as_deref()).unwrap_or(""))
}

/// The floor: parse and insert, nothing else.
fn floor(files: &[PathBuf], store: &mut Store, batch: usize) -> u64 {
    let tx_size = batch;
    let mut n: u64 = 0;
    let mut persons = std::collections::HashMap::<String, i64>::new();
    let conn = store.conn_mut();
    // The same bulk settings as the ingest's.
    conn.pragma_update(None, "cache_size", -65_536).unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 50_000).unwrap();
    let mut tx = conn.transaction().unwrap();
    let mut in_tx = 0;
    for f in files {
        let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(f).unwrap());
        for line in reader.lines() {
            let line = line.unwrap();
            let v: Min<'_> = serde_json::from_str(&line).unwrap();
            tx.prepare_cached("INSERT INTO source_record (resource_type, fhir_id, job_id) VALUES (?1, ?2, 'floor')")
                .unwrap()
                .execute(params![v.ty, v.id])
                .unwrap();
            let source = tx.last_insert_rowid();
            let subject = v.subject.as_ref().map_or("", |s| s.reference.trim_start_matches("Patient/"));
            let person = persons.get(subject).copied().unwrap_or(0);
            let at = v.effective.as_deref().map_or(0, |s| s.len() as i64) + source;
            match v.ty.as_ref() {
                "Patient" => {
                    tx.prepare_cached(
                        "INSERT INTO person (pseudonym, sex, year_of_birth, month_of_birth, source_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .unwrap()
                    .execute(params![v.id, v.gender.as_deref().unwrap_or("unknown"), 1970, 1, source])
                    .unwrap();
                    persons.insert(v.id.as_deref().unwrap_or("").to_string(), tx.last_insert_rowid());
                }
                "Observation" => {
                    let put = |cc: Option<&Concept<'_>>, q: &Quantity<'_>| {
                        let (system, c) = code(cc);
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO measurement (person_id, system, code, measured_at, value_e3, unit, source_id)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )
                        .unwrap()
                        .execute(params![person, system, c, at, (q.value * 1000.0) as i64, q.code, source])
                        .unwrap();
                    };
                    if let Some(q) = &v.value {
                        put(v.code.as_ref(), q);
                    }
                    for c in &v.component {
                        if let Some(q) = &c.value {
                            put(Some(&c.code), q);
                        }
                    }
                }
                "Condition" => {
                    let (system, c) = code(v.code.as_ref());
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO condition_occurrence (person_id, system, code, start_at, source_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .unwrap()
                    .execute(params![person, system, c, source, source])
                    .unwrap();
                }
                "MedicationRequest" => {
                    let (system, c) = code(v.medication.as_ref());
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
                    .execute(params![person, v.class.as_ref().and_then(|c| c.code.as_deref()), source, source])
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
    let batch = arg("--batch", 50_000);
    let tmp =
        tempfile::tempdir_in(std::env::var("AGORA_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").into()))
            .unwrap();
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
    assert_eq!((r.counts.resources, r.counts.errors), (report.resources(), 0), "every synthetic resource is read");
    println!("{r}");
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

    if std::env::args().any(|a| a == "--no-floor") {
        return;
    }
    let mut store = Store::open(&tmp.path().join("floor.db")).unwrap();
    let t = Instant::now();
    let n = floor(&files(&synth), &mut store, batch);
    let floor_secs = t.elapsed().as_secs_f64();
    println!(
        "floor (serde_json borrowed parse + the same prepared inserts): {n} resources in {floor_secs:.2} s = {:.0} resources/s; peak RSS {:.0} MB",
        n as f64 / floor_secs,
        peak_rss_mb()
    );
    println!("agora ingest / floor: {:.2}x the floor's time", secs / floor_secs);
}
