//! Strategies: ways to turn a table into a rule (the current code, one
//! limit, the original toolkit's method, DP ladders with buckets, early
//! returns and regression repair), each fitted on all shapes and by k-fold
//! cross-validation, and the recommendation among them.

use super::early::{refit_constants, EarlyReturns};
use super::ladder::{fit_ladder, fit_ladder_at};
use super::{column, kfold, Choice, Params, Pin, Pins, Row, Table, MIN_REGRESSION_EFFECT};
use crate::core::rule::{Ladder, LimitSpec, Rule, Rung};
use crate::core::stats;
use crate::core::validation::{benjamini_hochberg, FDR};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Refits of a repairing strategy: each pins every shape the last fit
/// regressed; five rounds were always enough for the shapes seen so far
/// (each round pins the shapes a pin moved the regression to).
const REPAIR_ROUNDS: usize = 5;

/// Alternations between refitting the early-return constants and the
/// ladder on the shapes they let through: the second alternation catches
/// shapes the first constant move handed to the ladder.
const EARLY_ALTERNATIONS: usize = 2;

/// The original toolkit's "viable" limits: within this factor of the
/// shape's best measured time (its documented 15%).
const TOOLKIT_VIABLE: f64 = 1.15;

/// The original toolkit's neighbour consensus looks this many shapes to
/// each side (its documented window of seven).
const TOOLKIT_WINDOW: usize = 3;

/// A more complex strategy is recommended over a simpler one only when its
/// cross-validated geomean is at least this much better (0.1%): below that
/// the difference is fold-to-fold luck, and the simpler rule reads better.
const SIMPLER_MARGIN: f64 = 1.001;

/// Most folds of the outer cross-validation (more add fits, not insight).
const MAX_FOLDS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Strategy {
    /// The code as it is.
    Baseline,
    /// One limit for every shape (early returns as they are).
    SingleLimit,
    /// The original toolkit: viable limits within 15%, neighbour consensus,
    /// thresholds at cluster boundaries rounded to perfect squares.
    OriginalToolkit,
    /// DP ladder on outputSize, rungs by cross-validation.
    Ladder,
    /// Ladder with reductionSize splits inside rungs.
    Ladder2d,
    /// Ladder2d with refitted early-return constants.
    Ladder2dEarly,
    /// Ladder2d, refitted with every shape it regressed (see [`judge`])
    /// pinned to limits that do not regress it, until none is left.
    Ladder2dSafe,
    /// The same repair on Ladder2dEarly.
    Ladder2dEarlySafe,
}

impl Strategy {
    pub(crate) const ALL: [Strategy; 8] = [
        Strategy::Baseline,
        Strategy::SingleLimit,
        Strategy::OriginalToolkit,
        Strategy::Ladder,
        Strategy::Ladder2d,
        Strategy::Ladder2dEarly,
        Strategy::Ladder2dSafe,
        Strategy::Ladder2dEarlySafe,
    ];

    /// The strategy a repairing one repairs.
    pub(crate) fn unrepaired(self) -> Option<Strategy> {
        match self {
            Strategy::Ladder2dSafe => Some(Strategy::Ladder2d),
            Strategy::Ladder2dEarlySafe => Some(Strategy::Ladder2dEarly),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Strategy::Baseline => "baseline (current code)",
            Strategy::SingleLimit => "best single limit",
            Strategy::OriginalToolkit => "original toolkit",
            Strategy::Ladder => "DP ladder",
            Strategy::Ladder2d => "DP ladder + reduction buckets",
            Strategy::Ladder2dEarly => "DP ladder + buckets + early returns",
            Strategy::Ladder2dSafe => "DP ladder + buckets, regressions repaired",
            Strategy::Ladder2dEarlySafe => "DP ladder + buckets + early returns, regressions repaired",
        }
    }
}

/// A fitted strategy: a rule (none for the baseline).
#[derive(Clone, Debug)]
pub(crate) struct Fitted {
    pub(crate) rule: Option<Rule>,
    /// Shapes the repair pinned (beyond the pins it was given), in order.
    pub(crate) pinned: Vec<usize>,
}

impl Fitted {
    pub(crate) fn choose(&self, row: &Row, er: &EarlyReturns) -> Choice {
        match &self.rule {
            None => Choice::Baseline,
            Some(rule) => choose(rule, row, er),
        }
    }
}

fn choose(rule: &Rule, row: &Row, er: &EarlyReturns) -> Choice {
    if er.fires(row, rule) {
        Choice::Limit(LimitSpec::NO_SPLIT)
    } else if row.frozen {
        Choice::Baseline
    } else {
        Choice::Limit(rule.ladder.limit(row.output, row.reduction))
    }
}

