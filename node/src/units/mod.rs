//! Units of clinical values. Every variable the node knows (a LOINC code) has one canonical UCUM unit, a
//! molar mass where mass ↔ amount conversions are needed, and a plausible range; [`target`] tells ingest how
//! to bring a value in any compatible unit into that canonical unit, so that, e.g., glucose recorded in
//! mg/dL and in mmol/L lands in one unit and can be aggregated.
//!
//! The parser ([`ucum`]) covers the common UCUM grammar. A variable not in the table keeps its unit as
//! given if it is valid UCUM. This module never sees who a value belongs to and never logs values.

pub mod ucum;

pub use ucum::{parse, Dimension, Scale, UcumError, Unit};

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A variable: a LOINC code with its canonical unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variable {
    /// The LOINC code.
    pub code: &'static str,
    /// A short name, for messages.
    pub name: &'static str,
    /// The canonical UCUM unit every value is stored in.
    pub canonical: &'static str,
    /// Molar mass in g/mol, for mass ↔ amount-of-substance conversions.
    pub molar_mass: Option<f64>,
    /// Plausible range, inclusive, in the canonical unit; values outside are stored but flagged.
    pub plausible: (f64, f64),
    /// HbA1c: a value in mmol/mol (IFCC) converts to % (NGSP) by the master equation, not by a factor.
    pub hba1c_ifcc: bool,
}

const fn var(
    code: &'static str,
    name: &'static str,
    canonical: &'static str,
    molar_mass: Option<f64>,
    plausible: (f64, f64),
) -> Variable {
    Variable { code, name, canonical, molar_mass, plausible, hba1c_ifcc: false }
}

/// Molar mass of glucose, g/mol.
pub const GLUCOSE_MOLAR_MASS: f64 = 180.156;
const CHOLESTEROL: f64 = 386.65;
const TRIGLYCERIDE: f64 = 885.7;
const CREATININE: f64 = 113.12;

