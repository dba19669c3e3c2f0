//! One heuristic's analysis: the table of its shapes, the evidence region
//! (what the measurements cover), every strategy fitted and cross-validated
//! inside it, the recommendation, and the recommended rule written into the
//! file as the smallest edit of its ladder, read back (it must decide as
//! the rule does for the target swept, and as the old code does elsewhere)
//! and audited.

use super::{stability, Cluster, HeuristicAnalysis, HeuristicPatch, Settings};
use crate::core::audit;
use crate::core::cpp::chain::Chain;
use crate::core::cpp::rules::{self, Env};
use crate::core::cpp::{edit, emit, patch, CppFile, EarlyReturn, FunctionNames, LadderStyle, Site};
use crate::core::decide::{self, Model};
use crate::core::difftext;
use crate::core::fit::{self, Choice, EarlyReturns, Params, Readable, Strategy, Table};
use crate::core::results::Results;
use crate::core::rule::{LimitSpec, Rule};
use crate::core::stats;
use crate::core::workload::{Features, Heuristic};
use serde::{Deserialize, Serialize};
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

/// Reads the patched file back and evaluates it on every shape: for the
/// target swept it must give the rule's limit (the kept rung's for shapes a
/// kept rung decides); where the old code tells the targets apart, the
/// other target must decide exactly as before.
fn verify_emitted(patched: &str, heuristic: Heuristic, names: &FunctionNames, x: &Expected) -> Result<(), String> {
    let site = CppFile::parse(patched).locate(heuristic, names).map_err(|e| e.0)?;
    let model = Model::from_site(&site);
    let has_variant = x.old.reads_flag();
    for row in &x.table.rows {
        let shape = &x.results.shapes[row.shape];
        let before = decide::modelled(&shape.features, x.old, !x.low);
        let after = decide::modelled(&shape.features, &model, !x.low);
        if has_variant && before.unknown.is_none() && !before.same_split(&after) {
            return Err(format!(
                "the generated code changes what {} targets (which the sweep did not measure) do for `{}` \
                 (limit {:?}, tiles {:?} before; limit {:?}, tiles {:?} after)",
                audit::target_name(!x.low),
                shape.command,
                before.limit,
                before.tile_sizes,
                after.limit,
                after.tile_sizes
            ));
        }
        let d = decide::modelled(&shape.features, &model, x.low);
        if let Some(u) = d.unknown {
            return Err(format!("the generated code cannot be evaluated: {u}"));
        }
        let got = d.limit.unwrap_or(1);
        let want = if x.er.fires(row, x.rule) {
            1
        } else if row.frozen {
            let env = x.old.env(&shape.features, x.low);
            rules::eval_ladder(&x.old.ladder, &env).ok().flatten().unwrap_or(1)
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
        early_returns: vec![],
        outcomes: vec![],
        oracle_geomean: 1.0,
        output_range: (0, 0),
        reduction_range: (0, 0),
        vs_original_toolkit: 1.0,
        cpp: None,
        diff: String::new(),
        error: Some(error),
        audit: None,
        kept_shapes: 0,
        emitted: None,
        changed_regions: vec![],
        stability: None,
    }
}

/// The fitting parameters for `site`.
fn params(site: &Site, source: &str, settings: &Settings, constant_ranges: BTreeMap<String, (i64, i64)>) -> Params {
    Params {
        max_rungs: settings.max_rungs.max(1),
        folds: settings.folds.max(2),
        inclusive: emit::uses_inclusive(site),
        allow_2d: emit::names(site, source).reduction.is_some(),
        preferred_output: rules::thresholds(&site.ladder, "outputSize"),
        preferred_reduction: rules::thresholds(&site.ladder, "reductionSize"),
        constant_ranges: Some(constant_ranges),
    }
}

/// Every strategy fitted and cross-validated, and the recommended one.
fn fit_strategies(
    table: &Table,
    site: &Site,
    er: &EarlyReturns,
    settings: &Settings,
    params: &Params,
) -> HeuristicAnalysis {
    let evals = fit::evaluate(table, er, params, &settings.pins);
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
        early_returns: conditions(site),
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
        audit: None,
        kept_shapes: table.rows.iter().filter(|r| r.frozen).count(),
        emitted: None,
        changed_regions: vec![],
        stability: None,
    }
}

