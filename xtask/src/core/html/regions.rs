//! The rule-region plot: every shape at (outputSize, reductionSize), log-log,
//! coloured by its best measured limit (by its commands file when shapes
//! come from several), over the recommended rule's regions.
//!
//! What the plot must not hide is drawn on top of what may be hidden:
//! region tints, then the audit's changed regions, then thin dashed
//! boundaries, then outlined points. A shape next to a threshold (at an end
//! of the gap the threshold was placed in) whose point the boundary line
//! runs through or past is a diamond: which side of the line it is on must
//! not be left to the eye. Region labels go where no point is, and the
//! legend sits outside the plot.

use super::svg::{
    self, e, element, escape, legend, marker, text, Anchor, Err, Marker, Sample, AXIS_TITLE_FONT, CAPTION_FONT,
    LABEL_PX, LEGEND_WIDTH, PALETTE, TICK_FONT,
};
use crate::core::analysis::{choice_name, ChangedRegion, HeuristicAnalysis};
use crate::core::results::{candidate_name, Measurement, Results};
use crate::core::rule::{LimitSpec, Rule};
use crate::core::workload::short_command;
use plotters::prelude::*;
use std::fmt::Write;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 560;

/// Points whose best limit is unknown (no candidate measured them).
const UNKNOWN: RGBColor = RGBColor(190, 190, 190);

/// The audit's changed regions.
const CHANGED: RGBColor = RGBColor(255, 140, 0);

/// Opacity of a region's tint: enough to see the region, little enough
/// that the points' colours read true over it.
const TINT: f64 = 0.10;

/// A shape next to a threshold whose point is this close to the boundary
/// line (px) is drawn as on the boundary: the line runs through or past
/// its marker, and which side it is on is what a reader must not misread.
const ON_BOUNDARY_PX: f64 = 2.0 * svg::POINT_RADIUS + 2.0;

/// Least distance between two named sizes on the x and the y axis, in px.
const X_TICK_SPACING: f64 = 48.0;
const Y_TICK_SPACING: f64 = 28.0;

/// Space kept between a region label and any point or other label, and the
/// step of the search for a label's place, in px.
const LABEL_CLEARANCE: f64 = 4.0;
const LABEL_STEP: f64 = 4.0;

/// A pixel rectangle: left, top, right, bottom.
type Rect = (f64, f64, f64, f64);

/// A point, in data or pixel coordinates.
type Point2 = (f64, f64);

/// A boundary line from one point to another.
type Segment = (Point2, Point2);

/// One shape on the plot.
struct Point {
    output: f64,
    reduction: f64,
    /// Index of its colour (its best limit's, or its file's).
    group: Option<usize>,
    /// The thresholds it is next to, in words.
    thresholds: Vec<String>,
    title: String,
}

/// One leaf of the rule, clipped to the axes: data ranges and its limit.
struct Region {
    x: (f64, f64),
    y: (f64, f64),
    limit: LimitSpec,
    words: String,
}

fn limit_label(l: LimitSpec) -> String {
    match l {
        LimitSpec::Fixed(1) => "no split".into(),
        LimitSpec::Fixed(v) => format!("L={v}"),
        LimitSpec::Clamp(c) => format!("L=min({c},start)"),
    }
}

/// `name` in `[lo, hi)`, in words.
fn range_words(name: &str, lo: Option<i64>, hi: Option<i64>) -> String {
    match (lo, hi) {
        (Some(lo), Some(hi)) => format!("{lo} <= {name} < {hi}"),
        (Some(lo), None) => format!("{name} >= {lo}"),
        (None, Some(hi)) => format!("{name} < {hi}"),
        (None, None) => format!("any {name}"),
    }
}

