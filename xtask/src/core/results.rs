//! The data a sweep produces and `analyze`/`validate` consume.
//!
//! `results.json` holds, for every shape, its command, features and the
//! measurements at every candidate; each candidate's own `result.json` holds
//! its measurements alone and is what the journal points at. This module owns
//! those types, their merge, and the per-shape summaries (median, noise) that
//! everything downstream uses. Writing them to disk is the caller's job.

use crate::core::workload::{BadLine, Features, Heuristic, Op};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the files a run directory holds (results.json, the
/// journal, validation.json). A file of a newer schema is refused; an older
/// one is read (new fields have defaults).
pub(crate) const SCHEMA: u32 = 2;

/// Files written before schemas were recorded everywhere.
pub(crate) fn first_schema() -> u32 {
    1
}

/// Whether a file of `schema`, written by tool `version`, can be read; the
/// error names the fix.
pub(crate) fn check_schema(what: &str, schema: u32, version: &str) -> Result<(), String> {
    if schema > SCHEMA {
        return Err(format!(
            "{what} was written by split-reduction-tuner {version} (file schema {schema}); this tool reads \
             schema {SCHEMA} and older: update the tool (`git pull` in its repository), or redo the run with \
             this one"
        ));
    }
    Ok(())
}

/// Measurements of one shape at one candidate, over all repeats.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Measurement {
    /// One value per successful repeat (microseconds per launch).
    pub(crate) samples: Vec<f64>,
    /// One sentence per failed repeat.
    pub(crate) failures: Vec<String>,
    /// Kernels per launch (`num_dispatches / iter`), when the CSV had it.
    pub(crate) dispatches: Option<f64>,
    /// The driver's within-run standard deviations, when it reported them.
    pub(crate) spread: Vec<f64>,
    /// Numerics verification, when the benchmark ran it.
    pub(crate) numerics_pass: Option<bool>,
    /// The candidate whose measurement this is: the shape's predicted split
    /// here equals its split there, so it was not run again (see
    /// [`crate::core::schedule`]). `None`: measured by this candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shared_from: Option<String>,
    /// How many of `samples` (the last ones) the sweep added when it
    /// measured this pair again because its evidence was ambiguous (see
    /// [`crate::core::remeasure`]). Runs of earlier versions lack it (0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) extra_samples: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Measurement {
    pub(crate) fn ok(&self) -> bool {
        !self.samples.is_empty()
    }

    /// Adds what a later process measured of the same shape (its repeats
    /// after these), as if one process had measured both.
    pub(crate) fn absorb(&mut self, later: Measurement) {
        self.samples.extend(later.samples);
        self.failures.extend(later.failures);
        self.spread.extend(later.spread);
        self.dispatches = later.dispatches.or(self.dispatches);
        self.numerics_pass = match (self.numerics_pass, later.numerics_pass) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (None, None) => None,
            _ => Some(true),
        };
    }

    /// The measurement of a process that ran `factor` times slower than the
    /// reference scale ([`crate::core::anchors`]), put on that scale.
    pub(crate) fn scale(&mut self, factor: f64) {
        for v in self.samples.iter_mut().chain(self.spread.iter_mut()) {
            *v /= factor;
        }
    }

    pub(crate) fn median(&self) -> Option<f64> {
        median(&self.samples)
    }

    /// The measurement as first made, without the samples a re-measurement
    /// added later ([`Measurement::extra_samples`]).
    pub(crate) fn without_extra(&self) -> Measurement {
        let keep = self.samples.len().saturating_sub(self.extra_samples);
        Measurement { samples: self.samples[..keep].to_vec(), extra_samples: 0, ..self.clone() }
    }

    /// This measurement against `baseline`: the speedup (baseline median
    /// over this one) and whether it is beyond the noise of both.
    pub(crate) fn versus(&self, baseline: &Measurement) -> Option<(f64, crate::core::stats::Verdict)> {
        let (b, x) = (baseline.median()?, self.median()?);
        let t = crate::core::stats::noise_threshold(
            baseline.relative_noise().unwrap_or(0.0),
            baseline.samples.len(),
            self.relative_noise().unwrap_or(0.0),
            self.samples.len(),
        );
        Some((b / x, crate::core::stats::verdict(b / x, t)))
    }

    /// Relative noise of this measurement: the larger of the spread between
    /// repeats (median absolute deviation, scaled to a standard deviation)
    /// and the driver's own within-run spread, both over the median.
    pub(crate) fn relative_noise(&self) -> Option<f64> {
        let m = self.median()?;
        let mut noise: f64 = 0.0;
        if self.samples.len() >= 2 {
            let dev: Vec<f64> = self.samples.iter().map(|s| (s - m).abs()).collect();
            noise = noise.max(1.4826 * median(&dev).unwrap_or(0.0) / m);
        }
        if let Some(s) = median(&self.spread) {
            noise = noise.max(s / m);
        }
        Some(noise)
    }
}

