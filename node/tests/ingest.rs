//! Ingest against third-party data: a slice of carebundle's synthetic FHIR R4 (Apache-2.0, see
//! `fixtures/NOTICE.md`) as Bulk NDJSON and as transaction Bundles. Every expected count and value is
//! computed here from the input files with plain serde_json, not taken from the program's output. Also:
//! idempotent re-ingest, bad input reported with file, line, id and field and nothing stored damaged, units
//! normalised, implausible values flagged, duplicates and unresolved references counted.

use agora_node::ingest::{run_job, IngestOptions, IngestReport, IssueKind, PseudonymKey};
use agora_node::store::Store;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TABLES: [&str; 8] = [
    "person",
    "measurement",
    "observation",
    "condition_occurrence",
    "drug_exposure",
    "visit_occurrence",
    "procedure_occurrence",
    "source_record",
];

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    key: PseudonymKey,
    scratch: PathBuf,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("node.db")).unwrap();
        let scratch = dir.path().join("input");
        std::fs::create_dir_all(&scratch).unwrap();
        Node { store, key: PseudonymKey::from_bytes([42; 32]), scratch, _dir: dir }
    }

    fn ingest(&mut self, job: &str, files: &[PathBuf]) -> IngestReport {
        let opts = IngestOptions { batch_size: 64 };
        run_job(&mut self.store, &self.key, job, files, &opts, &mut |_| {}).unwrap()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.scratch.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn count(&self, sql: &str) -> i64 {
        self.store.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn table_counts(&self) -> BTreeMap<&'static str, i64> {
        TABLES.iter().map(|t| (*t, self.count(&format!("SELECT COUNT(*) FROM {t}")))).collect()
    }

    /// Every analytic row, as text, to show that nothing stored changed.
    fn snapshot(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in TABLES {
            let mut stmt = self.store.conn().prepare(&format!("SELECT * FROM {t} ORDER BY 1")).unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    Ok((0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|"))
                })
                .unwrap();
            out.extend(rows.map(|r| format!("{t}: {}", r.unwrap())));
        }
        out
    }
}

fn lines(files: &[PathBuf]) -> Vec<Value> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        if f.extension().is_some_and(|x| x == "ndjson") {
            out.extend(text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()));
        } else {
            let bundle: Value = serde_json::from_str(&text).unwrap();
            // A transaction Bundle's entries may have no id: their fullUrl (urn:uuid:<id>) names them.
            out.extend(bundle["entry"].as_array().unwrap().iter().map(|e| {
                let mut r = e["resource"].clone();
                if r["id"].is_null() {
                    r["id"] = Value::from(e["fullUrl"].as_str().unwrap().trim_start_matches("urn:uuid:"));
                }
                r
            }));
        }
    }
    out
}

fn of_type<'a>(all: &'a [Value], t: &str) -> Vec<&'a Value> {
    all.iter().filter(|r| r["resourceType"] == t).collect()
}

/// The facts the test expects, derived straight from FHIR semantics.
#[derive(Debug, Default)]
struct Expected {
    resources: u64,
    practitioners: u64,
    persons: BTreeMap<String, (String, i64, i64)>,
    /// (loinc code) -> (number of values, sum of values)
    values: BTreeMap<String, (u64, f64)>,
    measurements: u64,
    conditions: BTreeSet<(String, String, String)>,
    medication_requests: u64,
    encounters: u64,
    diagnostic_reports: u64,
    allergies: u64,
}

