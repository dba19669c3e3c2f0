//! A station: one build slot and how to build and benchmark in it. Every
//! command that builds a candidate or runs the benchmark goes through here,
//! so the rules live in one place: a commit is checked out and built
//! incrementally in the slot; each benchmark repeat is a fresh process with
//! a fresh kernel cache and its own order of the shapes; a repeat that
//! leaves no usable CSV is recorded as failed, never averaged in.
//!
//! Slot layout and CMake are [`crate::infra::build`]'s, the benchmark's
//! environment [`crate::infra::bench`]'s.

use crate::config::Config;
use crate::core::cpp::patch::LoggedDecision;
use crate::core::decisionlog;
use crate::core::results::Measurement;
use crate::core::schedule;
use crate::core::stats::Rng;
use crate::core::workload::Shape;
use crate::infra::build::{self, ConfigurePlan, Slot};
use crate::infra::progress::Progress;
use crate::infra::slots::{self, Holder};
use crate::infra::{artifacts, bench, git, proc, store};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How slot `index` is configured: like the user's build, from its cache.
/// Keys of candidates use slot 0's plan whatever slot builds them, so that
/// a result measured in one slot is reused by a run that got another.
pub(crate) fn configure_plan(config: &Config, index: u32) -> Result<ConfigurePlan> {
    let cache = build::user_cache(config)?;
    Ok(build::configure_plan(config, cache.as_ref(), index))
}

/// The work directory's directory of kept builds.
pub(crate) const KEPT_DIR: &str = "kept";

/// Where a build of `commit` is kept ([`Station::keep`]): by commit and
/// configuration (slot 0's, as for candidates' keys), not by build
/// targets, since the kept files are the benchmark's, which every build has.
pub(crate) fn kept_dir(config: &Config, commit: git2::Oid) -> Result<PathBuf> {
    let hash = build::configure_hash(&configure_plan(config, 0)?)?;
    let key = crate::core::digest::sha256_hex(format!("{commit}|{hash}").as_bytes());
    Ok(config.work_dir().join(KEPT_DIR).join(&key[..16]))
}

/// A build slot ready to build commits and benchmark them.
pub(crate) struct Station<'a> {
    config: &'a Config,
    plan: ConfigurePlan,
    pub(crate) slot: Slot,
}

/// A build's outcome.
pub(crate) struct Built {
    pub(crate) ok: bool,
    pub(crate) seconds: f64,
}

/// What to benchmark, and where the files go.
pub(crate) struct BenchJob<'a> {
    /// The commit the slot must hold a build of (checked before any
    /// benchmark runs).
    pub(crate) build_of: git2::Oid,
    pub(crate) shapes: &'a [Shape],
    /// Gets the commands, CSVs and logs of every repeat.
    pub(crate) dir: &'a Path,
    /// The kernel cache, emptied first.
    pub(crate) cache_dir: PathBuf,
    /// Seeds the order of the shapes in each repeat.
    pub(crate) seed: &'a str,
    pub(crate) repeats: u32,
    pub(crate) timeout: Duration,
    /// Appended to the benchmark command (e.g. `--verify-numerics`).
    pub(crate) extra_args: &'a [String],
    /// Moves every shape this many devices on (validation: the round, so
    /// each build runs each shape on every device over the rounds).
    pub(crate) device_offset: usize,
    /// Variables the benchmark processes get on top of the benchmark's
    /// environment (a probe build's limit and switch).
    pub(crate) env: &'a [(String, String)],
    /// A probe build logs its decisions: each process gets its own log,
    /// `decisions-<tag>.jsonl` in `dir`.
    pub(crate) decision_log: bool,
    /// The benchmark settings (devices, environment) of the target this
    /// run measures, when they are not the station's: the targets of one
    /// sweep share its slot.
    pub(crate) config: Option<&'a Config>,
    /// A kept build of `build_of` ([`Station::keep`]) to benchmark instead
    /// of the slot's: no overlay, and the slot may hold something else.
    pub(crate) from: Option<&'a Path>,
    /// Shapes every process also runs first, to divide out its drift
    /// ([`crate::core::anchors`]); their own samples are not returned.
    pub(crate) anchors: Option<&'a Anchors>,
    /// Each shape in a process of its own, with a kernel cache of its own
    /// (`repeats` 1, no anchors): whatever a process's compiler logs is
    /// that shape's ([`BenchRun::per_shape`]).
    pub(crate) one_per_shape: bool,
}

