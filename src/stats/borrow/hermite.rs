//! Gauss–Hermite rules for the standard normal weight, with the expansion of an integrand's node
//! values in Hermite polynomials: the CDF of such a density at any point, also after adding an
//! independent normal (the convolution damps the m-th coefficient by ρᵐ).
//!
//! Only rules of one variable: where the (μ, τ) nodes go and how the strata are combined is
//! [`super::fit`]'s.

use crate::stats::special::NormalTable;

/// A K-point Gauss–Hermite rule for the standard normal weight: Σₖ Wₖ q(xₖ) = ∫ q(x) φ(x) dx
/// exactly for polynomials q of degree < 2K (Σ Wₖ = 1), with the table that turns the node
/// values of q into the coefficients of its expansion in Hermite polynomials He₀ … He_{K−1}
/// (probabilists' convention), from which CDFs and densities follow in closed form.
#[derive(Debug, Clone)]
pub(crate) struct HermiteRule<const K: usize> {
    /// Nodes xₖ, ascending.
    pub(crate) nodes: [f64; K],
    /// Weights Wₖ (summing to 1).
    pub(crate) weights: [f64; K],
    /// xₖ²/2: ln of 1/φ(xₖ) up to the constant ln √(2π).
    pub(crate) half_square: [f64; K],
    /// `expansion[m][k]` = Wₖ·Heₘ(xₖ)/m!: the coefficient cₘ of q = Σ cₘ Heₘ is
    /// Σₖ expansion[m][k]·q(xₖ).
    expansion: [[f64; K]; K],
}

/// Physicists' Hermite polynomial Hₙ(x) and its derivative, by the three-term recurrence of
/// the orthonormal polynomials (no overflow for the K used here).
fn orthonormal_hermite(n: usize, x: f64) -> (f64, f64) {
    // p_j = orthonormal Hermite of degree j with respect to e^(−x²).
    let pi_quarter = std::f64::consts::PI.powf(-0.25);
    let (mut p0, mut p1) = (0.0, pi_quarter);
    for j in 1..=n {
        let jf = j as f64;
        let p2 = x * (2.0 / jf).sqrt() * p1 - ((jf - 1.0) / jf).sqrt() * p0;
        p0 = p1;
        p1 = p2;
    }
    // p_n' = √(2n)·p_{n−1}.
    (p1, (2.0 * n as f64).sqrt() * p0)
}

impl<const K: usize> HermiteRule<K> {
    /// Builds the rule: the roots of H_K by Newton's method from the asymptotic guesses
    /// (Numerical Recipes, 3rd ed., §4.6), converted to the standard normal weight.
    pub(crate) fn new() -> Self {
        let n = K;
        let nf = n as f64;
        let mut phys = [0.0_f64; K];
        let mut phys_w = [0.0_f64; K];
        let mut z = 0.0_f64;
        for i in 0..n.div_ceil(2) {
            z = match i {
                0 => (2.0 * nf + 1.0).sqrt() - 1.855_75 * (2.0 * nf + 1.0).powf(-0.166_67),
                1 => z - 1.14 * nf.powf(0.426) / z,
                2 => 1.86 * z - 0.86 * phys[0],
                3 => 1.91 * z - 0.91 * phys[1],
                _ => 2.0 * z - phys[i - 2],
            };
            let mut derivative = 1.0;
            for _ in 0..100 {
                let (p, dp) = orthonormal_hermite(n, z);
                derivative = dp;
                let step = p / dp;
                z -= step;
                if step.abs() < 1e-15 * z.abs().max(1.0) {
                    break;
                }
            }
            let (_, dp) = orthonormal_hermite(n, z);
            derivative = if dp.is_finite() { dp } else { derivative };
            phys[i] = z;
            phys_w[i] = 2.0 / (derivative * derivative);
            phys[n - 1 - i] = -z;
            phys_w[n - 1 - i] = phys_w[i];
        }
        let mut nodes = [0.0; K];
        let mut weights = [0.0; K];
        let mut half_square = [0.0; K];
        let root_pi = std::f64::consts::PI.sqrt();
        for k in 0..K {
            // Ascending order: phys is descending.
            let x = std::f64::consts::SQRT_2 * phys[K - 1 - k];
            nodes[k] = x;
            weights[k] = phys_w[K - 1 - k] / root_pi;
            half_square[k] = 0.5 * x * x;
        }
        let mut expansion = [[0.0; K]; K];
        for k in 0..K {
            let x = nodes[k];
            // Heₘ(x)/m! by Heₘ₊₁ = x·Heₘ − m·Heₘ₋₁, divided as it goes.
            let (mut previous, mut current) = (0.0, 1.0);
            for (m, row) in expansion.iter_mut().enumerate() {
                row[k] = weights[k] * current;
                // current = Heₘ/m!; next = He_{m+1}/(m+1)! = (x·Heₘ/m! − Heₘ₋₁/(m−1)!)/(m+1).
                let next = (x * current - previous) / (m as f64 + 1.0);
                previous = current;
                current = next;
            }
        }
        Self {
            nodes,
            weights,
            half_square,
            expansion,
        }
    }

