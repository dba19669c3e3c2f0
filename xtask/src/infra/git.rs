//! Git, through libgit2: revisions, candidate commits, branches, worktrees.
//!
//! This module owns every change the tool makes to the user's repository, and
//! they are all additive: blobs, trees and commits written to the object
//! database, branches under `tune/`, and worktree registrations for build
//! slots. Candidate commits are made without a checkout (the patched blob is
//! spliced into the base tree), so the user's working tree, index and HEAD are
//! never touched. Only `apply` (in `commands::apply`) changes a checkout,
//! through git's own command line ([`cli`]).

use crate::infra::proc::{self, Captured, Job, QUERY_TIMEOUT};
use anyhow::{anyhow, bail, Context, Result};
use git2::{build::CheckoutBuilder, Oid, Repository, Signature, Time, WorktreeAddOptions};
use std::path::{Path, PathBuf};

/// Opens the user's checkout, with an error that says how to point at one.
pub(crate) fn open(path: &Path) -> Result<Repository> {
    Repository::open(path).map_err(|e| {
        anyhow!(
            "`{}` is not a git checkout ({}); point the tuner at your IREE checkout with \
             `--iree PATH` or `target.iree` in tuner.toml",
            path.display(),
            e.message()
        )
    })
}

/// Resolves a revision (`HEAD`, a branch, a tag, a hash) to a commit.
pub(crate) fn resolve(repo: &Repository, rev: &str) -> Result<Oid> {
    let obj = repo.revparse_single(rev).map_err(|e| {
        anyhow!(
            "revision `{rev}` not found in `{}` ({}); pass an existing one with --rev",
            workdir(repo).display(),
            e.message()
        )
    })?;
    Ok(obj.peel_to_commit().map_err(|_| anyhow!("revision `{rev}` is not a commit"))?.id())
}

pub(crate) fn workdir(repo: &Repository) -> PathBuf {
    repo.workdir().map(Path::to_path_buf).unwrap_or_else(|| repo.path().to_path_buf())
}

/// The text of `path` at `commit`.
pub(crate) fn read_file(repo: &Repository, commit: Oid, path: &str) -> Result<String> {
    let tree = repo.find_commit(commit)?.tree()?;
    let entry = tree.get_path(Path::new(path)).map_err(|_| {
        anyhow!(
            "`{path}` does not exist at {} in `{}`; set `target.heuristic_file` in tuner.toml \
             or tune a revision that has it (--rev)",
            short(commit),
            workdir(repo).display()
        )
    })?;
    let blob = repo.find_blob(entry.id()).with_context(|| format!("`{path}` is not a file"))?;
    String::from_utf8(blob.content().to_vec()).with_context(|| format!("`{path}` is not UTF-8"))
}

/// The bytes of file `path` at `commit`.
pub(crate) fn read_bytes(repo: &Repository, commit: Oid, path: &str) -> Result<Vec<u8>> {
    let tree = repo.find_commit(commit)?.tree()?;
    let entry = tree
        .get_path(Path::new(path))
        .with_context(|| format!("`{path}` does not exist at {} in `{}`", short(commit), workdir(repo).display()))?;
    let blob = repo.find_blob(entry.id()).with_context(|| format!("`{path}` is not a file"))?;
    Ok(blob.content().to_vec())
}

pub(crate) fn short(oid: Oid) -> String {
    oid.to_string()[..10].to_string()
}

/// Returns `tree` with the blob at `components` replaced by `blob`.
fn replace_in_tree(repo: &Repository, tree: &git2::Tree, components: &[&str], blob: Oid) -> Result<Oid> {
    let mut builder = repo.treebuilder(Some(tree))?;
    let name = components[0];
    if components.len() == 1 {
        let mode = tree.get_name(name).map(|e| e.filemode()).unwrap_or(0o100644);
        builder.insert(name, blob, mode)?;
    } else {
        let entry = tree.get_name(name).ok_or_else(|| anyhow!("directory `{name}` missing"))?;
        let sub = repo.find_tree(entry.id())?;
        let new_sub = replace_in_tree(repo, &sub, &components[1..], blob)?;
        builder.insert(name, new_sub, 0o040000)?;
    }
    Ok(builder.write()?)
}

