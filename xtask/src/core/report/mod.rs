//! `report.md`: the analysis as a document, in the original toolkit's six
//! parts plus the strategy table, failures and gaps.
//!
//! Every figure comes from the [`Analysis`]; this module only formats, with
//! the same rounding ([`crate::core::numfmt`]) everywhere, so the report and
//! `analysis.json` agree. It also writes the other Markdown a user or a
//! reviewer reads: the validation part, the patch message and the PR
//! description.

mod patch;
pub(crate) mod provenance;
#[cfg(test)]
mod tests;
mod validation;

#[cfg(test)]
use validation::part6;

pub(crate) use patch::{commit_body, pr_description, pr_series, series_title, subject, SeriesPart};

use crate::core::analysis::{choice_name, Analysis, Fitted, HeuristicAnalysis};
use crate::core::audit;
use crate::core::numfmt::{pct as fmt_pct, short as short_n, us as fmt_us, x as fmt_x};
use crate::core::workload::short_command;
use std::fmt::Write;

fn short(s: &str) -> &str {
    short_n(s, 10)
}

/// A shape in a table: its command, shortened ([`short_command`]), as code.
/// `report.html` shows the full command on hover.
fn shape_cell(a: &Analysis, shape: usize) -> String {
    match a.commands.get(shape) {
        Some(c) => format!("`{}`", short_command(c).replace('|', "\\|")),
        None => format!("shape {shape}"),
    }
}

fn heuristic_section(out: &mut String, a: &Analysis, h: &HeuristicAnalysis) {
    let _ = writeln!(out, "### {} heuristic (`{}`, {} style)\n", h.heuristic, h.function, h.style);
    if h.strategies.is_empty() {
        let _ = writeln!(out, "Not analysed: {}\n", h.error.as_deref().unwrap_or("no data"));
        return;
    }
    let _ = writeln!(
        out,
        "{} shapes; limits considered (swept, and the current ladder's values, whose runtime is known wherever they give a measured split): {}. Cross-validation: {} folds over shapes.\n",
        h.shapes,
        h.limits.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", "),
        a.folds
    );
    let _ = writeln!(
        out,
        "A shape vetoes a rule when the rule makes it slower by more than {} and significantly so, at a false discovery rate of {} over the heuristic's shapes (one-sided test on the medians' standard errors, Benjamini-Hochberg).\n",
        fmt_pct(crate::core::fit::MIN_REGRESSION_EFFECT),
        fmt_pct(crate::core::validation::FDR)
    );
    let _ = writeln!(out, "| strategy | fitted geomean | cross-validated geomean | worst shape (CV) | regressions (fitted) | oracle gain captured (CV) |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for e in &h.strategies {
        let mark = if e.strategy == h.recommended { " **(recommended)**" } else { "" };
        let _ = writeln!(
            out,
            "| {}{mark} | {} | {} | {} | {} | {} |",
            e.name,
            fmt_x(e.fitted_geomean),
            fmt_x(e.cv_geomean),
            fmt_x(e.cv_worst),
            e.fitted_regressions,
            fmt_pct(e.cv_oracle_fraction)
        );
    }
    pin_cost(out, a, h);
    let _ = writeln!(out, "\nOracle (best measured choice per shape): {} geomean speedup.", fmt_x(h.oracle_geomean));
    let delta = h.vs_original_toolkit - 1.0;
    let _ = writeln!(
        out,
        "Recommended vs the original toolkit's method, cross-validated: {} ({}{}).\n",
        fmt_x(h.vs_original_toolkit),
        if delta >= 0.0 { "+" } else { "" },
        fmt_pct(delta)
    );
    match &h.rule {
        Some(rule) => {
            let _ = writeln!(
                out,
                "Recommended rule:\n\n{}",
                rule.describe("outputSize", &h.constants_before, &h.early_returns)
            );
            evidence(out, h);
            if let Some(cpp) = &h.cpp {
                let _ = writeln!(out, "```cpp\n{cpp}\n```\n");
            }
            if !h.diff.is_empty() {
                let _ = writeln!(out, "<details><summary>diff</summary>\n\n```diff\n{}```\n</details>\n", h.diff);
            }
        }
        None => {
            let _ = writeln!(out, "No change recommended.\n");
        }
    }
    if let Some(e) = &h.error {
        let _ = writeln!(out, "> {e}\n");
    }
    stability_section(out, h);
}

