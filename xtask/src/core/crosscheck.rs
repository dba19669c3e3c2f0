//! `sweep --strategy both`'s check: the probe build and the rebuilt
//! candidates must have measured the same thing. Per shape and candidate,
//! the kernels per launch (one kernel or two: whether the op was split)
//! must be equal and the medians within the noise the runs show, once the
//! machine's uniform drift between the two runs is divided out. Pure: two
//! results in, mismatches out.

use crate::core::results::{Measurement, Results, ShapeResult};
use crate::core::stats;
use std::collections::{BTreeMap, BTreeSet};

/// What the comparison found.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct CrossCheck {
    /// (shape, candidate) pairs compared.
    pub(crate) compared: usize,
    /// The rebuilt run's runtimes over the probe's, typically: the
    /// machine's drift between the two runs (they ran one after the other),
    /// divided out before runtimes are compared. 1 when none were.
    pub(crate) drift: f64,
    /// Whether runtimes were compared: with one repeat per pair neither run
    /// shows its noise, so only the splits are.
    pub(crate) runtimes_compared: bool,
    /// One sentence per pair that differs.
    pub(crate) mismatches: Vec<String>,
}

/// Relative standard deviation of a measurement's samples (0 with fewer
/// than two).
fn relative_sd(m: &Measurement) -> f64 {
    match (stats::mean(&m.samples), stats::std_dev(&m.samples)) {
        (Some(mean), Some(sd)) => sd / mean,
        _ => 0.0,
    }
}

/// Standard errors two medians may lie apart before the check calls it a
/// difference: hundreds of pairs are compared at once, and at 4 standard
/// errors fewer than one in ten thousand differs by chance.
const STANDARD_ERRORS: f64 = 4.0;

/// The smallest relative difference the check names (below it, two builds
/// of the same code are the same).
const FLOOR: f64 = 0.005;

/// A run's noise: the median relative standard deviation of its
/// measurements' samples (repeats are fresh processes, so this includes
/// their drift). Pooled over every pair, since two or three samples alone
/// say little about their spread; a pair whose own samples spread wider
/// is judged by its own (see [`compare`]). `None` when no pair has
/// repeats, so the run cannot show its noise.
fn run_noise(results: &Results) -> Option<f64> {
    let sds: Vec<f64> = results
        .shapes
        .iter()
        .flat_map(|s| s.runs.values())
        .filter(|m| m.samples.len() > 1 && m.shared_from.is_none())
        .map(relative_sd)
        .collect();
    stats::median(&sds)
}

/// A shape as both runs name it: its commands file, line and command.
fn key(s: &ShapeResult) -> (&str, usize, &str) {
    (&s.file, s.line, &s.command)
}

/// A measurement's median, when it has a usable one.
fn median(m: &Measurement) -> Option<f64> {
    stats::median(&m.samples).filter(|x| x.is_finite() && *x > 0.0)
}

