//! The compiler's own features of a probe sweep's shapes, before the
//! baseline is measured. The probe build's decision log says what sizes
//! the compiler decided on, but a benchmark process compiles many shapes
//! and boo names their kernels by a hash, so a line cannot be tied to its
//! command. Here each shape is compiled by a benchmark process of its own
//! (the probe build, the early returns off so every shape the heuristics
//! take reaches its ladder, a kernel cache of its own), which ties every
//! line to its shape; [`crate::core::decisionlog::features`] compares its
//! sizes and integer locals with the parsed ones, and the compiler's
//! replace the parsed ones in `results.json` where they differ. The comparison is a journaled step
//! ([`FEATURES_STEP`], keyed by the probe build's candidate key), so a
//! rerun applies it again without compiling anything.
//!
//! It costs one more benchmark process per shape, which is why
//! `sweep.compiler_features = false` turns it off.

use super::Sweep;
use crate::core::cpp::patch::PROBE_NO_EARLY_RETURNS_VAR;
use crate::core::decide::Model;
use crate::core::decisionlog::{self, FeatureLog, Parsed};
use crate::core::results::Results;
use crate::ops::candidates::Candidate;
use crate::ops::rundir::{RunDir, RunJournal};
use crate::ops::station::BenchJob;
use anyhow::Result;

/// The step's name in the journal, and its directory in the run.
pub(super) const FEATURES_STEP: &str = "compiler-features";

/// Whether candidate `c` is the build the features come from: a probe
/// build's baseline (the variables unset, the original decisions) whose
/// code logs, with `sweep.compiler_features` on.
pub(super) fn applies(config: &crate::config::Config, c: &Candidate) -> bool {
    config.sweep.compiler_features && c.limit.is_none() && !c.logged.is_empty()
}

/// Puts a finished comparison into `results`: the compiler's sizes in place
/// of the parsed ones where they differ, and the record.
pub(super) fn apply(results: &mut Results, log: FeatureLog) {
    for r in &log.replaced {
        if let Some(shape) = results.shapes.get_mut(r.shape) {
            decisionlog::replace(&mut shape.features, r);
        }
    }
    results.compiler_features = Some(log);
}

/// A comparison an earlier attempt of this run finished for `c`'s build.
pub(super) fn earlier(journal: &RunJournal, run: &RunDir, c: &Candidate) -> Option<FeatureLog> {
    journal.reuse::<FeatureLog>(run, FEATURES_STEP, &c.key)
}

impl Sweep<'_> {
    /// Compiles every shape in a process of its own with `c`'s build (at
    /// `commit`), compares what it logged with the parsed features, and
    /// puts the outcome into the results; an earlier attempt's outcome was
    /// put there when the sweep started ([`apply`]).
    pub(super) fn compiler_features(&mut self, c: &Candidate, commit: git2::Oid) -> Result<()> {
        // An earlier attempt's was applied and said when the sweep started.
        if earlier(&self.journal, &self.plan.run, c).is_some() {
            return Ok(());
        }
        let log = self.compile_one_by_one(c, commit)?;
        self.progress.log(&decisionlog::features_summary(&log));
        apply(&mut self.results, log);
        self.plan.run.write_results(&self.results)
    }

    /// The processes, and their logs against the parsed features.
    fn compile_one_by_one(&mut self, c: &Candidate, commit: git2::Oid) -> Result<FeatureLog> {
        let config = &self.ctx.config;
        let dir = self.plan.run.path.join(FEATURES_STEP);
        let mut env = c.env.clone();
        env.push((PROBE_NO_EARLY_RETURNS_VAR.to_string(), "1".to_string()));
        let job = BenchJob {
            build_of: commit,
            shapes: &self.plan.shapes,
            dir: &dir,
            cache_dir: config.work_dir().join("cache").join(&self.plan.run.name).join(FEATURES_STEP),
            seed: &c.key,
            repeats: 1,
            timeout: self.timeout(),
            extra_args: &[],
            device_offset: 0,
            env: &env,
            config: Some(config),
            from: self.kept_build(commit),
            decision_log: true,
            anchors: None,
            one_per_shape: true,
        };
        self.progress.message("compiler features: each shape compiled in a process of its own");
        let run = self.run_bench(&job, None)?;
        // A shape whose process neither ran it nor logged anything was not
        // compiled, as far as anyone can tell: it is not compared.
        let compiled = |s: usize| run.measurements[s].ok() || run.per_shape.contains_key(&s);
        let parsed: Vec<Parsed> = (0..self.plan.shapes.len())
            .filter(|&s| compiled(s))
            .map(|s| Parsed {
                shape: s,
                command: &self.plan.shapes[s].command,
                features: &self.plan.shapes[s].features,
                reaches: self.reaches_a_ladder(s),
            })
            .collect();
        let logging: Vec<&str> = c.logged.iter().map(|h| h.name()).collect();
        let reads = self.plan.sites.iter().map(|s| (s.heuristic.name().to_string(), Model::from_site(s).reads()));
        let mut log = decisionlog::features(&parsed, &run.per_shape, &logging, &reads.collect());
        log.not_compiled = self.plan.shapes.len() - parsed.len();
        log.unreadable = run.decisions.as_ref().map_or(0, |d| d.1);
        log.seconds = run.seconds;
        self.journal.finish(&self.plan.run, FEATURES_STEP, &c.key, &dir.join("features.json"), &log)?;
        Ok(log)
    }

    /// Whether the tuner predicts that shape `s` reaches a ladder with the
    /// early returns off: some candidate (they all run with them off) is
    /// predicted a limit for it.
    fn reaches_a_ladder(&self, s: usize) -> bool {
        let decisions = &self.results.shapes[s].decisions;
        self.plan
            .candidates
            .iter()
            .filter(|c| c.limit.is_some())
            .any(|c| decisions.get(&c.name).is_some_and(|d| d.unknown.is_none() && d.limit.is_some()))
    }
}
