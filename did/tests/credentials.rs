//! Credentials and presentations end to end: the W3C test vectors, every kind in both formats, and every
//! way a credential or presentation must be refused.

use agora_did::credential::{CredentialFormat, CredentialKind, Draft, Issuer, Verifier};
use agora_did::presentation::{present, Expectation};
use agora_did::status::{StatusEntry, StatusList};
use agora_did::{Identity, VcError};
use serde_json::{json, Value};
use std::time::Duration;
use time::OffsetDateTime;

const FORMATS: [CredentialFormat; 2] = [CredentialFormat::DataIntegrity, CredentialFormat::Jose];

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The 32 secret bytes of a multibase `z…` Ed25519 private key (multicodec 0x1300, varint 0x80 0x26).
fn secret_of_multibase(s: &str) -> [u8; 32] {
    let bytes = bs58::decode(s.trim_start_matches('z')).into_vec().unwrap();
    assert_eq!(&bytes[..2], &[0x80, 0x26]);
    bytes[2..].try_into().unwrap()
}

#[test]
fn did_key_vectors() {
    for (did, v) in fixture("did-key-ed25519.json").as_object().unwrap() {
        let seed: [u8; 32] = hex::decode(v["seed"].as_str().unwrap()).unwrap().try_into().unwrap();
        assert_eq!(Identity::from_secret(seed).did(), did);
        assert_eq!(agora_did::identity::did_of_peer(&agora_did::peer_of_did(did).unwrap()).unwrap(), *did);
    }
}

