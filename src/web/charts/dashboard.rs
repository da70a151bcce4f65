//! The unblinded dashboard's charts, from [`TrialResults`]: each arm's posterior density, the
//! looks' comparison probability against the decision thresholds, and the allocation at each
//! randomisation with its bounds and the burn-in.
//!
//! Each arm keeps one colour on every chart: its position in the results (the protocol's order,
//! then arms added by amendment). The legends are HTML beside the figure ([`Chart::legend`]);
//! a chart with nothing to show is a sentence ([`Chart::empty`]). Axes that count looks or
//! participants are integers.

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::{accessible, svg_sized, Drawn};
use crate::service::TrialResults;

/// The dashboard's drawing size (scaled to the page by its `viewBox`), with large type so that
/// it stays legible when the page is 390 px wide.
const SIZE: (u32, u32) = (520, 360);
/// Tick labels.
const TICKS: u32 = 16;
/// Axis titles.
const AXIS: u32 = 18;

/// One colour per arm, by position: the Okabe–Ito hues, darkened where needed so that every line
/// has a contrast of at least 3:1 on white.
const ARM_COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 128, 94),
    RGBColor(180, 82, 140),
    RGBColor(160, 110, 0),
    RGBColor(120, 94, 40),
    RGBColor(90, 90, 160),
];
/// The superiority threshold's line.
const UPPER: RGBColor = RGBColor(30, 30, 30);
/// The inferiority threshold's line and the allocation bounds.
const LOWER: RGBColor = RGBColor(100, 100, 100);
/// The burn-in band.
const BAND: RGBColor = RGBColor(228, 228, 228);

/// The colour of the arm at position `index` of the results.
pub fn arm_colour(index: usize) -> RGBColor {
    ARM_COLOURS[index % ARM_COLOURS.len()]
}

fn hex(colour: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", colour.0, colour.1, colour.2)
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A solid line (an arm).
    Line,
    /// A dashed line (a threshold, a bound).
    Dashed,
    /// A shaded box (the burn-in).
    Band,
    /// Nothing drawn (an arm without data).
    Absent,
}

/// One entry of a chart's legend, shown in HTML beside the figure.
#[derive(Debug, Clone)]
pub struct LegendEntry {
    /// The swatch: a small SVG (hidden from assistive technology: the label says it all).
    pub swatch: String,
    /// What it stands for.
    pub label: String,
}

impl LegendEntry {
    fn new(mark: Mark, colour: RGBColor, label: String) -> Self {
        let c = hex(colour);
        let body = match mark {
            Mark::Line => format!("<line x1=\"1\" y1=\"7\" x2=\"27\" y2=\"7\" stroke=\"{c}\" stroke-width=\"3\"/>"),
            Mark::Dashed => format!("<line x1=\"1\" y1=\"7\" x2=\"27\" y2=\"7\" stroke=\"{c}\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/>"),
            Mark::Band => format!("<rect x=\"1\" y=\"1\" width=\"26\" height=\"12\" fill=\"{c}\" stroke=\"#888888\"/>"),
            Mark::Absent => format!("<line x1=\"1\" y1=\"7\" x2=\"27\" y2=\"7\" stroke=\"{c}\" stroke-width=\"1\" stroke-dasharray=\"1 3\"/>"),
        };
        Self {
            swatch: format!(
                "<svg class=\"swatch\" width=\"28\" height=\"14\" viewBox=\"0 0 28 14\" aria-hidden=\"true\" focusable=\"false\">{body}</svg>"
            ),
            label,
        }
    }
}

/// A chart for the page: the SVG with its title and description and the legend, or the
/// sentence that says why there is nothing to draw yet.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// The SVG (empty when [`Chart::empty`] is set).
    pub svg: String,
    /// The legend, outside the plot.
    pub legend: Vec<LegendEntry>,
    /// Why nothing is drawn, as a sentence.
    pub empty: Option<String>,
}

impl Chart {
    fn nothing(sentence: String) -> Self {
        Self {
            empty: Some(sentence),
            ..Self::default()
        }
    }
}

/// An arm's line: runs of points at consecutive x (a gap where the arm has no value), with the
/// arm's position.
type Series = Vec<(usize, Vec<Vec<(i32, f64)>>)>;