/// The rule of a strategy without repair, honouring `pins`.
fn fit_rule(
    strategy: Strategy,
    rows: &[&Row],
    limits: &[LimitSpec],
    er: &EarlyReturns,
    params: &Params,
    pins: &Pins,
) -> Option<Rule> {
    let base_constants = er.constants.clone();
    // Shapes a kept rung decides do not shape the ladder.
    let all = rows;
    let rows: Vec<&Row> = rows.iter().copied().filter(|r| !r.frozen).collect();
    let rows = rows.as_slice();
    match strategy {
        Strategy::Baseline => None,
        Strategy::SingleLimit => {
            let p = Params { max_rungs: 1, allow_2d: false, ..params.clone() };
            Some(Rule { constants: base_constants, ladder: fit_ladder_at(rows, limits, &p, pins, 1), off: vec![] })
        }
        Strategy::OriginalToolkit => {
            Some(Rule { constants: base_constants, ladder: original_toolkit(rows, limits), off: vec![] })
        }
        Strategy::Ladder | Strategy::Ladder2d | Strategy::Ladder2dSafe => {
            let p = Params { allow_2d: strategy != Strategy::Ladder && params.allow_2d, ..params.clone() };
            // Shapes the early returns catch do not reach the ladder.
            let reach: Vec<&Row> = rows.iter().copied().filter(|r| !er.fires_base(r)).collect();
            Some(Rule { constants: base_constants, ladder: fit_ladder(&reach, limits, &p, pins), off: vec![] })
        }
        Strategy::Ladder2dEarly | Strategy::Ladder2dEarlySafe => {
            let mut rule =
                Rule { constants: base_constants, ladder: fit_ladder(rows, limits, params, pins), off: vec![] };
            for _ in 0..EARLY_ALTERNATIONS {
                refit_constants(all, limits, &mut rule, er, params, pins);
                let reach: Vec<&Row> = rows.iter().copied().filter(|r| !er.fires(r, &rule)).collect();
                rule.ladder = fit_ladder(&reach, limits, params, pins);
            }
            Some(rule)
        }
    }
}

/// Fits a strategy. `pins` are shapes that must not regress (validation's
/// refinement passes the ones it saw regress); the repairing strategies add
/// every shape they regress and refit, up to five times.
pub(crate) fn fit(
    strategy: Strategy,
    rows: &[&Row],
    limits: &[LimitSpec],
    er: &EarlyReturns,
    params: &Params,
    pins: &Pins,
) -> Fitted {
    let mut pins = pins.clone();
    let mut pinned = Vec::new();
    let mut rule = fit_rule(strategy, rows, limits, er, params, &pins);
    if matches!(strategy, Strategy::Ladder2dSafe | Strategy::Ladder2dEarlySafe) {
        for _ in 0..REPAIR_ROUNDS {
            let Some(r) = &rule else { break };
            let mut outs: Vec<ShapeOutcome> = rows.iter().map(|row| outcome(row, limits, choose(r, row, er))).collect();
            judge(&mut outs);
            let regressed: Vec<usize> =
                outs.iter().filter(|o| o.regressed).map(|o| o.shape).filter(|s| !pins.contains_key(s)).collect();
            if regressed.is_empty() {
                break;
            }
            pinned.extend(regressed.iter().copied());
            pins.extend(regressed.into_iter().map(|s| (s, Pin::NoRegression)));
            rule = fit_rule(strategy, rows, limits, er, params, &pins);
        }
    }
    Fitted { rule, pinned }
}

/// The original toolkit's method, as its documentation describes it.
pub(super) fn original_toolkit(rows: &[&Row], limits: &[LimitSpec]) -> Ladder {
    let mut sorted: Vec<&Row> = rows.to_vec();
    sorted.sort_by_key(|r| r.output);
    // Viable limits: within 15% of the best measured one.
    let viable: Vec<Vec<usize>> = sorted
        .iter()
        .map(|r| {
            let best = r.runtime.iter().flatten().fold(f64::INFINITY, |a, &b| a.min(b));
            (0..limits.len()).filter(|&k| r.runtime[k].is_some_and(|v| v <= TOOLKIT_VIABLE * best)).collect()
        })
        .collect();
    // Neighbour consensus over a window of three shapes on each side;
    // ties go to the larger limit (the toolkit favours aggressive splits).
    let chosen: Vec<usize> = (0..sorted.len())
        .map(|i| {
            let lo = i.saturating_sub(TOOLKIT_WINDOW);
            let hi = (i + TOOLKIT_WINDOW + 1).min(sorted.len());
            *viable[i].iter().max_by_key(|&&k| ((lo..hi).filter(|&j| viable[j].contains(&k)).count(), k)).unwrap_or(&0)
        })
        .collect();
    // Clusters by chosen limit; thresholds at each cluster's largest output,
    // walked from the largest limit down, kept increasing.
    let mut clusters: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
    for (i, &k) in chosen.iter().enumerate() {
        clusters.entry(k).or_default().push(sorted[i].output);
    }
    let mut order: Vec<usize> = clusters.keys().copied().collect();
    order.sort_by(|a, b| b.cmp(a));
    let mut rungs = Vec::new();
    let mut previous = 0i64;
    for (idx, k) in order.iter().enumerate() {
        if idx + 1 == order.len() {
            rungs.push(Rung { upper: None, limit: limits[*k], splits: vec![] });
            break;
        }
        let max_out = *clusters[k].iter().max().unwrap();
        let next_min = *clusters[&order[idx + 1]].iter().min().unwrap();
        // Overlapping clusters meet at the midpoint.
        let raw = if next_min <= max_out { (max_out + next_min) / 2 + 1 } else { max_out + 1 };
        let t = round_to_square(raw).max(previous + 1);
        previous = t;
        rungs.push(Rung { upper: Some(t), limit: limits[*k], splits: vec![] });
    }
    if rungs.is_empty() {
        rungs.push(Rung { upper: None, limit: limits[0], splits: vec![] });
    }
    Ladder { rungs }
}

