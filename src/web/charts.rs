//! The SVG charts, drawn with plotters from what the service returns. The unblinded
//! dashboard's, from [`crate::service::TrialResults`]: posterior densities, the per-look comparison
//! probability with the decision thresholds, and the allocation at each randomisation with its
//! bounds and the burn-in. The n-of-1 pages', from a [`PatientReport`] and a [`SeriesSummary`]:
//! a patient's measurements by period, the posterior density of the patient's effect, and the
//! series' forest plot. Rendering only: every number drawn comes from the service (the
//! densities from `stats`).
//!
//! Every chart scales to its container (a `viewBox` and `width="100%"`) and carries
//! `role="img"`, a `<title>` and a `<desc>` saying what it shows. On the dashboard each arm has
//! one colour on every chart, fixed by its position in the protocol ([`arm_colour`]); legends
//! are HTML beside the figure ([`LegendEntry`]), not drawn over the data, and a chart with
//! nothing to show is a sentence ([`Chart::empty`]), not empty axes.

mod dashboard;

pub use dashboard::{allocation, arm_colour, comparison, posteriors, Chart, LegendEntry};

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::engine::SeriesSummary;
use crate::service::PatientReport;
use crate::sim::PALETTE;

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn svg_sized(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn,
) -> String {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        let outcome = root
            .fill(&WHITE)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present());
        if let Err(error) = outcome {
            tracing::warn!(%error, "a chart could not be drawn");
        }
    }
    // Scale to the container: the viewBox keeps the proportions.
    text.replacen(
        &format!("<svg width=\"{}\" height=\"{}\" ", size.0, size.1),
        "<svg width=\"100%\" preserveAspectRatio=\"xMidYMid meet\" ",
        1,
    )
}

/// What the n-of-1 analysis leaves out (run-in, washout): a light grey fill…
const EXCLUDED: RGBColor = RGBColor(226, 226, 226);
/// …and a dark grey ink for measurements taken then (4.6:1 on white).
const EXCLUDED_INK: RGBColor = RGBColor(110, 110, 110);
/// The band of differences smaller than the MCID.
const MCID_BAND: RGBColor = RGBColor(255, 228, 160);
/// The n-of-1 charts: wider, with the legend beside the plot so that it hides no data.
const WIDE: (u32, u32) = (820, 340);
/// Width kept right of the plot for the legend.
const LEGEND_WIDTH: u32 = 200;

/// A legend entry's mark.
enum Key {
    /// A filled box.
    Fill(RGBAColor),
    /// A filled dot.
    Dot(RGBColor),
    /// A hollow dot.
    Ring(RGBColor),
    /// A line.
    Line(RGBColor, u32),
    /// A dashed line.
    Dashed(RGBColor),
    /// A dot on a line.
    DotLine(RGBColor),
    /// A filled diamond on a line.
    Diamond(RGBColor),
}

/// Draws a legend in the column right of the plot (left edge at `x` pixels).
fn side_legend(root: &DrawingArea<SVGBackend<'_>, Shift>, x: i32, keys: &[(Key, String)]) -> Drawn {
    let label =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 48;
    for (key, text) in keys {
        let (mid, end) = (x + 8, x + 16);
        match key {
            Key::Fill(c) => root.draw(&Rectangle::new([(x, y - 6), (end, y + 6)], c.filled()))?,
            Key::Dot(c) => root.draw(&Circle::new((mid, y), 4, c.filled()))?,
            Key::Ring(c) => root.draw(&Circle::new((mid, y), 4, c.stroke_width(2)))?,
            Key::Line(c, width) => root.draw(&PathElement::new(
                vec![(x, y), (end, y)],
                c.stroke_width(*width),
            ))?,
            Key::Dashed(c) => root.draw(&DashedPathElement::new(
                vec![(x, y), (end, y)],
                4,
                3,
                c.stroke_width(1),
            ))?,
            Key::DotLine(c) => {
                root.draw(&PathElement::new(vec![(x, y), (end, y)], c.stroke_width(2)))?;
                root.draw(&Circle::new((mid, y), 4, c.filled()))?;
            }
            Key::Diamond(c) => {
                root.draw(&PathElement::new(
                    vec![(x - 2, y), (end + 2, y)],
                    c.stroke_width(3),
                ))?;
                root.draw(&Polygon::new(
                    vec![(mid, y - 6), (mid + 6, y), (mid, y + 6), (mid - 6, y)],
                    c.filled(),
                ))?;
            }
        }
        root.draw(&Text::new(text.as_str(), (x + 24, y), label.clone()))?;
        y += 22;
    }
    Ok(())
}

/// The x pixel where the side legend starts.
fn legend_x(size: (u32, u32)) -> i32 {
    i32::try_from(size.0.saturating_sub(LEGEND_WIDTH)).unwrap_or(0) + 8
}

