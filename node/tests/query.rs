//! Query execution against an independent model. Each test writes a seeded random dataset into a store with
//! plain SQL inserts, runs queries through `agora_node::query`, and compares the result with one computed here
//! by iterating over the generated rows — none of the engine's helpers are used for the expected values.

use agora_node::disclosure::{ExactAnswer, ExactMoments, ExactRow};
use agora_node::query::{evaluate, execute, ExecError};
use agora_node::store::Store;
use agora_protocol::{
    AgeBand, Aggregate, Cell, Code, CodeMatch, CodeSystem, Cohort, GroupBy, GroupKey, Measure, Moments, NodeAnswer,
    Query, Selection, Sex,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use tempfile::TempDir;
use time::macros::date;
use time::Date;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------------------
// The dataset and its store.

struct Person {
    id: i64,
    sex: &'static str,
    yob: Option<i32>,
    mob: Option<u8>,
}

struct Coded {
    person: i64,
    kind: &'static str,
    system: &'static str,
    code: &'static str,
}

struct Value {
    id: i64,
    person: i64,
    system: &'static str,
    code: &'static str,
    at: i64,
    value_e3: i64,
    implausible: bool,
}

#[derive(Default)]
struct Data {
    persons: Vec<Person>,
    conditions: Vec<Coded>,
    drugs: Vec<Coded>,
    values: Vec<Value>,
}

const CONDITIONS: [(&str, &str); 10] = [
    ("icd10cm", "E11"),
    ("icd10cm", "E11.9"),
    ("icd10cm", "E11.65"),
    ("icd10cm", "E110"),
    ("icd10cm", "E1"),
    ("icd10cm", "E12.0"),
    ("icd10cm", "E10.9"),
    ("icd10cm", "I10"),
    ("snomed", "E11.9"),
    ("snomed", "44054006"),
];

const DRUGS: [(&str, &str, &str); 6] = [
    ("request", "rxnorm", "860975"),
    ("statement", "rxnorm", "860999"),
    ("immunization", "rxnorm", "860975"),
    ("immunization", "cvx", "08"),
    ("request", "rxnorm", "1049221"),
    ("statement", "rxnorm", "8609"),
];

const GLUCOSE: &str = "2345-7";
const HBA1C: &str = "4548-4";

/// (system, code, unit, lowest, highest value_e3, values that sit exactly on query bounds)
type Lab = (&'static str, &'static str, &'static str, i64, i64, &'static [i64]);
const LABS: [Lab; 3] = [
    ("loinc", GLUCOSE, "mg/dL", -5_000, 300_000, &[70_000, 100_000, 125_999, 126_000, 126_001, 200_000]),
    ("loinc", HBA1C, "%", 1_000, 14_000, &[6_500, 1_005, 7_000, 7_001]),
    ("snomed", GLUCOSE, "mg/dL", 50_000, 150_000, &[]),
];

fn generate(seed: u64, n_persons: usize, first_id: i64) -> Data {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = Data::default();
    let mut id = first_id;
    for _ in 0..n_persons {
        id += rng.gen_range(1..4);
        let sex = match rng.gen_range(0..20) {
            0..9 => "female",
            9..17 => "male",
            17..19 => "other",
            _ => "unknown",
        };
        let yob = (!rng.gen_bool(0.05)).then(|| rng.gen_range(1925..=2025));
        let mob = (!rng.gen_bool(0.1)).then(|| rng.gen_range(1..=12));
        data.persons.push(Person { id, sex, yob, mob });
        for _ in 0..rng.gen_range(0..4) {
            let (system, code) = CONDITIONS[rng.gen_range(0..CONDITIONS.len())];
            data.conditions.push(Coded { person: id, kind: "", system, code });
        }
        for _ in 0..rng.gen_range(0..3) {
            let (kind, system, code) = DRUGS[rng.gen_range(0..DRUGS.len())];
            data.drugs.push(Coded { person: id, kind, system, code });
        }
        for _ in 0..rng.gen_range(0..12) {
            let (system, code, _, lo, hi, special) = LABS[rng.gen_range(0..LABS.len())];
            let value_e3 = if !special.is_empty() && rng.gen_bool(0.25) {
                special[rng.gen_range(0..special.len())]
            } else {
                rng.gen_range(lo..=hi)
            };
            // Few distinct days, so the same person often has two values of a code at the same time.
            let at = 1_700_000_000 + rng.gen_range(0..15) * 86_400;
            let implausible = rng.gen_bool(0.08);
            let next_id = data.values.len() as i64 + 1;
            data.values.push(Value { id: next_id, person: id, system, code, at, value_e3, implausible });
        }
    }
    data
}

/// Writes the dataset with plain SQL; rows the store's dedup indexes refuse are dropped from the model too.
fn store_of(data: &mut Data) -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("node.db")).unwrap();
    let tx = store.conn_mut().transaction().unwrap();
    tx.execute(
        "INSERT INTO source_record (source_id, resource_type, fhir_id, job_id) VALUES (1, 'Bundle', 't', 't')",
        [],
    )
    .unwrap();
    for p in &data.persons {
        tx.execute(
            "INSERT INTO person (person_id, pseudonym, sex, year_of_birth, month_of_birth, source_id)
             VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            rusqlite::params![p.id, format!("pseudonym-{}", p.id), p.sex, p.yob, p.mob],
        )
        .unwrap();
    }
    for c in &data.conditions {
        tx.execute(
            "INSERT OR IGNORE INTO condition_occurrence (person_id, system, code, start_at, source_id)
             VALUES (?1, ?2, ?3, 1600000000, 1)",
            rusqlite::params![c.person, c.system, c.code],
        )
        .unwrap();
    }
    for d in &data.drugs {
        tx.execute(
            "INSERT OR IGNORE INTO drug_exposure (person_id, kind, system, code, start_at, source_id)
             VALUES (?1, ?2, ?3, ?4, 1600000000, 1)",
            rusqlite::params![d.person, d.kind, d.system, d.code],
        )
        .unwrap();
    }
    data.values.retain(|v| {
        let unit = LABS.iter().find(|l| l.0 == v.system && l.1 == v.code).unwrap().2;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO measurement
                 (measurement_id, person_id, system, code, measured_at, value_e3, unit, implausible, source_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)",
                rusqlite::params![v.id, v.person, v.system, v.code, v.at, v.value_e3, unit, v.implausible],
            )
            .unwrap();
        inserted == 1
    });
    Store::bump_data_version(&tx).unwrap();
    Store::bump_data_version(&tx).unwrap();
    tx.commit().unwrap();
    (dir, store)
}

