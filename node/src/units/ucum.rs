//! A small parser for the common grammar of UCUM unit expressions (<https://ucum.org/ucum>): prefixed atoms,
//! integer exponents (`m2`, `s-1`), the operators `.` and `/`, a leading `/`, parentheses, integer factors
//! (`4.s`), `10*N` / `10^N`, and `{annotations}` (which count as 1).
//!
//! It covers the units clinical data uses (mass, length, volume, amount of substance, time, pressure,
//! temperature, enzyme and international units, counts per volume), not the whole UCUM table. Unlike UCUM,
//! the mole is a base dimension here rather than a count of 6.022e23, so that a count per volume
//! (`10*3/uL`) can never be silently converted into an amount of substance (`mmol/L`); mass ↔ amount
//! conversions need a molar mass and are done by [`super::conversion`].

use std::fmt;

/// The number of base dimensions.
const N_DIM: usize = 7;

/// The base dimensions, in the order of [`Dimension`]'s exponents.
const BASE_NAMES: [&str; N_DIM] = ["m", "s", "g", "mol", "K", "[IU]", "rad"];

/// Exponents of the base dimensions metre, second, gram, mole, kelvin, international unit and radian.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Dimension(pub(crate) [i8; N_DIM]);

impl Dimension {
    pub(crate) const MASS: usize = 2;
    pub(crate) const AMOUNT: usize = 3;

    /// The dimension of a pure number.
    pub const NONE: Dimension = Dimension([0; N_DIM]);

    fn mul(self, other: Dimension) -> Dimension {
        let mut d = self.0;
        for (a, b) in d.iter_mut().zip(other.0) {
            *a = a.saturating_add(b);
        }
        Dimension(d)
    }

    fn pow(self, exp: i32) -> Dimension {
        let mut d = self.0;
        for a in d.iter_mut() {
            *a = (i32::from(*a) * exp).clamp(i8::MIN.into(), i8::MAX.into()) as i8;
        }
        Dimension(d)
    }

    /// `self / other`.
    pub fn per(self, other: Dimension) -> Dimension {
        self.mul(other.pow(-1))
    }
}

impl fmt::Debug for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, exp) in BASE_NAMES.iter().zip(self.0) {
            if exp == 0 {
                continue;
            }
            if !first {
                f.write_str(".")?;
            }
            first = false;
            write!(f, "{name}")?;
            if exp != 1 {
                write!(f, "{exp}")?;
            }
        }
        if first {
            f.write_str("1")?;
        }
        Ok(())
    }
}

/// How a unit maps to its base units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// `base = factor × value`.
    Ratio,
    /// Degrees Celsius: `K = value + 273.15`.
    Celsius,
    /// Degrees Fahrenheit: `K = (value + 459.67) × 5/9`.
    Fahrenheit,
}

/// A parsed unit expression: a factor to the base units, their dimension, and whether it is one of the
/// special (offset) temperature scales.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    /// Multiply a value in this unit by `factor` to get it in base units (for ratio scales).
    pub factor: f64,
    /// The dimension.
    pub dim: Dimension,
    /// Ratio or a special temperature scale.
    pub scale: Scale,
    /// Whether an amount-of-substance atom (`mol`, `eq`, `osm`) occurs, even when it cancels out (`mmol/mol`).
    pub mentions_amount: bool,
}

impl Unit {
    const ONE: Unit = Unit { factor: 1.0, dim: Dimension::NONE, scale: Scale::Ratio, mentions_amount: false };

    /// `(factor, offset)` such that `base = factor × value + offset`.
    pub fn to_base(&self) -> (f64, f64) {
        match self.scale {
            Scale::Ratio => (self.factor, 0.0),
            Scale::Celsius => (1.0, 273.15),
            Scale::Fahrenheit => (5.0 / 9.0, 459.67 * 5.0 / 9.0),
        }
    }

    fn mul(self, other: Unit) -> Unit {
        Unit {
            factor: self.factor * other.factor,
            dim: self.dim.mul(other.dim),
            scale: Scale::Ratio,
            mentions_amount: self.mentions_amount || other.mentions_amount,
        }
    }

    fn pow(self, exp: i32) -> Unit {
        Unit {
            factor: self.factor.powi(exp),
            dim: self.dim.pow(exp),
            scale: Scale::Ratio,
            mentions_amount: self.mentions_amount,
        }
    }
}

/// Why a unit expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UcumError {
    /// Empty expression.
    #[error("empty unit: give a UCUM unit code")]
    Empty,
    /// A symbol that is neither a known atom nor a prefixed metric atom.
    #[error("`{0}` is not a UCUM unit this node knows")]
    UnknownSymbol(String),
    /// A grammar error.
    #[error("unit `{expr}` is not valid UCUM: {reason}")]
    Syntax {
        /// The whole expression.
        expr: String,
        /// What is wrong.
        reason: &'static str,
    },
}

