//! Thresholds IREE would write: the value inside a gap between two
//! measured sizes that reads best in C++ (`128 * 128`, `50000`).

/// How a threshold should read: output sizes as products of powers of two
/// (`128 * 128`), reduction sizes as round decimals (`50000`), as in IREE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Readable {
    PowersOfTwo,
    Decimal,
}

/// A threshold `t` with `lo < t <= hi` (so that `x < t` separates `lo` from
/// `hi`) that reads well in C++: `a * a` with `a` a power of two first, then a
/// product of two powers of two, a power of two, a round decimal; the one
/// closest (geometrically) to the middle of the gap. With `inclusive` the
/// comparison is `x <= t`, so `lo <= t < hi`, and `t` is returned as the
/// exclusive bound `t + 1`. `style` picks the forms. A threshold the code
/// already has is preferred: `preferred` holds the file's thresholds as
/// exclusive bounds (`x < t`), and one that lies in the gap keeps the same
/// partition of the measured shapes while leaving that line of the file as
/// it is.
pub(crate) fn readable(lo: i64, hi: i64, inclusive: bool, style: Readable, preferred: &[i64]) -> i64 {
    let mid_of = |a: i64, b: i64| ((a.max(1) as f64).ln() + (b.max(1) as f64).ln()) / 2.0;
    let kept =
        preferred.iter().copied().filter(|&p| lo < p && p <= hi).min_by(|x, y| {
            ((*x as f64).ln() - mid_of(lo, hi)).abs().total_cmp(&((*y as f64).ln() - mid_of(lo, hi)).abs())
        });
    if let Some(p) = kept {
        return p;
    }
    let (a, b) = if inclusive { (lo, hi - 1) } else { (lo + 1, hi) };
    let fits = |t: i64| a <= t && t <= b;
    let mid = ((a.max(1) as f64).ln() + (b.max(1) as f64).ln()) / 2.0;
    let closest = |cands: Vec<i64>| -> Option<i64> {
        cands
            .into_iter()
            .filter(|&t| fits(t))
            .min_by(|x, y| ((*x as f64).ln() - mid).abs().total_cmp(&((*y as f64).ln() - mid).abs()))
    };
    // Powers of two with an even exponent read as `a * a`; the others as
    // `a * 2a`; then decimals with one significant digit, then two.
    let squares: Vec<i64> = (1..31).map(|e| 1i64 << (2 * e)).collect();
    let pow2: Vec<i64> = (0..62).map(|e| 1i64 << e).collect();
    let one_digit: Vec<i64> = (0..15).flat_map(|e| (1..10).map(move |m| m * 10i64.pow(e))).collect();
    let two_digits: Vec<i64> = (0..14).flat_map(|e| (10..100).map(move |m| m * 10i64.pow(e))).collect();
    let t = match style {
        Readable::PowersOfTwo => closest(squares)
            .or_else(|| closest(pow2))
            .or_else(|| closest(one_digit.clone()))
            .or_else(|| closest(two_digits.clone())),
        Readable::Decimal => {
            closest(one_digit).or_else(|| closest(two_digits)).or_else(|| closest(squares)).or_else(|| closest(pow2))
        }
    }
    .unwrap_or(b);
    if inclusive {
        t + 1
    } else {
        t
    }
}
