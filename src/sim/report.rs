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

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Nof1SimulationReport, ScenarioReport, Selection, SimError, SimulationReport};
use crate::protocol::{
    AllocationRule, ControlShare, ControlsPolicy, DelaySpec, Design, MarginRule, Nof1Sequence,
    OutcomeKind, Power, Prior, Protocol, Threshold,
};
use crate::stats::Better;

/// Size of each chart in pixels (the page scales them down on narrow screens).
const CHART_SIZE: (u32, u32) = (720, 360);

/// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 94, 40),
];

/// Grey for the `none` selection.
const GREY: RGBColor = RGBColor(150, 150, 150);

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;\
max-width:60rem;padding:0 1rem;color:#1a1a1a;line-height:1.4}\
h1{font-size:1.5rem;margin-bottom:.25rem}h2{font-size:1.2rem;margin-top:2rem;\
border-bottom:1px solid #ccc}h3{font-size:1rem;margin-top:1.25rem}\
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.2rem .6rem;\
border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
table.kv th{font-weight:600;color:#444}code{font-size:.9em;word-break:break-all}\
figure{margin:1rem 0}figcaption{font-size:.9rem;color:#444}\
svg{max-width:100%;height:auto}.note{color:#555;font-size:.9rem}";

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
    let charts = [
        (
            allocation_chart(&ids, &report.metrics.allocation_by_look)?,
            "Mean allocation probability set at each look, over the trials that reached it.",
        ),
        (
            sample_size_chart(report)?,
            "Distribution of the number of participants enrolled (share of trials per bin); \
             the vertical line is the mean.",
        ),
        (
            selection_chart(&ids, report)?,
            "Probability that each arm is selected (bars) with ±1.96 Monte Carlo standard \
             errors (whiskers).",
        ),
    ];
    let mut page = String::new();
    write_page(&mut page, protocol, &run, &ids, &charts, |out| {
        write_metrics(out, report, &ids)
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
             standard errors (whiskers).",
        ),
        (
            cycles_chart(protocol, report)?,
            "Cycles analysed per patient: the share of patients whose trial ended after each \
             number of cycles.",
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

/// Escapes `text` for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// `x` with `digits` decimals, or an em dash when it is not finite.
fn fixed(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "—".to_owned()
    }
}

/// A probability and its MCSE, 4 decimals each.
fn with_se(p: f64, se: f64) -> String {
    format!("{} ± {}", fixed(p, 4), fixed(se, 4))
}

/// A value from the protocol, as written (shortest round-trip form).
fn value(x: f64) -> String {
    format!("{x}")
}

fn colour(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

fn write_page(
    out: &mut String,
    protocol: &Protocol,
    run: &Run<'_>,
    ids: &[String],
    charts: &[(String, &str)],
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

fn prior_text(prior: &Prior) -> String {
    match *prior {
        Prior::Beta { a, b } => format!("Beta({}, {})", value(a), value(b)),
        Prior::NormalInverseGamma {
            mu0,
            kappa0,
            alpha0,
            beta0,
        } => format!(
            "Normal-Inverse-Gamma(μ₀ {}, κ₀ {}, α₀ {}, β₀ {})",
            value(mu0),
            value(kappa0),
            value(alpha0),
            value(beta0)
        ),
        Prior::Gamma { shape, rate } => format!("Gamma({}, {})", value(shape), value(rate)),
    }
}

fn threshold_text(threshold: &Threshold) -> String {
    match threshold {
        Threshold::Constant(v) => value(*v),
        Threshold::PerLook(values) => format!(
            "by look: {} (the last repeats)",
            values
                .iter()
                .map(|&v| value(v))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn margin_text(rule: &MarginRule, comparison: &str) -> String {
    format!(
        "δ = {}, {comparison} {}",
        value(rule.delta),
        threshold_text(&rule.threshold)
    )
}

fn write_design(out: &mut String, protocol: &Protocol) -> fmt::Result {
    writeln!(out, "<section id=\"design\">")?;
    writeln!(out, "<h2>Design</h2>")?;
    let kind = match protocol.outcome.kind {
        OutcomeKind::Binary => "binary",
        OutcomeKind::Continuous => "continuous",
        OutcomeKind::Count => "count",
    };
    let better = match protocol.outcome.better {
        Better::Higher => "higher",
        Better::Lower => "lower",
    };
    writeln!(out, "<table class=\"kv\">")?;
    writeln!(
        out,
        "<tr><th>Outcome</th><td>{} ({kind}; {better} is better)</td></tr>",
        escape(&protocol.outcome.name)
    )?;
    writeln!(
        out,
        "<tr><th>Maximum participants</th><td>{}</td></tr>",
        protocol.trial.max_participants
    )?;
    writeln!(out, "</table>")?;

    if protocol.nof1.is_some() {
        writeln!(out, "<h3>Treatments</h3>")?;
        writeln!(out, "<table>")?;
        writeln!(out, "<tr><th>id</th><th>name</th><th>prior</th></tr>")?;
        for arm in &protocol.arms {
            writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(arm.id.as_str()),
                escape(&arm.name),
                prior_text(&arm.prior)
            )?;
        }
        writeln!(out, "</table>")?;
        write_nof1_design(out, protocol)?;
        return writeln!(out, "</section>");
    }
    writeln!(out, "<h3>Arms</h3>")?;
    writeln!(out, "<table>")?;
    writeln!(
        out,
        "<tr><th>id</th><th>name</th><th>control</th><th>opens at</th>\
         <th class=\"n\">ratio</th><th>prior</th></tr>"
    )?;
    for arm in &protocol.arms {
        let opens = arm
            .opens_at
            .map_or_else(|| "start".to_owned(), |n| format!("{n} enrolled"));
        writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{opens}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            escape(arm.id.as_str()),
            escape(&arm.name),
            if arm.control { "yes" } else { "" },
            arm.ratio,
            prior_text(&arm.prior)
        )?;
    }
    writeln!(out, "</table>")?;

    let allocation = &protocol.allocation;
    writeln!(out, "<h3>Allocation</h3>")?;
    writeln!(out, "<table class=\"kv\">")?;
    match allocation.rule {
        AllocationRule::Fixed => {
            writeln!(out, "<tr><th>Rule</th><td>fixed ratios</td></tr>")?;
        }
        AllocationRule::Thompson { power, control } => {
            let power = match power {
                Power::Constant(p) => value(p),
                Power::HalfInformation => "n/(2N)".to_owned(),
            };
            writeln!(
                out,
                "<tr><th>Rule</th><td>response-adaptive: P(best)<sup>power</sup></td></tr>"
            )?;
            writeln!(out, "<tr><th>Power</th><td>{power}</td></tr>")?;
            if protocol.control().is_some() {
                let share = match control {
                    ControlShare::None => "none (the control competes)".to_owned(),
                    ControlShare::Fixed(s) => format!("fixed {}", value(s)),
                    ControlShare::SqrtK => "sqrt-k".to_owned(),
                    ControlShare::MatchBest => "match-best".to_owned(),
                };
                writeln!(out, "<tr><th>Control share</th><td>{share}</td></tr>")?;
            }
        }
    }
    writeln!(
        out,
        "<tr><th>Bounds</th><td>min {}, max {}</td></tr>",
        value(allocation.min),
        value(allocation.max)
    )?;
    writeln!(
        out,
        "<tr><th>Burn-in</th><td>{} participants</td></tr>",
        allocation.burn_in
    )?;
    writeln!(
        out,
        "<tr><th>Block multiple</th><td>{}</td></tr>",
        allocation.block_multiple
    )?;
    writeln!(out, "</table>")?;

    writeln!(out, "<h3>Analysis and decisions</h3>")?;
    writeln!(out, "<table class=\"kv\">")?;
    let looks = protocol
        .analysis
        .looks
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        out,
        "<tr><th>Looks</th><td>{} looks, at {looks} participants with outcome data</td></tr>",
        protocol.analysis.looks.len()
    )?;
    let controls = match protocol.analysis.controls {
        ControlsPolicy::Concurrent => "concurrent",
        ControlsPolicy::All => "all",
    };
    writeln!(out, "<tr><th>Controls</th><td>{controls}</td></tr>")?;
    let decision = &protocol.decision;
    let unused = || "not used".to_owned();
    writeln!(
        out,
        "<tr><th>Superiority</th><td>{}</td></tr>",
        decision
            .superiority
            .as_ref()
            .map_or_else(unused, |t| format!("above {}", threshold_text(t)))
    )?;
    writeln!(
        out,
        "<tr><th>Inferiority</th><td>{}</td></tr>",
        decision
            .inferiority
            .as_ref()
            .map_or_else(unused, |t| format!("below {}", threshold_text(t)))
    )?;
    writeln!(
        out,
        "<tr><th>Futility</th><td>{}</td></tr>",
        decision
            .futility
            .as_ref()
            .map_or_else(unused, |r| margin_text(r, "below"))
    )?;
    writeln!(
        out,
        "<tr><th>Equivalence</th><td>{}</td></tr>",
        decision
            .equivalence
            .as_ref()
            .map_or_else(unused, |r| margin_text(r, "above"))
    )?;
    writeln!(out, "</table>")?;

    writeln!(out, "</section>")
}

fn write_nof1_design(out: &mut String, protocol: &Protocol) -> fmt::Result {
    let Some(nof1) = &protocol.nof1 else {
        return Ok(());
    };
    writeln!(out, "<h3>n-of-1 schedule</h3>")?;
    writeln!(out, "<table class=\"kv\">")?;
    let treatments = nof1
        .treatments
        .iter()
        .map(|t| escape(t))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(out, "<tr><th>Treatments</th><td>{treatments}</td></tr>")?;
    writeln!(
        out,
        "<tr><th>Patients</th><td>{}</td></tr>",
        protocol.trial.max_participants
    )?;
    writeln!(
        out,
        "<tr><th>Cycles</th><td>{} (stopping rules from cycle {})</td></tr>",
        nof1.cycles, nof1.min_cycles
    )?;
    writeln!(
        out,
        "<tr><th>Periods</th><td>{} days, washout {} days, run-in {} days, \
         {} measurements per period</td></tr>",
        nof1.period_days, nof1.washout_days, nof1.run_in_days, nof1.measurements_per_period
    )?;
    let sequence = match nof1.sequence {
        Nof1Sequence::Pairs => "pairs (random order within each cycle)".to_owned(),
        Nof1Sequence::Counterbalanced => {
            "counterbalanced (random first cycle, then ABBA BAAB …)".to_owned()
        }
        Nof1Sequence::Adaptive => format!(
            "adaptive (P(better)<sup>{}</sup>, each treatment at least {})",
            value(nof1.power),
            value(nof1.min_probability)
        ),
    };
    writeln!(out, "<tr><th>Sequence</th><td>{sequence}</td></tr>")?;
    writeln!(out, "<tr><th>MCID</th><td>{}</td></tr>", value(nof1.mcid))?;
    let stop = |p: Option<f64>| p.map_or_else(|| "not used".to_owned(), value);
    writeln!(
        out,
        "<tr><th>Stop for benefit</th><td>{}</td></tr>\n\
         <tr><th>Stop for equivalence</th><td>{}</td></tr>",
        stop(nof1.stop_benefit),
        stop(nof1.stop_equivalence)
    )?;
    writeln!(
        out,
        "<tr><th>Residuals</th><td>{}</td></tr>",
        if nof1.ar1 { "AR(1)" } else { "independent" }
    )?;
    writeln!(
        out,
        "<tr><th>Series model</th><td>normal random effects, half-Cauchy({}) prior on τ</td></tr>",
        value(nof1.tau_scale)
    )?;
    writeln!(out, "</table>")
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
            Some(w) if w.to_bits() != truth.to_bits() => {
                format!("overridden (protocol: {})", value(w))
            }
            _ => String::new(),
        };
        writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"note\">{note}</td></tr>",
            escape(id),
            value(truth)
        )?;
    }
    writeln!(out, "</table>")?;
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

/// What a chart-drawing closure returns.
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Draws one chart on a white SVG canvas and returns the `<svg>` element.
fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn,
) -> Result<String, SimError> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present())
            .map_err(|e| SimError::Report(format!("drawing a chart: {e}")))?;
    }
    Ok(text)
}

fn allocation_chart(ids: &[String], by_look: &[BTreeMap<String, f64>]) -> Result<String, SimError> {
    let looks = u32::try_from(by_look.len()).unwrap_or(u32::MAX);
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .caption("Allocation over looks", ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(1u32..looks.max(2), 0f64..1f64)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc("look")
            .y_desc("mean allocation probability")
            .x_labels(usize::try_from(looks.clamp(2, 20)).unwrap_or(20))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()?;
        for (i, id) in ids.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            let points: Vec<(u32, f64)> = (1u32..)
                .zip(by_look)
                .filter_map(|(k, row)| row.get(id).map(|&p| (k, p)))
                .collect();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), style))?
                .label(id.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart.draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 3, colour(i).filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
    })
}