/// Gives a chart its text alternative: `role="img"`, a `<title>` (the label) and a `<desc>`
/// (the label, and where the values are written out).
fn labelled(svg: String, label: &str) -> String {
    accessible(
        svg,
        label,
        &format!("{label}. The values drawn are written out in the tables on this page."),
    )
}

/// Escapes text for an SVG attribute or element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Adds `role="img"`, a `<title>` and a `<desc>` (named by `aria-labelledby` and
/// `aria-describedby`, with ids unique to the chart's text) to a drawn SVG.
fn accessible(svg: String, title: &str, desc: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (title, desc, svg.len()).hash(&mut hasher);
    let id = format!("chart-{:016x}", hasher.finish());
    let Some(open_end) = svg
        .find("<svg ")
        .and_then(|at| svg[at..].find('>').map(|e| at + e))
    else {
        return svg;
    };
    let (open, rest) = svg.split_at(open_end);
    format!(
        "{open} role=\"img\" aria-labelledby=\"{id}-title\" aria-describedby=\"{id}-desc\"><title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>{}",
        escape(title),
        escape(desc),
        &rest[1..]
    )
}

/// The contrast the n-of-1 effect measures: the second treatment minus the first.
pub fn contrast(treatments: &[String]) -> String {
    match treatments {
        [first, second, ..] => format!("{second} − {first}"),
        _ => "effect".to_owned(),
    }
}

/// A patient's measurements against study day: each period shaded in its treatment's colour
/// (left white while not yet assigned), run-in and washout in grey, measurements coloured by
/// treatment, and those the analysis leaves out drawn as hollow grey circles; today is a dashed
/// line. `bounds` are the outcome's admissible minimum and maximum, when the protocol has them.
pub fn nof1_measurements(report: &PatientReport, bounds: (Option<f64>, Option<f64>)) -> String {
    let treatment_colour = |treatment: Option<&str>| {
        treatment
            .and_then(|t| report.treatments.iter().position(|x| x == t))
            .map(colour)
    };
    let last_day = report
        .periods
        .iter()
        .map(|p| p.days[1])
        .chain(report.measurements.iter().map(|m| m.day))
        .max()
        .unwrap_or(1);
    let (x0, x1) = (0.5, f64::from(last_day) + 0.5);
    let values = report.measurements.iter().map(|m| m.value);
    let lo = bounds
        .0
        .into_iter()
        .chain(values.clone())
        .fold(f64::INFINITY, f64::min);
    let hi = bounds
        .1
        .into_iter()
        .chain(values)
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = match (lo.is_finite(), hi.is_finite()) {
        (true, true) if hi - lo > 1e-9 => (lo, hi),
        (true, true) => (lo - 1.0, hi + 1.0),
        (true, false) => (lo, lo + 1.0),
        (false, true) => (hi - 1.0, hi),
        (false, false) => (0.0, 1.0),
    };
    let pad = (hi - lo) * 0.04;
    let (y0, y1) = (lo - pad, hi + pad);
    let mut excluded: Vec<[u32; 2]> = report.run_in.into_iter().collect();
    excluded.extend(report.periods.iter().filter_map(|p| p.washout));
    let today = (1..=i64::from(last_day))
        .contains(&report.today_day)
        .then_some(report.today_day as f64);
    // Blinded: one neutral colour, periods named by their kits, no treatment in the legend.
    let mut keys: Vec<(Key, String)> = if report.blinded {
        vec![(Key::Dot(BLACK), "measurement (blinded)".to_owned())]
    } else {
        report
            .treatments
            .iter()
            .enumerate()
            .map(|(i, t)| (Key::Dot(colour(i)), format!("{t} (period shaded)")))
            .collect()
    };
    if !excluded.is_empty() {
        keys.push((Key::Fill(EXCLUDED.to_rgba()), "run-in, washout".to_owned()));
    }
    if report.measurements.iter().any(|m| !m.analysed) {
        keys.push((Key::Ring(EXCLUDED_INK), "not analysed".to_owned()));
    }
    if today.is_some() {
        keys.push((Key::Dashed(BLACK), format!("today ({})", report.today)));
    }
    let day = |d: u32| f64::from(d);
    let caption = format!("{}: measurements by study day", report.outcome_name);
    let drawn = svg_sized(WIDE, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(LEGEND_WIDTH)
            .caption(&caption, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc("study day")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(report.outcome_name.as_str())
            .draw()?;
        chart.draw_series(excluded.iter().map(|&[a, b]| {
            Rectangle::new([(day(a) - 0.5, y0), (day(b) + 0.5, y1)], EXCLUDED.filled())
        }))?;
        chart.draw_series(report.periods.iter().filter_map(|p| {
            let fill = treatment_colour(p.treatment.as_deref())?.mix(0.14);
            Some(Rectangle::new(
                [(day(p.days[0]) - 0.5, y0), (day(p.days[1]) + 0.5, y1)],
                fill.filled(),
            ))
        }))?;
        // Period boundaries and, when they fit, their names.
        chart.draw_series(report.periods.iter().map(|p| {
            let x = day(p.days[0]) - 0.5;
            PathElement::new(vec![(x, y0), (x, y1)], RGBColor(170, 170, 170))
        }))?;
        if report.periods.len() <= 12 {
            chart.draw_series(report.periods.iter().map(|p| {
                let name = match (&p.treatment, &p.kit) {
                    (Some(treatment), _) => treatment.as_str(),
                    (None, Some(_)) => "blinded",
                    (None, None) => "?",
                };
                Text::new(
                    format!("P{} {name}", p.period),
                    (day(p.days[0]) - 0.3, y0 + (y1 - y0) * 0.07),
                    ("sans-serif", 13),
                )
            }))?;
        }
        if let Some(x) = today {
            chart.draw_series(std::iter::once(DashedPathElement::new(
                vec![(x, y0), (x, y1)],
                5,
                4,
                BLACK.stroke_width(1),
            )))?;
        }
        for (i, treatment) in report.treatments.iter().enumerate() {
            let ink = colour(i);
            chart.draw_series(
                report
                    .measurements
                    .iter()
                    .filter(|m| m.analysed && m.treatment.as_deref() == Some(treatment))
                    .map(|m| Circle::new((day(m.day), m.value), 4, ink.filled())),
            )?;
        }
        chart.draw_series(
            report
                .measurements
                .iter()
                .filter(|m| m.analysed && m.treatment.is_none())
                .map(|m| Circle::new((day(m.day), m.value), 4, BLACK.filled())),
        )?;
        chart.draw_series(
            report
                .measurements
                .iter()
                .filter(|m| !m.analysed)
                .map(|m| Circle::new((day(m.day), m.value), 4, EXCLUDED_INK.stroke_width(2))),
        )?;
        side_legend(root, legend_x(WIDE), &keys)
    });
    labelled(
        drawn,
        &format!(
            "{}'s measurements of {} by study day{}",
            report.subject_id,
            report.outcome_name,
            if report.blinded {
                " (blinded: treatments not shown)"
            } else {
                ", coloured by treatment"
            }
        ),
    )
}

