//! Deterministic quadrature for decision probabilities: P(best), P(worst), P(θa − θb > δ),
//! P(|θa − θb| < δ), P(max − min < δ), and posterior quantiles.
//!
//! Method (details and references in `METHODS.md`): every arm's density is written on a working
//! scale z where it is smooth and unimodal (each component of a mixture is). Each arm (each
//! component of a mixture arm) contributes a band [lo, hi] outside which its log-density has
//! dropped by more than [`TAIL_DROP`] below its peak, and a local scale; a mixture arm's span is
//! the union of its components' bands, and its density the log-sum-exp of its weighted
//! components. The union of the bands is cut into panels no wider than [`PANEL_WIDTH`] times the smallest scale present,
//! each carrying an 8-point Gauss–Legendre rule. Densities are evaluated once per node, and every
//! CDF at every node comes from exact integration of the density's interpolating polynomial on
//! the panel (a spectral integration matrix), so no incomplete-beta (or other) special function is
//! called on the hot path. The [`Quadrature`] value owns its buffers: after warm-up, repeated
//! evaluations of the same size allocate nothing.

use super::marginal::{Features, Kind, Marginal, Shape, Transform};
use super::roots::bisect;
use super::{Better, StatsError};

/// Gauss–Legendre points per panel.
const GAUSS_POINTS: usize = 8;
/// Log-density drop (nats) below the peak that bounds an arm's band.
pub const TAIL_DROP: f64 = 30.0;
/// Panel width in units of the smallest local standard deviation covering the panel.
pub const PANEL_WIDTH: f64 = 2.0;
/// Panel width multiplier for P(best) and P(worst), which evaluate no CDF between nodes.
const EXTREME_WIDTH_FACTOR: f64 = 1.5;
/// The largest number of arms one evaluation accepts.
pub const MAX_ARMS: usize = 64;

const NP: usize = GAUSS_POINTS;
/// Bisection steps refining a band edge (to an eighth of the last step out; the edge errs
/// outwards, so the band only grows).
const BAND_BISECTIONS: usize = 3;

/// The region of the working scale where one arm has mass, split at its mode, with the
/// local standard deviation that sets the panel width on each side.
#[derive(Debug, Clone, Copy)]
struct Band {
    lo: f64,
    centre: f64,
    hi: f64,
    left: f64,
    right: f64,
}

impl Band {
    /// The local scale of this band over [from, to], if the band covers it.
    fn scale_over(&self, from: f64, to: f64) -> Option<f64> {
        if self.lo <= from && to <= self.centre {
            Some(self.left)
        } else if self.centre <= from && to <= self.hi {
            Some(self.right)
        } else {
            None
        }
    }
}

/// Log-density drop (nats) at which the local scale of each side of a band is probed.
const SCALE_PROBE_DROP: f64 = 20.0;

/// One panel of the grid: [left, left + 2·half].
#[derive(Debug, Clone, Copy)]
struct Panel {
    left: f64,
    half: f64,
}

/// Reusable quadrature workspace and rule tables.
#[derive(Debug, Clone)]
pub struct Quadrature {
    /// Gauss–Legendre nodes on [−1, 1].
    nodes: [f64; NP],
    /// Gauss–Legendre weights on [−1, 1].
    weights: [f64; NP],
    /// `cumulative[k][m]` = ∫ from −1 to nodes[k] of the m-th Lagrange basis polynomial.
    cumulative: [[f64; NP]; NP],
    /// Barycentric weights for the points (−1, nodes…, 1).
    barycentric: [f64; NP + 2],
    // Buffers.
    extra_cuts: Vec<f64>,
    extra_spans: Vec<(f64, f64)>,
    /// Every component's band, arm by arm (one per plain arm).
    bands: Vec<Band>,
    /// Arm j's bands are `bands[band_ranges[j].0..band_ranges[j].1]`.
    band_ranges: Vec<(usize, usize)>,
    /// Each arm's span: the union of its bands.
    spans: Vec<(f64, f64)>,
    cuts: Vec<f64>,
    panels: Vec<Panel>,
    z: Vec<f64>,
    w: Vec<f64>,
    features: Vec<Features>,
    panel_width: f64,
    density: Vec<f64>,
    cdf: Vec<f64>,
    edge_cdf: Vec<f64>,
    transform: Transform,
}