/// Commits `content` at `path` on top of `base`, without touching any
/// checkout. The signature and time are fixed (the tool, at the base
/// commit's time), so the same patch always gives the same commit id and a
/// rerun finds its branches unchanged.
pub(crate) fn commit_file(repo: &Repository, base: Oid, path: &str, content: &str, message: &str) -> Result<Oid> {
    commit_files(repo, base, &[(path.to_string(), content.to_string())], message)
}

/// [`commit_file`] for several files.
pub(crate) fn commit_files(repo: &Repository, base: Oid, files: &[(String, String)], message: &str) -> Result<Oid> {
    let base_commit = repo.find_commit(base)?;
    let mut tree = base_commit.tree()?;
    for (path, content) in files {
        let blob = repo.blob(content.as_bytes())?;
        let components: Vec<&str> = path.split('/').collect();
        let id = replace_in_tree(repo, &tree, &components, blob)?;
        tree = repo.find_tree(id)?;
    }
    let t = base_commit.time();
    let sig = Signature::new("split-reduction-tuner", "tuner@split-reduction.invalid", &Time::new(t.seconds(), 0))?;
    Ok(repo.commit(None, &sig, &sig, message, &tree, &[&base_commit])?)
}

/// Files of `dir` (relative to the tree of `commit`) whose names match
/// `pattern` (`*` matches any run of characters).
pub(crate) fn glob(repo: &Repository, commit: Oid, pattern: &str) -> Result<Vec<String>> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let tree = repo.find_commit(commit)?.tree()?;
    let sub = if dir.is_empty() {
        tree
    } else {
        match tree.get_path(Path::new(dir)) {
            Ok(e) => repo.find_tree(e.id())?,
            Err(_) => return Ok(vec![]),
        }
    };
    let re = regex::Regex::new(&format!("^{}$", regex::escape(name).replace("\\*", ".*")))?;
    let mut out: Vec<String> = sub
        .iter()
        .filter_map(|e| e.name().ok().map(str::to_string))
        .filter(|n| re.is_match(n))
        .map(|n| if dir.is_empty() { n } else { format!("{dir}/{n}") })
        .collect();
    out.sort();
    Ok(out)
}

/// The user's identity from the repository's git config, for patch authors.
pub(crate) fn identity(repo: &Repository) -> (String, String) {
    let cfg = repo.config().ok();
    let get = |k: &str| cfg.as_ref().and_then(|c| c.get_string(k).ok());
    (
        get("user.name").unwrap_or_else(|| "split-reduction-tuner".into()),
        get("user.email").unwrap_or_else(|| "tuner@split-reduction.invalid".into()),
    )
}

/// Points `refs/heads/<name>` at `oid`. Only `tune/` branches are ever
/// written; anything else is refused.
pub(crate) fn set_branch(repo: &Repository, name: &str, oid: Oid) -> Result<()> {
    if !name.starts_with("tune/") {
        bail!("internal error: the tuner only writes `tune/` branches, not `{name}`");
    }
    let commit = repo.find_commit(oid)?;
    if let Ok(existing) = repo.find_branch(name, git2::BranchType::Local) {
        if existing.get().target() == Some(oid) {
            return Ok(());
        }
    }
    repo.branch(name, &commit, true)
        .with_context(|| format!("cannot write branch `{name}` in `{}`", workdir(repo).display()))?;
    Ok(())
}

/// The tool's branches: `tune/<prefix>...` as (name, target).
pub(crate) fn tune_branches(repo: &Repository, prefix: &str) -> Result<Vec<(String, Oid)>> {
    let mut out = Vec::new();
    for b in repo.branches(Some(git2::BranchType::Local))? {
        let (b, _) = b?;
        let (Some(name), Some(target)) = (b.name()?.map(str::to_string), b.get().target()) else { continue };
        if name.starts_with("tune/") && name.starts_with(prefix) {
            out.push((name, target));
        }
    }
    Ok(out)
}