/// The rule's leaves clipped to the axes, and its boundaries as segments.
fn geometry(rule: &Rule, xr: (f64, f64), yr: (f64, f64)) -> (Vec<Region>, Vec<Segment>) {
    let mut regions = Vec::new();
    let mut lines = Vec::new();
    let mut lower: Option<i64> = None;
    for rung in &rule.ladder.rungs {
        let x = (lower.map_or(xr.0, |l| (l as f64).max(xr.0)), rung.upper.map_or(xr.1, |u| (u as f64).min(xr.1)));
        let rung_words = range_words("outputSize", lower, rung.upper);
        lower = rung.upper;
        if x.0 >= x.1 {
            continue;
        }
        if rung.upper.is_some() && x.1 < xr.1 {
            lines.push(((x.1, yr.0), (x.1, yr.1)));
        }
        let mut bottom: Option<i64> = None;
        let leaves =
            rung.splits.iter().map(|s| (Some(s.threshold), s.limit)).chain(std::iter::once((None, rung.limit)));
        for (top, limit) in leaves {
            let y = (bottom.map_or(yr.0, |b| (b as f64).max(yr.0)), top.map_or(yr.1, |t| (t as f64).min(yr.1)));
            let words = if rung.splits.is_empty() {
                rung_words.clone()
            } else {
                format!("{rung_words}, {}", range_words("reductionSize", bottom, top))
            };
            if y.0 < y.1 {
                regions.push(Region { x, y, limit, words: format!("{words}: {}", limit.words()) });
            }
            if let Some(t) = top.map(|t| t as f64).filter(|&t| t > yr.0 && t < yr.1) {
                lines.push(((x.0, t), (x.1, t)));
            }
            bottom = top;
        }
    }
    (regions, lines)
}

/// The measured values on each side of threshold `t` (`value < t` is the
/// test): the ends of the gap it was placed in.
fn gap(values: impl Iterator<Item = i64> + Clone, t: i64) -> (Option<i64>, Option<i64>) {
    (values.clone().filter(|&v| v < t).max(), values.filter(|&v| v >= t).min())
}

/// Per shape (in `sizes`' order), the thresholds of `rule` it is next to.
pub(super) fn next_to_thresholds(rule: &Rule, sizes: &[(i64, i64)]) -> Vec<Vec<String>> {
    let mut marks = vec![Vec::new(); sizes.len()];
    let mut lower: Option<i64> = None;
    for rung in &rule.ladder.rungs {
        if let Some(u) = rung.upper {
            let ends = gap(sizes.iter().map(|s| s.0), u);
            for (i, s) in sizes.iter().enumerate() {
                if Some(s.0) == ends.0 || Some(s.0) == ends.1 {
                    marks[i].push(format!("outputSize < {u}"));
                }
            }
        }
        let inside = |o: i64| lower.is_none_or(|l| o >= l) && rung.upper.is_none_or(|u| o < u);
        for split in &rung.splits {
            let ends = gap(sizes.iter().filter(|s| inside(s.0)).map(|s| s.1), split.threshold);
            for (i, s) in sizes.iter().enumerate() {
                if inside(s.0) && (Some(s.1) == ends.0 || Some(s.1) == ends.1) {
                    marks[i].push(format!("reductionSize < {}", split.threshold));
                }
            }
        }
        lower = rung.upper;
    }
    marks
}

