//! `cargo xtask build-bench`: the build-cost figures of the sweep's design,
//! measured on the fixture in a scratch directory.
//!
//! It prints the cold build (compiler cache off), the floor (touch the
//! heuristic file and rebuild the tuned targets in one build directory), and
//! the per-candidate rebuild the sweep pays (check a candidate's commit out
//! in a build slot and rebuild), with their ratio. The target is a
//! per-candidate rebuild of at most 1.3x the floor. It compares the two
//! ways a slot's first build avoids a full build: (a) a worktree slot whose
//! compiler cache the user's build seeded (built with the settings `doctor`
//! gives), and (b) an overlay slot on the user's build, whose first build
//! and first candidate together must cost at most 1.5x the floor.

use crate::cli::BuildBenchArgs;
use crate::config::{self, Config, OverlayMode};
use crate::core::cpp::patch;
use crate::infra::fixture::{self, Options};
use crate::infra::git;
use crate::infra::proc::{self, Job};
use crate::infra::progress::Progress;
use crate::ops::inputs::locate_sites;
use crate::ops::station::Station;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::{Duration, SystemTime};

fn timed_build(dir: &Path, targets: &[String], log: &Path, disable_cache: bool) -> Result<f64> {
    let mut job = Job::new("cmake", dir, log, Duration::from_secs(3600)).arg("--build").arg(dir);
    if !targets.is_empty() {
        job = job.arg("--target").args(targets.iter());
    }
    if disable_cache {
        job = job.env("CCACHE_DISABLE", "1");
    }
    let outcome = proc::run(&job)?;
    if !outcome.success() {
        bail!("build in `{}` failed ({}); see `{}`", dir.display(), outcome.ended, log.display());
    }
    Ok(outcome.seconds)
}

fn median(v: Vec<f64>) -> f64 {
    crate::core::stats::median(&v).unwrap_or(f64::NAN)
}

pub(crate) fn run(workspace: &Path, args: &BuildBenchArgs) -> Result<()> {
    let root = args.dir.clone().unwrap_or_else(|| workspace.join("target/build-bench"));
    let (fx, cfg) = scratch(workspace, &root)?;
    let log = root.join("build-bench.log");
    // A compiler cache of its own, empty, so the figures do not depend on
    // what earlier runs left in the user's.
    std::env::set_var("CCACHE_DIR", root.join("ccache"));
    eprintln!("cold build of the fixture (compiler cache off)...");
    let cold = timed_build(&fx.build, &[], &log, true)?;
    let floor = floor(&fx, &cfg, &log)?;
    eprintln!("the user's build again, with ccache and the settings doctor gives (seeds the cache)...");
    let seeding = seeded_build(&fx, &cfg, &log)?;
    eprintln!("worktree build slot: first build, then {} candidates...", args.candidates);
    let worktree = Config { build: config::Build { overlay: OverlayMode::Off, ..cfg.build.clone() }, ..cfg.clone() };
    let (slot_first, per_candidate) = slot_rebuilds(&fx, &worktree, &log, args.candidates as usize)?;
    let rebuild = median(per_candidate.clone());
    eprintln!("overlay build slot on the built fixture: first build, then {} candidates...", args.candidates);
    let on = Config { build: config::Build { overlay: OverlayMode::On, ..cfg.build.clone() }, ..cfg.clone() };
    let (overlay_first, overlay_candidates) = slot_rebuilds(&fx, &on, &log, args.candidates as usize)?;
    let list = |v: &[f64]| v.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(", ");
    println!("fixture build cost ({} filler units, {}):", cache_units(&fx.build), fx.build.display());
    println!("  cold build (ccache off)                 {cold:>8.2} s");
    println!("  floor (touch + rebuild targets)         {floor:>8.2} s");
    println!("(a) worktree slot, the compiler cache seeded by the user's build:");
    println!("  user's build, slot ccache settings     {seeding:>8.2} s   (once, seeds the cache)");
    println!("  slot first build (ccache on)            {slot_first:>8.2} s   (once per slot)");
    println!(
        "  per-candidate rebuild (ccache off)      {rebuild:>8.2} s   (median of {}: {})",
        per_candidate.len(),
        list(&per_candidate)
    );
    println!("  per-candidate / floor                   {:>8.2}x  (target <= 1.30x)", rebuild / floor);
    println!("  first candidate of a first sweep / floor {:>7.2}x", (slot_first + per_candidate[0]) / floor);
    println!("(b) overlay slot on the user's build:");
    println!("  slot first build                        {overlay_first:>8.2} s   (builds what the user's lacks)");
    println!(
        "  first candidate                         {:>8.2} s   (then: {})",
        overlay_candidates[0],
        list(&overlay_candidates[1..])
    );
    println!(
        "  first candidate of a first sweep / floor {:>7.2}x  (target <= 1.50x)",
        (overlay_first + overlay_candidates[0]) / floor
    );
    println!("  cold / floor                            {:>8.2}x  (fixture requirement >= 10x)", cold / floor);
    Ok(())
}

