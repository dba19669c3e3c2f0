//! The figures' promises, on the synthetic sweep: every candidate labelled,
//! hover texts, labels clear of points, shapes on a boundary marked,
//! colours by file when there are several, the audit's regions and the
//! validation figure drawn when they exist, commands in full on hover. How
//! they look in a browser (nothing overlaps) is the end-to-end test's.

use super::*;
use crate::core::analysis::{analyze, ChangedRegion, HeuristicAnalysis};
use crate::core::rule::{Ladder, LimitSpec, ReductionSplit, Rule, Rung};
use crate::core::stats::Verdict;
use crate::core::testdata::{self, settings, synthetic, CURRENT, FULL};
use crate::core::workload::Heuristic;

fn sweep() -> (Results, Analysis) {
    let results = synthetic(CURRENT, &FULL);
    let (a, _) = analyze(&results, CURRENT, &settings());
    (results, a)
}

fn conv(a: &Analysis) -> &HeuristicAnalysis {
    a.heuristics.iter().find(|h| h.heuristic == Heuristic::Conv).unwrap()
}

/// Every number in `s`, in order.
fn numbers(s: &str) -> Vec<f64> {
    regex::Regex::new(r"-?\d+(\.\d+)?").unwrap().find_iter(s).map(|m| m.as_str().parse().unwrap()).collect()
}

#[test]
fn the_heat_map_labels_every_candidate_and_has_a_scale_and_hover_texts() {
    let (results, a) = sweep();
    let h = conv(&a);
    let svg = heatmap::heatmap(&results, h).unwrap();
    for label in std::iter::once("baseline".to_string()).chain(FULL.iter().map(|l| l.to_string())) {
        assert!(svg.contains(&format!(">{label}</text>")), "no column label {label}");
    }
    for tick in ["runtime / best", "1x (best)", "16x or more", "not measured"] {
        assert!(svg.contains(tick), "the colour scale lacks {tick}");
    }
    let cells = h.outcomes.len() * (FULL.len() + 1);
    assert_eq!(svg.matches("<title>").count(), cells);
    let first = &results.shapes[h.outcomes[0].shape];
    assert!(svg.contains(&escape(&short_command(&first.command))), "a cell's hover names its command");
}

