//! Per-candidate summaries and the sweep's health checks: statistics and
//! baseline comparisons per candidate, the recommendation per commands
//! file, failures and gaps, the noise level,
//! top speedups, drift, shapes no candidate changes, the roofline, and the
//! guard against a benchmark that never saw the patch.

use super::{
    CandidateSummary, Comparison, Drift, Failure, FileFigures, Fitted, HeuristicAnalysis, Roofline, Settings,
    TopSpeedup,
};
use crate::core::fit::ShapeOutcome;
use crate::core::results::{CandidateStatus, Measurement, Results};
use crate::core::stats::{self, Verdict};
use std::collections::BTreeMap;

/// Statistics of every candidate and its comparison with the baseline.
pub(super) fn candidates(results: &Results) -> Vec<CandidateSummary> {
    let scales = crate::core::anchors::scales(&results.candidates, results.bench.repeats);
    results
        .candidates
        .iter()
        .zip(scales)
        .map(|(c, scale)| {
            let meds: Vec<f64> =
                results.shapes.iter().filter_map(|s| s.runs.get(&c.name).and_then(Measurement::median)).collect();
            let failed = results.shapes.iter().filter(|s| s.runs.get(&c.name).is_some_and(|m| !m.ok())).count();
            // Measured again by this candidate (not a shared copy).
            let again = |c: &crate::core::results::CandidateInfo| {
                let name = c.name.clone();
                results
                    .shapes
                    .iter()
                    .filter_map(move |s| s.runs.get(&name))
                    .filter(|m| m.shared_from.is_none() && m.extra_samples > 0)
            };
            CandidateSummary {
                name: c.name.clone(),
                limit: c.limit,
                status: c.status.clone(),
                error: c.error.clone(),
                measured: meds.len(),
                shared: results
                    .shapes
                    .iter()
                    .filter(|s| s.runs.get(&c.name).is_some_and(|m| m.shared_from.is_some()))
                    .count(),
                remeasured: again(c).count(),
                extra_samples: again(c).map(|m| m.extra_samples).sum(),
                failed,
                summary: stats::summary(&meds),
                vs_baseline: if c.name == "baseline" { None } else { compare(results, &c.name) },
                predicted_changes: results
                    .shapes
                    .iter()
                    .filter(|s| match (s.decisions.get("baseline"), s.decisions.get(&c.name)) {
                        (Some(b), Some(d)) => !b.same_split(d),
                        _ => false,
                    })
                    .count(),
                scale,
            }
        })
        .collect()
}

/// Failed measurements, shapes measured by only some of the candidates
/// that ran (with the candidates that missed them), and shapes no candidate
/// measured.
pub(super) type Gaps = (Vec<Failure>, Vec<(usize, Vec<String>)>, Vec<usize>);

/// The [`Gaps`] of a sweep.
pub(super) fn gaps(results: &Results) -> Gaps {
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
    (failures, partial, unmeasured)
}

/// The recommendation's fitted figures over `outcomes`, when any has a
/// speedup.
fn fitted<'a>(outcomes: impl Iterator<Item = &'a ShapeOutcome>) -> Option<Fitted> {
    let (mut speedups, mut regressed) = (Vec::new(), 0);
    for o in outcomes {
        if let Some(s) = o.speedup {
            speedups.push(s);
            regressed += usize::from(o.regressed);
        }
    }
    Some(Fitted {
        shapes: speedups.len(),
        geomean: stats::geomean(&speedups)?,
        worst: speedups.iter().copied().fold(f64::INFINITY, f64::min),
        regressed,
    })
}

/// The recommendation per commands file, per heuristic and over the file,
/// and the same figures over every file (the totals beside them).
pub(super) fn per_file(results: &Results, heuristics: &[HeuristicAnalysis]) -> (Vec<FileFigures>, FileFigures) {
    let figures = |file: String, sha256: String, shapes: usize, mine: &dyn Fn(&ShapeOutcome) -> bool| {
        let per: Vec<_> = heuristics
            .iter()
            .filter_map(|h| Some((h.heuristic, fitted(h.outcomes.iter().filter(|o| mine(o)))?)))
            .collect();
        let total = fitted(heuristics.iter().flat_map(|h| h.outcomes.iter()).filter(|o| mine(o)));
        FileFigures { file, sha256, shapes, heuristics: per, total }
    };
    let files = results
        .files()
        .into_iter()
        .map(|f| {
            let name = f.name.clone();
            let mine = move |o: &ShapeOutcome| results.shapes.get(o.shape).is_some_and(|s| s.file == name);
            figures(f.name, f.sha256, f.shapes, &mine)
        })
        .collect();
    let all = figures("all files".into(), results.commands.sha256.clone(), results.shapes.len(), &|_| true);
    (files, all)
}

