//! The unblinded dashboard's SVG charts, drawn with plotters from the service's
//! [`TrialResults`]: posterior densities, the per-look comparison probability, and the
//! allocation probabilities at each randomisation. Rendering only: every number drawn comes
//! from the service (the densities from `stats`).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::service::TrialResults;
use crate::sim::PALETTE;

const SIZE: (u32, u32) = (720, 340);

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn) -> String {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        let outcome = root
            .fill(&WHITE)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present());
        if let Err(error) = outcome {
            tracing::warn!(%error, "a dashboard chart could not be drawn");
        }
    }
    text
}

/// One line per named series.
struct Lines<'a> {
    caption: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    series: Vec<(String, Vec<(f64, f64)>)>,
    y_range: Option<(f64, f64)>,
}

fn line_chart(lines: Lines<'_>) -> String {
    let points = lines.series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let (y0, y1) = lines.y_range.unwrap_or((y0.min(0.0), y1 * 1.05 + 1e-12));
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .caption(lines.caption, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc(lines.x_desc)
            .y_desc(lines.y_desc)
            .draw()?;
        for (i, (name, points)) in lines.series.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), style))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            // Few points (looks): mark them, so a series with one point shows too.
            if points.len() <= 40 {
                chart.draw_series(
                    points
                        .iter()
                        .map(|&p| Circle::new(p, 3, colour(i).filled())),
                )?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
    })
}

/// The current posterior density of every arm.
pub fn posteriors(results: &TrialResults) -> String {
    line_chart(Lines {
        caption: "Posterior density per arm",
        x_desc: "parameter",
        y_desc: "density",
        series: results
            .posteriors
            .iter()
            .map(|p| {
                (
                    p.arm.clone(),
                    p.curve.iter().map(|&[x, y]| (x, y)).collect(),
                )
            })
            .collect(),
        y_range: None,
    })
}

/// P(best) or P(better than control) per arm at each look.
pub fn comparison(results: &TrialResults) -> String {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for look in &results.looks {
        for arm in &look.arms {
            let p = if results.comparison == "p_best" {
                arm.p_best
            } else {
                arm.p_better_than_control
            };
            let Some(p) = p else { continue };
            let id = arm.arm.to_string();
            match series.iter_mut().find(|(name, _)| *name == id) {
                Some((_, points)) => points.push((f64::from(look.look), p)),
                None => series.push((id, vec![(f64::from(look.look), p)])),
            }
        }
    }
    let caption = if results.comparison == "p_best" {
        "P(best) at each look"
    } else {
        "P(better than control) at each look"
    };
    line_chart(Lines {
        caption,
        x_desc: "look",
        y_desc: "probability",
        series,
        y_range: Some((0.0, 1.0)),
    })
}

/// The allocation probability of every arm at each randomisation.
pub fn allocation(results: &TrialResults) -> String {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for point in &results.allocation {
        for share in &point.probabilities {
            let id = share.arm.to_string();
            let xy = (f64::from(point.participant) + 1.0, share.probability);
            match series.iter_mut().find(|(name, _)| *name == id) {
                Some((_, points)) => points.push(xy),
                None => series.push((id, vec![xy])),
            }
        }
    }
    line_chart(Lines {
        caption: "Allocation probabilities over enrolment",
        x_desc: "participant",
        y_desc: "allocation probability",
        series,
        y_range: Some((0.0, 1.0)),
    })
}