/// What the recommended strategy's repair pinned, and what that cost
/// beside the same strategy unrepaired (which some shape vetoes).
fn pin_cost(out: &mut String, a: &Analysis, h: &HeuristicAnalysis) {
    let Some(rec) = h.strategies.iter().find(|e| e.strategy == h.recommended) else { return };
    let unrepaired = rec.strategy.unrepaired().and_then(|u| h.strategies.iter().find(|e| e.strategy == u));
    let (Some(u), false) = (unrepaired, rec.pinned.is_empty()) else { return };
    let shapes: Vec<String> = rec.pinned.iter().map(|&s| shape_cell(a, s)).collect();
    let _ = writeln!(
        out,
        "\nPinned, not abandoned: the recommended strategy keeps {} shape(s) at a limit that does not regress them ({}); unrepaired, {} fits {} with {} regression(s), so the pins cost {} of the fitted geomean ({} cross-validated).",
        rec.pinned.len(),
        shapes.join(", "),
        u.name,
        fmt_x(u.fitted_geomean),
        u.fitted_regressions,
        fmt_pct(1.0 - rec.fitted_geomean / u.fitted_geomean),
        fmt_pct(1.0 - rec.cv_geomean / u.cv_geomean)
    );
}

/// The stability figure after a verdict line: `; **unstable**: ...`.
fn stability_note(h: &HeuristicAnalysis) -> String {
    match &h.stability {
        Some(s) if s.stable => format!("; {}", s.words()),
        Some(s) => format!("; **{}**", s.words()),
        None => String::new(),
    }
}

/// How often the recommendation, its rungs and its thresholds come back
/// when the repeats are resampled.
fn stability_section(out: &mut String, h: &HeuristicAnalysis) {
    let Some(s) = &h.stability else { return };
    let list = |v: &[f64]| v.iter().map(|f| fmt_pct(*f)).collect::<Vec<_>>().join(", ");
    let _ = write!(
        out,
        "Stability ({} bootstrap resamples of each measurement's repeats, the recommended strategy refitted on each): the recommendation comes back in {}",
        s.resamples,
        fmt_pct(s.recommendation)
    );
    if !s.rungs.is_empty() {
        let _ = write!(out, "; each rung (limit and buckets): {}", list(&s.rungs));
    }
    if !s.thresholds.is_empty() {
        let _ = write!(out, "; each outputSize threshold (within its rounding interval): {}", list(&s.thresholds));
    }
    let _ = writeln!(
        out,
        ".{}\n",
        if s.stable { "" } else { " **Unstable**: measure again with more repeats before relying on it." }
    );
}

