//! One simulated series of n-of-1 trials: synthetic patients start on dates spaced by the
//! scenario's accrual, every planned measurement day of their calendar gives a value drawn from
//! the true value of the treatment the engine assigned to that period, and the engine runs each
//! patient's looks, stopping rules and the series look. No rule of the trial lives here.
//!
//! Days are processed in calendar order over all patients (enrolments before measurements on the
//! same day, then by patient and study day), as a live trial would record them. Each patient's
//! values come from their own ChaCha8 stream keyed by (seed, replicate, patient), drawn in the
//! order of their study days, so a patient's potential outcomes do not depend on the other
//! patients or on the order in which their days interleave.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::scenario::SimScenario;
use super::scenario::{clamp_to_range, outcome_value};
use super::trial::{derive, trial_seed};
use super::SimError;
use crate::engine::{Calendar, Engine, Nof1Effect, PatientEnd, TrialState};
use crate::protocol::Protocol;

/// Study day 1 of the first patient who arrives on day 0 of the simulation (any fixed date
/// would do: the engine only uses dates to place a patient's days on the calendar).
const BASE_DATE: (i32, time::Month, u8) = (2026, time::Month::January, 5);

/// The withdrawal reason recorded for a simulated dropout.
const DROPOUT_REASON: &str = "simulated dropout";

/// How one simulated patient's n-of-1 trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientConclusion {
    /// Benefit of this treatment (protocol arm index): the engine's `PatientEnd::Benefit`, or,
    /// in a design without `nof1.stop_benefit`, the final look's probability of a benefit
    /// beyond the MCID above [`FINAL_LOOK_BENEFIT`].
    Benefit {
        /// The treatment concluded better.
        treatment: usize,
    },
    /// Stopped for equivalence (the engine's `PatientEnd::Equivalence`).
    Equivalence,
    /// Every planned cycle done without a conclusion.
    Completed,
    /// Dropped out before the end.
    Withdrawn,
}

/// The posterior probability of a benefit beyond the MCID at a patient's final look that counts
/// as a benefit conclusion when the protocol has no `nof1.stop_benefit` rule.
pub const FINAL_LOOK_BENEFIT: f64 = 0.95;

/// One simulated patient.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientOutcome {
    /// How the patient's trial ended.
    pub conclusion: PatientConclusion,
    /// Cycles analysed (the engine's `cycles_looked`).
    pub cycles: u32,
    /// Posterior mean of the second treatment minus the first at the patient's last look
    /// (none without a look).
    pub estimate: Option<f64>,
}

/// The series look after the last patient finished.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesOutcome {
    /// Patients pooled.
    pub patients: u32,
    /// Posterior mean of the population effect (second treatment minus the first).
    pub mean: f64,
    /// Its 95% credible interval.
    pub ci95: [f64; 2],
    /// P(population effect > 0).
    pub p_positive: f64,
    /// P(population effect beyond the MCID in the better direction).
    pub p_beyond_mcid: f64,
    /// Posterior mean of the between-patient SD τ.
    pub tau_mean: f64,
}

/// What one simulated series produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Nof1Outcome {
    /// Every patient, in enrolment order.
    pub patients: Vec<PatientOutcome>,
    /// The final series look; none when no patient had a look (all dropped out in their first
    /// period).
    pub series: Option<SeriesOutcome>,
}

/// A patient's simulation inputs.
#[derive(Debug, Clone)]
struct SimPatient {
    /// Day of the simulation on which the patient's study day 1 falls.
    offset: u32,
    /// The patient's stream of measurement uniforms.
    rng: ChaCha8Rng,
    /// The 1-based period at whose first planned measurement the patient drops out.
    drop_period: Option<u32>,
}

/// A day on which something happens to a patient, ordered by (simulation day, enrolments first,
/// patient, study day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Visit {
    at: u32,
    /// 0 = enrolment, 1 = measurement.
    kind: u8,
    patient: u32,
    day: u32,
    period: u32,
}

/// Reusable per-thread buffers.
#[derive(Debug, Default)]
pub struct Nof1Workspace {
    /// Subject identifiers `P0`, `P1`, … made once per thread.
    subjects: Vec<String>,
    patients: Vec<SimPatient>,
    visits: Vec<Visit>,
    state: Option<TrialState>,
}

