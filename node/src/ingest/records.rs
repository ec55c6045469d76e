//! Parse, don't validate: a parsed FHIR [`Resource`] becomes either a validated [`Outcome`] (a person, or
//! the analytic rows of one clinical resource with the reference to its patient) or a [`Problem`] naming
//! the offending field. Past this module nothing re-checks values, units or dates.

use super::fhir::{self, CodeableConcept, Num, Period, Quantity, Resource};
use crate::units::{self, Target, UnitError};
use agora_protocol::{CodeSystem, Sex};
use std::borrow::Cow;
use std::collections::HashMap;

/// What is wrong with a resource, and where. Messages never quote a value, a name or a date.
pub(crate) struct Problem {
    pub(crate) field: Option<String>,
    pub(crate) message: String,
}

impl Problem {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { field: Some(field.into()), message: message.into() }
    }
}

/// A validated Patient, without anything identifying: the pseudonym is derived from the id by the caller.
pub(crate) struct PersonRecord {
    pub(crate) sex: Sex,
    pub(crate) year_of_birth: Option<i64>,
    pub(crate) month_of_birth: Option<i64>,
    pub(crate) deceased: bool,
}

/// One analytic row.
pub(crate) enum Row<'a> {
    Measurement {
        system: Cow<'a, str>,
        code: Cow<'a, str>,
        at: i64,
        value_e3: i64,
        unit: Cow<'static, str>,
        implausible: bool,
    },
    Observation {
        domain: &'static str,
        system: Cow<'a, str>,
        code: Cow<'a, str>,
        at: Option<i64>,
        value: Option<(Cow<'a, str>, Cow<'a, str>)>,
    },
    Condition {
        system: Cow<'a, str>,
        code: Cow<'a, str>,
        start: Option<i64>,
    },
    Drug {
        kind: &'static str,
        system: Cow<'a, str>,
        code: Cow<'a, str>,
        start: Option<i64>,
    },
    Visit {
        class: Option<Cow<'a, str>>,
        start: Option<i64>,
        end: Option<i64>,
    },
    Procedure {
        system: Cow<'a, str>,
        code: Cow<'a, str>,
        at: Option<i64>,
    },
}

/// Why a valid resource is not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// An immunization not given, a procedure not done, a medication not taken.
    NotDone,
    /// Recorded in error, cancelled or refuted.
    EnteredInError,
    /// An Observation without a value this store can hold (valueString, dataAbsentReason, a bare panel).
    NoValue,
}

/// The validated content of a resource.
pub(crate) enum Outcome<'a> {
    Person(PersonRecord),
    Clinical {
        /// The subject reference as written (`Patient/123`, `urn:uuid:...`), and the field it came from.
        subject: Cow<'a, str>,
        subject_field: &'static str,
        rows: Vec<Row<'a>>,
        /// Implausible values: stored, flagged and reported as warnings.
        warnings: Vec<Problem>,
    },
    Skipped(Skip),
}

/// Memoised unit targets per (code system is LOINC, code, unit), bounded.
#[derive(Default)]
pub(crate) struct UnitCache {
    map: HashMap<Box<str>, Result<Target, UnitError>>,
    key: String,
}

impl UnitCache {
    const CAPACITY: usize = 4096;

    fn get(&mut self, loinc: bool, code: &str, unit: &str) -> &Result<Target, UnitError> {
        self.key.clear();
        self.key.push(if loinc { 'L' } else { '-' });
        self.key.push_str(code);
        self.key.push('\u{0}');
        self.key.push_str(unit);
        if !self.map.contains_key(self.key.as_str()) {
            if self.map.len() >= Self::CAPACITY {
                self.map.clear();
            }
            self.map.insert(self.key.clone().into_boxed_str(), units::target(loinc, code, unit));
        }
        &self.map[self.key.as_str()]
    }
}

/// Turns a parsed resource of a supported type into its outcome. `Ok(None)`: the type is not mapped.
pub(crate) fn build<'a>(
    resource_type: &str,
    r: &Resource<'a>,
    units: &mut UnitCache,
) -> Result<Option<Outcome<'a>>, Problem> {
    let outcome = match resource_type {
        "Patient" => Outcome::Person(person(r)?),
        "Observation" => observation(r, units)?,
        "Condition" => condition(r)?,
        "MedicationRequest" => medication(r, "request")?,
        "MedicationStatement" => medication(r, "statement")?,
        "Encounter" => encounter(r)?,
        "Procedure" => procedure(r)?,
        "Immunization" => immunization(r)?,
        "AllergyIntolerance" => allergy(r)?,
        "DiagnosticReport" => diagnostic_report(r)?,
        _ => return Ok(None),
    };
    Ok(Some(outcome))
}

