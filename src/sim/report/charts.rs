//! The report's inline SVG charts, drawn with plotters.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

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

pub(super) fn allocation_chart(
    ids: &[String],
    by_look: &[BTreeMap<String, f64>],
) -> Result<String, SimError> {
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

pub(super) fn sample_size_chart(report: &SimulationReport) -> Result<String, SimError> {
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
