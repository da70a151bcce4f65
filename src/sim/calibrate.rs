//! Calibration: the symmetric decision threshold that holds P(superiority) in one scenario at or
//! below a target, typically the type I error (0.05) in the null scenario; for a precision design
//! with graduation, the graduation threshold that holds P(some arm graduates in some signature)
//! at or below it ([`Calibrated`]).
//!
//! A candidate x sets `decision.superiority = x` and `decision.inferiority = 1 − x`, both constant
//! over looks, on a clone of the protocol. Without a control that is P(best) > x / P(best) <
//! 1 − x; with one, P(better than control) > x / < 1 − x, which is symmetric too. Every candidate
//! is simulated on the same replicates (common random numbers: the plan's seed fixes every
//! participant), so P_sup(x) is a deterministic step function of x for a given plan.
//!
//! Search, on a grid of 1e-5 between the smallest threshold the protocol rules admit (above 1/2,
//! and for designs without a control an inferiority below 1/number of arms) and 0.99999:
//!
//! 1. both ends are evaluated; if even 0.99999 misses the target the search stops with
//!    [`CalibrationError::NotBracketed`], and if the lower end already meets it that end is the
//!    answer;
//! 2. Brent's root finder (argmin) on f(x) = P_sup(x) − target narrows the bracket to about 1e-3;
//! 3. among all thresholds evaluated so far, the first one (in increasing order) that meets the
//!    target after one that misses it is taken, and the gap between the two is bisected until it
//!    is at most 1e-4 wide.
//!
//! The result x meets the target (P_sup(x) ≤ target); the evaluated threshold just below it, at
//! most 1e-4 lower, misses it; and so does every other evaluated threshold below x. Under common
//! random numbers P_sup is close to monotone but not exactly (another threshold drops other arms,
//! which changes allocation and so the paths), so "smallest" is guaranteed for the evaluated
//! thresholds, not for every x. Evaluations are cached: no threshold is simulated twice.
//!
//! This module holds no rule of the trial (the engine decides, through [`run_replicates`]) and
//! does no I/O: [`Calibration::rewrite_toml`] returns text for the caller to write.

use std::cell::RefCell;
use std::collections::BTreeMap;

use argmin::core::{CostFunction, Executor};
use argmin::solver::brent::BrentRoot;
use serde::Serialize;
use toml_edit::{DocumentMut, Item, TableLike, Value};

use super::{run_replicates, Conclusion, SimError, SimulationPlan};
use crate::protocol::{Design, Protocol, Threshold};

/// Thresholds are searched on a grid of 1/SCALE = 1e-5.
const SCALE: u32 = 100_000;
/// The largest threshold tried, 0.99999, in grid steps.
const UPPER: u32 = SCALE - 1;
/// The final bracket is at most this many grid steps wide (1e-4).
const RESOLUTION: u32 = 10;
/// Brent stops when its bracket is about this many grid steps wide (1e-3).
const BRENT_TOLERANCE: f64 = 100.0;
/// A cap on Brent's iterations; the bisection that follows finishes the job regardless.
const BRENT_MAX_ITERS: u64 = 60;

/// What a calibration tunes, and the probability it holds at or below the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Calibrated {
    /// `decision.superiority = x` and `decision.inferiority = 1 − x`; P(superiority).
    SymmetricDecision,
    /// Precision designs with `[graduation]`: `graduation.threshold = x`; P(some arm
    /// graduates in some signature).
    Graduation,
}

impl Calibrated {
    /// What the protocol's design calibrates: graduation when it has it.
    pub fn of(protocol: &Protocol) -> Self {
        match protocol.precision.as_ref().and_then(|p| p.graduation) {
            Some(_) => Self::Graduation,
            None => Self::SymmetricDecision,
        }
    }

