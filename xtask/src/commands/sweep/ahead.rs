//! One candidate on every target, and the next candidate's build meanwhile.
//! A candidate's build is benchmarked on each target before the next one is
//! built; with a build per candidate (`--strategy rebuild`), that next build
//! need not wait: the current build is kept ([`Station::keep`]), its kept
//! copy benchmarked, and the slot builds the next candidate on another
//! thread at the same time. On a real machine the build is CPU work (a
//! recompile of the heuristic and a relink of `libIREECompiler.so`) and the
//! benchmark mostly GPU work, so the builds after the first cost no wall
//! time while the benchmarks are longer than them.
//!
//! Building ahead stops when it does not pay: when a candidate's build took
//! no longer than keeping a copy of a build ([`BUILD_TO_KEEP`]).
//!
//! The build ahead runs at a lower CPU priority ([`AHEAD_NICE`]), so that
//! the benchmark processes beside it (boo compiles each kernel on the CPU)
//! get the CPU first; where host load still matters to a benchmark's
//! timing, `sweep.build_ahead = "off"` measures every candidate alone.
//!
//! What a candidate's build and benchmark are is the sweep's ([`Sweep`]);
//! this module only decides when the next build may start early, lends it
//! the station, and hands the outcome back for the next candidate to take
//! ([`Sweep::build`]). The journal and results are written on this thread
//! only, in the same order as without overlap, so a rerun resumes the same.

use super::{clear_attempt, SlotState, Sweep};
use crate::config::BuildAhead;
use crate::core::results::CandidateInfo;
use crate::infra::{artifacts, proc, signals};
use crate::ops::candidates::Plan;
use crate::ops::station::{self, Station};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// How many steps nicer than the sweep the build ahead runs.
const AHEAD_NICE: i32 = 10;

/// Building ahead costs a copy of each build ([`Station::keep`]) and saves
/// at most the next build's time: it goes on while a candidate's build
/// takes longer than this many copies. (On the fixture a build is a
/// fraction of a second, about what a copy takes; on IREE a relink of
/// `libIREECompiler.so` is tens of seconds, and a copy a few.)
const BUILD_TO_KEEP: f64 = 1.0;

/// A build made ahead, for the candidate of that commit to take.
pub(super) struct Built {
    pub(super) commit: git2::Oid,
    /// The build's outcome; an error (a checkout that failed, say) stops
    /// the sweep when the candidate takes it, as it would have then.
    pub(super) outcome: Result<station::Built>,
    pub(super) log: PathBuf,
    /// The candidate benchmarked meanwhile.
    pub(super) during: String,
}

/// The next candidate's build, decided and ready to start.
struct Next {
    commit: git2::Oid,
    name: String,
    log: PathBuf,
    /// The current build's kept copy, which the benchmarks use.
    kept: PathBuf,
    /// Kept only for benchmarks (not the baseline's build, which `validate`
    /// and the drift recheck use): removed once benchmarked (a failed
    /// benchmark's stays for the rerun; `clean` removes what is left).
    remove_kept: bool,
}

