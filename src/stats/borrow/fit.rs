//! The evaluation of a borrowing model: the exact log posterior of (μ, τ) at the nodes placed
//! by [`super::grid`] (each stratum's marginal likelihood given (μ, τ) by
//! [`super::hermite::logit_normal`] or in closed form for normal strata), then every stratum's
//! posterior as the mixture, over the nodes, of its conditional posteriors given (μ, τ) and of
//! its non-exchangeable posterior.
//!
//! Numbers in, numbers out; the buffers live in [`BorrowWorkspace`] and are reused.

use super::grid::{self, Approx, TAU_PANELS};
use super::hermite::HermiteRule;
use super::inner::{binomial_top, legendre_all, logit_normal, InnerRule, InnerValues};
use super::{
    check_strata, BorrowModel, BorrowPosterior, NormalPrior, ScalarSummary, StrataModel, Stratum,
    StratumPosterior,
};
use crate::stats::nof1::panels::{GL_NODES, GL_WEIGHTS};
use crate::stats::roots::{quantile, Continuous};
use crate::stats::special::NormalTable;
use crate::stats::StatsError;

/// Rows whose conditional spread of θ is below this fraction of the μ rule's scale are summed
/// by the convolution of the row's μ density (see [`RowCdf`]).
const SERIES_BELOW: f64 = 0.0;
/// Points of the Gauss–Hermite rule in μ given τ.
const MU_POINTS: usize = 24;
/// Gauss–Legendre points per τ panel.
const GL_POINTS: usize = 8;
/// τ nodes.
const TAU_POINTS: usize = TAU_PANELS * GL_POINTS;
/// Corrections of a μ rule at most (re-centred and re-scaled at the exact moments).
const RECENTRE_STEPS: usize = 2;
/// A μ rule is corrected when its centre is off by more than this many of its SDs …
const CENTRE_TOLERANCE: f64 = 0.2;
/// … or its scale by more than this factor.
const SCALE_TOLERANCE: f64 = 1.3;
/// Nodes whose normalised weight is below this are left out of the quantile searches.
const NEGLIGIBLE: f64 = 1e-18;
/// ln √(2π).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// One stratum's data as the evaluation uses it.
#[derive(Debug, Clone, Copy, Default)]
struct Input {
    /// Responders (binary) or the estimate (normal).
    y: f64,
    /// Participants (binary) or the squared standard error (normal).
    n: f64,
    /// ℓ̂: the binomial log-likelihood's supremum (binary).
    top: f64,
    approx: Approx,
    ln_w: f64,
    ln_not_w: f64,
}

/// One stratum's conditional posterior given (μ, τ), or its non-exchangeable posterior.
#[derive(Debug, Clone, Copy)]
#[expect(
    clippy::large_enum_variant,
    reason = "stored in one flat buffer per fit; boxing would allocate per node"
)]
enum Conditional {
    /// A binary stratum: the inner rule's values.
    Logit(InnerValues),
    /// A normal stratum: θ | data ~ N(mean, variance), with the log marginal likelihood.
    Normal {
        ln_marginal: f64,
        mean: f64,
        variance: f64,
    },
}

impl Default for Conditional {
    fn default() -> Self {
        Self::Normal {
            ln_marginal: 0.0,
            mean: 0.0,
            variance: 1.0,
        }
    }
}

impl Conditional {
    fn ln_marginal(&self) -> f64 {
        match self {
            Self::Logit(v) => v.ln_marginal,
            Self::Normal { ln_marginal, .. } => *ln_marginal,
        }
    }

    /// E[p] and E[p²] (binary) or E[θ] and E[θ²] (normal): the reported scale.
    fn moments(&self) -> (f64, f64) {
        match self {
            Self::Logit(v) => (v.mean, v.second),
            Self::Normal { mean, variance, .. } => (*mean, mean * mean + variance),
        }
    }

    /// E[θ] and Var[θ].
    fn theta(&self) -> (f64, f64) {
        match self {
            Self::Logit(v) => (v.theta_mean, v.theta_variance),
            Self::Normal { mean, variance, .. } => (*mean, *variance),
        }
    }