/// Adds the point `(x, p)` to the line of the arm at `index`: a new run after a gap, and with
/// `step`, a vertical step at `x` when the value changed.
fn push_point(series: &mut Series, index: usize, x: i32, p: f64, step: bool) {
    match series.iter_mut().find(|(i, _)| *i == index) {
        Some((_, runs)) => match runs.last_mut() {
            Some(run) if run.last().is_some_and(|&(lx, _)| lx + 1 == x) => {
                if let Some(&(_, before)) = run.last() {
                    if step && (before - p).abs() > 1e-12 {
                        run.push((x, before));
                    }
                }
                run.push((x, p));
            }
            _ => runs.push(vec![(x, p)]),
        },
        None => series.push((index, vec![vec![(x, p)]])),
    }
}

/// The line width of the arm at position `index` of `arms`: earlier arms are drawn wider, so
/// that arms with equal values (the same share of a block) show as nested lines, not one.
fn width(index: usize, arms: usize) -> u32 {
    3 + 2 * u32::try_from(arms.saturating_sub(index + 1))
        .unwrap_or(0)
        .min(4)
}

/// The position of `arm` in the results (its colour).
fn position(results: &TrialResults, arm: &str) -> usize {
    results
        .posteriors
        .iter()
        .position(|p| p.arm == arm)
        .unwrap_or(results.posteriors.len())
}

fn probability(p: f64) -> String {
    format!("{p:.3}")
}

/// Each arm's current posterior density; arms without an outcome are not drawn (their
/// posterior is still the prior) and the legend says so. `parameter` names the x axis.
pub fn posteriors(results: &TrialResults, parameter: &str) -> Chart {
    let drawn: Vec<(usize, &crate::service::ArmPosterior)> = results
        .posteriors
        .iter()
        .enumerate()
        .filter(|(_, p)| p.n > 0 && !p.curve.is_empty())
        .collect();
    if drawn.is_empty() {
        return Chart::nothing(
            "No outcome has been recorded yet: every arm's posterior is still its prior, so there is nothing to draw."
                .to_owned(),
        );
    }
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0_f64);
    for (_, p) in &drawn {
        for &[x, y] in &p.curve {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let y1 = if y1 > 0.0 { y1 * 1.05 } else { 1.0 };
    let svg = svg_sized(SIZE, |root| -> Drawn {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(56)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, 0.0..y1)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", TICKS))
            .axis_desc_style(("sans-serif", AXIS))
            .x_labels(6)
            .y_labels(5)
            .x_desc(parameter)
            .y_desc("density")
            .draw()?;
        for (i, p) in &drawn {
            chart.draw_series(LineSeries::new(
                p.curve.iter().map(|&[x, y]| (x, y)),
                arm_colour(*i).stroke_width(3),
            ))?;
        }
        Ok(())
    });
    let mut legend = Vec::new();
    let mut latest = Vec::new();
    for (i, p) in results.posteriors.iter().enumerate() {
        if p.n > 0 {
            legend.push(LegendEntry::new(
                Mark::Line,
                arm_colour(i),
                format!("{} ({})", p.arm, p.name),
            ));
            latest.push(format!(
                "{}: mean {}, 95% interval {:.3} to {:.3}, {} outcomes",
                p.arm,
                p.mean
                    .map_or_else(|| "undefined".to_owned(), |m| format!("{m:.3}")),
                p.ci95[0],
                p.ci95[1],
                p.n
            ));
        } else {
            legend.push(LegendEntry::new(
                Mark::Absent,
                arm_colour(i),
                format!("{} ({}): no outcomes yet, not drawn", p.arm, p.name),
            ));
            latest.push(format!("{}: no outcomes yet", p.arm));
        }
    }
    Chart {
        svg: accessible(
            svg,
            &format!("Posterior density of each arm's {parameter}"),
            &format!(
                "The current posterior density of each arm with outcomes. {}.",
                latest.join("; ")
            ),
        ),
        legend,
        empty: None,
    }
}