// ---------------------------------------------------------------------------------------------------------
// The model: the query semantics by plain iteration.

struct Model<'a> {
    data: &'a Data,
    conditions: HashMap<i64, Vec<&'a Coded>>,
    drugs: HashMap<i64, Vec<&'a Coded>>,
    values: HashMap<i64, Vec<&'a Value>>,
}

impl<'a> Model<'a> {
    fn new(data: &'a Data) -> Self {
        let mut model = Model { data, conditions: HashMap::new(), drugs: HashMap::new(), values: HashMap::new() };
        for c in &data.conditions {
            model.conditions.entry(c.person).or_default().push(c);
        }
        for d in &data.drugs {
            model.drugs.entry(d.person).or_default().push(d);
        }
        for v in &data.values {
            model.values.entry(v.person).or_default().push(v);
        }
        model
    }

    fn age(p: &Person, reference: Date) -> Option<u32> {
        let yob = p.yob?;
        let mut age = reference.year() - yob;
        if (reference.month() as u8) < p.mob.unwrap_or(1) {
            age -= 1;
        }
        (age >= 0).then_some(age as u32)
    }

    fn code_matches(m: &CodeMatch, system: &str, code: &str) -> bool {
        system == m.system.short() && if m.prefix { code.starts_with(m.code.as_str()) } else { code == m.code }
    }

