//! `cargo xtask sweep`: the baseline and one candidate per limit, each
//! committed on its own `tune/<run>/<candidate>` branch, built incrementally
//! in a build slot and benchmarked in fresh processes.
//!
//! The workflow and its durability: candidates are planned (patched, keyed)
//! before anything is built ([`crate::ops::candidates`]); a candidate whose
//! key the journal vouches for is reused, so a rerun after a crash resumes
//! where it stopped; `results.json` is rewritten atomically after every
//! candidate. Building and benchmarking are [`crate::ops::station`]'s.

use crate::cli::{StrategyArg, SweepArgs};
use crate::config::{Strategy, TargetKind};
use crate::core::analysis;
use crate::core::cpp::patch::{self, LoggedDecision};
use crate::core::crosscheck;
use crate::core::decide::Model;
use crate::core::decisionlog;
use crate::core::difftext;
use crate::core::digest::sha256_hex;
use crate::core::modelcheck;
use crate::core::remeasure::{self, Pair};
use crate::core::results::{
    Anchoring, CandidateInfo, CandidateResult, CandidateStatus, Invocation, Measurement, Provenance, Results, BASELINE,
};
use crate::infra::progress::Progress;
use crate::infra::store::DirLock;
use crate::infra::{build, git, proc, store};
use crate::ops::candidates::{self, branch_name, Candidate, Plan, Request};
use crate::ops::context::Ctx;
use crate::ops::rundir::{Event, RunDir, RunInputs, RunJournal};
use crate::ops::station::{self, BenchJob, Station};
use crate::ops::{model_check, provenance, targets};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod ahead;
mod features;

pub(crate) fn run(ctx: &Ctx, args: &SweepArgs) -> Result<()> {
    let strategy = match args.strategy {
        Some(StrategyArg::Rebuild) => Strategy::Rebuild,
        Some(StrategyArg::Probe) => Strategy::Probe,
        Some(StrategyArg::Both) => Strategy::Both,
        None => ctx.config.sweep.strategy,
    };
    match strategy {
        Strategy::Rebuild => sweep_targets(ctx, args, false, None).map(drop),
        Strategy::Probe => sweep_targets(ctx, args, true, None).map(drop),
        Strategy::Both => {
            let probed = sweep_targets(ctx, args, true, None)?;
            let rebuilt = format!("{}-rebuild", probed[0].name);
            eprintln!("strategy both: the same sweep rebuilt per candidate, as run `{rebuilt}`");
            let rebuilt = sweep_targets(ctx, args, false, Some(&rebuilt))?;
            let mut differ = false;
            for (probed, rebuilt) in probed.iter().zip(&rebuilt) {
                let (a, b) = (probed.read_results()?, rebuilt.read_results()?);
                let check = crosscheck::compare(&a, &b);
                eprintln!("{}", crosscheck::summary(&check, &probed.name, &rebuilt.name));
                differ |= !check.mismatches.is_empty();
            }
            if differ {
                bail!(
                    "the probe build and the rebuilt candidates measured different splits or runtimes (above); \
                     use `--strategy rebuild` and report this"
                );
            }
            Ok(())
        }
    }
}

/// One sweep of every target of `heuristics.targets` (with the probe build
/// when `probe`), the first run named `first` or as `--name` says, the
/// others after it; returns their run directories, in order.
///
/// Each target is a run of its own, with that target's values tuned and
/// its benchmark settings, but they share the build slot and go candidate
/// by candidate: a candidate's build (its code is the same for every
/// target) is benchmarked on each target before the next one is built.
fn sweep_targets(ctx: &Ctx, args: &SweepArgs, probe: bool, first: Option<&str>) -> Result<Vec<RunDir>> {
    let kinds = ctx.config.targets();
    let ctxs: Vec<Ctx> = kinds.iter().map(|&t| ctx.for_target(t)).collect();
    let limits = match (&args.limits, args.full) {
        (Some(l), _) => l.clone(),
        (None, true) => ctx.config.sweep.full.clone(),
        (None, false) => ctx.config.sweep.quick.clone(),
    };
    let (plans, locks) = plan_targets(&ctxs, args, (probe, &limits), first)?;
    let runs: Vec<RunDir> = plans.iter().map(|p| p.run.clone()).collect();
    if args.dry_run {
        return Ok(runs);
    }
    // Recorded before anything is measured: an interrupted sweep's runs are
    // still one sweep (and a one-target sweep of a name is one run again).
    let list: Vec<(TargetKind, &RunDir)> = kinds.iter().copied().zip(&runs).collect();
    targets::record(&list)?;
    let extra_repeats = if args.no_remeasure { 0 } else { ctx.config.sweep.remeasure_repeats };
    let shared = Shared::default();
    let mut sweeps: Vec<Sweep> = Vec::new();
    for (tctx, plan) in ctxs.iter().zip(&plans) {
        let config = &tctx.config;
        let invocation = Invocation {
            fixture: tctx.fixture,
            config: tctx.config_name.clone(),
            heuristics: config.heuristics.tune.clone(),
            low_parallelism: config.heuristics.low_parallelism,
            repeats: config.bench.repeats,
            limits: limits.clone(),
            skip_bad_lines: args.skip_bad_lines,
            remeasure_repeats: Some(extra_repeats),
        };
        // With several targets, each line says whose it is.
        let label = if kinds.len() > 1 { format!("[{}] ", config.heuristics.targets[0].name()) } else { String::new() };
        let mut sweep = Sweep::start(tctx, plan, provenance::collect(tctx, invocation), shared.clone(), &label)?;
        sweep.extra_repeats = extra_repeats;
        if kinds.len() > 1 {
            // The targets' candidates interleave: one bar for all of them,
            // each line saying whose it is.
            if let Some(first) = sweeps.first() {
                sweep.progress.finish();
                sweep.progress = first.progress.sharing(sweep.steps());
            }
            sweep.progress.set_prefix(&label);
        }
        sweeps.push(sweep);
    }
    // Every target plans the same candidates (the same limits).
    for i in 0..plans[0].candidates.len() {
        ahead::candidate(&mut sweeps, &plans, i)?;
    }
    finish_targets(ctx, sweeps, &list)?;
    drop(locks);
    Ok(runs)
}

