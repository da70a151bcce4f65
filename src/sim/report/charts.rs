//! The report's inline SVG charts, drawn with plotters.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::super::metrics::SizeHistogram;
use super::super::{Nof1SimulationReport, SimError, SimulationReport};
use crate::protocol::Protocol;

use super::format::*;

/// What a chart-drawing closure returns.
pub(super) type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Draws one chart on a white SVG canvas and returns the `<svg>` element.
pub(super) fn svg(
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

/// The allocation over looks, as a figure's body and caption: a line per arm across the looks
/// when two or more looks set one; the allocation set at the only look that set one as bars
/// (the trials stopped, or enrolment had ended, before another); a sentence when none did.
pub(super) fn allocation_figure(
    ids: &[String],
    by_look: &[BTreeMap<String, f64>],
) -> Result<(String, &'static str), SimError> {
    match by_look {
        [] => Ok((
            "<p class=\"note\" id=\"allocation-none\">No look set an allocation probability in \
             any simulated trial (each stopped at its first look, enrolment had ended before it, \
             or the allocation is fixed), so there is no allocation over looks to draw.</p>\n"
                .to_owned(),
            "Allocation over looks: none to show.",
        )),
        [only] => {
            let labels: Vec<&str> = ids.iter().map(String::as_str).collect();
            let bars: Vec<Bar> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| Bar {
                    value: only.get(id).copied().unwrap_or(0.0),
                    mcse: None,
                    colour: colour(i),
                })
                .collect();
            Ok((
                bar_chart(
                    (
                        "Allocation set at the only look that set it",
                        "arm",
                        "mean allocation probability",
                    ),
                    &labels,
                    &bars,
                )?,
                "Only one look set an allocation probability (the trials stopped, or enrolment \
                 had ended, before another did): the mean allocation probability it set, per arm.",
            ))
        }
        _ => Ok((
            allocation_chart(ids, by_look)?,
            "Mean allocation probability set at each look, over the trials that reached it.",
        )),
    }
}

/// Lines of the mean allocation per arm over two or more looks, on an integer look axis.
fn allocation_chart(ids: &[String], by_look: &[BTreeMap<String, f64>]) -> Result<String, SimError> {
    let looks = u32::try_from(by_look.len()).unwrap_or(u32::MAX).max(2);
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .caption("Allocation over looks", ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(1u32..looks, 0f64..1f64)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc("look")
            .y_desc("mean allocation probability")
            .x_labels(usize::try_from(looks.min(20)).unwrap_or(20))
            .x_label_formatter(&|k| k.to_string())
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()?;
        for (i, id) in ids.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            let points: Vec<(u32, f64)> = (1u32..)
                .zip(by_look)
                .filter_map(|(k, row)| row.get(id).map(|&p| (k, p)))
                .collect();
            if points.is_empty() {
                // An arm no look allocated (one that may not enrol the stratum) has no line.
                continue;
            }
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

/// An integer tick's label, or nothing for a tick between two integers (so that no two ticks
/// of a count axis read alike).
fn integer_label(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}")
    } else {
        String::new()
    }
}

/// How many ticks an integer axis from `left` to `right` gets: at most 11, and never more than
/// one per unit and one for each end, so the ticks fall on whole numbers.
fn integer_ticks(left: f64, right: f64) -> usize {
    let span = (right - left).clamp(1.0, 10.0);
    // A whole number from 1 to 10 (the cast cannot truncate), and one tick more for the ends.
    span.floor() as usize + 1
}

