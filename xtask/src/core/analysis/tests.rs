//! Analysis on synthetic sweep results: snapshots of the generated C++ in
//! both code styles, agreement of report.md with analysis.json, and reports
//! of results with failures and gaps.
//!
//! The results are [`crate::core::testdata`]'s synthetic sweeps.

use crate::core::analysis::{analyze, Analysis, HeuristicPatch};
use crate::core::results::*;
use crate::core::testdata::{settings, synthetic, CURRENT, FULL, INLINE_2025};
use crate::core::workload::Heuristic;
use crate::core::{html, report};

fn run(source: &str) -> (Results, Analysis, Vec<HeuristicPatch>) {
    let results = synthetic(source, &FULL);
    let (a, p) = analyze(&results, source, &settings());
    (results, a, p)
}

/// The emitted patch of `h`, headed by its size beside a rewrite's and its
/// audit: what a reviewer of the C++ reads first.
fn patch(a: &Analysis, h: Heuristic) -> String {
    let ha = a.heuristics.iter().find(|x| x.heuristic == h).unwrap();
    assert!(ha.error.is_none(), "{h}: {:?}", ha.error);
    let e = ha.emitted.as_ref().unwrap_or_else(|| panic!("{h}: no C++"));
    let au = ha.audit.as_ref().unwrap();
    // Changes only what was measured.
    assert!(au.clean(), "{h}: {:?}", au.counts);
    format!(
        "written as: {} ({})\nlines: +{} -{} (a rewrite of the ladder: {:?})\naudit: {:?}\n\n{}",
        e.how, e.note, e.lines.0, e.lines.1, e.rewrite_lines, au.counts, ha.diff
    )
}

#[test]
fn generated_cpp_in_the_2026_helper_style() {
    let (_, a, patches) = run(CURRENT);
    insta::assert_snapshot!("helper_style_conv", patch(&a, Heuristic::Conv));
    insta::assert_snapshot!("helper_style_matmul", patch(&a, Heuristic::Matmul));
    assert_eq!(patches.len(), 2);
}

#[test]
fn generated_cpp_in_the_2025_inline_style() {
    let (_, a, _) = run(INLINE_2025);
    insta::assert_snapshot!("inline_style_conv", patch(&a, Heuristic::Conv));
    insta::assert_snapshot!("inline_style_matmul", patch(&a, Heuristic::Matmul));
}

#[test]
fn recommendation_beats_the_original_toolkit_out_of_sample() {
    for source in [CURRENT, INLINE_2025] {
        let (_, a, _) = run(source);
        for h in &a.heuristics {
            let rec = h.strategies.iter().find(|e| e.strategy == h.recommended).unwrap();
            let toolkit = h.strategies.iter().find(|e| e.name == "original toolkit").unwrap();
            assert!(
                rec.cv_geomean >= toolkit.cv_geomean,
                "{}: {} < {}",
                h.heuristic,
                rec.cv_geomean,
                toolkit.cv_geomean
            );
            assert!(rec.cv_geomean > 1.0, "{}: no gain", h.heuristic);
            assert_eq!(rec.fitted_regressions, 0);
        }
    }
}

