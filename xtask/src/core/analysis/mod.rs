//! From a sweep's results to everything the report shows: statistics per
//! candidate, comparisons with the baseline, clusters, fitted and
//! cross-validated strategies, the recommended rule as C++, top speedups, and
//! the checks that catch a benchmark that never saw the patch.
//!
//! This is the one place the numbers of `report.md`, `report.html` and
//! `analysis.json` come from; the renderers only format them. Pure: results
//! and source text in, an [`Analysis`] and patched sources out.

mod heuristic;
mod summary;
#[cfg(test)]
mod tests;

pub use summary::{compare, noop_check};

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
pub struct Settings {
    /// Shapes the rules must not regress beyond noise (from validation).
    pub pins: fit::Pins,
    /// The sweep measured low-parallelism targets (RDNA-class GPUs).
    pub low_parallelism: bool,
    pub folds: usize,
    pub max_rungs: usize,
    pub peak_flops: f64,
    pub peak_bytes_per_s: f64,
    pub names: BTreeMap<Heuristic, FunctionNames>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    pub compared: usize,
    pub improved: usize,
    pub neutral: usize,
    pub regressed: usize,
    /// improved / compared.
    pub win_rate: f64,
    pub geomean_speedup: f64,
    /// Sum of baseline times over sum of candidate times.
    pub total_speedup: f64,
    pub max_speedup: f64,
    pub worst_speedup: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CandidateSummary {
    pub name: String,
    pub limit: Option<i64>,
    pub status: CandidateStatus,
    pub error: Option<String>,
    pub measured: usize,
    pub failed: usize,
    pub summary: Option<Summary>,
    pub vs_baseline: Option<Comparison>,
    /// Shapes whose split this candidate changes, predicted from the code.
    pub predicted_changes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    pub shape: usize,
    pub line: usize,
    pub command: String,
    pub candidate: String,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cluster {
    pub limit: LimitSpec,
    pub count: usize,
    pub output_min: i64,
    pub output_max: i64,
    pub reduction_min: i64,
    pub reduction_max: i64,
    /// Geomean speedup of the best limit over the baseline in the cluster.
    pub geomean_speedup: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeuristicAnalysis {
    pub heuristic: Heuristic,
    pub style: String,
    pub function: String,
    pub shapes: usize,
    pub excluded: Vec<(usize, String)>,
    pub imputed: Vec<(usize, i64)>,
    /// The fitting's columns: measured limits and the current ladder's values.
    pub limits: Vec<LimitSpec>,
    pub clusters: Vec<Cluster>,
    pub strategies: Vec<Evaluation>,
    pub recommended: Strategy,
    pub rule: Option<Rule>,
    /// The early-return constants as the code has them now.
    pub constants_before: BTreeMap<String, i64>,
    /// The recommended rule's choice per shape (fitted on all shapes).
    pub outcomes: Vec<ShapeOutcome>,
    /// The oracle's geomean speedup (best measured choice per shape).
    pub oracle_geomean: f64,
    /// The measured ranges of outputSize and reductionSize: outside them
    /// the rule extrapolates.
    pub output_range: (i64, i64),
    pub reduction_range: (i64, i64),
    /// Cross-validated geomean of the recommendation minus that of the
    /// original toolkit's method, as a ratio (1.02 = 2% better).
    pub vs_original_toolkit: f64,
    /// The rule as C++ (the changed function), and the diff.
    pub cpp: Option<String>,
    pub diff: String,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TopSpeedup {
    pub shape: usize,
    pub command: String,
    pub best: String,
    pub runtime: f64,
    pub baseline: f64,
    pub speedup: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Drift {
    pub geomean: f64,
    pub shapes: usize,
    pub moved: usize,
    pub warning: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Roofline {
    pub shape: usize,
    /// Achieved fraction of the roofline time at baseline and with the
    /// recommended rule.
    pub baseline: f64,
    pub recommended: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Analysis {
    pub run: String,
    pub target_commit: String,
    pub target_rev: String,
    pub heuristic_file: String,
    pub commands_sha256: String,
    pub device: String,
    pub column: String,
    pub repeats: u32,
    /// Folds of the cross-validation.
    pub folds: usize,
    pub shapes: usize,
    pub skipped_lines: Vec<(usize, String)>,
    pub candidates: Vec<CandidateSummary>,
    pub failures: Vec<Failure>,
    /// Shapes measured by only some of the candidates that ran.
    pub partial_shapes: Vec<(usize, Vec<String>)>,
    /// Shapes no candidate measured at all.
    pub unmeasured_shapes: Vec<usize>,
    /// Median relative noise of the measurements, and where it came from.
    pub noise: f64,
    pub noise_source: String,
    pub heuristics: Vec<HeuristicAnalysis>,
    pub top_speedups: Vec<TopSpeedup>,
    /// Set when the candidates look like they never reached the benchmark.
    pub noop_warning: Option<String>,
    /// The baseline re-measured after the candidates, over the first
    /// measurement (geomean), and the shapes that moved beyond noise.
    pub drift: Option<Drift>,
    /// Shapes whose decision no candidate changes (wasted benchmark time).
    pub unchanged_shapes: Vec<usize>,
    pub roofline: Vec<Roofline>,
    /// The validation of exactly these patches, when there is one.
    pub validation: Option<Validation>,
}

/// The recommended change of one heuristic, applied to the file.
#[derive(Clone, Debug)]
pub struct HeuristicPatch {
    pub heuristic: Heuristic,
    /// The file with only this heuristic changed.
    pub source: String,
    pub diff: String,
    /// The rule in words.
    pub rule: String,
    pub(super) site: Site,
    pub(super) edits: Vec<patch::Edit>,
}

/// The file with every recommended change at once (what validation builds).
pub fn combined_source(source: &str, patches: &[HeuristicPatch]) -> Result<String, String> {
    let sites: Vec<Site> = patches.iter().map(|p| p.site.clone()).collect();
    let edits: Vec<patch::Edit> = patches.iter().flat_map(|p| p.edits.clone()).collect();
    patch::apply_checked(source, &sites, &edits)
}

/// Analyses a sweep. `source` is the heuristic file at the tuned revision.
pub fn analyze(results: &Results, source: &str, settings: &Settings) -> (Analysis, Vec<HeuristicPatch>) {
    let mut heuristics = Vec::new();
    let mut patches = Vec::new();
    for &h in &results.heuristics {
        let (a, p) = heuristic::analyze_heuristic(results, source, h, settings);
        heuristics.push(a);
        patches.extend(p);
    }
    let (failures, partial_shapes, unmeasured_shapes) = summary::gaps(results);
    let (noise, noise_source) = summary::noise(results);
    let outcomes: BTreeMap<usize, &ShapeOutcome> =
        heuristics.iter().flat_map(|h| h.outcomes.iter().map(|o| (o.shape, o))).collect();
    let roofline = summary::roofline(results, settings, &outcomes);
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
        skipped_lines: results.commands.skipped.iter().map(|b| (b.line, b.error.clone())).collect(),
        candidates: summary::candidates(results),
        failures,
        partial_shapes,
        unmeasured_shapes,
        noise,
        noise_source,
        heuristics,
        top_speedups: summary::top_speedups(results),
        noop_warning: noop_check(results),
        drift: summary::drift(results),
        unchanged_shapes: summary::unchanged_shapes(results),
        roofline,
        validation: None,
    };
    (analysis, patches)
}

/// The name of the recommended choice of a shape, for tables.
pub fn choice_name(c: &Choice) -> String {
    match c {
        Choice::Baseline => "baseline".into(),
        Choice::Limit(LimitSpec::Fixed(1)) => "no split".into(),
        Choice::Limit(LimitSpec::Fixed(l)) => candidate_name(Some(*l)),
        Choice::Limit(spec) => spec.to_string(),
    }
}
