//! Effective sample sizes (ESS) of mixture priors: Beta mixtures for a binomial likelihood,
//! Gamma mixtures for a Poisson likelihood, and Normal mixtures for a normal likelihood with a
//! reference sampling SD σ, each by three methods, defined as RBesT defines them (its `ess`):
//!
//! - [`EssMethod::Elir`], the expected local-information ratio (Neuenschwander, Weber, Schmidli
//!   & O'Hagan 2020): the prior's information −(ln π)″ over the Fisher information of one
//!   observation, averaged over the prior;
//! - [`EssMethod::Moment`]: the conjugate prior with the mixture's mean and SD, and its ESS;
//! - [`EssMethod::Morita`] (Morita, Thall & Müller 2008, in the form of Neuenschwander et al.
//!   2020, eq. 9): the information of the prior at its mode, less that of a flattened prior
//!   (scale [`MORITA_SCALE`]), over the expected information of one observation.
//!
//! All integrals are deterministic quadrature (`legendre16`), on the logit scale for Beta, the
//! log scale for Gamma and the natural scale for Normal mixtures. Formulas: `METHODS.md`,
//! "Effective sample size and MAP priors".

use serde::Serialize;
use statrs::function::gamma::ln_gamma;

use super::mixture::Component;
use super::{legendre16, BetaPrior, GammaPrior, Mixture, StatsError};

/// The factor by which Morita's method flattens the prior (RBesT's `s = 100`).
pub const MORITA_SCALE: f64 = 100.0;

/// A normal component N(mean, sd²) of a normal mixture prior on a mean (RBesT's `normMix`
/// component: weight, mean, sd).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NormalComponent {
    /// Its mean.
    pub mean: f64,
    /// Its standard deviation, > 0.
    pub sd: f64,
}

impl Component for NormalComponent {
    const FAMILY: &'static str = "normal";
    fn check(&self) -> Result<(), StatsError> {
        if !self.mean.is_finite() {
            return Err(StatsError::Parameter {
                name: "mean",
                value: self.mean,
            });
        }
        super::positive("sd", self.sd).map(|_| ())
    }
}

/// How the effective sample size is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EssMethod {
    /// Expected local-information ratio (Neuenschwander et al. 2020); RBesT's default.
    #[default]
    Elir,
    /// Moment matching to one conjugate prior.
    Moment,
    /// Morita, Thall & Müller (2008), at the prior's mode.
    Morita,
}

impl EssMethod {
    /// The method's name as the command line and JSON spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Elir => "elir",
            Self::Moment => "moment",
            Self::Morita => "morita",
        }
    }
}

impl std::str::FromStr for EssMethod {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "elir" => Ok(Self::Elir),
            "moment" => Ok(Self::Moment),
            "morita" => Ok(Self::Morita),
            other => Err(format!(
                "{other:?} is not a method: use elir, moment or morita"
            )),
        }
    }
}

/// The log density of one component and its first two derivatives in x.
#[derive(Debug, Clone, Copy)]
struct Terms {
    ln_density: f64,
    gradient: f64,
    hessian: f64,
}

/// One family's components as the ESS numerics see them: a density on the natural scale x,
/// a working scale z (x = T(z)) for the integrals, and where each component lies on it.
trait Family {
    /// ln(weight × normalising constant) and the shape parameters of each component.
    fn prepared(&self) -> Vec<(f64, f64, f64)>;
    /// ln f(x) less the constant, and its derivatives, for parameters (p, q).
    fn terms(p: f64, q: f64, x: f64) -> Terms;
    /// x = T(z) and dx/dz.
    fn from_working(z: f64) -> (f64, f64);
    /// Each component's (centre, SD) on the working scale.
    fn scales(&self) -> Vec<(f64, f64)>;
}