/// P(best) or P(better than the control in force) of every arm at each look, with the
/// superiority and inferiority thresholds drawn as dashed lines (one value per look).
pub fn comparison(results: &TrialResults) -> Chart {
    let by_control = results.comparison == "p_better_than_control";
    let label = if by_control {
        "P(better than control)"
    } else {
        "P(best)"
    };
    let Some(last) = results.looks.last() else {
        return Chart::nothing(format!(
            "No look has happened yet, so there is no {label} to draw."
        ));
    };
    let n = i32::try_from(last.look).unwrap_or(i32::MAX - 1);
    // One series per arm, split where the arm has no value (not analysed, or the control).
    let mut series = Series::new();
    for look in &results.looks {
        let x = i32::try_from(look.look).unwrap_or(n);
        for arm in &look.arms {
            let value = if by_control {
                arm.p_better_than_control
            } else {
                arm.p_best
            };
            let Some(p) = value else { continue };
            push_point(
                &mut series,
                position(results, arm.arm.as_str()),
                x,
                p,
                false,
            );
        }
    }
    series.sort_by_key(|(i, _)| *i);
    let svg = svg_sized(SIZE, |root| -> Drawn {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(56)
            .y_label_area_size(70)
            .build_cartesian_2d(0..n + 1, 0.0..1.0)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", TICKS))
            .axis_desc_style(("sans-serif", AXIS))
            .x_labels(usize::try_from(n).unwrap_or(10).clamp(1, 10) + 2)
            .x_label_formatter(&|x| {
                if (1..=n).contains(x) {
                    x.to_string()
                } else {
                    String::new()
                }
            })
            .y_labels(6)
            .x_desc("look")
            .y_desc(label)
            .draw()?;
        for threshold in &results.thresholds {
            let colour = if threshold.rule == "superiority" {
                UPPER
            } else {
                LOWER
            };
            let mut points: Vec<(i32, f64)> = Vec::new();
            for (k, &t) in threshold.values.iter().enumerate() {
                let x = i32::try_from(k).unwrap_or(n) + 1;
                if k == 0 {
                    points.push((0, t));
                }
                points.push((x, t));
            }
            if let Some(&(_, t)) = points.last() {
                points.push((n + 1, t));
            }
            chart.draw_series(std::iter::once(DashedPathElement::new(
                points,
                7,
                5,
                colour.stroke_width(2),
            )))?;
        }
        for (i, runs) in &series {
            let ink = arm_colour(*i);
            for run in runs {
                chart.draw_series(LineSeries::new(run.iter().copied(), ink.stroke_width(3)))?;
                chart.draw_series(run.iter().map(|&p| Circle::new(p, 5, ink.filled())))?;
            }
        }
        Ok(())
    });
    let mut legend: Vec<LegendEntry> = results
        .posteriors
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if series.iter().any(|(s, _)| *s == i) {
                LegendEntry::new(Mark::Line, arm_colour(i), format!("{} ({})", p.arm, p.name))
            } else {
                let why = if by_control {
                    "no value at any look (the control, or not yet analysed)"
                } else {
                    "not analysed at any look yet"
                };
                LegendEntry::new(
                    Mark::Absent,
                    arm_colour(i),
                    format!("{} ({}): {why}", p.arm, p.name),
                )
            }
        })
        .collect();
    let mut rules = Vec::new();
    for threshold in &results.thresholds {
        let colour = if threshold.rule == "superiority" {
            UPPER
        } else {
            LOWER
        };
        let value = match threshold.values.as_slice() {
            [first, rest @ ..] if rest.iter().all(|v| v == first) => first.to_string(),
            [] => "none".to_owned(),
            values => format!(
                "{} at the latest look (it changes by look)",
                values.last().map_or_else(String::new, f64::to_string)
            ),
        };
        legend.push(LegendEntry::new(
            Mark::Dashed,
            colour,
            format!("{} threshold {value}: {}", threshold.rule, threshold.words),
        ));
        rules.push(format!("{} threshold {value}", threshold.rule));
    }
    let latest: Vec<String> = last
        .arms
        .iter()
        .filter_map(|a| {
            let value = if by_control {
                a.p_better_than_control
            } else {
                a.p_best
            };
            value.map(|p| format!("{} {}", a.arm, probability(p)))
        })
        .collect();
    let against = match (&last.control, by_control) {
        (Some(control), true) => format!(" (against the control {control})"),
        _ => String::new(),
    };
    Chart {
        svg: accessible(
            svg,
            &format!("{label} of each arm at looks 1 to {}", last.look),
            &format!(
                "{label} of each arm at each look{}. At look {}{against}: {}.",
                if rules.is_empty() {
                    String::new()
                } else {
                    format!(", with the {}", rules.join(" and the "))
                },
                last.look,
                if latest.is_empty() {
                    "no arm has a value".to_owned()
                } else {
                    latest.join(", ")
                }
            ),
        ),
        legend,
        empty: None,
    }
}

