//! Validation statistics: an A/B comparison of the baseline and the patched
//! compiler, measured in interleaved rounds, and the verdict.
//!
//! Each round runs the baseline and the patched build once each, in fresh
//! processes, in alternating order; a shape's evidence is its per-round log
//! ratio baseline/patched, which cancels drift between rounds (clocks,
//! temperature) that a comparison of separate runs would mistake for an
//! effect. Per shape: a paired t-test on those log ratios decides improved,
//! neutral or regressed. Over shapes: the geometric-mean speedup with a
//! bootstrap 95% confidence interval. This module also owns the "ready or
//! not, and why" verdict; the report renders it ([`crate::core::report`]).

use crate::core::audit::Audit;
use crate::core::numfmt;
use crate::core::schedule;
use crate::core::stats::{self, bootstrap_geomean_ci, bootstrap_total_ci, Verdict};
use crate::core::workload::Heuristic;
use serde::{Deserialize, Serialize};

/// One shape's A/B evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShapeAb {
    pub(crate) shape: usize,
    pub(crate) command: String,
    pub(crate) heuristic: Heuristic,
    /// Per round; `None` where that run failed.
    pub(crate) baseline: Vec<Option<f64>>,
    pub(crate) patched: Vec<Option<f64>>,
    pub(crate) numerics_pass: Option<bool>,
    /// The patch does not change this shape's split (predicted from both
    /// builds' code): its A/B ratio measures only drift between processes.
    pub(crate) control: bool,
}

/// One device's figures over a validation's A/B rounds: with several
/// devices, each build runs each shape on the next device every round, so
/// these compare devices on the same shapes and builds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct DeviceEffect {
    pub(crate) device: String,
    /// (shape, round) pairs it ran with both builds measured.
    pub(crate) pairs: usize,
    /// The patch's geomean speedup (baseline over patched) on it.
    pub(crate) speedup: f64,
    /// Its baseline runtimes over the same shapes' geomean on every device,
    /// as a geomean (1.05: this device runs 5% slower).
    pub(crate) relative_runtime: f64,
}