    /// The value in the canonical unit: the nearest double to the decimal `value_e3 / 1000`, as the parsed
    /// literal of a bound is the nearest double to its decimal.
    fn unit_value(value_e3: i64) -> f64 {
        value_e3 as f64 / 1000.0
    }

    fn in_cohort(&self, c: &Cohort, p: &Person, reference: Date) -> bool {
        let none = Vec::new();
        match c {
            Cohort::Everyone => true,
            Cohort::All { of } => of.iter().all(|c| self.in_cohort(c, p, reference)),
            Cohort::Any { of } => of.iter().any(|c| self.in_cohort(c, p, reference)),
            Cohort::Not { of } => !self.in_cohort(of, p, reference),
            Cohort::Condition { code } => {
                self.conditions.get(&p.id).unwrap_or(&none).iter().any(|r| Self::code_matches(code, r.system, r.code))
            }
            Cohort::Medication { code } => self
                .drugs
                .get(&p.id)
                .unwrap_or(&none)
                .iter()
                .any(|r| r.kind != "immunization" && Self::code_matches(code, r.system, r.code)),
            Cohort::Sex { sex } => p.sex == sex.as_str(),
            Cohort::Age { min, max } => {
                Self::age(p, reference).is_some_and(|a| min.is_none_or(|m| a >= m) && max.is_none_or(|m| a <= m))
            }
            Cohort::Observation { code, min, max } => self.values.get(&p.id).is_some_and(|vs| {
                vs.iter().any(|v| {
                    v.system == code.system.short()
                        && v.code == code.code
                        && !v.implausible
                        && min.is_none_or(|m| Self::unit_value(v.value_e3) >= m)
                        && max.is_none_or(|m| Self::unit_value(v.value_e3) <= m)
                })
            }),
        }
    }

    fn measure_values(&self, m: &Measure, p: &Person) -> Vec<i64> {
        let plausible: Vec<&Value> = self
            .values
            .get(&p.id)
            .map(|vs| {
                vs.iter()
                    .copied()
                    .filter(|v| v.system == m.code.system.short() && v.code == m.code.code && !v.implausible)
                    .collect()
            })
            .unwrap_or_default();
        match m.selection {
            Selection::All => plausible.iter().map(|v| v.value_e3).collect(),
            Selection::Latest => {
                plausible.iter().max_by_key(|v| (v.at, v.id)).map(|v| v.value_e3).into_iter().collect()
            }
        }
    }

    fn expected(&self, q: &Query) -> ExactAnswer {
        let sexes: Vec<Option<Sex>> =
            if q.group_by.sex { Sex::ALL.iter().copied().map(Some).collect() } else { vec![None] };
        let bands: Vec<Option<AgeBand>> = match &q.group_by.age_bands {
            Some(edges) => AgeBand::from_edges(edges).into_iter().map(Some).collect(),
            None => vec![None],
        };
        let mut keys = vec![GroupKey::TOTAL];
        if q.group_by.is_grouped() {
            for &sex in &sexes {
                for &age_band in &bands {
                    keys.push(GroupKey { sex, age_band });
                }
            }
        }
        let edges: Option<Vec<f64>> = q.aggregates.iter().find_map(|a| match a {
            Aggregate::Histogram { edges } => Some(edges.clone()),
            _ => None,
        });
        let wants_moments =
            q.aggregates.iter().any(|a| matches!(a, Aggregate::Sum | Aggregate::Mean | Aggregate::StdDev));
        let rows = keys
            .iter()
            .map(|key| {
                let members: Vec<&Person> = self
                    .data
                    .persons
                    .iter()
                    .filter(|p| self.in_cohort(&q.cohort, p, q.reference_date))
                    .filter(|p| key.sex.is_none_or(|s| p.sex == s.as_str()))
                    .filter(|p| {
                        key.age_band.is_none_or(|b| {
                            Self::age(p, q.reference_date).is_some_and(|a| a >= b.lo && b.hi.is_none_or(|h| a < h))
                        })
                    })
                    .collect();
                // Each member's values, to count the patients behind each count of values too.
                let per_member: Vec<Vec<i64>> = match &q.measure {
                    Some(m) => members.iter().map(|p| self.measure_values(m, p)).collect(),
                    None => Vec::new(),
                };
                let values: Vec<i64> = per_member.iter().flatten().copied().collect();
                let bin_of = |edges: &[f64], v: i64| edges.iter().filter(|&&e| Self::unit_value(v) >= e).count();
                ExactRow {
                    group: *key,
                    patients: members.len() as u64,
                    moments: wants_moments.then(|| ExactMoments {
                        n: values.len() as u64,
                        sum: values.iter().sum(),
                        sum_sq: values.iter().map(|&v| i128::from(v) * i128::from(v)).sum(),
                        patients: per_member.iter().filter(|v| !v.is_empty()).count() as u64,
                    }),
                    histogram: edges.as_ref().map(|edges| {
                        let mut bins = vec![0u64; edges.len() + 1];
                        for &v in &values {
                            bins[bin_of(edges, v)] += 1;
                        }
                        bins
                    }),
                    bin_patients: edges.as_ref().map(|edges| {
                        (0..=edges.len())
                            .map(|b| {
                                per_member.iter().filter(|vs| vs.iter().any(|&v| bin_of(edges, v) == b)).count() as u64
                            })
                            .collect()
                    }),
                }
            })
            .collect();
        ExactAnswer { rows }
    }
}

