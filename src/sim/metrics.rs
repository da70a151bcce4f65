//! Operating characteristics aggregated over simulated trials, each probability with its Monte
//! Carlo standard error √(p(1−p)/R).

use std::collections::BTreeMap;

use serde::Serialize;

use super::trial::{Conclusion, Selection, TrialOutcome};
use crate::protocol::Protocol;
use crate::stats::Better;

/// Mean, SD and quartiles (type-7 quantiles) of a per-trial number.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Standard deviation (divisor R − 1).
    pub sd: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (sorted in place).
    pub fn of(values: &mut [f64]) -> Self {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n == 0 {
            return Self {
                mean: f64::NAN,
                sd: f64::NAN,
                p25: f64::NAN,
                p50: f64::NAN,
                p75: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt()
        } else {
            0.0
        };
        let quantile = |p: f64| {
            let h = (n as f64 - 1.0) * p;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            values[lo] + (h - lo as f64) * (values[hi] - values[lo])
        };
        Self {
            mean,
            sd,
            p25: quantile(0.25),
            p50: quantile(0.5),
            p75: quantile(0.75),
            min: values[0],
            max: values[n - 1],
        }
    }
}

/// Bins of a histogram of a per-trial count (participants enrolled), as shares of the trials.
///
/// The bin width is the smallest 1, 2 or 5 times a power of ten with which the range of the
/// values fits in [`SizeHistogram::TARGET_BINS`] bins; lower edges are multiples of the width
/// (so there may be one bin more), and the bins depend only on the values, not on their order.
/// Bin k covers `[start + k·width, start + (k+1)·width)`; empty bins between the smallest and
/// the largest value are kept (share 0), so the bins are contiguous.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeHistogram {
    /// Width of every bin.
    pub bin_width: u32,
    /// `(lower edge, share of trials)` per bin, in increasing order of the edge.
    pub bins: Vec<(u32, f64)>,
}

impl SizeHistogram {
    /// The number of bins the width is chosen for.
    pub const TARGET_BINS: u32 = 20;

    /// The histogram of `values`, each counted with weight 1/`values.len()`.
    pub fn of(values: &[u32]) -> Self {
        let (Some(&lo), Some(&hi)) = (values.iter().min(), values.iter().max()) else {
            return Self {
                bin_width: 1,
                bins: Vec::new(),
            };
        };
        let range = u64::from(hi - lo) + 1;
        let raw = range.div_ceil(u64::from(Self::TARGET_BINS));
        let mut width = 1u64;
        'nice: loop {
            for step in [1, 2, 5] {
                if width * step >= raw {
                    width *= step;
                    break 'nice;
                }
            }
            width *= 10;
        }
        let start = u64::from(lo) / width * width;
        let count = (u64::from(hi) - start) / width + 1;
        let mut counts = vec![0u64; usize::try_from(count).unwrap_or(0)];
        for &v in values {
            let k = (u64::from(v) - start) / width;
            if let Some(c) = usize::try_from(k).ok().and_then(|k| counts.get_mut(k)) {
                *c += 1;
            }
        }
        let total = values.len() as f64;
        // `width` ≤ the next nice number above (u32::MAX + 1) / 20, and edges ≤ `hi`: both fit.
        let bin_width = u32::try_from(width).unwrap_or(u32::MAX);
        Self {
            bin_width,
            bins: counts
                .into_iter()
                .enumerate()
                .map(|(k, c)| {
                    let edge = start + k as u64 * width;
                    (u32::try_from(edge).unwrap_or(u32::MAX), c as f64 / total)
                })
                .collect(),
        }
    }
}

