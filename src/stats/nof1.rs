//! n-of-1 numerics: one patient's treatment effects, and the hierarchical model that pools a
//! series of n-of-1 trials.
//!
//! [`analyse_patient`] gives the posterior of every contrast "treatment k minus treatment 0" from
//! one patient's measurements, with independent errors (exact Student-t) or with AR(1) errors in
//! study time (the autocorrelation integrated out by deterministic quadrature, so the posterior is
//! a finite mixture of Student-t's). [`pool_series`] combines the patients' effect estimates in
//! the normal-normal hierarchical model with a half-Cauchy prior on the between-patient SD, by
//! deterministic quadrature over that SD, and also reports the empirical-Bayes fit.
//!
//! Numerics only: nothing here knows protocols, schedules, periods, files or the engine; callers
//! pass measurements already selected (washout days left out, for example). Every formula is in
//! `METHODS.md`, "n-of-1 analysis". Nothing here draws random numbers.

use argmin::core::{CostFunction, Executor, State, TerminationReason};
use argmin::solver::brent::BrentOpt;
use serde::{Deserialize, Serialize};
use statrs::function::gamma::ln_gamma;
use std::cell::RefCell;
use std::sync::OnceLock;

use super::{Better, NigPrior, StatsError};

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// One measurement of an n-of-1 trial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Nof1Observation {
    /// The treatment given, as a 0-based index (effects are contrasts against treatment 0).
    pub treatment: usize,
    /// The study day, counted from 1; only differences between days matter (AR(1) time gaps).
    pub day: u32,
    /// The measured outcome.
    pub value: f64,
}

/// The prior of a patient's treatment means μ₁ … μ_K and the shared error variance σ².
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "prior", rename_all = "snake_case")]
pub enum Nof1Prior {
    /// The reference prior p(μ₁, …, μ_K, σ) ∝ 1/σ. Needs every treatment observed and more
    /// observations than treatments.
    Flat,
    /// Each μₖ | σ² ~ N(mu0, σ²/kappa0) independently, σ² ~ Inverse-Gamma(alpha0, beta0).
    NormalInverseGamma(NigPrior),
}

/// What to compute for one patient.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EffectOptions {
    /// The minimal clinically important difference, ≥ 0, on the outcome's scale.
    pub mcid: f64,
    /// Which direction of the outcome is better for the patient.
    pub better: Better,
    /// Model the errors as AR(1) in study time instead of independent.
    pub ar1: bool,
}

/// One location-scale Student-t component of an effect posterior.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TComponent {
    /// Mixture weight (the weights of a posterior sum to 1).
    pub weight: f64,
    /// Degrees of freedom.
    pub df: f64,
    /// Location (centre of symmetry).
    pub loc: f64,
    /// Scale.
    pub scale: f64,
}

/// The posterior of one contrast μₖ − μ₀ for one patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectPosterior {
    /// The treatment k of the contrast "treatment k minus treatment 0".
    pub treatment: usize,
    /// Posterior mean. When it does not exist (some component with df ≤ 1) this is the centre
    /// of symmetry Σ weight·loc, which is the mean whenever the mean exists.
    pub mean: f64,
    /// Posterior SD; `f64::INFINITY` when some component has df ≤ 2.
    pub sd: f64,
    /// Equal-tailed 95% credible interval (2.5% and 97.5% quantiles).
    pub ci95: (f64, f64),
    /// P(effect > 0).
    pub p_positive: f64,
    /// P(effect > mcid) when higher is better, P(effect < −mcid) when lower is better.
    pub p_beyond_mcid: f64,
    /// P(|effect| < mcid); 0 when mcid = 0.
    pub p_within_mcid: f64,
    /// Posterior mean of the AR(1) coefficient ρ (only with AR(1) errors).
    pub rho: Option<f64>,
    /// Observations per treatment (index = treatment).
    pub n: Vec<u32>,
    /// The posterior as a mixture of Student-t's: one component with independent errors, one per
    /// quadrature node of ρ (negligible ones dropped) with AR(1) errors.
    pub components: Vec<TComponent>,
}

/// One patient's effect, summarised for pooling (a normal approximation of its posterior).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PatientEffect {
    /// Posterior mean of the patient's effect.
    pub mean: f64,
    /// Posterior SD of the patient's effect, finite and > 0.
    pub sd: f64,
}

/// What to compute for a series of n-of-1 trials.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SeriesOptions {
    /// The minimal clinically important difference, ≥ 0.
    pub mcid: f64,
    /// Which direction of the outcome is better.
    pub better: Better,
    /// Scale of the half-Cauchy(0, tau_scale) prior on the between-patient SD τ, > 0.
    pub tau_scale: f64,
}

/// The posterior of the population mean effect μ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PopulationEffect {
    /// Posterior mean (with one patient, where the mean does not exist, the centre of symmetry).
    pub mean: f64,
    /// Posterior SD; `f64::INFINITY` with fewer than 3 patients (the half-Cauchy tail of τ).
    pub sd: f64,
    /// Equal-tailed 95% credible interval.
    pub ci95: (f64, f64),
    /// P(μ > 0).
    pub p_positive: f64,
    /// P(μ > mcid) when higher is better, P(μ < −mcid) when lower is better.
    pub p_beyond_mcid: f64,
}

/// The posterior of the between-patient SD τ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TauSummary {
    /// Posterior mean; `f64::INFINITY` with one patient (the posterior is then the prior).
    pub mean: f64,
    /// Posterior median.
    pub median: f64,
    /// Equal-tailed 95% credible interval.
    pub ci95: (f64, f64),
}

/// The posterior of one patient's true effect θᵢ in the hierarchical model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShrunkenEffect {
    /// Posterior mean.
    pub mean: f64,
    /// Posterior SD.
    pub sd: f64,
    /// Equal-tailed 95% credible interval.
    pub ci95: (f64, f64),
    /// P(θᵢ > 0).
    pub p_positive: f64,
    /// P(θᵢ > mcid) when higher is better, P(θᵢ < −mcid) when lower is better.
    pub p_beyond_mcid: f64,
}

/// The empirical-Bayes fit: τ maximising the restricted likelihood (μ integrated out under its
/// flat prior), found with Brent's method.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EmpiricalBayes {
    /// μ̂(τ̂), the precision-weighted mean of the patients' effects.
    pub mu_hat: f64,
    /// √V_μ(τ̂), the SD of μ given τ = τ̂.
    pub mu_sd: f64,
    /// τ̂; 0 when the maximum is on the boundary (no heterogeneity beyond the patients' own
    /// uncertainty) or with a single patient.
    pub tau_hat: f64,
    /// The restricted log-likelihood at τ̂, constants included (METHODS.md).
    pub log_likelihood: f64,
    /// Brent iterations.
    pub iterations: u64,
    /// Whether the search converged. False with one patient, whose restricted likelihood does
    /// not depend on τ.
    pub converged: bool,
    /// Whether τ̂ = 0 is a boundary maximum.
    pub at_boundary: bool,
}

/// The hierarchical model's posterior for a series of n-of-1 trials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPosterior {
    /// The population mean effect μ.
    pub population: PopulationEffect,
    /// The between-patient SD τ.
    pub tau: TauSummary,
    /// Each patient's effect θᵢ, in the order given.
    pub shrunken: Vec<ShrunkenEffect>,
    /// The empirical-Bayes fit, for comparison.
    pub empirical_bayes: EmpiricalBayes,
}

// ---------------------------------------------------------------------------------------------
// Quadrature rule, special functions and mixtures
// ---------------------------------------------------------------------------------------------

/// Gauss–Legendre nodes on [−1, 1] (8 points).
const GL_NODES: [f64; 8] = [
    -0.960_289_856_497_536_2,
    -0.796_666_477_413_626_7,
    -0.525_532_409_916_329,
    -0.183_434_642_495_649_78,
    0.183_434_642_495_649_78,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_2,
];
/// Gauss–Legendre weights matching [`GL_NODES`].
const GL_WEIGHTS: [f64; 8] = [
    0.101_228_536_290_377_06,
    0.222_381_034_453_374_43,
    0.313_706_645_877_886_9,
    0.362_683_783_378_361_66,
    0.362_683_783_378_361_66,
    0.313_706_645_877_886_9,
    0.222_381_034_453_374_43,
    0.101_228_536_290_377_06,
];

/// Uniform panels over the whole quadrature domain (before grading and refinement).
const BASE_PANELS: usize = 32;
/// Geometric halvings of the two end panels of τ's grid, which resolve a half-Cauchy scale far
/// from the data's (τ from about 10⁻⁷ to 10⁷ times the scale).
const TAU_END_GRADING: usize = 20;
/// Geometric halvings of the two end panels of ρ's grid (down to 1 − |ρ| ≈ 10⁻¹⁰), which
/// resolve the vague prior's feature at 1 − ρ ≈ κ₀.
const RHO_END_GRADING: usize = 12;
/// The smallest components are dropped while their weights add up to at most this.
const NEGLIGIBLE_MASS: f64 = 1e-13;
/// A posterior SD (on the quadrature scale) below this many base panel widths triggers a finer
/// window of panels around the posterior mass.
const REFINE_BELOW: f64 = 1.5;
/// Half-width of the refined window, in posterior SDs.
const WINDOW_SDS: f64 = 10.0;
/// Panels per posterior SD inside the refined window.
const PANELS_PER_SD: f64 = 1.0;

