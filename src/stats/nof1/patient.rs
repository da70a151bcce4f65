//! One patient's n-of-1 analysis: the posterior of every contrast "treatment k minus treatment
//! 0", exact Student-t with independent errors, a Student-t mixture over the quadrature nodes of
//! ρ with AR(1) errors; and the effect posterior's density, CDF and quantiles.
//!
//! Measurements in, posteriors out: nothing here knows schedules, periods or washouts (callers
//! select the measurements), and the regression at one ρ is [`super::regression`]'s.

use super::mixture::{interval95, TMixture};
use super::panels::{base_edges, evaluate_panels, negligible_below, refine_edges};
use super::regression::{CentredPrior, Gaps, Regression};
use super::types::{
    finite_mcid, EffectOptions, EffectPosterior, Nof1Observation, Nof1Prior, TComponent,
};
use crate::stats::roots::{quantile, Continuous};
use crate::stats::{positive, Better, StatsError};

/// Geometric halvings of the two end panels of ρ's grid (down to 1 − |ρ| ≈ 10⁻¹⁰), which
/// resolve the vague prior's feature at 1 − ρ ≈ κ₀.
const RHO_END_GRADING: usize = 12;

const SINGULAR: StatsError =
    StatsError::Observation("the treatments cannot be separated by these data (singular design)");

/// The conditional posterior at one node: its log weight and each contrast's (loc, scale).
#[derive(Debug, Clone, Copy)]
struct Node {
    log_weight: f64,
    theta: f64,
    rho: f64,
    df: f64,
    first: usize,
}

fn validate_prior(prior: &Nof1Prior) -> Result<(), StatsError> {
    if let Nof1Prior::NormalInverseGamma(p) = prior {
        if !p.mu0.is_finite() {
            return Err(StatsError::Parameter {
                name: "mu0",
                value: p.mu0,
            });
        }
        positive("kappa0", p.kappa0)?;
        positive("alpha0", p.alpha0)?;
        positive("beta0", p.beta0)?;
    }
    Ok(())
}