impl Default for Quadrature {
    fn default() -> Self {
        Self::new()
    }
}

fn legendre(n: usize, x: f64) -> (f64, f64) {
    // Returns (P_n(x), P_n'(x)) by the three-term recurrence.
    let (mut p0, mut p1) = (1.0, x);
    for k in 2..=n {
        let kf = k as f64;
        let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    let nf = n as f64;
    (p1, nf * (x * p1 - p0) / (x * x - 1.0))
}

impl Quadrature {
    /// Builds the rule tables (Gauss–Legendre nodes by Newton's method on P₈).
    pub fn new() -> Self {
        let mut nodes = [0.0; NP];
        let mut weights = [0.0; NP];
        for i in 0..NP {
            let mut x = -(std::f64::consts::PI * (i as f64 + 0.75) / (NP as f64 + 0.5)).cos();
            for _ in 0..100 {
                let (p, dp) = legendre(NP, x);
                let step = p / dp;
                x -= step;
                if step.abs() < 1e-16 {
                    break;
                }
            }
            let (_, dp) = legendre(NP, x);
            nodes[i] = x;
            weights[i] = 2.0 / ((1.0 - x * x) * dp * dp);
        }
        let lagrange = |m: usize, t: f64| -> f64 {
            let mut value = 1.0;
            for l in 0..NP {
                if l != m {
                    value *= (t - nodes[l]) / (nodes[m] - nodes[l]);
                }
            }
            value
        };
        let mut cumulative = [[0.0; NP]; NP];
        for k in 0..NP {
            let half = 0.5 * (nodes[k] + 1.0);
            for (m, entry) in cumulative[k].iter_mut().enumerate() {
                *entry = (0..NP)
                    .map(|r| half * weights[r] * lagrange(m, -1.0 + half * (nodes[r] + 1.0)))
                    .sum();
            }
        }
        let mut points = [0.0; NP + 2];
        points[0] = -1.0;
        points[1..=NP].copy_from_slice(&nodes);
        points[NP + 1] = 1.0;
        let mut barycentric = [0.0; NP + 2];
        for k in 0..NP + 2 {
            let mut product = 1.0;
            for l in 0..NP + 2 {
                if l != k {
                    product *= points[k] - points[l];
                }
            }
            barycentric[k] = 1.0 / product;
        }
        Self {
            nodes,
            weights,
            cumulative,
            barycentric,
            extra_cuts: Vec::new(),
            extra_spans: Vec::new(),
            bands: Vec::new(),
            band_ranges: Vec::new(),
            spans: Vec::new(),
            cuts: Vec::new(),
            panels: Vec::new(),
            z: Vec::new(),
            w: Vec::new(),
            features: Vec::new(),
            panel_width: PANEL_WIDTH,
            density: Vec::new(),
            cdf: Vec::new(),
            edge_cdf: Vec::new(),
            transform: Transform::Logit,
        }
    }

    /// The same rule with panels `width` local standard deviations wide (for accuracy studies;
    /// the default is [`PANEL_WIDTH`]).
    pub fn with_panel_width(mut self, width: f64) -> Self {
        if width.is_finite() && width > 0.0 {
            self.panel_width = width;
        }
        self
    }

    /// P(arm i is the best) for every arm, into `out` (same length as `arms`).
    ///
    /// "Best" is the largest θ when `better` is [`Better::Higher`], the smallest otherwise.
    pub fn p_best_into(
        &mut self,
        arms: &[Marginal],
        better: Better,
        out: &mut [f64],
    ) -> Result<(), StatsError> {
        self.p_extreme(arms, better == Better::Higher, out)
    }

    /// P(arm i is the best) for every arm.
    pub fn p_best(&mut self, arms: &[Marginal], better: Better) -> Result<Vec<f64>, StatsError> {
        let mut out = vec![0.0; arms.len()];
        self.p_best_into(arms, better, &mut out)?;
        Ok(out)
    }

    /// P(arm i is the worst) for every arm, into `out`.
    pub fn p_worst_into(
        &mut self,
        arms: &[Marginal],
        better: Better,
        out: &mut [f64],
    ) -> Result<(), StatsError> {
        self.p_extreme(arms, better == Better::Lower, out)
    }

    /// P(arm i is the worst) for every arm.
    pub fn p_worst(&mut self, arms: &[Marginal], better: Better) -> Result<Vec<f64>, StatsError> {
        let mut out = vec![0.0; arms.len()];
        self.p_worst_into(arms, better, &mut out)?;
        Ok(out)
    }

    /// P(θa − θb > δ).
    pub fn p_greater(&mut self, a: &Marginal, b: &Marginal, delta: f64) -> Result<f64, StatsError> {
        finite_delta(delta)?;
        let pair = [*a, *b];
        self.prepare(&pair)?;
        self.extra_cuts.clear();
        self.extra_spans.clear();
        if delta != 0.0 {
            // Where θ − δ falls in b's band.
            self.push_shifted(1, delta, Some(0));
        }
        self.build_grid();
        self.fill(&pair);
        let n = self.z.len();
        let mut total = 0.0;
        for node in 0..n {
            let ga = self.density[node];
            if ga == 0.0 {
                continue;
            }
            let fb = if delta == 0.0 {
                self.cdf[n + node]
            } else {
                let theta = self.transform.to_theta(self.z[node]) - delta;
                self.cdf_at(1, self.transform.to_z(theta))
            };
            total += self.w[node] * ga * fb;
        }
        Ok(total.clamp(0.0, 1.0))
    }

    /// P(|θa − θb| < δ) for δ > 0.
    pub fn p_within(&mut self, a: &Marginal, b: &Marginal, delta: f64) -> Result<f64, StatsError> {
        if !(delta.is_finite() && delta > 0.0) {
            return Err(StatsError::Delta { value: delta });
        }
        let above_minus = self.p_greater(a, b, -delta)?;
        let above_plus = self.p_greater(a, b, delta)?;
        Ok((above_minus - above_plus).clamp(0.0, 1.0))
    }

    /// P(max θ − min θ < δ) over all arms, for δ > 0.
    pub fn p_range_below(&mut self, arms: &[Marginal], delta: f64) -> Result<f64, StatsError> {
        if !(delta.is_finite() && delta > 0.0) {
            return Err(StatsError::Delta { value: delta });
        }
        self.prepare(arms)?;
        self.extra_cuts.clear();
        self.extra_spans.clear();
        for j in 0..arms.len() {
            self.push_shifted(j, -delta, None);
        }
        self.build_grid();
        self.fill(arms);
        let n = self.z.len();
        let k = arms.len();
        let mut total = 0.0;
        for node in 0..n {
            let theta_up = self.transform.to_theta(self.z[node]) + delta;
            let z_up = self.transform.to_z(theta_up);
            for i in 0..k {
                let gi = self.density[i * n + node];
                if gi == 0.0 {
                    continue;
                }
                let mut product = gi;
                for j in 0..k {
                    if j != i {
                        let window = self.cdf_at(j, z_up) - self.cdf[j * n + node];
                        product *= window.max(0.0);
                    }
                }
                total += self.w[node] * product;
            }
        }
        Ok(total.clamp(0.0, 1.0))
    }

    /// The p-quantile of one marginal, for p in (0, 1).
    pub fn quantile(&mut self, arm: &Marginal, p: f64) -> Result<f64, StatsError> {
        if !(p > 0.0 && p < 1.0) {
            return Err(StatsError::Probability { value: p });
        }
        let single = [*arm];
        self.prepare(&single)?;
        // Quantiles are off the hot path: use a grid four times finer than the decision grid.
        let width = self.panel_width;
        self.panel_width = 0.25 * width;
        self.build_grid_from_arms(false);
        self.panel_width = width;
        self.fill(&single);
        let (from, to) = self.spans[0];
        let (lo, hi) = bisect(
            from,
            to,
            200,
            |mid| 1e-15 * (1.0 + mid.abs()),
            |z| self.cdf_at(0, z) < p,
        );
        Ok(self.transform.to_theta(0.5 * (lo + hi)))
    }

    fn p_extreme(
        &mut self,
        arms: &[Marginal],
        maximum: bool,
        out: &mut [f64],
    ) -> Result<(), StatsError> {
        if out.len() != arms.len() {
            return Err(StatsError::OutputLength {
                expected: arms.len(),
                got: out.len(),
            });
        }
        self.prepare(arms)?;
        // P(best) and P(worst) need no shifted CDFs: panels 25% wider keep them within 1e-9.
        let width = self.panel_width;
        self.panel_width = EXTREME_WIDTH_FACTOR * width;
        self.build_grid_from_arms(true);
        self.panel_width = width;
        self.fill(arms);
        let n = self.z.len();
        let k = arms.len();
        out.iter_mut().for_each(|o| *o = 0.0);
        let mut factor = [0.0_f64; MAX_ARMS];
        let mut suffix = [0.0_f64; MAX_ARMS + 1];
        for node in 0..n {
            for (j, f) in factor.iter_mut().enumerate().take(k) {
                let c = self.cdf[j * n + node];
                *f = if maximum { c } else { 1.0 - c };
            }
            suffix[k] = 1.0;
            for j in (0..k).rev() {
                suffix[j] = suffix[j + 1] * factor[j];
            }
            if suffix[0] == 0.0 && factor[..k].iter().filter(|&&f| f == 0.0).count() > 1 {
                continue;
            }
            let mut prefix = 1.0;
            let w = self.w[node];
            for i in 0..k {
                let g = self.density[i * n + node];
                if g != 0.0 {
                    out[i] += w * g * prefix * suffix[i + 1];
                }
                prefix *= factor[i];
            }
        }
        let sum: f64 = out.iter().sum();
        if sum > 0.0 {
            out.iter_mut().for_each(|o| *o = (*o / sum).clamp(0.0, 1.0));
        }
        Ok(())
    }

    /// Chooses the transform and each arm's band.
    fn prepare(&mut self, arms: &[Marginal]) -> Result<(), StatsError> {
        if arms.len() > MAX_ARMS {
            return Err(StatsError::TooManyArms {
                got: arms.len(),
                max: MAX_ARMS,
            });
        }
        self.transform = Marginal::transform_for(arms)?;
        self.bands.clear();
        self.band_ranges.clear();
        self.spans.clear();
        for arm in arms {
            let first = self.bands.len();
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for (_, shape) in arm.components() {
                let band = self.band(shape);
                lo = lo.min(band.lo);
                hi = hi.max(band.hi);
                self.bands.push(band);
            }
            self.band_ranges.push((first, self.bands.len()));
            self.spans.push((lo, hi));
        }
        Ok(())
    }

    fn band(&self, arm: Shape) -> Band {
        let transform = self.transform;
        let (centre, scale) = arm.centre_and_scale(transform);
        let ln_at = |z: f64| arm.ln_density_z(transform.features(z));
        let peak = ln_at(centre);
        let floor = peak - TAIL_DROP;
        let edge = |direction: f64| -> f64 {
            // Step out until the log-density is below the floor, then bisect.
            let mut inner = 0.0;
            let mut outer = (2.0 * TAIL_DROP).sqrt();
            let mut guard = 0;
            while ln_at(centre + direction * outer * scale) > floor && guard < 80 {
                inner = outer;
                outer *= 1.6;
                guard += 1;
            }
            let above = |t: f64| ln_at(centre + direction * t * scale) > floor;
            let (_, outer) = bisect(inner, outer, BAND_BISECTIONS, |_| 0.0, above);
            centre + direction * outer * scale
        };
        let (lo, hi) = (edge(-1.0), edge(1.0));
        // Where the density is still relevant, the curvature may exceed the mode's (the Gamma's
        // right tail on the log scale, a Beta's side towards 1/2 on the logit scale): probe it.
        let probe = (2.0 * SCALE_PROBE_DROP).sqrt() * scale;
        let local = |z: f64| {
            let curvature = arm.curvature_z(transform, z.clamp(lo, hi), scale);
            if curvature.is_finite() && curvature > 0.0 {
                scale.min(1.0 / curvature.sqrt())
            } else {
                scale
            }
        };
        Band {
            lo,
            centre: centre.clamp(lo, hi),
            hi,
            left: local(centre - probe),
            right: local(centre + probe),
        }
    }

    fn build_grid_from_arms(&mut self, merge: bool) {
        self.extra_cuts.clear();
        self.extra_spans.clear();
        self.build_grid_with(merge);
    }

    /// Adds panel edges where θ − shift crosses the panel edges of arm `j`'s own bands (clipped
    /// to arm `clip`'s span, or to the union of spans). Mapping the edges, rather than cutting
    /// the shifted region uniformly, grades the panels towards a boundary singularity of arm `j`.
    fn push_shifted(&mut self, j: usize, shift: f64, clip: Option<usize>) {
        let (clip_lo, clip_hi) = match clip {
            Some(c) => self.spans[c],
            None => self
                .spans
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &(lo, hi)| {
                    (l.min(lo), h.max(hi))
                }),
        };
        let (first, last) = self.band_ranges[j];
        for b in first..last {
            self.push_shifted_band(b, shift, clip_lo, clip_hi);
        }
    }

    /// [`Self::push_shifted`] for one band.
    fn push_shifted_band(&mut self, b: usize, shift: f64, clip_lo: f64, clip_hi: f64) {
        let t = self.transform;
        let band = self.bands[b];
        let count = ((band.hi - band.lo) / (0.5 * self.panel_width * band.left.min(band.right)))
            .ceil()
            .max(1.0) as usize;
        let step = (band.hi - band.lo) / count as f64;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for k in 0..=count {
            let image = t.to_z(t.to_theta(band.lo + step * k as f64) + shift);
            if image.is_finite() && image > clip_lo && image < clip_hi {
                self.extra_cuts.push(image);
                lo = lo.min(image);
                hi = hi.max(image);
            }
        }
        if lo < hi {
            self.extra_spans.push((lo, hi));
        }
    }

    /// Cuts the union of the arm bands and the extra spans into panels.
    fn build_grid(&mut self) {
        self.build_grid_with(false);
    }

    /// The smallest local scale of the bands covering [from, to] (two adjacent cuts); infinite
    /// where no band does.
    fn narrowest_over(&self, from: f64, to: f64) -> f64 {
        self.bands
            .iter()
            .filter_map(|b| b.scale_over(from, to))
            .fold(f64::INFINITY, f64::min)
    }

    /// [`Self::build_grid`]; with `merge`, runs of adjacent intervals between cuts that together
    /// fit in one panel (no wider than the panel width times the smallest scale over the run)
    /// become one panel, instead of one panel each. Overlapping bands (the components of a
    /// mixture arm, arms with similar posteriors) leave many short intervals between their cuts;
    /// a merged panel is no wider than the rule allows anywhere inside it. Only for grids without
    /// shifted cuts, whose positions matter.
    fn build_grid_with(&mut self, merge: bool) {
        self.cuts.clear();
        for band in &self.bands {
            self.cuts.push(band.lo);
            self.cuts.push(band.centre);
            self.cuts.push(band.hi);
        }
        self.cuts.extend_from_slice(&self.extra_cuts);
        self.cuts.sort_unstable_by(f64::total_cmp);
        self.cuts.dedup();
        self.panels.clear();
        let merge = merge && self.extra_cuts.is_empty();
        let mut i = 0;
        while i + 1 < self.cuts.len() {
            let (from, mut to) = (self.cuts[i], self.cuts[i + 1]);
            let mut narrowest = self.narrowest_over(from, to);
            let mut next = i + 1;
            let count = if narrowest.is_finite() {
                if merge {
                    while next + 1 < self.cuts.len() {
                        let further = self.cuts[next + 1];
                        let scale = narrowest.min(self.narrowest_over(to, further));
                        if !scale.is_finite() || further - from > self.panel_width * scale {
                            break;
                        }
                        narrowest = scale;
                        to = further;
                        next += 1;
                    }
                }
                ((to - from) / (self.panel_width * narrowest))
                    .ceil()
                    .max(1.0) as usize
            } else if self
                .extra_spans
                .iter()
                .any(|&(lo, hi)| lo <= from && hi >= to)
            {
                1
            } else {
                // A gap: nothing has mass here.
                i = next;
                continue;
            };
            let half = 0.5 * (to - from) / count as f64;
            for p in 0..count {
                self.panels.push(Panel {
                    left: from + 2.0 * half * p as f64,
                    half,
                });
            }
            i = next;
        }
        self.z.clear();
        self.w.clear();
        self.features.clear();
        for panel in &self.panels {
            let mid = panel.left + panel.half;
            for m in 0..NP {
                let z = mid + panel.half * self.nodes[m];
                self.z.push(z);
                self.w.push(panel.half * self.weights[m]);
                self.features.push(self.transform.features(z));
            }
        }
    }

    /// Evaluates every arm's normalised density and CDF at every node.
    fn fill(&mut self, arms: &[Marginal]) {
        let n = self.z.len();
        let k = arms.len();
        let panels = self.panels.len();
        self.density.clear();
        self.density.resize(k * n, 0.0);
        self.cdf.clear();
        self.cdf.resize(k * n, 0.0);
        self.edge_cdf.clear();
        self.edge_cdf.resize(k * (panels + 1), 0.0);
        for (j, arm) in arms.iter().enumerate() {
            let (lo, hi) = self.spans[j];
            let density = &mut self.density[j * n..(j + 1) * n];
            // Panels meeting the span (a merged panel may reach past its ends, where the density
            // is negligible but still evaluated).
            let inside = |panel: &Panel| panel.left < hi && panel.left + 2.0 * panel.half > lo;
            match arm.kind() {
                Kind::Single(shape) => {
                    let (centre, _) = shape.centre_and_scale(self.transform);
                    let peak = shape.ln_density_z(self.transform.features(centre));
                    for (p, panel) in self.panels.iter().enumerate() {
                        if !inside(panel) {
                            continue;
                        }
                        for m in 0..NP {
                            let node = p * NP + m;
                            density[node] = (shape.ln_density_z(self.features[node]) - peak).exp();
                        }
                    }
                }
                Kind::Mixture(components) => {
                    // Each component only where its own band is (outside it, it has dropped
                    // below its peak by more than TAIL_DROP, as a plain arm outside its span).
                    let peak = components.reference(self.transform);
                    let (first, last) = self.band_ranges[j];
                    for (k, band) in self.bands[first..last].iter().enumerate() {
                        for (p, panel) in self.panels.iter().enumerate() {
                            if panel.left >= band.hi || panel.left + 2.0 * panel.half <= band.lo {
                                continue;
                            }
                            for m in 0..NP {
                                let node = p * NP + m;
                                density[node] += components.term_z(k, self.features[node], peak);
                            }
                        }
                    }
                }
            }
            // Cumulative integration, then normalisation.
            let cdf = &mut self.cdf[j * n..(j + 1) * n];
            let edges = &mut self.edge_cdf[j * (panels + 1)..(j + 1) * (panels + 1)];
            let mut running = 0.0;
            for (p, panel) in self.panels.iter().enumerate() {
                edges[p] = running;
                let g = &density[p * NP..(p + 1) * NP];
                if g[0] == 0.0 && g[NP - 1] == 0.0 {
                    cdf[p * NP..(p + 1) * NP].fill(running);
                    continue;
                }
                for k_node in 0..NP {
                    let row = &self.cumulative[k_node];
                    let partial: f64 = (0..NP).map(|m| row[m] * g[m]).sum();
                    cdf[p * NP + k_node] = running + panel.half * partial;
                }
                let full: f64 = (0..NP).map(|m| self.weights[m] * g[m]).sum();
                running += panel.half * full;
            }
            edges[panels] = running;
            let scale = if running > 0.0 { 1.0 / running } else { 0.0 };
            density.iter_mut().for_each(|d| *d *= scale);
            cdf.iter_mut().for_each(|c| *c = (*c * scale).min(1.0));
            edges.iter_mut().for_each(|c| *c = (*c * scale).min(1.0));
        }
    }

    /// Arm `j`'s CDF at an arbitrary z, by exact polynomial interpolation on its panel.
    fn cdf_at(&self, j: usize, z: f64) -> f64 {
        let panels = self.panels.len();
        let edges = &self.edge_cdf[j * (panels + 1)..(j + 1) * (panels + 1)];
        let Some(first) = self.panels.first() else {
            return 0.0;
        };
        if z <= first.left {
            return 0.0;
        }
        let p = self.panels.partition_point(|panel| panel.left <= z) - 1;
        let panel = self.panels[p];
        let right = panel.left + 2.0 * panel.half;
        if z >= right {
            return edges[p + 1];
        }
        let n = self.z.len();
        let cdf = &self.cdf[j * n + p * NP..j * n + (p + 1) * NP];
        let t = (z - panel.left) / panel.half - 1.0;
        let value_at = |i: usize| match i {
            0 => edges[p],
            i if i == NP + 1 => edges[p + 1],
            i => cdf[i - 1],
        };
        let point_at = |i: usize| match i {
            0 => -1.0,
            i if i == NP + 1 => 1.0,
            i => self.nodes[i - 1],
        };
        let (mut numerator, mut denominator) = (0.0, 0.0);
        for i in 0..NP + 2 {
            let diff = t - point_at(i);
            if diff == 0.0 {
                return value_at(i);
            }
            let c = self.barycentric[i] / diff;
            numerator += c * value_at(i);
            denominator += c;
        }
        (numerator / denominator).clamp(0.0, 1.0)
    }
}

