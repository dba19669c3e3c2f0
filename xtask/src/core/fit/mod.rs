//! Rule fitting: from per-shape runtimes at each limit to a ladder (with
//! reduction-size buckets and early-return thresholds) that generalises.
//!
//! The objective everywhere is the sum of log runtimes (the geometric mean).
//! A ladder on `outputSize` with non-increasing limits is found by exact
//! dynamic programming ([`dp`]) over the shapes sorted by output size; its
//! number of rungs is chosen by cross-validation on the training shapes.
//! Inside a rung a `reductionSize` split is kept only when it pays more than
//! the noise ([`ladder`]). Early-return constants are refitted by coordinate
//! descent, with "limit 1" (no split) standing for an early return
//! ([`early`]). The original toolkit's method is here too, as a strategy to
//! compare with ([`strategy`]). Thresholds are placed where they do not
//! change the partition and rounded to values IREE would write
//! ([`readable`]). The rule's types are [`crate::core::rule`]'s.

mod dp;
mod early;
mod ladder;
mod readable;
mod strategy;
#[cfg(test)]
mod tests;

pub(crate) use early::EarlyReturns;
pub(crate) use readable::Readable;
pub(crate) use strategy::{
    evaluate, fit, geomean_speedup, oracle, outcomes, recommend, Evaluation, Fitted, ShapeOutcome, Strategy,
};

use crate::core::anchors::OffScale;
use crate::core::cpp::rules::{Env, Expr, Stmt};
use crate::core::results::{Measurement, Results, ShapeResult};
use crate::core::rule::LimitSpec;
use crate::core::validation::{t_test_p, FDR};
use crate::core::workload::Heuristic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Extra cost (in log runtime) of giving a pinned shape a limit its pin
/// forbids. It dwarfs any real difference (e^1000), so the fit breaks a pin
/// only when no limit at all satisfies it.
const PIN_PENALTY: f64 = 1e3;

/// The smallest regression (2% slower) that lets a shape veto a rule,
/// however significant: below it the report calls the shape unchanged.
/// With the multiplicity of shapes controlled ([`FDR`], Benjamini-Hochberg,
/// as validation does) this is the veto's stated error rate.
pub(crate) const MIN_REGRESSION_EFFECT: f64 = 0.02;

/// An unmeasured (shape, split) counts as this many times the shape's worst
/// known runtime: pessimistic enough that a rule never relies on a split
/// nobody measured, finite so that a shape measured nowhere else can still
/// be placed.
const UNMEASURED_FACTOR: f64 = 2.0;

/// A column off the baseline's scale (its processes could not be anchored
/// while the baseline's were) regresses a shape only beyond what its
/// scale's offset could be at this many standard errors (one-sided 95%):
/// that offset is one unknown shared by every shape of the column, which
/// the per-shape test and Benjamini-Hochberg would otherwise count as many
/// independent regressions.
pub(crate) const SCALE_Z: f64 = 1.645;

/// The values the current ladder uses (its high-parallelism ones), so that
/// a fitted rule can keep them where no swept limit does better.
pub(crate) fn ladder_specs(stmts: &[Stmt], low: bool) -> Vec<LimitSpec> {
    let spec = |e: &Expr| spec_of(e, low);
    fn spec_of(e: &Expr, low: bool) -> Option<LimitSpec> {
        match e {
            Expr::Num(_) => e.int().map(LimitSpec::Fixed),
            // `lowParallelism ? a : b`: the value of the target swept.
            Expr::Cond(_, a, b) => spec_of(if low { a } else { b }, low),
            Expr::Call(name, args) if name == "min" && args.len() == 2 => match (&args[0], &args[1]) {
                (c, Expr::Var(_)) | (Expr::Var(_), c) => c.int().map(LimitSpec::Clamp),
                _ => None,
            },
            _ => None,
        }
    }
    let mut out = Vec::new();
    fn walk(stmts: &[Stmt], out: &mut Vec<LimitSpec>, spec: &dyn Fn(&Expr) -> Option<LimitSpec>) {
        for s in stmts {
            match s {
                Stmt::If { then, els, .. } => {
                    walk(then, out, spec);
                    walk(els, out, spec);
                }
                Stmt::Return(e) | Stmt::Assign(_, e) => out.extend(spec(e)),
                Stmt::Other(_) => {}
            }
        }
    }
    walk(stmts, &mut out, &spec);
    out.sort();
    out.dedup();
    out
}

