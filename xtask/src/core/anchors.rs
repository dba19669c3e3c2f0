//! Anchors: taking each benchmark process's drift out of its measurements.
//!
//! A GPU runs a whole process a little faster or slower than the next one
//! (clocks, temperature, where the buffers landed), and every shape a
//! candidate's process measures shares that factor. Per-shape noise
//! averages out over shapes; this does not: it moves a candidate's whole
//! column, so the fit sees a limit as better or worse on every shape at
//! once, and the recommended rule flips with it. So every process also
//! runs a few anchor shapes whose kernels are the same as in the baseline's
//! measurement (the candidate predicts the baseline's split for them), and
//! its samples are divided by how much slower its anchors ran than the
//! baseline's: every process is put on the baseline's scale.
//!
//! Pure: predictions and samples in, anchors and factors out. Running the
//! anchors in each process is [`crate::ops::station`]'s; choosing them per
//! candidate is the sweep's.

use crate::core::results::{CandidateInfo, ShapeResult, BASELINE};
use crate::core::stats;
use std::collections::BTreeSet;

/// Anchor shapes per benchmark process (`bench.anchors`) by default: three
/// average out one anchor's own noise for three extra launches per
/// process. (A candidate no shape can anchor is handled by the analysis,
/// see [`off_scale`].)
pub(crate) const DEFAULT_ANCHORS: u32 = 3;

/// The shapes that can anchor `candidate`'s processes, at most `count`,
/// each with the candidate whose measurement of it is the reference: the
/// first of `on_scale` (candidates already on the baseline's scale, the
/// baseline first) whose predicted split of the shape is `candidate`'s
/// (both known) and that measured it itself. The first shapes in workload
/// order, so the choice does not depend on the noise.
pub(crate) fn pick(shapes: &[ShapeResult], candidate: &str, on_scale: &[&str], count: usize) -> Vec<(usize, String)> {
    let known = |s: &ShapeResult, name: &str| s.decisions.get(name).filter(|d| d.unknown.is_none()).cloned();
    shapes
        .iter()
        .filter_map(|s| {
            let mine = known(s, candidate)?;
            let by = on_scale.iter().find(|&&o| {
                known(s, o).is_some_and(|d| d.same_split(&mine))
                    && s.runs.get(o).is_some_and(|m| m.ok() && m.shared_from.is_none())
            })?;
            Some((s.id, by.to_string()))
        })
        .take(count)
        .collect()
}

/// Each process's drift factor (its anchors' runtimes over the reference,
/// geometric mean over the anchors it measured), from `samples[p][a]`:
/// process `p`'s sample of anchor `a`. `reference`: per anchor, the
/// runtime the factor is relative to; `None`: the median over the
/// processes (the baseline's own processes, put on their common scale).
/// `None` for a process that measured no anchor with a reference.
pub(crate) fn factors(samples: &[Vec<Option<f64>>], reference: Option<&[f64]>) -> Vec<Option<f64>> {
    let anchors = samples.iter().map(Vec::len).max().unwrap_or(0);
    let reference: Vec<Option<f64>> = match reference {
        Some(r) => (0..anchors).map(|a| r.get(a).copied().filter(|v| *v > 0.0)).collect(),
        None => (0..anchors)
            .map(|a| stats::median(&samples.iter().filter_map(|p| p.get(a).copied().flatten()).collect::<Vec<_>>()))
            .collect(),
    };
    samples
        .iter()
        .map(|p| {
            let ratios: Vec<f64> =
                p.iter().zip(&reference).filter_map(|(s, r)| Some(s.filter(|v| *v > 0.0)? / (*r)?)).collect();
            stats::geomean(&ratios)
        })
        .collect()
}

/// How far the measurements of candidates whose processes could not be
/// anchored may sit from the baseline's scale, when the baseline's were
/// anchored (see [`off_scale`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OffScale {
    /// The candidates not anchored.
    pub(crate) names: BTreeSet<String>,
    /// The mean log factor of the anchored candidates' processes: where the
    /// baseline's scale (the median of its few processes) sits below a
    /// typical process. Such a candidate's runtimes are divided by its
    /// exponential to be on the baseline's scale.
    pub(crate) shift: f64,
    /// The standard deviation of those log factors: one process's drift.
    pub(crate) drift_sd: f64,
}

impl OffScale {
    /// The standard error of the scale of a column measured in `processes`
    /// unanchored processes (their median's: 1.25 sigma / sqrt(n)).
    pub(crate) fn scale_se(&self, processes: usize) -> f64 {
        1.25 * self.drift_sd / (processes.max(1) as f64).sqrt()
    }
}