fn person(r: &Resource<'_>) -> Result<PersonRecord, Problem> {
    let sex = match r.gender.as_deref() {
        None => Sex::Unknown,
        Some(g) => Sex::from_fhir(g)
            .ok_or_else(|| Problem::new("gender", "gender must be one of male, female, other, unknown"))?,
    };
    let (year_of_birth, month_of_birth) = match r.birth_date.as_deref() {
        None => (None, None),
        Some(d) => {
            let (y, m) = fhir::year_month(d).ok_or_else(|| {
                Problem::new("birthDate", "birthDate is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)")
            })?;
            (Some(y), m)
        }
    };
    let deceased = r.deceased_boolean.unwrap_or(false) || r.deceased_date_time.is_some();
    Ok(PersonRecord { sex, year_of_birth, month_of_birth, deceased })
}

fn status_is(r: &Resource<'_>, values: &[&str]) -> bool {
    r.status.as_deref().is_some_and(|s| values.contains(&s))
}

fn verification_is(r: &Resource<'_>, values: &[&str]) -> bool {
    let codings = r.verification_status.as_ref().and_then(|v| v.coding.as_deref()).unwrap_or_default();
    codings.iter().any(|c| c.code.as_deref().is_some_and(|c| values.contains(&c)))
}

fn subject<'a>(r: &Resource<'a>, field: &'static str) -> Result<Cow<'a, str>, Problem> {
    let reference = if field == "patient" { r.patient.as_ref() } else { r.subject.as_ref() };
    reference
        .and_then(|s| s.reference.clone())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Problem::new(field, format!("missing {field}: a clinical resource must reference its Patient")))
}

fn time(field: &str, value: Option<&Cow<'_, str>>) -> Result<Option<i64>, Problem> {
    match value {
        None => Ok(None),
        Some(v) => fhir::parse_datetime(v)
            .map(Some)
            .ok_or_else(|| Problem::new(field, format!("{field} is not a FHIR dateTime (e.g. 2024-05-01T10:00:00Z)"))),
    }
}

fn period_start(field: &str, p: Option<&Period<'_>>) -> Result<Option<i64>, Problem> {
    time(&format!("{field}.start"), p.and_then(|p| p.start.as_ref()))
}

/// The first of several optional times that is present.
fn first_time(candidates: &[(&str, Option<&Cow<'_, str>>)]) -> Result<Option<i64>, Problem> {
    for (field, value) in candidates {
        if value.is_some() {
            return time(field, *value);
        }
    }
    Ok(None)
}

fn coded<'a>(field: &str, cc: Option<&CodeableConcept<'a>>) -> Result<(Cow<'a, str>, Cow<'a, str>), Problem> {
    let cc = cc.ok_or_else(|| Problem::new(field, format!("missing {field}")))?;
    fhir::pick_code(cc).ok_or_else(|| Problem::new(field, format!("{field} has no coding with a code")))
}

fn clinical<'a>(r: &Resource<'a>, field: &'static str, rows: Vec<Row<'a>>) -> Result<Outcome<'a>, Problem> {
    Ok(Outcome::Clinical { subject: subject(r, field)?, subject_field: field, rows, warnings: Vec::new() })
}