/// Panel edges over (lo, hi): `BASE_PANELS` equal panels, the two end panels halved `grading`
/// times towards the ends.
fn base_edges(lo: f64, hi: f64, grading: usize) -> Vec<f64> {
    let h = (hi - lo) / BASE_PANELS as f64;
    let mut edges = Vec::with_capacity(BASE_PANELS + 2 * grading + 1);
    for i in 0..=BASE_PANELS {
        edges.push(lo + h * i as f64);
    }
    let mut step = h;
    for _ in 0..grading {
        step *= 0.5;
        edges.push(lo + step);
        edges.push(hi - step);
    }
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    edges
}

/// Adds a window of panels `PANELS_PER_SD` per SD over centre ± `WINDOW_SDS` SDs, clipped to
/// (lo, hi), to `edges`; returns whether anything was added.
fn refine_edges(edges: &mut Vec<f64>, lo: f64, hi: f64, centre: f64, sd: f64) -> bool {
    let h = (hi - lo) / BASE_PANELS as f64;
    if !(sd.is_finite() && sd > 0.0 && sd < REFINE_BELOW * h) {
        return false;
    }
    let width = sd / PANELS_PER_SD;
    let from = (centre - WINDOW_SDS * sd).max(lo);
    let to = (centre + WINDOW_SDS * sd).min(hi);
    let count = ((to - from) / width).ceil() as usize;
    for i in 0..=count {
        let x = from + width * i as f64;
        if x > lo && x < hi {
            edges.push(x);
        }
    }
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    true
}

/// `f(node, weight)` at every Gauss–Legendre node of every panel of `edges`, 8 results per
/// panel in order; a panel that an earlier pass over `old_edges` also had is copied from its
/// results `old` instead of evaluated again.
fn evaluate_panels<T: Copy>(
    edges: &[f64],
    old_edges: &[f64],
    old: &[T],
    mut f: impl FnMut(f64, f64) -> Result<T, StatsError>,
) -> Result<Vec<T>, StatsError> {
    let per = GL_NODES.len();
    let mut out = Vec::with_capacity(per * edges.len());
    for pair in edges.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let reuse = old_edges
            .binary_search_by(|e| e.total_cmp(&a))
            .ok()
            .filter(|&i| old_edges.get(i + 1) == Some(&b) && old.len() >= per * (i + 1));
        if let Some(i) = reuse {
            out.extend_from_slice(&old[per * i..per * (i + 1)]);
            continue;
        }
        let half = 0.5 * (b - a);
        let mid = 0.5 * (a + b);
        for (x, w) in GL_NODES.iter().zip(GL_WEIGHTS) {
            out.push(f(mid + half * x, half * w)?);
        }
    }
    Ok(out)
}

/// 1/√(2π), the standard normal density at 0.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// 1.5 × 2⁵²: adding it to a number of magnitude below 2⁵¹ rounds the number to the nearest
/// integer, which the low bits of the sum then hold.
const ROUND: f64 = 6_755_399_441_055_744.0;
/// Points per unit of the grid of [`NormalTable`].
const TABLE_DENSITY: f64 = 16.0;
/// The last grid point of [`NormalTable`], z = 10 (Φ(−10) < 10⁻²³).
const TABLE_LAST: usize = 160;

/// The scaled Mills ratio q(y) = (4 + a)·M(a), M(a) = Φ(−a)/φ(a), as a function of
/// y = 4/(4 + a) ∈ (0, 1] (a ∈ [0, ∞)): eight polynomial pieces over y ∈ [k/8, (k+1)/8], each of
/// degree 12 in u = 16y − 2k − 1 ∈ [−1, 1] (coefficients from the constant term up). They are
/// the Chebyshev interpolants of q at 13 points per piece, computed in 40-digit arithmetic and
/// rounded to double; the interpolation error is below 2 × 10⁻¹⁹ relative, and q(0) = 1 is the
/// tail's asymptote Φ(−a) ~ φ(a)/a. [Mills, *Biometrika* 18:395, 1926; Cody, *Math. Comp.*
/// 23:631, 1969, for a rational variable in the tail]
#[rustfmt::skip]
const MILLS_PIECES: [[f64; 13]; 8] = [
    [1.066_370_616_941_680_2, 0.070_460_327_006_174_06, 0.004_319_845_726_840_718, 0.000_241_650_150_589_364_48, 1.200_161_877_473_150_2e-05, 5.025_149_662_816_317e-07, 1.557_185_456_804_997e-08, 1.708_987_873_044_828_9e-10, -1.789_671_746_014_811e-11, -1.417_560_603_730_579_1e-12, -4.151_882_460_440_057_5e-14, 1.279_481_343_168_740_3e-15, 1.886_238_816_720_710_7e-16],
    [1.226_712_974_572_706_8, 0.091_066_809_291_757_06, 0.006_101_799_735_295_565_5, 0.000_360_310_646_339_255_25, 1.798_269_275_442_590_5e-05, 6.925_806_575_662_782e-07, 1.489_889_541_870_965_7e-08, -3.474_288_248_997_698e-10, -4.753_027_141_508_946e-11, -1.590_083_883_653_160_7e-12, 4.357_813_924_088_184e-14, 6.232_968_800_998_814e-15, 1.264_415_155_702_611_8e-16],
    [1.436_447_059_067_625, 0.120_431_241_511_018_46, 0.008_753_905_138_023_708, 0.000_533_971_899_063_271_4, 2.564_636_852_617_919e-05, 8.182_284_110_809_084e-07, 3.885_839_489_628_182e-09, -1.260_665_298_845_801_5e-09, -5.978_024_297_715_757e-11, 6.659_767_112_801_597e-13, 1.693_342_651_100_236_3e-13, 2.739_931_412_639_312_5e-15, -4.263_255_259_497_331e-16],
    [1.717_033_535_582_860_3, 0.162_740_789_427_199_55, 0.012_638_691_024_859_065, 0.000_771_686_865_914_773_2, 3.364_688_247_197_038_6e-05, 7.349_239_498_972_43e-07, -1.942_914_986_531_993_8e-08, -1.956_073_000_025_255e-09, -1.745_116_615_066_006e-11, 3.810_168_164_301_232e-12, 1.022_331_137_941_571_3e-13, -8.364_633_394_314_767e-15, -3.183_594_175_946_627_3e-16],
    [2.099_803_744_876_668_4, 0.223_686_674_685_871_17, 0.018_129_141_046_189_092, 0.001_066_045_215_309_594_2, 3.927_947_630_023_666e-05, 3.378_780_770_436_08e-07, -4.600_284_502_740_908e-08, -1.638_342_656_788_021_7e-09, 5.691_908_340_731_069e-11, 3.731_221_934_616_692e-12, -1.083_718_357_458_295_8e-13, -8.002_230_587_768_705e-15, 3.130_322_708_843_767e-16],
    [2.628_858_166_340_608_5, 0.310_270_254_663_266_13, 0.025_483_126_107_325_7, 0.001_385_638_314_724_297_4, 3.951_639_238_179_602_6e-05, -3.198_306_986_344_605e-07, -6.051_912_210_357_559e-08, -3.276_099_966_876_677_5e-10, 9.689_465_542_087_264e-11, 4.608_088_828_833_771e-13, -1.830_798_513_640_772_8e-13, 1.332_773_692_304_312e-15, 3.488_406_749_443_309_6e-16],
    [3.363_034_424_009_71, 0.430_057_689_896_632_6, 0.034_705_191_923_417_32, 0.001_679_283_098_719_455, 3.270_322_438_708_975_5e-05, -1.030_645_964_732_595e-06, -5.452_063_424_798_908e-08, 1.128_088_468_250_401_3e-09, 7.631_732_750_234_1e-11, -2.423_248_044_983_487e-12, -8.896_872_564_305_716e-14, 5.789_509_010_664_782e-15, 2.067_748_358_652_271_6e-17],
    [4.375_891_780_497_789, 0.589_984_015_875_722_5, 0.045_471_114_080_024_494, 0.001_891_714_095_060_060_8, 1.951_614_525_269_44e-05, -1.561_375_860_053_917_1e-06, -3.202_214_233_324_246e-08, 1.944_983_055_949_760_6e-09, 2.413_509_749_602_948_5e-11, -2.992_158_232_399_677_7e-12, 2.437_407_120_722_083_2e-14, 3.823_172_885_506_567_5e-15, -1.424_030_497_601_292_2e-16],
];