/// The best measured limit of a shape, if any candidate measured it.
fn best_limit(results: &Results, shape: usize, limits: &[i64]) -> Option<i64> {
    let s = &results.shapes[shape];
    limits
        .iter()
        .filter_map(|&l| s.runs.get(&candidate_name(Some(l))).and_then(Measurement::median).map(|t| (l, t)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|x| x.0)
}

/// How points are coloured: by commands file when the shapes come from
/// several, else by best limit (a limit's colour is the same in every plot
/// and tint); the legend's colours and names, and each outcome's colour.
struct Groups {
    by_file: bool,
    legend: Vec<(usize, String)>,
    of: Vec<Option<usize>>,
}

fn groups(results: &Results, h: &HeuristicAnalysis, limits: &[i64]) -> Groups {
    let mut files: Vec<&str> = h.outcomes.iter().map(|o| results.shapes[o.shape].file.as_str()).collect();
    files.sort();
    files.dedup();
    if files.len() > 1 {
        let of = h.outcomes.iter().map(|o| files.iter().position(|f| *f == results.shapes[o.shape].file)).collect();
        return Groups { by_file: true, legend: files.iter().map(|f| f.to_string()).enumerate().collect(), of };
    }
    let of: Vec<Option<usize>> = h
        .outcomes
        .iter()
        .map(|o| best_limit(results, o.shape, limits).and_then(|b| limits.iter().position(|&l| l == b)))
        .collect();
    let legend = (0..limits.len())
        .filter(|i| of.contains(&Some(*i)))
        .map(|i| (i, limit_label(LimitSpec::Fixed(limits[i]))))
        .collect();
    Groups { by_file: false, legend, of }
}

fn points(results: &Results, h: &HeuristicAnalysis, groups: &Groups, limits: &[i64]) -> Vec<Point> {
    let sizes: Vec<(i64, i64)> = h
        .outcomes
        .iter()
        .map(|o| (results.shapes[o.shape].features.output_size, results.shapes[o.shape].features.reduction_size))
        .collect();
    let marks = h.rule.as_ref().map(|r| next_to_thresholds(r, &sizes)).unwrap_or_else(|| vec![vec![]; sizes.len()]);
    h.outcomes
        .iter()
        .zip(sizes)
        .zip(marks)
        .zip(&groups.of)
        .map(|(((o, (output, reduction)), thresholds), &group)| {
            let s = &results.shapes[o.shape];
            let best = best_limit(results, o.shape, limits).map(|l| limit_label(LimitSpec::Fixed(l)));
            let mut title = format!(
                "{}\noutputSize {output}, reductionSize {reduction}\nbest measured: {}\nthe rule: {}",
                short_command(&s.command),
                best.as_deref().unwrap_or("not measured"),
                choice_name(&o.choice)
            );
            if groups.by_file {
                let _ = write!(title, "\nfile: {}", s.file);
            }
            for t in &thresholds {
                let _ = write!(title, "\nnext to the threshold {t}");
            }
            Point { output: output as f64, reduction: reduction as f64, group, thresholds, title }
        })
        .collect()
}

/// Distance from `p` to the segment from `a` to `b`.
fn segment_distance(a: Point2, b: Point2, p: Point2) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 { 0.0 } else { (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0) };
    ((p.0 - a.0 - t * dx).powi(2) + (p.1 - a.1 - t * dy).powi(2)).sqrt()
}

/// Distance from rectangle `r` to the point (x, y), 0 inside.
fn distance(r: Rect, x: f64, y: f64) -> f64 {
    let dx = (r.0 - x).max(x - r.2).max(0.0);
    let dy = (r.1 - y).max(y - r.3).max(0.0);
    (dx * dx + dy * dy).sqrt()
}

/// Distance between two rectangles, 0 when they meet.
fn gap_between(a: Rect, b: Rect) -> f64 {
    let dx = (b.0 - a.2).max(a.0 - b.2).max(0.0);
    let dy = (b.1 - a.3).max(a.1 - b.3).max(0.0);
    (dx * dx + dy * dy).sqrt()
}

/// A place for a label of `size` inside `region` that covers no point
/// (circles of `radius`) and no label already `placed`: the one nearest the
/// region's centre among those with room to spare, else the one with the
/// most room; `None` when every place covers something.
pub(super) fn place_label(region: Rect, size: (f64, f64), points: &[(f64, f64, f64)], placed: &[Rect]) -> Option<Rect> {
    let (w, h) = size;
    let centre = ((region.0 + region.2) / 2.0, (region.1 + region.3) / 2.0);
    let mut best: Option<(bool, f64, Rect)> = None;
    let mut y = region.1 + 2.0;
    while y + h <= region.3 - 2.0 {
        let mut x = region.0 + 2.0;
        while x + w <= region.2 - 2.0 {
            let r = (x, y, x + w, y + h);
            let room = points
                .iter()
                .map(|&(px, py, pr)| distance(r, px, py) - pr)
                .chain(placed.iter().map(|&p| gap_between(r, p)))
                .fold(f64::INFINITY, f64::min);
            if room > 0.0 {
                let roomy = room >= LABEL_CLEARANCE;
                let off = ((x + w / 2.0 - centre.0).powi(2) + (y + h / 2.0 - centre.1).powi(2)).sqrt();
                // Roomy places beat cramped ones; among roomy ones the most
                // central wins, among cramped ones the roomiest.
                let score = if roomy { -off } else { room };
                if best.is_none_or(|(b_roomy, b_score, _)| (roomy, score) > (b_roomy, b_score)) {
                    best = Some((roomy, score, r));
                }
            }
            x += LABEL_STEP;
        }
        y += LABEL_STEP;
    }
    best.map(|b| b.2)
}