/// The user's build directory cleaned and built again with the compiler
/// cache on and the settings slot builds use (what `doctor` tells a user
/// whose slots cannot be overlays): the cache then holds what a worktree
/// slot's first build compiles.
fn seeded_build(fx: &fixture::Fixture, cfg: &Config, log: &Path) -> Result<f64> {
    let clean = Job::new("cmake", &fx.build, log, Duration::from_secs(600)).args(["--build", ".", "--target", "clean"]);
    if !proc::run(&clean)?.success() {
        bail!("cannot clean `{}`; see `{}`", fx.build.display(), log.display());
    }
    let mut job = Job::new("cmake", &fx.build, log, Duration::from_secs(3600)).arg("--build").arg(&fx.build);
    job.env.extend(crate::infra::build::build_env(cfg));
    let outcome = proc::run(&job)?;
    if !outcome.success() {
        bail!("build in `{}` failed ({}); see `{}`", fx.build.display(), outcome.ended, log.display());
    }
    Ok(outcome.seconds)
}

/// A fresh fixture (configured, not built) under `root`, and the fixture's
/// configuration pointed at it.
fn scratch(workspace: &Path, root: &Path) -> Result<(fixture::Fixture, Config)> {
    if root.exists() {
        std::fs::remove_dir_all(root).with_context(|| format!("cannot clear `{}`", root.display()))?;
    }
    let options = Options { build: false, ..Options::default() };
    let fx = fixture::materialize(workspace, root, &options)?;
    let mut cfg = config::load(Some(&workspace.join("tests/fixtures/tuner.toml")), workspace)?;
    cfg.target.iree = fx.repo.clone();
    cfg.build.dir = Some(fx.build.clone());
    cfg.build.work_dir = Some(root.join("iree-build-tune"));
    Ok((fx, cfg))
}

/// The floor: touch the heuristic file and rebuild the targets in the
/// user's build directory (median of three).
fn floor(fx: &fixture::Fixture, cfg: &Config, log: &Path) -> Result<f64> {
    let targets = &cfg.build.targets;
    eprintln!("floor: touch the heuristic file, rebuild {} (3 times)...", targets.join(", "));
    let heuristic = fx.repo.join(&cfg.target.heuristic_file);
    let mut floors = Vec::new();
    for _ in 0..3 {
        let f = std::fs::File::options()
            .write(true)
            .open(&heuristic)
            .with_context(|| format!("cannot open `{}`", heuristic.display()))?;
        f.set_modified(SystemTime::now()).with_context(|| format!("cannot touch `{}`", heuristic.display()))?;
        drop(f);
        floors.push(timed_build(&fx.build, targets, log, true)?);
    }
    Ok(median(floors))
}

/// A build slot's first build, then `count` candidate rebuilds in it:
/// (first build seconds, seconds per candidate).
fn slot_rebuilds(fx: &fixture::Fixture, cfg: &Config, log: &Path, count: usize) -> Result<(f64, Vec<f64>)> {
    let repo = git::open(&fx.repo)?;
    let base = git::resolve(&repo, "HEAD")?;
    let source = git::read_file(&repo, base, &cfg.target.heuristic_file)?;
    let sites = locate_sites(cfg, &source)?.sites;
    git::set_branch(&repo, "tune/build-bench/baseline", base)?;
    let station = Station::open(cfg, &repo, "build-bench", "tune/build-bench/baseline")?;
    let progress = Progress::for_build("build-bench");
    let first = station.build(base, log, &progress, "the slot's first build")?;
    if !first.ok {
        bail!("the slot's first build failed; see `{}`", log.display());
    }
    // Candidates are timed with the compiler cache off, like the floor: the
    // comparison is about what gets rebuilt, not about cache hits (a rerun
    // of a sweep would otherwise hit ccache for every patched file).
    std::env::set_var("CCACHE_DISABLE", "1");
    let limits = [1i64, 64, 128, 256, 8, 16, 32, 512, 1024, 2048];
    let mut per_candidate = Vec::new();
    for &limit in limits.iter().cycle().take(count) {
        let edits: Vec<patch::Edit> = sites.iter().flat_map(|s| patch::fixed_limit_edits(&source, s, limit)).collect();
        let patched = patch::apply_checked(&source, &sites, &edits).map_err(|e| anyhow::anyhow!(e))?;
        // A fresh commit per measurement, so repeated limits still rebuild.
        let message = format!("build-bench limit {limit} #{}\n", per_candidate.len());
        let commit = git::commit_file(&repo, base, &cfg.target.heuristic_file, &patched, &message)?;
        let built = station.build(commit, log, &progress, &format!("limit {limit}"))?;
        if !built.ok {
            bail!("candidate build failed; see `{}`", log.display());
        }
        eprintln!("  limit {limit}: {:.2} s", built.seconds);
        per_candidate.push(built.seconds);
    }
    Ok((first.seconds, per_candidate))
}

fn cache_units(build_dir: &Path) -> String {
    std::fs::read_to_string(build_dir.join("CMakeCache.txt"))
        .ok()
        .map(|t| crate::core::cmake::Cache::parse(&t))
        .and_then(|c| c.get("IREE_FIXTURE_FILLER_UNITS").map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