/// The protected answer against the exact one: released cells are exact and at least the threshold; cells
/// below the threshold are suppressed.
fn check_protected(answer: &NodeAnswer, exact: &ExactAnswer, threshold: u32) {
    let t = u64::from(threshold);
    assert_eq!(answer.threshold, threshold);
    assert_eq!(answer.rows.len(), exact.rows.len());
    let check_cell = |cell: Cell, exact: u64, what: &str| match cell {
        Cell::Value(v) => assert!(v == exact && v >= t, "{what}: released {v}, exact {exact}, threshold {t}"),
        Cell::Suppressed => {}
    };
    for (row, ex) in answer.rows.iter().zip(&exact.rows) {
        assert_eq!(row.group, ex.group);
        check_cell(row.patients, ex.patients, "patients");
        if ex.patients < t {
            assert_eq!(row.patients, Cell::Suppressed);
        }
        match (row.moments, ex.moments) {
            (Some(Moments::Released { n, sum, sum_sq }), Some(m)) => {
                assert!(n >= t);
                assert_eq!((n, sum, sum_sq), (m.n, m.sum, m.sum_sq));
            }
            (Some(Moments::Suppressed), Some(_)) | (None, None) => {}
            other => panic!("moments {other:?}"),
        }
        if let Some(m) = ex.moments.filter(|m| m.n < t) {
            assert_eq!(row.moments, Some(Moments::Suppressed), "n = {}", m.n);
        }
        match (&row.histogram, &ex.histogram) {
            (Some(cells), Some(bins)) => {
                assert_eq!(cells.len(), bins.len());
                for (&cell, &bin) in cells.iter().zip(bins) {
                    check_cell(cell, bin, "bin");
                    if bin < t {
                        assert_eq!(cell, Cell::Suppressed);
                    }
                }
            }
            (None, None) => {}
            other => panic!("histogram {other:?}"),
        }
    }
}

/// Runs a query both ways and checks both against the model.
fn run(store: &Store, model: &Model<'_>, q: &Query) -> ExactAnswer {
    let expected = model.expected(q);
    let evaluation = evaluate(store, q).unwrap();
    assert_eq!(evaluation.exact, expected, "{q}");
    for threshold in [1, 10] {
        let answer = execute(store, q, Uuid::nil(), threshold).unwrap();
        check_protected(&answer, &expected, threshold);
        assert_eq!(answer.data_version, 2);
    }
    expected
}

// ---------------------------------------------------------------------------------------------------------
// Queries.

fn query(cohort: Cohort) -> Query {
    Query {
        version: agora_protocol::QUERY_VERSION,
        cohort,
        measure: None,
        aggregates: vec![Aggregate::Count],
        group_by: GroupBy::default(),
        reference_date: date!(2025 - 06 - 15),
    }
}