#[tokio::test]
async fn w3c_eddsa_rdfc_2022_vector_verifies_and_is_reproduced_byte_for_byte() {
    let signed = fixture("eddsa-rdfc-2022-signed.json");
    let verifier = Verifier::default();
    verifier.proof_only(&signed).await.unwrap();
    // Tampering with any claim breaks it.
    let mut altered = signed.clone();
    altered["credentialSubject"]["alumniOf"] = "Another School".into();
    assert!(matches!(verifier.proof_only(&altered).await, Err(VcError::BadSignature { .. })));

    // Signing the unsigned credential with the vector's key and time gives the vector's proof value:
    // Ed25519 is deterministic, so this checks our canonicalisation and hashing against the W3C's.
    let keys = fixture("eddsa-keypair.json");
    let identity = Identity::from_secret(secret_of_multibase(keys["privateKeyMultibase"].as_str().unwrap()));
    assert_eq!(identity.did().trim_start_matches("did:key:"), keys["publicKeyMultibase"].as_str().unwrap());
    let mut unsigned = signed.clone();
    let proof = unsigned.as_object_mut().unwrap().remove("proof").unwrap();
    let created =
        OffsetDateTime::parse(proof["created"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
            .unwrap();
    let ours = Issuer::key(identity)
        .sign_credential_at(unsigned, CredentialFormat::DataIntegrity, Some(created))
        .await
        .unwrap();
    assert_eq!(ours["proof"]["proofValue"], proof["proofValue"]);
}

fn researcher_draft(holder: &str) -> Draft {
    Draft::new(CredentialKind::ResearcherCredential, holder)
        .claim("name", "Ada Lovelace")
        .claim("institution", "Analytical Engine Institute")
        .claim("purposes", json!(["study-7", "diabetes-outcomes"]))
        .valid_until(OffsetDateTime::now_utc() + time::Duration::days(30))
}

fn expect(challenge: &str, domain: &str) -> Expectation {
    Expectation { challenge: challenge.into(), domain: domain.into(), max_age: Duration::from_secs(300) }
}

#[tokio::test]
async fn every_kind_issues_and_verifies_in_both_formats() {
    let hub = Issuer::key(Identity::generate());
    let subject = Identity::generate();
    let verifier = Verifier::default();
    let drafts = [
        Draft::new(CredentialKind::NodeCredential, subject.did())
            .claim("name", "St Elsewhere")
            .claim("institution", "St Elsewhere Hospital")
            .claim("country", "NL")
            .claim("queryKinds", json!(["count", "mean"])),
        researcher_draft(subject.did()),
        Draft::new(CredentialKind::ConsentCredential, subject.did())
            .claim("purpose", "study-7")
            .claim("scope", json!(["conditions", "measurements"])),
        Draft::new(CredentialKind::DiagnosisCredential, subject.did()).claim("condition", "icd10cm:E11.9"),
    ];
    for format in FORMATS {
        for draft in &drafts {
            let vc = hub.issue(draft, format).await.unwrap();
            assert_eq!(vc.is_string(), format == CredentialFormat::Jose);
            let v = verifier.credential(&vc).await.unwrap_or_else(|e| panic!("{format:?} {}: {e}", draft.id()));
            assert_eq!((v.issuer.as_str(), v.subject.as_deref()), (hub.did(), Some(subject.did())));
            assert_eq!(v.id.as_deref(), Some(draft.id()));
            assert_eq!(v.format, format);
        }
    }
    let v = verifier.credential(&hub.issue(&drafts[1], CredentialFormat::DataIntegrity).await.unwrap()).await.unwrap();
    assert_eq!(v.kind, Some(CredentialKind::ResearcherCredential));
    assert_eq!(v.claim_list("purposes"), vec!["study-7", "diabetes-outcomes"]);
    assert!(v.expect_kind(CredentialKind::ConsentCredential).is_err());
    assert!(matches!(v.expect_issuer("did:key:z6MkOther"), Err(VcError::WrongIssuer { .. })));
}

#[tokio::test]
async fn presentations_verify_in_every_combination_of_formats() {
    let hub = Issuer::key(Identity::generate());
    let holder = Issuer::key(Identity::generate());
    let verifier = Verifier::default();
    for vc_format in FORMATS {
        let vc = hub.issue(&researcher_draft(holder.did()), vc_format).await.unwrap();
        for vp_format in FORMATS {
            let vp =
                present(&holder, std::slice::from_ref(&vc), "c-1", "did:web:hub.example", vp_format).await.unwrap();
            let v = verifier.presentation(&vp, &expect("c-1", "did:web:hub.example")).await.unwrap();
            assert_eq!(v.holder, holder.did());
            assert_eq!(v.credentials.len(), 1);
            assert_eq!(v.credentials[0].format, vc_format);
            assert_eq!(v.format, vp_format);
            // As text, the way it arrives over HTTP.
            let text = match &vp {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            verifier.presentation_text(&text, &expect("c-1", "did:web:hub.example")).await.unwrap();
        }
    }
}

#[tokio::test]
async fn bad_credentials_are_refused_with_their_reason() {
    let hub = Issuer::key(Identity::generate());
    let holder = Identity::generate();
    let verifier = Verifier::default();
    let now = OffsetDateTime::now_utc();
    for format in FORMATS {
        let expired = Draft::new(CredentialKind::ConsentCredential, holder.did())
            .claim("purpose", "study-7")
            .valid_from(now - time::Duration::days(10))
            .valid_until(now - time::Duration::days(1));
        let e = verifier.credential(&hub.issue(&expired, format).await.unwrap()).await.unwrap_err();
        assert!(matches!(e, VcError::Expired(_)), "{e}");
        assert!(e.to_string().contains("expired"), "{e}");

        let early = Draft::new(CredentialKind::ConsentCredential, holder.did())
            .claim("purpose", "study-7")
            .valid_from(now + time::Duration::days(1));
        assert!(matches!(
            verifier.credential(&hub.issue(&early, format).await.unwrap()).await,
            Err(VcError::NotYetValid(_))
        ));
    }

    let good = hub.issue(&researcher_draft(holder.did()), CredentialFormat::DataIntegrity).await.unwrap();
    verifier.credential(&good).await.unwrap();

    // An altered claim.
    let mut altered = good.clone();
    altered["credentialSubject"]["purposes"] = json!(["study-7", "everything"]);
    assert!(matches!(verifier.credential(&altered).await, Err(VcError::BadSignature { .. })));

    // A claimed issuer other than the signer.
    let mut forged = good.clone();
    forged["issuer"] = Identity::generate().did().into();
    assert!(matches!(verifier.credential(&forged).await, Err(VcError::SignerMismatch { .. })));

    // An unknown context, and an inline one.
    let mut ctx = good.clone();
    ctx["@context"].as_array_mut().unwrap().push("https://attacker.example/v1".into());
    let e = verifier.credential(&ctx).await.unwrap_err();
    assert_eq!(e, VcError::UnknownContext("https://attacker.example/v1".into()));
    let mut inline = good.clone();
    inline["@context"].as_array_mut().unwrap().push(json!({"purposes": "https://attacker.example/p"}));
    assert!(matches!(verifier.credential(&inline).await, Err(VcError::UnknownContext(_))));

    // Unsupported proof types.
    for (ty, suite) in [
        ("DataIntegrityProof", Some("ecdsa-rdfc-2019")),
        ("RsaSignature2018", None),
        ("DataIntegrityProof", Some("bbs-2023")),
    ] {
        let mut p = good.clone();
        p["proof"]["type"] = ty.into();
        match suite {
            Some(s) => p["proof"]["cryptosuite"] = s.into(),
            None => {
                p["proof"].as_object_mut().unwrap().remove("cryptosuite");
            }
        }
        assert!(matches!(verifier.credential(&p).await, Err(VcError::UnsupportedProof(_))), "{ty} {suite:?}");
    }

    // No proof; malformed input; a truncated JWS.
    let mut bare = good.clone();
    bare.as_object_mut().unwrap().remove("proof");
    assert_eq!(verifier.credential(&bare).await.unwrap_err(), VcError::NoProof("credential"));
    assert!(matches!(verifier.credential_text("{not json").await, Err(VcError::Malformed { .. })));
    let jwt = hub.issue(&researcher_draft(holder.did()), CredentialFormat::Jose).await.unwrap();
    let jwt = jwt.as_str().unwrap();
    assert!(matches!(
        verifier.credential_text(&jwt[..jwt.len() - 10]).await,
        Err(VcError::BadSignature { .. } | VcError::Malformed { .. })
    ));
    assert!(matches!(verifier.credential_text("a.b").await, Err(VcError::Malformed { .. })));

    // A did:web issuer whose document cannot be fetched.
    let web = Issuer::web(Identity::generate(), "did:web:127.0.0.1%3A9").unwrap();
    let vc = web.issue(&researcher_draft(holder.did()), CredentialFormat::DataIntegrity).await.unwrap();
    let e = verifier.credential(&vc).await.unwrap_err();
    assert!(matches!(&e, VcError::Unresolvable { did, .. } if did == "did:web:127.0.0.1%3A9"), "{e}");
    // Pinned, it verifies.
    let pinned = Verifier::default();
    pinned
        .resolver()
        .pin(web.did(), &agora_did::resolver::did_web_document(web.did(), &web.identity().public_key()))
        .unwrap();
    pinned.credential(&vc).await.unwrap();
}

#[tokio::test]
async fn revoked_credentials_are_refused() {
    let hub = Issuer::key(Identity::generate());
    let holder = Identity::generate();
    let url = "https://hub.example/v1/status/researchers";
    let draft = researcher_draft(holder.did()).status(StatusEntry { list: url.into(), index: 7 });
    let vc = hub.issue(&draft, CredentialFormat::DataIntegrity).await.unwrap();
    let verifier = Verifier::default();
    let mut list = StatusList::new();
    verifier.status_lists().put_local(url, hub.did(), list.clone());
    verifier.credential(&vc).await.unwrap();
    list.revoke(7);
    verifier.status_lists().put_local(url, hub.did(), list.clone());
    let e = verifier.credential(&vc).await.unwrap_err();
    assert_eq!(e, VcError::Revoked { list: url.into(), index: 7 });
    // A list published by someone else does not count.
    verifier.status_lists().put_local(url, Identity::generate().did(), StatusList::new());
    assert!(matches!(verifier.credential(&vc).await, Err(VcError::Status { .. })));
    // The signed list credential itself verifies and decodes to the same bits.
    let signed = list.to_credential(url, &hub).await.unwrap();
    let v = Verifier::default().credential(&signed).await.unwrap();
    assert_eq!(v.kind, Some(CredentialKind::BitstringStatusListCredential));
    assert_eq!(StatusList::decode(v.claim_str("encodedList").unwrap()).unwrap(), list);
}

/// A signed credential's status or expiry moved under its full IRI: the signed RDF is the same (the
/// expansion maps the key to the same property), so the signature still verifies, but a reader of the
/// JSON key `credentialStatus` or `validUntil` would see none, and a revoked or expired credential
/// would pass. Keys that are IRIs are refused: only the shipped contexts' terms and keywords are read.
#[tokio::test]
async fn a_status_or_expiry_moved_under_its_iri_is_refused() {
    let hub = Issuer::key(Identity::generate());
    let holder = Identity::generate();
    let url = "https://hub.example/v1/status/researchers";
    let draft = researcher_draft(holder.did()).status(StatusEntry { list: url.into(), index: 7 });
    let vc = hub.issue(&draft, CredentialFormat::DataIntegrity).await.unwrap();
    let verifier = Verifier::default();
    let mut list = StatusList::new();
    list.revoke(7);
    verifier.status_lists().put_local(url, hub.did(), list);
    assert_eq!(verifier.credential(&vc).await.unwrap_err(), VcError::Revoked { list: url.into(), index: 7 });
    let mut moved = vc.clone();
    let status = moved.as_object_mut().unwrap().remove("credentialStatus").unwrap();
    moved["https://www.w3.org/2018/credentials#credentialStatus"] = status;
    let e = verifier.credential(&moved).await.unwrap_err();
    assert!(e.to_string().contains("https://www.w3.org/2018/credentials#credentialStatus"), "{e}");

    let now = OffsetDateTime::now_utc();
    let draft = researcher_draft(holder.did()).valid_until(now - time::Duration::days(1));
    let vc = hub.issue(&draft, CredentialFormat::DataIntegrity).await.unwrap();
    assert!(matches!(verifier.credential(&vc).await, Err(VcError::Expired(_))));
    let mut moved = vc.clone();
    let until = moved.as_object_mut().unwrap().remove("validUntil").unwrap();
    moved["https://www.w3.org/2018/credentials#validUntil"] =
        json!({"@value": until, "@type": "http://www.w3.org/2001/XMLSchema#dateTime"});
    let e = verifier.credential(&moved).await.unwrap_err();
    assert!(e.to_string().contains("https://www.w3.org/2018/credentials#validUntil"), "{e}");
    // A compact IRI names the same property through a prefix: refused alike.
    let mut compact = vc;
    let until = compact.as_object_mut().unwrap().remove("validUntil").unwrap();
    compact["cred:validUntil"] = until;
    assert!(matches!(verifier.credential(&compact).await, Err(VcError::Malformed { .. })));
}

/// What [`serve`] sends, set after the server runs (when its URL is known).
type Body = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// Serves `body` to every request on a loopback port: the URL and the count of requests.
async fn serve(body: Body) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/list", listener.local_addr().unwrap());
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = body.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    (url, served)
}

/// A status list credential whose own status names its own URL: verifying a credential on that list
/// fetched it, verified it, checked its status, fetched it again, without end (the stack gave out and
/// the process aborted: an unauthenticated sign-in could do it). It is refused at the first fetch. And
/// a list larger than any credential may be is not read to its end.
#[tokio::test]
async fn a_status_list_naming_itself_and_an_endless_one_are_refused() {
    let hub = Issuer::key(Identity::generate());
    let holder = Identity::generate();
    let slot = Body::default();
    let (url, served) = serve(slot.clone()).await;
    let mut list = serde_json::to_value(StatusList::new().to_credential(&url, &hub).await.unwrap()).unwrap();
    list.as_object_mut().unwrap().remove("proof");
    list["credentialStatus"] = StatusEntry { list: url.clone(), index: 0 }.to_json();
    let list = hub.sign_credential(list, CredentialFormat::DataIntegrity).await.unwrap();
    *slot.lock().unwrap() = serde_json::to_vec(&list).unwrap();
    let draft = researcher_draft(holder.did()).status(StatusEntry { list: url.clone(), index: 7 });
    let vc = hub.issue(&draft, CredentialFormat::DataIntegrity).await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(20), Verifier::default().credential(&vc)).await;
    let e = outcome.expect("a verification that ends").unwrap_err();
    assert!(e.to_string().contains("has a status of its own"), "{e}");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1, "fetched once");
    // The same with a document of another type at the URL (its type is read only once it is verified).
    let other = researcher_draft(holder.did()).status(StatusEntry { list: url.clone(), index: 3 });
    *slot.lock().unwrap() =
        serde_json::to_vec(&hub.issue(&other, CredentialFormat::DataIntegrity).await.unwrap()).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(20), Verifier::default().credential(&vc)).await;
    let e = outcome.expect("a verification that ends").unwrap_err();
    assert!(e.to_string().contains("has a status of its own"), "{e}");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 2, "fetched once more");

    let (endless, _) = serve(std::sync::Arc::new(std::sync::Mutex::new(vec![b' '; 8 << 20]))).await;
    let draft = researcher_draft(holder.did()).status(StatusEntry { list: endless.clone(), index: 7 });
    let vc = hub.issue(&draft, CredentialFormat::DataIntegrity).await.unwrap();
    let e = Verifier::default().credential(&vc).await.unwrap_err();
    assert!(e.to_string().contains("larger than 262144 bytes"), "{e}");
}

