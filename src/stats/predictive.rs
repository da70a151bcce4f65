//! Predictive probabilities of binary trials: the probability, given the data so far, that a
//! trial ends in success at its maximum size (one arm, Lee & Liu 2008; two arms, by the
//! posterior probability of a margin), and ([`future`]) the probability that a future
//! confirmatory trial succeeds (the posterior expectation of its power, I-SPY 2's graduation
//! rule).
//!
//! Every sum over future data is exact: the beta-binomial predictive probabilities come from
//! their ratio recurrence, and the success region, monotone in the future counts, is found by
//! bisection (one arm) or by walking its boundary (two arms), so the inner posterior
//! probability is computed a handful of times rather than once per future outcome. Formulas and
//! references are in `METHODS.md`, "Predictive probabilities". Nothing here knows a protocol,
//! a look or a simulation.

mod future;

pub use future::{ConfirmatoryTrial, EffectScale, FutureTrialQuadrature, NormalEffect};

use serde::Serialize;

use super::special::beta_upper_tail;
use super::{positive, BetaPrior, Marginal, Quadrature, StatsError};

/// The largest maximum size (patients per arm) one calculation accepts.
pub const MAX_PATIENTS: u64 = 100_000;

/// A probability strictly between 0 and 1, else [`StatsError::Probability`].
pub(crate) fn open_probability(value: f64) -> Result<f64, StatsError> {
    if value.is_finite() && value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(StatsError::Probability { value })
    }
}

/// A validated Beta prior (both shapes finite and positive).
fn checked_prior(prior: BetaPrior) -> Result<BetaPrior, StatsError> {
    Ok(BetaPrior {
        a: positive("a", prior.a)?,
        b: positive("b", prior.b)?,
    })
}

/// A sample size of at most [`MAX_PATIENTS`].
fn bounded(size: u64) -> Result<u64, StatsError> {
    if size > MAX_PATIENTS {
        Err(StatsError::SampleSize {
            got: size,
            max: MAX_PATIENTS,
        })
    } else {
        Ok(size)
    }
}

/// One arm's binary data so far: `successes` of `patients` (successes ≤ patients ≤
/// [`MAX_PATIENTS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ArmData {
    successes: u64,
    patients: u64,
}

impl ArmData {
    /// `successes` of `patients`.
    pub fn new(successes: u64, patients: u64) -> Result<Self, StatsError> {
        if successes > patients {
            return Err(StatsError::Successes {
                successes,
                patients,
            });
        }
        Ok(Self {
            successes,
            patients: bounded(patients)?,
        })
    }

    /// Successes so far.
    pub fn successes(&self) -> u64 {
        self.successes
    }

    /// Patients so far.
    pub fn patients(&self) -> u64 {
        self.patients
    }

    /// The posterior Beta(a + x, b + n − x) shapes, and the patients still to come before
    /// `maximum` (an error when more have been seen).
    fn posterior(&self, prior: BetaPrior, maximum: u64) -> Result<(BetaBinomial, u64), StatsError> {
        if self.patients > maximum {
            return Err(StatsError::BeyondMaximum {
                patients: self.patients,
                maximum,
            });
        }
        let future = maximum - self.patients;
        Ok((
            BetaBinomial {
                alpha: prior.a + self.successes as f64,
                beta: prior.b + (self.patients - self.successes) as f64,
                future,
            },
            future,
        ))
    }
}

/// The beta-binomial predictive distribution of the successes Y among `future` patients when
/// the response rate is Beta(alpha, beta):
/// P(Y = i) = C(m, i) B(alpha + i, beta + m − i) / B(alpha, beta), i = 0 … m.
#[derive(Debug, Clone, Copy)]
struct BetaBinomial {
    alpha: f64,
    beta: f64,
    future: u64,
}

impl BetaBinomial {
    /// P(Y = i + 1) / P(Y = i) = (m − i)(alpha + i) / ((i + 1)(beta + m − i − 1)), i < m.
    #[inline]
    fn ratio(&self, i: u64) -> f64 {
        let (m, i) = (self.future as f64, i as f64);
        (m - i) * (self.alpha + i) / ((i + 1.0) * (self.beta + m - i - 1.0))
    }

    /// The count nearest the mean m·alpha/(alpha + beta): the anchor from which the
    /// recurrences run both ways, where the probability is far from underflow.
    fn anchor(&self) -> u64 {
        let mean = self.future as f64 * self.alpha / (self.alpha + self.beta);
        (mean.round() as u64).min(self.future)
    }

