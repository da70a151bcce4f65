//! Posterior marginals of one arm's parameter, and the working scale used to integrate them.
//!
//! A [`Marginal`] can only be built from valid parameters, so the quadrature never sees a
//! non-finite or non-positive shape. It is one [`Shape`] or a mixture of up to
//! [`MAX_COMPONENTS`] shapes of one family (inline, so a marginal stays `Copy`); a mixture's
//! weights and the log normalising constants of its components are computed once, when it is
//! built. The working scale ("z") maps each family's support onto the whole real line so that
//! every density is smooth there: logit for Beta, log for Gamma and a sinh stretch for Student-t
//! (see `METHODS.md`, "Quadrature" and "Mixture priors").

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use statrs::function::gamma::ln_gamma;

use super::mixture::{MAX_COMPONENTS, WEIGHT_TOLERANCE};
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

/// A validated posterior marginal for one arm's parameter θ: one shape, or a mixture of shapes
/// of one family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marginal(Form);

#[derive(Debug, Clone, Copy, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a mixture is held inline so that a marginal stays Copy and the hot path allocates nothing"
)]
enum Form {
    Single(Shape),
    Mixture(Components),
}

/// The components of a mixture marginal (at least 2, all of one family).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Components {
    len: usize,
    weights: [f64; MAX_COMPONENTS],
    /// ln weight + ln of the component's normalising constant on the working scale (without the
    /// Student-t stretch, which every component shares).
    ln_scales: [f64; MAX_COMPONENTS],
    shapes: [Shape; MAX_COMPONENTS],
}

impl Components {
    /// The shapes, in the order given.
    pub(crate) fn shapes(&self) -> &[Shape] {
        &self.shapes[..self.len]
    }

    /// Log-density of z (up to a constant common to every component) at the node's features:
    /// the log-sum-exp of the weighted, normalised components.
    #[inline]
    pub(crate) fn ln_density_z(&self, features: Features) -> f64 {
        let mut terms = [0.0_f64; MAX_COMPONENTS];
        let mut top = f64::NEG_INFINITY;
        for (k, term) in terms.iter_mut().enumerate().take(self.len) {
            *term = self.ln_scales[k] + self.shapes[k].ln_density_z(features);
            top = top.max(*term);
        }
        if top == f64::NEG_INFINITY {
            return top;
        }
        let sum: f64 = terms[..self.len].iter().map(|t| (t - top).exp()).sum();
        top + sum.ln()
    }

    /// Component `k`'s share of the density of z relative to e^`reference`,
    /// exp(ln wₖcₖ + ℓₖ(z) − reference): summed over the components it is the log-sum-exp without
    /// its logarithm, for the quadrature's nodes (`reference` from [`Self::reference`], so no term
    /// overflows).
    #[inline]
    pub(crate) fn term_z(&self, k: usize, features: Features, reference: f64) -> f64 {
        (self.ln_scales[k] + self.shapes[k].ln_density_z(features) - reference).exp()
    }

    /// The log-density of z at the highest of the components' centres: a reference near the
    /// peak, so that densities scaled by it neither overflow nor underflow where there is mass.
    pub(crate) fn reference(&self, transform: Transform) -> f64 {
        self.shapes()
            .iter()
            .map(|shape| {
                let (centre, _) = shape.centre_and_scale(transform);
                self.ln_density_z(transform.features(centre))
            })
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// The log normalising constant of a shape's density on its working scale, without the
/// Student-t stretch (the same for every arm of one evaluation).
fn ln_normaliser(shape: Shape) -> f64 {
    match shape {
        Shape::Beta { a, b } => ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b),
        Shape::Gamma { shape, rate } => shape * rate.ln() - ln_gamma(shape),
        Shape::StudentT { df, scale, .. } => {
            ln_gamma(0.5 * (df + 1.0))
                - ln_gamma(0.5 * df)
                - 0.5 * (df * std::f64::consts::PI).ln()
                - scale.ln()
        }
    }
}

impl Shape {
    /// The family's name, for error messages.
    pub fn family(&self) -> &'static str {
        match self {
            Shape::Beta { .. } => "beta",
            Shape::Gamma { .. } => "gamma",
            Shape::StudentT { .. } => "student_t",
        }
    }

    fn mean(&self) -> Option<f64> {
        match *self {
            Shape::Beta { a, b } => Some(a / (a + b)),
            Shape::Gamma { shape, rate } => Some(shape / rate),
            Shape::StudentT { df, loc, .. } => (df > 1.0).then_some(loc),
        }
    }

