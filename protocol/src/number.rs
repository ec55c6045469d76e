//! Floating-point fields that deserialize whether or not serde_json's `arbitrary_precision` feature is
//! on. The `ssi` crates turn it on for every crate of the build, and with it a non-integer JSON number
//! inside an internally tagged enum (buffered by serde) arrives as a one-entry map
//! `{"$serde_json::private::Number": "5.5"}` instead of an `f64`. The helpers here accept both.
//! Serialization is unchanged.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The key under which serde_json's `arbitrary_precision` hands a number over as a map.
pub const PRIVATE_NUMBER_KEY: &str = "$serde_json::private::Number";

struct F64Visitor;

impl<'de> Visitor<'de> for F64Visitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<f64, A::Error> {
        match map.next_entry::<String, String>()? {
            Some((key, text)) if key == PRIVATE_NUMBER_KEY => {
                text.parse().map_err(|_| de::Error::custom(format!("`{text}` is not a number")))
            }
            _ => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
        }
    }
}

/// An `f64` from a number in either representation.
pub fn deserialize_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(F64Visitor)
}

/// `#[serde(deserialize_with = "crate::number::opt_f64")]` for `Option<f64>`.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
            deserialize_f64(d).map(Some)
        }
    }
    d.deserialize_option(V)
}

/// `#[serde(deserialize_with = "crate::number::vec_f64")]` for `Vec<f64>`.
pub fn vec_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    struct Item(f64);
    impl<'de> serde::Deserialize<'de> for Item {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
            deserialize_f64(d).map(Item)
        }
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<f64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of numbers")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f64>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(Item(x)) = seq.next_element()? {
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(tag = "kind")]
    enum Tagged {
        A {
            #[serde(deserialize_with = "vec_f64")]
            edges: Vec<f64>,
            #[serde(default, deserialize_with = "opt_f64")]
            min: Option<f64>,
        },
    }

    #[test]
    fn numbers_in_tagged_enums_parse_in_either_mode() {
        let t: Tagged = serde_json::from_str(r#"{"kind": "A", "edges": [1, 2.5, -3.25e2], "min": 0.1}"#).unwrap();
        assert_eq!(t, Tagged::A { edges: vec![1.0, 2.5, -325.0], min: Some(0.1) });
        let t: Tagged = serde_json::from_str(r#"{"kind": "A", "edges": [], "min": null}"#).unwrap();
        assert_eq!(t, Tagged::A { edges: vec![], min: None });
        let v: serde_json::Value = serde_json::from_str(r#"{"kind": "A", "edges": [7.5]}"#).unwrap();
        assert_eq!(serde_json::from_value::<Tagged>(v).unwrap(), Tagged::A { edges: vec![7.5], min: None });
        assert!(serde_json::from_str::<Tagged>(r#"{"kind": "A", "edges": ["x"]}"#).is_err());
    }
}
