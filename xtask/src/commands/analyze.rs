//! `cargo xtask analyze [RUN]`: reads `runs/<run>/results.json`, fits and
//! cross-validates the rules, and writes `analysis.json`, `report.md`,
//! `report.html` and the recommended diff per heuristic into the run
//! directory. It needs no build: only the results and the heuristic file at
//! the tuned revision, read from git.

use super::Ctx;
use crate::cli::AnalyzeArgs;
use crate::core::analysis::{self, Analysis, HeuristicPatch, Settings};
use crate::core::results::Results;
use crate::core::{html, report};
use crate::infra::{git, store};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Finds a run directory: a path, a name under the runs dir, or (none given)
/// the configured commands file's run, else the newest run with results.
pub fn find_run(ctx: &Ctx, run: Option<&str>) -> Result<PathBuf> {
    let runs = &ctx.config.runs_dir;
    if let Some(r) = run {
        let as_path = PathBuf::from(r);
        let dir = if as_path.join("results.json").exists() { as_path } else { runs.join(r) };
        if !dir.join("results.json").exists() {
            bail!(
                "`{}` has no results.json; run `cargo xtask sweep` first (runs are under `{}`)",
                dir.display(),
                runs.display()
            );
        }
        return Ok(dir);
    }
    if let Some(cmds) = &ctx.config.sweep.commands {
        if let Some(stem) = cmds.file_stem() {
            let dir = runs.join(super::sweep::sanitize_name(&stem.to_string_lossy()));
            if dir.join("results.json").exists() {
                return Ok(dir);
            }
        }
    }
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir(runs) {
        for e in entries.flatten() {
            let results = e.path().join("results.json");
            if let Ok(meta) = std::fs::metadata(&results) {
                let t = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                if newest.as_ref().is_none_or(|(nt, _)| t > *nt) {
                    newest = Some((t, e.path()));
                }
            }
        }
    }
    newest.map(|(_, p)| p).ok_or_else(|| {
        anyhow::anyhow!("no run with results.json under `{}`; run `cargo xtask sweep` first", runs.display())
    })
}

pub fn settings(ctx: &Ctx) -> Settings {
    let c = &ctx.config;
    Settings {
        pins: Default::default(),
        low_parallelism: c.heuristics.low_parallelism,
        folds: c.analyze.folds,
        max_rungs: c.analyze.max_rungs,
        peak_flops: c.analyze.peak_flops,
        peak_bytes_per_s: c.analyze.peak_bytes_per_s,
        names: crate::core::workload::Heuristic::ALL.iter().map(|&h| (h, c.heuristics.names(h).clone())).collect(),
    }
}

/// The heuristic file at the tuned revision, from the checkout the sweep used.
pub fn tuned_source(ctx: &Ctx, results: &Results) -> Result<String> {
    let checkout = Path::new(&results.target.checkout);
    let checkout = if checkout.exists() { checkout.to_path_buf() } else { ctx.config.target.iree.clone() };
    let repo = git::open(&checkout)?;
    let oid = git2::Oid::from_str(&results.target.commit)
        .with_context(|| format!("results.json names a bad commit `{}`", results.target.commit))?;
    if repo.find_commit(oid).is_err() {
        bail!(
            "the sweep's revision {} is not in `{}` any more (the checkout was replaced or \
             rewritten); rerun `cargo xtask sweep`",
            &results.target.commit[..results.target.commit.len().min(12)],
            checkout.display()
        );
    }
    git::read_file(&repo, oid, &results.target.heuristic_file)
}

/// Writes the analysis files; returns the analysis and patches.
pub fn write_outputs(ctx: &Ctx, run_dir: &Path, results: &Results) -> Result<(Analysis, Vec<HeuristicPatch>)> {
    let source = tuned_source(ctx, results)?;
    // A validation of these results that refined the rule pinned shapes to
    // their baseline split: analyse with the same pins, so the report and
    // the diff are those of the validated rule.
    let validation =
        store::read_json::<crate::core::validation::Validation>(&run_dir.join("validation/validation.json"))
            .ok()
            .filter(|v| v.target_commit == results.target.commit && v.commands_sha256 == results.commands.sha256);
    let mut settings = settings(ctx);
    if let Some(last) = validation.as_ref().and_then(|v| v.rounds.last()) {
        settings.pins = last.pins.iter().map(|&s| (s, crate::core::fit::Pin::Baseline)).collect();
    }
    let (mut a, patches) = analysis::analyze(results, &source, &settings);
    // Keep the validation if it validated exactly these patches.
    if let Some(v) = validation {
        if v.patch_sha256 == patch_fingerprint(&patches) {
            a.validation = Some(serde_json::to_value(&v)?);
        }
    }
    render(run_dir, results, &a)?;
    for p in &patches {
        store::write_atomic(&run_dir.join(format!("recommended-{}.diff", p.heuristic)), p.diff.as_bytes())?;
    }
    Ok((a, patches))
}

/// Writes analysis.json, report.md and report.html.
pub fn render(run_dir: &Path, results: &Results, a: &Analysis) -> Result<()> {
    store::write_json(&run_dir.join("analysis.json"), a)?;
    let md = report::markdown(a);
    store::write_atomic(&run_dir.join("report.md"), md.as_bytes())?;
    store::write_atomic(&run_dir.join("report.html"), html::page(results, a, &md).as_bytes())?;
    Ok(())
}

/// Identifies a set of recommended patches (validation is tied to it).
pub fn patch_fingerprint(patches: &[HeuristicPatch]) -> String {
    let joined: String = patches.iter().map(|p| p.diff.as_str()).collect();
    super::sweep::sha256_hex(joined.as_bytes())
}

pub fn run(ctx: &Ctx, args: &AnalyzeArgs) -> Result<()> {
    let run_dir = find_run(ctx, args.run.as_deref())?;
    let results: Results = store::read_json(&run_dir.join("results.json"))?;
    let start = Instant::now();
    let (a, patches) = write_outputs(ctx, &run_dir, &results)?;
    let elapsed = start.elapsed();
    for h in &a.heuristics {
        match h.strategies.iter().find(|e| e.strategy == h.recommended) {
            Some(e) if h.rule.is_some() => eprintln!(
                "{}: {} — cross-validated geomean speedup {} (fitted {}), {} vs the original toolkit",
                h.heuristic,
                e.name,
                report::fmt_x(e.cv_geomean),
                report::fmt_x(e.fitted_geomean),
                report::fmt_x(h.vs_original_toolkit)
            ),
            _ => eprintln!("{}: no change recommended ({})", h.heuristic, h.error.as_deref().unwrap_or("")),
        }
    }
    if let Some(w) = &a.noop_warning {
        eprintln!("warning: {w}");
    }
    for p in &patches {
        eprintln!("recommended diff: {}", run_dir.join(format!("recommended-{}.diff", p.heuristic)).display());
    }
    eprintln!(
        "report: {} (analysed {} shapes x {} candidates in {} ms)",
        run_dir.join("report.md").display(),
        results.shapes.len(),
        results.candidates.len(),
        elapsed.as_millis()
    );
    Ok(())
}
