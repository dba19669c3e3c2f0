//! `cargo xtask noise-bench`: does the recommendation flip with noise?
//!
//! On the fixture it runs the full sweep once without noise (the truth) and
//! once per seed with the given per-iteration noise and per-process drift,
//! analyses each, and prints how often the same rule comes back and what the
//! emitted rules are worth by the truth, and the analysis's quality figures
//! beside those of the noise-free sweep's analysis ([`crate::core::seeds`]).
//! Each sweep and analysis is the real tool in a process of its own, as a
//! user would run it, in a scratch runs directory: a rerun resumes finished
//! sweeps.
//! A benchmark to read, not a timed test.

use crate::cli::NoiseBenchArgs;
use crate::config::{self, Config};
use crate::core::analysis::Analysis;
use crate::core::seeds::{self, SeedRun};
use crate::infra::store;
use crate::ops::rundir::RunDir;
use crate::ops::{context, selfrun};
use anyhow::Result;
use std::path::{Path, PathBuf};

pub(crate) fn run(workspace: &Path, args: &NoiseBenchArgs, repeats: Option<u32>) -> Result<()> {
    context::ensure_fixture(workspace)?;
    let dir = args.dir.clone().unwrap_or_else(|| workspace.join("target/noise-bench"));
    let base = config::load(Some(&workspace.join("tests/fixtures/tuner.toml")), workspace)?;
    let repeats = repeats.unwrap_or(base.bench.repeats);
    let anchors = args.anchors.unwrap_or(base.bench.anchors);
    eprintln!(
        "noise-bench: the fixture's full sweep, noise {} and drift {} per process, {repeats} repeat(s), {anchors} \
         anchor(s), seeds 1-{}; runs under `{}`",
        args.noise,
        args.drift,
        args.seeds,
        dir.display()
    );
    let exe = selfrun::own_copy(&dir)?;
    let log = dir.join("noise-bench.log");
    let step = |config: &Path, args: &[&str]| selfrun::step(&exe, &dir, &log, config, args).map(drop);
    let truth_config = write_config(&dir, &base, ("truth", 1, 0), &[("FIXTURE_BOO_TRUTH", "1".into())])?;
    step(&truth_config, &["sweep", "--full", "--name", "truth"])?;
    step(&truth_config, &["analyze", "truth"])?;
    let truth_run = RunDir::new(&dir.join("runs"), "truth");
    let truth = truth_run.read_results()?;
    let truth_analysis: Analysis = store::read_json(&truth_run.analysis_file())?;
    // Runs without anchors keep the names they had before anchors.
    let anchored = if anchors > 0 { format!("-a{anchors}") } else { String::new() };
    let tag = format!("n{}-d{}-r{repeats}{anchored}", args.noise, args.drift);
    let mut runs = Vec::new();
    for seed in 1..=args.seeds {
        let name = format!("{tag}-s{seed}");
        let env = [
            ("FIXTURE_BOO_NOISE", args.noise.to_string()),
            ("FIXTURE_BOO_DRIFT", args.drift.to_string()),
            ("FIXTURE_BOO_SEED", seed.to_string()),
        ];
        let config = write_config(&dir, &base, (&name, repeats, anchors), &env)?;
        step(&config, &["sweep", "--full", "--name", &name])?;
        step(&config, &["analyze", &name])?;
        let run = RunDir::new(&dir.join("runs"), &name);
        let analysis: Analysis = store::read_json(&run.analysis_file())?;
        eprintln!("seed {seed}: swept and analysed (`{}`)", run.path.display());
        runs.push(SeedRun { seed, analysis });
    }
    let spreads = seeds::study(&truth, &truth_analysis, &runs);
    print!("{}", seeds::render(&runs, &spreads, &truth));
    Ok(())
}

/// The fixture's configuration with its runs in `dir`, `repeats` per
/// candidate, `anchors` per process and `env` replacing the benchmark's
/// noise settings, written as `dir/<name>.toml`.
fn write_config(
    dir: &Path,
    base: &Config,
    (name, repeats, anchors): (&str, u32, u32),
    env: &[(&str, String)],
) -> Result<PathBuf> {
    let mut config = base.clone();
    config.runs_dir = dir.join("runs");
    config.bench.repeats = repeats;
    config.bench.anchors = anchors;
    config.bench.env.retain(|k, _| !k.starts_with("FIXTURE_BOO_"));
    config.bench.env.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
    selfrun::write_config(dir, name, &config)
}