fn observation<'a>(r: &Resource<'a>, units: &mut UnitCache) -> Result<Outcome<'a>, Problem> {
    if status_is(r, &["entered-in-error", "cancelled"]) {
        return Ok(Outcome::Skipped(Skip::EnteredInError));
    }
    let subject = subject(r, "subject")?;
    let (system, code) = coded("code", r.code.as_ref())?;
    let at = match r.effective_period.as_ref() {
        Some(p) if r.effective_date_time.is_none() && r.effective_instant.is_none() => {
            period_start("effectivePeriod", Some(p))?
        }
        _ => first_time(&[
            ("effectiveDateTime", r.effective_date_time.as_ref()),
            ("effectiveInstant", r.effective_instant.as_ref()),
            ("issued", r.issued.as_ref()),
        ])?,
    };
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    let need_time = |field: &str| {
        at.ok_or_else(|| Problem::new(field, "missing effective[x]: a measurement needs the time it was taken"))
    };
    if let Some(q) = r.value_quantity.as_ref() {
        let at = need_time("effectiveDateTime")?;
        rows.push(measurement("valueQuantity", &system, &code, at, Quantified::Quantity(q), units, &mut warnings)?);
    } else if let Some(v) = r.value_integer {
        let at = need_time("effectiveDateTime")?;
        rows.push(measurement("valueInteger", &system, &code, at, Quantified::Integer(v), units, &mut warnings)?);
    } else if let Some(cc) = r.value_codeable_concept.as_ref() {
        let value = fhir::pick_code(cc);
        rows.push(Row::Observation { domain: "observation", system: system.clone(), code: code.clone(), at, value });
    }
    for (i, c) in r.component.as_deref().unwrap_or_default().iter().enumerate() {
        let field = |f: &str| format!("component[{i}].{f}");
        let quantified = match (c.value_quantity.as_ref(), c.value_integer) {
            (Some(q), _) => Some((field("valueQuantity"), Quantified::Quantity(q))),
            (None, Some(v)) => Some((field("valueInteger"), Quantified::Integer(v))),
            (None, None) => None,
        };
        if quantified.is_none() && c.value_codeable_concept.is_none() {
            continue; // dataAbsentReason, valueString, ...: nothing to store for this component
        }
        let (c_system, c_code) = coded(&field("code"), c.code.as_ref())?;
        if let Some((f, q)) = quantified {
            let at = need_time("effectiveDateTime")?;
            rows.push(measurement(&f, &c_system, &c_code, at, q, units, &mut warnings)?);
        } else if let Some(cc) = c.value_codeable_concept.as_ref() {
            let value = fhir::pick_code(cc);
            rows.push(Row::Observation { domain: "observation", system: c_system, code: c_code, at, value });
        }
    }
    if rows.is_empty() {
        return Ok(Outcome::Skipped(Skip::NoValue));
    }
    Ok(Outcome::Clinical { subject, subject_field: "subject", rows, warnings })
}

enum Quantified<'q, 'a> {
    Quantity(&'q Quantity<'a>),
    Integer(Num),
}

fn measurement<'a>(
    field: &str,
    system: &Cow<'a, str>,
    code: &Cow<'a, str>,
    at: i64,
    q: Quantified<'_, 'a>,
    units: &mut UnitCache,
    warnings: &mut Vec<Problem>,
) -> Result<Row<'a>, Problem> {
    let (value, unit) = match q {
        Quantified::Integer(v) => (v, "1"),
        Quantified::Quantity(q) => {
            if q.comparator.is_some() {
                return Err(Problem::new(
                    format!("{field}.comparator"),
                    "a value with a comparator (<, >) is a bound, not a measurement: it is not stored",
                ));
            }
            let unit = match (q.system.as_deref(), q.code.as_deref(), q.unit.as_deref()) {
                (Some(s), Some(_), _) if s != fhir::UCUM_URI => {
                    return Err(Problem::new(
                        format!("{field}.system"),
                        format!("unit system `{}` is not UCUM ({})", truncate(s), fhir::UCUM_URI),
                    ))
                }
                (_, Some(c), _) if !c.is_empty() => c,
                (_, _, Some(u)) if !u.is_empty() => u,
                _ => {
                    return Err(Problem::new(
                        format!("{field}.code"),
                        "missing unit: give the UCUM code of the unit in valueQuantity.code",
                    ))
                }
            };
            let Some(value) = q.value else {
                return Err(Problem::new(format!("{field}.value"), "missing value"));
            };
            (value, unit)
        }
    };
    let Num::Number(value) = value else {
        return Err(Problem::new(format!("{field}.value"), "value is not a number"));
    };
    let loinc = system == CodeSystem::Loinc.short();
    let target = units.get(loinc, code, unit).as_ref().map_err(|e| {
        let in_unit = match e {
            UnitError::Ucum(_) => format!(" in `{unit}`"),
            _ => String::new(),
        };
        Problem::new(format!("{field}.code"), format!("unit of {}{in_unit}: {e}", describe_code(loinc, code)))
    })?;
    let canonical = target.conversion.apply(value);
    let scaled = (canonical * agora_protocol::VALUE_SCALE as f64).round();
    if !scaled.is_finite() || scaled.abs() >= 9.0e15 {
        return Err(Problem::new(format!("{field}.value"), "value is too large to store"));
    }
    let implausible = target.implausible(canonical);
    if implausible {
        let (lo, hi) = target.plausible.unwrap_or_default();
        warnings.push(Problem::new(
            format!("{field}.value"),
            format!(
                "value of {} outside the plausible range {lo}–{hi} {}: stored and flagged implausible",
                describe_code(loinc, code),
                target.unit
            ),
        ));
    }
    Ok(Row::Measurement {
        system: system.clone(),
        code: code.clone(),
        at,
        value_e3: scaled as i64,
        unit: target.unit.clone(),
        implausible,
    })
}

