//! The evaluation of a borrowing model: the exact log posterior of (μ, τ) on the nodes — τ on
//! Gauss–Legendre panels placed by [`super::grid`], μ given τ on an equally spaced grid aligned
//! with the decision threshold — with every stratum's values at each node from [`super::rows`];
//! then every stratum's posterior as the mixture, over the nodes, of its conditional posteriors
//! given (μ, τ) and of its non-exchangeable posterior ([`super::summary`]).
//!
//! Numbers in, numbers out; the buffers live in [`BorrowWorkspace`] and are reused.

use super::grid::{self, legendre_rule, Approx, PANEL_FIRST, PANEL_POINTS, TAU_PANELS, TAU_POINTS};
use super::inner::{binomial_top, logit_normal, InnerRule, InnerValues};
use super::mu_nodes::{MuMap, Turn};
use super::rows::{self, RowTables, FALLBACK, FALLBACK_LINEAR, LN_SQRT_2PI};
use super::stratum::{BinaryStratum, NodeValues};
use super::{check_strata, BorrowModel, BorrowPosterior, NormalPrior, StrataModel, Stratum};
use crate::stats::log_sum::LogSum;
use crate::stats::special::NormalTable;
use crate::stats::StatsError;

/// Approximate SDs of μ given τ on each side of its approximate mean that a row's bulk covers
/// (a normal factor is below e^(−38.7) there).
const REACH: f64 = 8.8;
/// Nodes beyond the bulk on each side, where the spacing grows: for the hierarchical model and
/// for EXNEX (whose non-exchangeable configurations leave tails as wide as μ's prior).
const EXTRA_NODES: usize = 2;
const EXTRA_NODES_EXNEX: usize = 8;
/// Nodes added on a side whose end weight has not fallen [`EDGE_NATS`] below the row's peak, at
/// most [`WIDEN_STEPS`] times.
const WIDEN_NODES: usize = 4;
const WIDEN_STEPS: usize = 4;
/// Nats below the largest row at which the rows of the last τ panel beyond a decreasing row are
/// left out (e^(−30) ≈ 10⁻¹³).
const TAIL_NATS: f64 = 30.0;
/// A row whose log weight is more curved than an SD of this fraction of the approximate SD, at
/// a node within [`CURVED_NATS`] of its peak, is placed again.
const NARROWER: f64 = 0.7;
const CURVED_NATS: f64 = 10.0;
/// The narrowest SD a row is placed again with, as a fraction of the approximate SD.
const FINEST: f64 = 16.0;
/// Nats below the row's peak at which a row's μ range may end.
const EDGE_NATS: f64 = 30.0;
/// Nats below a row's peak beyond which a node's weight is too small to need an exact
/// recomputation of a stratum.
const RELEVANT: f64 = 40.0;
/// Node masses below this are left out of the quantile searches.
pub(super) const NEGLIGIBLE: f64 = 1e-18;

/// One stratum's data as the evaluation uses it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Data {
    Binary(BinaryStratum),
    /// The estimate and its squared standard error.
    Normal {
        estimate: f64,
        variance: f64,
    },
}

/// One stratum: its data, its normal approximation and ln wⱼ, ln(1 − wⱼ); under EXNEX, the
/// log of its non-exchangeable term (1 − wⱼ)·Cⱼ and the odds wⱼ/((1 − wⱼ)·Cⱼ) that turn an
/// exchangeable Lⱼ into the ratio of the two terms (none where they leave the range in which
/// the node weights multiply them, [`ODDS_RANGE`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Input {
    pub(super) data: Data,
    pub(super) approx: Approx,
    pub(super) ln_w: f64,
    pub(super) ln_not_w: f64,
    pub(super) ln_nex_term: f64,
    pub(super) odds: Option<f64>,
}

/// One stratum's conditional posterior given (μ, τ), or its non-exchangeable posterior, with
/// its CDF at any point (the quantiles).
#[derive(Debug, Clone, Copy)]
#[expect(
    clippy::large_enum_variant,
    reason = "stored in one flat buffer per fit; boxing would allocate per node"
)]
pub(super) enum Conditional {
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
    pub(super) fn ln_marginal(&self) -> f64 {
        match self {
            Self::Logit(v) => v.ln_marginal,
            Self::Normal { ln_marginal, .. } => *ln_marginal,
        }
    }

    /// E[p] and E[p²] (binary) or E[θ] and E[θ²] (normal): the reported scale.
    pub(super) fn moments(&self) -> (f64, f64) {
        match self {
            Self::Logit(v) => (v.mean, v.second),
            Self::Normal { mean, variance, .. } => (*mean, mean * mean + variance),
        }
    }

