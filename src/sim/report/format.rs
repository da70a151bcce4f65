//! Formatting shared by the report's parts: colours, chart size, escaping and fixed-precision
//! numbers.

pub(super) use crate::html::escape;
use plotters::prelude::*;

/// Size of each chart in pixels (the page scales them down on narrow screens).
pub(super) const CHART_SIZE: (u32, u32) = (720, 360);

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
pub(super) const GREY: RGBColor = RGBColor(150, 150, 150);

pub(super) const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;\
max-width:60rem;padding:0 1rem;color:#1a1a1a;line-height:1.4}\
h1{font-size:1.5rem;margin-bottom:.25rem}h2{font-size:1.2rem;margin-top:2rem;\
border-bottom:1px solid #ccc}h3{font-size:1rem;margin-top:1.25rem}\
table{border-collapse:collapse;margin:.5rem 0;display:block;max-width:100%;overflow-x:auto}th,td{padding:.2rem .6rem;\
border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
table.kv th{font-weight:600;color:#444}code{font-size:.9em;word-break:break-all}\
figure{margin:1rem 0}figcaption{font-size:.9rem;color:#444}\
svg{max-width:100%;height:auto}.note{color:#555;font-size:.9rem}";

/// `x` with `digits` decimals, or an em dash when it is not finite.
pub(super) fn fixed(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "—".to_owned()
    }
}

/// A probability and its MCSE, 4 decimals each.
pub(super) fn with_se(p: f64, se: f64) -> String {
    format!("{} ± {}", fixed(p, 4), fixed(se, 4))
}

/// A value from the protocol, as written (shortest round-trip form).
pub(super) fn value(x: f64) -> String {
    format!("{x}")
}

pub(super) fn colour(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// An optional probability and its MCSE, or an em dash with why it is absent.
pub(super) fn optional_with_se(p: Option<f64>, se: Option<f64>, absent: &str) -> (String, String) {
    match p {
        Some(p) => (fixed(p, 4), se.map_or_else(String::new, |se| fixed(se, 4))),
        None => (format!("— ({absent})"), String::new()),
    }
}