/// The calendar date `offset` days after [`BASE_DATE`], `YYYY-MM-DD`.
fn start_date(offset: u32) -> Result<String, SimError> {
    let (y, m, d) = BASE_DATE;
    let date = time::Date::from_calendar_date(y, m, d)
        .ok()
        .and_then(|base| base.checked_add(time::Duration::days(i64::from(offset))))
        .ok_or(SimError::Internal("a simulated start date is out of range"))?;
    Ok(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// The benefit a completed patient's final look shows, for designs without a benefit rule: the
/// contrast with the highest probability of a benefit beyond the MCID in either direction, when
/// that probability exceeds [`FINAL_LOOK_BENEFIT`].
fn final_look_benefit(state: &TrialState, effects: &[Nof1Effect]) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for e in effects {
        let treatment = state.arm_index(&e.treatment)?;
        for (p, t) in [(e.p_beyond_mcid, treatment), (e.p_worse_beyond_mcid, 0)] {
            if best.is_none_or(|b| p > b.0) {
                best = Some((p, t));
            }
        }
    }
    best.filter(|b| b.0 > FINAL_LOOK_BENEFIT).map(|b| b.1)
}

/// Runs replicate `rep` of `scenario` on `engine` (reseeded here), an n-of-1 protocol's engine.
pub fn simulate_series(
    engine: &mut Engine<'_>,
    workspace: &mut Nof1Workspace,
    scenario: &SimScenario,
    seed: u64,
    rep: u64,
) -> Result<Nof1Outcome, SimError> {
    let protocol: &Protocol = engine.protocol();
    let spec = protocol.nof1.as_ref().ok_or(SimError::Internal(
        "an n-of-1 simulation of a platform protocol",
    ))?;
    let calendar = Calendar::of(spec);
    engine.reseed(trial_seed(seed, rep));
    let mut state = match workspace.state.take() {
        Some(mut state) => {
            state.reset(protocol)?;
            state
        }
        None => TrialState::new(protocol)?,
    };
    engine.start(&mut state, "simulation")?;
    let n = state.max_participants;
    let periods = calendar.periods();
    let planned: Vec<(u32, u32)> = (1..=periods)
        .flat_map(|p| calendar.measurement_days(p).map(move |d| (p, d)))
        .collect();
    while workspace.subjects.len() < n as usize {
        let next = workspace.subjects.len();
        workspace.subjects.push(format!("P{next}"));
    }
    workspace.patients.clear();
    workspace.visits.clear();
    let mut arrivals = ChaCha8Rng::from_seed(derive(seed, rep, b"participants"));
    let mut weeks = 0.0_f64;
    for i in 0..n {
        weeks += -(1.0 - arrivals.gen::<f64>()).ln() / scenario.accrual_per_week;
        // Saturating: a simulation day beyond u32 is refused as an out-of-range date.
        let offset = (weeks * 7.0).floor() as u32;
        let mut purpose = b"nof1-patient".to_vec();
        purpose.extend_from_slice(&i.to_le_bytes());
        let mut rng = ChaCha8Rng::from_seed(derive(seed, rep, &purpose));
        let (u_dropout, u_period) = (rng.gen::<f64>(), rng.gen::<f64>());
        let drop_period = (u_dropout < scenario.dropout)
            .then(|| 1 + ((u_period * f64::from(periods)) as u32).min(periods - 1));
        workspace.patients.push(SimPatient {
            offset,
            rng,
            drop_period,
        });
        workspace.visits.push(Visit {
            at: offset,
            kind: 0,
            patient: i,
            day: 0,
            period: 0,
        });
        workspace
            .visits
            .extend(planned.iter().map(|&(period, day)| Visit {
                at: offset.saturating_add(day - 1),
                kind: 1,
                patient: i,
                day,
                period,
            }));
    }
    workspace.visits.sort_unstable();
    let kind = protocol.outcome.kind;
    let sd = scenario.sd.unwrap_or(1.0);
    for visit in &workspace.visits {
        let i = visit.patient as usize;
        let subject = &workspace.subjects[i];
        let patient = &mut workspace.patients[i];
        if visit.kind == 0 {
            engine.enrol_patient(&mut state, subject, &start_date(patient.offset)?)?;
            if state.nof1.len() != i + 1 {
                return Err(SimError::Internal("patients were enrolled out of order"));
            }
            continue;
        }
        let record = &state.nof1[i];
        if record.end.is_some() {
            continue;
        }
        if patient.drop_period.is_some_and(|p| visit.period >= p) {
            engine.withdraw_patient(&mut state, subject, DROPOUT_REASON)?;
            continue;
        }
        let treatment =
            *record
                .periods
                .get(visit.period as usize - 1)
                .ok_or(SimError::Internal(
                    "a period has no treatment when it is measured",
                ))?;
        let value = outcome_value(
            kind,
            scenario.truth[treatment],
            sd,
            patient.rng.gen::<f64>(),
        );
        let value = clamp_to_range(value, &protocol.outcome);
        engine.record_measurement(&mut state, subject, visit.day, value)?;
    }
    if state.is_running() {
        return Err(SimError::Internal(
            "an n-of-1 series did not stop after its last planned day",
        ));
    }
    let no_benefit_rule = spec.stop_benefit.is_none();
    let mut patients = Vec::with_capacity(state.nof1.len());
    for record in &state.nof1 {
        let conclusion = match &record.end {
            Some(PatientEnd::Benefit { treatment, .. }) => PatientConclusion::Benefit {
                treatment: state
                    .arm_index(treatment)
                    .ok_or(SimError::Internal("a benefit names an unknown treatment"))?,
            },
            Some(PatientEnd::Equivalence { .. }) => PatientConclusion::Equivalence,
            Some(PatientEnd::Completed) => match final_look_benefit(&state, &record.effects) {
                Some(treatment) if no_benefit_rule => PatientConclusion::Benefit { treatment },
                _ => PatientConclusion::Completed,
            },
            Some(PatientEnd::Withdrawn { .. }) => PatientConclusion::Withdrawn,
            None => return Err(SimError::Internal("a patient's trial did not end")),
        };
        patients.push(PatientOutcome {
            conclusion,
            cycles: record.cycles_looked,
            estimate: record.effects.first().map(|e| e.mean),
        });
    }
    let series = state.series.as_ref().map(|s| SeriesOutcome {
        patients: s.patients,
        mean: s.mean,
        ci95: s.ci95,
        p_positive: s.p_positive,
        p_beyond_mcid: s.p_beyond_mcid,
        tau_mean: s.tau_mean,
    });
    workspace.state = Some(state);
    Ok(Nof1Outcome { patients, series })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::OutcomeValue;
    use crate::protocol::{OutcomeKind, OutcomeSpec};
    use crate::stats::Better;

    #[test]
    fn start_dates_follow_the_base_date() {
        assert_eq!(start_date(0).ok().as_deref(), Some("2026-01-05"));
        assert_eq!(start_date(27).ok().as_deref(), Some("2026-02-01"));
        assert_eq!(start_date(361).ok().as_deref(), Some("2027-01-01"));
    }

    #[test]
    fn values_are_clamped_to_the_outcome_range() {
        let outcome = OutcomeSpec {
            kind: OutcomeKind::Continuous,
            name: "pain".into(),
            better: Better::Lower,
            min: Some(0.0),
            max: Some(10.0),
            labels: None,
        };
        let clamp = |v: f64| match clamp_to_range(OutcomeValue::Continuous { value: v }, &outcome) {
            OutcomeValue::Continuous { value } => value,
            _ => f64::NAN,
        };
        assert_eq!(clamp(-0.5), 0.0);
        assert_eq!(clamp(10.5), 10.0);
        assert_eq!(clamp(4.25), 4.25);
        let count = clamp_to_range(
            OutcomeValue::Count {
                events: 12,
                exposure: 1.0,
            },
            &outcome,
        );
        assert_eq!(
            count,
            OutcomeValue::Count {
                events: 10,
                exposure: 1.0
            }
        );
    }
}