/// A verifier that trusts one issuer (a hub, a node) fetches nothing for anyone else: not the issuer's
/// did:web document, not the status list a self-issued credential names, not a did:web holder's
/// document (each was an HTTP request to an address the sender chose, made before the credential was
/// refused for its issuer). Its own issuer's credentials verify as before.
#[tokio::test]
async fn a_verifier_trusting_one_issuer_fetches_nothing_for_others() {
    let hub = Issuer::key(Identity::generate());
    let stranger = Issuer::key(Identity::generate());
    let (url, served) = serve(Body::default()).await;
    let host = url.trim_start_matches("http://").trim_end_matches("/list").replace(':', "%3A");
    let verifier = Verifier::default().trusting(vec![hub.did().to_string()]);
    let holder = Issuer::key(Identity::generate());
    // A credential of another issuer, naming a status list on the server.
    let draft = researcher_draft(holder.did()).status(StatusEntry { list: url.clone(), index: 7 });
    let foreign = stranger.issue(&draft, CredentialFormat::DataIntegrity).await.unwrap();
    assert!(matches!(verifier.credential(&foreign).await, Err(VcError::WrongIssuer { .. })));
    // A presentation by a did:web holder on the server, of that credential.
    let web_holder = Issuer::web(Identity::generate(), &format!("did:web:{host}")).unwrap();
    let draft = researcher_draft(web_holder.did());
    let vc = stranger.issue(&draft, CredentialFormat::DataIntegrity).await.unwrap();
    for format in FORMATS {
        let vp = present(&web_holder, std::slice::from_ref(&vc), "c-1", "did:web:hub.example", format).await.unwrap();
        let expect = Expectation {
            challenge: "c-1".into(),
            domain: "did:web:hub.example".into(),
            max_age: Duration::from_secs(300),
        };
        let e = verifier.presentation(&vp, &expect).await.unwrap_err();
        assert!(matches!(e, VcError::NoTrustedCredential { .. }), "{format:?}: {e}");
    }
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing was fetched");
    // The trusted issuer's own credential, presented by its holder beside the other issuer's (whose
    // status list is on the server): verified, the other passed over unread.
    let vc = hub.issue(&researcher_draft(holder.did()), CredentialFormat::DataIntegrity).await.unwrap();
    let both = [vc, foreign];
    let vp = present(&holder, &both, "c-1", "did:web:hub.example", CredentialFormat::Jose).await.unwrap();
    let expect = Expectation {
        challenge: "c-1".into(),
        domain: "did:web:hub.example".into(),
        max_age: Duration::from_secs(300),
    };
    let verified = verifier.presentation(&vp, &expect).await.unwrap();
    assert_eq!((verified.holder.as_str(), verified.credentials.len()), (holder.did(), 1));
    assert_eq!(verified.credentials[0].issuer, hub.did());
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing was fetched");
}