/// The posterior of every contrast "treatment k minus treatment 0", k = 1 … K−1, from one
/// patient's measurements.
///
/// Independent errors give a Student-t posterior for each contrast (exact; it does not depend on
/// the order of `obs`). With `opts.ar1`, the errors follow a stationary AR(1) process in study
/// days (a gap of g days multiplies the correlation by ρ^g), the likelihood is the exact one
/// (the first observation from the stationary distribution), ρ ~ Uniform(−1, 1), and ρ is
/// integrated out by Gauss–Legendre quadrature on ρ = sin θ; `obs` are then sorted by day, and
/// two observations on the same day are an error (average them first).
///
/// Errors: fewer than 2 treatments, a treatment index ≥ `treatments`, a day of 0, a non-finite
/// value, an invalid prior or MCID; with the flat prior also a treatment without observations,
/// no more observations than treatments, or no residual variation.
pub fn analyse_patient(
    obs: &[Nof1Observation],
    treatments: usize,
    prior: &Nof1Prior,
    opts: &EffectOptions,
) -> Result<Vec<EffectPosterior>, StatsError> {
    if treatments < 2 {
        return Err(StatsError::Treatments { got: treatments });
    }
    finite_mcid(opts.mcid)?;
    validate_prior(prior)?;
    let mut counts = vec![0_u32; treatments];
    for o in obs {
        if o.treatment >= treatments {
            return Err(StatsError::TreatmentIndex {
                index: o.treatment,
                treatments,
            });
        }
        if !o.value.is_finite() {
            return Err(StatsError::Observation("a measurement must be finite"));
        }
        if o.day == 0 {
            return Err(StatsError::Observation("study days count from 1"));
        }
        counts[o.treatment] += 1;
    }
    if let Nof1Prior::Flat = prior {
        if let Some(t) = counts.iter().position(|&c| c == 0) {
            return Err(StatsError::Unobserved { treatment: t });
        }
        if obs.len() <= treatments {
            return Err(StatsError::TooFewObservations {
                got: obs.len(),
                needed: treatments + 1,
            });
        }
    }
    // Centre the values: the model is invariant under a common shift of the values and mu0.
    let centre = if obs.is_empty() {
        0.0
    } else {
        obs.iter().map(|o| o.value).sum::<f64>() / obs.len() as f64
    };
    let centred = match *prior {
        Nof1Prior::Flat => CentredPrior::Flat,
        Nof1Prior::NormalInverseGamma(p) => CentredPrior::Nig {
            mu0: p.mu0 - centre,
            kappa0: p.kappa0,
            alpha0: p.alpha0,
            beta0: p.beta0,
        },
    };
    let mut data: Vec<(usize, u32, f64)> = obs
        .iter()
        .map(|o| (o.treatment, o.day, o.value - centre))
        .collect();
    let mut regression = Regression::new(treatments, data.len());
    let contrasts = treatments - 1;

    if !opts.ar1 {
        regression.build_rows(&data);
        let fit = regression.fit(centred, 0.0)?.ok_or(SINGULAR)?;
        let mut out = Vec::with_capacity(contrasts);
        for t in 1..treatments {
            let (loc, var) = regression.contrast(t);
            let component = TComponent {
                weight: 1.0,
                df: 2.0 * fit.a_n,
                loc,
                scale: (fit.b_n / fit.a_n * var).sqrt(),
            };
            out.push(summarise_effect(t, vec![component], None, &counts, opts));
        }
        return Ok(out);
    }

    data.sort_by_key(|&(_, day, _)| day);
    if let Some(pair) = data.windows(2).find(|p| p[0].1 == p[1].1) {
        return Err(StatsError::SameDay { day: pair[0].1 });
    }
    let half_pi = std::f64::consts::FRAC_PI_2;
    let mut gaps = Gaps::new(&data);
    // Contrast locations and scales of every node, indexed by `Node::first`; never cleared, so
    // nodes copied from the first pass keep valid indices.
    let mut params: Vec<(f64, f64)> = Vec::new();
    let mut evaluate = |edges: &[f64], old_edges: &[f64], old: &[Node]| {
        evaluate_panels(edges, old_edges, old, |theta, weight| {
            let log_jacobian = regression.build_ar_rows(&data, &mut gaps, theta);
            let first = params.len();
            // A node where the design is singular to rounding (the very ends of ρ's range, for
            // some designs) carries no weight that double precision could resolve.
            let Some(fit) = regression.fit(centred, log_jacobian)? else {
                return Ok(Node {
                    log_weight: f64::NEG_INFINITY,
                    theta,
                    rho: theta.sin(),
                    df: 1.0,
                    first,
                });
            };
            for t in 1..treatments {
                let (loc, var) = regression.contrast(t);
                params.push((loc, (fit.b_n / fit.a_n * var).sqrt()));
            }
            Ok(Node {
                // dρ = cos θ dθ; the prior density of ρ is constant.
                log_weight: fit.log_weight + weight.ln() + theta.cos().ln(),
                theta,
                rho: theta.sin(),
                df: 2.0 * fit.a_n,
                first,
            })
        })
    };
    let base = base_edges(-half_pi, half_pi, RHO_END_GRADING);
    let mut nodes = evaluate(&base, &[], &[])?;
    if nodes.iter().all(|n| n.log_weight == f64::NEG_INFINITY) {
        return Err(SINGULAR);
    }
    let (centre_theta, sd_theta) = node_moments(&nodes, |n| n.theta);
    let mut edges = base.clone();
    if refine_edges(&mut edges, -half_pi, half_pi, centre_theta, sd_theta) {
        nodes = evaluate(&edges, &base, &nodes)?;
    }
    let weights = normalised_weights(&nodes);
    let rho_mean: f64 = nodes.iter().zip(&weights).map(|(n, w)| w * n.rho).sum();
    let cutoff = negligible_below(&weights);
    let mut out = Vec::with_capacity(contrasts);
    for t in 1..treatments {
        let components: Vec<TComponent> = nodes
            .iter()
            .zip(&weights)
            .filter(|(_, &w)| w >= cutoff && w > 0.0)
            .map(|(n, &w)| {
                let (loc, scale) = params[n.first + t - 1];
                TComponent {
                    weight: w,
                    df: n.df,
                    loc,
                    scale,
                }
            })
            .collect();
        let total: f64 = components.iter().map(|c| c.weight).sum();
        let components = components
            .into_iter()
            .map(|c| TComponent {
                weight: c.weight / total,
                ..c
            })
            .collect();
        out.push(summarise_effect(
            t,
            components,
            Some(rho_mean),
            &counts,
            opts,
        ));
    }
    Ok(out)
}

