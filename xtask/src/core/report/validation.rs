//! The validation's text: the A/B summary table (report and patch
//! message) and the report's Part 6. Everything here formats a
//! [`Validation`] that [`crate::core::validation`] computed.

use crate::core::numfmt;
use crate::core::stats::Verdict;
use crate::core::validation::{AbSummary, DeviceEffect, ShapeVerdict, Validation, MIN_EFFECT};
use crate::core::workload::short_command;
use std::fmt::Write;

/// The summary table of a patch's commit message and the report.
pub(crate) fn table(s: &AbSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| shapes | rounds | geomean speedup (95% CI) | total speedup (95% CI) | improved | neutral | regressed |"
    );
    let _ = writeln!(out, "|---:|---:|---|---|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {:.3}x ({:.3}-{:.3}) | {:.3}x ({:.3}-{:.3}) | {} | {} | {} |",
        s.shapes,
        s.rounds,
        s.geomean,
        s.geomean_ci.0,
        s.geomean_ci.1,
        s.total,
        s.total_ci.0,
        s.total_ci.1,
        s.improved,
        s.neutral,
        s.regressed
    );
    out
}

/// Part 6 of the report.
pub(crate) fn part6(v: &Validation) -> String {
    render(v, false)
}

/// Part 6 as the PR description shows it: commands as a reviewer would type
/// them, no local paths.
pub(crate) fn part6_public(v: &Validation) -> String {
    render(v, true)
}

/// Per-device effects, with several devices: each build ran each shape on
/// every device over the rounds, so a device that is slower, or on which
/// the patch gains less, shows here and not as a build's effect.
fn devices(out: &mut String, devices: &[DeviceEffect]) {
    if devices.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Per device (each build ran each shape on every device over the rounds):\n\n\
         | device | (shape, round) pairs | patch speedup | baseline runtime vs. all devices |\n|---|---:|---:|---:|"
    );
    for d in devices {
        let _ = writeln!(
            out,
            "| {} | {} | {:.3}x | {:+.1}% |",
            d.device,
            d.pairs,
            d.speedup,
            (d.relative_runtime - 1.0) * 100.0
        );
    }
    let _ = writeln!(out);
}

fn render(v: &Validation, public: bool) -> String {
    let mut out = String::new();
    let last = v.rounds.last();
    let _ = writeln!(
        out,
        "A/B protocol: baseline and patched builds, {} interleaved round(s) of fresh benchmark processes (alternating order), per-build kernel caches; each round's process-to-process drift is measured on the shapes the patch does not change and removed; per shape a paired t-test on per-round log ratios (false discovery rate 5% over shapes, Benjamini-Hochberg, and at least {} apart); geomean CI by bootstrap over rounds and shapes. Device {}, target {}, commands sha256 {}.\n",
        last.map(|r| r.summary.rounds).unwrap_or(0),
        numfmt::pct(MIN_EFFECT),
        v.device,
        &v.target_commit[..v.target_commit.len().min(10)],
        &v.commands_sha256[..v.commands_sha256.len().min(12)]
    );
    if let Some(last) = last {
        let _ = writeln!(out, "{}", table(&last.summary));
        for (h, s) in &last.per_heuristic {
            let _ = writeln!(out, "**{h}** shapes:\n\n{}", table(s));
        }
        devices(&mut out, &last.devices);
    }
    let _ = writeln!(out, "**Verdict: {}**", if v.ready { "ready" } else { "not ready" });
    for r in &v.reasons {
        let _ = writeln!(out, "- {r}");
    }
    for (_, n) in &v.notes {
        let _ = writeln!(out, "- Note: {n}.");
    }
    if let Some(t) = &v.tests {
        let _ = writeln!(
            out,
            "\nCompiler tests (`{}`): {}{}",
            if public { &t.portable } else { &t.command },
            if t.passed { "pass" } else { "fail" },
            if t.updated.is_empty() { String::new() } else { format!("; updated: {}", t.updated.join(", ")) }
        );
    }
    let _ = writeln!(
        out,
        "\nNumerics: {}",
        if !v.numerics_checked {
            "not checked (the benchmark does not verify numerics)".to_string()
        } else if v.numerics_failed.is_empty() {
            "pass for every shape".to_string()
        } else {
            format!("{} shape(s) fail", v.numerics_failed.len())
        }
    );
    if v.rounds.len() > 1 {
        let _ = writeln!(out, "\nRefinement history:\n");
        let _ = writeln!(out, "| round | pinned shapes | geomean speedup (95% CI) | regressed |");
        let _ = writeln!(out, "|---:|---|---|---:|");
        for r in &v.rounds {
            let _ = writeln!(
                out,
                "| {} | {} | {:.3}x ({:.3}-{:.3}) | {} |",
                r.round,
                if r.pins.is_empty() {
                    "-".to_string()
                } else {
                    r.pins.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
                },
                r.summary.geomean,
                r.summary.geomean_ci.0,
                r.summary.geomean_ci.1,
                r.summary.regressed
            );
        }
    }
    let _ = writeln!(out, "\nRefinement: {}", v.stopped);
    if let Some(last) = last {
        per_shape(&mut out, &last.shapes, public);
    }
    out
}