impl Family for Mixture<BetaPrior> {
    fn prepared(&self) -> Vec<(f64, f64, f64)> {
        self.iter()
            .map(|(w, c)| {
                let ln_beta = ln_gamma(c.a) + ln_gamma(c.b) - ln_gamma(c.a + c.b);
                (w.ln() - ln_beta, c.a, c.b)
            })
            .collect()
    }
    fn terms(a: f64, b: f64, x: f64) -> Terms {
        let x = x.clamp(f64::EPSILON, 1.0 - f64::EPSILON);
        let y = 1.0 - x;
        Terms {
            ln_density: (a - 1.0) * x.ln() + (b - 1.0) * y.ln(),
            gradient: (a - 1.0) / x - (b - 1.0) / y,
            hessian: -(a - 1.0) / (x * x) - (b - 1.0) / (y * y),
        }
    }
    fn from_working(z: f64) -> (f64, f64) {
        let x = expit(z);
        (x, x * (1.0 - x))
    }
    fn scales(&self) -> Vec<(f64, f64)> {
        self.components()
            .iter()
            .map(|c| ((c.a / c.b).ln(), (1.0 / c.a + 1.0 / c.b).sqrt()))
            .collect()
    }
}

impl Family for Mixture<GammaPrior> {
    fn prepared(&self) -> Vec<(f64, f64, f64)> {
        self.iter()
            .map(|(w, c)| {
                (
                    w.ln() + c.shape * c.rate.ln() - ln_gamma(c.shape),
                    c.shape,
                    c.rate,
                )
            })
            .collect()
    }
    fn terms(a: f64, b: f64, x: f64) -> Terms {
        let x = x.max(f64::MIN_POSITIVE);
        Terms {
            ln_density: (a - 1.0) * x.ln() - b * x,
            gradient: (a - 1.0) / x - b,
            hessian: -(a - 1.0) / (x * x),
        }
    }
    fn from_working(z: f64) -> (f64, f64) {
        let x = z.exp();
        (x, x)
    }
    fn scales(&self) -> Vec<(f64, f64)> {
        self.components()
            .iter()
            .map(|c| ((c.shape / c.rate).ln(), 1.0 / c.shape.sqrt()))
            .collect()
    }
}

impl Family for Mixture<NormalComponent> {
    fn prepared(&self) -> Vec<(f64, f64, f64)> {
        self.iter()
            .map(|(w, c)| {
                (
                    w.ln() - c.sd.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln(),
                    c.mean,
                    c.sd,
                )
            })
            .collect()
    }
    fn terms(mean: f64, sd: f64, x: f64) -> Terms {
        let u = (x - mean) / sd;
        Terms {
            ln_density: -0.5 * u * u,
            gradient: -u / sd,
            hessian: -1.0 / (sd * sd),
        }
    }
    fn from_working(z: f64) -> (f64, f64) {
        (z, 1.0)
    }
    fn scales(&self) -> Vec<(f64, f64)> {
        self.components().iter().map(|c| (c.mean, c.sd)).collect()
    }
}

