//! The HTML simulation report (`bayestrial simulate --report OUT.html`): one self-contained page
//! with the design, the scenario, every operating characteristic with its Monte Carlo standard
//! error, and inline SVG charts drawn with plotters (three for a platform design, two for an
//! n-of-1 design).
//!
//! What it must not do:
//! - compute statistics: it formats a [`SimulationReport`] or [`Nof1SimulationReport`] and reads
//!   the [`Protocol`]; anything it shows that is not a protocol value comes from
//!   [`super::Metrics`] or [`super::Nof1Metrics`] (the chart whiskers are the reported MCSEs
//!   times 1.96);
//! - load anything from outside the page: CSS is inline, charts are inline SVG, there is no
//!   JavaScript;
//! - vary between runs: no clock, no random ids, floats at fixed precision, maps iterated in
//!   their (sorted) order, so the same report renders to byte-identical HTML.
//!
//! Every text that comes from the protocol (titles, names, scenario names) is HTML-escaped.

mod charts;
mod design;
mod format;
mod nof1;
mod precision;

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use super::{Nof1SimulationReport, ScenarioReport, Selection, SimError, SimulationReport};
use crate::protocol::{DelaySpec, Design, Protocol};

use charts::*;
use design::*;
pub use format::PALETTE;
use format::*;
use nof1::*;

/// What the page says about the run, whatever the design.
struct Run<'a> {
    protocol_id: &'a str,
    protocol_hash: &'a str,
    scenario: &'a str,
    reps: u64,
    seed: u64,
    /// Platform designs only.
    selection: Option<Selection>,
    truth: &'a BTreeMap<String, f64>,
}

impl<'a> Run<'a> {
    fn of(report: &'a SimulationReport) -> Self {
        Self {
            protocol_id: &report.protocol_id,
            protocol_hash: &report.protocol_hash,
            scenario: &report.scenario,
            reps: report.reps,
            seed: report.seed,
            selection: Some(report.selection),
            truth: &report.truth,
        }
    }

    fn of_nof1(report: &'a Nof1SimulationReport) -> Self {
        Self {
            protocol_id: &report.protocol_id,
            protocol_hash: &report.protocol_hash,
            scenario: &report.scenario,
            reps: report.reps,
            seed: report.seed,
            selection: None,
            truth: &report.truth,
        }
    }

    /// Refuses a report produced from another protocol (its trial id differs).
    fn check(&self, protocol: &Protocol) -> Result<(), SimError> {
        if self.protocol_id != protocol.trial.id {
            return Err(SimError::Report(format!(
                "the report is for protocol {:?}, not {:?}",
                self.protocol_id, protocol.trial.id
            )));
        }
        Ok(())
    }
}

/// Renders the report of a simulation of `protocol` as a self-contained HTML page.
///
/// Fails when `report` was produced from another protocol (its trial id differs) or a chart
/// cannot be drawn.
pub fn render_html(protocol: &Protocol, report: &SimulationReport) -> Result<String, SimError> {
    let run = Run::of(report);
    run.check(protocol)?;
    let ids: Vec<String> = protocol.arms.iter().map(|a| a.id.to_string()).collect();
    let (allocation, caption) = allocation_figure(&ids, &report.metrics.allocation_by_look)?;
    let mut charts = vec![
        (allocation, caption.to_owned()),
        (
            sample_size_chart(
                &report.metrics.sample_size_histogram,
                report.metrics.sample_size.mean,
            )?,
            "Distribution of the number of participants enrolled (share of trials per bin); \
             the vertical line is the mean."
                .to_owned(),
        ),
        (
            selection_chart(&ids, report)?,
            "Probability that each arm is selected (bars) with ±1.96 Monte Carlo standard \
             errors (whiskers)."
                .to_owned(),
        ),
    ];
    charts.extend(precision::precision_charts(protocol, report, &ids)?);
    let mut page = String::new();
    write_page(&mut page, protocol, &run, &ids, &charts, |out| {
        write_metrics(out, report, &ids)?;
        precision::write_precision_metrics(out, protocol, report, &ids)
    })
    .map_err(|e| SimError::Report(format!("formatting the page: {e}")))?;
    Ok(page)
}

