//! n-of-1 trials in the live service: measurements (and their corrections) as trial commands,
//! a patient's report (calendar, what to measure today, measurements, the posterior of the
//! effect and one plain-language sentence), and the series' hierarchical summary.
//!
//! The rules (calendar, looks, stopping, pooling) are the engine's; this module only runs its
//! commands in the service's transaction and shapes what the engine decided for the viewer.

use crate::service::Permission;
use serde::Serialize;
use tracing::instrument;

use super::views::period_kit_code;
use super::{Actor, Service, ServiceError};
use crate::engine::nof1::{date_of_day, day_of_date, effect_curve};
use crate::engine::{
    Calendar, DayPhase, Disclosure, Nof1Effect, OutcomeValue, PatientEnd, SeriesSummary,
    TrialStatus,
};
use crate::protocol::{Design, Protocol};
use crate::stats::Better;
use crate::store::WriteLock;

/// A start date (study day 1) more than this many days before the day of enrolment is
/// accepted — a patient may have started before the site entered them — and shown with a
/// warning on the patient's page, in case the date was mistyped.
pub const BACKDATED_START_DAYS: i64 = 14;

/// Refuses a date after `today` (both `YYYY-MM-DD`): nothing is measured, and no patient
/// starts, in the future. `field` names the form field the date came from.
pub(crate) fn refuse_future(
    field: &'static str,
    date: &str,
    today: &str,
    what: &str,
) -> Result<(), ServiceError> {
    match day_of_date(today, date) {
        Some(day) if day > 1 => Err(ServiceError::Invalid {
            field,
            problem: format!("{what} ({date}) is in the future: today is {today}"),
        }),
        Some(_) => Ok(()),
        None => Err(ServiceError::Invalid {
            field,
            problem: format!("{date:?} is not a date of the form YYYY-MM-DD"),
        }),
    }
}

/// The answer to a recorded measurement.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MeasurementReceipt {
    /// Seq of the measurement (or correction) event.
    pub seq: u64,
    /// The seq of the measurement corrected, for a correction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrects: Option<u64>,
    /// The study day.
    pub day: u32,
    /// The patient's looks (cycles) that ran because of this measurement.
    pub looks: Vec<u32>,
    /// How the patient's trial ended, if it did now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<PatientEnd>,
    /// Whether the whole trial has stopped.
    pub stopped: bool,
}

/// One period of a patient's calendar.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PeriodView {
    /// 1-based period.
    pub period: u32,
    /// 1-based cycle.
    pub cycle: u32,
    /// The treatment (absent while an adaptive cycle is not yet assigned, and for the site of a
    /// blinded trial until the patient's trial has ended).
    pub treatment: Option<String>,
    /// Blinded trials: the period's kit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kit: Option<String>,
    /// First and last study day.
    pub days: [u32; 2],
    /// First and last calendar date.
    pub dates: [String; 2],
    /// The planned measurement days: (study day, date, measured).
    pub planned: Vec<PlannedMeasurement>,
    /// Washout days after this period (study days), if any.
    pub washout: Option<[u32; 2]>,
}

/// A planned measurement day.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlannedMeasurement {
    /// Study day.
    pub day: u32,
    /// Calendar date.
    pub date: String,
    /// Whether a measurement is recorded for that day.
    pub measured: bool,
}

/// A recorded measurement, as shown.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MeasurementView {
    /// Seq of the event holding the current value (name it to correct it).
    pub seq: u64,
    /// Study day.
    pub day: u32,
    /// Calendar date.
    pub date: String,
    /// The value.
    pub value: f64,
    /// `run_in`, `period N`, `washout` or `after`.
    pub phase: String,
    /// The period's treatment, for measurements in a period (absent where the period's is).
    pub treatment: Option<String>,
    /// Whether the analysis uses it (period days only).
    pub analysed: bool,
    /// Whether the patient's latest analysis used it, with this value (a measurement recorded
    /// or corrected since waits for the next analysis).
    pub in_analysis: bool,
}

