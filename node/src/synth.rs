//! Synthetic FHIR R4 Bulk Data for demos, tests and benchmarks: `Patient.ndjson`, `Encounter.ndjson`,
//! `Condition.ndjson`, `Observation.ndjson` and `MedicationRequest.ndjson` for any number of made-up
//! patients, written as a stream (memory stays flat for millions of rows).
//!
//! Deterministic per seed: each patient draws from its own `rand::rngs::StdRng` (ChaCha12 in rand 0.8)
//! seeded from `(seed, patient index)`, and every id is derived from the seed, so different seeds give
//! different patients with ids that do not collide. Patients carry synthetic names, identifiers, addresses
//! and full birth dates on purpose, so that tests can prove these never reach the analytic tables.
//! Nothing here is real patient data.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// What [`write_ndjson`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SynthReport {
    /// Patients.
    pub patients: u64,
    /// Lines of Encounter.ndjson.
    pub encounters: u64,
    /// Lines of Condition.ndjson.
    pub conditions: u64,
    /// Lines of Observation.ndjson (a blood-pressure panel counts once).
    pub observations: u64,
    /// Lines of MedicationRequest.ndjson.
    pub medication_requests: u64,
    /// Measurement values, counting each blood-pressure component.
    pub measurements: u64,
}

impl SynthReport {
    /// Every resource written.
    pub fn resources(&self) -> u64 {
        self.patients + self.encounters + self.conditions + self.observations + self.medication_requests
    }
}

impl fmt::Display for SynthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrote {} patients, {} encounters, {} conditions, {} observations, {} medication requests",
            self.patients, self.encounters, self.conditions, self.observations, self.medication_requests
        )
    }
}

const LOINC: &str = "http://loinc.org";
const ICD10: &str = "http://hl7.org/fhir/sid/icd-10-cm";
const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const UCUM: &str = "http://unitsofmeasure.org";
/// Ages are drawn on this date's year.
const REFERENCE_YEAR: i32 = 2025;

const GIVEN_FEMALE: &[&str] = &["Aurelia", "Brisa", "Calla", "Delphine", "Elowen", "Fenna", "Ilse", "Juno", "Liora"];
const GIVEN_MALE: &[&str] = &["Anselm", "Bram", "Caspian", "Dorian", "Evander", "Florin", "Idris", "Jory", "Lucan"];
const FAMILY: &[&str] = &["Ashdown", "Brackwater", "Corrigan", "Dunmore", "Elsworth", "Fairbrook", "Greyhollow"];
const STREETS: &[&str] = &["Synthetic Lane", "Fixture Road", "Sample Street", "Mock Avenue"];

/// Writes the five NDJSON files for `patients` synthetic patients into `out_dir` (created if needed).
pub fn write_ndjson(out_dir: &Path, patients: usize, seed: u64) -> io::Result<SynthReport> {
    std::fs::create_dir_all(out_dir)?;
    let open = |name: &str| -> io::Result<BufWriter<File>> {
        Ok(BufWriter::with_capacity(1 << 16, File::create(out_dir.join(name))?))
    };
    let mut out = Writers {
        patient: open("Patient.ndjson")?,
        encounter: open("Encounter.ndjson")?,
        condition: open("Condition.ndjson")?,
        observation: open("Observation.ndjson")?,
        medication: open("MedicationRequest.ndjson")?,
    };
    let mut report = SynthReport::default();
    for idx in 0..patients as u64 {
        let mut rng = StdRng::seed_from_u64(mix(seed, idx));
        let mut ids = Ids { seed, patient: idx, n: 0 };
        write_patient(&mut rng, &mut ids, &mut out, &mut report)?;
    }
    for w in [&mut out.patient, &mut out.encounter, &mut out.condition, &mut out.observation, &mut out.medication] {
        w.flush()?;
    }
    Ok(report)
}

struct Writers {
    patient: BufWriter<File>,
    encounter: BufWriter<File>,
    condition: BufWriter<File>,
    observation: BufWriter<File>,
    medication: BufWriter<File>,
}

fn emit(w: &mut impl Write, v: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *w, v)?;
    w.write_all(b"\n")
}

/// SplitMix64 finaliser over a seed and a counter.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Ids shaped like UUIDs, derived from (seed, patient, counter).
struct Ids {
    seed: u64,
    patient: u64,
    n: u64,
}