/// The toolkit rounded thresholds to perfect squares such as 128 * 128.
fn round_to_square(v: i64) -> i64 {
    let root = (v.max(1) as f64).sqrt();
    let lower = 1i64 << (root.log2().floor() as u32);
    let upper = lower * 2;
    if (root - lower as f64).abs() <= (upper as f64 - root).abs() {
        lower * lower
    } else {
        upper * upper
    }
}

/// How a strategy does, fitted on all shapes and cross-validated.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Evaluation {
    pub(crate) strategy: Strategy,
    pub(crate) name: String,
    /// Geomean speedup over the baseline, fitted on all shapes.
    pub(crate) fitted_geomean: f64,
    /// Geomean speedup over the baseline on held-out shapes (k-fold).
    pub(crate) cv_geomean: f64,
    /// Worst per-shape speedup (below 1: a regression), held out.
    pub(crate) cv_worst: f64,
    /// Worst per-shape speedup, fitted.
    pub(crate) fitted_worst: f64,
    /// Shapes the fitted rule regresses: significantly (false discovery
    /// rate [`FDR`] over the heuristic's shapes) and by more than
    /// [`MIN_REGRESSION_EFFECT`].
    pub(crate) fitted_regressions: usize,
    /// Fraction of the oracle's log-gain captured, held out.
    pub(crate) cv_oracle_fraction: f64,
    pub(crate) fitted_oracle_fraction: f64,
    /// Shapes the repair pinned when fitted on all shapes (kept at a limit
    /// that does not regress them, the current decision among them).
    #[serde(default)]
    pub(crate) pinned: Vec<usize>,
}

/// Per-shape outcome of a rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ShapeOutcome {
    pub(crate) shape: usize,
    pub(crate) choice: Choice,
    pub(crate) runtime: Option<f64>,
    pub(crate) speedup: Option<f64>,
    /// Significantly slower (q below [`FDR`]) by more than
    /// [`MIN_REGRESSION_EFFECT`]: the shape vetoes the rule.
    pub(crate) regressed: bool,
    /// One-sided p-value of "slower than the current code" (`None`: the
    /// current code's own decision, or not measured).
    #[serde(default)]
    pub(crate) p_value: Option<f64>,
    /// That p-value adjusted for testing every shape (Benjamini-Hochberg).
    #[serde(default)]
    pub(crate) q_value: Option<f64>,
}

/// A shape's outcome under `choice`; [`judge`] decides the regressions.
fn outcome(row: &Row, limits: &[LimitSpec], choice: Choice) -> ShapeOutcome {
    let runtime = row.runtime_of(limits, choice);
    let speedup = runtime.map(|r| row.baseline / r);
    let p_value = match choice {
        Choice::Limit(l) => column(limits, l).and_then(|k| row.regression(k)).map(|(_, p)| p),
        Choice::Baseline => None,
    };
    ShapeOutcome { shape: row.shape, choice, runtime, speedup, regressed: false, p_value, q_value: None }
}

/// Decides which of `outs` (one rule on a set of shapes) are regressions:
/// Benjamini-Hochberg over the shapes tested, so that dozens of shapes at
/// once do not veto a rule on noise alone, and at least
/// [`MIN_REGRESSION_EFFECT`] slower.
fn judge(outs: &mut [ShapeOutcome]) {
    let tested: Vec<usize> = (0..outs.len()).filter(|&i| outs[i].p_value.is_some()).collect();
    let q = benjamini_hochberg(&tested.iter().map(|&i| outs[i].p_value.unwrap_or(1.0)).collect::<Vec<_>>());
    for (&i, q) in tested.iter().zip(q) {
        let o = &mut outs[i];
        o.q_value = Some(q);
        o.regressed = q < FDR && o.speedup.is_some_and(|s| s < 1.0 / (1.0 + MIN_REGRESSION_EFFECT));
    }
}

