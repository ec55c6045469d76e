//! The slice of FHIR R4 JSON that ingest reads: one light, borrowing struct with only the fields the store
//! needs (unknown fields are skipped by the parser, never materialised), plus the date, reference and code
//! helpers. These types hold raw identifying data (ids, birth dates) and therefore derive neither `Debug`
//! nor `Serialize`.

use agora_protocol::CodeSystem;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// The UCUM code system URI.
pub(crate) const UCUM_URI: &str = "http://unitsofmeasure.org";

/// A FHIR resource, reduced to the fields ingest uses (the union over the supported resource types).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Resource<'a> {
    #[serde(borrow)]
    pub(crate) resource_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) status: Option<Cow<'a, str>>,
    // Patient
    #[serde(borrow)]
    pub(crate) gender: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) birth_date: Option<Cow<'a, str>>,
    pub(crate) deceased_boolean: Option<bool>,
    pub(crate) deceased_date_time: Option<IgnoredAny>,
    // Subject
    #[serde(borrow)]
    pub(crate) subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub(crate) patient: Option<Reference<'a>>,
    // Codes
    #[serde(borrow)]
    pub(crate) code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub(crate) vaccine_code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub(crate) medication_codeable_concept: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub(crate) medication_reference: Option<Reference<'a>>,
    #[serde(borrow)]
    pub(crate) verification_status: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub(crate) conclusion_code: Option<Vec<CodeableConcept<'a>>>,
    #[serde(borrow)]
    pub(crate) reaction: Option<Vec<Reaction<'a>>>,
    #[serde(borrow)]
    pub(crate) class: Option<Coding<'a>>,
    #[serde(borrow)]
    pub(crate) contained: Option<Vec<Contained<'a>>>,
    pub(crate) not_given: Option<bool>,
    // Values
    #[serde(borrow)]
    pub(crate) value_quantity: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub(crate) value_codeable_concept: Option<CodeableConcept<'a>>,
    pub(crate) value_integer: Option<Num>,
    #[serde(borrow)]
    pub(crate) component: Option<Vec<Component<'a>>>,
    // Times
    #[serde(borrow)]
    pub(crate) effective_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) effective_instant: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) effective_period: Option<Period<'a>>,
    #[serde(borrow)]
    pub(crate) issued: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) onset_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) onset_period: Option<Period<'a>>,
    #[serde(borrow)]
    pub(crate) recorded_date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) authored_on: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) date_asserted: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) occurrence_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) performed_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) performed_period: Option<Period<'a>>,
    #[serde(borrow)]
    pub(crate) period: Option<Period<'a>>,
}

/// Just the type and id, read leniently when the full parse failed, to name the resource in the error.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Head<'a> {
    #[serde(borrow, default)]
    pub(crate) resource_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct Reference<'a> {
    #[serde(borrow)]
    pub(crate) reference: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct CodeableConcept<'a> {
    #[serde(borrow)]
    pub(crate) coding: Option<Vec<Coding<'a>>>,
}

#[derive(Deserialize)]
pub(crate) struct Coding<'a> {
    #[serde(borrow)]
    pub(crate) system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct Quantity<'a> {
    pub(crate) value: Option<Num>,
    #[serde(borrow)]
    pub(crate) comparator: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) unit: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Component<'a> {
    #[serde(borrow)]
    pub(crate) code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub(crate) value_quantity: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub(crate) value_codeable_concept: Option<CodeableConcept<'a>>,
    pub(crate) value_integer: Option<Num>,
}

#[derive(Deserialize)]
pub(crate) struct Period<'a> {
    #[serde(borrow)]
    pub(crate) start: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) end: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct Reaction<'a> {
    #[serde(borrow)]
    pub(crate) manifestation: Option<Vec<CodeableConcept<'a>>>,
}

/// A contained resource: only a contained Medication's code is used (`medicationReference: "#med"`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Contained<'a> {
    #[serde(borrow)]
    pub(crate) resource_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) code: Option<CodeableConcept<'a>>,
}

