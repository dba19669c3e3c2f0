//! From a sweep's results to everything the report shows: statistics per
//! candidate, comparisons with the baseline, clusters, fitted and
//! cross-validated strategies, the recommended rule as C++, top speedups, and
//! the checks that catch a benchmark that never saw the patch.
//!
//! This is the one place the numbers of `report.md`, `report.html` and
//! `analysis.json` come from; the renderers only format them. Pure: results
//! and source text in, an [`Analysis`] and patched sources out.

use crate::core::cpp::{emit, patch, CppFile, FunctionNames, Site};
use crate::core::decide::{self, Model};
use crate::core::difftext;
use crate::core::fit::{
    self, Choice, EarlyReturns, Evaluation, LimitSpec, Params, Rule, ShapeOutcome, Strategy, Table,
};
use crate::core::results::{candidate_name, CandidateStatus, Measurement, Results};
use crate::core::stats::{self, Summary, Verdict};
use crate::core::workload::Heuristic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Settings of an analysis.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Shapes the rules must not regress beyond noise (from validation).
    pub pins: fit::Pins,
    /// The sweep measured low-parallelism targets (RDNA-class GPUs).
    pub low_parallelism: bool,
    pub folds: usize,
    pub max_rungs: usize,
    pub peak_flops: f64,
    pub peak_bytes_per_s: f64,
    pub names: BTreeMap<Heuristic, FunctionNames>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    pub compared: usize,
    pub improved: usize,
    pub neutral: usize,
    pub regressed: usize,
    /// improved / compared.
    pub win_rate: f64,
    pub geomean_speedup: f64,
    /// Sum of baseline times over sum of candidate times.
    pub total_speedup: f64,
    pub max_speedup: f64,
    pub worst_speedup: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CandidateSummary {
    pub name: String,
    pub limit: Option<i64>,
    pub status: CandidateStatus,
    pub error: Option<String>,
    pub measured: usize,
    pub failed: usize,
    pub summary: Option<Summary>,
    pub vs_baseline: Option<Comparison>,
    /// Shapes whose split this candidate changes, predicted from the code.
    pub predicted_changes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    pub shape: usize,
    pub line: usize,
    pub command: String,
    pub candidate: String,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cluster {
    pub limit: LimitSpec,
    pub count: usize,
    pub output_min: i64,
    pub output_max: i64,
    pub reduction_min: i64,
    pub reduction_max: i64,
    /// Geomean speedup of the best limit over the baseline in the cluster.
    pub geomean_speedup: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeuristicAnalysis {
    pub heuristic: Heuristic,
    pub style: String,
    pub function: String,
    pub shapes: usize,
    pub excluded: Vec<(usize, String)>,
    pub imputed: Vec<(usize, i64)>,
    /// The fitting's columns: measured limits and the current ladder's values.
    pub limits: Vec<LimitSpec>,
    pub clusters: Vec<Cluster>,
    pub strategies: Vec<Evaluation>,
    pub recommended: Strategy,
    pub rule: Option<Rule>,
    /// The early-return constants as the code has them now.
    pub constants_before: BTreeMap<String, f64>,
    /// The recommended rule's choice per shape (fitted on all shapes).
    pub outcomes: Vec<ShapeOutcome>,
    /// The oracle's geomean speedup (best measured choice per shape).
    pub oracle_geomean: f64,
    /// The measured ranges of outputSize and reductionSize: outside them
    /// the rule extrapolates.
    pub output_range: (i64, i64),
    pub reduction_range: (i64, i64),
    /// Cross-validated geomean of the recommendation minus that of the
    /// original toolkit's method, as a ratio (1.02 = 2% better).
    pub vs_original_toolkit: f64,
    /// The rule as C++ (the changed function), and the diff.
    pub cpp: Option<String>,
    pub diff: String,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TopSpeedup {
    pub shape: usize,
    pub command: String,
    pub best: String,
    pub runtime: f64,
    pub baseline: f64,
    pub speedup: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Drift {
    pub geomean: f64,
    pub shapes: usize,
    pub moved: usize,
    pub warning: Option<String>,
}

/// Compares the baseline's recheck with its first measurement.
fn drift(results: &Results) -> Option<Drift> {
    let recheck = results.recheck.as_ref()?;
    let (mut ratios, mut moved) = (Vec::new(), 0);
    for (s, r) in results.shapes.iter().zip(recheck) {
        let Some((speedup, v)) = s.runs.get("baseline").and_then(|b| r.versus(b)) else { continue };
        ratios.push(1.0 / speedup);
        if v != Verdict::Neutral {
            moved += 1;
        }
    }
    let geomean = stats::geomean(&ratios)?;
    let warning = (moved * 10 > ratios.len()).then(|| {
        format!(
            "the baseline measured {} after the candidates than before ({} of {} shapes beyond noise): the \
             machine drifted during the sweep (clocks, temperature, other load); rankings between candidates \
             measured far apart are less certain; `validate` compares within rounds and is not affected",
            if geomean >= 1.0 {
                format!("{:.1}% slower", 100.0 * (geomean - 1.0))
            } else {
                format!("{:.1}% faster", 100.0 * (1.0 - geomean))
            },
            moved,
            ratios.len()
        )
    });
    Some(Drift { geomean, shapes: ratios.len(), moved, warning })
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Roofline {
    pub shape: usize,
    /// Achieved fraction of the roofline time at baseline and with the
    /// recommended rule.
    pub baseline: f64,
    pub recommended: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Analysis {
    pub run: String,
    pub target_commit: String,
    pub target_rev: String,
    pub heuristic_file: String,
    pub commands_sha256: String,
    pub device: String,
    pub column: String,
    pub repeats: u32,
    /// Folds of the cross-validation.
    pub folds: usize,
    pub shapes: usize,
    pub skipped_lines: Vec<(usize, String)>,
    pub candidates: Vec<CandidateSummary>,
    pub failures: Vec<Failure>,
    /// Shapes measured by only some of the candidates that ran.
    pub partial_shapes: Vec<(usize, Vec<String>)>,
    /// Shapes no candidate measured at all.
    pub unmeasured_shapes: Vec<usize>,
    /// Median relative noise of the measurements, and where it came from.
    pub noise: f64,
    pub noise_source: String,
    pub heuristics: Vec<HeuristicAnalysis>,
    pub top_speedups: Vec<TopSpeedup>,
    /// Set when the candidates look like they never reached the benchmark.
    pub noop_warning: Option<String>,
    /// The baseline re-measured after the candidates, over the first
    /// measurement (geomean), and the shapes that moved beyond noise.
    pub drift: Option<Drift>,
    /// Shapes whose decision no candidate changes (wasted benchmark time).
    pub unchanged_shapes: Vec<usize>,
    pub roofline: Vec<Roofline>,
    /// Filled by `validate`.
    pub validation: Option<serde_json::Value>,
}

/// The recommended change of one heuristic, applied to the file.
#[derive(Clone, Debug)]
pub struct HeuristicPatch {
    pub heuristic: Heuristic,
    /// The file with only this heuristic changed.
    pub source: String,
    pub diff: String,
    /// The rule in words.
    pub rule: String,
    site: Site,
    edits: Vec<patch::Edit>,
}

/// The file with every recommended change at once (what validation builds).
pub fn combined_source(source: &str, patches: &[HeuristicPatch]) -> Result<String, String> {
    let sites: Vec<Site> = patches.iter().map(|p| p.site.clone()).collect();
    let edits: Vec<patch::Edit> = patches.iter().flat_map(|p| p.edits.clone()).collect();
    patch::apply_checked(source, &sites, &edits)
}

/// A candidate against the baseline on the shapes both measured.
pub fn compare(results: &Results, candidate: &str) -> Option<Comparison> {
    let mut speedups = Vec::new();
    let (mut base_total, mut cand_total) = (0.0, 0.0);
    let (mut improved, mut neutral, mut regressed) = (0, 0, 0);
    for s in &results.shapes {
        let (Some(b), Some(c)) = (s.runs.get("baseline"), s.runs.get(candidate)) else { continue };
        let (Some(bm), Some(cm), Some((sp, v))) = (b.median(), c.median(), c.versus(b)) else { continue };
        speedups.push(sp);
        base_total += bm;
        cand_total += cm;
        match v {
            Verdict::Improved => improved += 1,
            Verdict::Neutral => neutral += 1,
            Verdict::Regressed => regressed += 1,
        }
    }
    if speedups.is_empty() {
        return None;
    }
    Some(Comparison {
        compared: speedups.len(),
        improved,
        neutral,
        regressed,
        win_rate: improved as f64 / speedups.len() as f64,
        geomean_speedup: stats::geomean(&speedups)?,
        total_speedup: base_total / cand_total,
        max_speedup: speedups.iter().cloned().fold(f64::MIN, f64::max),
        worst_speedup: speedups.iter().cloned().fold(f64::MAX, f64::min),
    })
}

fn clusters(table: &Table) -> Vec<Cluster> {
    let mut by: BTreeMap<LimitSpec, Vec<&fit::Row>> = BTreeMap::new();
    for r in &table.rows {
        if let (Choice::Limit(l), _) = fit::oracle(r, &table.limits) {
            by.entry(l).or_default().push(r);
        }
    }
    by.into_iter()
        .rev()
        .map(|(limit, rows)| Cluster {
            limit,
            count: rows.len(),
            output_min: rows.iter().map(|r| r.output).min().unwrap(),
            output_max: rows.iter().map(|r| r.output).max().unwrap(),
            reduction_min: rows.iter().map(|r| r.reduction).min().unwrap(),
            reduction_max: rows.iter().map(|r| r.reduction).max().unwrap(),
            geomean_speedup: stats::geomean(
                &rows.iter().map(|r| r.baseline / fit::oracle(r, &table.limits).1).collect::<Vec<_>>(),
            )
            .unwrap_or(1.0),
        })
        .collect()
}

/// Checks that the emitted C++ decides every shape the way the rule does,
/// by reading the patched file back and evaluating it.
/// Whether the current code has a low-parallelism variant to keep.
fn emit_keeps_variant(old: &Model) -> bool {
    let mut vars = Vec::new();
    fn walk(stmts: &[crate::core::cpp::rules::Stmt], vars: &mut Vec<String>) {
        use crate::core::cpp::rules::Stmt;
        for s in stmts {
            match s {
                Stmt::If { cond, then, els } => {
                    cond.vars(vars);
                    walk(then, vars);
                    walk(els, vars);
                }
                Stmt::Return(e) | Stmt::Assign(_, e) => e.vars(vars),
                Stmt::Other(_) => {}
            }
        }
    }
    walk(&old.ladder, &mut vars);
    vars.iter().any(|v| v == "lowParallelism")
}

/// Also checks that the target the sweep did not tune decides every shape as
/// before (`old` is the current code's model).
#[allow(clippy::too_many_arguments)]
fn verify_emitted(
    patched: &str,
    heuristic: Heuristic,
    names: &FunctionNames,
    results: &Results,
    table: &Table,
    rule: &Rule,
    er: &EarlyReturns,
    old: &Model,
    low: bool,
) -> Result<(), String> {
    let site = CppFile::parse(patched).locate(heuristic, names).map_err(|e| e.0)?;
    let model = Model::from_site(&site);
    for row in &table.rows {
        let features = &results.shapes[row.shape].features;
        // The ladder only: early returns are shared by both targets, and
        // their constants may change (the report says so).
        let ladder_only = |m: &Model| Model { early_returns: vec![], ..m.clone() };
        let (before, after) = (
            decide::modelled(features, &ladder_only(old), !low),
            decide::modelled(features, &ladder_only(&model), !low),
        );
        let has_variant = emit_keeps_variant(old);
        if has_variant
            && before.unknown.is_none()
            && (before.limit, &before.tile_sizes) != (after.limit, &after.tile_sizes)
        {
            return Err(format!(
                "the generated code changes what {} targets (which the sweep did not measure) do for `{}`",
                if low { "default" } else { "low-parallelism" },
                results.shapes[row.shape].command
            ));
        }
        let d = decide::modelled(features, &model, low);
        if let Some(u) = d.unknown {
            return Err(format!("the generated code cannot be evaluated: {u}"));
        }
        let got = d.limit.unwrap_or(1);
        let want = if er.fires(row, &rule.constants) {
            1
        } else {
            rule.ladder.limit(row.output, row.reduction).effective(row.start_tile)
        };
        if got != want {
            return Err(format!(
                "the generated code gives limit {got} for `{}` but the rule gives {want}",
                results.shapes[row.shape].command
            ));
        }
    }
    Ok(())
}

fn analyze_heuristic(
    results: &Results,
    source: &str,
    h: Heuristic,
    settings: &Settings,
) -> (HeuristicAnalysis, Option<HeuristicPatch>) {
    let names = settings.names.get(&h).cloned().unwrap_or_else(|| FunctionNames::iree_defaults(h));
    let located = CppFile::parse(source).locate(h, &names);
    let current = located.as_ref().map(|s| fit::ladder_specs(&s.ladder, settings.low_parallelism)).unwrap_or_default();
    let table = fit::table(results, h, &current);
    let empty = |style: String, function: String, error: String| HeuristicAnalysis {
        heuristic: h,
        style,
        function,
        shapes: table.rows.len(),
        excluded: table.excluded.clone(),
        imputed: table.imputed.clone(),
        limits: table.limits.clone(),
        clusters: clusters(&table),
        strategies: vec![],
        recommended: Strategy::Baseline,
        rule: None,
        constants_before: BTreeMap::new(),
        outcomes: vec![],
        oracle_geomean: 1.0,
        output_range: (0, 0),
        reduction_range: (0, 0),
        vs_original_toolkit: 1.0,
        cpp: None,
        diff: String::new(),
        error: Some(error),
    };
    let site: Site = match located {
        Ok(s) => s,
        Err(e) => return (empty(String::new(), String::new(), e.0), None),
    };
    if table.rows.is_empty() {
        let why = "no shape of this heuristic has both a baseline and a candidate measurement".to_string();
        return (empty(site.style.name().into(), site.function.name.clone(), why), None);
    }
    let model = Model::from_site(&site);
    let er = EarlyReturns::from_model(&model, settings.low_parallelism);
    let params = Params {
        max_rungs: settings.max_rungs.max(1),
        folds: settings.folds.max(2),
        inclusive: emit::uses_inclusive(&site),
        allow_2d: emit::names(&site, source).reduction.is_some(),
    };
    let evals = fit::evaluate(&table, &er, &params, &settings.pins);
    let rec = fit::recommend(&evals);
    let (rec_eval, rec_fit) = &evals[rec];
    let toolkit =
        evals.iter().find(|(e, _)| e.strategy == Strategy::OriginalToolkit).map(|(e, _)| e.cv_geomean).unwrap_or(1.0);
    let oracle_geomean =
        stats::geomean(&table.rows.iter().map(|r| r.baseline / fit::oracle(r, &table.limits).1).collect::<Vec<_>>())
            .unwrap_or(1.0);
    let mut analysis = HeuristicAnalysis {
        heuristic: h,
        style: site.style.name().to_string(),
        function: site.function.name.clone(),
        shapes: table.rows.len(),
        excluded: table.excluded.clone(),
        imputed: table.imputed.clone(),
        limits: table.limits.clone(),
        clusters: clusters(&table),
        strategies: evals.iter().map(|(e, _)| e.clone()).collect(),
        recommended: rec_eval.strategy,
        rule: rec_fit.rule.clone(),
        constants_before: er.constants.clone(),
        outcomes: fit::outcomes(&table, rec_fit, &er),
        oracle_geomean,
        output_range: (
            table.rows.iter().map(|r| r.output).min().unwrap_or(0),
            table.rows.iter().map(|r| r.output).max().unwrap_or(0),
        ),
        reduction_range: (
            table.rows.iter().map(|r| r.reduction).min().unwrap_or(0),
            table.rows.iter().map(|r| r.reduction).max().unwrap_or(0),
        ),
        vs_original_toolkit: rec_eval.cv_geomean / toolkit,
        cpp: None,
        diff: String::new(),
        error: None,
    };
    let Some(rule) = &rec_fit.rule else {
        analysis.error =
            Some("no strategy beats the current code without regressing a shape; nothing to change".into());
        return (analysis, None);
    };
    let envs: Vec<(i64, i64, crate::core::cpp::rules::Env)> = table
        .rows
        .iter()
        .map(|r| {
            let f = &results.shapes[r.shape].features;
            (r.output, r.reduction, decide::env(f, &model.constants, settings.low_parallelism))
        })
        .collect();
    let low = emit::keep(&site, &rule.ladder, &envs, settings.low_parallelism);
    let edits = match emit::rule_edits(source, &site, rule, &low) {
        Ok(e) => e,
        Err(e) => {
            analysis.error = Some(format!("cannot write the rule as C++: {e}"));
            return (analysis, None);
        }
    };
    let patched = patch::apply_checked(source, std::slice::from_ref(&site), &edits).and_then(|p| {
        verify_emitted(&p, h, &names, results, &table, rule, &er, &model, settings.low_parallelism).map(|_| p)
    });
    match patched {
        Ok(p) => {
            let diff = difftext::unified(&results.target.heuristic_file, source, &p);
            let new_site = CppFile::parse(&p).locate(h, &names).ok();
            // The changed code: the helper (2026 style), or the new chain
            // and the changed constants (2025 style).
            analysis.cpp = new_site.map(|s| match &s.style {
                crate::core::cpp::LadderStyle::Helper { helper, .. } => p[helper.range.clone()].to_string(),
                crate::core::cpp::LadderStyle::Inline { decl, chain } => {
                    let mut text = String::new();
                    for c in s.constants.iter().filter(|c| rule.constants.contains_key(&c.name)) {
                        text.push_str(&format!("{}const int64_t {} = {};\n", s.indent, c.name, c.value_text));
                    }
                    text.push_str(&format!("{}{}\n{}{}", s.indent, &p[decl.clone()], s.indent, &p[chain.clone()]));
                    text
                }
            });
            analysis.diff = diff.clone();
            let words = crate::core::report::describe_rule(rule, "outputSize", &er.constants);
            (analysis, Some(HeuristicPatch { heuristic: h, source: p, diff, rule: words, site, edits }))
        }
        Err(e) => {
            analysis.error = Some(format!("cannot write the rule as C++: {e}"));
            (analysis, None)
        }
    }
}

/// Analyses a sweep. `source` is the heuristic file at the tuned revision.
pub fn analyze(results: &Results, source: &str, settings: &Settings) -> (Analysis, Vec<HeuristicPatch>) {
    let candidates: Vec<CandidateSummary> = results
        .candidates
        .iter()
        .map(|c| {
            let meds: Vec<f64> =
                results.shapes.iter().filter_map(|s| s.runs.get(&c.name).and_then(Measurement::median)).collect();
            let failed = results.shapes.iter().filter(|s| s.runs.get(&c.name).is_some_and(|m| !m.ok())).count();
            CandidateSummary {
                name: c.name.clone(),
                limit: c.limit,
                status: c.status.clone(),
                error: c.error.clone(),
                measured: meds.len(),
                failed,
                summary: stats::summary(&meds),
                vs_baseline: if c.name == "baseline" { None } else { compare(results, &c.name) },
                predicted_changes: results
                    .shapes
                    .iter()
                    .filter(|s| match (s.decisions.get("baseline"), s.decisions.get(&c.name)) {
                        (Some(b), Some(d)) => b.tile_sizes != d.tile_sizes || b.limit.is_some() != d.limit.is_some(),
                        _ => false,
                    })
                    .count(),
            }
        })
        .collect();
    let ran: Vec<&str> = results
        .candidates
        .iter()
        .filter(|c| c.status != CandidateStatus::Pending && c.status != CandidateStatus::BuildFailed)
        .map(|c| c.name.as_str())
        .collect();
    let mut failures = Vec::new();
    let mut partial = Vec::new();
    let mut unmeasured = Vec::new();
    for (i, s) in results.shapes.iter().enumerate() {
        let mut missing = Vec::new();
        for c in &ran {
            match s.runs.get(*c) {
                Some(m) if m.ok() => {}
                Some(m) => {
                    missing.push(c.to_string());
                    failures.push(Failure {
                        shape: i,
                        line: s.line,
                        command: s.command.clone(),
                        candidate: c.to_string(),
                        reasons: m.failures.clone(),
                    });
                }
                None => missing.push(c.to_string()),
            }
        }
        if !ran.is_empty() && missing.len() == ran.len() {
            unmeasured.push(i);
        } else if !missing.is_empty() {
            partial.push((i, missing));
        }
    }
    let noises: Vec<f64> =
        results.shapes.iter().flat_map(|s| s.runs.values()).filter_map(Measurement::relative_noise).collect();
    let noise = crate::core::results::median(&noises).unwrap_or(0.0);
    let has_repeats = results.shapes.iter().flat_map(|s| s.runs.values()).any(|m| m.samples.len() > 1);
    let has_spread = results.shapes.iter().flat_map(|s| s.runs.values()).any(|m| !m.spread.is_empty());
    let noise_source = match (has_repeats, has_spread) {
        (true, true) => "repeats and the driver's per-run spread",
        (true, false) => "repeats",
        (false, true) => "the driver's per-run spread",
        (false, false) => "none measured (one run, no spread): a 0.5% floor is used",
    }
    .to_string();

    let mut heuristics = Vec::new();
    let mut patches = Vec::new();
    for &h in &results.heuristics {
        let (a, p) = analyze_heuristic(results, source, h, settings);
        heuristics.push(a);
        patches.extend(p);
    }

    // Top speedups: the best measured candidate per shape.
    let mut top: Vec<TopSpeedup> = results
        .shapes
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let b = s.runs.get("baseline")?.median()?;
            let (best, r) = s
                .runs
                .iter()
                .filter(|(n, _)| n.as_str() != "baseline")
                .filter_map(|(n, m)| Some((n.clone(), m.median()?)))
                .min_by(|a, b| a.1.total_cmp(&b.1))?;
            Some(TopSpeedup { shape: i, command: s.command.clone(), best, runtime: r, baseline: b, speedup: b / r })
        })
        .collect();
    top.sort_by(|a, b| b.speedup.total_cmp(&a.speedup));
    top.truncate(20);

    let noop_warning = noop_check(results);
    let unchanged_shapes = results
        .shapes
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            let Some(base) = s.decisions.get("baseline") else { return false };
            base.unknown.is_none()
                && s.decisions.iter().all(|(_, d)| {
                    d.unknown.is_none()
                        && d.tile_sizes == base.tile_sizes
                        && (d.limit.is_some() == base.limit.is_some())
                })
        })
        .map(|(i, _)| i)
        .collect();

    let mut roofline = Vec::new();
    if settings.peak_flops > 0.0 && settings.peak_bytes_per_s > 0.0 {
        let outcome_of: BTreeMap<usize, &ShapeOutcome> =
            heuristics.iter().flat_map(|h| h.outcomes.iter().map(|o| (o.shape, o))).collect();
        for (i, s) in results.shapes.iter().enumerate() {
            let Some(b) = s.runs.get("baseline").and_then(Measurement::median) else { continue };
            // Runtimes are microseconds.
            let ideal =
                (s.features.flops / settings.peak_flops).max(s.features.bytes / settings.peak_bytes_per_s) * 1e6;
            let rec = outcome_of.get(&i).and_then(|o| o.runtime).map(|r| ideal / r);
            roofline.push(Roofline { shape: i, baseline: ideal / b, recommended: rec });
        }
    }

    let analysis = Analysis {
        run: results.run.clone(),
        target_commit: results.target.commit.clone(),
        target_rev: results.target.rev.clone(),
        heuristic_file: results.target.heuristic_file.clone(),
        commands_sha256: results.commands.sha256.clone(),
        device: results.bench.device.clone(),
        column: results.bench.column.clone(),
        repeats: results.bench.repeats,
        folds: settings.folds.max(2),
        shapes: results.shapes.len(),
        skipped_lines: results.commands.skipped.iter().map(|b| (b.line, b.error.clone())).collect(),
        candidates,
        failures,
        partial_shapes: partial,
        unmeasured_shapes: unmeasured,
        noise,
        noise_source,
        heuristics,
        top_speedups: top,
        noop_warning,
        drift: drift(results),
        unchanged_shapes,
        roofline,
        validation: None,
    };
    (analysis, patches)
}

/// Flags a sweep whose candidates all measure like the baseline: if the
/// decisions predict changes (different splits, so different kernel counts)
/// but no candidate differs beyond noise, or the kernel count never moves,
/// the patched compiler probably never reached the benchmark.
pub fn noop_check(results: &Results) -> Option<String> {
    let ran: Vec<&str> = results
        .candidates
        .iter()
        .filter(|c| c.limit.is_some() && c.status == CandidateStatus::Ok)
        .map(|c| c.name.as_str())
        .collect();
    if ran.is_empty() {
        return None;
    }
    let mut predicted_changes = 0;
    let mut measured_changes = 0;
    let mut dispatch_changes = 0;
    let mut dispatch_known = 0;
    let mut predicted_dispatch_changes = 0;
    for s in &results.shapes {
        let Some(base) = s.runs.get("baseline") else { continue };
        let base_d = s.decisions.get("baseline");
        for c in &ran {
            let Some(m) = s.runs.get(*c) else { continue };
            let d = s.decisions.get(*c);
            let predicted = match (base_d, d) {
                (Some(b), Some(x)) if b.unknown.is_none() && x.unknown.is_none() => {
                    b.tile_sizes != x.tile_sizes || b.limit.is_some() != x.limit.is_some()
                }
                _ => false,
            };
            if predicted {
                predicted_changes += 1;
                let split = |dd: Option<&crate::core::results::Decision>| {
                    dd.and_then(|x| x.tile_sizes.clone()).map(|t| t != s.features.reduction_dims).unwrap_or(false)
                };
                if split(base_d) != split(d) {
                    predicted_dispatch_changes += 1;
                }
            }
            if m.versus(base).is_some_and(|(_, v)| v != Verdict::Neutral) {
                measured_changes += 1;
            }
            if let (Some(bd), Some(cd)) = (base.dispatches, m.dispatches) {
                dispatch_known += 1;
                if bd != cd {
                    dispatch_changes += 1;
                }
            }
        }
    }
    let causes = "likely causes: a stale kernel cache shared between builds, an `iree-compile` \
                  or Python bindings on PATH/PYTHONPATH that are not the candidate build's, or a \
                  benchmark command that ignores the build; run `cargo xtask doctor`";
    if predicted_changes > 0 && measured_changes == 0 {
        return Some(format!(
            "the patch may not have reached the benchmark: the candidates change the split of \
             {predicted_changes} (shape, candidate) pairs, yet every candidate measures the same as \
             the baseline within noise; {causes}"
        ));
    }
    if predicted_dispatch_changes > 0 && dispatch_known > 0 && dispatch_changes == 0 {
        return Some(format!(
            "the patch may not have reached the benchmark: {predicted_dispatch_changes} (shape, \
             candidate) pairs should change between one and two kernels, yet `num_dispatches` never \
             changes; {causes}"
        ));
    }
    None
}

/// The name of the recommended choice of a shape, for tables.
pub fn choice_name(c: &Choice) -> String {
    match c {
        Choice::Baseline => "baseline".into(),
        Choice::Limit(LimitSpec::Fixed(1)) => "no split".into(),
        Choice::Limit(LimitSpec::Fixed(l)) => candidate_name(Some(*l)),
        Choice::Limit(spec) => spec.to_string(),
    }
}