/// What a strategy decides for a shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Choice {
    /// The current code's decision (the baseline measurement).
    Baseline,
    Limit(LimitSpec),
}

/// One shape of one heuristic, with its runtimes at every measured limit.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    /// Index into `Results::shapes`.
    pub(crate) shape: usize,
    pub(crate) output: i64,
    pub(crate) reduction: i64,
    /// The reduction dim the walk starts with (for clamped limits).
    pub(crate) start_tile: i64,
    pub(crate) env: Env,
    pub(crate) baseline: f64,
    pub(crate) baseline_noise: f64,
    pub(crate) baseline_n: usize,
    /// By index into `Table::limits`.
    pub(crate) runtime: Vec<Option<f64>>,
    pub(crate) noise: Vec<f64>,
    pub(crate) n: Vec<usize>,
    /// Per column, the standard error of its scale against the baseline's
    /// when it is off that scale (see [`crate::core::anchors::off_scale`]);
    /// 0 on the same scale.
    pub(crate) scale_se: Vec<f64>,
    /// Log runtime, with missing measurements imputed pessimistically.
    pub(crate) cost: Vec<f64>,
    /// Whether the column gives the split the current code gives.
    pub(crate) baseline_split: Vec<bool>,
    /// The current code decides this shape with a rung the retune keeps as
    /// it is (a condition other than `outputSize < T`, or a body it cannot
    /// edit): whatever the ladder, the shape keeps its current decision
    /// unless an early return takes it first.
    pub(crate) frozen: bool,
}

impl Row {
    /// Runtime of a choice; `None` when that limit was not measured.
    pub(crate) fn runtime_of(&self, limits: &[LimitSpec], choice: Choice) -> Option<f64> {
        match choice {
            Choice::Baseline => Some(self.baseline),
            Choice::Limit(l) => column(limits, l).and_then(|k| self.runtime[k]),
        }
    }

    /// Limits that do not regress this shape: its regression at `k` is not
    /// both significant on its own (one-sided p below [`FDR`]) and larger
    /// than [`MIN_REGRESSION_EFFECT`]. Unadjusted, so stricter than the
    /// veto over all shapes (a q-value is never below its p-value): a shape
    /// pinned to an allowed limit never vetoes the rule.
    pub(crate) fn allowed(&self, k: usize) -> bool {
        match self.regression(k) {
            Some((effect, p)) => !(p < FDR && effect > MIN_REGRESSION_EFFECT.ln_1p()),
            None => false,
        }
    }

    /// The evidence that limit `k` is slower than the current code: the
    /// log ratio of medians (positive: slower) and its one-sided p-value
    /// (Student's t on the medians' standard errors, about 1.25 sigma /
    /// sqrt(n) each). Without noise a slower median is certain (p = 0) and
    /// only [`MIN_REGRESSION_EFFECT`] decides. `None`: not measured.
    pub(crate) fn regression(&self, k: usize) -> Option<(f64, f64)> {
        let r = self.runtime[k]?;
        let e = slower((self.baseline, self.baseline_noise, self.baseline_n), (r, self.noise[k], self.n[k]));
        let shift = SCALE_Z * self.scale_se.get(k).copied().unwrap_or(0.0);
        if shift <= 0.0 {
            return Some((e.effect, e.p));
        }
        let effect = e.effect - shift;
        Some((effect, one_sided_p(effect, e.se, e.df)))
    }
}