/// The recommendation's stability figure ([`stability::stability`]).
fn stability_of(
    results: &Results,
    table: &Table,
    current: &[LimitSpec],
    er: &EarlyReturns,
    params: &Params,
    settings: &Settings,
    analysis: &HeuristicAnalysis,
) -> stability::Stability {
    stability::stability(&stability::Refit {
        results,
        table,
        current,
        er,
        params,
        pins: &settings.pins,
        strategy: analysis.recommended,
        rule: analysis.rule.as_ref(),
    })
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
    chain: Option<&'a Chain>,
    evidence: &'a Evidence,
    low: bool,
}

/// What the measurements cover: the hull of the measured shapes, widened
/// along the ladder's axes to the readable edges the retune stops at.
struct Evidence {
    hull: audit::Hull,
    output: (i64, i64),
    reduction: (i64, i64),
}

impl Evidence {
    /// Whether `f` lies between the edges along both ladder axes.
    fn contains(&self, f: &Features) -> bool {
        let within = |v: i64, (lo, hi): (i64, i64)| lo <= v && v < hi;
        within(f.output_size, self.output) && within(f.reduction_size, self.reduction)
    }
}

fn evidence(table: &Table, results: &Results, site: &Site) -> Evidence {
    let mut hull = audit::Hull::of(table.rows.iter().map(|r| &results.shapes[r.shape].features));
    let span = |f: fn(&fit::Row) -> i64| {
        (table.rows.iter().map(f).min().unwrap_or(0), table.rows.iter().map(f).max().unwrap_or(0))
    };
    let (o, r) = (span(|r| r.output), span(|r| r.reduction));
    let output = fit::edges(
        o.0,
        o.1,
        emit::uses_inclusive(site),
        Readable::PowersOfTwo,
        &rules::thresholds(&site.ladder, "outputSize"),
    );
    let reduction = fit::edges(r.0, r.1, false, Readable::Decimal, &rules::thresholds(&site.ladder, "reductionSize"));
    hull.widen("outputSize", output.0, output.1 - 1);
    hull.widen("reductionSize", reduction.0, reduction.1 - 1);
    Evidence { hull, output, reduction }
}

/// Marks the shapes a kept rung of the current ladder decides (see
/// [`fit::Row::frozen`]).
fn mark_kept(table: &mut Table, results: &Results, chain: Option<&Chain>, model: &Model, low: bool) {
    let Some(chain) = chain else { return };
    for row in &mut table.rows {
        let env = model.env(&results.shapes[row.shape].features, low);
        row.frozen = chain.item(&env).is_some_and(|i| !chain.items[i].simple());
    }
}

/// The values each early-return constant may take: those whose change
/// alters decisions only inside the evidence region, on the target swept
/// (with a value of its own when the flag is in scope).
fn constant_ranges(
    x: &Emission,
    measured: &[(usize, Features)],
    grid: &[audit::Point],
) -> BTreeMap<String, (i64, i64)> {
    let swept = [x.low];
    let s = audit::Subject {
        heuristic: x.site.heuristic,
        old: x.model,
        new: x.model,
        swept: &swept,
        hull: &x.evidence.hull,
        measured,
    };
    let per_target = flag_in_scope(x).is_some();
    x.er.tunable()
        .into_iter()
        .map(|(name, vars)| {
            let mut cands: Vec<i64> = x
                .table
                .rows
                .iter()
                .flat_map(|r| vars.iter().filter_map(|v| r.env.get(v).copied()))
                .flat_map(|v| [v, v.saturating_add(1)])
                .collect();
            cands.sort();
            cands.dedup();
            let range = audit::admissible(&s, &name, &cands, x.low, per_target, grid);
            (name, range)
        })
        .collect()
}

/// The low-parallelism flag, when the function holding the constants
/// takes it (so a constant can have a value per target).
fn flag_in_scope<'a>(x: &Emission<'a>) -> Option<&'a str> {
    let flag = x.chain.and_then(|c| c.names.low_parallelism.as_deref()).unwrap_or("lowParallelism");
    x.site.function.params.iter().find(|p| p.as_str() == flag).map(String::as_str)
}

