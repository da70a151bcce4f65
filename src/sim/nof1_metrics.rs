//! Operating characteristics of an n-of-1 design in one scenario: per patient (every simulated
//! patient of every replicate) and per series (one per replicate), each with its Monte Carlo
//! standard error. Definitions: METHODS.md §7.

use std::collections::BTreeMap;

use serde::Serialize;

use super::metrics::Spread;
use super::nof1::{Nof1Outcome, PatientConclusion, FINAL_LOOK_BENEFIT};
use crate::protocol::Protocol;
use crate::stats::Better;

/// The posterior probability above which the final series look counts as detecting a
/// population effect.
pub const SERIES_THRESHOLD: f64 = 0.95;

/// A simulated estimate of a true value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The true value.
    pub truth: f64,
    /// Mean of the estimates.
    pub mean: f64,
    /// Mean − truth.
    pub bias: f64,
    /// √(mean (estimate − truth)²).
    pub rmse: f64,
    /// SD of the estimates (divisor n − 1).
    pub sd: f64,
    /// Number of estimates.
    pub n: u64,
}

impl Estimate {
    /// The estimate of `truth` given by the finite `values`; none when there is none.
    fn of(truth: f64, values: impl Iterator<Item = f64>) -> Option<Self> {
        let values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        let rmse = (values.iter().map(|v| (v - truth).powi(2)).sum::<f64>() / n).sqrt();
        Some(Self {
            truth,
            mean,
            bias: mean - truth,
            rmse,
            sd,
            n: values.len() as u64,
        })
    }

    /// The MCSE of the mean: SD/√n.
    fn mcse(&self) -> f64 {
        self.sd / (self.n as f64).sqrt()
    }
}

/// MCSEs of the per-patient metrics, with the same keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nof1Mcse {
    /// Of `prob_benefit`.
    pub prob_benefit: f64,
    /// Of `prob_correct_benefit`.
    pub prob_correct_benefit: Option<f64>,
    /// Of `prob_wrong_benefit`.
    pub prob_wrong_benefit: f64,
    /// Of `prob_benefit_by_treatment`.
    pub prob_benefit_by_treatment: BTreeMap<String, f64>,
    /// Of `prob_equivalence`.
    pub prob_equivalence: f64,
    /// Of `prob_completed`.
    pub prob_completed: f64,
    /// Of `prob_withdrawn`.
    pub prob_withdrawn: f64,
    /// Of the mean number of cycles: SD/√patients.
    pub cycles_mean: f64,
    /// Of the mean patient estimate.
    pub patient_estimate_mean: Option<f64>,
}

/// MCSEs of the series metrics, with the same keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesMcse {
    /// Of `prob_detect`.
    pub prob_detect: f64,
    /// Of `prob_detect_correct`.
    pub prob_detect_correct: Option<f64>,
    /// Of `prob_beyond_mcid`.
    pub prob_beyond_mcid: f64,
    /// Of the mean population estimate (and of its bias).
    pub estimate_mean: Option<f64>,
    /// Of `coverage`.
    pub coverage: Option<f64>,
    /// Of `tau_mean`.
    pub tau_mean: Option<f64>,
}

/// Operating characteristics of the series: the final series look of each replicate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesMetrics {
    /// The contrast pooled: this treatment …
    pub treatment: String,
    /// … minus this one (the first treatment).
    pub versus: String,
    /// [`SERIES_THRESHOLD`].
    pub threshold: f64,
    /// P(the final series look finds either treatment better: P(population effect in one
    /// direction) > threshold).
    pub prob_detect: f64,
    /// P(it finds the truly better of the two better); none when they are equal.
    pub prob_detect_correct: Option<f64>,
    /// P(the final P(population effect beyond the MCID in the better direction) > threshold).
    pub prob_beyond_mcid: f64,
    /// Share of replicates with a series look (none happens when every patient drops out
    /// before their first look).
    pub prob_summary: f64,
    /// The final posterior mean of the population effect, against the true contrast.
    pub estimate: Option<Estimate>,
    /// Share of series looks whose 95% credible interval contains the true contrast.
    pub coverage: Option<f64>,
    /// Mean posterior mean of the between-patient SD τ (the simulated patients share their
    /// true values, so the true τ is 0).
    pub tau_mean: Option<f64>,
    /// Mean number of patients pooled.
    pub patients_pooled: Option<f64>,
    /// Monte Carlo standard errors.
    pub mcse: SeriesMcse,
}