/// Φ(−a) and φ(a) for a ≥ 0 (a may be +∞; a NaN gives NaN) by the Mills ratio:
/// Φ(−a) = φ(a)·q(4/(4 + a))/(4 + a), q from [`MILLS_PIECES`]. Against 40-digit values the
/// relative error of Φ(−a) is below 10⁻¹⁵ for a ≤ 4 and grows as a²·10⁻¹⁶ beyond (the rounding
/// of a²/2 in the exponential; none at the grid points of [`NormalTable`], where a²/2 is exact).
fn mills_tail(a: f64) -> (f64, f64) {
    let density = FRAC_1_SQRT_2PI * (-0.5 * a * a).exp();
    let r = 1.0 / (4.0 + a);
    let scaled = 32.0 * r; // 8y ∈ (0, 8]
    let piece = ((scaled - 0.5 + ROUND) - ROUND).clamp(0.0, 7.0);
    let u = 2.0 * (scaled - piece) - 1.0;
    let c = &MILLS_PIECES[((piece + ROUND).to_bits() & 7) as usize];
    // Estrin's scheme (a short chain of dependent steps, for the far tail's callers in loops).
    let u2 = u * u;
    let u4 = u2 * u2;
    let low = (c[0] + c[1] * u) + (c[2] + c[3] * u) * u2;
    let middle = (c[4] + c[5] * u) + (c[6] + c[7] * u) * u2;
    let high = (c[8] + c[9] * u) + (c[10] + c[11] * u) * u2;
    let q = (low + middle * u4) + (high + c[12] * u4) * (u4 * u4);
    (density * q * r, density)
}

/// [`mills_tail`] beyond [`NormalTable`], out of line: the table's callers loop over many
/// components and rarely come here.
#[cold]
#[inline(never)]
fn far_tail(a: f64) -> (f64, f64) {
    mills_tail(a)
}

/// Φ(−z) and φ(z) at the grid points zⱼ = j/16, j = 0 … 160, with the Taylor coefficients that
/// carry them to any a ≥ 0 within 1/32 of a grid point: Φ(−(zⱼ + δ)) = Φ(−zⱼ) − φ(zⱼ)·G(δ),
/// G(δ) = ∫₀^δ e^(−zⱼt − t²/2) dt = Σₙ eₙ·δⁿ⁺¹, eₙ = (−1)ⁿ·Heₙ(zⱼ)/(n + 1)!, and
/// φ(zⱼ + δ) = φ(zⱼ)·G′(δ). Seven terms beyond the first leave at most 4 × 10⁻¹⁸ of Φ out for
/// |δ| ≤ 1/32 at every grid point, so an evaluation is a table look-up and a polynomial: no
/// exponential, no division. Built once per process from [`mills_tail`]. (statrs' erfc, used
/// here before, is off by up to 5 × 10⁻¹¹ for arguments between 0.5 and 3.5.)
struct NormalTable {
    /// Per grid point: Φ(−zⱼ), φ(zⱼ), e₁ … e₇ (e₀ = 1).
    rows: Vec<[f64; 9]>,
}

static NORMAL_TABLE: OnceLock<NormalTable> = OnceLock::new();

impl NormalTable {
    fn get() -> &'static Self {
        NORMAL_TABLE.get_or_init(|| {
            let rows = (0..=TABLE_LAST)
                .map(|j| {
                    let z = j as f64 / TABLE_DENSITY;
                    let mut row = [0.0; 9];
                    (row[0], row[1]) = mills_tail(z);
                    // Heₙ by Heₙ₊₁ = z·Heₙ − n·Heₙ₋₁; (−1)ⁿ/(n + 1)! alongside.
                    let (mut previous, mut he) = (1.0, z);
                    let mut factor = -0.5;
                    for n in 1..8 {
                        row[n + 1] = factor * he;
                        let next = z * he - n as f64 * previous;
                        previous = he;
                        he = next;
                        factor /= -((n + 2) as f64);
                    }
                    row
                })
                .collect();
            Self { rows }
        })
    }

    /// Φ(−a) and φ(a) for a ≥ 0 (a may be +∞; a NaN gives NaN). Within the table (a ≤ 10) the
    /// absolute error of Φ(−a) is below 3 × 10⁻¹⁶; its relative error is below 2 × 10⁻¹⁵ up
    /// to a = 4 and grows to 10⁻¹⁰ at a = 10 (the Taylor terms are sized for absolute accuracy;
    /// Φ(−10) < 10⁻²³), that of φ(a) from 10⁻¹³ to 2 × 10⁻⁹. Beyond the table [`mills_tail`]
    /// is called directly (relative errors about 10⁻¹⁴).
    #[inline(always)]
    fn tail(&self, a: f64) -> (f64, f64) {
        if a <= TABLE_LAST as f64 / TABLE_DENSITY {
            // The nearest grid point j and δ = a − zⱼ ∈ [−1/32, 1/32], both exact.
            let rounded = a * TABLE_DENSITY + ROUND;
            let grid = rounded - ROUND;
            let d = a - grid / TABLE_DENSITY;
            let row = &self.rows[(rounded.to_bits() & 0xff) as usize];
            let d2 = d * d;
            let d4 = d2 * d2;
            // G(δ)/δ and G′(δ) by Estrin's scheme.
            let g = ((1.0 + row[2] * d) + (row[3] + row[4] * d) * d2)
                + ((row[5] + row[6] * d) + (row[7] + row[8] * d) * d2) * d4;
            let slope = ((1.0 + 2.0 * row[2] * d) + (3.0 * row[3] + 4.0 * row[4] * d) * d2)
                + ((5.0 * row[5] + 6.0 * row[6] * d) + (7.0 * row[7] + 8.0 * row[8] * d) * d2) * d4;
            (row[0] - row[1] * (g * d), row[1] * slope)
        } else {
            far_tail(a)
        }
    }
}

/// Continued fraction of the regularised incomplete beta function (modified Lentz), for
/// x < (a + 1)/(a + b + 2); `y` = 1 − x, passed separately for accuracy.
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const MAX_TERMS: usize = 20_000;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=MAX_TERMS {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b), with y = 1 − x given separately so that
/// neither loses precision near 0 or 1, and ln B(a, b) given by the caller.
/// [Press et al., *Numerical Recipes*, 3rd ed., 2007, §6.4]
fn incomplete_beta(a: f64, b: f64, ln_beta: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    // The logarithm of whichever of x, y is near 1 comes from the other one, with ln(1 + ·).
    let ln_x = if x > 0.5 { (-y).ln_1p() } else { x.ln() };
    let ln_y = if y > 0.5 { (-x).ln_1p() } else { y.ln() };
    let ln_front = a * ln_x + b * ln_y - ln_beta;
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_continued_fraction(b, a, y) / b
    }
}

/// ln Γ(a + ½) − ln Γ(a), without the cancellation of two large ln Γ values when a is large
/// (Stirling's series: the difference of (z − ½) ln z − z + Σ B₂ₖ/(2k(2k−1)z^(2k−1)) at a + ½
/// and a, rearranged so that no large terms cancel).
fn ln_gamma_half_ratio(a: f64) -> f64 {
    if a < 20.0 {
        return ln_gamma(a + 0.5) - ln_gamma(a);
    }
    let series = |z: f64| {
        let z2 = z * z;
        (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * z2)) / z2) / z2) / z
    };
    // (a) ln(a + ½) − (a − ½) ln a − ½ = a·ln(1 + 1/(2a)) − ½ + ½ ln a.
    let main = (a * (0.5 / a).ln_1p() - 0.5) + 0.5 * a.ln();
    main + series(a + 0.5) - series(a)
}

/// ln B(ν/2, ½) = ln Γ(ν/2) + ln Γ(½) − ln Γ(ν/2 + ½).
fn ln_beta_t(df: f64) -> f64 {
    0.5 * std::f64::consts::PI.ln() - ln_gamma_half_ratio(0.5 * df)
}

/// CDF of the standard Student-t with `df` degrees of freedom.
#[cfg(test)]
fn t_cdf(df: f64, z: f64) -> f64 {
    t_cdf_with(df, ln_beta_t(df), z)
}

/// [`t_cdf`] with ln B(df/2, ½) computed by the caller.
fn t_cdf_with(df: f64, ln_beta: f64, z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z.is_infinite() {
        return if z > 0.0 { 1.0 } else { 0.0 };
    }
    if z == 0.0 {
        return 0.5;
    }
    let z2 = z * z;
    let (x, y) = (z2 / (df + z2), df / (df + z2));
    // P(|T| > |z|) = I_y(df/2, 1/2) = 1 − I_x(1/2, df/2).
    let two_tails = if x < 0.5 {
        1.0 - incomplete_beta(0.5, 0.5 * df, ln_beta, x, y)
    } else {
        incomplete_beta(0.5 * df, 0.5, ln_beta, y, x)
    };
    if z < 0.0 {
        0.5 * two_tails
    } else {
        1.0 - 0.5 * two_tails
    }
}

/// ln of the Student-t density's normalising constant Γ((ν+1)/2) / (Γ(ν/2) √(νπ)).
fn t_ln_norm(df: f64) -> f64 {
    ln_gamma_half_ratio(0.5 * df) - 0.5 * (df * std::f64::consts::PI).ln()
}

/// A one-dimensional distribution whose quantiles are found numerically.
trait Continuous {
    /// P(X ≤ x).
    fn cdf(&self, x: f64) -> f64;
    /// The density at x.
    fn density(&self, x: f64) -> f64;
}