    /// P(Y ≥ from): the terms relative to the anchor's, by the ratio recurrence, summed over
    /// i ≥ `from` and divided by their sum over all i (so that no ln Γ is needed and the
    /// probabilities sum to 1 to rounding).
    fn upper_sum(&self, from: u64) -> f64 {
        if from > self.future {
            return 0.0;
        }
        if from == 0 {
            return 1.0;
        }
        let anchor = self.anchor();
        let mut total = 1.0;
        let mut upper = if anchor >= from { 1.0 } else { 0.0 };
        let mut term = 1.0;
        for i in anchor..self.future {
            term *= self.ratio(i);
            total += term;
            if i + 1 >= from {
                upper += term;
            }
        }
        term = 1.0;
        for i in (0..anchor).rev() {
            term /= self.ratio(i);
            total += term;
            if i >= from {
                upper += term;
            }
        }
        upper / total
    }

    /// P(Y = i) for i = 0 … m into `out`, by the same recurrence and normalisation.
    fn pmf_into(&self, out: &mut Vec<f64>) {
        let m = self.future as usize;
        out.clear();
        out.resize(m + 1, 0.0);
        let k = self.anchor() as usize;
        out[k] = 1.0;
        for i in k..m {
            out[i + 1] = out[i] * self.ratio(i as u64);
        }
        for i in (0..k).rev() {
            out[i] = out[i + 1] / self.ratio(i as u64);
        }
        let total: f64 = out.iter().sum();
        for p in out.iter_mut() {
            *p /= total;
        }
    }
}

/// A single-arm trial with a binary outcome that succeeds when, at its maximum size N,
/// P(p > p0 | data) > θ_T (Lee & Liu 2008).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SingleArmDesign {
    prior: BetaPrior,
    max_patients: u64,
    p0: f64,
    threshold: f64,
}

/// One possible number of responses among the patients still to come.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FutureResponses {
    /// Responses among the future patients, i.
    pub responses: u64,
    /// Its predictive probability P(Y = i | data so far).
    pub probability: f64,
    /// P(p > p0 | the final data with i more responses).
    pub posterior: f64,
    /// Whether the trial then succeeds (the posterior probability exceeds θ_T).
    pub success: bool,
}

/// The predictive probability of a single-arm trial with its table of future responses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SingleArmPrediction {
    /// PP = Σ P(Y = i | data) · 1[P(p > p0 | final data) > θ_T].
    pub predictive_probability: f64,
    /// Patients still to come, N − n.
    pub future_patients: u64,
    /// The fewest future responses with which the trial succeeds (none: it cannot succeed).
    pub smallest_success: Option<u64>,
    /// One row per possible number of future responses, 0 … N − n.
    pub rows: Vec<FutureResponses>,
}

impl SingleArmDesign {
    /// Beta(a, b) prior, maximum size N ≤ [`MAX_PATIENTS`], null rate p0 and threshold θ_T, both
    /// strictly between 0 and 1.
    pub fn new(
        prior: BetaPrior,
        max_patients: u64,
        p0: f64,
        threshold: f64,
    ) -> Result<Self, StatsError> {
        Ok(Self {
            prior: checked_prior(prior)?,
            max_patients: bounded(max_patients)?,
            p0: open_probability(p0)?,
            threshold: open_probability(threshold)?,
        })
    }

    /// The maximum size N.
    pub fn max_patients(&self) -> u64 {
        self.max_patients
    }

    /// P(p > p0 | the final data with `more` of the `predictive.future` patients responding).
    fn final_posterior(&self, predictive: &BetaBinomial, more: u64) -> f64 {
        let alpha = predictive.alpha + more as f64;
        let beta = predictive.beta + (predictive.future - more) as f64;
        beta_upper_tail(alpha, beta, self.p0)
    }

    /// The predictive distribution and the fewest future responses that succeed, found by
    /// bisection on the monotone posterior probability (one incomplete beta per step).
    fn search(&self, data: ArmData) -> Result<(BetaBinomial, Option<u64>), StatsError> {
        let (predictive, future) = data.posterior(self.prior, self.max_patients)?;
        let succeeds = |i: u64| self.final_posterior(&predictive, i) > self.threshold;
        if !succeeds(future) {
            return Ok((predictive, None));
        }
        if succeeds(0) {
            return Ok((predictive, Some(0)));
        }
        // Invariant: `fails` fails and `wins` succeeds.
        let (mut fails, mut wins) = (0, future);
        while wins - fails > 1 {
            let mid = fails + (wins - fails) / 2;
            if succeeds(mid) {
                wins = mid;
            } else {
                fails = mid;
            }
        }
        Ok((predictive, Some(wins)))
    }

