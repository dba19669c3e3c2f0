//! `cargo xtask apply [PATCH]`: puts validated patches on a new branch of the
//! user's checkout with `git am -3`, ready for an upstream PR.
//!
//! This is the one command that changes the user's checkout, so it checks
//! first and changes nothing when a check fails: the tree must be clean, the
//! patch's base commit present and contained in HEAD, the patch not already
//! applied, its validation verdict "ready" (unless `--force`). A failed
//! `git am` is aborted and the original branch restored. Git's own `am` does
//! the applying (libgit2 has none), through [`crate::infra::git::cli`].

use crate::cli::ApplyArgs;
use crate::config::TargetKind;
use crate::core::numfmt::short;
use crate::core::patchtext;
use crate::infra::git;
use crate::ops::context::{cwd_absolute, Ctx};
use crate::ops::rundir::RunDir;
use crate::ops::targets;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub(crate) fn run(ctx: &Ctx, args: &ApplyArgs) -> Result<()> {
    let (run, files) = patch_files(ctx, args.patch.as_deref())?;
    let checkout = &ctx.config.target.iree;
    let base = check_patches(&files, args.force)?;
    check_checkout(checkout, &base, &files)?;
    let branch = args.branch.clone().unwrap_or_else(|| format!("tune/{run}/patch"));
    if git::cli(checkout, &["show-ref", "--verify", "--quiet", &format!("refs/heads/{branch}")])?.success() {
        bail!("branch `{branch}` already exists in `{}`; pass --branch NAME or delete it", checkout.display());
    }
    let original = apply_on_branch(checkout, &branch, &base, &files)?;
    println!("branch: {branch}");
    eprintln!(
        "your checkout is now on `{branch}`; `git checkout {original}` returns to where it was (tune again from \
         there, or with `--rev {}`: a sweep refuses the tool's own commits)",
        short(&base, 12)
    );
    let pr = ctx.config.patches_dir.join(format!("{run}.md"));
    if pr.exists() {
        println!("PR description: {}", pr.display());
    }
    Ok(())
}

/// The run and the patch files to apply, in order (conv before matmul).
fn patch_files(ctx: &Ctx, arg: Option<&str>) -> Result<(String, Vec<PathBuf>)> {
    if let Some(a) = arg {
        let p = Path::new(a);
        if p.is_file() {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let run = stem.rsplit_once('-').map(|(r, _)| r.to_string()).unwrap_or(stem);
            return Ok((run, vec![cwd_absolute(p)]));
        }
    }
    // A sweep of several targets: each target's patches, in the order they
    // were validated, each on the ones before. The patches outlive their
    // run directory: without it, the name is the one run.
    let (run, runs) = match (arg, RunDir::find(&ctx.config, arg)) {
        (_, Ok(named)) => {
            let runs = targets::runs_of(&ctx.config, &named)?;
            let list: Vec<(&str, String)> = runs.into_iter().map(|t| (t.target.name(), t.run.name)).collect();
            (list[0].1.clone(), list)
        }
        (Some(name), Err(_)) => {
            // The run directories are gone: the series' other runs go by
            // their conventional names.
            let mut list = vec![("", name.to_string())];
            for t in [TargetKind::LowParallelism, TargetKind::Default] {
                let other = targets::run_name(name, 1, t);
                if !run_patches(&ctx.config.patches_dir, &other).unwrap_or_default().is_empty() {
                    eprintln!(
                        "note: applying the patches of run `{other}` too ({} targets, after `{name}`'s)",
                        t.name()
                    );
                    list.push((t.name(), other));
                }
            }
            (name.to_string(), list)
        }
        (None, Err(e)) => return Err(e),
    };
    let dir = &ctx.config.patches_dir;
    let mut files = Vec::new();
    for (target, name) in &runs {
        let mine = run_patches(dir, name)?;
        if mine.is_empty() && runs.len() > 1 {
            eprintln!("note: no patch of run `{name}` ({target} target): it changes nothing");
        }
        files.extend(mine);
    }
    if files.is_empty() {
        bail!("no patch of run `{run}` in `{}`; run `cargo xtask validate {run}` first", dir.display());
    }
    Ok((run, files))
}