    /// P(θ ≤ t) and the density of θ at t.
    fn cdf(&self, rule: &InnerRule, t: f64) -> (f64, f64) {
        match self {
            Self::Logit(v) => v.cdf(rule, t),
            Self::Normal { mean, variance, .. } => {
                let sd = variance.sqrt();
                let a = (t - mean) / sd;
                let (upper, phi) = NormalTable::get().tail(a.abs());
                (if a >= 0.0 { 1.0 - upper } else { upper }, phi / sd)
            }
        }
    }
}

/// The reusable workspace of borrowing fits: rules, node tables and results. After a first fit,
/// further fits with at most as many strata allocate nothing.
#[derive(Debug, Clone)]
pub struct BorrowWorkspace {
    inner: InnerRule,
    mu_rule: HermiteRule<MU_POINTS>,
    binary: bool,
    inputs: Vec<Input>,
    approx: Vec<Approx>,
    /// Per stratum, the non-exchangeable posterior.
    nex: Vec<Conditional>,
    tau_nodes: [f64; TAU_POINTS],
    tau_weights: [f64; TAU_POINTS],
    /// Per τ node, the μ rule's centre and scale.
    row_centre: [f64; TAU_POINTS],
    row_scale: [f64; TAU_POINTS],
    /// Per node (τ-major): μ, and the log weight, then the normalised weight.
    node_mu: Vec<f64>,
    node_weight: Vec<f64>,
    /// The posterior probability that every stratum is non-exchangeable (EXNEX), held apart
    /// from the nodes: there μ and τ keep their priors (see [`BorrowWorkspace::fill_row`]).
    all_nex: f64,
    /// The priors of μ and τ, for the all-non-exchangeable component.
    mu_prior: (f64, f64),
    tau_scale: f64,
    /// Per node and stratum: the conditional posterior and P(exchangeable | data, μ, τ).
    conditional: Vec<Conditional>,
    exchangeable: Vec<f64>,
    /// Per τ node, how one stratum's conditional CDFs are summed over the row (refilled per
    /// stratum).
    rows: [RowCdf; TAU_POINTS],
    posterior: BorrowPosterior,
}

/// How a row (one τ node) contributes to a stratum's marginal CDF: by its nodes' conditional
/// CDFs, or, when those are steps narrower than the μ rule can integrate (τ small), by the
/// row's Hermite expansion in μ convolved with θ's normal conditional spread.
#[derive(Debug, Clone, Copy, Default)]
struct RowCdf {
    series: bool,
    /// Σ of the row's node weights × P(exchangeable), the mass the row carries for this stratum.
    mass: f64,
    /// E[θ | μ] ≈ alpha + beta·x (x the μ rule's variable), Var[θ | μ] ≈ sigma².
    alpha: f64,
    beta: f64,
    sigma: f64,
    coefficients: [f64; MU_POINTS],
}

impl Default for BorrowWorkspace {
    fn default() -> Self {
        Self::new()
    }
}

/// ln(eᵃ + eᵇ).
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// logit⁻¹.
fn expit(theta: f64) -> f64 {
    if theta >= 0.0 {
        1.0 / (1.0 + (-theta).exp())
    } else {
        let e = theta.exp();
        e / (1.0 + e)
    }
}

/// The posterior of θ for a normal stratum (estimate `x`, squared SE `v`) under θ ~ N(m, s²),
/// written so that s → 0 needs no special case.
fn normal_conditional(x: f64, v: f64, m: f64, s2: f64) -> Conditional {
    let total = v + s2;
    let d = x - m;
    Conditional::Normal {
        ln_marginal: -0.5 * total.ln() - LN_SQRT_2PI - 0.5 * d * d / total,
        mean: (s2 * x + v * m) / total,
        variance: s2 * v / total,
    }
}

impl BorrowWorkspace {
    /// A workspace with its rules built.
    pub fn new() -> Self {
        Self {
            inner: InnerRule::new(),
            mu_rule: HermiteRule::new(),
            binary: true,
            inputs: Vec::new(),
            approx: Vec::new(),
            nex: Vec::new(),
            tau_nodes: [0.0; TAU_POINTS],
            tau_weights: [0.0; TAU_POINTS],
            row_centre: [0.0; TAU_POINTS],
            row_scale: [0.0; TAU_POINTS],
            node_mu: Vec::new(),
            node_weight: Vec::new(),
            all_nex: 0.0,
            mu_prior: (0.0, 1.0),
            tau_scale: 1.0,
            conditional: Vec::new(),
            exchangeable: Vec::new(),
            rows: [RowCdf::default(); TAU_POINTS],
            posterior: BorrowPosterior::default(),
        }
    }