/// What anchors a job's processes: the commands, and the scale they are
/// put on.
pub(crate) struct Anchors {
    pub(crate) commands: Vec<String>,
    /// Per anchor, its reference runtime (the baseline's median); `None`:
    /// the median over this job's own processes (the baseline's).
    pub(crate) reference: Option<Vec<f64>>,
}

/// Outcome of benchmarking one build.
pub(crate) struct BenchRun {
    pub(crate) measurements: Vec<Measurement>,
    pub(crate) seconds: f64,
    /// Repeats whose process failed as a whole (no usable CSV), with why.
    pub(crate) failed_repeats: Vec<String>,
    /// With [`BenchJob::decision_log`]: every decision the processes'
    /// compilers logged, and how many log lines were not one.
    pub(crate) decisions: Option<(Vec<LoggedDecision>, usize)>,
    /// With [`BenchJob::one_per_shape`] and a decision log: each shape's
    /// own process's decisions, by its index in the job.
    pub(crate) per_shape: BTreeMap<usize, Vec<LoggedDecision>>,
    /// The drift factor each anchored process's samples were divided by.
    pub(crate) drift: Vec<f64>,
}

impl<'a> Station<'a> {
    /// Takes `count` free build slots for `run` (waiting while they are all
    /// held) and opens them, creating their worktrees at `branch` when needed.
    pub(crate) fn open_many(
        config: &'a Config,
        repo: &git2::Repository,
        run: &str,
        branch: &str,
        count: usize,
    ) -> Result<Vec<Station<'a>>> {
        let locks = slots::take(&config.work_dir(), config.build.slots, count, &Holder::me(run))?;
        let mut out = Vec::new();
        for lock in locks {
            let plan = configure_plan(config, lock.index)?;
            let slot = build::open_slot(repo, config, lock, run, branch)?;
            out.push(Station { config, plan, slot });
        }
        Ok(out)
    }

    /// [`Station::open_many`] for one slot.
    pub(crate) fn open(config: &'a Config, repo: &git2::Repository, run: &str, branch: &str) -> Result<Station<'a>> {
        Ok(Station::open_many(config, repo, run, branch, 1)?.remove(0))
    }

    /// What a build of `commit` in this slot is called.
    fn built_key(&self, commit: git2::Oid) -> Result<String> {
        let hash = build::configure_hash(&self.plan)?;
        Ok(slots::built_key(&commit.to_string(), &hash, &self.config.build.targets))
    }

    /// Whether the slot holds a finished build of `commit` now.
    pub(crate) fn holds(&self, commit: git2::Oid) -> Result<bool> {
        build::holds(&self.slot, commit, &self.built_key(commit)?)
    }

    /// Fails unless the slot holds a finished build of `commit`: another
    /// process, or an interrupted build, may have left something else.
    fn check_holds(&self, commit: git2::Oid) -> Result<()> {
        if !self.holds(commit)? {
            if let build::Tree::Overlay { layers, .. } = &self.slot.tree {
                bail!(
                    "your checkout's HEAD or your build directory `{}` changed under this run (build slot {} stands \
                     on them as an overlay), so what it measured may mix two builds; rerun the command when your \
                     build is done (finished work is kept; the slot starts over from your new build)",
                    layers.build.lower.display(),
                    self.slot.index
                );
            }
            bail!(
                "build slot {} (`{}`) does not hold a finished build of {}: it was changed under this run; \
                 rerun the command (finished work is kept)",
                self.slot.index,
                self.slot.dir.display(),
                git::short(commit)
            );
        }
        Ok(())
    }

    /// Builds `commit`: checkout, configure when needed, build, showing
    /// the build's steps as `what` on `progress`.
    pub(crate) fn build(&self, commit: git2::Oid, log: &Path, progress: &Progress, what: &str) -> Result<Built> {
        let start = Instant::now();
        build::check_out(&self.slot, commit)?;
        if let Some(outcome) = build::configure(&self.slot, &self.plan, self.config, log)? {
            if !outcome.success() {
                return Ok(Built { ok: false, seconds: start.elapsed().as_secs_f64() });
            }
        }
        let key = self.built_key(commit)?;
        let outcome = build::build(&self.slot, self.config, log, &key, &mut |s| progress.build_steps(what, s))?;
        Ok(Built { ok: outcome.success(), seconds: start.elapsed().as_secs_f64() })
    }

    /// Builds `commit` from a fresh log and fails with the log's tail when it
    /// does not build; returns the seconds it took.
    pub(crate) fn build_or_fail(&self, commit: git2::Oid, log: &Path, what: &str) -> Result<f64> {
        let _ = std::fs::remove_file(log);
        let progress = Progress::for_build(what);
        let built = self.build(commit, log, &progress, what)?;
        progress.finish();
        if !built.ok {
            bail!(
                "the {what} build failed after {:.1} s: {}\nsee `{}`:\n{}",
                built.seconds,
                build::first_error(log).unwrap_or_else(|| "no error line found".into()),
                log.display(),
                proc::log_tail(log, 15)
            );
        }
        eprintln!("{what}: built in {:.1} s", built.seconds);
        Ok(built.seconds)
    }

    /// Keeps the slot's build of `commit` ([`artifacts`]) in
    /// [`kept_dir`], unless it is kept already; returns where. `log` gets
    /// the copy's output.
    pub(crate) fn keep(&self, commit: git2::Oid, log: &Path) -> Result<PathBuf> {
        let dest = kept_dir(self.config, commit)?;
        if dest.is_dir() {
            return Ok(dest);
        }
        self.check_holds(commit)?;
        // Packed where the slot's build is visible (inside an overlay
        // slot's mounts), unpacked and fixed up outside.
        let overlays = self.slot.overlays(false);
        let copy = |rels: &[String], into: &Path| -> Result<()> {
            let name = into.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let tar = into.with_file_name(format!("{name}.tar"));
            let mut job = artifacts::pack_job(&self.slot.build, rels, &tar, log);
            job.overlays = overlays.clone();
            let outcome = proc::run(&job)?;
            if !outcome.success() {
                bail!(
                    "cannot copy build slot {}'s build ({}); see `{}`",
                    self.slot.index,
                    outcome.ended,
                    log.display()
                );
            }
            artifacts::unpack(&tar, into, log)
        };
        // A build that changed while it was copied is never published.
        let still = || self.check_holds(commit);
        artifacts::keep(&self.slot.build, &self.slot.src, &dest, &commit.to_string(), (&copy, &still))
    }

    /// A job run against this build (the compiler's tests, a lit RUN
    /// line): the benchmark's environment with a cache of its own, and the
    /// slot's overlays.
    /// `writes`: the job writes into the build (ctest's `Testing/`).
    pub(crate) fn tool_job(
        &self,
        program: &str,
        cwd: &Path,
        log: &Path,
        timeout: Duration,
        writes: bool,
    ) -> Result<proc::Job> {
        let cache = self.slot.dir.join("tool-cache");
        let mut job = proc::Job::new(program, cwd, log, timeout);
        job.env =
            bench::environment(self.config, &self.slot.build, &self.slot.src, &cache, &self.config.bench.devices[0])?;
        job.overlays = self.slot.overlays(writes);
        Ok(job)
    }

    /// Benchmarks the build `job.repeats` times, each in fresh processes
    /// with a fresh kernel cache, the shapes in a shuffled order per repeat.
    /// With several `bench.devices`, each repeat's shapes are split over
    /// them ([`schedule::per_device`]) and every device runs its own
    /// processes, one at a time, at the same time as the others; the
    /// measurements are the same as from one device, samples in repeat order.
    pub(crate) fn bench(&self, job: &BenchJob, progress: Option<&Progress>) -> Result<BenchRun> {
        if job.from.is_some() {
            return bench_kept(self.config, &self.slot.src, job, progress);
        }
        self.check_holds(job.build_of)?;
        let overlays = self.slot.overlays(false);
        let run = bench_build(self.config, (&self.slot.build, &self.slot.src, &overlays), job, progress)?;
        // A build directory changed while the processes ran would have
        // measured a mixture: nothing of it is kept.
        self.check_holds(job.build_of)?;
        Ok(run)
    }
}