    /// For X with density φ(x)·Σ cₘHeₘ(x) (c₀ its mass, not necessarily 1) and θ = α + βX + σZ,
    /// Z ~ N(0, 1) independent: P(θ ≤ t) and the density of θ at t. With S = √(β² + σ²),
    /// u = (t − α)/S and ρ = β/S, Gaussian integration by parts (E[Heₘ(X)g(X)] = E[g⁽ᵐ⁾(X)])
    /// gives P(θ ≤ t) = c₀Φ(u) − φ(u)·Σₘ₌₁ cₘρᵐHe_{m−1}(u), density (c₀ + Σ cₘρᵐHeₘ(u))φ(u)/S.
    pub(crate) fn convolved_cdf(
        &self,
        coefficients: &[f64],
        alpha: f64,
        beta: f64,
        sigma: f64,
        t: f64,
    ) -> (f64, f64) {
        let scale = (beta * beta + sigma * sigma).sqrt();
        let u = (t - alpha) / scale;
        let rho = beta / scale;
        let (upper, phi) = NormalTable::get().tail(u.abs());
        let big_phi = if u >= 0.0 { 1.0 - upper } else { upper };
        let (mut previous, mut current) = (0.0, 1.0);
        let mut tail = 0.0;
        let mut density = coefficients[0];
        let mut power = 1.0;
        for (m, &c) in coefficients.iter().enumerate().skip(1) {
            power *= rho;
            tail += c * power * current;
            let next = u * current - (m as f64 - 1.0) * previous;
            previous = current;
            current = next;
            density += c * power * current;
        }
        (
            coefficients[0] * big_phi - phi * tail,
            (phi * density / scale).max(0.0),
        )
    }

    /// The unnormalised Hermite coefficients c₀ … c_{K−1} of the node values `q`
    /// (c₀ = Σ Wₖqₖ).
    pub(crate) fn raw_coefficients(&self, q: &[f64; K], out: &mut [f64; K]) {
        for (m, row) in self.expansion.iter().enumerate() {
            out[m] = row.iter().zip(q).map(|(e, v)| e * v).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_integrates_normal_moments_exactly() {
        let rule = HermiteRule::<16>::new();
        let moment = |power: i32| -> f64 {
            rule.nodes
                .iter()
                .zip(&rule.weights)
                .map(|(x, w)| w * x.powi(power))
                .sum()
        };
        assert!((moment(0) - 1.0).abs() < 1e-14);
        assert!((moment(2) - 1.0).abs() < 1e-13);
        assert!((moment(4) - 3.0).abs() < 1e-12);
        assert!((moment(10) - 945.0).abs() < 1e-8);
        assert!(moment(7).abs() < 1e-10);
    }

    #[test]
    fn the_spectral_cdf_of_a_polynomial_density_is_exact() {
        let rule = HermiteRule::<16>::new();
        // q(x) = 1 + x/2: density (1 + x/2)φ(x) (not positive everywhere, but the algebra is
        // linear); its CDF is Φ(a) − φ(a)/2.
        let mut q = [0.0; 16];
        for (v, x) in q.iter_mut().zip(&rule.nodes) {
            *v = 1.0 + 0.5 * x;
        }
        let mut c = [0.0; 16];
        rule.raw_coefficients(&q, &mut c);
        let (upper, phi) = NormalTable::get().tail(0.3);
        let (cdf, _) = rule.convolved_cdf(&c, 0.0, 1.0, 0.0, -0.3);
        assert!((cdf - (upper - 0.5 * phi)).abs() < 1e-12, "{cdf}");
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    fn check<const K: usize>() {
        let rule = HermiteRule::<K>::new();
        let m0: f64 = rule.weights.iter().sum();
        let m2: f64 = rule
            .nodes
            .iter()
            .zip(&rule.weights)
            .map(|(x, w)| w * x * x)
            .sum();
        let m8: f64 = rule
            .nodes
            .iter()
            .zip(&rule.weights)
            .map(|(x, w)| w * x.powi(8))
            .sum();
        eprintln!("K={K} {m0} {m2} {m8} {:?}", &rule.nodes[..3]);
    }

    #[test]
    fn sizes() {
        check::<16>();
        check::<20>();
        check::<24>();
        check::<32>();
    }
}
