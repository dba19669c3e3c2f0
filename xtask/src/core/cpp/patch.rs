//! Rewriting the heuristic file: byte-range edits checked against the parse.
//!
//! This module owns the candidate patch of a sweep (fix `limitParallelLoops`
//! to one value and disable the threshold early returns) and the generic
//! machinery every rewrite goes through: edits are applied to byte ranges the
//! parser found, then the result is parsed again and compared function by
//! function, so a rewrite that would touch anything outside the intended
//! heuristic functions, or break the syntax, is refused instead of built.

use super::{CppFile, LadderStyle, Site};
use std::ops::Range;

/// Replace `range` of the source with `text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) range: Range<usize>,
    pub(crate) text: String,
}

/// The marker on every line the sweep inserts, so that a reviewer of a
/// candidate branch sees at once what the tuner changed.
pub(crate) const MARKER: &str = "split-reduction-tuner";

/// Applies non-overlapping edits.
pub(crate) fn apply_edits(src: &str, edits: &[Edit]) -> Result<String, String> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| e.range.start);
    for pair in sorted.windows(2) {
        if pair[0].range.end > pair[1].range.start {
            return Err(format!("overlapping edits at bytes {:?} and {:?}", pair[0].range, pair[1].range));
        }
    }
    let mut out = String::with_capacity(src.len() + 256);
    let mut pos = 0;
    for e in sorted {
        out.push_str(&src[pos..e.range.start]);
        out.push_str(&e.text);
        pos = e.range.end;
    }
    out.push_str(&src[pos..]);
    Ok(out)
}

/// What every variable a probe build reads begins with.
pub(crate) const PROBE_VAR_PREFIX: &str = "IREE_TUNE_";

/// The probe build's variable whose value replaces `limitParallelLoops` in
/// every tuned heuristic (unset: the code's own limit).
pub(crate) const PROBE_LIMIT_VAR: &str = "IREE_TUNE_LIMIT_PARALLEL_LOOPS";

/// The probe build's variable that, set, disables the tuned heuristics'
/// threshold early returns (unset: they return as the code says).
pub(crate) const PROBE_NO_EARLY_RETURNS_VAR: &str = "IREE_TUNE_DISABLE_EARLY_RETURNS";

/// The probe build's variable naming a file to which every tuned
/// heuristic that reaches its ladder appends its decision, one JSON line
/// (see [`LoggedDecision`]); unset, nothing is written.
pub(crate) const PROBE_LOG_VAR: &str = "IREE_TUNE_DECISION_LOG";

/// The reduction size a decision log line gives when the code has none in
/// scope (a ladder on `outputSize` alone): matched on the output size only.
pub(crate) const UNREAD_REDUCTION: &str = "-1LL";

/// One line of a probe build's decision log: the heuristic, the sizes it
/// decided on, the limit it chose, and the integer locals it had computed
/// by then (by their C++ names; logs of earlier versions lack them).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
pub(crate) struct LoggedDecision {
    pub(crate) heuristic: String,
    #[serde(rename = "outputSize")]
    pub(crate) output_size: i64,
    #[serde(rename = "reductionSize")]
    pub(crate) reduction_size: i64,
    pub(crate) limit: i64,
    #[serde(default)]
    pub(crate) vars: std::collections::BTreeMap<String, i64>,
}

/// The types of the locals a decision log line records: integers and
/// `bool`, which `(long long)` converts exactly (sizes fit in it).
const LOGGED_TYPES: &[&str] = &[
    "int64_t",
    "std::int64_t",
    "int32_t",
    "std::int32_t",
    "uint64_t",
    "std::uint64_t",
    "size_t",
    "std::size_t",
    "int",
    "unsigned",
    "long",
    "bool",
];