/// The logistic function 1/(1 + e^{−z}).
pub(crate) fn expit(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The mixture density at x and its information −(ln π)″(x).
///
/// With component responsibilities r_k = w_k f_k(x)/π(x), g_k = (ln f_k)′ and h_k = (ln f_k)″:
/// −(ln π)″ = −Σ r_k h_k − Σ r_k (g_k − ḡ)², ḡ = Σ r_k g_k (RBesT's `mixInfo`, written
/// without cancellation).
fn density_and_information<F: Family>(parts: &[(f64, f64, f64)], x: f64) -> (f64, f64) {
    let mut terms = [(
        0.0,
        Terms {
            ln_density: 0.0,
            gradient: 0.0,
            hessian: 0.0,
        },
    ); super::MAX_COMPONENTS];
    let mut top = f64::NEG_INFINITY;
    for (slot, &(ln_c, p, q)) in terms.iter_mut().zip(parts) {
        let t = F::terms(p, q, x);
        let ln = ln_c + t.ln_density;
        top = top.max(ln);
        *slot = (ln, t);
    }
    let terms = &terms[..parts.len()];
    if !top.is_finite() {
        return (0.0, 0.0);
    }
    let mut sum = 0.0;
    let mut mean_gradient = 0.0;
    for (ln, t) in terms {
        let r = (ln - top).exp();
        sum += r;
        mean_gradient += r * t.gradient;
    }
    mean_gradient /= sum;
    let mut information = 0.0;
    for (ln, t) in terms {
        let r = (ln - top).exp() / sum;
        let d = t.gradient - mean_gradient;
        information -= r * (t.hessian + d * d);
    }
    (top.exp() * sum, information)
}

/// ∫ π(x) i(x) v(x) dx, where v is the inverse Fisher information of one observation.
fn elir<F: Family>(mixture: &F, inverse_fisher: impl Fn(f64) -> f64) -> f64 {
    let parts = mixture.prepared();
    legendre16::integrate(&mixture.scales(), |z| {
        let (x, jacobian) = F::from_working(z);
        if jacobian == 0.0 {
            return 0.0;
        }
        let (density, information) = density_and_information::<F>(&parts, x);
        if density == 0.0 {
            0.0
        } else {
            density * information * inverse_fisher(x) * jacobian
        }
    })
}

/// The mixture's mode on the natural scale: around each component a golden-section search on
/// the working scale (±3 SDs), polished by Newton steps on (ln π)′; the highest of these local
/// maxima (RBesT's `mixmode`).
fn mode<F: Family>(mixture: &F) -> f64 {
    let parts = mixture.prepared();
    let ln_density = |z: f64| {
        let (x, _) = F::from_working(z);
        density_and_information::<F>(&parts, x).0.ln()
    };
    let mut best = (f64::NEG_INFINITY, 0.0);
    for (centre, sd) in mixture.scales() {
        let (mut lo, mut hi) = (centre - 3.0 * sd, centre + 3.0 * sd);
        let ratio = 0.5 * (5f64.sqrt() - 1.0);
        let mut c = hi - ratio * (hi - lo);
        let mut d = lo + ratio * (hi - lo);
        let (mut fc, mut fd) = (ln_density(c), ln_density(d));
        for _ in 0..200 {
            if (hi - lo).abs() <= 1e-13 * (1.0 + centre.abs()) {
                break;
            }
            if fc >= fd {
                hi = d;
                d = c;
                fd = fc;
                c = hi - ratio * (hi - lo);
                fc = ln_density(c);
            } else {
                lo = c;
                c = d;
                fc = fd;
                d = lo + ratio * (hi - lo);
                fd = ln_density(d);
            }
        }
        let z = 0.5 * (lo + hi);
        let value = ln_density(z);
        if value > best.0 {
            best = (value, z);
        }
    }
    F::from_working(best.1).0
}

/// The mean and variance of a Beta mixture (of the response probability).
pub fn beta_moments(mixture: &Mixture<BetaPrior>) -> (f64, f64) {
    moments(mixture.iter().map(|(w, c)| {
        let n = c.a + c.b;
        let m = c.a / n;
        (w, m, m * (1.0 - m) / (n + 1.0))
    }))
}

/// The mean and variance of a Normal mixture.
pub fn normal_moments(mixture: &Mixture<NormalComponent>) -> (f64, f64) {
    moments(mixture.iter().map(|(w, c)| (w, c.mean, c.sd * c.sd)))
}

/// The mixture's mean and variance from its components' moments.
fn moments(parts: impl Iterator<Item = (f64, f64, f64)>) -> (f64, f64) {
    let mut mean = 0.0;
    let mut second = 0.0;
    for (w, m, v) in parts {
        mean += w * m;
        second += w * (v + m * m);
    }
    (mean, second - mean * mean)
}

/// ELIR requires every shape parameter ≥ 1 (otherwise the defining integral diverges at the
/// boundary); the error names the component and parameter.
fn shapes_at_least_one(
    shapes: impl Iterator<Item = (&'static str, f64)>,
    per: usize,
) -> Result<(), StatsError> {
    for (index, (name, value)) in shapes.enumerate() {
        if value < 1.0 {
            return Err(StatsError::ElirUndefined {
                component: index / per + 1,
                name,
                value,
            });
        }
    }
    Ok(())
}

/// ESS of a Beta mixture prior on a response probability (binomial likelihood).
pub fn ess_beta(mixture: &Mixture<BetaPrior>, method: EssMethod) -> Result<f64, StatsError> {
    match method {
        EssMethod::Elir => {
            shapes_at_least_one(
                mixture
                    .components()
                    .iter()
                    .flat_map(|c| [("a", c.a), ("b", c.b)]),
                2,
            )?;
            // One component: E[i(θ)/I(θ)] = a + b in closed form (Neuenschwander et al. 2020).
            // The quadrature cannot resolve the integrand's θ^(a−2) singularity as a → 1, where
            // the term (a − 1)(1 − θ)/θ keeps b of the total.
            if let [c] = mixture.components() {
                return Ok(c.a + c.b);
            }
            Ok(elir(mixture, |x| x * (1.0 - x)))
        }
        EssMethod::Moment => {
            let (m, v) = beta_moments(mixture);
            Ok(m * (1.0 - m) / v - 1.0)
        }
        EssMethod::Morita => {
            let x = mode(mixture).clamp(f64::EPSILON, 1.0 - f64::EPSILON);
            let parts = mixture.prepared();
            let (_, prior_information) = density_and_information::<Mixture<BetaPrior>>(&parts, x);
            let (a0, b0) = (x / MORITA_SCALE, (1.0 - x) / MORITA_SCALE);
            let flattened = (a0 - 1.0) / (x * x) + (b0 - 1.0) / ((1.0 - x) * (1.0 - x));
            let p_failure: f64 = mixture.iter().map(|(w, c)| w * c.b / (c.a + c.b)).sum();
            let expected = p_failure / ((1.0 - x) * (1.0 - x)) + (1.0 - p_failure) / (x * x);
            Ok((prior_information - flattened) / expected)
        }
    }
}

/// ESS of a Gamma mixture prior on an event rate (Poisson likelihood, one unit of exposure per
/// observation).
pub fn ess_gamma(mixture: &Mixture<GammaPrior>, method: EssMethod) -> Result<f64, StatsError> {
    match method {
        EssMethod::Elir => {
            shapes_at_least_one(mixture.components().iter().map(|c| ("shape", c.shape)), 1)?;
            // One component: E[i(λ)/I(λ)] = rate in closed form (as for the Beta above).
            if let [c] = mixture.components() {
                return Ok(c.rate);
            }
            Ok(elir(mixture, |x| x))
        }
        EssMethod::Moment => {
            let (m, v) = moments(
                mixture
                    .iter()
                    .map(|(w, c)| (w, c.shape / c.rate, c.shape / (c.rate * c.rate))),
            );
            Ok(m / v)
        }
        EssMethod::Morita => {
            let x = mode(mixture).max(f64::MIN_POSITIVE);
            let parts = mixture.prepared();
            let (_, prior_information) = density_and_information::<Mixture<GammaPrior>>(&parts, x);
            let flattened = (x / MORITA_SCALE - 1.0) / (x * x);
            let mean: f64 = mixture.iter().map(|(w, c)| w * c.shape / c.rate).sum();
            let expected = mean / (x * x);
            Ok((prior_information - flattened) / expected)
        }
    }
}

/// ESS of a Normal mixture prior on a mean, for a normal likelihood with sampling SD `sigma`
/// (RBesT's reference scale).
pub fn ess_normal(
    mixture: &Mixture<NormalComponent>,
    sigma: f64,
    method: EssMethod,
) -> Result<f64, StatsError> {
    let sigma = super::positive("sigma", sigma)?;
    let variance = sigma * sigma;
    match method {
        EssMethod::Elir => Ok(variance * elir(mixture, |_| 1.0)),
        EssMethod::Moment => {
            let (_, v) = normal_moments(mixture);
            Ok(variance / v)
        }
        EssMethod::Morita => {
            let x = mode(mixture);
            let parts = mixture.prepared();
            let (_, prior_information) =
                density_and_information::<Mixture<NormalComponent>>(&parts, x);
            let widest = mixture
                .components()
                .iter()
                .map(|c| c.sd * c.sd)
                .fold(0.0, f64::max);
            let flattened = 1.0 / (MORITA_SCALE * widest);
            Ok((prior_information - flattened) * variance)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beta(parts: &[(f64, f64, f64)]) -> Mixture<BetaPrior> {
        let parts: Vec<_> = parts
            .iter()
            .map(|&(w, a, b)| (w, BetaPrior { a, b }))
            .collect();
        Mixture::new(&parts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// RBesT's printed 4-component MAP prior for the placebo response in ankylosing spondylitis
    /// (RBesT vignette "Getting started with RBesT (binary)", section "Parametric
    /// Approximation", `print(map)`; the data are Baeten et al. 2013's eight placebo studies).
    pub(crate) fn as_map() -> Vec<(f64, f64, f64)> {
        vec![
            (0.4612914, 33.9513487, 103.0146367),
            (0.1917812, 19.4400089, 41.5205219),
            (0.1893896, 12.2692310, 55.9202833),
            (0.1575378, 2.2521243, 5.4812202),
        ]
    }

    #[test]
    fn rbest_ankylosing_spondylitis_ess() -> Result<(), StatsError> {
        // RBesT vignette "Getting started with RBesT (binary)", section "Effective Sample Size":
        // round(ess(map, "elir")) = 38, "moment" 24, "morita" 95; section "Robustification of
        // the MAP Prior": robustify(map, weight = 0.2, mean = 1/2) has round(ess) = 27.
        let map = beta(&as_map());
        assert_eq!(ess_beta(&map, EssMethod::Elir)?.round(), 38.0);
        assert_eq!(ess_beta(&map, EssMethod::Moment)?.round(), 24.0);
        assert_eq!(ess_beta(&map, EssMethod::Morita)?.round(), 95.0);
        let mut robust: Vec<_> = as_map().iter().map(|&(w, a, b)| (0.8 * w, a, b)).collect();
        robust.push((0.2, 1.0, 1.0));
        assert_eq!(ess_beta(&beta(&robust), EssMethod::Elir)?.round(), 27.0);
        Ok(())
    }

    #[test]
    fn rbest_crohn_normal_ess() -> Result<(), StatsError> {
        // RBesT vignette "RBesT for a Normal Endpoint" (Crohn's disease, Hueber et al. 2012),
        // `print(map)`: three normal components, reference scale σ = 88; printed ESS: elir 39,
        // morita 89, moment 21; robustify(map, weight = 0.2, mean = -50) (N(−50, 88²)): elir 28.
        let parts = [
            (0.50104846, -51.42408665, 19.04525409),
            (0.41871594, -47.25917128, 7.85193726),
            (0.08023561, -55.07086416, 44.57325000),
        ];
        let normal = |parts: &[(f64, f64, f64)]| {
            let parts: Vec<_> = parts
                .iter()
                .map(|&(w, mean, sd)| (w, NormalComponent { mean, sd }))
                .collect();
            Mixture::new(&parts)
        };
        let map = normal(&parts)?;
        assert_eq!(ess_normal(&map, 88.0, EssMethod::Elir)?.round(), 39.0);
        assert_eq!(ess_normal(&map, 88.0, EssMethod::Morita)?.round(), 89.0);
        assert_eq!(ess_normal(&map, 88.0, EssMethod::Moment)?.round(), 21.0);
        let mut robust: Vec<_> = parts.iter().map(|&(w, m, s)| (0.8 * w, m, s)).collect();
        robust.push((0.2, -50.0, 88.0));
        assert_eq!(
            ess_normal(&normal(&robust)?, 88.0, EssMethod::Elir)?.round(),
            28.0
        );
        Ok(())
    }

    #[test]
    fn single_conjugate_priors_have_their_textbook_ess() -> Result<(), StatsError> {
        let one = beta(&[(1.0, 5.0, 15.0)]);
        assert!((ess_beta(&one, EssMethod::Elir)? - 20.0).abs() < 1e-9);
        assert!((ess_beta(&one, EssMethod::Moment)? - 20.0).abs() < 1e-9);
        let gamma = Mixture::single(GammaPrior {
            shape: 20.0,
            rate: 4.0,
        })?;
        assert!((ess_gamma(&gamma, EssMethod::Elir)? - 4.0).abs() < 1e-9);
        assert!((ess_gamma(&gamma, EssMethod::Moment)? - 4.0).abs() < 1e-9);
        let normal = Mixture::single(NormalComponent { mean: 1.0, sd: 2.0 })?;
        assert!((ess_normal(&normal, 10.0, EssMethod::Elir)? - 25.0).abs() < 1e-9);
        assert!((ess_normal(&normal, 10.0, EssMethod::Moment)? - 25.0).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn elir_refuses_shapes_below_one() {
        let m = beta(&[(0.5, 2.0, 3.0), (0.5, 0.5, 1.0)]);
        assert_eq!(
            ess_beta(&m, EssMethod::Elir),
            Err(StatsError::ElirUndefined {
                component: 2,
                name: "a",
                value: 0.5
            })
        );
    }
}