#[test]
fn report_and_json_agree_on_every_headline_figure() {
    let (results, a, _) = run(CURRENT);
    let md = report::markdown(&a);
    // The JSON the command writes, read back.
    let json: serde_json::Value = serde_json::to_value(&a).unwrap();
    for h in json["heuristics"].as_array().unwrap() {
        let rec = h["recommended"].as_str().unwrap();
        let e = h["strategies"].as_array().unwrap().iter().find(|e| e["strategy"] == rec).unwrap();
        let x = |v: &serde_json::Value| crate::core::numfmt::x(v.as_f64().unwrap());
        let line = md.lines().find(|l| l.starts_with(&format!("- **{}**", h["heuristic"].as_str().unwrap()))).unwrap();
        for figure in [x(&e["cv_geomean"]), x(&e["fitted_geomean"]), x(&e["cv_worst"]), x(&h["vs_original_toolkit"])] {
            assert!(line.contains(&figure), "summary line lacks {figure}: {line}");
        }
        let pct = crate::core::numfmt::pct(e["cv_oracle_fraction"].as_f64().unwrap());
        assert!(line.contains(&pct), "summary line lacks {pct}: {line}");
    }
    for c in json["candidates"].as_array().unwrap() {
        if let Some(v) = c.get("vs_baseline").filter(|v| !v.is_null()) {
            let row = md
                .lines()
                .find(|l| l.starts_with(&format!("| {} | {} |", c["name"].as_str().unwrap(), v["compared"])))
                .unwrap();
            assert!(row.contains(&crate::core::numfmt::x(v["geomean_speedup"].as_f64().unwrap())), "{row}");
            assert!(row.contains(&format!("| {} | {} | {} |", v["improved"], v["neutral"], v["regressed"])), "{row}");
        }
    }
    // The page holds the same text and three figures per heuristic.
    let page = html::page(&results, &a, &md);
    for h in ["conv", "matmul"] {
        for f in ["heatmap", "regions", "speedups"] {
            assert!(page.contains(&format!("id=\"fig-{f}-{h}\"><svg")), "missing figure {f}-{h}");
        }
    }
}

#[test]
fn failures_and_gaps_are_named_not_crashed_on() {
    let mut results = synthetic(CURRENT, &[1, 64, 128, 256]);
    // A candidate that failed to build: no measurements at all.
    let failed = results.candidates.iter_mut().find(|c| c.name == "limit-128").unwrap();
    failed.status = CandidateStatus::BuildFailed;
    failed.error = Some("build failed; see build.log".into());
    for s in results.shapes.iter_mut() {
        s.runs.remove("limit-128");
    }
    // A shape measured at only some limits.
    let partial = results.shapes[3].runs.get_mut("limit-64").unwrap();
    *partial = Measurement { failures: vec!["compile or run error (N.A.)".into(); 3], ..Default::default() };
    // A shape whose every row was N.A.
    for m in results.shapes[7].runs.values_mut() {
        *m = Measurement { failures: vec!["compile or run error (N.A.)".into(); 3], ..Default::default() };
    }
    let (a, _) = analyze(&results, CURRENT, &settings());
    let md = report::markdown(&a);
    assert!(md.contains("candidate limit-128 (build failed): build failed; see build.log"), "{md}");
    let line = results.shapes[3].line;
    assert!(
        md.contains(&format!("- line {line} `{}` at limit-64: compile or run error (N.A.)", results.shapes[3].command)),
        "{md}"
    );
    assert!(md.contains("- shape 7 measured by no candidate"), "{md}");
    assert!(a.unmeasured_shapes.contains(&7));
    // The failed candidate is in the table, with nothing averaged in.
    assert!(md.contains("| limit-128 | build failed | 0 |"), "{md}");
    let _ = html::page(&results, &a, &md);
}

#[test]
fn roofline_column_when_peaks_are_configured() {
    let results = synthetic(CURRENT, &[1, 64, 128, 256]);
    let mut s = settings();
    s.peak_flops = 1.3e15;
    s.peak_bytes_per_s = 5.3e12;
    let (a, _) = analyze(&results, CURRENT, &s);
    assert_eq!(a.roofline.len(), results.shapes.len());
    for r in &a.roofline {
        assert!(r.baseline > 0.0 && r.baseline.is_finite(), "{r:?}");
        assert!(r.recommended.is_some_and(|x| x > 0.0));
    }
    assert!(report::markdown(&a).contains("## Roofline"));
    // Without peaks, no column.
    let (a, _) = analyze(&results, CURRENT, &settings());
    assert!(a.roofline.is_empty() && !report::markdown(&a).contains("## Roofline"));
}

