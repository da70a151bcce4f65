//! The n-of-1 report's metrics section.

use std::fmt::{self, Write};

use super::super::Nof1SimulationReport;

use super::format::*;

pub(super) fn write_nof1_metrics(out: &mut String, report: &Nof1SimulationReport) -> fmt::Result {
    let m = &report.nof1;
    writeln!(out, "<section id=\"results\">")?;
    writeln!(out, "<h2>Operating characteristics per patient</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">{} patients: {} series of {}.</p>",
        m.patients,
        report.reps,
        m.patients.checked_div(report.reps).unwrap_or(0)
    )?;
    let better = m
        .better_treatment
        .as_deref()
        .map_or_else(|| "none: the true values are equal".to_owned(), escape);
    writeln!(out, "<table class=\"kv\">")?;
    writeln!(
        out,
        "<tr><th>Truly better treatment</th><td>{better}</td></tr>"
    )?;
    writeln!(out, "</table>")?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th>probability</th><th class=\"n\">estimate</th><th class=\"n\">MCSE</th></tr>"
    )?;
    let rows = [
        (
            "P(benefit of the truly better treatment): per-patient power",
            optional_with_se(
                m.prob_correct_benefit,
                m.mcse.prob_correct_benefit,
                "no treatment is truly better",
            ),
        ),
        (
            "P(benefit of another treatment): wrong direction, or false benefit when equal",
            optional_with_se(
                Some(m.prob_wrong_benefit),
                Some(m.mcse.prob_wrong_benefit),
                "",
            ),
        ),
        (
            "P(benefit of any treatment)",
            optional_with_se(Some(m.prob_benefit), Some(m.mcse.prob_benefit), ""),
        ),
        (
            "P(stop for equivalence)",
            optional_with_se(Some(m.prob_equivalence), Some(m.mcse.prob_equivalence), ""),
        ),
        (
            "P(every cycle completed without a conclusion)",
            optional_with_se(Some(m.prob_completed), Some(m.mcse.prob_completed), ""),
        ),
        (
            "P(dropped out)",
            optional_with_se(Some(m.prob_withdrawn), Some(m.mcse.prob_withdrawn), ""),
        ),
    ];
    for (name, (p, se)) in rows {
        writeln!(
            out,
            "<tr><td>{name}</td><td class=\"n\">{p}</td><td class=\"n\">{se}</td></tr>"
        )?;
    }
    writeln!(out, "</table>")?;
    if let Some(threshold) = m.benefit_at_final_look {
        writeln!(
            out,
            "<p class=\"note\">The design has no benefit rule: a completed patient whose final \
             look gives a benefit beyond the MCID a probability above {} counts as concluding \
             benefit.</p>",
            value(threshold)
        )?;
    }

    writeln!(out, "<h3>By treatment</h3>")?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th>treatment</th><th class=\"n\">truth</th><th class=\"n\">P(benefit concluded)</th></tr>"
    )?;
    for (id, truth) in &report.truth {
        writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(id),
            fixed(*truth, 4),
            with_se(
                m.prob_benefit_by_treatment
                    .get(id)
                    .copied()
                    .unwrap_or(f64::NAN),
                m.mcse
                    .prob_benefit_by_treatment
                    .get(id)
                    .copied()
                    .unwrap_or(f64::NAN)
            )
        )?;
    }
    writeln!(out, "</table>")?;

    writeln!(out, "<h3>Cycles and estimates</h3>")?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th></th><th class=\"n\">mean</th><th class=\"n\">SD</th><th class=\"n\">min</th>\
         <th class=\"n\">25%</th><th class=\"n\">median</th><th class=\"n\">75%</th>\
         <th class=\"n\">max</th></tr>"
    )?;
    let c = &m.cycles;
    writeln!(
        out,
        "<tr><td>cycles analysed per patient</td><td class=\"n\">{} ± {}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
        fixed(c.mean, 2),
        fixed(m.mcse.cycles_mean, 2),
        fixed(c.sd, 2),
        fixed(c.min, 0),
        fixed(c.p25, 1),
        fixed(c.p50, 1),
        fixed(c.p75, 1),
        fixed(c.max, 0)
    )?;
    writeln!(out, "</table>")?;
    let series = &m.series;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th>estimate of {} − {}</th><th class=\"n\">truth</th><th class=\"n\">mean</th>\
         <th class=\"n\">bias</th><th class=\"n\">RMSE</th><th class=\"n\">n</th></tr>",
        escape(&series.treatment),
        escape(&series.versus)
    )?;
    for (name, estimate, se) in [
        (
            "a patient's, at their last look",
            &m.patient_estimate,
            m.mcse.patient_estimate_mean,
        ),
        (
            "the population's, at the final series look",
            &series.estimate,
            series.mcse.estimate_mean,
        ),
    ] {
        match estimate {
            Some(e) => writeln!(
                out,
                "<tr><td>{name}</td><td class=\"n\">{}</td><td class=\"n\">{} ± {}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                fixed(e.truth, 4),
                fixed(e.mean, 4),
                fixed(se.unwrap_or(f64::NAN), 4),
                fixed(e.bias, 4),
                fixed(e.rmse, 4),
                e.n
            )?,
            None => writeln!(
                out,
                "<tr><td>{name}</td><td class=\"n\" colspan=\"5\">— (no look)</td></tr>"
            )?,
        }
    }
    writeln!(out, "</table>")?;

    writeln!(out, "<h2>Operating characteristics of the series</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">The final series look of each replicate: the hierarchical model's \
         population effect of {} − {}; an effect is detected when its posterior probability \
         in one direction exceeds {}.</p>",
        escape(&series.treatment),
        escape(&series.versus),
        value(series.threshold)
    )?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th>probability</th><th class=\"n\">estimate</th><th class=\"n\">MCSE</th></tr>"
    )?;
    let rows = [
        (
            "P(a population effect detected, either direction)",
            optional_with_se(Some(series.prob_detect), Some(series.mcse.prob_detect), ""),
        ),
        (
            "P(the truly better treatment detected as better)",
            optional_with_se(
                series.prob_detect_correct,
                series.mcse.prob_detect_correct,
                "the two are equal",
            ),
        ),
        (
            "P(a population benefit beyond the MCID detected)",
            optional_with_se(
                Some(series.prob_beyond_mcid),
                Some(series.mcse.prob_beyond_mcid),
                "",
            ),
        ),
        (
            "Coverage of the 95% credible interval",
            optional_with_se(series.coverage, series.mcse.coverage, "no series look"),
        ),
    ];
    for (name, (p, se)) in rows {
        writeln!(
            out,
            "<tr><td>{name}</td><td class=\"n\">{p}</td><td class=\"n\">{se}</td></tr>"
        )?;
    }
    writeln!(out, "</table>")?;
    writeln!(out, "<table class=\"kv\">")?;
    writeln!(
        out,
        "<tr><th>Mean posterior mean of τ</th><td>{} (the simulated patients share their true \
         values: τ = 0)</td></tr>",
        series.tau_mean.map_or_else(
            || "—".to_owned(),
            |t| format!(
                "{} ± {}",
                fixed(t, 4),
                fixed(series.mcse.tau_mean.unwrap_or(f64::NAN), 4)
            )
        )
    )?;
    writeln!(
        out,
        "<tr><th>Patients pooled</th><td>{}</td></tr>",
        series
            .patients_pooled
            .map_or_else(|| "—".to_owned(), |p| fixed(p, 1))
    )?;
    writeln!(
        out,
        "<tr><th>Replicates with a series look</th><td>{}</td></tr>",
        fixed(series.prob_summary, 4)
    )?;
    writeln!(out, "</table>")?;
    writeln!(out, "</section>")
}