/// The evidence that one measurement is slower than another.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Slower {
    /// Log ratio of the medians (positive: slower).
    pub(crate) effect: f64,
    /// Its standard error (0: no noise measured).
    pub(crate) se: f64,
    /// Degrees of freedom of its t statistic.
    pub(crate) df: f64,
    /// One-sided p-value of "slower".
    pub(crate) p: f64,
}

/// The evidence that `candidate` is slower than `baseline`, each given as
/// (median, relative noise, repeats): Student's t on the medians' standard
/// errors (about 1.25 sigma / sqrt(n) each). Without noise a slower median
/// is certain (p = 0). What the fitter's veto ([`Row::regression`]) and
/// the sweep's re-measurement of ambiguous pairs both judge by.
pub(crate) fn slower(baseline: (f64, f64, usize), candidate: (f64, f64, usize)) -> Slower {
    let ((b, b_noise, b_n), (r, noise, n)) = (baseline, candidate);
    let effect = (r / b).ln();
    let se2 = |s: f64, n: usize| (1.25 * s).powi(2) / n.max(1) as f64;
    let se = (se2(b_noise, b_n) + se2(noise, n)).sqrt();
    let df = (b_n + n).saturating_sub(2).max(1) as f64;
    Slower { effect, se, df, p: one_sided_p(effect, se, df) }
}

/// The one-sided p-value of "slower" for a log ratio `effect` with
/// standard error `se` on `df` degrees of freedom (no noise: certain).
fn one_sided_p(effect: f64, se: f64, df: f64) -> f64 {
    if se <= 0.0 {
        if effect > 0.0 {
            0.0
        } else {
            1.0
        }
    } else {
        let two_sided = t_test_p(effect / se, df);
        if effect > 0.0 {
            two_sided / 2.0
        } else {
            1.0 - two_sided / 2.0
        }
    }
}

/// The measurements of one heuristic's shapes, ready for fitting.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) heuristic: Heuristic,
    /// The fitting's columns: measured limits and the current ladder's values.
    pub(crate) limits: Vec<LimitSpec>,
    pub(crate) rows: Vec<Row>,
    /// Shapes left out, with why.
    pub(crate) excluded: Vec<(usize, String)>,
    /// Measurements imputed because a limit failed for a shape.
    pub(crate) imputed: Vec<(usize, i64)>,
}

/// One measured configuration of a shape: its split and what it cost.
struct Known {
    tiles: Vec<i64>,
    runtime: f64,
    noise: f64,
    n: usize,
    scale_se: f64,
}

/// The measured candidates of shape `s`: their splits and runtimes. A
/// measurement off the baseline's scale (`off`) is moved onto it by the
/// anchored processes' mean drift and carries its scale's uncertainty.
fn candidates_known(s: &ShapeResult, measured: &[i64], off: Option<&OffScale>) -> Vec<Known> {
    let mut known = Vec::new();
    for &l in measured {
        let name = crate::core::results::candidate_name(Some(l));
        let Some(m) = s.runs.get(&name) else { continue };
        let tiles = crate::core::decide::tile_sizes(&s.features.reduction_dims, l, s.features.walk);
        let (Some(mut runtime), Some(tiles)) = (m.median(), tiles) else { continue };
        let mut scale_se = 0.0;
        let owner = m.shared_from.as_deref().unwrap_or(&name);
        if let Some(off) = off.filter(|o| o.names.contains(owner)) {
            runtime /= off.shift.exp();
            // The scale is its first processes' (a re-measurement is put
            // on it), not the extra samples'.
            scale_se = off.scale_se(m.samples.len() - m.extra_samples.min(m.samples.len()));
        }
        known.push(Known { tiles, runtime, noise: m.relative_noise().unwrap_or(0.0), n: m.samples.len(), scale_se });
    }
    known
}