/// Per-device effects of A/B rounds whose round `r` ran shape `i` on
/// device [`schedule::device_of`]`(i, n, r)` with both builds. Empty with
/// fewer than two devices.
pub(crate) fn device_effects(shapes: &[ShapeAb], devices: &[String]) -> Vec<DeviceEffect> {
    let n = devices.len();
    if n < 2 {
        return Vec::new();
    }
    let mut ratio_logs = vec![Vec::new(); n];
    let mut runtime_logs = vec![Vec::new(); n];
    for s in shapes {
        let pairs: Vec<(usize, f64, f64)> = s
            .baseline
            .iter()
            .zip(&s.patched)
            .enumerate()
            .filter_map(|(r, (b, p))| match (b, p) {
                (Some(b), Some(p)) if *b > 0.0 && *p > 0.0 => Some((r, *b, *p)),
                _ => None,
            })
            .collect();
        let Some(mean) = stats::mean(&pairs.iter().map(|&(_, b, _)| b.ln()).collect::<Vec<_>>()) else { continue };
        for (r, b, p) in pairs {
            let d = schedule::device_of(s.shape, n, r);
            ratio_logs[d].push((b / p).ln());
            runtime_logs[d].push(b.ln() - mean);
        }
    }
    devices
        .iter()
        .enumerate()
        .filter(|(d, _)| !ratio_logs[*d].is_empty())
        .map(|(d, name)| DeviceEffect {
            device: name.clone(),
            pairs: ratio_logs[d].len(),
            speedup: stats::mean(&ratio_logs[d]).unwrap_or(0.0).exp(),
            relative_runtime: stats::mean(&runtime_logs[d]).unwrap_or(0.0).exp(),
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShapeVerdict {
    pub(crate) shape: usize,
    pub(crate) command: String,
    pub(crate) heuristic: Heuristic,
    pub(crate) baseline_median: f64,
    pub(crate) patched_median: f64,
    /// exp(mean of per-round log ratios).
    pub(crate) speedup: f64,
    pub(crate) p_value: f64,
    pub(crate) verdict: Verdict,
    pub(crate) numerics_pass: Option<bool>,
    /// Drift-corrected log ratio per round (`None`: a run failed).
    pub(crate) logs: Vec<Option<f64>>,
    /// The speedup's 95% interval: the t-interval of the mean per-round
    /// log ratio, as speedups; `None` with fewer than two rounds. Older
    /// validation files lack it ([`backfill`] computes it).
    #[serde(default)]
    pub(crate) interval: Option<(f64, f64)>,
    /// The p-value adjusted for testing every shape at once
    /// (Benjamini-Hochberg): the verdict compares it with [`FDR`].
    #[serde(default)]
    pub(crate) q_value: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AbSummary {
    pub(crate) shapes: usize,
    pub(crate) rounds: usize,
    pub(crate) geomean: f64,
    pub(crate) geomean_ci: (f64, f64),
    pub(crate) total: f64,
    pub(crate) total_ci: (f64, f64),
    pub(crate) improved: usize,
    pub(crate) neutral: usize,
    pub(crate) regressed: usize,
    /// Shapes without a usable pair of measurements.
    pub(crate) failed: Vec<usize>,
}

/// Two-sided p-value of Student's t with `df` degrees of freedom.
pub(crate) fn t_test_p(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    incomplete_beta(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// Two-sided critical value of Student's t: the `t` whose p-value is
/// `alpha`, found by bisection on [`t_test_p`] (monotone in `t`).
pub(crate) fn t_critical(alpha: f64, df: f64) -> f64 {
    // Above any critical value of interest (df 1 at alpha 0.001 is 636.6).
    let (mut lo, mut hi) = (0.0f64, 1e4f64);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if t_test_p(mid, df) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// Regularized incomplete beta I_x(a, b), by Lentz's continued fraction.
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    // The continued fraction converges for x < (a+1)/(a+b+2).
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(b, a, 1.0 - x);
    }
    let tiny = 1e-300;
    let mut f = 1.0;
    let mut c = 1.0;
    let mut d = 0.0;
    for i in 0..300 {
        let m = (i / 2) as f64;
        let numerator = if i == 0 {
            1.0
        } else if i % 2 == 0 {
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m))
        } else {
            -((a + m) * (a + b + m) * x) / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))
        };
        d = 1.0 + numerator * d;
        if d.abs() < tiny {
            d = tiny;
        }
        d = 1.0 / d;
        c = 1.0 + numerator / c;
        if c.abs() < tiny {
            c = tiny;
        }
        let cd = c * d;
        f *= cd;
        if (1.0 - cd).abs() < 1e-12 {
            break;
        }
    }
    front * (f - 1.0) / a
}

/// Lanczos approximation of ln Γ.
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The smallest effect worth calling a change, whatever the significance.
pub(crate) const MIN_EFFECT: f64 = 0.005;

/// The false discovery rate the per-shape verdicts control.
pub(crate) const FDR: f64 = 0.05;

/// Coverage of a shape's speedup interval.
pub(crate) const INTERVAL_COVERAGE: f64 = 0.95;

/// Fewest unchanged shapes that calibrate a round's drift.
pub(crate) const MIN_CONTROLS: usize = 5;

/// Per-round drift between the baseline's and the patched build's process:
/// the median log ratio of the control shapes (0 when there are too few).
pub(crate) fn drift(shapes: &[ShapeAb], rounds: usize) -> Vec<f64> {
    (0..rounds)
        .map(|r| {
            let logs: Vec<f64> = shapes
                .iter()
                .filter(|s| s.control)
                .filter_map(|s| Some((s.baseline.get(r).copied()?? / s.patched.get(r).copied()??).ln()))
                .collect();
            if logs.len() >= MIN_CONTROLS {
                crate::core::stats::median(&logs).unwrap_or(0.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// One shape's statistics over its per-round log ratios: the mean, the
/// paired t-test's p-value and the speedup's interval.
fn shape_statistics(logs: &[f64]) -> (f64, f64, Option<(f64, f64)>) {
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    if logs.len() < 2 {
        // One round: no spread to test against; only the effect's size.
        let p = if mean.abs() > MIN_EFFECT.ln_1p() { 0.0 } else { 1.0 };
        return (mean, p, None);
    }
    let se = stats::std_dev(logs).unwrap_or(0.0) / n.sqrt();
    let p = if se == 0.0 {
        if mean == 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        t_test_p(mean / se, n - 1.0)
    };
    let half = t_critical(1.0 - INTERVAL_COVERAGE, n - 1.0) * se;
    (mean, p, Some(((mean - half).exp(), (mean + half).exp())))
}

/// Per-shape verdicts from paired rounds, after removing each round's drift.
pub(crate) fn verdicts(shapes: &[ShapeAb]) -> (Vec<ShapeVerdict>, Vec<usize>) {
    let rounds = shapes.iter().map(|s| s.baseline.len().min(s.patched.len())).max().unwrap_or(0);
    let offsets = drift(shapes, rounds);
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for s in shapes {
        let per_round: Vec<Option<f64>> = (0..rounds)
            .map(|r| {
                let (a, b) = (s.baseline.get(r).copied()??, s.patched.get(r).copied()??);
                Some((a / b).ln() - offsets[r])
            })
            .collect();
        let logs: Vec<f64> = per_round.iter().flatten().copied().collect();
        if logs.is_empty() {
            failed.push(s.shape);
            continue;
        }
        let (mean, p, interval) = shape_statistics(&logs);
        let pairs: Vec<(f64, f64)> =
            s.baseline.iter().zip(&s.patched).filter_map(|(a, b)| Some(((*a)?, (*b)?))).collect();
        let med = |v: Vec<f64>| crate::core::stats::median(&v).unwrap_or(f64::NAN);
        out.push(ShapeVerdict {
            shape: s.shape,
            command: s.command.clone(),
            heuristic: s.heuristic,
            baseline_median: med(pairs.iter().map(|p| p.0).collect()),
            patched_median: med(pairs.iter().map(|p| p.1).collect()),
            speedup: mean.exp(),
            p_value: p,
            // Decided below, once every shape's p-value is known.
            verdict: Verdict::Neutral,
            numerics_pass: s.numerics_pass,
            logs: per_round,
            interval,
            q_value: None,
        });
    }
    // Hundreds of shapes are tested at once: control the false discovery
    // rate (Benjamini-Hochberg), or a few neutral shapes would read as
    // regressions by chance and block a good patch.
    let q = benjamini_hochberg(&out.iter().map(|v| v.p_value).collect::<Vec<_>>());
    for (v, q) in out.iter_mut().zip(q) {
        let effect = v.speedup.ln();
        v.q_value = Some(q);
        v.verdict = if q < FDR && effect > MIN_EFFECT.ln_1p() {
            Verdict::Improved
        } else if q < FDR && effect < -MIN_EFFECT.ln_1p() {
            Verdict::Regressed
        } else {
            Verdict::Neutral
        };
    }
    (out, failed)
}

/// Fills what a validation file written before intervals and q-values were
/// recorded lacks, from what it holds (per-round log ratios, p-values), as
/// [`verdicts`] would have.
pub(crate) fn backfill(v: &mut Validation) {
    for round in &mut v.rounds {
        if round.shapes.iter().any(|s| s.q_value.is_none()) {
            let q = benjamini_hochberg(&round.shapes.iter().map(|s| s.p_value).collect::<Vec<_>>());
            for (s, q) in round.shapes.iter_mut().zip(q) {
                s.q_value = Some(q);
            }
        }
        for s in round.shapes.iter_mut().filter(|s| s.interval.is_none()) {
            let logs: Vec<f64> = s.logs.iter().flatten().copied().collect();
            if !logs.is_empty() {
                s.interval = shape_statistics(&logs).2;
            }
        }
    }
}

/// Benjamini-Hochberg adjusted p-values (q-values), in input order.
pub(crate) fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let n = p.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut q = vec![1.0; n];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * n as f64 / (rank + 1) as f64);
        q[i] = running.min(1.0);
    }
    q
}

/// 95% interval of the geomean speedup by a two-level bootstrap: rounds and
/// shapes are both resampled, so what varies from round to round (residual
/// drift) widens the interval as much as what varies between shapes.
pub(crate) fn hierarchical_ci(v: &[ShapeVerdict], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    let rounds = v.iter().map(|s| s.logs.len()).max()?;
    if v.is_empty() || rounds == 0 {
        return None;
    }
    let mut rng = stats::Rng::new(seed);
    let mut means = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let picked: Vec<usize> = (0..rounds).map(|_| rng.below(rounds)).collect();
        let (mut sum, mut count) = (0.0, 0usize);
        for _ in 0..v.len() {
            let s = &v[rng.below(v.len())];
            let logs: Vec<f64> = picked.iter().filter_map(|&r| s.logs.get(r).copied().flatten()).collect();
            if let Some(m) = stats::mean(&logs) {
                sum += m;
                count += 1;
            }
        }
        if count > 0 {
            means.push(sum / count as f64);
        }
    }
    Some((stats::percentile(&means, 2.5)?.exp(), stats::percentile(&means, 97.5)?.exp()))
}

/// Summary over a set of verdicts (all shapes, or one heuristic's).
pub(crate) fn summarize(v: &[ShapeVerdict], failed: Vec<usize>, rounds: usize, seed: u64) -> AbSummary {
    let speedups: Vec<f64> = v.iter().map(|s| s.speedup).collect();
    let base: Vec<f64> = v.iter().map(|s| s.baseline_median).collect();
    let patched: Vec<f64> = v.iter().map(|s| s.patched_median).collect();
    let count = |x: Verdict| v.iter().filter(|s| s.verdict == x).count();
    AbSummary {
        shapes: v.len(),
        rounds,
        geomean: stats::geomean(&speedups).unwrap_or(1.0),
        geomean_ci: hierarchical_ci(v, 4000, seed)
            .or_else(|| bootstrap_geomean_ci(&speedups, 4000, seed))
            .unwrap_or((1.0, 1.0)),
        total: base.iter().sum::<f64>() / patched.iter().sum::<f64>().max(f64::MIN_POSITIVE),
        total_ci: bootstrap_total_ci(&base, &patched, 4000, seed ^ 0x5bd1).unwrap_or((1.0, 1.0)),
        improved: count(Verdict::Improved),
        neutral: count(Verdict::Neutral),
        regressed: count(Verdict::Regressed),
        failed,
    }
}

/// The compiler's own tests in the validation build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TestOutcome {
    /// The command as it ran (paths of the validation build).
    pub(crate) command: String,
    /// The same command as an upstream reviewer would type it (`build` for
    /// the build directory), for the patch message and the PR text.
    #[serde(default)]
    pub(crate) portable: String,
    pub(crate) passed: bool,
    /// Test files whose pinned results the patch changes.
    pub(crate) need_update: Vec<String>,
    /// Test files rewritten by `--update-tests` (and added to the patch).
    pub(crate) updated: Vec<String>,
    /// Listed test files whose pinned results cannot be updated, with why
    /// (`cannot update `X`: ...`).
    #[serde(default)]
    pub(crate) unreadable: Vec<String>,
    pub(crate) log: String,
}

/// One validation round (refinement adds more).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Round {
    pub(crate) round: usize,
    /// Shapes the rule was refitted not to regress.
    pub(crate) pins: Vec<usize>,
    /// The rule in words, per heuristic.
    pub(crate) rules: Vec<(Heuristic, String)>,
    pub(crate) patched_commit: String,
    pub(crate) summary: AbSummary,
    pub(crate) per_heuristic: Vec<(Heuristic, AbSummary)>,
    pub(crate) shapes: Vec<ShapeVerdict>,
    /// With several devices, the figures of each (see [`device_effects`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) devices: Vec<DeviceEffect>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Validation {
    #[serde(default = "crate::core::results::first_schema")]
    pub(crate) schema: u32,
    #[serde(default)]
    pub(crate) tool_version: String,
    /// Which recommended patches were validated (see `analyze`).
    pub(crate) patch_sha256: String,
    pub(crate) device: String,
    pub(crate) target_commit: String,
    /// The commit of the build the baseline side ran: the validated base,
    /// or the sweep's probe commit on it (its variables unset).
    #[serde(default)]
    pub(crate) baseline_build: String,
    pub(crate) commands_sha256: String,
    pub(crate) rounds: Vec<Round>,
    pub(crate) tests: Option<TestOutcome>,
    /// Shapes whose numerics failed on the patched build.
    pub(crate) numerics_failed: Vec<usize>,
    pub(crate) numerics_checked: bool,
    pub(crate) ready: bool,
    pub(crate) reasons: Vec<String>,
    /// What a reader of a ready verdict must know besides (see
    /// [`stability_notes`]).
    #[serde(default)]
    pub(crate) notes: Vec<(Heuristic, String)>,
    /// Why refinement stopped.
    pub(crate) stopped: String,
}

