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

/// Edits that make one heuristic read its limit and its early-return switch
/// from [`PROBE_LIMIT_VAR`] and [`PROBE_NO_EARLY_RETURNS_VAR`]: with both
/// set, the code decides as [`fixed_limit_edits`]'s candidate for that
/// limit; with both unset, as the original. One build of it serves every
/// candidate of a sweep.
pub(crate) fn probe_edits(src: &str, site: &Site) -> Vec<Edit> {
    let mut edits = Vec::new();
    let comment = format!("// {MARKER}: probe");
    let read = format!("const char *tunerLimit = std::getenv(\"{PROBE_LIMIT_VAR}\")");
    match &site.style {
        LadderStyle::Inline { chain, .. } => edits.push(Edit {
            range: chain.end..chain.end,
            text: format!("\n{}if ({read}) limitParallelLoops = std::atoll(tunerLimit); {comment}", site.indent),
        }),
        LadderStyle::Helper { body, .. } => edits.push(Edit {
            range: body.start + 1..body.start + 1,
            text: format!("\n{}if ({read}) return std::atoll(tunerLimit); {comment}", site.indent),
        }),
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