use crate::core::stats::median;

/// What the heuristic decides for a shape at a candidate, as predicted from
/// the features and the ladder read from the C++ (no build needed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Decision {
    /// `None`: the op is not split (an early return fired).
    pub(crate) limit: Option<i64>,
    pub(crate) tile_sizes: Option<Vec<i64>>,
    /// Why the prediction could not be made, if it could not.
    pub(crate) unknown: Option<String>,
}

impl Decision {
    /// Whether two decisions compile to the same kernels: the same tile
    /// sizes, and both split or both not (limits that lead to the same
    /// split share one measurement).
    pub(crate) fn same_split(&self, other: &Decision) -> bool {
        self.tile_sizes == other.tile_sizes && self.limit.is_some() == other.limit.is_some()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShapeResult {
    pub(crate) id: usize,
    /// The commands file the shape came from (its name, no directory).
    #[serde(default)]
    pub(crate) file: String,
    /// Line in the commands file.
    pub(crate) line: usize,
    pub(crate) command: String,
    pub(crate) op: Op,
    pub(crate) features: Features,
    /// By candidate name.
    pub(crate) runs: BTreeMap<String, Measurement>,
    /// By candidate name.
    #[serde(default)]
    pub(crate) decisions: BTreeMap<String, Decision>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CandidateStatus {
    Ok,
    /// Measured, but some shapes failed in every attempt (see their
    /// failures); the rest is usable.
    Partial,
    BuildFailed,
    BenchFailed,
    Pending,
}

impl CandidateStatus {
    /// Whether the candidate has measurements to use.
    pub(crate) fn measured(&self) -> bool {
        matches!(self, CandidateStatus::Ok | CandidateStatus::Partial)
    }
}

impl std::fmt::Display for CandidateStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CandidateStatus::Ok => "ok",
            CandidateStatus::Partial => "partial",
            CandidateStatus::BuildFailed => "build failed",
            CandidateStatus::BenchFailed => "benchmark failed",
            CandidateStatus::Pending => "not run",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CandidateInfo {
    /// `baseline` or `limit-<n>`.
    pub(crate) name: String,
    /// `None` for the baseline.
    pub(crate) limit: Option<i64>,
    pub(crate) branch: String,
    pub(crate) commit: String,
    pub(crate) key: String,
    pub(crate) status: CandidateStatus,
    pub(crate) build_seconds: Option<f64>,
    pub(crate) bench_seconds: Option<f64>,
    pub(crate) error: Option<String>,
    /// A probe build's logged decisions compared with the predictions
    /// (see [`crate::core::decisionlog`]); `None` for rebuilt candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) decision_log: Option<crate::core::decisionlog::LogCheck>,
    /// Built while the candidate before it was benchmarked
    /// (`sweep.build_ahead`): its build seconds were not the sweep's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) built_ahead: bool,
    /// The shapes that anchored its benchmark processes and each process's
    /// drift factor, which its samples were divided by (see
    /// [`crate::core::anchors`]); empty when nothing was anchored.
    #[serde(default, skip_serializing_if = "Anchoring::is_empty")]
    pub(crate) anchoring: Anchoring,
}

/// How a candidate's processes were anchored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Anchoring {
    /// Shape ids.
    pub(crate) shapes: Vec<usize>,
    /// Per process (repeat, then device; retries after their process).
    pub(crate) factors: Vec<f64>,
}

impl Anchoring {
    pub(crate) fn is_empty(&self) -> bool {
        self.shapes.is_empty() && self.factors.is_empty()
    }
}

impl CandidateInfo {
    /// A candidate's record before anything of it is known beyond what it
    /// is: nothing built, measured or failed yet.
    pub(crate) fn new(name: &str, limit: Option<i64>, (branch, commit): (String, String), key: &str) -> Self {
        CandidateInfo {
            name: name.to_string(),
            limit,
            branch,
            commit,
            key: key.to_string(),
            status: CandidateStatus::Ok,
            build_seconds: None,
            bench_seconds: None,
            error: None,
            decision_log: None,
            built_ahead: false,
            anchoring: Anchoring::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TargetInfo {
    pub(crate) checkout: String,
    pub(crate) rev: String,
    pub(crate) commit: String,
    pub(crate) heuristic_file: String,
    /// Ladder style per tuned heuristic (`inline-ladder`, `helper-function`).
    pub(crate) styles: BTreeMap<Heuristic, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CommandsInfo {
    /// The commands files as given, joined by `, ` (their own records are
    /// in `files`).
    pub(crate) path: String,
    /// sha256 of every file's commands, in order, as the sweep ran them.
    pub(crate) sha256: String,
    pub(crate) skipped: Vec<BadLine>,
    /// Each commands file; runs of earlier versions (one file) lack them
    /// ([`Results::files`] fills them in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) files: Vec<CommandsFileInfo>,
}

/// One commands file of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CommandsFileInfo {
    /// Its file name: what [`ShapeResult::file`] holds.
    pub(crate) name: String,
    /// Where it was read (a local path: results.json and the report only).
    pub(crate) path: String,
    /// Its path in this tool's repository when it is one of the tool's own
    /// files (`workloads/...`): a fresh clone of the tool has it.
    #[serde(default)]
    pub(crate) bundled: Option<String>,
    /// sha256 of its commands as the sweep ran them.
    pub(crate) sha256: String,
    pub(crate) shapes: usize,
}

/// Where a run's numbers come from, as a reviewer needs it: the GPU and
/// its driver, the benchmark, the build, the tool, and how the tool was
/// invoked. What no tool can tell is `unknown` ([`UNKNOWN`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Provenance {
    pub(crate) gpu: Gpu,
    /// iree-turbine's version in the benchmark's interpreter.
    pub(crate) turbine_version: String,
    /// `CMAKE_BUILD_TYPE` of the user's build.
    pub(crate) build_type: String,
    /// Key options of the user's build (name to value; no paths).
    pub(crate) build_options: BTreeMap<String, String>,
    pub(crate) tool: Tool,
    pub(crate) invocation: Invocation,
}

/// What nothing could tell.
pub(crate) const UNKNOWN: &str = "unknown";

/// The GPU the benchmark ran on, from the vendor's tool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Gpu {
    pub(crate) model: String,
    pub(crate) driver: String,
    /// The tool asked (`amd-smi`, `rocm-smi`, `nvidia-smi`), or why none
    /// was.
    pub(crate) source: String,
}

/// This tool, as a reviewer can fetch it again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tool {
    pub(crate) version: String,
    /// Its git commit (`-dirty` with local changes), or [`UNKNOWN`].
    pub(crate) commit: String,
    /// Its public repository (the `origin` remote when it is a URL).
    pub(crate) origin: Option<String>,
}

/// How the sweep was asked for: what a reproduction must pass again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Invocation {
    /// `--fixture`: the bundled fixture and its configuration.
    pub(crate) fixture: bool,
    /// The configuration file's name, when one other than the tool's own
    /// `tuner.toml` was read.
    pub(crate) config: Option<String>,
    pub(crate) heuristics: Vec<Heuristic>,
    pub(crate) low_parallelism: bool,
    pub(crate) repeats: u32,
    pub(crate) limits: Vec<i64>,
    pub(crate) skip_bad_lines: bool,
    /// `sweep.remeasure_repeats` as the sweep used it (0 with
    /// `--no-remeasure`); runs of earlier versions lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) remeasure_repeats: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct BenchInfo {
    pub(crate) command: String,
    pub(crate) column: String,
    pub(crate) device: String,
    pub(crate) repeats: u32,
}

/// `runs/<name>/results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Results {
    pub(crate) schema: u32,
    pub(crate) tool_version: String,
    pub(crate) run: String,
    pub(crate) target: TargetInfo,
    pub(crate) commands: CommandsInfo,
    pub(crate) bench: BenchInfo,
    pub(crate) heuristics: Vec<Heuristic>,
    pub(crate) candidates: Vec<CandidateInfo>,
    pub(crate) shapes: Vec<ShapeResult>,
    /// The baseline measured again after every candidate (per shape), to
    /// see whether the machine drifted during the sweep.
    #[serde(default)]
    pub(crate) recheck: Option<Vec<Measurement>>,
    /// The decision model checked against the build's `iree-opt` on these
    /// shapes before the sweep (or why it was not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model_check: Option<crate::core::modelcheck::ModelCheckRecord>,
    /// A probe sweep's shapes compiled one per process, and what the
    /// compiler's logged sizes said of the parsed ones (those it replaced
    /// are the shapes' `features` now; see [`crate::core::decisionlog::features`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) compiler_features: Option<crate::core::decisionlog::FeatureLog>,
    /// Where the numbers come from (runs of earlier versions lack it).
    #[serde(default)]
    pub(crate) provenance: Option<Provenance>,
}