fn expected(all: &[Value]) -> Expected {
    let mut e = Expected { resources: all.len() as u64, ..Expected::default() };
    e.practitioners = of_type(all, "Practitioner").len() as u64;
    for p in of_type(all, "Patient") {
        let birth = p["birthDate"].as_str().unwrap();
        let (y, m) = (birth[0..4].parse().unwrap(), birth[5..7].parse().unwrap());
        e.persons.insert(p["id"].as_str().unwrap().to_string(), (p["gender"].as_str().unwrap().to_string(), y, m));
    }
    let mut add = |q: &Value, code: &Value| {
        let code = code["coding"][0]["code"].as_str().unwrap().to_string();
        let v = e.values.entry(code).or_default();
        v.0 += 1;
        v.1 += q["value"].as_f64().unwrap();
    };
    for o in of_type(all, "Observation") {
        if o["valueQuantity"].is_object() {
            add(&o["valueQuantity"], &o["code"]);
        }
        for c in o["component"].as_array().into_iter().flatten() {
            if c["valueQuantity"].is_object() {
                add(&c["valueQuantity"], &c["code"]);
            }
        }
    }
    e.measurements = e.values.values().map(|v| v.0).sum();
    for c in of_type(all, "Condition") {
        let subject = c["subject"]["reference"].as_str().unwrap().to_string();
        let code = c["code"]["coding"][0]["code"].as_str().unwrap().to_string();
        e.conditions.insert((subject, code, c["onsetDateTime"].as_str().unwrap_or("").to_string()));
    }
    e.medication_requests = of_type(all, "MedicationRequest").len() as u64;
    e.encounters = of_type(all, "Encounter").len() as u64;
    e.diagnostic_reports = of_type(all, "DiagnosticReport").len() as u64;
    e.allergies = of_type(all, "AllergyIntolerance").len() as u64;
    e
}