fn group_color(g: Option<usize>) -> RGBColor {
    g.map_or(UNKNOWN, |g| PALETTE[g % PALETTE.len()])
}

/// Best measured limit over (outputSize, reductionSize), log-log, with the
/// recommended rule's regions and the audit's `changed` regions.
pub(crate) fn regions(results: &Results, h: &HeuristicAnalysis, changed: &[ChangedRegion]) -> Result<String, Err> {
    let mut limits: Vec<i64> = results.candidates.iter().filter_map(|c| c.limit).collect();
    limits.sort();
    let groups = groups(results, h, &limits);
    let pts = points(results, h, &groups, &limits);
    let span = |f: fn(&Point) -> f64| {
        let (lo, hi) = pts.iter().map(f).fold((f64::INFINITY, 0f64), |a, v| (a.0.min(v), a.1.max(v)));
        if pts.is_empty() {
            (1.0, 10.0)
        } else {
            (lo / 2.0, hi * 2.0)
        }
    };
    let (xr, yr) = (span(|p| p.output), span(|p| p.reduction));
    let (rule_regions, lines) = h.rule.as_ref().map(|r| geometry(r, xr, yr)).unwrap_or_default();
    let mut out = String::new();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let root = root
            .titled(
                &format!("{}: best measured limit per shape, and the recommended rule's regions", h.heuristic),
                ("sans-serif", CAPTION_FONT),
            )
            .map_err(e)?;
        let (plot, _) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin(10)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d((xr.0..xr.1).log_scale(), (yr.0..yr.1).log_scale())
            .map_err(e)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            // A log axis keeps a few ticks of its own whatever is asked:
            // unwritten, they cannot crowd the ticks `axes` names.
            .label_style(("sans-serif", TICK_FONT).into_font().color(&TRANSPARENT))
            .set_all_tick_mark_size(0)
            .x_desc("outputSize (log scale)")
            .y_desc("reductionSize (log scale)")
            .axis_desc_style(("sans-serif", AXIS_TITLE_FONT))
            .draw()
            .map_err(e)?;
        let at = |x: f64, y: f64| {
            let (px, py) = chart.backend_coord(&(x, y));
            (px as f64, py as f64)
        };
        let frame = {
            let (x0, y0) = at(xr.0, yr.1);
            let (x1, y1) = at(xr.1, yr.0);
            (x0, y0, x1, y1)
        };
        let drawing = Drawing { at: &at, xr, yr, limits: &limits, by_limit: !groups.by_file };
        out.push_str(&drawing.axes(frame));
        out.push_str(&drawing.tints(&rule_regions));
        out.push_str(&drawing.changed(changed, frame));
        for ((x0, y0), (x1, y1)) in &lines {
            let ((a, b), (c, d)) = (at(*x0, *y0), at(*x1, *y1));
            let _ = write!(out, "<line x1=\"{a:.1}\" y1=\"{b:.1}\" x2=\"{c:.1}\" y2=\"{d:.1}\" stroke=\"#333\" stroke-width=\"1\" stroke-dasharray=\"5 3\"/>");
        }
        let segments: Vec<Segment> = lines.iter().map(|(a, b)| (at(a.0, a.1), at(b.0, b.1))).collect();
        let mut markers = Vec::new();
        let mut on_boundary = false;
        for p in &pts {
            let (x, y) = at(p.output, p.reduction);
            let near = segments.iter().any(|&(a, b)| segment_distance(a, b, (x, y)) < ON_BOUNDARY_PX);
            let m = if near && !p.thresholds.is_empty() { Marker::Diamond } else { Marker::Circle };
            on_boundary |= m == Marker::Diamond;
            markers.push((x, y, svg::marker_radius(m) + 1.0));
            out.push_str(&marker(m, x, y, group_color(p.group), Some(&p.title)));
        }
        let (labels, unlabelled) = drawing.labels(&rule_regions, &markers);
        out.push_str(&labels);
        let entries = legend_entries(&groups, &pts, on_boundary, !changed.is_empty(), unlabelled);
        out.push_str(&legend(frame.2 + 24.0, frame.1, &entries));
        root.present().map_err(e)?;
    }
    Ok(svg::overlay(svg, &out))
}