/// The p-quantile of `dist`, starting from `guess`: a bracket is stepped out from it (the step
/// doubling each time), then Newton steps from its end nearest the guess, safeguarded by
/// bisection, converge on the quantile.
fn quantile(dist: &impl Continuous, p: f64, guess: f64, step: f64) -> f64 {
    let mut step = if step.is_finite() && step > 0.0 {
        step
    } else {
        1.0
    };
    let (mut lo, mut hi) = (guess, guess);
    if dist.cdf(guess) > p {
        for _ in 0..2000 {
            hi = lo;
            lo = hi - step;
            if dist.cdf(lo) <= p {
                break;
            }
            step *= 2.0;
        }
    } else {
        for _ in 0..2000 {
            lo = hi;
            hi = lo + step;
            if dist.cdf(hi) >= p {
                break;
            }
            step *= 2.0;
        }
    }
    // Newton from the end of the bracket nearest the guess.
    let start = guess.clamp(lo, hi);
    solve_monotone(|x| dist.cdf(x) - p, |x| dist.density(x), lo, hi, start)
}

/// The equal-tailed 95% interval, from a normal-approximation guess.
fn interval95(dist: &impl Continuous, mean: f64, sd: f64, spread: f64) -> (f64, f64) {
    const Z: f64 = 1.959_963_984_540_054;
    let (half, step) = if sd.is_finite() && sd > 0.0 {
        (Z * sd, 0.25 * sd)
    } else {
        (2.0 * spread, spread)
    };
    (
        quantile(dist, 0.025, mean - half, step),
        quantile(dist, 0.975, mean + half, step),
    )
}

/// The root of the increasing function `f` (derivative `df`) in [lo, hi], f(lo) ≤ 0 ≤ f(hi):
/// Newton's method from `start` (the midpoint when `start` is outside the bracket), falling
/// back to bisection whenever a step leaves the bracket.
fn solve_monotone(
    f: impl Fn(f64) -> f64,
    df: impl Fn(f64) -> f64,
    lo: f64,
    hi: f64,
    start: f64,
) -> f64 {
    let (mut lo, mut hi) = (lo, hi);
    let mut x = if start >= lo && start <= hi {
        start
    } else {
        0.5 * (lo + hi)
    };
    for _ in 0..300 {
        let fx = f(x);
        if fx == 0.0 {
            return x;
        }
        if fx > 0.0 {
            hi = x;
        } else {
            lo = x;
        }
        if hi - lo <= 4.0 * f64::EPSILON * lo.abs().max(hi.abs()) {
            return 0.5 * (lo + hi);
        }
        let slope = df(x);
        let newton = x - fx / slope;
        let small = 1e-15 * (x.abs() + (hi - lo)) + f64::MIN_POSITIVE;
        if slope > 0.0 && (newton - x).abs() <= small {
            // Converged, even where rounding puts the last step on an end of the bracket.
            return newton.clamp(lo, hi);
        }
        let next = if slope > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - x).abs() <= small {
            return next;
        }
        x = next;
    }
    x
}

/// A mixture of location-scale Student-t's.
struct TMixture<'a> {
    components: &'a [TComponent],
    /// ln of each component's density constant, and ln B(df/2, ½).
    constants: Vec<(f64, f64)>,
}

impl<'a> TMixture<'a> {
    fn new(components: &'a [TComponent]) -> Self {
        let constants = components
            .iter()
            .map(|c| (t_ln_norm(c.df), ln_beta_t(c.df)))
            .collect();
        Self {
            components,
            constants,
        }
    }

    /// P(X > x), by the symmetry of each component (no cancellation in the upper tail).
    fn sf(&self, x: f64) -> f64 {
        self.components
            .iter()
            .zip(&self.constants)
            .map(|(c, k)| c.weight * t_cdf_with(c.df, k.1, (c.loc - x) / c.scale))
            .sum()
    }
}

impl Continuous for TMixture<'_> {
    fn cdf(&self, x: f64) -> f64 {
        self.components
            .iter()
            .zip(&self.constants)
            .map(|(c, k)| c.weight * t_cdf_with(c.df, k.1, (x - c.loc) / c.scale))
            .sum()
    }

    fn density(&self, x: f64) -> f64 {
        self.components
            .iter()
            .zip(&self.constants)
            .map(|(c, &(ln_norm, _))| {
                let z = (x - c.loc) / c.scale;
                c.weight / c.scale * (ln_norm - 0.5 * (c.df + 1.0) * (z * z / c.df).ln_1p()).exp()
            })
            .sum()
    }
}

/// A run of neighbouring normal components merged into one normal with the same weight, mean and
/// variance is accepted while W·ε² ≤ this, W the run's weight and ε the largest deviation of a
/// member's mean or SD from the merged mean or SD, in merged SDs. The merged CDF then differs from
/// the run's by at most 1.05·W·ε² anywhere (see [`NormalMixture::push`]), so every run moves
/// the mixture CDF by at most 1.05 × 10⁻¹⁶.
const MERGE_TOLERANCE: f64 = 1e-16;
/// A quantile search ends when the error of its result is certified below this many SDs of the
/// mixture (see [`NormalMixture::quantile`]).
const QUANTILE_TOLERANCE: f64 = 1e-12;
/// The derivatives of a mixture CDF computed at each evaluation: F′ … F⁽⁸⁾.
const TAYLOR_ORDER: usize = 8;
/// max |φ′(z)| = φ(1), rounded up: with Σ w/s², bounds F″.
const MAX_PDF_SLOPE: f64 = 0.242;
/// max |φ⁽⁸⁾(z)| = max |He₈(z)φ(z)| = 105φ(0), rounded up: with Σ w/s⁹, bounds F⁽⁹⁾.
const MAX_PDF_EIGHTH: f64 = 41.89;
/// The standard normal 97.5% quantile.
const Z_975: f64 = 1.959_963_984_540_054;

/// One component of a [`NormalMixture`].
#[derive(Debug, Clone, Copy)]
struct NormalComponent {
    weight: f64,
    mean: f64,
    sd: f64,
    /// 1/SD, so that an evaluation needs no division.
    inv_sd: f64,
}

/// A run of neighbouring components being merged: the weight, sums relative to the first
/// member's mean (no cancellation when the means are large), and the members' ranges.
#[derive(Debug, Clone, Copy)]
struct Run {
    weight: f64,
    origin: f64,
    /// Σ w·(m − origin).
    first: f64,
    /// Σ w·(m − origin)².
    second: f64,
    /// Σ w·s².
    variance: f64,
    mean_range: (f64, f64),
    sd_range: (f64, f64),
    /// The last member's (mean, SD); they are the run's when the run has one member.
    last: (f64, f64),
    members: usize,
}

impl Run {
    fn start(w: f64, m: f64, s: f64) -> Self {
        Self {
            weight: w,
            origin: m,
            first: 0.0,
            second: 0.0,
            variance: w * s * s,
            mean_range: (m, m),
            sd_range: (s, s),
            last: (m, s),
            members: 1,
        }
    }

    /// The run with (w, m, s) added.
    fn with(&self, w: f64, m: f64, s: f64) -> Self {
        let d = m - self.origin;
        Self {
            weight: self.weight + w,
            origin: self.origin,
            first: self.first + w * d,
            second: self.second + w * d * d,
            variance: self.variance + w * s * s,
            mean_range: (self.mean_range.0.min(m), self.mean_range.1.max(m)),
            sd_range: (self.sd_range.0.min(s), self.sd_range.1.max(s)),
            last: (m, s),
            members: self.members + 1,
        }
    }

    /// The merged normal's (mean, SD).
    fn merged(&self) -> (f64, f64) {
        if self.members == 1 {
            return self.last;
        }
        let shift = self.first / self.weight;
        let spread = (self.second / self.weight - shift * shift).max(0.0);
        (
            self.origin + shift,
            (self.variance / self.weight + spread).sqrt(),
        )
    }

    /// Whether W·ε² ≤ [`MERGE_TOLERANCE`] (see there), by a sufficient test without divisions
    /// or roots (this runs for every candidate member, in a chain). With sₗ the smallest
    /// member SD, S ≥ sₗ (S² is the members' mean variance plus the variance of their means),
    /// so W·dev² ≤ tolerance·sₗ² suffices. Scaled by W: the mean deviation is
    /// W·|M − m| = |Σw(m′ − o) − W(m − o)| (o the first member's mean), and the SD deviation
    /// |S − s| = |S² − s²|/(S + s) ≤ |S² − s²|/(2sₗ) with W²S² = W·Σw(s′² + (m′ − o)²) −
    /// (Σw(m′ − o))².
    fn acceptable(&self) -> bool {
        let w = self.weight;
        let (lo, hi) = self.sd_range;
        let mean = (self.first - w * (self.mean_range.0 - self.origin))
            .max(w * (self.mean_range.1 - self.origin) - self.first);
        let scaled_variance = w * (self.variance + self.second) - self.first * self.first;
        let sd = (scaled_variance - w * w * lo * lo).max(w * w * hi * hi - scaled_variance);
        let floor = MERGE_TOLERANCE * lo * lo;
        mean * mean <= floor * w && sd * sd <= 4.0 * floor * lo * lo * w * w * w
    }

