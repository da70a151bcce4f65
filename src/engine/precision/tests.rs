//! Enrolment by biomarkers, randomisation within strata, graduation and replay, on the test
//! fixtures of `tests/protocols/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::super::strata::Biomarkers;
use super::super::{replay, Engine, EngineError, EventBody, OutcomeValue, TrialSeed, TrialState};
use crate::protocol::Protocol;

fn fixture(name: &str) -> Protocol {
    let path = format!("{}/tests/protocols/{name}", env!("CARGO_MANIFEST_DIR"));
    Protocol::load(std::path::Path::new(&path)).expect("the fixture validates")
}

fn load_shipped(name: &str) -> Protocol {
    let path = format!("{}/protocols/{name}", env!("CARGO_MANIFEST_DIR"));
    Protocol::load(std::path::Path::new(&path)).expect("the shipped protocol validates")
}

fn values(pairs: &[(&str, &str)]) -> Arc<Biomarkers> {
    Arc::new(Biomarkers(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    ))
}

/// A running trial of the two-biomarker fixture (HR+/HER2+ ineligible; arm `a` in HR− only).
fn started(protocol: &Protocol) -> (Engine<'_>, TrialState) {
    let mut engine = Engine::new(protocol, TrialSeed::from_bytes([7; 32]));
    let mut state = TrialState::new(protocol).expect("state");
    engine.start(&mut state, "test").expect("start");
    (engine, state)
}

#[test]
fn bad_biomarker_values_are_refused_naming_them_and_nothing_is_written() {
    let protocol = fixture("precision-two-biomarkers.toml");
    let (mut engine, mut state) = started(&protocol);
    let before = state.clone();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("HR", "neg")], "HER2"),
        (&[("HR", "neg"), ("HER2", "pos"), ("ER", "pos")], "ER"),
        (&[("HR", "neg"), ("HER2", "equivocal")], "equivocal"),
        (&[("HR", "pos"), ("HER2", "pos")], "HR=pos HER2=pos"),
    ];
    for (given, named) in cases {
        let mut out = Vec::new();
        let error = engine
            .enrol_with_biomarkers_into(&mut state, &Arc::from("S-1"), &values(given), &mut out)
            .expect_err("refused");
        match error {
            EngineError::Invalid { field, problem } => {
                assert_eq!(field, "biomarkers");
                assert!(problem.contains(named), "{problem:?} names {named}");
            }
            other => panic!("expected an input error, got {other:?}"),
        }
        assert!(out.is_empty());
        assert_eq!(state, before);
    }
    let refused = engine
        .enrol(&mut state, "S-1")
        .expect_err("biomarkers needed");
    assert!(matches!(
        refused,
        EngineError::Invalid {
            field: "biomarkers",
            ..
        }
    ));
    assert_eq!(state, before);
}

#[test]
fn participants_are_randomised_only_to_arms_open_in_their_stratum() {
    let protocol = fixture("precision-two-biomarkers.toml");
    let (mut engine, mut state) = started(&protocol);
    let a = state.arm_index(&protocol.arms[1].id).expect("arm a");
    for i in 0..120 {
        let hr = if i % 2 == 0 { "pos" } else { "neg" };
        let given = values(&[("HR", hr), ("HER2", "neg")]);
        let mut out = Vec::new();
        engine
            .enrol_with_biomarkers_into(&mut state, &Arc::from(format!("S-{i}")), &given, &mut out)
            .expect("enrolled");
        let enrolled = out
            .iter()
            .find_map(|e| match &e.body {
                EventBody::ParticipantEnrolled { stratum, .. } => *stratum,
                _ => None,
            })
            .expect("a stratum");
        let participant = &state.participants[i];
        assert_eq!(participant.stratum, Some(enrolled));
        if hr == "pos" {
            assert_ne!(
                participant.arm,
                Some(a),
                "arm a enrols HR-negative participants only"
            );
        }
    }
    let strata = state.strata.as_ref().expect("strata");
    assert_eq!(strata.enrolled.iter().sum::<u32>(), 120);
}

