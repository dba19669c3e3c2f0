//! The validation figure: every shape's measured A/B speedup with its 95%
//! interval, sorted, improvements green, neutral grey, regressions red
//! triangles; hovering a shape gives its command, runtimes and q-value.

use super::svg::{
    self, e, escape, legend, marker, text, Anchor, Err, Marker, Sample, AXIS_TITLE_FONT, CAPTION_FONT, IMPROVED,
    LEGEND_WIDTH, NEUTRAL, REGRESSED,
};
use crate::core::stats::Verdict;
use crate::core::validation::ShapeVerdict;
use crate::core::workload::{short_command, Heuristic};
use plotters::prelude::*;
use std::fmt::Write;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 400;

/// The least the y axis spans either side of "no change", in log2 (5%):
/// a flat result still reads as flat, not as noise blown up.
const MIN_SPAN: f64 = 0.07;

/// Least vertical distance between two named speedups, in px.
const TICK_SPACING: f64 = 24.0;

fn style(v: Verdict) -> (Marker, RGBColor) {
    match v {
        Verdict::Improved => (Marker::Circle, IMPROVED),
        Verdict::Neutral => (Marker::Circle, NEUTRAL),
        Verdict::Regressed => (Marker::Triangle, REGRESSED),
    }
}

fn hover(s: &ShapeVerdict) -> String {
    let interval = s.interval.map(|(lo, hi)| format!(" (95% interval {lo:.3}-{hi:.3})")).unwrap_or_default();
    let q = s.q_value.map(|q| format!("q = {q:.3}: ")).unwrap_or_default();
    let verdict = match s.verdict {
        Verdict::Improved => "improved",
        Verdict::Neutral => "neutral",
        Verdict::Regressed => "regressed",
    };
    format!(
        "{}\nspeedup {:.3}x{interval}\nbaseline {:.2} us, patched {:.2} us\n{q}{verdict}",
        short_command(&s.command),
        s.speedup,
        s.baseline_median,
        s.patched_median
    )
}

/// The A/B speedup of every shape of `heuristic` in `shapes` (the last
/// validation round), sorted, with its interval.
pub(crate) fn validation(heuristic: Heuristic, shapes: &[ShapeVerdict]) -> Result<String, Err> {
    let mut v: Vec<&ShapeVerdict> = shapes.iter().filter(|s| s.heuristic == heuristic).collect();
    v.sort_by(|a, b| a.speedup.total_cmp(&b.speedup));
    let ends = |s: &ShapeVerdict| {
        let (lo, hi) = s.interval.unwrap_or((s.speedup, s.speedup));
        (lo.min(s.speedup).log2(), hi.max(s.speedup).log2())
    };
    let lo = v.iter().map(|s| ends(s).0).filter(|x| x.is_finite()).fold(-MIN_SPAN, f64::min);
    let hi = v.iter().map(|s| ends(s).1).filter(|x| x.is_finite()).fold(MIN_SPAN, f64::max);
    let pad = (hi - lo) * 0.06;
    let (lo, hi) = (lo - pad, hi + pad);
    let n = v.len().max(1) as f64;
    let mut out = String::new();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let root = root
            .titled(
                &format!("{heuristic}: validated speedup per shape (A/B rounds), with its 95% interval"),
                ("sans-serif", CAPTION_FONT),
            )
            .map_err(e)?;
        let (plot, _) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(72)
            .build_cartesian_2d(-0.5..n - 0.5, lo..hi)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .x_labels(0)
            .y_labels(0)
            .x_desc("shapes, sorted by speedup (hover one)")
            .y_desc("speedup, baseline over patched (log scale)")
            .axis_desc_style(("sans-serif", AXIS_TITLE_FONT))
            .draw()
            .map_err(e)?;
        let at = |x: f64, y: f64| {
            let (px, py) = chart.backend_coord(&(x, y));
            (px as f64, py as f64)
        };
        let ((x0, one), (x1, _)) = (at(-0.5, 0.0), at(n - 0.5, 0.0));
        let ((_, top), (_, bottom)) = (at(-0.5, hi), at(-0.5, lo));
        for t in svg::speedup_ticks(lo, hi, bottom - top, TICK_SPACING) {
            let (_, y) = at(-0.5, t.log2());
            out.push_str(&svg::grid_line((x0, y), (x1, y)));
            out.push_str(&svg::grid_line((x0 - 4.0, y), (x0, y)).replace("0.08", "0.8"));
            out.push_str(&text(x0 - 7.0, y, Anchor::End, &svg::speedup_label(t)));
        }
        let _ = write!(out, "<line x1=\"{x0}\" y1=\"{one}\" x2=\"{x1}\" y2=\"{one}\" stroke=\"#222\" stroke-width=\"1\" stroke-dasharray=\"5 3\"/>");
        for (i, s) in v.iter().enumerate() {
            let (m, color) = style(s.verdict);
            let (x, y) = at(i as f64, s.speedup.log2());
            let _ = write!(out, "<g><title>{}</title>", escape(&hover(s)));
            if let Some((a, b)) = s.interval {
                let ((_, ya), (_, yb)) = (at(i as f64, a.log2()), at(i as f64, b.log2()));
                let _ = write!(
                    out,
                    "<line x1=\"{x}\" y1=\"{ya:.1}\" x2=\"{x}\" y2=\"{yb:.1}\" stroke=\"{}\" stroke-width=\"1.5\"/>",
                    svg::hex(color)
                );
            }
            out.push_str(&marker(m, x, y, color, None));
            out.push_str("</g>");
        }
        let count = |x: Verdict| v.iter().filter(|s| s.verdict == x).count();
        let entries = [
            (Sample::Marker(Marker::Circle, IMPROVED), format!("improved ({})", count(Verdict::Improved)), None),
            (Sample::Marker(Marker::Circle, NEUTRAL), format!("neutral ({})", count(Verdict::Neutral)), None),
            (Sample::Marker(Marker::Triangle, REGRESSED), format!("regressed ({})", count(Verdict::Regressed)), None),
            (Sample::Line(NEUTRAL), "95% interval".to_string(), None),
            (Sample::DashedLine, "no change (1x)".to_string(), None),
        ];
        out.push_str(&legend(x1 + 24.0, top, &entries));
        root.present().map_err(e)?;
    }
    Ok(svg::overlay(svg, &out))
}
