//! The bundled IREE-shaped fixture, materialised as a "user's IREE": a git
//! repository with history and a configured (optionally built) build dir.
//!
//! The fixture's sources live in `tests/fixtures/iree/` (the 2026 code style)
//! and `tests/fixtures/history/2025-inline/` (files that differ in the 2025
//! style). Materialising makes a repository with three commits, the 2025 one
//! tagged `fixture-2025`, the early 2026 one `fixture-2026-early` and HEAD on
//! `main`, so that `--rev` selects the code style exactly as it selects a
//! revision of real IREE. The build shows its progress (ninja's steps) as it
//! goes: on a fresh machine it is the first long wait a user meets.

use crate::infra::git;
use crate::infra::proc::{self, which, Job};
use crate::infra::progress::{BuildSteps, Progress};
use crate::infra::setup;
use anyhow::{bail, Context, Result};
use git2::{Repository, Signature, Time};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Fixture {
    pub root: PathBuf,
    pub repo: PathBuf,
    pub build: PathBuf,
}

/// Options of the user build the fixture gets.
pub struct Options {
    /// Extra `-D` options of the user's build (the tuner must reproduce them).
    pub configure_args: Vec<String>,
    /// Build it after configuring (what a user's build dir looks like).
    pub build: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            // A user's build for AMD GPUs, with non-default options that
            // sibling builds must reproduce.
            configure_args: vec![
                "-DCMAKE_BUILD_TYPE=RelWithDebInfo".into(),
                "-DIREE_ENABLE_ASSERTIONS=ON".into(),
                "-DIREE_TARGET_BACKEND_ROCM=ON".into(),
                "-DIREE_HAL_DRIVER_HIP=ON".into(),
            ],
            build: true,
        }
    }
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("cannot list `{}`", d.display()))? {
            let entry = entry?;
            let p = entry.path();
            if entry.file_type()?.is_dir() {
                if p.file_name().is_some_and(|n| n == "__pycache__") {
                    continue;
                }
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn fixture_hash(sources: &Path, overlays: &[&Path]) -> Result<String> {
    let mut h = Sha256::new();
    for root in std::iter::once(sources).chain(overlays.iter().copied()) {
        for rel in files_under(root)? {
            h.update(rel.to_string_lossy().as_bytes());
            h.update(std::fs::read(root.join(&rel)).with_context(|| format!("cannot read `{}`", rel.display()))?);
        }
    }
    Ok(crate::core::digest::hex(&h.finalize()))
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for rel in files_under(from)? {
        let dst = to.join(&rel);
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p).with_context(|| format!("cannot create `{}`", p.display()))?;
        }
        std::fs::copy(from.join(&rel), &dst).with_context(|| format!("cannot copy to `{}`", dst.display()))?;
    }
    Ok(())
}

/// The identity the fixture's checkout gives whoever commits in it.
const FIXTURE_USER: (&str, &str) = ("Fixture User", "fixture-user@iree.invalid");

fn commit_all(repo: &Repository, message: &str, seconds: i64) -> Result<git2::Oid> {
    let mut index = repo.index()?;
    index.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)?;
    index.update_all(["*"].iter(), None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = Signature::new("IREE Fixture", "fixture@iree.invalid", &Time::new(seconds, 0))?;
    let parents: Vec<git2::Commit> = repo.head().ok().and_then(|h| h.peel_to_commit().ok()).into_iter().collect();
    let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
    Ok(repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parent_refs)?)
}