/// The evidence region, how the patch was written, and the behaviour
/// audit of one heuristic's patch.
fn evidence(out: &mut String, h: &HeuristicAnalysis) {
    let Some(au) = &h.audit else {
        let _ = writeln!(
            out,
            "Measured: outputSize {} to {}, reductionSize {} to {}.\n",
            h.output_range.0, h.output_range.1, h.reduction_range.0, h.reduction_range.1
        );
        return;
    };
    let range = |q: &str| au.hull.ranges.get(q).map(|(a, b)| format!("[{a}, {b}]")).unwrap_or_else(|| "?".into());
    let kept = match h.kept_shapes {
        0 => String::new(),
        1 => "; 1 measured shape is decided by a rung of the current code the retune keeps as it is".into(),
        n => format!("; {n} measured shapes are decided by rungs of the current code the retune keeps as they are"),
    };
    let _ = writeln!(
        out,
        "Evidence region: the measured shapes span outputSize {} to {} and reductionSize {} to {}. The patch may change decisions only for outputSize in {} and reductionSize in {} (the measured range, widened to readable thresholds at most 2x beyond it) and keeps the current code everywhere else{kept}.\n",
        h.output_range.0,
        h.output_range.1,
        h.reduction_range.0,
        h.reduction_range.1,
        range("outputSize"),
        range("reductionSize")
    );
    if let Some(e) = &h.emitted {
        let how = if e.how == "edit" {
            "an in-place edit of the current code".to_string()
        } else {
            format!("a rewrite of the ladder ({})", e.note)
        };
        let rewrite =
            e.rewrite_lines.map(|(a, r)| format!(" (a rewrite of the whole ladder: +{a} -{r})")).unwrap_or_default();
        let _ = writeln!(out, "Written as {how}: +{} -{} lines{rewrite}.\n", e.lines.0, e.lines.1);
    }
    let kinds: Vec<String> = au.evaluated.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let _ = writeln!(
        out,
        "Behaviour audit (the old and the new code evaluated on {}; {}): {}\n",
        kinds.join(", "),
        if au.other_target_audited { "both targets" } else { "the code does not tell the targets apart" },
        au.statement(h.heuristic)
    );
    let _ = writeln!(out, "| ops | changed, measured | changed, between measured shapes | changed beyond the measured range | changed on the target not measured |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for (kind, c) in &au.by_kind {
        let _ =
            writeln!(out, "| {kind} | {} | {} | {} | {} |", c.measured, c.interpolated, c.outside_hull, c.other_target);
    }
    let _ = writeln!(out);
    let unbacked: Vec<&audit::Change> = au
        .examples
        .iter()
        .filter(|c| matches!(c.class, audit::Class::OutsideHull | audit::Class::OtherTarget))
        .collect();
    if !unbacked.is_empty() {
        let _ = writeln!(out, "Changed decisions no measurement backs (examples):\n");
        for c in unbacked {
            let what = match &c.origin {
                audit::Origin::Shape { id, .. } => format!("shape {id}"),
                audit::Origin::Lit { file, function } => format!("`{file}` `@{function}`"),
                audit::Origin::Grid { command } => format!("`{command}`"),
            };
            let _ = writeln!(
                out,
                "- {what} ({} target): {:?} -> {:?}; {}",
                audit::target_name(c.low),
                c.old.tile_sizes,
                c.new.tile_sizes,
                c.note
            );
        }
        let _ = writeln!(out);
    }
}

/// Renders `report.md`.
pub(crate) fn markdown(a: &Analysis) -> String {
    let mut out = String::new();
    summary(&mut out, a);
    part1_limits(&mut out, a);
    part2_baseline(&mut out, a);
    part3_clusters(&mut out, a);
    part4_recommendations(&mut out, a);
    part5_top(&mut out, a);
    part6_validation(&mut out, a);
    failures(&mut out, a);
    unchanged(&mut out, a);
    roofline(&mut out, a);
    per_shape(&mut out, a);
    out
}

