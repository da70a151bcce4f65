//! The hierarchical model of a series of n-of-1 trials: the patients' effects pooled with a
//! half-Cauchy prior on the between-patient SD τ, integrated out by quadrature, and the
//! empirical-Bayes fit (argmin's Brent minimiser) for comparison.
//!
//! Patients' effect summaries in, the series posterior out: nothing here looks at a patient's
//! measurements (that is [`super::patient`]'s) or at the design of the series.

use argmin::core::{CostFunction, Executor, State, TerminationReason};
use argmin::solver::brent::BrentOpt;
use std::cell::RefCell;
use std::sync::OnceLock;

use super::mixture::NormalMixture;
use super::panels::{
    base_edges, evaluate_panels, negligible_below, refine_edges, GL_NODES, GL_WEIGHTS,
};
use super::types::{
    finite_mcid, EmpiricalBayes, PatientEffect, PopulationEffect, SeriesOptions, SeriesPosterior,
    ShrunkenEffect, TauSummary,
};
use crate::stats::log_sum::LogSum;
use crate::stats::roots::solve_monotone;
use crate::stats::{positive, StatsError};

/// Geometric halvings of the two end panels of τ's grid, which resolve a half-Cauchy scale far
/// from the data's (τ from about 10⁻⁷ to 10⁷ times the scale).
const TAU_END_GRADING: usize = 20;

/// μ̂(τ), V_μ(τ) and the restricted log-likelihood (without its −(J−1)/2·ln 2π) at τ², for
/// the empirical-Bayes fit: one logarithm per patient, as the fit has always computed it, so
/// that Brent's path and the boundary decision ℓ(0) ≥ ℓ(τ̂), which hinge on the last digits of
/// ℓ where it is flat, stay reproducible.
fn tau_conditional(patients: &[PatientEffect], tau2: f64) -> (f64, f64, f64) {
    let (mut precision, mut weighted) = (0.0, 0.0);
    for p in patients {
        let v = p.sd * p.sd + tau2;
        precision += 1.0 / v;
        weighted += p.mean / v;
    }
    let mu_hat = weighted / precision;
    let v_mu = 1.0 / precision;
    let mut log_lik = 0.5 * v_mu.ln();
    for p in patients {
        let v = p.sd * p.sd + tau2;
        let r = p.mean - mu_hat;
        log_lik -= 0.5 * (v.ln() + r * r / v);
    }
    (mu_hat, v_mu, log_lik)
}

/// [`tau_conditional`] for the quadrature over τ (hundreds of nodes): the Σ ln(sᵢ² + τ²) by
/// [`LogSum`], one logarithm per node instead of one per patient and node, and each
/// 1/(sᵢ² + τ²) computed once (into `inverse`). The two agree to about J × 10⁻¹⁶.
fn node_conditional(
    patients: &[PatientEffect],
    tau2: f64,
    inverse: &mut Vec<f64>,
) -> (f64, f64, f64) {
    inverse.resize(patients.len(), 0.0);
    let inverse = &mut inverse[..patients.len()];
    let (mut precision, mut weighted) = (0.0, 0.0);
    let mut log_v = LogSum::new();
    for (p, inv) in patients.iter().zip(inverse.iter_mut()) {
        let v = p.sd * p.sd + tau2;
        *inv = 1.0 / v;
        precision += *inv;
        weighted += p.mean * *inv;
        log_v.add(v);
    }
    let mu_hat = weighted / precision;
    let mut quadratic = 0.0;
    for (p, &inv) in patients.iter().zip(inverse.iter()) {
        let r = p.mean - mu_hat;
        quadratic += r * r * inv;
    }
    // ½ ln V_μ − ½ Σ ln vᵢ = −½ ln(Π vᵢ / V_μ): V_μ = 1/precision joins the product.
    log_v.add(precision);
    (mu_hat, 1.0 / precision, -0.5 * (log_v.value() + quadratic))
}

/// The base panels of the quadrature over φ = atan(τ/tau_scale) ∈ (0, π/2), the same for every
/// series: the panel edges and each node's (φ, tan φ, weight), computed once per process.
struct TauGrid {
    edges: Vec<f64>,
    nodes: Vec<(f64, f64, f64)>,
}