fn sample_size_chart(report: &SimulationReport) -> Result<String, SimError> {
    let histogram = &report.metrics.sample_size_histogram;
    let mean = report.metrics.sample_size.mean;
    let width = f64::from(histogram.bin_width);
    let (left, right) = match (histogram.bins.first(), histogram.bins.last()) {
        (Some(first), Some(last)) => (
            (f64::from(first.0) - width).max(0.0),
            f64::from(last.0) + 2.0 * width,
        ),
        _ => (0.0, 1.0),
    };
    let top = histogram
        .bins
        .iter()
        .map(|b| b.1)
        .fold(0.0, f64::max)
        .max(0.01)
        * 1.1;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .caption("Sample size", ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(left..right, 0f64..top)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .x_desc("participants enrolled")
            .y_desc("share of trials")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .draw()?;
        chart.draw_series(histogram.bins.iter().map(|&(edge, share)| {
            let lo = f64::from(edge);
            Rectangle::new(
                [(lo, 0.0), (lo + width, share)],
                colour(0).mix(0.75).filled(),
            )
        }))?;
        chart.draw_series(histogram.bins.iter().map(|&(edge, share)| {
            let lo = f64::from(edge);
            Rectangle::new([(lo, 0.0), (lo + width, share)], WHITE.stroke_width(1))
        }))?;
        if mean.is_finite() {
            let style = colour(1).stroke_width(2);
            chart
                .draw_series(LineSeries::new([(mean, 0.0), (mean, top)], style))?
                .label(format!("mean {}", fixed(mean, 1)))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    })
}

