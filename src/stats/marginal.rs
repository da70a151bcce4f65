//! Posterior marginals of one arm's parameter, and the working scale used to integrate them.
//!
//! A [`Marginal`] can only be built from valid parameters, so the quadrature never sees a
//! non-finite or non-positive shape. The working scale ("z") maps each family's support onto the
//! whole real line so that every density is smooth there: logit for Beta, log for Gamma and a
//! sinh stretch for Student-t (see `METHODS.md`, "Quadrature").

use serde::{Deserialize, Serialize};

use super::{positive, StatsError};

/// The shape of a posterior marginal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Shape {
    /// Beta(a, b) on (0, 1).
    Beta {
        /// First shape parameter.
        a: f64,
        /// Second shape parameter.
        b: f64,
    },
    /// Gamma(shape, rate) on (0, ∞).
    Gamma {
        /// Shape parameter.
        shape: f64,
        /// Rate parameter (mean = shape / rate).
        rate: f64,
    },
    /// Location-scale Student-t.
    StudentT {
        /// Degrees of freedom.
        df: f64,
        /// Location (the median).
        loc: f64,
        /// Scale.
        scale: f64,
    },
}

/// A validated posterior marginal for one arm's parameter θ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Marginal(Shape);

impl Marginal {
    /// Beta(a, b); both shapes finite and positive.
    pub fn beta(a: f64, b: f64) -> Result<Self, StatsError> {
        Ok(Self(Shape::Beta {
            a: positive("a", a)?,
            b: positive("b", b)?,
        }))
    }

    /// Gamma(shape, rate); both finite and positive.
    pub fn gamma(shape: f64, rate: f64) -> Result<Self, StatsError> {
        Ok(Self(Shape::Gamma {
            shape: positive("shape", shape)?,
            rate: positive("rate", rate)?,
        }))
    }

    /// Student-t with `df` degrees of freedom, location `loc` and scale `scale`.
    pub fn student_t(df: f64, loc: f64, scale: f64) -> Result<Self, StatsError> {
        if !loc.is_finite() {
            return Err(StatsError::Parameter {
                name: "loc",
                value: loc,
            });
        }
        Ok(Self(Shape::StudentT {
            df: positive("df", df)?,
            loc,
            scale: positive("scale", scale)?,
        }))
    }

    /// The family and parameters.
    pub fn shape(&self) -> Shape {
        self.0
    }