/// The variables the node knows, with their canonical units and plausible ranges (wide: they catch unit
/// mix-ups and typing errors, not disease).
pub const VARIABLES: &[Variable] = &[
    // Chemistry
    var("2345-7", "glucose (serum/plasma)", "mg/dL", Some(GLUCOSE_MOLAR_MASS), (10.0, 2000.0)),
    var("2339-0", "glucose (blood)", "mg/dL", Some(GLUCOSE_MOLAR_MASS), (10.0, 2000.0)),
    var("15074-8", "glucose (blood, moles/volume)", "mg/dL", Some(GLUCOSE_MOLAR_MASS), (10.0, 2000.0)),
    var("1558-6", "glucose (fasting)", "mg/dL", Some(GLUCOSE_MOLAR_MASS), (10.0, 2000.0)),
    Variable { hba1c_ifcc: true, ..var("4548-4", "HbA1c", "%", None, (3.0, 20.0)) },
    Variable { hba1c_ifcc: true, ..var("17856-6", "HbA1c (HPLC)", "%", None, (3.0, 20.0)) },
    var("2093-3", "cholesterol", "mg/dL", Some(CHOLESTEROL), (40.0, 1000.0)),
    var("2085-9", "HDL cholesterol", "mg/dL", Some(CHOLESTEROL), (5.0, 250.0)),
    var("13457-7", "LDL cholesterol (calculated)", "mg/dL", Some(CHOLESTEROL), (0.0, 800.0)),
    var("18262-6", "LDL cholesterol (direct)", "mg/dL", Some(CHOLESTEROL), (0.0, 800.0)),
    var("2089-1", "LDL cholesterol", "mg/dL", Some(CHOLESTEROL), (0.0, 800.0)),
    var("2571-8", "triglycerides", "mg/dL", Some(TRIGLYCERIDE), (10.0, 10_000.0)),
    var("2160-0", "creatinine", "mg/dL", Some(CREATININE), (0.05, 30.0)),
    var("38483-4", "creatinine (blood)", "mg/dL", Some(CREATININE), (0.05, 30.0)),
    var("98979-8", "eGFR (CKD-EPI 2021)", "mL/min/{1.73_m2}", None, (1.0, 200.0)),
    var("33914-3", "eGFR (MDRD)", "mL/min/{1.73_m2}", None, (1.0, 200.0)),
    var("62238-1", "eGFR (CKD-EPI)", "mL/min/{1.73_m2}", None, (1.0, 200.0)),
    var("3094-0", "urea nitrogen", "mg/dL", Some(28.0134), (1.0, 300.0)),
    var("2951-2", "sodium", "mmol/L", None, (90.0, 200.0)),
    var("2947-0", "sodium (blood)", "mmol/L", None, (90.0, 200.0)),
    var("2823-3", "potassium", "mmol/L", None, (1.0, 10.0)),
    var("6298-4", "potassium (blood)", "mmol/L", None, (1.0, 10.0)),
    var("2075-0", "chloride", "mmol/L", None, (50.0, 160.0)),
    var("2028-9", "carbon dioxide", "mmol/L", None, (3.0, 60.0)),
    var("17861-6", "calcium", "mg/dL", Some(40.078), (2.0, 20.0)),
    var("1751-7", "albumin", "g/dL", None, (0.5, 8.0)),
    var("2885-2", "protein", "g/dL", None, (1.0, 15.0)),
    var("1975-2", "bilirubin (total)", "mg/dL", Some(584.66), (0.0, 60.0)),
    var("1742-6", "ALT", "U/L", None, (1.0, 20_000.0)),
    var("1920-8", "AST", "U/L", None, (1.0, 20_000.0)),
    var("6768-6", "alkaline phosphatase", "U/L", None, (5.0, 5000.0)),
    var("9318-7", "albumin/creatinine (urine)", "mg/g", Some(CREATININE), (0.0, 20_000.0)),
    var("14957-5", "microalbumin (urine)", "mg/dL", None, (0.0, 2000.0)),
    var("3016-3", "TSH", "m[IU]/L", None, (0.001, 500.0)),
    // Haematology
    var("718-7", "haemoglobin", "g/dL", Some(16_114.5), (2.0, 25.0)),
    var("4544-3", "haematocrit", "%", None, (10.0, 75.0)),
    var("789-8", "erythrocytes", "10*6/uL", None, (0.5, 10.0)),
    var("6690-2", "leukocytes", "10*3/uL", None, (0.1, 500.0)),
    var("777-3", "platelets", "10*3/uL", None, (1.0, 3000.0)),
    // Vital signs and body measures
    var("8480-6", "systolic blood pressure", "mm[Hg]", None, (40.0, 300.0)),
    var("8462-4", "diastolic blood pressure", "mm[Hg]", None, (20.0, 200.0)),
    var("8478-0", "mean blood pressure", "mm[Hg]", None, (20.0, 250.0)),
    var("8867-4", "heart rate", "/min", None, (20.0, 300.0)),
    var("9279-1", "respiratory rate", "/min", None, (3.0, 80.0)),
    var("8310-5", "body temperature", "Cel", None, (25.0, 45.0)),
    var("8331-1", "oral temperature", "Cel", None, (25.0, 45.0)),
    var("59408-5", "oxygen saturation (pulse oximetry)", "%", None, (40.0, 100.0)),
    var("2708-6", "oxygen saturation (arterial)", "%", None, (40.0, 100.0)),
    var("2710-2", "oxygen saturation (capillary)", "%", None, (40.0, 100.0)),
    var("29463-7", "body weight", "kg", None, (0.3, 400.0)),
    var("3141-9", "body weight (measured)", "kg", None, (0.3, 400.0)),
    var("8302-2", "body height", "cm", None, (30.0, 250.0)),
    var("8306-3", "body height (lying)", "cm", None, (30.0, 250.0)),
    var("8287-5", "head circumference", "cm", None, (20.0, 80.0)),
    var("9843-4", "head circumference (OFC)", "cm", None, (20.0, 80.0)),
    var("39156-5", "body mass index", "kg/m2", None, (8.0, 120.0)),
    var("8280-0", "waist circumference", "cm", None, (30.0, 250.0)),
];

/// The variable for a LOINC code, if the node knows it.
pub fn variable(loinc: &str) -> Option<&'static Variable> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Variable>> = OnceLock::new();
    INDEX.get_or_init(|| VARIABLES.iter().map(|v| (v.code, v)).collect()).get(loinc).copied()
}