fn cond(s: &str) -> Cohort {
    Cohort::Condition { code: s.parse().unwrap() }
}

fn med(s: &str) -> Cohort {
    Cohort::Medication { code: s.parse().unwrap() }
}

fn lab(code: &str, selection: Selection) -> Option<Measure> {
    Some(Measure { code: Code::new(CodeSystem::Loinc, code), selection })
}

fn obs(code: &str, min: Option<f64>, max: Option<f64>) -> Cohort {
    Cohort::Observation { code: Code::new(CodeSystem::Loinc, code), min, max }
}

fn named_queries() -> Vec<Query> {
    let moments = vec![Aggregate::Count, Aggregate::Sum, Aggregate::Mean, Aggregate::StdDev];
    let histogram = |edges: Vec<f64>| vec![Aggregate::Count, Aggregate::Mean, Aggregate::Histogram { edges }];
    let by_sex_and_age = GroupBy { sex: true, age_bands: Some(vec![18, 40, 65]) };
    let small = Cohort::All { of: vec![cond("icd10cm:E10.9"), Cohort::Sex { sex: Sex::Female }] };
    vec![
        query(Cohort::Everyone),
        query(cond("icd10cm:E11*")),
        query(cond("icd10cm:E11")),
        query(cond("icd10cm:E1*")),
        query(cond("icd10cm:E11.*")),
        query(cond("snomed:E11*")),
        query(med("rxnorm:8609*")),
        query(med("rxnorm:860975")),
        query(Cohort::Not { of: Box::new(cond("icd10cm:E11*")) }),
        query(Cohort::All { of: vec![cond("icd10cm:E11*"), Cohort::Age { min: Some(40), max: Some(64) }] }),
        query(Cohort::Any {
            of: vec![
                cond("icd10cm:I10"),
                Cohort::All { of: vec![med("rxnorm:860975"), Cohort::Sex { sex: Sex::Female }] },
            ],
        }),
        query(Cohort::Age { min: None, max: Some(17) }),
        query(Cohort::Age { min: Some(0), max: Some(0) }),
        query(obs(GLUCOSE, Some(126.0), None)),
        query(obs(GLUCOSE, Some(70.0), Some(125.999))),
        query(obs(HBA1C, Some(1.005), Some(6.5))),
        query(obs(HBA1C, Some(7.0001), None)),
        // A small cohort: the engine reads its values person by person rather than scanning the code.
        Query { measure: lab(GLUCOSE, Selection::Latest), aggregates: moments.clone(), ..query(small.clone()) },
        Query { measure: lab(GLUCOSE, Selection::All), aggregates: moments.clone(), ..query(small) },
        Query { measure: lab(GLUCOSE, Selection::Latest), aggregates: moments.clone(), ..query(cond("icd10cm:E11*")) },
        Query { measure: lab(GLUCOSE, Selection::All), aggregates: moments.clone(), ..query(Cohort::Everyone) },
        Query {
            measure: lab(GLUCOSE, Selection::Latest),
            aggregates: histogram(vec![70.0, 100.0, 126.0, 200.0]),
            group_by: by_sex_and_age.clone(),
            ..query(Cohort::Everyone)
        },
        Query {
            measure: lab(HBA1C, Selection::All),
            aggregates: histogram(vec![1.005, 6.5, 7.0001]),
            group_by: GroupBy { sex: true, age_bands: None },
            ..query(Cohort::Not { of: Box::new(Cohort::Sex { sex: Sex::Male }) })
        },
        Query {
            measure: lab(GLUCOSE, Selection::Latest),
            aggregates: moments,
            group_by: GroupBy { sex: false, age_bands: Some(vec![50]) },
            reference_date: date!(2000 - 03 - 01),
            ..query(obs(HBA1C, Some(6.5), None))
        },
        Query {
            measure: lab("9999-9", Selection::Latest),
            aggregates: histogram(vec![1.0]),
            group_by: by_sex_and_age,
            ..query(Cohort::Everyone)
        },
    ]
}