impl Ids {
    fn next(&mut self) -> String {
        self.n += 1;
        let a = mix(mix(self.seed, self.patient), self.n);
        let b = mix(a ^ self.seed.rotate_left(17), self.patient.wrapping_add(self.n << 32));
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// A normal draw (Box–Muller), rounded to `decimals`.
fn normal(rng: &mut StdRng, mean: f64, sd: f64, decimals: i32) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    round(mean + sd * z, decimals)
}

fn round(v: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (v * p).round() / p
}

/// The conditions a patient has.
#[derive(Default)]
struct Health {
    hypertension: bool,
    diabetes: bool,
    diabetes_uncontrolled: bool,
    hyperlipidemia: bool,
    obesity: bool,
    ckd: Option<&'static str>,
    hypothyroid: bool,
}

fn draw_health(rng: &mut StdRng, age: f64, female: bool) -> Health {
    let years = (age - 18.0).max(0.0);
    let mut h = Health { obesity: rng.gen_bool(0.32), ..Health::default() };
    h.hypertension = rng.gen_bool((0.08 + 0.008 * years).min(0.75));
    h.diabetes = rng.gen_bool((0.02 + 0.0025 * years + if h.obesity { 0.08 } else { 0.0 }).min(0.4));
    h.diabetes_uncontrolled = h.diabetes && rng.gen_bool(0.25);
    h.hyperlipidemia = rng.gen_bool((0.05 + 0.006 * years).min(0.55));
    let ckd = 0.01 + 0.002 * years + if h.diabetes { 0.08 } else { 0.0 } + if h.hypertension { 0.04 } else { 0.0 };
    if rng.gen_bool(ckd.min(0.5)) {
        h.ckd = Some(if rng.gen_bool(0.6) { "N18.31" } else { "N18.32" });
    }
    h.hypothyroid = rng.gen_bool(if female { 0.08 } else { 0.02 });
    h
}

fn write_patient(rng: &mut StdRng, ids: &mut Ids, out: &mut Writers, report: &mut SynthReport) -> io::Result<()> {
    let female = rng.gen_bool(0.52);
    let age: i32 = rng.gen_range(18..=90);
    let (year, month, day) = (REFERENCE_YEAR - age, rng.gen_range(1..=12u32), rng.gen_range(1..=28u32));
    let patient_id = ids.next();
    let given = if female { GIVEN_FEMALE } else { GIVEN_MALE };
    let given = given[rng.gen_range(0..given.len())];
    let family = FAMILY[rng.gen_range(0..FAMILY.len())];
    let mrn = format!("SYN{}", &patient_id[..8].to_uppercase());
    emit(
        &mut out.patient,
        &json!({
            "resourceType": "Patient",
            "id": patient_id,
            "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}]},
            "identifier": [{"system": "urn:agora:synthetic-mrn", "value": mrn}],
            "name": [{"use": "official", "family": family, "given": [given]}],
            "telecom": [{"system": "phone", "value": format!("555-01{:02}", rng.gen_range(0..100))}],
            "gender": if female { "female" } else { "male" },
            "birthDate": format!("{year:04}-{month:02}-{day:02}"),
            "address": [{"line": [format!("{} {}", rng.gen_range(1..200), STREETS[rng.gen_range(0..STREETS.len())])], "city": "Synthville"}]
        }),
    )?;
    report.patients += 1;
    let subject = json!({"reference": format!("Patient/{patient_id}")});
    let health = draw_health(rng, f64::from(age), female);

    // Conditions, onset a few years back.
    let mut conditions: Vec<&str> = Vec::new();
    if health.hypertension {
        conditions.push("I10");
    }
    if health.diabetes {
        conditions.push(if health.diabetes_uncontrolled { "E11.65" } else { "E11.9" });
    }
    if health.hyperlipidemia {
        conditions.push("E78.5");
    }
    if health.obesity {
        conditions.push("E66.9");
    }
    if let Some(ckd) = health.ckd {
        conditions.push(ckd);
    }
    if health.hypothyroid {
        conditions.push("E03.9");
    }
    for code in &conditions {
        let onset = format!("{}-{:02}-{:02}", rng.gen_range(2012..=2022), rng.gen_range(1..=12), rng.gen_range(1..=28));
        emit(
            &mut out.condition,
            &json!({
                "resourceType": "Condition",
                "id": ids.next(),
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
                "code": {"coding": [{"system": ICD10, "code": code}]},
                "subject": subject,
                "onsetDateTime": onset
            }),
        )?;
        report.conditions += 1;
    }

    // Medications matching the conditions.
    let mut meds: Vec<&str> = Vec::new();
    if health.diabetes && rng.gen_bool(0.8) {
        meds.push("860975"); // metformin 500 MG (24 HR extended release)
    }
    if health.hypertension && rng.gen_bool(0.75) {
        meds.push(if rng.gen_bool(0.7) { "314076" } else { "197361" }); // lisinopril 10 MG / amlodipine 5 MG
    }
    if (health.hyperlipidemia || health.diabetes) && rng.gen_bool(0.6) {
        meds.push("617312"); // atorvastatin 10 MG
    }
    if health.hypothyroid && rng.gen_bool(0.85) {
        meds.push("966222"); // levothyroxine 50 MCG
    }
    for code in &meds {
        let authored =
            format!("{}-{:02}-{:02}", rng.gen_range(2019..=2024), rng.gen_range(1..=12), rng.gen_range(1..=28));
        emit(
            &mut out.medication,
            &json!({
                "resourceType": "MedicationRequest",
                "id": ids.next(),
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
                "subject": subject,
                "authoredOn": authored
            }),
        )?;
        report.medication_requests += 1;
    }

    // Visits with vitals; labs at some of them.
    let height = normal(rng, if female { 163.0 } else { 176.0 }, 7.0, 1);
    let bmi_mean = if health.obesity { 34.0 } else { 25.0 };
    let mut weight = round(normal(rng, bmi_mean, 3.0, 1) * (height / 100.0).powi(2), 1);
    let n_visits = rng.gen_range(2..=4);
    for visit in 0..n_visits {
        let start = format!(
            "{}-{:02}-{:02}T{:02}:{:02}:00Z",
            rng.gen_range(2021..=2025),
            rng.gen_range(1..=12),
            rng.gen_range(1..=28),
            rng.gen_range(8..=17),
            [0, 15, 30, 45][rng.gen_range(0..4)]
        );
        let encounter_id = ids.next();
        emit(
            &mut out.encounter,
            &json!({
                "resourceType": "Encounter",
                "id": encounter_id,
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": subject,
                "period": {"start": start, "end": start.replace(":00Z", ":30Z")}
            }),
        )?;
        report.encounters += 1;
        let mut obs = ObservationWriter { out: &mut out.observation, ids, subject: &subject, at: &start, report };
        // Vital signs.
        let (sys_mean, dia_mean) = if health.hypertension { (146.0, 91.0) } else { (121.0, 77.0) };
        obs.blood_pressure(normal(rng, sys_mean, 12.0, 0), normal(rng, dia_mean, 8.0, 0))?;
        obs.quantity("8867-4", normal(rng, 72.0, 10.0, 0), "/min")?;
        weight = round(weight + normal(rng, 0.0, 1.2, 1), 1);
        if rng.gen_bool(0.1) {
            obs.quantity("29463-7", round(weight / 0.453_592_37, 1), "[lb_av]")?;
        } else {
            obs.quantity("29463-7", weight, "kg")?;
        }
        if visit == 0 {
            obs.quantity("8302-2", height, "cm")?;
        }
        if visit == 0 {
            obs.quantity("39156-5", round(weight / (height / 100.0).powi(2), 1), "kg/m2")?;
        }
        if rng.gen_bool(0.3) {
            obs.quantity("8310-5", normal(rng, 36.8, 0.3, 1), "Cel")?;
        }
        // Labs at the first visit and at some later ones.
        if visit == 0 || rng.gen_bool(0.15) {
            let glucose = if health.diabetes {
                normal(rng, if health.diabetes_uncontrolled { 210.0 } else { 150.0 }, 30.0, 0)
            } else {
                normal(rng, 94.0, 9.0, 0)
            };
            if rng.gen_bool(0.25) {
                obs.quantity("2345-7", round(glucose / 18.0156, 1), "mmol/L")?;
            } else {
                obs.quantity("2345-7", glucose, "mg/dL")?;
            }
            if health.diabetes || rng.gen_bool(0.3) {
                let a1c = if health.diabetes {
                    normal(rng, if health.diabetes_uncontrolled { 9.4 } else { 7.2 }, 0.8, 1)
                } else {
                    normal(rng, 5.4, 0.3, 1)
                };
                obs.quantity("4548-4", a1c, "%")?;
            }
            let ldl = normal(rng, if health.hyperlipidemia { 150.0 } else { 105.0 }, 25.0, 0);
            let hdl = normal(rng, if female { 58.0 } else { 47.0 }, 10.0, 0);
            let tg = normal(rng, if health.diabetes || health.obesity { 190.0 } else { 120.0 }, 35.0, 0);
            if health.hyperlipidemia || rng.gen_bool(0.6) {
                obs.quantity("13457-7", ldl, "mg/dL")?;
                obs.quantity("2085-9", hdl, "mg/dL")?;
                obs.quantity("2571-8", tg, "mg/dL")?;
                obs.quantity("2093-3", round(ldl + hdl + tg / 5.0, 0), "mg/dL")?;
            }
            let creatinine = match health.ckd {
                Some(_) => normal(rng, 1.7, 0.3, 2),
                None => normal(rng, if female { 0.8 } else { 1.0 }, 0.12, 2),
            };
            obs.quantity("2160-0", creatinine, "mg/dL")?;
            let egfr = match health.ckd {
                Some("N18.31") => rng.gen_range(45.0..60.0f64).round(),
                Some(_) => rng.gen_range(30.0..45.0f64).round(),
                None => normal(rng, 92.0 - 0.4 * f64::from(age - 18), 10.0, 0).max(60.0),
            };
            obs.quantity("98979-8", egfr, "mL/min/{1.73_m2}")?;
            if rng.gen_bool(0.5) {
                obs.quantity("2951-2", normal(rng, 140.0, 2.5, 0), "mmol/L")?;
                obs.quantity("2823-3", normal(rng, 4.2, 0.35, 1), "mmol/L")?;
                obs.quantity("718-7", normal(rng, if female { 13.5 } else { 15.0 }, 1.0, 1), "g/dL")?;
            }
        }
    }
    Ok(())
}

struct ObservationWriter<'a> {
    out: &'a mut BufWriter<File>,
    ids: &'a mut Ids,
    subject: &'a Value,
    at: &'a str,
    report: &'a mut SynthReport,
}