    fn sd(&self) -> Option<f64> {
        match *self {
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

    fn density(&self, theta: f64) -> f64 {
        match *self {
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

    /// Log-density of z (up to a constant) given the node's shared features.
    #[inline]
    pub(crate) fn ln_density_z(&self, features: Features) -> f64 {
        match *self {
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
        match *self {
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
        match (*self, transform) {
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

/// How a marginal is seen by the quadrature: one shape (the fast path) or a mixture.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind<'a> {
    /// One shape.
    Single(Shape),
    /// A mixture of at least two shapes.
    Mixture(&'a Components),
}

impl Marginal {
    /// Beta(a, b); both shapes finite and positive.
    pub fn beta(a: f64, b: f64) -> Result<Self, StatsError> {
        Ok(Self(Form::Single(Shape::Beta {
            a: positive("a", a)?,
            b: positive("b", b)?,
        })))
    }

    /// Gamma(shape, rate); both finite and positive.
    pub fn gamma(shape: f64, rate: f64) -> Result<Self, StatsError> {
        Ok(Self(Form::Single(Shape::Gamma {
            shape: positive("shape", shape)?,
            rate: positive("rate", rate)?,
        })))
    }

    /// Student-t with `df` degrees of freedom, location `loc` and scale `scale`.
    pub fn student_t(df: f64, loc: f64, scale: f64) -> Result<Self, StatsError> {
        if !loc.is_finite() {
            return Err(StatsError::Parameter {
                name: "loc",
                value: loc,
            });
        }
        Ok(Self(Form::Single(Shape::StudentT {
            df: positive("df", df)?,
            loc,
            scale: positive("scale", scale)?,
        })))
    }

    /// A mixture of plain marginals of one family, `(weight, marginal)`: every weight finite and
    /// positive, the weights summing to 1 within [`WEIGHT_TOLERANCE`] (then rescaled to sum to 1
    /// exactly), at most [`MAX_COMPONENTS`] parts. One part gives that marginal itself, so a
    /// one-component mixture is exactly the plain marginal.
    pub fn mixture(parts: &[(f64, Marginal)]) -> Result<Self, StatsError> {
        let first = parts.first().ok_or(StatsError::NoComponents)?;
        if parts.len() > MAX_COMPONENTS {
            return Err(StatsError::TooManyComponents {
                got: parts.len(),
                max: MAX_COMPONENTS,
            });
        }
        let Form::Single(first_shape) = first.1 .0 else {
            return Err(StatsError::NestedMixture { component: 1 });
        };
        let mut components = Components {
            len: parts.len(),
            weights: [0.0; MAX_COMPONENTS],
            ln_scales: [0.0; MAX_COMPONENTS],
            shapes: [first_shape; MAX_COMPONENTS],
        };
        let mut sum = 0.0;
        for (index, &(weight, marginal)) in parts.iter().enumerate() {
            if !(weight.is_finite() && weight > 0.0) {
                return Err(StatsError::MixtureWeight {
                    component: index + 1,
                    value: weight,
                });
            }
            let Form::Single(shape) = marginal.0 else {
                return Err(StatsError::NestedMixture {
                    component: index + 1,
                });
            };
            if shape.family() != first_shape.family() {
                return Err(StatsError::MixedFamilies {
                    first: first_shape.family(),
                    other: shape.family(),
                });
            }
            components.weights[index] = weight;
            components.shapes[index] = shape;
            sum += weight;
        }
        if (sum - 1.0).abs() > WEIGHT_TOLERANCE {
            return Err(StatsError::MixtureWeights { sum });
        }
        if parts.len() == 1 {
            return Ok(first.1);
        }
        for k in 0..parts.len() {
            components.weights[k] /= sum;
            components.ln_scales[k] =
                components.weights[k].ln() + ln_normaliser(components.shapes[k]);
        }
        Ok(Self(Form::Mixture(components)))
    }

    /// The marginal of one shape, validated.
    pub fn from_shape(shape: Shape) -> Result<Self, StatsError> {
        match shape {
            Shape::Beta { a, b } => Self::beta(a, b),
            Shape::Gamma { shape, rate } => Self::gamma(shape, rate),
            Shape::StudentT { df, loc, scale } => Self::student_t(df, loc, scale),
        }
    }

    /// The family and parameters of a plain marginal; `None` for a mixture.
    pub fn shape(&self) -> Option<Shape> {
        match self.0 {
            Form::Single(shape) => Some(shape),
            Form::Mixture(_) => None,
        }
    }

    /// `(weight, shape)` of every component: one pair of weight 1 for a plain marginal.
    pub fn components(&self) -> impl Iterator<Item = (f64, Shape)> + '_ {
        let (weights, shapes): (&[f64], &[Shape]) = match &self.0 {
            Form::Single(shape) => (&[1.0], std::slice::from_ref(shape)),
            Form::Mixture(c) => (&c.weights[..c.len], c.shapes()),
        };
        weights.iter().copied().zip(shapes.iter().copied())
    }

    /// Whether this is a mixture of two or more components.
    pub fn is_mixture(&self) -> bool {
        matches!(self.0, Form::Mixture(_))
    }

    /// The first (or only) component's shape: a mixture's components share its family.
    fn lead(&self) -> Shape {
        match &self.0 {
            Form::Single(shape) => *shape,
            Form::Mixture(c) => c.shapes[0],
        }
    }

    /// How the quadrature sees this marginal.
    pub(crate) fn kind(&self) -> Kind<'_> {
        match &self.0 {
            Form::Single(shape) => Kind::Single(*shape),
            Form::Mixture(c) => Kind::Mixture(c),
        }
    }

    /// The family's name, for error messages.
    pub fn family(&self) -> &'static str {
        self.lead().family()
    }

    /// Posterior mean; `None` for a Student-t with df ≤ 1, whose mean does not exist (in any
    /// component of a mixture).
    pub fn mean(&self) -> Option<f64> {
        self.components()
            .map(|(w, shape)| shape.mean().map(|m| w * m))
            .sum()
    }

    /// Posterior standard deviation; `None` for a Student-t with df ≤ 2 (in any component of a
    /// mixture). A mixture's variance is Σ wₖ(σₖ² + μₖ²) − μ².
    pub fn sd(&self) -> Option<f64> {
        match self.0 {
            Form::Single(shape) => shape.sd(),
            Form::Mixture(_) => {
                let mean = self.mean()?;
                let second: Option<f64> = self
                    .components()
                    .map(|(w, shape)| Some(w * (shape.sd()?.powi(2) + shape.mean()?.powi(2))))
                    .sum();
                Some((second? - mean * mean).max(0.0).sqrt())
            }
        }
    }

    /// The density of θ at `theta` (0 outside the support): the curve drawn on the unblinded
    /// dashboard (formulas in `METHODS.md`, "Posterior densities"); a mixture's is the weighted
    /// sum of its components'.
    pub fn density(&self, theta: f64) -> f64 {
        match self.0 {
            Form::Single(shape) => shape.density(theta),
            Form::Mixture(_) => self
                .components()
                .map(|(w, shape)| w * shape.density(theta))
                .sum(),
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
        Ok(match first.lead() {
            Shape::Beta { .. } => Transform::Logit,
            Shape::Gamma { .. } => Transform::Log,
            Shape::StudentT { .. } => {
                // Centre on the middle of the locations; stretch by the widest scale so that
                // every arm (every component of a mixture) is unimodal on the working scale.
                let (mut lo, mut hi, mut widest) = (f64::INFINITY, f64::NEG_INFINITY, 0.0_f64);
                for arm in arms {
                    for (_, shape) in arm.components() {
                        if let Shape::StudentT { loc, scale, .. } = shape {
                            lo = lo.min(loc);
                            hi = hi.max(loc);
                            widest = widest.max(scale);
                        }
                    }
                }
                Transform::Asinh {
                    centre: 0.5 * (lo + hi),
                    stretch: widest,
                }
            }
        })
    }
}

#[derive(Serialize, Deserialize)]
struct WeightedShape {
    weight: f64,
    #[serde(flatten)]
    shape: Shape,
}

/// What [`Marginal`]'s serialisation reads back as: a shape, or a mixture of them.
#[derive(Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
enum Wire {
    Beta { a: f64, b: f64 },
    Gamma { shape: f64, rate: f64 },
    StudentT { df: f64, loc: f64, scale: f64 },
    Mixture { components: Vec<WeightedShape> },
}

impl<'de> Deserialize<'de> for Marginal {
    /// The JSON [`Serialize`] writes, validated again like a new marginal.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let checked = match Wire::deserialize(deserializer)? {
            Wire::Beta { a, b } => Self::beta(a, b),
            Wire::Gamma { shape, rate } => Self::gamma(shape, rate),
            Wire::StudentT { df, loc, scale } => Self::student_t(df, loc, scale),
            Wire::Mixture { components } => components
                .iter()
                .map(|part| Ok((part.weight, Self::from_shape(part.shape)?)))
                .collect::<Result<Vec<_>, StatsError>>()
                .and_then(|parts| Self::mixture(&parts)),
        };
        checked.map_err(serde::de::Error::custom)
    }
}

impl Serialize for Marginal {
    /// A plain marginal as its shape (`{"family": "beta", "a": …, "b": …}`); a mixture as
    /// `{"family": "mixture", "components": [{"weight": …, "family": …, …}, …]}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Form::Single(shape) => shape.serialize(serializer),
            Form::Mixture(_) => {
                let components: Vec<WeightedShape> = self
                    .components()
                    .map(|(weight, shape)| WeightedShape { weight, shape })
                    .collect();
                let mut state = serializer.serialize_struct("Marginal", 2)?;
                state.serialize_field("family", "mixture")?;
                state.serialize_field("components", &components)?;
                state.end()
            }
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