/// Plans and claims every target's run (the first named `first`, or as
/// `--name` says, the others after it), writing each plan; with
/// `--dry-run`, that is all.
fn plan_targets(
    ctxs: &[Ctx],
    args: &SweepArgs,
    (probe, limits): (bool, &[i64]),
    first: Option<&str>,
) -> Result<(Vec<Plan>, Vec<DirLock>)> {
    let mut plans: Vec<Plan> = Vec::new();
    let mut locks = Vec::new();
    for (i, tctx) in ctxs.iter().enumerate() {
        let t = tctx.config.targets()[0];
        let name = match plans.first() {
            Some(p) => Some(targets::run_name(&p.run.name, i, t)),
            None => first.map(str::to_string),
        };
        if ctxs.len() > 1 {
            eprintln!("target {} ({} of {})", t.name(), i + 1, ctxs.len());
        }
        let request = Request {
            commands: &args.commands,
            limits: limits.to_vec(),
            name: name.as_deref().or(args.name.as_deref()),
            skip_bad_lines: args.skip_bad_lines,
            dedup: !args.no_dedup,
            probe,
        };
        let plan = candidates::plan(tctx, &request, &station::configure_plan(&tctx.config, 0)?)?;
        if ctxs.len() > 1 {
            one_rule_per_target(&plan)?;
        }
        locks.push(claim_run(tctx, &plan, args.replace)?);
        write_plan(&plan)?;
        announce(tctx, &plan);
        if args.dry_run {
            dry_run(tctx, &plan)?;
        }
        plans.push(plan);
    }
    Ok((plans, locks))
}

/// The baseline rechecks and each target's summary, in order.
fn finish_targets(ctx: &Ctx, mut sweeps: Vec<Sweep>, runs: &[(TargetKind, &RunDir)]) -> Result<()> {
    for sweep in &mut sweeps {
        if ctx.config.sweep.recheck_baseline {
            sweep.recheck_baseline()?;
        } else if sweep.extra_repeats > 0 && !sweep.ambiguous_shapes.is_empty() {
            eprintln!(
                "note: the baseline's side of the ambiguous pairs is not measured again: it is measured with the \
                 baseline's recheck (`sweep.recheck_baseline = true`)"
            );
        }
    }
    for (sweep, (t, _)) in sweeps.into_iter().zip(runs) {
        if runs.len() > 1 {
            eprintln!("target {}:", t.name());
        }
        sweep.finish()?;
    }
    if runs.len() > 1 {
        eprintln!(
            "targets: {}; `cargo xtask analyze {}` fits each on its own measurements",
            runs.iter().map(|(t, r)| format!("{} in `{}`", t.name(), r.name)).collect::<Vec<_>>().join(", "),
            runs[0].1.name
        );
    }
    Ok(())
}

/// Refuses a sweep of several targets where a tuned heuristic decides
/// alike for every target (its code does not read `lowParallelism`): one
/// rule would then be fitted for each target and the later would overwrite
/// the earlier for both.
fn one_rule_per_target(plan: &Plan) -> Result<()> {
    for site in &plan.sites {
        if !Model::from_site(site).reads_flag() {
            bail!(
                "{} (`{}` at {}) decides alike for default and low-parallelism targets (its code does not read \
                 `lowParallelism`), so the targets cannot be tuned apart: list one target in `heuristics.targets`, \
                 or leave {} out with `--heuristics`",
                site.heuristic,
                site.function.name,
                git::short(plan.base),
                site.heuristic
            );
        }
    }
    Ok(())
}

/// The steps of a sweep's progress: per candidate (and the baseline's
/// recheck) its build and each benchmark repeat.
fn steps(config: &crate::config::Config, plan: &Plan) -> u64 {
    let per_build = 1 + u64::from(config.bench.repeats);
    (plan.candidates.len() as u64 + u64::from(config.sweep.recheck_baseline)) * per_build
}

/// What the sweeps of one sweep's targets share: the build slot (opened by
/// the first that needs it), the commit of each heuristic file built, the
/// failed builds, and what building ahead ([`ahead`]) leaves for the next
/// candidate.
#[derive(Clone, Default)]
struct Shared<'a> {
    /// Opened on first use; lent to the thread that builds ahead
    /// ([`ahead`]) while the current candidate is benchmarked.
    station: std::rc::Rc<std::cell::RefCell<SlotState<'a>>>,
    /// The slot's checkout, for a kept build's benchmark while the station
    /// is lent.
    src: std::rc::Rc<std::cell::OnceCell<std::path::PathBuf>>,
    /// The build made ahead, for the next candidate to take.
    ahead: std::rc::Rc<std::cell::RefCell<Option<ahead::Built>>>,
    /// Nothing more is built ahead: a build could not be kept, or keeping
    /// one takes as long as a build.
    no_ahead: std::rc::Rc<std::cell::Cell<bool>>,
    /// Seconds the last copy of a build took ([`Station::keep`]).
    keep_seconds: std::rc::Rc<std::cell::Cell<Option<f64>>>,
    /// By the file's digest: with the probe strategy every candidate's is
    /// the one probe commit, and every target's candidate the same commit.
    commits: std::rc::Rc<std::cell::RefCell<std::collections::BTreeMap<String, git2::Oid>>>,
    /// Commits whose build failed, with its seconds and log: another
    /// target's candidate of the same code is not built again.
    failed: std::rc::Rc<std::cell::RefCell<std::collections::BTreeMap<git2::Oid, (f64, std::path::PathBuf)>>>,
}

/// The build slot of a sweep.
#[derive(Default)]
enum SlotState<'a> {
    /// Not needed yet.
    #[default]
    Closed,
    Open(Box<Station<'a>>),
    /// Building the next candidate on another thread.
    Lent,
}

/// Locks the run directory for this sweep and records its inputs; a run of
/// the same name with other inputs is refused (or, with `replace`, moved
/// aside first).
fn claim_run(ctx: &Ctx, plan: &Plan, replace: bool) -> Result<DirLock> {
    let config = &ctx.config;
    let inputs = RunInputs {
        commands: plan.files.iter().map(|f| (f.path.clone(), f.sha256.clone())).collect(),
        rev: config.target.rev.clone(),
        commit: plan.base.to_string(),
        heuristic_file: config.target.heuristic_file.clone(),
        heuristics: config.heuristics.tune.clone(),
        low_parallelism: Some(config.heuristics.low_parallelism),
        limits: plan.candidates.iter().filter_map(|c| c.limit).collect(),
    };
    let lock = plan.run.lock("sweep")?;
    match plan.run.claim(&inputs) {
        Ok(()) => Ok(lock),
        Err(e) if !replace => Err(e),
        Err(_) => {
            let to = plan.run.set_aside(&git::open(&config.target.iree)?)?;
            eprintln!("moved the earlier run `{}` to `{}` (its branches likewise)", plan.run.name, to.display());
            drop(lock);
            let lock = plan.run.lock("sweep")?;
            plan.run.claim(&inputs)?;
            Ok(lock)
        }
    }
}

