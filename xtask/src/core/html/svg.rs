//! What the figures share: plotters draws each figure's frame (caption,
//! axes, ticks, axis titles); the data, legends and colour scales are SVG
//! elements written here, laid over the frame, because plotters cannot give
//! an element a hover text (`<title>`) and its legend sits inside the plot.
//! Text sizes are estimated from the font's average advance, generously, so
//! that what this module places apart stays apart in a browser.

use plotters::style::RGBColor;
use std::fmt::Write;

/// Ten distinguishable colours (Tableau's); an eleventh item reuses the
/// first.
pub(super) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub(super) const IMPROVED: RGBColor = RGBColor(44, 160, 44);
pub(super) const NEUTRAL: RGBColor = RGBColor(150, 150, 150);
pub(super) const REGRESSED: RGBColor = RGBColor(214, 39, 40);

/// Plotters' font sizes (it writes `size / PLOTTERS_EM` px): captions,
/// axis titles, tick labels.
pub(super) const CAPTION_FONT: u32 = 17;
pub(super) const AXIS_TITLE_FONT: u32 = 15;
pub(super) const TICK_FONT: u32 = 13;

/// Plotters' font size over the size in px it writes into the SVG.
const PLOTTERS_EM: f64 = 1.24;

/// The size in px of text plotters draws at `size`.
pub(super) fn plotters_px(size: u32) -> f64 {
    size as f64 / PLOTTERS_EM
}

/// The size, in px, of the text this module writes (labels, legends).
pub(super) const LABEL_PX: f64 = 11.0;

/// Width of a legend beside a plot.
pub(super) const LEGEND_WIDTH: u32 = 210;

/// Vertical distance between legend lines: more than a line of text is
/// tall, so that their boxes never meet.
pub(super) const LEGEND_LINE: f64 = 18.0;

/// Average advance of a character in em, above that of DejaVu Sans (the
/// widest common sans-serif, about 0.6), so estimates err on the wide side.
const CHAR_EM: f64 = 0.66;

pub(super) type Err = String;

pub(super) fn e<E: std::fmt::Debug>(x: E) -> Err {
    format!("{x:?}")
}

pub(super) fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Escapes text for SVG and HTML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Estimated width in px of `s` at `px`.
pub(super) fn text_width(s: &str, px: f64) -> f64 {
    s.chars().count() as f64 * px * CHAR_EM
}

/// `s` cut to `max` characters, with an ellipsis when cut.
pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    }
}

/// An element with attributes and, when given, a hover text.
pub(super) fn element(name: &str, attrs: &str, title: Option<&str>) -> String {
    match title {
        Some(t) => format!("<{name} {attrs}><title>{}</title></{name}>", escape(t)),
        None => format!("<{name} {attrs}/>"),
    }
}

/// Horizontal alignment of a text at its x.
#[derive(Clone, Copy)]
pub(super) enum Anchor {
    Start,
    Middle,
    End,
}

/// A light grid line.
pub(super) fn grid_line(a: (f64, f64), b: (f64, f64)) -> String {
    format!(
        "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#000\" stroke-opacity=\"0.08\" stroke-width=\"1\"/>",
        a.0, a.1, b.0, b.1
    )
}

/// A line of text, vertically centred on `y`.
pub(super) fn text(x: f64, y: f64, anchor: Anchor, s: &str) -> String {
    let anchor = match anchor {
        Anchor::Start => "start",
        Anchor::Middle => "middle",
        Anchor::End => "end",
    };
    format!(
        "<text x=\"{x:.1}\" y=\"{y:.1}\" dy=\"0.35em\" text-anchor=\"{anchor}\" font-family=\"sans-serif\" font-size=\"{LABEL_PX}\" fill=\"#222\">{}</text>",
        escape(s)
    )
}

/// A point's marker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Marker {
    Circle,
    /// Points next to a rule threshold.
    Diamond,
    /// Regressions.
    Triangle,
}

/// Radius of a point's circle, in px.
pub(super) const POINT_RADIUS: f64 = 4.5;

/// The largest distance from a marker's centre to its edge.
pub(super) fn marker_radius(m: Marker) -> f64 {
    match m {
        Marker::Circle => POINT_RADIUS,
        Marker::Diamond | Marker::Triangle => POINT_RADIUS + 2.0,
    }
}

/// A marker filled with `fill` and outlined, so that points stand out on
/// lines and on each other.
pub(super) fn marker(m: Marker, x: f64, y: f64, fill: RGBColor, title: Option<&str>) -> String {
    let fill = hex(fill);
    let r = marker_radius(m);
    match m {
        Marker::Circle => element(
            "circle",
            &format!("cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{fill}\" stroke=\"#222\" stroke-width=\"0.8\""),
            title,
        ),
        Marker::Diamond => element(
            "polygon",
            &format!(
                "points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{fill}\" stroke=\"#000\" stroke-width=\"1.6\"",
                x,
                y - r,
                x + r,
                y,
                x,
                y + r,
                x - r,
                y
            ),
            title,
        ),
        Marker::Triangle => element(
            "polygon",
            &format!(
                "points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{fill}\" stroke=\"#000\" stroke-width=\"1.2\"",
                x - r,
                y - r * 0.7,
                x + r,
                y - r * 0.7,
                x,
                y + r
            ),
            title,
        ),
    }
}