/// Operating characteristics of an n-of-1 design in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nof1Metrics {
    /// Patients simulated (replicates × patients per series).
    pub patients: u64,
    /// The treatment whose true value is best, when exactly one is.
    pub better_treatment: Option<String>,
    /// Without `nof1.stop_benefit`: the probability of a benefit beyond the MCID at a completed
    /// patient's final look that counts as a benefit conclusion. None when the engine's benefit
    /// rule decides.
    pub benefit_at_final_look: Option<f64>,
    /// P(a patient's trial concludes benefit of some treatment).
    pub prob_benefit: f64,
    /// Per-patient power: P(it concludes benefit of the truly better treatment); none when no
    /// treatment is.
    pub prob_correct_benefit: Option<f64>,
    /// P(it concludes benefit of a treatment that is not the truly better one): the wrong
    /// direction, or, when the treatments are equal, any benefit (the false benefit rate).
    pub prob_wrong_benefit: f64,
    /// P(benefit of this treatment), per treatment.
    pub prob_benefit_by_treatment: BTreeMap<String, f64>,
    /// P(a patient's trial stops for equivalence).
    pub prob_equivalence: f64,
    /// P(it completes every cycle without a conclusion).
    pub prob_completed: f64,
    /// P(the patient drops out).
    pub prob_withdrawn: f64,
    /// Cycles analysed per patient.
    pub cycles: Spread,
    /// Share of patients whose trial ended after exactly k cycles analysed, by k.
    pub cycles_distribution: BTreeMap<u32, f64>,
    /// A patient's final posterior mean of the second treatment minus the first (patients with
    /// a look), against the true contrast.
    pub patient_estimate: Option<Estimate>,
    /// The series.
    pub series: SeriesMetrics,
    /// Monte Carlo standard errors.
    pub mcse: Nof1Mcse,
}

fn mcse(p: f64, n: f64) -> f64 {
    (p * (1.0 - p) / n).sqrt()
}

/// The index of the unique best of `truth`, if one is strictly better than all others.
fn unique_best(truth: &[f64], better: Better) -> Option<usize> {
    let beats = |a: f64, b: f64| match better {
        Better::Higher => a > b,
        Better::Lower => a < b,
    };
    (0..truth.len()).find(|&i| (0..truth.len()).all(|j| j == i || beats(truth[i], truth[j])))
}

impl Nof1Metrics {
    /// Aggregates `series` (in replicate order) of the n-of-1 `protocol` with true values
    /// `truth` (one per treatment).
    pub fn aggregate(protocol: &Protocol, truth: &[f64], series: &[Nof1Outcome]) -> Self {
        let ids: Vec<String> = protocol.arms.iter().map(|a| a.id.to_string()).collect();
        let better = protocol.outcome.better;
        let best = unique_best(truth, better);
        let patients: Vec<_> = series.iter().flat_map(|s| &s.patients).collect();
        let n = patients.len().max(1) as f64;
        let share = |f: &dyn Fn(PatientConclusion) -> bool| {
            patients.iter().filter(|p| f(p.conclusion)).count() as f64 / n
        };
        let benefit_of = |c: PatientConclusion| match c {
            PatientConclusion::Benefit { treatment } => Some(treatment),
            _ => None,
        };
        let prob_benefit = share(&|c| benefit_of(c).is_some());
        let prob_correct_benefit = best.map(|b| share(&|c| benefit_of(c) == Some(b)));
        let prob_wrong_benefit = share(&|c| benefit_of(c).is_some_and(|t| Some(t) != best));
        let prob_benefit_by_treatment: BTreeMap<String, f64> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), share(&|c| benefit_of(c) == Some(i))))
            .collect();
        let prob_equivalence = share(&|c| c == PatientConclusion::Equivalence);
        let prob_completed = share(&|c| c == PatientConclusion::Completed);
        let prob_withdrawn = share(&|c| c == PatientConclusion::Withdrawn);
        let mut cycles: Vec<f64> = patients.iter().map(|p| f64::from(p.cycles)).collect();
        let cycles = Spread::of(&mut cycles);
        let mut cycles_distribution = BTreeMap::new();
        for p in &patients {
            *cycles_distribution.entry(p.cycles).or_insert(0.0) += 1.0 / n;
        }
        let contrast = truth.get(1).copied().unwrap_or(f64::NAN) - truth[0];
        let patient_estimate = Estimate::of(contrast, patients.iter().filter_map(|p| p.estimate));
        let series_metrics = SeriesMetrics::aggregate(protocol, truth, series);
        let map_mcse = |map: &BTreeMap<String, f64>| {
            map.iter().map(|(k, &p)| (k.clone(), mcse(p, n))).collect()
        };
        let mcse = Nof1Mcse {
            prob_benefit: mcse(prob_benefit, n),
            prob_correct_benefit: prob_correct_benefit.map(|p| mcse(p, n)),
            prob_wrong_benefit: mcse(prob_wrong_benefit, n),
            prob_benefit_by_treatment: map_mcse(&prob_benefit_by_treatment),
            prob_equivalence: mcse(prob_equivalence, n),
            prob_completed: mcse(prob_completed, n),
            prob_withdrawn: mcse(prob_withdrawn, n),
            cycles_mean: cycles.sd / n.sqrt(),
            patient_estimate_mean: patient_estimate.as_ref().map(Estimate::mcse),
        };
        Self {
            patients: patients.len() as u64,
            better_treatment: best.map(|b| ids[b].clone()),
            benefit_at_final_look: protocol
                .nof1
                .as_ref()
                .filter(|spec| spec.stop_benefit.is_none())
                .map(|_| FINAL_LOOK_BENEFIT),
            prob_benefit,
            prob_correct_benefit,
            prob_wrong_benefit,
            prob_benefit_by_treatment,
            prob_equivalence,
            prob_completed,
            prob_withdrawn,
            cycles,
            cycles_distribution,
            patient_estimate,
            series: series_metrics,
            mcse,
        }
    }
}

