//! Ladders: rungs on `outputSize` by the exact DP, their number chosen by
//! inner cross-validation, and `reductionSize` buckets inside a rung where
//! they pay more than the noise.

use super::dp::{self, Order};
use super::readable::{readable, Readable};
use super::{column, group_rows_by, kfold, row_cost, Params, Pins, Row};
use crate::core::rule::{Ladder, LimitSpec, ReductionSplit, Rung};
use crate::core::stats::{self, noise_threshold};

/// Most `reductionSize` buckets a rung may hold: beyond three the code
/// reads as a table, not a rule, and each bucket has too few shapes.
const MAX_BUCKETS: usize = 3;

/// Fewest shapes a bucket may hold, so that no threshold is placed for a
/// single (possibly noisy) shape.
const MIN_BUCKET_SHAPES: usize = 2;

/// Fewest shapes a rung needs before buckets are tried (two buckets of the
/// minimum size).
const MIN_RUNG_SHAPES_FOR_BUCKETS: usize = 2 * MIN_BUCKET_SHAPES;

/// Fewer rungs are as good when their held-out cost is within this much
/// log runtime per shape (half a percent of geomean) of the best count.
const FEWER_RUNGS_TOLERANCE: f64 = 0.005;

/// Inner cross-validation of the rung count uses at most this many folds:
/// it runs inside every outer fold, and more folds barely change the count.
const MAX_INNER_FOLDS: usize = 5;

/// A bucket split is kept when it gains, per moved shape, more than that
/// shape's noise threshold; with no moved shape, this floor (the smallest
/// difference ever called real, half a percent).
const MIN_BUCKET_GAIN: f64 = 0.005;

/// Rows sorted by output size, grouped where it is equal.
fn group_rows<'a>(rows: &[&'a Row]) -> Vec<Vec<&'a Row>> {
    group_rows_by(rows, |r| r.output)
}

/// The best ladders with 1 to `max_rungs` rungs (index = rungs - 1).
fn dp_ladders(groups: &[Vec<&Row>], nk: usize, max_rungs: usize, pins: &Pins) -> Vec<Option<dp::Partition>> {
    let prefix = dp::prefix_costs(groups, nk, |g, k| g.iter().map(|r| row_cost(r, k, pins)).sum());
    dp::partitions(&prefix, max_rungs, Order::Decreasing, |_, _| true)
}

/// Turns DP segments into a ladder with readable thresholds.
fn ladder_from_segments(
    groups: &[Vec<&Row>],
    segs: &[(usize, usize)],
    limits: &[LimitSpec],
    inclusive: bool,
    preferred: &[i64],
) -> Ladder {
    let mut rungs = Vec::new();
    for (idx, &(end, k)) in segs.iter().enumerate() {
        let upper = if idx + 1 == segs.len() {
            None
        } else {
            let lo = groups[end - 1][0].output;
            let hi = groups[end][0].output;
            Some(readable(lo, hi, inclusive, Readable::PowersOfTwo, preferred))
        };
        rungs.push(Rung { upper, limit: limits[k], splits: vec![] });
    }
    Ladder { rungs }
}

/// The segments of the best ladder with at most `rungs` rungs (one rung at
/// the first limit when there is none).
fn best_segments(fits: &[Option<dp::Partition>], rungs: usize, groups: usize) -> Vec<(usize, usize)> {
    fits.iter().take(rungs).rev().flatten().next().map(|p| p.segments.clone()).unwrap_or_else(|| vec![(groups, 0)])
}

/// A ladder with exactly `rungs` rungs at most, no inner cross-validation.
pub(super) fn fit_ladder_at(rows: &[&Row], limits: &[LimitSpec], params: &Params, pins: &Pins, rungs: usize) -> Ladder {
    let groups = group_rows(rows);
    let fits = dp_ladders(&groups, limits.len(), rungs, pins);
    let segs = fits.into_iter().flatten().last().map(|p| p.segments).unwrap_or_else(|| vec![(groups.len(), 0)]);
    ladder_from_segments(&groups, &segs, limits, params.inclusive, &params.preferred_output)
}

/// Fits a ladder with exactly the rung count that inner cross-validation on
/// `rows` prefers (the fewest rungs within noise of the best).
pub(super) fn fit_ladder(rows: &[&Row], limits: &[LimitSpec], params: &Params, pins: &Pins) -> Ladder {
    let groups = group_rows(rows);
    let max_rungs = params.max_rungs.min(groups.len()).max(1);
    let rungs =
        if rows.len() >= 2 * params.folds.max(2) { choose_rungs(rows, limits, params, pins, max_rungs) } else { 1 };
    let fits = dp_ladders(&groups, limits.len(), max_rungs, pins);
    let mut ladder = ladder_from_segments(
        &groups,
        &best_segments(&fits, rungs, groups.len()),
        limits,
        params.inclusive,
        &params.preferred_output,
    );
    if params.allow_2d {
        refine_2d(&mut ladder, rows, limits, pins, params);
    }
    ladder
}