    /// The predictive probability of success at the maximum size given `data` (an error when
    /// `data` has more patients than the maximum). Allocation-free; about log₂(N − n) + 2
    /// incomplete beta evaluations and one pass of the beta-binomial recurrence.
    pub fn predictive_probability(&self, data: ArmData) -> Result<f64, StatsError> {
        let (predictive, smallest) = self.search(data)?;
        Ok(smallest.map_or(0.0, |from| predictive.upper_sum(from).min(1.0)))
    }

    /// The predictive probability with the table of every possible number of future
    /// responses (one incomplete beta per row).
    pub fn prediction(&self, data: ArmData) -> Result<SingleArmPrediction, StatsError> {
        let (predictive, smallest) = self.search(data)?;
        let mut pmf = Vec::new();
        predictive.pmf_into(&mut pmf);
        let rows = pmf
            .iter()
            .enumerate()
            .map(|(i, &probability)| {
                let responses = i as u64;
                let posterior = self.final_posterior(&predictive, responses);
                FutureResponses {
                    responses,
                    probability,
                    posterior,
                    success: smallest.is_some_and(|s| responses >= s),
                }
            })
            .collect();
        Ok(SingleArmPrediction {
            predictive_probability: smallest
                .map_or(0.0, |from| predictive.upper_sum(from).min(1.0)),
            future_patients: predictive.future,
            smallest_success: smallest,
            rows,
        })
    }
}

/// A two-arm trial with a binary outcome that succeeds when, at its maximum sizes,
/// P(θ_T > θ_C + δ | data) > T.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TwoArmDesign {
    treatment_prior: BetaPrior,
    control_prior: BetaPrior,
    max_treatment: u64,
    max_control: u64,
    delta: f64,
    threshold: f64,
}

impl TwoArmDesign {
    /// Beta priors per arm, maximum sizes per arm (≤ [`MAX_PATIENTS`]), margin δ ∈ (−1, 1) and
    /// threshold T strictly between 0 and 1.
    pub fn new(
        treatment_prior: BetaPrior,
        control_prior: BetaPrior,
        max_treatment: u64,
        max_control: u64,
        delta: f64,
        threshold: f64,
    ) -> Result<Self, StatsError> {
        if !(delta.is_finite() && delta.abs() < 1.0) {
            return Err(StatsError::Delta { value: delta });
        }
        Ok(Self {
            treatment_prior: checked_prior(treatment_prior)?,
            control_prior: checked_prior(control_prior)?,
            max_treatment: bounded(max_treatment)?,
            max_control: bounded(max_control)?,
            delta,
            threshold: open_probability(threshold)?,
        })
    }
}

/// One possible number of future treatment responses and the control responses with which
/// the trial then succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TreatmentOutcome {
    /// Future treatment responses, i.
    pub responses: u64,
    /// P(Y_T = i | treatment data).
    pub probability: f64,
    /// The most future control responses with which the trial succeeds (none: it fails
    /// whatever the control arm does).
    pub largest_control_success: Option<u64>,
    /// P(Y_C ≤ that count | control data): the probability of success given i.
    pub success_probability: f64,
}

/// The predictive probability of a two-arm trial with its success boundary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TwoArmPrediction {
    /// PP = Σ_i Σ_j P(Y_T = i) P(Y_C = j) 1[P(θ_T > θ_C + δ | final data) > T].
    pub predictive_probability: f64,
    /// Future patients in the treatment arm.
    pub future_treatment: u64,
    /// Future patients in the control arm.
    pub future_control: u64,
    /// How many posterior probabilities the boundary walk computed.
    pub evaluations: usize,
    /// One row per possible number of future treatment responses.
    pub rows: Vec<TreatmentOutcome>,
}

/// Reusable workspace for two-arm predictive probabilities: the quadrature of the inner
/// posterior probability and the predictive distributions. After warm-up, repeated
/// evaluations of the same sizes allocate nothing.
#[derive(Debug, Clone, Default)]
pub struct TwoArmWorkspace {
    quadrature: Quadrature,
    treatment: Vec<f64>,
    control_cdf: Vec<f64>,
    boundary: Vec<Option<u64>>,
}