/// Monte Carlo standard errors, with the same keys as the probabilities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mcse {
    /// Of `prob_conclusive`.
    pub prob_conclusive: f64,
    /// Of `prob_superiority`.
    pub prob_superiority: f64,
    /// Of `prob_equivalence`.
    pub prob_equivalence: f64,
    /// Of `prob_futility`.
    pub prob_futility: f64,
    /// Of `prob_max`.
    pub prob_max: f64,
    /// Of `prob_superior_arm`.
    pub prob_superior_arm: BTreeMap<String, f64>,
    /// Of `prob_select`.
    pub prob_select: BTreeMap<String, f64>,
    /// Of the mean sample size: SD/√R.
    pub sample_size_mean: f64,
    /// Of `prob_graduate` (precision designs with graduation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob_graduate: Option<BTreeMap<String, f64>>,
    /// Of `prob_graduate_any`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob_graduate_any: Option<f64>,
    /// Of `prob_graduate_arm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob_graduate_arm: Option<BTreeMap<String, f64>>,
    /// Of `prob_graduate_where`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob_graduate_where: Option<BTreeMap<String, f64>>,
}

/// Operating characteristics of a design in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// P(the trial stops with a conclusion: superiority, equivalence or futility).
    pub prob_conclusive: f64,
    /// P(an arm is declared superior).
    pub prob_superiority: f64,
    /// P(stop for equivalence).
    pub prob_equivalence: f64,
    /// P(every experimental arm dropped against the control).
    pub prob_futility: f64,
    /// P(no conclusion by the maximum sample size).
    pub prob_max: f64,
    /// P(arm declared superior), per arm.
    pub prob_superior_arm: BTreeMap<String, f64>,
    /// P(arm selected) under the selection rule, per arm, plus `none`.
    pub prob_select: BTreeMap<String, f64>,
    /// Mean share of participants allocated to each arm.
    pub allocation: BTreeMap<String, f64>,
    /// Participants enrolled.
    pub sample_size: Spread,
    /// Histogram of participants enrolled (about 20 bins).
    pub sample_size_histogram: SizeHistogram,
    /// Responses (binary) or events (count) collected; zero for continuous outcomes.
    pub events: Spread,
    /// P(the trial ended after exactly k looks), by k.
    pub stopping_look: BTreeMap<u32, f64>,
    /// RMSE of the final posterior mean against the truth, per arm.
    pub rmse: BTreeMap<String, f64>,
    /// RMSE of the selected arm's posterior mean (trials that select an arm).
    pub rmse_selected: Option<f64>,
    /// Ideal design percentage (Viele et al. 2020); absent when all arms are equal or none is
    /// ever selected.
    pub ideal_design_percentage: Option<f64>,
    /// Mean allocation probability per arm set at look k (over trials that reached it).
    pub allocation_by_look: Vec<BTreeMap<String, f64>>,
    /// Precision designs with graduation: P(arm graduates in signature), keyed `ARM/SIGNATURE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob_graduate: Option<BTreeMap<String, f64>>,
    /// Precision designs with graduation: P(some arm graduates in some signature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob_graduate_any: Option<f64>,
    /// Precision designs with graduation: P(arm graduates in some signature), per experimental
    /// arm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob_graduate_arm: Option<BTreeMap<String, f64>>,
    /// Precision designs with graduation: P(arm graduates in some signature whose every
    /// stratum has the biomarker level), keyed `ARM/BIOMARKER=LEVEL` (`neratinib/HER2=pos`: in
    /// a HER2-positive signature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob_graduate_where: Option<BTreeMap<String, f64>>,
    /// Precision designs with graduation: the mean look of graduation, over the trials where
    /// the arm graduated in the signature, keyed `ARM/SIGNATURE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graduation_look: Option<BTreeMap<String, f64>>,
    /// Precision designs: per stratum (by its label), participants and allocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_by_stratum: Option<BTreeMap<String, super::strata::StratumAllocation>>,
    /// Monte Carlo standard errors.
    pub mcse: Mcse,
}

fn mcse(p: f64, reps: f64) -> f64 {
    (p * (1.0 - p) / reps).sqrt()
}