impl SeriesMetrics {
    fn aggregate(protocol: &Protocol, truth: &[f64], series: &[Nof1Outcome]) -> Self {
        let ids: Vec<String> = protocol.arms.iter().map(|a| a.id.to_string()).collect();
        let better = protocol.outcome.better;
        let reps = series.len().max(1) as f64;
        let (first, second) = (truth[0], truth.get(1).copied().unwrap_or(f64::NAN));
        let contrast = second - first;
        // Which of the two is truly better: Some(true) the second, Some(false) the first.
        let second_better = match better {
            Better::Higher => (second != first).then_some(second > first),
            Better::Lower => (second != first).then_some(second < first),
        };
        let looks: Vec<_> = series.iter().filter_map(|s| s.series.as_ref()).collect();
        // P(the second treatment is better in the population).
        let p_second = |p_positive: f64| match better {
            Better::Higher => p_positive,
            Better::Lower => 1.0 - p_positive,
        };
        let count = |f: &dyn Fn(f64, f64) -> bool| {
            looks
                .iter()
                .filter(|s| f(p_second(s.p_positive), s.p_beyond_mcid))
                .count() as f64
                / reps
        };
        let prob_detect = count(&|p, _| p > SERIES_THRESHOLD || 1.0 - p > SERIES_THRESHOLD);
        let prob_detect_correct = second_better.map(|second| {
            count(&|p, _| {
                if second {
                    p > SERIES_THRESHOLD
                } else {
                    1.0 - p > SERIES_THRESHOLD
                }
            })
        });
        let prob_beyond_mcid = count(&|_, beyond| beyond > SERIES_THRESHOLD);
        let prob_summary = looks.len() as f64 / reps;
        let estimate = Estimate::of(contrast, looks.iter().map(|s| s.mean));
        let m = looks.len() as f64;
        let coverage = (!looks.is_empty()).then(|| {
            looks
                .iter()
                .filter(|s| s.ci95[0] <= contrast && contrast <= s.ci95[1])
                .count() as f64
                / m
        });
        let tau = Estimate::of(0.0, looks.iter().map(|s| s.tau_mean));
        let patients_pooled = (!looks.is_empty())
            .then(|| looks.iter().map(|s| f64::from(s.patients)).sum::<f64>() / m);
        let mcse = SeriesMcse {
            prob_detect: mcse(prob_detect, reps),
            prob_detect_correct: prob_detect_correct.map(|p| mcse(p, reps)),
            prob_beyond_mcid: mcse(prob_beyond_mcid, reps),
            estimate_mean: estimate.as_ref().map(Estimate::mcse),
            coverage: coverage.map(|c| mcse(c, m)),
            tau_mean: tau.as_ref().map(Estimate::mcse),
        };
        Self {
            treatment: ids.get(1).cloned().unwrap_or_default(),
            versus: ids.first().cloned().unwrap_or_default(),
            threshold: SERIES_THRESHOLD,
            prob_detect,
            prob_detect_correct,
            prob_beyond_mcid,
            prob_summary,
            estimate,
            coverage,
            tau_mean: tau.map(|t| t.mean),
            patients_pooled,
            mcse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unique_best_follows_the_direction() {
        assert_eq!(unique_best(&[5.0, 3.5], Better::Lower), Some(1));
        assert_eq!(unique_best(&[5.0, 3.5], Better::Higher), Some(0));
        assert_eq!(unique_best(&[5.0, 5.0], Better::Lower), None);
        assert_eq!(unique_best(&[1.0, 3.0, 3.0], Better::Higher), None);
        assert_eq!(unique_best(&[1.0, 3.0, 2.0], Better::Higher), Some(1));
    }

    #[test]
    fn estimates_have_bias_rmse_and_skip_non_finite_values() {
        let e = Estimate::of(1.0, [0.0, 2.0, 4.0, f64::NAN].into_iter());
        assert_eq!(
            e,
            Some(Estimate {
                truth: 1.0,
                mean: 2.0,
                bias: 1.0,
                rmse: (11.0_f64 / 3.0).sqrt(),
                sd: 2.0,
                n: 3
            })
        );
        assert_eq!(Estimate::of(0.0, std::iter::empty()), None);
    }
}
