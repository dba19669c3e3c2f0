//! IREE's lit tests of the heuristic, and updating their pinned results.
//!
//! `set_split_reduction_sizes_*.mlir` pin `iree_linalg_ext.split_reduction =
//! [...]` per function with FileCheck lines. When a retuned heuristic moves a
//! pinned result, an upstream-ready patch must update those lines. This module
//! reads a test's RUN lines (the command to produce output, and the check
//! prefix each verifies), collects the attributes the patched compiler prints
//! per function, and rewrites the CHECK lines in order, turning a CHECK into
//! a CHECK-NOT (and back) when a function stops (or starts) being split.
//! Running the RUN command is the caller's job.

use crate::core::workload::{self, Features, Heuristic, RoleLoop};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const ATTR: &str = "iree_linalg_ext.split_reduction";

/// One RUN line: the command before `| FileCheck`, and its check prefixes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// With `%s` still in it.
    pub(crate) command: String,
    pub(crate) prefixes: Vec<String>,
}

/// The RUN lines of a test (continuations joined).
pub(crate) fn runs(test: &str) -> Vec<Run> {
    let mut lines = Vec::new();
    let mut pending = String::new();
    for line in test.lines() {
        let Some(body) = line.trim_start().strip_prefix("//").map(str::trim_start).and_then(|l| l.strip_prefix("RUN:"))
        else {
            continue;
        };
        let body = body.trim();
        if let Some(cont) = body.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        pending.push_str(body);
        lines.push(std::mem::take(&mut pending));
    }
    lines
        .into_iter()
        .filter_map(|l| {
            let (producer, checker) = l.split_once("| FileCheck")?;
            let mut prefixes = Vec::new();
            for tok in checker.split_whitespace() {
                for flag in ["--check-prefix=", "--check-prefixes=", "-check-prefix=", "-check-prefixes="] {
                    if let Some(v) = tok.strip_prefix(flag) {
                        prefixes.extend(v.split(',').map(str::to_string));
                    }
                }
            }
            if prefixes.is_empty() {
                prefixes.push("CHECK".into());
            }
            Some(Run { command: producer.trim().to_string(), prefixes })
        })
        .collect()
}

fn func_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"func(?:\.func)?\s+(?:(?:public|private)\s+)?@([\w.$-]+)").unwrap())
}

fn attr_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"iree_linalg_ext\.split_reduction\s*=\s*(\[[^\]]*\])").unwrap())
}

/// The split-reduction attributes the compiler printed, per function, in
/// order of appearance.
pub(crate) fn attributes(output: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = String::new();
    for line in output.lines() {
        if let Some(c) = func_re().captures(line) {
            current = c[1].to_string();
            out.entry(current.clone()).or_default();
        }
        for c in attr_re().captures_iter(line) {
            out.entry(current.clone()).or_default().push(c[1].to_string());
        }
    }
    out
}

/// One rewritten line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    /// 0-based line index in the test file.
    pub(crate) line: usize,
    pub(crate) function: String,
    pub(crate) old: String,
    pub(crate) new: String,
}

/// Rewrites the lines checking `prefixes` so they expect `attrs`.
pub(crate) fn update(test: &str, prefixes: &[String], attrs: &BTreeMap<String, Vec<String>>) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut function = String::new();
    let mut next = 0usize;
    let label_re = Regex::new(r"@([\w.$-]+)").unwrap();
    for (i, line) in test.lines().enumerate() {
        let trimmed = line.trim_start();
        let Some(comment) = trimmed.strip_prefix("//") else { continue };
        let directive = comment.trim_start();
        let Some(prefix) = prefixes.iter().find(|p| directive.starts_with(p.as_str())) else { continue };
        let kind = &directive[prefix.len()..];
        if kind.starts_with("-LABEL:") {
            if let Some(c) = label_re.captures(kind) {
                function = c[1].to_string();
                next = 0;
            }
            continue;
        }
        if !line.contains(ATTR) {
            continue;
        }
        let expected = attrs.get(&function).and_then(|v| v.get(next));
        let is_not = kind.starts_with("-NOT:");
        let new = match (is_not, expected) {
            (false, Some(value)) => {
                next += 1;
                attr_re().replace(line, format!("{ATTR} = {value}").as_str()).into_owned()
            }
            (false, None) => {
                // The op is no longer split.
                let head = &line[..line.find(prefix.as_str()).unwrap() + prefix.len()];
                format!("{head}-NOT: {ATTR}")
            }
            (true, Some(value)) => {
                next += 1;
                let head = &line[..line.find(prefix.as_str()).unwrap() + prefix.len()];
                format!("{head}: {ATTR} = {value}")
            }
            (true, None) => line.to_string(),
        };
        if new != line {
            changes.push(Change { line: i, function: function.clone(), old: line.to_string(), new });
        }
    }
    changes
}