struct Atom {
    symbol: &'static str,
    metric: bool,
    factor: f64,
    dim: Dimension,
    scale: Scale,
}

const fn atom(symbol: &'static str, metric: bool, factor: f64, dim: [i8; N_DIM]) -> Atom {
    Atom { symbol, metric, factor, dim: Dimension(dim), scale: Scale::Ratio }
}

// Dimension vectors: [m, s, g, mol, K, [IU], rad].
const D0: [i8; N_DIM] = [0; N_DIM];
const LEN: [i8; N_DIM] = [1, 0, 0, 0, 0, 0, 0];
const TIME: [i8; N_DIM] = [0, 1, 0, 0, 0, 0, 0];
const MASS: [i8; N_DIM] = [0, 0, 1, 0, 0, 0, 0];
const AMOUNT: [i8; N_DIM] = [0, 0, 0, 1, 0, 0, 0];
const TEMP: [i8; N_DIM] = [0, 0, 0, 0, 1, 0, 0];
const IU: [i8; N_DIM] = [0, 0, 0, 0, 0, 1, 0];
const ANGLE: [i8; N_DIM] = [0, 0, 0, 0, 0, 0, 1];
const VOLUME: [i8; N_DIM] = [3, 0, 0, 0, 0, 0, 0];
const PRESSURE: [i8; N_DIM] = [-1, -2, 1, 0, 0, 0, 0];
const FORCE: [i8; N_DIM] = [1, -2, 1, 0, 0, 0, 0];
const ENERGY: [i8; N_DIM] = [2, -2, 1, 0, 0, 0, 0];
const POWER: [i8; N_DIM] = [2, -3, 1, 0, 0, 0, 0];
const FREQUENCY: [i8; N_DIM] = [0, -1, 0, 0, 0, 0, 0];
const CATALYTIC: [i8; N_DIM] = [0, -1, 0, 1, 0, 0, 0];

/// The atoms understood. Base units are m, s, g, mol, K; pressure is in g/(m.s2), so 1 Pa = 1000.
const ATOMS: &[Atom] = &[
    atom("m", true, 1.0, LEN),
    atom("s", true, 1.0, TIME),
    atom("g", true, 1.0, MASS),
    atom("mol", true, 1.0, AMOUNT),
    atom("eq", true, 1.0, AMOUNT),
    atom("osm", true, 1.0, AMOUNT),
    atom("K", true, 1.0, TEMP),
    Atom { symbol: "Cel", metric: true, factor: 1.0, dim: Dimension(TEMP), scale: Scale::Celsius },
    Atom { symbol: "[degF]", metric: false, factor: 5.0 / 9.0, dim: Dimension(TEMP), scale: Scale::Fahrenheit },
    atom("L", true, 1e-3, VOLUME),
    atom("l", true, 1e-3, VOLUME),
    atom("min", false, 60.0, TIME),
    atom("h", false, 3600.0, TIME),
    atom("d", false, 86_400.0, TIME),
    atom("wk", false, 604_800.0, TIME),
    atom("mo", false, 2_629_800.0, TIME),
    atom("a", false, 31_557_600.0, TIME),
    atom("U", true, 1e-6 / 60.0, CATALYTIC),
    atom("kat", true, 1.0, CATALYTIC),
    atom("[IU]", true, 1.0, IU),
    atom("[iU]", true, 1.0, IU),
    atom("%", false, 1e-2, D0),
    atom("[ppth]", false, 1e-3, D0),
    atom("[ppm]", false, 1e-6, D0),
    atom("[ppb]", false, 1e-9, D0),
    atom("10*", false, 10.0, D0),
    atom("10^", false, 10.0, D0),
    atom("[pi]", false, std::f64::consts::PI, D0),
    atom("[lb_av]", false, 453.592_37, MASS),
    atom("[oz_av]", false, 28.349_523_125, MASS),
    atom("[gr]", false, 0.064_798_91, MASS),
    atom("t", true, 1e6, MASS),
    atom("[in_i]", false, 0.0254, LEN),
    atom("[ft_i]", false, 0.3048, LEN),
    atom("[yd_i]", false, 0.9144, LEN),
    atom("[mi_i]", false, 1609.344, LEN),
    atom("m[Hg]", true, 133_322_000.0, PRESSURE),
    atom("m[H2O]", true, 9_806_650.0, PRESSURE),
    atom("Pa", true, 1000.0, PRESSURE),
    atom("bar", true, 1e8, PRESSURE),
    atom("atm", false, 101_325_000.0, PRESSURE),
    atom("N", true, 1000.0, FORCE),
    atom("J", true, 1000.0, ENERGY),
    atom("W", true, 1000.0, POWER),
    atom("cal", true, 4184.0, ENERGY),
    atom("[Cal]", false, 4_184_000.0, ENERGY),
    atom("Hz", true, 1.0, FREQUENCY),
    atom("rad", true, 1.0, ANGLE),
    atom("deg", false, std::f64::consts::PI / 180.0, ANGLE),
];

