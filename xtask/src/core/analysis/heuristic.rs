//! One heuristic's analysis: the table of its shapes, every strategy fitted
//! and cross-validated, the recommendation, and the recommended rule written
//! into the file and read back (it must decide as the rule does for the
//! target swept, and as the old code does for the other target).

use super::{Cluster, HeuristicAnalysis, HeuristicPatch, Settings};
use crate::core::cpp::rules::Env;
use crate::core::cpp::{emit, patch, CppFile, FunctionNames, LadderStyle, Site};
use crate::core::decide::{self, Model};
use crate::core::difftext;
use crate::core::fit::{self, Choice, EarlyReturns, Params, Strategy, Table};
use crate::core::results::Results;
use crate::core::rule::{LimitSpec, Rule};
use crate::core::stats;
use crate::core::workload::Heuristic;
use std::collections::BTreeMap;

/// Shapes grouped by their best measured limit.
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
            output_min: rows.iter().map(|r| r.output).min().unwrap_or(0),
            output_max: rows.iter().map(|r| r.output).max().unwrap_or(0),
            reduction_min: rows.iter().map(|r| r.reduction).min().unwrap_or(0),
            reduction_max: rows.iter().map(|r| r.reduction).max().unwrap_or(0),
            geomean_speedup: stats::geomean(
                &rows.iter().map(|r| r.baseline / fit::oracle(r, &table.limits).1).collect::<Vec<_>>(),
            )
            .unwrap_or(1.0),
        })
        .collect()
}

/// Whether the current code's ladder reads `lowParallelism`, so that the
/// target the sweep did not tune has decisions of its own to keep.
fn has_low_parallelism_variant(old: &Model) -> bool {
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

/// What the emitted code is checked against.
struct Expected<'a> {
    results: &'a Results,
    table: &'a Table,
    rule: &'a Rule,
    er: &'a EarlyReturns,
    /// The current code's model.
    old: &'a Model,
    low: bool,
}

/// Reads the patched file back and evaluates it on every shape: it must
/// give the rule's limit for the target swept and, where the old code has a
/// low-parallelism variant, the old decision for the other target.
fn verify_emitted(patched: &str, heuristic: Heuristic, names: &FunctionNames, x: &Expected) -> Result<(), String> {
    let site = CppFile::parse(patched).locate(heuristic, names).map_err(|e| e.0)?;
    let model = Model::from_site(&site);
    let has_variant = has_low_parallelism_variant(x.old);
    for row in &x.table.rows {
        let shape = &x.results.shapes[row.shape];
        // The ladder only: early returns are shared by both targets, and
        // their constants may change (the report says so).
        let ladder_only = |m: &Model| Model { early_returns: vec![], ..m.clone() };
        let before = decide::modelled(&shape.features, &ladder_only(x.old), !x.low);
        let after = decide::modelled(&shape.features, &ladder_only(&model), !x.low);
        if has_variant
            && before.unknown.is_none()
            && (before.limit, &before.tile_sizes) != (after.limit, &after.tile_sizes)
        {
            return Err(format!(
                "the generated code changes what {} targets (which the sweep did not measure) do for `{}`",
                if x.low { "default" } else { "low-parallelism" },
                shape.command
            ));
        }
        let d = decide::modelled(&shape.features, &model, x.low);
        if let Some(u) = d.unknown {
            return Err(format!("the generated code cannot be evaluated: {u}"));
        }
        let got = d.limit.unwrap_or(1);
        let want = if x.er.fires(row, &x.rule.constants) {
            1
        } else {
            x.rule.ladder.limit(row.output, row.reduction).effective(row.start_tile)
        };
        if got != want {
            return Err(format!(
                "the generated code gives limit {got} for `{}` but the rule gives {want}",
                shape.command
            ));
        }
    }
    Ok(())
}

/// The analysis of a heuristic that has nothing to fit.
fn not_analysed(h: Heuristic, table: &Table, style: String, function: String, error: String) -> HeuristicAnalysis {
    HeuristicAnalysis {
        heuristic: h,
        style,
        function,
        shapes: table.rows.len(),
        excluded: table.excluded.clone(),
        imputed: table.imputed.clone(),
        limits: table.limits.clone(),
        clusters: clusters(table),
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
        changed_regions: vec![],
    }
}

/// Every strategy fitted and cross-validated, and the recommended one.
fn fit_strategies(
    table: &Table,
    site: &Site,
    source: &str,
    er: &EarlyReturns,
    settings: &Settings,
) -> HeuristicAnalysis {
    let params = Params {
        max_rungs: settings.max_rungs.max(1),
        folds: settings.folds.max(2),
        inclusive: emit::uses_inclusive(site),
        allow_2d: emit::names(site, source).reduction.is_some(),
    };
    let evals = fit::evaluate(table, er, &params, &settings.pins);
    let (rec_eval, rec_fit) = &evals[fit::recommend(&evals)];
    let toolkit =
        evals.iter().find(|(e, _)| e.strategy == Strategy::OriginalToolkit).map(|(e, _)| e.cv_geomean).unwrap_or(1.0);
    let range = |f: fn(&fit::Row) -> i64| {
        (table.rows.iter().map(f).min().unwrap_or(0), table.rows.iter().map(f).max().unwrap_or(0))
    };
    HeuristicAnalysis {
        heuristic: table.heuristic,
        style: site.style.name().to_string(),
        function: site.function.name.clone(),
        shapes: table.rows.len(),
        excluded: table.excluded.clone(),
        imputed: table.imputed.clone(),
        limits: table.limits.clone(),
        clusters: clusters(table),
        strategies: evals.iter().map(|(e, _)| e.clone()).collect(),
        recommended: rec_eval.strategy,
        rule: rec_fit.rule.clone(),
        constants_before: er.constants.clone(),
        outcomes: fit::outcomes(table, rec_fit, er),
        oracle_geomean: stats::geomean(
            &table.rows.iter().map(|r| r.baseline / fit::oracle(r, &table.limits).1).collect::<Vec<_>>(),
        )
        .unwrap_or(1.0),
        output_range: range(|r| r.output),
        reduction_range: range(|r| r.reduction),
        vs_original_toolkit: rec_eval.cv_geomean / toolkit,
        cpp: None,
        diff: String::new(),
        error: None,
        changed_regions: vec![],
    }
}