    /// The threshold's name, for messages.
    pub fn threshold_name(self) -> &'static str {
        match self {
            Self::SymmetricDecision => "superiority threshold",
            Self::Graduation => "graduation threshold",
        }
    }

    /// What is searched for, for messages.
    pub fn search_name(self) -> &'static str {
        match self {
            Self::SymmetricDecision => "symmetric threshold",
            Self::Graduation => "graduation threshold",
        }
    }

    /// The protocol's setting at threshold `x`, for messages: `superiority = x (inferiority =
    /// 1 − x)` or `graduation.threshold = x`.
    pub fn setting(self, x: f64, inferiority: Option<f64>) -> String {
        match (self, inferiority) {
            (Self::SymmetricDecision, Some(i)) => format!("superiority = {x} (inferiority = {i})"),
            (Self::SymmetricDecision, None) => format!("superiority = {x}"),
            (Self::Graduation, _) => format!("graduation.threshold = {x}"),
        }
    }

    /// The probability held at or below the target, for messages.
    pub fn probability_name(self) -> &'static str {
        match self {
            Self::SymmetricDecision => "P(superiority)",
            Self::Graduation => "P(any graduation)",
        }
    }
}

/// One evaluated threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Probe {
    /// The threshold x (superiority, or graduation).
    pub threshold: f64,
    /// Symmetric decisions: the inferiority threshold 1 − x (exactly the value simulated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inferiority: Option<f64>,
    /// The calibrated probability over the plan's replicates with that threshold.
    pub achieved: f64,
}

impl Probe {
    /// `protocol` with this probe's threshold: what was simulated to get `achieved`.
    pub fn apply(&self, protocol: &Protocol) -> Protocol {
        with_threshold(protocol, self.threshold, self.inferiority)
    }
}

/// The result of [`calibrate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// What was tuned against what.
    pub calibrated: Calibrated,
    /// Scenario calibrated in.
    pub scenario: String,
    /// Target: the largest acceptable P(superiority).
    pub target: f64,
    /// Replicates per evaluation.
    pub reps: u64,
    /// Simulation seed (the same replicates for every evaluation).
    pub seed: u64,
    /// The calibrated threshold x (superiority, or graduation).
    pub threshold: f64,
    /// Symmetric decisions: the matching inferiority threshold 1 − x.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inferiority: Option<f64>,
    /// The calibrated probability with the calibrated threshold; at most `target`.
    pub achieved: f64,
    /// Monte Carlo standard error of `achieved`, √(p(1−p)/reps).
    pub mcse: f64,
    /// The evaluated threshold just below `threshold` (at most 1e-4 lower), which misses the
    /// target; `None` when `threshold` is the lower end of the search interval.
    pub below: Option<Probe>,
    /// Lower end of the search interval: the smallest threshold the protocol rules admit.
    pub lower: f64,
    /// Upper end of the search interval (0.99999).
    pub upper: f64,
    /// Thresholds simulated (each once).
    pub evaluations: usize,
    /// Every evaluation, in the order it was made.
    pub probes: Vec<Probe>,
}

/// Why a calibration could not be done.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// The target is not a probability below 1.
    #[error("target {0} must be a probability in [0, 1)")]
    Target(f64),
    /// The design cannot be calibrated this way.
    #[error("{0}")]
    Design(String),
    /// Even the largest threshold gives a probability above the target.
    #[error(
        "no {} meets the target: even {} gives {} = {achieved:.4} > {target} in scenario \
         {scenario:?} with {reps} replicates",
        calibrated.search_name(),
        calibrated.setting(*threshold, *inferiority),
        calibrated.probability_name()
    )]
    NotBracketed {
        /// What was tuned.
        calibrated: Calibrated,
        /// Symmetric decisions: the inferiority threshold of the largest threshold tried.
        inferiority: Option<f64>,
        /// Scenario name.
        scenario: String,
        /// The largest threshold tried.
        threshold: f64,
        /// P(superiority) there.
        achieved: f64,
        /// The target.
        target: f64,
        /// Replicates.
        reps: u64,
    },
    /// A simulation failed.
    #[error(transparent)]
    Simulation(#[from] SimError),
    /// The root finder failed.
    #[error("root finder: {0}")]
    Solver(String),
    /// The protocol text could not be rewritten with the calibrated thresholds.
    #[error("{0}")]
    Rewrite(String),
}

/// `protocol` with threshold `x`: with an inferiority `1 − x`, superiority x and that
/// inferiority at every look; without, graduation at x.
fn with_threshold(protocol: &Protocol, x: f64, inferiority: Option<f64>) -> Protocol {
    let mut protocol = protocol.clone();
    match inferiority {
        Some(inferiority) => {
            protocol.decision.superiority = Some(Threshold::Constant(x));
            protocol.decision.inferiority = Some(Threshold::Constant(inferiority));
        }
        None => {
            if let Some(graduation) = protocol
                .precision
                .as_mut()
                .and_then(|p| p.graduation.as_mut())
            {
                graduation.threshold = x;
            }
        }
    }
    protocol
}

