//! Sweeps of several targets (`heuristics.targets`): which run measures
//! which target, the configuration each run is analysed and validated
//! with, and the stack that turns their changes into one patch series.
//!
//! Each target is measured in a run of its own (the first named as the
//! sweep, the others `<name>-<target>`), each listing them all in its
//! `targets.json`: naming any of them names the whole sweep. A later target's rule is written on top of the earlier
//! targets' change (the stack: their combined source committed on the
//! tuned revision, recorded as the run's retarget), so its patches apply
//! after theirs and its validation's baseline is the code as the earlier
//! patches leave it. That baseline decides every shape of this target as
//! the swept code did, because the earlier patches change only their own
//! target (their audit says so), so the later target's measurements still
//! price it. What is fitted and audited is [`crate::core::analysis`]'s.

use super::inputs::RetargetRecord;
use super::rundir::RunDir;
use crate::config::{Config, TargetKind};
use crate::core::analysis::{Analysis, Series};
use crate::core::results::Results;
use crate::infra::{git, store};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// `runs/<first>/targets.json`: the runs of one sweep of several targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TargetsRecord {
    /// In the order they are measured, stacked and applied.
    pub(crate) runs: Vec<TargetRunRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TargetRunRecord {
    pub(crate) target: TargetKind,
    pub(crate) run: String,
}

/// One target's run.
pub(crate) struct TargetRun {
    pub(crate) target: TargetKind,
    pub(crate) run: RunDir,
}

/// The run name of the target at `position` of a sweep named `first`.
pub(crate) fn run_name(first: &str, position: usize, target: TargetKind) -> String {
    if position == 0 {
        first.to_string()
    } else {
        format!("{first}-{}", target.name().replace('_', "-"))
    }
}

fn record_file(first: &RunDir) -> std::path::PathBuf {
    first.path.join("targets.json")
}

/// Records the runs of a sweep of several targets in each of them; a
/// sweep of one target removes an earlier record (its run is one run again).
pub(crate) fn record(runs: &[(TargetKind, &RunDir)]) -> Result<()> {
    if let [(_, run)] = runs {
        return store::remove_file(&record_file(run));
    }
    let record =
        TargetsRecord { runs: runs.iter().map(|(t, r)| TargetRunRecord { target: *t, run: r.name.clone() }).collect() };
    for (_, run) in runs {
        store::write_json(&record_file(run), &record)?;
    }
    Ok(())
}

/// Where `run` stands in the series of its sweep of several targets.
pub(crate) fn series(run: &RunDir) -> Result<Option<Series>> {
    let file = record_file(run);
    if !file.exists() {
        return Ok(None);
    }
    let record: TargetsRecord = store::read_json(&file)?;
    let Some(at) = record.runs.iter().position(|r| r.run == run.name) else { return Ok(None) };
    let low = |rs: &[TargetRunRecord]| rs.iter().map(|r| r.target.low()).collect();
    Ok(Some(Series { earlier: low(&record.runs[..at]), later: low(&record.runs[at + 1..]) }))
}

/// The runs of the sweep `run` belongs to, in order; just `run` (its
/// target as it recorded it) when it measured one target.
pub(crate) fn runs_of(config: &Config, run: &RunDir) -> Result<Vec<TargetRun>> {
    let file = record_file(run);
    if !file.exists() {
        let target = run.read_results().ok().and_then(|r| target_of(&r)).unwrap_or(config.targets()[0]);
        return Ok(vec![TargetRun { target, run: run.clone() }]);
    }
    let record: TargetsRecord = store::read_json(&file)?;
    let parent = run.path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let mut out = Vec::new();
    for r in record.runs {
        let dir = RunDir::new(&parent, &r.run);
        if !dir.results_file().exists() {
            bail!(
                "`{}` lists run `{}` for the {} target, but it has no results; rerun the sweep (`cargo xtask sweep \
                 --name {}`) to measure it",
                file.display(),
                r.run,
                r.target.name(),
                run.name
            );
        }
        out.push(TargetRun { target: r.target, run: dir });
    }
    Ok(out)
}