/// Renders the report of a simulation of the n-of-1 `protocol` as a self-contained HTML page.
///
/// Fails when `report` was produced from another protocol (its trial id differs) or a chart
/// cannot be drawn.
pub fn render_nof1_html(
    protocol: &Protocol,
    report: &Nof1SimulationReport,
) -> Result<String, SimError> {
    let run = Run::of_nof1(report);
    run.check(protocol)?;
    let ids: Vec<String> = protocol.arms.iter().map(|a| a.id.to_string()).collect();
    let charts = [
        (
            conclusion_chart(&ids, report)?,
            "How a patient's trial ends: the share of patients (bars) with ±1.96 Monte Carlo \
             standard errors (whiskers)."
                .to_owned(),
        ),
        (
            cycles_chart(protocol, report)?,
            "Cycles analysed per patient: the share of patients whose trial ended after each \
             number of cycles."
                .to_owned(),
        ),
    ];
    let mut page = String::new();
    write_page(&mut page, protocol, &run, &ids, &charts, |out| {
        write_nof1_metrics(out, report)
    })
    .map_err(|e| SimError::Report(format!("formatting the page: {e}")))?;
    Ok(page)
}

/// Renders the report of either design.
pub fn render_scenario_html(
    protocol: &Protocol,
    report: &ScenarioReport,
) -> Result<String, SimError> {
    match report {
        ScenarioReport::Platform(report) => render_html(protocol, report),
        ScenarioReport::Nof1(report) => render_nof1_html(protocol, report),
    }
}

fn write_page(
    out: &mut String,
    protocol: &Protocol,
    run: &Run<'_>,
    ids: &[String],
    charts: &[(String, String)],
    results: impl FnOnce(&mut String) -> fmt::Result,
) -> fmt::Result {
    let title = format!(
        "{}: {}",
        escape(&protocol.trial.id),
        escape(&protocol.trial.title)
    );
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\">")?;
    writeln!(out, "<head>")?;
    writeln!(out, "<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(out, "<title>Simulation report — {title}</title>")?;
    writeln!(out, "<style>{CSS}</style>")?;
    writeln!(out, "</head>")?;
    writeln!(out, "<body>")?;
    write_header(out, protocol, run, &title)?;
    write_design(out, protocol)?;
    write_scenario(out, protocol, run, ids)?;
    results(out)?;
    writeln!(out, "<section id=\"charts\">")?;
    writeln!(out, "<h2>Charts</h2>")?;
    for (svg, caption) in charts {
        writeln!(out, "<figure>")?;
        out.push_str(svg);
        writeln!(out, "<figcaption>{}</figcaption>", escape(caption))?;
        writeln!(out, "</figure>")?;
    }
    writeln!(out, "</section>")?;
    let shares = if run.selection.is_some() {
        "the simulated trials"
    } else {
        "the simulated patients (per patient) or series (per series)"
    };
    writeln!(
        out,
        "<footer class=\"note\"><p>bayestrial {}. Probabilities are shares of {shares}; ± is \
         one Monte Carlo standard error.</p></footer>",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, "</body>")?;
    writeln!(out, "</html>")
}

fn write_header(out: &mut String, protocol: &Protocol, run: &Run<'_>, title: &str) -> fmt::Result {
    let selection = run.selection.map(|selection| match selection {
        Selection::BestRemaining => {
            "best-remaining (the remaining arm with the best posterior mean)"
        }
        Selection::ControlIfAvailable => "control-if-available (the control, if still active)",
        Selection::None => "none (no arm unless one is declared superior)",
    });
    writeln!(out, "<header>")?;
    writeln!(out, "<h1>{title}</h1>")?;
    writeln!(out, "<p class=\"note\">Simulation report</p>")?;
    writeln!(out, "<table class=\"kv\">")?;
    writeln!(
        out,
        "<tr><th>Protocol hash</th><td><code>{}</code></td></tr>",
        escape(run.protocol_hash)
    )?;
    writeln!(
        out,
        "<tr><th>Scenario</th><td>{}</td></tr>",
        escape(run.scenario)
    )?;
    writeln!(
        out,
        "<tr><th>Replicates</th><td>{}</td></tr>\n<tr><th>Seed</th><td>{}</td></tr>",
        run.reps, run.seed
    )?;
    if let Some(selection) = selection {
        writeln!(out, "<tr><th>Selection rule</th><td>{selection}</td></tr>")?;
    }
    let design = match protocol.trial.design {
        Design::Platform => "platform",
        Design::Nof1 => "n-of-1",
    };
    writeln!(out, "<tr><th>Design</th><td>{design}</td></tr>")?;
    writeln!(out, "</table>")?;
    writeln!(out, "</header>")
}

