//! The SVG charts, drawn with plotters from what the service returns. The unblinded
//! dashboard's, from [`TrialResults`]: posterior densities, the per-look comparison
//! probability, and the allocation probabilities at each randomisation. The n-of-1 pages' are
//! in [`nof1`]. Rendering only: every number drawn comes from the service (the densities from
//! `stats`).

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::service::TrialResults;
use crate::sim::PALETTE;

mod nof1;
pub use nof1::{contrast, nof1_effect, nof1_forest, nof1_measurements};

const SIZE: (u32, u32) = (720, 340);

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn) -> String {
    svg_sized(SIZE, draw)
}

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

/// Gives a chart its text alternative (the figure's caption and the tables say more).
fn labelled(svg: String, label: &str) -> String {
    let label = label
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    )
}