/// The integer locals `site`'s function declares at its top level before
/// its ladder: in scope where the decision is logged, and what its
/// conditions read (`parallelSize`, `ratio`, `kSize`, ...).
fn integer_locals(src: &str, site: &Site) -> Vec<String> {
    let file = CppFile::parse(src);
    let Some(body) = file.node_at(&site.function.body) else { return vec![] };
    let mut out = Vec::new();
    for stmt in super::compound_statements(body) {
        if stmt.end_byte() > site.ladder_start {
            break;
        }
        let ty = stmt.child_by_field_name("type").map(|t| &src[t.byte_range()]).unwrap_or("");
        if stmt.kind() != "declaration" || !LOGGED_TYPES.contains(&ty) {
            continue;
        }
        let mut cursor = stmt.walk();
        for d in stmt.children_by_field_name("declarator", &mut cursor) {
            let name = match d.kind() {
                "init_declarator" => d.child_by_field_name("declarator").filter(|n| n.kind() == "identifier"),
                _ => None,
            };
            out.extend(name.map(|n| src[n.byte_range()].to_string()));
        }
    }
    out
}

/// The C++ statement that appends one decision to [`PROBE_LOG_VAR`]'s file
/// as one JSON line: the sizes and limit, then each of `vars`. The stream
/// is buffered and the line far shorter than its buffer, so `fclose`
/// writes it with one `write`, which `O_APPEND` keeps whole even when
/// several compiler threads log at once.
fn log_statement(heuristic: &str, (output, reduction): (&str, Option<&str>), vars: &[String], indent: &str) -> String {
    // A ladder that reads no reduction size has none in scope: -1 says so.
    let reduction = reduction.map(|r| format!("(long long)({r})")).unwrap_or_else(|| UNREAD_REDUCTION.to_string());
    let head = format!(
        r#"{{\"heuristic\": \"{heuristic}\", \"outputSize\": %lld, \"reductionSize\": %lld, \"limit\": %lld, \"vars\": {{"#
    );
    let mut lines = vec![
        format!("if (const char *tunerLog = std::getenv(\"{PROBE_LOG_VAR}\")) {{ // {MARKER}: probe"),
        "  if (FILE *tunerFile = std::fopen(tunerLog, \"a\")) {".to_string(),
        format!(
            "    std::fprintf(tunerFile, \"{head}\", (long long)({output}), {reduction}, (long long)limitParallelLoops);"
        ),
    ];
    for (i, v) in vars.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        lines.push(format!(r#"    std::fprintf(tunerFile, "{sep}\"{v}\": %lld", (long long)({v}));"#));
    }
    lines
        .extend(["    std::fputs(\"}}\\n\", tunerFile);", "    std::fclose(tunerFile);", "  }", "}"].map(String::from));
    lines.iter().map(|l| format!("\n{indent}{l}")).collect()
}

/// The top-level arguments of the call whose `(` is just before `at`, and
/// the offset after its `)`.
fn call_args(src: &str, at: usize) -> Option<(Vec<&str>, usize)> {
    let (mut depth, mut start, mut args) = (0usize, at, Vec::new());
    for (i, c) in src[at..].char_indices() {
        let i = at + i;
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth > 0 => depth -= 1,
            ')' => {
                args.push(src[start..i].trim());
                return Some((args, i + 1));
            }
            ',' if depth == 0 => {
                args.push(src[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// Where and what the decision log of `site` inserts: after the statement
/// that makes `limitParallelLoops` final (the inline ladder; in the helper
/// style the caller's declaration from the helper's result, whose first
/// two arguments are the output and reduction sizes). `None` when the code
/// has no such place the tuner can find (the probe then logs nothing for
/// it, and the sweep says so).
fn log_edit(src: &str, site: &Site) -> Option<Edit> {
    let heuristic = site.heuristic.to_string();
    let vars = integer_locals(src, site);
    match &site.style {
        LadderStyle::Inline { chain, .. } => {
            let names = super::emit::names(site, src);
            let text = log_statement(&heuristic, (&names.output, names.reduction.as_deref()), &vars, &site.indent);
            Some(Edit { range: chain.end..chain.end, text })
        }
        LadderStyle::Helper { helper, .. } => {
            let end = site.function.range.end;
            let call = format!("{}(", helper.name);
            let at = site.ladder_start + src.get(site.ladder_start..end)?.find(&call)? + call.len();
            let (args, after) = call_args(src, at)?;
            let (output, reduction) = (args.first()?, args.get(1)?);
            let decl = after + src[after..end].find("limitParallelLoops =")?;
            let semi = decl + src[decl..end].find(';')? + 1;
            let indent = super::line_indent(src, decl);
            let text = log_statement(&heuristic, (output, Some(reduction)), &vars, &indent);
            Some(Edit { range: semi..semi, text })
        }
    }
}

/// Whether [`probe_edits`] makes `site`'s heuristic log its decisions (the
/// tuner found where `limitParallelLoops` is final).
pub(crate) fn logs_decisions(src: &str, site: &Site) -> bool {
    log_edit(src, site).is_some()
}

/// Edits that make one heuristic read its limit and its early-return switch
/// from [`PROBE_LIMIT_VAR`] and [`PROBE_NO_EARLY_RETURNS_VAR`]: with both
/// set, the code decides as [`fixed_limit_edits`]'s candidate for that
/// limit; with both unset, as the original. One build of it serves every
/// candidate of a sweep. Where the tuner finds the place, the heuristic
/// also logs each decision to [`PROBE_LOG_VAR`]'s file.
pub(crate) fn probe_edits(src: &str, site: &Site) -> Vec<Edit> {
    let mut edits = Vec::new();
    let comment = format!("// {MARKER}: probe");
    let read = format!("const char *tunerLimit = std::getenv(\"{PROBE_LIMIT_VAR}\")");
    let log = log_edit(src, site);
    match &site.style {
        // The override and then the log, in one insertion after the chain.
        LadderStyle::Inline { chain, .. } => edits.push(Edit {
            range: chain.end..chain.end,
            text: format!(
                "\n{}if ({read}) limitParallelLoops = std::atoll(tunerLimit); {comment}{}",
                site.indent,
                log.map(|l| l.text).unwrap_or_default()
            ),
        }),
        LadderStyle::Helper { body, .. } => {
            edits.push(Edit {
                range: body.start + 1..body.start + 1,
                text: format!("\n{}if ({read}) return std::atoll(tunerLimit); {comment}", site.indent),
            });
            edits.extend(log);
        }
    }
    for er in &site.early_returns {
        let cond = &src[er.condition.clone()];
        edits.push(Edit {
            range: er.condition.clone(),
            text: format!("/*{MARKER}: probe*/ !std::getenv(\"{PROBE_NO_EARLY_RETURNS_VAR}\") && ({cond})"),
        });
    }
    edits
}

/// `src` with `#include <header>` after its last include, unless it has it.
/// (Outside every heuristic function, so not an [`apply_checked`] edit.)
pub(crate) fn with_include(src: &str, header: &str) -> String {
    let line = format!("#include <{header}>");
    if src.lines().any(|l| l.trim() == line) {
        return src.to_string();
    }
    let mut pos = 0;
    let mut at = None;
    for l in src.split_inclusive('\n') {
        pos += l.len();
        if l.trim_start().starts_with("#include") {
            at = Some(pos);
        }
    }
    let at = at.unwrap_or(0);
    format!("{}{line}\n{}", &src[..at], &src[at..])
}

/// Edits that pin one heuristic's limit to `limit` and disable its threshold
/// early returns, leaving every other line as it was.
pub(crate) fn fixed_limit_edits(src: &str, site: &Site, limit: i64) -> Vec<Edit> {
    let mut edits = Vec::new();
    let comment = format!("// {MARKER}: candidate limit");
    match &site.style {
        LadderStyle::Inline { chain, .. } => {
            // Assign after the chain rather than deleting it: the diff stays
            // one line, and the chain's reads keep every variable used.
            edits.push(Edit {
                range: chain.end..chain.end,
                text: format!("\n{}limitParallelLoops = {limit}; {comment}", site.indent),
            });
        }
        LadderStyle::Helper { body, .. } => {
            edits.push(Edit {
                range: body.start + 1..body.start + 1,
                text: format!("\n{}return {limit}; {comment}", site.indent),
            });
        }
    }
    for er in &site.early_returns {
        let cond = &src[er.condition.clone()];
        edits.push(Edit {
            range: er.condition.clone(),
            text: format!("/*{MARKER}: early return disabled*/ false && ({cond})"),
        });
    }
    edits
}

/// Applies `edits` and checks the result: it must parse without new errors,
/// and every function outside `sites` must be byte-for-byte unchanged.
pub(crate) fn apply_checked(src: &str, sites: &[Site], edits: &[Edit]) -> Result<String, String> {
    let owned: Vec<Range<usize>> = sites.iter().flat_map(|s| s.owned_ranges()).collect();
    for e in edits {
        if !owned.iter().any(|r| r.start <= e.range.start && e.range.end <= r.end) {
            return Err(format!(
                "internal error: an edit at line {} falls outside the heuristic functions",
                super::line_of(src, e.range.start)
            ));
        }
    }
    let patched = apply_edits(src, edits)?;
    let before = CppFile::parse(src);
    let after = CppFile::parse(&patched);
    let new_errors = after.error_lines().len();
    if new_errors > before.error_lines().len() {
        return Err(format!("the rewritten file does not parse (first error at line {})", after.error_lines()[0]));
    }
    let owned_names: Vec<&str> = sites
        .iter()
        .flat_map(|s| {
            let mut names = vec![s.function.name.as_str()];
            if let LadderStyle::Helper { helper, .. } = &s.style {
                names.push(helper.name.as_str());
            }
            names
        })
        .collect();
    let old_fns = before.functions();
    let new_fns = after.functions();
    if old_fns.len() != new_fns.len() {
        return Err("the rewrite changed the number of functions in the file".into());
    }
    for (old, new) in old_fns.iter().zip(&new_fns) {
        if old.name != new.name {
            return Err(format!("the rewrite renamed `{}` to `{}`", old.name, new.name));
        }
        if !owned_names.contains(&old.name.as_str()) && src[old.range.clone()] != patched[new.range.clone()] {
            return Err(format!("the rewrite changed `{}`, which it must not touch", old.name));
        }
    }
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cpp::{CppFile, FunctionNames};
    use crate::core::testdata::{CURRENT, INLINE_2025};
    use crate::core::workload::Heuristic;

    fn probe(src: &str) -> String {
        let file = CppFile::parse(src);
        let sites: Vec<Site> =
            Heuristic::ALL.iter().map(|&h| file.locate(h, &FunctionNames::iree_defaults(h)).unwrap()).collect();
        let edits: Vec<Edit> = sites.iter().flat_map(|s| probe_edits(src, s)).collect();
        with_include(&with_include(&apply_checked(src, &sites, &edits).unwrap(), "cstdlib"), "cstdio")
    }

    #[test]
    fn the_probe_logs_every_tuned_heuristic_s_decision_in_both_styles() {
        for src in [CURRENT, INLINE_2025] {
            let p = probe(src);
            let file = CppFile::parse(src);
            for h in Heuristic::ALL {
                assert!(logs_decisions(src, &file.locate(h, &FunctionNames::iree_defaults(h)).unwrap()), "{h}");
                assert!(p.contains(&format!(r#"{{\"heuristic\": \"{h}\""#)), "{h}\n{p}");
            }
            assert!(p.contains("#include <cstdio>") && p.contains(PROBE_LOG_VAR));
        }
        let diff = crate::core::difftext::unified("SetSplitReductionSizes.cpp", CURRENT, &probe(CURRENT));
        insta::assert_snapshot!("probe_helper_style", diff);
    }

    #[test]
    fn call_arguments_are_split_at_the_top_level() {
        let src = "f(outputSize, kSize, tileSizes[0], g(a, b)) + 1";
        let (args, after) = call_args(src, 2).unwrap();
        assert_eq!(args, vec!["outputSize", "kSize", "tileSizes[0]", "g(a, b)"]);
        assert_eq!(&src[after..], " + 1");
    }
}
