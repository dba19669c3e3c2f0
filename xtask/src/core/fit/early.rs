//! Early returns: the threshold conditions before the ladder, and refitting
//! the tuning constants they compare with by coordinate descent ("limit 1",
//! no split, stands for an early return firing).

use super::readable::{readable, Readable};
use super::{column, row_cost, Params, Pins, Row};
use crate::core::cpp::rules::{BinOp, Expr};
use crate::core::decide::Model;
use crate::core::rule::{LimitSpec, Rule};
use std::collections::BTreeMap;

/// A constant value that switches a `size < constant` early return off for
/// every real op (no tensor has 10^15 elements); with 0 it is the way to
/// switch a `size >= constant` one off.
pub(super) const NEVER: i64 = 1_000_000_000_000_000;

/// Passes of coordinate descent over the constants: each pass tries every
/// candidate value of every constant; three settle every case seen so far
/// (the second pass rarely moves anything, the third never did).
const DESCENT_PASSES: usize = 3;

/// Cost differences below this are float round-off of equal sums.
const COST_EPSILON: f64 = 1e-9;

/// The early returns a rule evaluates, with the constants they compare with.
#[derive(Clone, Debug, Default)]
pub(crate) struct EarlyReturns {
    pub(crate) conditions: Vec<Expr>,
    /// Current values of the tuning constants.
    pub(crate) constants: BTreeMap<String, i64>,
    /// The target measured is a low-parallelism one.
    pub(crate) low: bool,
    /// Per condition, whether the code can stop taking it for the measured
    /// outputs only (the output size is known there, and the other target
    /// can keep it): the fit may then switch it off.
    pub(crate) restrictable: Vec<bool>,
}

impl EarlyReturns {
    pub(crate) fn from_model(model: &Model, low: bool) -> EarlyReturns {
        EarlyReturns {
            conditions: model.early_returns.clone(),
            constants: model.constants_for(low).clone(),
            low,
            restrictable: vec![false; model.early_returns.len()],
        }
    }

    /// Whether an early return of `rule` fires for `row` (a measured shape,
    /// so inside the outputs where switched-off conditions are off).
    pub(crate) fn fires(&self, row: &Row, rule: &Rule) -> bool {
        self.fires_with(row, &rule.constants, &rule.off)
    }

    /// Whether an early return of the current code fires for `row`.
    pub(crate) fn fires_base(&self, row: &Row) -> bool {
        self.fires_with(row, &self.constants, &[])
    }

    fn fires_with(&self, row: &Row, constants: &BTreeMap<String, i64>, off: &[usize]) -> bool {
        let lookup = |name: &str| -> Option<i64> {
            if name == "lowParallelism" {
                return Some(i64::from(self.low));
            }
            constants.get(name).or_else(|| row.env.get(name)).copied()
        };
        self.conditions
            .iter()
            .enumerate()
            .any(|(i, c)| !off.contains(&i) && c.eval_with(&lookup).map(|v| v.truthy()).unwrap_or(false))
    }

    /// Constants that appear in a condition, with the quantities they are
    /// compared against (for candidate values).
    pub(crate) fn tunable(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        fn walk(e: &Expr, consts: &BTreeMap<String, i64>, out: &mut Vec<(String, Vec<String>)>) {
            match e {
                Expr::Bin(BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge, a, b) => {
                    if let (Expr::Var(p), Expr::Var(q)) = (a.as_ref(), b.as_ref()) {
                        let pair = match (consts.contains_key(p), consts.contains_key(q)) {
                            (false, true) => Some((q, p)),
                            (true, false) => Some((p, q)),
                            _ => None,
                        };
                        if let Some((c, x)) = pair {
                            match out.iter_mut().find(|(n, _)| n == c) {
                                Some((_, v)) => {
                                    if !v.contains(x) {
                                        v.push(x.clone())
                                    }
                                }
                                None => out.push((c.clone(), vec![x.clone()])),
                            }
                        }
                    }
                }
                Expr::Bin(_, a, b) => {
                    walk(a, consts, out);
                    walk(b, consts, out);
                }
                Expr::Not(a) | Expr::Neg(a) => walk(a, consts, out),
                _ => {}
            }
        }
        for c in &self.conditions {
            walk(c, &self.constants, &mut out);
        }
        out
    }
}

