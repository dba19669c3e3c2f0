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
use crate::core::results::Measurement;
use crate::core::stats::Rng;
use crate::core::workload::Shape;
use crate::infra::build::{self, ConfigurePlan, Slot};
use crate::infra::progress::Progress;
use crate::infra::{bench, git, proc, store};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How slot `index` is configured: like the user's build, from its cache.
pub(crate) fn configure_plan(config: &Config, index: u32) -> Result<ConfigurePlan> {
    let cache = build::user_cache(config)?;
    Ok(build::configure_plan(config, cache.as_ref(), index))
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
}

/// Outcome of benchmarking one build.
pub(crate) struct BenchRun {
    pub(crate) measurements: Vec<Measurement>,
    pub(crate) seconds: f64,
    /// Repeats whose process failed as a whole (no usable CSV), with why.
    pub(crate) failed_repeats: Vec<String>,
}

impl<'a> Station<'a> {
    /// Opens slot `index`, creating its worktree at `branch` when needed.
    pub(crate) fn open(config: &'a Config, repo: &git2::Repository, index: u32, branch: &str) -> Result<Station<'a>> {
        let plan = configure_plan(config, index)?;
        let slot = build::ensure_slot(repo, config, index, branch)?;
        Ok(Station { config, plan, slot })
    }

    /// Builds `commit`: checkout, configure when needed, build.
    pub(crate) fn build(&self, commit: git2::Oid, log: &Path) -> Result<Built> {
        let start = Instant::now();
        git::checkout(&self.slot.worktree, commit)?;
        if let Some(outcome) = build::configure(&self.slot, &self.plan, self.config, log)? {
            if !outcome.success() {
                return Ok(Built { ok: false, seconds: start.elapsed().as_secs_f64() });
            }
        }
        let outcome = build::build(&self.slot, self.config, log)?;
        Ok(Built { ok: outcome.success(), seconds: start.elapsed().as_secs_f64() })
    }

    /// Builds `commit` from a fresh log and fails with the log's tail when it
    /// does not build; returns the seconds it took.
    pub(crate) fn build_or_fail(&self, commit: git2::Oid, log: &Path, what: &str) -> Result<f64> {
        let _ = std::fs::remove_file(log);
        let built = self.build(commit, log)?;
        if !built.ok {
            bail!(
                "the {what} build failed after {:.1} s; see `{}`:\n{}",
                built.seconds,
                log.display(),
                proc::log_tail(log, 15)
            );
        }
        eprintln!("{what}: built in {:.1} s", built.seconds);
        Ok(built.seconds)
    }

    /// The environment of commands run against this build (the compiler's
    /// tests, lit RUN lines): the benchmark's, with a cache of its own.
    pub(crate) fn tool_env(&self) -> Result<Vec<(String, OsString)>> {
        let cache = self.slot.dir.join("tool-cache");
        bench::environment(self.config, &self.slot.build, &self.slot.src, &cache, &self.config.bench.devices[0])
    }

    /// Benchmarks the build `job.repeats` times, each in a fresh process
    /// with a fresh kernel cache, the shapes in a shuffled order per repeat.
    pub(crate) fn bench(&self, job: &BenchJob, progress: Option<&Progress>) -> Result<BenchRun> {
        let commands: Vec<String> = job.shapes.iter().map(|s| s.command.clone()).collect();
        let mut measurements = vec![Measurement::default(); job.shapes.len()];
        let mut failed_repeats = Vec::new();
        let start = Instant::now();
        if job.cache_dir.exists() {
            std::fs::remove_dir_all(&job.cache_dir)
                .with_context(|| format!("cannot clear `{}`", job.cache_dir.display()))?;
        }
        for r in 0..job.repeats {
            let order = if self.config.bench.shuffle {
                shuffled(job.shapes.len(), &format!("{}-{r}", job.seed))
            } else {
                (0..job.shapes.len()).collect()
            };
            if let Some(why) = self.repeat(job, r, &order, &commands, &mut measurements)? {
                failed_repeats.push(why);
            }
            if let Some(p) = progress {
                p.advance(1);
            }
        }
        Ok(BenchRun { measurements, seconds: start.elapsed().as_secs_f64(), failed_repeats })
    }

    /// One repeat: one benchmark process over the shapes in `order`. Returns
    /// why it failed as a whole, if it did.
    fn repeat(
        &self,
        job: &BenchJob,
        r: u32,
        order: &[usize],
        commands: &[String],
        measurements: &mut [Measurement],
    ) -> Result<Option<String>> {
        let file = job.dir.join(format!("commands-r{r}.txt"));
        let text: String = order.iter().map(|&i| format!("{}\n", commands[i])).collect();
        store::write_atomic(&file, text.as_bytes())?;
        let csv = job.dir.join(format!("raw-r{r}.csv"));
        let _ = std::fs::remove_file(&csv);
        let log = job.dir.join(format!("bench-r{r}.log"));
        let inv = bench::Invocation {
            config: self.config,
            build_dir: &self.slot.build,
            source_dir: &self.slot.src,
            commands: &file,
            csv: &csv,
            cache_dir: &job.cache_dir,
            device: &self.config.bench.devices[0],
            log: &log,
            timeout: job.timeout,
            extra_args: job.extra_args,
        };
        let outcome = bench::run(&inv)?;
        let csv_text = std::fs::read_to_string(&csv).unwrap_or_default();
        let usable = matches!(outcome.ended, proc::Ended::Exited(0) | proc::Ended::Exited(1)) && !csv_text.is_empty();
        if !usable {
            for m in measurements.iter_mut() {
                m.failures.push(format!("benchmark process {}", outcome.ended));
            }
            return Ok(Some(format!(
                "benchmark repeat {r} {} without a usable CSV; see `{}`:\n{}",
                outcome.ended,
                log.display(),
                proc::log_tail(&log, 8)
            )));
        }
        if let Err(e) = bench::collect(&csv_text, &self.config.bench.column, order, commands, measurements) {
            bail!("`{}`: {e}", csv.display());
        }
        Ok(None)
    }
}

/// A deterministic shuffle (so reruns interleave shapes the same way).
pub(crate) fn shuffled(n: usize, seed: &str) -> Vec<usize> {
    Rng::from_text(seed).permutation(n)
}