    /// Fits `model` to `strata` and summarises the posterior: per stratum the mean, SD, median
    /// and 95% interval of pⱼ (binary) or θⱼ (normal), P(pⱼ > `threshold`) (a p₀ in (0, 1) for
    /// binary strata, any finite value for normal ones) and P(exchangeable | data); μ and τ.
    pub fn fit(
        &mut self,
        model: &BorrowModel,
        strata: &[Stratum],
        threshold: f64,
    ) -> Result<&BorrowPosterior, StatsError> {
        self.evaluate(model, strata, threshold)?;
        self.summarise(threshold, true);
        Ok(&self.posterior)
    }

    /// As [`Self::fit`], without the quantiles (medians and intervals, of the strata and of μ
    /// and τ, are left at 0): the decision quantities at a look of a simulated trial.
    pub fn fit_decisions(
        &mut self,
        model: &BorrowModel,
        strata: &[Stratum],
        threshold: f64,
    ) -> Result<&BorrowPosterior, StatsError> {
        self.evaluate(model, strata, threshold)?;
        self.summarise(threshold, false);
        Ok(&self.posterior)
    }

    fn evaluate(
        &mut self,
        model: &BorrowModel,
        strata: &[Stratum],
        threshold: f64,
    ) -> Result<(), StatsError> {
        self.prepare(model, strata, threshold)?;
        self.place_tau(model);
        for a in 0..TAU_POINTS {
            self.evaluate_row(model, a);
        }
        self.normalise(model);
        Ok(())
    }

    fn prepare(
        &mut self,
        model: &BorrowModel,
        strata: &[Stratum],
        threshold: f64,
    ) -> Result<(), StatsError> {
        self.binary = check_strata(strata, threshold)?;
        let count = strata.len();
        self.inputs.clear();
        self.approx.clear();
        for (j, stratum) in strata.iter().enumerate() {
            let w = model.weight(j, count)?;
            let (y, n, top, approx) = match *stratum {
                Stratum::Binary { responders, n } => {
                    let (y, n) = (responders as f64, n as f64);
                    (y, n, binomial_top(y, n), Approx::binary(y, n, w))
                }
                Stratum::Normal { mean, se } => {
                    let v = se * se;
                    let approx = Approx {
                        estimate: mean,
                        variance: v,
                        weight: w,
                    };
                    (mean, v, 0.0, approx)
                }
            };
            self.inputs.push(Input {
                y,
                n,
                top,
                approx,
                ln_w: w.ln(),
                ln_not_w: (-w).ln_1p(),
            });
            self.approx.push(approx);
        }
        let nodes = TAU_POINTS * MU_POINTS;
        self.node_mu.resize(nodes, 0.0);
        self.node_weight.resize(nodes, 0.0);
        self.conditional
            .resize(nodes * count, Conditional::default());
        self.exchangeable.resize(nodes * count, 0.0);
        self.nex.clear();
        if let StrataModel::Exnex { nex, .. } = &model.strata {
            self.prepare_nex(nex, count);
        } else {
            self.nex.resize(count, Conditional::default());
        }
        Ok(())
    }

    fn prepare_nex(&mut self, nex: &NormalPrior, count: usize) {
        for j in 0..count {
            let input = self.inputs[j];
            let conditional = self.stratum_given(&input, nex.mean(), nex.sd());
            self.nex.push(conditional);
        }
    }

    /// Stratum `input`'s posterior under θ ~ N(m, s²).
    fn stratum_given(&self, input: &Input, m: f64, s: f64) -> Conditional {
        if self.binary {
            let guess = s * (input.approx.estimate - m) / (input.approx.variance + s * s);
            Conditional::Logit(logit_normal(input.y, input.n, input.top, m, s, guess))
        } else {
            normal_conditional(input.y, input.n, m, s * s)
        }
    }

