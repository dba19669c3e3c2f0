//! How stable a recommendation is: the measurements resampled (a bootstrap
//! over each measurement's repeats), the recommended strategy refitted on
//! every resample, and how often the recommendation, each of its rungs and
//! each of its thresholds come back.
//!
//! A threshold "comes back" when the refitted one lies within its rounding
//! interval ([`ROUNDING_STEP`]) or separates the measured shapes alike. A
//! rung comes back with the same limit and the same buckets (their limits,
//! their thresholds within the rounding interval). The recommendation comes
//! back when the refitted rule has the same rungs and thresholds and no shape
//! vetoes it on the resample (early-return constants are not compared); a
//! "no change" recommendation comes back when no refitted strategy gains
//! [`NO_CHANGE_MARGIN`] without a veto. Refits skip the
//! cross-validation (the strategy is the one recommended), which keeps
//! `analyze` fast.

use crate::core::fit::{self, EarlyReturns, Params, Pins, Strategy, Table};
use crate::core::results::Results;
use crate::core::rule::{LimitSpec, Rule, Rung};
use crate::core::stats::Rng;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples per heuristic: each costs one fit of the
/// recommended strategy (a "no change" costs one fit of every strategy).
/// Twenty tell 80% from 100% well enough and keep `analyze` within a
/// second or two on the fixture's full sweep.
pub(crate) const STABILITY_RESAMPLES: usize = 20;

/// A recommendation that comes back in fewer resamples than this is
/// marked unstable in the report and the verdict.
pub(crate) const STABLE_FRACTION: f64 = 0.8;

/// A threshold's rounding interval: IREE writes output thresholds as
/// powers of two (`128 * 128`, `128 * 256`), so a refitted threshold within
/// a factor of two of the recommended one is the same threshold, rounded
/// the other way; so is one in the same gap between measured sizes.
const ROUNDING_STEP: f64 = 2.0;

/// A refitted strategy must gain this much (fitted geomean, 1%) for a
/// resample to count against a "no change" recommendation: fitted gains
/// are optimistic, and a fraction of a percent is no reason to change code.
const NO_CHANGE_MARGIN: f64 = 1.01;

/// The stability figure of one heuristic's recommendation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stability {
    pub(crate) resamples: usize,
    /// Fraction of resamples that give the recommendation back.
    pub(crate) recommendation: f64,
    /// Per rung of the recommended ladder (in order): fraction of resamples
    /// whose refit has as many rungs and this one with the same limit and
    /// the same reduction buckets.
    pub(crate) rungs: Vec<f64>,
    /// Per threshold on outputSize (rung `i`'s upper bound): fraction of
    /// resamples whose refit has as many rungs and this threshold within its
    /// rounding interval.
    pub(crate) thresholds: Vec<f64>,
    /// `recommendation` reached [`STABLE_FRACTION`].
    pub(crate) stable: bool,
    /// The most a resample's refitted rule loses against the
    /// recommendation, both judged on the sweep's full data (0.004: 0.4%
    /// lower geomean): when rules differ at equal worth, the optimum is
    /// flat and a rerun that writes another rule costs nothing.
    #[serde(default)]
    pub(crate) worst_loss: Option<f64>,
}

impl Stability {
    /// The figure in words, for the verdict lines.
    pub(crate) fn words(&self) -> String {
        let pct = crate::core::numfmt::pct;
        if self.stable {
            format!("stable: comes back in {} of {} resamples", pct(self.recommendation), self.resamples)
        } else {
            let worth = self
                .worst_loss
                .map(|l| format!("; the refitted rules are {} on this sweep's data", self::worth_words(l)))
                .unwrap_or_default();
            format!(
                "unstable: comes back in only {} of {} resamples (below {}){worth}",
                pct(self.recommendation),
                self.resamples,
                pct(STABLE_FRACTION)
            )
        }
    }
}

/// A refit's worst loss in words: below what one decimal of a percent shows,
/// "worth the same".
pub(crate) fn worth_words(loss: f64) -> String {
    if loss < 0.0005 {
        "worth the same".to_string()
    } else {
        format!("worth at most {} less", crate::core::numfmt::pct(loss))
    }
}

/// What a resample refits with.
pub(super) struct Refit<'a> {
    pub(super) results: &'a Results,
    pub(super) table: &'a Table,
    /// The limits the current code uses (the table's extra columns).
    pub(super) current: &'a [LimitSpec],
    pub(super) er: &'a EarlyReturns,
    pub(super) params: &'a Params,
    pub(super) pins: &'a Pins,
    pub(super) strategy: Strategy,
    pub(super) rule: Option<&'a Rule>,
}

/// `results` with every measurement of the table's shapes resampled (its
/// repeats drawn with replacement).
fn resample(results: &Results, table: &Table, rng: &mut Rng) -> Results {
    let mut out = results.clone();
    for row in &table.rows {
        for m in out.shapes[row.shape].runs.values_mut() {
            let n = m.samples.len();
            if n >= 2 {
                m.samples = (0..n).map(|_| m.samples[rng.below(n)]).collect();
            }
        }
    }
    out
}

/// How many of the measured sizes lie below `t`: thresholds with the same
/// count separate the measured shapes alike.
fn gap(sizes: &[i64], t: Option<i64>) -> Option<usize> {
    t.map(|t| sizes.iter().filter(|&&s| s < t).count())
}

