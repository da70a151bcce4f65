//! The predictive probability that a future confirmatory trial succeeds: the posterior
//! expectation of its power (I-SPY 2's graduation rule; Barker et al. 2009).
//!
//! The future trial randomises N patients per arm and rejects H0: p_T ≤ p_C at one-sided level
//! α with the unpooled two-proportion z-test; its power at (p_T, p_C) is the normal
//! approximation Φ((p_T − p_C)/√((p_T(1 − p_T) + p_C(1 − p_C))/N) − z_{1−α}). With Beta
//! posteriors for both rates the expectation is a double integral, computed here by a tensor
//! product of Gauss–Legendre panels on each rate's logit scale (where a Beta density is
//! log-concave, smooth and unimodal). With a normal posterior for the effect the expectation
//! has a closed form ([`ConfirmatoryTrial::predictive_probability_normal`]). Formulas in
//! `METHODS.md`, "Predictive probabilities".

use serde::Serialize;

use super::super::roots::{bisect, solve_monotone};
use super::super::special::NormalTable;
use super::super::{Marginal, Shape, StatsError};
use super::{bounded, open_probability};

/// Log-density drop (nats) below the mode that bounds each rate's band on the logit scale.
const BAND_DROP: f64 = 22.0;
/// Panel width in local standard deviations (of the density, or of the power's transition).
const PANEL_WIDTH: f64 = 3.0;
/// The most the log-density may fall across a panel's width at its inner end (nats).
const PANEL_NATS: f64 = 6.0;
/// Node pairs whose product of normalised weights is below this are left out (their total
/// weight is below the number of pairs times it).
const PAIR_CUTOFF: f64 = 1e-14;
/// The most panels per arm; wider panels beyond it.
const MAX_PANELS: f64 = 400.0;

/// The 8-point Gauss–Legendre rule on [−1, 1]: nodes (positive half) and weights.
/// [Abramowitz & Stegun 1964, Table 25.4]
const GL_NODES: [f64; 4] = [
    0.183_434_642_495_649_8,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_3,
];
const GL_WEIGHTS: [f64; 4] = [
    0.362_683_783_378_362,
    0.313_706_645_877_887_3,
    0.222_381_034_453_374_5,
    0.101_228_536_290_376_3,
];

/// Beyond this |x| the power Φ(x) is taken as 0 or 1: Φ(−9) < 1.2 × 10⁻¹⁹, so the expected
/// power (a weighted mean with weights summing to 1) moves by less than that, and the far tail's
/// continued fraction is not evaluated for the many node pairs where the power is settled.
const SETTLED: f64 = 9.0;

/// Φ(x), the standard normal CDF, from the shared tail table.
#[inline(always)]
fn normal_cdf(table: &NormalTable, x: f64) -> f64 {
    table.cdf(x).0
}

/// A future two-arm confirmatory trial with N patients per arm, tested at one-sided level α
/// by the unpooled two-proportion z-test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConfirmatoryTrial {
    per_arm: u64,
    alpha: f64,
    critical: f64,
}

impl ConfirmatoryTrial {
    /// N ≥ 1 patients per arm (at most [`super::MAX_PATIENTS`]) and one-sided α in (0, 1).
    pub fn new(per_arm: u64, alpha: f64) -> Result<Self, StatsError> {
        let per_arm = bounded(per_arm)?;
        if per_arm == 0 {
            return Err(StatsError::Parameter {
                name: "patients per arm",
                value: 0.0,
            });
        }
        let alpha = open_probability(alpha)?;
        let table = NormalTable::get();
        // z_{1−α}: the root of α − Φ(−z), increasing in z with slope φ(z).
        let upper = |z: f64| normal_cdf(table, -z);
        let critical = solve_monotone(
            |z| alpha - upper(z),
            |z| table.tail(z.abs()).1,
            -40.0,
            40.0,
            0.0,
        );
        Ok(Self {
            per_arm,
            alpha,
            critical,
        })
    }

    /// Patients per arm, N.
    pub fn per_arm(&self) -> u64 {
        self.per_arm
    }