impl TwoArmWorkspace {
    /// An empty workspace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Walks the success boundary: for each future treatment count i (from the most down)
    /// the largest control count J(i) that succeeds. P(θ_T > θ_C + δ) rises with i and falls
    /// with j, so J is non-decreasing in i and the walk moves j only downwards: at most
    /// (m_T + 1) + (m_C + 1) posterior probabilities. Returns how many were computed.
    fn walk(
        &mut self,
        design: &TwoArmDesign,
        treatment: &BetaBinomial,
        control: &BetaBinomial,
    ) -> Result<usize, StatsError> {
        let (m_t, m_c) = (treatment.future, control.future);
        self.boundary.clear();
        self.boundary.resize(m_t as usize + 1, None);
        let mut evaluations = 0;
        // `j` is one more than the candidate control count, so that 0 means "none left".
        let mut j = m_c + 1;
        for i in (0..=m_t).rev() {
            let t = Marginal::beta(
                treatment.alpha + i as f64,
                treatment.beta + (m_t - i) as f64,
            )?;
            while j > 0 {
                let c = Marginal::beta(
                    control.alpha + (j - 1) as f64,
                    control.beta + (m_c - (j - 1)) as f64,
                )?;
                evaluations += 1;
                if self.quadrature.p_greater(&t, &c, design.delta)? > design.threshold {
                    break;
                }
                j -= 1;
            }
            if j == 0 {
                break;
            }
            self.boundary[i as usize] = Some(j - 1);
        }
        Ok(evaluations)
    }

    /// Fills the predictive distributions and the boundary; returns (PP, evaluations).
    fn compute(
        &mut self,
        design: &TwoArmDesign,
        treatment: ArmData,
        control: ArmData,
    ) -> Result<(BetaBinomial, BetaBinomial, f64, usize), StatsError> {
        let (t, _) = treatment.posterior(design.treatment_prior, design.max_treatment)?;
        let (c, _) = control.posterior(design.control_prior, design.max_control)?;
        let evaluations = self.walk(design, &t, &c)?;
        t.pmf_into(&mut self.treatment);
        c.pmf_into(&mut self.control_cdf);
        let mut running = 0.0;
        for p in &mut self.control_cdf {
            running += *p;
            *p = running.min(1.0);
        }
        let pp: f64 = self
            .treatment
            .iter()
            .zip(&self.boundary)
            .map(|(p, j)| j.map_or(0.0, |j| p * self.control_cdf[j as usize]))
            .sum();
        Ok((t, c, pp.clamp(0.0, 1.0), evaluations))
    }

    /// The predictive probability that the two-arm trial succeeds at its maximum sizes, given
    /// each arm's data so far.
    pub fn predictive_probability(
        &mut self,
        design: &TwoArmDesign,
        treatment: ArmData,
        control: ArmData,
    ) -> Result<f64, StatsError> {
        Ok(self.compute(design, treatment, control)?.2)
    }