impl Metrics {
    /// Aggregates `trials` (in replicate order) of `protocol` with true values `truth`.
    pub fn aggregate(
        protocol: &Protocol,
        truth: &[f64],
        selection: Selection,
        trials: &[TrialOutcome],
    ) -> Self {
        let reps = trials.len().max(1) as f64;
        let ids: Vec<String> = protocol.arms.iter().map(|a| a.id.to_string()).collect();
        let share = |count: usize| count as f64 / reps;
        let count = |c: Conclusion| trials.iter().filter(|t| t.conclusion == c).count();
        let prob_superiority = share(count(Conclusion::Superiority));
        let prob_equivalence = share(count(Conclusion::Equivalence));
        let prob_futility = share(count(Conclusion::Futility));
        let prob_max = share(count(Conclusion::Max));
        let prob_conclusive = 1.0 - prob_max;
        let mut prob_superior_arm = BTreeMap::new();
        let mut prob_select = BTreeMap::new();
        let mut allocation = BTreeMap::new();
        let mut rmse = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            prob_superior_arm.insert(
                id.clone(),
                share(trials.iter().filter(|t| t.superior == Some(i)).count()),
            );
            prob_select.insert(
                id.clone(),
                share(
                    trials
                        .iter()
                        .filter(|t| t.selection(selection) == Some(i))
                        .count(),
                ),
            );
            allocation.insert(
                id.clone(),
                trials
                    .iter()
                    .map(|t| t.allocated[i] as f64 / f64::from(t.enrolled.max(1)))
                    .sum::<f64>()
                    / reps,
            );
            let squares: Vec<f64> = trials
                .iter()
                .map(|t| t.posterior_mean[i] - truth[i])
                .filter(|e| e.is_finite())
                .map(|e| e * e)
                .collect();
            if !squares.is_empty() {
                rmse.insert(
                    id.clone(),
                    (squares.iter().sum::<f64>() / squares.len() as f64).sqrt(),
                );
            }
        }
        prob_select.insert(
            "none".into(),
            share(
                trials
                    .iter()
                    .filter(|t| t.selection(selection).is_none())
                    .count(),
            ),
        );
        let sample_size_histogram =
            SizeHistogram::of(&trials.iter().map(|t| t.enrolled).collect::<Vec<_>>());
        let mut sizes: Vec<f64> = trials.iter().map(|t| f64::from(t.enrolled)).collect();
        let sample_size = Spread::of(&mut sizes);
        let mut events: Vec<f64> = trials.iter().map(|t| t.events as f64).collect();
        let events = Spread::of(&mut events);
        let mut stopping_look = BTreeMap::new();
        for t in trials {
            *stopping_look.entry(t.looks).or_insert(0.0) += 1.0 / reps;
        }
        let selected: Vec<(usize, f64)> = trials
            .iter()
            .filter_map(|t| t.selection(selection).map(|s| (s, t.posterior_mean[s])))
            .collect();
        // Arms whose truth differs between strata (precision designs) have no single truth.
        let defined: Vec<(usize, f64)> = selected
            .iter()
            .copied()
            .filter(|&(s, _)| truth[s].is_finite())
            .collect();
        let rmse_selected = (!defined.is_empty() && defined.len() == selected.len()).then(|| {
            (defined
                .iter()
                .map(|&(s, m)| (m - truth[s]).powi(2))
                .sum::<f64>()
                / selected.len() as f64)
                .sqrt()
        });
        let (lo, hi) = truth
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        let every_truth = truth.iter().all(|t| t.is_finite());
        let ideal_design_percentage = (hi > lo && !selected.is_empty() && every_truth).then(|| {
            let expected =
                selected.iter().map(|&(s, _)| truth[s]).sum::<f64>() / selected.len() as f64;
            match protocol.outcome.better {
                Better::Higher => 100.0 * (expected - lo) / (hi - lo),
                Better::Lower => 100.0 * (hi - expected) / (hi - lo),
            }
        });
        let looks = trials
            .iter()
            .map(|t| t.allocation_by_look.len())
            .max()
            .unwrap_or(0);
        let allocation_by_look = (0..looks)
            .map(|k| {
                let reached: Vec<&Vec<f64>> = trials
                    .iter()
                    .filter_map(|t| t.allocation_by_look.get(k))
                    .collect();
                ids.iter()
                    .enumerate()
                    .map(|(i, id)| {
                        (
                            id.clone(),
                            reached.iter().map(|row| row[i]).sum::<f64>() / reached.len() as f64,
                        )
                    })
                    .collect()
            })
            .collect();
        let mcse_map = |map: &BTreeMap<String, f64>| {
            map.iter()
                .map(|(k, &p)| (k.clone(), mcse(p, reps)))
                .collect()
        };
        let precision = super::strata::PrecisionMetrics::aggregate(protocol, trials);
        let mcse = Mcse {
            prob_graduate: precision.prob_graduate.as_ref().map(&mcse_map),
            prob_graduate_any: precision.prob_graduate_any.map(|p| mcse(p, reps)),
            prob_graduate_arm: precision.prob_graduate_arm.as_ref().map(&mcse_map),
            prob_graduate_where: precision.prob_graduate_where.as_ref().map(&mcse_map),
            prob_conclusive: mcse(prob_conclusive, reps),
            prob_superiority: mcse(prob_superiority, reps),
            prob_equivalence: mcse(prob_equivalence, reps),
            prob_futility: mcse(prob_futility, reps),
            prob_max: mcse(prob_max, reps),
            prob_superior_arm: mcse_map(&prob_superior_arm),
            prob_select: mcse_map(&prob_select),
            sample_size_mean: sample_size.sd / reps.sqrt(),
        };
        Self {
            prob_conclusive,
            prob_superiority,
            prob_equivalence,
            prob_futility,
            prob_max,
            prob_superior_arm,
            prob_select,
            allocation,
            sample_size,
            sample_size_histogram,
            events,
            stopping_look,
            rmse,
            rmse_selected,
            ideal_design_percentage,
            allocation_by_look,
            prob_graduate: precision.prob_graduate,
            prob_graduate_any: precision.prob_graduate_any,
            prob_graduate_arm: precision.prob_graduate_arm,
            prob_graduate_where: precision.prob_graduate_where,
            graduation_look: precision.graduation_look,
            allocation_by_stratum: precision.allocation_by_stratum,
            mcse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SizeHistogram;

    #[test]
    fn histogram_bins_are_nice_contiguous_and_sum_to_one() {
        let values: Vec<u32> = (0..200).map(|i| 90 + (i * 37) % 361).collect();
        let h = SizeHistogram::of(&values);
        assert_eq!(h.bin_width, 20); // range 361 → raw 19 → 20
        assert_eq!(h.bins.first().map(|b| b.0), Some(80));
        assert!(h.bins.len() <= SizeHistogram::TARGET_BINS as usize + 1);
        for pair in h.bins.windows(2) {
            assert_eq!(pair[1].0 - pair[0].0, h.bin_width);
        }
        let total: f64 = h.bins.iter().map(|b| b.1).sum();
        assert!((total - 1.0).abs() < 1e-12);
        let mut reversed = values.clone();
        reversed.reverse();
        assert_eq!(SizeHistogram::of(&reversed), h);
    }

    #[test]
    fn histogram_of_equal_or_no_values() {
        let h = SizeHistogram::of(&[450, 450, 450]);
        assert_eq!(h.bin_width, 1);
        assert_eq!(h.bins, vec![(450, 1.0)]);
        assert!(SizeHistogram::of(&[]).bins.is_empty());
        let wide = SizeHistogram::of(&[0, u32::MAX]);
        assert!(wide.bins.len() <= 21);
        assert_eq!(wide.bins.last().map(|b| b.1), Some(0.5));
    }
}