fn selection_chart(ids: &[String], report: &SimulationReport) -> Result<String, SimError> {
    let m = &report.metrics;
    let labels: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .chain(std::iter::once("none"))
        .collect();
    let bars: Vec<Bar> = labels
        .iter()
        .enumerate()
        .map(|(i, &key)| Bar {
            value: m.prob_select.get(key).copied().unwrap_or(0.0),
            mcse: Some(m.mcse.prob_select.get(key).copied().unwrap_or(0.0)),
            colour: if i == ids.len() { GREY } else { colour(i) },
        })
        .collect();
    bar_chart(("Selection", "arm", "P(selected)"), &labels, &bars)
}

/// One bar of a bar chart: a share, its MCSE (drawn as a ±1.96 whisker) and its colour.
struct Bar {
    value: f64,
    mcse: Option<f64>,
    colour: RGBColor,
}

/// A bar chart of shares (0 to 1) with optional whiskers; `text` is (caption, x, y label).
fn bar_chart(text: (&str, &str, &str), labels: &[&str], bars: &[Bar]) -> Result<String, SimError> {
    let (caption, x_desc, y_desc) = text;
    // Plotters' integer ranges include their end.
    let count = u32::try_from(labels.len()).unwrap_or(u32::MAX);
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .caption(caption, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((0u32..count.saturating_sub(1)).into_segmented(), 0f64..1f64)?;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::Exact(i) | SegmentValue::CenterOf(i) => usize::try_from(*i)
                .ok()
                .and_then(|i| labels.get(i))
                .map_or_else(String::new, |s| (*s).to_owned()),
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .x_labels(labels.len())
            .x_label_formatter(&label)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()?;
        // Rectangles in bar order: plotters' `Histogram` series groups bars in a `HashMap`,
        // which would make the SVG element order differ from run to run.
        chart.draw_series((0u32..).zip(bars).map(|(i, bar)| {
            let mut rectangle = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), bar.value),
                ],
                bar.colour.filled(),
            );
            rectangle.set_margin(0, 0, 16, 16);
            rectangle
        }))?;
        chart.draw_series((0u32..).zip(bars).filter_map(|(i, bar)| {
            let se = bar.mcse?;
            let x = SegmentValue::CenterOf(i);
            Some(PathElement::new(
                vec![
                    (x.clone(), (bar.value - 1.96 * se).max(0.0)),
                    (x, (bar.value + 1.96 * se).min(1.0)),
                ],
                BLACK.stroke_width(2),
            ))
        }))?;
        Ok(())
    })
}