/// The posterior density of a patient's effect (the second treatment minus the first), with
/// the band of differences smaller than the MCID shaded and no difference (0) marked. Empty
/// (an empty string) before the patient's first look.
pub fn nof1_effect(report: &PatientReport) -> String {
    if report.curve.is_empty() {
        return String::new();
    }
    let mcid = report.mcid.abs();
    let points: Vec<(f64, f64)> = report.curve.iter().map(|&[x, y]| (x, y)).collect();
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(x, _)| {
            (a.min(x), b.max(x))
        });
    let (lo, hi) = (lo.min(-mcid).min(0.0), hi.max(mcid).max(0.0));
    let pad = ((hi - lo) * 0.04).max(1e-6);
    let (x0, x1) = (lo - pad, hi + pad);
    let top = points.iter().fold(0.0_f64, |a, &(_, y)| a.max(y));
    let y1 = if top > 0.0 { top * 1.08 } else { 1.0 };
    let contrast = contrast(&report.treatments);
    let caption = format!("Effect of {contrast} on {}", report.outcome_name);
    let x_desc = format!("{contrast} ({} is better)", report.better);
    let mut keys = vec![(Key::Line(colour(0), 2), "posterior density".to_owned())];
    if mcid > 0.0 {
        keys.push((
            Key::Fill(MCID_BAND.to_rgba()),
            format!("within the MCID (±{mcid})"),
        ));
    }
    keys.push((Key::Line(BLACK, 2), "no difference (0)".to_owned()));
    let drawn = svg_sized(WIDE, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(LEGEND_WIDTH)
            .caption(&caption, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, 0.0..y1)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc(x_desc.as_str())
            .y_desc("posterior density")
            .draw()?;
        if mcid > 0.0 {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(-mcid, 0.0), (mcid, y1)],
                MCID_BAND.filled(),
            )))?;
        }
        let mut area = points.clone();
        if let (Some(&(first, _)), Some(&(last, _))) = (points.first(), points.last()) {
            area.push((last, 0.0));
            area.push((first, 0.0));
        }
        chart.draw_series(std::iter::once(Polygon::new(area, colour(0).mix(0.2))))?;
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            colour(0).stroke_width(2),
        ))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (0.0, y1)],
            BLACK.stroke_width(2),
        )))?;
        side_legend(root, legend_x(WIDE), &keys)
    });
    labelled(
        drawn,
        &format!(
            "Posterior density of the effect {contrast} on {} for {}, with the MCID band",
            report.outcome_name, report.subject_id
        ),
    )
}

