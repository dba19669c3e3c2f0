//! What a reviewer of the upstream change reads: the commit message of each
//! heuristic's patch (the rule, how it was fitted, the A/B table, the
//! verdict) and the PR description. The mail around the message is
//! [`crate::core::patchtext`]'s.

use super::validation::{part6_public, table};
use crate::core::analysis::{Analysis, HeuristicAnalysis, HeuristicPatch};
use crate::core::audit::target_name;
use crate::core::numfmt::short;
use crate::core::results::Results;
use crate::core::validation::{Round, Validation};
use crate::core::workload::Heuristic;
use std::fmt::Write;

/// The patch's subject line.
pub(crate) fn subject(h: Heuristic, a: &Analysis) -> String {
    // A target is named when the patch is for low-parallelism targets, or
    // one of a series (whose patches must tell themselves apart); a lone
    // default-target patch reads as IREE's own commits do.
    let target = if a.low_parallelism || a.series.is_some() {
        format!(" for {} targets", target_name(a.low_parallelism))
    } else {
        String::new()
    };
    format!("[DispatchCreation] Retune {h} split-reduction limits{target} from measurements")
}

/// What the measurements do not cover, in the words a reviewer needs: the
/// target measured, the measured ranges, and what the patched code does
/// beyond them. report.md says it at length; the patch and the PR must say
/// it too, since they are what upstream reads.
fn caveats(a: &Analysis, h: &HeuristicAnalysis) -> Option<String> {
    let au = h.audit.as_ref()?;
    let (measured, other) = (target_name(au.low), target_name(!au.low));
    let range = |q: &str| au.hull.ranges.get(q).map(|(a, b)| format!("[{a}, {b}]"));
    let series = a.series.as_ref().and_then(|s| s.other(!au.low)).filter(|_| au.other_target_audited);
    let mut out = format!(
        "Caveats: measured on {measured} targets only; {other} targets {}. \
         The measured shapes span outputSize {} to {} and reductionSize {} to {}.",
        match series {
            Some(words) => words.to_string(),
            None if au.other_target_audited => "were not benchmarked and keep their current decisions".to_string(),
            None => format!("were not benchmarked, and the code decides for them as for {measured} ones"),
        },
        h.output_range.0,
        h.output_range.1,
        h.reduction_range.0,
        h.reduction_range.1
    );
    if let (Some(o), Some(r)) = (range("outputSize"), range("reductionSize")) {
        out.push_str(&format!(
            " The rule's thresholds lie within outputSize {o} and reductionSize {r} (that range, widened to \
             readable thresholds); a decision that depends on a quantity beyond the measured range stays as \
             the current code makes it"
        ));
        out.push_str(&match au.counts.outside_hull {
            0 => format!(" (audited on {} ops: none changes).", au.evaluated.values().sum::<usize>()),
            n => format!(", except for {n} audited ops that change there (see the report)."),
        });
    }
    Some(out)
}

/// The swept limits, as the sweep command line takes them.
fn limits(results: &Results) -> Vec<String> {
    results.candidates.iter().filter_map(|c| c.limit).map(|l| l.to_string()).collect()
}