/// How a patient's trial ends, as bars: benefit of each treatment, equivalence, completed,
/// withdrawn.
fn conclusion_chart(ids: &[String], report: &Nof1SimulationReport) -> Result<String, SimError> {
    let m = &report.nof1;
    let mut labels: Vec<String> = ids.iter().map(|id| format!("benefit: {id}")).collect();
    let mut bars: Vec<Bar> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Bar {
            value: m.prob_benefit_by_treatment.get(id).copied().unwrap_or(0.0),
            mcse: m.mcse.prob_benefit_by_treatment.get(id).copied(),
            colour: colour(i),
        })
        .collect();
    let k = ids.len();
    for (label, value, mcse, colour) in [
        (
            "equivalence",
            m.prob_equivalence,
            m.mcse.prob_equivalence,
            colour(k),
        ),
        (
            "completed",
            m.prob_completed,
            m.mcse.prob_completed,
            colour(k + 1),
        ),
        ("withdrawn", m.prob_withdrawn, m.mcse.prob_withdrawn, GREY),
    ] {
        labels.push(label.to_owned());
        bars.push(Bar {
            value,
            mcse: Some(mcse),
            colour,
        });
    }
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    bar_chart(
        ("How patients' trials end", "end", "share of patients"),
        &labels,
        &bars,
    )
}