/// What the analysis needs to treat candidates off the baseline's scale
/// (`None` when the baseline was not anchored, or when no two anchored
/// processes of other candidates give a drift spread). Their processes
/// keep their drift while everything else lost it: one offset shared by
/// every shape they measured, which a per-shape test would read as many
/// independent regressions.
pub(crate) fn off_scale(candidates: &[CandidateInfo]) -> Option<OffScale> {
    let baseline = candidates.iter().find(|c| c.name == BASELINE)?;
    if baseline.anchoring.factors.is_empty() {
        return None;
    }
    let logs: Vec<f64> = candidates
        .iter()
        .filter(|c| c.name != BASELINE)
        .flat_map(|c| &c.anchoring.factors)
        .filter(|f| **f > 0.0)
        .map(|f| f.ln())
        .collect();
    let names = candidates
        .iter()
        .filter(|c| c.status.measured() && c.name != BASELINE && c.anchoring.factors.is_empty())
        .map(|c| c.name.clone())
        .collect();
    Some(OffScale { names, shift: stats::mean(&logs)?, drift_sd: stats::std_dev(&logs)? })
}

/// How one candidate's processes were put on the baseline's scale, for the
/// report (`None` from [`scales`] when the sweep ran without anchors).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Scale {
    /// Its processes were anchored: the lowest and highest factor applied.
    Anchored { processes: usize, low: f64, high: f64 },
    /// No shape could anchor it: the analysis divides its runtimes by
    /// `factor` and counts a regression only beyond [`crate::core::fit`]'s
    /// `SCALE_Z` standard errors `se` (relative) of that factor, see
    /// [`OffScale`].
    Moved { factor: f64, se: f64 },
    /// Not anchored, and too few anchored processes to move it by.
    Unanchored,
}

impl Scale {
    /// The scale in words, for a table cell: "3 anchored, -1.2% to +0.8%".
    pub(crate) fn describe(&self) -> String {
        let pct = |f: f64| format!("{:+.1}%", 100.0 * (f - 1.0));
        match self {
            Scale::Anchored { processes, low, high } => {
                format!("{processes} anchored, {} to {}", pct(*low), pct(*high))
            }
            // The drift the analysis assumes and divides out, read as the
            // anchored rows read: how much slower its processes ran.
            Scale::Moved { factor, se } => {
                format!("not anchored; assumed drift {} (±{:.1}%)", pct(*factor), 100.0 * se)
            }
            Scale::Unanchored => "not anchored".to_string(),
        }
    }
}

/// How each of `candidates` (in order) was put on the baseline's scale,
/// given the sweep's repeats (each a first process of a candidate): the
/// factors applied to it, else `None` when the baseline was not anchored
/// either (anchors off).
pub(crate) fn scales(candidates: &[CandidateInfo], repeats: u32) -> Vec<Option<Scale>> {
    let anchored = candidates.iter().any(|c| c.name == BASELINE && !c.anchoring.factors.is_empty());
    let off = off_scale(candidates);
    candidates
        .iter()
        .map(|c| {
            if let Some((low, high)) = stats::min_max(&c.anchoring.factors) {
                return Some(Scale::Anchored { processes: c.anchoring.factors.len(), low, high });
            }
            if !anchored || c.name == BASELINE || !c.status.measured() {
                return None;
            }
            Some(match &off {
                Some(o) if o.names.contains(&c.name) => {
                    Scale::Moved { factor: o.shift.exp(), se: o.scale_se(repeats as usize) }
                }
                _ => Scale::Unanchored,
            })
        })
        .collect()
}