/// A JSON value that should be a number. Anything else is kept as `NotNumber` (and reported by ingest)
/// instead of failing the parse with a message that would quote the value.
#[derive(Clone, Copy)]
pub(crate) enum Num {
    Number(f64),
    NotNumber,
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num::Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num::Number(v as f64))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Num, E> {
                Ok(Num::NotNumber)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Num, E> {
                Ok(Num::NotNumber)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num::NotNumber)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Num, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Num::NotNumber)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Num, A::Error> {
                // serde_json's `arbitrary_precision` (on in this build, for `ssi`) hands a non-integer
                // number over as {"$serde_json::private::Number": "<digits>"}.
                let mut number = None;
                let mut other = false;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == agora_protocol::number::PRIVATE_NUMBER_KEY && number.is_none() && !other {
                        let text: std::borrow::Cow<'de, str> = map.next_value()?;
                        number = text.parse::<f64>().ok();
                    } else {
                        other = true;
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(match (number, other) {
                    (Some(x), false) => Num::Number(x),
                    _ => Num::NotNumber,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// The resource types of FHIR R4 (4.0.1). A type outside this list is an error; one inside it that ingest
/// does not map is skipped and counted.
pub(crate) const R4_RESOURCE_TYPES: &[&str] = &[
    "Account",
    "ActivityDefinition",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "Binary",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "Bundle",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "CompartmentDefinition",
    "Composition",
    "ConceptMap",
    "Condition",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "GraphDefinition",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "ImplementationGuide",
    "InsurancePlan",
    "Invoice",
    "Library",
    "Linkage",
    "List",
    "Location",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationKnowledge",
    "MedicationRequest",
    "MedicationStatement",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductContraindication",
    "MedicinalProductIndication",
    "MedicinalProductIngredient",
    "MedicinalProductInteraction",
    "MedicinalProductManufactured",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect",
    "MessageDefinition",
    "MessageHeader",
    "MolecularSequence",
    "NamingSystem",
    "NutritionOrder",
    "Observation",
    "ObservationDefinition",
    "OperationDefinition",
    "OperationOutcome",
    "Organization",
    "OrganizationAffiliation",
    "Parameters",
    "Patient",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "Specimen",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Subscription",
    "Substance",
    "SubstanceNucleicAcid",
    "SubstancePolymer",
    "SubstanceProtein",
    "SubstanceReferenceInformation",
    "SubstanceSourceMaterial",
    "SubstanceSpecification",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "TerminologyCapabilities",
    "TestReport",
    "TestScript",
    "ValueSet",
    "VerificationResult",
    "VisionPrescription",
];

/// The interned name of an R4 resource type, if `name` is one.
pub(crate) fn r4_type(name: &str) -> Option<&'static str> {
    R4_RESOURCE_TYPES.binary_search(&name).ok().map(|i| R4_RESOURCE_TYPES[i])
}

/// The `(type, id)` a literal reference points to: `Patient/123`, `Patient/123/_history/2` or an absolute
/// URL ending in `Patient/123`. `None` for `urn:uuid:` / `#contained` / malformed references.
pub(crate) fn reference_target(reference: &str) -> Option<(&str, &str)> {
    let r = reference.find("/_history/").map_or(reference, |i| &reference[..i]);
    let mut parts = r.rsplitn(3, '/');
    let id = parts.next()?;
    let ty = parts.next()?;
    (!id.is_empty() && !ty.is_empty() && !ty.contains(':')).then_some((ty, id))
}

/// A code picked from a CodeableConcept: the first coding with a known system (stored under its short
/// name), else the first coding with a code (stored under its raw system URI).
pub(crate) fn pick_code<'a>(cc: &CodeableConcept<'a>) -> Option<(Cow<'a, str>, Cow<'a, str>)> {
    let codings = cc.coding.as_deref()?;
    let usable = || codings.iter().filter(|c| c.code.as_deref().is_some_and(|c| !c.trim().is_empty()));
    if let Some((c, sys)) =
        usable().find_map(|c| c.system.as_deref().and_then(CodeSystem::from_uri).map(|sys| (c, sys)))
    {
        return Some((Cow::Borrowed(sys.short()), c.code.clone()?));
    }
    let c = usable().next()?;
    let system = c.system.clone().filter(|s| !s.is_empty()).unwrap_or(Cow::Borrowed("(none)"));
    Some((system, c.code.clone()?))
}

/// Seconds since the Unix epoch of a FHIR `date`, `dateTime` or `instant`: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`,
/// or `YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]`. Partial dates mean the start of the period; a time without
/// zone is read as UTC.
pub(crate) fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let t = b.get(from..from + len)?;
        t.iter().all(u8::is_ascii_digit).then(|| t.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
    };
    let year = num(0, 4)?;
    let (mut month, mut day, mut pos) = (1, 1, 4);
    if b.len() > 4 {
        if b[4] != b'-' {
            return None;
        }
        month = num(5, 2)?;
        pos = 7;
        if b.len() > 7 {
            if b[7] != b'-' {
                return None;
            }
            day = num(8, 2)?;
            pos = 10;
        }
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = 0;
    if pos < b.len() {
        if b[pos] != b'T' || pos != 10 {
            return None;
        }
        let (hh, mm) = (num(11, 2)?, num(14, 2)?);
        if b.get(13) != Some(&b':') || hh > 23 || mm > 59 {
            return None;
        }
        secs = hh * 3600 + mm * 60;
        pos = 16;
        if b.get(pos) == Some(&b':') {
            let ss = num(17, 2)?;
            if ss > 60 {
                return None;
            }
            secs += ss;
            pos = 19;
            if b.get(pos) == Some(&b'.') {
                pos += 1;
                let start = pos;
                while b.get(pos).is_some_and(u8::is_ascii_digit) {
                    pos += 1;
                }
                if pos == start {
                    return None;
                }
            }
        }
        match b.get(pos) {
            None => {}
            Some(b'Z') => pos += 1,
            Some(&sign @ (b'+' | b'-')) => {
                let (oh, om) = (num(pos + 1, 2)?, num(pos + 4, 2)?);
                if b.get(pos + 3) != Some(&b':') || oh > 14 || om > 59 {
                    return None;
                }
                let offset = oh * 3600 + om * 60;
                secs -= if sign == b'+' { offset } else { -offset };
                pos += 6;
            }
            Some(_) => return None,
        }
        if pos != b.len() {
            return None;
        }
    }
    Some(days_from_civil(year, month, day) * 86_400 + secs)
}

/// Year and month of a FHIR date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`); the day is validated, then dropped.
pub(crate) fn year_month(s: &str) -> Option<(i64, Option<i64>)> {
    if s.len() > 10 {
        return None;
    }
    parse_datetime(s)?;
    let year = s.get(..4)?.parse().ok()?;
    let month = if s.len() >= 7 { Some(s.get(5..7)?.parse().ok()?) } else { None };
    Some((year, month))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Option<i64>) {
        assert_eq!(parse_datetime(input), expect, "{input}");
    }

    #[test]
    fn parses_fhir_dates_and_times() {
        check("1970-01-01", Some(0));
        check("2026-01-01T09:00:00Z", Some(1_767_258_000));
        check("2026-01-01T09:00:00.123Z", Some(1_767_258_000));
        check("2026-01-01T10:00:00+01:00", Some(1_767_258_000));
        check("2026-01-01T08:30:00-00:30", Some(1_767_258_000));
        check("2026-01-01T09:00Z", Some(1_767_258_000));
        check("2026", Some(1_767_225_600));
        check("2026-01", Some(1_767_225_600));
        check("2024-02-29", Some(1_709_164_800));
        check("1900-03-01", Some(-2_203_891_200));
        check("2023-02-29", None);
        check("2026-13-01", None);
        check("2026-1-01", None);
        check("26-01-01", None);
        check("2026-01-01T25:00:00Z", None);
        check("2026-01-01T09:00:00X", None);
        check("2026-01-01 09:00:00", None);
        check("", None);
        check("2026-01-01T09:00:00.Z", None);
    }

    #[test]
    fn year_and_month_of_birth() {
        assert_eq!(year_month("1939-06-09"), Some((1939, Some(6))));
        assert_eq!(year_month("1939-06"), Some((1939, Some(6))));
        assert_eq!(year_month("1939"), Some((1939, None)));
        assert_eq!(year_month("1939-06-31"), None);
        assert_eq!(year_month("junk"), None);
    }

    #[test]
    fn references() {
        assert_eq!(reference_target("Patient/abc"), Some(("Patient", "abc")));
        assert_eq!(reference_target("Patient/abc/_history/3"), Some(("Patient", "abc")));
        assert_eq!(reference_target("https://x.org/fhir/Patient/abc"), Some(("Patient", "abc")));
        assert_eq!(reference_target("urn:uuid:81b4bea4"), None);
        assert_eq!(reference_target("#p1"), None);
        assert_eq!(reference_target("Patient/"), None);
    }

    #[test]
    fn picks_known_system_first() {
        let cc: CodeableConcept<'_> = serde_json::from_str(
            r#"{"coding":[{"system":"http://acme.org","code":"x1"},{"system":"http://loinc.org","code":"2345-7"}]}"#,
        )
        .unwrap();
        let (s, c) = pick_code(&cc).unwrap();
        assert_eq!((s.as_ref(), c.as_ref()), ("loinc", "2345-7"));
        let cc: CodeableConcept<'_> =
            serde_json::from_str(r#"{"coding":[{"code":""},{"system":"http://acme.org","code":"x1"}]}"#).unwrap();
        let (s, c) = pick_code(&cc).unwrap();
        assert_eq!((s.as_ref(), c.as_ref()), ("http://acme.org", "x1"));
        let cc: CodeableConcept<'_> = serde_json::from_str(r#"{"text":"free text only"}"#).unwrap();
        assert!(pick_code(&cc).is_none());
    }

    #[test]
    fn resource_type_list_is_sorted() {
        assert!(R4_RESOURCE_TYPES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(r4_type("Practitioner"), Some("Practitioner"));
        assert_eq!(r4_type("Patientt"), None);
    }
}