/// Whether an early return of `rule` takes `f` on the swept target.
fn fires(x: &Emission, rule: &Rule, f: &Features) -> bool {
    let env = decide::env(f, &rule.constants, x.low);
    // Switched-off conditions still apply beyond the evidence region.
    let inside = x.evidence.contains(f);
    x.model
        .early_returns
        .iter()
        .enumerate()
        .any(|(i, c)| !(inside && rule.off.contains(&i)) && c.eval(&env).is_ok_and(|v| v.truthy()))
}

/// Reverts every constant whose change alters no decision of the swept
/// target on the measured shapes or the grid: a change without effect is
/// a line a reviewer must read for nothing.
fn drop_dead_constants(x: &Emission, rule: &mut Rule, grid: &[audit::Point]) {
    let features: Vec<&Features> = x
        .table
        .rows
        .iter()
        .map(|r| &x.results.shapes[r.shape].features)
        .chain(grid.iter().filter(|p| p.low == x.low && p.features.heuristic == x.site.heuristic).map(|p| &p.features))
        .collect();
    let fires = |r: &Rule, f: &Features| fires(x, r, f);
    let names: Vec<String> = rule.constants.keys().cloned().collect();
    for name in names {
        let Some(old) = x.er.constants.get(&name).copied() else { continue };
        if rule.constants.get(&name) == Some(&old) {
            continue;
        }
        let mut reverted = rule.clone();
        reverted.constants.insert(name.clone(), old);
        if features.iter().all(|f| fires(rule, f) == fires(&reverted, f)) {
            *rule = reverted;
        }
    }
}

/// The new values of changed constants, for the swept target only where
/// the flag is in scope: `lowParallelism ? a : b`, as the file writes it.
fn constant_edits(x: &Emission, rule: &Rule) -> Vec<patch::Edit> {
    let flag = flag_in_scope(x);
    let mut edits = Vec::new();
    for c in &x.site.constants {
        let Some(&v) = rule.constants.get(&c.name) else { continue };
        let (mine, other) = if x.low { (c.value_low, c.value) } else { (c.value, c.value_low) };
        if mine == Some(v) {
            continue;
        }
        let number =
            |n: i64| if c.value_text.contains('*') || n >= 1 << 16 { emit::format_number(n) } else { n.to_string() };
        let text = match (flag, other) {
            (Some(flag), Some(o)) if o != v => {
                let (low, default) = if x.low { (v, o) } else { (o, v) };
                format!("{flag} ? {} : {}", number(low), number(default))
            }
            _ => number(v),
        };
        edits.push(patch::Edit { range: c.value_range.clone(), text });
    }
    edits
}

/// The early returns the model evaluates, in its order.
fn early_return_sites(site: &Site) -> Vec<&EarlyReturn> {
    site.early_returns.iter().filter(|e| e.condition_expr.is_some()).collect()
}

fn conditions(site: &Site) -> Vec<String> {
    early_return_sites(site).iter().map(|e| e.condition_text.clone()).collect()
}

/// The output-size variable's name in the function.
fn output_var(x: &Emission) -> String {
    x.chain.map(|c| c.names.output.clone()).unwrap_or_else(|| "outputSize".into())
}

/// The reduction-size variable's name in the function (`reductionSize`
/// or `kSize`).
fn reduction_var(x: &Emission) -> String {
    let body = &x.source[x.site.function.body.clone()];
    ["reductionSize", "kSize"]
        .iter()
        .filter_map(|n| body.find(&format!("int64_t {n} =")).map(|at| (at, *n)))
        .min()
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| "reductionSize".into())
}

/// Which early returns can be switched off for the measured outputs only:
/// the output size must be computed before them, and where the code tells
/// the targets apart the flag must be in scope (the other target keeps
/// the early return).
fn restrictable(x: &Emission) -> Vec<bool> {
    let out = output_var(x);
    let body = &x.source[x.site.function.body.clone()];
    let declared = ["int64_t", "auto", "int"]
        .iter()
        .filter_map(|t| body.find(&format!("{t} {out} =")))
        .min()
        .map(|at| x.site.function.body.start + at);
    let red = reduction_var(x);
    let red_declared = body.find(&format!("int64_t {red} =")).map(|at| x.site.function.body.start + at);
    let flag_ok = !x.model.reads_flag() || flag_in_scope(x).is_some();
    let before = |d: Option<usize>, e: &EarlyReturn| d.is_some_and(|d| d < e.range.start);
    early_return_sites(x.site).iter().map(|e| flag_ok && before(declared, e) && before(red_declared, e)).collect()
}

