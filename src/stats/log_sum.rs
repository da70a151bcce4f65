//! A sum of logarithms taken as a running product, shared by the quadratures whose node weights
//! multiply many factors (the n-of-1 series' patients, the borrowing strata).
//!
//! Numbers in, numbers out.

/// Σ ln vᵢ of positive factors, accumulated as a running product (one logarithm per many
/// factors instead of one per factor) that moves into the logarithm whenever it leaves
/// [10⁻¹⁵⁰, 10¹⁵⁰]; a factor outside [10⁻¹⁰⁰, 10¹⁰⁰] goes to the logarithm directly. Each
/// product adds at most half an ulp of relative error, so the sum is exact to about
/// (number of factors) × 1.1 × 10⁻¹⁶ absolute, like a sum of logarithms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogSum {
    product: f64,
    log: f64,
}

impl LogSum {
    /// The empty sum (ln 1).
    pub(crate) fn new() -> Self {
        Self {
            product: 1.0,
            log: 0.0,
        }
    }

    /// Adds ln `v` (`v` ≥ 0; 0 makes the sum −∞).
    #[inline(always)]
    pub(crate) fn add(&mut self, v: f64) {
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

    /// The sum.
    pub(crate) fn value(&self) -> f64 {
        self.log + self.product.ln()
    }
}