/// The commands and every candidate's patch, before anything is built.
fn write_plan(plan: &Plan) -> Result<()> {
    store::write_atomic(&plan.run.commands_file(), plan.commands_text.as_bytes())?;
    for c in &plan.candidates {
        store::write_atomic(&plan.run.candidate_dir(&c.name).join("patch.diff"), c.diff.as_bytes())?;
        // A probe candidate is its variables: its branch names the one
        // probe commit, so this file says what it measured.
        if !c.env.is_empty() {
            let text: String = c.env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            store::write_atomic(&plan.run.candidate_dir(&c.name).join("env"), text.as_bytes())?;
        }
    }
    Ok(())
}

fn announce(ctx: &Ctx, plan: &Plan) {
    eprintln!(
        "sweep `{}`: {} shapes ({} skipped), {} candidates, {} at {} ({})",
        plan.run.name,
        plan.shapes.len(),
        plan.skipped.len(),
        plan.candidates.len(),
        ctx.config.target.heuristic_file,
        git::short(plan.base),
        plan.sites.iter().map(|s| format!("{} {}", s.heuristic, s.style.name())).collect::<Vec<_>>().join(", ")
    );
    if plan.files.len() > 1 {
        let files: Vec<String> = plan.files.iter().map(|f| format!("{} ({} shapes)", f.name, f.shapes)).collect();
        eprintln!("commands: {}", files.join(", "));
    }
    for note in &plan.skipped_heuristics {
        eprintln!("note: {note}");
    }
    let shared = plan.schedule.shared();
    if shared > 0 {
        eprintln!(
            "dedup: {shared} of {} (shape, candidate) pairs predict a split already scheduled and share its \
             measurement (--no-dedup measures them all)",
            plan.shapes.len() * plan.candidates.len()
        );
    }
}

/// Writes each candidate's patch and results.json with every shape's
/// predicted decision per candidate (no runtimes), and says per candidate
/// how many shapes it would split differently from the baseline.
fn dry_run(ctx: &Ctx, plan: &Plan) -> Result<()> {
    let results = candidates::results_skeleton(&ctx.config, plan);
    plan.run.write_results(&results)?;
    for c in &plan.candidates {
        let (a, r) = difftext::stat(&c.diff);
        let differ = results
            .shapes
            .iter()
            .filter(|s| match (s.decisions.get(&c.name), s.decisions.get("baseline")) {
                (Some(d), Some(b)) => !d.same_split(b),
                _ => false,
            })
            .count();
        eprintln!(
            "  {:<12} +{a} -{r}  {} shape(s) split differently from the baseline  {}",
            c.name,
            differ,
            plan.run.candidate_dir(&c.name).join("patch.diff").display()
        );
    }
    let base = &plan.candidates[0];
    if base.build_source != base.source {
        let diff = difftext::unified(&ctx.config.target.heuristic_file, &base.source, &base.build_source);
        let path = plan.run.candidate_dir("probe").join("patch.diff");
        store::write_atomic(&path, diff.as_bytes())?;
        let (a, r) = difftext::stat(&diff);
        eprintln!("  {:<12} +{a} -{r}  the build every candidate shares  {}", "probe", path.display());
    }
    eprintln!("dry run: nothing built; predictions in `{}`", plan.run.results_file().display());
    Ok(())
}

/// A sweep under way.
struct Sweep<'a> {
    ctx: &'a Ctx,
    plan: &'a Plan,
    journal: RunJournal,
    results: Results,
    repo: git2::Repository,
    progress: Progress,
    shared: Shared<'a>,
    /// Seconds one repeat of the baseline's benchmark took (for timeouts).
    baseline_seconds: Option<f64>,
    /// Candidates this invocation measured (not reused): a recheck of the
    /// baseline made before them would not show drift over them.
    measured_now: usize,
    /// Extra repeats of an ambiguous pair (0: none are measured again).
    extra_repeats: u32,
    /// Shapes of every candidate's ambiguous pairs: the baseline's side is
    /// measured again with the recheck.
    ambiguous_shapes: BTreeSet<usize>,
    /// A kept copy of the build being measured, used instead of the slot's
    /// (which may hold another build by then).
    kept_now: Option<(git2::Oid, std::path::PathBuf)>,
    /// The kept copy of an interrupted attempt's build that serves the
    /// candidate being prepared instead of a build ([`Sweep::kept_earlier`]).
    resumed: Option<(git2::Oid, std::path::PathBuf)>,
}