    /// The predictive probability with its success boundary, one row per future treatment
    /// count.
    pub fn prediction(
        &mut self,
        design: &TwoArmDesign,
        treatment: ArmData,
        control: ArmData,
    ) -> Result<TwoArmPrediction, StatsError> {
        let (t, c, predictive_probability, evaluations) =
            self.compute(design, treatment, control)?;
        let rows = self
            .treatment
            .iter()
            .zip(&self.boundary)
            .enumerate()
            .map(|(i, (&probability, &largest))| TreatmentOutcome {
                responses: i as u64,
                probability,
                largest_control_success: largest,
                success_probability: largest.map_or(0.0, |j| self.control_cdf[j as usize]),
            })
            .collect();
        Ok(TwoArmPrediction {
            predictive_probability,
            future_treatment: t.future,
            future_control: c.future,
            evaluations,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design(a: f64, b: f64, n_max: u64, p0: f64, threshold: f64) -> SingleArmDesign {
        SingleArmDesign::new(BetaPrior { a, b }, n_max, p0, threshold).unwrap()
    }

    #[test]
    fn lee_and_liu_2008_example() {
        // Lee & Liu (2008), Clinical Trials 5:93–106, §2 and Table 1: Beta(0.6, 0.4) prior,
        // 16 responses of 23 patients, N_max = 40, p0 = 0.6, θ_T = 0.9: PP = 0.5656. The R
        // package phase1b (Genentech), whose predprob reproduces the paper's Table 1, checks
        // 0.5655589 in its tests.
        let lee_liu = design(0.6, 0.4, 40, 0.6, 0.9);
        let data = ArmData::new(16, 23).unwrap();
        let pp = lee_liu.predictive_probability(data).unwrap();
        assert!((pp - 0.5656).abs() < 5e-5, "PP = {pp}");
        assert!((pp - 0.565_558_9).abs() < 1e-6, "PP = {pp}");
        let table = lee_liu.prediction(data).unwrap();
        assert_eq!(table.future_patients, 17);
        assert_eq!(table.rows.len(), 18);
        // The trial succeeds with 12 or more of the 17 future responses (computed here; the
        // paper's Table 1 could not be read to check the rows).
        assert_eq!(table.smallest_success, Some(12));
        let total: f64 = table.rows.iter().map(|r| r.probability).sum();
        assert!((total - 1.0).abs() < 1e-13, "{total}");
        let from_rows: f64 = table
            .rows
            .iter()
            .filter(|r| r.success)
            .map(|r| r.probability)
            .sum();
        assert!((from_rows - pp).abs() < 1e-13);
        for row in &table.rows {
            assert_eq!(row.success, row.posterior > 0.9, "row {}", row.responses);
        }
    }

    #[test]
    fn ph2bye_example_with_a_uniform_prior() {
        // R package ph2bye, help page of PredP: PredP(16, 23, 40, 1, 1, 0.5, 0.9) printed
        // 0.8871897 (Beta(1, 1) prior, p0 = 0.5, θ_T = 0.9).
        let pp = design(1.0, 1.0, 40, 0.5, 0.9)
            .predictive_probability(ArmData::new(16, 23).unwrap())
            .unwrap();
        assert!((pp - 0.887_189_7).abs() < 1e-7, "PP = {pp}");
    }

    #[test]
    fn a_trial_at_its_maximum_is_decided() {
        let d = design(1.0, 1.0, 20, 0.3, 0.9);
        assert_eq!(
            d.predictive_probability(ArmData::new(15, 20).unwrap()),
            Ok(1.0)
        );
        assert_eq!(
            d.predictive_probability(ArmData::new(2, 20).unwrap()),
            Ok(0.0)
        );
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(
            ArmData::new(5, 4),
            Err(StatsError::Successes {
                successes: 5,
                patients: 4
            })
        );
        let d = design(1.0, 1.0, 20, 0.3, 0.9);
        assert_eq!(
            d.predictive_probability(ArmData::new(3, 21).unwrap()),
            Err(StatsError::BeyondMaximum {
                patients: 21,
                maximum: 20
            })
        );
        assert!(matches!(
            SingleArmDesign::new(BetaPrior { a: 1.0, b: 1.0 }, 200_000, 0.3, 0.9),
            Err(StatsError::SampleSize { .. })
        ));
        assert!(matches!(
            SingleArmDesign::new(BetaPrior { a: 1.0, b: 1.0 }, 20, 1.0, 0.9),
            Err(StatsError::Probability { .. })
        ));
        assert!(matches!(
            SingleArmDesign::new(BetaPrior { a: 0.0, b: 1.0 }, 20, 0.3, 0.9),
            Err(StatsError::Parameter { .. })
        ));
    }

    #[test]
    fn the_boundary_walk_agrees_with_every_pair() {
        let design = TwoArmDesign::new(
            BetaPrior { a: 1.0, b: 1.0 },
            BetaPrior { a: 1.0, b: 1.0 },
            30,
            25,
            0.05,
            0.8,
        )
        .unwrap();
        let (t, c) = (ArmData::new(9, 15).unwrap(), ArmData::new(5, 14).unwrap());
        let mut workspace = TwoArmWorkspace::new();
        let prediction = workspace.prediction(&design, t, c).unwrap();
        let (bt, _) = t.posterior(design.treatment_prior, 30).unwrap();
        let (bc, _) = c.posterior(design.control_prior, 25).unwrap();
        let (mut pt, mut pc) = (Vec::new(), Vec::new());
        bt.pmf_into(&mut pt);
        bc.pmf_into(&mut pc);
        let mut quadrature = Quadrature::new();
        let mut brute = 0.0;
        for (i, p) in pt.iter().enumerate() {
            for (j, q) in pc.iter().enumerate() {
                let a = Marginal::beta(bt.alpha + i as f64, bt.beta + (15 - i) as f64).unwrap();
                let b = Marginal::beta(bc.alpha + j as f64, bc.beta + (11 - j) as f64).unwrap();
                if quadrature.p_greater(&a, &b, 0.05).unwrap() > 0.8 {
                    brute += p * q;
                }
            }
        }
        assert!((prediction.predictive_probability - brute).abs() < 1e-13);
        assert!(prediction.evaluations <= 16 + 12);
    }
}