/// The title, the run's inputs, the summary per heuristic and the warnings.
fn summary(out: &mut String, a: &Analysis) {
    let _ = writeln!(out, "# Split-reduction sweep `{}`\n", a.run);
    let _ = writeln!(
        out,
        "Target: `{}` at `{}` ({}). Commands: {} shapes (sha256 {}). Device {}, column `{}`, {} repeat(s) per candidate. Measured noise: {} median relative ({}).\n",
        a.heuristic_file,
        a.target_rev,
        short(&a.target_commit),
        a.shapes,
        short(&a.commands_sha256),
        a.device,
        a.column,
        a.repeats,
        fmt_pct(a.noise),
        a.noise_source
    );
    if !a.provenance.is_empty() {
        let _ = writeln!(out, "Provenance:\n");
        for f in &a.provenance {
            let _ = writeln!(out, "- {f}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Summary\n");
    for h in &a.heuristics {
        match h.strategies.iter().find(|e| e.strategy == h.recommended) {
            Some(e) if h.rule.is_some() => {
                let _ = writeln!(
                    out,
                    "- **{}**: {} recommended; cross-validated geomean speedup {} (fitted {}), worst shape {}, {} of the oracle's gain; {} vs the original toolkit's method{}.",
                    h.heuristic,
                    e.name,
                    fmt_x(e.cv_geomean),
                    fmt_x(e.fitted_geomean),
                    fmt_x(e.cv_worst),
                    fmt_pct(e.cv_oracle_fraction),
                    fmt_x(h.vs_original_toolkit),
                    stability_note(h)
                );
                if let Some(err) = &h.error {
                    let _ = writeln!(out, "  No patch is written: {err}.");
                }
            }
            _ => {
                let _ = writeln!(
                    out,
                    "- **{}**: no change recommended ({}){}.",
                    h.heuristic,
                    h.error.as_deref().unwrap_or("the current code is best"),
                    stability_note(h)
                );
            }
        }
    }
    per_file(out, a);
    if let Some(w) = &a.noise_warning {
        let _ = writeln!(out, "\n> **Warning:** {w}.");
    }
    if let Some(w) = &a.noop_warning {
        let _ = writeln!(out, "\n> **Warning:** {w}");
    }
    if let Some(w) = a.drift.as_ref().and_then(|d| d.warning.as_ref()) {
        let _ = writeln!(out, "\n> **Warning:** {w}");
    }
    if !a.failures.is_empty() || !a.unmeasured_shapes.is_empty() {
        let _ = writeln!(
            out,
            "\n> {} failed measurement(s), {} shape(s) measured by no candidate: see \"Failures and gaps\".",
            a.failures.len(),
            a.unmeasured_shapes.len()
        );
    }
}

/// A file's fitted figures in a table cell.
fn fitted_cell(f: Option<&Fitted>) -> String {
    match f {
        Some(f) => format!("{} (worst {}, {} regressed)", fmt_x(f.geomean), fmt_x(f.worst), f.regressed),
        None => "-".into(),
    }
}

/// The recommendation's figures per commands file beside the totals, when
/// the run measured several files.
fn per_file(out: &mut String, a: &Analysis) {
    let Some(total) = a.files_total.as_ref().filter(|_| a.files.len() > 1) else { return };
    let _ = writeln!(
        out,
        "\n### Per commands file
"
    );
    let _ = writeln!(
        out,
        "Fitted (in-sample) geomean speedup of the recommended rules on each file's shapes, worst shape and \
         shapes slower beyond the noise: a rule that helps one file's model and hurts another's shows here.\n"
    );
    let heuristics: Vec<_> = a.heuristics.iter().map(|h| h.heuristic).collect();
    let names: Vec<String> = heuristics.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "| file | shapes | sha256 | {} | all |", names.join(" | "));
    let _ = writeln!(out, "|---|---:|---|{}---|", "---|".repeat(names.len()));
    for f in a.files.iter().chain(std::iter::once(total)) {
        let cells: Vec<String> =
            heuristics.iter().map(|h| fitted_cell(f.heuristics.iter().find(|(k, _)| k == h).map(|(_, x)| x))).collect();
        let name = if std::ptr::eq(f, total) { format!("**{}**", f.file) } else { format!("`{}`", f.file) };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            f.shapes,
            short(&f.sha256),
            cells.join(" | "),
            fitted_cell(f.total.as_ref())
        );
    }
}