impl<'a> Sweep<'a> {
    /// Starts a sweep: its journal, its results' skeleton and the model
    /// check (its line prefixed with `label`, the target's with several).
    fn start(
        ctx: &'a Ctx,
        plan: &'a Plan,
        provenance: Provenance,
        shared: Shared<'a>,
        label: &str,
    ) -> Result<Sweep<'a>> {
        let config = &ctx.config;
        let mut journal = plan.run.journal()?;
        journal.append(Event::SweepStarted { candidates: plan.candidates.iter().map(|c| c.name.clone()).collect() })?;
        let mut results = candidates::results_skeleton(config, plan);
        // The compiler's features, when an earlier attempt found them.
        if let Some(log) = plan.candidates.iter().find_map(|c| features::earlier(&journal, &plan.run, c)) {
            eprintln!("{label}compiler features: reusing the finished comparison");
            eprintln!("{label}{}", decisionlog::features_summary(&log));
            features::apply(&mut results, log);
        }
        results.provenance = Some(provenance);
        results.model_check = Some(model_check::record(config, &plan.shapes));
        eprintln!("{label}{}", modelcheck::summary(results.model_check.as_ref().expect("set above")));
        plan.run.write_results(&results)?;
        let steps = steps(config, plan);
        Ok(Sweep {
            ctx,
            plan,
            journal,
            results,
            repo: git::open(&config.target.iree)?,
            progress: Progress::new(steps, &format!("sweep {}", plan.run.name)),
            shared,
            baseline_seconds: None,
            measured_now: 0,
            extra_repeats: 0,
            ambiguous_shapes: BTreeSet::new(),
            kept_now: None,
            resumed: None,
        })
    }

    /// The steps of this sweep's progress.
    fn steps(&self) -> u64 {
        steps(&self.ctx.config, self.plan)
    }

    /// The build slot, opened (and its worktree created) on first use.
    fn station(&self) -> Result<std::cell::Ref<'_, Station<'a>>> {
        if matches!(*self.shared.station.borrow(), SlotState::Lent) {
            bail!("the build slot is building the next candidate: nothing else may use it meanwhile");
        }
        if matches!(*self.shared.station.borrow(), SlotState::Closed) {
            // A worktree slot is created at a branch: the first candidate's,
            // unless it already points at its own build (the probe's).
            let first = branch_name(&self.plan.run.name, &self.plan.candidates[0].name);
            if self.repo.find_branch(&first, git2::BranchType::Local).is_err() {
                git::set_branch(&self.repo, &first, self.plan.base)?;
            }
            let station = Station::open(&self.ctx.config, &self.repo, &self.plan.run.name, &first)?;
            let _ = self.shared.src.set(station.slot.src.clone());
            *self.shared.station.borrow_mut() = SlotState::Open(Box::new(station));
        }
        Ok(std::cell::Ref::map(self.shared.station.borrow(), |s| match s {
            SlotState::Open(station) => station.as_ref(),
            _ => unreachable!("opened above"),
        }))
    }

    /// Benchmarks `job`: its kept build ([`BenchJob::from`]) without the
    /// station, which may be building ahead, else the slot's build.
    fn run_bench(&self, job: &BenchJob, progress: Option<&Progress>) -> Result<station::BenchRun> {
        match (job.from, self.shared.src.get()) {
            (Some(_), Some(src)) => station::bench_kept(&self.ctx.config, src, job, progress),
            _ => self.station()?.bench(job, progress),
        }
    }

    /// The kept build of `commit` being measured ([`Sweep::kept_now`]).
    fn kept_build(&self, commit: git2::Oid) -> Option<&std::path::Path> {
        self.kept_now.as_ref().filter(|(c, _)| *c == commit).map(|(_, p)| p.as_path())
    }

    /// Builds `commit` in the slot, its steps shown as `what` on the bar.
    fn build_in_slot(&mut self, commit: git2::Oid, log: &std::path::Path, what: &str) -> Result<station::Built> {
        self.station()?.build(commit, log, &self.progress, what)
    }

    /// Whether candidate `c` has a finished result to reuse.
    fn reusable(&self, c: &Candidate) -> bool {
        self.journal.reuse::<CandidateResult>(&self.plan.run, &c.name, &c.key).is_some_and(|d| d.info.key == c.key)
    }

    /// Builds one candidate, returning its commit and its record so far for
    /// [`Sweep::measure`]; or reuses its finished result (`None`).
    fn prepare(&mut self, c: &Candidate) -> Result<Option<(git2::Oid, CandidateInfo)>> {
        let repeats = self.ctx.config.bench.repeats;
        if let Some(done) = self.journal.reuse::<CandidateResult>(&self.plan.run, &c.name, &c.key) {
            if done.info.key == c.key {
                self.progress.log(&format!("{}: reusing the finished result (key {})", c.name, &c.key[..12]));
                if c.limit.is_none() {
                    self.baseline_seconds = done.info.bench_seconds.map(|s| s / f64::from(repeats));
                }
                self.progress.advance(1 + u64::from(repeats));
                self.merge(&done)?;
                if let Ok(commit) = git2::Oid::from_str(&done.info.commit) {
                    // A re-measurement an interrupted attempt left undone
                    // runs from the copy that attempt benchmarked, when it
                    // is still kept (and the copy then goes).
                    self.resumed = self.kept_earlier(c, commit)?.map(|k| (commit, k));
                    self.kept_now = self.resumed.clone();
                    let again = self.remeasure_candidate(c, commit, self.resumed.is_some());
                    self.kept_now = None;
                    again?;
                }
                return Ok(None);
            }
        }
        let branch = branch_name(&self.plan.run.name, &c.name);
        let commit = self.commit_for(c)?;
        git::set_branch(&self.repo, &branch, commit)?;
        self.journal.append(Event::CandidateStarted {
            candidate: c.name.clone(),
            key: c.key.clone(),
            branch: branch.clone(),
            commit: commit.to_string(),
        })?;
        let mut info = CandidateInfo::new(&c.name, c.limit, (branch, commit.to_string()), &c.key);
        if !self.build(c, commit, &mut info)? {
            self.merge(&CandidateResult { info, measurements: vec![] })?;
            return Ok(None);
        }
        if c.limit.is_none() {
            self.keep_baseline(c, commit)?;
        }
        Ok(Some((commit, info)))
    }

    /// Benchmarks a prepared candidate and measures its ambiguous pairs
    /// again: from `kept`, a kept copy of its build, when given (the slot
    /// is then building ahead), else from the slot.
    /// A copy kept by an interrupted attempt ([`Sweep::resumed`]) serves
    /// when neither is given; [`ahead::candidate`] removes it once every
    /// target measured it.
    fn measure(&mut self, c: &Candidate, commit: git2::Oid, info: CandidateInfo, kept: Option<&Path>) -> Result<()> {
        let resumed = self.resumed.as_ref().filter(|(k, _)| *k == commit).map(|(_, p)| p.clone());
        self.kept_now = kept.map(Path::to_path_buf).or(resumed).map(|k| (commit, k));
        let outcome = self.bench(c, commit, info).and_then(|()| self.remeasure_candidate(c, commit, true));
        self.kept_now = None;
        outcome
    }

    /// A kept copy of `commit`'s build for a candidate an earlier attempt
    /// of this run built: typically the copy it was benchmarked from while
    /// the slot built ahead, when that attempt was interrupted (the slot
    /// holds another build by now). The copy is the same build (same
    /// commit and configuration), so the rerun benchmarks it instead of
    /// building the candidate again. Not for the probe build, which every
    /// candidate and the baseline share (the slot builds it again at most
    /// once), nor when the benchmark reads the slot's checkout, which holds
    /// another commit.
    fn kept_earlier(&self, c: &Candidate, commit: git2::Oid) -> Result<Option<PathBuf>> {
        let config = &self.ctx.config;
        let fresh = !self.journal.built_before(&c.name, &c.key);
        if fresh || !c.env.is_empty() || station::uses_source_dir(config) {
            return Ok(None);
        }
        let dir = station::kept_dir(config, commit)?;
        Ok(dir.is_dir().then_some(dir))
    }

    /// Keeps the build that measures the baseline ([`Station::keep`]), so
    /// that `validate` benchmarks it without building it again. A build
    /// that cannot be kept costs validate that build, not this sweep.
    fn keep_baseline(&mut self, c: &Candidate, commit: git2::Oid) -> Result<()> {
        let log = self.plan.run.candidate_dir(&c.name).join("keep.log");
        let start = std::time::Instant::now();
        match self.station()?.keep(commit, &log) {
            Ok(_) => {
                self.shared.keep_seconds.set(Some(start.elapsed().as_secs_f64()));
                self.progress.log(&format!("{}: its build kept for `validate`", c.name));
            }
            Err(e) => self.progress.log(&format!(
                "{}: its build could not be kept ({e:#}); `validate` will build the baseline again",
                c.name
            )),
        }
        Ok(())
    }

    /// The commit candidate `c`'s compiler is built from: the tuned
    /// revision when it builds the file unchanged, else a commit of its
    /// file on it, made once per distinct file.
    fn commit_for(&mut self, c: &Candidate) -> Result<git2::Oid> {
        if c.build_source == self.plan.candidates[0].source {
            return Ok(self.plan.base);
        }
        let digest = sha256_hex(c.build_source.as_bytes());
        if let Some(&oid) = self.shared.commits.borrow().get(&digest) {
            return Ok(oid);
        }
        let message = if c.build_source == c.source {
            c.message.clone()
        } else {
            format!(
                "tune: {} probe\n\nsplit-reduction-tuner probe build of run `{}`, on {}: the tuned heuristics read \
                 limitParallelLoops from {} and skip their early returns when {} is set; unset, they decide as \
                 the code does.\n",
                self.plan.run.name,
                self.plan.run.name,
                git::short(self.plan.base),
                patch::PROBE_LIMIT_VAR,
                patch::PROBE_NO_EARLY_RETURNS_VAR
            )
        };
        let file = &self.ctx.config.target.heuristic_file;
        let oid = git::commit_file(&self.repo, self.plan.base, file, &c.build_source, &message)?;
        self.shared.commits.borrow_mut().insert(digest, oid);
        Ok(oid)
    }

    /// Builds a candidate; false (with the failure recorded) when it does
    /// not build.
    fn build(&mut self, c: &Candidate, commit: git2::Oid, info: &mut CandidateInfo) -> Result<bool> {
        let ahead = self.shared.ahead.borrow_mut().take_if(|a| a.commit == commit);
        let (built, log, line) = match ahead {
            Some(a) => {
                let built = a.outcome.with_context(|| format!("building {} ahead", c.name))?;
                if !built.ok {
                    self.shared.failed.borrow_mut().insert(commit, (built.seconds, a.log.clone()));
                }
                info.built_ahead = true;
                let line = format!("{}: built in {:.1} s while {} was benchmarked", c.name, built.seconds, a.during);
                (built, a.log, Some(line))
            }
            None => match self.build_now(c, commit, info)? {
                Some((built, log)) => (built, log, None),
                None => return Ok(true),
            },
        };
        self.built(c, info, built, &log, line)
    }

    /// Builds candidate `c` in the slot now, with its log; `None` when the
    /// slot already holds its build.
    fn build_now(
        &mut self,
        c: &Candidate,
        commit: git2::Oid,
        info: &mut CandidateInfo,
    ) -> Result<Option<(station::Built, PathBuf)>> {
        let dir = self.plan.run.candidate_dir(&c.name);
        self.progress.message(&format!("{}: building", c.name));
        // Logs and CSVs of an interrupted attempt would mix with this one's.
        clear_attempt(&dir)?;
        let log = dir.join("build.log");
        if self.station()?.holds(commit)? {
            self.progress.advance(1);
            info.build_seconds = Some(0.0);
            // The probe build, made for an earlier candidate, or (on a
            // rerun) this candidate's own build, still in the slot.
            let why = if c.env.is_empty() { "its build is still in the slot" } else { "the probe build serves it" };
            self.progress.log(&format!("{}: {why} (no build)", c.name));
            let event = Event::CandidateBuilt { candidate: c.name.clone(), key: c.key.clone(), seconds: 0.0 };
            self.journal.append(event)?;
            return Ok(None);
        }
        if let Some(kept) = self.kept_earlier(c, commit)? {
            self.progress.advance(1);
            info.build_seconds = Some(0.0);
            self.progress.log(&format!("{}: its build, kept by the interrupted run, serves it (no build)", c.name));
            let event = Event::CandidateBuilt { candidate: c.name.clone(), key: c.key.clone(), seconds: 0.0 };
            self.journal.append(event)?;
            self.resumed = Some((commit, kept));
            return Ok(None);
        }
        // Another target of this sweep built this commit and it failed:
        // the same code fails the same way (its log is that target's).
        let failed = self.shared.failed.borrow().get(&commit).cloned();
        let built = match &failed {
            Some((seconds, log)) => {
                self.progress.log(&format!("{}: the same build failed for another target", c.name));
                store::write_atomic(&dir.join("build.log"), format!("see `{}`\n", log.display()).as_bytes())?;
                station::Built { ok: false, seconds: *seconds }
            }
            None => self.build_in_slot(commit, &log, &c.name)?,
        };
        if !built.ok && failed.is_none() {
            self.shared.failed.borrow_mut().insert(commit, (built.seconds, log.clone()));
        }
        Ok(Some((built, failed.map(|(_, l)| l).unwrap_or(log))))
    }

    /// Records how candidate `c`'s build went (`line` says it when it was
    /// built ahead); false when it failed.
    fn built(
        &mut self,
        c: &Candidate,
        info: &mut CandidateInfo,
        built: station::Built,
        log: &Path,
        line: Option<String>,
    ) -> Result<bool> {
        self.progress.advance(1);
        info.build_seconds = Some(built.seconds);
        if built.ok {
            let line = line.unwrap_or_else(|| format!("{}: built in {:.1} s", c.name, built.seconds));
            self.progress.log(&line);
            let event = Event::CandidateBuilt { candidate: c.name.clone(), key: c.key.clone(), seconds: built.seconds };
            self.journal.append(event)?;
            return Ok(true);
        }
        let tail = proc::log_tail(log, 15);
        let first = build::first_error(log).unwrap_or_else(|| "no error line found".into());
        if c.limit.is_none() {
            bail!("the baseline does not build: {first}\nsee `{}`:\n{tail}", log.display());
        }
        self.progress.log(&format!(
            "{}: build failed after {:.1} s: {first}\n  see `{}`",
            c.name,
            built.seconds,
            log.display()
        ));
        info.status = CandidateStatus::BuildFailed;
        info.error = Some(format!("build failed: {first} (see `{}`)", log.display()));
        let reason = info.error.clone().unwrap_or_default();
        self.journal.append(Event::CandidateFailed { candidate: c.name.clone(), key: c.key.clone(), reason })?;
        self.progress.advance(u64::from(self.ctx.config.bench.repeats));
        Ok(false)
    }

    /// Benchmarks a built candidate and records its result.
    fn bench(&mut self, c: &Candidate, commit: git2::Oid, mut info: CandidateInfo) -> Result<()> {
        if features::applies(&self.ctx.config, c) {
            self.compiler_features(c, commit)?;
        }
        let config = &self.ctx.config;
        let dir = self.plan.run.candidate_dir(&c.name);
        let index = self.plan.candidates.iter().position(|x| x.name == c.name).expect("a planned candidate");
        let owners = self.owners(index);
        let measured: Vec<usize> = (0..owners.len()).filter(|&s| owners[s].is_none()).collect();
        let shapes: Vec<_> = measured.iter().map(|&s| self.plan.shapes[s].clone()).collect();
        if shapes.is_empty() {
            self.progress.log(&format!("{}: every shape shares the measurement of an identical split", c.name));
            self.progress.advance(u64::from(config.bench.repeats));
            info.bench_seconds = Some(0.0);
            return self.record(c, info, self.spread(&owners, vec![]));
        }
        self.progress.message(&format!("{}: benchmarking", c.name));
        let timeout = self.timeout();
        let anchors = self.anchors_for(&c.name);
        let job = BenchJob {
            build_of: commit,
            shapes: &shapes,
            dir: &dir,
            cache_dir: config.work_dir().join("cache").join(&self.plan.run.name).join(&c.name),
            seed: &c.key,
            repeats: config.bench.repeats,
            timeout,
            extra_args: &[],
            device_offset: 0,
            env: &c.env,
            config: Some(config),
            from: self.kept_build(commit),
            // A probe build logs each decision its heuristics make: checked
            // below against what the tuner predicted for the shapes measured.
            decision_log: !c.logged.is_empty(),
            anchors: anchors.as_ref().map(|(a, _)| a),
            one_per_shape: false,
        };
        let run = self.run_bench(&job, Some(&self.progress))?;
        // The anchors were compiled by this build too: their decisions are
        // in the log beside the measured shapes'.
        let mut compiled = measured.clone();
        if let Some((_, shapes)) = anchors {
            self.progress.log(&format!("{}: {}", c.name, crate::core::anchors::summary(&run.drift)));
            compiled.extend(shapes.iter().filter(|s| !measured.contains(s)));
            info.anchoring = Anchoring { shapes, factors: run.drift.clone() };
        }
        if let Some((logged, unreadable)) = &run.decisions {
            let check = self.check_decisions(c, logged, *unreadable, &compiled);
            self.progress.log(&decisionlog::summary(&c.name, &check));
            info.decision_log = Some(check);
        }
        info.bench_seconds = Some(run.seconds);
        if c.limit.is_none() {
            self.baseline_seconds = Some(run.seconds / f64::from(config.bench.repeats));
        }
        let ok_shapes = run.measurements.iter().filter(|m| m.ok()).count();
        if ok_shapes == 0 && !measured.is_empty() {
            info.status = CandidateStatus::BenchFailed;
            info.error = Some(run.failed_repeats.first().cloned().unwrap_or_else(|| "no shape measured".to_string()));
        } else if ok_shapes < measured.len() {
            info.status = CandidateStatus::Partial;
            info.error = Some(format!("{} shape(s) failed in every attempt", measured.len() - ok_shapes));
        }
        for why in &run.failed_repeats {
            self.progress.log(&format!("{}: {why}", c.name));
        }
        let shared = self.plan.shapes.len() - measured.len();
        self.progress.log(&format!(
            "{}: {ok_shapes}/{} shapes measured in {:.1} s{}",
            c.name,
            measured.len(),
            run.seconds,
            if shared > 0 { format!(" ({shared} share the measurement of an identical split)") } else { String::new() }
        ));
        self.measured_now += 1;
        let measurements = self.spread(&owners, run.measurements);
        self.record(c, info, measurements)
    }

    /// The anchors of `name`'s processes ([`crate::core::anchors`]) and
    /// their shape ids: shapes it predicts the baseline's split for, on the
    /// baseline's measured scale; for the baseline's own first measurement,
    /// its first shapes on the scale of its processes' medians. `None` with
    /// `bench.anchors = 0`, or when no shape can anchor.
    fn anchors_for(&self, name: &str) -> Option<(station::Anchors, Vec<usize>)> {
        let count = self.ctx.config.bench.anchors as usize;
        if count == 0 {
            return None;
        }
        // The references: the candidate's own first measurement (a
        // re-measurement joins it on its scale, the baseline's when it was
        // anchored), the baseline's, and every anchored candidate's.
        let mut on_scale = vec![name, BASELINE];
        on_scale.extend(
            self.results.candidates.iter().filter(|c| !c.anchoring.factors.is_empty()).map(|c| c.name.as_str()),
        );
        let picked = crate::core::anchors::pick(&self.results.shapes, name, &on_scale, count);
        let command = |s: usize| self.plan.shapes[s].command.clone();
        if !picked.is_empty() {
            let reference = picked.iter().map(|(s, by)| self.results.shapes[*s].runs.get(by)?.median()).collect();
            let commands = picked.iter().map(|(s, _)| command(*s)).collect();
            let ids = picked.into_iter().map(|(s, _)| s).collect();
            return Some((station::Anchors { commands, reference }, ids));
        }
        if name != BASELINE {
            self.progress.log(&format!("{name}: no shape has a split measured on the baseline's scale; not anchored"));
            return None;
        }
        let ids: Vec<usize> = (0..self.plan.shapes.len().min(count)).collect();
        Some((station::Anchors { commands: ids.iter().map(|&s| command(s)).collect(), reference: None }, ids))
    }

    /// Compares the decisions a probe benchmark of `c` logged with the
    /// predictions for the `measured` shapes.
    fn check_decisions(
        &self,
        c: &Candidate,
        logged: &[LoggedDecision],
        unreadable: usize,
        measured: &[usize],
    ) -> decisionlog::LogCheck {
        let expected: Vec<decisionlog::Expected> = measured
            .iter()
            .filter_map(|&s| {
                let shape = &self.results.shapes[s];
                let d = shape.decisions.get(&c.name).filter(|d| d.unknown.is_none())?;
                Some(decisionlog::Expected {
                    shape: s,
                    command: &shape.command,
                    heuristic: shape.features.heuristic.name(),
                    output_size: shape.features.output_size,
                    reduction_size: shape.features.reduction_size,
                    limit: d.limit,
                    reduction_dims: &shape.features.reduction_dims,
                    walk: shape.features.walk,
                })
            })
            .collect();
        let logging: Vec<&str> = c.logged.iter().map(|h| h.name()).collect();
        let mut check = decisionlog::check(logged, &expected, &logging);
        check.unreadable = unreadable;
        check
    }

    /// A benchmark process's timeout: `bench.timeout_s`, or a multiple of
    /// the baseline's time once known.
    fn timeout(&self) -> Duration {
        let bench = &self.ctx.config.bench;
        let timeout = Duration::from_secs(bench.timeout_s);
        match (self.baseline_seconds, bench.timeout_factor > 0.0) {
            (Some(b), true) => timeout.min(Duration::from_secs_f64((b * bench.timeout_factor).max(60.0))),
            _ => timeout,
        }
    }

    /// Measures the ambiguous pairs of candidate `c` again (see
    /// [`remeasure`]), right after its benchmark while its build is in the
    /// slot (`built`), or after building it again when its result was reused.
    fn remeasure_candidate(&mut self, c: &Candidate, commit: git2::Oid, built: bool) -> Result<()> {
        let measured = self.results.candidates.iter().any(|x| x.name == c.name && x.status.measured());
        if self.extra_repeats == 0 || c.limit.is_none() || !measured {
            return Ok(());
        }
        let pairs: Vec<Pair> = self
            .results
            .shapes
            .iter()
            .enumerate()
            .filter_map(|(shape, s)| {
                let candidate = s.runs.get(&c.name)?;
                Some(Pair {
                    shape,
                    family: s.features.heuristic as usize,
                    baseline: s.runs.get("baseline")?,
                    candidate,
                    own: candidate.shared_from.is_none(),
                })
            })
            .collect();
        let shapes: Vec<usize> = remeasure::ambiguous(&pairs).into_iter().map(|a| a.shape).collect();
        if shapes.is_empty() {
            return Ok(());
        }
        self.ambiguous_shapes.extend(shapes.iter().copied());
        self.measure_again(c, commit, built, shapes)
    }

    /// Benchmarks `shapes` of `who`'s build `extra_repeats` more times in
    /// fresh processes (building it first unless `built`) and adds the
    /// samples to its measurements; a journalled step of its own, reused
    /// by a rerun with the same key.
    fn measure_again(&mut self, c: &Candidate, commit: git2::Oid, built: bool, shapes: Vec<usize>) -> Result<()> {
        let (who, key) = (c.name.as_str(), c.key.as_str());
        let (extra, n) = (self.extra_repeats, shapes.len());
        let step = format!("{who}-remeasure");
        let key = sha256_hex(format!("{key}|remeasure {extra} {shapes:?}").as_bytes());
        let earlier = self.journal.reuse::<Vec<Measurement>>(&self.plan.run, &step, &key);
        if let Some(done) = earlier.filter(|d| d.len() == n) {
            self.progress.log(&format!("{who}: reusing the finished re-measurement of {n} ambiguous pair(s)"));
            return self.absorb_extra(who, &shapes, done);
        }
        let dir = self.plan.run.candidate_dir(&step);
        clear_attempt(&dir)?;
        if !built {
            self.progress.message(&format!("{who}: building again to measure {n} ambiguous pair(s) again"));
            let log = dir.join("build.log");
            if !self.build_in_slot(commit, &log, &format!("{who} again"))?.ok {
                self.progress.log(&format!(
                    "{who}: no longer builds, ambiguous pairs not measured again; see `{}`",
                    log.display()
                ));
                return Ok(());
            }
        }
        self.progress.message(&format!("{who}: measuring {n} ambiguous pair(s) again"));
        let subset: Vec<_> = shapes.iter().map(|&s| self.plan.shapes[s].clone()).collect();
        let anchors = self.anchors_for(who);
        let job = BenchJob {
            build_of: commit,
            shapes: &subset,
            dir: &dir,
            cache_dir: self.ctx.config.work_dir().join("cache").join(&self.plan.run.name).join(&step),
            seed: &key,
            repeats: extra,
            timeout: self.timeout(),
            extra_args: &[],
            device_offset: 0,
            env: &c.env,
            config: Some(&self.ctx.config),
            decision_log: false,
            from: self.kept_build(commit),
            anchors: anchors.as_ref().map(|(a, _)| a),
            one_per_shape: false,
        };
        let run = self.run_bench(&job, None)?;
        self.journal.finish(&self.plan.run, &step, &key, &dir.join("result.json"), &run.measurements)?;
        let got: usize = run.measurements.iter().map(|m| m.samples.len()).sum();
        let what = if who == "baseline" { "shape(s) of ambiguous pairs" } else { "ambiguous pair(s)" };
        self.progress.log(&format!(
            "{who}: {n} {what} measured again, {extra} more repeats each: {got} runs in {:.1} s",
            run.seconds
        ));
        self.absorb_extra(who, &shapes, run.measurements)
    }

    fn absorb_extra(&mut self, who: &str, shapes: &[usize], measured: Vec<Measurement>) -> Result<()> {
        let extra: Vec<(usize, Measurement)> = shapes.iter().copied().zip(measured).collect();
        self.results.absorb_extra(who, &extra);
        self.plan.run.write_results(&self.results)
    }

    /// Writes a benchmarked candidate's result (journalled when measured)
    /// and merges it into results.json.
    fn record(&mut self, c: &Candidate, info: CandidateInfo, measurements: Vec<Measurement>) -> Result<()> {
        let dir = self.plan.run.candidate_dir(&c.name);
        let result = CandidateResult { info, measurements };
        let file = dir.join("result.json");
        if result.info.status.measured() {
            self.journal.finish(&self.plan.run, &c.name, &c.key, &file, &result)?;
        } else {
            store::write_json(&file, &result)?;
            if c.limit.is_none() {
                bail!("the baseline measured nothing: {}", result.info.error.clone().unwrap_or_default());
            }
            let reason = result.info.error.clone().unwrap_or_default();
            self.journal.append(Event::CandidateFailed { candidate: c.name.clone(), key: c.key.clone(), reason })?;
        }
        self.merge(&result)
    }

    /// Per shape, the candidate whose measurement candidate `index` takes
    /// (`None`: it measures the shape itself): the plan's schedule, except
    /// where that candidate has no good measurement of the shape (its build
    /// or benchmark failed), its probe build's log shows it deciding the
    /// shape otherwise than predicted, or the compiler's features put the
    /// shape's parsed sizes in doubt; the shape is then measured again.
    fn owners(&self, index: usize) -> Vec<Option<usize>> {
        let planned = &self.plan.schedule.owner[index];
        // A shape whose owner the compiler's log shows deciding otherwise
        // than predicted is measured again: the shared split was a guess.
        let decided_otherwise = |o: usize, s: usize| {
            let name = &self.plan.candidates[o].name;
            self.results
                .candidates
                .iter()
                .any(|c| &c.name == name && c.decision_log.as_ref().is_some_and(|l| l.shapes.contains(&s)))
        };
        // Nor is a shape whose sizes the compiler replaced or never used.
        let doubtful = self.results.compiler_features.as_ref().map(|f| f.doubtful()).unwrap_or_default();
        planned
            .iter()
            .zip(&self.results.shapes)
            .enumerate()
            .map(|(s, (o, shape))| {
                o.filter(|&o| {
                    shape.runs.get(&self.plan.candidates[o].name).is_some_and(Measurement::ok)
                        && !decided_otherwise(o, s)
                        && !doubtful.contains(&s)
                })
            })
            .collect()
    }

    /// A candidate's measurements of the shapes it measured, spread over
    /// every shape: the others name the candidate whose measurement they
    /// share ([`Results::merge`] copies it in).
    fn spread(&self, owners: &[Option<usize>], measured: Vec<Measurement>) -> Vec<Measurement> {
        let mut measured = measured.into_iter();
        owners
            .iter()
            .map(|o| match o {
                None => measured.next().unwrap_or_default(),
                Some(o) => {
                    Measurement { shared_from: Some(self.plan.candidates[*o].name.clone()), ..Measurement::default() }
                }
            })
            .collect()
    }

    /// What is kept when the sweep stops early.
    fn kept(&self) -> String {
        let done = self.results.candidates.iter().filter(|c| c.status != CandidateStatus::Pending).count();
        format!(
            "{done} of {} candidates finished and are kept in `{}`",
            self.plan.candidates.len(),
            self.plan.run.path.display()
        )
    }

    fn merge(&mut self, result: &CandidateResult) -> Result<()> {
        self.results.merge(result);
        self.plan.run.write_results(&self.results)
    }

    /// Benchmarks the baseline once more after the candidates (SHARK
    /// tuner's drift check), reusing an earlier recheck with the same key;
    /// then, with the same build (its kept copy, else the slot's), measures
    /// the baseline's side of every ambiguous pair again.
    fn recheck_baseline(&mut self) -> Result<()> {
        let outcome = self.recheck_and_remeasure();
        self.kept_now = None;
        outcome
    }

    /// [`Sweep::recheck_baseline`], with the kept build it may set.
    fn recheck_and_remeasure(&mut self) -> Result<()> {
        let built = self.recheck()?;
        let shapes: Vec<usize> = self.ambiguous_shapes.iter().copied().collect();
        if self.extra_repeats == 0 || shapes.is_empty() || built.is_none() {
            return Ok(());
        }
        let baseline = &self.plan.candidates[0];
        let commit = self.commit_for(baseline)?;
        self.measure_again(baseline, commit, built == Some(true), shapes)
    }

    /// The drift check: whether the baseline's build is at hand now, kept
    /// or in the slot (`None`: it no longer builds).
    fn recheck(&mut self) -> Result<Option<bool>> {
        let config = &self.ctx.config;
        let baseline = &self.plan.candidates[0];
        let key = sha256_hex(format!("{}-recheck", baseline.key).as_bytes());
        let step = "baseline-recheck";
        let dir = self.plan.run.candidate_dir(step);
        let base = self.commit_for(baseline)?;
        // The build that measured the baseline, kept: nothing to build.
        let kept = station::kept_dir(config, base)?;
        let earlier = self.journal.reuse::<Vec<Measurement>>(&self.plan.run, step, &key);
        if let Some(m) = earlier.filter(|_| self.measured_now == 0) {
            self.progress.log("baseline recheck: reusing the finished result");
            self.progress.advance(1 + u64::from(config.bench.repeats));
            self.results.recheck = Some(m);
            self.plan.run.write_results(&self.results)?;
            let at_hand = kept.is_dir();
            if at_hand {
                self.kept_now = Some((base, kept));
            }
            return Ok(Some(at_hand));
        }
        clear_attempt(&dir)?;
        if kept.is_dir() {
            self.progress.advance(1);
            self.progress.log("baseline recheck: the baseline's kept build (no build)");
            self.kept_now = Some((base, kept));
        } else {
            self.progress.message("baseline recheck: building");
            let log = dir.join("build.log");
            let built = self.build_in_slot(base, &log, "baseline recheck")?;
            self.progress.advance(1);
            if !built.ok {
                self.progress.log(&format!("baseline recheck: the baseline no longer builds; see `{}`", log.display()));
                return Ok(None);
            }
        }
        self.progress.message("baseline recheck: benchmarking");
        let job = BenchJob {
            build_of: base,
            shapes: &self.plan.shapes,
            dir: &dir,
            cache_dir: config.work_dir().join("cache").join(&self.plan.run.name).join(step),
            seed: &key,
            repeats: config.bench.repeats,
            timeout: Duration::from_secs(config.bench.timeout_s),
            extra_args: &[],
            device_offset: 0,
            env: &[],
            config: Some(config),
            from: self.kept_build(base),
            decision_log: false,
            // Not anchored: the recheck is there to show the machine's
            // drift over the sweep, which anchoring would divide out.
            anchors: None,
            one_per_shape: false,
        };
        let run = self.run_bench(&job, Some(&self.progress))?;
        self.journal.finish(&self.plan.run, step, &key, &dir.join("result.json"), &run.measurements)?;
        self.results.recheck = Some(run.measurements);
        self.plan.run.write_results(&self.results)?;
        Ok(Some(true))
    }

    fn finish(mut self) -> Result<()> {
        self.progress.finish();
        self.journal.append(Event::SweepFinished)?;
        print_summary(&self.results);
        eprintln!("results: {}", self.plan.run.results_file().display());
        Ok(())
    }
}

