//! Writing a validated change: `patches/<run>-<heuristic>.patch` per
//! changed heuristic (`git format-patch` form, the evidence in its message,
//! the lit tests' pinned results updated when asked) and the PR description
//! `patches/<run>.md`. The texts are [`crate::core::report`]'s and
//! [`crate::core::patchtext`]'s; this module adds the author, the date and
//! the files.

use crate::core::analysis::{Analysis, HeuristicPatch};
use crate::core::littest;
use crate::core::patchtext::{self, FileChange};
use crate::core::report;
use crate::core::results::Results;
use crate::core::validation::{Round, Validation};
use crate::core::TOOL_VERSION;
use crate::infra::{git, store};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A lit test file, its text, and the line changes that make it pass on
/// the patched build.
pub(crate) struct LitTest {
    pub(crate) path: String,
    pub(crate) text: String,
    pub(crate) changes: Vec<littest::Change>,
    /// Why its pinned results cannot be updated, if they cannot.
    pub(crate) unreadable: Option<String>,
}

/// What the patches say and carry.
pub(crate) struct Evidence<'a> {
    pub(crate) results: &'a Results,
    /// The heuristic file the patches edit (at the tuned revision, or the
    /// one `analyze --rev` wrote the rule at).
    pub(crate) source: &'a str,
    /// The commit the patches apply to.
    pub(crate) base_commit: &'a str,
    pub(crate) analysis: &'a Analysis,
    pub(crate) validation: &'a Validation,
    pub(crate) last: &'a Round,
    /// The lit tests, with their updates when `--update-tests` applied them.
    pub(crate) tests: &'a [LitTest],
    pub(crate) with_tests: bool,
}

/// Writes one patch per heuristic and the PR description; returns their
/// paths.
pub(crate) fn write(
    patches_dir: &Path,
    repo: &git2::Repository,
    e: &Evidence,
    patches: &[HeuristicPatch],
) -> Result<Vec<PathBuf>> {
    let (name, email) = git::identity(repo);
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let mut written = Vec::new();
    for p in patches {
        let changes = file_changes(e, p);
        let meta = patchtext::Meta {
            author_name: name.clone(),
            author_email: email.clone(),
            date: now,
            subject: report::subject(p.heuristic, e.analysis),
            body: report::commit_body(
                e.results,
                e.analysis,
                e.validation,
                e.last,
                p,
                e.with_tests && changes.len() > 1,
            ),
            base_commit: e.base_commit.to_string(),
            tool_version: TOOL_VERSION.to_string(),
        };
        let path = patches_dir.join(format!("{}-{}.patch", e.results.run, p.heuristic));
        store::write_atomic(&path, patchtext::format_patch(&meta, &changes).as_bytes())?;
        written.push(path);
    }
    let md = report::pr_description(e.results, e.analysis, e.validation, patches);
    let path = patches_dir.join(format!("{}.md", e.results.run));
    store::write_atomic(&path, md.as_bytes())?;
    written.push(path);
    Ok(written)
}

/// The files a heuristic's patch changes: the heuristic file, and the lit
/// tests' lines of that heuristic's functions.
fn file_changes(e: &Evidence, p: &HeuristicPatch) -> Vec<FileChange> {
    let mut changes = vec![FileChange {
        path: e.results.target.heuristic_file.clone(),
        old: e.source.to_string(),
        new: p.source.clone(),
    }];
    if e.with_tests {
        for t in e.tests {
            // A case belongs to the patch whose audit changes it, else to
            // the heuristic its op goes to.
            let by_op = littest::heuristics_of(&t.text);
            let owner = |f: &str| {
                let audited = e.analysis.heuristics.iter().find(|h| {
                    h.audit
                        .as_ref()
                        .is_some_and(|a| a.lit_changes.iter().any(|(file, func)| *file == t.path && func == f))
                });
                audited.map(|h| h.heuristic).or_else(|| by_op.get(f).copied())
            };
            let mine = littest::apply(&t.text, &t.changes, |f| owner(f) == Some(p.heuristic));
            if mine != t.text {
                changes.push(FileChange { path: t.path.clone(), old: t.text.clone(), new: mine });
            }
        }
    }
    changes
}

/// Writes the PR description of a series of several targets' patches as
/// `patches/<first>.md`, from each run's own description (written by its
/// validation, absent when it changes nothing); returns its path.
pub(crate) fn write_series(patches_dir: &Path, first: &str, runs: &[(bool, String)]) -> Result<PathBuf> {
    let mut parts = Vec::new();
    for (low, run) in runs {
        let own = patches_dir.join(format!("{run}.md"));
        let description = if own.exists() {
            Some(std::fs::read_to_string(&own).with_context(|| format!("cannot read `{}`", own.display()))?)
        } else {
            None
        };
        // The first run's own description shares the series' file name: a
        // series description left by an earlier validation is not its own.
        let description = description.filter(|d| !d.starts_with(&report::series_title(first)));
        parts.push(report::SeriesPart { low: *low, run: run.clone(), description });
    }
    let path = patches_dir.join(format!("{first}.md"));
    store::write_atomic(&path, report::pr_series(first, &parts).as_bytes())?;
    Ok(path)
}

/// Removes what an earlier validation of `run` wrote (its patches and PR
/// description): in a series, a run that now changes nothing, or whose
/// validation stops, must not leave an old patch for `apply` to pick up.
pub(crate) fn remove_run(patches_dir: &Path, run: &str) -> Result<()> {
    for name in [format!("{run}-conv.patch"), format!("{run}-matmul.patch"), format!("{run}.md")] {
        store::remove_file(&patches_dir.join(name))?;
    }
    Ok(())
}