#[tokio::test]
async fn bad_presentations_are_refused_with_their_reason() {
    let hub = Issuer::key(Identity::generate());
    let holder = Issuer::key(Identity::generate());
    let verifier = Verifier::default();
    for format in FORMATS {
        let vc = hub.issue(&researcher_draft(holder.did()), format).await.unwrap();
        let vp = present(&holder, std::slice::from_ref(&vc), "c-1", "did:web:hub.example", format).await.unwrap();
        assert_eq!(
            verifier.presentation(&vp, &expect("c-2", "did:web:hub.example")).await.unwrap_err(),
            VcError::WrongChallenge
        );
        assert!(matches!(
            verifier.presentation(&vp, &expect("c-1", "did:web:other.example")).await,
            Err(VcError::WrongDomain { .. })
        ));
        // Later than its maximum age.
        let later = verifier.clone().at(OffsetDateTime::now_utc() + time::Duration::minutes(10));
        assert!(matches!(
            later.presentation(&vp, &expect("c-1", "did:web:hub.example")).await,
            Err(VcError::StalePresentation(_))
        ));

        // Someone presenting another's credential.
        let thief = Issuer::key(Identity::generate());
        let stolen = present(&thief, std::slice::from_ref(&vc), "c-1", "did:web:hub.example", format).await.unwrap();
        let e = verifier.presentation(&stolen, &expect("c-1", "did:web:hub.example")).await.unwrap_err();
        assert!(matches!(e, VcError::HolderMismatch { .. }), "{e}");
    }
    // A Data Integrity presentation whose challenge was edited after signing.
    let vc = hub.issue(&researcher_draft(holder.did()), CredentialFormat::DataIntegrity).await.unwrap();
    let mut vp = present(&holder, &[vc], "c-1", "did:web:hub.example", CredentialFormat::DataIntegrity).await.unwrap();
    vp["proof"]["challenge"] = "c-9".into();
    assert!(matches!(
        verifier.presentation(&vp, &expect("c-9", "did:web:hub.example")).await,
        Err(VcError::BadSignature { .. })
    ));
    // An embedded credential edited after the presentation was signed.
    let vc = hub.issue(&researcher_draft(holder.did()), CredentialFormat::DataIntegrity).await.unwrap();
    let mut vp = present(&holder, &[vc], "c-1", "did:web:hub.example", CredentialFormat::DataIntegrity).await.unwrap();
    let embedded = &mut vp["verifiableCredential"];
    let embedded = if embedded.is_array() { &mut embedded[0] } else { embedded };
    embedded["credentialSubject"]["purposes"] = json!(["anything"]);
    assert!(matches!(
        verifier.presentation(&vp, &expect("c-1", "did:web:hub.example")).await,
        Err(VcError::BadSignature { .. })
    ));
    // Empty, or not a presentation at all.
    assert!(matches!(verifier.presentation_text("[]", &expect("c", "d")).await, Err(VcError::Malformed { .. })));
    assert!(matches!(
        verifier.presentation(&json!({"@context": ["https://www.w3.org/ns/credentials/v2"]}), &expect("c", "d")).await,
        Err(VcError::NoProof(_))
    ));
}