impl ObservationWriter<'_> {
    fn base(&mut self, code: &str) -> Value {
        let vital = matches!(code, "85354-9" | "8867-4" | "29463-7" | "8302-2" | "39156-5" | "8310-5");
        json!({
            "resourceType": "Observation",
            "id": self.ids.next(),
            "status": "final",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": if vital { "vital-signs" } else { "laboratory" }
            }]}],
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": self.subject,
            "effectiveDateTime": self.at
        })
    }

    fn quantity(&mut self, code: &str, value: f64, unit: &str) -> io::Result<()> {
        let mut o = self.base(code);
        o["valueQuantity"] = json!({"value": value, "unit": unit, "system": UCUM, "code": unit});
        emit(self.out, &o)?;
        self.report.observations += 1;
        self.report.measurements += 1;
        Ok(())
    }

    fn blood_pressure(&mut self, systolic: f64, diastolic: f64) -> io::Result<()> {
        let mut o = self.base("85354-9");
        let component = |code: &str, v: f64| {
            json!({
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": v, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
            })
        };
        o["component"] = json!([component("8480-6", systolic), component("8462-4", diastolic)]);
        emit(self.out, &o)?;
        self.report.observations += 1;
        self.report.measurements += 2;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn deterministic_per_seed_and_different_across_seeds() {
        let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ra = write_ndjson(a.path(), 20, 1).unwrap();
        let rb = write_ndjson(b.path(), 20, 1).unwrap();
        write_ndjson(c.path(), 20, 2).unwrap();
        assert_eq!(ra, rb);
        for f in ["Patient.ndjson", "Observation.ndjson", "Condition.ndjson"] {
            assert_eq!(read(a.path(), f), read(b.path(), f));
            assert_ne!(read(a.path(), f), read(c.path(), f));
        }
        let ids = |dir: &Path| -> std::collections::HashSet<String> {
            ["Patient.ndjson", "Observation.ndjson", "Encounter.ndjson", "Condition.ndjson", "MedicationRequest.ndjson"]
                .iter()
                .flat_map(|f| {
                    read(dir, f)
                        .lines()
                        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_string())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let (ia, ic) = (ids(a.path()), ids(c.path()));
        assert_eq!(ia.len() as u64, ra.resources(), "ids are unique within a run");
        assert!(ia.is_disjoint(&ic), "ids differ across seeds");
    }

    #[test]
    fn counts_match_files_and_data_is_plausible() {
        let dir = tempfile::tempdir().unwrap();
        let r = write_ndjson(dir.path(), 60, 7).unwrap();
        let lines = |f: &str| read(dir.path(), f).lines().count() as u64;
        assert_eq!(r.patients, lines("Patient.ndjson"));
        assert_eq!(r.observations, lines("Observation.ndjson"));
        assert_eq!(r.conditions, lines("Condition.ndjson"));
        assert_eq!(r.encounters, lines("Encounter.ndjson"));
        assert_eq!(r.medication_requests, lines("MedicationRequest.ndjson"));
        let per_patient = r.observations as f64 / r.patients as f64;
        assert!((12.0..=30.0).contains(&per_patient), "{per_patient} observations per patient");
        let text = read(dir.path(), "Observation.ndjson");
        assert!(text.contains("\"mmol/L\"") && text.contains("\"8480-6\""));
        for line in read(dir.path(), "Patient.ndjson").lines() {
            let p: Value = serde_json::from_str(line).unwrap();
            let year: i32 = p["birthDate"].as_str().unwrap()[..4].parse().unwrap();
            assert!((REFERENCE_YEAR - 90..=REFERENCE_YEAR - 18).contains(&year));
        }
    }
}