    /// P(θ ≤ t) and the density of θ at t.
    pub(super) fn cdf(&self, rule: &InnerRule, t: f64) -> (f64, f64) {
        match self {
            Self::Logit(v) => v.cdf(rule, t),
            Self::Normal { mean, variance, .. } => {
                let sd = variance.sqrt();
                let (cdf, phi) = NormalTable::get().cdf((t - mean) / sd);
                (cdf, phi / sd)
            }
        }
    }
}

/// The reusable workspace of borrowing fits: rules, node tables and results. After a first fit,
/// further fits with at most as many strata and nodes allocate nothing.
#[derive(Debug, Clone)]
pub struct BorrowWorkspace {
    pub(super) inner: InnerRule,
    pub(super) binary: bool,
    /// The threshold on the θ scale (logit p₀ for binary strata).
    pub(super) cut: f64,
    pub(super) inputs: Vec<Input>,
    approx: Vec<Approx>,
    /// Per stratum, the non-exchangeable posterior and its values at the threshold.
    pub(super) nex: Vec<Conditional>,
    pub(super) nex_values: Vec<NodeValues>,
    pub(super) tau_nodes: [f64; TAU_POINTS],
    pub(super) tau_weights: [f64; TAU_POINTS],
    /// The Gauss–Legendre points each panel uses (its first slots; the rest have weight 0).
    pub(super) panel_points: [usize; TAU_PANELS],
    /// Per τ node, the μ rule, and where its nodes start (`row_first[a]..row_first[a + 1]`).
    pub(super) rows: [MuMap; TAU_POINTS],
    pub(super) row_first: [usize; TAU_POINTS + 1],
    /// Per node (τ-major): μ, the μ rule's weight, and the log weight, then the normalised
    /// weight; the cell of μ each node stands for (filled for the quantiles only).
    pub(super) node_mu: Vec<f64>,
    node_width: Vec<f64>,
    pub(super) node_cell: Vec<(f64, f64)>,
    pub(super) node_weight: Vec<f64>,
    /// Per node, 1 − Πₖ(1 − rₖ) with the unconditioned rₖ: the share of the node's mass that it
    /// carries (the rest is the all-non-exchangeable configuration; 1 for the hierarchical
    /// model).
    pub(super) node_rest: Vec<f64>,
    /// Whether the nodes hold a complete fit (false from the start of a fit until it succeeds).
    pub(super) fitted: bool,
    /// Per node and stratum (`node * strata + j`): the stratum's values and
    /// P(exchangeable | data, μ, τ).
    pub(super) values: Vec<NodeValues>,
    pub(super) exchangeable: Vec<f64>,
    /// Per node and stratum, the conditional posterior for the quantiles (filled by
    /// [`BorrowWorkspace::fit`] only, where the node's mass is not negligible).
    pub(super) detail: Vec<Conditional>,
    /// One stratum's values over a row (scratch), and the row's tables.
    scratch: Vec<NodeValues>,
    tables: RowTables,
    /// The posterior probability that every stratum is non-exchangeable (EXNEX), held apart
    /// from the nodes: there μ and τ keep their priors (see [`BorrowWorkspace::fill_row`]).
    pub(super) all_nex: f64,
    /// The priors of μ and τ, for the all-non-exchangeable component.
    pub(super) mu_prior: (f64, f64),
    pub(super) tau_scale: f64,
    pub(super) posterior: BorrowPosterior,
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

/// The posterior of θ for a normal stratum (estimate `x`, squared SE `v`) under θ ~ N(m, s²).
fn normal_conditional(x: f64, v: f64, m: f64, s2: f64) -> Conditional {
    let (ln_marginal, mean, variance) = rows::normal_posterior(x, v, m, s2);
    Conditional::Normal {
        ln_marginal,
        mean,
        variance,
    }
}

impl BorrowWorkspace {
    /// A workspace with its rules built.
    pub fn new() -> Self {
        Self {
            inner: InnerRule::new(),
            binary: true,
            cut: 0.0,
            inputs: Vec::new(),
            approx: Vec::new(),
            nex: Vec::new(),
            nex_values: Vec::new(),
            tau_nodes: [0.0; TAU_POINTS],
            tau_weights: [0.0; TAU_POINTS],
            panel_points: PANEL_POINTS,
            rows: [MuMap::default(); TAU_POINTS],
            row_first: [0; TAU_POINTS + 1],
            node_mu: Vec::new(),
            node_width: Vec::new(),
            node_cell: Vec::new(),
            node_weight: Vec::new(),
            node_rest: Vec::new(),
            fitted: false,
            values: Vec::new(),
            exchangeable: Vec::new(),
            detail: Vec::new(),
            scratch: Vec::new(),
            tables: RowTables::default(),
            all_nex: 0.0,
            mu_prior: (0.0, 1.0),
            tau_scale: 1.0,
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
        self.evaluate(model, strata, threshold, false)?;
        self.fill_detail();
        self.summarise(true);
        Ok(&self.posterior)
    }

    /// As [`Self::fit`], without the quantiles (medians and intervals, of the strata and of μ
    /// and τ, are left at 0): the decision quantities at a look of a simulated trial. The τ
    /// panels where τ's posterior is smooth may take four or six points instead of eight here
    /// (see `evaluate`), so the decision quantities may differ from [`Self::fit`]'s in the
    /// seventh to ninth digit.
    pub fn fit_decisions(
        &mut self,
        model: &BorrowModel,
        strata: &[Stratum],
        threshold: f64,
    ) -> Result<&BorrowPosterior, StatsError> {
        self.evaluate(model, strata, threshold, true)?;
        self.summarise(false);
        Ok(&self.posterior)
    }

    /// The rows of the fit and their weights. With `fewer_points`, panels that
    /// [`grid::panel_points`] finds smooth take four or six τ points instead of eight: the
    /// decision quantities move by less than 2e-7 on the reference cases, but the quantiles of a
    /// stratum whose τ is far below the μ rule's spacing are a mixture of near-steps, which
    /// needs every row (with four points, a 2.5% quantile moved by 5·10⁻⁴ where s_τ = 0.05).
    fn evaluate(
        &mut self,
        model: &BorrowModel,
        strata: &[Stratum],
        threshold: f64,
        fewer_points: bool,
    ) -> Result<(), StatsError> {
        self.fitted = false;
        self.prepare(model, strata, threshold)?;
        let from_zero = !matches!(model.strata, StrataModel::Hierarchical);
        let edges = grid::tau_edges(&self.approx, &model.mu, model.tau.scale(), from_zero);
        let points = if fewer_points {
            grid::panel_points(&self.approx, &model.mu, model.tau.scale(), &edges)
        } else {
            PANEL_POINTS
        };
        self.evaluate_rows(model, &edges, &points);
        // Panels placed from an approximation that the exact rows contradict (one holding
        // far more than its share of the mass): once more, at the exact rows' quantiles.
        let masses = self.row_masses();
        if let Some(again) = grid::edges_again(&edges, &self.tau_nodes, &masses) {
            self.evaluate_rows(model, &again, &PANEL_POINTS);
        }
        self.fitted = true;
        Ok(())
    }

    /// Each row's normalised mass (the sum of its nodes' weights).
    pub(super) fn row_masses(&self) -> [f64; TAU_POINTS] {
        let mut masses = [0.0; TAU_POINTS];
        for (a, mass) in masses.iter_mut().enumerate() {
            *mass = self.node_weight[self.row_first[a]..self.row_first[a + 1]]
                .iter()
                .sum();
        }
        masses
    }

    /// The rows on the τ panels of `edges`, and their normalised weights.
    fn evaluate_rows(
        &mut self,
        model: &BorrowModel,
        edges: &[f64; TAU_PANELS + 1],
        points: &[usize; TAU_PANELS],
    ) {
        self.place_tau(edges, points);
        self.node_mu.clear();
        self.node_width.clear();
        self.node_weight.clear();
        self.node_rest.clear();
        self.values.clear();
        self.exchangeable.clear();
        // The last panel lies in τ's tail: once a row there holds less than e^(−TAIL_NATS) of
        // the largest row and less than the row before, the rows beyond (larger τ, further
        // down the tail) are left out.
        let (mut largest, mut previous) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut beyond = false;
        for a in 0..TAU_POINTS {
            self.row_first[a] = self.node_mu.len();
            // A slot its panel does not use (weight 0), or a row beyond the tail: no nodes.
            if beyond || self.tau_weights[a] == 0.0 {
                self.rows[a] = MuMap::default();
                continue;
            }
            self.evaluate_row(model, a);
            let weights = &self.node_weight[self.row_first[a]..];
            let top = weights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mass = top + weights.iter().map(|w| (w - top).exp()).sum::<f64>().ln();
            largest = largest.max(mass);
            beyond =
                a >= PANEL_FIRST[TAU_PANELS - 1] && mass < largest - TAIL_NATS && mass < previous;
            previous = mass;
        }
        self.row_first[TAU_POINTS] = self.node_mu.len();
        self.normalise(model);
    }

    fn prepare(
        &mut self,
        model: &BorrowModel,
        strata: &[Stratum],
        threshold: f64,
    ) -> Result<(), StatsError> {
        self.binary = check_strata(strata, threshold)?;
        self.tables.start_fit();
        self.cut = if self.binary {
            (threshold / (1.0 - threshold)).ln()
        } else {
            threshold
        };
        let count = strata.len();
        self.inputs.clear();
        self.approx.clear();
        for (j, stratum) in strata.iter().enumerate() {
            let w = model.weight(j, count)?;
            let (data, approx) = match *stratum {
                Stratum::Binary { responders, n } => {
                    let (y, n) = (responders as f64, n as f64);
                    let approx = Approx::binary(y, n, w);
                    let data = BinaryStratum::new(
                        y,
                        n,
                        binomial_top(y, n),
                        approx.estimate,
                        approx.variance.sqrt(),
                    );
                    (Data::Binary(data), approx)
                }
                Stratum::Normal { mean, se } => {
                    let variance = se * se;
                    let approx = Approx {
                        estimate: mean,
                        variance,
                        weight: w,
                    };
                    (
                        Data::Normal {
                            estimate: mean,
                            variance,
                        },
                        approx,
                    )
                }
            };
            self.inputs.push(Input {
                data,
                approx,
                ln_w: w.ln(),
                ln_not_w: (-w).ln_1p(),
                ln_nex_term: f64::NEG_INFINITY,
                odds: None,
            });
            self.approx.push(approx);
        }
        self.nex.clear();
        self.nex_values.clear();
        for j in 0..count {
            let conditional = match &model.strata {
                StrataModel::Exnex { nex, .. } => self.stratum_given(&self.inputs[j], nex),
                StrataModel::Hierarchical => Conditional::default(),
            };
            let (first, second) = conditional.moments();
            let (below, _) = conditional.cdf(&self.inner, self.cut);
            self.nex.push(conditional);
            let ln_nex = conditional.ln_marginal();
            self.nex_values
                .push(NodeValues::with_ln(ln_nex, first, second, below));
            let input = &mut self.inputs[j];
            input.ln_nex_term = input.ln_not_w + ln_nex;
            let ln_odds = input.ln_w - input.ln_nex_term;
            input.odds = (ln_odds.abs() <= ODDS_RANGE).then(|| ln_odds.exp());
        }
        Ok(())
    }

    /// Stratum `input`'s posterior under θ ~ N(m, s²).
    fn stratum_given(&self, input: &Input, prior: &NormalPrior) -> Conditional {
        conditional_given(input, prior.mean(), prior.sd())
    }

    /// τ nodes and weights (GL weights on the panels, `points` of them in each; the half-normal
    /// prior goes into the log weights with the rest of the integrand). A panel's slots beyond
    /// its points get weight 0 and its last node, so that the nodes stay in order.
    fn place_tau(&mut self, edges: &[f64; TAU_PANELS + 1], points: &[usize; TAU_PANELS]) {
        self.panel_points = *points;
        for p in 0..TAU_PANELS {
            let (lo, hi) = (edges[p], edges[p + 1]);
            let half = 0.5 * (hi - lo);
            let mid = lo + half;
            let (nodes, weights) = legendre_rule(points[p]);
            let last = nodes.len() - 1;
            for k in 0..PANEL_POINTS[p] {
                let slot = PANEL_FIRST[p] + k;
                self.tau_nodes[slot] = mid + half * nodes[k.min(last)];
                self.tau_weights[slot] = weights.get(k).map_or(0.0, |w| half * w);
            }
        }
    }

    /// Evaluates the row at τ node `a` on the μ rule of [`super::mu_nodes`]: the bulk over
    /// [`REACH`] approximate SDs on each side of the approximate mean, a fine window where the
    /// strata's P(θⱼ ≤ cut | μ, τ) turn, and growing nodes beyond, more of them on a side where
    /// the exact weights have not fallen [`EDGE_NATS`] below the row's peak at its end.
    fn evaluate_row(&mut self, model: &BorrowModel, a: usize) {
        let tau = self.tau_nodes[a];
        let count = self.inputs.len();
        let (_, centre, variance) = grid::conditional(&self.approx, &model.mu, tau);
        let sd = if variance.is_finite() && variance > 0.0 {
            variance.sqrt()
        } else {
            model.mu.sd()
        };
        let centre = if centre.is_finite() {
            centre
        } else {
            model.mu.mean()
        };
        let extra = if matches!(model.strata, StrataModel::Hierarchical) {
            EXTRA_NODES
        } else {
            EXTRA_NODES_EXNEX
        };
        let first = self.node_mu.len();
        let (mut left, mut right) = (extra, extra);
        let (mut centre, mut sd) = (centre, sd);
        let mut refined = false;
        let mut attempt = 0;
        // How many nodes the last widening added on the left and on the right (the map's
        // other nodes are unchanged by it, so only those are evaluated).
        let mut grown: Option<(usize, usize)> = None;
        loop {
            let cut = self.cut;
            let turns = self
                .approx
                .iter()
                .filter(|s| s.weight > 0.0)
                .map(|s| Turn::new(cut, tau, s.estimate, s.variance));
            self.rows[a] = MuMap::new(centre, sd, REACH, turns, (left, right));
            match grown {
                Some((more_left, more_right)) => {
                    self.widen_row(model, a, first, more_left, more_right);
                }
                None => {
                    self.node_mu.truncate(first);
                    self.node_width.truncate(first);
                    self.node_weight.truncate(first);
                    self.node_rest.truncate(first);
                    self.values.truncate(first * count);
                    self.exchangeable.truncate(first * count);
                    self.fill_row(model, a);
                }
            }
            let weights = &self.node_weight[first..];
            let (peak, top) =
                weights
                    .iter()
                    .copied()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |best, (k, w)| {
                        if w > best.1 {
                            (k, w)
                        } else {
                            best
                        }
                    });
            let (Some(&left_end), Some(&right_end)) = (weights.first(), weights.last()) else {
                break;
            };
            // The bulk narrower than the normal approximation said (by the curvature of the
            // log weight at the nodes within [`CURVED_NATS`] of the peak): once, the row again
            // around the peak at the narrowest SD found.
            if !refined && top.is_finite() {
                let mus = &self.node_mu[first..];
                let mut narrowest = f64::INFINITY;
                for k in 1..weights.len().saturating_sub(1) {
                    if weights[k] < top - CURVED_NATS {
                        continue;
                    }
                    let (h0, h1) = (mus[k] - mus[k - 1], mus[k + 1] - mus[k]);
                    // Where the window's spacing is fine, rounding dominates the differences.
                    if h0.min(h1) < 0.5 * sd {
                        continue;
                    }
                    let (curvature, _) = second_difference(mus, weights, k);
                    if curvature.is_finite() && curvature > 0.0 {
                        narrowest = narrowest.min(1.0 / curvature.sqrt());
                    }
                }
                if narrowest < NARROWER * sd && peak > 0 && peak + 1 < weights.len() {
                    let (curvature, slope) = second_difference(mus, weights, peak);
                    if curvature.is_finite() && curvature > 0.0 {
                        centre = mus[peak] + slope / curvature;
                    }
                    refined = true;
                    sd = narrowest.max(sd / FINEST);
                    grown = None;
                    continue;
                }
            }
            let widen_left = top.is_finite() && left_end > top - EDGE_NATS;
            let widen_right = top.is_finite() && right_end > top - EDGE_NATS;
            if attempt == WIDEN_STEPS || !(widen_left || widen_right) {
                break;
            }
            attempt += 1;
            let more_left = if widen_left { WIDEN_NODES } else { 0 };
            let more_right = if widen_right { WIDEN_NODES } else { 0 };
            left += more_left;
            right += more_right;
            grown = Some((more_left, more_right));
        }
    }

