//! Several commands files in one run: `sweep a.txt b.txt` measures them
//! together, analyze fits each heuristic on every shape that reaches it
//! and writes one patch per heuristic, the report shows per-file figures,
//! and the patches apply together.

use crate::common::*;

/// Some lines (1-based) of a bundled workload, in a file of the same name in
/// the test directory: a few shapes keep the test fast; these are ones the
/// fixture's tuning changes, and some it leaves alone.
fn lines_of(env: &Env, name: &str, numbers: &[usize]) -> String {
    let text = std::fs::read_to_string(workspace().join("workloads").join(name)).unwrap();
    let all: Vec<&str> = text.lines().collect();
    let lines: Vec<&str> = numbers.iter().map(|&n| all[n - 1]).collect();
    commands_file(env, name, &(lines.join("\n") + "\n")).display().to_string()
}

#[test]
fn two_commands_files_give_one_patch_per_heuristic_that_apply_together() {
    let env = fixture(true, "");
    let conv =
        lines_of(&env, "conv_weight_backward.txt", &[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 77, 81, 100, 104, 120, 135]);
    let gemm = lines_of(&env, "gemm_large_k.txt", &[2, 3, 4, 5, 6, 7, 8, 9]);
    let pd = env.root().join("patches").display().to_string();
    let sweep = ok(xtask(&env, &["sweep", &conv, &gemm, "--limits", "64,256"]));
    assert!(sweep.contains("commands: conv_weight_backward.txt (16 shapes), gemm_large_k.txt (8 shapes)"), "{sweep}");
    let run = env.runs().join("conv_weight_backward+gemm_large_k");
    let results = read_json(&run.join("results.json"));
    let files: Vec<_> = results["commands"]["files"].as_array().unwrap().iter().map(|f| f["name"].clone()).collect();
    assert_eq!(files, ["conv_weight_backward.txt", "gemm_large_k.txt"]);
    let per_shape: Vec<_> = results["shapes"].as_array().unwrap().iter().map(|s| s["file"].as_str().unwrap()).collect();
    assert_eq!(per_shape.iter().filter(|f| **f == "gemm_large_k.txt").count(), 8);

    let analyze = ok(xtask(&env, &["analyze"]));
    assert!(analyze.contains("recommended-conv.diff") && analyze.contains("recommended-matmul.diff"), "{analyze}");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("### Per commands file"), "{report}");
    for row in ["| `conv_weight_backward.txt` | 16 |", "| `gemm_large_k.txt` | 8 |", "| **all files** | 24 |"] {
        assert!(report.contains(row), "{row}\n{report}");
    }
    // On so few shapes validation finds a regression (not ready): the
    // patches are applied with --force, since what is tested here is that
    // they apply together.
    ok(xtask(&env, &["--patches-dir", &pd, "validate", "--rounds", "2", "--update-tests"]));
    let mut patches: Vec<_> = std::fs::read_dir(&pd)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".patch"))
        .collect();
    patches.sort();
    assert_eq!(
        patches,
        ["conv_weight_backward+gemm_large_k-conv.patch", "conv_weight_backward+gemm_large_k-matmul.patch"]
    );
    // Provenance: in results.json ("unknown" where no vendor tool answers),
    // the report, each patch message and the PR text, which names files,
    // never local paths.
    let p = &results["provenance"];
    for key in ["model", "driver"] {
        assert!(p["gpu"][key].as_str().is_some_and(|v| !v.is_empty()), "{p}");
    }
    assert!(p["tool"]["version"].as_str().is_some() && p["build_type"].as_str().is_some(), "{p}");
    let pr = std::fs::read_to_string(format!("{pd}/conv_weight_backward+gemm_large_k.md")).unwrap();
    let mail = std::fs::read_to_string(format!("{pd}/conv_weight_backward+gemm_large_k-matmul.patch")).unwrap();
    for text in [&report, &pr, &mail] {
        assert!(text.contains("- GPU: ") && text.contains("- iree-turbine: ") && text.contains("- Build: "), "{text}");
        assert!(text.contains("gemm_large_k.txt (sha256 "), "{text}");
    }
    assert!(!pr.contains(&env.root().display().to_string()), "a local path in the PR text:\n{pr}");
    assert!(pr.contains("sweep conv_weight_backward.txt gemm_large_k.txt --limits 64,256"), "{pr}");
    assert!(pr.contains("validate conv_weight_backward+gemm_large_k --rounds 2 --update-tests"), "{pr}");

    let out = xtask(&env, &["--patches-dir", &pd, "apply", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = git_out(&env.repo, &["log", "--format=%s", "main..HEAD"]);
    assert!(log.contains("Retune conv") && log.contains("Retune matmul"), "{log}");
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(stderr(&out).contains("`git checkout main` returns to where it was"), "{}", stderr(&out));

    // The same sweep again, now that HEAD is the tool's own branch: refused,
    // naming the fix, and nothing under runs/ changes.
    let before = dir_snapshot(&env.runs());
    let again = xtask(&env, &["sweep", &conv, &gemm, "--limits", "64,256"]);
    let err = stderr(&again);
    assert!(!again.status.success() && err.contains("commit split-reduction-tuner made"), "{err}");
    let base = git_out(&env.repo, &["rev-parse", "--short=10", "main"]);
    assert!(err.contains(&format!("--rev {}", base.trim())), "{err}");
    assert_eq!(dir_snapshot(&env.runs()), before, "a refused sweep changed runs/");
}
