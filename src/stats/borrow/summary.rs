//! The summaries of a borrowing fit: per stratum the posterior moments, P(θⱼ > threshold),
//! P(exchangeable | data) and the quantiles; the posterior of μ and τ. Each is a weighted sum
//! over the nodes of [`super::fit`] (plus the non-exchangeable posteriors and the
//! all-non-exchangeable component).

use super::fit::{BorrowWorkspace, NEGLIGIBLE};
use super::grid::{legendre_rule, PANEL_FIRST, TAU_PANELS, TAU_POINTS};
use super::inner::{legendre_all, softplus_and_expit};
use super::{ScalarSummary, StratumPosterior};
use crate::stats::roots::{quantile, Continuous};
use crate::stats::special::NormalTable;

/// logit⁻¹.
fn expit(theta: f64) -> f64 {
    softplus_and_expit(theta).1
}

impl BorrowWorkspace {
    /// Fills the posterior from the normalised node weights; the quantiles only when asked
    /// (they need [`BorrowWorkspace::fill_detail`] first).
    pub(super) fn summarise(&mut self, quantiles: bool) {
        let count = self.inputs.len();
        self.posterior.strata.clear();
        for j in 0..count {
            let nex = self.nex_values[j];
            let (mut first, mut second, mut below, mut ex) = (0.0, 0.0, 0.0, 0.0);
            for (node, &w) in self.node_weight.iter().enumerate() {
                let slot = node * count + j;
                let r = self.exchangeable[slot];
                let (mut m1, mut m2, mut b) = (0.0, 0.0, 0.0);
                if r > 0.0 {
                    let v = self.values[slot];
                    m1 = r * v.first;
                    m2 = r * v.second;
                    b = r * v.below;
                }
                if r < 1.0 {
                    m1 += (1.0 - r) * nex.first;
                    m2 += (1.0 - r) * nex.second;
                    b += (1.0 - r) * nex.below;
                }
                first += w * m1;
                second += w * m2;
                below += w * b;
                ex += w * r;
            }
            first += self.all_nex * nex.first;
            second += self.all_nex * nex.second;
            below += self.all_nex * nex.below;
            let sd = (second - first * first).max(0.0).sqrt();
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
                summary: scalar(first, sd, q),
                p_above: (1.0 - below).clamp(0.0, 1.0),
                p_exchangeable: ex.clamp(0.0, 1.0),
            });
        }
        self.posterior.mu = self.summarise_mu(quantiles);
        self.posterior.tau = self.summarise_tau(quantiles);
    }

    /// P(θⱼ ≤ t | data) and the density of θⱼ at t, from the conditional posteriors filled for
    /// the quantiles.
    fn stratum_cdf(&self, j: usize, t: f64) -> (f64, f64) {
        let count = self.inputs.len();
        let (mut cdf, mut density, mut ex_mass) = (0.0, 0.0, 0.0);
        for (node, &weight) in self.node_weight.iter().enumerate() {
            let slot = node * count + j;
            let w = weight * self.exchangeable[slot];
            ex_mass += w;
            if w <= NEGLIGIBLE {
                continue;
            }
            let (f, d) = self.detail[slot].cdf(&self.inner, t);
            cdf += w * f;
            density += w * d;
        }
        let nex_mass = 1.0 - ex_mass;
        if nex_mass > 0.0 {
            let (f, d) = self.nex[j].cdf(&self.inner, t);
            cdf += nex_mass * f;
            density += nex_mass * d;
        }
        (cdf.clamp(0.0, 1.0), density.max(0.0))
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
            let dist = MuMarginal { fit: self };
            for (out, p) in q.iter_mut().zip([0.025, 0.5, 0.975]) {
                *out = quantile(&dist, p, first, sd.max(1e-300));
            }
        }
        scalar(first, sd, q)
    }

    fn summarise_tau(&self, quantiles: bool) -> ScalarSummary {
        let rows = self.row_masses();
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
                points: self.panel_points,
                all_nex: self.all_nex,
                scale: s,
            };
            for (out, p) in q.iter_mut().zip([0.025, 0.5, 0.975]) {
                *out = quantile(&dist, p, first, sd.max(1e-300)).max(0.0);
            }
        }
        scalar(first, sd, q)
    }
}

/// A summary from the mean, the SD and the 2.5/50/97.5% quantiles.
fn scalar(mean: f64, sd: f64, q: [f64; 3]) -> ScalarSummary {
    ScalarSummary {
        mean,
        sd,
        median: q[1],
        ci95: [q[0], q[2]],
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

/// The marginal posterior of μ for its quantiles: each node's mass spread evenly over its cell
/// of the row's μ rule (the histogram of the rule), plus the all-non-exchangeable component's
/// prior.
struct MuMarginal<'a> {
    fit: &'a BorrowWorkspace,
}

impl MuMarginal<'_> {
    fn cdf_and_density(&self, mu: f64) -> (f64, f64) {
        let (mut cdf, mut density) = (0.0, 0.0);
        for (node, &weight) in self.fit.node_weight.iter().enumerate() {
            {
                if weight <= NEGLIGIBLE {
                    continue;
                }
                let (lo, hi) = self.fit.node_cell[node];
                let width = hi - lo;
                let position = (mu - lo) / width;
                if position >= 1.0 {
                    cdf += weight;
                } else if position > 0.0 {
                    cdf += weight * position;
                    density += weight / width;
                }
            }
        }
        if self.fit.all_nex > 0.0 {
            let (m, s) = self.fit.mu_prior;
            let (f, phi) = NormalTable::get().cdf((mu - m) / s);
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
    /// The Gauss–Legendre points of each panel.
    points: [usize; TAU_PANELS],
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

    fn nodes_cdf(&self, tau: f64) -> (f64, f64) {
        let mut cdf = 0.0;
        for panel in 0..TAU_PANELS {
            let points = self.points[panel];
            let (nodes, weights) = legendre_rule(points);
            let range = PANEL_FIRST[panel]..PANEL_FIRST[panel + 1];
            let half = self.weights[range.start] / weights[0];
            let mid = self.nodes[range.start] - half * nodes[0];
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
            let mut a = [0.0; 8];
            for (k, &x) in nodes.iter().enumerate() {
                let p = legendre_all(x);
                for (m, am) in a.iter_mut().enumerate().take(points) {
                    *am += self.rows[range.start + k] * p[m];
                }
            }
            for (m, am) in a.iter_mut().enumerate().take(points) {
                *am *= (2.0 * m as f64 + 1.0) / 2.0;
            }
            let v = (tau - mid) / half;
            let p = legendre_all(v);
            let mut partial = a[0] * (v + 1.0);
            let mut density = a[0];
            for m in 1..points {
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