/// The best measured choice per shape.
pub(crate) fn oracle(row: &Row, limits: &[LimitSpec]) -> (Choice, f64) {
    let mut best = (Choice::Baseline, row.baseline);
    for (k, r) in row.runtime.iter().enumerate() {
        if let Some(v) = r {
            if *v < best.1 {
                best = (Choice::Limit(limits[k]), *v);
            }
        }
    }
    best
}

pub(crate) fn outcomes(table: &Table, fitted: &Fitted, er: &EarlyReturns) -> Vec<ShapeOutcome> {
    let mut outs: Vec<ShapeOutcome> =
        table.rows.iter().map(|r| outcome(r, &table.limits, fitted.choose(r, er))).collect();
    judge(&mut outs);
    outs
}

/// Geomean speedup of `outs` (a limit not measured for a shape counts as
/// no gain).
pub(crate) fn geomean_speedup(outs: &[ShapeOutcome]) -> f64 {
    crate::core::stats::mean(&log_speedups(outs)).map(f64::exp).unwrap_or(1.0)
}

fn log_speedups(outs: &[ShapeOutcome]) -> Vec<f64> {
    // A limit that was not measured for a shape counts as no gain.
    outs.iter().map(|o| o.speedup.map(f64::ln).unwrap_or(0.0)).collect()
}

/// Fits every strategy on all rows and by k-fold cross-validation.
pub(crate) fn evaluate(table: &Table, er: &EarlyReturns, params: &Params, pins: &Pins) -> Vec<(Evaluation, Fitted)> {
    let all: Vec<&Row> = table.rows.iter().collect();
    let oracle_logs: Vec<f64> = table.rows.iter().map(|r| (r.baseline / oracle(r, &table.limits).1).ln()).collect();
    let oracle_sum: f64 = oracle_logs.iter().sum();
    let folds = params.folds.clamp(2, MAX_FOLDS).min(table.rows.len().max(2));
    let mut out = Vec::new();
    for strategy in Strategy::ALL {
        let fitted = fit(strategy, &all, &table.limits, er, params, pins);
        let fitted_out = outcomes(table, &fitted, er);
        // k-fold: fold of a row is its rank in output order modulo k, so
        // every fold spans the whole range of sizes.
        let mut cv_out: Vec<Option<ShapeOutcome>> = vec![None; table.rows.len()];
        if table.rows.len() >= folds {
            for (train, test) in kfold(&all, folds) {
                let model = fit(strategy, &train, &table.limits, er, params, pins);
                for (i, r) in test {
                    cv_out[i] = Some(outcome(r, &table.limits, model.choose(r, er)));
                }
            }
        }
        let mut cv_out: Vec<ShapeOutcome> =
            cv_out.into_iter().enumerate().map(|(i, o)| o.unwrap_or_else(|| fitted_out[i].clone())).collect();
        judge(&mut cv_out);
        let (fl, cl) = (log_speedups(&fitted_out), log_speedups(&cv_out));
        let gm = |l: &[f64]| stats::mean(l).map(f64::exp).unwrap_or(1.0);
        let worst = |o: &[ShapeOutcome]| o.iter().filter_map(|x| x.speedup).fold(f64::INFINITY, f64::min);
        let frac = |l: &[f64]| if oracle_sum.abs() < 1e-12 { 1.0 } else { l.iter().sum::<f64>() / oracle_sum };
        out.push((
            Evaluation {
                strategy,
                name: strategy.name().to_string(),
                fitted_geomean: gm(&fl),
                cv_geomean: gm(&cl),
                cv_worst: worst(&cv_out),
                fitted_worst: worst(&fitted_out),
                fitted_regressions: fitted_out.iter().filter(|o| o.regressed).count(),
                cv_oracle_fraction: frac(&cl),
                fitted_oracle_fraction: frac(&fl),
                pinned: fitted.pinned.clone(),
            },
            fitted,
        ));
    }
    out
}

/// The recommendation: the best cross-validated geomean among strategies
/// whose fitted rule regresses no shape (see [`judge`]) (the baseline itself
/// when nothing beats it).
pub(crate) fn recommend(evals: &[(Evaluation, Fitted)]) -> usize {
    let mut best = evals.iter().position(|(e, _)| e.strategy == Strategy::Baseline).unwrap_or(0);
    for (i, (e, f)) in evals.iter().enumerate() {
        if f.rule.is_none() || e.fitted_regressions > 0 {
            continue;
        }
        // Prefer the simpler strategy unless the better one gains 0.1%.
        if e.cv_geomean > evals[best].0.cv_geomean * SIMPLER_MARGIN {
            best = i;
        }
    }
    best
}