/// Notes beside the verdict: each heuristic whose recommendation is
/// unstable under resampling of the sweep. The validated gain is measured
/// either way, so this does not make a patch not ready; but a reviewer
/// should know that a rerun of the sweep may fit other thresholds.
pub(crate) fn stability_notes(
    stabilities: &[(Heuristic, &crate::core::analysis::Stability)],
) -> Vec<(Heuristic, String)> {
    stabilities
        .iter()
        .filter(|(_, s)| !s.stable)
        .map(|(h, s)| {
            let text = format!(
                "the {h} recommendation is unstable: it comes back in only {} of {} bootstrap resamples of the \
                 sweep (below {}), so a rerun may fit other thresholds{}; the validated gain is measured either way",
                numfmt::pct(s.recommendation),
                s.resamples,
                numfmt::pct(crate::core::analysis::STABLE_FRACTION),
                s.worst_loss
                    .map(|l| format!(" ({} on this sweep's data)", crate::core::analysis::worth_words(l)))
                    .unwrap_or_default()
            );
            (*h, text)
        })
        .collect()
}

/// The verdict: ready when no shape regresses, numerics pass, the tests
/// pass, the geomean's interval is above 1, and the patch changes only
/// decisions measurements back (`audits`: each heuristic's behaviour audit).
pub(crate) fn verdict(
    last: &Round,
    tests: Option<&TestOutcome>,
    numerics_failed: &[usize],
    audits: &[(Heuristic, &Audit)],
) -> (bool, Vec<String>) {
    let mut reasons = Vec::new();
    for (h, a) in audits.iter().filter(|(_, a)| !a.clean()) {
        reasons.push(format!(
            "the {h} patch changes decisions no measurement backs: {} beyond the measured range, {} on {} targets \
             (report.md lists them; sweep shapes there, or tune that target too)",
            a.counts.outside_hull,
            a.counts.other_target,
            crate::core::audit::target_name(!a.low)
        ));
    }
    for s in last.shapes.iter().filter(|s| s.verdict == Verdict::Regressed) {
        reasons.push(format!(
            "regresses `{}` ({} slower, p = {:.3})",
            s.command,
            numfmt::pct(1.0 / s.speedup - 1.0),
            s.p_value
        ));
    }
    if last.summary.geomean_ci.0 <= 1.0 {
        reasons.push(format!(
            "the geomean speedup's 95% interval [{:.3}, {:.3}] does not exclude 1",
            last.summary.geomean_ci.0, last.summary.geomean_ci.1
        ));
    }
    if let Some(t) = tests {
        if !t.passed {
            reasons.extend(t.unreadable.iter().cloned());
            if t.need_update.is_empty() {
                reasons.push(format!("the compiler's tests fail (`{}`)", t.command));
            } else {
                reasons.push(format!(
                    "the compiler's tests pin results the patch changes: {}; rerun with --update-tests",
                    t.need_update.join(", ")
                ));
            }
        }
    }
    for s in numerics_failed {
        let cmd = last.shapes.iter().find(|v| v.shape == *s).map(|v| v.command.as_str()).unwrap_or("?");
        reasons.push(format!("numerics fail for `{cmd}`"));
    }
    if !last.summary.failed.is_empty() {
        reasons.push(format!("{} shape(s) could not be measured on both builds", last.summary.failed.len()));
    }
    (reasons.is_empty(), reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_distribution() {
        // Two-sided 5% critical values: df 4 -> 2.776, df 10 -> 2.228.
        assert!((t_test_p(2.776, 4.0) - 0.05).abs() < 1e-3);
        assert!((t_test_p(2.228, 10.0) - 0.05).abs() < 1e-3);
        assert!((t_test_p(0.0, 5.0) - 1.0).abs() < 1e-9);
    }

    fn ab(shape: usize, base: &[f64], patched: &[f64]) -> ShapeAb {
        ShapeAb {
            shape,
            command: format!("cmd {shape}"),
            heuristic: Heuristic::Conv,
            baseline: base.iter().map(|&x| Some(x)).collect(),
            patched: patched.iter().map(|&x| Some(x)).collect(),
            numerics_pass: Some(true),
            control: false,
        }
    }

    #[test]
    fn paired_rounds_cancel_drift() {
        // Drift of +-20% between rounds, a steady 10% gain within each.
        let drift = [1.0, 1.2, 0.8, 1.1, 0.9];
        let base: Vec<f64> = drift.iter().map(|d| 100.0 * d).collect();
        let patched: Vec<f64> = drift.iter().map(|d| 100.0 * d / 1.1).collect();
        let (v, failed) = verdicts(&[ab(0, &base, &patched), ab(1, &base, &base)]);
        assert!(failed.is_empty());
        assert_eq!(v[0].verdict, Verdict::Improved);
        assert!((v[0].speedup - 1.1).abs() < 1e-9);
        assert_eq!(v[1].verdict, Verdict::Neutral);
        let s = summarize(&v, vec![], 5, 1);
        assert_eq!((s.improved, s.neutral, s.regressed), (1, 1, 0));
    }

    #[test]
    fn t_critical_values_and_intervals() {
        assert!((t_critical(0.05, 4.0) - 2.776).abs() < 1e-3);
        assert!((t_critical(0.05, 2.0) - 4.303).abs() < 1e-3);
        // A steady 10% gain with 1% jitter: the interval holds 1.1 and is
        // narrow; one round has none.
        let base = [100.0, 101.0, 99.0, 100.5];
        let patched: Vec<f64> = [1.0, 0.99, 1.01, 1.0].iter().zip(&base).map(|(j, b)| b * j / 1.1).collect();
        let (v, _) = verdicts(&[ab(0, &base, &patched)]);
        let (lo, hi) = v[0].interval.unwrap();
        assert!(lo < 1.1 && 1.1 < hi && hi - lo < 0.05, "{lo} {hi}");
        assert!(lo < v[0].speedup && v[0].speedup < hi);
        assert_eq!(v[0].q_value, Some(v[0].p_value));
        let (v, _) = verdicts(&[ab(0, &[100.0], &[90.0])]);
        assert_eq!(v[0].interval, None);
    }

    #[test]
    fn older_files_read_and_are_backfilled() {
        let (v, _) = verdicts(&[ab(0, &[100.0, 101.0, 99.0], &[90.0, 92.0, 91.0]), ab(1, &[1.0; 3], &[1.0; 3])]);
        let mut json = serde_json::to_value(&v[0]).unwrap();
        json.as_object_mut().unwrap().remove("interval");
        json.as_object_mut().unwrap().remove("q_value");
        let old: ShapeVerdict = serde_json::from_value(json).unwrap();
        assert_eq!((old.interval, old.q_value), (None, None));
        let round = Round {
            round: 1,
            pins: vec![],
            rules: vec![],
            patched_commit: String::new(),
            summary: summarize(&v, vec![], 3, 1),
            per_heuristic: vec![],
            shapes: vec![old, v[1].clone()],
            devices: Vec::new(),
        };
        let mut validation = Validation {
            schema: crate::core::results::SCHEMA,
            tool_version: String::new(),
            patch_sha256: String::new(),
            device: String::new(),
            target_commit: String::new(),
            baseline_build: String::new(),
            commands_sha256: String::new(),
            rounds: vec![round],
            tests: None,
            numerics_failed: vec![],
            numerics_checked: false,
            ready: true,
            reasons: vec![],
            notes: vec![],
            stopped: String::new(),
        };
        backfill(&mut validation);
        assert_eq!(validation.rounds[0].shapes, v);
    }

    #[test]
    fn false_discovery_rate() {
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.5]);
        // Sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.0533, 0.0533, 0.5.
        assert!((q[0] - 0.04).abs() < 1e-12);
        assert!((q[1] - 0.16 / 3.0).abs() < 1e-12 && (q[2] - 0.16 / 3.0).abs() < 1e-12);
        assert!((q[3] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn controls_remove_drift_between_processes() {
        // Every patched process runs 10% slow (drift), the patch gains 20%
        // on shape 0; shapes 1.. are unchanged controls.
        let base = [100.0, 100.0, 100.0];
        let slow: Vec<f64> = base.iter().map(|b| b * 1.1).collect();
        let mut shapes = vec![ab(0, &base, &slow.iter().map(|x| x / 1.2).collect::<Vec<_>>())];
        for i in 1..=6 {
            let mut c = ab(i, &base, &slow);
            c.control = true;
            shapes.push(c);
        }
        let (v, _) = verdicts(&shapes);
        assert!((v[0].speedup - 1.2).abs() < 1e-9, "{}", v[0].speedup);
        assert!(v[1..].iter().all(|s| s.verdict == Verdict::Neutral));
    }

    #[test]
    fn a_regression_makes_it_not_ready_and_is_named() {
        let rounds = [[100.0, 101.0, 99.0], [130.0, 131.0, 129.0]];
        let (v, _) = verdicts(&[ab(3, &rounds[0], &rounds[1])]);
        assert_eq!(v[0].verdict, Verdict::Regressed);
        let s = summarize(&v, vec![], 3, 1);
        let round = Round {
            round: 1,
            pins: vec![],
            rules: vec![],
            patched_commit: String::new(),
            summary: s,
            per_heuristic: vec![],
            shapes: v,
            devices: Vec::new(),
        };
        let (ready, reasons) = verdict(&round, None, &[], &[]);
        assert!(!ready);
        assert!(reasons.iter().any(|r| r.contains("regresses `cmd 3`")), "{reasons:?}");
    }

    #[test]
    fn an_unstable_recommendation_is_noted_beside_the_verdict_not_against_it() {
        use crate::core::analysis::Stability;
        let s = |recommendation: f64| Stability {
            resamples: 20,
            recommendation,
            rungs: vec![],
            thresholds: vec![],
            stable: recommendation >= 0.8,
            worst_loss: Some(0.004),
        };
        let (stable, unstable) = (s(0.95), s(0.1));
        let notes = stability_notes(&[(Heuristic::Conv, &unstable), (Heuristic::Matmul, &stable)]);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0].0, Heuristic::Conv);
        assert!(
            notes[0].1.starts_with(
                "the conv recommendation is unstable: it comes back in only 10.0% of 20 bootstrap resamples"
            ),
            "{notes:?}"
        );
        assert!(notes[0].1.contains("(worth at most 0.4% less on this sweep's data)"), "{notes:?}");
        let flat = Stability { worst_loss: Some(0.0001), ..s(0.1) };
        let notes = stability_notes(&[(Heuristic::Conv, &flat)]);
        assert!(notes[0].1.contains("(worth the same on this sweep's data)"), "{notes:?}");
    }

    #[test]
    fn per_device_effects_follow_the_devices_the_rounds_used() {
        // Device 1 runs 10% slower; the patch gains 20% everywhere.
        let devices = vec!["0".to_string(), "1".to_string()];
        let shapes: Vec<ShapeAb> = (0..4)
            .map(|i| {
                let on = |r: usize| if schedule::device_of(i, 2, r) == 1 { 1.1 } else { 1.0 };
                ShapeAb {
                    shape: i,
                    command: format!("s{i}"),
                    heuristic: Heuristic::Conv,
                    baseline: (0..4).map(|r| Some(100.0 * on(r))).collect(),
                    patched: (0..4).map(|r| Some(100.0 / 1.2 * on(r))).collect(),
                    numerics_pass: None,
                    control: false,
                }
            })
            .collect();
        let d = device_effects(&shapes, &devices);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].pairs, d[1].pairs), (8, 8));
        assert!(d.iter().all(|d| (d.speedup - 1.2).abs() < 1e-9), "{d:?}");
        let gap = d[1].relative_runtime / d[0].relative_runtime;
        assert!((gap - 1.1).abs() < 1e-9, "{d:?}");
        assert!(device_effects(&shapes, &devices[..1]).is_empty());
    }
}