#[test]
fn a_drifting_machine_is_reported() {
    let mut results = synthetic(CURRENT, &[1, 64]);
    let first = results_shapes_baseline(&results);
    let again = |scale: f64| -> Option<Vec<Measurement>> {
        Some(
            first
                .iter()
                .map(|m| Measurement { samples: m.samples.iter().map(|x| x * scale).collect(), ..m.clone() })
                .collect(),
        )
    };
    results.recheck = again(1.0);
    let (a, _) = analyze(&results, CURRENT, &settings());
    let d = a.drift.as_ref().unwrap();
    assert!((d.geomean - 1.0).abs() < 1e-12 && d.moved == 0 && d.warning.is_none());
    results.recheck = again(1.2);
    let (a, _) = analyze(&results, CURRENT, &settings());
    let md = report::markdown(&a);
    assert!(md.contains("the baseline measured 20.0% slower after the candidates"), "{md}");
    assert!(md.contains("Drift check: the baseline, benchmarked again after every candidate, measured 1.200x"), "{md}");
}

fn results_shapes_baseline(results: &Results) -> Vec<Measurement> {
    results.shapes.iter().map(|s| s.runs["baseline"].clone()).collect()
}

#[test]
fn figures_per_commands_file_beside_the_totals() {
    let mut results = synthetic(CURRENT, &FULL);
    let half = results.shapes.len() / 2;
    for s in &mut results.shapes[half..] {
        s.file = "b.txt".into();
    }
    let info = |name: &str, shapes| CommandsFileInfo {
        name: name.into(),
        path: format!("/somewhere/{name}"),
        bundled: None,
        sha256: format!("{name}-hash"),
        shapes,
    };
    results.commands.files = vec![info("w.txt", half), info("b.txt", results.shapes.len() - half)];
    let (a, _) = analyze(&results, CURRENT, &settings());
    let names: Vec<_> = a.files.iter().map(|f| (f.file.as_str(), f.shapes)).collect();
    assert_eq!(names, [("w.txt", half), ("b.txt", results.shapes.len() - half)]);
    let total = a.files_total.as_ref().unwrap();
    let fitted = |f: &crate::core::analysis::FileFigures| f.total.as_ref().map_or(0, |t| t.shapes);
    // Every fitted shape is in exactly one file.
    assert_eq!(a.files.iter().map(fitted).sum::<usize>(), fitted(total));
    for f in a.files.iter().chain([total]) {
        let t = f.total.as_ref().unwrap();
        assert!(t.worst <= t.geomean && t.shapes <= f.shapes, "{f:?}");
    }
    let md = report::markdown(&a);
    assert!(md.contains("### Per commands file"), "{md}");
    let row = md.lines().find(|l| l.starts_with("| `b.txt` |")).unwrap_or_else(|| panic!("{md}"));
    assert_eq!(row.matches(" | ").count(), 5, "{row}");
    assert!(md.lines().any(|l| l.starts_with("| **all files** |")), "{md}");
    // One file: no per-file table (it would repeat the totals).
    let (one, _) = analyze(&synthetic(CURRENT, &FULL), CURRENT, &settings());
    assert!(!report::markdown(&one).contains("Per commands file"));
}

#[test]
fn ambiguous_measurements_make_an_unstable_recommendation() {
    // Repeats that agree: the recommendation comes back every time.
    let mut results = synthetic(CURRENT, &FULL);
    for s in &mut results.shapes {
        for m in s.runs.values_mut() {
            let t = m.median().unwrap();
            m.samples = vec![t; 3];
        }
    }
    let (a, _) = analyze(&results, CURRENT, &settings());
    for h in &a.heuristics {
        let s = h.stability.as_ref().unwrap();
        assert!(s.stable && s.recommendation == 1.0, "{}: {s:?}", h.heuristic);
    }
    // Deliberately ambiguous: each repeat off by up to 25% at random (a
    // seeded generator), so that resampling the repeats changes which limit
    // looks best for many shapes.
    let mut results = synthetic(CURRENT, &FULL);
    let mut rng = crate::core::stats::Rng::new(14);
    for s in &mut results.shapes {
        for m in s.runs.values_mut() {
            for x in &mut m.samples {
                *x *= 1.0 + 0.25 * (rng.below(2001) as f64 / 1000.0 - 1.0);
            }
        }
    }
    let (a, _) = analyze(&results, CURRENT, &settings());
    let unstable: Vec<_> = a.heuristics.iter().filter(|h| h.stability.as_ref().is_some_and(|s| !s.stable)).collect();
    assert!(!unstable.is_empty(), "{:?}", a.heuristics.iter().map(|h| &h.stability).collect::<Vec<_>>());
    let md = report::markdown(&a);
    assert!(md.contains("**unstable: comes back in only"), "{md}");
    let json = serde_json::to_value(&a).unwrap();
    assert!(json["heuristics"].as_array().unwrap().iter().any(|h| h["stability"]["stable"] == false));
}

