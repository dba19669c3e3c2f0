//! The runtime heat map: one row per shape (by outputSize, then
//! reductionSize), one column per candidate, every column labelled; a
//! cell's colour is the shape's runtime there over its best, on a colour
//! scale drawn beside it, and hovering a cell names the shape's command,
//! sizes and runtime.

use super::svg::{self, e, element, text, Anchor, Err, AXIS_TITLE_FONT, CAPTION_FONT, LABEL_PX};
use crate::core::analysis::HeuristicAnalysis;
use crate::core::results::{candidate_name, Measurement, Results};
use crate::core::workload::short_command;
use plotters::prelude::*;
use std::fmt::Write;

/// Doublings of the runtime over the shape's best at which the colour
/// saturates: 16x slower is as bad as it gets for the reader.
const SATURATION_LOG2: f64 = 4.0;

/// Cells of shapes that a candidate did not measure.
const UNMEASURED: RGBColor = RGBColor(200, 200, 255);

/// Wide enough for the widest column label, `baseline`, at the label size.
const COLUMN_WIDTH: f64 = 62.0;

/// The plot's height the rows share, and the bounds of a row's height.
const PLOT_HEIGHT: f64 = 640.0;
const ROW_HEIGHT: (f64, f64) = (3.0, 16.0);

/// Room for the colour scale right of the plot, and between them.
const SCALE_AREA: u32 = 140;
const SCALE_GAP: u32 = 20;

/// Bounds of the colour bar's height, and the height its title (above) and
/// the "not measured" swatch (below) add.
const SCALE_BAR: (f64, f64) = (60.0, 240.0);
const SCALE_EXTRA: f64 = 70.0;
const SCALE_BAR_WIDTH: f64 = 16.0;
const SCALE_STEPS: usize = 48;

/// Space above the plot (the caption), below it (column labels and the
/// axis title) and left of it (the axis title).
const TOP: f64 = 40.0;
const BOTTOM: u32 = 52;
const LEFT: u32 = 30;

/// Keeps the rotated axis title off the figure's left edge.
const MARGIN: u32 = 8;

/// White (best) to dark red (16x slower), on log2 of runtime over best.
pub(super) fn heat(ratio_log2: f64) -> RGBColor {
    let t = (ratio_log2 / SATURATION_LOG2).clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t) as u8;
    RGBColor(lerp(255.0, 140.0), lerp(255.0, 0.0), lerp(255.0, 0.0))
}

/// The y axis's title: the longest that fits the plot's height.
fn row_title(height: f64) -> &'static str {
    ["shapes, by outputSize then reductionSize (hover a cell)", "shapes, by outputSize", "shapes"]
        .into_iter()
        .find(|t| svg::text_width(t, svg::plotters_px(AXIS_TITLE_FONT)) + 10.0 < height)
        .unwrap_or("shapes")
}