/// The changed code as the report shows it: the helper (2026 style), or the
/// changed constants and the new chain (2025 style).
fn changed_code(patched: &str, site: Option<Site>, rule: &Rule) -> Option<String> {
    let s = site?;
    Some(match &s.style {
        LadderStyle::Helper { helper, .. } => patched[helper.range.clone()].to_string(),
        LadderStyle::Inline { decl, chain } => {
            let mut text = String::new();
            for c in s.constants.iter().filter(|c| rule.constants.contains_key(&c.name)) {
                text.push_str(&format!("{}const int64_t {} = {};\n", s.indent, c.name, c.value_text));
            }
            text.push_str(&format!("{}{}\n{}{}", s.indent, &patched[decl.clone()], s.indent, &patched[chain.clone()]));
            text
        }
    })
}

/// Everything [`emit_rule`] needs.
struct Emission<'a> {
    results: &'a Results,
    source: &'a str,
    site: &'a Site,
    names: &'a FunctionNames,
    table: &'a Table,
    model: &'a Model,
    er: &'a EarlyReturns,
    low: bool,
}

/// Writes `rule` into the file and checks the result; the patched file,
/// its diff and the changed code, or why it cannot be written.
fn emit_rule(x: &Emission, rule: &Rule) -> Result<HeuristicPatch, String> {
    let h = x.site.heuristic;
    let envs: Vec<(i64, i64, Env)> = x
        .table
        .rows
        .iter()
        .map(|r| {
            let f = &x.results.shapes[r.shape].features;
            (r.output, r.reduction, decide::env(f, &x.model.constants, x.low))
        })
        .collect();
    let keep = emit::keep(x.site, &rule.ladder, &envs, x.low);
    let edits =
        emit::rule_edits(x.source, x.site, rule, &keep).map_err(|e| format!("cannot write the rule as C++: {e}"))?;
    let expected = Expected { results: x.results, table: x.table, rule, er: x.er, old: x.model, low: x.low };
    let patched = patch::apply_checked(x.source, std::slice::from_ref(x.site), &edits)
        .and_then(|p| verify_emitted(&p, h, x.names, &expected).map(|_| p))
        .map_err(|e| format!("cannot write the rule as C++: {e}"))?;
    let diff = difftext::unified(&x.results.target.heuristic_file, x.source, &patched);
    Ok(HeuristicPatch {
        heuristic: h,
        diff,
        rule: rule.describe("outputSize", &x.er.constants),
        site: x.site.clone(),
        edits,
        source: patched,
    })
}

/// Analyses heuristic `h`: the recommendation, and its patch when there is
/// a change to make.
pub(super) fn analyze_heuristic(
    results: &Results,
    source: &str,
    h: Heuristic,
    settings: &Settings,
) -> (HeuristicAnalysis, Option<HeuristicPatch>) {
    let names = settings.names.get(&h).cloned().unwrap_or_else(|| FunctionNames::iree_defaults(h));
    let located = CppFile::parse(source).locate(h, &names);
    let current = located.as_ref().map(|s| fit::ladder_specs(&s.ladder, settings.low_parallelism)).unwrap_or_default();
    let table = fit::table(results, h, &current);
    let site = match located {
        Ok(s) => s,
        Err(e) => return (not_analysed(h, &table, String::new(), String::new(), e.0), None),
    };
    if table.rows.is_empty() {
        let why = "no shape of this heuristic has both a baseline and a candidate measurement".to_string();
        return (not_analysed(h, &table, site.style.name().into(), site.function.name.clone(), why), None);
    }
    let model = Model::from_site(&site);
    let er = EarlyReturns::from_model(&model, settings.low_parallelism);
    let mut analysis = fit_strategies(&table, &site, source, &er, settings);
    let Some(rule) = analysis.rule.clone() else {
        analysis.error =
            Some("no strategy beats the current code without regressing a shape; nothing to change".into());
        return (analysis, None);
    };
    let emission = Emission {
        results,
        source,
        site: &site,
        names: &names,
        table: &table,
        model: &model,
        er: &er,
        low: settings.low_parallelism,
    };
    match emit_rule(&emission, &rule) {
        Ok(p) => {
            analysis.cpp = changed_code(&p.source, CppFile::parse(&p.source).locate(h, &names).ok(), &rule);
            analysis.diff = p.diff.clone();
            (analysis, Some(p))
        }
        Err(e) => {
            analysis.error = Some(e);
            (analysis, None)
        }
    }
}