/// Compares the measurements of `probe` and `rebuilt`, two sweeps of the
/// same shapes and candidates. A shape or candidate measured in one run
/// only is a mismatch too: the two must have measured the same things.
pub(crate) fn compare(probe: &Results, rebuilt: &Results) -> CrossCheck {
    let mut out = CrossCheck { drift: 1.0, ..CrossCheck::default() };
    let by_key: BTreeMap<_, &ShapeResult> = rebuilt.shapes.iter().map(|s| (key(s), s)).collect();
    let probe_keys: BTreeSet<_> = probe.shapes.iter().map(key).collect();
    for s in rebuilt.shapes.iter().filter(|s| !probe_keys.contains(&key(s))) {
        out.mismatches.push(format!("`{}` ({}:{}) was measured only rebuilt", s.command, s.file, s.line));
    }
    // Pairs whose splits agree, for the runtime comparison below.
    let mut timed = Vec::new();
    for a in &probe.shapes {
        let Some(b) = by_key.get(&key(a)) else {
            out.mismatches.push(format!("`{}` ({}:{}) was measured only with the probe", a.command, a.file, a.line));
            continue;
        };
        let candidates: BTreeSet<&String> = a.runs.keys().chain(b.runs.keys()).collect();
        for candidate in candidates {
            let (ma, mb) = match (a.runs.get(candidate), b.runs.get(candidate)) {
                (Some(ma), Some(mb)) => (ma, mb),
                (ma, _) => {
                    let side = if ma.is_some() { "with the probe" } else { "rebuilt" };
                    out.mismatches.push(format!("`{}` at {candidate}: measured only {side}", a.command));
                    continue;
                }
            };
            let (x, y) = match (median(ma), median(mb)) {
                (Some(x), Some(y)) => (x, y),
                (None, None) => continue,
                (x, _) => {
                    let side = if x.is_some() { "rebuilt" } else { "with the probe" };
                    out.mismatches.push(format!("`{}` at {candidate}: no runtime {side}", a.command));
                    continue;
                }
            };
            out.compared += 1;
            if ma.dispatches != mb.dispatches {
                out.mismatches.push(format!(
                    "`{}` at {candidate}: {} kernels per launch with the probe, {} rebuilt (another split)",
                    a.command,
                    kernels(ma.dispatches),
                    kernels(mb.dispatches)
                ));
                continue;
            }
            timed.push((&a.command, candidate, ma, mb, x, y));
        }
    }
    if let (Some(noise_a), Some(noise_b)) = (run_noise(probe), run_noise(rebuilt)) {
        compare_runtimes(&mut out, &timed, (noise_a, noise_b));
    }
    out
}

/// Kernels per launch as the user reads them (`unknown` when the CSV had
/// no dispatch count).
fn kernels(d: Option<f64>) -> String {
    d.map(|k| format!("{k}")).unwrap_or_else(|| "unknown".to_string())
}

/// A pair whose splits agree: command, candidate, both measurements and
/// their medians.
type Timed<'r> = (&'r String, &'r String, &'r Measurement, &'r Measurement, f64, f64);

/// The runtime half of [`compare`], for runs that both show their noise:
/// the medians of each pair within the noise once the runs' uniform drift
/// is divided out.
fn compare_runtimes(out: &mut CrossCheck, timed: &[Timed], (noise_a, noise_b): (f64, f64)) {
    if timed.is_empty() {
        return;
    }
    out.runtimes_compared = true;
    let log_ratios: Vec<f64> = timed.iter().map(|t| (t.5 / t.4).ln()).collect();
    let drift = stats::median(&log_ratios).unwrap_or(0.0);
    out.drift = drift.exp();
    // A median's standard error is about 1.25 sigma / sqrt(n).
    let se = |sigma: f64, n: usize| 1.25 * sigma / (n as f64).sqrt();
    for (&(command, candidate, ma, mb, x, y), log_ratio) in timed.iter().zip(log_ratios) {
        let sigma_a = relative_sd(ma).max(noise_a);
        let sigma_b = relative_sd(mb).max(noise_b);
        let combined = se(sigma_a, ma.samples.len()).hypot(se(sigma_b, mb.samples.len()));
        let threshold = (STANDARD_ERRORS * combined).max(FLOOR);
        if (log_ratio - drift).abs() > threshold.ln_1p() {
            out.mismatches.push(format!(
                "`{command}` at {candidate}: median {x:.2} with the probe, {y:.2} rebuilt (beyond the noise, \
                 {:.1}%, after the runs' drift)",
                threshold * 100.0
            ));
        }
    }
}