    /// τ nodes and weights (GL weights on the panels; the half-normal prior goes into the log
    /// weights with the rest of the integrand).
    fn place_tau(&mut self, model: &BorrowModel) {
        let from_zero = !matches!(model.strata, StrataModel::Hierarchical);
        let edges = grid::tau_edges(&self.approx, &model.mu, model.tau.scale(), from_zero);
        for p in 0..TAU_PANELS {
            let (lo, hi) = (edges[p], edges[p + 1]);
            let half = 0.5 * (hi - lo);
            let mid = lo + half;
            for k in 0..GL_POINTS {
                self.tau_nodes[p * GL_POINTS + k] = mid + half * GL_NODES[k];
                self.tau_weights[p * GL_POINTS + k] = half * GL_WEIGHTS[k];
            }
        }
    }

    /// Evaluates the row of nodes at τ node `a`, correcting the μ rule from the exact weights.
    fn evaluate_row(&mut self, model: &BorrowModel, a: usize) {
        let tau = self.tau_nodes[a];
        let (_, mut centre, variance) = grid::conditional(&self.approx, &model.mu, tau);
        let mut scale = variance.sqrt();
        for attempt in 0..=RECENTRE_STEPS {
            self.row_centre[a] = centre;
            self.row_scale[a] = scale;
            self.fill_row(model, a);
            let (mean, sd) = self.row_moments(a);
            let off_centre = (mean - centre).abs() > CENTRE_TOLERANCE * scale;
            let off_scale = sd > SCALE_TOLERANCE * scale || sd * SCALE_TOLERANCE < scale;
            if attempt == RECENTRE_STEPS
                || !(off_centre || off_scale)
                || !(sd.is_finite() && sd > 0.0)
            {
                break;
            }
            centre = mean;
            scale = sd;
        }
    }

    /// The exact log weights of the nodes of row `a` and every stratum's conditional there.
    fn fill_row(&mut self, model: &BorrowModel, a: usize) {
        let count = self.inputs.len();
        let tau = self.tau_nodes[a];
        let (centre, scale) = (self.row_centre[a], self.row_scale[a]);
        let tau_scale = model.tau.scale();
        // Normalised prior densities (the all-non-exchangeable component is compared with the
        // nodes): ln N(μ; m, s²) and ln HalfNormal(τ; s_τ).
        let base = self.tau_weights[a].ln() + scale.ln() - 0.5 * (tau / tau_scale).powi(2)
            + (2.0 / tau_scale).ln()
            - 2.0 * LN_SQRT_2PI
            - model.mu.sd().ln();
        for b in 0..MU_POINTS {
            let node = a * MU_POINTS + b;
            let x = self.mu_rule.nodes[b];
            let mu = centre + scale * x;
            let d = (mu - model.mu.mean()) / model.mu.sd();
            let mut log_weight =
                base + self.mu_rule.weights[b].ln() + self.mu_rule.half_square[b] - 0.5 * d * d;
            // ln Πₖ P(k non-exchangeable | data, μ, τ).
            let mut ln_all_nex = 0.0;
            for j in 0..count {
                let input = self.inputs[j];
                let slot = node * count + j;
                let ln_nex = self.nex[j].ln_marginal();
                if input.approx.weight == 0.0 {
                    log_weight += ln_nex;
                    self.exchangeable[slot] = 0.0;
                    continue;
                }
                let conditional = if self.binary {
                    let guess =
                        tau * (input.approx.estimate - mu) / (input.approx.variance + tau * tau);
                    Conditional::Logit(logit_normal(input.y, input.n, input.top, mu, tau, guess))
                } else {
                    normal_conditional(input.y, input.n, mu, tau * tau)
                };
                self.conditional[slot] = conditional;
                let ln_ex = conditional.ln_marginal();
                if input.approx.weight == 1.0 {
                    log_weight += ln_ex;
                    self.exchangeable[slot] = 1.0;
                } else {
                    let ex = input.ln_w + ln_ex;
                    let total = log_add(ex, input.ln_not_w + ln_nex);
                    log_weight += total;
                    self.exchangeable[slot] = (ex - total).exp();
                    ln_all_nex += input.ln_not_w + ln_nex - total;
                }
            }
            // Under EXNEX the configuration "every stratum non-exchangeable" leaves μ and τ at
            // their priors, whose tails no rule around the exchangeable mass covers: it is
            // integrated in closed form (`all_nex`), and the nodes carry the rest, the weight
            // times 1 − Πₖ(1 − rₖ), with P(j exchangeable | rest) = rⱼ/(1 − Πₖ(1 − rₖ)).
            // A stratum with w = 1 is never non-exchangeable: nothing to hold apart.
            let rest = if self.inputs.iter().any(|i| i.approx.weight == 1.0) {
                1.0
            } else {
                -ln_all_nex.exp_m1()
            };
            if rest > 0.0 {
                log_weight += rest.ln();
                for j in 0..count {
                    let slot = node * count + j;
                    self.exchangeable[slot] = (self.exchangeable[slot] / rest).min(1.0);
                }
            } else {
                // Every stratum is certainly non-exchangeable here: the node holds nothing
                // beyond the all-non-exchangeable component.
                log_weight = f64::NEG_INFINITY;
                for j in 0..count {
                    self.exchangeable[node * count + j] = 0.0;
                }
            }
            self.node_mu[node] = mu;
            self.node_weight[node] = log_weight;
        }
    }