/// Applies the changes whose function `keep` accepts.
pub(crate) fn apply(test: &str, changes: &[Change], keep: impl Fn(&str) -> bool) -> String {
    let by_line: BTreeMap<usize, &Change> = changes.iter().filter(|c| keep(&c.function)).map(|c| (c.line, c)).collect();
    let mut out = String::new();
    for (i, line) in test.lines().enumerate() {
        match by_line.get(&i) {
            Some(c) => out.push_str(&c.new),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    if !test.ends_with('\n') {
        out.pop();
    }
    out
}

/// One function of a lit test and the op it holds, as the heuristic sees
/// it (or why it cannot be read).
#[derive(Clone, Debug)]
pub(crate) struct LitCase {
    pub(crate) function: String,
    pub(crate) features: Result<Features, String>,
}

/// The cases of a test file, read from its ops: MLIR (`linalg.generic` and
/// the named matmuls, as IREE's tests write them) or the bundled fixture's
/// IR (`fixture.conv loops = [64 parallel outputChannel, ...] output =
/// [...]`). An error names what the file lacks.
pub(crate) fn cases(text: &str) -> Result<Vec<LitCase>, String> {
    if text.contains("fixture.") {
        return Ok(fixture_cases(text));
    }
    if !text.contains("linalg.") {
        return Err("no op the tuner reads (neither `linalg.*` ops nor the fixture's IR)".into());
    }
    Ok(crate::core::linalg::read::read_cases(text)
        .into_iter()
        .map(|c| LitCase { function: c.name, features: c.op.and_then(|op| workload::of_linalg(&op, 0.0, 0.0)) })
        .collect())
}

/// The fixture's IR: per function, its first `fixture.<kind>` op.
fn fixture_cases(text: &str) -> Vec<LitCase> {
    static OP: OnceLock<Regex> = OnceLock::new();
    let op = OP.get_or_init(|| {
        Regex::new(r"fixture\.(\w+)\s+loops\s*=\s*\[([^\]]*)\]\s*output\s*=\s*\[([^\]]*)\]").expect("a valid pattern")
    });
    // Functions as defined, not as CHECK-LABEL lines name them.
    let mut starts: Vec<(usize, String)> = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if !line.trim_start().starts_with("//") {
            if let Some(c) = func_re().captures(line) {
                starts.push((at, c[1].to_string()));
            }
        }
        at += line.len();
    }
    let mut out = Vec::new();
    for (i, (start, function)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map(|s| s.0).unwrap_or(text.len());
        let body = &text[*start..end];
        let features = match op.captures(body) {
            None => Err("no `fixture.*` op in the function".to_string()),
            Some(c) => fixture_op(&c[1], &c[2], &c[3]),
        };
        out.push(LitCase { function: function.clone(), features });
    }
    out
}

fn fixture_op(kind: &str, loops: &str, output: &str) -> Result<Features, String> {
    let loops: Vec<RoleLoop> = loops
        .split(',')
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                [size, iter, role] => Ok(RoleLoop {
                    size: size.parse().map_err(|_| format!("bad loop size `{size}`"))?,
                    reduction: *iter == "reduction",
                    role: role.to_string(),
                }),
                _ => Err(format!("cannot read loop `{}`", l.trim())),
            }
        })
        .collect::<Result<_, _>>()?;
    let output: Vec<usize> = output.split(',').filter_map(|p| p.trim().parse().ok()).collect();
    match kind {
        "conv" => workload::of_roles(true, &loops, &output),
        "contract" => workload::of_roles(false, &loops, &output),
        other => Err(format!("`fixture.{other}` is neither heuristic's op")),
    }
}