/// Removes the logs, CSVs and result of an earlier attempt at a candidate
/// (its patch stays).
fn clear_attempt(dir: &std::path::Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".log")
            || name.ends_with(".csv")
            || name.starts_with("commands-r")
            || name.starts_with("decisions-")
            || name == "result.json"
        {
            std::fs::remove_file(e.path())
                .map_err(|err| anyhow::anyhow!("cannot remove `{}`: {err}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Each candidate against the baseline, with "changed" meaning beyond the
/// measured noise (the analysis's comparison).
fn print_summary(results: &Results) {
    let shared = results.shared();
    if shared > 0 {
        eprintln!(
            "dedup: {shared} (shape, candidate) pairs shared the measurement of an identical predicted split: \
             {} benchmark runs saved (--no-dedup measures them all)",
            shared * results.bench.repeats as usize
        );
    }
    let (pairs, baseline, runs) = results.remeasured();
    if pairs > 0 {
        eprintln!(
            "remeasure: {pairs} ambiguous (shape, candidate) pairs and the baseline of {baseline} shape(s) measured \
             again: {runs} more benchmark runs (--no-remeasure skips them)"
        );
    }
    eprintln!("{:<12} {:>8} {:>16} {:>9} {:>10}", "candidate", "shapes", "geomean vs base", "improved", "regressed");
    for c in results.candidates.iter().filter(|c| c.limit.is_some()) {
        let status = match c.status {
            CandidateStatus::Ok => String::new(),
            ref other => format!("  ({other})"),
        };
        match analysis::compare(results, &c.name) {
            Some(v) => eprintln!(
                "{:<12} {:>8} {:>15.3}x {:>9} {:>10}{status}",
                c.name, v.compared, v.geomean_speedup, v.improved, v.regressed
            ),
            None => eprintln!("{:<12} {:>8}{status}", c.name, 0),
        }
    }
}