/// Edits of the early returns `rule` switches off: each keeps its old
/// condition where no measurement speaks (the other target, outputs below
/// and above the measured ones, each only where the grid shows it can
/// fire there), or goes when nothing is left.
fn off_edits(x: &Emission, rule: &Rule, grid: &[audit::Point]) -> Vec<patch::Edit> {
    let sites = early_return_sites(x.site);
    let out = output_var(x);
    let red = reduction_var(x);
    let (lo, hi) = x.evidence.output;
    let (rlo, rhi) = x.evidence.reduction;
    let mut edits = Vec::new();
    for &i in &rule.off {
        let (Some(site), Some(cond)) = (sites.get(i), x.model.early_returns.get(i)) else { continue };
        let fires_where = |keep: &dyn Fn(&Features) -> bool| {
            grid.iter()
                .filter(|p| p.low == x.low && p.features.heuristic == x.site.heuristic)
                .any(|p| keep(&p.features) && cond.eval(&x.model.env(&p.features, x.low)).is_ok_and(|v| v.truthy()))
        };
        let mut keep = Vec::new();
        if x.model.reads_flag() {
            let flag = flag_in_scope(x).unwrap_or("lowParallelism");
            keep.push(if x.low { format!("!{flag}") } else { flag.to_string() });
        }
        // `>` before `<`, and `<=` where it reads as well: a `<` followed
        // by a `>` reads to C++ parsers that do not know the names as a
        // template argument list.
        if fires_where(&|f| f.output_size >= hi) {
            keep.push(bound_text(&out, hi, true));
        }
        if fires_where(&|f| f.output_size < lo) {
            keep.push(bound_text(&out, lo, false));
        }
        if fires_where(&|f| f.reduction_size >= rhi) {
            keep.push(bound_text(&red, rhi, true));
        }
        if fires_where(&|f| f.reduction_size < rlo) {
            keep.push(bound_text(&red, rlo, false));
        }
        let edit = if keep.is_empty() {
            // Nothing left to keep: the early return goes, with its line.
            let end = x.source[site.range.end..].find('\n').map(|n| site.range.end + n + 1).unwrap_or(site.range.end);
            let start = x.source[..site.range.start].rfind('\n').map(|n| n + 1).unwrap_or(site.range.start);
            patch::Edit { range: start..end, text: String::new() }
        } else {
            let keep = if keep.len() > 1 { format!("({})", keep.join(" || ")) } else { keep.join("") };
            let mut terms = vec![keep];
            terms.extend(conjuncts(&site.condition_text));
            let indent = crate::core::cpp::line_indent(x.source, site.range.start);
            patch::Edit { range: site.condition.clone(), text: wrap_condition(&indent, &terms) }
        };
        edits.push(edit);
    }
    edits
}

/// `var >= bound` (`above`) or `var < bound`, as `var > bound - 1` or
/// `var <= bound - 1` where that number reads better (`2048 * 1024`
/// rather than `2097153`).
fn bound_text(var: &str, bound: i64, above: bool) -> String {
    let nice = |v: i64| emit::format_number(v).contains('*') || v % 1000 == 0;
    match (above, !nice(bound) && nice(bound - 1)) {
        (true, false) => format!("{var} >= {}", emit::format_number(bound)),
        (true, true) => format!("{var} > {}", emit::format_number(bound - 1)),
        (false, false) => format!("{var} < {}", emit::format_number(bound)),
        (false, true) => format!("{var} <= {}", emit::format_number(bound - 1)),
    }
}

/// The top-level `&&` operands of a condition (one operand, parenthesised,
/// when it has a top-level `||`).
fn conjuncts(cond: &str) -> Vec<String> {
    let flat = cond.split_whitespace().collect::<Vec<_>>().join(" ");
    let (mut depth, mut parts, mut start, mut or) = (0i32, Vec::new(), 0usize, false);
    let b = flat.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'&' if depth == 0 && b.get(i + 1) == Some(&b'&') => {
                parts.push(flat[start..i].trim().to_string());
                start = i + 2;
                i += 1;
            }
            b'|' if depth == 0 && b.get(i + 1) == Some(&b'|') => or = true,
            _ => {}
        }
        i += 1;
    }
    parts.push(flat[start..].trim().to_string());
    if or {
        vec![format!("({flat})")]
    } else {
        parts
    }
}

