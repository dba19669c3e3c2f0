//! Fitting on synthetic tables whose truth is known.

use super::ladder::fit_ladder;
use super::readable::{readable, Readable};

fn readable_threshold(lo: i64, hi: i64, inclusive: bool) -> i64 {
    readable(lo, hi, inclusive, Readable::PowersOfTwo, &[])
}
use super::strategy::original_toolkit;
use super::*;
use crate::core::stats::Rng;

/// Rows whose best limit is a step function of outputSize: 256 below
/// 2^12, 64 below 2^16, 8 above. Runtime grows with the distance (in
/// limit octaves) from the best limit; `noise` perturbs it.
fn step_rows(noise: f64, seed: u64) -> (Vec<Row>, Vec<LimitSpec>) {
    let limits: Vec<LimitSpec> = [1, 8, 16, 32, 64, 128, 256, 512].into_iter().map(LimitSpec::Fixed).collect();
    let truth = |o: i64| {
        if o < 1 << 12 {
            256
        } else if o < 1 << 16 {
            64
        } else {
            8
        }
    };
    let mut rng = Rng::new(seed);
    let mut rows = Vec::new();
    for i in 0..120 {
        let output = (2.0f64.powf(8.0 + 12.0 * i as f64 / 120.0)) as i64;
        let best = truth(output) as f64;
        let runtime: Vec<Option<f64>> = limits
            .iter()
            .map(|&l| {
                let octaves = ((l.value() as f64).log2() - best.log2()).abs();
                let jitter = 1.0 + noise * ((rng.next_u64() % 2001) as f64 / 1000.0 - 1.0);
                Some(100.0 * (1.0 + 0.3 * octaves) * jitter)
            })
            .collect();
        let cost = runtime.iter().map(|r| r.unwrap().ln()).collect();
        rows.push(Row {
            shape: i,
            output,
            reduction: 1000,
            start_tile: 16,
            env: Env::new(),
            baseline: 200.0,
            baseline_noise: noise,
            baseline_n: 3,
            noise: vec![noise; limits.len()],
            scale_se: vec![0.0; limits.len()],
            n: vec![3; limits.len()],
            runtime,
            cost,
            baseline_split: vec![false; limits.len()],
            frozen: false,
        });
    }
    (rows, limits)
}

fn params() -> Params {
    Params {
        max_rungs: 6,
        folds: 5,
        inclusive: false,
        allow_2d: false,
        preferred_output: vec![],
        preferred_reduction: vec![],
        constant_ranges: None,
    }
}

#[test]
fn dp_recovers_a_step_function_exactly() {
    let (rows, limits) = step_rows(0.0, 1);
    let refs: Vec<&Row> = rows.iter().collect();
    let ladder = fit_ladder(&refs, &limits, &params(), &Pins::new());
    let got: Vec<i64> = ladder.rungs.iter().map(|r| r.limit.value()).collect();
    assert_eq!(got, vec![256, 64, 8], "{ladder:?}");
    // Thresholds separate the same shapes as the truth.
    for r in &rows {
        let truth = if r.output < 1 << 12 {
            256
        } else if r.output < 1 << 16 {
            64
        } else {
            8
        };
        assert_eq!(ladder.limit(r.output, 0), LimitSpec::Fixed(truth), "output {}", r.output);
    }
    // And read like IREE's: 64 * 64 = 2^12, 256 * 256 = 2^16.
    assert_eq!(ladder.rungs[0].upper, Some(64 * 64));
    assert_eq!(ladder.rungs[1].upper, Some(256 * 256));
}

#[test]
fn dp_recovers_steps_within_one_rung_under_noise() {
    for seed in 0..5 {
        let (rows, limits) = step_rows(0.05, seed);
        let refs: Vec<&Row> = rows.iter().collect();
        let ladder = fit_ladder(&refs, &limits, &params(), &Pins::new());
        let got: Vec<i64> = ladder.rungs.iter().map(|r| r.limit.value()).collect();
        assert!(got.len() >= 2 && got.len() <= 4, "seed {seed}: {got:?}");
        for want in [256, 64, 8] {
            assert!(got.contains(&want), "seed {seed}: {got:?}");
        }
    }
}

#[test]
fn readable_thresholds() {
    assert_eq!(readable_threshold(3000, 5000, false), 64 * 64);
    assert_eq!(readable_threshold(60000, 70000, false), 256 * 256);
    // Nothing round fits: the upper end.
    assert_eq!(readable_threshold(1000, 1001, false), 1001);
    // Inclusive comparison (`<=`): returns the exclusive bound.
    assert_eq!(readable_threshold(3000, 5000, true), 64 * 64 + 1);
    assert_eq!(readable_threshold(45000, 52000, false), 50000);
    assert_eq!(readable(30000, 40000, false, Readable::Decimal, &[]), 40000);
    assert_eq!(readable(30000, 40000, false, Readable::PowersOfTwo, &[]), 32768);
    // A threshold the file has, inside the gap, wins over a rounder one.
    assert_eq!(readable(30000, 40000, false, Readable::PowersOfTwo, &[128 * 256, 50000]), 128 * 256);
    assert_eq!(readable(30000, 40000, false, Readable::PowersOfTwo, &[36000]), 36000);
}

#[test]
fn clamps_order_below_fixed_limits_and_clamp() {
    assert!(LimitSpec::Clamp(8) < LimitSpec::Fixed(8));
    assert!(LimitSpec::Fixed(4) < LimitSpec::Clamp(8));
    assert_eq!(LimitSpec::Clamp(8).effective(3), 3);
    assert_eq!(LimitSpec::Clamp(8).effective(16), 8);
}

#[test]
fn original_toolkit_makes_a_monotone_ladder() {
    let (rows, limits) = step_rows(0.0, 3);
    let refs: Vec<&Row> = rows.iter().collect();
    let l = original_toolkit(&refs, &limits);
    let uppers: Vec<i64> = l.rungs.iter().filter_map(|r| r.upper).collect();
    assert!(uppers.windows(2).all(|w| w[0] < w[1]), "{l:?}");
}
