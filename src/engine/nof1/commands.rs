//! The n-of-1 commands of the engine (module docs of [`super`]).

use tracing::instrument;

use super::super::commands::Engine;
use super::super::events::{
    ArmShare, Event, EventBody, Nof1Effect, OutcomeValue, PatientEnd, RevealCause, SeriesSummary,
    ShrunkenPatient,
};
use super::super::state::{TrialState, TrialStatus};
use super::super::EngineError;
use super::{parse_date, Calendar, DayPhase, Measurement, Nof1Patient};
use crate::protocol::{ArmId, Nof1Sequence, Nof1Spec, OutcomeKind, Prior, Protocol};
use crate::stats::nof1::{
    analyse_patient, pool_series, EffectOptions, EffectPosterior, Nof1Observation, Nof1Prior,
    PatientEffect, SeriesOptions,
};
use crate::stats::{Better, Marginal, NigPrior};

/// The Thue–Morse parity of a 0-based cycle: the ABBA BAAB … counterbalancing pattern.
fn thue_morse(cycle: u32) -> bool {
    cycle.count_ones() % 2 == 1
}

/// The `index`-th permutation of `0..k` in lexicographic order (`index < k!`).
fn permutation(k: usize, mut index: usize) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..k).collect();
    let mut out = Vec::with_capacity(k);
    let mut factorial: usize = (1..k).product::<usize>().max(1);
    for remaining in (1..=k).rev() {
        let pick = index / factorial;
        index %= factorial;
        out.push(pool.remove(pick.min(pool.len() - 1)));
        if remaining > 1 {
            factorial /= remaining - 1;
        }
    }
    out
}

/// The n-of-1 table of a protocol, or the refusal for a platform protocol.
pub(super) fn spec(protocol: &Protocol) -> Result<&Nof1Spec, EngineError> {
    protocol
        .nof1
        .as_ref()
        .ok_or_else(|| EngineError::Refused("this is not an n-of-1 trial".into()))
}

