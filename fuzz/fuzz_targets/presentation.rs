//! Fuzzes the presentation parser and verifier with arbitrary input, as a node's wallet endpoint and the
//! hub's sign-in receive it: it must return an error, never panic or hang.
//!
//! `cargo fuzz run presentation` (in `fuzz/`; cargo-fuzz needs a nightly compiler or RUSTC_BOOTSTRAP=1).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let verifier = agora_did::credential::Verifier::default();
    let expect = agora_did::Expectation {
        challenge: "c".into(),
        domain: "did:web:hub.example".into(),
        max_age: std::time::Duration::from_secs(300),
    };
    let _ = runtime().block_on(verifier.presentation_text(text, &expect));
    let _ = runtime().block_on(verifier.credential_text(text));
});