/// Why a value's unit cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    /// Not valid UCUM.
    #[error(transparent)]
    Ucum(#[from] UcumError),
    /// Valid UCUM, but of another dimension than the variable's canonical unit.
    #[error("unit `{unit}` cannot be converted to {canonical} (the unit of {name}): use a unit of the same kind")]
    Incompatible {
        /// The unit given.
        unit: String,
        /// The canonical unit.
        canonical: &'static str,
        /// The variable's name.
        name: &'static str,
    },
}

/// An affine conversion `to = a × from + b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversion {
    /// Slope.
    pub a: f64,
    /// Offset.
    pub b: f64,
}

impl Conversion {
    /// The identity.
    pub const IDENTITY: Conversion = Conversion { a: 1.0, b: 0.0 };

    /// Converts a value.
    pub fn apply(&self, value: f64) -> f64 {
        self.a * value + self.b
    }
}

/// The conversion from `from` to `to`, if their dimensions match, or differ by mass ↔ amount of substance
/// and a molar mass (g/mol) is given.
pub fn conversion(from: &Unit, to: &Unit, molar_mass: Option<f64>) -> Option<Conversion> {
    let mut mass_per_amount = Dimension::NONE;
    mass_per_amount.0[Dimension::MASS] = 1;
    mass_per_amount.0[Dimension::AMOUNT] = -1;
    let k = if from.dim == to.dim {
        1.0
    } else if to.dim.per(from.dim) == mass_per_amount {
        molar_mass?
    } else if from.dim.per(to.dim) == mass_per_amount {
        1.0 / molar_mass?
    } else {
        return None;
    };
    let (fa, oa) = from.to_base();
    let (fb, ob) = to.to_base();
    Some(Conversion { a: fa * k / fb, b: (oa * k - ob) / fb })
}

/// Where a value of some code in some unit goes: the unit it is stored in, how to convert it, and the
/// plausible range there.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The unit stored: the variable's canonical unit, or the unit as given for variables not in the table.
    pub unit: Cow<'static, str>,
    /// From the given unit to `unit`.
    pub conversion: Conversion,
    /// The plausible range in `unit`, for known variables.
    pub plausible: Option<(f64, f64)>,
}

impl Target {
    /// Whether a converted value lies outside the plausible range.
    pub fn implausible(&self, value: f64) -> bool {
        self.plausible.is_some_and(|(lo, hi)| !(lo..=hi).contains(&value))
    }
}

/// The target for a value of `code` (a LOINC code when `loinc` is set) recorded in the UCUM unit `unit`.
pub fn target(loinc: bool, code: &str, unit: &str) -> Result<Target, UnitError> {
    let from = parse(unit)?;
    let Some(var) = loinc.then(|| variable(code)).flatten() else {
        return Ok(Target { unit: Cow::Owned(unit.to_string()), conversion: Conversion::IDENTITY, plausible: None });
    };
    let to = canonical_unit(var);
    let incompatible = || UnitError::Incompatible { unit: unit.to_string(), canonical: var.canonical, name: var.name };
    let conversion = if var.hba1c_ifcc && from.mentions_amount && from.dim == Dimension::NONE {
        // IFCC mmol/mol → NGSP %: % = 0.09148 × mmol/mol + 2.152 (the IFCC–NGSP master equation).
        let per_mmol_mol = from.factor / 1e-3;
        Conversion { a: 0.09148 * per_mmol_mol, b: 2.152 }
    } else {
        conversion(&from, &to, var.molar_mass).ok_or_else(incompatible)?
    };
    Ok(Target { unit: Cow::Borrowed(var.canonical), conversion, plausible: Some(var.plausible) })
}

