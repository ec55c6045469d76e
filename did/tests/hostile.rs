//! Hostile input to the presentation and credential parsers (the inputs a node's wallet endpoint and the
//! hub's sign-in receive): random text, and valid presentations truncated or with bytes flipped. Each
//! must be refused with an error, never a panic, and never accepted. The same inputs drive the cargo-fuzz
//! target in `fuzz/`; this runs on stable in every test run.

use agora_did::credential::{CredentialFormat, CredentialKind, Draft, Issuer, Verifier};
use agora_did::presentation::present;
use agora_did::{Expectation, Identity};
use proptest::prelude::*;
use std::sync::OnceLock;
use std::time::Duration;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fn expect() -> Expectation {
    Expectation { challenge: "c-1".into(), domain: "did:web:hub.example".into(), max_age: Duration::from_secs(300) }
}

/// Valid presentations, as text: Data Integrity JSON and a VC-JOSE JWT.
fn valid() -> &'static [String; 2] {
    static V: OnceLock<[String; 2]> = OnceLock::new();
    V.get_or_init(|| {
        runtime().block_on(async {
            let hub = Issuer::key(Identity::generate());
            let holder = Issuer::key(Identity::generate());
            let draft = Draft::new(CredentialKind::ResearcherCredential, holder.did())
                .claim("name", "Ada")
                .claim("purposes", serde_json::json!(["study-7"]));
            let mut out = Vec::new();
            for format in [CredentialFormat::DataIntegrity, CredentialFormat::Jose] {
                let vc = hub.issue(&draft, format).await.unwrap();
                let vp = present(&holder, &[vc], "c-1", "did:web:hub.example", format).await.unwrap();
                out.push(agora_did::files::to_text(&vp));
            }
            [out[0].clone(), out[1].clone()]
        })
    })
}

fn refused(text: &str) {
    let verifier = Verifier::default();
    assert!(runtime().block_on(verifier.presentation_text(text, &expect())).is_err());
    let _ = runtime().block_on(verifier.credential_text(text));
}

/// An IRI whose percent-encoding decodes to no UTF-8 (a flipped bit can make one: '5' → '%') is refused
/// for that reason, before the JSON-LD processor, whose IRI handling panicked on one (a flipped
/// presentation in `flipped_presentations_are_refused` found it; here the holder alone would be refused
/// later for another reason).
#[test]
fn an_iri_percent_encoding_no_utf8_is_refused_for_it() {
    let mut vp: serde_json::Value = serde_json::from_str(&valid()[0]).unwrap();
    let holder = vp["holder"].as_str().expect("a holder").to_string();
    vp["holder"] = format!("{holder}%FF").into();
    let e = runtime().block_on(Verifier::default().presentation_text(&vp.to_string(), &expect())).unwrap_err();
    assert!(e.to_string().contains("percent-encoding"), "{e}");
}

#[test]
fn the_valid_ones_verify() {
    for text in valid() {
        runtime().block_on(Verifier::default().presentation_text(text, &expect())).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_text_is_refused(text in "\\PC{0,400}") {
        refused(&text);
    }

    #[test]
    fn truncated_presentations_are_refused(which in 0usize..2, cut in 1usize..10_000) {
        let text = &valid()[which];
        let cut = cut % text.len();
        let mut end = cut;
        while !text.is_char_boundary(end) { end -= 1; }
        refused(&text[..end]);
    }

    #[test]
    fn flipped_presentations_are_refused(which in 0usize..2, at in 0usize..10_000, bit in 0u8..7) {
        let text = valid()[which].as_bytes();
        let mut bytes = text.to_vec();
        // The last character of a JWS carries padding bits a decoder may ignore: flip before it.
        let at = at % (bytes.len() - usize::from(which == 1));
        bytes[at] ^= 1 << bit;
        if let Ok(s) = std::str::from_utf8(&bytes) {
            // A flip inside JSON whitespace or a case-insensitive spot can leave the meaning intact; only
            // inputs whose content changed must be refused.
            let same = serde_json::from_str::<serde_json::Value>(s).ok()
                == serde_json::from_str::<serde_json::Value>(&valid()[which]).ok()
                && serde_json::from_str::<serde_json::Value>(s).is_ok();
            if !same && s != valid()[which] {
                refused(s);
            }
        }
    }
}