/// Builds the table of `heuristic` from a sweep's results.
///
/// A shape's runtime depends on the split the compiler picks, not on the
/// limit that led there: two limits that give the same tile sizes compile
/// to the same kernels. So the table's limits are the measured ones plus the
/// values the current code uses (its ladder's rungs), and the runtime of a
/// (shape, limit) pair is known whenever that limit's split equals the split
/// of a measured candidate or of the baseline. That is what lets a rule keep
/// the current behaviour where no swept limit beats it. "No split" is the
/// split whose tiles are the whole dims (limit 1).
pub(crate) fn table(results: &Results, heuristic: Heuristic, current: &[LimitSpec]) -> Table {
    use crate::core::decide::tile_sizes;
    let measured: Vec<i64> =
        results.candidates.iter().filter(|c| c.status.measured()).filter_map(|c| c.limit).collect();
    let mut limits: Vec<LimitSpec> = measured.iter().map(|&l| LimitSpec::Fixed(l)).collect();
    limits.extend(current.iter().copied().filter(|l| l.value() >= 1));
    limits.sort();
    limits.dedup();
    let mut rows = Vec::new();
    let mut excluded = Vec::new();
    let mut imputed = Vec::new();
    let off = crate::core::anchors::off_scale(&results.candidates);
    for (i, s) in results.shapes.iter().enumerate() {
        if s.features.heuristic != heuristic {
            continue;
        }
        let base = s.runs.get("baseline");
        let Some(baseline) = base.and_then(Measurement::median) else {
            excluded.push((i, "no baseline measurement".to_string()));
            continue;
        };
        let dims = &s.features.reduction_dims;
        let walk = s.features.walk;
        let mut known = candidates_known(s, &measured, off.as_ref());
        if known.is_empty() {
            excluded.push((i, "no candidate measured it".to_string()));
            continue;
        }
        let baseline_noise = base.and_then(Measurement::relative_noise).unwrap_or(0.0);
        let baseline_n = base.map(|b| b.samples.len()).unwrap_or(0);
        let baseline_tiles = s
            .decisions
            .get("baseline")
            .filter(|d| d.unknown.is_none())
            .map(|d| d.tile_sizes.clone().unwrap_or_else(|| dims.clone()));
        if let Some(tiles) = baseline_tiles.clone() {
            known.push(Known { tiles, runtime: baseline, noise: baseline_noise, n: baseline_n, scale_se: 0.0 });
        }
        let start_tile = s.features.start_tile_size;
        let (mut runtime, mut noise, mut n, mut scale_se, mut baseline_split) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &l in &limits {
            let tiles = tile_sizes(dims, l.effective(start_tile), walk);
            baseline_split.push(tiles.is_some() && tiles == baseline_tiles);
            let hit = tiles.and_then(|t| known.iter().find(|k| k.tiles == t));
            runtime.push(hit.map(|k| k.runtime));
            noise.push(hit.map(|k| k.noise).unwrap_or(0.0));
            n.push(hit.map(|k| k.n).unwrap_or(0));
            scale_se.push(hit.map(|k| k.scale_se).unwrap_or(0.0));
        }
        let worst = runtime.iter().flatten().fold(baseline, |a, &b| a.max(b));
        let cost = runtime
            .iter()
            .enumerate()
            .map(|(k, r)| match r {
                Some(v) => v.ln(),
                None => {
                    if let LimitSpec::Fixed(l) = limits[k] {
                        if measured.contains(&l) {
                            imputed.push((i, l));
                        }
                    }
                    (UNMEASURED_FACTOR * worst).ln()
                }
            })
            .collect();
        rows.push(Row {
            shape: i,
            output: s.features.output_size,
            reduction: s.features.reduction_size,
            start_tile,
            env: s.features.vars.clone(),
            baseline,
            baseline_noise,
            baseline_n,
            runtime,
            noise,
            n,
            scale_se,
            cost,
            baseline_split,
            frozen: false,
        });
    }
    rows.sort_by_key(|r| (r.output, r.reduction));
    Table { heuristic, limits, rows, excluded, imputed }
}