/// The region labels' boxes (left, top, width, height) in a region plot.
fn label_boxes(svg: &str) -> Vec<Vec<f64>> {
    regex::Regex::new(r#"<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" rx="3""#)
        .unwrap()
        .captures_iter(svg)
        .map(|c| (1..=4).map(|i| c[i].parse().unwrap()).collect())
        .collect()
}

/// The centres of a plot's points: markers with a hover text (the
/// legend's samples have none).
fn point_centres(svg: &str) -> Vec<(f64, f64)> {
    let circles = regex::Regex::new(r#"<circle cx="([\d.]+)" cy="([\d.]+)"[^>]*><title>"#).unwrap();
    let polygons = regex::Regex::new(r#"<polygon points="([^"]+)"[^>]*><title>"#).unwrap();
    let diamond = |c: regex::Captures| {
        let v = numbers(&c[1]);
        (v[0], (v[1] + v[5]) / 2.0)
    };
    circles
        .captures_iter(svg)
        .map(|c| (c[1].parse().unwrap(), c[2].parse().unwrap()))
        .chain(polygons.captures_iter(svg).map(diamond))
        .collect()
}

#[test]
fn region_labels_cover_no_point_and_the_legend_is_outside_the_plot() {
    let (results, a) = sweep();
    let legend = regex::Regex::new(r#"<text x="([\d.]+)"[^>]*>colour: best measured limit</text>"#).unwrap();
    for h in &a.heuristics {
        let svg = regions::regions(&results, h, &[]).unwrap();
        let labels = label_boxes(&svg);
        let points = point_centres(&svg);
        assert!(!labels.is_empty(), "{}: no region labelled", h.heuristic);
        assert!(points.len() >= h.outcomes.len(), "{}: points not found", h.heuristic);
        for l in &labels {
            for p in &points {
                let dx = (l[0] - p.0).max(p.0 - l[0] - l[2]).max(0.0);
                let dy = (l[1] - p.1).max(p.1 - l[1] - l[3]).max(0.0);
                assert!(dx.hypot(dy) > svg::POINT_RADIUS, "{}: label {l:?} covers the point {p:?}", h.heuristic);
            }
        }
        let legend_x: f64 = legend.captures(&svg).expect("a legend")[1].parse().unwrap();
        let right = points.iter().map(|p| p.0).fold(0.0, f64::max);
        assert!(right + 2.0 * svg::POINT_RADIUS < legend_x, "{}: legend over the plot", h.heuristic);
    }
}

#[test]
fn a_label_goes_where_no_point_is_or_nowhere() {
    // A point in the middle of a region: the label goes beside it.
    let region = (0.0, 0.0, 200.0, 100.0);
    let b = regions::place_label(region, (40.0, 18.0), &[(100.0, 50.0, 6.0)], &[]).unwrap();
    let dx = (b.0 - 100.0).max(100.0 - b.2).max(0.0);
    let dy = (b.1 - 50.0).max(50.0 - b.3).max(0.0);
    assert!(dx.hypot(dy) >= 6.0 + 4.0, "{b:?}");
    assert!(b.0 >= 0.0 && b.2 <= 200.0 && b.1 >= 0.0 && b.3 <= 100.0);
    // Points everywhere: no label (the region's hover still names it).
    let crowd: Vec<(f64, f64, f64)> =
        (0..=20).flat_map(|x| (0..=10).map(move |y| (x as f64 * 10.0, y as f64 * 10.0, 6.0))).collect();
    assert_eq!(regions::place_label(region, (40.0, 18.0), &crowd, &[]), None);
    // Too small a region: no label.
    assert_eq!(regions::place_label((0.0, 0.0, 30.0, 10.0), (40.0, 18.0), &[], &[]), None);
}

#[test]
fn shapes_next_to_a_threshold_are_named_and_drawn_on_the_boundary() {
    let rule = Rule {
        constants: Default::default(),
        ladder: Ladder {
            rungs: vec![
                Rung {
                    upper: Some(100),
                    limit: LimitSpec::Fixed(64),
                    splits: vec![ReductionSplit { threshold: 1000, limit: LimitSpec::Fixed(8) }],
                },
                Rung { upper: None, limit: LimitSpec::NO_SPLIT, splits: vec![] },
            ],
        },
        off: vec![],
    };
    let sizes = [(50, 10), (80, 2000), (80, 900), (120, 5), (400, 7), (50, 5000)];
    let marks = regions::next_to_thresholds(&rule, &sizes);
    assert_eq!(marks[0], Vec::<String>::new());
    assert_eq!(marks[1], vec!["outputSize < 100", "reductionSize < 1000"]);
    assert_eq!(marks[2], vec!["outputSize < 100", "reductionSize < 1000"]);
    assert_eq!(marks[3], vec!["outputSize < 100"]);
    assert!(marks[4].is_empty() && marks[5].is_empty());
    // In the synthetic sweep thresholds sit next to measured sizes: those
    // points are diamonds, and the legend says what a diamond is.
    let (results, a) = sweep();
    let svg = regions::regions(&results, conv(&a), &[]).unwrap();
    assert!(svg.contains("<polygon") && svg.contains("on a boundary"));
    assert!(svg.contains("next to the threshold outputSize &lt; "));
}

#[test]
fn shapes_from_several_files_are_coloured_by_file() {
    let (mut results, a) = sweep();
    for s in results.shapes.iter_mut() {
        s.file = if s.id % 2 == 0 { "resnet.txt".into() } else { "unet_weight_backward_batch_8.txt".into() };
    }
    let svg = regions::regions(&results, conv(&a), &[]).unwrap();
    assert!(svg.contains("colour: commands file") && svg.contains(">resnet.txt</text>"), "{svg}");
    // A long name is cut in the legend and whole on hover.
    assert!(svg.contains("<title>unet_weight_backward_batch_8.txt</title>"));
    assert!(!svg.contains("colour: best measured limit"));
}

#[test]
fn the_audits_changed_regions_are_outlined() {
    let (results, a) = sweep();
    let changed = [ChangedRegion {
        output: (Some(20_000), Some(200_000)),
        reduction: (None, Some(100_000)),
        before: "limit 64".into(),
        after: "limit 16".into(),
    }];
    let svg = regions::regions(&results, conv(&a), &changed).unwrap();
    assert!(svg.contains("changed by the patch: limit 64 -&gt; limit 16"), "{svg}");
    assert!(svg.contains(">changed by the patch</text>"));
    assert!(!regions::regions(&results, conv(&a), &[]).unwrap().contains("changed by the patch"));
}

#[test]
fn the_validation_figure_sorts_shapes_and_marks_regressions() {
    let results = synthetic(CURRENT, &FULL);
    let (mut a, patches) = analyze(&results, CURRENT, &settings());
    let mut v = testdata::validation(&results, &a, &patches);
    let conv_shapes: Vec<usize> =
        (0..v.rounds[0].shapes.len()).filter(|&i| v.rounds[0].shapes[i].heuristic == Heuristic::Conv).collect();
    let s = &mut v.rounds[0].shapes[conv_shapes[0]];
    s.verdict = Verdict::Regressed;
    s.speedup = 0.8;
    s.interval = Some((0.75, 0.85));
    let command = s.command.clone();
    let regressed = conv_shapes.iter().filter(|&&i| v.rounds[0].shapes[i].verdict == Verdict::Regressed).count();
    let svg = validation::validation(Heuristic::Conv, &v.rounds[0].shapes).unwrap();
    assert!(svg.contains(&format!("regressed ({regressed})")) && svg.contains("fill=\"#d62728\" stroke=\"#000\""));
    assert_eq!(svg.matches("<g><title>").count(), conv_shapes.len());
    // Sorted: the regression comes first, with its interval and q-value.
    let first = &svg[svg.find("<g><title>").unwrap()..];
    assert!(first.starts_with(&format!("<g><title>{}", escape(&short_command(&command)))), "{first:.300}");
    assert!(first.contains("speedup 0.800x (95% interval 0.750-0.850)") && first.contains("q = "));
    // In the page only once validated.
    let md = crate::core::report::markdown(&a);
    assert!(!page(&results, &a, &md).contains("id=\"fig-validation-conv\""));
    a.validation = Some(v);
    let md = crate::core::report::markdown(&a);
    let html = page(&results, &a, &md);
    assert!(html.contains("id=\"fig-validation-conv\"><svg") && html.contains("id=\"fig-validation-matmul\"><svg"));
}

#[test]
fn shortened_commands_show_in_full_on_hover() {
    let (results, a) = sweep();
    let md = crate::core::report::markdown(&a);
    let html = page(&results, &a, &md);
    let s = &results.shapes[0];
    let short = short_command(&s.command);
    assert_ne!(short, s.command);
    assert!(md.contains(&format!("`{short}`")));
    assert!(html.contains(&format!("<code title=\"{}\">{}</code>", escape(&s.command), short)), "no hover text");
    assert!(!html.contains(&format!("<code>{short}</code>")));
}
