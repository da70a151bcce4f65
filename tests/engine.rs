//! Black-box tests of the trial engine: determinism, folding, replay, allocation and decisions,

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]
//! driven through the public API with the shipped protocols.

use std::path::Path;

use bayestrial::engine::{
    replay, ArmStatus, Engine, Event, EventBody, OutcomeValue, RandomisationPhase, StopReason,
    TrialSeed, TrialState, TrialStatus,
};
use bayestrial::protocol::Protocol;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn load(name: &str) -> Protocol {
    match Protocol::load(&Path::new("protocols").join(name)) {
        Ok(p) => p,
        Err(e) => panic!("{name} should be valid: {e}"),
    }
}

/// Drives a trial: enrol everyone, outcomes arrive `delay` enrolments later from `truth`.
fn drive(
    protocol: &Protocol,
    seed: u64,
    truth: &dyn Fn(&str) -> f64,
    delay: usize,
) -> (Vec<Event>, TrialState) {
    let mut engine = Engine::new(protocol, TrialSeed::from_u64(seed));
    let mut state = TrialState::new(protocol).expect("state");
    let mut events = engine.start(&mut state, "test-hash").expect("start");
    let mut outcomes = ChaCha8Rng::seed_from_u64(seed ^ 0xABCD);
    let mut pending: Vec<String> = Vec::new();
    let mut next = 0;
    loop {
        let can_enrol = state.is_running() && state.enrolled() < state.max_participants;
        if can_enrol {
            let subject = format!("S{next:05}");
            next += 1;
            events.extend(engine.enrol(&mut state, &subject).expect("enrol"));
            pending.push(subject);
        }
        if pending.len() > delay || (!can_enrol && !pending.is_empty()) {
            let subject = pending.remove(0);
            let index = state.participant_index(&subject).expect("known subject");
            let arm = state.participants[index].arm.expect("randomised");
            let p = truth(state.arms[arm].id.as_str());
            let value = OutcomeValue::Binary {
                response: outcomes.gen::<f64>() < p,
            };
            events.extend(
                engine
                    .record_outcome(&mut state, &subject, value)
                    .expect("outcome"),
            );
        }
        if !can_enrol && pending.is_empty() {
            break;
        }
    }
    (events, state)
}