/// Below this a q-value reads `<0.001`: more digits say nothing more.
const Q_FLOOR: f64 = 0.001;

fn q_text(q: Option<f64>) -> String {
    match q {
        Some(q) if q < Q_FLOOR => format!("<{Q_FLOOR}"),
        Some(q) => format!("{q:.3}"),
        None => "-".into(),
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "improved",
        Verdict::Neutral => "neutral",
        Verdict::Regressed => "**regressed**",
    }
}

fn shape_rows(out: &mut String, shapes: &[&ShapeVerdict]) {
    let _ =
        writeln!(out, "| command | heuristic | baseline (us) | patched (us) | speedup (95% interval) | q | verdict |");
    let _ = writeln!(out, "|---|---|---:|---:|---|---:|---|");
    for s in shapes {
        let interval = s.interval.map(|(lo, hi)| format!(" ({lo:.3}-{hi:.3})")).unwrap_or_default();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {}{interval} | {} | {} |",
            short_command(&s.command).replace('|', "\\|"),
            s.heuristic,
            numfmt::us(s.baseline_median),
            numfmt::us(s.patched_median),
            numfmt::x(s.speedup),
            q_text(s.q_value),
            verdict_word(s.verdict)
        );
    }
}

/// The last round per shape: regressions (worst first), then improvements
/// (best first); the neutral shapes, usually most of them, folded. A pull
/// request (`public`) folds the improvements too: its reader needs the
/// regressions and the summary, and the rest on demand.
fn per_shape(out: &mut String, shapes: &[ShapeVerdict], public: bool) {
    let by = |v: Verdict| -> Vec<&ShapeVerdict> { shapes.iter().filter(|s| s.verdict == v).collect() };
    let mut regressed = by(Verdict::Regressed);
    regressed.sort_by(|a, b| a.speedup.total_cmp(&b.speedup));
    let mut improved = by(Verdict::Improved);
    improved.sort_by(|a, b| b.speedup.total_cmp(&a.speedup));
    let mut neutral = by(Verdict::Neutral);
    neutral.sort_by(|a, b| a.speedup.total_cmp(&b.speedup));
    let _ = writeln!(
        out,
        "\nPer shape (speedup = baseline over patched, geometric mean over rounds; the interval is Student's t over rounds; q is the p-value adjusted for testing every shape, Benjamini-Hochberg):\n"
    );
    let mut full = regressed;
    if !public {
        full.extend(improved.iter().copied());
    }
    if full.is_empty() {
        let _ = writeln!(out, "No shape {} beyond noise.\n", if public { "regressed" } else { "changed" });
    } else {
        shape_rows(out, &full);
        let _ = writeln!(out);
    }
    let folded = [(public, improved, "improved"), (true, neutral, "neutral")];
    for (_, group, word) in folded.into_iter().filter(|(fold, g, _)| *fold && !g.is_empty()) {
        let _ = writeln!(out, "<details><summary>{} {word} shape(s)</summary>\n", group.len());
        shape_rows(out, &group);
        let _ = writeln!(out, "\n</details>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_device_effects_are_a_table_with_several_devices() {
        let effect = |device: &str, speedup: f64, relative_runtime: f64| DeviceEffect {
            device: device.into(),
            pairs: 310,
            speedup,
            relative_runtime,
        };
        let mut out = String::new();
        devices(&mut out, &[effect("0", 1.112, 0.974), effect("1", 1.108, 1.027)]);
        insta::assert_snapshot!("validation_devices", out);
        let mut none = String::new();
        devices(&mut none, &[]);
        assert!(none.is_empty());
    }
}
