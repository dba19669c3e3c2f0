//! The distribution of the recommendation's per-shape speedups over the
//! baseline (fitted on all shapes): a histogram on log-scale bins, one bin
//! centred on "no change", slower bins red and faster ones green; hovering
//! a bar lists its shapes.

use super::svg::{
    self, e, element, legend, text, Anchor, Err, Sample, AXIS_TITLE_FONT, CAPTION_FONT, IMPROVED, LABEL_PX,
    LEGEND_WIDTH, NEUTRAL, REGRESSED, TICK_FONT,
};
use crate::core::analysis::HeuristicAnalysis;
use crate::core::results::Results;
use crate::core::workload::short_command;
use plotters::prelude::*;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 360;

/// A bin's width in log2 of the speedup: a quarter doubling (19%).
const BIN: f64 = 0.25;

/// Commands a bar's hover text lists before it says how many more.
const LISTED: usize = 8;

/// Least horizontal distance between two named speedups, in px.
const TICK_SPACING: f64 = 56.0;

/// Shapes by bin: bins are centred on 0 (no change), bin `first + i`
/// holds log2 speedups in `[(k - 1/2) BIN, (k + 1/2) BIN)`, and there is
/// an empty bin either side.
fn bins(h: &HeuristicAnalysis) -> (i64, Vec<Vec<usize>>) {
    let shapes: Vec<(f64, usize)> = h.outcomes.iter().filter_map(|o| Some((o.speedup?.log2(), o.shape))).collect();
    let bin_of = |v: f64| (v / BIN + 0.5).floor() as i64;
    let first = shapes.iter().map(|s| bin_of(s.0)).min().unwrap_or(0).min(0) - 1;
    let last = shapes.iter().map(|s| bin_of(s.0)).max().unwrap_or(0).max(0) + 1;
    let mut bins: Vec<Vec<usize>> = vec![Vec::new(); (last - first + 1) as usize];
    for &(v, shape) in &shapes {
        bins[(bin_of(v) - first) as usize].push(shape);
    }
    (first, bins)
}

/// A bar's hover text: its range and the first of its shapes.
fn hover(results: &Results, k: i64, members: &[usize]) -> String {
    let (x0, x1) = ((k as f64 - 0.5) * BIN, (k as f64 + 0.5) * BIN);
    let mut title = format!("{:.2}x to {:.2}x: {} shape(s)", 2f64.powf(x0), 2f64.powf(x1), members.len());
    for &s in members.iter().take(LISTED) {
        title.push('\n');
        title.push_str(&short_command(&results.shapes[s].command));
    }
    if members.len() > LISTED {
        title.push_str(&format!("\nand {} more", members.len() - LISTED));
    }
    title
}

/// Histogram of the recommendation's per-shape speedups (log2 bins).
pub(crate) fn speedups(results: &Results, h: &HeuristicAnalysis) -> Result<String, Err> {
    let (first, bins) = bins(h);
    let last = first + bins.len() as i64 - 1;
    let lo = (first as f64 - 0.5) * BIN;
    let hi = (last as f64 + 0.5) * BIN;
    let top = bins.iter().map(Vec::len).max().unwrap_or(0) as u32 + 1;
    let mut out = String::new();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let root = root
            .titled(
                &format!("{}: per-shape speedup of the recommendation over the baseline", h.heuristic),
                ("sans-serif", CAPTION_FONT),
            )
            .map_err(e)?;
        let (plot, _) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin(10)
            .x_label_area_size(48)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, 0u32..top)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .x_labels(0)
            .y_labels(top.min(8) as usize + 1)
            .x_desc("speedup over the baseline (log scale)")
            .y_desc("shapes")
            .label_style(("sans-serif", TICK_FONT))
            .axis_desc_style(("sans-serif", AXIS_TITLE_FONT))
            .draw()
            .map_err(e)?;
        let ((left, bottom), (right, _)) = (chart.backend_coord(&(lo, 0)), chart.backend_coord(&(hi, 0)));
        for t in svg::speedup_ticks(lo, hi, (right - left) as f64, TICK_SPACING) {
            let (x, _) = chart.backend_coord(&(t.log2(), 0));
            let x = x as f64;
            out.push_str(&svg::grid_line((x, bottom as f64), (x, bottom as f64 + 4.0)).replace("0.08", "0.8"));
            out.push_str(&text(x, bottom as f64 + 6.0 + LABEL_PX / 2.0, Anchor::Middle, &svg::speedup_label(t)));
        }
        for (i, members) in bins.iter().enumerate().filter(|(_, m)| !m.is_empty()) {
            let k = first + i as i64;
            let (x0, x1) = ((k as f64 - 0.5) * BIN, (k as f64 + 0.5) * BIN);
            let color = match k {
                0 => NEUTRAL,
                k if k < 0 => REGRESSED,
                _ => IMPROVED,
            };
            let (px0, py0) = chart.backend_coord(&(x0, members.len() as u32));
            let (px1, py1) = chart.backend_coord(&(x1, 0));
            let title = hover(results, k, members);
            out.push_str(&element(
                "rect",
                &format!(
                    "x=\"{}\" y=\"{py0}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"white\" stroke-width=\"1\"",
                    px0 + 1,
                    (px1 - px0 - 2).max(1),
                    py1 - py0,
                    svg::hex(color)
                ),
                Some(&title),
            ));
        }
        let (x, y0) = chart.backend_coord(&(0.0, top));
        let (_, y1) = chart.backend_coord(&(0.0, 0));
        out.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{y0}\" x2=\"{x}\" y2=\"{y1}\" stroke=\"#222\" stroke-width=\"1.2\" stroke-dasharray=\"5 3\"/>"
        ));
        let entries = [
            (Sample::Swatch(REGRESSED, 1.0), "slower than the baseline".to_string(), None),
            (Sample::Swatch(NEUTRAL, 1.0), format!("within {:.0}% of it", (2f64.powf(BIN / 2.0) - 1.0) * 100.0), None),
            (Sample::Swatch(IMPROVED, 1.0), "faster".to_string(), None),
            (Sample::DashedLine, "no change (1x)".to_string(), None),
            (Sample::None, "hover a bar: its shapes".to_string(), None),
        ];
        out.push_str(&legend(right as f64 + 24.0, y0 as f64, &entries));
        root.present().map_err(e)?;
    }
    Ok(svg::overlay(svg, &out))
}
