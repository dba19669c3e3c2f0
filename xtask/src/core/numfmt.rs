//! How numbers read in every document the tool writes (report, validation,
//! patch message, CLI): speedups as `1.234x`, shares as `12.3%`, runtimes
//! in microseconds, commit and hash prefixes. One place, so the report and
//! `analysis.json` agree to the digit.

/// A speedup.
pub(crate) fn x(v: f64) -> String {
    format!("{v:.3}x")
}

/// A fraction as a percentage.
pub(crate) fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

/// A runtime in microseconds: two decimals below a millisecond.
pub(crate) fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The first `n` characters of a commit id or hash.
pub(crate) fn short(s: &str, n: usize) -> &str {
    &s[..s.len().min(n)]
}
