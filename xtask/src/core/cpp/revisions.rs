//! The candidate patcher on both fixture code styles and, when
//! `IREE_GIT_DIR` points at an IREE git directory, on every revision of the
//! real heuristic file since the ladder appeared (4b57016a5c).

use super::{line_of, patch, CppFile, FunctionNames, LadderStyle, Missing, Site};
use crate::core::difftext;
use crate::core::workload::Heuristic;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Output of a git command that must succeed.
fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const HEURISTIC_FILE: &str = "compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp";

/// Line ranges (1-based, inclusive) of the functions a site owns.
fn owned_lines(src: &str, site: &Site) -> Vec<(usize, usize)> {
    site.owned_ranges().into_iter().map(|r| (line_of(src, r.start), line_of(src, r.end))).collect()
}

/// Old-file line numbers a unified diff removes or inserts after.
fn touched_old_lines(diff: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut old = 0usize;
    for line in diff.lines() {
        if let Some(h) = line.strip_prefix("@@ -") {
            old = h.split([',', ' ']).next().unwrap().parse().unwrap();
            continue;
        }
        if line.starts_with("---") || line.starts_with("+++") || line.starts_with("diff ") {
            continue;
        }
        match line.chars().next() {
            Some('-') => {
                out.push(old);
                old += 1;
            }
            Some('+') => out.push(old.saturating_sub(1).max(1)),
            _ => old += 1,
        }
    }
    out
}

/// Patches `src` for one limit with every heuristic that has a ladder and
/// checks the result is minimal and stays inside the intended functions.
/// Returns the styles found, by heuristic.
fn check_patch(label: &str, src: &str, expect_missing: &[Heuristic]) -> BTreeMap<Heuristic, String> {
    let file = CppFile::parse(src);
    assert!(file.error_lines().is_empty(), "{label}: parse errors at {:?}", file.error_lines());
    let mut sites = Vec::new();
    for h in Heuristic::ALL {
        match file.locate(h, &FunctionNames::iree_defaults(h)) {
            Ok(site) => {
                assert!(!expect_missing.contains(&h), "{label}: {h} unexpectedly has a ladder");
                sites.push(site);
            }
            Err(e) => {
                // A heuristic without a ladder is what a sweep skips with a
                // notice (tuning both without --heuristics); nothing else
                // may be missing.
                assert!(expect_missing.contains(&h), "{label}: {h}: {e}");
                assert_eq!(e.1, Missing::Ladder, "{label}: {e}");
            }
        }
    }
    let edits: Vec<_> = sites.iter().flat_map(|s| patch::fixed_limit_edits(src, s, 96)).collect();
    let patched = patch::apply_checked(src, &sites, &edits).unwrap_or_else(|e| panic!("{label}: {e}"));
    let diff = difftext::unified(HEURISTIC_FILE, src, &patched);

    // Only lines inside the owned functions change.
    let owned: Vec<(usize, usize)> = sites.iter().flat_map(|s| owned_lines(src, s)).collect();
    for line in touched_old_lines(&diff) {
        assert!(
            owned.iter().any(|(a, b)| *a <= line && line <= *b),
            "{label}: line {line} changed outside {owned:?}:\n{diff}"
        );
    }
    // Minimal: one inserted line per heuristic, and each early return's
    // condition rewritten in place (its first and last line).
    let expected_removed: usize =
        sites.iter().flat_map(|s| &s.early_returns).map(|e| if e.condition_text.contains('\n') { 2 } else { 1 }).sum();
    let (added, removed) = difftext::stat(&diff);
    assert_eq!(removed, expected_removed, "{label}:\n{diff}");
    assert_eq!(added, removed + sites.len(), "{label}:\n{diff}");
    for s in &sites {
        let marker = match &s.style {
            LadderStyle::Helper { .. } => "return 96; // split-reduction-tuner",
            LadderStyle::Inline { .. } => "limitParallelLoops = 96; // split-reduction-tuner",
        };
        assert!(patched.contains(marker), "{label}: {} lacks `{marker}`", s.heuristic);
        assert!(!s.early_returns.is_empty(), "{label}: {} has no early return", s.heuristic);
    }
    // The patched file still locates: the tuner can read its own output.
    let again = CppFile::parse(&patched);
    for s in &sites {
        again.locate(s.heuristic, &FunctionNames::iree_defaults(s.heuristic)).unwrap();
    }
    sites.iter().map(|s| (s.heuristic, s.style.name().to_string())).collect()
}

#[test]
fn patcher_handles_both_fixture_styles() {
    let root = workspace();
    let current = std::fs::read_to_string(root.join("tests/fixtures/iree").join(HEURISTIC_FILE)).unwrap();
    let styles = check_patch("fixture 2026", &current, &[]);
    assert_eq!(styles[&Heuristic::Conv], "helper-function");
    assert_eq!(styles[&Heuristic::Matmul], "helper-function");
    let old = std::fs::read_to_string(root.join("tests/fixtures/history/2025-inline").join(HEURISTIC_FILE)).unwrap();
    let styles = check_patch("fixture 2025", &old, &[]);
    assert_eq!(styles[&Heuristic::Conv], "inline-ladder");
    assert_eq!(styles[&Heuristic::Matmul], "inline-ladder");
}

#[test]
#[ignore = "needs IREE_GIT_DIR, an iree-org/iree git directory: IREE_GIT_DIR=~/iree/.git cargo test patcher -- --ignored"]
fn patcher_handles_every_real_iree_revision() {
    let dir = std::env::var_os("IREE_GIT_DIR")
        .map(PathBuf::from)
        .expect("set IREE_GIT_DIR to an iree-org/iree git directory (`~/iree/.git`)");
    let log = git_out(&dir, &["log", "--format=%H", "--reverse", "4b57016a5c^..HEAD", "--", HEURISTIC_FILE]);
    let revisions: Vec<&str> = log.lines().collect();
    assert!(revisions.len() >= 15, "expected at least 15 revisions, found {}", revisions.len());
    let mut styles_seen = Vec::new();
    for (i, rev) in revisions.iter().enumerate() {
        let src = git_out(&dir, &["show", &format!("{rev}:{HEURISTIC_FILE}")]);
        // The convolution ladder appeared one commit after the matmul one.
        let missing: &[Heuristic] = if i == 0 { &[Heuristic::Conv] } else { &[] };
        let styles = check_patch(&rev[..10], &src, missing);
        styles_seen.extend(styles.into_values());
    }
    assert!(styles_seen.contains(&"inline-ladder".to_string()));
    assert!(styles_seen.contains(&"helper-function".to_string()));
}