/// The histogram of the number of participants enrolled, with its mean, on a whole-number
/// axis (no two ticks read alike, also when every trial has the same size). A bin of the
/// whole numbers `edge` to `edge + width - 1` is drawn from `edge - ½` to `edge + width - ½`,
/// so a bin of width 1 stands centred on its number.
pub(super) fn sample_size_chart(histogram: &SizeHistogram, mean: f64) -> Result<String, SimError> {
    let width = f64::from(histogram.bin_width.max(1));
    let (left, right) = match (histogram.bins.first(), histogram.bins.last()) {
        // Half a bin's width or more of room on either side of the bars.
        (Some(first), Some(last)) => (
            (f64::from(first.0) - width).max(0.0),
            f64::from(last.0) + 2.0 * width - 1.0,
        ),
        _ => (0.0, 1.0),
    };
    let bar = |edge: u32, share: f64| {
        let lo = f64::from(edge) - 0.5;
        [(lo, 0.0), (lo + width, share)]
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
            .x_labels(integer_ticks(left, right))
            .x_label_formatter(&|x| integer_label(*x))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .draw()?;
        chart.draw_series(histogram.bins.iter().map(|&(edge, share)| {
            Rectangle::new(bar(edge, share), colour(0).mix(0.75).filled())
        }))?;
        chart.draw_series(
            histogram
                .bins
                .iter()
                .map(|&(edge, share)| Rectangle::new(bar(edge, share), WHITE.stroke_width(1))),
        )?;
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

pub(super) fn selection_chart(
    ids: &[String],
    report: &SimulationReport,
) -> Result<String, SimError> {
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
pub(super) struct Bar {
    value: f64,
    mcse: Option<f64>,
    colour: RGBColor,
}

impl Bar {
    /// A bar of height `value`, with a whisker when `mcse` is given.
    pub(super) fn new(value: f64, mcse: Option<f64>, colour: RGBColor) -> Self {
        Self {
            value,
            mcse,
            colour,
        }
    }
}

/// A bar chart of shares (0 to 1) with optional whiskers; `text` is (caption, x, y label).
pub(super) fn bar_chart(
    text: (&str, &str, &str),
    labels: &[&str],
    bars: &[Bar],
) -> Result<String, SimError> {
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
pub(super) fn conclusion_chart(
    ids: &[String],
    report: &Nof1SimulationReport,
) -> Result<String, SimError> {
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
pub(super) fn cycles_chart(
    protocol: &Protocol,
    report: &Nof1SimulationReport,
) -> Result<String, SimError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts of the `<text>` elements of an SVG.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|part| {
                let start = part.find('>')? + 1;
                let end = part.find("</text>")?;
                part.get(start..end).map(|t| t.trim().to_owned())
            })
            .collect()
    }

    fn ids() -> Vec<String> {
        ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect()
    }

    fn look(values: [f64; 3]) -> BTreeMap<String, f64> {
        ids().into_iter().zip(values).collect()
    }

    #[test]
    fn no_look_is_a_sentence_not_empty_axes() {
        let (body, caption) = allocation_figure(&ids(), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!body.contains("<svg"), "{body}");
        assert!(
            body.contains("No look set an allocation probability"),
            "{body}"
        );
        assert!(caption.contains("none"));
    }

    #[test]
    fn a_single_look_is_drawn_as_bars_per_arm() {
        let (body, caption) =
            allocation_figure(&ids(), &[look([0.2, 0.3, 0.5])]).unwrap_or_else(|e| panic!("{e}"));
        assert!(body.contains("<svg"));
        let labels = texts(&body);
        assert!(
            labels
                .iter()
                .any(|t| t.starts_with("Allocation set at the only look")),
            "{labels:?}"
        );
        for id in ids() {
            assert!(labels.contains(&id), "arm {id} labelled: {labels:?}");
        }
        assert!(
            !labels.iter().any(|t| t == "2"),
            "no look 2 on the axis: {labels:?}"
        );
        assert!(caption.contains("Only one look"));
    }

    #[test]
    fn looks_are_whole_numbers() {
        let by_look = vec![look([0.3, 0.3, 0.4]); 4];
        let (body, _) = allocation_figure(&ids(), &by_look).unwrap_or_else(|e| panic!("{e}"));
        let ticks: Vec<String> = texts(&body)
            .into_iter()
            .filter(|t| t.parse::<f64>().is_ok() && !t.contains('.'))
            .collect();
        for k in 1..=4 {
            assert!(
                ticks.contains(&k.to_string()),
                "look {k} on the axis: {ticks:?}"
            );
        }
        assert!(
            !texts(&body).iter().any(|t| t == "1.5"),
            "no fractional look"
        );
    }

    #[test]
    fn one_sample_size_gives_distinct_whole_number_ticks() {
        for values in [
            vec![150u32; 40],
            vec![150, 150, 151],
            vec![40, 75, 120, 150],
        ] {
            let histogram = SizeHistogram::of(&values);
            let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
            let svg = sample_size_chart(&histogram, mean).unwrap_or_else(|e| panic!("{e}"));
            let ticks: Vec<String> = texts(&svg)
                .into_iter()
                .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()))
                .collect();
            assert!(ticks.len() >= 2, "{values:?}: ticks {ticks:?}");
            let mut distinct = ticks.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(
                distinct.len(),
                ticks.len(),
                "{values:?}: repeated ticks {ticks:?}"
            );
        }
    }
}