    /// The one-sided level α.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The critical value z_{1−α}.
    pub fn critical_value(&self) -> f64 {
        self.critical
    }

    /// The power at rates (p_T, p_C), both in [0, 1]:
    /// Φ((p_T − p_C)/√((p_T(1 − p_T) + p_C(1 − p_C))/N) − z_{1−α}), and at a rate pair
    /// without variance (both 0 or both 1) the limit 1[p_T > p_C].
    pub fn power(&self, treatment: f64, control: f64) -> f64 {
        let variance = treatment * (1.0 - treatment) + control * (1.0 - control);
        let difference = treatment - control;
        if variance <= 0.0 {
            return if difference > 0.0 { 1.0 } else { 0.0 };
        }
        let x = difference * (self.per_arm as f64 / variance).sqrt() - self.critical;
        normal_cdf(NormalTable::get(), x)
    }

    /// The predictive probability of success when the treatment effect has a normal posterior
    /// N(m, s²) on the scale of `effect.scale`: E[Φ(η/SE − z_{1−α})] = Φ((m − z_{1−α}·SE)/√(SE² +
    /// s²)), exactly, with the test's standard error SE held at the posterior mean's rates
    /// (control rate p_C, treatment rate p_C + m, or logit⁻¹(logit p_C + m)): on the
    /// probability scale SE² = (p_T(1 − p_T) + p_C(1 − p_C))/N (the difference of rates), on
    /// the logit scale SE² = (1/(p_T(1 − p_T)) + 1/(p_C(1 − p_C)))/N (the Wald test of the
    /// log odds ratio).
    pub fn predictive_probability_normal(&self, effect: NormalEffect) -> Result<f64, StatsError> {
        let NormalEffect {
            mean,
            sd,
            scale,
            control_rate,
        } = effect;
        if !mean.is_finite() {
            return Err(StatsError::Parameter {
                name: "effect mean",
                value: mean,
            });
        }
        if !(sd.is_finite() && sd >= 0.0) {
            return Err(StatsError::Parameter {
                name: "effect sd",
                value: sd,
            });
        }
        let control = open_probability(control_rate)?;
        let n = self.per_arm as f64;
        let se = match scale {
            EffectScale::Probability => {
                let treatment = control + mean;
                if !(treatment > 0.0 && treatment < 1.0) {
                    return Err(StatsError::Parameter {
                        name: "effect mean (control rate + effect must lie in (0, 1))",
                        value: mean,
                    });
                }
                ((treatment * (1.0 - treatment) + control * (1.0 - control)) / n).sqrt()
            }
            EffectScale::Logit => {
                let logit = (control / (1.0 - control)).ln() + mean;
                let treatment = 1.0 / (1.0 + (-logit).exp());
                let v_t = treatment * (1.0 - treatment);
                if v_t <= 0.0 {
                    return Err(StatsError::Parameter {
                        name: "effect mean (the treatment rate rounds to 0 or 1)",
                        value: mean,
                    });
                }
                ((1.0 / v_t + 1.0 / (control * (1.0 - control))) / n).sqrt()
            }
        };
        let x = (mean - self.critical * se) / (se * se + sd * sd).sqrt();
        Ok(normal_cdf(NormalTable::get(), x))
    }
}

/// The scale on which a normal effect posterior is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EffectScale {
    /// The difference of response rates, p_T − p_C.
    Probability,
    /// The log odds ratio, logit p_T − logit p_C.
    Logit,
}

/// A normal posterior N(mean, sd²) for a treatment effect, with the control rate at which the
/// future trial's standard error is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NormalEffect {
    /// Posterior mean of the effect.
    pub mean: f64,
    /// Posterior standard deviation of the effect (0: a known effect, giving the power).
    pub sd: f64,
    /// The effect's scale.
    pub scale: EffectScale,
    /// The control response rate, in (0, 1).
    pub control_rate: f64,
}