    /// The mean and SD of μ given τ node `a` from the row's log weights.
    fn row_moments(&self, a: usize) -> (f64, f64) {
        let row = &self.node_weight[a * MU_POINTS..(a + 1) * MU_POINTS];
        let mus = &self.node_mu[a * MU_POINTS..(a + 1) * MU_POINTS];
        let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (mut total, mut first, mut second) = (0.0, 0.0, 0.0);
        for (lw, mu) in row.iter().zip(mus) {
            let w = (lw - top).exp();
            total += w;
            first += w * mu;
            second += w * mu * mu;
        }
        if total.is_nan() || total <= 0.0 {
            return (self.row_centre[a], self.row_scale[a]);
        }
        let mean = first / total;
        let variance = (second / total - mean * mean).max(0.0);
        (mean, variance.sqrt())
    }

    /// Log weights → normalised weights.
    fn normalise(&mut self, model: &BorrowModel) {
        // ln of the all-non-exchangeable component: Πⱼ (1 − wⱼ)·Cⱼ (μ and τ integrate their
        // priors to 1).
        let ln_all_nex: f64 = self
            .inputs
            .iter()
            .zip(&self.nex)
            .map(|(input, nex)| input.ln_not_w + nex.ln_marginal())
            .sum();
        let ln_all_nex = if matches!(model.strata, StrataModel::Hierarchical) {
            f64::NEG_INFINITY
        } else {
            ln_all_nex
        };
        let top = self.node_weight.iter().copied().fold(ln_all_nex, f64::max);
        let mut total = 0.0;
        for w in self.node_weight.iter_mut() {
            *w = (*w - top).exp();
            total += *w;
        }
        let all_nex = (ln_all_nex - top).exp();
        total += all_nex;
        for w in self.node_weight.iter_mut() {
            *w /= total;
        }
        self.all_nex = all_nex / total;
        self.mu_prior = (model.mu.mean(), model.mu.sd());
        self.tau_scale = model.tau.scale();
    }