pub(super) fn rule_cost(rows: &[&Row], limits: &[LimitSpec], rule: &Rule, er: &EarlyReturns, pins: &Pins) -> f64 {
    rows.iter()
        .map(|r| {
            let l = if er.fires(r, rule) {
                LimitSpec::NO_SPLIT
            } else if r.frozen {
                // A kept rung decides: as measured when it decided the
                // baseline too, unknown (charged as unmeasured) when the old
                // early return had taken the shape first.
                return if er.fires_base(r) {
                    r.cost.iter().copied().fold(r.baseline.ln(), f64::max)
                } else {
                    r.baseline.ln()
                };
            } else {
                rule.ladder.limit(r.output, r.reduction)
            };
            match column(limits, l) {
                Some(k) => row_cost(r, k, pins),
                // An early return with no `limit 1` measurement: no split,
                // runtime unknown; keep it neutral by charging the baseline.
                None => r.baseline.ln(),
            }
        })
        .sum()
}

/// Refits the tuning constants by coordinate descent: each constant tries
/// the values of the quantity it is compared with (just below and at each
/// shape's value) and keeps the best.
pub(super) fn refit_constants(
    rows: &[&Row],
    limits: &[LimitSpec],
    rule: &mut Rule,
    er: &EarlyReturns,
    params: &Params,
    pins: &Pins,
) {
    if !limits.contains(&LimitSpec::NO_SPLIT) {
        return;
    }
    let tunable = er.tunable();
    let allowed = |name: &str, v: i64| match &params.constant_ranges {
        None => true,
        Some(ranges) => ranges.get(name).is_some_and(|&(lo, hi)| lo <= v && v <= hi),
    };
    for _ in 0..DESCENT_PASSES {
        let mut changed = false;
        for (name, vars) in &tunable {
            let mut cands: Vec<i64> = vec![rule.constants[name]];
            for r in rows {
                for v in vars {
                    if let Some(&x) = r.env.get(v) {
                        cands.push(x);
                        cands.push(x.saturating_add(1));
                    }
                }
            }
            cands.push(0);
            cands.push(NEVER);
            cands.retain(|&c| allowed(name, c));
            cands.sort();
            cands.dedup();
            let current = rule_cost(rows, limits, rule, er, pins);
            let mut best = (current, rule.constants[name]);
            for c in cands {
                let mut trial = rule.clone();
                trial.constants.insert(name.clone(), c);
                let cost = rule_cost(rows, limits, &trial, er, pins);
                // Only a real gain moves a constant, not float round-off.
                if cost < best.0 - COST_EPSILON {
                    best = (cost, c);
                }
            }
            if best.1 != rule.constants[name] {
                rule.constants.insert(name.clone(), best.1);
                changed = true;
            }
        }
        // Switching an early return off for the measured outputs.
        for i in (0..er.conditions.len()).filter(|&i| er.restrictable.get(i) == Some(&true)) {
            let mut trial = rule.clone();
            match trial.off.iter().position(|&x| x == i) {
                Some(p) => {
                    trial.off.remove(p);
                }
                None => {
                    trial.off.push(i);
                    trial.off.sort();
                }
            }
            if rule_cost(rows, limits, &trial, er, pins) < rule_cost(rows, limits, rule, er, pins) - COST_EPSILON {
                *rule = trial;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Round to readable values that select the same shapes.
    for (name, vars) in &tunable {
        let v = rule.constants[name];
        // An unchanged constant stays as written.
        if v <= 0 || v >= NEVER || er.constants.get(name) == Some(&v) {
            continue;
        }
        let values: Vec<i64> = rows.iter().flat_map(|r| vars.iter().filter_map(|x| r.env.get(x).copied())).collect();
        let lo = values.iter().copied().filter(|&x| x < v).max();
        let hi = values.iter().copied().filter(|&x| x >= v).min();
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let old = er.constants.get(name).copied().into_iter().collect::<Vec<_>>();
            let round = readable(lo, hi, false, Readable::Decimal, &old);
            if allowed(name, round) {
                rule.constants.insert(name.clone(), round);
            }
        }
    }
}