/// One quadrature node of a rate: its normalised weight, the rate and its Bernoulli variance.
#[derive(Debug, Clone, Copy)]
struct Node {
    weight: f64,
    rate: f64,
    variance: f64,
}

/// One rate's quadrature nodes, heaviest first.
#[derive(Debug, Clone, Default)]
struct Nodes(Vec<Node>);

/// ln σ(z) without overflow.
#[inline]
fn ln_sigmoid(z: f64) -> f64 {
    if z > 0.0 {
        -(-z).exp().ln_1p()
    } else {
        z - z.exp().ln_1p()
    }
}

impl Nodes {
    /// Gauss–Legendre panels over the band of Beta(a, b) on the logit scale z, whose density
    /// is ∝ σ(z)^a σ(−z)^b (log-concave, mode ln(a/b)). Panels run out from the mode, each
    /// [`PANEL_WIDTH`] local scales wide, the local scale at its inner end being the smallest of
    /// 1/√((a + b)σ(z)σ(−z)) (the density's curvature), 1/|a − (a + b)σ(z)| (its log-slope:
    /// one e-fold, in the exponential tails) and `transition`/(σ(z)σ(−z)) (the power's
    /// transition width, a rate difference, carried to z).
    fn build(&mut self, a: f64, b: f64, transition: f64) {
        self.0.clear();
        let ln_density = |z: f64| a * ln_sigmoid(z) + b * ln_sigmoid(-z);
        let mode = (a / b).ln();
        let peak = ln_density(mode);
        let spread = (1.0 / a + 1.0 / b).sqrt();
        let edge = |direction: f64| {
            let mut step = spread;
            while peak - ln_density(mode + direction * step) < BAND_DROP && step < 1e4 {
                step *= 2.0;
            }
            // The outer end of the final bracket: the band errs outwards.
            bisect(
                0.5 * step,
                step,
                40,
                |_| 1e-3 * spread,
                |s| peak - ln_density(mode + direction * s) < BAND_DROP,
            )
            .1
        };
        let (left, right) = (edge(-1.0), edge(1.0));
        let floor = (left + right) / MAX_PANELS;
        let local = |z: f64| {
            let p = 1.0 / (1.0 + (-z).exp());
            let slope = p * (1.0 - p);
            (PANEL_WIDTH / ((a + b) * slope).sqrt())
                .min(PANEL_NATS / (a - (a + b) * p).abs())
                .min(PANEL_WIDTH * transition / slope)
                .max(floor)
        };
        for direction in [-1.0, 1.0] {
            let reach = if direction < 0.0 { left } else { right };
            let mut done = 0.0;
            while done < reach {
                let width = local(mode + direction * done);
                let mut next = (done + width).min(reach);
                if reach - next < 0.25 * width {
                    next = reach;
                }
                let (from, to) = (mode + direction * done, mode + direction * next);
                let (centre, half) = (0.5 * (from + to), 0.5 * (to - from).abs());
                for (x, w) in GL_NODES.iter().zip(GL_WEIGHTS) {
                    for z in [centre - half * x, centre + half * x] {
                        let p = 1.0 / (1.0 + (-z).exp());
                        self.0.push(Node {
                            weight: half * w * (ln_density(z) - peak).exp(),
                            rate: p,
                            variance: p * (1.0 - p),
                        });
                    }
                }
                done = next;
            }
        }
        let total: f64 = self.0.iter().map(|node| node.weight).sum();
        for node in &mut self.0 {
            node.weight /= total;
        }
        self.0
            .sort_unstable_by(|x, y| y.weight.total_cmp(&x.weight));
    }
}

/// Reusable workspace for the predictive probability of a future trial with Beta posteriors.
/// After warm-up, repeated evaluations of similar posteriors allocate nothing.
#[derive(Debug, Clone, Default)]
pub struct FutureTrialQuadrature {
    treatment: Nodes,
    control: Nodes,
}