    /// The merged normal as a mixture component.
    fn component(&self) -> NormalComponent {
        let (mean, sd) = self.merged();
        NormalComponent {
            weight: self.weight,
            mean,
            sd,
            inv_sd: 1.0 / sd,
        }
    }
}

/// Whether adding (w, m, s) to a run of weight `weight` whose last member is `last` = (m′, s′)
/// certainly makes the run unacceptable, by a test without divisions: an acceptable run would
/// hold (m′, s′) and (m, s), so |m − m′| and |s − s′| would be at most 2εS, with S ≤ 2s when
/// ε ≤ ½ (and W < 4 × the tolerance when ε > ½).
fn hopeless(weight: f64, last: (f64, f64), w: f64, m: f64, s: f64) -> bool {
    let weight = weight + w;
    let apart = (m - last.0).abs().max((s - last.1).abs());
    weight > 4.0 * MERGE_TOLERANCE && weight * apart * apart > 16.0 * MERGE_TOLERANCE * s * s
}

/// The open end of a [`NormalMixture`] being built: nothing yet, a single component (the usual
/// case, kept without a [`Run`]'s bookkeeping), or a run of merged neighbours.
#[derive(Debug, Clone, Copy, Default)]
enum Open {
    #[default]
    Empty,
    Single(f64, f64, f64),
    Run(Run),
}

/// The CDF or the survival function, and the derivatives F′ … F⁽⁸⁾ of the CDF, of a mixture at
/// a point.
#[derive(Debug, Clone, Copy, Default)]
struct MixtureAt {
    /// P(X ≤ x) from [`NormalMixture::at`] with `lower`, P(X > x) without.
    tail: f64,
    /// `derivatives[k]` = F⁽ᵏ⁺¹⁾; `derivatives[0]` is the density.
    derivatives: [f64; TAYLOR_ORDER],
}

/// A finite mixture of normals prepared for the repeated evaluations of its quantiles and
/// probabilities. Components are pushed in order (of τ, so that neighbours are alike), and runs
/// of neighbours that differ negligibly are merged (see [`NormalMixture::push`]); the buffers
/// are reused from one mixture to the next.
#[derive(Debug, Default)]
struct NormalMixture {
    components: Vec<NormalComponent>,
    open: Open,
    /// Mean, SD, skewness and excess kurtosis of the (merged) mixture.
    moments: (f64, f64, f64, f64),
    /// Σ w/s² and Σ w/s⁹: with [`MAX_PDF_SLOPE`] and [`MAX_PDF_EIGHTH`], bounds on F″ and F⁽⁹⁾.
    inverse_moments: (f64, f64),
}

impl NormalMixture {
    /// Starts a new mixture.
    fn clear(&mut self) {
        self.components.clear();
        self.open = Open::Empty;
    }

    /// Adds the component N(m, s²) with weight w (the weights of a mixture must sum to 1).
    ///
    /// A component joins the run of its predecessors when the run stays acceptable: merged into
    /// one normal with the run's weight W, mean M and variance S², every member's mean and SD
    /// within ε·S of M and S, and W·ε² ≤ [`MERGE_TOLERANCE`]. Expanding each member's CDF
    /// Φ((x − m)/s) around (M, S) to first order, the mean terms cancel (M is the run's mean),
    /// the SD terms add up to at most 0.242·W·ε² (Σ w(s − S) = −Σ w((m − M)² + (s − S)²)/(2S)
    /// since S² is the run's variance), and the second-order remainders to at most 0.8·W·ε²
    /// (the second derivatives of Φ((x − m)/s) in m and s are at most 0.5/S² in size): the
    /// merged CDF is within 1.05·W·ε² of the run's everywhere. Runs form where τ is far below
    /// the patients' SDs (the components there equal their τ → 0 limit to many digits) and among
    /// the tiny weights of the tails.
    fn push(&mut self, w: f64, m: f64, s: f64) {
        let grown = match self.open {
            Open::Empty => None,
            Open::Single(pw, pm, ps) => {
                (!hopeless(pw, (pm, ps), w, m, s)).then(|| Run::start(pw, pm, ps).with(w, m, s))
            }
            Open::Run(run) => (!hopeless(run.weight, run.last, w, m, s)).then(|| run.with(w, m, s)),
        };
        match grown {
            Some(run) if run.acceptable() => self.open = Open::Run(run),
            _ => {
                self.close();
                self.open = Open::Single(w, m, s);
            }
        }
    }

    /// Moves the open component or run into `components`.
    fn close(&mut self) {
        match std::mem::take(&mut self.open) {
            Open::Empty => {}
            Open::Single(weight, mean, sd) => self.components.push(NormalComponent {
                weight,
                mean,
                sd,
                inv_sd: 1.0 / sd,
            }),
            Open::Run(run) => self.components.push(run.component()),
        }
    }

    /// Closes the last run and computes the moments used by the quantile searches.
    fn finish(&mut self) {
        self.close();
        let mean: f64 = self.components.iter().map(|c| c.weight * c.mean).sum();
        let (mut m2, mut m3, mut m4, mut inv2, mut inv9) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for c in &self.components {
            let d = c.mean - mean;
            let (d2, v) = (d * d, c.sd * c.sd);
            m2 += c.weight * (v + d2);
            m3 += c.weight * d * (d2 + 3.0 * v);
            m4 += c.weight * (d2 * d2 + 6.0 * d2 * v + 3.0 * v * v);
            let i2 = c.inv_sd * c.inv_sd;
            inv2 += c.weight * i2;
            let i4 = i2 * i2;
            inv9 += c.weight * i4 * i4 * c.inv_sd;
        }
        let sd = m2.sqrt();
        self.moments = (mean, sd, m3 / (m2 * sd), m4 / (m2 * m2) - 3.0);
        self.inverse_moments = (inv2, inv9);
    }

    /// P(X ≤ x) and P(X > x) at each of N points x, in one pass (the survival function without
    /// cancellation; the points' evaluations interleaved, which keeps the processor busier than
    /// one pass per point).
    fn tails<const N: usize>(&self, x: [f64; N]) -> [(f64, f64); N] {
        let table = NormalTable::get();
        let mut out = [(0.0, 0.0); N];
        for c in &self.components {
            for (x, (cdf, sf)) in x.iter().zip(out.iter_mut()) {
                let z = (x - c.mean) * c.inv_sd;
                let (tail, _) = table.tail(z.abs());
                let (below, above) = if z < 0.0 {
                    (tail, 1.0 - tail)
                } else {
                    (1.0 - tail, tail)
                };
                *cdf += c.weight * below;
                *sf += c.weight * above;
            }
        }
        out
    }

    /// The CDF (`lower`) or the survival function, and F′ … F⁽⁸⁾, at x in one pass:
    /// F⁽ᵏ⁺¹⁾ = Σ w·s⁻⁽ᵏ⁺¹⁾·(−1)ᵏ·Heₖ(z)·φ(z), z = (x − m)/s, with the Hermite polynomials Heₖ.
    fn at(&self, x: f64, lower: bool) -> MixtureAt {
        let table = NormalTable::get();
        let mut e = MixtureAt::default();
        for c in &self.components {
            let z = (x - c.mean) * c.inv_sd;
            let (tail, pdf) = table.tail(z.abs());
            // The side of the component beyond z: its own tail when z is on the wanted side.
            e.tail += c.weight * if (z < 0.0) == lower { tail } else { 1.0 - tail };
            // F⁽ᵏ⁺¹⁾ gains g·tᵏ·Heₖ(z), g = w·φ(z)/s, t = −1/s: the Hermite polynomials and the
            // powers written out, so that no chain of dependent steps runs through them.
            let g = c.weight * pdf * c.inv_sd;
            let t = -c.inv_sd;
            let (z2, t2) = (z * z, t * t);
            let z4 = z2 * z2;
            let z6 = z4 * z2;
            let hermite = [
                1.0,
                z,
                z2 - 1.0,
                z * (z2 - 3.0),
                (z4 + 3.0) - 6.0 * z2,
                z * ((z4 + 15.0) - 10.0 * z2),
                (z6 - 15.0 * z4) + (45.0 * z2 - 15.0),
                z * ((z6 - 21.0 * z4) + (105.0 * z2 - 105.0)),
            ];
            let (gt, gt2, gt4) = (g * t, g * t2, g * (t2 * t2));
            let scales = [g, gt, gt2, gt2 * t, gt4, gt4 * t, gt4 * t2, gt4 * t2 * t];
            for (derivative, (h, scale)) in e.derivatives.iter_mut().zip(hermite.iter().zip(scales))
            {
                *derivative += scale * h;
            }
        }
        e
    }

    /// The starting point of a 2.5% (`lower`) or 97.5% quantile search: the Cornish–Fisher
    /// expansion with the mixture's skewness and excess kurtosis when they are moderate, the
    /// normal approximation otherwise. [Cornish & Fisher, *Rev. Inst. Int. Stat.* 5:307, 1938]
    fn guess(&self, lower: bool) -> f64 {
        let (mean, sd, skew, kurt) = self.moments;
        let z = if lower { -Z_975 } else { Z_975 };
        let z2 = z * z;
        let w = if skew.abs() <= 1.0 && kurt.abs() <= 4.0 {
            z + (z2 - 1.0) * skew / 6.0 + z * (z2 - 3.0) * kurt / 24.0
                - z * (2.0 * z2 - 5.0) * skew * skew / 36.0
        } else {
            z
        };
        mean + sd * w
    }