#[test]
fn a_noise_of_exactly_zero_is_flagged_as_implausible() {
    let mut results = synthetic(CURRENT, &[1, 64]);
    let (a, _) = analyze(&results, CURRENT, &settings());
    assert!(a.noise > 0.0 && a.noise_warning.is_none());
    assert!(!report::markdown(&a).contains("exactly 0"));
    for m in results.shapes.iter_mut().flat_map(|s| s.runs.values_mut()) {
        let t = m.samples[1];
        m.samples = vec![t; 3];
    }
    let (a, _) = analyze(&results, CURRENT, &settings());
    assert_eq!(a.noise, 0.0);
    let md = report::markdown(&a);
    assert!(md.contains("> **Warning:** the measured noise is exactly 0: every repeat"), "{md}");
    // One run per measurement shows no noise either way: nothing to flag.
    for m in results.shapes.iter_mut().flat_map(|s| s.runs.values_mut()) {
        m.samples.truncate(1);
    }
    let (a, _) = analyze(&results, CURRENT, &settings());
    assert!(a.noise_warning.is_none());
}

#[test]
fn a_rule_that_cannot_be_written_says_so_beside_the_recommendation() {
    let (_, mut a, _) = run(CURRENT);
    let h = &mut a.heuristics[0];
    assert!(h.rule.is_some());
    h.error = Some("the editor cannot place a rung here".into());
    let md = report::markdown(&a);
    assert!(
        md.contains("recommended; cross-validated")
            && md.contains("  No patch is written: the editor cannot place a rung here."),
        "{md}"
    );
}

/// A comment that restates the bound of the rung above it follows the
/// rung's new bound (or that of a rung inserted between them), in the
/// comment's own spacing.
#[test]
fn a_comment_that_states_a_moved_threshold_states_the_new_one() {
    let with_comments = CURRENT
        .replacen(
            "  if (outputSize <= 64 * 64) {\n    return 128;\n  }\n",
            "  if (outputSize <= 64 * 64) {\n    return 128;\n  }\n  // outputSize > 64*64 from here on.\n",
            1,
        )
        .replacen(
            "  if (outputSize <= 256 * 256) {\n    return 32;\n  }\n",
            "  if (outputSize <= 256 * 256) {\n    return 32;\n  }\n  // Here outputSize > 256 * 256.\n",
            1,
        );
    assert_eq!(with_comments.matches("// outputSize > 64*64").count(), 1);
    assert_eq!(with_comments.matches("// Here outputSize > 256 * 256").count(), 1);
    let results = synthetic(&with_comments, &FULL);
    let (_, patches) = analyze(&results, &with_comments, &settings());
    let p = patches.iter().find(|p| p.heuristic == Heuristic::Matmul).expect("a matmul patch");
    // Each comment states the bound of the last rung above it.
    let mut last = None;
    let mut checked = 0;
    for line in p.source.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("if (outputSize <= ") {
            last = Some(rest.split(')').next().unwrap().replace(' ', ""));
        }
        if let Some(c) = t.strip_prefix("//").filter(|c| c.contains("outputSize >")) {
            let stated = c.split("outputSize > ").nth(1).unwrap().split([' ', '.']).take_while(|w| !w.is_empty());
            let stated: String = stated.collect::<Vec<_>>().join(" ");
            let stated = stated.split(" from").next().unwrap().replace(' ', "");
            assert_eq!(Some(stated), last.clone(), "{line}\n{}", p.diff);
            checked += 1;
        }
    }
    assert_eq!(checked, 2, "{}", p.diff);
}