/// The Beta shapes of a marginal, or the error naming its family (a mixture of Betas is
/// refused: its expected power would need one rule per component).
fn beta_shapes(marginal: &Marginal) -> Result<(f64, f64), StatsError> {
    match marginal.shape() {
        Some(Shape::Beta { a, b }) => Ok((a, b)),
        None => Err(StatsError::Observation(
            "the future trial's expected power takes plain Beta posteriors, not mixtures",
        )),
        Some(_) => Err(StatsError::MixedFamilies {
            first: "beta",
            other: marginal.family(),
        }),
    }
}

impl FutureTrialQuadrature {
    /// An empty workspace.
    pub fn new() -> Self {
        Self::default()
    }

    /// The predictive probability that `trial` succeeds:
    /// ∫∫ Beta(p_T; treatment) Beta(p_C; control) Power(p_T, p_C) dp_T dp_C, both posteriors
    /// Beta (else [`StatsError::MixedFamilies`]). Accurate to about 10⁻⁹ for posteriors and
    /// trials of up to a few thousand patients.
    pub fn predictive_probability(
        &mut self,
        trial: &ConfirmatoryTrial,
        treatment: &Marginal,
        control: &Marginal,
    ) -> Result<f64, StatsError> {
        let (a_t, b_t) = beta_shapes(treatment)?;
        let (a_c, b_c) = beta_shapes(control)?;
        let n = trial.per_arm as f64;
        // The power moves from 0 to 1 over a few standard errors of the rate difference.
        let (m_t, m_c) = (a_t / (a_t + b_t), a_c / (a_c + b_c));
        let transition = ((m_t * (1.0 - m_t) + m_c * (1.0 - m_c)) / n)
            .sqrt()
            .max(1e-12);
        self.treatment.build(a_t, b_t, transition);
        self.control.build(a_c, b_c, transition);
        let table = NormalTable::get();
        let (sqrt_n, critical) = (n.sqrt(), trial.critical);
        let heaviest = self.control.0.first().map_or(0.0, |node| node.weight);
        let mut total = 0.0;
        for t in &self.treatment.0 {
            if t.weight * heaviest < PAIR_CUTOFF {
                break;
            }
            let cutoff = PAIR_CUTOFF / t.weight;
            let mut row = 0.0;
            for c in &self.control.0 {
                if c.weight < cutoff {
                    break;
                }
                let x = (t.rate - c.rate) * sqrt_n / (t.variance + c.variance).sqrt() - critical;
                if x >= SETTLED {
                    row += c.weight;
                } else if x > -SETTLED {
                    row += c.weight * normal_cdf(table, x);
                }
            }
            total += t.weight * row;
        }
        Ok(total.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_critical_value_is_the_normal_quantile() {
        let trial = ConfirmatoryTrial::new(150, 0.025).unwrap();
        assert!((trial.critical_value() - 1.959_963_984_540_054).abs() < 1e-13);
        let trial = ConfirmatoryTrial::new(150, 0.05).unwrap();
        assert!((trial.critical_value() - 1.644_853_626_951_472_2).abs() < 1e-13);
    }

    #[test]
    fn a_concentrated_posterior_gives_the_power() {
        let trial = ConfirmatoryTrial::new(150, 0.025).unwrap();
        let (t, c) = (
            Marginal::beta(0.45 * 1e6, 0.55 * 1e6).unwrap(),
            Marginal::beta(0.3 * 1e6, 0.7 * 1e6).unwrap(),
        );
        let pp = FutureTrialQuadrature::new()
            .predictive_probability(&trial, &t, &c)
            .unwrap();
        assert!((pp - trial.power(0.45, 0.3)).abs() < 1e-4, "{pp}");
    }

    #[test]
    fn a_normal_effect_with_no_spread_gives_the_power() {
        let trial = ConfirmatoryTrial::new(150, 0.025).unwrap();
        let effect = NormalEffect {
            mean: 0.15,
            sd: 0.0,
            scale: EffectScale::Probability,
            control_rate: 0.3,
        };
        let pp = trial.predictive_probability_normal(effect).unwrap();
        assert!((pp - trial.power(0.45, 0.3)).abs() < 1e-14);
    }
}