/// Part 1: runtime statistics per candidate.
fn part1_limits(out: &mut String, a: &Analysis) {
    let _ = writeln!(out, "\n## Part 1: Performance summary by limit\n");
    let _ = writeln!(out, "Runtimes in microseconds per launch (medians over repeats). Failed measurements are listed below, never averaged in.\n");
    // The drift column only when the sweep anchored its processes.
    let anchored = a.candidates.iter().any(|c| c.scale.is_some());
    let (head, rule) = if anchored { (" drift (anchors) |", "---|") } else { ("", "") };
    let _ = writeln!(out, "| candidate | status | measured | failed | geomean | mean | median | p95 | total |{head}");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|{rule}");
    for c in &a.candidates {
        let status = c.status.to_string();
        let figures = match &c.summary {
            Some(s) => format!(
                "{} | {} | {} | {} | {} | {} | {}",
                c.measured,
                c.failed,
                fmt_us(s.geomean),
                fmt_us(s.mean),
                fmt_us(s.median),
                fmt_us(s.p95),
                fmt_us(s.total)
            ),
            None => format!("0 | {} | - | - | - | - | -", c.failed),
        };
        let drift = if anchored {
            format!(" {} |", c.scale.as_ref().map(|s| s.describe()).unwrap_or_else(|| "-".into()))
        } else {
            String::new()
        };
        let _ = writeln!(out, "| {} | {status} | {figures} |{drift}", c.name);
    }
    if anchored {
        let _ = writeln!(
            out,
            "\nDrift: each benchmark process's samples were divided by how much slower its anchor shapes ran than on the baseline's scale (README \"Drift\"); a candidate no shape can anchor is assumed to have drifted by the anchored processes' mean drift, which is divided out, and its shapes veto a rule only beyond {} standard errors (±) of that assumption.",
            crate::core::fit::SCALE_Z
        );
    }
    let shared: usize = a.candidates.iter().map(|c| c.shared).sum();
    if shared > 0 {
        let _ = writeln!(
            out,
            "\n{shared} of the measured (shape, candidate) pairs share the measurement of a candidate that predicts the same split for the shape, so {} benchmark runs were saved (`sweep --no-dedup` measures them all).",
            shared * a.repeats as usize
        );
    }
    if let Some(f) = &a.compiler_features {
        compiler_features(out, f);
    }
    let pairs: usize = a.candidates.iter().filter(|c| c.limit.is_some()).map(|c| c.remeasured).sum();
    if pairs > 0 {
        let baseline: usize = a.candidates.iter().filter(|c| c.limit.is_none()).map(|c| c.remeasured).sum();
        let samples: usize = a.candidates.iter().map(|c| c.extra_samples).sum();
        let _ = writeln!(
            out,
            "\n{pairs} (shape, candidate) pairs whose regression evidence was ambiguous (not a veto, but within noise of one) were measured again in fresh processes, and the baseline's side of {baseline} shape(s): {samples} more benchmark runs (`sweep --no-remeasure` skips them)."
        );
    }
}

/// Where the features came from: the compiler's sizes of each shape
/// against the parsed ones ([`crate::core::decisionlog::features`]).
fn compiler_features(out: &mut String, f: &crate::core::decisionlog::FeatureLog) {
    let compared = f.shapes - f.not_compiled;
    let _ = write!(
        out,
        "\nFeatures: each of {compared} shapes was compiled by a benchmark process of its own with the probe build (early returns off), so what its compiler logged is that shape's: `outputSize`, `reductionSize` and the integer locals the heuristic function computed. They confirmed the parsed features of {} shape(s)",
        f.confirmed
    );
    if !f.replaced.is_empty() {
        let _ = write!(out, " and replaced those of {}, which the rules are fitted on", f.replaced.len());
    }
    let _ = writeln!(out, ".");
    if f.untuned > 0 {
        let _ = writeln!(out, "{} shape(s) reach no tuned ladder, as predicted.", f.untuned);
    }
    if f.not_compiled > 0 {
        let _ = writeln!(
            out,
            "{} shape(s) were not compiled (their processes failed) and keep their parsed sizes.",
            f.not_compiled
        );
    }
    for r in &f.replaced {
        let _ = writeln!(out, "- `{}`: {}", r.command, r.describe());
    }
    for finding in &f.findings {
        let _ = writeln!(out, "- {finding}");
    }
}

