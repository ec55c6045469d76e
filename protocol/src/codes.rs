//! Clinical code systems and codes. A code always carries its system: `E11.9` means nothing until it is
//! known to be ICD-10-CM.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The code systems a federated query may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CodeSystem {
    /// LOINC: observations and measurements.
    Loinc,
    /// ICD-10-CM: diagnoses.
    Icd10Cm,
    /// SNOMED CT: diagnoses, procedures, findings.
    SnomedCt,
    /// RxNorm: medications.
    RxNorm,
    /// CVX: vaccines.
    Cvx,
}

impl CodeSystem {
    /// All systems, in a stable order.
    pub const ALL: [CodeSystem; 5] =
        [CodeSystem::Loinc, CodeSystem::Icd10Cm, CodeSystem::SnomedCt, CodeSystem::RxNorm, CodeSystem::Cvx];

    /// The canonical FHIR system URI.
    pub fn uri(self) -> &'static str {
        match self {
            CodeSystem::Loinc => "http://loinc.org",
            CodeSystem::Icd10Cm => "http://hl7.org/fhir/sid/icd-10-cm",
            CodeSystem::SnomedCt => "http://snomed.info/sct",
            CodeSystem::RxNorm => "http://www.nlm.nih.gov/research/umls/rxnorm",
            CodeSystem::Cvx => "http://hl7.org/fhir/sid/cvx",
        }
    }

    /// The short name used in the readable query form and in the store.
    pub fn short(self) -> &'static str {
        match self {
            CodeSystem::Loinc => "loinc",
            CodeSystem::Icd10Cm => "icd10cm",
            CodeSystem::SnomedCt => "snomed",
            CodeSystem::RxNorm => "rxnorm",
            CodeSystem::Cvx => "cvx",
        }
    }

    /// The system for a FHIR system URI, if it is one we know.
    pub fn from_uri(uri: &str) -> Option<CodeSystem> {
        CodeSystem::ALL.into_iter().find(|s| s.uri() == uri)
    }

    /// The system for a short name (`loinc`, `icd10cm`, ...).
    pub fn from_short(short: &str) -> Option<CodeSystem> {
        let lower = short.to_ascii_lowercase();
        CodeSystem::ALL.into_iter().find(|s| s.short() == lower)
    }
}

impl fmt::Display for CodeSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// One code in one system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Code {
    /// The code system.
    pub system: CodeSystem,
    /// The code itself, as the system writes it.
    pub code: String,
}

impl Code {
    /// A code in a system.
    pub fn new(system: CodeSystem, code: impl Into<String>) -> Self {
        Code { system, code: code.into() }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.system, self.code)
    }
}

impl FromStr for Code {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (sys, code) =
            s.split_once(':').ok_or_else(|| format!("code `{s}` must be written system:code, e.g. loinc:2345-7"))?;
        let system = CodeSystem::from_short(sys)
            .ok_or_else(|| format!("unknown code system `{sys}`: use loinc, icd10cm, snomed, rxnorm or cvx"))?;
        if code.is_empty() || code.ends_with('*') {
            return Err(format!("code `{s}` must name one code, without a wildcard"));
        }
        Ok(Code::new(system, code))
    }
}

/// A code, or every code that starts with a prefix (`icd10cm:E11*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CodeMatch {
    /// The code system.
    pub system: CodeSystem,
    /// The code, or the prefix when `prefix` is set.
    pub code: String,
    /// Match every code that starts with `code`.
    #[serde(default)]
    pub prefix: bool,
}

impl fmt::Display for CodeMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}{}", self.system, self.code, if self.prefix { "*" } else { "" })
    }
}

impl FromStr for CodeMatch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (body, prefix) = match s.strip_suffix('*') {
            Some(b) => (b, true),
            None => (s, false),
        };
        let code: Code = body.parse()?;
        Ok(CodeMatch { system: code.system, code: code.code, prefix })
    }
}

/// Administrative sex as FHIR records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// `female`
    Female,
    /// `male`
    Male,
    /// `other`
    Other,
    /// `unknown` or absent
    Unknown,
}

impl Sex {
    /// Every value, in display order.
    pub const ALL: [Sex; 4] = [Sex::Female, Sex::Male, Sex::Other, Sex::Unknown];

    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }

    /// From a FHIR `gender` code.
    pub fn from_fhir(code: &str) -> Option<Sex> {
        Sex::ALL.into_iter().find(|s| s.as_str() == code)
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_match_parses_prefix_and_system() {
        let m: CodeMatch = "icd10cm:E11*".parse().unwrap();
        assert_eq!(m, CodeMatch { system: CodeSystem::Icd10Cm, code: "E11".into(), prefix: true });
        assert_eq!(m.to_string(), "icd10cm:E11*");
        assert!("E11".parse::<CodeMatch>().unwrap_err().contains("system:code"));
        assert!("icd9:250".parse::<CodeMatch>().unwrap_err().contains("unknown code system"));
    }

    #[test]
    fn system_uris_round_trip() {
        for s in CodeSystem::ALL {
            assert_eq!(CodeSystem::from_uri(s.uri()), Some(s));
            assert_eq!(CodeSystem::from_short(s.short()), Some(s));
        }
    }
}
