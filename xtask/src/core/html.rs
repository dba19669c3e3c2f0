//! `report.html`: one self-contained page with the report and its figures.
//!
//! Per heuristic, three figures drawn with plotters' SVG backend (no font
//! files needed): a runtime heat map (shape x limit, relative to the shape's
//! best), the best limit over (outputSize, reductionSize) with the rule's
//! regions drawn, and the distribution of the recommendation's per-shape
//! speedups. The text is `report.md` rendered by pulldown-cmark, so the page
//! and the markdown cannot disagree.

use crate::core::analysis::{Analysis, HeuristicAnalysis};
use crate::core::results::{candidate_name, Measurement, Results};
use crate::core::rule::LimitSpec;
use plotters::prelude::*;
use std::fmt::Write;

const PALETTE: [RGBColor; 12] = [
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
    RGBColor(0, 0, 0),
    RGBColor(255, 215, 0),
];

/// The limits the sweep measured.
fn measured(results: &Results) -> Vec<i64> {
    let mut v: Vec<i64> = results.candidates.iter().filter_map(|c| c.limit).collect();
    v.sort();
    v
}

fn limit_label(l: LimitSpec) -> String {
    match l {
        LimitSpec::Fixed(1) => "no split".into(),
        LimitSpec::Fixed(v) => format!("L={v}"),
        LimitSpec::Clamp(c) => format!("L=min({c},start)"),
    }
}

fn limit_color(limits: &[i64], l: i64) -> RGBColor {
    let i = limits.iter().position(|&x| x == l).unwrap_or(limits.len());
    PALETTE[i % PALETTE.len()]
}

/// White (best) to dark red (16x slower), on log2 of runtime over best.
fn heat(ratio_log2: f64) -> RGBColor {
    let t = (ratio_log2 / 4.0).clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t) as u8;
    RGBColor(lerp(255.0, 140.0), lerp(255.0, 0.0), lerp(255.0, 0.0))
}

type Err = String;

fn e<E: std::fmt::Debug>(x: E) -> Err {
    format!("{x:?}")
}

/// Shape x limit heat map of runtimes relative to each shape's best.
pub(crate) fn heatmap(results: &Results, h: &HeuristicAnalysis) -> Result<String, Err> {
    let mut rows: Vec<usize> = h.outcomes.iter().map(|o| o.shape).collect();
    rows.sort_by_key(|&i| (results.shapes[i].features.output_size, results.shapes[i].features.reduction_size));
    let limits = measured(results);
    let cols: Vec<String> =
        std::iter::once("baseline".to_string()).chain(limits.iter().map(|&l| candidate_name(Some(l)))).collect();
    let labels: Vec<String> = std::iter::once("base".to_string()).chain(limits.iter().map(|l| l.to_string())).collect();
    let height = (rows.len() * 4 + 90).clamp(200, 1400) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, height)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{}: runtime / best runtime per shape", h.heuristic), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..cols.len() as f64, 0f64..rows.len().max(1) as f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(cols.len())
            .x_label_formatter(&|x| labels.get(x.floor() as usize).cloned().unwrap_or_default())
            .y_desc("shapes by outputSize")
            .y_label_formatter(&|_| String::new())
            .draw()
            .map_err(e)?;
        let mut cells = Vec::new();
        for (y, &i) in rows.iter().enumerate() {
            let s = &results.shapes[i];
            let times: Vec<Option<f64>> = cols.iter().map(|c| s.runs.get(c).and_then(Measurement::median)).collect();
            let best = times.iter().flatten().fold(f64::INFINITY, |a, &b| a.min(b));
            for (x, t) in times.iter().enumerate() {
                let color = match t {
                    Some(v) => heat((v / best).log2()),
                    None => RGBColor(200, 200, 255),
                };
                cells.push(Rectangle::new([(x as f64, y as f64), (x as f64 + 1.0, y as f64 + 1.0)], color.filled()));
            }
        }
        chart.draw_series(cells).map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

/// Per shape of the heuristic: (outputSize, reductionSize, best measured
/// limit).
fn best_limits(results: &Results, h: &HeuristicAnalysis, limits: &[i64]) -> Vec<(f64, f64, Option<i64>)> {
    h.outcomes
        .iter()
        .map(|o| {
            let s = &results.shapes[o.shape];
            let times: Vec<(i64, f64)> = limits
                .iter()
                .filter_map(|&l| s.runs.get(&candidate_name(Some(l))).and_then(Measurement::median).map(|t| (l, t)))
                .collect();
            let best = times.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map(|x| x.0);
            (s.features.output_size as f64, s.features.reduction_size as f64, best)
        })
        .collect()
}