    /// The exact log weights of the nodes of row `a` and every stratum's values there.
    ///
    /// The tabulated likelihood stops [`super::stratum::SUPPORT_DROP`] nats below its supremum, so a
    /// stratum's Lⱼ below e^[`FALLBACK`] may have lost more than e^(−20) of itself: at a node
    /// whose weight could then matter (within [`RELEVANT`] nats of the row's peak), such a
    /// stratum is recomputed by its inner quadrature. Not for an EXNEX stratum whose
    /// non-exchangeable term (1 − w)·C is above e^(−40): that term dwarfs the error.
    fn fill_row(&mut self, model: &BorrowModel, a: usize) {
        let count = self.inputs.len();
        let map = self.rows[a];
        let first = self.node_mu.len();
        let nodes = map.count;
        for k in 0..nodes {
            let (mu, width) = map.node(k);
            self.node_mu.push(mu);
            self.node_width.push(width);
        }
        self.values
            .resize((first + nodes) * count, NodeValues::default());
        self.exchangeable.resize((first + nodes) * count, 0.0);
        self.node_weight.resize(first + nodes, f64::NEG_INFINITY);
        self.node_rest.resize(first + nodes, 1.0);
        self.fill_values(a, first..first + nodes);
        self.weigh(model, a, first, [first..first + nodes, first..first]);
    }