/// A patient's n-of-1 report: for the coordinator, the patient and their clinician.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PatientReport {
    /// Trial.
    pub trial_id: String,
    /// Subject.
    pub subject_id: String,
    /// The outcome's name.
    pub outcome_name: String,
    /// `higher` or `lower`.
    pub better: String,
    /// The MCID.
    pub mcid: f64,
    /// Treatments in protocol order (the effect is each minus the first).
    pub treatments: Vec<String>,
    /// Calendar date of study day 1.
    pub start_date: String,
    /// Today's date and study day (by the service's clock).
    pub today: String,
    /// Today's study day (may be ≤ 0 before the start or past the end).
    pub today_day: i64,
    /// What today is in the calendar.
    pub today_phase: String,
    /// Measurements planned for today and not yet recorded.
    pub measure_today: bool,
    /// Run-in study days, if any.
    pub run_in: Option<[u32; 2]>,
    /// The calendar.
    pub periods: Vec<PeriodView>,
    /// Measurements, in the order recorded.
    pub measurements: Vec<MeasurementView>,
    /// Cycles analysed.
    pub cycles_looked: u32,
    /// Cycles planned.
    pub cycles: u32,
    /// Measurements the latest analysis used (the effects, the curve and the sentence all
    /// come from that one analysis).
    pub analysed_in_latest: usize,
    /// Measurements on treatment days recorded (or corrected) since the latest analysis: they
    /// enter the next one.
    pub awaiting_analysis: usize,
    /// Measurements never analysed (run-in, washout, after the last period).
    pub not_analysed: usize,
    /// The latest look's effects.
    pub effects: Vec<Nof1Effect>,
    /// The posterior density of the (first) effect at the latest look: (effect, density).
    pub curve: Vec<[f64; 2]>,
    /// How the patient's trial ended, if it has.
    pub end: Option<PatientEnd>,
    /// The patient's conclusion, first: benefit (which treatment, by how much), equivalence
    /// within the MCID, or not (yet) known. Absent where the effects are withheld.
    pub conclusion: Option<Nof1Conclusion>,
    /// The conclusion in one sentence (absent where the effects are withheld).
    pub headline: Option<String>,
    /// One plain-language sentence about the latest analysis' probabilities.
    pub sentence: Option<String>,
    /// Whether treatments and effects are withheld from this viewer (the site of a blinded
    /// trial, until the patient's trial has ended).
    pub blinded: bool,
    /// Days from study day 1 to the day of enrolment, when more than
    /// [`BACKDATED_START_DAYS`] (a back-dated start, shown with a warning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backdated_days: Option<i64>,
}

/// What a patient's n-of-1 trial has shown so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Nof1Conclusion {
    /// Stopped for benefit: one treatment is better by at least the MCID.
    Benefit,
    /// Stopped for equivalence: the treatments are within the MCID of each other.
    Equivalence,
    /// Still running (or no analysis yet): not yet known.
    NotYetKnown,
    /// Ended (every cycle done, or withdrawn) without reaching either rule's threshold.
    Inconclusive,
}

/// An arm's name from its id (the id when the protocol has no such arm).
fn arm_name(protocol: &Protocol, id: &str) -> String {
    protocol
        .arms
        .iter()
        .find(|a| a.id.as_str() == id)
        .map_or_else(|| id.to_owned(), |a| a.name.clone())
}

/// The outcome's name as it reads inside a sentence (first letter in lower case).
fn outcome_in_sentence(protocol: &Protocol) -> String {
    let name = &protocol.outcome.name;
    match name.get(..1) {
        Some(c) => c.to_lowercase() + &name[1..],
        None => name.clone(),
    }
}

/// The benefit of `treatment` over the other treatment of `effect` (the second minus the first
/// treatment), in the outcome's better direction: its mean and 95% interval.
fn benefit_of(protocol: &Protocol, effect: &Nof1Effect, treatment: &str) -> (f64, [f64; 2]) {
    let toward_second = match protocol.outcome.better {
        Better::Higher => 1.0,
        Better::Lower => -1.0,
    };
    let sign = if effect.treatment.as_str() == treatment {
        toward_second
    } else {
        -toward_second
    };
    let [lo, hi] = effect.ci95;
    let (a, b) = (sign * lo, sign * hi);
    (sign * effect.mean, [a.min(b), a.max(b)])
}