/// The median relative noise of every measurement, where it came from, and
/// a warning when it is exactly zero although there were repeats: no GPU
/// times a kernel to the same nanosecond twice, so such a benchmark reports
/// something other than fresh measurements, and every "beyond noise" claim
/// rests on the 0.5% floor alone.
pub(super) fn noise(results: &Results) -> (f64, String, Option<String>) {
    let noises: Vec<f64> =
        results.shapes.iter().flat_map(|s| s.runs.values()).filter_map(Measurement::relative_noise).collect();
    let noise = crate::core::stats::median(&noises).unwrap_or(0.0);
    let has_repeats = results.shapes.iter().flat_map(|s| s.runs.values()).any(|m| m.samples.len() > 1);
    let has_spread = results.shapes.iter().flat_map(|s| s.runs.values()).any(|m| !m.spread.is_empty());
    let noise_source = match (has_repeats, has_spread) {
        (true, true) => "repeats and the driver's per-run spread",
        (true, false) => "repeats",
        (false, true) => "the driver's per-run spread",
        (false, false) => "none measured (one run, no spread): a 0.5% floor is used",
    }
    .to_string();
    let warning = (has_repeats && noise == 0.0).then(|| {
        "the measured noise is exactly 0: every repeat of every measurement took the same time, which no GPU does. \
         Check that each repeat runs the kernel (not a cached or simulated time) and that `bench.column` is a \
         measured time; until then the 0.5% floor stands in for the noise"
            .to_string()
    });
    (noise, noise_source, warning)
}

/// The best measured candidate per shape, largest speedups first.
pub(super) fn top_speedups(results: &Results) -> Vec<super::TopSpeedup> {
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
    top
}

/// Shapes whose decision no candidate changes.
pub(super) fn unchanged_shapes(results: &Results) -> Vec<usize> {
    results
        .shapes
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            let Some(base) = s.decisions.get("baseline") else { return false };
            base.unknown.is_none() && s.decisions.values().all(|d| d.unknown.is_none() && d.same_split(base))
        })
        .map(|(i, _)| i)
        .collect()
}

/// The achieved fraction of the roofline per shape, at the baseline and
/// with the recommendation (empty without device peaks).
pub(super) fn roofline(
    results: &Results,
    settings: &Settings,
    outcomes: &BTreeMap<usize, &ShapeOutcome>,
) -> Vec<Roofline> {
    let mut roofline = Vec::new();
    if settings.peak_flops > 0.0 && settings.peak_bytes_per_s > 0.0 {
        for (i, s) in results.shapes.iter().enumerate() {
            let Some(b) = s.runs.get("baseline").and_then(Measurement::median) else { continue };
            // Runtimes are microseconds.
            let ideal =
                (s.features.flops / settings.peak_flops).max(s.features.bytes / settings.peak_bytes_per_s) * 1e6;
            let rec = outcomes.get(&i).and_then(|o| o.runtime).map(|r| ideal / r);
            roofline.push(Roofline { shape: i, baseline: ideal / b, recommended: rec });
        }
    }
    roofline
}

/// Compares the baseline's recheck with its first measurement.
pub(super) fn drift(results: &Results) -> Option<Drift> {
    let recheck = results.recheck.as_ref()?;
    let (mut ratios, mut moved) = (Vec::new(), 0);
    for (s, r) in results.shapes.iter().zip(recheck) {
        // The baseline as first measured: samples a re-measurement added at
        // the end of the sweep would hide the drift.
        let first = s.runs.get("baseline").map(Measurement::without_extra);
        let Some((speedup, v)) = first.and_then(|b| r.versus(&b)) else { continue };
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

/// A candidate against the baseline on the shapes both measured.
pub(crate) fn compare(results: &Results, candidate: &str) -> Option<Comparison> {
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

pub(crate) fn noop_check(results: &Results) -> Option<String> {
    let ran: Vec<&str> = results
        .candidates
        .iter()
        .filter(|c| c.limit.is_some() && c.status.measured())
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
                (Some(b), Some(x)) if b.unknown.is_none() && x.unknown.is_none() => !b.same_split(x),
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
