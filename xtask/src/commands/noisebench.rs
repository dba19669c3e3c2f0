//! `cargo xtask noise-bench`: does the recommendation flip with noise?
//!
//! On the fixture it runs the full sweep once without noise (the truth) and
//! once per seed with the given per-iteration noise and per-process drift,
//! analyses each, and prints how often the same rule comes back and what the
//! emitted rules are worth by the truth ([`crate::core::seeds`]). Each sweep
//! and analysis is the real tool in a process of its own, as a user would
//! run it, in a scratch runs directory: a rerun resumes finished sweeps.
//! A benchmark to read, not a timed test.

use crate::cli::NoiseBenchArgs;
use crate::config::{self, Config};
use crate::core::analysis::Analysis;
use crate::core::seeds::{self, SeedRun};
use crate::infra::proc::{self, Job};
use crate::infra::store;
use crate::ops::context;
use crate::ops::rundir::RunDir;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One sweep or analysis of the fixture takes about a minute; this is the
/// bound beyond which something is wrong.
const STEP_TIMEOUT: Duration = Duration::from_secs(3600);

pub(crate) fn run(workspace: &Path, args: &NoiseBenchArgs, repeats: Option<u32>) -> Result<()> {
    context::ensure_fixture(workspace)?;
    let dir = args.dir.clone().unwrap_or_else(|| workspace.join("target/noise-bench"));
    let base = config::load(Some(&workspace.join("tests/fixtures/tuner.toml")), workspace)?;
    let repeats = repeats.unwrap_or(base.bench.repeats);
    eprintln!(
        "noise-bench: the fixture's full sweep, noise {} and drift {} per process, {repeats} repeat(s), seeds 1-{}; runs under `{}`",
        args.noise,
        args.drift,
        args.seeds,
        dir.display()
    );
    let exe = own_copy(&dir)?;
    let step = |config: &Path, args: &[&str]| step(&exe, &dir, config, args);
    let truth_config = write_config(&dir, &base, "truth", 1, &[("FIXTURE_BOO_TRUTH", "1".into())])?;
    step(&truth_config, &["sweep", "--full", "--name", "truth"])?;
    let truth = RunDir::new(&dir.join("runs"), "truth").read_results()?;
    let tag = format!("n{}-d{}-r{repeats}", args.noise, args.drift);
    let mut runs = Vec::new();
    for seed in 1..=args.seeds {
        let name = format!("{tag}-s{seed}");
        let env = [
            ("FIXTURE_BOO_NOISE", args.noise.to_string()),
            ("FIXTURE_BOO_DRIFT", args.drift.to_string()),
            ("FIXTURE_BOO_SEED", seed.to_string()),
        ];
        let config = write_config(&dir, &base, &name, repeats, &env)?;
        step(&config, &["sweep", "--full", "--name", &name])?;
        step(&config, &["analyze", &name])?;
        let run = RunDir::new(&dir.join("runs"), &name);
        let analysis: Analysis = store::read_json(&run.analysis_file())?;
        eprintln!("seed {seed}: swept and analysed (`{}`)", run.path.display());
        runs.push(SeedRun { seed, analysis });
    }
    let spreads = seeds::study(&truth, &runs);
    print!("{}", seeds::render(&runs, &spreads, &truth));
    Ok(())
}

/// The fixture's configuration with its runs in `dir`, `repeats` per
/// candidate and `env` replacing the benchmark's noise settings, written
/// as `dir/<name>.toml`.
fn write_config(dir: &Path, base: &Config, name: &str, repeats: u32, env: &[(&str, String)]) -> Result<PathBuf> {
    let mut config = base.clone();
    config.runs_dir = dir.join("runs");
    config.bench.repeats = repeats;
    config.bench.env.retain(|k, _| !k.starts_with("FIXTURE_BOO_"));
    config.bench.env.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let text = toml::to_string(&config).context("cannot write the fixture's configuration as TOML")?;
    let path = dir.join(format!("{name}.toml"));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    store::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// A copy of the running tool in `dir`: the study takes minutes, and a
/// `cargo build` meanwhile replaces (deletes) the executable it started as.
fn own_copy(dir: &Path) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running tool's executable")?;
    let copy = dir.join("xtask");
    // Copied beside, then renamed over: an earlier study may still be
    // running the old copy, which cannot be written to.
    let fresh = dir.join(format!("xtask.{}", std::process::id()));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    std::fs::copy(&exe, &fresh).with_context(|| format!("cannot copy `{}` to `{}`", exe.display(), fresh.display()))?;
    std::fs::rename(&fresh, &copy).with_context(|| format!("cannot rename `{}`", fresh.display()))?;
    Ok(copy)
}

/// Runs the tool (`exe`) with `config` and `args`, its output in
/// `dir/noise-bench.log`.
fn step(exe: &Path, dir: &Path, config: &Path, args: &[&str]) -> Result<()> {
    let log = dir.join("noise-bench.log");
    let job = Job::new(exe, dir, &log, STEP_TIMEOUT).arg("--config").arg(config).args(args.iter().copied());
    let outcome = proc::run(&job)?;
    if !outcome.success() {
        bail!("`{}` failed ({}); see `{}`:\n{}", job.display(), outcome.ended, log.display(), proc::log_tail(&log, 15));
    }
    Ok(())
}