    /// The x with P(X ≤ x) = alpha (`lower`) or P(X > x) = alpha (upper tail), starting from
    /// `guess`, where the mixture's evaluation is `first` (the survival function gives the
    /// upper quantiles without cancellation).
    ///
    /// Each step is the root d of the Taylor polynomial P₈ of degree 8 of the residual r (CDF −
    /// alpha, or alpha − survival) around the current point (or the Newton step −r/F′ when the
    /// polynomial strays from it), safeguarded by bisection of the bracket that the evaluations
    /// so far enclose (or, towards a side still open, by steps of at most an SD, doubling each
    /// time). The search stops when the error of x + d is certified below
    /// [`QUANTILE_TOLERANCE`] SDs: by Taylor's theorem |r(x + d)| ≤ min(|P₈(d)| +
    /// max|F⁽⁹⁾|·|d|⁹/9!, |r + F′·d| + max|F″|·d²/2), with max|F⁽⁹⁾| ≤ 41.89·Σ w/s⁹ and
    /// max|F″| ≤ 0.242·Σ w/s², and the root is within |r(x + d)|/min F′ of x + d, where
    /// min F′ ≥ F′(x) − max|F″|·(2|d| + tolerance) near x. From the Cornish–Fisher guess
    /// (within a few hundredths of an SD) one evaluation of the mixture usually suffices.
    fn quantile(&self, alpha: f64, lower: bool, guess: f64, first: MixtureAt) -> f64 {
        let (_, sd, _, _) = self.moments;
        let tolerance = QUANTILE_TOLERANCE * sd;
        let slope_bound = MAX_PDF_SLOPE * self.inverse_moments.0;
        let remainder_bound = MAX_PDF_EIGHTH * self.inverse_moments.1 / 362_880.0;
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut x = guess;
        let mut step = if sd.is_finite() && sd > 0.0 { sd } else { 1.0 };
        let mut e = first;
        for _ in 0..300 {
            let r = if lower {
                e.tail - alpha
            } else {
                alpha - e.tail
            };
            if r == 0.0 {
                return x;
            }
            if r > 0.0 {
                hi = x;
            } else {
                lo = x;
            }
            if hi - lo <= 4.0 * f64::EPSILON * lo.abs().max(hi.abs()) && (hi - lo).is_finite() {
                return 0.5 * (lo + hi);
            }
            let f = e.derivatives[0];
            let d = if f > 0.0 && f.is_finite() {
                taylor_step(r, &e.derivatives)
            } else {
                f64::NAN
            };
            let next = x + d;
            // Towards an open side of the bracket a step may not exceed `step` (which doubles):
            // where the density nearly vanishes, Newton would fly off.
            let open = if d < 0.0 { lo } else { hi }.is_infinite();
            if next > lo && next < hi && !(open && d.abs() > step) {
                let a = d.abs();
                let linear = (r + f * d).abs() + 0.5 * slope_bound * a * a;
                let taylor = taylor_value(r, &e.derivatives, d).abs() + remainder_bound * a.powi(9);
                let floor = f - slope_bound * (2.0 * a + tolerance);
                if floor > 0.0 && linear.min(taylor) <= tolerance * floor {
                    return next;
                }
                x = next;
            } else if lo.is_finite() && hi.is_finite() {
                x = 0.5 * (lo + hi);
            } else {
                x = if r > 0.0 { x - step } else { x + step };
                step *= 2.0;
            }
            e = self.at(x, lower);
        }
        x
    }

    /// The equal-tailed 95% interval.
    fn interval95(&self) -> (f64, f64) {
        let guesses = [self.guess(true), self.guess(false)];
        let (lower, upper) = (self.at(guesses[0], true), self.at(guesses[1], false));
        (
            self.quantile(0.025, true, guesses[0], lower),
            self.quantile(0.025, false, guesses[1], upper),
        )
    }

    /// P(X > 0), and P(X > mcid) when higher is better or P(X < −mcid) when lower is better.
    fn probabilities(&self, mcid: f64, better: Better) -> (f64, f64) {
        let clamp = |p: f64| p.clamp(0.0, 1.0);
        let edge = match better {
            Better::Higher => mcid,
            Better::Lower => -mcid,
        };
        let [(_, sf0), (cdf, sf)] = if edge == 0.0 {
            let [at0] = self.tails([0.0]);
            [at0, at0]
        } else {
            self.tails([0.0, edge])
        };
        let beyond = match better {
            Better::Higher => sf,
            Better::Lower => cdf,
        };
        (clamp(sf0), clamp(beyond))
    }
}

/// r + Σₖ F⁽ᵏ⁾·dᵏ/k!, the Taylor polynomial of a residual with derivatives F′ … F⁽⁸⁾.
fn taylor_value(r: f64, derivatives: &[f64; TAYLOR_ORDER], d: f64) -> f64 {
    let mut value = 0.0;
    for (k, derivative) in derivatives.iter().enumerate().rev() {
        value = (value + derivative) * d / (k + 1) as f64;
    }
    r + value
}