/// Column limit of LLVM's style.
const COLUMNS: usize = 80;

/// `terms` joined by `&&` as clang-format (LLVM style) lays out an `if`
/// condition at `indent`: filled greedily, each line broken after an
/// `&&`, continuation lines aligned after `if (`.
fn wrap_condition(indent: &str, terms: &[String]) -> String {
    let first = indent.len() + "if (".len();
    let mut out = String::new();
    let mut col = first;
    let mut broke_inside = false;
    for (i, t) in terms.iter().enumerate() {
        let last = i + 1 == terms.len();
        // What must fit on the line after this term: ` &&` or `) {`.
        let tail = if last { ") {".len() } else { " &&".len() };
        if i > 0 {
            if broke_inside || col + 1 + t.len() + tail > COLUMNS {
                out.push_str(" &&\n");
                out.push_str(&" ".repeat(first));
                col = first;
            } else {
                out.push_str(" && ");
                col += 4;
            }
        }
        broke_inside = false;
        if col + t.len() + tail > COLUMNS && t.starts_with('(') {
            // A parenthesised `||` chain too long for a line breaks after
            // its `||`s, aligned inside its parenthesis.
            let inner: Vec<&str> = t[1..t.len() - 1].split(" || ").collect();
            let at = col + 1;
            out.push('(');
            col = at;
            for (k, part) in inner.iter().enumerate() {
                let closing = if k + 1 == inner.len() { 1 + tail } else { " ||".len() };
                if k > 0 {
                    if col + 1 + part.len() + closing > COLUMNS {
                        out.push_str(" ||\n");
                        out.push_str(&" ".repeat(at));
                        col = at;
                        broke_inside = true;
                    } else {
                        out.push_str(" || ");
                        col += 4;
                    }
                }
                out.push_str(part);
                col += part.len();
            }
            out.push(')');
            col += 1;
        } else {
            out.push_str(t);
            col += t.len();
        }
    }
    out
}

/// How the ladder was written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Emitted {
    /// `edit`: the smallest edit of the ladder; `rewrite`: the ladder
    /// written anew (the editor cannot read it: why in `note`).
    pub(crate) how: String,
    pub(crate) note: String,
    /// Lines added and removed by the patch.
    pub(crate) lines: (usize, usize),
    /// Lines a rewrite of the whole ladder would add and remove.
    pub(crate) rewrite_lines: Option<(usize, usize)>,
}

/// The ladder written anew (the way before the editor), with the target
/// not swept kept as [`emit::keep`] decides.
fn rewrite_edits(x: &Emission, rule: &Rule) -> Result<Vec<patch::Edit>, String> {
    let envs: Vec<(i64, i64, Env)> = x
        .table
        .rows
        .iter()
        .map(|r| (r.output, r.reduction, x.model.env(&x.results.shapes[r.shape].features, x.low)))
        .collect();
    let keep = emit::keep(x.site, &rule.ladder, &envs, x.low);
    emit::rule_edits(x.source, x.site, rule, &keep)
}