/// `runs/<name>/candidates/<candidate>/result.json`: one candidate's
/// measurements, indexed like `Results::shapes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CandidateResult {
    pub(crate) info: CandidateInfo,
    pub(crate) measurements: Vec<Measurement>,
}

impl Results {
    /// The run's commands files, also for a run of an earlier version (one
    /// file, recorded by path).
    pub(crate) fn files(&self) -> Vec<CommandsFileInfo> {
        if !self.commands.files.is_empty() {
            return self.commands.files.clone();
        }
        let name = self.commands.path.rsplit('/').next().unwrap_or_default().to_string();
        vec![CommandsFileInfo {
            name,
            path: self.commands.path.clone(),
            bundled: None,
            sha256: self.commands.sha256.clone(),
            shapes: self.shapes.len(),
        }]
    }

    /// Puts a finished candidate's measurements into the shapes.
    pub(crate) fn merge(&mut self, result: &CandidateResult) {
        if let Some(slot) = self.candidates.iter_mut().find(|c| c.name == result.info.name) {
            *slot = result.info.clone();
        } else {
            self.candidates.push(result.info.clone());
        }
        for (shape, m) in self.shapes.iter_mut().zip(&result.measurements) {
            shape.runs.insert(result.info.name.clone(), m.clone());
        }
        self.fill_shared();
    }