/// The threshold and (symmetric decisions) the inferiority threshold at grid point `unit`.
fn thresholds(unit: u32, calibrated: Calibrated) -> (f64, Option<f64>) {
    let x = f64::from(unit) / f64::from(SCALE);
    match calibrated {
        Calibrated::SymmetricDecision => (x, Some(f64::from(SCALE - unit) / f64::from(SCALE))),
        Calibrated::Graduation => (x, None),
    }
}

/// The smallest grid point whose thresholds pass validation: superiority above inferiority
/// (x > 1/2) and, without a control, inferiority below 1/number of arms; a graduation threshold
/// above the graduation futility threshold. `None` when no grid point up to [`UPPER`]
/// qualifies.
fn lower_bound(protocol: &Protocol) -> Option<u32> {
    if let Some(graduation) = protocol.precision.as_ref().and_then(|p| p.graduation) {
        let lower = (graduation.futility * f64::from(SCALE)).floor() as u32 + 1;
        return (lower <= UPPER).then_some(lower);
    }
    let above_half = SCALE / 2 + 1;
    let arms = u32::try_from(protocol.arms.len())
        .unwrap_or(u32::MAX)
        .max(1);
    let bound = if protocol.control().is_none() {
        // SCALE − u < SCALE / arms  ⇔  SCALE − u ≤ ⌊(SCALE − 1) / arms⌋.
        SCALE - (SCALE - 1) / arms
    } else {
        above_half
    };
    let lower = bound.max(above_half);
    (lower <= UPPER).then_some(lower)
}

/// The grid point nearest to `x`, clamped to `[lower, upper]`.
fn snap(x: f64, lower: u32, upper: u32) -> u32 {
    let x = x.round();
    if x.is_nan() || x <= f64::from(lower) {
        lower
    } else if x >= f64::from(upper) {
        upper
    } else {
        x as u32
    }
}

/// Runs the simulations, each grid point at most once, and records every evaluation.
struct Evaluator<F> {
    run: F,
    cache: RefCell<BTreeMap<u32, f64>>,
    probes: RefCell<Vec<(u32, f64)>>,
    failure: RefCell<Option<SimError>>,
}

impl<F: Fn(u32) -> Result<f64, SimError>> Evaluator<F> {
    fn new(run: F) -> Self {
        Self {
            run,
            cache: RefCell::new(BTreeMap::new()),
            probes: RefCell::new(Vec::new()),
            failure: RefCell::new(None),
        }
    }

    /// P(superiority) at grid point `unit`.
    fn achieved(&self, unit: u32) -> Result<f64, SimError> {
        let cached = self.cache.borrow().get(&unit).copied();
        if let Some(p) = cached {
            return Ok(p);
        }
        let p = (self.run)(unit)?;
        tracing::info!(
            threshold = f64::from(unit) / f64::from(SCALE),
            achieved = p,
            "calibration: threshold evaluated"
        );
        self.cache.borrow_mut().insert(unit, p);
        self.probes.borrow_mut().push((unit, p));
        Ok(p)
    }
}

/// f(x) = P_sup(x) − target for Brent, with x in grid steps.
struct Objective<'e, F> {
    evaluator: &'e Evaluator<F>,
    target: f64,
    lower: u32,
    upper: u32,
}

impl<F: Fn(u32) -> Result<f64, SimError>> CostFunction for Objective<'_, F> {
    type Param = f64;
    type Output = f64;

    fn cost(&self, x: &f64) -> Result<f64, argmin::core::Error> {
        match self.evaluator.achieved(snap(*x, self.lower, self.upper)) {
            Ok(p) => Ok(p - self.target),
            Err(error) => {
                let message = error.to_string();
                *self.evaluator.failure.borrow_mut() = Some(error);
                Err(argmin::core::Error::msg(message))
            }
        }
    }
}

