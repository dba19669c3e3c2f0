//! `cargo xtask clean [RUN] [--all] [--dry-run]`: removes what runs leave
//! outside their run directory: build slots (a worktree and a build each,
//! their registrations pruned), `tune/<run>/*` branches, kernel caches and
//! kept builds (those of the run's branches' commits that no other run's
//! branch names: a baseline's serves every run on its revision).
//! Never anything else: run directories (the measurements) stay, the
//! branch `apply` made for a PR stays, and the user's checkout and build
//! directory are not touched. Refused while a slot it would remove is held.

use crate::cli::CleanArgs;
use crate::config::Config;
use crate::infra::{build, git, overlay, slots};
use crate::ops::context::Ctx;
use crate::ops::rundir::RunDir;
use crate::ops::station;
use crate::ops::targets;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

pub(crate) fn run(ctx: &Ctx, args: &CleanArgs) -> Result<()> {
    let config = &ctx.config;
    let run = match (&args.run, args.all) {
        (Some(r), false) => Some(r.as_str()),
        (None, true) => None,
        _ => bail!("name one run (`cargo xtask clean RUN`) or pass --all"),
    };
    // A run of a sweep of several targets: every target's run.
    let runs: Vec<Option<String>> = match run {
        None => vec![None],
        Some(r) => match RunDir::find(config, Some(r)) {
            Ok(dir) => targets::runs_of(config, &dir)?.into_iter().map(|t| Some(t.run.name)).collect(),
            Err(_) => vec![Some(r.to_string())],
        },
    };
    let mut plan = Plan { slots: vec![], branches: vec![], caches: vec![], builds: vec![], kept: vec![] };
    let cleaning: Vec<&str> = runs.iter().flatten().map(String::as_str).collect();
    for r in &runs {
        let p = self::plan(config, r.as_deref(), &cleaning)?;
        plan.slots.extend(p.slots.into_iter().filter(|s| !plan.slots.contains(s)).collect::<Vec<_>>());
        plan.branches.extend(p.branches);
        plan.caches.extend(p.caches);
        plan.builds.extend(p.builds);
        plan.kept.extend(p.kept);
    }
    if plan.is_empty() {
        eprintln!("nothing to clean");
        return Ok(());
    }
    let verb = if args.dry_run { "would remove" } else { "removing" };
    for line in plan.describe() {
        eprintln!("{verb} {line}");
    }
    for kept in &plan.kept {
        eprintln!("keeping {kept}");
    }
    if !args.dry_run {
        plan.carry_out(config)?;
        eprintln!("done");
    }
    Ok(())
}

/// What a clean removes.
struct Plan {
    slots: Vec<u32>,
    branches: Vec<String>,
    caches: Vec<PathBuf>,
    /// Kept builds ([`station::kept_dir`]).
    builds: Vec<PathBuf>,
    /// What it leaves on purpose, with why.
    kept: Vec<String>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.slots.is_empty() && self.branches.is_empty() && self.caches.is_empty() && self.builds.is_empty()
    }

    fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = self.slots.iter().map(|i| format!("build slot slot-{i} and its worktree")).collect();
        out.extend(self.branches.iter().map(|b| format!("branch `{b}`")));
        out.extend(self.caches.iter().map(|c| format!("kernel cache `{}`", c.display())));
        out.extend(self.builds.iter().map(|c| format!("kept build `{}`", c.display())));
        out
    }

    fn carry_out(&self, config: &Config) -> Result<()> {
        let work = config.work_dir();
        let repo = git::open(&config.target.iree)?;
        // Take the slots first: a run that starts meanwhile waits for them.
        let me = slots::Holder::me("clean");
        let locks = slots::take_these(&work, &self.slots, &me)?;
        for &index in &self.slots {
            let (dir, _, _) = build::slot_paths(config, index);
            // Also removes an overlay slot's layers, whose work directories
            // the kernel leaves without permissions.
            overlay::remove(&dir)?;
            git::prune_worktree(&repo, &build::worktree_name(config, index))?;
        }
        drop(locks);
        for &index in &self.slots {
            slots::forget(&work, index)?;
        }
        for b in &self.branches {
            git::delete_branch(&repo, b)?;
        }
        for c in self.caches.iter().chain(&self.builds) {
            std::fs::remove_dir_all(c).with_context(|| format!("cannot remove `{}`", c.display()))?;
        }
        Ok(())
    }
}

/// What cleaning `run` (every run with `None`) removes, as one of the runs
/// `cleaning`; refused while a slot to remove is held.
fn plan(config: &Config, run: Option<&str>, cleaning: &[&str]) -> Result<Plan> {
    let work = config.work_dir();
    let mut slot_list = Vec::new();
    for (index, held, holder) in slots::survey(&work) {
        let last = build::last_run(config, index);
        if run.is_some_and(|r| last.as_deref() != Some(r)) {
            continue;
        }
        if held {
            let who = holder.map(|h| format!("pid {} (run `{}`, `{}`)", h.pid, h.run, h.command));
            bail!(
                "slot-{index} is in use by {}; wait for it to finish (or stop it), then clean",
                who.unwrap_or_else(|| "another run".into())
            );
        }
        slot_list.push(index);
    }
    let repo = git::open(&config.target.iree)?;
    let prefix = run.map(|r| format!("tune/{r}/")).unwrap_or_else(|| "tune/".into());
    let current = repo.head().ok().and_then(|h| h.shorthand().ok().map(str::to_string));
    let mut branches = Vec::new();
    let mut kept = Vec::new();
    let mut builds = Vec::new();
    // A kept build is by commit: the baseline's is every run's on that
    // revision, and stays while a run not cleaned now has a branch there.
    let mut others = std::collections::BTreeMap::new();
    for (name, commit) in git::tune_branches(&repo, "tune/")? {
        let of = name["tune/".len()..].split('/').next().unwrap_or_default().to_string();
        if !cleaning.contains(&of.as_str()) {
            others.entry(commit).or_insert(of);
        }
    }
    for (name, commit) in git::tune_branches(&repo, &prefix)? {
        let kept_build = station::kept_dir(config, commit).ok().filter(|d| d.is_dir());
        match (run, kept_build, others.get(&commit)) {
            (Some(_), Some(dir), Some(other)) => {
                kept.push(format!("kept build `{}` (run `{other}` builds on it too)", dir.display()));
            }
            (Some(_), Some(dir), None) => builds.push(dir),
            _ => {}
        }
        if name.ends_with("/patch") {
            kept.push(format!("branch `{name}` (made by `apply` for a PR; delete it with `git branch -D {name}`)"));
        } else if current.as_deref() == Some(name.as_str()) {
            kept.push(format!("branch `{name}` (checked out in your checkout)"));
        } else {
            branches.push(name);
        }
    }
    let cache_root = work.join("cache");
    let caches = match run {
        Some(r) => vec![cache_root.join(r)],
        None => vec![cache_root],
    }
    .into_iter()
    .filter(|c| c.exists())
    .collect();
    if run.is_none() {
        builds.extend(Some(work.join(station::KEPT_DIR)).filter(|d| d.is_dir()));
    }
    builds.sort();
    builds.dedup();
    kept.sort();
    kept.dedup();
    Ok(Plan { slots: slot_list, branches, caches, builds, kept })
}