fn canonical_unit(var: &Variable) -> Unit {
    static UNITS: OnceLock<HashMap<&'static str, Unit>> = OnceLock::new();
    let units = UNITS.get_or_init(|| {
        VARIABLES.iter().map(|v| (v.code, parse(v.canonical).expect("the variable table holds valid UCUM"))).collect()
    });
    units[var.code]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: &str, unit: &str, value: f64, expect: Result<(f64, &str), &str>) {
        let got = target(true, code, unit).map(|t| (t.conversion.apply(value), t.unit.into_owned()));
        match (got, expect) {
            (Ok((v, u)), Ok((ev, eu))) => {
                assert!((v - ev).abs() <= 1e-9 * ev.abs().max(1.0), "{code} {value} {unit}: {v} != {ev}");
                assert_eq!(u, eu, "{code} {unit}");
            }
            (Err(e), Err(fragment)) => assert!(e.to_string().contains(fragment), "{code} {unit}: {e}"),
            (got, want) => panic!("{code} {unit}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn converts_to_canonical_units() {
        check("2345-7", "mg/dL", 99.0, Ok((99.0, "mg/dL")));
        check("2345-7", "mmol/L", 5.5, Ok((5.5 * 180.156 / 10.0, "mg/dL")));
        check("2345-7", "g/L", 1.0, Ok((100.0, "mg/dL")));
        check("2093-3", "mmol/L", 5.0, Ok((5.0 * 386.65 / 10.0, "mg/dL")));
        check("2571-8", "mmol/L", 1.7, Ok((1.7 * 885.7 / 10.0, "mg/dL")));
        check("2160-0", "umol/L", 88.4, Ok((88.4 * 113.12 / 10_000.0, "mg/dL")));
        check("29463-7", "[lb_av]", 185.0, Ok((185.0 * 0.453_592_37, "kg")));
        check("29463-7", "g", 3500.0, Ok((3.5, "kg")));
        check("8302-2", "[in_i]", 70.0, Ok((177.8, "cm")));
        check("8302-2", "m", 1.8, Ok((180.0, "cm")));
        check("8310-5", "[degF]", 98.6, Ok((37.0, "Cel")));
        check("8310-5", "K", 310.15, Ok((37.0, "Cel")));
        check("8480-6", "mm[Hg]", 120.0, Ok((120.0, "mm[Hg]")));
        check("8480-6", "kPa", 16.0, Ok((16_000.0 / 133.322, "mm[Hg]")));
        check("8867-4", "/s", 1.0, Ok((60.0, "/min")));
        check("4548-4", "mmol/mol", 48.0, Ok((0.09148 * 48.0 + 2.152, "%")));
        check("4548-4", "1", 0.065, Ok((6.5, "%")));
        check("9318-7", "mg/mmol", 3.0, Ok((3.0 / 0.113_12, "mg/g")));
        check("98979-8", "mL/min/{1.73_m2}", 90.0, Ok((90.0, "mL/min/{1.73_m2}")));
        check("2345-7", "mmHg", 1.0, Err("`mmHg` is not a UCUM unit"));
        check("2345-7", "kg", 1.0, Err("cannot be converted to mg/dL"));
        check("2951-2", "mg/dL", 1.0, Err("cannot be converted to mmol/L"));
        check("6690-2", "mmol/L", 1.0, Err("cannot be converted"));
        check("24701-5", "g/cm2", 0.887, Ok((0.887, "g/cm2")));
    }

    #[test]
    fn unknown_variables_keep_their_unit() {
        let t = target(false, "5085AAAA", "mm[Hg]").unwrap();
        assert_eq!((t.unit.as_ref(), t.plausible), ("mm[Hg]", None));
        assert!(target(false, "5087AAAA", "beats/minute").is_err());
    }

    #[test]
    fn every_canonical_unit_parses_and_ranges_are_ordered() {
        for v in VARIABLES {
            assert!(parse(v.canonical).is_ok(), "{}", v.code);
            assert!(v.plausible.0 < v.plausible.1, "{}", v.code);
            assert_eq!(variable(v.code), Some(v));
        }
        assert_eq!(VARIABLES.len(), variable_codes_unique());
    }

    fn variable_codes_unique() -> usize {
        VARIABLES.iter().map(|v| v.code).collect::<std::collections::HashSet<_>>().len()
    }

    #[test]
    fn implausible_values_are_flagged() {
        let t = target(true, "8867-4", "/min").unwrap();
        assert!(!t.implausible(60.0));
        assert!(t.implausible(900.0));
        assert!(!target(false, "x", "m").unwrap().implausible(1e9));
    }
}