/// The distribution of the cycles analysed per patient, 0 to `nof1.cycles`.
fn cycles_chart(protocol: &Protocol, report: &Nof1SimulationReport) -> Result<String, SimError> {
    let cycles = protocol.nof1.as_ref().map_or(0, |n| n.cycles);
    let labels: Vec<String> = (0..=cycles).map(|c| c.to_string()).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let bars: Vec<Bar> = (0..=cycles)
        .map(|c| Bar {
            value: report
                .nof1
                .cycles_distribution
                .get(&c)
                .copied()
                .unwrap_or(0.0),
            mcse: None,
            colour: colour(0),
        })
        .collect();
    bar_chart(
        ("Cycles per patient", "cycles analysed", "share of patients"),
        &labels,
        &bars,
    )
}

/// An optional probability and its MCSE, or an em dash with why it is absent.
fn optional_with_se(p: Option<f64>, se: Option<f64>, absent: &str) -> (String, String) {
    match p {
        Some(p) => (fixed(p, 4), se.map_or_else(String::new, |se| fixed(se, 4))),
        None => (format!("— ({absent})"), String::new()),
    }
}

fn write_nof1_metrics(out: &mut String, report: &Nof1SimulationReport) -> fmt::Result {
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
        assert_eq!(html.matches("<svg").count(), 3);
    }
}