    /// Copies each shared measurement from the candidate that made it, once
    /// that candidate's result is in.
    fn fill_shared(&mut self) {
        for shape in &mut self.shapes {
            let wanted: Vec<(String, String)> =
                shape.runs.iter().filter_map(|(c, m)| Some((c.clone(), m.shared_from.clone()?))).collect();
            for (candidate, owner) in wanted {
                if let Some(m) = shape.runs.get(&owner).filter(|m| m.shared_from.is_none()).cloned() {
                    shape.runs.insert(candidate, Measurement { shared_from: Some(owner), ..m });
                }
            }
        }
    }

    /// Adds the extra samples of `candidate` (shape index and what was
    /// measured again) to its measurements, and to those that share them.
    pub(crate) fn absorb_extra(&mut self, candidate: &str, extra: &[(usize, Measurement)]) {
        for (s, m) in extra {
            let Some(into) = self.shapes.get_mut(*s).and_then(|shape| shape.runs.get_mut(candidate)) else { continue };
            into.extra_samples += m.samples.len();
            into.absorb(m.clone());
        }
        self.fill_shared();
    }

    /// What the sweep measured again: (shape, candidate) pairs (not
    /// counting those that share another's measurement), shapes whose
    /// baseline was measured again, and the extra samples of both.
    pub(crate) fn remeasured(&self) -> (usize, usize, usize) {
        let (mut pairs, mut baseline, mut samples) = (0, 0, 0);
        for (c, m) in self.shapes.iter().flat_map(|s| s.runs.iter()) {
            if m.shared_from.is_some() || m.extra_samples == 0 {
                continue;
            }
            if c == "baseline" {
                baseline += 1;
            } else {
                pairs += 1;
            }
            samples += m.extra_samples;
        }
        (pairs, baseline, samples)
    }