/// Inner cross-validation of the rung count on the training rows.
fn choose_rungs(rows: &[&Row], limits: &[LimitSpec], params: &Params, pins: &Pins, max_rungs: usize) -> usize {
    let mut held_out = vec![0.0; max_rungs];
    for (train, test) in kfold(rows, params.folds.clamp(2, MAX_INNER_FOLDS)) {
        let groups = group_rows(&train);
        let fits = dp_ladders(&groups, limits.len(), max_rungs, pins);
        for (m, total) in held_out.iter_mut().enumerate() {
            // Fewer groups than rungs: reuse the largest fit there is.
            let Some(p) = fits.iter().take(m + 1).rev().flatten().next() else { continue };
            let ladder = ladder_from_segments(&groups, &p.segments, limits, params.inclusive, &params.preferred_output);
            *total += test
                .iter()
                .map(|(_, r)| {
                    let k = column(limits, ladder.limit(r.output, r.reduction)).expect("a fitted limit is a column");
                    row_cost(r, k, pins)
                })
                .sum::<f64>();
        }
    }
    let best = held_out.iter().cloned().fold(f64::INFINITY, f64::min);
    // Every row is held out once, so the costs are totals over rows.
    let tolerance = FEWER_RUNGS_TOLERANCE * rows.len() as f64;
    held_out.iter().position(|&c| c <= best + tolerance).map(|m| m + 1).unwrap_or(1)
}

/// Groups a fitted ladder's rows by rung.
fn rows_by_rung<'a>(ladder: &Ladder, rows: &[&'a Row]) -> Vec<Vec<&'a Row>> {
    let mut out = vec![Vec::new(); ladder.rungs.len()];
    for r in rows {
        let idx =
            ladder.rungs.iter().position(|g| g.upper.is_none_or(|u| r.output < u)).unwrap_or(ladder.rungs.len() - 1);
        out[idx].push(*r);
    }
    out
}

/// Splits each rung into up to [`MAX_BUCKETS`] `reductionSize` buckets where
/// that pays more than the noise: the exact DP over the rung's shapes
/// sorted by reduction size gives the best split into b buckets; b buckets
/// are kept over b-1 when the shapes that change limit gain, on average,
/// more than their noise threshold (or when a pinned shape needs it).
fn refine_2d(ladder: &mut Ladder, rows: &[&Row], limits: &[LimitSpec], pins: &Pins, params: &Params) {
    let per_rung = rows_by_rung(ladder, rows);
    for (rung, rs) in ladder.rungs.iter_mut().zip(per_rung) {
        if rs.len() < MIN_RUNG_SHAPES_FOR_BUCKETS {
            continue;
        }
        // Group equal reduction sizes: a threshold cannot separate them.
        let groups = group_rows_by(&rs, |r| r.reduction);
        let mut count = vec![0usize; groups.len() + 1];
        for (i, g) in groups.iter().enumerate() {
            count[i + 1] = count[i] + g.len();
        }
        let prefix = dp::prefix_costs(&groups, limits.len(), |g, k| g.iter().map(|r| row_cost(r, k, pins)).sum());
        let fits = dp::partitions(&prefix, MAX_BUCKETS, Order::Any, |j, i| count[i] - count[j] >= MIN_BUCKET_SHAPES);
        let limit_of = |bk: &[(usize, usize)], g: usize| bk.iter().find(|(end, _)| g < *end).expect("covers g").1;
        let mut chosen = match &fits[0] {
            Some(p) => p.clone(),
            None => {
                let k = column(limits, rung.limit).expect("a fitted limit is a column");
                dp::Partition { cost: f64::INFINITY, segments: vec![(groups.len(), k)] }
            }
        };
        for candidate in fits.iter().skip(1) {
            let Some(candidate) = candidate else { break };
            let gain = chosen.cost - candidate.cost;
            let mut moved = Vec::new();
            for (g, rows_g) in groups.iter().enumerate() {
                let (old, new) = (limit_of(&chosen.segments, g), limit_of(&candidate.segments, g));
                if old != new {
                    for r in rows_g {
                        moved.push(noise_threshold(r.noise[new], r.n[new], r.noise[old], r.n[old]).ln_1p());
                    }
                }
            }
            let tau = stats::mean(&moved).unwrap_or(MIN_BUCKET_GAIN.ln_1p());
            if !moved.is_empty() && gain / moved.len() as f64 > tau {
                chosen = candidate.clone();
            } else {
                break;
            }
        }
        let segs = &chosen.segments;
        rung.limit = limits[segs.last().expect("one bucket at least").1];
        rung.splits = segs[..segs.len() - 1]
            .iter()
            .map(|&(end, k)| ReductionSplit {
                // Buckets are written `reductionSize < t` whatever the
                // ladder's own comparison.
                threshold: readable(
                    groups[end - 1][0].reduction,
                    groups[end][0].reduction,
                    false,
                    Readable::Decimal,
                    &params.preferred_reduction,
                ),
                limit: limits[k],
            })
            .collect();
    }
}