#[test]
fn same_seed_and_inputs_give_identical_events_and_fold_to_the_same_state() {
    let protocol = load("platform-binary-4arm.toml");
    let truth = |arm: &str| if arm == "drug-b" { 0.45 } else { 0.25 };
    let (first, state) = drive(&protocol, 11, &truth, 30);
    let (second, _) = drive(&protocol, 11, &truth, 30);
    assert_eq!(first, second);
    let folded = TrialState::fold(&protocol, &first).expect("fold");
    assert_eq!(folded, state);
    let refolded = TrialState::fold(&protocol, &first).expect("fold again");
    assert_eq!(folded, refolded);
    let (other, _) = drive(&protocol, 12, &truth, 30);
    assert_ne!(first, other, "another seed gives another trial");
    // Sequence numbers are gap-free from 1.
    assert!(first.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
}

#[test]
fn replay_rederives_every_event_and_finds_a_changed_allocation() {
    let protocol = load("platform-binary-4arm.toml");
    let truth = |arm: &str| if arm == "drug-b" { 0.45 } else { 0.25 };
    let (events, state) = drive(&protocol, 5, &truth, 20);
    let replayed = replay(&protocol, TrialSeed::from_u64(5), &events).expect("replay");
    assert_eq!(replayed, state);
    // Another seed cannot explain the log.
    assert!(replay(&protocol, TrialSeed::from_u64(6), &events).is_err());
    // Change one assignment: replay names that event.
    let mut tampered = events.clone();
    let position = tampered
        .iter()
        .position(|e| {
            matches!(
                &e.body,
                EventBody::Randomised {
                    phase: RandomisationPhase::Adaptive,
                    ..
                }
            )
        })
        .expect("an adaptive randomisation");
    if let EventBody::Randomised {
        arm, probabilities, ..
    } = &mut tampered[position].body
    {
        let other = probabilities
            .iter()
            .find(|s| &s.arm != arm)
            .expect("another arm")
            .arm
            .clone();
        *arm = other;
    }
    let mismatch =
        replay(&protocol, TrialSeed::from_u64(5), &tampered).expect_err("tampering is found");
    assert_eq!(mismatch.seq, tampered[position].seq);
}

#[test]
fn every_randomisation_uses_probabilities_that_sum_to_one_within_bounds() {
    let protocol = load("platform-binary-4arm.toml");
    let truth = |arm: &str| if arm == "drug-a" { 0.40 } else { 0.25 };
    let (events, _) = drive(&protocol, 3, &truth, 25);
    let mut adaptive = 0;
    for event in &events {
        if let EventBody::Randomised {
            probabilities,
            draw,
            phase,
            ..
        } = &event.body
        {
            let sum: f64 = probabilities.iter().map(|s| s.probability).sum();
            assert!((sum - 1.0).abs() < 1e-9, "seq {}: {sum}", event.seq);
            assert!((0.0..1.0).contains(draw));
            assert_eq!(
                *draw,
                TrialSeed::from_u64(3).draw(event.seq),
                "draw is re-derivable alone"
            );
            if *phase == RandomisationPhase::Adaptive {
                adaptive += 1;
            }
        }
        if let EventBody::AllocationUpdated { probabilities, .. } = &event.body {
            for share in probabilities.iter().filter(|s| s.arm.as_str() != "soc") {
                assert!(
                    share.probability >= 0.05 - 1e-12 && share.probability <= 0.80 + 1e-12,
                    "{share:?}"
                );
            }
        }
    }
    assert!(adaptive > 0);
}

#[test]
fn a_clearly_better_arm_wins_without_a_control() {
    let protocol = load("three-arm-pbest.toml");
    let truth = |arm: &str| if arm == "phone" { 0.65 } else { 0.20 };
    let (events, state) = drive(&protocol, 1, &truth, 10);
    let stopped_for = match &state.status {
        TrialStatus::Stopped { reason } => reason.clone(),
        other => panic!("trial should have stopped: {other:?}"),
    };
    match stopped_for {
        StopReason::Superiority {
            arm,
            probability,
            threshold,
        } => {
            assert_eq!(arm.as_str(), "phone");
            assert!(probability > threshold);
        }
        StopReason::OneArmLeft { arm } => assert_eq!(arm.as_str(), "phone"),
        other => panic!("unexpected stop: {other:?}"),
    }
    assert!(
        state.enrolled() < protocol.trial.max_participants,
        "stopped early"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e.body, EventBody::LookPerformed { .. })));
}

