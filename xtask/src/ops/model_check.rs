//! The decision model against a real compiler: the shapes' ops through the
//! split-reduction pass of an MLIR `iree-opt` (the user's build's, or any
//! given one, e.g. the `iree-base-compiler` wheel's), compared with what the
//! model predicts at the tuned revision.
//!
//! One `iree-opt` run per check (a function per shape). An `iree-opt` that
//! does not read MLIR (the bundled fixture's reads its own IR) makes the
//! check not applicable rather than failed, so `doctor` and `sweep` can say
//! "skipped" and why.

use crate::config::Config;
use crate::core::cpp::FunctionNames;
use crate::core::decide::pass::{predict_op, Pass};
use crate::core::littest;
use crate::core::modelcheck::{self, ModelCheck, ModelCheckRecord};
use crate::core::workload::{Heuristic, Shape};
use crate::infra::git;
use crate::infra::proc::{self, Job, QUERY_TIMEOUT};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// The user's build's `iree-opt`, when there is a build dir.
pub(crate) fn default_iree_opt(config: &Config) -> Option<PathBuf> {
    config.build.dir.as_ref().map(|d| d.join("tools").join("iree-opt"))
}

/// Why `iree_opt` cannot run the check, if it cannot: missing, or not an
/// MLIR `iree-opt` (no `--pass-pipeline`).
pub(crate) fn not_applicable(iree_opt: &Path) -> Option<String> {
    if !iree_opt.is_file() {
        return Some(format!("no `iree-opt` at `{}`", iree_opt.display()));
    }
    let job = Job::new(iree_opt, &std::env::temp_dir(), Path::new("/dev/null"), QUERY_TIMEOUT).arg("--help");
    match proc::capture(&job) {
        Ok(out) if out.stdout.contains("--pass-pipeline") => None,
        Ok(_) => Some(format!("`{}` is not an MLIR iree-opt (it takes no --pass-pipeline)", iree_opt.display())),
        Err(e) => Some(format!("`{}` does not run: {e:#}", iree_opt.display())),
    }
}

/// The heuristic file at the tuned revision, and its name for reports.
fn tuned_source(config: &Config) -> Result<(String, String)> {
    let repo = git::open(&config.target.iree)?;
    let commit = git::resolve(&repo, &config.target.rev)?;
    let source = git::read_file(&repo, commit, &config.target.heuristic_file)?;
    Ok((format!("{} ({})", config.target.rev, git::short(commit)), source))
}

/// Runs the check: every shape through `iree_opt`, against the model.
pub(crate) fn run(config: &Config, shapes: &[Shape], iree_opt: &Path) -> Result<ModelCheck> {
    let (revision, source) = tuned_source(config)?;
    let names = |h: Heuristic| -> &FunctionNames { config.heuristics.names(h) };
    let pass = Pass::from_source(&source, names(Heuristic::Conv), names(Heuristic::Matmul));
    let low = config.heuristics.low_parallelism;
    let predictions: Vec<_> = shapes.iter().map(|s| predict_op(&s.op, &pass, low)).collect();
    let dir = tempfile::tempdir().context("cannot create a temporary directory for the shapes' MLIR")?;
    let input = dir.path().join("shapes.mlir");
    std::fs::write(&input, modelcheck::module(shapes))
        .with_context(|| format!("cannot write `{}`; check the temporary directory's space", input.display()))?;
    let job = Job::new(iree_opt, dir.path(), Path::new("/dev/null"), QUERY_TIMEOUT)
        .arg(format!("--pass-pipeline={}", modelcheck::pipeline(low)))
        .arg(&input);
    let out = proc::capture(&job)?;
    if !out.success() {
        bail!(
            "`{}` failed on the shapes' MLIR ({}): {}\nthe pass `iree-dispatch-creation-set-split-reduction-sizes` may be \
             missing from this build; pass another with --iree-opt",
            job.display(),
            out.ended,
            out.stderr.lines().take(5).collect::<Vec<_>>().join("\n")
        );
    }
    let attributes = littest::attributes(&out.stdout);
    let header = (iree_opt.display().to_string(), revision, low);
    modelcheck::compare(shapes, &attributes, &predictions, header).map_err(|e| anyhow!(e))
}

/// The check as a sweep or `doctor` records it: run when an MLIR
/// `iree-opt` is there, skipped with the reason otherwise.
pub(crate) fn record(config: &Config, shapes: &[Shape]) -> ModelCheckRecord {
    let Some(iree_opt) = default_iree_opt(config) else {
        return ModelCheckRecord::Skipped("no build dir, so no `iree-opt` to check the model with".into());
    };
    if let Some(why) = not_applicable(&iree_opt) {
        return ModelCheckRecord::Skipped(why);
    }
    match run(config, shapes, &iree_opt) {
        Ok(check) => ModelCheckRecord::Checked(check),
        Err(e) => ModelCheckRecord::Failed(format!("{e:#}")),
    }
}