    /// (shape, candidate) measurements shared with another candidate.
    pub(crate) fn shared(&self) -> usize {
        self.shapes.iter().flat_map(|s| s.runs.values()).filter(|m| m.shared_from.is_some()).count()
    }
}

/// The baseline's name among the candidates (its key in `runs`).
pub(crate) const BASELINE: &str = "baseline";

pub(crate) fn candidate_name(limit: Option<i64>) -> String {
    match limit {
        None => BASELINE.to_string(),
        Some(l) => format!("limit-{l}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_uses_repeats_and_driver_spread() {
        let m = Measurement { samples: vec![100.0, 102.0, 98.0], spread: vec![0.5], ..Default::default() };
        assert_eq!(m.median(), Some(100.0));
        // MAD = 2, scaled 2.9652 -> 2.97%.
        let n = m.relative_noise().unwrap();
        assert!((n - 0.029652).abs() < 1e-6, "{n}");
        let m = Measurement { samples: vec![100.0], spread: vec![5.0], ..Default::default() };
        assert_eq!(m.relative_noise(), Some(0.05));
    }

    #[test]
    fn extra_samples_join_the_measurement_and_those_sharing_it() {
        use crate::core::testdata::{info, sample, synthetic};
        let mut r = synthetic(crate::core::testdata::CURRENT, &[8]);
        let n = r.shapes.len();
        for s in &mut r.shapes {
            s.runs.clear();
        }
        r.merge(&CandidateResult { info: info("baseline", None), measurements: vec![sample(7.0); n] });
        let shared = Measurement { shared_from: Some("baseline".into()), ..Default::default() };
        let mut own = vec![sample(5.0)];
        own.extend((1..n).map(|_| shared.clone()));
        r.merge(&CandidateResult { info: info("limit-8", Some(8)), measurements: own });
        let again = Measurement { samples: vec![5.5, 5.6], ..Default::default() };
        r.absorb_extra("limit-8", &[(0, again.clone())]);
        r.absorb_extra("baseline", &[(1, again)]);
        let m = &r.shapes[0].runs["limit-8"];
        assert_eq!((m.samples.len(), m.extra_samples), (sample(5.0).samples.len() + 2, 2));
        assert_eq!(m.without_extra(), sample(5.0));
        // The copy of the baseline's measurement at limit-8 has them too,
        // but is not counted twice.
        assert_eq!(r.shapes[1].runs["limit-8"].extra_samples, 2);
        assert_eq!(r.remeasured(), (1, 1, 4));
        // results.json of earlier versions has no `extra_samples`.
        let old: Measurement = serde_json::from_str(
            r#"{"samples":[1.0],"failures":[],"dispatches":null,"spread":[],"numerics_pass":null}"#,
        )
        .unwrap();
        assert_eq!(old.extra_samples, 0);
        assert!(!serde_json::to_string(&old).unwrap().contains("extra_samples"));
    }

    #[test]
    fn merge_copies_a_shared_measurement_from_the_candidate_that_made_it() {
        use crate::core::testdata::{info, sample, synthetic};
        let mut r = synthetic(crate::core::testdata::CURRENT, &[8]);
        let n = r.shapes.len();
        for s in &mut r.shapes {
            s.runs.clear();
        }
        let shared = |from: &str| Measurement { shared_from: Some(from.into()), ..Default::default() };
        // limit-8 arrives first: it measured shape 0 and shares the rest
        // with the baseline, whose result is not in yet.
        let mut own = vec![sample(5.0)];
        own.extend((1..n).map(|_| shared("baseline")));
        r.merge(&CandidateResult { info: info("limit-8", Some(8)), measurements: own });
        assert!(!r.shapes[1].runs["limit-8"].ok());
        r.merge(&CandidateResult { info: info("baseline", None), measurements: vec![sample(7.0); n] });
        assert_eq!(r.shapes[0].runs["limit-8"], sample(5.0));
        let copied = &r.shapes[1].runs["limit-8"];
        assert_eq!(copied.samples, sample(7.0).samples);
        assert_eq!(copied.shared_from.as_deref(), Some("baseline"));
        assert_eq!(r.shared(), n - 1);
        // Copies are not copied on (each names the candidate that measured).
        assert!(r.shapes.iter().all(|s| s.runs["baseline"].shared_from.is_none()));
    }
}
