//! Black-box tests of the n-of-1 engine: calendars and treatment sequences, measurements and
//! their corrections, run-in and washout days left out of the analysis, per-patient looks with
//! their stopping rules, the series look, folding and replay.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the first broken step"
)]

use bayestrial::engine::{
    replay, Calendar, DayPhase, Engine, Event, EventBody, OutcomeValue, PatientEnd, TrialSeed,
    TrialState, TrialStatus,
};
use bayestrial::protocol::Protocol;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A normal draw (Box–Muller).
fn gauss(rng: &mut ChaCha8Rng, sd: f64) -> f64 {
    let u: f64 = rng.gen::<f64>().max(1e-300);
    let v: f64 = rng.gen();
    sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A two-treatment n-of-1 protocol: 4 cycles of 10-day periods, 2 days of washout, 5 days of
/// run-in, 5 measurements per period, early stopping after 2 cycles.
fn protocol(extra: &str, sequence: &str) -> Protocol {
    let text = format!(
        r#"
[trial]
id = "NOF1-TEST"
title = "n-of-1 engine test"
design = "nof1"
max_participants = 5

[outcome]
kind = "continuous"
name = "Pain"
better = "lower"
min = 0
max = 10

[prior]
normal_inverse_gamma = {{ mu0 = 5.0, kappa0 = 0.01, alpha0 = 1.0, beta0 = 1.0 }}

[nof1]
treatments = ["a", "b"]
cycles = 4
period_days = 10
washout_days = 2
run_in_days = 5
measurements_per_period = 5
sequence = "{sequence}"
mcid = 1.0
{extra}
"#
    );
    Protocol::from_toml(&text, "test.toml").expect("valid protocol")
}

fn value(x: f64) -> OutcomeValue {
    OutcomeValue::Continuous { value: x }
}

/// Measures every planned day of every assigned period: `truth(treatment)` plus noise.
fn measure_patient(
    engine: &mut Engine<'_>,
    state: &mut TrialState,
    subject: &str,
    truth: &dyn Fn(usize) -> f64,
    rng: &mut ChaCha8Rng,
) -> Vec<Event> {
    let spec = engine.protocol().nof1.clone().expect("n-of-1");
    let calendar = Calendar::of(&spec);
    let index = state.participant_index(subject).expect("enrolled");
    let mut events = Vec::new();
    for period in 1..=calendar.periods() {
        if state.nof1[index].end.is_some() {
            break;
        }
        let treatment = state.nof1[index].periods[period as usize - 1];
        for day in calendar.measurement_days(period).collect::<Vec<_>>() {
            if state.nof1[index].end.is_some() {
                break;
            }
            let x = (truth(treatment) + gauss(rng, 0.8)).clamp(0.0, 10.0);
            events.extend(
                engine
                    .record_measurement(state, subject, day, value(x))
                    .expect("measurement"),
            );
        }
    }
    events
}

#[test]
fn the_calendar_places_run_in_periods_and_washouts() {
    let p = protocol("", "pairs");
    let calendar = Calendar::of(p.nof1.as_ref().expect("n-of-1"));
    assert_eq!(calendar.periods(), 8);
    assert_eq!(calendar.period_days(1), (6, 15));
    assert_eq!(calendar.period_days(2), (18, 27));
    assert_eq!(calendar.phase(5), DayPhase::RunIn);
    assert_eq!(calendar.phase(6), DayPhase::Period { period: 1 });
    assert_eq!(calendar.phase(16), DayPhase::Washout { after: 1 });
    assert_eq!(calendar.phase(18), DayPhase::Period { period: 2 });
    assert_eq!(calendar.last_day(), calendar.period_days(8).1);
    assert_eq!(calendar.phase(calendar.last_day() + 1), DayPhase::After);
    let days: Vec<u32> = calendar.measurement_days(1).collect();
    assert_eq!(days, vec![7, 9, 11, 13, 15]);
}

#[test]
fn pairs_and_counterbalanced_sequences_are_drawn_from_the_seed() {
    for sequence in ["pairs", "counterbalanced"] {
        let p = protocol("", sequence);
        let mut engine = Engine::new(&p, TrialSeed::from_u64(3));
        let mut state = TrialState::new(&p).expect("state");
        let mut events = engine.start(&mut state, "h").expect("start");
        events.extend(
            engine
                .enrol_patient(&mut state, "P-1", "2026-12-01")
                .expect("enrol"),
        );
        let periods = &state.nof1[0].periods;
        assert_eq!(periods.len(), 8, "{sequence}: all four cycles assigned");
        for cycle in periods.chunks(2) {
            assert!(
                cycle == [0, 1] || cycle == [1, 0],
                "{sequence}: a cycle gives each treatment once"
            );
        }
        if sequence == "counterbalanced" {
            let first = periods[0];
            let pattern: Vec<bool> = periods.chunks(2).map(|c| c[0] == first).collect();
            assert_eq!(pattern, vec![true, false, false, true], "ABBA BAAB");
        }
        // The same seed gives the same sequence; the fold and replay agree.
        let mut again = TrialState::new(&p).expect("state");
        let mut engine2 = Engine::new(&p, TrialSeed::from_u64(3));
        engine2.start(&mut again, "h").expect("start");
        engine2
            .enrol_patient(&mut again, "P-1", "2026-12-01")
            .expect("enrol");
        assert_eq!(again.nof1, state.nof1);
        assert_eq!(TrialState::fold(&p, &events).expect("fold"), state);
        replay(&p, TrialSeed::from_u64(3), &events).expect("replay");
    }
}

#[test]
fn run_in_and_washout_days_are_left_out_of_the_analysis() {
    let p = protocol("", "pairs");
    let mut engine = Engine::new(&p, TrialSeed::from_u64(5));
    let mut state = TrialState::new(&p).expect("state");
    engine.start(&mut state, "h").expect("start");
    engine
        .enrol_patient(&mut state, "P-1", "2026-12-01")
        .expect("enrol");
    // Extreme values on run-in and washout days.
    engine
        .record_measurement(&mut state, "P-1", 2, value(10.0))
        .expect("run-in day");
    engine
        .record_measurement(&mut state, "P-1", 16, value(0.0))
        .expect("washout day");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let with_extra = measure_patient(&mut engine, &mut state, "P-1", &|_| 5.0, &mut rng);
    // The same measurements without the run-in and washout values.
    let mut engine2 = Engine::new(&p, TrialSeed::from_u64(5));
    let mut clean = TrialState::new(&p).expect("state");
    engine2.start(&mut clean, "h").expect("start");
    engine2
        .enrol_patient(&mut clean, "P-1", "2026-12-01")
        .expect("enrol");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    measure_patient(&mut engine2, &mut clean, "P-1", &|_| 5.0, &mut rng);
    let look = |events: &[Event]| {
        events
            .iter()
            .find_map(|e| match &e.body {
                EventBody::PatientLookPerformed { effects, .. } => Some(effects.clone()),
                _ => None,
            })
            .expect("a look")
    };
    assert_eq!(state.nof1[0].effects, clean.nof1[0].effects);
    assert_eq!(
        look(&with_extra)[0].n,
        vec![5, 5],
        "one cycle: 5 per treatment"
    );
    // A measurement outside the schedule is refused and changes nothing.
    let before = state.clone();
    let last = Calendar::of(p.nof1.as_ref().expect("n-of-1")).last_day();
    let refused = engine.record_measurement(&mut state, "P-1", last + 1, value(1.0));
    assert!(refused.is_err());
    assert_eq!(state, before);
}

#[test]
fn a_clear_benefit_stops_a_patient_early_and_the_series_is_pooled() {
    let p = protocol(
        "stop_benefit = 0.95\nstop_equivalence = 0.9\nmin_cycles = 2",
        "pairs",
    );
    let seed = TrialSeed::from_u64(9);
    let mut engine = Engine::new(&p, seed);
    let mut state = TrialState::new(&p).expect("state");
    let mut events = engine.start(&mut state, "h").expect("start");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for i in 0..5 {
        let subject = format!("P-{i}");
        events.extend(
            engine
                .enrol_patient(&mut state, &subject, "2026-12-01")
                .expect("enrol"),
        );
        // Treatment b lowers pain by 3 points for most; the last patient responds to neither.
        let effect = if i == 4 { 0.0 } else { 3.0 };
        events.extend(measure_patient(
            &mut engine,
            &mut state,
            &subject,
            &|t| if t == 1 { 6.0 - effect } else { 6.0 },
            &mut rng,
        ));
    }
    let ends: Vec<&PatientEnd> = state
        .nof1
        .iter()
        .map(|p| p.end.as_ref().expect("ended"))
        .collect();
    let early = state
        .nof1
        .iter()
        .filter(|p| matches!(p.end, Some(PatientEnd::Benefit { .. })) && p.cycles_looked < 4)
        .count();
    assert!(early >= 1, "a patient stops early for benefit: {ends:?}");
    let series = state.series.as_ref().expect("series look");
    assert_eq!(series.patients, 5);
    assert!(series.mean < -1.0, "b lowers pain: {}", series.mean);
    assert_eq!(series.shrunken.len(), 5);
    assert!(matches!(state.status, TrialStatus::Stopped { .. }));
    // Folding and replay reproduce the run.
    assert_eq!(TrialState::fold(&p, &events).expect("fold"), state);
    replay(&p, seed, &events).expect("replay");
    // A changed measurement is found by replay at its look.
    let mut tampered = events.clone();
    let at = tampered
        .iter()
        .position(|e| matches!(e.body, EventBody::MeasurementRecorded { .. }))
        .expect("a measurement");
    if let EventBody::MeasurementRecorded { value: v, .. } = &mut tampered[at].body {
        *v = value(0.0);
    }
    let mismatch = replay(&p, seed, &tampered).expect_err("replay finds the change");
    assert!(mismatch.seq > tampered[at].seq, "{mismatch}");
}

#[test]
fn corrections_replace_a_value_and_need_a_reason() {
    let p = protocol("", "pairs");
    let mut engine = Engine::new(&p, TrialSeed::from_u64(1));
    let mut state = TrialState::new(&p).expect("state");
    engine.start(&mut state, "h").expect("start");
    engine
        .enrol_patient(&mut state, "P-1", "2026-12-01")
        .expect("enrol");
    let first = engine
        .record_measurement(&mut state, "P-1", 7, value(4.0))
        .expect("measure");
    let seq = first[0].seq;
    assert!(engine
        .correct_measurement(&mut state, "P-1", seq, value(5.0), " ")
        .is_err());
    engine
        .correct_measurement(&mut state, "P-1", seq, value(5.0), "typo")
        .expect("correct");
    assert_eq!(state.nof1[0].measurements.len(), 1);
    assert_eq!(state.nof1[0].measurements[0].value, value(5.0));
    // The corrected event is no longer current.
    assert!(engine
        .correct_measurement(&mut state, "P-1", seq, value(6.0), "again")
        .is_err());
}

#[test]
fn adaptive_sequences_assign_each_cycle_after_the_last_look() {
    let p = protocol("power = 1.0\nmin_probability = 0.1", "adaptive");
    let seed = TrialSeed::from_u64(4);
    let mut engine = Engine::new(&p, seed);
    let mut state = TrialState::new(&p).expect("state");
    let mut events = engine.start(&mut state, "h").expect("start");
    events.extend(
        engine
            .enrol_patient(&mut state, "P-1", "2026-12-01")
            .expect("enrol"),
    );
    assert_eq!(state.nof1[0].periods.len(), 2, "only the first cycle");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    events.extend(measure_patient(
        &mut engine,
        &mut state,
        "P-1",
        &|t| if t == 1 { 3.0 } else { 6.0 },
        &mut rng,
    ));
    assert_eq!(state.nof1[0].periods.len(), 8);
    let later_b = state.nof1[0].periods[2..]
        .iter()
        .filter(|&&t| t == 1)
        .count();
    assert!(
        later_b >= 4,
        "the better treatment is given more: {later_b} of 6"
    );
    replay(&p, seed, &events).expect("replay");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// For any seed and measurement noise: folding the log twice gives the live state, replay
    /// re-derives it, and every probability the looks report lies in [0, 1].
    #[test]
    fn folding_and_replay_reproduce_any_run(seed in 0u64..10_000, noise in 0u64..10_000) {
        let p = protocol("stop_benefit = 0.9\nmin_cycles = 1", "counterbalanced");
        let mut engine = Engine::new(&p, TrialSeed::from_u64(seed));
        let mut state = TrialState::new(&p).expect("state");
        let mut events = engine.start(&mut state, "h").expect("start");
        let mut rng = ChaCha8Rng::seed_from_u64(noise);
        for i in 0..2 {
            let subject = format!("P-{i}");
            events.extend(engine.enrol_patient(&mut state, &subject, "2026-01-31").expect("enrol"));
            events.extend(measure_patient(&mut engine, &mut state, &subject, &|t| 4.0 + t as f64, &mut rng));
        }
        let once = TrialState::fold(&p, &events).expect("fold");
        let twice = TrialState::fold(&p, &events).expect("fold again");
        proptest::prop_assert_eq!(&once, &twice);
        proptest::prop_assert_eq!(&once, &state);
        proptest::prop_assert!(replay(&p, TrialSeed::from_u64(seed), &events).is_ok());
        for patient in &state.nof1 {
            for e in &patient.effects {
                for q in [e.p_positive, e.p_beyond_mcid, e.p_worse_beyond_mcid, e.p_within_mcid] {
                    proptest::prop_assert!((0.0..=1.0).contains(&q));
                }
                proptest::prop_assert!(e.p_beyond_mcid + e.p_worse_beyond_mcid + e.p_within_mcid <= 1.0 + 1e-9);
                proptest::prop_assert!(e.ci95[0] <= e.mean && e.mean <= e.ci95[1]);
            }
        }
    }
}