/// Part 2: every candidate against the baseline.
fn part2_baseline(out: &mut String, a: &Analysis) {
    let _ = writeln!(out, "\n## Part 2: Baseline comparison\n");
    let _ = writeln!(out, "Improved/regressed means beyond the measured noise of both sides (2.5 standard errors of the log-ratio of medians, at least 0.5%).\n");
    if let Some(d) = &a.drift {
        let _ = writeln!(
            out,
            "Drift check: the baseline, benchmarked again after every candidate, measured {} of its first time (geomean over {} shapes; {} moved beyond noise).\n",
            fmt_x(d.geomean),
            d.shapes,
            d.moved
        );
    }
    let _ = writeln!(out, "| candidate | compared | improved | neutral | regressed | win rate | geomean speedup | total speedup | best | worst | splits changed (predicted) |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in &a.candidates {
        if let Some(v) = &c.vs_baseline {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.name,
                v.compared,
                v.improved,
                v.neutral,
                v.regressed,
                fmt_pct(v.win_rate),
                fmt_x(v.geomean_speedup),
                fmt_x(v.total_speedup),
                fmt_x(v.max_speedup),
                fmt_x(v.worst_speedup),
                c.predicted_changes
            );
        }
    }
}

/// Part 3: shapes clustered by their best limit.
fn part3_clusters(out: &mut String, a: &Analysis) {
    let _ = writeln!(out, "\n## Part 3: Clusters by best limit\n");
    for h in &a.heuristics {
        if h.clusters.is_empty() {
            continue;
        }
        let _ = writeln!(out, "**{}**\n", h.heuristic);
        let _ =
            writeln!(out, "| best limit | shapes | outputSize range | reductionSize range | geomean speedup of best |");
        let _ = writeln!(out, "|---:|---:|---|---|---:|");
        for c in &h.clusters {
            let _ = writeln!(
                out,
                "| {} | {} | {} - {} | {} - {} | {} |",
                c.limit,
                c.count,
                c.output_min,
                c.output_max,
                c.reduction_min,
                c.reduction_max,
                fmt_x(c.geomean_speedup)
            );
        }
        let _ = writeln!(out);
    }
}

/// Part 4: the strategies, the recommended rule and its C++.
fn part4_recommendations(out: &mut String, a: &Analysis) {
    let _ = writeln!(out, "## Part 4: C++ recommendations\n");
    for h in &a.heuristics {
        heuristic_section(out, a, h);
    }
}

/// Part 5: the largest measured speedups.
fn part5_top(out: &mut String, a: &Analysis) {
    let _ = writeln!(out, "## Part 5: Top {} speedups\n", a.top_speedups.len());
    let _ = writeln!(out, "| # | command | best | baseline (us) | best (us) | speedup |");
    let _ = writeln!(out, "|---:|---|---|---:|---:|---:|");
    for (i, t) in a.top_speedups.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} |",
            i + 1,
            t.command,
            t.best,
            fmt_us(t.baseline),
            fmt_us(t.runtime),
            fmt_x(t.speedup)
        );
    }
}

/// Part 6: the validation, or how to run it.
fn part6_validation(out: &mut String, a: &Analysis) {
    let _ = writeln!(out, "\n## Part 6: Validation\n");
    match &a.validation {
        Some(v) => {
            let _ = writeln!(out, "{}", validation::part6(v));
        }
        None => {
            let _ = writeln!(out, "Not validated yet: run `cargo xtask validate {}`.", a.run);
        }
    }
}

