//! Statistics: summaries of runtimes, noise-aware comparisons and bootstrap
//! confidence intervals.
//!
//! Everything that decides whether two numbers differ goes through here, so
//! "same" always means "within the measured noise" rather than a fixed
//! percentage. Random resampling uses a small seeded generator, so reports
//! are reproducible.

use serde::{Deserialize, Serialize};

pub(crate) fn geomean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| *v <= 0.0) {
        return None;
    }
    Some((values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp())
}

pub(crate) fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

pub(crate) fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The lowest and highest of `values`; `None` when there are none.
pub(crate) fn min_max(values: &[f64]) -> Option<(f64, f64)> {
    let lo = values.iter().copied().reduce(f64::min)?;
    Some((lo, values.iter().copied().fold(lo, f64::max)))
}

/// Sample standard deviation (n - 1 in the denominator); `None` below two
/// values.
pub(crate) fn std_dev(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    (values.len() >= 2)
        .then(|| (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt())
}

/// Percentile by linear interpolation between order statistics (`p` in 0..=100).
pub(crate) fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (p / 100.0) * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

/// Summary of a set of runtimes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub(crate) count: usize,
    pub(crate) geomean: f64,
    pub(crate) mean: f64,
    pub(crate) median: f64,
    pub(crate) p95: f64,
    pub(crate) total: f64,
}

pub(crate) fn summary(values: &[f64]) -> Option<Summary> {
    Some(Summary {
        count: values.len(),
        geomean: geomean(values)?,
        mean: mean(values)?,
        median: percentile(values, 50.0)?,
        p95: percentile(values, 95.0)?,
        total: values.iter().sum(),
    })
}

/// The smallest relative difference between two medians that is not noise:
/// 2.5 standard errors of the log-ratio of two medians of `n_a` and `n_b`
/// samples with relative noise `sigma_a` and `sigma_b` (the median's standard
/// error is about 1.25 sigma / sqrt(n)), and never below half a percent.
pub(crate) fn noise_threshold(sigma_a: f64, n_a: usize, sigma_b: f64, n_b: usize) -> f64 {
    let se = |s: f64, n: usize| 1.25 * s / (n.max(1) as f64).sqrt();
    let combined = (se(sigma_a, n_a).powi(2) + se(sigma_b, n_b).powi(2)).sqrt();
    (2.5 * combined).max(0.005)
}

/// Verdict of comparing a candidate with the baseline on one shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    Improved,
    Neutral,
    Regressed,
}

/// `speedup` = baseline / candidate; `threshold` from [`noise_threshold`].
pub(crate) fn verdict(speedup: f64, threshold: f64) -> Verdict {
    if speedup.ln() > threshold.ln_1p() {
        Verdict::Improved
    } else if speedup.ln() < -threshold.ln_1p() {
        Verdict::Regressed
    } else {
        Verdict::Neutral
    }
}

/// The one random generator of the tool (SplitMix64): bootstrap resampling
/// and the order of shapes in a benchmark run, always seeded, so every
/// report and every run is reproducible.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A generator seeded from text (a key), so that equal keys give equal
    /// sequences.
    pub(crate) fn from_text(seed: &str) -> Rng {
        let digest = crate::core::digest::sha256_hex(seed.as_bytes());
        Rng::new(u64::from_str_radix(&digest[..16], 16).unwrap_or(0))
    }

    /// `0..n` in a random order (Fisher-Yates).
    pub(crate) fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, self.below(i + 1));
        }
        order
    }
}

/// Bootstrap 95% confidence interval of the geometric mean of `ratios`
/// (percentile method, resampling shapes).
pub(crate) fn bootstrap_geomean_ci(ratios: &[f64], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    if ratios.is_empty() {
        return None;
    }
    let logs: Vec<f64> = ratios.iter().map(|r| r.ln()).collect();
    let mut rng = Rng::new(seed);
    let mut means = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let mut sum = 0.0;
        for _ in 0..logs.len() {
            sum += logs[rng.below(logs.len())];
        }
        means.push(sum / logs.len() as f64);
    }
    Some((percentile(&means, 2.5)?.exp(), percentile(&means, 97.5)?.exp()))
}

/// Bootstrap 95% CI of a ratio of totals (sum of `a` / sum of `b`),
/// resampling pairs.
pub(crate) fn bootstrap_total_ci(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let mut rng = Rng::new(seed);
    let mut ratios = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let (mut sa, mut sb) = (0.0, 0.0);
        for _ in 0..a.len() {
            let i = rng.below(a.len());
            sa += a[i];
            sb += b[i];
        }
        ratios.push(sa / sb);
    }
    Some((percentile(&ratios, 2.5)?, percentile(&ratios, 97.5)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let s = summary(&[1.0, 10.0, 100.0]).unwrap();
        assert!((s.geomean - 10.0).abs() < 1e-9);
        assert_eq!(s.median, 10.0);
        assert_eq!(s.total, 111.0);
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 95.0).unwrap() - 4.8).abs() < 1e-9);
        assert_eq!(min_max(&[3.0, -1.0, 2.0]), Some((-1.0, 3.0)));
        assert_eq!(min_max(&[]), None);
        assert!((std_dev(&[1.0, 2.0, 3.0]).unwrap() - 1.0).abs() < 1e-12 && std_dev(&[1.0]).is_none());
    }

    #[test]
    fn verdicts_follow_the_noise() {
        let t = noise_threshold(0.03, 3, 0.03, 3);
        assert!(t > 0.06 && t < 0.09, "{t}");
        assert_eq!(verdict(1.04, t), Verdict::Neutral);
        assert_eq!(verdict(1.10, t), Verdict::Improved);
        assert_eq!(verdict(0.90, t), Verdict::Regressed);
        // Noise-free data: half a percent.
        assert_eq!(noise_threshold(0.0, 1, 0.0, 1), 0.005);
    }

    #[test]
    fn bootstrap_contains_the_geomean() {
        let ratios: Vec<f64> = (0..50).map(|i| 2.0 * (1.0 + 0.01 * ((i % 7) as f64 - 3.0))).collect();
        let (lo, hi) = bootstrap_geomean_ci(&ratios, 2000, 7).unwrap();
        let g = geomean(&ratios).unwrap();
        assert!(lo < g && g < hi && hi - lo < 0.05, "{lo} {g} {hi}");
    }
}
