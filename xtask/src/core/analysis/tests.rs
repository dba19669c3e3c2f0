//! Analysis on synthetic sweep results: snapshots of the generated C++ in
//! both code styles, agreement of report.md with analysis.json, and reports
//! of results with failures and gaps.
//!
//! The runtimes come from a small analytic GPU model evaluated on the split
//! each candidate's limit gives (the same tile walk the compiler uses), so
//! the best limit depends on the shape as it does on real hardware.

use crate::core::analysis::{analyze, Analysis, HeuristicPatch, Settings};
use crate::core::cpp::{CppFile, FunctionNames};
use crate::core::decide::{self, Model};
use crate::core::results::*;
use crate::core::workload::{parse_commands, Heuristic};
use crate::core::{html, report};
use std::collections::BTreeMap;

const CURRENT: &str = include_str!(
    "../../../../tests/fixtures/iree/compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp"
);
const INLINE_2025: &str = include_str!(
    "../../../../tests/fixtures/history/2025-inline/compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp"
);
const WORKLOAD: &str = include_str!("../../../../workloads/conv_weight_backward.txt");

/// Microseconds for a shape split into `tiles` (None: not split).
fn model_time(output: i64, dims: &[i64], tiles: Option<&[i64]>) -> f64 {
    let reduction: i64 = dims.iter().product();
    let s = tiles.map(|t| decide::split_factor(dims, t)).unwrap_or(1) as f64;
    let wgs = ((output as f64) / 4096.0).ceil() * s;
    let waves = (wgs / 608.0).ceil();
    let per_wg = 4096f64.min(output as f64) * (reduction as f64 / s) * 2.0 / 2.0e6;
    let partial = if s > 1.0 { s * output as f64 * 4.0 / 4.0e6 + 4.0 } else { 0.0 };
    4.0 + waves * per_wg + partial
}

fn synthetic(source: &str, limits: &[i64]) -> Results {
    let (shapes, _) = parse_commands(WORKLOAD);
    let file = CppFile::parse(source);
    let models: BTreeMap<Heuristic, Model> = Heuristic::ALL
        .iter()
        .map(|&h| (h, Model::from_site(&file.locate(h, &FunctionNames::iree_defaults(h)).unwrap())))
        .collect();
    let mut candidates = vec![info("baseline", None)];
    candidates.extend(limits.iter().map(|&l| info(&candidate_name(Some(l)), Some(l))));
    let shapes = shapes
        .into_iter()
        .enumerate()
        .map(|(id, s)| {
            let f = &s.features;
            let base = decide::modelled(f, &models[&f.heuristic], false);
            let mut decisions = BTreeMap::new();
            let mut runs = BTreeMap::new();
            let time = |tiles: Option<&[i64]>| model_time(f.output_size, &f.reduction_dims, tiles);
            let t = time(base.tile_sizes.as_deref());
            runs.insert("baseline".to_string(), sample(t));
            decisions.insert("baseline".to_string(), base);
            for &l in limits {
                let d = decide::fixed(f, l);
                runs.insert(candidate_name(Some(l)), sample(time(d.tile_sizes.as_deref())));
                decisions.insert(candidate_name(Some(l)), d);
            }
            ShapeResult { id, line: s.line, command: s.command, op: s.op, features: s.features, runs, decisions }
        })
        .collect();
    Results {
        schema: SCHEMA,
        tool_version: "test".into(),
        run: "synthetic".into(),
        target: TargetInfo {
            checkout: "/nowhere".into(),
            rev: "HEAD".into(),
            commit: "0123456789abcdef".into(),
            heuristic_file: "compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp".into(),
            styles: BTreeMap::new(),
        },
        commands: CommandsInfo { path: "w.txt".into(), sha256: "feedfacefeedface".into(), skipped: vec![] },
        bench: BenchInfo {
            command: "boo".into(),
            column: "iree_boo_experimental mean".into(),
            device: "0".into(),
            repeats: 3,
        },
        heuristics: vec![Heuristic::Conv, Heuristic::Matmul],
        candidates,
        shapes,
        recheck: None,
    }
}

fn info(name: &str, limit: Option<i64>) -> CandidateInfo {
    CandidateInfo {
        name: name.into(),
        limit,
        branch: format!("tune/synthetic/{name}"),
        commit: String::new(),
        key: String::new(),
        status: CandidateStatus::Ok,
        build_seconds: None,
        bench_seconds: None,
        error: None,
    }
}

/// Three repeats with a 1% deterministic spread.
fn sample(t: f64) -> Measurement {
    Measurement { samples: vec![t * 0.99, t, t * 1.01], dispatches: Some(1.0), ..Default::default() }
}

fn settings() -> Settings {
    Settings {
        pins: Default::default(),
        low_parallelism: false,
        folds: 5,
        max_rungs: 6,
        peak_flops: 0.0,
        peak_bytes_per_s: 0.0,
        names: Heuristic::ALL.iter().map(|&h| (h, FunctionNames::iree_defaults(h))).collect(),
    }
}

const FULL: [i64; 10] = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

fn run(source: &str) -> (Results, Analysis, Vec<HeuristicPatch>) {
    let results = synthetic(source, &FULL);
    let (a, p) = analyze(&results, source, &settings());
    (results, a, p)
}

fn cpp(a: &Analysis, h: Heuristic) -> String {
    let ha = a.heuristics.iter().find(|x| x.heuristic == h).unwrap();
    assert!(ha.error.is_none(), "{h}: {:?}", ha.error);
    ha.cpp.clone().unwrap_or_else(|| panic!("{h}: no C++"))
}

#[test]
fn generated_cpp_in_the_2026_helper_style() {
    let (_, a, patches) = run(CURRENT);
    insta::assert_snapshot!("helper_style_conv", cpp(&a, Heuristic::Conv));
    insta::assert_snapshot!("helper_style_matmul", cpp(&a, Heuristic::Matmul));
    assert_eq!(patches.len(), 2);
}

#[test]
fn generated_cpp_in_the_2025_inline_style() {
    let (_, a, _) = run(INLINE_2025);
    insta::assert_snapshot!("inline_style_conv", cpp(&a, Heuristic::Conv));
    insta::assert_snapshot!("inline_style_matmul", cpp(&a, Heuristic::Matmul));
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
    assert!(md.contains("candidate limit-128 BuildFailed: build failed; see build.log"), "{md}");
    let line = results.shapes[3].line;
    assert!(
        md.contains(&format!("- line {line} `{}` at limit-64: compile or run error (N.A.)", results.shapes[3].command)),
        "{md}"
    );
    assert!(md.contains("- shape 7 measured by no candidate"), "{md}");
    assert!(a.unmeasured_shapes.contains(&7));
    // The failed candidate is in the table, with nothing averaged in.
    assert!(md.contains("| limit-128 | buildfailed | 0 |"), "{md}");
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