    /// Row `a` (starting at node `first`), whose map has gained `more_left` nodes on the left
    /// and `more_right` on the right and is otherwise unchanged: the nodes it had keep their
    /// values, the new ones are evaluated as [`Self::fill_row`] does.
    fn widen_row(
        &mut self,
        model: &BorrowModel,
        a: usize,
        first: usize,
        more_left: usize,
        more_right: usize,
    ) {
        let count = self.inputs.len();
        let map = self.rows[a];
        let had = self.node_mu.len() - first;
        let nodes = map.count;
        debug_assert_eq!(nodes, had + more_left + more_right);
        let end = first + nodes;
        self.node_mu.resize(end, 0.0);
        self.node_width.resize(end, 0.0);
        self.node_weight.resize(end, f64::NEG_INFINITY);
        self.node_rest.resize(end, 1.0);
        self.values.resize(end * count, NodeValues::default());
        self.exchangeable.resize(end * count, 0.0);
        let kept = first..first + had;
        self.node_mu.copy_within(kept.clone(), first + more_left);
        self.node_width.copy_within(kept.clone(), first + more_left);
        self.node_weight
            .copy_within(kept.clone(), first + more_left);
        self.node_rest.copy_within(kept, first + more_left);
        self.values.copy_within(
            first * count..(first + had) * count,
            (first + more_left) * count,
        );
        self.exchangeable.copy_within(
            first * count..(first + had) * count,
            (first + more_left) * count,
        );
        let left = first..first + more_left;
        let right = first + more_left + had..end;
        for node in left.clone().chain(right.clone()) {
            let (mu, width) = map.node(node - first);
            self.node_mu[node] = mu;
            self.node_width[node] = width;
        }
        self.fill_values(a, left.clone());
        self.fill_values(a, right.clone());
        self.weigh(model, a, first, [left, right]);
    }