fn check_store(node: &Node, e: &Expected) {
    let c = node.table_counts();
    assert_eq!(c["person"], e.persons.len() as i64);
    assert_eq!(c["measurement"], e.measurements as i64);
    assert_eq!(c["condition_occurrence"], e.conditions.len() as i64);
    assert_eq!(c["drug_exposure"], e.medication_requests as i64);
    assert_eq!(c["visit_occurrence"], e.encounters as i64);
    assert_eq!(
        node.count("SELECT COUNT(*) FROM observation WHERE domain = 'diagnostic_report'"),
        e.diagnostic_reports as i64
    );
    assert_eq!(node.count("SELECT COUNT(*) FROM observation WHERE domain = 'allergy'"), e.allergies as i64);
    // Sex, year and month of birth per patient, under its pseudonym.
    for (id, (sex, y, m)) in &e.persons {
        let row: (String, i64, i64) = node
            .store
            .conn()
            .query_row(
                "SELECT sex, year_of_birth, month_of_birth FROM person WHERE pseudonym = ?1",
                [node.key.pseudonym(id)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(&row, &(sex.clone(), *y, *m), "patient {id}");
    }
    // Every variable's number of values and their sum (carebundle records each in its canonical unit).
    for (code, (n, sum)) in &e.values {
        let (got_n, got_sum): (i64, i64) = node
            .store
            .conn()
            .query_row("SELECT COUNT(*), COALESCE(SUM(value_e3), 0) FROM measurement WHERE code = ?1", [code], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(got_n as u64, *n, "values of {code}");
        assert!(
            (got_sum as f64 / 1000.0 - sum).abs() < 1e-6 * n.max(&1).to_owned() as f64,
            "sum of {code}: {got_sum} vs {sum}"
        );
    }
}

#[test]
fn carebundle_ndjson_lands_with_independently_computed_counts_and_values() {
    let files = fixtures("carebundle-ndjson");
    let all = lines(&files);
    let e = expected(&all);
    assert!(e.persons.len() == 20 && e.measurements >= 700, "the fixture is what this test expects");
    let mut node = Node::new();
    let report = node.ingest("care", &files);
    let c = &report.counts;
    assert_eq!(c.resources, e.resources);
    assert_eq!(c.skipped_unsupported, e.practitioners, "Practitioner is counted as skipped");
    assert_eq!((c.errors, c.unresolved, c.duplicates), (0, 0, 0), "{:?}", report.issues);
    assert_eq!(c.stored, e.resources - e.practitioners);
    assert_eq!(c.accounted(), c.resources);
    check_store(&node, &e);
    assert_eq!(
        node.count("SELECT COUNT(DISTINCT unit) FROM measurement WHERE code = '2345-7'"),
        1,
        "glucose has one unit"
    );

    // No name, full birth date or identifier in any table but `source_record`, which keeps the FHIR ids
    // (the identifiers here are prefixes of the ids) for provenance and is never read by queries.
    let mut hay = String::new();
    let names: Vec<String> = node
        .store
        .conn()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'source_record'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for t in names {
        let mut stmt = node.store.conn().prepare(&format!("SELECT * FROM {t}")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            for i in 0..n {
                hay.push_str(&format!("{:?}|", r.get_ref(i).unwrap()));
            }
        }
    }
    for p in of_type(&all, "Patient") {
        let mut needles = vec![p["birthDate"].as_str().unwrap().to_string()];
        needles.extend(p["identifier"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap().to_string()));
        for n in p["name"].as_array().unwrap() {
            needles.push(n["family"].as_str().unwrap().to_string());
            needles.extend(n["given"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()));
        }
        for needle in needles {
            assert!(!hay.contains(&needle), "`{needle}` is in the store");
        }
    }
}

#[test]
fn carebundle_transaction_bundles_resolve_their_references() {
    let files = fixtures("carebundle-bundles");
    let all = lines(&files);
    // In a transaction Bundle, references are the entries' fullUrl (urn:uuid:...): rewrite the expected
    // condition subjects the same way the Bulk export would name them.
    let mut e = expected(&all);
    assert_eq!(e.persons.len(), 2);
    let mut node = Node::new();
    let report = node.ingest("bundles", &files);
    assert_eq!(report.counts.resources, e.resources);
    assert_eq!((report.counts.errors, report.counts.unresolved), (0, 0), "{:?}", report.issues);
    e.conditions = e.conditions.into_iter().map(|(s, c, t)| (s.replace("urn:uuid:", "Patient/"), c, t)).collect();
    check_store(&node, &e);
    // Every measurement belongs to the patient of its own bundle: two patients, each with rows.
    assert_eq!(node.count("SELECT COUNT(DISTINCT person_id) FROM measurement"), 2);
}

#[test]
fn re_ingesting_is_idempotent() {
    let files = fixtures("carebundle-ndjson");
    let mut node = Node::new();
    let first = node.ingest("one", &files);
    let before = node.snapshot();
    let version = node.store.data_version().unwrap();
    let again = node.ingest("two", &files);
    assert_eq!(again.counts.stored, 0);
    assert_eq!(again.counts.unchanged, first.counts.stored);
    assert_eq!(node.snapshot(), before, "nothing changed");
    assert_eq!(node.store.data_version().unwrap(), version, "no new data version for no new data");
}

const P1: &str = r#"{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1960-03-04"}"#;

fn glucose(id: &str, subject: &str, time: &str, value: &str, unit: &str) -> String {
    format!(
        r#"{{"resourceType":"Observation","id":"{id}","status":"final","code":{{"coding":[{{"system":"http://loinc.org","code":"2345-7"}}]}},{subject}"effectiveDateTime":"{time}","valueQuantity":{{"value":{value},"system":"http://unitsofmeasure.org","code":"{unit}"}}}}"#
    )
}

#[test]
fn bad_input_is_reported_precisely_and_damages_nothing() {
    let files = fixtures("carebundle-ndjson");
    let mut node = Node::new();
    node.ingest("good", &files);
    let before = node.snapshot();
    let subj = r#""subject":{"reference":"Patient/p1"},"#;
    let text = [
        P1.to_string(),                                                  // 1 stored
        "{\"resourceType\":\"Observation\",\"id\":\"x\",".to_string(),   // 2 malformed JSON
        r#"{"resourceType":"Observatoin","id":"typo"}"#.to_string(),     // 3 wrong resourceType
        glucose("nosubj", "", "2025-01-01T00:00:00Z", "90", "mg/dL"),    // 4 missing subject
        glucose("badunit", subj, "2025-01-01T00:00:00Z", "90", "mg/dQ"), // 5 unknown unit
        glucose("huge", subj, "2025-01-02T00:00:00Z", "5000", "mg/dL"),  // 6 implausible: kept, flagged
        glucose("ghost", r#""subject":{"reference":"Patient/nobody"},"#, "2025-01-01T00:00:00Z", "90", "mg/dL"), // 7 unresolved
        glucose("g1", subj, "2025-01-03T00:00:00Z", "99", "mg/dL"), // 8 stored
        glucose("g1-copy", subj, "2025-01-03T00:00:00Z", "99", "mg/dL"), // 9 exact duplicate of 8
        r#"[1, 2, 3]"#.to_string(),                                 // 10 not a resource
    ]
    .join("\n");
    let bad = node.write("bad.ndjson", &text);
    let report = node.ingest("bad", &[bad]);
    let c = &report.counts;
    assert_eq!(c.resources, 10);
    assert_eq!((c.stored, c.errors, c.unresolved, c.duplicates, c.implausible), (3, 5, 1, 1, 1), "{report}");
    let issue = |line: u64| {
        report
            .issues
            .iter()
            .find(|i| i.line == line)
            .unwrap_or_else(|| panic!("no issue on line {line}: {:?}", report.issues))
    };
    assert!(issue(2).message.contains("JSON"), "{}", issue(2));
    let typo = issue(3);
    assert_eq!(typo.kind, IssueKind::Error);
    assert!(typo.message.contains("Observatoin"), "{typo}");
    let nosubj = issue(4);
    assert_eq!((nosubj.resource_id.as_deref(), nosubj.field.as_deref()), (Some("nosubj"), Some("subject")));
    let unit = issue(5);
    assert_eq!((unit.resource_id.as_deref(), unit.field.as_deref()), (Some("badunit"), Some("valueQuantity.code")));
    assert!(unit.message.contains("mg/dQ"), "{unit}");
    let huge = issue(6);
    assert_eq!((huge.kind, huge.field.as_deref()), (IssueKind::Warning, Some("valueQuantity.value")));
    assert_eq!(issue(7).kind, IssueKind::Unresolved);
    assert!(issue(10).kind == IssueKind::Error);
    for i in &report.issues {
        assert_eq!(i.file, "bad.ndjson");
        assert!(!i.message.contains("1960-03-04") && !i.message.contains("5000"), "no values in messages: {i}");
    }
    // What was stored before is untouched; exactly the good rows were added.
    let after = node.snapshot();
    assert!(before.iter().all(|row| after.contains(row)), "every earlier row is intact");
    assert_eq!(after.len() - before.len(), 1 + 2 + 4, "1 person, 2 glucose values, 4 source records");
    assert_eq!(node.count("SELECT COUNT(*) FROM measurement WHERE implausible = 1"), 1);
}

#[test]
fn glucose_in_mmol_per_litre_and_mg_per_decilitre_lands_in_one_unit() {
    let mut node = Node::new();
    let subj = r#""subject":{"reference":"Patient/p1"},"#;
    let text = [
        P1.to_string(),
        glucose("a", subj, "2025-01-01T00:00:00Z", "5.5", "mmol/L"),
        glucose("b", subj, "2025-01-02T00:00:00Z", "99", "mg/dL"),
        glucose("c", subj, "2025-01-03T00:00:00Z", "0.99", "g/L"),
    ]
    .join("\n");
    let f = node.write("units.ndjson", &text);
    let report = node.ingest("units", &[f]);
    assert_eq!(report.counts.stored, 4, "{report}");
    let mut stmt = node.store.conn().prepare("SELECT value_e3, unit FROM measurement ORDER BY measured_at").unwrap();
    let rows: Vec<(i64, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    // Glucose C6H12O6: 6 × 12.011 + 12 × 1.008 + 6 × 15.999 = 180.156 g/mol; 1 dL = 0.1 L.
    let molar_mass: f64 = 6.0 * 12.011 + 12.0 * 1.008 + 6.0 * 15.999;
    let mg_per_dl = 5.5 * molar_mass / 10.0;
    assert_eq!(rows[0], ((mg_per_dl * 1000.0).round() as i64, "mg/dL".to_string()));
    assert_eq!(rows[1], (99_000, "mg/dL".to_string()));
    assert_eq!(rows[2], (99_000, "mg/dL".to_string()), "0.99 g/L = 99 mg/dL");
}