fn finite_delta(delta: f64) -> Result<(), StatsError> {
    if delta.is_finite() {
        Ok(())
    } else {
        Err(StatsError::Delta { value: delta })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_rule_integrates_polynomials_exactly() {
        let q = Quadrature::new();
        let integral: f64 = (0..NP).map(|i| q.weights[i] * q.nodes[i].powi(14)).sum();
        assert!((integral - 2.0 / 15.0).abs() < 1e-14);
        // Cumulative matrix: ∫_{-1}^{x_k} t^3 dt = (x_k^4 - 1) / 4.
        for k in 0..NP {
            let value: f64 = (0..NP)
                .map(|m| q.cumulative[k][m] * q.nodes[m].powi(3))
                .sum();
            assert!((value - (q.nodes[k].powi(4) - 1.0) / 4.0).abs() < 1e-14);
        }
    }

    #[test]
    fn two_uniform_arms_are_a_coin_flip() -> Result<(), StatsError> {
        let mut q = Quadrature::new();
        let arm = Marginal::beta(1.0, 1.0)?;
        let p = q.p_best(&[arm, arm], Better::Higher)?;
        assert!((p[0] - 0.5).abs() < 1e-12, "{p:?}");
        // P(|U1 − U2| < 0.5) = 1 − 0.5² = 0.75.
        let within = q.p_within(&arm, &arm, 0.5)?;
        assert!((within - 0.75).abs() < 1e-7, "{within}");
        // P(U1 − U2 > 0.5) = 0.125.
        let greater = q.p_greater(&arm, &arm, 0.5)?;
        assert!((greater - 0.125).abs() < 1e-7, "{greater}");
        let median = q.quantile(&arm, 0.3)?;
        assert!((median - 0.3).abs() < 1e-8, "{median}");
        Ok(())
    }
}

#[cfg(test)]
mod width_study {
    use super::*;

    /// Compares the default panel width with a 4× finer grid on hard cases.
    #[test]
    fn default_width_agrees_with_a_finer_grid() -> Result<(), StatsError> {
        let cases: Vec<Vec<Marginal>> = vec![
            vec![
                Marginal::beta(201.0, 801.0)?,
                Marginal::beta(251.0, 751.0)?,
                Marginal::beta(231.0, 771.0)?,
                Marginal::beta(301.0, 701.0)?,
            ],
            vec![
                Marginal::beta(1.0, 1.0)?,
                Marginal::beta(3.0, 9.0)?,
                Marginal::beta(2001.0, 6001.0)?,
                Marginal::beta(50001.0, 50001.0)?,
            ],
            vec![
                Marginal::beta(0.5, 1000.5)?,
                Marginal::beta(1.5, 999.5)?,
                Marginal::beta(0.5, 0.5)?,
            ],
            vec![
                Marginal::gamma(0.5, 0.01)?,
                Marginal::gamma(31.0, 10.5)?,
                Marginal::gamma(10001.0, 1000.5)?,
            ],
            vec![
                Marginal::student_t(3.0, 0.0, 10.0)?,
                Marginal::student_t(100.0, 1.0, 0.2)?,
                Marginal::student_t(1000.0, 0.5, 0.05)?,
            ],
        ];
        let mut coarse = Quadrature::new();
        let mut fine = Quadrature::new().with_panel_width(0.25);
        let mut worst = 0.0_f64;
        for arms in &cases {
            let a = coarse.p_best(arms, Better::Higher)?;
            let b = fine.p_best(arms, Better::Higher)?;
            for (x, y) in a.iter().zip(&b) {
                worst = worst.max((x - y).abs());
            }
            eprintln!(
                "best {:e}",
                a.iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f64::max)
            );
            let d = 0.5 * arms[1].sd().unwrap_or(1.0);
            let x = coarse.p_greater(&arms[1], &arms[0], d)?;
            let y = fine.p_greater(&arms[1], &arms[0], d)?;
            worst = worst.max((x - y).abs());
            let x = coarse.p_range_below(arms, 3.0 * d)?;
            let y = fine.p_range_below(arms, 3.0 * d)?;
            worst = worst.max((x - y).abs());
        }
        eprintln!("worst difference default vs fine grid: {worst:e}");
        assert!(worst < 1e-7, "{worst}");
        Ok(())
    }

    /// Mixture arms (overlapping components, so P(best) merges many short pieces into panels)
    /// against a 4× finer grid.
    #[test]
    fn merged_mixture_panels_agree_with_a_finer_grid() -> Result<(), StatsError> {
        use crate::stats::{BetaPrior, Mixture};
        let prior = Mixture::new(&[
            (0.5, BetaPrior { a: 12.0, b: 48.0 }),
            (0.3, BetaPrior { a: 30.0, b: 90.0 }),
            (0.2, BetaPrior { a: 1.0, b: 1.0 }),
        ])?;
        let mut arms = Vec::new();
        for successes in [12, 15, 10, 20, 2] {
            arms.push(prior.update(successes, 50)?.marginal()?);
        }
        let mut coarse = Quadrature::new();
        let mut fine = Quadrature::new().with_panel_width(0.25);
        for better in [Better::Higher, Better::Lower] {
            let a = coarse.p_best(&arms, better)?;
            let b = fine.p_best(&arms, better)?;
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-9, "{better:?}: {a:?} vs {b:?}");
        }
        Ok(())
    }
}