/// Candidate `i` on every target: built (or reused), then benchmarked on
/// each, with candidate `i + 1` built meanwhile where it may be.
pub(super) fn candidate(sweeps: &mut [Sweep], plans: &[Plan], i: usize) -> Result<()> {
    let mut ready = Vec::new();
    for (sweep, plan) in sweeps.iter_mut().zip(plans) {
        let prepared = sweep.prepare(&plan.candidates[i]);
        ready.push(prepared.with_context(|| sweep.kept())?);
    }
    let Some(next) = next_build(sweeps, plans, i, &ready)? else {
        let measured = measure_all(sweeps, plans, i, ready, None);
        let c = &plans[0].candidates[i];
        // The baseline's copy stays for `validate` and the recheck.
        discard_resumed(sweeps, &c.name, measured.is_ok() && c.limit.is_some());
        return measured;
    };
    let station = lend(sweeps)?;
    let progress = sweeps[0].progress.sharing(0);
    let (commit, log, name) = (next.commit, &next.log, &next.name);
    let (station, outcome, measured) = std::thread::scope(|scope| {
        let builder = scope.spawn(move || {
            proc::lower_thread_priority(AHEAD_NICE);
            let outcome = station.build(commit, log, &progress, name);
            (station, outcome)
        });
        let measured = measure_all(sweeps, plans, i, ready, Some(&next.kept));
        match builder.join() {
            Ok((station, outcome)) => (station, outcome, measured),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    *sweeps[0].shared.station.borrow_mut() = SlotState::Open(Box::new(station));
    // A copy a rerun resumed from is `next.kept` (the same build), handled
    // below.
    for sweep in sweeps.iter_mut() {
        sweep.resumed = None;
    }
    let first = &sweeps[0];
    if let (Err(_), Err(e)) = (&measured, &outcome) {
        first.progress.log(&format!("{name}: its build ahead failed too: {e:#}"));
    }
    // A failed (say, interrupted) benchmark's copy stays for the rerun to
    // measure ([`Sweep::kept_earlier`]) instead of building it again.
    if next.remove_kept && measured.is_ok() {
        // A copy left behind costs disk, not results: `clean` removes it.
        if let Err(e) = artifacts::discard(&next.kept) {
            first.progress.log(&format!("{}: its kept copy stays: {e:#}", plans[0].candidates[i].name));
        }
    }
    let during = plans[0].candidates[i].name.clone();
    *first.shared.ahead.borrow_mut() = Some(Built { commit, outcome, log: next.log.clone(), during });
    measured
}

/// Forgets the kept copies candidate `name` was measured from on a rerun
/// ([`Sweep::kept_earlier`]), and when `remove` (it was measured, and is
/// not the baseline) removes each once, after every target measured it; a
/// failed benchmark's copy stays for the next rerun, and the tuned
/// revision's build is never removed.
fn discard_resumed(sweeps: &mut [Sweep], name: &str, remove: bool) {
    let mut dirs = std::collections::BTreeSet::new();
    for sweep in sweeps.iter_mut() {
        if let Some((commit, dir)) = sweep.resumed.take() {
            if commit != sweep.plan.base {
                dirs.insert(dir);
            }
        }
    }
    for dir in dirs.into_iter().filter(|_| remove) {
        // A copy left behind costs disk, not results: `clean` removes it.
        if let Err(e) = artifacts::discard(&dir) {
            sweeps[0].progress.log(&format!("{name}: its kept copy stays: {e:#}"));
        }
    }
}

/// Benchmarks candidate `i` on every target where it was built, from
/// `kept` when given.
fn measure_all(
    sweeps: &mut [Sweep],
    plans: &[Plan],
    i: usize,
    ready: Vec<Option<(git2::Oid, CandidateInfo)>>,
    kept: Option<&Path>,
) -> Result<()> {
    for ((sweep, plan), ready) in sweeps.iter_mut().zip(plans).zip(ready) {
        if let Some((commit, info)) = ready {
            let measured = sweep.measure(&plan.candidates[i], commit, info, kept);
            measured.with_context(|| sweep.kept())?;
        }
    }
    Ok(())
}

/// The next candidate's build, when it may start now: overlapping builds
/// are on, candidate `i` was built for some target and is to be
/// benchmarked, the next candidate has a build of its own (not the probe
/// build again, not a build that failed, not a result to reuse), the
/// benchmark does not read the slot's checkout, and candidate `i`'s build
/// could be kept.
fn next_build(
    sweeps: &mut [Sweep],
    plans: &[Plan],
    i: usize,
    ready: &[Option<(git2::Oid, CandidateInfo)>],
) -> Result<Option<Next>> {
    let Some(next) = plans[0].candidates.get(i + 1) else { return Ok(None) };
    let Some(current) = ready.iter().flatten().map(|(c, _)| *c).next() else { return Ok(None) };
    let configs = || sweeps.iter().map(|s| &s.ctx.config);
    let no_ahead = sweeps[0].shared.no_ahead.get();
    let mode = sweeps[0].ctx.config.sweep.build_ahead;
    if no_ahead || mode == BuildAhead::Off || configs().any(station::uses_source_dir) {
        return Ok(None);
    }
    if mode == BuildAhead::Auto && !pays(&sweeps[0], i, ready) {
        return Ok(None);
    }
    if sweeps.iter().zip(plans).any(|(s, p)| s.reusable(&p.candidates[i + 1])) {
        return Ok(None);
    }
    let first = &mut sweeps[0];
    let commit = first.commit_for(next)?;
    if commit == current || first.shared.failed.borrow().contains_key(&commit) {
        return Ok(None);
    }
    let current_name = &plans[0].candidates[i].name;
    let keep_log = plans[0].run.candidate_dir(current_name).join("keep.log");
    let start = std::time::Instant::now();
    let kept = match first.station()?.keep(current, &keep_log) {
        Ok(kept) => {
            first.shared.keep_seconds.set(Some(start.elapsed().as_secs_f64()));
            kept
        }
        Err(e) => {
            signals::check()?;
            // What failed once fails again: the rest of the sweep is serial.
            first.shared.no_ahead.set(true);
            first.progress.log(&format!(
                "{current_name}: its build could not be kept ({e:#}), so every build from here on waits for the \
                 benchmarks before it"
            ));
            return Ok(None);
        }
    };
    let dir = plans[0].run.candidate_dir(&next.name);
    // Logs and CSVs of an interrupted attempt would mix with this one's.
    clear_attempt(&dir)?;
    first.progress.log(&format!("{}: building while {current_name} is benchmarked", next.name));
    Ok(Some(Next {
        commit,
        name: next.name.clone(),
        log: dir.join("build.log"),
        kept,
        remove_kept: current != plans[0].base,
    }))
}

/// Whether building ahead pays after candidate `i`: always after the
/// baseline (its build is kept anyway, and its build in a slot on the
/// user's build says nothing of a candidate's); after a candidate, when its
/// build took longer than [`BUILD_TO_KEEP`] copies. When it does not, it
/// says so, and the rest of the sweep is serial.
fn pays(sweep: &Sweep, i: usize, ready: &[Option<(git2::Oid, CandidateInfo)>]) -> bool {
    let built = ready.iter().flatten().filter_map(|(_, info)| info.build_seconds).fold(0.0, f64::max);
    let Some(keep) = sweep.shared.keep_seconds.get() else { return true };
    if worth_it(i, built, keep) {
        return true;
    }
    sweep.shared.no_ahead.set(true);
    sweep.progress.log(&format!(
        "a build took {built:.1} s and keeping a copy of one {keep:.1} s: building ahead does not pay, so every \
         build from here on waits for the benchmarks before it (`sweep.build_ahead = \"on\"` builds ahead anyway)"
    ));
    false
}

/// Whether building ahead after candidate `i`, whose build took `built`
/// seconds (0: none was needed), pays when a copy takes `keep` seconds.
fn worth_it(i: usize, built: f64, keep: f64) -> bool {
    i == 0 || built <= 0.0 || built > BUILD_TO_KEEP * keep
}

/// Takes the station out of the sweeps for the thread that builds ahead.
fn lend<'a>(sweeps: &[Sweep<'a>]) -> Result<Station<'a>> {
    sweeps[0].station()?;
    match std::mem::replace(&mut *sweeps[0].shared.station.borrow_mut(), SlotState::Lent) {
        SlotState::Open(station) => Ok(*station),
        _ => unreachable!("opened above"),
    }
}

#[cfg(test)]
mod tests {
    use super::worth_it;

    #[test]
    fn building_ahead_pays_while_a_build_outlasts_a_copy() {
        // After the baseline, always: its copy is made anyway.
        assert!(worth_it(0, 0.1, 5.0));
        // A relink of tens of seconds against a copy of a few.
        assert!(worth_it(3, 40.0, 3.0));
        // The fixture without a slow link: a build as quick as a copy.
        assert!(!worth_it(3, 0.4, 0.4));
        assert!(!worth_it(3, 0.3, 0.4));
        // A candidate that needed no build says nothing.
        assert!(worth_it(3, 0.0, 0.4));
    }
}