/// Prefixes, two-letter `da` before the one-letter ones.
const PREFIXES: &[(&str, f64)] = &[
    ("da", 1e1),
    ("Y", 1e24),
    ("Z", 1e21),
    ("E", 1e18),
    ("P", 1e15),
    ("T", 1e12),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("h", 1e2),
    ("d", 1e-1),
    ("c", 1e-2),
    ("m", 1e-3),
    ("u", 1e-6),
    ("\u{b5}", 1e-6),
    ("\u{3bc}", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
    ("f", 1e-15),
    ("a", 1e-18),
    ("z", 1e-21),
    ("y", 1e-24),
];

fn lookup_atom(symbol: &str) -> Option<&'static Atom> {
    ATOMS.iter().find(|a| a.symbol == symbol)
}

/// A symbol without exponent: an atom, or a prefix followed by a metric atom.
fn simple_unit(symbol: &str) -> Result<Unit, UcumError> {
    let from_atom = |a: &Atom, prefix: f64| Unit {
        factor: a.factor * prefix,
        dim: a.dim,
        scale: a.scale,
        mentions_amount: a.dim.0[Dimension::AMOUNT] != 0,
    };
    if let Some(a) = lookup_atom(symbol) {
        return Ok(from_atom(a, 1.0));
    }
    for (prefix, factor) in PREFIXES {
        if let Some(rest) = symbol.strip_prefix(prefix) {
            if let Some(a) = lookup_atom(rest).filter(|a| a.metric) {
                return Ok(from_atom(a, *factor));
            }
        }
    }
    Err(UcumError::UnknownSymbol(symbol.to_string()))
}

/// Parses a UCUM expression.
pub fn parse(expr: &str) -> Result<Unit, UcumError> {
    if expr.is_empty() {
        return Err(UcumError::Empty);
    }
    let mut p = Parser { expr, pos: 0, specials: 0, atoms: 0 };
    let unit = if p.eat(b'/') { p.term()?.pow(-1) } else { p.term()? };
    if p.pos != expr.len() {
        return Err(p.syntax(match p.peek() {
            Some(b')') => "unbalanced `)`",
            _ => "expected `.` or `/` between terms",
        }));
    }
    if p.specials > 0 {
        // Cel and [degF] are offset scales: they cannot be multiplied, divided or raised.
        if p.specials > 1 || p.atoms > 1 || unit.scale == Scale::Ratio {
            return Err(p.syntax("Cel and [degF] cannot be combined with other units or exponents"));
        }
    }
    Ok(unit)
}

