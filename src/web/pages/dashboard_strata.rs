//! The dashboard's lines for a precision trial: per stratum each arm's posterior, its
//! allocation probability and whether it still enrols there; per signature each arm's
//! predictive probability of success and its graduation. Formatting only: the numbers are the
//! service's ([`PrecisionResults`]).

use crate::service::{PrecisionResults, StratumArm};

/// The precision part of the dashboard.
pub struct PrecisionLines {
    /// What the tables are from.
    pub note: String,
    /// The arms, in arm order (the columns).
    pub arms: Vec<String>,
    /// One row per stratum.
    pub strata: Vec<StratumLine>,
    /// One row per signature.
    pub signatures: Vec<SignatureLine>,
    /// How graduation reads.
    pub graduation_note: String,
}

/// One stratum's row: its label, participants, and per arm the lines of its cell.
pub struct StratumLine {
    /// `HR=neg HER2=pos …`.
    pub label: String,
    /// Participants enrolled.
    pub enrolled: u32,
    /// "closed to enrolment" when no experimental arm is open there.
    pub closed: Option<&'static str>,
    /// Per arm, the cell's lines.
    pub cells: Vec<Vec<String>>,
}

/// One signature's row.
pub struct SignatureLine {
    /// Its name and id.
    pub name: String,
    /// Its strata as written.
    pub written: String,
    /// Per arm, the cell's lines.
    pub cells: Vec<Vec<String>>,
}

fn stratum_cell(a: &StratumArm) -> Vec<String> {
    if !a.eligible {
        return vec!["not eligible".to_owned()];
    }
    let mut lines = Vec::new();
    match (a.mean, a.sd, a.n) {
        (Some(mean), Some(sd), Some(n)) => lines.push(format!("{mean:.3} ± {sd:.3} (n {n})")),
        _ => lines.push("no look yet".to_owned()),
    }
    if let Some(p) = a.p_allocation {
        lines.push(format!("P {p:.3}"));
    }
    lines.push(match (a.open, a.allocation) {
        (true, Some(q)) => format!("allocation {q:.3}"),
        (true, None) => "open".to_owned(),
        (false, _) => "closed here".to_owned(),
    });
    lines
}

/// The lines of `results`.
pub fn precision_lines(results: &PrecisionResults) -> PrecisionLines {
    let arms: Vec<String> = results
        .strata
        .first()
        .map(|s| s.arms.iter().map(|a| a.arm.clone()).collect())
        .unwrap_or_default();
    let strata = results
        .strata
        .iter()
        .map(|s| StratumLine {
            label: s.label.clone(),
            enrolled: s.enrolled,
            closed: (!s.enrolling).then_some("closed to enrolment"),
            cells: s.arms.iter().map(stratum_cell).collect(),
        })
        .collect();
    let signatures = results
        .signatures
        .iter()
        .map(|g| SignatureLine {
            name: format!("{} ({})", g.name, g.id),
            written: g.written.clone(),
            cells: arms
                .iter()
                .map(|arm| match g.arms.iter().find(|x| &x.arm == arm) {
                    None => vec!["—".to_owned()],
                    Some(x) => {
                        let mut lines = vec![
                            format!("PP {:.3}", x.probability),
                            format!(
                                "effect {:+.3} ± {:.3} (n {})",
                                x.effect_mean, x.effect_sd, x.n
                            ),
                        ];
                        if let Some(look) = x.graduated_at {
                            lines.push(format!("graduated at look {look}"));
                        }
                        lines
                    }
                })
                .collect(),
        })
        .collect();
    PrecisionLines {
        note: match results.last_look {
            Some(look) => format!(
                "Per stratum, from look {look}: each arm's posterior response rate (mean ± SD, \
                 participants with an outcome), the probability its allocation is weighted by \
                 (P better than the control there, or P best there), and the allocation \
                 probability in force now."
            ),
            None => "No look yet: the posteriors per stratum come with the first look.".into(),
        },
        arms,
        strata,
        signatures,
        graduation_note: match (results.threshold, results.futility) {
            (Some(threshold), Some(futility)) => format!(
                "Per signature, from the last look: each arm's predictive probability (PP) that a \
                 confirmatory trial in the signature succeeds, and the signature's effect (arm − \
                 control). An arm graduates where PP reaches {threshold} and is dropped when PP \
                 is below {futility} in every signature; — where it is not assessed."
            ),
            _ => "This design has no graduation rule.".to_owned(),
        },
    }
}