/// The patches of one run, conv before matmul.
fn run_patches(dir: &Path, run: &str) -> Result<Vec<PathBuf>> {
    let is_runs_patch = |p: &Path| {
        p.extension().is_some_and(|e| e == "patch")
            && p.file_stem().is_some_and(|s| {
                let s = s.to_string_lossy();
                s.strip_prefix(run)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|h| h == "conv" || h == "matmul")
            })
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`; run `cargo xtask validate {run}` first", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| is_runs_patch(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Every patch was written by `validate` and validated as ready (unless
/// `force`), all on one base; returns it.
fn check_patches(files: &[PathBuf], force: bool) -> Result<String> {
    let mut base: Option<String> = None;
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("cannot read `{}`", f.display()))?;
        let b = patchtext::base_commit(&text).ok_or_else(|| {
            anyhow::anyhow!(
                "`{}` has no `base-commit:` line: it was not written by `cargo xtask validate`",
                f.display()
            )
        })?;
        if !force && !text.contains("Validation verdict: ready") {
            bail!(
                "`{}` was not validated as ready (see its message); fix what validation reported, or pass --force",
                f.display()
            );
        }
        match &base {
            Some(first) if first != b => bail!(
                "`{}` applies to {} but the patches before it to {}: they are not one series; apply them one by one",
                f.display(),
                short(b, 12),
                short(first, 12)
            ),
            _ => base = Some(b.to_string()),
        }
    }
    base.ok_or_else(|| anyhow::anyhow!("no patch to apply"))
}

/// The checkout is clean, not mid-rebase, contains the base commit, and
/// does not have the patches already.
fn check_checkout(checkout: &Path, base: &str, files: &[PathBuf]) -> Result<()> {
    let git_dir = git::cli_ok(checkout, &["rev-parse", "--git-dir"])
        .map_err(|_| anyhow::anyhow!("`{}` is not a git checkout; pass --iree PATH", checkout.display()))?;
    let dirty = git::cli(checkout, &["status", "--porcelain", "--untracked-files=no"])?.stdout;
    if !dirty.trim().is_empty() {
        bail!(
            "`{}` has uncommitted changes:\n{}\ncommit or stash them, then rerun `cargo xtask apply`",
            checkout.display(),
            dirty.trim_end()
        );
    }
    let git_dir = if Path::new(&git_dir).is_absolute() { PathBuf::from(&git_dir) } else { checkout.join(&git_dir) };
    if git_dir.join("rebase-apply").exists() || git_dir.join("rebase-merge").exists() {
        bail!("`{}` is in the middle of a rebase or `git am`; finish or abort it first", checkout.display());
    }
    // `git am` records the user as committer; without an identity it stops
    // half-way with an error that reads like a conflict.
    if !git::cli(checkout, &["var", "GIT_COMMITTER_IDENT"])?.success() {
        bail!(
            "git does not know who you are in `{}`, and `git am` needs a committer; run \
             `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com`, \
             then rerun `cargo xtask apply`",
            checkout.display()
        );
    }
    let short_base = short(base, 12);
    if !git::cli(checkout, &["cat-file", "-e", &format!("{base}^{{commit}}")])?.success() {
        bail!(
            "the patch's base commit {short_base} is not in `{}`; fetch it (`git fetch origin`) and rerun",
            checkout.display()
        );
    }
    if !git::cli(checkout, &["merge-base", "--is-ancestor", base, "HEAD"])?.success() {
        bail!(
            "HEAD of `{}` does not contain the patch's base commit {short_base}; check out a branch that does \
             (e.g. `git checkout {short_base}`) and rerun",
            checkout.display()
        );
    }
    for f in files {
        let path = f.to_string_lossy();
        if git::cli(checkout, &["apply", "--check", "--reverse", &path])?.success() {
            bail!("`{}` is already applied at HEAD of `{}`; nothing to do", f.display(), checkout.display());
        }
    }
    Ok(())
}

/// Creates `branch` at HEAD and runs `git am -3`; on failure, aborts and
/// puts the checkout back where it was. Returns where it was.
fn apply_on_branch(checkout: &Path, branch: &str, base: &str, files: &[PathBuf]) -> Result<String> {
    let original = match git::cli(checkout, &["symbolic-ref", "-q", "--short", "HEAD"])? {
        out if out.success() => out.stdout.trim().to_string(),
        _ => git::cli_ok(checkout, &["rev-parse", "HEAD"])?,
    };
    git::cli_ok(checkout, &["checkout", "-q", "-b", branch]).context("cannot create the branch")?;
    let mut am = vec!["am", "-3", "--keep-non-patch", "--quiet"];
    let paths: Vec<String> = files.iter().map(|f| f.to_string_lossy().into_owned()).collect();
    am.extend(paths.iter().map(String::as_str));
    let out = git::cli(checkout, &am)?;
    if !out.success() {
        let _ = git::cli(checkout, &["am", "--abort"]);
        let _ = git::cli(checkout, &["checkout", "-q", &original]);
        let _ = git::cli(checkout, &["branch", "-q", "-D", branch]);
        let short_base = short(base, 12);
        bail!(
            "the patch does not apply at HEAD of `{}`, even with a three-way merge:\n{}\nyour checkout is back on \
             `{original}`; apply at the tuned revision ({short_base}) with `git checkout {short_base}` first",
            checkout.display(),
            out.stderr.trim()
        );
    }
    Ok(original)
}
