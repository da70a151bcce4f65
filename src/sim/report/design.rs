//! The report's design section: the protocol's keys in words.

use std::fmt::{self, Write};

use crate::protocol::{
    AllocationRule, ControlShare, ControlsPolicy, MarginRule, Nof1Sequence, OutcomeKind, Power,
    Prior, Protocol, Threshold,
};
use crate::stats::Better;

use super::format::*;

pub(super) fn prior_text(prior: &Prior) -> String {
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
        Prior::Mixture(mixture) => mixture
            .parts()
            .iter()
            .map(|(weight, part)| format!("{} × {}", value(*weight), prior_text(part)))
            .collect::<Vec<_>>()
            .join(" + "),
    }
}

pub(super) fn threshold_text(threshold: &Threshold) -> String {
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

pub(super) fn margin_text(rule: &MarginRule, comparison: &str) -> String {
    format!(
        "δ = {}, {comparison} {}",
        value(rule.delta),
        threshold_text(&rule.threshold)
    )
}

pub(super) fn write_design(out: &mut String, protocol: &Protocol) -> fmt::Result {
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

pub(super) fn write_nof1_design(out: &mut String, protocol: &Protocol) -> fmt::Result {
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
