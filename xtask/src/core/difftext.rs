//! Unified diffs of the heuristic file, as `git apply` and `git am` read them.
//!
//! Every diff the tool shows or writes (candidate patches, the recommended
//! change) comes from here, made with `similar` and given git's `a/` and `b/`
//! paths and `diff --git` header, so that the same text can be reviewed,
//! applied with `git apply`, or wrapped into a `git format-patch` mail.

use similar::TextDiff;

/// A git-style unified diff of one file; empty when nothing changed.
pub(crate) fn unified(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let body = diff.unified_diff().context_radius(3).header(&format!("a/{path}"), &format!("b/{path}")).to_string();
    format!("diff --git a/{path} b/{path}\n{body}")
}

/// Lines added and removed, for summaries.
pub(crate) fn stat(diff: &str) -> (usize, usize) {
    let added = diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count();
    let removed = diff.lines().filter(|l| l.starts_with('-') && !l.starts_with("---")).count();
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_headers_and_hunks() {
        let d = unified("x/a.cpp", "a\nb\nc\n", "a\nB\nc\n");
        assert!(
            d.starts_with("diff --git a/x/a.cpp b/x/a.cpp\n--- a/x/a.cpp\n+++ b/x/a.cpp\n@@ -1,3 +1,3 @@\n"),
            "{d}"
        );
        assert_eq!(stat(&d), (1, 1));
        assert_eq!(unified("a", "x\n", "x\n"), "");
    }
}