    /// Every stratum's values at the nodes `range` (consecutive nodes of row `a`).
    fn fill_values(&mut self, a: usize, range: std::ops::Range<usize>) {
        let count = self.inputs.len();
        let tau = self.tau_nodes[a];
        let nodes = range.len();
        if nodes == 0 {
            return;
        }
        self.scratch.resize(nodes.max(count), NodeValues::default());
        self.tables.start_row();
        for j in 0..count {
            let input = self.inputs[j];
            if input.approx.weight == 0.0 {
                continue;
            }
            match input.data {
                Data::Binary(s) => {
                    self.tables.binary(
                        &s,
                        tau,
                        self.cut,
                        &self.node_mu[range.clone()],
                        &mut self.scratch[..nodes],
                    );
                }
                Data::Normal { estimate, variance } => {
                    for (value, &mu) in self.scratch[..nodes]
                        .iter_mut()
                        .zip(&self.node_mu[range.clone()])
                    {
                        *value = rows::normal(estimate, variance, mu, tau, self.cut);
                    }
                }
            }
            for (k, value) in self.scratch[..nodes].iter().enumerate() {
                self.values[(range.start + k) * count + j] = *value;
            }
        }
    }

    /// The log weights of the nodes in `ranges` (of row `a`, which starts at node `first`), with
    /// the exact recomputation of doubtful strata described at [`Self::fill_row`]; the row's
    /// peak is taken over all its nodes.
    fn weigh(
        &mut self,
        model: &BorrowModel,
        a: usize,
        first: usize,
        ranges: [std::ops::Range<usize>; 2],
    ) {
        let count = self.inputs.len();
        let tau = self.tau_nodes[a];
        let base = self.row_base(model, a);
        for node in ranges.iter().flat_map(|r| r.clone()) {
            self.node_weight[node] = self.node_log_weight(model, base, node);
        }
        let top = self.node_weight[first..]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        self.scratch
            .resize(self.scratch.len().max(count), NodeValues::default());
        for node in ranges.iter().flat_map(|r| r.clone()) {
            // The node's weight had every doubtful Lⱼ been e^FALLBACK: an upper bound.
            let mut doubtful = false;
            for j in 0..count {
                let slot = node * count + j;
                if self.doubtful(j) && below_fallback(&self.values[slot]) {
                    self.scratch[j] = self.values[slot];
                    // A marker (no value is kept with this exponent: `NodeValues::scaled`).
                    self.values[slot].marginal = 1.0;
                    self.values[slot].ln_scale = FALLBACK;
                    doubtful = true;
                }
            }
            if !doubtful {
                continue;
            }
            let bound = self.node_log_weight(model, base, node);
            for j in 0..count {
                let slot = node * count + j;
                if self.values[slot].ln_scale == FALLBACK && self.doubtful(j) {
                    self.values[slot] = if bound < top - RELEVANT {
                        self.scratch[j]
                    } else {
                        let Data::Binary(s) = self.inputs[j].data else {
                            continue;
                        };
                        rows::exact(&self.inner, &s, tau, self.node_mu[node], self.cut)
                    };
                }
            }
            self.node_weight[node] = self.node_log_weight(model, base, node);
        }
    }