#[test]
fn a_precision_trial_replays_and_a_changed_stratum_is_caught() {
    let protocol = load_shipped("precision-ispy2.toml");
    let mut engine = Engine::new(&protocol, TrialSeed::from_bytes([7; 32]));
    let mut state = TrialState::new(&protocol).expect("state");
    let mut log = engine.start(&mut state, "test").expect("start");
    let subtypes = [
        [("HR", "neg"), ("HER2", "pos"), ("MP", "high")],
        [("HR", "neg"), ("HER2", "neg"), ("MP", "low")],
        [("HR", "pos"), ("HER2", "neg"), ("MP", "high")],
        [("HR", "pos"), ("HER2", "pos"), ("MP", "low")],
    ];
    for i in 0..400_u32 {
        let given = values(&subtypes[i as usize % subtypes.len()]);
        engine
            .enrol_with_biomarkers_into(&mut state, &Arc::from(format!("S-{i}")), &given, &mut log)
            .expect("enrolled");
        if i >= 20 {
            let participant = i - 20;
            let arm = state.participants[participant as usize]
                .arm
                .expect("randomised");
            // Arm 1 (neratinib) responds in HER2-positive subtypes, the others rarely.
            let her2 = subtypes[participant as usize % subtypes.len()][1].1 == "pos";
            let response = (arm == 1 && her2 && participant % 5 != 0) || participant % 7 == 0;
            engine
                .record_outcome_into(
                    &mut state,
                    participant,
                    OutcomeValue::Binary { response },
                    &mut log,
                )
                .expect("recorded");
        }
        if !state.is_running() || state.enrolment_closed().is_some() {
            break;
        }
    }
    let kinds: Vec<&str> = log.iter().map(|e| e.body.kind()).collect();
    assert!(kinds.contains(&"look_performed"));
    assert!(
        kinds.contains(&"arm_graduated"),
        "neratinib graduates: {kinds:?}"
    );
    let strata = state.strata.as_ref().expect("strata");
    assert!(
        strata.graduated.iter().any(|g| g.arm == 1),
        "neratinib graduates: {:?}",
        strata.graduated
    );
    let replayed = replay(&protocol, TrialSeed::from_bytes([7; 32]), &log).expect("replays");
    assert_eq!(replayed, state);
    // A stratum changed in the log is caught: the engine reads another from the values.
    let mut tampered = log.clone();
    let enrolment = tampered
        .iter_mut()
        .find_map(|e| match &mut e.body {
            EventBody::ParticipantEnrolled { stratum, .. } => Some(stratum),
            _ => None,
        })
        .expect("an enrolment");
    *enrolment = enrolment.map(|s| (s + 1) % 7);
    let mismatch =
        replay(&protocol, TrialSeed::from_bytes([7; 32]), &tampered).expect_err("caught");
    assert!(mismatch.problem.contains("stratum"), "{}", mismatch.problem);
}

#[test]
fn a_design_that_borrows_across_strata_is_refused_at_start() {
    let path = format!(
        "{}/tests/protocols/precision-two-biomarkers.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let text = text.replace(
        "[graduation]",
        "[borrowing]\nmodel = \"bhm\"\nmu_prior = [-1.0, 2.0]\ntau_prior = 1.0\n\n[graduation]",
    );
    let protocol = Protocol::from_toml(&text, "borrowing").expect("valid");
    let mut engine = Engine::new(&protocol, TrialSeed::from_bytes([7; 32]));
    let mut state = TrialState::new(&protocol).expect("state");
    let refused = engine.start(&mut state, "test").expect_err("refused");
    assert!(
        refused.to_string().contains("borrows across strata"),
        "{refused}"
    );
    assert_eq!(state.last_seq, 0);
}
