//! Which (shape, candidate) pairs a sweep measures again: those whose
//! evidence could go either way at the fitter's veto.
//!
//! The fitter lets a shape veto a rule when the rule makes it more than
//! [`MIN_REGRESSION_EFFECT`] slower and significantly so after
//! Benjamini-Hochberg over the heuristic's shapes ([`FDR`]). With a few
//! repeats a real regression of a few percent is often not significant, so
//! the veto misses it and validation finds it later.
//!
//! Which rule will give a shape a limit is not known during the sweep, and
//! the q-value Benjamini-Hochberg gives a shape depends on the rule's other
//! shapes: it is at most the p-value times the number of the heuristic's
//! shapes (when the shape is the rule's only small p-value), the q-value
//! used here. A pair *vetoes surely* when that q-value is below [`FDR`]
//! and the effect above the minimum: it vetoes every rule that gives the
//! shape this candidate's split. A pair is *ambiguous* when it does not
//! veto surely but its one-sided interval reaches above the minimum
//! effect: more repeats could make it veto. A clear regression and a clear
//! non-regression (an interval below the minimum effect) are not measured
//! again. How many pairs per candidate is bounded ([`MAX_PAIRS`],
//! [`MAX_FRACTION`]): the ones closest to a veto (smallest p-value) first.

use crate::core::fit::{slower, MIN_REGRESSION_EFFECT};
use crate::core::results::Measurement;
use crate::core::validation::{t_critical, FDR};

/// Extra fresh-process repeats of an ambiguous pair (`sweep.remeasure_repeats`'s
/// default): with the default 3 repeats they triple what the pair rests on,
/// which makes a 5% regression at 2% noise significant after
/// Benjamini-Hochberg over a few dozen shapes when the baseline's side is
/// measured again too.
pub(crate) const REMEASURE_REPEATS: u32 = 6;

/// At most this many pairs of one candidate are measured again: every
/// extra repeat is a benchmark process, and beyond a dozen or so ambiguous
/// shapes the candidate is simply noisy, which more of the same cannot fix
/// cheaply.
pub(crate) const MAX_PAIRS: usize = 12;

/// And at most this fraction of the candidate's measured shapes (rounded
/// up), so that a small sweep does not measure most of itself twice.
pub(crate) const MAX_FRACTION: f64 = 0.25;

/// One (shape, candidate) pair as measured.
pub(crate) struct Pair<'a> {
    pub(crate) shape: usize,
    /// The family the veto corrects over (the shape's heuristic).
    pub(crate) family: usize,
    pub(crate) baseline: &'a Measurement,
    pub(crate) candidate: &'a Measurement,
    /// Whether this candidate measured the pair itself (a pair that shares
    /// another candidate's measurement counts in its family, but is
    /// measured again by that candidate, if at all).
    pub(crate) own: bool,
}

/// An ambiguous pair and its evidence.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ambiguous {
    pub(crate) shape: usize,
    /// Log ratio of medians (positive: the candidate is slower).
    pub(crate) effect: f64,
    pub(crate) p: f64,
    pub(crate) q: f64,
}

/// How many of `measured` pairs of one candidate may be measured again.
pub(crate) fn bound(measured: usize) -> usize {
    MAX_PAIRS.min((MAX_FRACTION * measured as f64).ceil() as usize)
}