/// Creates (or reuses, when its sources have not changed) the fixture under
/// `root`: `root/iree` (repository) and `root/iree-build` (user build).
pub fn materialize(workspace: &Path, root: &Path, options: &Options) -> Result<Fixture> {
    setup::ensure(setup::FIXTURE, "needed to build the bundled fixture", &workspace.join("target/setup.log"))?;
    let sources = workspace.join("tests/fixtures/iree");
    let overlay = workspace.join("tests/fixtures/history/2025-inline");
    // The 2026 helper style before HEAD's last change: HEAD's sources with
    // that change undone, kept as the diff it is.
    let early = workspace.join("tests/fixtures/history/2026-early.diff");
    let repo_dir = root.join("iree");
    let build_dir = root.join("iree-build");
    let stamp_path = root.join("fixture.stamp");
    let stamp = format!(
        "{}\n{}\n",
        fixture_hash(&sources, &[&workspace.join("tests/fixtures/history")])?,
        options.configure_args.join(" ")
    );
    let fresh = std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str())
        && repo_dir.join(".git").exists()
        && build_dir.join("CMakeCache.txt").exists();
    if !fresh {
        for d in [&repo_dir, &build_dir, &root.join("iree-build-tune")] {
            if d.exists() {
                std::fs::remove_dir_all(d).with_context(|| format!("cannot remove `{}`", d.display()))?;
            }
        }
        std::fs::create_dir_all(&repo_dir).with_context(|| format!("cannot create `{}`", repo_dir.display()))?;
        let mut init = git2::RepositoryInitOptions::new();
        init.initial_head("main");
        let repo = Repository::init_opts(&repo_dir, &init)?;
        // `apply --fixture` runs `git am` here, which needs a committer; a
        // fresh machine has no global git identity, and this one is ours.
        let mut config = repo.config()?;
        config.set_str("user.name", FIXTURE_USER.0)?;
        config.set_str("user.email", FIXTURE_USER.1)?;
        copy_tree(&sources, &repo_dir)?;
        copy_tree(&overlay, &repo_dir)?;
        let first = commit_all(
            &repo,
            "[DispatchCreation] Split reduction heuristics with inline limitParallelLoops ladders\n",
            1_761_000_000,
        )?;
        repo.tag_lightweight("fixture-2025", &repo.find_object(first, None)?, false)?;
        copy_tree(&sources, &repo_dir)?;
        git::cli_ok(&repo_dir, &["apply", &early.to_string_lossy()])?;
        let helpers = commit_all(
            &repo,
            "[DispatchCreation] Move split reduction ladders into helper functions\n\n\
             Adds 2-D buckets on (outputSize, reductionSize) and a low-parallelism\n\
             parameter set.\n",
            1_777_000_000,
        )?;
        repo.tag_lightweight("fixture-2026-early", &repo.find_object(helpers, None)?, false)?;
        copy_tree(&sources, &repo_dir)?;
        commit_all(&repo, "[DispatchCreation] Halve the matmul limit for outputs up to 512x512\n", 1_778_000_000)?;
        let log = root.join("fixture-build.log");
        let mut configure = Job::new("cmake", root, &log, Duration::from_secs(600))
            .args(["-G", "Ninja", "-S"])
            .arg(&repo_dir)
            .arg("-B")
            .arg(&build_dir)
            .args(options.configure_args.iter());
        if which("ccache").is_some() {
            configure = configure.arg("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache").arg("-DCMAKE_C_COMPILER_LAUNCHER=ccache");
        }
        let outcome = proc::run(&configure)?;
        if !outcome.success() {
            bail!(
                "configuring the fixture failed ({}); see `{}`:\n{}",
                outcome.ended,
                log.display(),
                proc::log_tail(&log, 20)
            );
        }
        if options.build {
            let build = Job::new("cmake", root, &log, Duration::from_secs(1800)).arg("--build").arg(&build_dir);
            let progress = Progress::for_build("fixture");
            let mut steps = BuildSteps::follow(&log);
            let outcome = proc::run_watched(&build, &mut || {
                steps.poll();
                progress.build_steps("building the fixture", &steps);
            })?;
            progress.finish();
            if !outcome.success() {
                bail!(
                    "building the fixture failed ({}); see `{}`:\n{}",
                    outcome.ended,
                    log.display(),
                    proc::log_tail(&log, 20)
                );
            }
        }
        std::fs::write(&stamp_path, &stamp).with_context(|| format!("cannot write `{}`", stamp_path.display()))?;
    }
    Ok(Fixture { root: root.to_path_buf(), repo: repo_dir, build: build_dir })
}
