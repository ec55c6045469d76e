//! The JSON-LD contexts Agora ships. Canonicalisation (eddsa-rdfc-2022) expands every credential against
//! its contexts; fetching them at verification time would let whoever serves a context change what a
//! signature means, and would make verification depend on the network. So the loader holds a fixed set:
//! the W3C contexts `ssi` bundles (credentials v2 and v1, Data Integrity, Multikey, Ed25519 2020, ...) and
//! the Agora context below. [`check`] refuses a document naming any other context before anything else is
//! done with it.

use crate::ssi::json_ld::ContextLoader;
use crate::VcError;
use serde_json::Value;
use std::collections::HashMap;

/// The Agora credentials context URL.
pub const AGORA_V1: &str = "https://w3id.org/agora/v1";
/// Its content.
pub const AGORA_V1_JSON: &str = include_str!("../contexts/agora-v1.jsonld");
/// W3C Verifiable Credentials v2.
pub const CREDENTIALS_V2: &str = "https://www.w3.org/ns/credentials/v2";

/// Context URLs accepted in a credential or presentation.
pub const ACCEPTED: &[&str] = &[
    CREDENTIALS_V2,
    "https://www.w3.org/ns/credentials/examples/v2",
    "https://www.w3.org/2018/credentials/v1",
    "https://w3id.org/security/data-integrity/v1",
    "https://w3id.org/security/data-integrity/v2",
    "https://w3id.org/security/multikey/v1",
    "https://w3id.org/security/suites/ed25519-2020/v1",
    AGORA_V1,
];

/// The loader: `ssi`'s bundled W3C contexts and the Agora context, nothing from the network.
pub fn loader() -> ContextLoader {
    static LOADER: std::sync::OnceLock<ContextLoader> = std::sync::OnceLock::new();
    LOADER
        .get_or_init(|| {
            ContextLoader::default()
                .with_context_map_from(HashMap::from([(AGORA_V1.to_string(), AGORA_V1_JSON.to_string())]))
                .expect("the Agora context is valid JSON-LD at a valid IRI")
        })
        .clone()
}

/// Refuses a document whose `@context` (or any embedded object's) names a context not in [`ACCEPTED`].
/// Inline context objects are refused too: they could redefine terms. So is any key that is an IRI (it
/// contains a colon and is no keyword): the signature covers the expanded document, in which such a key
/// is the same property as its term, while the checks read the terms.
pub fn check(doc: &Value) -> Result<(), VcError> {
    fn walk(v: &Value, depth: usize) -> Result<(), VcError> {
        if depth > 32 {
            return Err(VcError::Malformed { what: "document", detail: "nested more than 32 levels deep".into() });
        }
        match v {
            Value::Object(map) => {
                if let Some(ctx) = map.get("@context") {
                    let list = match ctx {
                        Value::Array(items) => items.iter().collect(),
                        one => vec![one],
                    };
                    for c in list {
                        match c {
                            Value::String(url) if ACCEPTED.contains(&url.as_str()) => {}
                            Value::String(url) => return Err(VcError::UnknownContext(crate::identity::truncate(url))),
                            _ => return Err(VcError::UnknownContext("(an inline context object)".into())),
                        }
                    }
                }
                if !map.keys().all(|k| percent_decodes(k)) {
                    return Err(not_utf8());
                }
                // A key that is an IRI (absolute, or compact through a prefix) names a property the
                // signature covers as if it were written with its term, but Agora reads terms:
                // `credentialStatus` moved under its IRI kept the signature and hid the status.
                if let Some(k) = map.keys().find(|k| !k.starts_with('@') && k.contains(':')) {
                    return Err(VcError::Malformed {
                        what: "document",
                        detail: format!(
                            "the key `{}` is an IRI: only the terms of the accepted contexts and JSON-LD keywords are read",
                            crate::identity::truncate(k)
                        ),
                    });
                }
                map.iter().filter(|(k, _)| *k != "@context").try_for_each(|(_, v)| walk(v, depth + 1))
            }
            Value::Array(items) => items.iter().try_for_each(|v| walk(v, depth + 1)),
            Value::String(s) if !percent_decodes(s) => Err(not_utf8()),
            _ => Ok(()),
        }
    }
    walk(doc, 0)
}

fn not_utf8() -> VcError {
    VcError::Malformed { what: "document", detail: "a value's percent-encoding does not decode to UTF-8".into() }
}

/// Whether the percent-encoded octets of `s` (`%` and two hex digits) decode, with the rest, to UTF-8.
/// An IRI's must; the JSON-LD processor's IRI handling panics on one that does not (a flipped bit in
/// a presentation found it).
fn percent_decodes(s: &str) -> bool {
    if !s.contains('%') {
        return true;
    }
    let hex = |c: Option<&u8>| c.and_then(|c| char::from(*c).to_digit(16)).map(|d| d as u8);
    let b = s.as_bytes();
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], hex(b.get(i + 1)), hex(b.get(i + 2))) {
            (b'%', Some(high), Some(low)) => {
                decoded.push(high << 4 | low);
                i += 3;
            }
            (c, ..) => {
                decoded.push(c);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percent_encodings_that_are_not_utf8_are_refused() {
        assert!(check(&json!({"id": "did:example:caf%C3%A9", "a%20b": "100%", "x": "%zz%4"})).is_ok());
        for bad in [json!({"id": "did:example:%FF"}), json!({"a": [{"b": "x%C3"}]}), json!({"k%80": 1})] {
            let e = check(&bad).unwrap_err().to_string();
            assert!(e.contains("percent-encoding does not decode to UTF-8"), "{e}");
        }
    }

    #[test]
    fn only_shipped_contexts_pass() {
        assert!(check(&json!({"@context": [CREDENTIALS_V2, AGORA_V1], "a": {"@context": CREDENTIALS_V2}})).is_ok());
        let e = check(&json!({"@context": [CREDENTIALS_V2, "https://evil.example/ctx"]})).unwrap_err();
        assert!(e.to_string().contains("https://evil.example/ctx"), "{e}");
        assert!(check(&json!({"@context": [CREDENTIALS_V2, {"name": "https://evil.example/name"}]})).is_err());
        assert!(check(&json!({"x": [{"@context": "https://other.example"}]})).is_err());
        let _ = loader();
    }
}