fn describe_code(loinc: bool, code: &str) -> String {
    match loinc.then(|| units::variable(code)).flatten() {
        Some(v) => format!("{} (loinc {})", v.name, v.code),
        None if loinc => format!("loinc {}", truncate(code)),
        None => format!("code {}", truncate(code)),
    }
}

/// Cuts echoed input (codes, unit systems) to a readable length.
pub(crate) fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn condition<'a>(r: &Resource<'a>) -> Result<Outcome<'a>, Problem> {
    if verification_is(r, &["entered-in-error", "refuted"]) {
        return Ok(Outcome::Skipped(Skip::EnteredInError));
    }
    let (system, code) = coded("code", r.code.as_ref())?;
    let start = match r.onset_period.as_ref() {
        Some(p) if r.onset_date_time.is_none() => period_start("onsetPeriod", Some(p))?,
        _ => first_time(&[("onsetDateTime", r.onset_date_time.as_ref()), ("recordedDate", r.recorded_date.as_ref())])?,
    };
    clinical(r, "subject", vec![Row::Condition { system, code, start }])
}

fn medication<'a>(r: &Resource<'a>, kind: &'static str) -> Result<Outcome<'a>, Problem> {
    if status_is(r, &["entered-in-error"]) {
        return Ok(Outcome::Skipped(Skip::EnteredInError));
    }
    if status_is(r, &["not-taken"]) {
        return Ok(Outcome::Skipped(Skip::NotDone));
    }
    let (system, code) = match (&r.medication_codeable_concept, &r.medication_reference) {
        (Some(cc), _) => coded("medicationCodeableConcept", Some(cc))?,
        (None, Some(reference)) => {
            let contained = reference.reference.as_deref().and_then(|id| id.strip_prefix('#')).and_then(|id| {
                r.contained
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .find(|c| c.resource_type.as_deref() == Some("Medication") && c.id.as_deref() == Some(id))
            });
            match contained {
                Some(m) => coded("medicationReference.code", m.code.as_ref())?,
                None => {
                    return Err(Problem::new(
                        "medicationReference",
                        "only a contained Medication (#id) can be followed: use medicationCodeableConcept",
                    ))
                }
            }
        }
        (None, None) => return Err(Problem::new("medication[x]", "missing medication[x]")),
    };
    let start = if kind == "request" {
        time("authoredOn", r.authored_on.as_ref())?
    } else {
        match r.effective_period.as_ref() {
            Some(p) if r.effective_date_time.is_none() => period_start("effectivePeriod", Some(p))?,
            _ => first_time(&[
                ("effectiveDateTime", r.effective_date_time.as_ref()),
                ("dateAsserted", r.date_asserted.as_ref()),
            ])?,
        }
    };
    clinical(r, "subject", vec![Row::Drug { kind, system, code, start }])
}

fn encounter<'a>(r: &Resource<'a>) -> Result<Outcome<'a>, Problem> {
    if status_is(r, &["entered-in-error", "cancelled"]) {
        return Ok(Outcome::Skipped(Skip::EnteredInError));
    }
    let class = r.class.as_ref().and_then(|c| c.code.clone());
    let start = period_start("period", r.period.as_ref())?;
    let end = time("period.end", r.period.as_ref().and_then(|p| p.end.as_ref()))?;
    clinical(r, "subject", vec![Row::Visit { class, start, end }])
}