#[test]
fn named_queries_match_the_model() {
    let mut data = generate(7, 600, 0);
    let (_dir, store) = store_of(&mut data);
    let model = Model::new(&data);
    for q in named_queries() {
        run(&store, &model, &q);
    }
    // The unit is the measure's stored one; a measure with no value has none.
    let q = Query {
        measure: lab(GLUCOSE, Selection::Latest),
        aggregates: vec![Aggregate::Mean],
        ..query(Cohort::Everyone)
    };
    assert_eq!(execute(&store, &q, Uuid::nil(), 10).unwrap().unit.as_deref(), Some("mg/dL"));
    let q = Query { measure: lab("9999-9", Selection::Latest), ..q };
    assert_eq!(execute(&store, &q, Uuid::nil(), 10).unwrap().unit, None);
}

#[test]
fn sparse_and_negative_person_ids() {
    // Ids far apart and below zero take the engine's other numbering of persons.
    let mut data = generate(11, 300, -1_000_000_000_000);
    for (i, p) in data.persons.iter_mut().enumerate() {
        let new_id = if i % 2 == 0 { p.id } else { -p.id };
        let old = std::mem::replace(&mut p.id, new_id);
        for c in data.conditions.iter_mut().chain(data.drugs.iter_mut()).filter(|c| c.person == old) {
            c.person = new_id;
        }
        for v in data.values.iter_mut().filter(|v| v.person == old) {
            v.person = new_id;
        }
    }
    let (_dir, store) = store_of(&mut data);
    let model = Model::new(&data);
    for q in named_queries() {
        run(&store, &model, &q);
    }
}

#[test]
fn empty_store() {
    let mut data = Data::default();
    let (_dir, store) = store_of(&mut data);
    let model = Model::new(&data);
    for q in named_queries() {
        run(&store, &model, &q);
    }
}

#[test]
fn invalid_queries_are_not_run() {
    let mut data = generate(1, 10, 0);
    let (_dir, store) = store_of(&mut data);
    let q = Query { aggregates: vec![Aggregate::Mean], ..query(Cohort::Everyone) };
    assert!(matches!(execute(&store, &q, Uuid::nil(), 10), Err(ExecError::Invalid(_))));
}

fn cohorts() -> impl Strategy<Value = Cohort> {
    let code_match = |codes: Vec<(&'static str, &'static str)>| {
        (prop::sample::select(codes), any::<bool>(), 0usize..3).prop_map(|((system, code), prefix, cut)| {
            // A prefix query cuts a few characters off to reach more codes.
            let code = if prefix && code.len() > cut { &code[..code.len() - cut] } else { code };
            CodeMatch { system: CodeSystem::from_short(system).unwrap(), code: code.to_string(), prefix }
        })
    };
    let bound = prop::sample::select(vec![
        None,
        Some(1.005f64),
        Some(6.5),
        Some(70.0),
        Some(125.999),
        Some(126.0),
        Some(200.0),
    ]);
    let leaf = prop_oneof![
        Just(Cohort::Everyone),
        code_match(CONDITIONS.to_vec()).prop_map(|code| Cohort::Condition { code }),
        code_match(DRUGS.iter().map(|d| (d.1, d.2)).collect()).prop_map(|code| Cohort::Medication { code }),
        prop::sample::select(Sex::ALL.to_vec()).prop_map(|sex| Cohort::Sex { sex }),
        (prop::option::of(0u32..100), prop::option::of(0u32..100)).prop_map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => Cohort::Age { min: Some(a.min(b)), max: Some(a.max(b)) },
            (min, max) => Cohort::Age { min, max },
        }),
        (prop::sample::select(vec![GLUCOSE, HBA1C]), bound.clone(), bound).prop_map(|(code, a, b)| {
            let (min, max) = match (a, b) {
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            };
            obs(code, min, max)
        }),
    ];
    leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|of| Cohort::All { of }),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|of| Cohort::Any { of }),
            inner.prop_map(|c| Cohort::Not { of: Box::new(c) }),
        ]
    })
}