/// Writes `rule` into the file and checks the result; the patched file,
/// its diff and the changed code, or why it cannot be written.
fn emit_rule(x: &Emission, rule: &Rule, grid: &[audit::Point]) -> Result<(HeuristicPatch, Emitted), String> {
    let h = x.site.heuristic;
    // The ops that reach the ladder under the rule: an edge none of them
    // crosses needs no guard.
    let reaching: Vec<(i64, i64)> = x
        .table
        .rows
        .iter()
        .map(|r| &x.results.shapes[r.shape].features)
        .chain(grid.iter().filter(|p| p.low == x.low && p.features.heuristic == h).map(|p| &p.features))
        .filter(|f| !fires(x, rule, f))
        .map(|f| (f.output_size, f.reduction_size))
        .collect();
    let reach =
        |o: (i64, i64), r: (i64, i64)| reaching.iter().any(|&(a, b)| o.0 <= a && a < o.1 && r.0 <= b && b < r.1);
    let retune = x.chain.map(|chain| edit::Retune {
        src: x.source,
        chain,
        ladder: &rule.ladder,
        low: x.low,
        output: x.evidence.output,
        reduction: x.evidence.reduction,
        reach: &reach,
    });
    let besides = || {
        let mut e = constant_edits(x, rule);
        e.extend(off_edits(x, rule, grid));
        e
    };
    let stat = |edits: &[patch::Edit]| {
        patch::apply_checked(x.source, std::slice::from_ref(x.site), edits)
            .map(|p| difftext::stat(&difftext::unified("f", x.source, &p)))
            .ok()
    };
    let rewrite = rewrite_edits(x, rule).map(|mut e| {
        e.extend(besides());
        e
    });
    let expected = Expected { results: x.results, table: x.table, rule, er: x.er, old: x.model, low: x.low };
    let checked = |edits: &[patch::Edit]| {
        patch::apply_checked(x.source, std::slice::from_ref(x.site), edits)
            .and_then(|p| verify_emitted(&p, h, x.names, &expected).map(|_| (p, edits.to_vec())))
    };
    let edited = match retune.as_ref().map(edit::edits) {
        Some(Ok(mut e)) => {
            e.extend(besides());
            checked(&e).map_err(|why| format!("the in-place edit does not give the rule ({why})"))
        }
        Some(Err(why)) => Err(why),
        None => Err("the ladder has a form the editor does not read".to_string()),
    };
    // Both forms are checked against the rule on every measured shape; the
    // rewrite is the fallback when the in-place edit cannot say it.
    let ((patched, edits), how, note) = match edited {
        Ok(p) => (p, "edit", String::new()),
        Err(why) => {
            let p = rewrite
                .clone()
                .and_then(|e| checked(&e))
                .map_err(|e| format!("cannot write the rule as C++: {why}; as a rewrite of the ladder: {e}"))?;
            (p, "rewrite", why)
        }
    };
    let diff = difftext::unified(&x.results.target.heuristic_file, x.source, &patched);
    let emitted = Emitted {
        how: how.into(),
        note,
        lines: difftext::stat(&diff),
        rewrite_lines: rewrite.ok().and_then(|e| stat(&e)),
    };
    let patch = HeuristicPatch {
        heuristic: h,
        diff,
        rule: rule.describe("outputSize", &x.er.constants, &conditions(x.site)),
        site: x.site.clone(),
        edits,
        source: patched,
    };
    Ok((patch, emitted))
}

/// The behaviour audit of the patched heuristic: its measured shapes (with
/// the speedups the recommendation got) and the grid, for both targets.
fn audit_patch(
    x: &Emission,
    a: &HeuristicAnalysis,
    new: &Model,
    measured: &[(usize, Features)],
    grid: &[audit::Point],
) -> audit::Audit {
    let speedup: BTreeMap<usize, f64> = a.outcomes.iter().filter_map(|o| Some((o.shape, o.speedup?))).collect();
    let mut points: Vec<audit::Point> = measured
        .iter()
        .map(|(id, f)| audit::Point {
            origin: audit::Origin::Shape { id: *id, speedup: speedup.get(id).copied() },
            features: f.clone(),
            low: x.low,
        })
        .collect();
    points.extend(grid.iter().cloned());
    let swept = [x.low];
    let subject =
        audit::Subject { heuristic: a.heuristic, old: x.model, new, swept: &swept, hull: &x.evidence.hull, measured };
    audit::audit(&subject, &points)
}

/// The cells of the rule (rung by reduction bucket, cut to the evidence
/// region) where the audit found changed decisions, for the region plot.
fn changed_regions(rule: &Rule, ev: &Evidence, a: &audit::Audit) -> Vec<super::ChangedRegion> {
    let clip = |(lo, hi): (i64, i64), (elo, ehi): (i64, i64)| (lo.max(elo), hi.min(ehi));
    let mut out = Vec::new();
    let mut from = i64::MIN;
    for rung in &rule.ladder.rungs {
        let upper = rung.upper.unwrap_or(i64::MAX);
        let mut rfrom = i64::MIN;
        let buckets = rung.splits.iter().map(|s| (s.threshold, s.limit)).chain([(i64::MAX, rung.limit)]);
        for (t, limit) in buckets {
            let o = clip((from, upper), ev.output);
            let r = clip((rfrom, t), ev.reduction);
            let changed = a.plane.iter().any(|&(x, y, c)| {
                matches!(c, audit::Class::Interpolated) && o.0 <= x && x < o.1 && r.0 <= y && y < r.1
            });
            if changed && o.0 < o.1 && r.0 < r.1 {
                out.push(super::ChangedRegion {
                    output: (Some(o.0), Some(o.1)),
                    reduction: (Some(r.0), Some(r.1)),
                    before: "the current code".into(),
                    after: limit.words(),
                });
            }
            rfrom = t;
        }
        from = upper;
    }
    out
}