/// The spread of applied factors in words, for the sweep's log: "3
/// processes anchored, drift -1.2% to +0.8%".
pub(crate) fn summary(factors: &[f64]) -> String {
    let Some((lo, hi)) = stats::min_max(factors) else { return "no process anchored".to_string() };
    format!("{} process(es) anchored, drift {:+.1}% to {:+.1}%", factors.len(), 100.0 * (lo - 1.0), 100.0 * (hi - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::results::{Decision, Measurement};

    fn shape(id: usize, base: &[i64], cand: &[i64], measured: bool) -> ShapeResult {
        let mut s = crate::core::testdata::synthetic(crate::core::testdata::CURRENT, &[8]).shapes.remove(0);
        s.id = id;
        let d = |t: &[i64]| Decision { limit: Some(64), tile_sizes: Some(t.to_vec()), unknown: None };
        s.decisions.insert("baseline".into(), d(base));
        s.decisions.insert("limit-8".into(), d(cand));
        s.decisions.insert("limit-16".into(), d(&[9, 9]));
        let samples = if measured { vec![10.0] } else { vec![] };
        s.runs.insert("baseline".into(), Measurement { samples, ..Measurement::default() });
        s.runs.remove("limit-8");
        s
    }

    /// A candidate whose processes were divided by `factors`.
    fn anchored(name: &str, factors: &[f64]) -> CandidateInfo {
        let mut c = crate::core::testdata::info(name, None);
        c.anchoring.factors = factors.to_vec();
        c
    }

    #[test]
    fn picks_shapes_with_a_split_measured_on_scale_in_workload_order() {
        let mut shapes = vec![
            shape(0, &[1, 4], &[1, 8], true),
            shape(1, &[1, 4], &[1, 4], false),
            shape(2, &[2, 4], &[2, 4], true),
            shape(3, &[1, 2], &[1, 2], true),
            shape(4, &[1, 1], &[1, 1], true),
        ];
        let by = |v: &[(usize, &str)]| v.iter().map(|(s, o)| (*s, o.to_string())).collect::<Vec<_>>();
        assert_eq!(pick(&shapes, "limit-8", &["baseline"], 2), by(&[(2, "baseline"), (3, "baseline")]));
        assert_eq!(pick(&shapes, "limit-16", &["baseline"], 2), vec![]);
        // limit-16 splits shape 0 as limit-8 does, which measured it itself
        // (once on scale); a copied measurement is no reference.
        let same = shapes[0].decisions["limit-8"].clone();
        shapes[0].decisions.insert("limit-16".into(), same);
        shapes[0].runs.insert("limit-8".into(), Measurement { samples: vec![3.0], ..Measurement::default() });
        assert_eq!(pick(&shapes, "limit-16", &["baseline"], 2), vec![]);
        assert_eq!(pick(&shapes, "limit-16", &["baseline", "limit-8"], 2), by(&[(0, "limit-8")]));
        shapes[0].runs.get_mut("limit-8").unwrap().shared_from = Some("limit-1".into());
        assert_eq!(pick(&shapes, "limit-16", &["baseline", "limit-8"], 2), vec![]);
    }

    #[test]
    fn factors_put_processes_on_the_reference_scale() {
        // Process 1 ran 2% slow, process 2 4% fast, on both anchors.
        let samples = vec![vec![Some(10.0), Some(20.0)], vec![Some(10.2), Some(20.4)], vec![Some(9.6), Some(19.2)]];
        let own = factors(&samples, None);
        assert!((own[0].unwrap() - 1.0).abs() < 1e-12);
        assert!((own[1].unwrap() - 1.02).abs() < 1e-12);
        assert!((own[2].unwrap() - 0.96).abs() < 1e-12);
        let given = factors(&samples, Some(&[5.0, 10.0]));
        assert!((given[0].unwrap() - 2.0).abs() < 1e-12);
        // An anchor the process did not measure is left out; none: no factor.
        assert_eq!(factors(&[vec![None, Some(22.0)], vec![None, None]], Some(&[5.0, 20.0]))[1], None);
        assert!((factors(&[vec![None, Some(22.0)]], Some(&[5.0, 20.0]))[0].unwrap() - 1.1).abs() < 1e-12);
    }

    #[test]
    fn off_scale_needs_an_anchored_baseline_and_names_the_rest() {
        let mut cands =
            vec![anchored("baseline", &[]), anchored("limit-1", &[]), anchored("limit-8", &[1.02, 1.04, 1.03])];
        assert_eq!(off_scale(&cands), None);
        cands[0].anchoring.factors = vec![1.0, 0.99, 1.01];
        let off = off_scale(&cands).unwrap();
        assert_eq!(off.names.iter().collect::<Vec<_>>(), vec!["limit-1"]);
        let logs = [1.02f64.ln(), 1.04f64.ln(), 1.03f64.ln()];
        assert!((off.shift - logs.iter().sum::<f64>() / 3.0).abs() < 1e-12);
        assert!((off.drift_sd - 0.0097).abs() < 1e-3, "{}", off.drift_sd);
        assert!((off.scale_se(4) - 1.25 * off.drift_sd / 2.0).abs() < 1e-12);
    }

    #[test]
    fn summary_words() {
        assert_eq!(summary(&[0.99, 1.0, 1.012]), "3 process(es) anchored, drift -1.0% to +1.2%");
        assert_eq!(summary(&[]), "no process anchored");
    }

    #[test]
    fn scales_say_how_each_candidate_was_put_on_the_baseline_s_scale() {
        let mut cands =
            vec![anchored("baseline", &[]), anchored("limit-1", &[]), anchored("limit-8", &[1.02, 0.97, 1.03])];
        // The baseline not anchored: only applied factors are shown.
        assert_eq!(scales(&cands, 3)[..2], [None, None]);
        cands[2].anchoring.factors.clear();
        assert_eq!(scales(&cands, 3), vec![None, None, None]);
        cands[2].anchoring.factors = vec![1.02, 0.97, 1.03];
        cands[0].anchoring.factors = vec![1.0, 0.99, 1.01];
        let s = scales(&cands, 3);
        assert_eq!(s[0].as_ref().unwrap().describe(), "3 anchored, -1.0% to +1.0%");
        assert_eq!(s[2].as_ref().unwrap().describe(), "3 anchored, -3.0% to +3.0%");
        // limit-1 is moved by the anchored processes' mean drift, whose
        // spread over its 3 processes is the scale's error.
        let off = off_scale(&cands).unwrap();
        let Some(Scale::Moved { factor, se }) = s[1] else { panic!("{s:?}") };
        assert!((factor - off.shift.exp()).abs() < 1e-12 && (se - off.scale_se(3)).abs() < 1e-12);
        assert!(s[1].as_ref().unwrap().describe().starts_with("not anchored; assumed drift +0.6% (±2.3%)"), "{s:?}");
        // One anchored process gives no spread to move by.
        cands[2].anchoring.factors = vec![1.02];
        assert_eq!(scales(&cands, 3)[1], Some(Scale::Unanchored));
    }
}