/// The commit message body of `patch`; `updates_tests` says whether the
/// patch also rewrites lit tests' pinned results.
pub(crate) fn commit_body(
    results: &Results,
    a: &Analysis,
    v: &Validation,
    last: &Round,
    patch: &HeuristicPatch,
    updates_tests: bool,
) -> String {
    let h = patch.heuristic;
    let ha = a.heuristics.iter().find(|x| x.heuristic == h);
    let summary = last
        .per_heuristic
        .iter()
        .find(|(x, _)| *x == h)
        .map(|(_, s)| s.clone())
        .unwrap_or_else(|| last.summary.clone());
    let strategy = ha.and_then(|x| x.strategies.iter().find(|e| e.strategy == x.recommended));
    let mut body = String::new();
    let _ = write!(
        body,
        "Retune the {} split-reduction heuristic ({}) from runtimes measured\non {} shapes. New rule:\n\n{}\n",
        h,
        ha.map(|x| x.function.as_str()).unwrap_or(""),
        summary.shapes,
        patch.rule.trim_end()
    );
    if let Some(au) = ha.and_then(|x| x.audit.as_ref()) {
        let _ = writeln!(body, "\n{}", au.statement(h));
    }
    if let Some(c) = ha.and_then(|h| caveats(a, h)) {
        let _ = writeln!(body, "\n{c}");
    }
    if let Some(e) = strategy {
        let _ = write!(
            body,
            "\nFitted by {} over a sweep of limits {} ({}-fold cross-validated\ngeomean speedup {:.3}x; the original toolkit's method: {:.3}x).\n",
            e.name,
            limits(results).join(", "),
            a.folds,
            e.cv_geomean,
            ha.map(|x| x.vs_original_toolkit).filter(|r| *r > 0.0).map(|r| e.cv_geomean / r).unwrap_or(1.0)
        );
    }
    let _ = write!(
        body,
        "\nValidated against the baseline in {} interleaved A/B rounds (fresh\nprocesses, per-build kernel caches) at {}:\n\n{}\n{}",
        summary.rounds,
        short(&results.target.commit, 12),
        super::provenance::list(results),
        table(&summary)
    );
    // One list item per finding, so that wrapping the message keeps them
    // apart.
    let _ = writeln!(body, "\nValidation verdict: {}\n", if v.ready { "ready" } else { "not ready" });
    for r in &v.reasons {
        let _ = writeln!(body, "- {r}");
    }
    for (_, n) in v.notes.iter().filter(|(x, _)| *x == h) {
        let _ = writeln!(body, "- Note: {n}.");
    }
    if let Some(t) = &v.tests {
        let _ = writeln!(
            body,
            "- Compiler tests (`{}`): {}{}.",
            t.portable,
            if t.passed { "pass" } else { "fail" },
            if updates_tests { "; pinned results updated in this patch" } else { "" }
        );
    }
    let numerics = if !v.numerics_checked {
        "not checked (the benchmark does not verify them)"
    } else if v.numerics_failed.is_empty() {
        "pass for every shape"
    } else {
        "FAIL for some shapes"
    };
    let _ = writeln!(body, "- Numerics: {numerics}.");
    let _ =
        write!(body, "\nMeasured by split-reduction-tuner {} (run `{}`).\n", crate::core::TOOL_VERSION, results.run);
    body
}

/// The PR description of all the run's patches.
pub(crate) fn pr_description(results: &Results, a: &Analysis, v: &Validation, patches: &[HeuristicPatch]) -> String {
    let mut md = format!("# Retune split-reduction heuristics (`{}`)\n\n", results.run);
    md.push_str("## Summary\n\n");
    for p in patches {
        let _ = write!(md, "### {}\n\n{}\n", p.heuristic, p.rule);
        let audit = a.heuristics.iter().find(|x| x.heuristic == p.heuristic).and_then(|x| x.audit.as_ref());
        if let Some(au) = audit {
            let _ = write!(md, "{}\n\n", au.statement(p.heuristic));
        }
        if let Some(c) = a.heuristics.iter().find(|x| x.heuristic == p.heuristic).and_then(|h| caveats(a, h)) {
            let _ = write!(md, "{c}\n\n");
        }
    }
    let _ = write!(
        md,
        "## Method\n\nA sweep of `limitParallelLoops` values (each a build of `{}` with the limit pinned and the threshold early returns disabled) over {} shapes from `{}`, benchmarked with iree-boo-driver; rules fitted by exact dynamic programming on `outputSize` with `reductionSize` buckets, chosen by {}-fold cross-validation, never regressing a measured shape beyond noise.\n\n",
        results.target.heuristic_file,
        results.shapes.len(),
        results.files().iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join("`, `"),
        a.folds
    );
    let _ = write!(md, "## Provenance\n\n{}\n", super::provenance::list(results));
    let _ = write!(md, "## Validation\n\n{}\n", part6_public(v));
    let _ = write!(md, "## Reproduce\n\n{}", super::provenance::reproduce(results, Some(v)));
    md
}