/// What the search found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Search {
    /// `unit` meets the target; `below` (the evaluated grid point just under it, at most
    /// [`RESOLUTION`] lower) misses it, as does every evaluated point under `unit`.
    Found { unit: u32, below: Option<u32> },
    /// Even `upper` misses the target.
    Unreachable { achieved: f64 },
}

/// The first evaluated point meeting the target after one that misses it, with that one.
fn first_crossing(cache: &BTreeMap<u32, f64>, target: f64) -> Option<(u32, u32)> {
    cache
        .iter()
        .zip(cache.iter().skip(1))
        .find(|((_, &pa), (_, &pb))| pa > target && pb <= target)
        .map(|((&a, _), (&b, _))| (a, b))
}

/// The search described in the module documentation, on grid points `[lower, upper]`.
fn search<F: Fn(u32) -> Result<f64, SimError>>(
    evaluator: &Evaluator<F>,
    lower: u32,
    upper: u32,
    target: f64,
) -> Result<Search, CalibrationError> {
    let meets = |p: f64| p <= target;
    let at_upper = evaluator.achieved(upper)?;
    if !meets(at_upper) {
        return Ok(Search::Unreachable { achieved: at_upper });
    }
    if meets(evaluator.achieved(lower)?) {
        return Ok(Search::Found {
            unit: lower,
            below: None,
        });
    }
    let objective = Objective {
        evaluator,
        target,
        lower,
        upper,
    };
    let solver = BrentRoot::new(f64::from(lower), f64::from(upper), BRENT_TOLERANCE);
    let solved = Executor::new(objective, solver)
        .configure(|state| state.max_iters(BRENT_MAX_ITERS))
        .timer(false)
        .run();
    if let Some(error) = evaluator.failure.borrow_mut().take() {
        return Err(error.into());
    }
    solved.map_err(|e| CalibrationError::Solver(e.to_string()))?;
    let crossing = first_crossing(&evaluator.cache.borrow(), target);
    let (mut missed, mut met) = crossing.ok_or(SimError::Internal(
        "calibration lost its bracket (the lower end misses the target, the upper meets it)",
    ))?;
    while met - missed > RESOLUTION {
        let mid = missed + (met - missed) / 2;
        if meets(evaluator.achieved(mid)?) {
            met = mid;
        } else {
            missed = mid;
        }
    }
    Ok(Search::Found {
        unit: met,
        below: Some(missed),
    })
}

/// Finds the smallest symmetric threshold x (superiority x, inferiority 1 − x, constant over
/// looks) whose P(superiority) in `plan`'s scenario is at most `target`, to 1e-4; see the module
/// documentation for the search and what "smallest" guarantees. `progress` is called once per
/// simulated trial, over all evaluations.
#[tracing::instrument(skip_all, fields(trial = %protocol.trial.id, scenario = %plan.scenario.name, reps = plan.reps, target = target))]
pub fn calibrate(
    protocol: &Protocol,
    plan: &SimulationPlan,
    target: f64,
    progress: &(dyn Fn() + Sync),
) -> Result<Calibration, CalibrationError> {
    if !(0.0..1.0).contains(&target) {
        return Err(CalibrationError::Target(target));
    }
    if protocol.trial.design == Design::Nof1 {
        return Err(CalibrationError::Design(
            "n-of-1 protocols have no superiority/inferiority thresholds to calibrate".into(),
        ));
    }
    let calibrated = Calibrated::of(protocol);
    let lower = lower_bound(protocol).ok_or_else(|| {
        CalibrationError::Design(format!(
            "with {} arms and no control no symmetric threshold up to {} is admissible",
            protocol.arms.len(),
            thresholds(UPPER, calibrated).0
        ))
    })?;
    let reps = plan.reps.max(1) as f64;
    let evaluator = Evaluator::new(|unit| {
        let (threshold, inferiority) = thresholds(unit, calibrated);
        let candidate = with_threshold(protocol, threshold, inferiority);
        let trials = run_replicates(&candidate, plan, progress)?;
        Ok(match calibrated {
            Calibrated::SymmetricDecision => {
                let superior = trials
                    .iter()
                    .filter(|t| t.conclusion == Conclusion::Superiority)
                    .count();
                // The same arithmetic as `Metrics::prob_superiority`.
                superior as f64 / trials.len().max(1) as f64
            }
            Calibrated::Graduation => super::strata::share_graduating(&trials),
        })
    });
    let (unit, below) = match search(&evaluator, lower, UPPER, target)? {
        Search::Found { unit, below } => (unit, below),
        Search::Unreachable { achieved } => {
            let (threshold, inferiority) = thresholds(UPPER, calibrated);
            return Err(CalibrationError::NotBracketed {
                calibrated,
                inferiority,
                scenario: plan.scenario.name.clone(),
                threshold,
                achieved,
                target,
                reps: plan.reps,
            });
        }
    };
    let probe = |(unit, achieved): (u32, f64)| {
        let (threshold, inferiority) = thresholds(unit, calibrated);
        Probe {
            threshold,
            inferiority,
            achieved,
        }
    };
    let cache = evaluator.cache.borrow();
    let achieved = cache
        .get(&unit)
        .copied()
        .ok_or(SimError::Internal("calibration result not evaluated"))?;
    let below = match below {
        Some(b) => Some(probe((
            b,
            cache
                .get(&b)
                .copied()
                .ok_or(SimError::Internal("calibration bracket not evaluated"))?,
        ))),
        None => None,
    };
    let probes: Vec<Probe> = evaluator
        .probes
        .borrow()
        .iter()
        .copied()
        .map(probe)
        .collect();
    let (threshold, inferiority) = thresholds(unit, calibrated);
    Ok(Calibration {
        calibrated,
        scenario: plan.scenario.name.clone(),
        target,
        reps: plan.reps,
        seed: plan.seed,
        threshold,
        inferiority,
        achieved,
        mcse: (achieved * (1.0 - achieved) / reps).sqrt(),
        below,
        lower: thresholds(lower, calibrated).0,
        upper: thresholds(UPPER, calibrated).0,
        evaluations: probes.len(),
        probes,
    })
}