/// Shape x candidate heat map of runtimes relative to each shape's best.
pub(crate) fn heatmap(results: &Results, h: &HeuristicAnalysis) -> Result<String, Err> {
    let mut rows: Vec<usize> = h.outcomes.iter().map(|o| o.shape).collect();
    rows.sort_by_key(|&i| (results.shapes[i].features.output_size, results.shapes[i].features.reduction_size));
    let mut limits: Vec<i64> = results.candidates.iter().filter_map(|c| c.limit).collect();
    limits.sort();
    let cols: Vec<String> =
        std::iter::once("baseline".to_string()).chain(limits.iter().map(|&l| candidate_name(Some(l)))).collect();
    let labels: Vec<String> =
        std::iter::once("baseline".to_string()).chain(limits.iter().map(|l| l.to_string())).collect();
    let row_height = (PLOT_HEIGHT / rows.len().max(1) as f64).clamp(ROW_HEIGHT.0, ROW_HEIGHT.1);
    let plot_height = row_height * rows.len().max(1) as f64;
    let bar = (plot_height - 10.0).clamp(SCALE_BAR.0, SCALE_BAR.1);
    let height = (TOP + plot_height + BOTTOM as f64).max(TOP + bar + SCALE_EXTRA).ceil() as u32;
    let caption = format!("{}: runtime over the shape's best, per candidate", h.heuristic);
    // Wide enough for every column, and for the caption over the plot.
    let plot_width = (COLUMN_WIDTH * cols.len() as f64).max(svg::text_width(&caption, svg::plotters_px(CAPTION_FONT)));
    let width = MARGIN + LEFT + plot_width.ceil() as u32 + SCALE_GAP + SCALE_AREA;
    let mut out = String::new();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (left, _) = root.split_horizontally(width - SCALE_AREA);
        let mut chart = ChartBuilder::on(&left)
            .caption(caption, ("sans-serif", CAPTION_FONT))
            .margin_top(8)
            .margin_left(MARGIN)
            .margin_right(SCALE_GAP)
            .x_label_area_size(BOTTOM)
            .y_label_area_size(LEFT)
            .build_cartesian_2d(0f64..cols.len() as f64, 0f64..rows.len().max(1) as f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .x_desc("candidate: the baseline, or the limit every shape gets")
            .y_desc(row_title(plot_height))
            .axis_desc_style(("sans-serif", AXIS_TITLE_FONT))
            .draw()
            .map_err(e)?;
        let at = |x: f64, y: f64| {
            let (px, py) = chart.backend_coord(&(x, y));
            (px as f64, py as f64)
        };
        for (y, &i) in rows.iter().enumerate() {
            let s = &results.shapes[i];
            let times: Vec<Option<f64>> = cols.iter().map(|c| s.runs.get(c).and_then(Measurement::median)).collect();
            let best = times.iter().flatten().fold(f64::INFINITY, |a, &b| a.min(b));
            let shape = format!(
                "{}\noutputSize {}, reductionSize {}",
                short_command(&s.command),
                s.features.output_size,
                s.features.reduction_size
            );
            for (x, t) in times.iter().enumerate() {
                let (x0, y0) = at(x as f64, y as f64 + 1.0);
                let (x1, y1) = at(x as f64 + 1.0, y as f64);
                let (color, what) = match t {
                    Some(v) => (heat((v / best).log2()), format!("{:.2} us, {:.2}x its best", v, v / best)),
                    None => (UNMEASURED, "not measured".to_string()),
                };
                out.push_str(&element(
                    "rect",
                    &format!(
                        "x=\"{x0:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"",
                        x1 - x0,
                        y1 - y0,
                        svg::hex(color)
                    ),
                    Some(&format!("{shape}\n{}: {what}", cols[x])),
                ));
            }
        }
        let (_, bottom) = at(0.0, 0.0);
        for (x, label) in labels.iter().enumerate() {
            let (cx, _) = at(x as f64 + 0.5, 0.0);
            out.push_str(&text(cx, bottom + 4.0 + LABEL_PX, Anchor::Middle, label));
        }
        let (right, top) = at(cols.len() as f64, rows.len().max(1) as f64);
        out.push_str(&scale(right + SCALE_GAP as f64, top, bar));
        root.present().map_err(e)?;
    }
    Ok(svg::overlay(svg, &out))
}

/// The colour scale: a bar from best (top) to 16x slower, its ticks, and
/// the colour of cells not measured.
fn scale(x: f64, top: f64, bar: f64) -> String {
    let mut out = text(x, top + 6.0, Anchor::Start, "runtime / best");
    let bar_top = top + 22.0;
    let step = bar / SCALE_STEPS as f64;
    for i in 0..SCALE_STEPS {
        let t = (i as f64 + 0.5) / SCALE_STEPS as f64 * SATURATION_LOG2;
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{:.2}\" width=\"{SCALE_BAR_WIDTH}\" height=\"{:.2}\" fill=\"{}\"/>",
            bar_top + i as f64 * step,
            step + 0.3,
            svg::hex(heat(t))
        );
    }
    let _ = write!(
        out,
        "<rect x=\"{x:.1}\" y=\"{bar_top:.1}\" width=\"{SCALE_BAR_WIDTH}\" height=\"{bar:.1}\" fill=\"none\" stroke=\"#888\" stroke-width=\"0.8\"/>"
    );
    let ticks = [(0.0, "1x (best)"), (1.0, "2x"), (2.0, "4x"), (3.0, "8x"), (4.0, "16x or more")];
    for (log2, label) in ticks {
        let y = bar_top + bar * log2 / SATURATION_LOG2;
        let _ = write!(
            out,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#444\" stroke-width=\"0.8\"/>",
            x + SCALE_BAR_WIDTH,
            x + SCALE_BAR_WIDTH + 4.0
        );
        out.push_str(&text(x + SCALE_BAR_WIDTH + 7.0, y, Anchor::Start, label));
    }
    let y = bar_top + bar + 22.0;
    let _ = write!(
        out,
        "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{SCALE_BAR_WIDTH}\" height=\"10\" fill=\"{}\" stroke=\"#888\" stroke-width=\"0.8\"/>",
        y - 5.0,
        svg::hex(UNMEASURED)
    );
    out.push_str(&text(x + SCALE_BAR_WIDTH + 7.0, y, Anchor::Start, "not measured"));
    out
}
