//! Query execution over a synthetic store of 50,000 patients and 1,000,000 measurements, written with direct
//! SQL inserts from a seeded generator. Prints the p50 of each query over repeated runs and the time the
//! prover's read of the same store for a commitment takes (one pass, into its spool, and back), then hands
//! the same queries to criterion.
//!
//! `cargo bench -p agora-node --bench query`

#![allow(missing_docs)]

use agora_node::query::execute;
use agora_node::store::Store;
use agora_protocol::{Aggregate, Code, CodeSystem, Cohort, GroupBy, Measure, Query, Selection};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;

const PATIENTS: i64 = 50_000;
const MEASUREMENTS: usize = 1_000_000;
const GLUCOSE: &str = "2345-7";

/// LOINC codes with their share of measurements, mean and spread (in thousandths of the unit).
const LABS: [(&str, &str, u32, i64, i64); 6] = [
    (GLUCOSE, "mg/dL", 30, 105_000, 25_000),
    ("4548-4", "%", 10, 6_000, 900),
    ("39156-5", "kg/m2", 15, 27_000, 5_000),
    ("8480-6", "mm[Hg]", 20, 128_000, 18_000),
    ("8462-4", "mm[Hg]", 20, 80_000, 11_000),
    ("2093-3", "mg/dL", 5, 190_000, 35_000),
];

const CONDITIONS: [&str; 10] =
    ["E11.9", "E11.65", "E10.9", "I10", "J45.909", "E78.5", "I25.10", "N18.3", "F32.9", "K21.9"];