/// Analyses heuristic `h`: the recommendation, and its patch when there is
/// a change to make.
pub(super) fn analyze_heuristic(
    results: &Results,
    source: &str,
    h: Heuristic,
    settings: &Settings,
    grid: &[audit::Point],
) -> (HeuristicAnalysis, Option<HeuristicPatch>) {
    let names = settings.names.get(&h).cloned().unwrap_or_else(|| FunctionNames::iree_defaults(h));
    let file = CppFile::parse(source);
    let located = file.locate(h, &names);
    let low = settings.low_parallelism;
    let current = located.as_ref().map(|s| fit::ladder_specs(&s.ladder, low)).unwrap_or_default();
    let mut table = fit::table(results, h, &current);
    let site = match located {
        Ok(s) => s,
        Err(e) => return (not_analysed(h, &table, String::new(), String::new(), e.0), None),
    };
    if table.rows.is_empty() {
        let why = "no shape of this heuristic has both a baseline and a candidate measurement".to_string();
        return (not_analysed(h, &table, site.style.name().into(), site.function.name.clone(), why), None);
    }
    let model = Model::from_site(&site);
    let chain = Chain::read(&file, &site);
    mark_kept(&mut table, results, chain.as_ref(), &model, low);
    let er = EarlyReturns::from_model(&model, low);
    let evidence = evidence(&table, results, &site);
    let measured: Vec<(usize, Features)> =
        table.rows.iter().map(|r| (r.shape, results.shapes[r.shape].features.clone())).collect();
    let mut x = Emission {
        results,
        source,
        site: &site,
        names: &names,
        table: &table,
        model: &model,
        er: &er,
        chain: chain.as_ref(),
        evidence: &evidence,
        low,
    };
    let ranges = constant_ranges(&x, &measured, grid);
    let restrictable = restrictable(&x);
    let mut er_full = er.clone();
    er_full.restrictable = restrictable;
    x.er = &er_full;
    let params = params(&site, source, settings, ranges);
    let mut analysis = fit_strategies(&table, &site, x.er, settings, &params);
    analysis.stability = Some(stability_of(results, &table, &current, x.er, &params, settings, &analysis));
    let Some(rule) = analysis.rule.clone() else {
        analysis.error =
            Some("no strategy beats the current code without regressing a shape; nothing to change".into());
        return (analysis, None);
    };
    // Where the rule is written: the swept revision, or the one `--rev`
    // names, read the same way.
    let target = match &settings.retarget {
        None => None,
        Some(r) => match retarget_site(r, h, &names, &model, &rule) {
            Ok(t) => Some(t),
            Err(e) => {
                analysis.error = Some(format!("cannot write the rule at `{}`: {e}", r.rev));
                return (analysis, None);
            }
        },
    };
    let owned;
    let (x, rule) = match &target {
        None => (x, rule),
        Some(t) => {
            let mut table = table.clone();
            let t_chain = Chain::read(&CppFile::parse(&t.source), &t.site);
            mark_kept(&mut table, results, t_chain.as_ref(), &t.model, low);
            owned = (table, t_chain, t.er(low, &t.model));
            let y = Emission {
                source: &t.source,
                site: &t.site,
                table: &owned.0,
                model: &t.model,
                er: &owned.2,
                chain: owned.1.as_ref(),
                ..x
            };
            (y, t.rule.clone())
        }
    };
    let mut rule = rule;
    drop_dead_constants(&x, &mut rule, grid);
    analysis.rule = Some(rule.clone());
    emit_and_audit(&x, analysis, &rule, &measured, grid)
}

