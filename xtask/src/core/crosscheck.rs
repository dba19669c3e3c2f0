//! `sweep --strategy both`'s check: the probe build and the rebuilt
//! candidates must have measured the same thing. Per shape and candidate,
//! the kernels per launch (one kernel or two: whether the op was split)
//! must be equal and the medians within the noise the runs show. Pure: two
//! results in, mismatches out.

use crate::core::results::{Measurement, Results};
use crate::core::stats;

/// What the comparison found.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct CrossCheck {
    /// (shape, candidate) pairs compared.
    pub(crate) compared: usize,
    /// One sentence per pair that differs.
    pub(crate) mismatches: Vec<String>,
}

/// Relative standard deviation of a measurement's samples (0 with fewer
/// than two).
fn relative_sd(m: &Measurement) -> f64 {
    let n = m.samples.len();
    let Some(mean) = stats::mean(&m.samples).filter(|_| n > 1) else { return 0.0 };
    let var = m.samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    var.sqrt() / mean
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
/// say little about their spread.
fn run_noise(results: &Results) -> f64 {
    let sds: Vec<f64> = results
        .shapes
        .iter()
        .flat_map(|s| s.runs.values())
        .filter(|m| m.samples.len() > 1 && m.shared_from.is_none())
        .map(relative_sd)
        .collect();
    stats::median(&sds).unwrap_or(0.0)
}

/// Compares the measurements of `probe` and `rebuilt`, two sweeps of the
/// same shapes and candidates.
pub(crate) fn compare(probe: &Results, rebuilt: &Results) -> CrossCheck {
    let mut out = CrossCheck::default();
    let (noise_a, noise_b) = (run_noise(probe), run_noise(rebuilt));
    for (a, b) in probe.shapes.iter().zip(&rebuilt.shapes) {
        if a.command != b.command {
            out.mismatches
                .push(format!("shape {} is `{}` in one run and `{}` in the other", a.id, a.command, b.command));
            continue;
        }
        for (candidate, ma) in &a.runs {
            let Some(mb) = b.runs.get(candidate) else { continue };
            let (Some(x), Some(y)) = (stats::median(&ma.samples), stats::median(&mb.samples)) else { continue };
            out.compared += 1;
            if ma.dispatches != mb.dispatches {
                out.mismatches.push(format!(
                    "`{}` at {candidate}: {:?} kernels per launch with the probe, {:?} rebuilt (another split)",
                    a.command, ma.dispatches, mb.dispatches
                ));
                continue;
            }
            // A median's standard error is about 1.25 sigma / sqrt(n).
            let se = |sigma: f64, n: usize| 1.25 * sigma / (n as f64).sqrt();
            let combined = se(noise_a, ma.samples.len()).hypot(se(noise_b, mb.samples.len()));
            let threshold = (STANDARD_ERRORS * combined).max(FLOOR);
            if (x / y).ln().abs() > threshold.ln_1p() {
                out.mismatches.push(format!(
                    "`{}` at {candidate}: median {x:.2} with the probe, {y:.2} rebuilt (beyond the noise, {:.1}%)",
                    a.command,
                    threshold * 100.0
                ));
            }
        }
    }
    out
}

/// One line for the user, and the first mismatches.
pub(crate) fn summary(check: &CrossCheck, probe: &str, rebuilt: &str) -> String {
    let mut out = format!(
        "strategy both: {} (shape, candidate) pairs of `{probe}` (probe) and `{rebuilt}` (rebuilt): {}",
        check.compared,
        if check.mismatches.is_empty() {
            "the same splits, runtimes within noise".to_string()
        } else {
            format!("{} differ", check.mismatches.len())
        }
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
}
