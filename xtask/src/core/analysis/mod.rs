//! From a sweep's results to everything the report shows: statistics per
//! candidate, comparisons with the baseline, clusters, fitted and
//! cross-validated strategies, the recommended rule as C++, top speedups, and
//! the checks that catch a benchmark that never saw the patch.
//!
//! This is the one place the numbers of `report.md`, `report.html` and
//! `analysis.json` come from; the renderers only format them. Pure: results
//! and source text in, an [`Analysis`] and patched sources out.

mod heuristic;
mod stability;
mod summary;
#[cfg(test)]
mod tests;

pub(crate) use stability::{same_rule, worth_words, Stability, STABLE_FRACTION};
pub(crate) use summary::{compare, noop_check};

use crate::core::audit::{self, Audit};
use crate::core::cpp::{patch, FunctionNames, Site};
use crate::core::fit::{self, Choice, Evaluation, ShapeOutcome, Strategy};
use crate::core::results::{candidate_name, CandidateStatus, Results};
use crate::core::rule::{LimitSpec, Rule};
use crate::core::stats::Summary;
use crate::core::validation::Validation;
use crate::core::workload::Heuristic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Settings of an analysis.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// Shapes the rules must not regress beyond noise (from validation).
    pub(crate) pins: fit::Pins,
    /// The sweep measured low-parallelism targets (RDNA-class GPUs).
    pub(crate) low_parallelism: bool,
    pub(crate) folds: usize,
    pub(crate) max_rungs: usize,
    pub(crate) peak_flops: f64,
    pub(crate) peak_bytes_per_s: f64,
    pub(crate) names: BTreeMap<Heuristic, FunctionNames>,
    /// The lit tests (path, text) of the revision the patch is written at:
    /// their cases are audited.
    pub(crate) lit: Vec<(String, String)>,
    /// Writes the rule at another revision than the one swept (`analyze
    /// --rev`).
    pub(crate) retarget: Option<Retarget>,
    /// The patch series this run's patches belong to, in a sweep of
    /// several targets.
    pub(crate) series: Option<Series>,
}

/// Where a run's patches stand in the series of a sweep of several targets:
/// the targets (true: low-parallelism) whose patches come before them and
/// after them, each fitted on its own target's measurements.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Series {
    pub(crate) earlier: Vec<bool>,
    pub(crate) later: Vec<bool>,
}

impl Series {
    /// What this run's patches leave to the patches of `low`'s target, in
    /// words: `None` when no other patch of the series changes it.
    pub(crate) fn other(&self, low: bool) -> Option<&'static str> {
        if self.earlier.contains(&low) {
            Some("keep the decisions the patches before this one give them, fitted on their own measurements")
        } else if self.later.contains(&low) {
            Some(
                "keep their current decisions here; the patches after this one change them, fitted on their own \
                  measurements",
            )
        } else {
            None
        }
    }
}