/// The patient's conclusion and its sentence, stated first on the report: from how the
/// patient's trial ended (the engine's decision) and the latest analysis' first effect.
pub fn conclusion_of(
    protocol: &Protocol,
    subject: &str,
    cycles: (u32, u32),
    effect: Option<&Nof1Effect>,
    end: Option<&PatientEnd>,
) -> (Nof1Conclusion, String) {
    let (looked, planned) = cycles;
    let mcid = protocol.nof1.as_ref().map_or(0.0, |n| n.mcid);
    let outcome = outcome_in_sentence(protocol);
    let verb = match protocol.outcome.better {
        Better::Higher => "raises",
        Better::Lower => "lowers",
    };
    let names: Vec<String> = protocol.arms.iter().map(|a| a.name.clone()).collect();
    let both = names.join(" and ");
    // The treatment the latest analysis leans to, and by how much.
    let lean = |e: &Nof1Effect| {
        let (other, first) = (e.treatment.as_str(), protocol.arms.first());
        let first_id = first.map_or("", |a| a.id.as_str());
        let (mean, _) = benefit_of(protocol, e, other);
        let (better, worse) = if mean >= 0.0 {
            (other, first_id)
        } else {
            (first_id, other)
        };
        let (amount, [lo, hi]) = benefit_of(protocol, e, better);
        format!(
            "so far {} {verb} {outcome} by {amount:.2} (95% interval {lo:.2} to {hi:.2}) compared \
             with {}",
            arm_name(protocol, better),
            arm_name(protocol, worse)
        )
    };
    let (conclusion, text) = match (end, effect) {
        (
            Some(PatientEnd::Benefit {
                treatment,
                probability,
                ..
            }),
            Some(e),
        ) => {
            let (amount, [lo, hi]) = benefit_of(protocol, e, treatment.as_str());
            let other = protocol
                .arms
                .iter()
                .find(|a| a.id != *treatment)
                .map_or_else(String::new, |a| a.name.clone());
            (
                Nof1Conclusion::Benefit,
                format!(
                    "{} works better for {subject}: it {verb} {outcome} by {amount:.2} (95% \
                     interval {lo:.2} to {hi:.2}) compared with {other}; the probability that \
                     it is better by at least the MCID of {mcid} is {probability:.3}.",
                    arm_name(protocol, treatment.as_str())
                ),
            )
        }
        (Some(PatientEnd::Equivalence { probability, .. }), _) => (
            Nof1Conclusion::Equivalence,
            format!(
                "{both} work equally well for {subject}: they differ by less than the MCID of \
                 {mcid} on {outcome} (probability {probability:.3})."
            ),
        ),
        (Some(PatientEnd::Completed), e) => (
            Nof1Conclusion::Inconclusive,
            format!(
                "No conclusion for {subject}: after all {planned} cycles neither treatment is \
                 better by at least the MCID of {mcid}, nor are they shown to be within it{}.",
                e.map_or_else(String::new, |e| format!("; {}", lean(e)))
            ),
        ),
        (Some(PatientEnd::Withdrawn { reason }), e) => (
            Nof1Conclusion::Inconclusive,
            format!(
                "No conclusion for {subject}: withdrawn after {looked} of {planned} cycles \
                 ({reason}){}.",
                e.map_or_else(String::new, |e| format!("; {}", lean(e)))
            ),
        ),
        (Some(PatientEnd::Benefit { treatment, .. }), None) => (
            Nof1Conclusion::Benefit,
            format!(
                "{} works better for {subject}, by at least the MCID of {mcid} with the \
                 probability the protocol requires.",
                arm_name(protocol, treatment.as_str())
            ),
        ),
        (None, Some(e)) => (
            Nof1Conclusion::NotYetKnown,
            format!(
                "Not yet known for {subject}: after {looked} of {planned} cycles, {}; neither a \
                 difference of at least the MCID of {mcid} nor one smaller than it is likely \
                 enough yet.",
                lean(e)
            ),
        ),
        (None, None) => (
            Nof1Conclusion::NotYetKnown,
            format!(
                "Not yet known for {subject}: the first analysis runs when cycle 1 is complete."
            ),
        ),
    };
    // The sentence starts with a capital, whatever the protocol's names.
    let mut chars = text.chars();
    let text = chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect());
    (conclusion, text)
}