/// Renames every branch under `from` (a `tune/.../` prefix) to be under
/// `to`.
pub(crate) fn rename_branches(repo: &Repository, from: &str, to: &str) -> Result<()> {
    for (name, target) in tune_branches(repo, from)? {
        let new = format!("{to}{}", &name[from.len()..]);
        set_branch(repo, &new, target)?;
        delete_branch(repo, &name)?;
    }
    Ok(())
}

/// Removes the registration of worktree `name` (its directory is gone or
/// about to go).
pub(crate) fn prune_worktree(repo: &Repository, name: &str) -> Result<()> {
    let Ok(wt) = repo.find_worktree(name) else { return Ok(()) };
    wt.prune(Some(git2::WorktreePruneOptions::new().valid(true).working_tree(true)))
        .with_context(|| format!("cannot prune worktree `{name}` of `{}`", workdir(repo).display()))
}

/// Deletes a `tune/` branch; refuses any other.
pub(crate) fn delete_branch(repo: &Repository, name: &str) -> Result<()> {
    if !name.starts_with("tune/") {
        bail!("internal error: the tuner only deletes `tune/` branches, not `{name}`");
    }
    let mut b = repo
        .find_branch(name, git2::BranchType::Local)
        .with_context(|| format!("no branch `{name}` in `{}`", workdir(repo).display()))?;
    b.delete().with_context(|| format!("cannot delete branch `{name}` in `{}`", workdir(repo).display()))
}

/// Words that mark a commit as the tool's: its candidates and validation
/// builds, and the patches it wrote (applied or not).
const TOOL_MARK: &str = "split-reduction-tuner";

/// Whether `oid` is a commit the tool made: a candidate or validation
/// build (authored by the tool), or one of its patches applied by `apply`
/// (its message names the tool, and a `tune/*` branch holds it; the same
/// message merged upstream is the user's history, not the tool's).
pub(crate) fn made_by_tool(repo: &Repository, oid: Oid) -> bool {
    let Ok(c) = repo.find_commit(oid) else { return false };
    if c.author().name().ok() == Some(TOOL_MARK) {
        return true;
    }
    if !c.message().is_ok_and(|m| m.contains(TOOL_MARK)) {
        return false;
    }
    tune_branches(repo, "tune/")
        .unwrap_or_default()
        .iter()
        .any(|(_, tip)| *tip == oid || repo.graph_descendant_of(*tip, oid).unwrap_or(false))
}

/// The first commit, following first parents from `oid`, that the tool did
/// not make: what a run on top of the tool's commits should tune instead.
pub(crate) fn base_of_tool_commits(repo: &Repository, oid: Oid) -> Option<Oid> {
    let mut c = repo.find_commit(oid).ok()?;
    while made_by_tool(repo, c.id()) {
        c = c.parent(0).ok()?;
    }
    Some(c.id())
}

/// A build slot's source tree: a worktree of the user's repository.
pub(crate) struct Worktree {
    pub(crate) repo: Repository,
    pub(crate) path: PathBuf,
}