static TAU_GRID: OnceLock<TauGrid> = OnceLock::new();

impl TauGrid {
    fn get() -> &'static Self {
        TAU_GRID.get_or_init(|| {
            let edges = base_edges(0.0, std::f64::consts::FRAC_PI_2, TAU_END_GRADING);
            let nodes =
                evaluate_panels(&edges, &[], &[], |phi, weight| Ok((phi, phi.tan(), weight)))
                    .unwrap_or_default();
            Self { edges, nodes }
        })
    }
}

/// One quadrature node over φ = atan(τ / tau_scale).
#[derive(Debug, Clone, Copy)]
struct TauNode {
    phi: f64,
    tau: f64,
    mu_hat: f64,
    v_mu: f64,
    /// The restricted log-likelihood at τ (the posterior's log density on φ, up to a constant).
    log_lik: f64,
    /// The quadrature weight.
    weight: f64,
}

/// The posterior of a series of n-of-1 trials under the normal-normal hierarchical model:
/// dᵢ ~ N(θᵢ, sᵢ²), θᵢ ~ N(μ, τ²), μ flat, τ ~ half-Cauchy(0, tau_scale), where dᵢ and sᵢ are
/// patient i's effect mean and SD. τ is integrated out by Gauss–Legendre quadrature on
/// φ = atan(τ/tau_scale) ∈ (0, π/2), on which the prior is uniform; given τ, μ and each θᵢ are
/// normal. One patient is allowed (τ's posterior is then its prior).
///
/// μ and every θᵢ are mixtures of normals over the nodes of τ, summarised by
/// [`NormalMixture`]: negligible weights dropped, near-identical neighbours merged, each end of
/// the interval by a certified Taylor step from a Cornish–Fisher guess (usually one evaluation
/// of the mixture), both probabilities in one more pass.
pub fn pool_series(
    patients: &[PatientEffect],
    opts: &SeriesOptions,
) -> Result<SeriesPosterior, StatsError> {
    if patients.is_empty() {
        return Err(StatsError::NoArms);
    }
    finite_mcid(opts.mcid)?;
    let scale = positive("tau_scale", opts.tau_scale)?;
    for p in patients {
        if !p.mean.is_finite() {
            return Err(StatsError::Parameter {
                name: "patient effect mean",
                value: p.mean,
            });
        }
        positive("patient effect sd", p.sd)?;
    }
    let count = patients.len();
    let half_pi = std::f64::consts::FRAC_PI_2;
    let mut inverse = Vec::with_capacity(count);
    let mut node = |phi: f64, tan_phi: f64, weight: f64| {
        let tau = scale * tan_phi;
        let (mu_hat, v_mu, log_lik) = node_conditional(patients, tau * tau, &mut inverse);
        TauNode {
            phi,
            tau,
            mu_hat,
            v_mu,
            log_lik,
            weight,
        }
    };
    let grid = TauGrid::get();
    let base = &grid.edges;
    let mut nodes: Vec<TauNode> = grid
        .nodes
        .iter()
        .map(|&(phi, tan_phi, weight)| node(phi, tan_phi, weight))
        .collect();
    let (mut weights, mut log_lik_max, mut total_weight) = tau_weights(&nodes);
    let phi_mean: f64 = nodes.iter().zip(&weights).map(|(n, w)| w * n.phi).sum();
    let phi_sd = nodes
        .iter()
        .zip(&weights)
        .map(|(n, w)| w * (n.phi - phi_mean).powi(2))
        .sum::<f64>()
        .sqrt();
    let mut edges = base.clone();
    if refine_edges(&mut edges, 0.0, half_pi, phi_mean, phi_sd) {
        nodes = evaluate_panels(&edges, base, &nodes, |phi, weight| {
            Ok(node(phi, phi.tan(), weight))
        })?;
        (weights, log_lik_max, total_weight) = tau_weights(&nodes);
    }
    // The mixtures, whose CDFs are evaluated several times, use the kept nodes (negligible
    // weights dropped, the rest renormalised); their moments use every node (the tails of τ
    // matter for them).
    let cutoff = negligible_below(&weights);
    let kept: Vec<usize> = (0..nodes.len())
        .filter(|&i| weights[i] >= cutoff && weights[i] > 0.0)
        .collect();
    let total: f64 = kept.iter().map(|&i| weights[i]).sum();
    let kept_weights: Vec<f64> = kept.iter().map(|&i| weights[i] / total).collect();
    let mut mixture = NormalMixture::default();
    // Each node's component (mean, variance), for μ and then for each θᵢ in turn.
    let mut means = vec![0.0; nodes.len()];
    let mut variances = vec![0.0; nodes.len()];
    let mut summarise = |means: &[f64], variances: &[f64]| {
        let mean: f64 = weights.iter().zip(means).map(|(w, m)| w * m).sum();
        let variance: f64 = weights
            .iter()
            .zip(means.iter().zip(variances))
            .map(|(w, (m, v))| w * (v + (m - mean) * (m - mean)))
            .sum();
        mixture.clear();
        for (&i, &w) in kept.iter().zip(&kept_weights) {
            mixture.push(w, means[i], variances[i].sqrt());
        }
        mixture.finish();
        let ci95 = mixture.interval95();
        let (p_positive, p_beyond_mcid) = mixture.probabilities(opts.mcid, opts.better);
        (mean, variance.sqrt(), ci95, p_positive, p_beyond_mcid)
    };

    // μ: a mixture of N(μ̂(τ), V_μ(τ)).
    for (i, n) in nodes.iter().enumerate() {
        means[i] = n.mu_hat;
        variances[i] = n.v_mu;
    }
    let population = {
        let (mean, sd, ci95, p_positive, p_beyond_mcid) = summarise(&means, &variances);
        PopulationEffect {
            mean,
            sd: if count >= 3 { sd } else { f64::INFINITY },
            ci95,
            p_positive,
            p_beyond_mcid,
        }
    };

    // θᵢ: a mixture of N(Bμ̂ + (1 − B)dᵢ, s²τ²/(s² + τ²) + B²V_μ), B = s²/(s² + τ²),
    // 1 − B = τ²/(s² + τ²) (exact where τ ≪ s).
    let mut shrunken = Vec::with_capacity(count);
    for p in patients {
        let s2 = p.sd * p.sd;
        for (i, n) in nodes.iter().enumerate() {
            let tau2 = n.tau * n.tau;
            let inv = 1.0 / (s2 + tau2);
            let b = s2 * inv;
            means[i] = b * n.mu_hat + tau2 * inv * p.mean;
            variances[i] = s2 * tau2 * inv + b * b * n.v_mu;
        }
        let (mean, sd, ci95, p_positive, p_beyond_mcid) = summarise(&means, &variances);
        shrunken.push(ShrunkenEffect {
            mean,
            sd,
            ci95,
            p_positive,
            p_beyond_mcid,
        });
    }

    // τ: its posterior over φ, integrated panel by panel.
    let tau = {
        let mean = if count >= 2 {
            nodes.iter().zip(&weights).map(|(n, w)| w * n.tau).sum()
        } else {
            f64::INFINITY
        };
        // p(φ | d) on the scale of the normalised weights.
        let inverse = RefCell::new(Vec::with_capacity(count));
        let density = |phi: f64| {
            let tau = scale * phi.tan();
            let (_, _, log_lik) = node_conditional(patients, tau * tau, &mut inverse.borrow_mut());
            (log_lik - log_lik_max).exp() / total_weight
        };
        // Mass per panel, in the order of `edges` (8 nodes per panel, as evaluated).
        let masses: Vec<f64> = weights
            .chunks(GL_NODES.len())
            .map(|panel| panel.iter().sum())
            .collect();
        let z: f64 = masses.iter().sum();
        let quantile_phi = |p: f64| {
            let target = p * z;
            let mut below = 0.0;
            for (i, &mass) in masses.iter().enumerate() {
                if below + mass >= target || i + 1 == masses.len() {
                    let (a, b) = (edges[i], edges[i + 1]);
                    let cdf = |x: f64| {
                        let half = 0.5 * (x - a);
                        let mid = 0.5 * (x + a);
                        let inner: f64 = GL_NODES
                            .iter()
                            .zip(GL_WEIGHTS)
                            .map(|(u, w)| half * w * density(mid + half * u))
                            .sum();
                        below + inner - target
                    };
                    // Newton from where the panel's mass, spread evenly, would put the quantile.
                    let share = if mass > 0.0 {
                        ((target - below) / mass).clamp(0.0, 1.0)
                    } else {
                        0.5
                    };
                    return solve_monotone(cdf, density, a, b, a + share * (b - a));
                }
                below += mass;
            }
            half_pi
        };
        let median = scale * quantile_phi(0.5).tan();
        let ci95 = (
            scale * quantile_phi(0.025).tan(),
            scale * quantile_phi(0.975).tan(),
        );
        TauSummary { mean, median, ci95 }
    };

    let empirical_bayes = empirical_bayes(patients);
    Ok(SeriesPosterior {
        population,
        tau,
        shrunken,
        empirical_bayes,
    })
}

