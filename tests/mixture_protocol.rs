//! Mixture priors in the protocol language: a protocol with a robust MAP prior on the control
//! parses, simulates, runs live and replays, and keeps its canonical form; bad mixtures are refused with the key named
//! (`prior.mixture[1].beta[0]`) and its line and column.

use bayestrial::engine::{replay, Engine, Event, OutcomeValue, TrialSeed, TrialState};
use bayestrial::protocol::{LoadedProtocol, Prior, PriorMixture, Protocol};
use bayestrial::sim::{simulate, Selection, SimScenario, SimulationPlan};

const ROBUST_CONTROL: &str = r#"
[trial]
id = "ROBUST-MAP"
title = "Two arms, a robust MAP prior on the control"
design = "platform"
max_participants = 120

[outcome]
kind = "binary"
name = "Response"

[[arm]]
id = "placebo"
control = true
prior = { mixture = [ { weight = 0.8, beta = [12.3, 55.9] }, { weight = 0.2, beta = [1, 1] } ] }

[[arm]]
id = "drug"

[analysis]
looks = [60, 120]

[decision]
superiority = 0.95

[[scenario]]
name = "drug-works"
truth = { placebo = 0.2, drug = 0.45 }
accrual_per_week = 10
"#;

#[test]
fn a_protocol_with_a_mixture_prior_parses_and_simulates() {
    let protocol = Protocol::from_toml(ROBUST_CONTROL, "robust").expect("valid protocol");
    let Prior::Mixture(PriorMixture::Beta(mixture)) = protocol.arms[0].prior else {
        panic!(
            "the control's prior is a beta mixture: {:?}",
            protocol.arms[0].prior
        );
    };
    assert_eq!(mixture.len(), 2);
    assert!(matches!(protocol.arms[1].prior, Prior::Beta { .. }));
    let plan = SimulationPlan {
        scenario: SimScenario::from_protocol(&protocol, "drug-works", &[]).expect("scenario"),
        reps: 40,
        seed: 11,
        threads: 1,
        selection: Selection::BestRemaining,
    };
    let report = simulate(&protocol, "hash", &plan, &|| {}).expect("simulation");
    assert!(
        report.metrics.prob_superiority > 0.5,
        "{}",
        report.metrics.prob_superiority
    );
    // The canonical form is stable and carries the mixture.
    let loaded = LoadedProtocol::from_toml(ROBUST_CONTROL, "robust").expect("loaded");
    let again = LoadedProtocol::from_toml(ROBUST_CONTROL, "robust").expect("loaded");
    assert_eq!(loaded.hash, again.hash);
}

#[test]
fn a_live_trial_with_a_mixture_prior_records_mixture_posteriors_and_replays() {
    let protocol = Protocol::from_toml(ROBUST_CONTROL, "robust").expect("valid protocol");
    let mut engine = Engine::new(&protocol, TrialSeed::from_u64(3));
    let mut state = TrialState::new(&protocol).expect("state");
    let mut events = engine.start(&mut state, "test-hash").expect("start");
    for i in 0..120 {
        if !state.is_running() {
            break;
        }
        let subject = format!("S{i:04}");
        events.extend(engine.enrol(&mut state, &subject).expect("enrol"));
        let index = state.participant_index(&subject).expect("known");
        let arm = state.participants[index].arm.expect("randomised");
        let response = if state.arms[arm].id.as_str() == "drug" {
            i % 2 == 0
        } else {
            i % 5 == 0
        };
        events.extend(
            engine
                .record_outcome(&mut state, &subject, OutcomeValue::Binary { response })
                .expect("outcome"),
        );
    }
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).expect("encode"))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains(r#""family":"mixture""#)),
        "a look records the control's mixture posterior"
    );
    let decoded: Vec<Event> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("decode"))
        .collect();
    assert_eq!(decoded, events);
    let replayed = replay(&protocol, TrialSeed::from_u64(3), &decoded).expect("replay");
    assert_eq!(replayed, state);
}

fn error_of(prior: &str) -> String {
    let text = ROBUST_CONTROL.replace(
        "prior = { mixture = [ { weight = 0.8, beta = [12.3, 55.9] }, { weight = 0.2, beta = [1, 1] } ] }",
        prior,
    );
    match Protocol::from_toml(&text, "broken.toml") {
        Ok(_) => panic!("{prior} should be refused"),
        Err(errors) => errors.to_string(),
    }
}

#[test]
fn bad_mixtures_are_refused_with_the_key_named() {
    let cases = [
        (
            "prior = { mixture = [ { weight = 0.8, beta = [12.3, 55.9] }, { weight = 0.3, beta = [1, 1] } ] }",
            "prior.mixture: the weights sum to 1.1",
        ),
        (
            "prior = { mixture = [ { weight = 0.8, beta = [12.3, 55.9] }, { weight = 0.2, beta = [0, 1] } ] }",
            "prior.mixture[1].beta[0]: 0 must be a number > 0",
        ),
        (
            "prior = { mixture = [ { weight = 0.8, beta = [12.3, 55.9] }, { weight = 0.2, gamma = [1, 1] } ] }",
            "prior.mixture[1].gamma: a gamma prior is for count outcomes",
        ),
        ("prior = { mixture = [] }", "prior.mixture: a mixture needs at least one component"),
        (
            "prior = { mixture = [ { weight = 0.1, beta = [1, 1] }, { weight = 0.1, beta = [1, 1] }, { weight = 0.1, beta = [1, 1] }, { weight = 0.1, beta = [1, 1] }, { weight = 0.1, beta = [1, 1] }, { weight = 0.1, beta = [1, 1] }, { weight = 0.1, beta = [1, 1] }, { weight = 0.1, beta = [1, 1] }, { weight = 0.2, beta = [1, 1] } ] }",
            "prior.mixture: 9 components given; a mixture holds at most 8",
        ),
        (
            "prior = { mixture = [ { weight = -0.2, beta = [1, 1] }, { weight = 1.2, beta = [1, 1] } ] }",
            "prior.mixture[0].weight: -0.2 must be a number > 0",
        ),
    ];
    for (prior, expected) in cases {
        let message = error_of(prior);
        assert!(
            message.contains(expected),
            "{prior}\n→ {message}\n(expected {expected})"
        );
        // file:line:col, the arm's prior is on line 15 of the text.
        assert!(message.contains("broken.toml:15:"), "{message}");
    }
}