/// The series' pooled results as its page shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesReport {
    /// The hierarchical summary (`None` before enough patients have had a look).
    pub summary: Option<SeriesSummary>,
    /// Each pooled patient's subject id, in the order of the summary's patients.
    pub subjects: Vec<String>,
    /// The MCID.
    pub mcid: f64,
    /// Treatments in protocol order (the effect is the second minus the first).
    pub treatments: Vec<String>,
}

fn phase_text(phase: DayPhase) -> String {
    match phase {
        DayPhase::RunIn => "run-in".into(),
        DayPhase::Period { period } => format!("period {period}"),
        DayPhase::Washout { .. } => "washout".into(),
        DayPhase::After => "after the last period".into(),
    }
}

/// The sentence for patient and clinician, in the direction of the more likely benefit, e.g.
/// "There is an 87% probability that ibuprofen lowers your pain by at least 1 compared with
/// paracetamol."
pub fn effect_sentence(protocol: &Protocol, effect: &Nof1Effect) -> String {
    let names = |id: &str| arm_name(protocol, id);
    let first = protocol
        .arms
        .first()
        .map_or_else(String::new, |a| a.name.clone());
    let other = names(effect.treatment.as_str());
    let mcid = protocol.nof1.as_ref().map_or(0.0, |n| n.mcid);
    let (p_other, p_first) = if mcid > 0.0 {
        (effect.p_beyond_mcid, effect.p_worse_beyond_mcid)
    } else {
        let p = match protocol.outcome.better {
            Better::Higher => effect.p_positive,
            Better::Lower => 1.0 - effect.p_positive,
        };
        (p, 1.0 - p)
    };
    let (better, worse, p) = if p_other >= p_first {
        (other, first, p_other)
    } else {
        (first, other, p_first)
    };
    let verb = match protocol.outcome.better {
        Better::Higher => "raises",
        Better::Lower => "lowers",
    };
    let outcome = outcome_in_sentence(protocol);
    let chance = chance(p);
    let margin = if mcid > 0.0 {
        format!(" by at least {mcid}")
    } else {
        String::new()
    };
    format!(
        "There is {chance} probability that {better} {verb} your {outcome}{margin} compared with {worse}."
    )
}

/// The probability sentence after a stop for equivalence: that the treatments differ by less
/// than the MCID (the probability the rule used), e.g. "There is a 93% probability that
/// paracetamol and ibuprofen differ by less than 1 in your pain".
pub fn equivalence_sentence(protocol: &Protocol, effect: &Nof1Effect) -> String {
    let mcid = protocol.nof1.as_ref().map_or(0.0, |n| n.mcid);
    let first = protocol
        .arms
        .first()
        .map_or_else(String::new, |a| a.name.clone());
    format!(
        "There is {} probability that {first} and {} differ by less than {mcid} in your {}.",
        chance(effect.p_within_mcid),
        arm_name(protocol, effect.treatment.as_str()),
        outcome_in_sentence(protocol)
    )
}

/// A probability in words for a patient: whole percentages with their article, but never
/// "100%" or "0%" (the posterior is never certain).
fn chance(p: f64) -> String {
    if p > 0.995 {
        "more than a 99%".to_owned()
    } else if p < 0.005 {
        "less than a 1%".to_owned()
    } else {
        let percent = (100.0 * p).round();
        let article = if percent == 8.0
            || percent == 11.0
            || percent == 18.0
            || (80.0..90.0).contains(&percent)
        {
            "an"
        } else {
            "a"
        };
        format!("{article} {percent:.0}%")
    }
}

impl Service {
    /// Today's date (`YYYY-MM-DD`, UTC) by the service's clock.
    pub(crate) fn today(&self) -> String {
        self.clock
            .now()
            .as_str()
            .get(..10)
            .unwrap_or_default()
            .to_owned()
    }

