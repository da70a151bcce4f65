//! One patient's regression at one value of ρ: the K treatment means in the basis (level,
//! contrasts), independent errors or the Prais–Winsten rows of AR(1) errors in study days, solved
//! by Givens rotations, with the conjugate posterior of σ² and the log marginal likelihood.
//!
//! One ρ at a time: integrating ρ out, and summarising the contrasts, is [`super::patient`]'s.

use crate::stats::StatsError;

/// The prior on the centred scale (the data's mean subtracted from the values and from mu0).
#[derive(Debug, Clone, Copy)]
pub(super) enum CentredPrior {
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
pub(super) struct Conditional {
    /// ln p(y | ρ) up to a constant, with the log Jacobian of the transformation.
    pub(super) log_weight: f64,
    /// The posterior shape of σ²'s inverse gamma.
    pub(super) a_n: f64,
    /// The posterior scale of σ²'s inverse gamma.
    pub(super) b_n: f64,
}

/// The K-treatment regression, solved by Givens rotations (a QR factorisation updated row by
/// row), with buffers reused across values of ρ. The coefficients are β = (μ₀, μ₁ − μ₀, …): the
/// level and the contrasts. Orthogonal rotations keep the small singular values (the level
/// when ρ is near 1, a contrast when ρ is near −1 and the treatments alternate daily) accurate
/// where normal equations would lose them to cancellation.
pub(super) struct Regression {
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
pub(super) struct Gaps {
    distinct: Vec<u32>,
    /// For measurement t ≥ 1, the position of dₜ − d_{t−1} in `distinct` (0 for t = 0).
    index: Vec<usize>,
    values: Vec<GapValues>,
}

impl Gaps {
    pub(super) fn new(data: &[(usize, u32, f64)]) -> Self {
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
    pub(super) fn new(k: usize, n: usize) -> Self {
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
    pub(super) fn build_rows(&mut self, data: &[(usize, u32, f64)]) {
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
    pub(super) fn build_ar_rows(
        &mut self,
        data: &[(usize, u32, f64)],
        gaps: &mut Gaps,
        theta: f64,
    ) -> f64 {
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
    pub(super) fn fit(
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
    pub(super) fn contrast(&mut self, t: usize) -> (f64, f64) {
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