fn procedure<'a>(r: &Resource<'a>) -> Result<Outcome<'a>, Problem> {
    if status_is(r, &["entered-in-error"]) {
        return Ok(Outcome::Skipped(Skip::EnteredInError));
    }
    if status_is(r, &["not-done"]) {
        return Ok(Outcome::Skipped(Skip::NotDone));
    }
    let (system, code) = coded("code", r.code.as_ref())?;
    let at = match r.performed_period.as_ref() {
        Some(p) if r.performed_date_time.is_none() => period_start("performedPeriod", Some(p))?,
        _ => time("performedDateTime", r.performed_date_time.as_ref())?,
    };
    clinical(r, "subject", vec![Row::Procedure { system, code, at }])
}

fn immunization<'a>(r: &Resource<'a>) -> Result<Outcome<'a>, Problem> {
    if status_is(r, &["entered-in-error"]) {
        return Ok(Outcome::Skipped(Skip::EnteredInError));
    }
    if status_is(r, &["not-done"]) || r.not_given == Some(true) {
        return Ok(Outcome::Skipped(Skip::NotDone));
    }
    let (system, code) = coded("vaccineCode", r.vaccine_code.as_ref())?;
    let start = time("occurrenceDateTime", r.occurrence_date_time.as_ref())?;
    clinical(r, "patient", vec![Row::Drug { kind: "immunization", system, code, start }])
}

fn allergy<'a>(r: &Resource<'a>) -> Result<Outcome<'a>, Problem> {
    if verification_is(r, &["entered-in-error", "refuted"]) {
        return Ok(Outcome::Skipped(Skip::EnteredInError));
    }
    let (system, code) = coded("code", r.code.as_ref())?;
    let at = first_time(&[("recordedDate", r.recorded_date.as_ref()), ("onsetDateTime", r.onset_date_time.as_ref())])?;
    let value = r
        .reaction
        .as_deref()
        .unwrap_or_default()
        .iter()
        .flat_map(|re| re.manifestation.as_deref().unwrap_or_default())
        .find_map(fhir::pick_code);
    clinical(r, "patient", vec![Row::Observation { domain: "allergy", system, code, at, value }])
}