/// Benchmarks the kept build `job.from` ([`Station::keep`]) as
/// [`Station::bench`] does, without the station: the slot may be building
/// something else meanwhile. `src` is the slot's checkout, for a
/// `{source_dir}` in the benchmark's settings ([`uses_source_dir`]).
pub(crate) fn bench_kept(config: &Config, src: &Path, job: &BenchJob, progress: Option<&Progress>) -> Result<BenchRun> {
    let Some(dir) = job.from else { bail!("no kept build to benchmark of {}", git::short(job.build_of)) };
    artifacts::check_kept(dir, &job.build_of.to_string())?;
    bench_build(config, (dir, src, &[]), job, progress)
}

/// Whether `config`'s benchmark reads the slot's checkout (`{source_dir}`
/// in its command, paths or variables): then it must not run while the slot
/// checks out another commit.
pub(crate) fn uses_source_dir(config: &Config) -> bool {
    let bench = &config.bench;
    std::iter::once(&bench.command)
        .chain(&bench.launcher)
        .chain(&bench.path)
        .chain(&bench.pythonpath)
        .chain(bench.env.values())
        .any(|s| s.contains("{source_dir}"))
}

/// The benchmark of one build (its directory, the checkout, the overlays it
/// needs): see [`Station::bench`].
fn bench_build(
    config: &Config,
    (build, src, overlays): (&Path, &Path, &[crate::infra::overlay::Mount]),
    job: &BenchJob,
    progress: Option<&Progress>,
) -> Result<BenchRun> {
    let mut commands: Vec<String> = job.shapes.iter().map(|s| s.command.clone()).collect();
    // The anchors run first in every process, after the job's shapes in
    // the command list.
    let n = commands.len();
    commands.extend(job.anchors.map(|a| a.commands.clone()).unwrap_or_default());
    let lead: Vec<usize> = (n..commands.len()).collect();
    let start = Instant::now();
    if job.cache_dir.exists() {
        std::fs::remove_dir_all(&job.cache_dir)
            .with_context(|| format!("cannot clear `{}`", job.cache_dir.display()))?;
    }
    if job.decision_log {
        // An earlier attempt's logs (a retry this one may not need) must
        // not join this one's.
        clear_decisions(job.dir)?;
    }
    let config = job.config.unwrap_or(config);
    let devices = &config.bench.devices;
    let queues = queues(job, config, &lead);
    // Read-only: one benchmark process per device at once. A kept
    // build needs no overlay: it loads only its own files.
    let bencher = Bencher { config, build, src, overlays };
    let total: usize = queues.iter().map(Vec::len).sum();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let outcomes: Vec<Result<Vec<Done>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = queues
            .iter()
            .enumerate()
            .map(|(d, queue)| {
                let (bencher, commands, finished, lead) = (&bencher, &commands, &finished, &lead);
                let cache =
                    if devices.len() == 1 { job.cache_dir.clone() } else { job.cache_dir.join(format!("device-{d}")) };
                scope.spawn(move || -> Result<Vec<Done>> {
                    let mut done = Vec::new();
                    for (r, tag, order) in queue {
                        let own = job.one_per_shape.then(|| cache.join(tag));
                        let place = Place { tag, device: &devices[d], cache: own.as_deref().unwrap_or(&cache) };
                        let (why, parts) = bencher.repeat(job, &place, (order, lead), commands)?;
                        done.push(Done { repeat: *r, device: d, failed: why, parts });
                        let n = finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        if let Some(p) = progress {
                            let repeats = job.repeats as usize;
                            p.advance((n * repeats / total - (n - 1) * repeats / total) as u64);
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a benchmark worker panicked"))))
            .collect()
    });
    let mut done = Vec::new();
    for o in outcomes {
        done.extend(o?);
    }
    done.sort_by_key(|d| (d.repeat, d.device));
    let mut failed_repeats = Vec::new();
    let mut parts = Vec::new();
    for d in done {
        failed_repeats.extend(d.failed);
        parts.extend(d.parts);
    }
    let drift = anchor(&mut parts, &lead, job.anchors);
    let mut measurements = vec![Measurement::default(); n];
    for part in parts {
        for (into, m) in measurements.iter_mut().zip(part) {
            into.absorb(m);
        }
    }
    let (decisions, per_shape) = match job.decision_log {
        true => {
            let (logged, unreadable, by_tag) = read_decisions(job.dir)?;
            (Some((logged, unreadable)), if job.one_per_shape { by_shape(by_tag) } else { BTreeMap::new() })
        }
        false => (None, BTreeMap::new()),
    };
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchRun { measurements, seconds, failed_repeats, decisions, per_shape, drift })
}

/// Per device, its processes: (repeat, tag, shapes in order, the anchors
/// `lead` first).
fn queues(job: &BenchJob, config: &Config, lead: &[usize]) -> Vec<Vec<(u32, String, Vec<usize>)>> {
    let devices = &config.bench.devices;
    let mut queues: Vec<Vec<(u32, String, Vec<usize>)>> = vec![Vec::new(); devices.len()];
    if job.one_per_shape {
        for (i, d) in (0..job.shapes.len()).zip((0..devices.len()).cycle()) {
            queues[d].push((0, format!("s{i}"), vec![i]));
        }
        return queues;
    }
    for r in 0..job.repeats {
        let order = if config.bench.shuffle {
            shuffled(job.shapes.len(), &format!("{}-{r}", job.seed))
        } else {
            (0..job.shapes.len()).collect()
        };
        let parts = schedule::per_device(&order, devices.len(), job.device_offset + r as usize);
        for (d, part) in parts.into_iter().enumerate().filter(|(_, p)| !p.is_empty()) {
            let tag = if devices.len() == 1 { format!("r{r}") } else { format!("r{r}-d{d}") };
            queues[d].push((r, tag, lead.iter().copied().chain(part).collect()));
        }
    }
    queues
}

/// Divides each process's measurements (`parts`, the anchors at the
/// positions `lead`) by its drift factor; returns the factors applied. A
/// process none of whose anchors ran keeps its samples as measured.
fn anchor(parts: &mut [Vec<Measurement>], lead: &[usize], anchors: Option<&Anchors>) -> Vec<f64> {
    let Some(anchors) = anchors.filter(|_| !lead.is_empty()) else { return vec![] };
    let samples: Vec<Vec<Option<f64>>> = parts
        .iter()
        .map(|p| lead.iter().map(|&a| p.get(a).and_then(|m| m.samples.first().copied())).collect())
        .collect();
    let factors = crate::core::anchors::factors(&samples, anchors.reference.as_deref());
    let mut applied = Vec::new();
    for (part, f) in parts.iter_mut().zip(factors) {
        let Some(f) = f else { continue };
        for m in part.iter_mut() {
            m.scale(f);
        }
        applied.push(f);
    }
    applied
}

/// One benchmark process's part of a repeat, finished.
struct Done {
    repeat: u32,
    device: usize,
    /// Why its process failed as a whole, if it did.
    failed: Option<String>,
    /// Per process (the repeat's, then its retry's), its measurements of
    /// the job's shapes and then of the anchors.
    parts: Vec<Vec<Measurement>>,
}

/// Where one process runs: its files' tag, its device, its kernel cache.
struct Place<'p> {
    tag: &'p str,
    device: &'p str,
    cache: &'p Path,
}

/// What a benchmark process of a station's build needs (shared by the
/// device workers: no repository handle in it).
struct Bencher<'a> {
    config: &'a Config,
    build: &'a Path,
    src: &'a Path,
    overlays: &'a [crate::infra::overlay::Mount],
}

impl Bencher<'_> {
    /// One repeat's process on one device over the shapes in `order` (the
    /// anchors `lead` first), and one more over those it stopped before.
    /// Returns why it failed as a whole, if it did, and each process's
    /// measurements (indexed as `commands`).
    fn repeat(
        &self,
        job: &BenchJob,
        place: &Place,
        (order, lead): (&[usize], &[usize]),
        commands: &[String],
    ) -> Result<(Option<String>, Vec<Vec<Measurement>>)> {
        let mut first = vec![Measurement::default(); commands.len()];
        let missing = match self.attempt(job, place, place.tag, order, commands, &mut first)? {
            Err(why) => {
                for &shape in order {
                    first[shape].failures.push(why.0.clone());
                }
                return Ok((Some(why.1), vec![first]));
            }
            Ok(missing) => missing,
        };
        let missing: Vec<usize> = missing.into_iter().filter(|s| !lead.contains(s)).collect();
        if missing.is_empty() {
            return Ok((None, vec![first]));
        }
        // A process that exited part-way: the shapes it never reached get
        // one more, fresh, process before they count as failed. It is
        // anchored on its own, unless an anchor is what stopped the first
        // (then it runs unanchored rather than die there again).
        let retry = format!("{}-retry", place.tag);
        let mut second = vec![Measurement::default(); commands.len()];
        let anchored = lead.iter().all(|&a| first[a].ok());
        let again: Vec<usize> = lead.iter().filter(|_| anchored).chain(&missing).copied().collect();
        let still = match self.attempt(job, place, &retry, &again, commands, &mut second)? {
            Ok(still) => still.into_iter().filter(|s| !lead.contains(s)).collect(),
            Err(_) => missing,
        };
        let log = job.dir.join(format!("bench-{}.log", place.tag));
        for shape in still {
            second[shape].failures.push(format!(
                "no CSV row in two benchmark processes: they stopped before this command (see `{}`)",
                log.display()
            ));
        }
        Ok((None, vec![first, second]))
    }

    /// One benchmark process over `order` (files named with `tag`): the
    /// shapes it left without a row, or (why, in short and in full) it
    /// produced no usable CSV.
    fn attempt(
        &self,
        job: &BenchJob,
        place: &Place,
        tag: &str,
        order: &[usize],
        commands: &[String],
        measurements: &mut [Measurement],
    ) -> Result<Result<Vec<usize>, (String, String)>> {
        let file = job.dir.join(format!("commands-{tag}.txt"));
        let text: String = order.iter().map(|&i| format!("{}\n", commands[i])).collect();
        store::write_atomic(&file, text.as_bytes())?;
        let csv = job.dir.join(format!("raw-{tag}.csv"));
        store::remove_file(&csv)?;
        let log = job.dir.join(format!("bench-{tag}.log"));
        let mut env = job.env.to_vec();
        if job.decision_log {
            let decisions = std::path::absolute(job.dir.join(format!("decisions-{tag}.jsonl")))
                .with_context(|| format!("cannot resolve `{}`", job.dir.display()))?;
            store::remove_file(&decisions)?;
            env.push((crate::core::cpp::patch::PROBE_LOG_VAR.to_string(), decisions.to_string_lossy().into_owned()));
        }
        let inv = bench::Invocation {
            config: self.config,
            build_dir: self.build,
            source_dir: self.src,
            commands: &file,
            csv: &csv,
            cache_dir: place.cache,
            device: place.device,
            log: &log,
            timeout: job.timeout,
            extra_args: job.extra_args,
            overlays: self.overlays,
            env: &env,
        };
        let outcome = bench::run(&inv)?;
        // A process that died part-way still wrote the rows before it (boo
        // writes each row as it goes): those are kept, the rest retried.
        let csv_text = std::fs::read_to_string(&csv).unwrap_or_default();
        if csv_text.trim().is_empty() {
            let full = format!(
                "benchmark {tag} {} without a usable CSV; see `{}`:\n{}",
                outcome.ended,
                log.display(),
                proc::log_tail(&log, 8)
            );
            return Ok(Err((format!("benchmark process {}", outcome.ended), full)));
        }
        bench::collect(&csv_text, &self.config.bench.column, order, commands, measurements)
            .map(Ok)
            .map_err(|e| anyhow::anyhow!("`{}`: {e}", csv.display()))
    }
}