#[test]
fn an_inferior_arm_is_dropped_against_the_control_and_late_arms_use_concurrent_controls() {
    let protocol = load("platform-binary-4arm.toml");
    let truth = |arm: &str| if arm == "drug-a" { 0.05 } else { 0.30 };
    let mut checked = 0;
    for seed in 2..8 {
        let (events, state) = drive(&protocol, seed, &truth, 0);
        let a = state
            .arm_index(&bayestrial::protocol::ArmId::parse("drug-a").expect("id"))
            .expect("arm");
        assert_eq!(state.arms[a].status, ArmStatus::Dropped, "seed {seed}");
        assert!(events.iter().any(
            |e| matches!(&e.body, EventBody::ArmDropped { arm, .. } if arm.as_str() == "drug-a")
        ));
        // drug-c opens at 300 enrolled; its comparisons use fewer controls than drug-b's.
        for event in &events {
            if let EventBody::LookPerformed { arms, .. } = &event.body {
                let b = arms.iter().find(|x| x.arm.as_str() == "drug-b");
                let c = arms.iter().find(|x| x.arm.as_str() == "drug-c");
                if let (Some(b), Some(c)) = (b, c) {
                    assert!(
                        c.control_n < b.control_n,
                        "{:?} vs {:?}",
                        c.control_n,
                        b.control_n
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(
        checked > 0,
        "some look compared drug-c and drug-b with the control"
    );
}

#[test]
fn burn_in_blocks_are_balanced() {
    let protocol = load("three-arm-pbest.toml");
    let truth = |_: &str| 0.3;
    let (events, _) = drive(&protocol, 9, &truth, 100);
    let block: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Randomised {
                arm,
                phase: RandomisationPhase::Block,
                ..
            } => Some(arm.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(block.len(), protocol.allocation.burn_in as usize);
    for chunk in block.chunks(3) {
        let mut sorted = chunk.to_vec();
        sorted.sort();
        assert_eq!(
            sorted,
            ["app", "brief", "phone"],
            "each block of 3 holds every arm once"
        );
    }
}

#[test]
fn refused_commands_change_nothing() {
    let protocol = load("three-arm-pbest.toml");
    let mut engine = Engine::new(&protocol, TrialSeed::from_u64(1));
    let mut state = TrialState::new(&protocol).expect("state");
    assert!(engine.enrol(&mut state, "S1").is_err(), "not started");
    engine.start(&mut state, "h").expect("start");
    engine.enrol(&mut state, "S1").expect("enrol");
    let before = state.clone();
    assert!(engine.enrol(&mut state, "S1").is_err(), "duplicate subject");
    assert!(engine.enrol(&mut state, "  ").is_err(), "blank subject");
    assert!(
        engine
            .record_outcome(&mut state, "S1", OutcomeValue::Continuous { value: 1.0 })
            .is_err(),
        "wrong kind"
    );
    assert!(
        engine
            .record_outcome(&mut state, "S9", OutcomeValue::Binary { response: true })
            .is_err(),
        "unknown subject"
    );
    assert!(
        engine
            .correct_outcome(
                &mut state,
                "S1",
                OutcomeValue::Binary { response: true },
                "typo"
            )
            .is_err(),
        "nothing to correct"
    );
    assert_eq!(state, before);
    let recorded = engine
        .record_outcome(&mut state, "S1", OutcomeValue::Binary { response: false })
        .expect("record");
    assert!(
        engine
            .record_outcome(&mut state, "S1", OutcomeValue::Binary { response: true })
            .is_err(),
        "second record needs a correction"
    );
    assert!(
        engine
            .correct_outcome(
                &mut state,
                "S1",
                OutcomeValue::Binary { response: true },
                " "
            )
            .is_err(),
        "a correction needs a reason"
    );
    let corrected = engine
        .correct_outcome(
            &mut state,
            "S1",
            OutcomeValue::Binary { response: true },
            "transcription error",
        )
        .expect("correct");
    match &corrected[0].body {
        EventBody::OutcomeCorrected { corrects, .. } => assert_eq!(*corrects, recorded[0].seq),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        state.participants[0].outcome,
        Some(OutcomeValue::Binary { response: true })
    );
}

#[test]
fn events_survive_a_json_round_trip_and_still_replay() {
    let protocol = load("platform-binary-4arm.toml");
    let truth = |arm: &str| if arm == "drug-b" { 0.45 } else { 0.25 };
    let (events, state) = drive(&protocol, 21, &truth, 15);
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).expect("encode"))
        .collect();
    let decoded: Vec<Event> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("decode"))
        .collect();
    assert_eq!(decoded, events);
    assert!(
        lines[0].contains(r#""kind":"trial_started""#),
        "{}",
        lines[0]
    );
    let replayed = replay(&protocol, TrialSeed::from_u64(21), &decoded).expect("replay");
    assert_eq!(replayed, state);
}

fn variant(name: &str, from: &str, to: &str) -> Protocol {
    let text = std::fs::read_to_string(Path::new("protocols").join(name)).expect("read");
    assert!(text.contains(from), "{name} has {from}");
    Protocol::from_toml(&text.replace(from, to), name).expect("variant is valid")
}

#[test]
fn all_controls_policy_compares_late_arms_with_every_control() {
    let protocol = variant(
        "platform-binary-4arm.toml",
        r#"controls = "concurrent""#,
        r#"controls = "all""#,
    );
    let truth = |_: &str| 0.3;
    let (events, _) = drive(&protocol, 4, &truth, 0);
    let mut checked = false;
    for event in &events {
        if let EventBody::LookPerformed { arms, .. } = &event.body {
            let soc = arms.iter().find(|x| x.arm.as_str() == "soc");
            let c = arms.iter().find(|x| x.arm.as_str() == "drug-c");
            if let (Some(soc), Some(c)) = (soc, c) {
                assert_eq!(c.control_n, Some(soc.n));
                checked = true;
            }
        }
    }
    assert!(checked);
}

#[test]
fn half_information_power_grows_with_enrolment() {
    let protocol = variant("three-arm-pbest.toml", "power = 0.5", r#"power = "n/2N""#);
    let truth = |arm: &str| if arm == "app" { 0.4 } else { 0.3 };
    let (events, _) = drive(&protocol, 8, &truth, 20);
    let mut state = TrialState::new(&protocol).expect("state");
    let mut powers = Vec::new();
    for event in &events {
        if let EventBody::AllocationUpdated { power, .. } = &event.body {
            let expected = state.enrolled() as f64 / (2.0 * protocol.trial.max_participants as f64);
            assert!((power - expected).abs() < 1e-15, "{power} vs {expected}");
            powers.push(*power);
        }
        state.apply(event).expect("apply");
    }
    assert!(
        powers.len() >= 2 && powers.windows(2).all(|w| w[0] <= w[1]),
        "{powers:?}"
    );
}

#[test]
fn amendments_add_an_arm_and_change_the_maximum() {
    let protocol = load("platform-binary-4arm.toml");
    let mut engine = Engine::new(&protocol, TrialSeed::from_u64(30));
    let mut state = TrialState::new(&protocol).expect("state");
    let mut events = engine.start(&mut state, "h").expect("start");
    for i in 0..40 {
        events.extend(engine.enrol(&mut state, &format!("A{i}")).expect("enrol"));
    }
    let new_arm = bayestrial::engine::NewArm {
        id: bayestrial::protocol::ArmId::parse("drug-d").expect("id"),
        name: "Drug D".into(),
        prior: None,
        ratio: 1,
    };
    let duplicate = bayestrial::engine::NewArm {
        id: bayestrial::protocol::ArmId::parse("drug-a").expect("id"),
        ..new_arm.clone()
    };
    assert!(engine.add_arm(&mut state, duplicate).is_err());
    events.extend(engine.add_arm(&mut state, new_arm).expect("add arm"));
    let d = state
        .arm_index(&bayestrial::protocol::ArmId::parse("drug-d").expect("id"))
        .expect("added");
    assert_eq!(state.arms[d].status, ArmStatus::Active);
    assert_eq!(state.arms[d].opened_at, Some(40));
    for i in 0..40 {
        events.extend(engine.enrol(&mut state, &format!("B{i}")).expect("enrol"));
    }
    assert!(
        state.participants.iter().any(|p| p.arm == Some(d)),
        "the new arm receives participants"
    );
    assert!(
        engine.change_max_participants(&mut state, 10).is_err(),
        "below enrolment"
    );
    events.extend(
        engine
            .change_max_participants(&mut state, 1500)
            .expect("amend"),
    );
    assert_eq!(state.max_participants, 1500);
    assert_eq!(state.looks.last(), Some(&1500));
    assert!(state.looks.windows(2).all(|w| w[0] < w[1]));
    events.extend(engine.close(&mut state, "sponsor decision").expect("close"));
    assert!(engine.enrol(&mut state, "late").is_err());
    let replayed = replay(&protocol, TrialSeed::from_u64(30), &events).expect("replay amendments");
    assert_eq!(replayed, state);
}

#[test]
fn futility_drops_with_per_look_thresholds() {
    let text = std::fs::read_to_string("protocols/platform-binary-4arm.toml").expect("read");
    let text = text.replace("inferiority = 0.01\n", "").replace(
        "futility = { delta = 0.05, below = 0.05 }",
        "futility = { delta = 0.05, below = [0.02, 0.05] }",
    );
    let protocol = Protocol::from_toml(&text, "futility-variant").expect("valid variant");
    let per_look = [0.02, 0.05];
    let mut futile = 0;
    for seed in 0..6 {
        let truth = |arm: &str| if arm == "drug-a" { 0.15 } else { 0.35 };
        let (events, _) = drive(&protocol, 100 + seed, &truth, 0);
        for event in &events {
            if let EventBody::ArmDropped {
                arm,
                reason,
                probability,
                threshold,
                look,
            } = &event.body
            {
                assert_ne!(
                    *reason,
                    bayestrial::engine::DropReason::Inferiority,
                    "inferiority is off"
                );
                if *reason == bayestrial::engine::DropReason::Futility {
                    assert_eq!(*threshold, per_look[(*look as usize - 1).min(1)]);
                    assert!(probability < threshold);
                    futile += usize::from(arm.as_str() == "drug-a");
                }
            }
        }
    }
    assert!(
        futile >= 4,
        "a clearly worse arm is usually dropped for futility ({futile} of 6)"
    );
}

#[test]
fn equal_arms_stop_for_equivalence_without_a_control() {
    let protocol = variant(
        "three-arm-pbest.toml",
        "equivalence = { delta = 0.05, above = 0.90 }",
        "equivalence = { delta = 0.25, above = 0.90 }",
    );
    let truth = |_: &str| 0.3;
    let (_, state) = drive(&protocol, 12, &truth, 0);
    match &state.status {
        TrialStatus::Stopped {
            reason:
                StopReason::Equivalence {
                    probability,
                    threshold,
                },
        } => assert!(probability > threshold),
        other => panic!("expected an equivalence stop, got {other:?}"),
    }
}

#[test]
fn a_value_that_would_overflow_the_posterior_is_refused_as_an_input_error() {
    // Without the protocol's range, only the numerics bound the value.
    let protocol = variant("continuous-2arm.toml", "min = -400\nmax = 400\n", "");
    assert!(protocol.outcome.min.is_none() && protocol.outcome.max.is_none());
    let mut engine = Engine::new(&protocol, TrialSeed::from_u64(5));
    let mut state = TrialState::new(&protocol).expect("state");
    engine.start(&mut state, "h").expect("start");
    engine.enrol(&mut state, "S1").expect("enrol");
    let before = state.clone();
    for huge in [1e200, -1e200] {
        let refused =
            engine.record_outcome(&mut state, "S1", OutcomeValue::Continuous { value: huge });
        assert!(
            matches!(
                refused,
                Err(bayestrial::engine::EngineError::Invalid { field: "value", .. })
            ),
            "{huge}: {refused:?}"
        );
        assert_eq!(state, before, "{huge} changed nothing");
    }
    engine
        .record_outcome(&mut state, "S1", OutcomeValue::Continuous { value: 12.5 })
        .expect("an ordinary value is recorded");
}

/// A precision design starts like any platform design and enrols by biomarkers: the stratum is
/// the engine's reading of the values, and an arm restricted to other strata is never assigned.
#[test]
fn a_precision_design_enrols_by_biomarkers_within_the_stratum() {
    let protocol = Protocol::load(Path::new("tests/protocols/precision-two-biomarkers.toml"))
        .expect("a valid precision protocol");
    let precision = protocol.precision.as_ref().expect("a precision layer");
    assert_eq!(precision.strata.len(), 3);
    let mut engine = Engine::new(&protocol, TrialSeed::from_u64(1));
    let mut state = TrialState::new(&protocol).expect("state");
    engine.start(&mut state, "test-hash").expect("starts");
    assert_eq!(state.status, TrialStatus::Running);
    let values = std::sync::Arc::new(bayestrial::engine::strata::Biomarkers(
        [("HR", "pos"), ("HER2", "neg")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    ));
    let mut out = Vec::new();
    engine
        .enrol_with_biomarkers_into(&mut state, &"S1".into(), &values, &mut out)
        .expect("enrolled");
    let stratum = state.participants[0].stratum.expect("a stratum") as usize;
    assert_eq!(precision.strata[stratum].label, "HR=pos HER2=neg");
    let arm = state.participants[0].arm.expect("randomised");
    assert!(precision.arm_strata[arm].contains(stratum));
}