/// The root of the Taylor polynomial [`taylor_value`] near the Newton step −r/F′ (F′ > 0), by
/// Newton's method on the polynomial; the Newton step itself when the polynomial's root is not
/// within half of it (the polynomial is then not to be trusted that far).
fn taylor_step(r: f64, derivatives: &[f64; TAYLOR_ORDER]) -> f64 {
    let newton = -r / derivatives[0];
    let mut d = newton;
    for _ in 0..10 {
        let value = taylor_value(r, derivatives, d);
        // The polynomial's derivative: Σₖ F⁽ᵏ⁺¹⁾·dᵏ/k!.
        let mut slope = 0.0;
        for (k, derivative) in derivatives.iter().enumerate().rev() {
            slope = slope * d / (k + 1) as f64 + derivative;
        }
        if slope.is_nan() || slope <= 0.0 {
            return newton;
        }
        let next = d - value / slope;
        if next == d {
            break;
        }
        d = next;
    }
    if (d - newton).abs() <= 0.5 * newton.abs() {
        d
    } else {
        newton
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

fn finite_mcid(mcid: f64) -> Result<(), StatsError> {
    if mcid.is_finite() && mcid >= 0.0 {
        Ok(())
    } else {
        Err(StatsError::Delta { value: mcid })
    }
}

fn positive(name: &'static str, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(StatsError::Parameter { name, value })
    }
}

// ---------------------------------------------------------------------------------------------
// One patient
// ---------------------------------------------------------------------------------------------

/// The prior on the centred scale (the data's mean subtracted from the values and from mu0).
#[derive(Debug, Clone, Copy)]
enum CentredPrior {
    Flat,
    Nig {
        mu0: f64,
        kappa0: f64,
        alpha0: f64,
        beta0: f64,
    },
}

/// One transformed regression row in the basis β = (μ₀, μ₁ − μ₀, …, μ_{K−1} − μ₀):
/// ỹ = c0·β₀ + c1·β_{t1} + c2·β_{t2} + error; an index 0 in `t1` or `t2` means "unused".
#[derive(Debug, Clone, Copy)]
struct Row {
    c0: f64,
    t1: usize,
    c1: f64,
    t2: usize,
    c2: f64,
    y: f64,
}

/// The regression for one value of ρ: posterior quantities and the log marginal likelihood up
/// to a constant that does not depend on ρ.
#[derive(Debug, Clone, Copy)]
struct Conditional {
    log_weight: f64,
    a_n: f64,
    b_n: f64,
}

/// The K-treatment regression, solved by Givens rotations (a QR factorisation updated row by
/// row), with buffers reused across values of ρ. The coefficients are β = (μ₀, μ₁ − μ₀, …): the
/// level and the contrasts. Orthogonal rotations keep the small singular values (the level
/// when ρ is near 1, a contrast when ρ is near −1 and the treatments alternate daily) accurate
/// where normal equations would lose them to cancellation.
struct Regression {
    k: usize,
    rows: Vec<Row>,
    /// Upper-triangular R, row-major k × k.
    r: Vec<f64>,
    /// Qᵀy.
    qty: Vec<f64>,
    /// Squared column norms of the (augmented) design, for the rank check.
    column_norms: Vec<f64>,
    mean: Vec<f64>,
    x: Vec<f64>,
    work: Vec<f64>,
}

/// A column of R smaller than this fraction of the design's column norm counts as rank
/// deficient (its value would be rounding error).
const RANK_TOLERANCE: f64 = 1e-13;

/// Σ_{j<g} rʲ = (1 − r^g)/(1 − r) for r = ρ², with 1 − r = `one_minus_r` passed separately
/// (it is cos²θ, exact where ρ = sin θ rounds to ±1).
fn geometric_sum(r: f64, one_minus_r: f64, g: u32) -> f64 {
    if g <= 1 {
        return 1.0;
    }
    if one_minus_r <= 0.0 {
        return f64::from(g);
    }
    if r < 0.5 {
        (1.0 - r.powi(power(g))) / one_minus_r
    } else {
        -(f64::from(g) * (-one_minus_r).ln_1p()).exp_m1() / one_minus_r
    }
}

/// A day gap as an exponent (gaps beyond i32 are far past any correlation).
fn power(g: u32) -> i32 {
    i32::try_from(g).unwrap_or(i32::MAX)
}

/// (ρ^g, 1 − ρ^g) with 1 − ρ^g accurate near ρ = 1; `root` = √(1 − ρ²).
fn ar_power(rho: f64, root: f64, g: u32) -> (f64, f64) {
    let abs = rho.abs();
    if abs < 0.5 {
        let phi = rho.powi(power(g));
        return (phi, 1.0 - phi);
    }
    // ln|ρ| = ln(1 − (1 − |ρ|)), 1 − |ρ| = (1 − ρ²)/(1 + |ρ|).
    let ln_abs = (-(root * root) / (1.0 + abs)).ln_1p();
    let magnitude_complement = -(f64::from(g) * ln_abs).exp_m1();
    let magnitude = 1.0 - magnitude_complement;
    if rho < 0.0 && g % 2 == 1 {
        (-magnitude, 1.0 + magnitude)
    } else {
        (magnitude, magnitude_complement)
    }
}

/// What a day gap g contributes to the transformed rows at one ρ.
#[derive(Debug, Clone, Copy, Default)]
struct GapValues {
    /// ρ^g.
    phi: f64,
    /// 1 − ρ^g, accurate near ρ = 1.
    one_minus_phi: f64,
    /// w = 1/√c_g.
    w: f64,
    /// ln w.
    ln_w: f64,
}

/// The distinct day gaps of a patient's sorted data, each measurement's gap, and their values
/// at the current ρ (computed once per ρ, not once per row).
struct Gaps {
    distinct: Vec<u32>,
    /// For measurement t ≥ 1, the position of dₜ − d_{t−1} in `distinct` (0 for t = 0).
    index: Vec<usize>,
    values: Vec<GapValues>,
}

impl Gaps {
    fn new(data: &[(usize, u32, f64)]) -> Self {
        let gap = |i: usize| data[i].1 - data[i - 1].1;
        let mut distinct: Vec<u32> = (1..data.len()).map(gap).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let index = (0..data.len())
            .map(|i| {
                if i == 0 {
                    0
                } else {
                    distinct.binary_search(&gap(i)).unwrap_or(0)
                }
            })
            .collect();
        let values = vec![GapValues::default(); distinct.len()];
        Self {
            distinct,
            index,
            values,
        }
    }

    fn fill(&mut self, rho: f64, root: f64) {
        let (r, one_minus_r) = (rho * rho, root * root);
        for (value, &g) in self.values.iter_mut().zip(&self.distinct) {
            let (phi, one_minus_phi) = ar_power(rho, root, g);
            let c = geometric_sum(r, one_minus_r, g);
            *value = GapValues {
                phi,
                one_minus_phi,
                w: 1.0 / c.sqrt(),
                ln_w: -0.5 * c.ln(),
            };
        }
    }
}

impl Regression {
    fn new(k: usize, n: usize) -> Self {
        Self {
            k,
            rows: Vec::with_capacity(n),
            r: vec![0.0; k * k],
            qty: vec![0.0; k],
            column_norms: vec![0.0; k],
            mean: vec![0.0; k],
            x: vec![0.0; k],
            work: vec![0.0; k],
        }
    }

    /// Builds the rows of the data as they are (independent errors).
    fn build_rows(&mut self, data: &[(usize, u32, f64)]) {
        self.rows.clear();
        self.rows.extend(data.iter().map(|&(t, _, y)| Row {
            c0: 1.0,
            t1: t,
            c1: 1.0,
            t2: 0,
            c2: 0.0,
            y,
        }));
    }

    /// Builds the Prais–Winsten rows for AR(1) errors with ρ = sin θ (√(1 − ρ²) = cos θ, exact
    /// near the ends); `data` are (treatment, day, centred value) sorted by day, `gaps` their
    /// day gaps. Returns Σ ln wₜ, the log Jacobian of the transformation.
    fn build_ar_rows(&mut self, data: &[(usize, u32, f64)], gaps: &mut Gaps, theta: f64) -> f64 {
        self.rows.clear();
        let (rho, root) = (theta.sin(), theta.cos());
        gaps.fill(rho, root);
        let mut log_jacobian = 0.0;
        for (index, &(t, _, y)) in data.iter().enumerate() {
            if index == 0 {
                self.rows.push(Row {
                    c0: root,
                    t1: t,
                    c1: root,
                    t2: 0,
                    c2: 0.0,
                    y: root * y,
                });
                log_jacobian += root.ln();
                continue;
            }
            let (prev_t, _, prev_y) = data[index - 1];
            let GapValues {
                phi,
                one_minus_phi,
                w,
                ln_w,
            } = gaps.values[gaps.index[index]];
            log_jacobian += ln_w;
            let row = if prev_t == t {
                Row {
                    c0: w * one_minus_phi,
                    t1: t,
                    c1: w * one_minus_phi,
                    t2: 0,
                    c2: 0.0,
                    y: w * (y - phi * prev_y),
                }
            } else {
                Row {
                    c0: w * one_minus_phi,
                    t1: t,
                    c1: w,
                    t2: prev_t,
                    c2: -w * phi,
                    y: w * (y - phi * prev_y),
                }
            };
            self.rows.push(row);
        }
        log_jacobian
    }

    /// Rotates the row (`self.x`, y) into R and Qᵀy; returns the part of y left over (its
    /// square adds to the residual sum of squares).
    fn rotate_in(&mut self, y: f64) -> f64 {
        let k = self.k;
        let mut y = y;
        for j in 0..k {
            self.column_norms[j] += self.x[j] * self.x[j];
        }
        for j in 0..k {
            let xj = self.x[j];
            if xj == 0.0 {
                continue;
            }
            let rjj = self.r[j * k + j];
            let h = (rjj * rjj + xj * xj).sqrt();
            let (c, s) = (rjj / h, xj / h);
            self.r[j * k + j] = h;
            for l in (j + 1)..k {
                let (a, b) = (self.r[j * k + l], self.x[l]);
                self.r[j * k + l] = c * a + s * b;
                self.x[l] = c * b - s * a;
            }
            let a = self.qty[j];
            self.qty[j] = c * a + s * y;
            y = c * y - s * a;
        }
        y
    }

    /// The conjugate regression on the current rows; `None` when the design is rank deficient
    /// (to rounding).
    fn fit(
        &mut self,
        prior: CentredPrior,
        log_jacobian: f64,
    ) -> Result<Option<Conditional>, StatsError> {
        let k = self.k;
        self.r.iter_mut().for_each(|v| *v = 0.0);
        self.qty.iter_mut().for_each(|v| *v = 0.0);
        self.column_norms.iter_mut().for_each(|v| *v = 0.0);
        let mut rss = 0.0;
        for index in 0..self.rows.len() {
            let row = self.rows[index];
            self.x.iter_mut().for_each(|v| *v = 0.0);
            self.x[0] = row.c0;
            if row.t1 > 0 {
                self.x[row.t1] += row.c1;
            }
            if row.t2 > 0 {
                self.x[row.t2] += row.c2;
            }
            let rest = self.rotate_in(row.y);
            rss += rest * rest;
        }
        if let CentredPrior::Nig { mu0, kappa0, .. } = prior {
            // μₜ ~ N(mu0, σ²/κ₀) as K pseudo-rows √κ₀·μₜ = √κ₀·mu0, μ₀ = β₀, μₜ = β₀ + βₜ;
            // their residuals add the prior's penalty κ₀ Σ (μₜ − mu0)² to the sum of squares.
            let root = kappa0.sqrt();
            for t in 0..k {
                self.x.iter_mut().for_each(|v| *v = 0.0);
                self.x[0] = root;
                if t > 0 {
                    self.x[t] = root;
                }
                let rest = self.rotate_in(root * mu0);
                rss += rest * rest;
            }
        }
        let mut log_det = 0.0;
        for j in 0..k {
            let rjj = self.r[j * k + j];
            if !(rjj > RANK_TOLERANCE * self.column_norms[j].sqrt() && rjj.is_finite()) {
                return Ok(None);
            }
            log_det += 2.0 * rjj.ln();
        }
        // Back-substitution R β = Qᵀy.
        for i in (0..k).rev() {
            let mut v = self.qty[i];
            for m in (i + 1)..k {
                v -= self.r[i * k + m] * self.mean[m];
            }
            self.mean[i] = v / self.r[i * k + i];
        }
        let n = self.rows.len() as f64;
        let (a_n, b_n) = match prior {
            CentredPrior::Flat => (0.5 * (n - k as f64), 0.5 * rss),
            CentredPrior::Nig { alpha0, beta0, .. } => (alpha0 + 0.5 * n, beta0 + 0.5 * rss),
        };
        if !(b_n > 0.0 && b_n.is_finite()) {
            return Err(StatsError::Observation(
                "the measurements equal their treatment means exactly: no residual variation",
            ));
        }
        Ok(Some(Conditional {
            log_weight: log_jacobian - 0.5 * log_det - a_n * b_n.ln(),
            a_n,
            b_n,
        }))
    }

    /// The contrast μₜ − μ₀ = βₜ: its location and (RᵀR)⁻¹ₜₜ = ‖R⁻ᵀeₜ‖².
    fn contrast(&mut self, t: usize) -> (f64, f64) {
        let k = self.k;
        let mut total = 0.0;
        for i in 0..k {
            let mut v = f64::from(u8::from(i == t));
            for m in 0..i {
                v -= self.r[m * k + i] * self.work[m];
            }
            self.work[i] = v / self.r[i * k + i];
            total += self.work[i] * self.work[i];
        }
        (self.mean[t], total)
    }
}

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

/// The weight below which components are dropped: the smallest weights, adding up to at most
/// [`NEGLIGIBLE_MASS`].
fn negligible_below(weights: &[f64]) -> f64 {
    // Only weights up to NEGLIGIBLE_MASS can be among the dropped: sort just those.
    let mut small: Vec<f64> = weights
        .iter()
        .copied()
        .filter(|&w| w <= NEGLIGIBLE_MASS)
        .collect();
    small.sort_unstable_by(f64::total_cmp);
    let mut dropped = 0.0;
    for &w in &small {
        if dropped + w > NEGLIGIBLE_MASS {
            return w;
        }
        dropped += w;
    }
    weights
        .iter()
        .copied()
        .filter(|&w| w > NEGLIGIBLE_MASS)
        .fold(f64::INFINITY, f64::min)
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

// ---------------------------------------------------------------------------------------------
// A series of patients
// ---------------------------------------------------------------------------------------------

/// Σ ln vᵢ of positive factors, accumulated as a running product (one logarithm per many
/// factors instead of one per factor) that moves into the logarithm whenever it leaves
/// [10⁻¹⁵⁰, 10¹⁵⁰]; a factor outside [10⁻¹⁰⁰, 10¹⁰⁰] goes to the logarithm directly. Each
/// product adds at most half an ulp of relative error, so the sum is exact to about
/// (number of factors) × 1.1 × 10⁻¹⁶ absolute, like a sum of logarithms.
#[derive(Debug, Clone, Copy)]
struct LogSum {
    product: f64,
    log: f64,
}

impl LogSum {
    fn new() -> Self {
        Self {
            product: 1.0,
            log: 0.0,
        }
    }

    fn add(&mut self, v: f64) {
        if (1e-100..=1e100).contains(&v) {
            self.product *= v;
            if !(1e-150..=1e150).contains(&self.product) {
                self.log += self.product.ln();
                self.product = 1.0;
            }
        } else {
            self.log += v.ln();
        }
    }

    fn value(&self) -> f64 {
        self.log + self.product.ln()
    }
}

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
    fn t_cdf_matches_mpmath() {
        // 40-digit values from tests/reference/generate_nof1.py (group `t_cdf`).
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/reference/nof1_cases.json"))
                .map_err(|e| e.to_string())
                .unwrap_or_default();
        let cases = reference["t_cdf"].as_array().cloned().unwrap_or_default();
        assert!(cases.len() >= 20, "the t_cdf reference group");
        for case in cases {
            let number = |key: &str| case[key].as_f64().unwrap_or(f64::NAN);
            let (df, z, want) = (number("df"), number("z"), number("cdf"));
            let got = t_cdf(df, z);
            let tolerance = 1e-14_f64.max(1e-12 * want);
            assert!(
                (got - want).abs() <= tolerance,
                "t_cdf({df}, {z}) = {got:e}, want {want:e}"
            );
        }
    }

    #[test]
    fn normal_tail_matches_30_digit_values() {
        // (a, Φ(−a), φ(a)): grid points, points between them, and both sides of the table's end.
        let reference = [
            (0.0, 0.5, 0.398_942_280_401_432_7),
            (0.3, 0.382_088_577_811_047_4, 0.381_387_815_460_524_1),
            (0.707_2, 0.239_721_099_283_345_4, 0.310_676_079_934_710_47),
            (1.0, 0.158_655_253_931_457_05, 0.241_970_724_519_143_34),
            (2.5, 0.006_209_665_325_776_135, 0.017_528_300_493_568_537),
            (4.1, 2.065_750_691_254_673_7e-05, 8.926_165_717_713_286e-05),
            (
                6.031_25,
                8.134_813_337_353_34e-10,
                5.034_624_887_951_094e-09,
            ),
            (9.99, 8.429_087_200_443_09e-24, 8.503_421_446_798_957e-23),
            (12.5, 3.732_564_298_877_713e-36, 4.695_195_357_975_146e-35),
            (
                30.0,
                4.906_713_927_148_187e-198,
                1.473_646_134_878_547_6e-196,
            ),
        ];
        let table = NormalTable::get();
        for (a, tail, density) in reference {
            let (got_tail, got_density) = table.tail(a);
            let (relative_tail, relative_density) = match a {
                a if a <= 4.0 => (2e-15, 2e-13),
                a if a <= 10.0 => (2e-10, 5e-9),
                _ => (1e-13, 1e-13),
            };
            assert!(
                (got_tail - tail).abs() <= 4e-16 && (got_tail - tail).abs() <= relative_tail * tail,
                "Φ(−{a}) = {got_tail:e}, want {tail:e}"
            );
            assert!(
                (got_density - density).abs() <= relative_density * density,
                "φ({a}) = {got_density:e}, want {density:e}"
            );
        }
        assert_eq!(table.tail(f64::INFINITY), (0.0, 0.0));
        assert!(table.tail(f64::NAN).0.is_nan());
    }

    /// A mixture from (weight, mean, SD) triples, merged as in [`pool_series`].
    fn mixture(components: &[(f64, f64, f64)]) -> NormalMixture {
        let mut mixture = NormalMixture::default();
        for &(w, m, s) in components {
            mixture.push(w, m, s);
        }
        mixture.finish();
        mixture
    }

    /// The alpha quantile (lower or upper tail) by bisection of the mixture's own CDF, to the
    /// last bit.
    fn bisected(mixture: &NormalMixture, alpha: f64, lower: bool) -> f64 {
        let (mut lo, mut hi) = (-100.0, 100.0);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            let [(cdf, sf)] = mixture.tails([mid]);
            let above = if lower { cdf > alpha } else { sf < alpha };
            if above {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        0.5 * (lo + hi)
    }

    #[test]
    fn mixture_quantiles_agree_with_bisection() {
        let cases: [&[(f64, f64, f64)]; 4] = [
            &[(1.0, 0.3, 0.7)],
            // Skewed: a heavy component off to one side.
            &[(0.8, 0.0, 1.0), (0.2, 2.5, 0.4)],
            // Bimodal, with a narrow mode: the guess is poor and the search falls back.
            &[(0.6, -3.0, 0.2), (0.4, 3.0, 2.0)],
            // Heavy-tailed: a scale mixture.
            &[(0.5, 1.0, 0.1), (0.3, 1.0, 1.0), (0.2, 1.0, 10.0)],
        ];
        for components in cases {
            let m = mixture(components);
            let sd = m.moments.1;
            let (lo, hi) = m.interval95();
            for (got, lower) in [(lo, true), (hi, false)] {
                let want = bisected(&m, 0.025, lower);
                assert!(
                    (got - want).abs() <= 2.0 * QUANTILE_TOLERANCE * sd + 1e-15 * want.abs(),
                    "{components:?}: {got} vs {want}"
                );
            }
        }
        // One component: the normal quantiles.
        let (lo, hi) = mixture(&[(1.0, 0.3, 0.7)]).interval95();
        assert!((lo - (0.3 - Z_975 * 0.7)).abs() < 1e-14);
        assert!((hi - (0.3 + Z_975 * 0.7)).abs() < 1e-14);
    }

    #[test]
    fn merged_neighbours_keep_the_mixture_cdf() {
        // 200 components drifting by 10⁻⁹ per step (as near τ = 0), then 20 distinct ones.
        let mut components: Vec<(f64, f64, f64)> = (0..200)
            .map(|i| {
                let drift = 1e-9 * f64::from(i);
                (0.002, 1.0 + drift, 0.5 + drift)
            })
            .collect();
        components.extend((0..20).map(|i| (0.03, 1.0 + 0.1 * f64::from(i), 0.6)));
        let merged = mixture(&components);
        assert!(merged.components.len() < 40, "{}", merged.components.len());
        let table = NormalTable::get();
        for x in [-1.0, 0.0, 0.7, 1.0, 1.3, 2.0, 3.5] {
            let exact: f64 = components
                .iter()
                .map(|&(w, m, s)| {
                    let z = (x - m) / s;
                    let (tail, _) = table.tail(z.abs());
                    w * if z < 0.0 { tail } else { 1.0 - tail }
                })
                .sum();
            let [(cdf, _)] = merged.tails([x]);
            assert!((cdf - exact).abs() < 1e-14, "{x}: {cdf} vs {exact}");
        }
    }

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
    fn invalid_inputs_are_rejected() {
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