/// Writes `rule` into the code and audits the result against the old code.
fn emit_and_audit(
    x: &Emission,
    mut analysis: HeuristicAnalysis,
    rule: &Rule,
    measured: &[(usize, Features)],
    grid: &[audit::Point],
) -> (HeuristicAnalysis, Option<HeuristicPatch>) {
    match emit_rule(x, rule, grid) {
        Ok((p, emitted)) => {
            let new_site = CppFile::parse(&p.source).locate(analysis.heuristic, x.names).ok();
            analysis.audit = new_site.as_ref().map(|s| audit_patch(x, &analysis, &Model::from_site(s), measured, grid));
            analysis.changed_regions =
                analysis.audit.as_ref().map(|a| changed_regions(rule, x.evidence, a)).unwrap_or_default();
            analysis.cpp = changed_code(&p.source, new_site, rule);
            analysis.diff = p.diff.clone();
            analysis.emitted = Some(emitted);
            (analysis, Some(p))
        }
        Err(e) => {
            analysis.error = Some(e);
            (analysis, None)
        }
    }
}

/// The heuristic at a `--rev` revision, and the rule in its words.
struct Target {
    source: String,
    site: Site,
    model: Model,
    rule: Rule,
}

impl Target {
    fn er(&self, low: bool, model: &Model) -> EarlyReturns {
        EarlyReturns::from_model(model, low)
    }
}

/// Locates heuristic `h` at revision `r` and translates `rule` to it: the
/// ladder carries over; a changed early-return constant, or an early
/// return switched off, must have its counterpart there (the same
/// condition, up to the constants' names), or what changed is said.
fn retarget_site(
    r: &super::Retarget,
    h: Heuristic,
    names: &FunctionNames,
    tuned: &Model,
    rule: &Rule,
) -> Result<Target, String> {
    let site = CppFile::parse(&r.source).locate(h, names).map_err(|e| e.0)?;
    let model = Model::from_site(&site);
    let mut translated = Rule { constants: model.constants.clone(), ladder: rule.ladder.clone(), off: vec![] };
    let counterpart = |i: usize, map: &mut BTreeMap<String, String>| {
        let cond = &tuned.early_returns[i];
        model.early_returns.iter().position(|c| {
            let mut m = map.clone();
            let same = alpha_eq(cond, c, &tuned.constants, &model.constants, &mut m);
            if same {
                *map = m;
            }
            same
        })
    };
    let mut map = BTreeMap::new();
    for (name, &v) in &rule.constants {
        if tuned.constants.get(name) == Some(&v) {
            continue;
        }
        let holder = tuned.early_returns.iter().position(|c| {
            let mut vars = Vec::new();
            c.vars(&mut vars);
            vars.contains(name)
        });
        let found = holder.and_then(|i| counterpart(i, &mut map)).and_then(|_| map.get(name).cloned());
        let Some(there) = found else {
            return Err(format!("it has no early return like the one that reads `{name}`, which the rule changes"));
        };
        translated.constants.insert(there, v);
    }
    for &i in &rule.off {
        let Some(j) = counterpart(i, &mut map) else {
            return Err(format!(
                "it has no early return like `{}`, which the rule switches off for the measured shapes",
                tuned.early_returns[i]
            ));
        };
        translated.off.push(j);
    }
    Ok(Target { source: r.source.clone(), site, model, rule: translated })
}

/// Whether two conditions are the same up to the names of their constants
/// (`map` takes each constant of `a` to its name in `b`).
fn alpha_eq(a: &rules::Expr, b: &rules::Expr, ca: &Env, cb: &Env, map: &mut BTreeMap<String, String>) -> bool {
    use rules::Expr as E;
    match (a, b) {
        (E::Var(x), E::Var(y)) if ca.contains_key(x) && cb.contains_key(y) => match map.get(x) {
            Some(m) => m == y,
            None => {
                map.insert(x.clone(), y.clone());
                true
            }
        },
        (E::Not(x), E::Not(y)) | (E::Neg(x), E::Neg(y)) => alpha_eq(x, y, ca, cb, map),
        (E::Bin(o, x1, x2), E::Bin(p, y1, y2)) => {
            o == p && alpha_eq(x1, y1, ca, cb, map) && alpha_eq(x2, y2, ca, cb, map)
        }
        (E::Cond(x1, x2, x3), E::Cond(y1, y2, y3)) => {
            alpha_eq(x1, y1, ca, cb, map) && alpha_eq(x2, y2, ca, cb, map) && alpha_eq(x3, y3, ca, cb, map)
        }
        (E::Call(f, xs), E::Call(g, ys)) => {
            f == g && xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| alpha_eq(x, y, ca, cb, map))
        }
        _ => a == b,
    }
}