/// Best measured limit over (outputSize, reductionSize), log-log, with the
/// recommended rule's regions.
pub(crate) fn regions(results: &Results, h: &HeuristicAnalysis) -> Result<String, Err> {
    let limits = measured(results);
    let pts = best_limits(results, h, &limits);
    let (xmin, xmax) = pts.iter().fold((f64::INFINITY, 0f64), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (ymin, ymax) = pts.iter().fold((f64::INFINITY, 0f64), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    let (xmin, xmax) = if pts.is_empty() { (1.0, 10.0) } else { (xmin / 2.0, xmax * 2.0) };
    let (ymin, ymax) = if pts.is_empty() { (1.0, 10.0) } else { (ymin / 2.0, ymax * 2.0) };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{}: best limit per shape and the recommended rule", h.heuristic), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((xmin..xmax).log_scale(), (ymin..ymax).log_scale())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("outputSize")
            .y_desc("reductionSize")
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(e)?;
        // Regions of the rule: rung bounds as vertical lines, reduction
        // splits as horizontal segments, the limit written in each region.
        if let Some(rule) = &h.rule {
            let mut lower = xmin;
            for r in &rule.ladder.rungs {
                let upper = r.upper.map(|u| u as f64).unwrap_or(xmax).min(xmax);
                if r.upper.is_some() && upper > xmin {
                    chart
                        .draw_series(LineSeries::new(vec![(upper, ymin), (upper, ymax)], BLACK.stroke_width(2)))
                        .map_err(e)?;
                }
                let lo_x = lower.max(xmin);
                let mid = (lo_x * upper).sqrt();
                let label = limit_label;
                // Reduction buckets: a line at each threshold, a label in
                // each bucket.
                let mut bottom = ymin;
                for sp in &r.splits {
                    let t = (sp.threshold as f64).clamp(ymin, ymax);
                    chart
                        .draw_series(LineSeries::new(vec![(lo_x, t), (upper, t)], BLACK.stroke_width(1)))
                        .map_err(e)?;
                    chart
                        .draw_series(std::iter::once(Text::new(
                            label(sp.limit),
                            (mid, (bottom * t).sqrt()),
                            ("sans-serif", 12),
                        )))
                        .map_err(e)?;
                    bottom = t;
                }
                chart
                    .draw_series(std::iter::once(Text::new(
                        label(r.limit),
                        (mid, (bottom * ymax).sqrt()),
                        ("sans-serif", 12),
                    )))
                    .map_err(e)?;
                lower = upper;
            }
        }
        for &l in &limits {
            let series: Vec<(f64, f64)> = pts.iter().filter(|p| p.2 == Some(l)).map(|p| (p.0, p.1)).collect();
            if series.is_empty() {
                continue;
            }
            let color = limit_color(&limits, l);
            chart
                .draw_series(series.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(e)?
                .label(if l == 1 { "best: no split".to_string() } else { format!("best: {l}") })
                .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

/// Histogram of the recommendation's per-shape speedups (log2 bins).
pub(crate) fn speedups(h: &HeuristicAnalysis) -> Result<String, Err> {
    let logs: Vec<f64> = h.outcomes.iter().filter_map(|o| o.speedup).map(f64::log2).collect();
    let lo = logs.iter().cloned().fold(0.0f64, f64::min).floor() - 0.25;
    let hi = logs.iter().cloned().fold(0.0f64, f64::max).ceil() + 0.25;
    let width = 0.25;
    let n = ((hi - lo) / width).ceil() as usize;
    let mut bins = vec![0usize; n.max(1)];
    for v in &logs {
        let b = (((v - lo) / width).floor() as usize).min(bins.len() - 1);
        bins[b] += 1;
    }
    let top = *bins.iter().max().unwrap_or(&1) as f64 + 1.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{}: per-shape speedup of the recommendation over the baseline", h.heuristic),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, 0f64..top)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("speedup (log scale)")
            .y_desc("shapes")
            .x_label_formatter(&|v| format!("{:.2}x", 2f64.powf(*v)))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(bins.iter().enumerate().map(|(i, &c)| {
                let x0 = lo + i as f64 * width;
                let color = if x0 + width <= 0.0 { RGBColor(214, 39, 40) } else { RGBColor(44, 160, 44) };
                Rectangle::new([(x0, 0.0), (x0 + width * 0.95, c as f64)], color.filled())
            }))
            .map_err(e)?;
        chart.draw_series(LineSeries::new(vec![(0.0, 0.0), (0.0, top)], BLACK.stroke_width(2))).map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 6px}\
th{background:#f4f4f4}code,pre{background:#f7f7f7}pre{padding:0.6em;overflow-x:auto}\
figure{display:inline-block;margin:0.5em;vertical-align:top}figcaption{font-size:0.85em;color:#555}\
blockquote{border-left:4px solid #c00;margin:1em 0;padding:0.2em 1em;background:#fff4f4}";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The whole page.
pub(crate) fn page(results: &Results, analysis: &Analysis, markdown: &str) -> String {
    let mut figures = String::new();
    for h in &analysis.heuristics {
        if h.outcomes.is_empty() {
            continue;
        }
        let _ = writeln!(figures, "<h2>Figures: {} heuristic</h2>", h.heuristic);
        let parts: [(&str, &str, Result<String, Err>); 3] = [
            ("heatmap", "Runtime of every shape at every limit, relative to its best (white = best, dark red = 16x slower, blue = not measured).", heatmap(results, h)),
            ("regions", "Best measured limit per shape over (outputSize, reductionSize); lines and labels: the recommended rule's regions.", regions(results, h)),
            ("speedups", "Per-shape speedup of the recommended rule over the baseline (fitted on all shapes).", speedups(h)),
        ];
        for (id, caption, svg) in parts {
            let body = match svg {
                Ok(s) => s,
                Err(err) => format!("<p>figure unavailable: {}</p>", escape(&err)),
            };
            let _ = writeln!(
                figures,
                "<figure id=\"fig-{id}-{}\">{body}<figcaption>{}</figcaption></figure>",
                h.heuristic,
                escape(caption)
            );
        }
    }
    let mut html_body = String::new();
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    pulldown_cmark::html::push_html(&mut html_body, parser);
    // Figures go right after the summary, before the detailed parts.
    let (head, tail) = match html_body.find("<h2>Part 1") {
        Some(i) => html_body.split_at(i),
        None => (html_body.as_str(), ""),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Split-reduction sweep {run}</title>\
         <style>{STYLE}</style></head><body>\n{head}\n{figures}\n{tail}\n</body></html>\n",
        run = escape(&analysis.run)
    )
}