/// Fitting parameters.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) max_rungs: usize,
    pub(crate) folds: usize,
    /// `<` or `<=` in the file's ladder, for readable thresholds.
    pub(crate) inclusive: bool,
    /// Whether the ladder may use `reductionSize` splits.
    pub(crate) allow_2d: bool,
    /// The code's own thresholds on `outputSize` and `reductionSize`
    /// (exclusive bounds): preferred where they separate the same shapes.
    pub(crate) preferred_output: Vec<i64>,
    pub(crate) preferred_reduction: Vec<i64>,
    /// Per early-return constant, the values it may take (inclusive): those
    /// whose change alters decisions only where measurements say (see
    /// [`crate::core::audit::admissible`]). `None`: any value.
    pub(crate) constant_ranges: Option<BTreeMap<String, (i64, i64)>>,
}

/// What a pinned shape may get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Pin {
    /// A limit that does not regress it ([`Row::allowed`]), by the sweep's data.
    NoRegression,
    /// The split the current code gives it (validation measured a
    /// regression the sweep's data did not show).
    Baseline,
}

/// Pinned shapes (by `Row::shape`).
pub(crate) type Pins = BTreeMap<usize, Pin>;

/// Cost of a row at limit index `k`; a pinned row pays a large penalty for
/// a limit its pin forbids (when some limit satisfies it).
fn row_cost(row: &Row, k: usize, pins: &Pins) -> f64 {
    let ok = |j: usize| match pins.get(&row.shape) {
        None => true,
        Some(Pin::NoRegression) => row.allowed(j),
        Some(Pin::Baseline) => row.baseline_split[j],
    };
    if !ok(k) && (0..row.cost.len()).any(ok) {
        row.cost[k] + PIN_PENALTY
    } else {
        row.cost[k]
    }
}

/// The column of limit `l` among `limits`.
pub(crate) fn column(limits: &[LimitSpec], l: LimitSpec) -> Option<usize> {
    limits.iter().position(|&x| x == l)
}

/// Rows sorted by `key`, grouped where it is equal (a threshold on that
/// size cannot separate them).
fn group_rows_by<'a>(rows: &[&'a Row], key: impl Fn(&Row) -> i64) -> Vec<Vec<&'a Row>> {
    let mut sorted: Vec<&Row> = rows.to_vec();
    sorted.sort_by_key(|r| key(r));
    let mut groups: Vec<Vec<&Row>> = Vec::new();
    for r in sorted {
        match groups.last_mut() {
            Some(g) if key(g[0]) == key(r) => g.push(r),
            _ => groups.push(vec![r]),
        }
    }
    groups
}

/// k-fold splits of `items`: item `i` is held out in fold `i % k`, so when
/// the items are sorted by size every fold spans the whole range. Yields
/// (training items, held-out items with their indices).
fn kfold<T: Copy>(items: &[T], k: usize) -> impl Iterator<Item = (Vec<T>, Vec<(usize, T)>)> + '_ {
    (0..k).map(move |f| {
        let train = items.iter().enumerate().filter(|(i, _)| i % k != f).map(|(_, r)| *r).collect();
        let test = items.iter().enumerate().filter(|(i, _)| i % k == f).map(|(i, r)| (i, *r)).collect();
        (train, test)
    })
}

/// How far beyond the measured edge the evidence region reaches: a rule is
/// trusted up to a readable threshold within this factor of the nearest
/// measured value, not to infinity.
const EDGE_FACTOR: i64 = 2;

/// The evidence region along one quantity: exclusive bounds `[lo, hi)`
/// around the measured `[min, max]`, each a readable value at most
/// [`EDGE_FACTOR`] beyond the measured edge (the file's own threshold when
/// one lies there). `inclusive`: the file writes `x <= t`.
pub(crate) fn edges(min: i64, max: i64, inclusive: bool, style: Readable, preferred: &[i64]) -> (i64, i64) {
    let lo = readable::readable(min / EDGE_FACTOR, min.max(1), inclusive, style, preferred);
    let hi = readable::readable(max, max.saturating_mul(EDGE_FACTOR).max(max + 1), inclusive, style, preferred);
    (lo.min(min), hi.max(max + 1))
}
