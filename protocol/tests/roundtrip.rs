//! Property tests: every protocol message survives JSON and a signed envelope unchanged, and any change to
//! a signed body is caught.

use agora_protocol::answer::{AgeBand, AnswerRow, Cell, GroupKey, Moments, NodeAnswer};
use agora_protocol::envelope::{Header, Signed};
use agora_protocol::wire::{AnswerMessage, Outcome, QueryRequest, Rejection, RejectionCode};
use agora_protocol::{Aggregate, Code, CodeMatch, CodeSystem, Cohort, GroupBy, Measure, Query, Selection, Sex};
use proptest::prelude::*;
use uuid::Uuid;

fn system() -> impl Strategy<Value = CodeSystem> {
    prop::sample::select(CodeSystem::ALL.to_vec())
}

fn sex() -> impl Strategy<Value = Sex> {
    prop::sample::select(Sex::ALL.to_vec())
}

fn code_str() -> impl Strategy<Value = String> {
    "[A-Z0-9][A-Z0-9.\\-]{0,8}"
}

fn cohort() -> impl Strategy<Value = Cohort> {
    let leaf = prop_oneof![
        Just(Cohort::Everyone),
        (system(), code_str(), any::<bool>())
            .prop_map(|(system, code, prefix)| Cohort::Condition { code: CodeMatch { system, code, prefix } }),
        (system(), code_str(), any::<bool>())
            .prop_map(|(system, code, prefix)| Cohort::Medication { code: CodeMatch { system, code, prefix } }),
        sex().prop_map(|sex| Cohort::Sex { sex }),
        (proptest::option::of(0u32..120), proptest::option::of(0u32..120))
            .prop_map(|(min, max)| Cohort::Age { min, max }),
        (code_str(), proptest::option::of(-1e6f64..1e6), proptest::option::of(-1e6f64..1e6))
            .prop_map(|(c, min, max)| { Cohort::Observation { code: Code::new(CodeSystem::Loinc, c), min, max } }),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|of| Cohort::All { of }),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|of| Cohort::Any { of }),
            inner.prop_map(|c| Cohort::Not { of: Box::new(c) }),
        ]
    })
}

fn query() -> impl Strategy<Value = Query> {
    (
        cohort(),
        proptest::option::of(code_str()),
        any::<bool>(),
        prop::collection::vec(-1e4f64..1e4, 0..5),
        any::<bool>(),
        proptest::option::of(prop::collection::vec(0u32..100, 1..4)),
        1900i32..2100,
        1u8..=28,
    )
        .prop_map(|(cohort, measure, all, edges, by_sex, bands, year, day)| Query {
            version: 1,
            cohort,
            measure: measure.map(|c| Measure {
                code: Code::new(CodeSystem::Loinc, c),
                selection: if all { Selection::All } else { Selection::Latest },
            }),
            aggregates: vec![Aggregate::Count, Aggregate::Mean, Aggregate::Histogram { edges }],
            group_by: GroupBy { sex: by_sex, age_bands: bands },
            reference_date: time::Date::from_calendar_date(year, time::Month::March, day).unwrap(),
        })
}

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![any::<u64>().prop_map(Cell::Value), Just(Cell::Suppressed)]
}

fn answer() -> impl Strategy<Value = NodeAnswer> {
    let row = (
        proptest::option::of(sex()),
        proptest::option::of((0u32..100, proptest::option::of(100u32..200))),
        cell(),
        proptest::option::of(prop_oneof![
            (any::<u64>(), any::<i64>(), any::<i128>()).prop_map(|(n, sum, sum_sq)| Moments::Released {
                n,
                sum,
                sum_sq
            }),
            Just(Moments::Suppressed)
        ]),
        proptest::option::of(prop::collection::vec(cell(), 0..6)),
    )
        .prop_map(|(sex, band, patients, moments, histogram)| AnswerRow {
            group: GroupKey { sex, age_band: band.map(|(lo, hi)| AgeBand { lo, hi }) },
            patients,
            moments,
            histogram,
        });
    (
        prop::collection::vec(row, 0..8),
        2u32..100,
        any::<u64>(),
        any::<u64>(),
        proptest::option::of("[a-zA-Z/%\\[\\]]{1,8}"),
        proptest::option::of(("[a-z0-9-]{1,12}", any::<i64>())),
    )
        .prop_map(|(rows, threshold, data_version, exec_micros, unit, consented)| NodeAnswer {
            query_id: Uuid::from_u128(data_version as u128),
            threshold,
            unit,
            data_version,
            rows,
            exec_micros,
            consented: consented.map(|(purpose, at)| agora_protocol::Consented { purpose, at }),
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(prop::test_runner::FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn queries_round_trip_through_json_and_signatures(q in query(), researcher in "[a-z]{1,12}") {
        let json = serde_json::to_string(&q).unwrap();
        prop_assert_eq!(&serde_json::from_str::<Query>(&json).unwrap(), &q);
        let key = libp2p::identity::Keypair::generate_ed25519();
        let req = QueryRequest { header: Header::new(Uuid::new_v4(), 1000, 60), researcher, purpose: None, query: q, presentation: None };
        let signed = Signed::sign(&req, &key);
        let wire = serde_json::to_string(&signed).unwrap();
        let back: Signed<QueryRequest> = serde_json::from_str(&wire).unwrap();
        prop_assert_eq!(back.verify().unwrap().payload, req);
    }

    #[test]
    fn answers_round_trip_and_tampering_is_caught(a in answer(), flip in any::<prop::sample::Index>()) {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let msg = AnswerMessage { header: Header::new(a.query_id, 1000, 60), outcome: Outcome::Answered { answer: a } };
        let signed = Signed::sign(&msg, &key);
        prop_assert_eq!(&signed.verify().unwrap().payload, &msg);
        // Change one byte of the signed body: verification fails.
        let mut bytes = signed.body.clone().into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        if let Ok(body) = String::from_utf8(bytes) {
            if body != signed.body {
                let mut tampered = signed.clone();
                tampered.body = body;
                prop_assert!(tampered.verify().is_err());
            }
        }
    }

    #[test]
    fn rejections_round_trip(code in prop::sample::select(vec![
        RejectionCode::BadSignature, RejectionCode::UnknownHub, RejectionCode::Stale, RejectionCode::Replayed,
        RejectionCode::InvalidQuery, RejectionCode::NotAllowed, RejectionCode::RateLimited,
        RejectionCode::DeniedBySteward, RejectionCode::Internal]), message in ".{0,40}") {
        let o = Outcome::Rejected { rejection: Rejection::new(code, message) };
        let json = serde_json::to_string(&o).unwrap();
        prop_assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o);
    }
}