    /// Records a measurement on a study day (coordinator) — or, with `corrects` (the seq of
    /// the measurement's current event) and a reason, corrects one. A measurement that
    /// completes a cycle runs the patient's look in the same transaction.
    #[expect(clippy::too_many_arguments, reason = "one command's inputs")]
    #[instrument(skip_all, fields(trial = %trial_id, day))]
    pub fn record_measurement(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
        day: u32,
        value: OutcomeValue,
        corrects: Option<u64>,
        reason: Option<&str>,
    ) -> Result<MeasurementReceipt, ServiceError> {
        let subject = crate::service::subject::subject_key(subject_id);
        let subject_id = subject.as_str();
        actor.require(Permission::Enrol)?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if corrects.is_some() && reason.is_none() {
            return Err(ServiceError::Invalid {
                field: "reason",
                problem: "a correction needs a reason".into(),
            });
        }
        let today = self.today();
        self.run_command(actor, trial_id, reason, WriteLock::Trial(trial_id), |c| {
            let subject = subject_id.trim();
            if c.state.participant_index(subject).is_none() {
                return Err(ServiceError::NotFound(format!(
                    "subject {subject} is not enrolled in trial {trial_id}"
                )));
            }
            let (events, day) = match (corrects, reason) {
                (Some(seq), Some(reason)) => {
                    let index = c.state.participant_index(subject).unwrap_or(0);
                    let day =
                        c.state.nof1.get(index).and_then(|p| {
                            p.measurements.iter().find(|m| m.seq == seq).map(|m| m.day)
                        });
                    let events = c
                        .engine
                        .correct_measurement(c.state, subject, seq, value, reason)?;
                    (events, day.unwrap_or(0))
                }
                _ => {
                    let index = c.state.participant_index(subject).unwrap_or(0);
                    if let Some(date) = c
                        .state
                        .nof1
                        .get(index)
                        .and_then(|p| date_of_day(&p.start_date, day))
                    {
                        refuse_future("day", &date, &today, &format!("study day {day}"))?;
                    }
                    (
                        c.engine.record_measurement(c.state, subject, day, value)?,
                        day,
                    )
                }
            };
            let receipt = MeasurementReceipt {
                seq: events.first().map_or(0, |e| e.seq),
                corrects,
                day,
                looks: events
                    .iter()
                    .filter_map(|e| e.body.patient_look_cycle())
                    .collect(),
                finished: events.iter().find_map(|e| e.body.patient_end().cloned()),
                stopped: matches!(c.state.status, TrialStatus::Stopped { .. }),
            };
            Ok((events, receipt))
        })
    }

    /// The study day of a calendar date for a patient (for forms that take a date).
    pub fn study_day(
        &self,
        trial_id: &str,
        subject_id: &str,
        date: &str,
    ) -> Result<u32, ServiceError> {
        let subject = crate::service::subject::subject_key(subject_id);
        let subject_id = subject.as_str();
        let state = self.trial_state(trial_id)?;
        let index = state
            .participant_index(subject_id.trim())
            .ok_or_else(|| ServiceError::NotFound(format!("no participant {subject_id}")))?;
        let patient = state.nof1.get(index).ok_or_else(|| {
            ServiceError::Conflict(format!("trial {trial_id} is not an n-of-1 trial"))
        })?;
        let day = day_of_date(&patient.start_date, date).ok_or_else(|| ServiceError::Invalid {
            field: "date",
            problem: format!("{date:?} is not a date of the form YYYY-MM-DD"),
        })?;
        refuse_future("date", date, &self.today(), "the date")?;
        u32::try_from(day)
            .ok()
            .filter(|&d| d >= 1)
            .ok_or_else(|| ServiceError::Invalid {
                field: "date",
                problem: format!(
                    "{date} is before the patient's study day 1 ({})",
                    patient.start_date
                ),
            })
    }