/// The decision logs in `dir`: `decisions-<tag>.jsonl`, one per process.
fn decision_logs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    Ok(entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let tag = name.strip_prefix("decisions-")?.strip_suffix(".jsonl")?.to_string();
            Some((tag, e.path()))
        })
        .collect())
}

/// Removes the decision logs in `dir`, if it exists.
fn clear_decisions(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for (_, path) in decision_logs(dir)? {
        store::remove_file(&path)?;
    }
    Ok(())
}

/// Each benchmark process's logged decisions, by its tag.
type ByTag = BTreeMap<String, Vec<LoggedDecision>>;

/// The decisions logged in `dir` (one file per benchmark process), how
/// many lines were not one, and each process's decisions by its tag.
fn read_decisions(dir: &Path) -> Result<(Vec<LoggedDecision>, usize, ByTag)> {
    let (mut logged, mut unreadable, mut by_tag) = (Vec::new(), 0, BTreeMap::new());
    for (tag, path) in decision_logs(dir)? {
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let (d, bad) = decisionlog::parse(&text);
        logged.extend(d.iter().cloned());
        unreadable += bad;
        by_tag.insert(tag, d);
    }
    Ok((logged, unreadable, by_tag))
}

/// A one-process-per-shape job's logs by shape: the tags `s<i>` and their
/// retries `s<i>-retry`.
fn by_shape(by_tag: ByTag) -> BTreeMap<usize, Vec<LoggedDecision>> {
    let mut out: BTreeMap<usize, Vec<LoggedDecision>> = BTreeMap::new();
    for (tag, d) in by_tag {
        let index = tag.strip_prefix('s').map(|t| t.strip_suffix("-retry").unwrap_or(t)).and_then(|t| t.parse().ok());
        if let Some(i) = index {
            out.entry(i).or_default().extend(d);
        }
    }
    out
}

/// A deterministic shuffle (so reruns interleave shapes the same way).
pub(crate) fn shuffled(n: usize, seed: &str) -> Vec<usize> {
    Rng::from_text(seed).permutation(n)
}
