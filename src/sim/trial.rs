//! One simulated trial: synthetic participants arrive, the engine randomises them, outcomes
//! arrive after their delay, and the engine runs its looks. No rule of the trial lives here.
//!
//! Common random numbers: each participant's arrival gap, outcome, dropout and delay come from
//! four uniforms drawn in a fixed order from the replicate's own stream, and the outcome is the
//! inverse CDF of the assigned arm at that uniform, so two designs run on the same replicate see
//! the same participants.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::scenario::{clamp_to_range, outcome_value, SimScenario};
use super::SimError;
use crate::engine::strata::Biomarkers;
use crate::engine::{self, Engine, Event, Graduated, OutcomeValue, TrialSeed, TrialState};
use crate::protocol::{DelaySpec, Protocol};
use crate::stats::Better;

/// How a simulated trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    /// An arm was declared superior (or was the last arm left without a control).
    Superiority,
    /// Arms were declared equivalent.
    Equivalence,
    /// Every experimental arm was dropped against the control.
    Futility,
    /// The maximum sample size (or the end of data collection) was reached without a decision.
    Max,
}

/// Which arm a simulated trial selects when no arm is declared superior.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The remaining arm with the best posterior mean.
    BestRemaining,
    /// The control, if it is still active.
    ControlIfAvailable,
    /// None.
    None,
}

/// What one simulated trial produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialOutcome {
    /// How it ended.
    pub conclusion: Conclusion,
    /// The arm declared superior (protocol arm index).
    pub superior: Option<usize>,
    /// The active arm with the best final posterior mean.
    pub best_remaining: Option<usize>,
    /// The control, if still active at the end.
    pub control_left: Option<usize>,
    /// Participants enrolled.
    pub enrolled: u32,
    /// Responses (binary) or events (count) among outcomes collected.
    pub events: u64,
    /// Looks performed.
    pub looks: u32,
    /// Participants randomised to each arm.
    pub allocated: Vec<u32>,
    /// Final posterior mean of each arm (NaN when undefined).
    pub posterior_mean: Vec<f64>,
    /// Allocation probabilities set at each look (per arm; 0 for closed arms).
    pub allocation_by_look: Vec<Vec<f64>>,
    /// Precision designs: what happened per stratum and signature.
    pub strata: Option<StrataOutcome>,
}

/// What a simulated precision trial produced per stratum and signature.
#[derive(Debug, Clone, PartialEq)]
pub struct StrataOutcome {
    /// Graduations, in order.
    pub graduated: Vec<Graduated>,
    /// Participants enrolled per stratum.
    pub enrolled: Vec<u32>,
    /// Participants randomised per stratum and arm, at `stratum * arms + arm`.
    pub allocated: Vec<u32>,
    /// The allocation set in each stratum at each look: (look, stratum, probability per arm,
    /// 0 where closed).
    pub allocation_by_look: Vec<(u32, u32, Vec<f64>)>,
}

/// A pending outcome, ordered by arrival time then participant.
#[derive(Debug, Clone, Copy)]
struct Pending {
    time: f64,
    participant: u32,
    value: OutcomeValue,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        other
            .time
            .total_cmp(&self.time)
            .then(other.participant.cmp(&self.participant))
    }
}

/// The stratum of an arrival at the uniform `u`: the inverse of the prevalence's cumulative
/// distribution (the last stratum with positive prevalence takes any rounding remainder).
fn stratum_at(prevalence: &[f64], u: f64) -> usize {
    let mut cumulative = 0.0;
    let mut last = 0;
    for (s, &p) in prevalence.iter().enumerate() {
        if p > 0.0 {
            last = s;
            cumulative += p;
            if u < cumulative {
                return s;
            }
        }
    }
    last
}

/// Every stratum's biomarker values, made once per trial and shared by its participants.
fn biomarker_sets(precision: &crate::protocol::precision::Precision) -> Vec<Arc<Biomarkers>> {
    precision
        .strata
        .iter()
        .map(|stratum| {
            Arc::new(Biomarkers(
                precision
                    .biomarkers
                    .iter()
                    .zip(&stratum.levels)
                    .map(|(b, &l)| (b.id.clone(), b.levels[l].clone()))
                    .collect(),
            ))
        })
        .collect()
}

/// A 32-byte key for the stream of `purpose` in replicate `rep`: SHA-256(seed ‖ rep ‖ purpose).
pub(super) fn derive(seed: u64, rep: u64, purpose: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(rep.to_le_bytes());
    hasher.update(purpose);
    hasher.finalize().into()
}

