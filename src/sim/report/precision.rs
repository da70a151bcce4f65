//! The report's part for a precision design: per signature the probability that each arm
//! graduates there (a table and a chart per signature), and per stratum the participants and
//! the allocation over looks (a table and a chart per stratum). Everything is read from
//! [`super::super::Metrics`]; nothing is computed here.

use std::fmt::{self, Write as _};

use super::super::{SimError, SimulationReport};
use super::charts::{allocation_figure, bar_chart, Bar};
use super::format::*;
use crate::protocol::Protocol;

/// The precision charts: a graduation chart per signature, then an allocation chart per
/// stratum (none for another design).
pub(super) fn precision_charts(
    protocol: &Protocol,
    report: &SimulationReport,
    ids: &[String],
) -> Result<Vec<(String, String)>, SimError> {
    let Some(precision) = &protocol.precision else {
        return Ok(Vec::new());
    };
    let m = &report.metrics;
    let mut charts = Vec::new();
    if let (Some(graduate), Some(mcse)) = (&m.prob_graduate, &m.mcse.prob_graduate) {
        for signature in &precision.signatures {
            let keys: Vec<(usize, String)> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (i, format!("{id}/{}", signature.id)))
                .filter(|(_, key)| graduate.contains_key(key))
                .collect();
            if keys.is_empty() {
                continue;
            }
            let labels: Vec<&str> = keys.iter().map(|&(i, _)| ids[i].as_str()).collect();
            let bars: Vec<Bar> = keys
                .iter()
                .map(|(i, key)| {
                    Bar::new(
                        graduate.get(key).copied().unwrap_or(0.0),
                        mcse.get(key).copied(),
                        colour(*i),
                    )
                })
                .collect();
            let title = format!("Graduation in {}", signature.name);
            charts.push((
                bar_chart((&title, "arm", "P(graduates)"), &labels, &bars)?,
                format!(
                    "Signature {} ({}: {}): probability that each arm graduates there (bars) \
                     with ±1.96 Monte Carlo standard errors (whiskers); an arm whose strata \
                     there are those of a smaller signature is assessed in that one instead.",
                    signature.id, signature.name, signature.written
                ),
            ));
        }
    }
    if let Some(by_stratum) = &m.allocation_by_stratum {
        for stratum in &precision.strata {
            let Some(allocation) = by_stratum.get(&stratum.label) else {
                continue;
            };
            let (svg, caption) = allocation_figure(ids, &allocation.by_look)?;
            charts.push((svg, format!("Stratum {}: {caption}", stratum.label)));
        }
    }
    Ok(charts)
}