/// Normalised weights exp(log_weight − max) / Σ.
fn normalised_weights(nodes: &[Node]) -> Vec<f64> {
    let max = nodes
        .iter()
        .map(|n| n.log_weight)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut weights: Vec<f64> = nodes.iter().map(|n| (n.log_weight - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    weights
}

/// Posterior mean and SD of `f(node)` under the nodes' weights.
fn node_moments(nodes: &[Node], f: impl Fn(&Node) -> f64) -> (f64, f64) {
    let weights = normalised_weights(nodes);
    let mean: f64 = nodes.iter().zip(&weights).map(|(n, w)| w * f(n)).sum();
    let var: f64 = nodes
        .iter()
        .zip(&weights)
        .map(|(n, w)| w * (f(n) - mean).powi(2))
        .sum();
    (mean, var.sqrt())
}

fn summarise_effect(
    treatment: usize,
    components: Vec<TComponent>,
    rho: Option<f64>,
    counts: &[u32],
    opts: &EffectOptions,
) -> EffectPosterior {
    let mixture = TMixture::new(&components);
    let mean: f64 = components.iter().map(|c| c.weight * c.loc).sum();
    let sd = if components.iter().all(|c| c.df > 2.0) {
        components
            .iter()
            .map(|c| c.weight * (c.scale * c.scale * c.df / (c.df - 2.0) + (c.loc - mean).powi(2)))
            .sum::<f64>()
            .sqrt()
    } else {
        f64::INFINITY
    };
    let spread = components.iter().map(|c| c.scale).fold(0.0, f64::max);
    let ci95 = interval95(&mixture, mean, sd, spread);
    let (p_positive, p_beyond_mcid, p_within_mcid) = probabilities(
        |x| mixture.cdf(x),
        |x| mixture.sf(x),
        opts.mcid,
        opts.better,
    );
    EffectPosterior {
        treatment,
        mean,
        sd,
        ci95,
        p_positive,
        p_beyond_mcid,
        p_within_mcid,
        rho,
        n: counts.to_vec(),
        components,
    }
}

impl EffectPosterior {
    /// The posterior density of the effect at `x`.
    pub fn density(&self, x: f64) -> f64 {
        TMixture::new(&self.components).density(x)
    }

    /// The posterior CDF of the effect at `x`.
    pub fn cdf(&self, x: f64) -> f64 {
        TMixture::new(&self.components).cdf(x)
    }

    /// The p-quantile of the effect's posterior, 0 < p < 1.
    pub fn quantile(&self, p: f64) -> Result<f64, StatsError> {
        if !(p > 0.0 && p < 1.0) {
            return Err(StatsError::Probability { value: p });
        }
        let spread = self.components.iter().map(|c| c.scale).fold(0.0, f64::max);
        Ok(quantile(
            &TMixture::new(&self.components),
            p,
            self.mean,
            spread,
        ))
    }
}

/// Probabilities of a posterior relative to 0 and the MCID.
fn probabilities(
    cdf: impl Fn(f64) -> f64,
    sf: impl Fn(f64) -> f64,
    mcid: f64,
    better: Better,
) -> (f64, f64, f64) {
    let clamp = |p: f64| p.clamp(0.0, 1.0);
    let p_positive = clamp(sf(0.0));
    let p_beyond = clamp(match better {
        Better::Higher => sf(mcid),
        Better::Lower => cdf(-mcid),
    });
    let p_within = if mcid > 0.0 {
        clamp(cdf(mcid) - cdf(-mcid))
    } else {
        0.0
    };
    (p_positive, p_beyond, p_within)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::special::t_cdf;
    use crate::stats::NigPrior;

    fn obs(treatment: usize, day: u32, value: f64) -> Nof1Observation {
        Nof1Observation {
            treatment,
            day,
            value,
        }
    }

    const IID: EffectOptions = EffectOptions {
        mcid: 0.5,
        better: Better::Higher,
        ar1: false,
    };
    #[test]
    fn flat_prior_gives_the_pooled_variance_t() -> Result<(), StatsError> {
        let data = [
            obs(0, 1, 3.0),
            obs(0, 2, 4.5),
            obs(0, 3, 2.0),
            obs(1, 4, 6.0),
            obs(1, 5, 5.5),
        ];
        let result = analyse_patient(&data, 2, &Nof1Prior::Flat, &IID)?;
        let e = &result[0];
        let (m0, m1): (f64, f64) = (9.5 / 3.0, 5.75);
        let ss = (3.0 - m0).powi(2) + (4.5 - m0).powi(2) + (2.0 - m0).powi(2) + 0.125;
        let sp2 = ss / 3.0;
        let c = &e.components[0];
        assert!((c.df - 3.0).abs() < 1e-12);
        assert!((c.loc - (m1 - m0)).abs() < 1e-12);
        assert!((c.scale - (sp2 * (1.0 / 2.0 + 1.0 / 3.0)).sqrt()).abs() < 1e-12);
        assert!((e.mean - (m1 - m0)).abs() < 1e-12);
        assert!((e.sd - c.scale * 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(e.n, vec![3, 2]);
        assert!((e.cdf(e.ci95.0) - 0.025).abs() < 1e-12);
        assert!((e.cdf(e.ci95.1) - 0.975).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn nig_prior_matches_the_conjugate_model() -> Result<(), StatsError> {
        use crate::stats::{ConjugateModel, Observation};
        let prior = NigPrior {
            mu0: 1.0,
            kappa0: 2.0,
            alpha0: 3.0,
            beta0: 4.0,
        };
        // With one treatment observed only, the other keeps its prior; check treatment 0 alone
        // through the shared σ²: the t-scale of μ₁ − μ₀ is √(β/α · (1/κ₀ₙ + 1/κ₁ₙ)).
        let a = [2.0, 3.5, -1.0, 0.25];
        let b = [1.5, 2.25];
        let mut data: Vec<Nof1Observation> = a.iter().map(|&v| obs(0, 1, v)).collect();
        data.extend(b.iter().map(|&v| obs(1, 2, v)));
        let result = analyse_patient(&data, 2, &Nof1Prior::NormalInverseGamma(prior), &IID)?;
        let mut m0 = ConjugateModel::normal(prior)?;
        let mut m1 = ConjugateModel::normal(prior)?;
        for v in a {
            m0.observe(Observation::Continuous(v))?;
        }
        for v in b {
            m1.observe(Observation::Continuous(v))?;
        }
        let p0 = m0.nig_posterior().ok_or(StatsError::NoArms)?;
        let p1 = m1.nig_posterior().ok_or(StatsError::NoArms)?;
        // Shared σ²: α = α₀ + n/2, β = β₀ + Σ (βₖ − β₀).
        let alpha = prior.alpha0 + 3.0;
        let beta = prior.beta0 + (p0.beta - prior.beta0) + (p1.beta - prior.beta0);
        let c = &result[0].components[0];
        assert!((c.df - 2.0 * alpha).abs() < 1e-12);
        assert!((c.loc - (p1.mu - p0.mu)).abs() < 1e-12);
        let scale = (beta / alpha * (1.0 / p0.kappa + 1.0 / p1.kappa)).sqrt();
        assert!((c.scale - scale).abs() < 1e-12, "{} vs {scale}", c.scale);
        Ok(())
    }

    #[test]
    fn ar1_near_independence_agrees_with_iid_on_white_noise() -> Result<(), StatsError> {
        // Alternating treatments, no autocorrelation built in: ρ's posterior centres near 0 and
        // the effect moves little.
        let values = [
            0.3, 1.2, -0.4, 0.9, 0.1, 1.6, -0.2, 0.7, 0.5, 1.1, -0.6, 1.4, 0.0, 0.8, 0.2, 1.3,
        ];
        let data: Vec<Nof1Observation> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| obs(i % 2, i as u32 + 1, v))
            .collect();
        let iid = analyse_patient(&data, 2, &Nof1Prior::Flat, &IID)?;
        let ar = analyse_patient(
            &data,
            2,
            &Nof1Prior::Flat,
            &EffectOptions { ar1: true, ..IID },
        )?;
        let rho = ar[0].rho.ok_or(StatsError::NoArms)?;
        assert!(rho.abs() < 0.4, "rho {rho}");
        assert!((ar[0].mean - iid[0].mean).abs() < 0.5 * iid[0].sd);
        let total: f64 = ar[0].components.iter().map(|c| c.weight).sum();
        assert!((total - 1.0).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn ar1_quadrature_agrees_with_a_finer_rule() -> Result<(), StatsError> {
        let values = [
            1.0, 1.4, 1.9, 2.6, 2.2, 1.7, 1.1, 0.6, 0.9, 1.5, 2.4, 3.1, 2.8, 2.0, 1.3, 1.0, 1.6,
            2.3,
        ];
        let data: Vec<Nof1Observation> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| obs((i / 3) % 2, 2 * i as u32 + 1 + (i as u32 / 6), v))
            .collect();
        let opts = EffectOptions { ar1: true, ..IID };
        let prior = Nof1Prior::NormalInverseGamma(NigPrior {
            mu0: 0.0,
            kappa0: 1e-4,
            alpha0: 1e-3,
            beta0: 1e-3,
        });
        let coarse = analyse_patient(&data, 2, &prior, &opts)?;
        // A brute-force rule: 4000 midpoint panels in θ with the same 8-point rule.
        let edges: Vec<f64> = (0..=4000)
            .map(|i| -std::f64::consts::FRAC_PI_2 + std::f64::consts::PI * f64::from(i) / 4000.0)
            .collect();
        let centre = values.iter().sum::<f64>() / values.len() as f64;
        let mut sorted: Vec<(usize, u32, f64)> = data
            .iter()
            .map(|o| (o.treatment, o.day, o.value - centre))
            .collect();
        sorted.sort_by_key(|r| r.1);
        let centred = CentredPrior::Nig {
            mu0: -centre,
            kappa0: 1e-4,
            alpha0: 1e-3,
            beta0: 1e-3,
        };
        let mut regression = Regression::new(2, sorted.len());
        let mut gaps = Gaps::new(&sorted);
        let parts = evaluate_panels(&edges, &[], &[], |theta, weight| {
            let jac = regression.build_ar_rows(&sorted, &mut gaps, theta);
            let fit = regression.fit(centred, jac)?.ok_or(SINGULAR)?;
            let (loc, var) = regression.contrast(1);
            Ok((
                fit.log_weight + weight.ln() + theta.cos().ln(),
                loc,
                (fit.b_n / fit.a_n * var).sqrt(),
                2.0 * fit.a_n,
            ))
        })?;
        let max = parts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = parts.iter().map(|p| (p.0 - max).exp()).sum();
        let mean: f64 = parts.iter().map(|p| (p.0 - max).exp() * p.1).sum::<f64>() / total;
        let p_pos: f64 = parts
            .iter()
            .map(|p| (p.0 - max).exp() * t_cdf(p.3, p.1 / p.2))
            .sum::<f64>()
            / total;
        assert!(
            (coarse[0].mean - mean).abs() < 1e-9,
            "{} vs {mean}",
            coarse[0].mean
        );
        assert!((coarse[0].p_positive - p_pos).abs() < 1e-9);
        Ok(())
    }
    #[test]
    fn invalid_patient_inputs_are_rejected() {
        let prior = Nof1Prior::Flat;
        assert!(matches!(
            analyse_patient(&[obs(0, 1, 1.0)], 1, &prior, &IID),
            Err(StatsError::Treatments { got: 1 })
        ));
        assert!(matches!(
            analyse_patient(&[obs(2, 1, 1.0)], 2, &prior, &IID),
            Err(StatsError::TreatmentIndex { .. })
        ));
        assert!(matches!(
            analyse_patient(
                &[obs(0, 1, 1.0), obs(0, 2, 2.0), obs(0, 3, 2.5)],
                2,
                &prior,
                &IID
            ),
            Err(StatsError::Unobserved { treatment: 1 })
        ));
        assert!(matches!(
            analyse_patient(&[obs(0, 1, 1.0), obs(1, 2, 2.0)], 2, &prior, &IID),
            Err(StatsError::TooFewObservations { .. })
        ));
        let same_day = [
            obs(0, 1, 1.0),
            obs(1, 1, 2.0),
            obs(0, 2, 1.5),
            obs(1, 3, 2.5),
        ];
        assert!(matches!(
            analyse_patient(&same_day, 2, &prior, &EffectOptions { ar1: true, ..IID }),
            Err(StatsError::SameDay { day: 1 })
        ));
    }
}