/// What the overlay of one region plot needs: the data-to-pixel mapping
/// and how the tints are coloured.
struct Drawing<'a> {
    at: &'a dyn Fn(f64, f64) -> (f64, f64),
    /// The axes' ranges.
    xr: (f64, f64),
    yr: (f64, f64),
    limits: &'a [i64],
    by_limit: bool,
}

impl Drawing<'_> {
    /// Round sizes named on both axes, with light grid lines: plotters'
    /// own ticks on a log axis can crowd into each other.
    fn axes(&self, frame: Rect) -> String {
        let mut out = String::new();
        let tick = |a: (f64, f64), b: (f64, f64)| svg::grid_line(a, b).replace("0.08", "0.8");
        for t in svg::size_ticks(self.xr.0, self.xr.1, frame.2 - frame.0, X_TICK_SPACING) {
            let (x, _) = (self.at)(t, self.yr.0);
            out.push_str(&svg::grid_line((x, frame.1), (x, frame.3)));
            out.push_str(&tick((x, frame.3), (x, frame.3 + 4.0)));
            out.push_str(&text(x, frame.3 + 6.0 + LABEL_PX / 2.0, Anchor::Middle, &svg::size_label(t)));
        }
        for t in svg::size_ticks(self.yr.0, self.yr.1, frame.3 - frame.1, Y_TICK_SPACING) {
            let (_, y) = (self.at)(self.xr.0, t);
            out.push_str(&svg::grid_line((frame.0, y), (frame.2, y)));
            out.push_str(&tick((frame.0 - 4.0, y), (frame.0, y)));
            out.push_str(&text(frame.0 - 7.0, y, Anchor::End, &svg::size_label(t)));
        }
        out
    }

    fn rect(&self, x: (f64, f64), y: (f64, f64)) -> Rect {
        let (x0, y0) = (self.at)(x.0, y.1);
        let (x1, y1) = (self.at)(x.1, y.0);
        (x0, y0, x1, y1)
    }

    /// The rule's regions, tinted with their limit's colour when points
    /// are coloured by limit (so a point that disagrees with its region
    /// shows), each with its rule in words on hover.
    fn tints(&self, regions: &[Region]) -> String {
        let mut out = String::new();
        for r in regions {
            let (x0, y0, x1, y1) = self.rect(r.x, r.y);
            let tint = match self.limits.iter().position(|&l| LimitSpec::Fixed(l) == r.limit) {
                Some(i) if self.by_limit => svg::hex(PALETTE[i % PALETTE.len()]),
                _ => "#888888".into(),
            };
            out.push_str(&element(
                "rect",
                &format!(
                    "x=\"{x0:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{tint}\" fill-opacity=\"{TINT}\"",
                    x1 - x0,
                    y1 - y0
                ),
                Some(&r.words),
            ));
        }
        out
    }

    /// The audit's changed regions, outlined, clipped to the plot.
    fn changed(&self, changed: &[ChangedRegion], frame: Rect) -> String {
        let mut out = String::new();
        for c in changed {
            // Unbounded sides and sizes off the axes end at the axes (a log
            // axis has no place for 0).
            let clip = |(lo, hi): (Option<i64>, Option<i64>), r: (f64, f64)| {
                (lo.map_or(r.0, |v| (v as f64).clamp(r.0, r.1)), hi.map_or(r.1, |v| (v as f64).clamp(r.0, r.1)))
            };
            let (x0, y0, x1, y1) = self.rect(clip(c.output, self.xr), clip(c.reduction, self.yr));
            let (x0, y0, x1, y1) = (x0.max(frame.0), y0.max(frame.1), x1.min(frame.2), y1.min(frame.3));
            if x0 >= x1 || y0 >= y1 {
                continue;
            }
            let title = format!(
                "changed by the patch: {} -> {}\n{}, {}",
                c.before,
                c.after,
                range_words("outputSize", c.output.0, c.output.1),
                range_words("reductionSize", c.reduction.0, c.reduction.1)
            );
            out.push_str(&element(
                "rect",
                &format!(
                    "x=\"{x0:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{c}\" fill-opacity=\"0.15\" stroke=\"{c}\" stroke-width=\"2\" stroke-dasharray=\"6 3\"",
                    x1 - x0,
                    y1 - y0,
                    c = svg::hex(CHANGED)
                ),
                Some(&title),
            ));
        }
        out
    }

    /// A label per region where it covers no point, and how many regions
    /// had no such place (their rule is still on hover).
    fn labels(&self, regions: &[Region], obstacles: &[(f64, f64, f64)]) -> (String, usize) {
        let mut placed: Vec<Rect> = Vec::new();
        let mut out = String::new();
        let mut unlabelled = 0;
        for r in regions {
            let label = limit_label(r.limit);
            let size = (svg::text_width(&label, LABEL_PX) + 8.0, LABEL_PX + 7.0);
            match place_label(self.rect(r.x, r.y), size, obstacles, &placed) {
                Some(b) => {
                    let _ = write!(
                        out,
                        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999\" stroke-width=\"0.6\"><title>{}</title></rect>",
                        b.0,
                        b.1,
                        b.2 - b.0,
                        b.3 - b.1,
                        escape(&r.words)
                    );
                    out.push_str(&text((b.0 + b.2) / 2.0, (b.1 + b.3) / 2.0, Anchor::Middle, &label));
                    placed.push(b);
                }
                None => unlabelled += 1,
            }
        }
        (out, unlabelled)
    }
}