fn build(path: &Path) {
    let mut store = Store::open(path).expect("open store");
    let mut rng = StdRng::seed_from_u64(20_260_101);
    let tx = store.conn_mut().transaction().unwrap();
    tx.execute(
        "INSERT INTO source_record (source_id, resource_type, fhir_id, job_id) VALUES (1, 'Bundle', 'bench', 'bench')",
        [],
    )
    .unwrap();
    {
        let mut person = tx
            .prepare(
                "INSERT INTO person (person_id, pseudonym, sex, year_of_birth, month_of_birth, source_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            )
            .unwrap();
        let mut condition = tx
            .prepare("INSERT OR IGNORE INTO condition_occurrence (person_id, system, code, start_at, source_id) VALUES (?1, 'icd10cm', ?2, ?3, 1)")
            .unwrap();
        let mut drug = tx
            .prepare("INSERT OR IGNORE INTO drug_exposure (person_id, kind, system, code, start_at, source_id) VALUES (?1, 'request', 'rxnorm', ?2, ?3, 1)")
            .unwrap();
        let mut measurement = tx
            .prepare(
                "INSERT INTO measurement (person_id, system, code, measured_at, value_e3, unit, implausible, source_id)
                 VALUES (?1, 'loinc', ?2, ?3, ?4, ?5, ?6, 1)",
            )
            .unwrap();
        let per_patient = MEASUREMENTS / PATIENTS as usize;
        let total_share: u32 = LABS.iter().map(|l| l.2).sum();
        for person_id in 1..=PATIENTS {
            let sex = match rng.gen_range(0..100) {
                0..49 => "female",
                49..97 => "male",
                97 => "other",
                _ => "unknown",
            };
            let yob: Option<i64> = (!rng.gen_bool(0.01)).then(|| rng.gen_range(1930..2015));
            let mob: Option<i64> = rng.gen_bool(0.9).then(|| rng.gen_range(1..=12));
            person.execute(rusqlite::params![person_id, format!("p{person_id}"), sex, yob, mob]).unwrap();
            let diabetic = rng.gen_bool(0.12);
            if diabetic {
                condition
                    .execute(rusqlite::params![person_id, CONDITIONS[rng.gen_range(0..2)], 1_500_000_000i64])
                    .unwrap();
                drug.execute(rusqlite::params![person_id, "860975", 1_500_000_000i64]).unwrap();
            }
            for _ in 0..rng.gen_range(0..4) {
                condition
                    .execute(rusqlite::params![
                        person_id,
                        CONDITIONS[rng.gen_range(2..10)],
                        rng.gen_range(1_400_000_000i64..1_700_000_000)
                    ])
                    .unwrap();
            }
            let mut at = 1_500_000_000i64;
            for _ in 0..per_patient {
                let mut pick = rng.gen_range(0..total_share);
                let mut lab = &LABS[0];
                for candidate in &LABS {
                    lab = candidate;
                    if pick < candidate.2 {
                        break;
                    }
                    pick -= candidate.2;
                }
                at += rng.gen_range(3_600..10_000_000);
                let shift = if diabetic && lab.0 == GLUCOSE { 40_000 } else { 0 };
                let value = lab.3 + shift + rng.gen_range(-lab.4..=lab.4);
                let implausible = rng.gen_bool(0.005);
                let value = if implausible { value * 50 } else { value };
                measurement.execute(rusqlite::params![person_id, lab.0, at, value, lab.1, implausible]).unwrap();
            }
        }
    }
    Store::bump_data_version(&tx).unwrap();
    tx.commit().unwrap();
    // As an ingest leaves it: statistics for the planner (STAT4).
    agora_node::store::Store::optimize(store.conn()).unwrap();
}

fn glucose_query(group_by: GroupBy, aggregates: Vec<Aggregate>) -> Query {
    Query {
        version: agora_protocol::QUERY_VERSION,
        cohort: Cohort::Condition { code: "icd10cm:E11*".parse().unwrap() },
        measure: Some(Measure { code: Code::new(CodeSystem::Loinc, GLUCOSE), selection: Selection::Latest }),
        aggregates,
        group_by,
        reference_date: time::macros::date!(2026 - 01 - 01),
    }
}

fn queries() -> Vec<(&'static str, Query)> {
    vec![
        ("count+mean latest glucose, E11*", glucose_query(GroupBy::default(), vec![Aggregate::Count, Aggregate::Mean])),
        (
            "count+mean+histogram latest glucose, E11*, by sex x 4 age bands",
            glucose_query(
                GroupBy { sex: true, age_bands: Some(vec![40, 65, 80]) },
                vec![
                    Aggregate::Count,
                    Aggregate::Mean,
                    Aggregate::Histogram { edges: vec![70.0, 100.0, 126.0, 200.0] },
                ],
            ),
        ),
        (
            "count+sd all glucose values, everyone aged 18+",
            Query {
                cohort: Cohort::Age { min: Some(18), max: None },
                measure: Some(Measure { code: Code::new(CodeSystem::Loinc, GLUCOSE), selection: Selection::All }),
                ..glucose_query(GroupBy::default(), vec![Aggregate::Count, Aggregate::StdDev])
            },
        ),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The same store read as the prover reads it for a commitment (median of five each): one pass of
/// `BlockReader` in its read transaction (the code before the spool made two, and held the transaction
/// through the commit), `read_dataset` (that pass, written to the spool; the transaction then ends),
/// and the spool read back (what the commit reads, outside any transaction).
fn read_for_commit(path: &Path) {
    use agora_node::proofs::{read_dataset, BlockReader};
    let median = |mut t: Vec<Duration>| {
        t.sort();
        t[t.len() / 2]
    };
    let mut store = Store::open(path).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (mut opened, mut one_pass, mut spooled, mut back) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut rows, mut blocks, mut bytes) = (0usize, 0usize, 0u64);
    for _ in 0..5 {
        let t = Instant::now();
        let reader = BlockReader::open(&mut store).unwrap();
        opened.push(t.elapsed());
        let mut n = 0usize;
        reader
            .for_each(|b| {
                n += b.len();
                Ok::<(), agora_node::store::StoreError>(())
            })
            .unwrap();
        drop(reader);
        one_pass.push(t.elapsed());
        let t = Instant::now();
        let read = read_dataset(&mut store, Some(scratch.path()), usize::MAX, 1).unwrap();
        spooled.push(t.elapsed());
        if let agora_node::spool::Spool::File(f, _) = &read.spool {
            bytes = f.metadata().unwrap().len();
        }
        (rows, blocks) = (read.sizes.iter().map(|s| s.0).sum(), read.sizes.len());
        assert_eq!(rows, n);
        let t = Instant::now();
        let mut m = 0usize;
        read.spool
            .for_each(|b| {
                m += b.len();
                Ok::<(), std::io::Error>(())
            })
            .unwrap();
        back.push(t.elapsed());
        assert_eq!(m, n);
    }
    eprintln!(
        "dataset read for a commitment ({rows} rows, {blocks} blocks, spool {:.1} MB): one pass in its read \
         transaction {:.2?} (of which opening it, the measures' ranges, {:.2?}); read into the spool {:.2?} (the \
         transaction then ends); spool read back {:.2?}",
        bytes as f64 / 1e6,
        median(one_pass),
        median(opened),
        median(spooled),
        median(back),
    );
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let started = Instant::now();
    build(&path);
    eprintln!("built {PATIENTS} patients / {MEASUREMENTS} measurements in {:.1?}", started.elapsed());
    let store = Store::open_read_only(&path).unwrap();
    let queries = queries();
    for (name, query) in &queries {
        let answer = execute(&store, query, Uuid::nil(), 10).unwrap();
        let mut times = Vec::new();
        for _ in 0..40 {
            let t = Instant::now();
            execute(&store, query, Uuid::nil(), 10).unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        eprintln!(
            "{name}: p50 {:.1?}, p90 {:.1?}, min {:.1?} (cohort {:?}, moments {:?})",
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            times[0],
            answer.rows[0].patients,
            answer.rows[0].moments.map(|m| m.n()),
        );
    }
    read_for_commit(&path);
    let mut group = c.benchmark_group("query");
    group.sample_size(20);
    for (name, query) in &queries {
        group.bench_function(*name, |b| b.iter(|| execute(&store, query, Uuid::nil(), 10).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
