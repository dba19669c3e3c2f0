//! `cargo xtask analyze [RUN]`: reads `runs/<run>/results.json`, fits and
//! cross-validates the rules, and writes `analysis.json`, `report.md`,
//! `report.html` and the recommended diff per heuristic into the run
//! directory. It needs no build: only the results and the heuristic file at
//! the tuned revision, read from git. With `--rev` the rule is written at
//! another revision (recorded in the run for `validate` and `apply`).

use crate::cli::AnalyzeArgs;
use crate::config::Config;
use crate::core::analysis::{self, Analysis, HeuristicPatch};
use crate::core::numfmt;
use crate::infra::git;
use crate::ops::analysis::{analyze_run, render, write_recommended};
use crate::ops::context::Ctx;
use crate::ops::inputs::{RetargetRecord, Tuned};
use crate::ops::rundir::RunDir;
use crate::ops::targets;
use anyhow::Result;
use std::time::Instant;

pub(crate) fn run(ctx: &Ctx, args: &AnalyzeArgs) -> Result<()> {
    let first = RunDir::find(&ctx.config, args.run.as_deref())?;
    let runs = targets::runs_of(&ctx.config, &first)?;
    // A later target's rule is written on the earlier targets' change.
    let mut stack = targets::Stack::default();
    for (i, t) in runs.iter().enumerate() {
        let run = &t.run;
        // A series' later run gets its retarget record rewritten (the
        // earlier run's change): not under a sweep or validation of it.
        let _lock = if runs.len() > 1 { Some(run.lock("sweep or validation")?) } else { None };
        let results = run.read_results()?;
        let config = targets::config_for(&ctx.config, &results);
        if runs.len() > 1 {
            eprintln!("target {} (run `{}`)", t.target.name(), run.name);
        }
        match stack.place(&config, run)? {
            None => retarget(ctx, run, args.rev.as_deref())?,
            Some(earlier) => eprintln!("writing the rule on the change of run `{earlier}`"),
        }
        let start = Instant::now();
        let (a, patches, tuned) = analyze_run(&config, run, &results)?;
        render(run, &results, &a)?;
        write_recommended(run, &patches)?;
        let elapsed = start.elapsed();
        print_outcome(run, &a, &patches);
        eprintln!(
            "report: {} (analysed {} shapes x {} candidates in {} ms)",
            run.report_md().display(),
            results.shapes.len(),
            results.candidates.len(),
            elapsed.as_millis()
        );
        if runs.len() > 1 {
            let last = i + 1 == runs.len();
            let commit = if last {
                git2::Oid::from_str(&tuned.base)?
            } else {
                change(&config, (run, &results.target.heuristic_file), &tuned, &patches)?
            };
            stack.push(run, Some(&a), commit, tuned.series_base.clone())?;
        }
    }
    Ok(())
}

/// This run's recommended change committed where its patches apply (their
/// base when it changes nothing): what the next target's rule is written on.
fn change(
    config: &Config,
    (run, file): (&RunDir, &str),
    tuned: &Tuned,
    patches: &[HeuristicPatch],
) -> Result<git2::Oid> {
    let base = git2::Oid::from_str(&tuned.base)?;
    if patches.is_empty() {
        return Ok(base);
    }
    let combined = analysis::combined_source(tuned.emit_source(), patches).map_err(|e| anyhow::anyhow!(e))?;
    let repo = git::open(&config.target.iree)?;
    targets::commit_change(&repo, base, file, &combined, &run.name)
}

/// Records where the rule is written: `rev` resolved in the checkout, or
/// the swept revision again (saying so when a retarget is undone). A later
/// target's stack is kept: its rule is written on the earlier change.
fn retarget(ctx: &Ctx, run: &RunDir, rev: Option<&str>) -> Result<()> {
    let record = match rev {
        None => {
            match run.read_retarget()? {
                Some(old) if targets::is_stack(&run.name, &old) => {
                    eprintln!(
                        "note: run `{}` measured a later target of its sweep: its rule is written on the earlier \
                         targets' change (`{}`); analyze the sweep's first run to renew that",
                        run.name, old.rev
                    );
                    return Ok(());
                }
                Some(old) => {
                    eprintln!("note: writing the rule at the swept revision again (it was written at `{}`)", old.rev)
                }
                None => {}
            }
            None
        }
        Some(rev) => {
            let repo = git::open(&ctx.config.target.iree)?;
            let commit = git::resolve(&repo, rev)?;
            eprintln!("writing the rule at `{rev}` ({})", git::short(commit));
            Some(RetargetRecord { rev: rev.to_string(), commit: commit.to_string(), series_base: None })
        }
    };
    run.write_retarget(record.as_ref())
}

/// The stability figure after a verdict line.
fn stability(h: &crate::core::analysis::HeuristicAnalysis) -> String {
    h.stability.as_ref().map(|s| format!("; {}", s.words())).unwrap_or_default()
}

/// The recommendation per heuristic, warnings, and the diffs written.
fn print_outcome(run: &RunDir, a: &Analysis, patches: &[HeuristicPatch]) {
    for h in &a.heuristics {
        match h.strategies.iter().find(|e| e.strategy == h.recommended) {
            Some(e) if h.rule.is_some() => eprintln!(
                "{}: {} — cross-validated geomean speedup {} (fitted {}), {} of the oracle's gain, {} vs the original toolkit{}",
                h.heuristic,
                e.name,
                numfmt::x(e.cv_geomean),
                numfmt::x(e.fitted_geomean),
                numfmt::pct(e.cv_oracle_fraction),
                numfmt::x(h.vs_original_toolkit),
                stability(h)
            ),
            _ => eprintln!("{}: no change recommended ({}){}", h.heuristic, h.error.as_deref().unwrap_or(""), stability(h)),
        }
        if let (Some(_), Some(err)) = (&h.rule, &h.error) {
            eprintln!("{}: no patch: {err}", h.heuristic);
        }
        if let Some(e) = &h.emitted {
            let rewrite =
                e.rewrite_lines.map(|(a, r)| format!("; rewriting the ladder would be +{a} -{r}")).unwrap_or_default();
            let how = if e.how == "edit" {
                "an edit of the current code".to_string()
            } else {
                format!("a rewrite ({})", e.note)
            };
            eprintln!("{}: patch +{} -{} lines, {how}{rewrite}", h.heuristic, e.lines.0, e.lines.1);
        }
        if let Some(au) = &h.audit {
            let c = &au.counts;
            eprintln!(
                "{}: changed decisions: {} measured, {} between measured shapes, {} beyond the measured range, {} on \
                 {} targets, not measured ({} ops audited{})",
                h.heuristic,
                c.measured,
                c.interpolated,
                c.outside_hull,
                c.other_target,
                crate::core::audit::target_name(!au.low),
                au.evaluated.values().sum::<usize>(),
                if au.clean() { "" } else { "; not ready: report.md lists them" }
            );
        }
    }
    if let Some(w) = &a.noise_warning {
        eprintln!("warning: {w}");
    }
    if let Some(w) = &a.noop_warning {
        eprintln!("warning: {w}");
    }
    for p in patches {
        eprintln!("recommended diff: {}", run.recommended_diff(p.heuristic).display());
    }
}