/// Which heuristic decides each function of a test, from the op it holds
/// (a convolution's maps or a contraction's), never from its name.
pub(crate) fn heuristics_of(text: &str) -> BTreeMap<String, Heuristic> {
    cases(text).unwrap_or_default().into_iter().filter_map(|c| Some((c.function, c.features.ok()?.heuristic))).collect()
}

/// Why a test file's pinned results cannot be updated, if they cannot: no
/// RUN line piped to FileCheck, or no CHECK line of the attribute.
pub(crate) fn unreadable(test: &str) -> Option<String> {
    let runs = runs(test);
    if runs.is_empty() {
        return Some("no `// RUN: ... | FileCheck` line found".into());
    }
    let checks = test.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("//")
            && l.contains(ATTR)
            && runs.iter().any(|r| r.prefixes.iter().any(|p| l.contains(p.as_str())))
    });
    (!checks).then(|| format!("no `{ATTR}` CHECK lines found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: &str = r#"// RUN: iree-opt --pass-pipeline="builtin.module(util.func(iree-dispatch-creation-set-split-reduction-sizes))" \
// RUN:   --split-input-file %s | FileCheck %s
// RUN: iree-opt --low %s | FileCheck %s --check-prefix=LOW

util.func public @conv_a(%arg0: tensor<1xf32>) {
  %0 = linalg.generic {} // a convolution
}
// CHECK-LABEL: @conv_a
//       CHECK: iree_linalg_ext.split_reduction = [1 : index, 45 : index, 225 : index]
// LOW-LABEL: @conv_a
//       LOW: iree_linalg_ext.split_reduction = [1 : index, 45 : index, 225 : index]

// -----
util.func public @matmul_b(%arg0: tensor<1xf32>) {
  %0 = linalg.matmul
}
// CHECK-LABEL: @matmul_b
//   CHECK-NOT: iree_linalg_ext.split_reduction
"#;

    #[test]
    fn run_lines_and_prefixes() {
        let r = runs(TEST);
        assert_eq!(r.len(), 2);
        assert!(
            r[0].command.starts_with("iree-opt --pass-pipeline=") && r[0].command.ends_with("--split-input-file %s"),
            "{:?}",
            r[0]
        );
        assert_eq!(r[0].prefixes, vec!["CHECK"]);
        assert_eq!(r[1].prefixes, vec!["LOW"]);
    }

    #[test]
    fn rewrites_values_and_flips_not() {
        let output = "util.func public @conv_a(...) {\n  %0 = linalg.generic {iree_linalg_ext.split_reduction = [1 : index, 75 : index, 225 : index]}\n}\n\
util.func public @matmul_b(...) {\n  %0 = linalg.matmul {iree_linalg_ext.split_reduction = [256 : index]}\n}\n";
        let attrs = attributes(output);
        assert_eq!(attrs["conv_a"], vec!["[1 : index, 75 : index, 225 : index]"]);
        let changes = update(TEST, &["CHECK".to_string()], &attrs);
        assert_eq!(changes.len(), 2);
        let new = apply(TEST, &changes, |_| true);
        assert!(
            new.contains("//       CHECK: iree_linalg_ext.split_reduction = [1 : index, 75 : index, 225 : index]"),
            "{new}"
        );
        assert!(new.contains("//   CHECK: iree_linalg_ext.split_reduction = [256 : index]"), "{new}");
        // The LOW lines belong to another RUN line and stay.
        assert!(new.contains("//       LOW: iree_linalg_ext.split_reduction = [1 : index, 45 : index, 225 : index]"));
        // Only the convolution's change.
        let conv_only = apply(TEST, &changes, |f| f == "conv_a");
        assert!(conv_only.contains("75 : index") && conv_only.contains("CHECK-NOT"), "{conv_only}");
        // A function that is no longer split.
        let none: BTreeMap<String, Vec<String>> =
            [("conv_a".to_string(), vec![]), ("matmul_b".to_string(), vec![])].into();
        let c = update(TEST, &["CHECK".to_string()], &none);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].new, "//       CHECK-NOT: iree_linalg_ext.split_reduction");
    }
}
