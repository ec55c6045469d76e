//! Verifying a presentation holding one credential, as a node does for every query: Data Integrity
//! (eddsa-rdfc-2022, two RDF canonicalisations) and VC-JOSE (two JWS). One thread. `cold` checks every
//! signature; `warm` is a verifier that has seen the credential before (the researcher's credential comes
//! with every query), so only the presentation's own signature is checked again.
//!
//! `cargo bench -p agora-did --bench verify`

#![allow(missing_docs)]

use agora_did::credential::{CredentialFormat, CredentialKind, Draft, Issuer, Verifier};
use agora_did::presentation::{present, Expectation};
use agora_did::Identity;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use std::time::{Duration, Instant};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let hub = Issuer::key(Identity::generate());
    let holder = Issuer::key(Identity::generate());
    let expect =
        Expectation { challenge: "c".into(), domain: "did:web:hub".into(), max_age: Duration::from_secs(3600) };
    let mut group = c.benchmark_group("verify presentation, one credential");
    for (name, format) in [("data-integrity", CredentialFormat::DataIntegrity), ("jose", CredentialFormat::Jose)] {
        let draft = Draft::new(CredentialKind::ResearcherCredential, holder.did())
            .claim("name", "Ada")
            .claim("institution", "AEI")
            .claim("purposes", json!(["study-7"]));
        let vp = rt.block_on(async {
            let vc = hub.issue(&draft, format).await.unwrap();
            present(&holder, &[vc], "c", "did:web:hub", format).await.unwrap()
        });
        for (cache, verifier) in
            [("cold", Verifier::default().without_signature_cache()), ("warm", Verifier::default())]
        {
            rt.block_on(verifier.presentation(&vp, &expect)).unwrap();
            let n = 200;
            let t = Instant::now();
            for _ in 0..n {
                rt.block_on(verifier.presentation(&vp, &expect)).unwrap();
            }
            eprintln!("{name} {cache}: {:.0} presentations/s on one thread", n as f64 / t.elapsed().as_secs_f64());
            group.bench_function(format!("{name} {cache}"), |b| {
                b.iter(|| rt.block_on(verifier.presentation(&vp, &expect)).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
