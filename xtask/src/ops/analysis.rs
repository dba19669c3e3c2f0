//! Analysing a run and writing what the analysis produced: `analysis.json`,
//! `report.md`, `report.html` and the recommended diffs. `analyze` and
//! `validate` both end here, so the report always shows the rule that was
//! (or will be) validated. The thinking is [`crate::core::analysis`]'s.

use super::inputs::{self, Tuned};
use super::rundir::RunDir;
use crate::config::Config;
use crate::core::analysis::{self, Analysis, HeuristicPatch};
use crate::core::digest::sha256_hex;
use crate::core::fit::{Pin, Pins};
use crate::core::results::Results;
use crate::core::workload::Heuristic;
use crate::core::{html, report};
use crate::infra::store;
use anyhow::{Context, Result};

/// Analyses `results` with `pins` (shapes validation saw regress).
pub(crate) fn analyze(
    config: &Config,
    results: &Results,
    tuned: &Tuned,
    pins: &Pins,
) -> (Analysis, Vec<HeuristicPatch>) {
    let mut settings = inputs::settings(config);
    settings.pins = pins.clone();
    settings.lit = tuned.lit.clone();
    settings.retarget = tuned.retarget.clone();
    settings.series = tuned.series.clone();
    analysis::analyze(results, &tuned.source, &settings)
}

/// Identifies a set of recommended patches (validation is tied to it).
pub(crate) fn patch_fingerprint(patches: &[HeuristicPatch]) -> String {
    let joined: String = patches.iter().map(|p| p.diff.as_str()).collect();
    sha256_hex(joined.as_bytes())
}

/// Analyses a finished sweep as its validation left it: with the shapes a
/// refining validation pinned, and that validation kept in the report when
/// it validated exactly these patches. Also returns the inputs it read.
pub(crate) fn analyze_run(
    config: &Config,
    run: &RunDir,
    results: &Results,
) -> Result<(Analysis, Vec<HeuristicPatch>, Tuned)> {
    let tuned = inputs::tuned(config, run, results)?;
    let validation = run.read_validation(results)?;
    let pins: Pins = validation
        .as_ref()
        .and_then(|v| v.rounds.last())
        .map(|last| last.pins.iter().map(|&s| (s, Pin::Baseline)).collect())
        .unwrap_or_default();
    let (mut a, patches) = analyze(config, results, &tuned, &pins);
    a.validation = validation.filter(|v| v.patch_sha256 == patch_fingerprint(&patches));
    Ok((a, patches, tuned))
}

/// Writes analysis.json, report.md and report.html.
pub(crate) fn render(run: &RunDir, results: &Results, a: &Analysis) -> Result<()> {
    store::write_json(&run.analysis_file(), a)?;
    let md = report::markdown(a);
    store::write_atomic(&run.report_md(), md.as_bytes())?;
    store::write_atomic(&run.report_html(), html::page(results, a, &md).as_bytes())?;
    Ok(())
}

/// Writes `recommended-<heuristic>.diff` per patch.
pub(crate) fn write_recommended(run: &RunDir, patches: &[HeuristicPatch]) -> Result<()> {
    for h in Heuristic::ALL {
        let path = run.recommended_diff(h);
        match patches.iter().find(|p| p.heuristic == h) {
            Some(p) => store::write_atomic(&path, p.diff.as_bytes())?,
            // An earlier analysis's diff would read as this one's.
            None if path.exists() => {
                std::fs::remove_file(&path).with_context(|| format!("cannot remove `{}`", path.display()))?
            }
            None => {}
        }
    }
    Ok(())
}