fn write_scenario(
    out: &mut String,
    protocol: &Protocol,
    run: &Run<'_>,
    ids: &[String],
) -> fmt::Result {
    let spec = protocol.scenarios.iter().find(|s| s.name == run.scenario);
    writeln!(out, "<section id=\"scenario\">")?;
    writeln!(out, "<h2>Scenario {}</h2>", escape(run.scenario))?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th>arm</th><th class=\"n\">true value</th><th></th></tr>"
    )?;
    for (arm, id) in protocol.arms.iter().zip(ids) {
        let truth = run.truth.get(id).copied().unwrap_or(f64::NAN);
        let written = spec.and_then(|s| s.truth.get(&arm.id)).copied();
        let note = match written {
            _ if truth.is_nan() => "differs between strata (below)".to_owned(),
            Some(w) if w.to_bits() != truth.to_bits() => {
                format!("overridden (protocol: {})", value(w))
            }
            _ => String::new(),
        };
        writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"note\">{note}</td></tr>",
            escape(id),
            if truth.is_nan() { "—".to_owned() } else { value(truth) }
        )?;
    }
    writeln!(out, "</table>")?;
    if let (Some(precision), Some(strata)) =
        (&protocol.precision, spec.and_then(|s| s.strata.as_ref()))
    {
        write!(
            out,
            "<table id=\"truth-by-stratum\"><tr><th>stratum</th><th class=\"n\">prevalence</th>"
        )?;
        for id in ids {
            write!(out, "<th class=\"n\">{}</th>", escape(id))?;
        }
        writeln!(out, "</tr>")?;
        for (s, stratum) in precision.strata.iter().enumerate() {
            write!(
                out,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td>",
                escape(&stratum.label),
                fixed(strata.prevalence[s], 4)
            )?;
            for (a, truth) in strata.truth.iter().enumerate() {
                let cell = if precision.arm_strata[a].contains(s) {
                    value(truth[s])
                } else {
                    "—".to_owned()
                };
                write!(out, "<td class=\"n\">{cell}</td>")?;
            }
            writeln!(out, "</tr>")?;
        }
        writeln!(
            out,
            "</table>\n<p class=\"note\">True response rate of each arm in each stratum, as the \
             protocol writes the scenario (— where the arm may not enrol).</p>"
        )?;
    }
    if let Some(spec) = spec {
        writeln!(out, "<table class=\"kv\">")?;
        writeln!(
            out,
            "<tr><th>Accrual</th><td>{} participants per week</td></tr>",
            value(spec.accrual_per_week)
        )?;
        if protocol.nof1.is_none() {
            let delay = match spec.outcome_delay {
                DelaySpec::Fixed(w) => format!("{} weeks", value(w)),
                DelaySpec::Exponential(m) => format!("exponential, mean {} weeks", value(m)),
                DelaySpec::Uniform(a, b) => {
                    format!("uniform, {} to {} weeks", value(a), value(b))
                }
            };
            writeln!(out, "<tr><th>Outcome delay</th><td>{delay}</td></tr>")?;
            writeln!(
                out,
                "<tr><th>Dropout</th><td>{}</td></tr>",
                value(spec.dropout)
            )?;
        } else {
            writeln!(
                out,
                "<tr><th>Dropout</th><td>{} (a patient who drops out does so at the start of a \
                 period drawn uniformly)</td></tr>",
                value(spec.dropout)
            )?;
        }
        if let Some(sd) = spec.sd {
            writeln!(out, "<tr><th>Residual SD</th><td>{}</td></tr>", value(sd))?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "</section>")
}