/// The allocation the design applied at each randomisation: during a burn-in (a shaded band)
/// the fixed ratios of the permuted blocks, then the adaptive probabilities, with the adaptive
/// bounds as dashed lines. Arms that were never open are not drawn (the legend says so).
pub fn allocation(results: &TrialResults) -> Chart {
    let Some(last) = results.allocation.last() else {
        return Chart::nothing(
            "No participant has been randomised yet, so there is no allocation to draw.".to_owned(),
        );
    };
    let n = i32::try_from(last.participant).unwrap_or(i32::MAX - 2) + 1;
    let x_of = |participant: u32| i32::try_from(participant).unwrap_or(n - 1) + 1;
    // Step lines per arm, split where the arm was not open.
    let mut series = Series::new();
    for point in &results.allocation {
        let x = x_of(point.participant);
        for share in &point.design {
            let index = position(results, share.arm.as_str());
            push_point(&mut series, index, x, share.probability, true);
        }
    }
    series.sort_by_key(|(i, _)| *i);
    let block: Vec<i32> = results
        .allocation
        .iter()
        .filter(|p| p.phase == "block")
        .map(|p| x_of(p.participant))
        .collect();
    let burn_in = (results.burn_in > 0)
        .then(|| Some((*block.first()?, *block.last()?)))
        .flatten();
    // The bounds worth drawing (a bound of 0 or 1 is the axis itself).
    let bounds: Vec<f64> = results
        .allocation_bounds
        .into_iter()
        .flatten()
        .filter(|b| *b > 0.0 && *b < 1.0)
        .collect();
    let svg = svg_sized(SIZE, |root| -> Drawn {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(56)
            .y_label_area_size(70)
            .build_cartesian_2d(0..n + 1, 0.0..1.0)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", TICKS))
            .axis_desc_style(("sans-serif", AXIS))
            .x_labels(usize::try_from(n).unwrap_or(10).clamp(1, 8) + 2)
            .x_label_formatter(&|x| {
                if (1..=n).contains(x) {
                    x.to_string()
                } else {
                    String::new()
                }
            })
            .y_labels(6)
            .x_desc("participant (order of randomisation)")
            .y_desc("allocation probability")
            .draw()?;
        if let Some((from, to)) = burn_in {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(from, 0.0), (to, 1.0)],
                BAND.filled(),
            )))?;
        }
        let start = burn_in.map_or(0, |(_, to)| to);
        for &bound in &bounds {
            chart.draw_series(std::iter::once(DashedPathElement::new(
                vec![(start, bound), (n + 1, bound)],
                7,
                5,
                LOWER.stroke_width(2),
            )))?;
        }
        let arms = results.posteriors.len();
        for (i, runs) in &series {
            let ink = arm_colour(*i);
            for run in runs {
                chart.draw_series(LineSeries::new(
                    run.iter().copied(),
                    ink.stroke_width(width(*i, arms)),
                ))?;
                if run.len() == 1 {
                    chart.draw_series(run.iter().map(|&p| Circle::new(p, 4, ink.filled())))?;
                }
            }
        }
        Ok(())
    });
    let mut legend: Vec<LegendEntry> = results
        .posteriors
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if series.iter().any(|(s, _)| *s == i) {
                LegendEntry::new(Mark::Line, arm_colour(i), format!("{} ({})", p.arm, p.name))
            } else {
                LegendEntry::new(
                    Mark::Absent,
                    arm_colour(i),
                    format!("{} ({}): not open to randomisation yet", p.arm, p.name),
                )
            }
        })
        .collect();
    let mut notes = Vec::new();
    if let Some((from, to)) = burn_in {
        legend.push(LegendEntry::new(
            Mark::Band,
            BAND,
            format!("burn-in (participants {from} to {to}): fixed ratios in permuted blocks"),
        ));
        notes.push(format!(
            "participants {from} to {to} were randomised in the burn-in by fixed ratios"
        ));
    }
    if let Some([low, high]) = results.allocation_bounds {
        if !bounds.is_empty() {
            legend.push(LegendEntry::new(
                Mark::Dashed,
                LOWER,
                format!("adaptive bounds: at least {low}, at most {high}"),
            ));
        }
        notes.push(format!(
            "adaptive probabilities are kept between {low} and {high}"
        ));
    }
    let latest: Vec<String> = last
        .design
        .iter()
        .map(|s| format!("{} {}", s.arm, probability(s.probability)))
        .collect();
    Chart {
        svg: accessible(
            svg,
            &format!("Allocation probability of each arm for participants 1 to {n}"),
            &format!(
                "The allocation probability of each open arm at each randomisation{}. For participant {n}: {}.",
                if notes.is_empty() {
                    String::new()
                } else {
                    format!("; {}", notes.join("; "))
                },
                latest.join(", ")
            ),
        ),
        legend,
        empty: None,
    }
}