    /// Whether stratum j's tabulated values may have lost more than e^(−20) of themselves where
    /// they are below e^[`FALLBACK`] ([`below_fallback`]) and matter: a binary stratum, unless it
    /// is an EXNEX stratum whose non-exchangeable term (1 − w)·C is above e^(−40) and dwarfs the
    /// error.
    fn doubtful(&self, j: usize) -> bool {
        let input = &self.inputs[j];
        let shielded = input.approx.weight < 1.0 && input.ln_nex_term > -40.0;
        matches!(input.data, Data::Binary(_)) && input.approx.weight > 0.0 && !shielded
    }

    /// The part of row `a`'s log weights that every node shares: the τ rule's weight and τ's
    /// normalised prior, with μ's prior normalisation.
    fn row_base(&self, model: &BorrowModel, a: usize) -> f64 {
        let tau = self.tau_nodes[a];
        let tau_scale = model.tau.scale();
        self.tau_weights[a].ln() - 0.5 * (tau / tau_scale).powi(2) + (2.0 / tau_scale).ln()
            - 2.0 * LN_SQRT_2PI
            - model.mu.sd().ln()
    }

    /// The log weight of `node` from its strata's values (and P(exchangeable | μ, τ, data) of
    /// each stratum, written to `exchangeable`). The strata's Lⱼ are multiplied, not their
    /// logarithms added: one logarithm per node. An EXNEX stratum's two terms enter through
    /// xⱼ = wⱼLⱼ/((1 − wⱼ)Cⱼ): its factor is (1 − wⱼ)Cⱼ·(1 + xⱼ) and
    /// P(j exchangeable | μ, τ, data) = xⱼ/(1 + xⱼ); a stratum whose values leave the range of
    /// that product (no `odds`, or Lⱼ kept as a logarithm) is added in logarithms instead.
    fn node_log_weight(&mut self, model: &BorrowModel, base: f64, node: usize) -> f64 {
        let count = self.inputs.len();
        let any_certain = self.inputs.iter().any(|i| i.approx.weight == 1.0);
        let d = (self.node_mu[node] - model.mu.mean()) / model.mu.sd();
        let mut product = LogSum::new();
        product.add(self.node_width[node]);
        let mut log_weight = base - 0.5 * d * d;
        // Πₖ(1 + xₖ) − 1 over the EXNEX strata in the product, and ln Πₖ P(k non-exchangeable
        // | data, μ, τ) over those added in logarithms.
        let mut odds_product = 0.0;
        let mut ln_all_nex = 0.0;
        for j in 0..count {
            let input = self.inputs[j];
            let slot = node * count + j;
            let value = self.values[slot];
            if input.approx.weight == 0.0 {
                // ln(1 − wⱼ) = 0: the non-exchangeable term is Cⱼ.
                log_weight += input.ln_nex_term;
                self.exchangeable[slot] = 0.0;
                continue;
            }
            if input.approx.weight == 1.0 {
                product.add(value.marginal);
                log_weight += value.ln_scale;
                self.exchangeable[slot] = 1.0;
            } else if let (Some(odds), 0.0) = (input.odds, value.ln_scale) {
                let x = odds * value.marginal;
                let factor = 1.0 + x;
                product.add(factor);
                log_weight += input.ln_nex_term;
                // Beyond 10¹⁰⁰, 1 − Πₖ(1 − rₖ) is 1 to the last bit: Q stops growing (so that
                // it cannot overflow).
                if odds_product < ODDS_PRODUCT_CAP {
                    odds_product += x * (1.0 + odds_product);
                }
                self.exchangeable[slot] = x / factor;
            } else {
                let ex = input.ln_w + value.ln_marginal();
                let total = log_add(ex, input.ln_nex_term);
                log_weight += total;
                self.exchangeable[slot] = (ex - total).exp();
                ln_all_nex += input.ln_nex_term - total;
            }
        }
        log_weight += product.value();
        // Under EXNEX the configuration "every stratum non-exchangeable" leaves μ and τ at
        // their priors, whose tails no rule around the exchangeable mass covers: it is
        // integrated in closed form (`all_nex`), and the nodes carry the rest, the weight
        // times 1 − Πₖ(1 − rₖ), with P(j exchangeable | rest) = rⱼ/(1 − Πₖ(1 − rₖ)).
        // A stratum with w = 1 is never non-exchangeable: nothing to hold apart.
        // Πₖ(1 − rₖ) = e^(ln_all_nex)/Πₖ(1 + xₖ).
        let rest = if any_certain {
            1.0
        } else if ln_all_nex == 0.0 {
            odds_product / (1.0 + odds_product)
        } else {
            -(ln_all_nex - odds_product.ln_1p()).exp_m1()
        };
        self.node_rest[node] = rest.max(0.0);
        if rest > 0.0 {
            if rest < 1.0 {
                log_weight += rest.ln();
            }
            for j in 0..count {
                let slot = node * count + j;
                self.exchangeable[slot] = (self.exchangeable[slot] / rest).min(1.0);
            }
            log_weight
        } else {
            // Every stratum is certainly non-exchangeable here: the node holds nothing
            // beyond the all-non-exchangeable component.
            for j in 0..count {
                self.exchangeable[node * count + j] = 0.0;
            }
            f64::NEG_INFINITY
        }
    }