/// Normalised weights of the τ nodes, weight·exp(log_lik − max)/Σ, with the max and the Σ.
fn tau_weights(nodes: &[TauNode]) -> (Vec<f64>, f64, f64) {
    let max = nodes
        .iter()
        .map(|n| n.log_lik)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut weights: Vec<f64> = nodes
        .iter()
        .map(|n| n.weight * (n.log_lik - max).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    (weights, max, total)
}

/// −ℓ(τ) for Brent's method, τ = x · unit.
struct NegativeRestricted<'a> {
    patients: &'a [PatientEffect],
    unit: f64,
}

impl CostFunction for NegativeRestricted<'_> {
    type Param = f64;
    type Output = f64;

    fn cost(&self, x: &f64) -> Result<f64, argmin::core::Error> {
        let tau = x * self.unit;
        Ok(-tau_conditional(self.patients, tau * tau).2)
    }
}

/// The empirical-Bayes fit (see [`EmpiricalBayes`]).
fn empirical_bayes(patients: &[PatientEffect]) -> EmpiricalBayes {
    let count = patients.len();
    let constant = -0.5 * (count as f64 - 1.0) * (2.0 * std::f64::consts::PI).ln();
    let at = |tau: f64, iterations: u64, converged: bool| {
        let (mu_hat, v_mu, log_lik) = tau_conditional(patients, tau * tau);
        EmpiricalBayes {
            mu_hat,
            mu_sd: v_mu.sqrt(),
            tau_hat: tau,
            log_likelihood: log_lik + constant,
            iterations,
            converged,
            at_boundary: tau == 0.0,
        }
    };
    if count < 2 {
        return at(0.0, 0, false);
    }
    // A scale for the search: the larger of the spread of the effects and their typical SD.
    let n = count as f64;
    let mean = patients.iter().map(|p| p.mean).sum::<f64>() / n;
    let spread = (patients
        .iter()
        .map(|p| (p.mean - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let typical = (patients.iter().map(|p| p.sd * p.sd).sum::<f64>() / n).sqrt();
    let unit = spread.max(typical);
    // Grid 0 and unit·10^(g/8), g = −48 … 32, then Brent between the best point's neighbours.
    let grid: Vec<f64> = std::iter::once(0.0)
        .chain((-48..=32).map(|g| 10f64.powf(f64::from(g) / 8.0)))
        .collect();
    let values: Vec<f64> = grid
        .iter()
        .map(|x| tau_conditional(patients, (x * unit).powi(2)).2)
        .collect();
    let best = values
        .iter()
        .enumerate()
        .fold(0, |best, (i, v)| if *v > values[best] { i } else { best });
    if best + 1 == grid.len() {
        // Still rising at 10⁴ × the data's scale: report the grid's end, not converged.
        return at(grid[best] * unit, 0, false);
    }
    let lo = if best == 0 { 0.0 } else { grid[best - 1] };
    let hi = grid[best + 1];
    let problem = NegativeRestricted { patients, unit };
    let solver = BrentOpt::new(lo, hi).set_tolerance(1.5e-8, 1e-12);
    let result = Executor::new(problem, solver)
        .configure(|state| state.max_iters(200))
        .timer(false)
        .run();
    let Ok(result) = result else {
        return at(grid[best] * unit, 0, false);
    };
    let state = result.state();
    let iterations = state.get_iter();
    let converged = matches!(
        state.get_termination_reason(),
        Some(TerminationReason::SolverConverged)
    );
    let x = state.get_best_param().copied().unwrap_or(grid[best]);
    let interior = tau_conditional(patients, (x * unit).powi(2)).2;
    if values[0] >= interior {
        at(0.0, iterations, converged)
    } else {
        at(x * unit, iterations, converged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Better;

    #[test]
    fn node_likelihood_agrees_with_the_per_patient_logarithms() {
        let patients: Vec<PatientEffect> = [(0.3, 0.2), (1.1, 0.5), (-0.4, 1e-60), (2.0, 3e70)]
            .iter()
            .map(|&(mean, sd)| PatientEffect { mean, sd })
            .collect();
        let mut inverse = Vec::new();
        for tau2 in [0.0, 1e-12, 0.25, 4.0, 1e20] {
            let (m1, v1, l1) = tau_conditional(&patients, tau2);
            let (m2, v2, l2) = node_conditional(&patients, tau2, &mut inverse);
            assert!(
                (m1 - m2).abs() <= 1e-15 * m1.abs().max(1e-300),
                "{tau2}: {m1} vs {m2}"
            );
            assert!((v1 - v2).abs() <= 1e-15 * v1, "{tau2}: {v1} vs {v2}");
            assert!(
                (l1 - l2).abs() <= 1e-13 * l1.abs().max(1.0),
                "{tau2}: {l1} vs {l2}"
            );
        }
    }
    #[test]
    fn one_patient_series_keeps_the_patient_and_the_prior() -> Result<(), StatsError> {
        let opts = SeriesOptions {
            mcid: 0.0,
            better: Better::Higher,
            tau_scale: 1.0,
        };
        let s = pool_series(&[PatientEffect { mean: 0.8, sd: 0.5 }], &opts)?;
        // θ₁ | d is N(d, s²) whatever τ.
        assert!((s.shrunken[0].mean - 0.8).abs() < 1e-12);
        assert!((s.shrunken[0].sd - 0.5).abs() < 1e-9);
        // τ keeps its half-Cauchy(0, 1) prior: median 1, 97.5% quantile tan(0.975·π/2).
        assert!((s.tau.median - 1.0).abs() < 1e-9, "{}", s.tau.median);
        let q = (0.975 * std::f64::consts::FRAC_PI_2).tan();
        assert!(
            (s.tau.ci95.1 - q).abs() < 1e-7 * q,
            "{} vs {q}",
            s.tau.ci95.1
        );
        assert!(s.tau.mean.is_infinite() && s.population.sd.is_infinite());
        assert!(!s.empirical_bayes.converged);
        Ok(())
    }

    #[test]
    fn homogeneous_effects_put_tau_hat_on_the_boundary() -> Result<(), StatsError> {
        let patients: Vec<PatientEffect> = [1.0, 1.05, 0.97, 1.02]
            .iter()
            .map(|&mean| PatientEffect { mean, sd: 0.4 })
            .collect();
        let opts = SeriesOptions {
            mcid: 0.2,
            better: Better::Higher,
            tau_scale: 0.5,
        };
        let s = pool_series(&patients, &opts)?;
        assert!(s.empirical_bayes.at_boundary);
        assert_eq!(s.empirical_bayes.tau_hat, 0.0);
        assert!((s.empirical_bayes.mu_hat - 1.01).abs() < 1e-12);
        Ok(())
    }
    #[test]
    fn invalid_series_inputs_are_rejected() {
        assert!(pool_series(
            &[PatientEffect { mean: 1.0, sd: 0.0 }],
            &SeriesOptions {
                mcid: 0.0,
                better: Better::Higher,
                tau_scale: 1.0
            }
        )
        .is_err());
    }
}