/// Opens the worktree at `path`, creating it (registered as `name`, first
/// checking out `branch`) when it does not exist. An existing directory that
/// is not a worktree of this repository is an error, never overwritten.
pub(crate) fn ensure_worktree(repo: &Repository, name: &str, path: &Path, branch: &str) -> Result<Worktree> {
    if path.exists() {
        let wt = Repository::open(path).map_err(|_| {
            anyhow!(
                "`{}` exists but is not a git worktree; remove it (it belongs to the tuner's \
                 build slots) or set `build.work_dir` elsewhere",
                path.display()
            )
        })?;
        let ours = wt.commondir().canonicalize().ok() == repo.commondir().canonicalize().ok();
        if !wt.is_worktree() || !ours {
            bail!(
                "`{}` is a git checkout but not a worktree of `{}`; remove it or set \
                 `build.work_dir` elsewhere",
                path.display(),
                workdir(repo).display()
            );
        }
        return Ok(Worktree { repo: wt, path: path.to_path_buf() });
    }
    // A registration whose directory was deleted would block the name.
    if let Ok(stale) = repo.find_worktree(name) {
        if stale.validate().is_err() {
            stale
                .prune(Some(git2::WorktreePruneOptions::new().valid(true).working_tree(true)))
                .with_context(|| format!("cannot prune stale worktree `{name}`"))?;
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    let reference = repo.find_reference(&format!("refs/heads/{branch}"))?;
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(&reference));
    let wt = repo
        .worktree(name, path, Some(&opts))
        .with_context(|| format!("cannot create worktree `{}`", path.display()))?;
    let wt_repo = Repository::open_from_worktree(&wt)?;
    // Detach at once: a branch checked out in a slot could not be checked out
    // by the user in their own tree.
    let head = wt_repo.head()?.peel_to_commit()?.id();
    wt_repo.set_head_detached(head)?;
    Ok(Worktree { repo: wt_repo, path: path.to_path_buf() })
}

/// Checks out `oid` in a slot worktree (detached). Files whose content does
/// not change are not rewritten, so their timestamps stay and an incremental
/// build recompiles only what the patch touched.
pub(crate) fn checkout(wt: &Worktree, oid: Oid) -> Result<()> {
    let commit = wt.repo.find_commit(oid)?;
    let mut opts = CheckoutBuilder::new();
    opts.force().remove_untracked(false);
    wt.repo
        .checkout_tree(commit.as_object(), Some(&mut opts))
        .with_context(|| format!("cannot check out {} in `{}`", short(oid), wt.path.display()))?;
    wt.repo.set_head_detached(oid)?;
    Ok(())
}

/// The first tracked file of `repo`'s working tree that differs from its
/// HEAD (a submodule at another commit included), if any: a checkout with
/// one is not what its HEAD says.
pub(crate) fn first_uncommitted(repo: &Repository) -> Result<Option<String>> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false).include_ignored(false).exclude_submodules(false);
    let statuses = repo
        .statuses(Some(&mut opts))
        .with_context(|| format!("cannot read the status of `{}`", workdir(repo).display()))?;
    Ok(statuses.iter().find(|s| s.status() != git2::Status::CURRENT).map(|s| s.path().unwrap_or("?").to_string()))
}

/// A file that differs between two commits: its path and its content at
/// the second (`None`: the second has no such file, or it is a submodule).
pub(crate) type Changed = (String, Option<Vec<u8>>);

/// The files that differ between commits `from` and `to`.
pub(crate) fn changed_files(repo: &Repository, from: Oid, to: Oid) -> Result<Vec<Changed>> {
    let tree = |oid: Oid| repo.find_commit(oid).and_then(|c| c.tree());
    let (a, b) = (tree(from)?, tree(to)?);
    let diff = repo.diff_tree_to_tree(Some(&a), Some(&b), None)?;
    let mut out = Vec::new();
    for delta in diff.deltas() {
        let new = delta.new_file();
        let path = new.path().or(delta.old_file().path()).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let blob = match delta.status() {
            git2::Delta::Deleted => None,
            _ if new.mode() == git2::FileMode::Commit => None,
            _ => Some(repo.find_blob(new.id())?.content().to_vec()),
        };
        out.push((path, blob));
    }
    Ok(out)
}

/// Runs the git command line in `dir` (for what libgit2 lacks: `am`,
/// `apply --check`, three-way merges).
pub(crate) fn cli(dir: &Path, args: &[&str]) -> Result<Captured> {
    let job = Job::new("git", dir, Path::new("/dev/null"), QUERY_TIMEOUT).args(args.iter().copied());
    proc::capture(&job)
}

/// [`cli`] for a command that must succeed; returns its trimmed stdout.
pub(crate) fn cli_ok(dir: &Path, args: &[&str]) -> Result<String> {
    let out = cli(dir, args)?;
    if !out.success() {
        bail!("`git {}` failed in `{}`: {}", args.join(" "), dir.display(), out.stderr.trim());
    }
    Ok(out.stdout.trim().to_string())
}