struct Parser<'a> {
    expr: &'a str,
    pos: usize,
    specials: u32,
    atoms: u32,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.expr.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn syntax(&self, reason: &'static str) -> UcumError {
        UcumError::Syntax { expr: self.expr.to_string(), reason }
    }

    fn term(&mut self) -> Result<Unit, UcumError> {
        let mut unit = self.component()?;
        loop {
            if self.eat(b'.') {
                unit = unit.mul(self.component()?);
            } else if self.eat(b'/') {
                unit = unit.mul(self.component()?.pow(-1));
            } else {
                return Ok(unit);
            }
        }
    }

    fn component(&mut self) -> Result<Unit, UcumError> {
        match self.peek() {
            None => Err(self.syntax("an operator must be followed by a term")),
            Some(b'(') => {
                self.pos += 1;
                let unit = self.term()?;
                if !self.eat(b')') {
                    return Err(self.syntax("missing `)`"));
                }
                self.annotation()?;
                Ok(unit)
            }
            Some(b'{') => {
                self.annotation()?;
                Ok(Unit::ONE)
            }
            Some(b'.' | b'/' | b')') => Err(self.syntax("an operator must be followed by a term")),
            Some(_) => {
                let unit = self.symbol()?;
                self.annotation()?;
                Ok(unit)
            }
        }
    }

    /// An optional `{annotation}`: printable ASCII except braces.
    fn annotation(&mut self) -> Result<(), UcumError> {
        if !self.eat(b'{') {
            return Ok(());
        }
        let rest = &self.expr[self.pos..];
        let end = rest.find('}').ok_or_else(|| self.syntax("unterminated `{annotation}`"))?;
        if !rest[..end].bytes().all(|b| (b'!'..=b'~').contains(&b) && b != b'{') {
            return Err(self.syntax("an annotation may hold printable ASCII characters only"));
        }
        self.pos += end + 1;
        Ok(())
    }

    /// A symbol with an optional exponent, or an integer factor.
    fn symbol(&mut self) -> Result<Unit, UcumError> {
        let bytes = self.expr.as_bytes();
        let start = self.pos;
        let mut depth = 0u32;
        while let Some(&c) = bytes.get(self.pos) {
            match c {
                b'[' => depth += 1,
                b']' => depth = depth.saturating_sub(1),
                b'.' | b'/' | b'(' | b')' | b'{' if depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        if depth != 0 {
            return Err(self.syntax("unbalanced `[`"));
        }
        let token = &self.expr[start..self.pos];
        // Split off a trailing signed integer exponent.
        let digits_at = token.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (mut body, mut exponent) = (&token[..digits_at], &token[digits_at..]);
        let signed = !exponent.is_empty() && (body.ends_with('+') || body.ends_with('-'));
        if signed {
            let sign_at = body.len() - 1;
            exponent = &token[sign_at..];
            body = &token[..sign_at];
        }
        if body.is_empty() {
            if signed {
                return Err(self.syntax("a sign must follow a unit symbol"));
            }
            let n: u32 = exponent.parse().map_err(|_| self.syntax("factor too large"))?;
            return Ok(Unit { factor: f64::from(n), ..Unit::ONE });
        }
        if body.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.syntax("a number cannot carry an exponent (write 10*3, not 10+3)"));
        }
        let unit = simple_unit(body)?;
        self.atoms += 1;
        if unit.scale != Scale::Ratio {
            self.specials += 1;
            if !exponent.is_empty() {
                return Err(self.syntax("Cel and [degF] cannot take an exponent"));
            }
            return Ok(unit);
        }
        if exponent.is_empty() {
            return Ok(unit);
        }
        let exp: i32 = exponent.parse().map_err(|_| self.syntax("exponent too large"))?;
        if !(-64..=64).contains(&exp) {
            return Err(self.syntax("exponent too large"));
        }
        Ok(unit.pow(exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expr: &str, expect: Result<(f64, &str), &str>) {
        match (parse(expr), expect) {
            (Ok(u), Ok((factor, dim))) => {
                assert!((u.factor / factor - 1.0).abs() < 1e-12, "{expr}: factor {} != {factor}", u.factor);
                assert_eq!(u.dim.to_string(), dim, "{expr}");
            }
            (Err(e), Err(fragment)) => assert!(e.to_string().contains(fragment), "{expr}: {e}"),
            (got, want) => panic!("{expr}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses_clinical_units() {
        check("mg/dL", Ok((1e-3 / 1e-4, "m-3.g")));
        check("mmol/L", Ok((1.0, "m-3.mol")));
        check("10*3/uL", Ok((1e3 / 1e-9, "m-3")));
        check("10*-7.s", Ok((1e-7, "s")));
        check("mL/min/{1.73_m2}", Ok((1e-6 / 60.0, "m3.s-1")));
        check("kg/m2", Ok((1000.0, "m-2.g")));
        check("/min", Ok((1.0 / 60.0, "s-1")));
        check("mm[Hg]", Ok((133_322.0, "m-1.s-2.g")));
        check("U/L", Ok((1e-6 / 60.0 / 1e-3, "m-3.s-1.mol")));
        check("[lb_av]", Ok((453.592_37, "g")));
        check("µg", Ok((1e-6, "g")));
        check("{score}", Ok((1.0, "1")));
        check("(m/s)/s", Ok((1.0, "m.s-2")));
        check("4.s/m", Ok((4.0, "m-1.s")));
        check("%", Ok((0.01, "1")));
        check("dam", Ok((10.0, "m")));
        check("mmol/mol", Ok((1e-3, "1")));
    }

    #[test]
    fn refuses_invalid_units() {
        check("", Err("empty unit"));
        check("m/", Err("followed by a term"));
        check("10+3/ul", Err("cannot carry an exponent"));
        check("g/12h", Err("`12h` is not a UCUM unit"));
        check("mmHg", Err("`mmHg` is not a UCUM unit"));
        check("beats/minute", Err("not a UCUM unit"));
        check("{|}1", Err("expected `.` or `/`"));
        check("rad2{錠}", Err("printable ASCII"));
        check("Cel/min", Err("cannot be combined"));
        check("Cel2", Err("cannot take an exponent"));
        check("(m", Err("missing `)`"));
        check("m)", Err("unbalanced"));
        check("[in_i", Err("unbalanced `[`"));
        check("kCel.K", Err("cannot be combined"));
    }

    #[test]
    fn special_units_stand_alone() {
        assert_eq!(parse("Cel").unwrap().scale, Scale::Celsius);
        assert_eq!(parse("[degF]").unwrap().scale, Scale::Fahrenheit);
        assert_eq!(parse("Cel{oral}").unwrap().scale, Scale::Celsius);
    }
}
