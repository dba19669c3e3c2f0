//! `cargo xtask apply [PATCH]`: puts validated patches on a new branch of the
//! user's checkout with `git am -3`, ready for an upstream PR.
//!
//! This is the one command that changes the user's checkout, so it checks
//! first and changes nothing when a check fails: the tree must be clean, the
//! patch's base commit present and contained in HEAD, the patch not already
//! applied, its validation verdict "ready" (unless `--force`). A failed
//! `git am` is aborted and the original branch restored. Git's own `am` does
//! the applying (libgit2 has none), through xshell.

use super::Ctx;
use crate::cli::ApplyArgs;
use crate::core::patchtext;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

/// The patch files to apply, in order (conv before matmul).
fn patch_files(ctx: &Ctx, arg: Option<&str>) -> Result<(String, Vec<PathBuf>)> {
    if let Some(a) = arg {
        let p = Path::new(a);
        if p.is_file() {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let run = stem.rsplit_once('-').map(|(r, _)| r.to_string()).unwrap_or(stem);
            return Ok((run, vec![super::cwd_absolute(p)]));
        }
    }
    let run = match arg {
        Some(r) => r.to_string(),
        None => {
            let dir = super::analyze::find_run(ctx, None)?;
            dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        }
    };
    let dir = &ctx.config.patches_dir;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`; run `cargo xtask validate {run}` first", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "patch")
                && p.file_stem().is_some_and(|s| {
                    let s = s.to_string_lossy();
                    s.strip_prefix(&run)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|h| h == "conv" || h == "matmul")
                })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no patch of run `{run}` in `{}`; run `cargo xtask validate {run}` first", dir.display());
    }
    Ok((run, files))
}

pub fn run(ctx: &Ctx, args: &ApplyArgs) -> Result<()> {
    let (run, files) = patch_files(ctx, args.patch.as_deref())?;
    let checkout = &ctx.config.target.iree;
    let sh = Shell::new().context("cannot start a shell")?;
    sh.change_dir(checkout);
    let git_dir = cmd!(sh, "git rev-parse --git-dir")
        .quiet()
        .read()
        .map_err(|_| anyhow::anyhow!("`{}` is not a git checkout; pass --iree PATH", checkout.display()))?;

    // Every check before anything changes.
    let mut base = None;
    for f in &files {
        let text = std::fs::read_to_string(f).with_context(|| format!("cannot read `{}`", f.display()))?;
        let b = patchtext::base_commit(&text)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "`{}` has no `base-commit:` line: it was not written by `cargo xtask validate`",
                    f.display()
                )
            })?
            .to_string();
        if !args.force && !text.contains("Validation verdict: ready") {
            bail!(
                "`{}` was not validated as ready (see its message); fix what validation reported, or pass --force",
                f.display()
            );
        }
        base = Some(b);
    }
    let base = base.unwrap();
    let dirty = cmd!(sh, "git status --porcelain --untracked-files=no").quiet().read()?;
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
    let commit_ref = format!("{base}^{{commit}}");
    if cmd!(sh, "git cat-file -e {commit_ref}").quiet().ignore_stderr().run().is_err() {
        bail!(
            "the patch's base commit {} is not in `{}`; fetch it (`git fetch origin`) and rerun",
            &base[..base.len().min(12)],
            checkout.display()
        );
    }
    if cmd!(sh, "git merge-base --is-ancestor {base} HEAD").quiet().ignore_stderr().run().is_err() {
        bail!(
            "HEAD of `{}` does not contain the patch's base commit {}; check out a branch that does (e.g. `git checkout {}`) and rerun",
            checkout.display(),
            &base[..base.len().min(12)],
            &base[..base.len().min(12)]
        );
    }
    for f in &files {
        if cmd!(sh, "git apply --check --reverse {f}").quiet().ignore_stderr().run().is_ok() {
            bail!("`{}` is already applied at HEAD of `{}`; nothing to do", f.display(), checkout.display());
        }
    }
    let branch = args.branch.clone().unwrap_or_else(|| format!("tune/{run}/patch"));
    let branch_ref = format!("refs/heads/{branch}");
    if cmd!(sh, "git show-ref --verify --quiet {branch_ref}").quiet().run().is_ok() {
        bail!("branch `{branch}` already exists in `{}`; pass --branch NAME or delete it", checkout.display());
    }
    let original = cmd!(sh, "git symbolic-ref -q --short HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .or_else(|_| cmd!(sh, "git rev-parse HEAD").quiet().read())?;

    // Apply on a new branch at HEAD; undo everything if `git am` fails.
    cmd!(sh, "git checkout -q -b {branch}").quiet().run().context("cannot create the branch")?;
    let am = cmd!(sh, "git am -3 --keep-non-patch --quiet {files...}").quiet().ignore_status().output()?;
    if !am.status.success() {
        let why = String::from_utf8_lossy(&am.stderr).trim().to_string();
        let _ = cmd!(sh, "git am --abort").quiet().ignore_stderr().run();
        let _ = cmd!(sh, "git checkout -q {original}").quiet().ignore_stderr().run();
        let _ = cmd!(sh, "git branch -q -D {branch}").quiet().ignore_stderr().run();
        bail!(
            "the patch does not apply at HEAD of `{}`, even with a three-way merge:\n{why}\nyour checkout is back on `{original}`; apply at the tuned revision ({}) with `git checkout {}` first",
            checkout.display(),
            &base[..base.len().min(12)],
            &base[..base.len().min(12)]
        );
    }
    println!("branch: {branch}");
    let pr = ctx.config.patches_dir.join(format!("{run}.md"));
    if pr.exists() {
        println!("PR description: {}", pr.display());
    }
    Ok(())
}