fn diagnostic_report<'a>(r: &Resource<'a>) -> Result<Outcome<'a>, Problem> {
    if status_is(r, &["entered-in-error", "cancelled"]) {
        return Ok(Outcome::Skipped(Skip::EnteredInError));
    }
    let (system, code) = coded("code", r.code.as_ref())?;
    let at = match r.effective_period.as_ref() {
        Some(p) if r.effective_date_time.is_none() => period_start("effectivePeriod", Some(p))?,
        _ => first_time(&[("effectiveDateTime", r.effective_date_time.as_ref()), ("issued", r.issued.as_ref())])?,
    };
    let value = r.conclusion_code.as_deref().unwrap_or_default().iter().find_map(fhir::pick_code);
    clinical(r, "subject", vec![Row::Observation { domain: "diagnostic_report", system, code, at, value }])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a resource from JSON and renders the outcome (or the problem) as a short string.
    fn check(json: &str, expect: &str) {
        let r: Resource<'_> = serde_json::from_str(json).unwrap();
        let ty = r.resource_type.as_deref().unwrap().to_string();
        let got = match build(&ty, &r, &mut UnitCache::default()) {
            Ok(None) => "unsupported".to_string(),
            Ok(Some(Outcome::Person(p))) => {
                format!("person {} {:?} {:?} {}", p.sex, p.year_of_birth, p.month_of_birth, p.deceased)
            }
            Ok(Some(Outcome::Skipped(s))) => format!("skipped {s:?}"),
            Ok(Some(Outcome::Clinical { subject, rows, warnings, .. })) => {
                let rows: Vec<String> = rows.iter().map(render).collect();
                let warned: Vec<String> = warnings.iter().map(|w| w.field.clone().unwrap_or_default()).collect();
                format!(
                    "{subject}: {}{}",
                    rows.join("; "),
                    if warned.is_empty() { String::new() } else { format!(" warn {}", warned.join(",")) }
                )
            }
            Err(p) => format!("error {}: {}", p.field.unwrap_or_default(), p.message),
        };
        assert!(got.starts_with(expect), "\n got: {got}\nwant: {expect}");
    }

    fn render(row: &Row<'_>) -> String {
        match row {
            Row::Measurement { system, code, at, value_e3, unit, implausible } => {
                format!("m {system}:{code} {at} {value_e3} {unit}{}", if *implausible { " !" } else { "" })
            }
            Row::Observation { domain, system, code, at, value } => {
                format!("o {domain} {system}:{code} {at:?} {:?}", value.as_ref().map(|(s, c)| format!("{s}:{c}")))
            }
            Row::Condition { system, code, start } => format!("c {system}:{code} {start:?}"),
            Row::Drug { kind, system, code, start } => format!("d {kind} {system}:{code} {start:?}"),
            Row::Visit { class, start, end } => format!("v {class:?} {start:?} {end:?}"),
            Row::Procedure { system, code, at } => format!("p {system}:{code} {at:?}"),
        }
    }

    const SUBJ: &str = r#""subject":{"reference":"Patient/p1"}"#;

    #[test]
    fn patients_keep_only_year_month_and_sex() {
        check(
            r#"{"resourceType":"Patient","gender":"female","birthDate":"1939-06-09"}"#,
            "person female Some(1939) Some(6) false",
        );
        check(
            r#"{"resourceType":"Patient","birthDate":"1939","deceasedDateTime":"2020"}"#,
            "person unknown Some(1939) None true",
        );
        check(r#"{"resourceType":"Patient","gender":"F"}"#, "error gender:");
        check(r#"{"resourceType":"Patient","birthDate":"09/06/1939"}"#, "error birthDate:");
    }

    #[test]
    fn observations_become_measurements_in_canonical_units() {
        let obs = |value: &str| {
            format!(
                r#"{{"resourceType":"Observation",{SUBJ},"code":{{"coding":[{{"system":"http://loinc.org","code":"2345-7"}}]}},"effectiveDateTime":"1970-01-02",{value}}}"#
            )
        };
        check(
            &obs(r#""valueQuantity":{"value":99,"system":"http://unitsofmeasure.org","code":"mg/dL"}"#),
            "Patient/p1: m loinc:2345-7 86400 99000 mg/dL",
        );
        check(&obs(r#""valueQuantity":{"value":5.5,"code":"mmol/L"}"#), "Patient/p1: m loinc:2345-7 86400 99086 mg/dL");
        check(
            &obs(r#""valueQuantity":{"value":5000,"code":"mg/dL"}"#),
            "Patient/p1: m loinc:2345-7 86400 5000000 mg/dL ! warn valueQuantity.value",
        );
        check(
            &obs(r#""valueQuantity":{"value":"high","code":"mg/dL"}"#),
            "error valueQuantity.value: value is not a number",
        );
        check(&obs(r#""valueQuantity":{"value":5}"#), "error valueQuantity.code: missing unit");
        check(&obs(r#""valueQuantity":{"value":5,"code":"mmol/l/x"}"#), "error valueQuantity.code: unit of glucose");
        check(
            &obs(r#""valueQuantity":{"value":5,"code":"mmHg"}"#),
            "error valueQuantity.code: unit of glucose (serum/plasma) (loinc 2345-7) in `mmHg`: `mmHg` is not a UCUM unit",
        );
        check(
            &obs(r#""valueQuantity":{"value":5,"system":"http://acme.org/units","code":"x"}"#),
            "error valueQuantity.system:",
        );
        check(
            &obs(r#""valueQuantity":{"value":5,"comparator":"<","code":"mg/dL"}"#),
            "error valueQuantity.comparator:",
        );
        check(&obs(r#""valueString":"see note""#), "skipped NoValue");
        check(
            &obs(r#""valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260385009"}]}"#),
            "Patient/p1: o observation loinc:2345-7 Some(86400) Some(\"snomed:260385009\")",
        );
        check(
            r#"{"resourceType":"Observation","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"valueQuantity":{"value":60,"code":"/min"}}"#,
            "error subject: missing subject",
        );
        check(
            &format!(
                r#"{{"resourceType":"Observation",{SUBJ},"code":{{"coding":[{{"system":"http://loinc.org","code":"8867-4"}}]}},"valueQuantity":{{"value":60,"code":"/min"}}}}"#
            ),
            "error effectiveDateTime: missing effective[x]",
        );
    }

    #[test]
    fn blood_pressure_components_are_rows_of_their_own() {
        let json = format!(
            r#"{{"resourceType":"Observation",{SUBJ},"code":{{"coding":[{{"system":"http://loinc.org","code":"85354-9"}}]}},"effectiveDateTime":"1970-01-01T00:00:10Z","component":[
            {{"code":{{"coding":[{{"system":"http://loinc.org","code":"8480-6"}}]}},"valueQuantity":{{"value":128,"code":"mm[Hg]"}}}},
            {{"code":{{"coding":[{{"system":"http://loinc.org","code":"8462-4"}}]}},"valueQuantity":{{"value":16,"code":"kPa"}}}},
            {{"code":{{"coding":[{{"system":"http://loinc.org","code":"8478-0"}}]}},"dataAbsentReason":{{"text":"n/a"}}}}]}}"#
        );
        check(&json, "Patient/p1: m loinc:8480-6 10 128000 mm[Hg]; m loinc:8462-4 10 120010 mm[Hg]");
    }

    #[test]
    fn other_resource_types_map_to_their_tables() {
        check(
            &format!(
                r#"{{"resourceType":"Condition",{SUBJ},"code":{{"coding":[{{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"E11.9"}}]}},"onsetDateTime":"1970-01-02"}}"#
            ),
            "Patient/p1: c icd10cm:E11.9 Some(86400)",
        );
        check(
            &format!(
                r#"{{"resourceType":"Condition",{SUBJ},"code":{{"coding":[{{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"E11.9"}}]}},"verificationStatus":{{"coding":[{{"code":"refuted"}}]}}}}"#
            ),
            "skipped EnteredInError",
        );
        check(
            &format!(
                r#"{{"resourceType":"MedicationRequest",{SUBJ},"medicationCodeableConcept":{{"coding":[{{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"860975"}}]}},"authoredOn":"1970-01-02"}}"#
            ),
            "Patient/p1: d request rxnorm:860975 Some(86400)",
        );
        check(
            &format!(
                r##"{{"resourceType":"MedicationRequest",{SUBJ},"contained":[{{"resourceType":"Medication","id":"m","code":{{"coding":[{{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"1"}}]}}}}],"medicationReference":{{"reference":"#m"}}}}"##
            ),
            "Patient/p1: d request rxnorm:1 None",
        );
        check(
            &format!(
                r#"{{"resourceType":"MedicationRequest",{SUBJ},"medicationReference":{{"reference":"Medication/m"}}}}"#
            ),
            "error medicationReference:",
        );
        check(
            &format!(
                r#"{{"resourceType":"MedicationStatement",{SUBJ},"status":"not-taken","medicationCodeableConcept":{{}}}}"#
            ),
            "skipped NotDone",
        );
        check(
            &format!(
                r#"{{"resourceType":"Encounter",{SUBJ},"class":{{"code":"AMB"}},"period":{{"start":"1970-01-01T00:00:00Z","end":"1970-01-01T00:30:00Z"}}}}"#
            ),
            "Patient/p1: v Some(\"AMB\") Some(0) Some(1800)",
        );
        check(
            &format!(
                r#"{{"resourceType":"Procedure",{SUBJ},"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"80146002"}}]}},"performedPeriod":{{"start":"1970-01-02"}}}}"#
            ),
            "Patient/p1: p snomed:80146002 Some(86400)",
        );
        check(
            r#"{"resourceType":"Immunization","patient":{"reference":"Patient/p2"},"vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"140"}]},"occurrenceDateTime":"1970-01-02"}"#,
            "Patient/p2: d immunization cvx:140 Some(86400)",
        );
        check(
            r#"{"resourceType":"Immunization","status":"not-done","patient":{"reference":"Patient/p2"}}"#,
            "skipped NotDone",
        );
        check(
            r#"{"resourceType":"Immunization","notGiven":true,"patient":{"reference":"Patient/p2"}}"#,
            "skipped NotDone",
        );
        check(
            r#"{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/p3"},"code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980"}]},"reaction":[{"manifestation":[{"coding":[{"system":"http://snomed.info/sct","code":"247472004"}]}]}]}"#,
            "Patient/p3: o allergy rxnorm:7980 None Some(\"snomed:247472004\")",
        );
        check(
            r#"{"resourceType":"AllergyIntolerance","subject":{"reference":"Patient/p3"},"code":{"coding":[{"code":"1"}]}}"#,
            "error patient: missing patient",
        );
        check(
            &format!(
                r#"{{"resourceType":"DiagnosticReport",{SUBJ},"code":{{"coding":[{{"system":"http://loinc.org","code":"24323-8"}}]}},"issued":"1970-01-02T00:00:00Z"}}"#
            ),
            "Patient/p1: o diagnostic_report loinc:24323-8 Some(86400) None",
        );
        check(r#"{"resourceType":"Practitioner"}"#, "unsupported");
    }
}