fn queries() -> impl Strategy<Value = Query> {
    let measure = prop::option::of((
        prop::sample::select(vec![GLUCOSE, HBA1C, "9999-9"]),
        prop::sample::select(vec![Selection::Latest, Selection::All]),
    ));
    let edges = prop::sample::subsequence(vec![1.005, 6.5, 7.0001, 70.0, 100.0, 126.0, 200.0], 1..5);
    let bands = prop::option::of(prop::sample::select(vec![vec![18, 40, 65], vec![50], vec![0, 30, 60, 90]]));
    let reference = prop::sample::select(vec![date!(2025 - 06 - 15), date!(2026 - 01 - 01), date!(1990 - 12 - 31)]);
    (cohorts(), measure, any::<bool>(), edges, any::<bool>(), bands, reference).prop_map(
        |(cohort, measure, with_histogram, edges, sex, age_bands, reference_date)| {
            let mut aggregates = vec![Aggregate::Count];
            let measure = measure.map(|(code, selection)| {
                aggregates.push(Aggregate::Mean);
                if with_histogram {
                    aggregates.push(Aggregate::Histogram { edges });
                }
                lab(code, selection).unwrap()
            });
            Query {
                version: agora_protocol::QUERY_VERSION,
                cohort,
                measure,
                aggregates,
                group_by: GroupBy { sex, age_bands },
                reference_date,
            }
        },
    )
}