/// The series' forest plot: one row per pooled patient (labelled by `labels`, in the order of
/// `summary.shrunken`) with the patient's own posterior mean and the shrunken estimate under
/// the hierarchical model with its 95% interval; below them the population mean with its 95%
/// interval; no difference (0) marked. `contrast` names the effect.
pub fn nof1_forest(summary: &SeriesSummary, labels: &[String], contrast: &str) -> String {
    let rows = summary.shrunken.len().min(500);
    let top = i32::try_from(rows).unwrap_or(500);
    let (lo, hi) = summary
        .shrunken
        .iter()
        .flat_map(|p| [p.own_mean, p.mean, p.ci95[0], p.ci95[1]])
        .chain([0.0, summary.ci95[0], summary.ci95[1]])
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    let pad = ((hi - lo) * 0.05).max(1e-6);
    let (x0, x1) = (lo - pad, hi + pad);
    let row_of = |k: usize| top - i32::try_from(k).unwrap_or(top);
    let name = |y: &i32| -> String {
        if *y == 0 {
            return "population".to_owned();
        }
        usize::try_from(top - *y)
            .ok()
            .filter(|_| (1..=top).contains(y))
            .map(|k| {
                labels
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| format!("patient {}", k + 1))
            })
            .unwrap_or_default()
    };
    let size = (
        WIDE.0,
        u32::try_from(110 + 30 * (rows + 2))
            .unwrap_or(2400)
            .clamp(260, 2400),
    );
    let (shrunken, own) = (colour(0), colour(1));
    let keys = [
        (Key::DotLine(shrunken), "shrunken, 95% interval".to_owned()),
        (Key::Ring(own), "patient's own estimate".to_owned()),
        (Key::Diamond(BLACK), "population, 95% interval".to_owned()),
    ];
    let caption = format!("Effect of {contrast}: each patient and the population");
    let drawn = svg_sized(size, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(LEGEND_WIDTH)
            .caption(&caption, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(120)
            .build_cartesian_2d(x0..x1, -1..top + 1)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc(contrast)
            .y_labels(rows + 3)
            .y_label_formatter(&name)
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, -1), (0.0, top + 1)],
            RGBColor(120, 120, 120),
        )))?;
        let patients = || summary.shrunken.iter().take(rows).enumerate();
        chart.draw_series(patients().map(|(k, p)| {
            PathElement::new(
                vec![(p.ci95[0], row_of(k)), (p.ci95[1], row_of(k))],
                shrunken.stroke_width(2),
            )
        }))?;
        chart.draw_series(
            patients().map(|(k, p)| Circle::new((p.mean, row_of(k)), 4, shrunken.filled())),
        )?;
        chart.draw_series(
            patients().map(|(k, p)| Circle::new((p.own_mean, row_of(k)), 5, own.stroke_width(2))),
        )?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(summary.ci95[0], 0), (summary.ci95[1], 0)],
            BLACK.stroke_width(3),
        )))?;
        chart.draw_series(std::iter::once(
            EmptyElement::at((summary.mean, 0))
                + Polygon::new(vec![(0, -7), (7, 0), (0, 7), (-7, 0)], BLACK.filled()),
        ))?;
        side_legend(root, legend_x(size), &keys)
    });
    labelled(
        drawn,
        &format!("Forest plot of the effect {contrast}: each patient's own and shrunken estimates and the population mean"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drawn_chart_scales_and_has_a_title_and_a_description() {
        let drawn = svg_sized((300, 200), |root| {
            root.draw(&Circle::new((10, 10), 4, BLACK.filled()))
        });
        assert!(drawn.starts_with("<svg width=\"100%\""), "{drawn}");
        assert!(drawn.contains("viewBox=\"0 0 300 200\""), "{drawn}");
        let open = &drawn[..drawn.find('>').expect("a tag")];
        assert!(!open.contains("height="), "no fixed height: {open}");
        let shown = labelled(drawn, "A <patient>'s measurements & more");
        let open = &shown[..shown.find('>').expect("a tag")];
        assert!(open.contains("role=\"img\""), "{open}");
        assert!(open.contains("aria-labelledby=\"chart-"), "{open}");
        assert!(open.contains("aria-describedby=\"chart-"), "{open}");
        let title = shown.find("<title id=\"chart-").expect("a title");
        let desc = shown.find("<desc id=\"chart-").expect("a description");
        assert!(title < desc && desc < shown.find("<circle").expect("the drawing"));
        assert!(shown.contains("A &lt;patient&gt;'s measurements &amp; more</title>"));
    }
}