/// The start of a series' PR description.
pub(crate) fn series_title(first: &str) -> String {
    format!("# Retune split-reduction heuristics (`{first}`): ")
}

/// One target's part of a series' PR description: its target (true:
/// low-parallelism), its run, and its own description (`None`: it
/// recommends no change).
pub(crate) struct SeriesPart {
    pub(crate) low: bool,
    pub(crate) run: String,
    pub(crate) description: Option<String>,
}

/// The PR description of a series of several targets' patches: what the
/// series guarantees, then each target's description under its own
/// heading (its headings one level down).
pub(crate) fn pr_series(first: &str, parts: &[SeriesPart]) -> String {
    let names: Vec<&str> = parts.iter().map(|p| target_name(p.low)).collect();
    let mut md = format!("{}{} targets\n\n", series_title(first), names.join(" and "));
    md.push_str(
        "Each target is retuned from its own measurements (a sweep and an A/B validation on a GPU of that kind), \
         in patches of its own, one per heuristic, applied in this order. Each patch changes only its own \
         target's decisions (audited on every workload shape, lit case and a grid far beyond the measured \
         range), so every target keeps the decisions its own patches give it.\n",
    );
    let mut reproduce = None;
    for part in parts {
        let mut name = target_name(part.low).to_string();
        if let Some(first) = name.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        let _ = write!(md, "\n## {name} targets (run `{}`)\n\n", part.run);
        let Some(text) = &part.description else {
            md.push_str("No change recommended: the current code is kept for these targets.\n");
            continue;
        };
        let (body, own) = split_reproduce(text);
        // The sweep is named after its first run, whichever part says how.
        reproduce = reproduce.or(own.map(|r| r.replace(&part.run, first)));
        md.push_str(demote(&body).trim_end());
        md.push('\n');
    }
    // One sweep measured every target: its commands reproduce the series
    // (each part's own would sweep one target, on the code unstacked).
    if let Some(r) = reproduce {
        md.push_str("\n## Reproduce\n\n");
        for line in r.lines().filter(|l| !l.starts_with("With `heuristics.low_parallelism = true`")) {
            md.push_str(line);
            md.push('\n');
        }
        let listed: Vec<String> = parts.iter().map(|p| format!("\"{}\"", target_key(p.low))).collect();
        if !md.ends_with("\n\n") {
            md.push('\n');
        }
        let _ = writeln!(
            md,
            "With `heuristics.targets = [{}]` in the configuration and a `[bench.targets.<target>]` table per \
             target (the devices and environment of a GPU of that kind): the sweep measures each target in a run \
             of its own, and `analyze` and `validate` of the first run do every target.",
            listed.join(", ")
        );
    }
    md
}

/// A target as `heuristics.targets` spells it.
fn target_key(low: bool) -> &'static str {
    if low {
        "low_parallelism"
    } else {
        "default"
    }
}

/// A description without its title and its `## Reproduce` section, and
/// that section's body.
fn split_reproduce(text: &str) -> (String, Option<String>) {
    let (mut body, mut reproduce) = (String::new(), None::<String>);
    let (mut fenced, mut inside) = (false, false);
    for line in text.lines().skip_while(|l| l.starts_with("# ") || l.is_empty()) {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with("## ") {
            inside = line == "## Reproduce";
            if inside {
                reproduce = Some(String::new());
                continue;
            }
        }
        let into = if inside { reproduce.get_or_insert_with(String::new) } else { &mut body };
        into.push_str(line);
        into.push('\n');
    }
    (body, reproduce.map(|r| r.trim_start_matches('\n').to_string()))
}

/// Markdown headings one level down, code blocks left as they are.
fn demote(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with('#') {
            out.push('#');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