/// Another revision to write the fitted rule at: its name and heuristic
/// file.
#[derive(Clone, Debug)]
pub(crate) struct Retarget {
    pub(crate) rev: String,
    pub(crate) source: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Comparison {
    pub(crate) compared: usize,
    pub(crate) improved: usize,
    pub(crate) neutral: usize,
    pub(crate) regressed: usize,
    /// improved / compared.
    pub(crate) win_rate: f64,
    pub(crate) geomean_speedup: f64,
    /// Sum of baseline times over sum of candidate times.
    pub(crate) total_speedup: f64,
    pub(crate) max_speedup: f64,
    pub(crate) worst_speedup: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CandidateSummary {
    pub(crate) name: String,
    pub(crate) limit: Option<i64>,
    pub(crate) status: CandidateStatus,
    pub(crate) error: Option<String>,
    pub(crate) measured: usize,
    /// Of `measured`, the shapes whose measurement is another candidate's
    /// (the same predicted split; not run again).
    #[serde(default)]
    pub(crate) shared: usize,
    /// Of `measured`, the shapes the sweep measured again because their
    /// evidence was ambiguous ([`crate::core::remeasure`]; for the
    /// baseline: its side of such pairs), and the samples that added.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) remeasured: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) extra_samples: usize,
    pub(crate) failed: usize,
    pub(crate) summary: Option<Summary>,
    pub(crate) vs_baseline: Option<Comparison>,
    /// Shapes whose split this candidate changes, predicted from the code.
    pub(crate) predicted_changes: usize,
    /// How its benchmark processes were put on the baseline's scale
    /// (anchors; absent when the sweep ran without them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scale: Option<crate::core::anchors::Scale>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Failure {
    pub(crate) shape: usize,
    pub(crate) line: usize,
    pub(crate) command: String,
    pub(crate) candidate: String,
    pub(crate) reasons: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Cluster {
    pub(crate) limit: LimitSpec,
    pub(crate) count: usize,
    pub(crate) output_min: i64,
    pub(crate) output_max: i64,
    pub(crate) reduction_min: i64,
    pub(crate) reduction_max: i64,
    /// Geomean speedup of the best limit over the baseline in the cluster.
    pub(crate) geomean_speedup: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct HeuristicAnalysis {
    pub(crate) heuristic: Heuristic,
    pub(crate) style: String,
    pub(crate) function: String,
    pub(crate) shapes: usize,
    pub(crate) excluded: Vec<(usize, String)>,
    pub(crate) imputed: Vec<(usize, i64)>,
    /// The fitting's columns: measured limits and the current ladder's values.
    pub(crate) limits: Vec<LimitSpec>,
    pub(crate) clusters: Vec<Cluster>,
    pub(crate) strategies: Vec<Evaluation>,
    pub(crate) recommended: Strategy,
    pub(crate) rule: Option<Rule>,
    /// The early-return constants as the code has them now.
    pub(crate) constants_before: BTreeMap<String, i64>,
    /// The early returns' conditions as written (what [`Rule::off`] counts).
    #[serde(default)]
    pub(crate) early_returns: Vec<String>,
    /// The recommended rule's choice per shape (fitted on all shapes).
    pub(crate) outcomes: Vec<ShapeOutcome>,
    /// The oracle's geomean speedup (best measured choice per shape).
    pub(crate) oracle_geomean: f64,
    /// The measured ranges of outputSize and reductionSize: outside them
    /// the rule extrapolates.
    pub(crate) output_range: (i64, i64),
    pub(crate) reduction_range: (i64, i64),
    /// Cross-validated geomean of the recommendation minus that of the
    /// original toolkit's method, as a ratio (1.02 = 2% better).
    pub(crate) vs_original_toolkit: f64,
    /// The rule as C++ (the changed function), and the diff.
    pub(crate) cpp: Option<String>,
    pub(crate) diff: String,
    pub(crate) error: Option<String>,
    /// Where the patched code decides differently from the old one.
    #[serde(default)]
    pub(crate) audit: Option<Audit>,
    /// Shapes a kept rung of the current ladder decides (a condition the
    /// retune does not edit): they keep their current decision.
    #[serde(default)]
    pub(crate) kept_shapes: usize,
    /// How the patch was written, and its size beside a rewrite's.
    #[serde(default)]
    pub(crate) emitted: Option<heuristic::Emitted>,
    /// Where the patch changes the decision, from the behaviour audit;
    /// empty until that audit is written (`report.html` draws whatever is
    /// here).
    #[serde(default)]
    pub(crate) changed_regions: Vec<ChangedRegion>,
    /// How often the recommendation comes back when the measurements are
    /// resampled; `None` when nothing was fitted.
    #[serde(default)]
    pub(crate) stability: Option<Stability>,
}

/// A part of the (outputSize, reductionSize) plane where the patch changes
/// the heuristic's decision, as the behaviour audit will report it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChangedRegion {
    /// Half-open `[lo, hi)`; `None`: unbounded on that side.
    pub(crate) output: (Option<i64>, Option<i64>),
    pub(crate) reduction: (Option<i64>, Option<i64>),
    /// The decision before and after the patch, in words.
    pub(crate) before: String,
    pub(crate) after: String,
}

/// The recommendation on a set of shapes, as fitted (in-sample).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Fitted {
    pub(crate) shapes: usize,
    /// Geomean and worst speedup of the recommended rules over the baseline.
    pub(crate) geomean: f64,
    pub(crate) worst: f64,
    /// Shapes the rules make slower beyond the measured noise.
    pub(crate) regressed: usize,
}

/// One commands file's figures beside the totals: a rule that helps one
/// model and hurts another shows here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct FileFigures {
    pub(crate) file: String,
    pub(crate) sha256: String,
    pub(crate) shapes: usize,
    /// Per heuristic that has shapes of this file.
    pub(crate) heuristics: Vec<(Heuristic, Fitted)>,
    /// Over every fitted shape of the file.
    pub(crate) total: Option<Fitted>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TopSpeedup {
    pub(crate) shape: usize,
    pub(crate) command: String,
    pub(crate) best: String,
    pub(crate) runtime: f64,
    pub(crate) baseline: f64,
    pub(crate) speedup: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Drift {
    pub(crate) geomean: f64,
    pub(crate) shapes: usize,
    pub(crate) moved: usize,
    pub(crate) warning: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Roofline {
    pub(crate) shape: usize,
    /// Achieved fraction of the roofline time at baseline and with the
    /// recommended rule.
    pub(crate) baseline: f64,
    pub(crate) recommended: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Analysis {
    pub(crate) run: String,
    pub(crate) target_commit: String,
    pub(crate) target_rev: String,
    pub(crate) heuristic_file: String,
    pub(crate) commands_sha256: String,
    pub(crate) device: String,
    pub(crate) column: String,
    pub(crate) repeats: u32,
    /// Folds of the cross-validation.
    pub(crate) folds: usize,
    pub(crate) shapes: usize,
    /// Every shape's command as written, by shape id: the per-shape
    /// tables name shapes by their command.
    #[serde(default)]
    pub(crate) commands: Vec<String>,
    /// Lines the sweep skipped: file (empty in runs of earlier versions),
    /// line, why.
    pub(crate) skipped_lines: Vec<(String, usize, String)>,
    pub(crate) candidates: Vec<CandidateSummary>,
    pub(crate) failures: Vec<Failure>,
    /// Shapes measured by only some of the candidates that ran.
    pub(crate) partial_shapes: Vec<(usize, Vec<String>)>,
    /// Shapes no candidate measured at all.
    pub(crate) unmeasured_shapes: Vec<usize>,
    /// Median relative noise of the measurements, and where it came from.
    pub(crate) noise: f64,
    pub(crate) noise_source: String,
    /// Why the measured noise is implausible for a GPU, when it is.
    #[serde(default)]
    pub(crate) noise_warning: Option<String>,
    pub(crate) heuristics: Vec<HeuristicAnalysis>,
    /// Per commands file, in the run's order.
    #[serde(default)]
    pub(crate) files: Vec<FileFigures>,
    /// The same figures over every file.
    #[serde(default)]
    pub(crate) files_total: Option<FileFigures>,
    /// Where the numbers come from, one fact a line (GPU, driver,
    /// iree-turbine, build, tool, commands files).
    #[serde(default)]
    pub(crate) provenance: Vec<String>,
    pub(crate) top_speedups: Vec<TopSpeedup>,
    /// Set when the candidates look like they never reached the benchmark.
    pub(crate) noop_warning: Option<String>,
    /// Lit test files (or cases) the audit could not read, with why.
    #[serde(default)]
    pub(crate) lit_unread: Vec<String>,
    /// The baseline re-measured after the candidates, over the first
    /// measurement (geomean), and the shapes that moved beyond noise.
    pub(crate) drift: Option<Drift>,
    /// Shapes whose decision no candidate changes (wasted benchmark time).
    pub(crate) unchanged_shapes: Vec<usize>,
    /// What the compiler's own sizes said of the parsed ones (a probe
    /// sweep's; those it replaced are what the rules were fitted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) compiler_features: Option<crate::core::decisionlog::FeatureLog>,
    pub(crate) roofline: Vec<Roofline>,
    /// The validation of exactly these patches, when there is one.
    pub(crate) validation: Option<Validation>,
    /// The run measured low-parallelism targets.
    #[serde(default)]
    pub(crate) low_parallelism: bool,
    /// The patch series of a sweep of several targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) series: Option<Series>,
}

/// The recommended change of one heuristic, applied to the file.
#[derive(Clone, Debug)]
pub(crate) struct HeuristicPatch {
    pub(crate) heuristic: Heuristic,
    /// The file with only this heuristic changed.
    pub(crate) source: String,
    pub(crate) diff: String,
    /// The rule in words.
    pub(crate) rule: String,
    pub(super) site: Site,
    pub(super) edits: Vec<patch::Edit>,
}

/// The file with every recommended change at once (what validation builds).
pub(crate) fn combined_source(source: &str, patches: &[HeuristicPatch]) -> Result<String, String> {
    let sites: Vec<Site> = patches.iter().map(|p| p.site.clone()).collect();
    let edits: Vec<patch::Edit> = patches.iter().flat_map(|p| p.edits.clone()).collect();
    patch::apply_checked(source, &sites, &edits)
}

/// Analyses a sweep. `source` is the heuristic file at the tuned revision.
pub(crate) fn analyze(results: &Results, source: &str, settings: &Settings) -> (Analysis, Vec<HeuristicPatch>) {
    let mut heuristics = Vec::new();
    let mut patches = Vec::new();
    // Every op the audit evaluates: the grid and the lit tests' cases.
    let mut grid = audit::grid();
    let (lit, lit_unread) = audit::lit_points(&settings.lit);
    grid.extend(lit);
    for &h in &results.heuristics {
        let (a, p) = heuristic::analyze_heuristic(results, source, h, settings, &grid);
        heuristics.push(a);
        patches.extend(p);
    }
    let (failures, partial_shapes, unmeasured_shapes) = summary::gaps(results);
    let (noise, noise_source, noise_warning) = summary::noise(results);
    let outcomes: BTreeMap<usize, &ShapeOutcome> =
        heuristics.iter().flat_map(|h| h.outcomes.iter().map(|o| (o.shape, o))).collect();
    let roofline = summary::roofline(results, settings, &outcomes);
    let (files, files_total) = summary::per_file(results, &heuristics);
    let analysis = Analysis {
        run: results.run.clone(),
        target_commit: results.target.commit.clone(),
        target_rev: results.target.rev.clone(),
        heuristic_file: results.target.heuristic_file.clone(),
        commands_sha256: results.commands.sha256.clone(),
        device: results.bench.device.clone(),
        column: results.bench.column.clone(),
        repeats: results.bench.repeats,
        folds: settings.folds.max(2),
        shapes: results.shapes.len(),
        commands: results.shapes.iter().map(|s| s.command.clone()).collect(),
        skipped_lines: results.commands.skipped.iter().map(|b| (b.file.clone(), b.line, b.error.clone())).collect(),
        candidates: summary::candidates(results),
        failures,
        partial_shapes,
        unmeasured_shapes,
        noise,
        noise_source,
        noise_warning,
        heuristics,
        files,
        files_total: Some(files_total),
        provenance: crate::core::report::provenance::facts(results),
        top_speedups: summary::top_speedups(results),
        noop_warning: noop_check(results),
        lit_unread,
        drift: summary::drift(results),
        unchanged_shapes: summary::unchanged_shapes(results),
        compiler_features: results.compiler_features.clone(),
        roofline,
        validation: None,
        low_parallelism: settings.low_parallelism,
        series: settings.series.clone(),
    };
    (analysis, patches)
}

/// The name of the recommended choice of a shape, for tables.
pub(crate) fn choice_name(c: &Choice) -> String {
    match c {
        Choice::Baseline => "baseline".into(),
        Choice::Limit(LimitSpec::Fixed(1)) => "no split".into(),
        Choice::Limit(LimitSpec::Fixed(l)) => candidate_name(Some(*l)),
        Choice::Limit(spec) => spec.to_string(),
    }
}