    /// Per row, how stratum `j`'s CDF is summed (see [`RowCdf`]).
    #[expect(
        clippy::needless_range_loop,
        reason = "b indexes the rule, the node table and q together"
    )]
    fn prepare_rows(&mut self, j: usize) {
        let count = self.inputs.len();
        for a in 0..TAU_POINTS {
            let (mut mass, mut vbar) = (0.0, 0.0);
            let (mut sx, mut sxx, mut st, mut sxt) = (0.0, 0.0, 0.0, 0.0);
            let mut q = [0.0; MU_POINTS];
            for b in 0..MU_POINTS {
                let node = a * MU_POINTS + b;
                let slot = node * count + j;
                let w = self.node_weight[node] * self.exchangeable[slot];
                q[b] = w / self.mu_rule.weights[b];
                if w == 0.0 {
                    continue;
                }
                let (mean, variance) = self.conditional[slot].theta();
                let x = self.mu_rule.nodes[b];
                mass += w;
                vbar += w * variance;
                sx += w * x;
                sxx += w * x * x;
                st += w * mean;
                sxt += w * x * mean;
            }
            let row = &mut self.rows[a];
            row.mass = mass;
            row.series = false;
            if mass <= 0.0 {
                continue;
            }
            let sigma = (vbar / mass).sqrt();
            // The conditional CDFs are steps in μ narrower than the μ rule resolves: sum the
            // row as the convolution of its μ density with θ's conditional spread.
            if sigma < SERIES_BELOW * self.row_scale[a] {
                let (mx, mt) = (sx / mass, st / mass);
                let vxx = sxx / mass - mx * mx;
                let beta = if vxx > 0.0 {
                    (sxt / mass - mx * mt) / vxx
                } else {
                    0.0
                };
                row.series = true;
                row.alpha = mt - beta * mx;
                row.beta = beta;
                row.sigma = sigma;
                self.mu_rule.raw_coefficients(&q, &mut row.coefficients);
            }
        }
    }

    /// P(θⱼ ≤ t | data) and the density of θⱼ at t, after [`Self::prepare_rows`] for `j`.
    fn stratum_cdf(&self, j: usize, t: f64) -> (f64, f64) {
        let count = self.inputs.len();
        let (mut cdf, mut density, mut ex_mass) = (0.0, 0.0, 0.0);
        for (a, row) in self.rows.iter().enumerate() {
            if row.mass <= NEGLIGIBLE {
                ex_mass += row.mass;
                continue;
            }
            ex_mass += row.mass;
            if row.series {
                let (f, d) = self.mu_rule.convolved_cdf(
                    &row.coefficients,
                    row.alpha,
                    row.beta,
                    row.sigma,
                    t,
                );
                cdf += f;
                density += d;
                continue;
            }
            for b in 0..MU_POINTS {
                let node = a * MU_POINTS + b;
                let slot = node * count + j;
                let w = self.node_weight[node] * self.exchangeable[slot];
                if w <= NEGLIGIBLE {
                    continue;
                }
                let (f, d) = self.conditional[slot].cdf(&self.inner, t);
                cdf += w * f;
                density += w * d;
            }
        }
        let nex_mass = 1.0 - ex_mass;
        if nex_mass > 0.0 {
            let (f, d) = self.nex[j].cdf(&self.inner, t);
            cdf += nex_mass * f;
            density += nex_mass * d;
        }
        (cdf.clamp(0.0, 1.0), density.max(0.0))
    }

    fn summarise(&mut self, threshold: f64, quantiles: bool) {
        let count = self.inputs.len();
        let cut = if self.binary {
            (threshold / (1.0 - threshold)).ln()
        } else {
            threshold
        };
        self.posterior.strata.clear();
        for j in 0..count {
            let (nex_first, nex_second) = self.nex[j].moments();
            let (mut first, mut second, mut ex) = (0.0, 0.0, 0.0);
            for node in 0..TAU_POINTS * MU_POINTS {
                let w = self.node_weight[node];
                let slot = node * count + j;
                let r = self.exchangeable[slot];
                let (mut m1, mut m2) = (0.0, 0.0);
                if r > 0.0 {
                    let (c1, c2) = self.conditional[slot].moments();
                    m1 = r * c1;
                    m2 = r * c2;
                }
                if r < 1.0 {
                    m1 += (1.0 - r) * nex_first;
                    m2 += (1.0 - r) * nex_second;
                }
                first += w * m1;
                second += w * m2;
                ex += w * r;
            }
            first += self.all_nex * nex_first;
            second += self.all_nex * nex_second;
            let sd = (second - first * first).max(0.0).sqrt();
            self.prepare_rows(j);
            let (below, _) = self.stratum_cdf(j, cut);
            let mut q = [0.0; 3];
            if quantiles {
                let (guess, guess_sd) = if self.binary {
                    (
                        (first / (1.0 - first)).ln(),
                        sd / (first * (1.0 - first)).max(1e-12),
                    )
                } else {
                    (first, sd)
                };
                let dist = StratumMarginal { fit: self, j };
                for (out, p) in q.iter_mut().zip([0.025, 0.5, 0.975]) {
                    let theta = quantile(&dist, p, guess, guess_sd.max(1e-300));
                    *out = if self.binary { expit(theta) } else { theta };
                }
            }
            self.posterior.strata.push(StratumPosterior {
                summary: ScalarSummary {
                    mean: first,
                    sd,
                    median: q[1],
                    ci95: [q[0], q[2]],
                },
                p_above: (1.0 - below).clamp(0.0, 1.0),
                p_exchangeable: ex.clamp(0.0, 1.0),
            });
        }
        self.posterior.mu = self.summarise_mu(quantiles);
        self.posterior.tau = self.summarise_tau(quantiles);
    }

    fn summarise_mu(&self, quantiles: bool) -> ScalarSummary {
        let (mut first, mut second) = (0.0, 0.0);
        for (w, mu) in self.node_weight.iter().zip(&self.node_mu) {
            first += w * mu;
            second += w * mu * mu;
        }
        let (m, s) = self.mu_prior;
        first += self.all_nex * m;
        second += self.all_nex * (m * m + s * s);
        let sd = (second - first * first).max(0.0).sqrt();
        let mut q = [0.0; 3];
        if quantiles {
            let dist = MuMarginal::new(self);
            for (out, p) in q.iter_mut().zip([0.025, 0.5, 0.975]) {
                *out = quantile(&dist, p, first, sd.max(1e-300));
            }
        }
        ScalarSummary {
            mean: first,
            sd,
            median: q[1],
            ci95: [q[0], q[2]],
        }
    }

    fn summarise_tau(&self, quantiles: bool) -> ScalarSummary {
        let mut rows = [0.0; TAU_POINTS];
        for (a, row) in rows.iter_mut().enumerate() {
            *row = self.node_weight[a * MU_POINTS..(a + 1) * MU_POINTS]
                .iter()
                .sum();
        }
        let (mut first, mut second) = (0.0, 0.0);
        for (w, tau) in rows.iter().zip(&self.tau_nodes) {
            first += w * tau;
            second += w * tau * tau;
        }
        // HalfNormal(s): E τ = s·√(2/π), E τ² = s².
        let s = self.tau_scale;
        first += self.all_nex * s * (2.0 / std::f64::consts::PI).sqrt();
        second += self.all_nex * s * s;
        let sd = (second - first * first).max(0.0).sqrt();
        let mut q = [0.0; 3];
        if quantiles {
            let dist = TauMarginal {
                rows: &rows,
                nodes: &self.tau_nodes,
                weights: &self.tau_weights,
                all_nex: self.all_nex,
                scale: s,
            };
            for (out, p) in q.iter_mut().zip([0.025, 0.5, 0.975]) {
                *out = quantile(&dist, p, first, sd.max(1e-300)).max(0.0);
            }
        }
        ScalarSummary {
            mean: first,
            sd,
            median: q[1],
            ci95: [q[0], q[2]],
        }
    }
}