/// The target a run measured, as its results record it.
pub(crate) fn target_of(results: &Results) -> Option<TargetKind> {
    results.provenance.as_ref().map(|p| TargetKind::of(p.invocation.low_parallelism))
}

/// The configuration `results` are analysed and validated with: the one
/// of the target they measured (its values tuned, its benchmark settings).
pub(crate) fn config_for(config: &Config, results: &Results) -> Config {
    match target_of(results) {
        Some(t) => config.for_target(t),
        None => config.clone(),
    }
}

/// Walks a series' runs in order: each later run's rule is written, and
/// validated, on the change the runs before it left.
#[derive(Default)]
pub(crate) struct Stack {
    /// The change the next run is written on, the series' base, and the
    /// run that left it.
    top: Option<(git2::Oid, String, String)>,
}

impl Stack {
    /// Before `run`: records the earlier runs' change (branch
    /// `tune/<run>/stack`) as where its rule is written, with the series'
    /// base; returns the run that left it (`None` for the first run, whose
    /// rule is written where `analyze --rev` says).
    pub(crate) fn place(&self, config: &Config, run: &RunDir) -> Result<Option<&str>> {
        let Some((commit, series_base, earlier)) = &self.top else { return Ok(None) };
        let repo = git::open(&config.target.iree)?;
        let branch = stack_branch(&run.name);
        git::set_branch(&repo, &branch, *commit)?;
        let record = RetargetRecord {
            rev: branch,
            commit: commit.to_string(),
            series_base: Some(series_base.clone()).filter(|s| *s != commit.to_string()),
        };
        run.write_retarget(Some(&record))?;
        Ok(Some(earlier))
    }

    /// After `run` (of a series of several): refuses its change `a` unless
    /// it keeps every other target's decisions (its audit says so), since
    /// each target must change only where its own measurements say; then
    /// `commit` (with `series_base`) is what the next run is written on.
    pub(crate) fn push(
        &mut self,
        run: &RunDir,
        a: Option<&Analysis>,
        commit: git2::Oid,
        series_base: String,
    ) -> Result<()> {
        for h in a.iter().flat_map(|a| &a.heuristics).filter(|h| h.rule.is_some() && h.emitted.is_some()) {
            let Some(au) = &h.audit else { continue };
            if !au.other_target_audited || au.counts.other_target > 0 {
                bail!(
                    "run `{}`'s {} change does not keep the other target's decisions ({}), so it cannot be one of \
                     a series that changes each target only where its own measurements say: tune one target at a \
                     time (`heuristics.targets`)",
                    run.name,
                    h.heuristic,
                    if au.other_target_audited {
                        format!("{} audited decisions change there", au.counts.other_target)
                    } else {
                        "the code does not tell the targets apart".to_string()
                    }
                );
            }
        }
        self.top = Some((commit, series_base, run.name.clone()));
        Ok(())
    }
}

/// Commits `source`, the combined heuristic file of run `run`'s
/// recommended change, on `base`: what the next target's rule is written on.
pub(crate) fn commit_change(
    repo: &git2::Repository,
    base: git2::Oid,
    file: &str,
    source: &str,
    run: &str,
) -> Result<git2::Oid> {
    let message = format!(
        "tune: {run} change\n\nsplit-reduction-tuner: the recommended change of run `{run}`, on which the next \
         target's rule is written.\n"
    );
    git::commit_file(repo, base, file, source, &message)
}

/// The branch a stacked run's rule is written on.
pub(crate) fn stack_branch(run: &str) -> String {
    super::candidates::branch_name(run, "stack")
}

/// Whether `record` is `run`'s stack (kept by an `analyze` without `--rev`).
pub(crate) fn is_stack(run: &str, record: &RetargetRecord) -> bool {
    record.rev == stack_branch(run)
}