/// One legend line: what its sample looks like.
pub(super) enum Sample {
    Marker(Marker, RGBColor),
    DashedLine,
    Swatch(RGBColor, f64),
    Line(RGBColor),
    /// A heading: no sample.
    None,
}

/// A legend at (`x`, `y`) (top left), one line per entry; entries may carry
/// a hover text.
pub(super) fn legend(x: f64, y: f64, entries: &[(Sample, String, Option<String>)]) -> String {
    let mut out = String::new();
    for (i, (sample, label, title)) in entries.iter().enumerate() {
        let cy = y + LEGEND_LINE * (i as f64 + 0.5);
        let sx = x + 8.0;
        let drawn = match sample {
            Sample::Marker(m, c) => marker(*m, sx, cy, *c, None),
            Sample::DashedLine => format!(
                "<line x1=\"{:.1}\" y1=\"{cy:.1}\" x2=\"{:.1}\" y2=\"{cy:.1}\" stroke=\"#444\" stroke-width=\"1\" stroke-dasharray=\"4 3\"/>",
                x,
                x + 16.0
            ),
            Sample::Swatch(c, opacity) => format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"16\" height=\"10\" fill=\"{}\" fill-opacity=\"{opacity}\" stroke=\"#888\" stroke-width=\"0.8\"/>",
                cy - 5.0,
                hex(*c)
            ),
            Sample::Line(c) => format!(
                "<line x1=\"{sx:.1}\" y1=\"{:.1}\" x2=\"{sx:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"1.5\"/>",
                cy - 7.0,
                cy + 7.0,
                hex(*c)
            ),
            Sample::None => String::new(),
        };
        out.push_str(&drawn);
        let tx = if matches!(sample, Sample::None) { x } else { x + 22.0 };
        let t = text(tx, cy, Anchor::Start, label);
        match title {
            Some(title) => {
                let _ = write!(out, "<g><title>{}</title>{t}</g>", escape(title));
            }
            None => out.push_str(&t),
        }
    }
    out
}

/// Speedups an axis can name, most readable first: plotters' own ticks on
/// a log axis fall on values such as `1.414x`.
const NICE_SPEEDUPS: [f64; 25] = [
    1.0, 2.0, 0.5, 4.0, 0.25, 8.0, 16.0, 0.125, 1.5, 3.0, 0.75, 6.0, 12.0, 1.2, 0.8, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98,
    32.0, 64.0, 1.01, 0.99,
];

/// The speedups to name on an axis from `lo` to `hi` (log2) that is
/// `pixels` long: the most readable ones that stay `spacing` px apart.
pub(super) fn speedup_ticks(lo: f64, hi: f64, pixels: f64, spacing: f64) -> Vec<f64> {
    let per_log2 = pixels / (hi - lo).max(f64::MIN_POSITIVE);
    let mut ticks: Vec<f64> = Vec::new();
    for v in NICE_SPEEDUPS {
        let l = v.log2();
        if l >= lo && l <= hi && ticks.iter().all(|t| (t.log2() - l).abs() * per_log2 >= spacing) {
            ticks.push(v);
        }
    }
    ticks.sort_by(f64::total_cmp);
    ticks
}

/// A speedup as an axis names it: `2x`, `1.05x`.
pub(super) fn speedup_label(v: f64) -> String {
    let s = format!("{v:.3}");
    format!("{}x", s.trim_end_matches('0').trim_end_matches('.'))
}

/// Mantissas of the sizes a log axis names, most readable first: powers of
/// ten, then their halves, fifths and thirds.
const SIZE_MANTISSAS: [f64; 4] = [1.0, 5.0, 2.0, 3.0];

/// The sizes to name on a log axis from `lo` to `hi` that is `pixels`
/// long: round ones that stay `spacing` px apart.
pub(super) fn size_ticks(lo: f64, hi: f64, pixels: f64, spacing: f64) -> Vec<f64> {
    let per_decade = pixels / (hi.log10() - lo.log10()).max(f64::MIN_POSITIVE);
    let decades = lo.log10().floor() as i32..=hi.log10().ceil() as i32;
    let mut ticks: Vec<f64> = Vec::new();
    for m in SIZE_MANTISSAS {
        for e in decades.clone() {
            let v = m * 10f64.powi(e);
            if v >= lo && v <= hi && ticks.iter().all(|t| (t.log10() - v.log10()).abs() * per_decade >= spacing) {
                ticks.push(v);
            }
        }
    }
    ticks.sort_by(f64::total_cmp);
    ticks
}

/// A size as an axis names it: `500`, `20k`, `3M`.
pub(super) fn size_label(v: f64) -> String {
    let (scaled, unit) = match v {
        v if v >= 1e9 => (v / 1e9, "G"),
        v if v >= 1e6 => (v / 1e6, "M"),
        v if v >= 1e3 => (v / 1e3, "k"),
        v => (v, ""),
    };
    let s = format!("{scaled:.1}");
    format!("{}{unit}", s.trim_end_matches('0').trim_end_matches('.'))
}

/// Lays `overlay` over a plotters SVG (before its closing tag).
pub(super) fn overlay(svg: String, overlay: &str) -> String {
    match svg.rfind("</svg>") {
        Some(i) => format!("{}{overlay}{}", &svg[..i], &svg[i..]),
        None => svg,
    }
}