/// The precision tables: graduation per arm and signature, by biomarker level, and per stratum
/// the participants and each arm's share.
pub(super) fn write_precision_metrics(
    out: &mut String,
    protocol: &Protocol,
    report: &SimulationReport,
    ids: &[String],
) -> fmt::Result {
    let Some(precision) = &protocol.precision else {
        return Ok(());
    };
    let m = &report.metrics;
    writeln!(out, "<section id=\"precision\">")?;
    writeln!(out, "<h2>Graduation and strata</h2>")?;
    if let (Some(graduate), Some(mcse)) = (&m.prob_graduate, &m.mcse.prob_graduate) {
        writeln!(
            out,
            "<p>P(some arm graduates in some signature): {}</p>",
            with_se(
                m.prob_graduate_any.unwrap_or(f64::NAN),
                m.mcse.prob_graduate_any.unwrap_or(f64::NAN)
            )
        )?;
        writeln!(out, "<table id=\"graduation\">")?;
        writeln!(
            out,
            "<tr><th>arm / signature</th><th class=\"n\">P(graduates)</th>\
             <th class=\"n\">mean look</th></tr>"
        )?;
        for (key, p) in graduate {
            let look = m.graduation_look.as_ref().and_then(|l| l.get(key).copied());
            writeln!(
                out,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(key),
                with_se(*p, mcse.get(key).copied().unwrap_or(f64::NAN)),
                look.map_or_else(|| "—".to_owned(), |l| fixed(l, 1))
            )?;
        }
        writeln!(out, "</table>")?;
        if let (Some(by_level), Some(se)) = (&m.prob_graduate_where, &m.mcse.prob_graduate_where) {
            writeln!(out, "<h3>By biomarker level</h3>")?;
            writeln!(
                out,
                "<p class=\"note\"><code>ARM/HER2=pos</code>: the arm graduates in some \
                 signature whose every stratum is HER2-positive.</p>"
            )?;
            writeln!(out, "<table id=\"graduation-by-level\">")?;
            writeln!(
                out,
                "<tr><th>arm / level</th><th class=\"n\">P(graduates)</th></tr>"
            )?;
            for (key, p) in by_level {
                writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td class=\"n\">{}</td></tr>",
                    escape(key),
                    with_se(*p, se.get(key).copied().unwrap_or(f64::NAN))
                )?;
            }
            writeln!(out, "</table>")?;
        }
    }
    if let Some(by_stratum) = &m.allocation_by_stratum {
        writeln!(out, "<h3>Participants and allocation by stratum</h3>")?;
        writeln!(out, "<table id=\"strata\">")?;
        write!(
            out,
            "<tr><th>stratum</th><th class=\"n\">share of participants</th>\
             <th class=\"n\">participants</th>"
        )?;
        for id in ids {
            write!(out, "<th class=\"n\">{}</th>", escape(id))?;
        }
        writeln!(out, "</tr>")?;
        for stratum in &precision.strata {
            let Some(s) = by_stratum.get(&stratum.label) else {
                continue;
            };
            write!(
                out,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
                escape(&stratum.label),
                fixed(s.prevalence, 3),
                fixed(s.participants, 1)
            )?;
            for id in ids {
                let cell = s.share.get(id).map_or_else(
                    || "—".to_owned(),
                    |share| {
                        let n = s.participants_by_arm.get(id).copied().unwrap_or(f64::NAN);
                        format!("{} ({})", fixed(*share, 3), fixed(n, 1))
                    },
                );
                write!(out, "<td class=\"n\">{cell}</td>")?;
            }
            writeln!(out, "</tr>")?;
        }
        writeln!(out, "</table>")?;
        writeln!(
            out,
            "<p class=\"note\">Per arm: the mean share of the stratum's participants it received \
             (and the mean number); — where the arm may not enrol.</p>"
        )?;
    }
    writeln!(out, "</section>")
}

#[cfg(test)]
mod tests {
    use crate::protocol::LoadedProtocol;
    use crate::sim::{render_html, simulate, Selection, SimScenario, SimulationPlan};

    #[test]
    fn a_precision_report_has_a_chart_per_signature_and_per_stratum() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/protocols/precision-ispy2.toml"
        );
        let protocol = match LoadedProtocol::load(std::path::Path::new(path)) {
            Ok(loaded) => loaded.protocol,
            Err(e) => panic!("{e}"),
        };
        let scenario = SimScenario::from_protocol(&protocol, "neratinib-in-her2-pos", &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let plan = SimulationPlan {
            scenario,
            reps: 20,
            seed: 5,
            threads: 1,
            selection: Selection::None,
        };
        let report = simulate(&protocol, "ab12", &plan, &|| {}).unwrap_or_else(|e| panic!("{e}"));
        let page = render_html(&protocol, &report).unwrap_or_else(|e| panic!("{e}"));
        let signatures = protocol
            .precision
            .as_ref()
            .map_or(0, |p| p.signatures.len());
        assert_eq!(page.matches("<figcaption>Signature ").count(), signatures);
        assert_eq!(page.matches("<figcaption>Stratum ").count(), 7);
        for id in [
            "id=\"graduation\"",
            "id=\"graduation-by-level\"",
            "id=\"strata\"",
        ] {
            assert!(page.contains(id), "{id}");
        }
        assert!(page.contains("id=\"truth-by-stratum\""));
        assert!(
            page.contains("differs between strata"),
            "neratinib's truth is per stratum"
        );
        assert!(!page.contains("NaN"));
    }
}