    /// A patient's report (coordinators, statisticians, the DMC). An n-of-1 patient's own
    /// results are for them and their clinician; no other patient's results appear in it.
    pub fn patient_report(
        &self,
        actor: &Actor,
        trial_id: &str,
        subject_id: &str,
    ) -> Result<PatientReport, ServiceError> {
        let subject = crate::service::subject::subject_key(subject_id);
        let subject_id = subject.as_str();
        if !actor.may(Permission::Dispense) {
            actor.require(Permission::ReadPatientReports)?;
        }
        let mut conn = self.conn()?;
        let snapshot = self.snapshot(&mut conn, trial_id)?;
        let (loaded, state) = (&snapshot.protocol, &snapshot.state);
        let protocol = &loaded.protocol;
        let spec = protocol.nof1.as_ref().ok_or_else(|| {
            ServiceError::Conflict(format!("trial {trial_id} is not an n-of-1 trial"))
        })?;
        let index = state.participant_index(subject_id.trim()).ok_or_else(|| {
            ServiceError::NotFound(format!("no participant {subject_id} in trial {trial_id}"))
        })?;
        let patient = state.nof1.get(index).ok_or_else(|| {
            ServiceError::Integrity("an n-of-1 participant without a record".into())
        })?;
        // The site of a blinded trial sees no treatment and no effect until the patient's trial
        // has ended and the engine has revealed it (a record on the chain).
        let revealed = snapshot
            .history
            .subjects
            .get(index)
            .is_some_and(|s| !s.revealed.is_empty() && s.finished.is_some());
        let concealed = !(snapshot.sight(actor).reveals(Disclosure::Assignment) || revealed);
        // The pharmacist dispenses from the calendar: treatments, never effects.
        let effects_withheld = concealed || !actor.may(Permission::ReadPatientReports);
        let seed_hex = &snapshot.trial.seed_hex;
        let calendar = Calendar::of(spec);
        let date = |day: u32| date_of_day(&patient.start_date, day).unwrap_or_default();
        let name = |t: usize| {
            if concealed {
                None
            } else {
                state.arms.get(t).map(|a| a.id.to_string())
            }
        };
        let measured = |day: u32| patient.measurements.iter().any(|m| m.day == day);
        let periods = (1..=calendar.periods())
            .map(|p| {
                let (first, last) = calendar.period_days(p);
                let washout = (p < calendar.periods() && spec.washout_days > 0)
                    .then(|| [last + 1, last + spec.washout_days]);
                PeriodView {
                    period: p,
                    cycle: calendar.cycle_of(p),
                    treatment: patient.periods.get(p as usize - 1).and_then(|&t| name(t)),
                    kit: protocol
                        .trial
                        .blinded
                        .then(|| period_kit_code(seed_hex, index as u32, p)),
                    days: [first, last],
                    dates: [date(first), date(last)],
                    planned: calendar
                        .measurement_days(p)
                        .map(|day| PlannedMeasurement {
                            day,
                            date: date(day),
                            measured: measured(day),
                        })
                        .collect(),
                    washout,
                }
            })
            .collect::<Vec<_>>();
        let today = self.today();
        let enrolled_on =
            crate::store::ParticipantRow::by_subject(&mut conn, trial_id, subject_id)?
                .and_then(|row| row.enrolled_at.get(..10).map(str::to_owned));
        let backdated_days = enrolled_on
            .and_then(|on| day_of_date(&patient.start_date, &on))
            .map(|day| day - 1)
            .filter(|&days| days > BACKDATED_START_DAYS);
        let today_day = day_of_date(&patient.start_date, &today).unwrap_or(0);
        let today_phase = if today_day < 1 {
            "before the start".to_owned()
        } else {
            phase_text(calendar.phase(today_day as u32))
        };
        let measure_today = patient.end.is_none()
            && periods.iter().any(|p| {
                p.planned
                    .iter()
                    .any(|m| i64::from(m.day) == today_day && !m.measured)
            });
        let measurements = patient
            .measurements
            .iter()
            .map(|m| {
                let phase = calendar.phase(m.day);
                let analysed = patient.analysed_treatment(&calendar, m.day);
                MeasurementView {
                    seq: m.seq,
                    day: m.day,
                    date: date(m.day),
                    value: match m.value {
                        OutcomeValue::Continuous { value } => value,
                        OutcomeValue::Binary { response } => f64::from(u8::from(response)),
                        OutcomeValue::Count { events, .. } => events as f64,
                    },
                    phase: phase_text(phase),
                    analysed: analysed.is_some(),
                    in_analysis: patient.in_last_look(&calendar, m.seq),
                    treatment: analysed.and_then(name),
                }
            })
            .collect::<Vec<MeasurementView>>();
        let analysed_in_latest = patient.analysed_in_last_look(&calendar);
        let awaiting_analysis = measurements
            .iter()
            .filter(|m| m.analysed && !m.in_analysis)
            .count();
        let not_analysed = measurements.iter().filter(|m| !m.analysed).count();
        let (conclusion, headline) = if effects_withheld {
            (None, None)
        } else {
            let (conclusion, headline) = conclusion_of(
                protocol,
                subject_id.trim(),
                (patient.cycles_looked, spec.cycles),
                patient.effects.first(),
                patient.end.as_ref(),
            );
            (Some(conclusion), Some(headline))
        };
        let curve = match patient.effects.first() {
            Some(_) if !effects_withheld => effect_curve(protocol, patient, 161)?,
            Some(_) | None => Vec::new(),
        };
        Ok(PatientReport {
            trial_id: trial_id.to_owned(),
            subject_id: subject_id.trim().to_owned(),
            outcome_name: protocol.outcome.name.clone(),
            better: match protocol.outcome.better {
                Better::Higher => "higher".into(),
                Better::Lower => "lower".into(),
            },
            mcid: spec.mcid,
            treatments: state.arms.iter().map(|a| a.id.to_string()).collect(),
            start_date: patient.start_date.clone(),
            today,
            today_day,
            today_phase,
            measure_today,
            run_in: (spec.run_in_days > 0).then_some([1, spec.run_in_days]),
            periods,
            measurements,
            cycles_looked: patient.cycles_looked,
            cycles: spec.cycles,
            analysed_in_latest,
            awaiting_analysis,
            not_analysed,
            effects: if effects_withheld {
                Vec::new()
            } else {
                patient.effects.clone()
            },
            curve,
            end: patient.end.clone().filter(|_| !effects_withheld),
            conclusion,
            headline,
            sentence: patient
                .effects
                .first()
                .filter(|_| !effects_withheld)
                .map(|e| match patient.end {
                    Some(PatientEnd::Equivalence { .. }) => equivalence_sentence(protocol, e),
                    _ => effect_sentence(protocol, e),
                }),
            blinded: concealed,
            backdated_days,
        })
    }