/// The engine seed of replicate `rep` of a simulation seeded `seed`.
pub fn trial_seed(seed: u64, rep: u64) -> TrialSeed {
    TrialSeed::from_bytes(derive(seed, rep, b"trial"))
}

/// Reusable per-thread buffers.
#[derive(Debug, Default)]
pub struct Workspace {
    events: Vec<Event>,
    pending: BinaryHeap<Pending>,
    /// Subject identifiers `P0`, `P1`, … made once per thread and shared with every trial.
    subjects: Vec<Arc<str>>,
    state: Option<TrialState>,
}

fn delay_weeks(delay: DelaySpec, u: f64) -> f64 {
    match delay {
        DelaySpec::Fixed(weeks) => weeks,
        DelaySpec::Exponential(mean) => -mean * (1.0 - u).ln(),
        DelaySpec::Uniform(lo, hi) => lo + (hi - lo) * u,
    }
}

/// Runs replicate `rep` of `scenario` on `engine` (reseeded here).
pub fn simulate_trial(
    engine: &mut Engine<'_>,
    workspace: &mut Workspace,
    scenario: &SimScenario,
    seed: u64,
    rep: u64,
) -> Result<TrialOutcome, SimError> {
    let protocol: &Protocol = engine.protocol();
    engine.reseed(trial_seed(seed, rep));
    let mut rng = ChaCha8Rng::from_seed(derive(seed, rep, b"participants"));
    let mut state = match workspace.state.take() {
        Some(mut state) => {
            state.reset(protocol)?;
            state
        }
        None => TrialState::new(protocol)?,
    };
    let arms = protocol.arms.len();
    let kind = protocol.outcome.kind;
    let sd = scenario.sd.unwrap_or(1.0);
    let rate = scenario.accrual_per_week;
    workspace.events.clear();
    workspace.pending.clear();
    workspace
        .events
        .extend(engine.start(&mut state, "simulation")?);
    // Precision designs: each arrival's stratum comes from a stream of its own, so that the
    // participants' other draws are those of the same design without strata.
    let strata = match (&protocol.precision, &scenario.strata) {
        (Some(precision), Some(strata)) => Some((
            ChaCha8Rng::from_seed(derive(seed, rep, b"strata")),
            strata,
            biomarker_sets(precision),
        )),
        (None, None) => None,
        _ => {
            return Err(SimError::Internal(
                "a precision design's scenario needs its strata (and only then)",
            ))
        }
    };
    let mut strata = strata;
    let mut stratum_allocation: Vec<(u32, u32, Vec<f64>)> = Vec::new();
    let mut allocation_by_look: Vec<Vec<f64>> = Vec::new();
    let mut events_total = 0_u64;
    let mut next_arrival = -(1.0 - rng.gen::<f64>()).ln() / rate;
    loop {
        let enrolling = state.is_running()
            && state.enrolment_closed().is_none()
            && strata.as_ref().is_none_or(|(_, scenario, _)| {
                (0..scenario.prevalence.len())
                    .any(|s| scenario.prevalence[s] > 0.0 && state.stratum_open(s))
            });
        let next_outcome = workspace.pending.peek().map(|p| p.time);
        let arrival_first = enrolling && next_outcome.is_none_or(|t| next_arrival <= t);
        workspace.events.clear();
        if arrival_first {
            let participant = state.enrolled();
            while workspace.subjects.len() <= participant as usize {
                let next = workspace.subjects.len();
                workspace.subjects.push(Arc::from(format!("P{next}")));
            }
            let (u_outcome, u_dropout, u_delay, u_gap) = (
                rng.gen::<f64>(),
                rng.gen::<f64>(),
                rng.gen::<f64>(),
                rng.gen::<f64>(),
            );
            let subject = &workspace.subjects[participant as usize];
            let truth = match &mut strata {
                None => {
                    engine.enrol_subject_into(&mut state, subject, &mut workspace.events)?;
                    None
                }
                Some((rng, scenario, biomarkers)) => {
                    let stratum = stratum_at(&scenario.prevalence, rng.gen::<f64>());
                    if state.stratum_open(stratum) {
                        engine.enrol_with_biomarkers_into(
                            &mut state,
                            subject,
                            &biomarkers[stratum],
                            &mut workspace.events,
                        )?;
                        Some((*scenario, stratum))
                    } else {
                        // No arm is open to this subtype: the arrival is not enrolled.
                        next_arrival += -(1.0 - u_gap).ln() / rate;
                        continue;
                    }
                }
            };
            let arm = state.participants[participant as usize]
                .arm
                .ok_or(SimError::Internal("a participant was not randomised"))?;
            let truth = match truth {
                None => scenario.truth[arm],
                Some((strata, stratum)) => strata.truth[arm][stratum],
            };
            if u_dropout >= scenario.dropout {
                workspace.pending.push(Pending {
                    time: next_arrival + delay_weeks(scenario.delay, u_delay),
                    participant,
                    value: clamp_to_range(
                        outcome_value(kind, truth, sd, u_outcome),
                        &protocol.outcome,
                    ),
                });
            }
            next_arrival += -(1.0 - u_gap).ln() / rate;
        } else if let Some(next) = workspace.pending.pop() {
            match next.value {
                OutcomeValue::Binary { response } => events_total += u64::from(response),
                OutcomeValue::Count { events, .. } => events_total += events,
                OutcomeValue::Continuous { .. } => {}
            }
            if state.is_running() {
                engine.record_outcome_into(
                    &mut state,
                    next.participant,
                    next.value,
                    &mut workspace.events,
                )?;
            }
        } else {
            if state.is_running() {
                engine.conclude_into(&mut state, &mut workspace.events)?;
            }
        }
        for (stratum, probabilities) in workspace
            .events
            .iter()
            .filter_map(|e| e.body.look_allocation())
        {
            let mut row = vec![0.0; arms];
            for share in probabilities {
                if let Some(i) = state.arm_index(&share.arm) {
                    if i < arms {
                        row[i] = share.probability;
                    }
                }
            }
            match stratum {
                None => allocation_by_look.push(row),
                Some(s) => stratum_allocation.push((state.looks_done, s, row)),
            }
        }
        if !state.is_running() {
            break;
        }
    }
    // What the stop means is the engine's rule; a trial that runs out of participants and
    // outcomes without a stop counts as reaching the maximum.
    let (conclusion, superior) = match state.verdict() {
        Some(verdict) => (
            match verdict.conclusion {
                engine::Conclusion::Superiority => Conclusion::Superiority,
                engine::Conclusion::Equivalence => Conclusion::Equivalence,
                engine::Conclusion::Futility => Conclusion::Futility,
                engine::Conclusion::MaximumSampleSize | engine::Conclusion::Closed => {
                    Conclusion::Max
                }
            },
            verdict.superior,
        ),
        None => (Conclusion::Max, None),
    };
    let mut allocated = vec![0_u32; arms];
    for participant in &state.participants {
        if let Some(arm) = participant.arm.filter(|&a| a < arms) {
            allocated[arm] += 1;
        }
    }
    let posterior_mean: Vec<f64> = state
        .arms
        .iter()
        .take(arms)
        .map(|a| {
            a.model
                .posterior()
                .ok()
                .and_then(|m| m.mean())
                .unwrap_or(f64::NAN)
        })
        .collect();
    let strata = state.strata.as_ref().map(|s| {
        let mut allocated = vec![0_u32; s.count * arms];
        for participant in &state.participants {
            if let (Some(arm), Some(stratum)) = (participant.arm, participant.stratum) {
                if arm < arms {
                    allocated[stratum as usize * arms + arm] += 1;
                }
            }
        }
        StrataOutcome {
            graduated: s.graduated.clone(),
            enrolled: s.enrolled.clone(),
            allocated,
            allocation_by_look: std::mem::take(&mut stratum_allocation),
        }
    });
    let outcome = TrialOutcome {
        strata,
        conclusion,
        superior,
        best_remaining: None,
        control_left: None,
        enrolled: state.enrolled(),
        events: events_total,
        looks: state.looks_done,
        allocated,
        posterior_mean,
        allocation_by_look,
    }
    .with_selection(&state, protocol.outcome.better);
    workspace.state = Some(state);
    Ok(outcome)
}

impl TrialOutcome {
    fn with_selection(mut self, state: &TrialState, better: Better) -> Self {
        self.best_remaining = best_remaining(state, &self.posterior_mean, better);
        self.control_left = state
            .control
            .filter(|&c| state.arms[c].status == crate::engine::ArmStatus::Active);
        self
    }

    /// The arm selected under `rule`.
    pub fn selection(&self, rule: Selection) -> Option<usize> {
        if self.superior.is_some() {
            return self.superior;
        }
        match rule {
            Selection::None => None,
            Selection::ControlIfAvailable => self.control_left,
            Selection::BestRemaining => self.best_remaining,
        }
    }
}

fn best_remaining(state: &TrialState, means: &[f64], better: Better) -> Option<usize> {
    state
        .active_arms()
        .filter(|&a| a < means.len() && means[a].is_finite())
        .reduce(|best, a| {
            let improves = match better {
                Better::Higher => means[a] > means[best],
                Better::Lower => means[a] < means[best],
            };
            if improves {
                a
            } else {
                best
            }
        })
}