/// Replaces `key` in `table` by `x`, keeping the comment and spacing around the old value.
fn set_number(table: &mut dyn TableLike, key: &str, x: f64) {
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(value) => {
            let decor = value.decor().clone();
            *value = Value::from(x);
            *value.decor_mut() = decor;
        }
        None => {
            table.insert(key, toml_edit::value(x));
        }
    }
}

impl Calibration {
    /// `protocol` with the calibrated thresholds: what was simulated to get `achieved`.
    pub fn apply(&self, protocol: &Protocol) -> Protocol {
        with_threshold(protocol, self.threshold, self.inferiority)
    }

    /// Protocol text `source` with `superiority` and `inferiority` in `[decision]` replaced by the
    /// calibrated values (added if absent), keeping every comment and all formatting. The result
    /// is validated, and checked to carry exactly the calibrated thresholds, before it is
    /// returned; `origin` names the text in error messages.
    pub fn rewrite_toml(&self, source: &str, origin: &str) -> Result<String, CalibrationError> {
        let mut document: DocumentMut = source
            .parse()
            .map_err(|e| CalibrationError::Rewrite(format!("{origin}: {e}")))?;
        let Some(inferiority) = self.inferiority else {
            return self.rewrite_graduation(document, origin);
        };
        if !document.contains_key("decision") {
            document.insert("decision", Item::Table(toml_edit::Table::new()));
        }
        let table = document
            .get_mut("decision")
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| {
                CalibrationError::Rewrite(format!("{origin}: decision is not a table"))
            })?;
        set_number(table, "superiority", self.threshold);
        set_number(table, "inferiority", inferiority);
        let text = document.to_string();
        let protocol = Protocol::from_toml(&text, origin).map_err(|e| {
            CalibrationError::Rewrite(format!(
                "the protocol with the calibrated thresholds does not validate:\n{e}"
            ))
        })?;
        if protocol.decision.superiority != Some(Threshold::Constant(self.threshold))
            || protocol.decision.inferiority != Some(Threshold::Constant(inferiority))
        {
            return Err(CalibrationError::Rewrite(format!(
                "{origin}: the rewritten thresholds do not read back as {} / {inferiority}",
                self.threshold
            )));
        }
        Ok(text)
    }

    /// [`Self::rewrite_toml`] for a graduation threshold: `[graduation] threshold`.
    fn rewrite_graduation(
        &self,
        mut document: DocumentMut,
        origin: &str,
    ) -> Result<String, CalibrationError> {
        let table = document
            .get_mut("graduation")
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| CalibrationError::Rewrite(format!("{origin}: no [graduation] table")))?;
        set_number(table, "threshold", self.threshold);
        let text = document.to_string();
        let protocol = Protocol::from_toml(&text, origin).map_err(|e| {
            CalibrationError::Rewrite(format!(
                "the protocol with the calibrated threshold does not validate:\n{e}"
            ))
        })?;
        let read_back = protocol
            .precision
            .as_ref()
            .and_then(|p| p.graduation)
            .map(|g| g.threshold);
        if read_back != Some(self.threshold) {
            return Err(CalibrationError::Rewrite(format!(
                "{origin}: the rewritten graduation threshold does not read back as {}",
                self.threshold
            )));
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Selection, SimScenario};

    const TWO_ARM: &str = r#"# A small two-arm trial without a control.