    /// The series' hierarchical summary (statisticians and the DMC: it pools every patient's
    /// results). `None` before any patient has finished.
    pub fn series_summary(
        &self,
        actor: &Actor,
        trial_id: &str,
    ) -> Result<Option<SeriesSummary>, ServiceError> {
        Ok(self.series_report(actor, trial_id)?.summary)
    }

    /// The series' page: the hierarchical summary with each pooled patient's subject id and
    /// the MCID (statisticians and the DMC; the view is recorded like [`Self::series_summary`]).
    pub fn series_report(
        &self,
        actor: &Actor,
        trial_id: &str,
    ) -> Result<SeriesReport, ServiceError> {
        actor.require(Permission::SeeResults)?;
        let mut conn = self.conn()?;
        let snapshot = self.snapshot(&mut conn, trial_id)?;
        let protocol = &snapshot.protocol.protocol;
        let spec = match (&protocol.nof1, protocol.trial.design) {
            (Some(spec), Design::Nof1) => spec,
            _ => {
                return Err(ServiceError::Conflict(format!(
                    "trial {trial_id} is not an n-of-1 trial"
                )))
            }
        };
        let by = self.attribution(actor, None);
        self.write_transaction(&mut conn, WriteLock::System, |conn| {
            self.append_system(
                conn,
                &crate::audit::SystemEvent::ResultsViewed {
                    trial: trial_id.to_owned(),
                    head_seq: snapshot.state.last_seq,
                    view: Some(crate::audit::ResultsView::Series),
                },
                &by,
            )
            .map(|_| ())
        })?;
        let summary = snapshot.state.series.clone();
        let subjects = summary
            .iter()
            .flat_map(|s| &s.shrunken)
            .map(|p| {
                snapshot
                    .history
                    .subjects
                    .get(p.participant as usize)
                    .map(|s| s.subject_id.clone())
                    .ok_or_else(|| {
                        ServiceError::Integrity(format!(
                            "the series pools participant {} who is not enrolled",
                            p.participant
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SeriesReport {
            summary,
            subjects,
            mcid: spec.mcid,
            treatments: snapshot
                .state
                .arms
                .iter()
                .map(|a| a.id.to_string())
                .collect(),
        })
    }
}
