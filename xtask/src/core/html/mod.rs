//! `report.html`: one self-contained page with the report and its figures.
//!
//! Per heuristic, figures drawn with plotters' SVG backend (no font files
//! needed) and overlaid with hover texts: a runtime heat map (shape x
//! candidate, relative to the shape's best), the best limit over
//! (outputSize, reductionSize) with the rule's regions, the distribution of
//! the recommendation's per-shape speedups, and, once validated, the A/B
//! speedup per shape with its interval. The text is `report.md` rendered by
//! pulldown-cmark, so the page and the markdown cannot disagree; commands
//! the tables shorten show in full on hover.

mod heatmap;
mod regions;
mod speedups;
mod svg;
#[cfg(test)]
mod tests;
mod validation;

use crate::core::analysis::Analysis;
use crate::core::results::Results;
use crate::core::workload::short_command;
use std::collections::BTreeMap;
use std::fmt::Write;
use svg::{escape, Err};

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 6px}\
th{background:#f4f4f4}code,pre{background:#f7f7f7}pre{padding:0.6em;overflow-x:auto}\
figure{margin:1em 0}figcaption{font-size:0.85em;color:#555;max-width:880px}\
code[title]{cursor:help;text-decoration:underline dotted #999}\
blockquote{border-left:4px solid #c00;margin:1em 0;padding:0.2em 1em;background:#fff4f4}";

/// Text as pulldown-cmark escapes it in a code span.
fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Gives every shortened command in `html` (a code span, as the tables
/// write them) the full command as its hover text.
fn command_titles(html: &str, results: &Results) -> String {
    let mut full: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for s in &results.shapes {
        let fulls = full.entry(short_command(&s.command)).or_default();
        if !fulls.contains(&s.command.as_str()) {
            fulls.push(&s.command);
        }
    }
    let mut out = html.to_string();
    for (short, fulls) in full {
        if fulls.as_slice() != [short.as_str()] {
            let code = format!("<code>{}</code>", escape_text(&short));
            let titled = format!("<code title=\"{}\">{}</code>", escape(&fulls.join("\n")), escape_text(&short));
            out = out.replace(&code, &titled);
        }
    }
    out
}

/// The figures of every heuristic, each in a `<figure>` whose id names it
/// (`fig-<kind>-<heuristic>`).
fn figures(results: &Results, analysis: &Analysis) -> String {
    let mut out = String::new();
    let validated = analysis.validation.as_ref().and_then(|v| v.rounds.last());
    for h in &analysis.heuristics {
        if h.outcomes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h2>Figures: {} heuristic</h2>", h.heuristic);
        let mut parts: Vec<(&str, &str, Result<String, Err>)> = vec![
            ("heatmap", "Runtime of every shape at every candidate over its best (white = best, dark red = 16x slower or more, blue = not measured). Hover a cell for the shape's command and runtime.", heatmap::heatmap(results, h)),
            ("regions", "Best measured limit per shape over (outputSize, reductionSize), over the recommended rule's regions (dashed boundaries, a label where it covers no point). Diamonds: shapes on a boundary (next to a threshold, the line through or beside them); hover one for the side the rule puts it on, or a region for its rule.", regions::regions(results, h, &h.changed_regions)),
            ("speedups", "Per-shape speedup of the recommended rule over the baseline, as the sweep measured it (fitted on all shapes). Hover a bar for its shapes.", speedups::speedups(results, h)),
        ];
        if let Some(round) = validated.filter(|r| r.shapes.iter().any(|s| s.heuristic == h.heuristic)) {
            parts.push((
                "validation",
                "Validated speedup per shape, from the A/B rounds (baseline over patched, 95% interval over rounds), sorted; regressions are red triangles. Hover a shape for its command, runtimes and q-value.",
                validation::validation(h.heuristic, &round.shapes),
            ));
        }
        for (id, caption, svg) in parts {
            let body = match svg {
                Ok(s) => s,
                Err(err) => format!("<p>figure unavailable: {}</p>", escape(&err)),
            };
            let _ = writeln!(
                out,
                "<figure id=\"fig-{id}-{}\">{body}<figcaption>{}</figcaption></figure>",
                h.heuristic,
                escape(caption)
            );
        }
    }
    out
}

/// The whole page.
pub(crate) fn page(results: &Results, analysis: &Analysis, markdown: &str) -> String {
    let figures = figures(results, analysis);
    let mut html_body = String::new();
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    pulldown_cmark::html::push_html(&mut html_body, parser);
    let html_body = command_titles(&html_body, results);
    // Figures go right after the summary, before the detailed parts.
    let (head, tail) = match html_body.find("<h2>Part 1") {
        Some(i) => html_body.split_at(i),
        None => (html_body.as_str(), ""),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Split-reduction sweep {run}</title>\
         <style>{STYLE}</style></head><body>\n{head}\n{figures}\n{tail}\n</body></html>\n",
        run = escape(&analysis.run)
    )
}