    /// The family's name, for error messages.
    pub fn family(&self) -> &'static str {
        match self.0 {
            Shape::Beta { .. } => "beta",
            Shape::Gamma { .. } => "gamma",
            Shape::StudentT { .. } => "student_t",
        }
    }

    /// Posterior mean; `None` for a Student-t with df ≤ 1, whose mean does not exist.
    pub fn mean(&self) -> Option<f64> {
        match self.0 {
            Shape::Beta { a, b } => Some(a / (a + b)),
            Shape::Gamma { shape, rate } => Some(shape / rate),
            Shape::StudentT { df, loc, .. } => (df > 1.0).then_some(loc),
        }
    }

    /// Posterior standard deviation; `None` for a Student-t with df ≤ 2.
    pub fn sd(&self) -> Option<f64> {
        match self.0 {
            Shape::Beta { a, b } => {
                let s = a + b;
                Some((a * b / (s * s * (s + 1.0))).sqrt())
            }
            Shape::Gamma { shape, rate } => Some(shape.sqrt() / rate),
            Shape::StudentT { df, scale, .. } => {
                (df > 2.0).then(|| scale * (df / (df - 2.0)).sqrt())
            }
        }
    }

    /// The density of θ at `theta` (0 outside the support): the curve drawn on the unblinded
    /// dashboard (formulas in `METHODS.md`, "Posterior densities").
    pub fn density(&self, theta: f64) -> f64 {
        use statrs::function::gamma::ln_gamma;
        match self.0 {
            Shape::Beta { a, b } => {
                if !(theta > 0.0 && theta < 1.0) {
                    return 0.0;
                }
                let ln_beta = ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b);
                ((a - 1.0) * theta.ln() + (b - 1.0) * (-theta).ln_1p() - ln_beta).exp()
            }
            Shape::Gamma { shape, rate } => {
                if theta <= 0.0 {
                    return 0.0;
                }
                (shape * rate.ln() - ln_gamma(shape) + (shape - 1.0) * theta.ln() - rate * theta)
                    .exp()
            }
            Shape::StudentT { df, loc, scale } => {
                let z = (theta - loc) / scale;
                let ln_c = ln_gamma((df + 1.0) / 2.0)
                    - ln_gamma(df / 2.0)
                    - 0.5 * (df * std::f64::consts::PI).ln()
                    - scale.ln();
                (ln_c - (df + 1.0) / 2.0 * (z * z / df).ln_1p()).exp()
            }
        }
    }

    /// The working-scale transform for a set of arms of this family.
    pub(crate) fn transform_for(arms: &[Marginal]) -> Result<Transform, StatsError> {
        let first = arms.first().ok_or(StatsError::NoArms)?;
        for arm in arms {
            if arm.family() != first.family() {
                return Err(StatsError::MixedFamilies {
                    first: first.family(),
                    other: arm.family(),
                });
            }
        }
        Ok(match first.0 {
            Shape::Beta { .. } => Transform::Logit,
            Shape::Gamma { .. } => Transform::Log,
            Shape::StudentT { .. } => {
                // Centre on the middle of the locations; stretch by the widest scale so that
                // every arm is unimodal on the working scale.
                let (mut lo, mut hi, mut widest) = (f64::INFINITY, f64::NEG_INFINITY, 0.0_f64);
                for arm in arms {
                    if let Shape::StudentT { loc, scale, .. } = arm.0 {
                        lo = lo.min(loc);
                        hi = hi.max(loc);
                        widest = widest.max(scale);
                    }
                }
                Transform::Asinh {
                    centre: 0.5 * (lo + hi),
                    stretch: widest,
                }
            }
        })
    }

    /// Log-density of z (up to a constant) given the node's shared features.
    #[inline]
    pub(crate) fn ln_density_z(&self, features: Features) -> f64 {
        match self.0 {
            Shape::Beta { a, b } => a * features.0 + b * features.1,
            Shape::Gamma { shape, rate } => shape * features.0 - rate * features.1,
            Shape::StudentT { df, loc, scale } => {
                let u = (features.0 - loc) / scale;
                -0.5 * (df + 1.0) * (u * u / df).ln_1p() + features.1
            }
        }
    }

    /// −d²/dz² of the log-density of z at `z` (the inverse local variance); `scale` is the
    /// Laplace scale, used as the step of the numerical derivative for Student-t.
    pub(crate) fn curvature_z(&self, transform: Transform, z: f64, scale: f64) -> f64 {
        match self.0 {
            Shape::Beta { a, b } => {
                let p = 1.0 / (1.0 + (-z).exp());
                (a + b) * p * (1.0 - p)
            }
            Shape::Gamma { rate, .. } => rate * z.exp(),
            Shape::StudentT { .. } => {
                let h = 1e-3 * scale;
                let f = |x: f64| self.ln_density_z(transform.features(x));
                -(f(z + h) - 2.0 * f(z) + f(z - h)) / (h * h)
            }
        }
    }

    /// A point near the mode on the working scale, and the local standard deviation there.
    pub(crate) fn centre_and_scale(&self, transform: Transform) -> (f64, f64) {
        match (self.0, transform) {
            (Shape::Beta { a, b }, _) => ((a / b).ln(), (1.0 / a + 1.0 / b).sqrt()),
            (Shape::Gamma { shape, rate }, _) => ((shape / rate).ln(), 1.0 / shape.sqrt()),
            (Shape::StudentT { loc, scale, .. }, Transform::Asinh { centre, stretch }) => {
                let z0 = ((loc - centre) / stretch).asinh();
                (z0, scale / (stretch * z0.cosh()))
            }
            (Shape::StudentT { loc, scale, .. }, _) => (loc, scale),
        }
    }
}

/// Values shared by every arm at one point z of the working scale.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Features(pub f64, pub f64);

/// The map between the working scale z and the parameter scale θ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Transform {
    /// θ = 1 / (1 + e^(−z)).
    Logit,
    /// θ = e^z.
    Log,
    /// θ = centre + stretch · sinh(z).
    Asinh {
        /// Centre of the stretch.
        centre: f64,
        /// Scale of the stretch.
        stretch: f64,
    },
}

impl Transform {
    /// θ at z.
    #[inline]
    pub(crate) fn to_theta(self, z: f64) -> f64 {
        match self {
            Self::Logit => 1.0 / (1.0 + (-z).exp()),
            Self::Log => z.exp(),
            Self::Asinh { centre, stretch } => centre + stretch * z.sinh(),
        }
    }

    /// z at θ; ±∞ outside the support.
    #[inline]
    pub(crate) fn to_z(self, theta: f64) -> f64 {
        match self {
            Self::Logit => {
                if theta <= 0.0 {
                    f64::NEG_INFINITY
                } else if theta >= 1.0 {
                    f64::INFINITY
                } else {
                    (theta / (1.0 - theta)).ln()
                }
            }
            Self::Log => {
                if theta <= 0.0 {
                    f64::NEG_INFINITY
                } else {
                    theta.ln()
                }
            }
            Self::Asinh { centre, stretch } => ((theta - centre) / stretch).asinh(),
        }
    }

    /// The shared features at z.
    #[inline]
    pub(crate) fn features(self, z: f64) -> Features {
        match self {
            Self::Logit => {
                // ln σ(z) computed without overflow; ln σ(−z) = ln σ(z) − z.
                let ln_sigma = if z > 0.0 {
                    -(-z).exp().ln_1p()
                } else {
                    z - z.exp().ln_1p()
                };
                Features(ln_sigma, ln_sigma - z)
            }
            Self::Log => Features(z, z.exp()),
            Self::Asinh { centre, stretch } => {
                let ln_cosh = z.abs() + (-2.0 * z.abs()).exp().ln_1p() - std::f64::consts::LN_2;
                Features(centre + stretch * z.sinh(), ln_cosh)
            }
        }
    }
}