#[test]
fn random_queries_match_the_model() {
    let mut data = generate(42, 500, 0);
    let (_dir, store) = store_of(&mut data);
    let model = Model::new(&data);
    let mut runner = TestRunner::new(Config { cases: 96, failure_persistence: None, ..Config::default() });
    runner
        .run(&queries(), |q| {
            let expected = model.expected(&q);
            let evaluation = evaluate(&store, &q).unwrap();
            prop_assert_eq!(&evaluation.exact, &expected, "{}", q);
            for threshold in [1, 10] {
                check_protected(&execute(&store, &q, Uuid::nil(), threshold).unwrap(), &expected, threshold);
            }
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------------------
// The threshold edge, built by hand: 9 is suppressed, 10 released.

#[test]
fn nine_is_suppressed_ten_is_released() {
    let mut data = Data::default();
    let mut next_value = 0;
    let mut add = |data: &mut Data, n: usize, sex: &'static str, code: &'static str, glucose_e3: i64| {
        for _ in 0..n {
            let id = data.persons.len() as i64 + 1;
            data.persons.push(Person { id, sex, yob: Some(1970), mob: Some(5) });
            data.conditions.push(Coded { person: id, kind: "", system: "icd10cm", code });
            next_value += 1;
            data.values.push(Value {
                id: next_value,
                person: id,
                system: "loinc",
                code: GLUCOSE,
                at: 1_700_000_000,
                value_e3: glucose_e3,
                implausible: false,
            });
        }
    };
    // E11.9: 9 women, 10 men, 10 other, 10 unknown; I10: 10 women.
    add(&mut data, 9, "female", "E11.9", 90_000);
    add(&mut data, 10, "male", "E11.9", 130_000);
    add(&mut data, 10, "other", "E11.9", 130_000);
    add(&mut data, 10, "unknown", "E11.9", 130_000);
    add(&mut data, 10, "female", "I10", 90_000);
    let (_dir, store) = store_of(&mut data);
    let model = Model::new(&data);

    let nine = query(Cohort::All { of: vec![cond("icd10cm:E11*"), Cohort::Sex { sex: Sex::Female }] });
    let answer = execute(&store, &nine, Uuid::nil(), 10).unwrap();
    assert_eq!(answer.rows[0].patients, Cell::Suppressed);
    assert_eq!(execute(&store, &nine, Uuid::nil(), 9).unwrap().rows[0].patients, Cell::Value(9));
    let ten = query(Cohort::All { of: vec![cond("icd10cm:I10"), Cohort::Sex { sex: Sex::Female }] });
    assert_eq!(execute(&store, &ten, Uuid::nil(), 10).unwrap().rows[0].patients, Cell::Value(10));

    // Grouped by sex: the 9 women are suppressed, and so is the smallest other group (10, the first in
    // order of the smallest), or the total minus the released groups would give 9 back.
    let grouped = Query {
        measure: lab(GLUCOSE, Selection::Latest),
        aggregates: vec![Aggregate::Count, Aggregate::Mean, Aggregate::Histogram { edges: vec![100.0] }],
        group_by: GroupBy { sex: true, age_bands: None },
        ..query(cond("icd10cm:E11*"))
    };
    let exact = run(&store, &model, &grouped);
    let answer = execute(&store, &grouped, Uuid::nil(), 10).unwrap();
    let patients: Vec<Cell> = answer.rows.iter().map(|r| r.patients).collect();
    assert_eq!(patients, [Cell::Value(39), Cell::Suppressed, Cell::Suppressed, Cell::Value(10), Cell::Value(10)]);
    assert_eq!(
        answer.rows[0].moments,
        Some(Moments::Released {
            n: 39,
            sum: 9 * 90_000 + 30 * 130_000,
            sum_sq: 9 * 8_100_000_000 + 30 * 16_900_000_000
        })
    );
    assert_eq!(answer.rows[1].moments, Some(Moments::Suppressed));
    assert_eq!(answer.rows[3].moments, Some(Moments::Released { n: 10, sum: 1_300_000, sum_sq: 169_000_000_000 }));
    // Total histogram: 9 below 100 (suppressed), 30 at or above; the 30 goes too, or 39 − 30 gives 9.
    assert_eq!(answer.rows[0].histogram, Some(vec![Cell::Suppressed, Cell::Suppressed]));
    assert_eq!(exact.rows[0].histogram, Some(vec![9, 30]));
    // At threshold 1 every patient count is released; the empty bins (women at or above 100, the others
    // below it) are suppressed, and with them each group's other bin, which with the group's n would give the
    // empty one back.
    let answer = execute(&store, &grouped, Uuid::nil(), 1).unwrap();
    assert_eq!(answer.rows.iter().map(|r| r.patients).collect::<Vec<_>>(), [39, 9, 10, 10, 10].map(Cell::Value));
    let hist: Vec<Vec<Cell>> = answer.rows.iter().map(|r| r.histogram.clone().unwrap()).collect();
    let s = Cell::Suppressed;
    assert_eq!(hist, [vec![Cell::Value(9), Cell::Value(30)], vec![s, s], vec![s, s], vec![s, s], vec![s, s]]);
}

#[test]
fn threshold_one_releases_everything_nonzero() {
    // Every group and bin non-empty: at threshold 1 the answer is the exact one.
    let mut data = generate(3, 2000, 0);
    let (_dir, store) = store_of(&mut data);
    let model = Model::new(&data);
    let q = Query {
        measure: lab(GLUCOSE, Selection::All),
        aggregates: vec![Aggregate::Count, Aggregate::Mean, Aggregate::Histogram { edges: vec![100.0, 200.0] }],
        group_by: GroupBy { sex: true, age_bands: None },
        ..query(Cohort::Everyone)
    };
    let exact = run(&store, &model, &q);
    let answer = execute(&store, &q, Uuid::nil(), 1).unwrap();
    for (row, ex) in answer.rows.iter().zip(&exact.rows) {
        assert_eq!(row.patients, Cell::Value(ex.patients));
        let m = ex.moments.unwrap();
        assert!(m.n > 0);
        assert_eq!(row.moments, Some(Moments::Released { n: m.n, sum: m.sum, sum_sq: m.sum_sq }));
        let bins = ex.histogram.clone().unwrap();
        assert!(bins.iter().all(|&b| b > 0), "{bins:?}");
        assert_eq!(row.histogram.clone().unwrap(), bins.into_iter().map(Cell::Value).collect::<Vec<_>>());
    }
}