/// One line for the user, and the first mismatches.
pub(crate) fn summary(check: &CrossCheck, probe: &str, rebuilt: &str) -> String {
    let verdict = match (check.mismatches.len(), check.runtimes_compared) {
        (0, true) if (check.drift - 1.0).abs() > FLOOR => format!(
            "the same splits, runtimes within noise once the rebuilt run's uniform drift ({:+.1}%) is divided out",
            (check.drift - 1.0) * 100.0
        ),
        (0, true) => "the same splits, runtimes within noise".to_string(),
        (0, false) => {
            "the same splits; runtimes not compared (one repeat per pair shows no noise to compare against)".to_string()
        }
        (n, _) => format!("{n} differ"),
    };
    let mut out = format!(
        "strategy both: {} (shape, candidate) pairs of `{probe}` (probe) and `{rebuilt}` (rebuilt): {verdict}",
        check.compared
    );
    for m in check.mismatches.iter().take(10) {
        out.push_str(&format!("\n  {m}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testdata;

    #[test]
    fn equal_runs_agree_and_another_split_or_a_slower_median_is_named() {
        let a = testdata::synthetic(testdata::CURRENT, &[1, 64]);
        let check = compare(&a, &a);
        assert!(check.compared > 0 && check.mismatches.is_empty(), "{check:?}");
        let mut b = a.clone();
        let shape = &mut b.shapes[0];
        let (name, m) = shape.runs.iter_mut().next().unwrap();
        let name = name.clone();
        m.dispatches = Some(m.dispatches.unwrap_or(1.0) + 1.0);
        let mut c = a.clone();
        for s in c.shapes[1].runs.values_mut() {
            s.samples.iter_mut().for_each(|x| *x *= 1.2);
        }
        let check = compare(&a, &b);
        assert_eq!(check.mismatches.len(), 1, "{check:?}");
        assert!(check.mismatches[0].contains(&format!("at {name}")) && check.mismatches[0].contains("another split"));
        let check = compare(&a, &c);
        assert!(!check.mismatches.is_empty() && check.mismatches[0].contains("beyond the noise"), "{check:?}");
    }

    /// `a` with its first shape's first candidate split otherwise.
    fn other_split(a: &Results) -> Results {
        let mut b = a.clone();
        let m = b.shapes[0].runs.values_mut().next().unwrap();
        m.dispatches = Some(m.dispatches.unwrap_or(1.0) + 1.0);
        b
    }

    #[test]
    fn uniform_drift_is_divided_out_and_one_repeat_compares_splits_only() {
        let a = testdata::synthetic(testdata::CURRENT, &[1, 64]);
        let mut slower = a.clone();
        for m in slower.shapes.iter_mut().flat_map(|s| s.runs.values_mut()) {
            m.samples.iter_mut().for_each(|x| *x *= 1.1);
        }
        let check = compare(&a, &slower);
        assert!(check.mismatches.is_empty() && (check.drift - 1.1).abs() < 1e-9, "{check:?}");
        assert!(summary(&check, "p", "r").contains("drift (+10.0%)"));
        let mut once = a.clone();
        for m in once.shapes.iter_mut().flat_map(|s| s.runs.values_mut()) {
            m.samples.truncate(1);
        }
        let mut other = once.clone();
        other.shapes[0].runs.values_mut().for_each(|m| m.samples[0] *= 1.3);
        let check = compare(&once, &other);
        assert!(check.mismatches.is_empty() && !check.runtimes_compared, "{check:?}");
        assert!(summary(&check, "p", "r").contains("runtimes not compared"));
        let drifted = summary(&compare(&a, &slower), "p", "p-rebuild");
        let differ = summary(&compare(&a, &other_split(&a)), "p", "p-rebuild");
        insta::assert_snapshot!(
            "crosscheck_summary",
            format!("{drifted}\n{differ}\n{}", summary(&check, "p", "p-rebuild"))
        );
    }

    #[test]
    fn a_shape_or_candidate_measured_in_one_run_only_is_named() {
        let a = testdata::synthetic(testdata::CURRENT, &[1, 64]);
        let mut b = a.clone();
        let gone = b.shapes.remove(1);
        let name = b.shapes[0].runs.keys().next().unwrap().clone();
        b.shapes[0].runs.remove(&name);
        let check = compare(&a, &b);
        assert!(check.mismatches.iter().any(|m| m.contains(&gone.command) && m.contains("only with the probe")));
        assert!(check.mismatches.iter().any(|m| m.contains(&format!("at {name}: measured only with the probe"))));
        let mut nan = a.clone();
        nan.shapes[0].runs.values_mut().for_each(|m| m.samples = vec![f64::NAN]);
        assert!(compare(&a, &nan).mismatches.iter().any(|m| m.contains("no runtime rebuilt")));
    }
}