fn write_metrics(out: &mut String, report: &SimulationReport, ids: &[String]) -> fmt::Result {
    let m = &report.metrics;
    writeln!(out, "<section id=\"results\">")?;
    writeln!(out, "<h2>Operating characteristics</h2>")?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th>probability</th><th class=\"n\">estimate</th><th class=\"n\">MCSE</th></tr>"
    )?;
    for (name, p, se) in [
        (
            "P(conclusive: superiority, equivalence or futility)",
            m.prob_conclusive,
            m.mcse.prob_conclusive,
        ),
        (
            "P(an arm declared superior)",
            m.prob_superiority,
            m.mcse.prob_superiority,
        ),
        (
            "P(stop for equivalence)",
            m.prob_equivalence,
            m.mcse.prob_equivalence,
        ),
        (
            "P(every experimental arm dropped for futility)",
            m.prob_futility,
            m.mcse.prob_futility,
        ),
        (
            "P(no conclusion by the maximum sample size)",
            m.prob_max,
            m.mcse.prob_max,
        ),
    ] {
        writeln!(
            out,
            "<tr><td>{name}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            fixed(p, 4),
            fixed(se, 4)
        )?;
    }
    writeln!(out, "</table>")?;

    writeln!(out, "<h3>By arm</h3>")?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th>arm</th><th class=\"n\">truth</th><th class=\"n\">P(declared superior)</th>\
         <th class=\"n\">P(selected)</th><th class=\"n\">mean allocation</th>\
         <th class=\"n\">RMSE</th></tr>"
    )?;
    let get = |map: &BTreeMap<String, f64>, key: &str| map.get(key).copied().unwrap_or(f64::NAN);
    for id in ids {
        writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(id),
            fixed(get(&report.truth, id), 4),
            with_se(
                get(&m.prob_superior_arm, id),
                get(&m.mcse.prob_superior_arm, id)
            ),
            with_se(get(&m.prob_select, id), get(&m.mcse.prob_select, id)),
            fixed(get(&m.allocation, id), 4),
            fixed(get(&m.rmse, id), 4)
        )?;
    }
    writeln!(
        out,
        "<tr><td>none</td><td></td><td></td><td class=\"n\">{}</td><td></td><td></td></tr>",
        with_se(
            get(&m.prob_select, "none"),
            get(&m.mcse.prob_select, "none")
        )
    )?;
    writeln!(out, "</table>")?;

    writeln!(out, "<h3>Sample size and events</h3>")?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th></th><th class=\"n\">mean</th><th class=\"n\">SD</th><th class=\"n\">min</th>\
         <th class=\"n\">25%</th><th class=\"n\">median</th><th class=\"n\">75%</th>\
         <th class=\"n\">max</th></tr>"
    )?;
    for (name, spread, mean) in [
        (
            "participants enrolled",
            &m.sample_size,
            format!(
                "{} ± {}",
                fixed(m.sample_size.mean, 1),
                fixed(m.mcse.sample_size_mean, 1)
            ),
        ),
        ("events", &m.events, fixed(m.events.mean, 1)),
    ] {
        writeln!(
            out,
            "<tr><td>{name}</td><td class=\"n\">{mean}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            fixed(spread.sd, 1),
            fixed(spread.min, 0),
            fixed(spread.p25, 1),
            fixed(spread.p50, 1),
            fixed(spread.p75, 1),
            fixed(spread.max, 0)
        )?;
    }
    writeln!(out, "</table>")?;
    writeln!(
        out,
        "<p class=\"note\">Events: responses (binary outcomes) or events (counts); zero for \
         continuous outcomes.</p>"
    )?;

    writeln!(out, "<h3>Estimation and selection</h3>")?;
    writeln!(out, "<table class=\"kv\">")?;
    writeln!(
        out,
        "<tr><th>RMSE of the selected arm</th><td>{}</td></tr>",
        m.rmse_selected
            .map_or_else(|| "— (no arm selected)".to_owned(), |r| fixed(r, 4))
    )?;
    writeln!(
        out,
        "<tr><th>Ideal design percentage</th><td>{}</td></tr>",
        m.ideal_design_percentage.map_or_else(
            || "— (all arms equal, or no arm selected)".to_owned(),
            |idp| format!("{}%", fixed(idp, 1))
        )
    )?;
    writeln!(out, "</table>")?;

    writeln!(out, "<h3>Stopping look</h3>")?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th class=\"n\">looks performed</th><th class=\"n\">share of trials</th></tr>"
    )?;
    for (looks, share) in &m.stopping_look {
        writeln!(
            out,
            "<tr><td class=\"n\">{looks}</td><td class=\"n\">{}</td></tr>",
            fixed(*share, 4)
        )?;
    }
    writeln!(out, "</table>")?;

    if !m.allocation_by_look.is_empty() {
        writeln!(out, "<h3>Allocation probability by look</h3>")?;
        writeln!(out, "<table>")?;
        write!(out, "<tr><th class=\"n\">look</th>")?;
        for id in ids {
            write!(out, "<th class=\"n\"><code>{}</code></th>", escape(id))?;
        }
        writeln!(out, "</tr>")?;
        for (k, row) in m.allocation_by_look.iter().enumerate() {
            write!(out, "<tr><td class=\"n\">{}</td>", k + 1)?;
            for id in ids {
                write!(out, "<td class=\"n\">{}</td>", fixed(get(row, id), 4))?;
            }
            writeln!(out, "</tr>")?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "</section>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::LoadedProtocol;
    use crate::sim::{simulate, SimScenario, SimulationPlan};

    fn simulated(title: Option<&str>) -> (Protocol, SimulationReport) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/protocols/three-arm-pbest.toml"
        );
        let mut protocol = match LoadedProtocol::load(std::path::Path::new(path)) {
            Ok(loaded) => loaded.protocol,
            Err(e) => panic!("{e}"),
        };
        if let Some(title) = title {
            protocol.trial.title = title.to_owned();
            protocol.arms[1].name = title.to_owned();
        }
        let scenario = SimScenario::from_protocol(&protocol, "phone-best", &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let plan = SimulationPlan {
            scenario,
            reps: 40,
            seed: 11,
            threads: 1,
            selection: Selection::BestRemaining,
        };
        let report = simulate(&protocol, "ab12", &plan, &|| {}).unwrap_or_else(|e| panic!("{e}"));
        (protocol, report)
    }

    fn render(protocol: &Protocol, report: &SimulationReport) -> String {
        render_html(protocol, report).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn page_has_metrics_design_and_three_charts() {
        let (protocol, report) = simulated(None);
        let html = render(&protocol, &report);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert_eq!(html.matches("<svg").count(), 3);
        assert_eq!(html.matches("</svg>").count(), 3);
        let m = &report.metrics;
        for needle in [
            "PBEST-3ARM".to_owned(),
            "phone-best".to_owned(),
            "ab12".to_owned(),
            "Telephone counselling".to_owned(),
            "Beta(1, 1)".to_owned(),
            "above 0.975".to_owned(),
            "below 0.02".to_owned(),
            "δ = 0.05, above 0.9".to_owned(),
            "90, 150, 210".to_owned(),
            fixed(m.prob_conclusive, 4),
            fixed(m.mcse.prob_conclusive, 4),
            with_se(m.prob_select["phone"], m.mcse.prob_select["phone"]),
            with_se(m.prob_select["none"], m.mcse.prob_select["none"]),
            with_se(m.prob_superior_arm["app"], m.mcse.prob_superior_arm["app"]),
            fixed(m.sample_size.mean, 1),
            fixed(m.sample_size.p75, 1),
            fixed(m.allocation["brief"], 4),
        ] {
            assert!(html.contains(&needle), "missing {needle:?}");
        }
        for forbidden in ["<script", "http://", "https://www", "src=", "<link"] {
            let outside_svg_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!outside_svg_ns.contains(forbidden), "found {forbidden:?}");
        }
    }

    #[test]
    fn protocol_text_is_escaped() {
        let evil = "<script>alert('x')</script> & \"co\"";
        let (protocol, report) = simulated(Some(evil));
        let html = render(&protocol, &report);
        assert!(!html.contains("<script"));
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;")
        );
    }

    #[test]
    fn rendering_is_deterministic() {
        let (protocol, report) = simulated(None);
        let first = render(&protocol, &report);
        let second = render(&protocol, &report.clone());
        assert_eq!(first, second);
        let (protocol_again, report_again) = simulated(None);
        assert_eq!(first, render(&protocol_again, &report_again));
    }

    #[test]
    fn report_of_another_protocol_is_refused() {
        let (protocol, mut report) = simulated(None);
        report.protocol_id = "OTHER".into();
        assert!(matches!(
            render_html(&protocol, &report),
            Err(SimError::Report(_))
        ));
    }

    #[test]
    fn empty_metrics_still_render() {
        let (protocol, mut report) = simulated(None);
        report.metrics.allocation_by_look.clear();
        report.metrics.sample_size_histogram.bins.clear();
        report.metrics.sample_size.mean = f64::NAN;
        let html = render(&protocol, &report);
        assert_eq!(
            html.matches("<svg").count(),
            2,
            "no allocation chart without a look"
        );
        assert!(html.contains("No look set an allocation probability"));
    }
}