[trial]
id = "CAL-2"
title = "Calibration test"
design = "platform"
max_participants = 120

[outcome]
kind = "binary"
name = "Response"

[[arm]]
id = "a"
name = "A"

[[arm]]
id = "b"
name = "B"

[analysis]
looks = { first = 40, every = 40 }

[decision]
superiority = 0.99  # stop for a winner
inferiority = 0.01  # drop a loser

[[scenario]]
name = "null"
truth = { a = 0.3, b = 0.3 }
accrual_per_week = 20
outcome_delay_weeks = 0

[[scenario]]
name = "clear"
truth = { a = 0.05, b = 0.95 }
accrual_per_week = 20
outcome_delay_weeks = 0
"#;

    fn protocol(text: &str) -> Protocol {
        Protocol::from_toml(text, "test.toml").unwrap()
    }

    fn plan(protocol: &Protocol, scenario: &str, reps: u64, threads: usize) -> SimulationPlan {
        SimulationPlan {
            scenario: SimScenario::from_protocol(protocol, scenario, &[]).unwrap(),
            reps,
            seed: 7,
            threads,
            selection: Selection::BestRemaining,
        }
    }

    fn search_on(f: impl Fn(u32) -> f64, lower: u32, upper: u32, target: f64) -> Search {
        let evaluator = Evaluator::new(|unit| Ok(f(unit)));
        search(&evaluator, lower, upper, target).unwrap()
    }

    #[test]
    fn lower_bound_keeps_the_validation_rules() {
        let two = protocol(TWO_ARM);
        assert_eq!(lower_bound(&two), Some(50_001));
        let three = TWO_ARM.replace(
            "[analysis]",
            "[[arm]]\nid = \"c\"\nname = \"C\"\n\n[analysis]",
        );
        let three = three.replace("b = 0.3 }", "b = 0.3, c = 0.3 }");
        let three = three.replace("b = 0.95 }", "b = 0.95, c = 0.5 }");
        let p = protocol(&three);
        assert_eq!(lower_bound(&p), Some(66_667));
        // The bound itself validates; one step below does not.
        let at = |unit: u32| {
            let (s, i) = thresholds(unit, Calibrated::SymmetricDecision);
            let i = i.unwrap_or_default();
            three
                .replace("superiority = 0.99", &format!("superiority = {s}"))
                .replace("inferiority = 0.01", &format!("inferiority = {i}"))
        };
        assert!(Protocol::from_toml(&at(66_667), "t").is_ok());
        assert!(Protocol::from_toml(&at(66_666), "t").is_err());
        let controlled = TWO_ARM.replace("name = \"A\"", "name = \"A\"\ncontrol = true");
        let p = protocol(&controlled);
        assert_eq!(lower_bound(&p), Some(50_001));
    }

    #[test]
    fn snap_rounds_and_clamps() {
        assert_eq!(snap(70_000.4, 60_000, 99_999), 70_000);
        assert_eq!(snap(70_000.6, 60_000, 99_999), 70_001);
        assert_eq!(snap(1.0, 60_000, 99_999), 60_000);
        assert_eq!(snap(1e9, 60_000, 99_999), 99_999);
        assert_eq!(snap(f64::NAN, 60_000, 99_999), 60_000);
    }

    #[test]
    fn first_crossing_is_the_lowest_miss_then_meet() {
        let cache: BTreeMap<u32, f64> = [(1, 0.9), (5, 0.04), (7, 0.06), (9, 0.01)]
            .into_iter()
            .collect();
        assert_eq!(first_crossing(&cache, 0.05), Some((1, 5)));
        // "Meets" includes equality.
        let cache: BTreeMap<u32, f64> = [(1, 0.9), (5, 0.05)].into_iter().collect();
        assert_eq!(first_crossing(&cache, 0.05), Some((1, 5)));
        let cache: BTreeMap<u32, f64> = [(1, 0.9), (5, 0.5)].into_iter().collect();
        assert_eq!(first_crossing(&cache, 0.05), None);
    }

    #[test]
    fn search_finds_the_step_of_a_monotone_function_to_the_resolution() {
        // P_sup drops below 0.05 at grid point 83_211 exactly.
        let f = |unit: u32| if unit < 83_211 { 0.2 } else { 0.03 };
        let Search::Found { unit, below } = search_on(f, 50_001, UPPER, 0.05) else {
            panic!("not found");
        };
        let below = below.unwrap();
        assert!(f(unit) <= 0.05 && f(below) > 0.05);
        assert!(unit - below <= RESOLUTION);
        assert!((83_211..83_211 + RESOLUTION).contains(&unit));
    }

    #[test]
    fn search_on_a_staircase_returns_a_met_point_above_only_misses() {
        // Decreasing staircase with a non-monotone blip: every evaluated point below the answer
        // misses the target.
        let f = |unit: u32| {
            let x = f64::from(unit) / f64::from(SCALE);
            let base = ((1.0 - x) * 40.0).floor() / 40.0;
            if (0.9..0.9005).contains(&x) {
                0.01
            } else {
                base
            }
        };
        let evaluator = Evaluator::new(|unit| Ok(f(unit)));
        let Search::Found { unit, below } = search(&evaluator, 66_667, UPPER, 0.05).unwrap() else {
            panic!("not found");
        };
        assert!(f(unit) <= 0.05);
        assert!(f(below.unwrap()) > 0.05);
        assert!(unit - below.unwrap() <= RESOLUTION);
        for (&u, &p) in evaluator.cache.borrow().iter() {
            if u < unit {
                assert!(p > 0.05, "{u} gives {p}");
            }
        }
        // No grid point was simulated twice.
        assert_eq!(
            evaluator.probes.borrow().len(),
            evaluator.cache.borrow().len()
        );
    }

    #[test]
    fn search_reports_an_unreachable_target_and_a_lower_end_that_already_meets_it() {
        assert_eq!(
            search_on(|_| 0.3, 50_001, UPPER, 0.05),
            Search::Unreachable { achieved: 0.3 }
        );
        assert_eq!(
            search_on(|_| 0.01, 50_001, UPPER, 0.05),
            Search::Found {
                unit: 50_001,
                below: None
            }
        );
    }

    #[test]
    fn search_passes_simulation_errors_through() {
        let evaluator = Evaluator::new(|unit| {
            if unit == UPPER {
                Ok(0.0)
            } else if unit == 50_001 {
                Ok(1.0)
            } else {
                Err(SimError::Internal("boom"))
            }
        });
        let error = search(&evaluator, 50_001, UPPER, 0.05).unwrap_err();
        assert!(
            matches!(
                error,
                CalibrationError::Simulation(SimError::Internal("boom"))
            ),
            "{error}"
        );
    }

    #[test]
    fn calibrate_meets_the_target_and_misses_it_just_below() {
        let p = protocol(TWO_ARM);
        let plan = plan(&p, "null", 60, 1);
        let c = calibrate(&p, &plan, 0.1, &|| {}).unwrap();
        assert!(c.achieved <= 0.1, "{c:?}");
        let below = c.below.expect("the lower end misses 0.1 in this design");
        assert!(below.achieved > 0.1);
        assert!(c.threshold - below.threshold <= 1e-4 + 1e-12);
        assert!((c.threshold + c.inferiority.unwrap_or_default() - 1.0).abs() < 1e-12);
        assert_eq!(c.evaluations, c.probes.len());
        for probe in &c.probes {
            if probe.threshold < c.threshold {
                assert!(probe.achieved > 0.1, "{probe:?}");
            }
        }
        // Common random numbers: simulating the calibrated protocol gives the same value.
        let again = crate::sim::simulate(&c.apply(&p), "", &plan, &|| {}).unwrap();
        assert_eq!(again.metrics.prob_superiority, c.achieved);
        // The answer does not depend on the number of threads.
        let threaded = calibrate(&p, &self::plan(&p, "null", 60, 2), 0.1, &|| {}).unwrap();
        assert_eq!(threaded, c);
    }

    #[test]
    fn calibrate_reports_a_target_no_threshold_reaches() {
        let p = protocol(TWO_ARM);
        let error = calibrate(&p, &plan(&p, "clear", 20, 1), 0.05, &|| {}).unwrap_err();
        assert!(
            matches!(error, CalibrationError::NotBracketed { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("even superiority = 0.99999"));
    }

    #[test]
    fn calibrate_rejects_targets_that_are_not_probabilities() {
        let p = protocol(TWO_ARM);
        let plan = plan(&p, "null", 10, 1);
        for target in [-0.1, 1.0, f64::NAN] {
            assert!(matches!(
                calibrate(&p, &plan, target, &|| {}),
                Err(CalibrationError::Target(_))
            ));
        }
    }

    fn calibration(threshold: f64) -> Calibration {
        Calibration {
            calibrated: Calibrated::SymmetricDecision,
            scenario: "null".into(),
            target: 0.05,
            reps: 100,
            seed: 1,
            threshold,
            inferiority: thresholds(
                (threshold * f64::from(SCALE)).round() as u32,
                Calibrated::SymmetricDecision,
            )
            .1,
            achieved: 0.05,
            mcse: 0.02,
            below: None,
            lower: 0.50001,
            upper: 0.99999,
            evaluations: 2,
            probes: Vec::new(),
        }
    }

    #[test]
    fn rewrite_replaces_the_values_and_keeps_comments() {
        let c = calibration(0.98765);
        let text = c.rewrite_toml(TWO_ARM, "two.toml").unwrap();
        assert!(
            text.contains("superiority = 0.98765  # stop for a winner"),
            "{text}"
        );
        assert!(
            text.contains("inferiority = 0.01235  # drop a loser"),
            "{text}"
        );
        assert!(text.starts_with("# A small two-arm trial without a control."));
        assert_eq!(
            text.replace("0.98765", "0.99").replace("0.01235", "0.01"),
            TWO_ARM
        );
        let p = Protocol::from_toml(&text, "two.toml").unwrap();
        assert_eq!(p, c.apply(&protocol(TWO_ARM)));
    }

    #[test]
    fn rewrite_replaces_per_look_values_and_adds_missing_keys() {
        let per_look = TWO_ARM
            .replace("superiority = 0.99", "superiority = [0.999, 0.99]")
            .replace("inferiority = 0.01  # drop a loser\n", "");
        let c = calibration(0.9);
        let text = c.rewrite_toml(&per_look, "t.toml").unwrap();
        let p = Protocol::from_toml(&text, "t.toml").unwrap();
        assert_eq!(p.decision.superiority, Some(Threshold::Constant(0.9)));
        assert_eq!(p.decision.inferiority, Some(Threshold::Constant(0.1)));
        // An inline table has to come before the first table header.
        let inline = TWO_ARM
            .replace(
                "[decision]\nsuperiority = 0.99  # stop for a winner\ninferiority = 0.01  # drop a loser\n",
                "",
            )
            .replace(
                "[trial]",
                "decision = { superiority = 0.99 }\n\n[trial]",
            );
        assert_ne!(inline, TWO_ARM);
        let text = c.rewrite_toml(&inline, "t.toml").unwrap();
        assert!(text.contains("decision = { superiority = 0.9"), "{text}");
        let p = Protocol::from_toml(&text, "t.toml").unwrap();
        assert_eq!(p.decision.inferiority, Some(Threshold::Constant(0.1)));
    }

    #[test]
    fn rewrite_refuses_thresholds_the_rules_reject() {
        // 0.5 is not above its inferiority 0.5.
        let mut c = calibration(0.5);
        c.inferiority = Some(0.5);
        let error = c.rewrite_toml(TWO_ARM, "two.toml").unwrap_err();
        assert!(error.to_string().contains("does not validate"), "{error}");
    }
}