/// Failed measurements, gaps, skipped lines and imputed values.
fn failures(out: &mut String, a: &Analysis) {
    let _ = writeln!(out, "\n## Failures and gaps\n");
    if a.failures.is_empty()
        && a.partial_shapes.is_empty()
        && a.unmeasured_shapes.is_empty()
        && a.skipped_lines.is_empty()
    {
        let _ = writeln!(out, "None: every shape was measured by every candidate that ran.");
    }
    for (file, line, why) in &a.skipped_lines {
        match file.as_str() {
            "" => writeln!(out, "- commands file line {line} skipped: {why}"),
            file => writeln!(out, "- {file} line {line} skipped: {why}"),
        }
        .ok();
    }
    for c in a.candidates.iter().filter(|c| c.error.is_some()) {
        let _ = writeln!(out, "- candidate {} ({}): {}", c.name, c.status, c.error.as_deref().unwrap_or(""));
    }
    for f in &a.failures {
        let _ = writeln!(out, "- line {} `{}` at {}: {}", f.line, f.command, f.candidate, f.reasons.join("; "));
    }
    for (shape, missing) in &a.partial_shapes {
        let _ = writeln!(out, "- shape {shape} not measured at: {}", missing.join(", "));
    }
    for shape in &a.unmeasured_shapes {
        let _ = writeln!(out, "- shape {shape} measured by no candidate (left out of the fit)");
    }
    for h in &a.heuristics {
        for (shape, why) in &h.excluded {
            let _ = writeln!(out, "- {} shape {shape} left out of the fit: {why}", h.heuristic);
        }
        if !h.imputed.is_empty() {
            let _ = writeln!(
                out,
                "- {}: {} (shape, limit) measurement(s) missing, counted as twice the shape's worst time in the fit",
                h.heuristic,
                h.imputed.len()
            );
        }
    }
}

/// Shapes that no candidate changes (benchmark time that tells nothing).
fn unchanged(out: &mut String, a: &Analysis) {
    if !a.unchanged_shapes.is_empty() {
        let _ = writeln!(out, "\n## Shapes no candidate changes\n");
        let _ = writeln!(out, "{} shape(s) get the same split from every candidate as from the baseline (predicted from the heuristic's code); benchmarking them costs time and tells nothing: shape ids {}.", a.unchanged_shapes.len(), a.unchanged_shapes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "));
    }
}

/// Achieved fraction of the roofline, when device peaks are configured.
fn roofline(out: &mut String, a: &Analysis) {
    if !a.roofline.is_empty() {
        let _ = writeln!(out, "\n## Roofline\n");
        let _ = writeln!(
            out,
            "Achieved fraction of the roofline time (max of flops/peak and bytes/bandwidth) per shape.\n"
        );
        let _ = writeln!(out, "| command | baseline | recommended |");
        let _ = writeln!(out, "|---|---:|---:|");
        for r in &a.roofline {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                shape_cell(a, r.shape),
                fmt_pct(r.baseline),
                r.recommended.map(fmt_pct).unwrap_or("-".into())
            );
        }
    }
}

/// The recommendation's decision for every shape.
fn per_shape(out: &mut String, a: &Analysis) {
    let _ = writeln!(out, "\n## Per-shape decisions of the recommendation\n");
    for h in &a.heuristics {
        if h.outcomes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<details><summary>{} ({} shapes)</summary>\n", h.heuristic, h.outcomes.len());
        let _ = writeln!(out, "| command | choice | runtime (us) | speedup | regressed |");
        let _ = writeln!(out, "|---|---|---:|---:|---|");
        for o in &h.outcomes {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                shape_cell(a, o.shape),
                choice_name(&o.choice),
                o.runtime.map(fmt_us).unwrap_or("-".into()),
                o.speedup.map(fmt_x).unwrap_or("-".into()),
                if o.regressed { "yes" } else { "" }
            );
        }
        let _ = writeln!(out, "\n</details>\n");
    }
}