/// The marginal posterior of θⱼ: the weighted mixture of its conditionals over the nodes.
struct StratumMarginal<'a> {
    fit: &'a BorrowWorkspace,
    j: usize,
}

impl Continuous for StratumMarginal<'_> {
    fn cdf(&self, x: f64) -> f64 {
        self.fit.stratum_cdf(self.j, x).0
    }
    fn density(&self, x: f64) -> f64 {
        self.fit.stratum_cdf(self.j, x).1
    }
}

/// The marginal posterior of μ for its quantiles: every (τ, μ) node's mass spread as a normal
/// kernel of width [`MU_KERNEL`] times its row's rule scale, plus the all-non-exchangeable
/// component's prior. A Hermite expansion of each row's conditional density was tried first and
/// is not used: under EXNEX a row's conditional is a mixture far wider than its rule's scale,
/// where the truncated expansion is not monotone (`METHODS.md`, "Borrowing across strata").
struct MuMarginal<'a> {
    fit: &'a BorrowWorkspace,
}

/// Kernel width for μ's quantiles, in units of a row's rule scale.
const MU_KERNEL: f64 = 0.25;

impl<'a> MuMarginal<'a> {
    fn new(fit: &'a BorrowWorkspace) -> Self {
        Self { fit }
    }

    fn cdf_and_density(&self, mu: f64) -> (f64, f64) {
        let table = NormalTable::get();
        let normal = |a: f64| {
            let (upper, phi) = table.tail(a.abs());
            (if a >= 0.0 { 1.0 - upper } else { upper }, phi)
        };
        let (mut cdf, mut density) = (0.0, 0.0);
        for a in 0..TAU_POINTS {
            let width = MU_KERNEL * self.fit.row_scale[a];
            if width.is_nan() || width <= 0.0 {
                continue;
            }
            for b in 0..MU_POINTS {
                let node = a * MU_POINTS + b;
                let weight = self.fit.node_weight[node];
                if weight <= NEGLIGIBLE {
                    continue;
                }
                let (f, phi) = normal((mu - self.fit.node_mu[node]) / width);
                cdf += weight * f;
                density += weight * phi / width;
            }
        }
        if self.fit.all_nex > 0.0 {
            let (m, s) = self.fit.mu_prior;
            let (f, phi) = normal((mu - m) / s);
            cdf += self.fit.all_nex * f;
            density += self.fit.all_nex * phi / s;
        }
        (cdf.clamp(0.0, 1.0), density.max(0.0))
    }
}