fn legend_entries(
    groups: &Groups,
    pts: &[Point],
    on_boundary: bool,
    changed: bool,
    unlabelled: usize,
) -> Vec<(Sample, String, Option<String>)> {
    let heading = if groups.by_file { "colour: commands file" } else { "colour: best measured limit" };
    let mut entries = vec![(Sample::None, heading.to_string(), None)];
    for (i, n) in &groups.legend {
        entries.push((Sample::Marker(Marker::Circle, group_color(Some(*i))), svg::truncate(n, 24), Some(n.clone())));
    }
    if pts.iter().any(|p| p.group.is_none()) {
        entries.push((Sample::Marker(Marker::Circle, UNKNOWN), "not measured".into(), None));
    }
    if on_boundary {
        entries.push((Sample::Marker(Marker::Diamond, WHITE), "on a boundary".into(), None));
    }
    entries.push((Sample::DashedLine, "the rule's boundaries".into(), None));
    entries.push((Sample::Swatch(RGBColor(136, 136, 136), TINT * 2.0), "a region (hover: its rule)".into(), None));
    if changed {
        entries.push((Sample::Swatch(CHANGED, 0.3), "changed by the patch".into(), None));
    }
    if unlabelled > 0 {
        entries.push((Sample::None, format!("{unlabelled} region(s) unlabelled: hover"), None));
    }
    entries.push((Sample::None, "hover a point: its command".into(), None));
    entries
}