    /// Log weights → normalised weights.
    fn normalise(&mut self, model: &BorrowModel) {
        // ln of the all-non-exchangeable component: Πⱼ (1 − wⱼ)·Cⱼ (μ and τ integrate their
        // priors to 1).
        let ln_all_nex: f64 = self.inputs.iter().map(|input| input.ln_nex_term).sum();
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

    /// The conditional posteriors, for the quantiles, at every node and stratum whose mass is
    /// not negligible.
    fn fill_detail(&mut self) {
        let count = self.inputs.len();
        self.node_cell.clear();
        for a in 0..TAU_POINTS {
            let map = self.rows[a];
            self.node_cell
                .extend((0..self.row_first[a + 1] - self.row_first[a]).map(|k| map.cell(k)));
        }
        self.detail
            .resize(self.node_mu.len() * count, Conditional::default());
        for a in 0..TAU_POINTS {
            let tau = self.tau_nodes[a];
            for node in self.row_first[a]..self.row_first[a + 1] {
                let mu = self.node_mu[node];
                for j in 0..count {
                    let slot = node * count + j;
                    if self.node_weight[node] * self.exchangeable[slot] <= NEGLIGIBLE {
                        continue;
                    }
                    self.detail[slot] = conditional_given(&self.inputs[j], mu, tau);
                }
            }
        }
    }
}

/// ln of the largest odds wⱼ/((1 − wⱼ)Cⱼ) that the node weights multiply (beyond, logarithms).
const ODDS_RANGE: f64 = 30.0;
/// Where Q = Πₖ(1 + xₖ) − 1 of a node's EXNEX strata stops growing: Q/(1 + Q) is 1 in `f64`
/// long before.
const ODDS_PRODUCT_CAP: f64 = 1e100;

/// Whether a stratum's value Lⱼ is below e^[`FALLBACK`].
fn below_fallback(value: &NodeValues) -> bool {
    if value.ln_scale == 0.0 {
        value.marginal < FALLBACK_LINEAR
    } else {
        value.ln_marginal() < FALLBACK
    }
}

/// −(ln w)″ and (ln w)′ at node k from its neighbours (unequally spaced), by differences.
fn second_difference(mus: &[f64], weights: &[f64], k: usize) -> (f64, f64) {
    let (h0, h1) = (mus[k] - mus[k - 1], mus[k + 1] - mus[k]);
    let slope0 = (weights[k] - weights[k - 1]) / h0;
    let slope1 = (weights[k + 1] - weights[k]) / h1;
    (
        -(slope1 - slope0) / (0.5 * (h0 + h1)),
        0.5 * (slope0 + slope1),
    )
}

/// Stratum `input`'s posterior under θ ~ N(m, s²).
fn conditional_given(input: &Input, m: f64, s: f64) -> Conditional {
    match input.data {
        Data::Binary(b) => {
            let guess = s * (input.approx.estimate - m) / (input.approx.variance + s * s);
            Conditional::Logit(logit_normal(b.y, b.n, b.top, m, s, guess))
        }
        Data::Normal { estimate, variance } => normal_conditional(estimate, variance, m, s * s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::borrow::{ExchangeWeights, HalfNormalPrior};

    /// Forty alike strata far from the non-exchangeable prior: at the bulk's nodes each
    /// stratum's odds of exchangeability are near e^26, so Πₖ(1 + xₖ) is far beyond the range of
    /// `f64`. The nodes keep their weight: every stratum is exchangeable and the posterior is the
    /// hierarchical model's (when the product overflowed, the bulk's nodes were lost and the
    /// strata's SD came out 0.036 instead of 0.0035).
    #[test]
    fn many_strata_with_large_odds_keep_their_weight() -> Result<(), StatsError> {
        let strata = vec![
            Stratum::Binary {
                responders: 500,
                n: 1000
            };
            40
        ];
        let mu = NormalPrior::new("mu", 0.0, 2.0)?;
        let tau = HalfNormalPrior::new(0.5)?;
        let exnex = BorrowModel {
            mu,
            tau,
            strata: StrataModel::Exnex {
                nex: NormalPrior::new("nex", -3.6, 0.5)?,
                weights: ExchangeWeights::Common(0.5),
            },
        };
        let hierarchical = BorrowModel {
            mu,
            tau,
            strata: StrataModel::Hierarchical,
        };
        let mut workspace = BorrowWorkspace::new();
        let want = workspace
            .fit_decisions(&hierarchical, &strata, 0.3)?
            .clone();
        let got = workspace.fit_decisions(&exnex, &strata, 0.3)?;
        for (j, (got, want)) in got.strata.iter().zip(&want.strata).enumerate() {
            assert!(
                got.p_exchangeable > 0.999_999
                    && (got.summary.mean - want.summary.mean).abs() < 1e-6
                    && (got.summary.sd / want.summary.sd - 1.0).abs() < 1e-4,
                "stratum {}: {got:?} against {want:?}",
                j + 1
            );
        }
        Ok(())
    }
}