#[tokio::test]
async fn a_remembered_signature_skips_only_the_signature_check() {
    let hub = Issuer::key(Identity::generate());
    let holder = Identity::generate();
    let now = OffsetDateTime::now_utc();
    for format in FORMATS {
        let draft = researcher_draft(holder.did()).valid_until(now + time::Duration::days(1));
        let vc = hub.issue(&draft, format).await.unwrap();
        let verifier = Verifier::default();
        verifier.credential(&vc).await.unwrap();
        verifier.credential(&vc).await.unwrap();
        // The same bytes, later than their validity: the period is checked on every use.
        let later = verifier.clone().at(now + time::Duration::days(2));
        assert!(matches!(later.credential(&vc).await, Err(VcError::Expired(_))), "{format:?}");
        // A copy with one claim altered is other bytes: its signature is checked, and fails.
        let altered = match &vc {
            Value::String(jws) => {
                let mut parts: Vec<String> = jws.split('.').map(str::to_string).collect();
                use base64::Engine;
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let mut payload: Value = serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
                payload["credentialSubject"]["purposes"] = json!(["everything"]);
                parts[1] = b64.encode(serde_json::to_vec(&payload).unwrap());
                Value::String(parts.join("."))
            }
            other => {
                let mut v = other.clone();
                v["credentialSubject"]["purposes"] = json!(["everything"]);
                v
            }
        };
        assert!(matches!(verifier.credential(&altered).await, Err(VcError::BadSignature { .. })), "{format:?}");
        // And the genuine one still passes.
        verifier.credential(&vc).await.unwrap();
    }
}