impl Engine<'_> {
    /// Enrols an n-of-1 patient whose study day 1 is `start_date` (`YYYY-MM-DD`): their calendar
    /// follows from the protocol, and their treatment sequence is drawn now (every cycle for
    /// `pairs` and `counterbalanced`, the first for `adaptive`).
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id, subject = subject_id))]
    pub fn enrol_patient(
        &mut self,
        state: &mut TrialState,
        subject_id: &str,
        start_date: &str,
    ) -> Result<Vec<Event>, EngineError> {
        spec(self.protocol)?;
        let subject = subject_id.trim();
        Self::check_enrolment(state, subject)?;
        if state.participant_index(subject).is_some() {
            return Err(EngineError::Refused(format!(
                "subject {subject} is already enrolled"
            )));
        }
        parse_date(start_date).map_err(|problem| EngineError::Invalid {
            field: "start_date",
            problem,
        })?;
        let mut out = Vec::new();
        self.open_due_arms(state, &mut out)?;
        let participant = state.enrolled();
        self.emit(
            state,
            EventBody::ParticipantEnrolled {
                participant,
                subject_id: subject.into(),
                start_date: Some(start_date.into()),
                biomarkers: None,
                stratum: None,
            },
            &mut out,
        )?;
        self.nof1_schedule(state, participant, &mut out)?;
        Ok(out)
    }

    /// The calendar and first treatment orders of a patient who was just enrolled: a
    /// [`EventBody::Nof1CycleAssigned`] for every cycle (`pairs`, `counterbalanced`) or for the
    /// first (`adaptive`; later cycles are assigned at the patient's looks).
    pub(super) fn nof1_schedule(
        &mut self,
        state: &mut TrialState,
        participant: u32,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let spec = spec(self.protocol)?;
        let k = spec.treatments.len();
        let orders = (1..=k).product::<usize>();
        let cycles = match spec.sequence {
            Nof1Sequence::Adaptive => 1,
            Nof1Sequence::Pairs | Nof1Sequence::Counterbalanced => spec.cycles,
        };
        let mut base: Vec<usize> = Vec::new();
        for cycle in 1..=cycles {
            let seq = state.last_seq + 1;
            let (order, draw) = match spec.sequence {
                Nof1Sequence::Pairs | Nof1Sequence::Adaptive => {
                    let u = self.draw(seq);
                    let index = ((u * orders as f64) as usize).min(orders - 1);
                    (permutation(k, index), Some(u))
                }
                Nof1Sequence::Counterbalanced if cycle == 1 => {
                    let u = self.draw(seq);
                    let index = ((u * orders as f64) as usize).min(orders - 1);
                    base = permutation(k, index);
                    (base.clone(), Some(u))
                }
                Nof1Sequence::Counterbalanced => {
                    // Two treatments: ABBA BAAB … (Thue–Morse); more: the base order rotated
                    // by the cycle (a Latin square's rows), reversed on the Thue–Morse parity.
                    let c = cycle - 1;
                    let mut order: Vec<usize> =
                        (0..k).map(|i| base[(i + c as usize) % k]).collect();
                    if k == 2 {
                        order = base.clone();
                    }
                    if thue_morse(c) {
                        order.reverse();
                    }
                    (order, None)
                }
            };
            let treatments = order.iter().map(|&t| state.arms[t].id.clone()).collect();
            self.emit(
                state,
                EventBody::Nof1CycleAssigned {
                    participant,
                    cycle,
                    treatments,
                    probabilities: None,
                    draw,
                },
                out,
            )?;
        }
        Ok(())
    }

    /// Records a measurement on a study day; when it completes a cycle, runs the patient's
    /// look (and what follows from it: stopping, the next adaptive cycle, the series look).
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id, participant, day))]
    pub fn record_measurement(
        &mut self,
        state: &mut TrialState,
        subject_id: &str,
        day: u32,
        value: OutcomeValue,
    ) -> Result<Vec<Event>, EngineError> {
        let spec = spec(self.protocol)?;
        let calendar = Calendar::of(spec);
        let participant = self.nof1_participant(state, subject_id)?;
        let patient = &state.nof1[participant as usize];
        if patient.end.is_some() {
            return Err(EngineError::Refused(format!(
                "subject {subject_id}'s n-of-1 trial has ended; no more measurements are taken"
            )));
        }
        if day == 0 || day > calendar.last_day() {
            return Err(EngineError::Invalid {
                field: "day",
                problem: format!(
                    "{day} is outside the schedule (study days 1 to {})",
                    calendar.last_day()
                ),
            });
        }
        if let DayPhase::Period { period } = calendar.phase(day) {
            if period as usize > patient.periods.len() {
                return Err(EngineError::Refused(format!(
                    "period {period} has no treatment yet: it is assigned when cycle {} is complete",
                    calendar.cycle_of(period) - 1
                )));
            }
        }
        self.check_outcome(&value)?;
        let mut out = Vec::new();
        self.emit(
            state,
            EventBody::MeasurementRecorded {
                participant,
                day,
                value,
            },
            &mut out,
        )?;
        self.nof1_due_looks(state, participant, &mut out)?;
        Ok(out)
    }

    /// Corrects a measurement (named by the sequence number of the event holding its current
    /// value); the original stays in the log. Looks already done are not redone; the next look
    /// uses the corrected value.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id, corrects))]
    pub fn correct_measurement(
        &mut self,
        state: &mut TrialState,
        subject_id: &str,
        corrects: u64,
        value: OutcomeValue,
        reason: &str,
    ) -> Result<Vec<Event>, EngineError> {
        let participant = self.nof1_participant(state, subject_id)?;
        let patient = &state.nof1[participant as usize];
        if !patient.measurements.iter().any(|m| m.seq == corrects) {
            return Err(EngineError::Invalid {
                field: "corrects",
                problem: format!(
                    "event {corrects} does not hold a current measurement of subject {subject_id}"
                ),
            });
        }
        if reason.trim().is_empty() {
            return Err(EngineError::Invalid {
                field: "reason",
                problem: "a correction needs a reason".into(),
            });
        }
        self.check_outcome(&value)?;
        let mut out = Vec::new();
        self.emit(
            state,
            EventBody::MeasurementCorrected {
                participant,
                corrects,
                value,
                reason: reason.trim().to_owned(),
            },
            &mut out,
        )?;
        Ok(out)
    }

    /// Withdraws a patient (input): no more measurements; the series look follows.
    #[instrument(skip_all, fields(trial = %self.protocol.trial.id))]
    pub fn withdraw_patient(
        &mut self,
        state: &mut TrialState,
        subject_id: &str,
        reason: &str,
    ) -> Result<Vec<Event>, EngineError> {
        let participant = self.nof1_participant(state, subject_id)?;
        if state.nof1[participant as usize].end.is_some() {
            return Err(EngineError::Refused(format!(
                "subject {subject_id}'s n-of-1 trial has already ended"
            )));
        }
        if reason.trim().is_empty() {
            return Err(EngineError::Invalid {
                field: "reason",
                problem: "a withdrawal needs a reason".into(),
            });
        }
        let mut out = Vec::new();
        let cycle = state.nof1[participant as usize].cycles_looked;
        self.emit(
            state,
            EventBody::PatientFinished {
                participant,
                cycle,
                end: PatientEnd::Withdrawn {
                    reason: reason.trim().to_owned(),
                },
            },
            &mut out,
        )?;
        self.reveal_to_site(state, participant, &mut out)?;
        self.after_patient_finished(state, &mut out)?;
        Ok(out)
    }

    /// On a blinded trial, a patient's own treatments and report are revealed to the site once
    /// their trial has ended: the reveal is an event on the chain.
    fn reveal_to_site(
        &mut self,
        state: &mut TrialState,
        participant: u32,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        if !self.protocol.trial.blinded {
            return Ok(());
        }
        self.emit(
            state,
            EventBody::AssignmentRevealed {
                participant,
                subject_id: state
                    .participants
                    .get(participant as usize)
                    .map(|p| std::sync::Arc::clone(&p.subject_id))
                    .ok_or_else(|| EngineError::Refused(format!("no participant {participant}")))?,
                cause: RevealCause::PatientFinished,
            },
            out,
        )
    }

    fn nof1_participant(&self, state: &TrialState, subject_id: &str) -> Result<u32, EngineError> {
        spec(self.protocol)?;
        if state.status == TrialStatus::NotStarted {
            return Err(EngineError::Refused("the trial has not started".into()));
        }
        state
            .participant_index(subject_id.trim())
            .map(|i| i as u32)
            .ok_or_else(|| EngineError::Refused(format!("no subject {subject_id}")))
    }

    /// Runs the looks a patient's measurements have made due: one per newly completed cycle.
    fn nof1_due_looks(
        &mut self,
        state: &mut TrialState,
        participant: u32,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let spec = spec(self.protocol)?;
        let calendar = Calendar::of(spec);
        loop {
            let patient = &state.nof1[participant as usize];
            let next = patient.cycles_looked + 1;
            if patient.end.is_some()
                || next > spec.cycles
                || !patient.cycle_complete(&calendar, next)
            {
                return Ok(());
            }
            let effects = self.patient_effects(state, participant)?;
            let decision = patient_decision(spec, next, &effects, &state.arms[0].id);
            self.emit(
                state,
                EventBody::PatientLookPerformed {
                    participant,
                    cycle: next,
                    effects,
                },
                out,
            )?;
            if let Some(end) = decision {
                self.emit(
                    state,
                    EventBody::PatientFinished {
                        participant,
                        cycle: next,
                        end,
                    },
                    out,
                )?;
                self.reveal_to_site(state, participant, out)?;
                return self.after_patient_finished(state, out);
            }
            if spec.sequence == Nof1Sequence::Adaptive {
                self.assign_adaptive_cycle(state, participant, next + 1, out)?;
            }
        }
    }

    /// Tempered Thompson sampling for the next cycle (two treatments): each period's treatment
    /// is drawn with probability ∝ P(treatment better)^power, each at least
    /// `nof1.min_probability`. One seed-derived draw per cycle chooses all its periods by
    /// successive inversion of the same uniform.
    fn assign_adaptive_cycle(
        &mut self,
        state: &mut TrialState,
        participant: u32,
        cycle: u32,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let spec = spec(self.protocol)?;
        let k = spec.treatments.len();
        let Some(effect) = state.nof1[participant as usize].effects.first() else {
            return Err(EngineError::Refused("no look precedes this cycle".into()));
        };
        let second_better = match self.protocol.outcome.better {
            Better::Higher => effect.p_positive,
            Better::Lower => 1.0 - effect.p_positive,
        };
        let mut p = [1.0 - second_better, second_better].map(|x| x.max(0.0).powf(spec.power));
        let total: f64 = p.iter().sum();
        if total > 0.0 {
            p.iter_mut().for_each(|x| *x /= total);
        } else {
            p = [0.5, 0.5];
        }
        let min = spec.min_probability;
        super::super::allocation::clamp_probabilities(&mut p, min, 1.0 - min, 1.0);
        let seq = state.last_seq + 1;
        let draw = self.draw(seq);
        let mut u = draw;
        let mut treatments = Vec::with_capacity(k);
        for _ in 0..k {
            let t = super::super::allocation::choose(p.iter().copied(), u);
            let below: f64 = p[..t].iter().sum();
            u = ((u - below) / p[t]).clamp(0.0, 1.0 - f64::EPSILON);
            treatments.push(state.arms[t].id.clone());
        }
        let probabilities = state
            .arms
            .iter()
            .zip(&p)
            .map(|(arm, &probability)| ArmShare {
                arm: arm.id.clone(),
                probability,
            })
            .collect();
        self.emit(
            state,
            EventBody::Nof1CycleAssigned {
                participant,
                cycle,
                treatments,
                probabilities: Some(probabilities),
                draw: Some(draw),
            },
            out,
        )
    }

    /// The patient's effects on their measurements so far.
    fn patient_effects(
        &mut self,
        state: &TrialState,
        participant: u32,
    ) -> Result<Vec<Nof1Effect>, EngineError> {
        let spec = spec(self.protocol)?;
        let k = spec.treatments.len();
        let patient = &state.nof1[participant as usize];
        let observations = observations(spec, patient, &patient.measurements);
        let options = EffectOptions {
            mcid: spec.mcid,
            better: self.protocol.outcome.better,
            ar1: spec.ar1,
        };
        if self.protocol.outcome.kind == OutcomeKind::Binary {
            return self.binary_effects(state, &observations, k);
        }
        let posteriors = analyse_patient(&observations, k, &nof1_prior(self.protocol), &options)?;
        Ok(posteriors
            .iter()
            .map(|e| effect_of(&state.arms[e.treatment].id, e, spec.mcid, self.protocol))
            .collect())
    }

    /// Binary outcomes: each treatment's response rate has its Beta posterior; the effect is a
    /// difference of rates, summarised by quadrature (its interval by bisection on the CDF).
    fn binary_effects(
        &mut self,
        state: &TrialState,
        observations: &[Nof1Observation],
        k: usize,
    ) -> Result<Vec<Nof1Effect>, EngineError> {
        let spec = spec(self.protocol)?;
        let mut counts = vec![(0u32, 0u32); k];
        for o in observations {
            let c = &mut counts[o.treatment];
            c.1 += 1;
            if o.value > 0.5 {
                c.0 += 1;
            }
        }
        let marginal = |t: usize| -> Result<Marginal, EngineError> {
            let Prior::Beta { a, b } = state.arms[t].prior else {
                return Err(EngineError::Refused(
                    "a binary outcome needs Beta priors".into(),
                ));
            };
            let (r, n) = counts[t];
            Ok(Marginal::beta(a + f64::from(r), b + f64::from(n - r))?)
        };
        let first = marginal(0)?;
        let mcid = spec.mcid;
        let n: Vec<u32> = counts.iter().map(|c| c.1).collect();
        let mut out = Vec::with_capacity(k - 1);
        for t in 1..k {
            let other = marginal(t)?;
            let q = &mut self.quadrature;
            // P(other − first > d), and the CDF of the difference.
            let mut above = |d: f64| q.p_greater(&other, &first, d);
            let mean = other.mean().unwrap_or(0.0) - first.mean().unwrap_or(0.0);
            let sd = other.sd().unwrap_or(0.0).hypot(first.sd().unwrap_or(0.0));
            let p_positive = above(0.0)?;
            let (p_beyond, p_worse) = match self.protocol.outcome.better {
                Better::Higher => (above(mcid)?, 1.0 - above(-mcid)?),
                Better::Lower => (1.0 - above(-mcid)?, above(mcid)?),
            };
            let mut quantile = |p: f64| -> Result<f64, EngineError> {
                let (mut lo, mut hi) = (-1.0_f64, 1.0_f64);
                for _ in 0..50 {
                    let mid = 0.5 * (lo + hi);
                    if 1.0 - above(mid)? < p {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                Ok(0.5 * (lo + hi))
            };
            let ci95 = [quantile(0.025)?, quantile(0.975)?];
            let p_within = if mcid > 0.0 {
                self.quadrature.p_within(&other, &first, mcid)?
            } else {
                0.0
            };
            out.push(Nof1Effect {
                treatment: state.arms[t].id.clone(),
                mean,
                sd,
                ci95,
                p_positive,
                p_beyond_mcid: p_beyond.clamp(0.0, 1.0),
                p_worse_beyond_mcid: p_worse.clamp(0.0, 1.0),
                p_within_mcid: p_within,
                n: n.clone(),
                rho: None,
            });
        }
        Ok(out)
    }

    /// After a patient finishes: the series look, and the trial's end when every patient of a
    /// complete series has finished.
    fn after_patient_finished(
        &mut self,
        state: &mut TrialState,
        out: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let spec = spec(self.protocol)?;
        if let Some(summary) = series_summary(state, spec, self.protocol.outcome.better)? {
            self.emit(state, EventBody::SeriesLookPerformed { summary }, out)?;
        }
        let all_done = state.enrolled() >= state.max_participants
            && state.nof1.iter().all(|p| p.end.is_some());
        if all_done && state.is_running() {
            self.emit(
                state,
                EventBody::TrialStopped {
                    reason: super::super::events::StopReason::MaxParticipants,
                },
                out,
            )?;
        }
        Ok(())
    }
}

/// The measurements a patient's analysis uses out of `measurements` (the patient's current
/// ones, or those of the last look): those on period days of assigned periods (run-in and
/// washout days are left out), with their treatment.
fn observations(
    spec: &Nof1Spec,
    patient: &Nof1Patient,
    measurements: &[Measurement],
) -> Vec<Nof1Observation> {
    let calendar = Calendar::of(spec);
    let mut out = Vec::with_capacity(measurements.len());
    for m in measurements {
        let Some(treatment) = patient.analysed_treatment(&calendar, m.day) else {
            continue;
        };
        let value = match m.value {
            OutcomeValue::Continuous { value } => value,
            OutcomeValue::Binary { response } => f64::from(u8::from(response)),
            OutcomeValue::Count { events, .. } => events as f64,
        };
        out.push(Nof1Observation {
            treatment,
            day: m.day,
            value,
        });
    }
    out
}

/// The posterior density of a patient's first effect (second treatment minus the first) at
/// the patient's last look, on `points` points across its bulk, for plotting: the same
/// analysis as the look's effects (the measurements as they stood then, [`Nof1Patient::looked`]),
/// exact for continuous outcomes; for binary outcomes the normal density with the effect's
/// mean and SD.
pub fn effect_curve(
    protocol: &Protocol,
    patient: &Nof1Patient,
    points: usize,
) -> Result<Vec<[f64; 2]>, EngineError> {
    let spec = spec(protocol)?;
    let Some(effect) = patient.effects.first() else {
        return Ok(Vec::new());
    };
    let (lo, hi) = (
        effect.ci95[0].min(-spec.mcid) - 1.5 * effect.sd,
        effect.ci95[1].max(spec.mcid) + 1.5 * effect.sd,
    );
    let xs = (0..points).map(|i| lo + (hi - lo) * i as f64 / (points.max(2) - 1) as f64);
    if protocol.outcome.kind == OutcomeKind::Binary {
        let sd = effect.sd.max(1e-9);
        return Ok(xs
            .map(|x| {
                let z = (x - effect.mean) / sd;
                [
                    x,
                    (-0.5 * z * z).exp() / (sd * (std::f64::consts::TAU).sqrt()),
                ]
            })
            .collect());
    }
    let options = EffectOptions {
        mcid: spec.mcid,
        better: protocol.outcome.better,
        ar1: spec.ar1,
    };
    let posteriors = analyse_patient(
        &observations(spec, patient, &patient.looked),
        spec.treatments.len(),
        &nof1_prior(protocol),
        &options,
    )?;
    let Some(first) = posteriors.first() else {
        return Ok(Vec::new());
    };
    Ok(xs.map(|x| [x, first.density(x)]).collect())
}

/// The per-patient prior of a continuous n-of-1 protocol: the first treatment's
/// Normal-Inverse-Gamma prior (the mean's prior applies to every treatment).
fn nof1_prior(protocol: &Protocol) -> Nof1Prior {
    match protocol.arms.first().map(|a| a.prior) {
        Some(Prior::NormalInverseGamma {
            mu0,
            kappa0,
            alpha0,
            beta0,
        }) => Nof1Prior::NormalInverseGamma(NigPrior {
            mu0,
            kappa0,
            alpha0,
            beta0,
        }),
        _ => Nof1Prior::Flat,
    }
}

fn effect_of(arm: &ArmId, e: &EffectPosterior, mcid: f64, protocol: &Protocol) -> Nof1Effect {
    // The worse direction: the first treatment better by at least the MCID.
    let p_worse = match protocol.outcome.better {
        Better::Higher => e.cdf(-mcid),
        Better::Lower => 1.0 - e.cdf(mcid),
    };
    // With few degrees of freedom the SD is infinite; events hold finite numbers only, so the
    // SD then stands for the width of the 95% interval over 2 × 1.96.
    let sd = if e.sd.is_finite() {
        e.sd
    } else {
        (e.ci95.1 - e.ci95.0) / (2.0 * crate::stats::special::Z_975)
    };
    Nof1Effect {
        treatment: arm.clone(),
        mean: e.mean,
        sd,
        ci95: [e.ci95.0, e.ci95.1],
        p_positive: e.p_positive,
        p_beyond_mcid: e.p_beyond_mcid,
        p_worse_beyond_mcid: p_worse.clamp(0.0, 1.0),
        p_within_mcid: e.p_within_mcid,
        n: e.n.clone(),
        rho: e.rho,
    }
}

/// The stopping rules after a patient's look at `cycle`: benefit (either direction) first, then
/// equivalence, then completion of the last cycle.
fn patient_decision(
    spec: &Nof1Spec,
    cycle: u32,
    effects: &[Nof1Effect],
    first: &ArmId,
) -> Option<PatientEnd> {
    if cycle >= spec.min_cycles {
        if let Some(threshold) = spec.stop_benefit {
            let best = effects
                .iter()
                .flat_map(|e| {
                    [
                        (e.p_beyond_mcid, &e.treatment),
                        (e.p_worse_beyond_mcid, first),
                    ]
                })
                .fold(None::<(f64, &ArmId)>, |acc, x| match acc {
                    Some(a) if a.0 >= x.0 => Some(a),
                    _ => Some(x),
                });
            if let Some((probability, treatment)) = best.filter(|b| b.0 > threshold) {
                return Some(PatientEnd::Benefit {
                    treatment: treatment.clone(),
                    probability,
                    threshold,
                });
            }
        }
        if let Some(threshold) = spec.stop_equivalence {
            let probability = effects
                .iter()
                .map(|e| e.p_within_mcid)
                .fold(f64::INFINITY, f64::min);
            if probability.is_finite() && probability > threshold {
                return Some(PatientEnd::Equivalence {
                    probability,
                    threshold,
                });
            }
        }
    }
    (cycle >= spec.cycles).then_some(PatientEnd::Completed)
}

/// Patients with a look needed before the series look runs.
pub const MIN_SERIES_PATIENTS: usize = 3;

/// The series look: the patients with a look pooled by the hierarchical model (second
/// treatment minus the first). `None` before any patient has a look.
fn series_summary(
    state: &TrialState,
    spec: &Nof1Spec,
    better: Better,
) -> Result<Option<SeriesSummary>, EngineError> {
    let mut participants = Vec::new();
    let mut effects = Vec::new();
    for (i, patient) in state.nof1.iter().enumerate() {
        if let Some(e) = patient.effects.first() {
            participants.push(i as u32);
            effects.push(PatientEffect {
                mean: e.mean,
                sd: e.sd.max(1e-9),
            });
        }
    }
    // With fewer than 3 patients the half-Cauchy prior leaves the population mean without a
    // finite posterior SD (and with 1, τ without a finite mean): the series look waits.
    if effects.len() < MIN_SERIES_PATIENTS {
        return Ok(None);
    }
    let tau_scale = spec.tau_scale;
    let pooled = pool_series(
        &effects,
        &SeriesOptions {
            mcid: spec.mcid,
            better,
            tau_scale,
        },
    )?;
    Ok(Some(SeriesSummary {
        patients: effects.len() as u32,
        mean: pooled.population.mean,
        sd: pooled.population.sd,
        ci95: [pooled.population.ci95.0, pooled.population.ci95.1],
        p_positive: pooled.population.p_positive,
        p_beyond_mcid: pooled.population.p_beyond_mcid,
        tau_mean: pooled.tau.mean,
        tau_ci95: [pooled.tau.ci95.0, pooled.tau.ci95.1],
        eb_mean: pooled.empirical_bayes.mu_hat,
        eb_tau: pooled.empirical_bayes.tau_hat,
        shrunken: participants
            .iter()
            .zip(&effects)
            .zip(&pooled.shrunken)
            .map(|((&participant, own), s)| ShrunkenPatient {
                participant,
                own_mean: own.mean,
                mean: s.mean,
                ci95: [s.ci95.0, s.ci95.1],
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{date_of_day, day_of_date};
    use super::*;

    #[test]
    fn permutations_are_lexicographic() {
        assert_eq!(permutation(2, 0), vec![0, 1]);
        assert_eq!(permutation(2, 1), vec![1, 0]);
        let all: Vec<Vec<usize>> = (0..6).map(|i| permutation(3, i)).collect();
        assert_eq!(
            all,
            vec![
                vec![0, 1, 2],
                vec![0, 2, 1],
                vec![1, 0, 2],
                vec![1, 2, 0],
                vec![2, 0, 1],
                vec![2, 1, 0]
            ]
        );
    }

    #[test]
    fn thue_morse_gives_abba_baab() {
        let pattern: Vec<bool> = (0..8).map(thue_morse).collect();
        assert_eq!(
            pattern,
            vec![false, true, true, false, true, false, false, true]
        );
    }

    #[test]
    fn dates_follow_the_calendar() {
        assert_eq!(date_of_day("2026-12-30", 1).as_deref(), Some("2026-12-30"));
        assert_eq!(date_of_day("2026-12-30", 3).as_deref(), Some("2027-01-01"));
        assert_eq!(day_of_date("2026-12-30", "2027-01-01"), Some(3));
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("26-01-01").is_err());
    }
}