impl Continuous for MuMarginal<'_> {
    fn cdf(&self, x: f64) -> f64 {
        self.cdf_and_density(x).0
    }
    fn density(&self, x: f64) -> f64 {
        self.cdf_and_density(x).1
    }
}

/// The marginal posterior of τ: on each Gauss–Legendre panel, the Legendre expansion of the
/// density from the node weights, integrated in closed form.
struct TauMarginal<'a> {
    rows: &'a [f64; TAU_POINTS],
    nodes: &'a [f64; TAU_POINTS],
    weights: &'a [f64; TAU_POINTS],
    /// The all-non-exchangeable component's mass and τ's prior scale.
    all_nex: f64,
    scale: f64,
}

impl TauMarginal<'_> {
    fn cdf_and_density(&self, tau: f64) -> (f64, f64) {
        let (nodes_cdf, nodes_density) = self.nodes_cdf(tau);
        if self.all_nex <= 0.0 || tau <= 0.0 {
            return (nodes_cdf, nodes_density);
        }
        // HalfNormal(s): CDF 1 − 2Φ(−τ/s), density 2φ(τ/s)/s.
        let (upper, phi) = NormalTable::get().tail(tau / self.scale);
        (
            (nodes_cdf + self.all_nex * (1.0 - 2.0 * upper)).clamp(0.0, 1.0),
            nodes_density + self.all_nex * 2.0 * phi / self.scale,
        )
    }

    #[expect(
        clippy::needless_range_loop,
        reason = "k indexes the panel's nodes and the rule's table together"
    )]
    fn nodes_cdf(&self, tau: f64) -> (f64, f64) {
        let mut cdf = 0.0;
        for panel in 0..TAU_PANELS {
            let range = panel * GL_POINTS..(panel + 1) * GL_POINTS;
            let half = self.weights[range.start] / GL_WEIGHTS[0];
            let mid = self.nodes[range.start] - half * GL_NODES[0];
            let (lo, hi) = (mid - half, mid + half);
            let mass: f64 = self.rows[range.clone()].iter().sum();
            if tau >= hi {
                cdf += mass;
                continue;
            }
            if tau < lo {
                break;
            }
            // a_m = (2m + 1)/2 · Σₖ Rₖ·P_m(vₖ): the density in v is Σ a_m P_m(v).
            let mut a = [0.0; GL_POINTS];
            for k in 0..GL_POINTS {
                let p = legendre_all(GL_NODES[k]);
                for (m, am) in a.iter_mut().enumerate() {
                    *am += self.rows[range.start + k] * p[m];
                }
            }
            for (m, am) in a.iter_mut().enumerate() {
                *am *= (2.0 * m as f64 + 1.0) / 2.0;
            }
            let v = (tau - mid) / half;
            let p = legendre_all(v);
            let mut partial = a[0] * (v + 1.0);
            let mut density = a[0];
            for m in 1..GL_POINTS {
                partial += a[m] * (p[m + 1] - p[m - 1]) / (2.0 * m as f64 + 1.0);
                density += a[m] * p[m];
            }
            return ((cdf + partial).clamp(0.0, 1.0), (density / half).max(0.0));
        }
        (cdf.clamp(0.0, 1.0), 0.0)
    }
}

impl Continuous for TauMarginal<'_> {
    fn cdf(&self, x: f64) -> f64 {
        self.cdf_and_density(x).0
    }
    fn density(&self, x: f64) -> f64 {
        self.cdf_and_density(x).1
    }
}