/// Geomean speedup of `f`'s choices on `table` (an unmeasured choice counts
/// as no change).
fn worth(table: &Table, f: &fit::Fitted, er: &EarlyReturns) -> f64 {
    fit::geomean_speedup(&fit::outcomes(table, f, er))
}

/// The bootstrap of [`Stability`]; seeded by the heuristic's name.
pub(super) fn stability(x: &Refit) -> Stability {
    let mut rng = Rng::from_text(&format!("stability {}", x.table.heuristic));
    let sizes: Vec<i64> = x.table.rows.iter().map(|r| r.output).collect();
    let rungs = x.rule.map(|r| r.ladder.rungs.as_slice()).unwrap_or_default();
    let (mut same, mut rung_hits, mut threshold_hits) = (0usize, vec![0usize; rungs.len()], vec![0usize; rungs.len()]);
    // What the recommendation is worth on the full data, to judge the
    // refits against (a refit on the full data is the recommendation).
    let all_rows: Vec<&fit::Row> = x.table.rows.iter().collect();
    let recommended = x.rule.map(|_| {
        let f = fit::fit(x.strategy, &all_rows, &x.table.limits, x.er, x.params, x.pins);
        worth(x.table, &f, x.er)
    });
    let mut worst_loss: Option<f64> = None;
    for _ in 0..STABILITY_RESAMPLES {
        let mut table = fit::table(&resample(x.results, x.table, &mut rng), x.table.heuristic, x.current);
        // The medians move; the noise is the measurement process's, as the
        // full data estimate it (a resample of three repeats often has a
        // median absolute deviation of 0, which would make any slower
        // median "certain").
        for (row, old) in table.rows.iter_mut().zip(&x.table.rows) {
            row.frozen = old.frozen;
            row.baseline_noise = old.baseline_noise;
            row.noise.clone_from(&old.noise);
        }
        let rows: Vec<&fit::Row> = table.rows.iter().collect();
        if x.rule.is_none() {
            // "No change": does any strategy now gain without a veto?
            let gains = Strategy::ALL.iter().filter(|&&s| s != Strategy::Baseline).any(|&s| {
                let f = fit::fit(s, &rows, &table.limits, x.er, x.params, x.pins);
                let outs = fit::outcomes(&table, &f, x.er);
                !outs.iter().any(|o| o.regressed) && fit::geomean_speedup(&outs) > NO_CHANGE_MARGIN
            });
            same += usize::from(!gains);
            continue;
        }
        let f = fit::fit(x.strategy, &rows, &table.limits, x.er, x.params, x.pins);
        if let Some(r) = recommended {
            let loss = (1.0 - worth(x.table, &f, x.er) / r).max(0.0);
            worst_loss = Some(worst_loss.unwrap_or(0.0).max(loss));
        }
        let Some(rule) = &f.rule else { continue };
        if rule.ladder.rungs.len() != rungs.len() {
            continue;
        }
        let mut all = !fit::outcomes(&table, &f, x.er).iter().any(|o| o.regressed);
        for (i, (a, b)) in rungs.iter().zip(&rule.ladder.rungs).enumerate() {
            let (rung, threshold) = same_rung(a, b, &sizes);
            rung_hits[i] += usize::from(rung);
            threshold_hits[i] += usize::from(threshold);
            all &= rung && threshold;
        }
        same += usize::from(all);
    }
    let frac = |k: usize| k as f64 / STABILITY_RESAMPLES as f64;
    let recommendation = frac(same);
    // The last rung has no upper bound: not a threshold.
    let bounded = rungs.iter().filter(|r| r.upper.is_some()).count();
    Stability {
        resamples: STABILITY_RESAMPLES,
        recommendation,
        rungs: rung_hits.into_iter().map(frac).collect(),
        thresholds: threshold_hits.into_iter().take(bounded).map(frac).collect(),
        stable: recommendation >= STABLE_FRACTION,
        worst_loss,
    }
}

/// Whether rung `b` is rung `a` again: the same limits and buckets (bucket
/// thresholds within the rounding interval), and whether its upper bound is
/// the same threshold (within the rounding interval, or separating the
/// measured output `sizes` alike).
fn same_rung(a: &Rung, b: &Rung, sizes: &[i64]) -> (bool, bool) {
    let limits = |r: &Rung| (r.limit, r.splits.iter().map(|s| s.limit).collect::<Vec<_>>());
    let rung = limits(a) == limits(b)
        && a.splits.iter().zip(&b.splits).all(|(p, q)| close(Some(p.threshold), Some(q.threshold)));
    let threshold = close(a.upper, b.upper) || gap(sizes, a.upper) == gap(sizes, b.upper);
    (rung, threshold)
}

/// Whether two rules are the same recommendation as the stability figure
/// counts it: as many rungs, each the same with the same threshold
/// (early-return constants are not compared). `sizes`: the measured
/// outputSizes.
pub(crate) fn same_rule(a: &Rule, b: &Rule, sizes: &[i64]) -> bool {
    a.ladder.rungs.len() == b.ladder.rungs.len()
        && a.ladder.rungs.iter().zip(&b.ladder.rungs).all(|(x, y)| same_rung(x, y, sizes) == (true, true))
}

/// Two thresholds within a factor of [`ROUNDING_STEP`] of each other (both
/// absent: the same).
fn close(a: Option<i64>, b: Option<i64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a.max(1) as f64 / b.max(1) as f64).log2().abs() <= ROUNDING_STEP.log2() + 1e-9,
        (a, b) => a == b,
    }
}