/// The ambiguous pairs of one candidate (see the module's doc), at most
/// [`bound`] of its own pairs, closest to a veto first, then returned in
/// shape order. Pairs without a good measurement on either side are left
/// out.
pub(crate) fn ambiguous(pairs: &[Pair]) -> Vec<Ambiguous> {
    let min = MIN_REGRESSION_EFFECT.ln_1p();
    let tested: Vec<(&Pair, crate::core::fit::Slower)> = pairs
        .iter()
        .filter_map(|p| {
            let side = |m: &Measurement| Some((m.median()?, m.relative_noise().unwrap_or(0.0), m.samples.len()));
            Some((p, slower(side(p.baseline)?, side(p.candidate)?)))
        })
        .collect();
    let family_size = |f: usize| tested.iter().filter(|(p, _)| p.family == f).count();
    let q: Vec<f64> = tested.iter().map(|(p, e)| (e.p * family_size(p.family) as f64).min(1.0)).collect();
    let mut out: Vec<Ambiguous> = tested
        .iter()
        .zip(&q)
        .filter(|((p, e), &q)| {
            let vetoes = q < FDR && e.effect > min;
            let upper = e.effect + t_critical(2.0 * FDR, e.df) * e.se;
            p.own && !vetoes && upper > min
        })
        .map(|((p, e), &q)| Ambiguous { shape: p.shape, effect: e.effect, p: e.p, q })
        .collect();
    out.sort_by(|a, b| a.p.total_cmp(&b.p).then(a.shape.cmp(&b.shape)));
    out.truncate(bound(tested.iter().filter(|(p, _)| p.own).count()));
    out.sort_by_key(|a| a.shape);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(samples: &[f64]) -> Measurement {
        Measurement { samples: samples.to_vec(), ..Default::default() }
    }

    /// Three repeats around `center` with about 2% spread.
    fn noisy(center: f64) -> Measurement {
        m(&[center * 0.98, center, center * 1.02])
    }

    fn judge(baseline: &[Measurement], candidate: &[Measurement]) -> Vec<usize> {
        let pairs: Vec<Pair> = baseline
            .iter()
            .zip(candidate)
            .enumerate()
            .map(|(shape, (b, c))| Pair { shape, family: 0, baseline: b, candidate: c, own: true })
            .collect();
        ambiguous(&pairs).into_iter().map(|a| a.shape).collect()
    }

    #[test]
    fn a_clear_regression_and_a_clear_non_regression_are_not_ambiguous_a_borderline_one_is() {
        // Shape 0: 30% slower, vetoes already. Shape 1: 20% faster.
        // Shape 2: 5% slower at 2% noise, not significant with 3 repeats.
        // Shapes 3..: unchanged but for a tiny wobble (many shapes, so the
        // bound of a quarter of them leaves room).
        let mut base = vec![noisy(100.0), noisy(100.0), noisy(100.0)];
        let mut cand = vec![noisy(130.0), noisy(80.0), noisy(105.0)];
        for _ in 0..9 {
            base.push(noisy(100.0));
            cand.push(noisy(90.0));
        }
        assert_eq!(judge(&base, &cand), vec![2]);
        // Without noise nothing is ambiguous: a slower median is certain.
        let exact = |v: f64| m(&[v, v, v]);
        assert!(judge(&[exact(100.0), exact(100.0)], &[exact(105.0), exact(101.0)]).is_empty());
    }

    #[test]
    fn an_interval_that_straddles_the_minimum_effect_is_ambiguous() {
        // 1% slower (below the minimum effect) with noise that allows 2%.
        let base = vec![noisy(100.0); 4];
        let cand = vec![noisy(101.0), noisy(70.0), noisy(70.0), noisy(70.0)];
        assert_eq!(judge(&base, &cand), vec![0]);
        // A failed measurement is never judged.
        assert!(judge(&[m(&[])], &[noisy(105.0)]).is_empty());
    }

    #[test]
    fn the_bound_holds_closest_to_a_veto_first() {
        assert_eq!(bound(4), 1);
        assert_eq!(bound(10), 3);
        assert_eq!(bound(1000), MAX_PAIRS);
        // Every shape borderline, the later ones more slowed: the bound
        // keeps those with the smallest p-value.
        let base = vec![noisy(100.0); 8];
        let cand: Vec<Measurement> = (0..8).map(|i| noisy(101.0 + 0.5 * i as f64)).collect();
        assert_eq!(judge(&base, &cand), vec![6, 7]);
        let base = vec![noisy(100.0); 100];
        let cand: Vec<Measurement> = (0..100).map(|i| noisy(101.0 + 0.04 * i as f64)).collect();
        assert_eq!(judge(&base, &cand).len(), MAX_PAIRS);
    }

    #[test]
    fn each_family_is_corrected_on_its_own() {
        // A 5% regression at 1% noise is significant on its own (p about
        // 0.02), but not once a rule's 20 shapes of its family are tested:
        // ambiguous there, a veto in a family of its own.
        let b = m(&[99.0, 100.0, 101.0]);
        let slow = m(&[104.0, 105.0, 106.0]);
        let same = m(&[99.0, 100.0, 101.0]);
        let judge = |family: usize| {
            let mut pairs = vec![Pair { shape: 0, family, baseline: &b, candidate: &slow, own: true }];
            pairs.extend((1..20).map(|shape| Pair { shape, family: 0, baseline: &b, candidate: &same, own: false }));
            ambiguous(&pairs).into_iter().map(|a| a.shape).collect::<Vec<_>>()
        };
        assert_eq!(judge(0), vec![0]);
        assert!(judge(1).is_empty(), "{:?}", judge(1));
    }

    #[test]
    fn a_regression_significant_only_among_many_regressions_is_ambiguous() {
        // A candidate that slows most shapes by half makes Benjamini-Hochberg
        // over its own pairs lenient; a fitted rule keeps few of them, so
        // an 8% regression that is significant only among those is still
        // ambiguous.
        let mut base = vec![noisy(100.0)];
        let mut cand = vec![m(&[106.0, 108.0, 110.0])];
        for _ in 0..19 {
            base.push(noisy(100.0));
            cand.push(noisy(150.0));
        }
        assert_eq!(judge(&base, &cand), vec![0]);
    }
}
