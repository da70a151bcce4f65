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

mod nof1;
pub use nof1::{contrast, nof1_effect, nof1_forest, nof1_measurements};

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::html::escape;
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
        assert!(shown.contains("A &lt;patient&gt;&#39;s measurements &amp; more</title>"));
    }
}
