//! Independent computation of expected answers straight from the synthetic FHIR files, with plain
//! serde_json and arithmetic: no code of the node is used here.

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// What the test needs of one patient.
#[derive(Debug, Clone, Default)]
pub(crate) struct Patient {
    pub(crate) sex: String,
    /// The FHIR birthDate (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`), if any.
    pub(crate) birth_date: Option<String>,
    pub(crate) conditions: Vec<(String, String)>,
    pub(crate) medications: Vec<(String, String)>,
    /// (loinc code, time, value in the canonical unit)
    pub(crate) values: Vec<(String, String, f64)>,
}

fn lines(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            if !line.trim().is_empty() {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
    }
    out
}

fn subject(r: &Value) -> String {
    let s = r["subject"]["reference"].as_str().or(r["patient"]["reference"].as_str()).unwrap_or("");
    s.trim_start_matches("Patient/").to_string()
}

fn short(system: &str) -> String {
    match system {
        "http://loinc.org" => "loinc",
        "http://hl7.org/fhir/sid/icd-10-cm" => "icd10cm",
        "http://snomed.info/sct" => "snomed",
        "http://www.nlm.nih.gov/research/umls/rxnorm" => "rxnorm",
        other => other,
    }
    .to_string()
}

/// Converts to the canonical unit the tests query in (glucose mg/dL from mmol/L with 180.156 g/mol).
fn canonical(code: &str, value: f64, unit: &str) -> f64 {
    match (code, unit) {
        ("2345-7" | "2339-0", "mmol/L") => value * 180.156 / 10.0,
        _ => value,
    }
}

impl Patient {
    /// Age in completed years on 1 January 2026, the birthday taken as the 1st of the birth month
    /// (January when the date has no month); none without a birth date or when born later.
    pub(crate) fn age_on_new_year_2026(&self) -> Option<u32> {
        let date = self.birth_date.as_deref()?;
        let mut parts = date.split('-');
        let year: i64 = parts.next()?.parse().ok()?;
        let month: i64 = parts.next().map_or(Some(1), |m| m.parse().ok())?;
        u32::try_from(2026 - year - i64::from(month > 1)).ok()
    }
}

/// Reads every patient of a synthetic NDJSON directory.
pub(crate) fn patients(dir: &Path) -> HashMap<String, Patient> {
    let mut by_id: HashMap<String, Patient> = HashMap::new();
    let all = lines(dir);
    for r in all.iter().filter(|r| r["resourceType"] == "Patient") {
        let p = Patient {
            sex: r["gender"].as_str().unwrap_or("unknown").to_string(),
            birth_date: r["birthDate"].as_str().map(str::to_string),
            ..Patient::default()
        };
        by_id.insert(r["id"].as_str().unwrap().to_string(), p);
    }
    for r in &all {
        let Some(p) = by_id.get_mut(&subject(r)) else { continue };
        let first = |c: &Value| -> Option<(String, String)> {
            let coding = c["coding"].as_array()?.first()?;
            Some((short(coding["system"].as_str()?), coding["code"].as_str()?.to_string()))
        };
        match r["resourceType"].as_str() {
            Some("Condition") => p.conditions.extend(first(&r["code"])),
            Some("MedicationRequest") | Some("MedicationStatement") => {
                p.medications.extend(first(&r["medicationCodeableConcept"]))
            }
            Some("Observation") => {
                let time = r["effectiveDateTime"].as_str().unwrap_or("").to_string();
                let mut push = |code: &Value, q: &Value| {
                    if let (Some((_, c)), Some(v)) = (first(code), q["value"].as_f64()) {
                        let unit = q["code"].as_str().unwrap_or("");
                        p.values.push((c.clone(), time.clone(), canonical(&c, v, unit)));
                    }
                };
                push(&r["code"], &r["valueQuantity"]);
                for comp in r["component"].as_array().into_iter().flatten() {
                    push(&comp["code"], &comp["valueQuantity"]);
                }
            }
            _ => {}
        }
    }
    by_id
}

impl Patient {
    pub(crate) fn has_condition_prefix(&self, prefix: &str) -> bool {
        self.conditions.iter().any(|(s, c)| s == "icd10cm" && c.starts_with(prefix))
    }

    pub(crate) fn values_of(&self, code: &str) -> Vec<f64> {
        self.values.iter().filter(|(c, _, _)| c == code).map(|(_, _, v)| *v).collect()
    }
}

/// n, mean and sample sd of values.
pub(crate) fn stats(values: &[f64]) -> (usize, f64, f64) {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    (n, mean, var.sqrt())
}
