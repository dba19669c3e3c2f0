//! `cargo xtask analyze` on real fixture sweeps: the generated C++ builds in
//! the fixture for both code styles, and report.html renders in headless
//! Chromium with its figures readable.

use crate::browser;
use crate::common::*;
use std::process::Command;

fn clang_format() -> std::path::PathBuf {
    xtask::testkit::which("clang-format")
        .expect("this test needs clang-format: `apt-get install -y clang-format` (.ci/run installs it)")
}

#[test]
fn generated_cpp_builds_in_the_fixture_for_both_styles_and_the_report_renders() {
    let env = fixture(false, "");
    for (rev, name) in [("HEAD", "style2026"), ("fixture-2025", "style2025")] {
        ok(xtask(&env, &["sweep", "--quick", "--rev", rev, "--name", name]));
        let err = ok(xtask(&env, &["analyze", name]));
        let run = env.runs().join(name);
        let analysis = read_json(&run.join("analysis.json"));
        let diffs: Vec<_> = ["conv", "matmul"]
            .iter()
            .map(|h| run.join(format!("recommended-{h}.diff")))
            .filter(|p| p.exists())
            .collect();
        assert!(!diffs.is_empty(), "{rev}: no recommendation:\n{err}");

        // The report says how the recommendation compares with the original
        // toolkit's method, out of sample, and never does worse.
        let md = std::fs::read_to_string(run.join("report.md")).unwrap();
        assert!(md.contains("Recommended vs the original toolkit's method, cross-validated:"), "{md}");
        for h in analysis["heuristics"].as_array().unwrap() {
            let rec = h["recommended"].as_str().unwrap();
            let cv = |s: &str| {
                h["strategies"].as_array().unwrap().iter().find(|e| e["strategy"] == s).unwrap()["cv_geomean"]
                    .as_f64()
                    .unwrap()
            };
            assert!(
                cv(rec) >= cv("original-toolkit"),
                "{rev} {}: {} < {}",
                h["heuristic"],
                cv(rec),
                cv("original-toolkit")
            );
        }

        applies_formats_and_builds(&env, rev, name, &diffs);
    }

    // The HEAD run's rule written at an older revision (`analyze --rev`):
    // its heuristic has the same early returns, so the whole rule carries
    // over, and the patch builds there. At the 2025 revision whatever does
    // not carry over is named.
    let err = ok(xtask(&env, &["analyze", "style2026", "--rev", "fixture-2026-early"]));
    assert!(err.contains("writing the rule at `fixture-2026-early`"), "{err}");
    let run = env.runs().join("style2026");
    assert!(run.join("retarget.json").exists());
    let diffs: Vec<_> =
        ["conv", "matmul"].iter().map(|h| run.join(format!("recommended-{h}.diff"))).filter(|p| p.exists()).collect();
    assert!(!diffs.is_empty(), "no recommendation at fixture-2026-early:\n{err}");
    applies_formats_and_builds(&env, "fixture-2026-early", "style2026-early", &diffs);
    let err = ok(xtask(&env, &["analyze", "style2026", "--rev", "fixture-2025"]));
    let analysis = read_json(&run.join("analysis.json"));
    for h in analysis["heuristics"].as_array().unwrap() {
        let written = run.join(format!("recommended-{}.diff", h["heuristic"].as_str().unwrap())).exists();
        let why = h["error"].as_str().unwrap_or("");
        assert!(written || why.contains("cannot write the rule at `fixture-2025`"), "{err}\n{why}");
    }
    let err = ok(xtask(&env, &["analyze", "style2026"]));
    assert!(err.contains("writing the rule at the swept revision again"), "{err}");
    assert!(!run.join("retarget.json").exists());

    // report.html in headless Chromium: no console errors; every figure of
    // both heuristics, its axis titles, no text over another; a screenshot
    // that is not blank.
    let page = env.runs().join("style2026/report.html");
    let figures = browser::layout(&page, env.root());
    browser::assert_readable(&figures, &["conv", "matmul"], &browser::SWEEP_FIGURES);
    browser::assert_screenshot(&page, env.root());
}

/// The recommended diffs apply to `rev` in a clone, are clang-format clean
/// and build.
fn applies_formats_and_builds(env: &Env, rev: &str, name: &str, diffs: &[std::path::PathBuf]) {
    let clone = env.root().join(format!("build-{name}"));
    git_out(env.root(), &["clone", "-q", env.repo.to_str().unwrap(), clone.to_str().unwrap()]);
    git_out(&clone, &["checkout", "-q", rev]);
    for d in diffs {
        git_out(&clone, &["apply", d.to_str().unwrap()]);
    }
    // The changed lines are clang-format clean (LLVM style, as IREE's).
    let file = "compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp";
    let patched = std::fs::read_to_string(clone.join(file)).unwrap();
    let diff = git_out(&clone, &["diff", "-U0", "--", file]);
    let mut lines = Vec::new();
    for h in diff.lines().filter_map(|l| l.strip_prefix("@@ ")) {
        let new = h.split_whitespace().nth(1).unwrap().trim_start_matches('+');
        let (start, count) = new.split_once(',').unwrap_or((new, "1"));
        let (start, count): (usize, usize) = (start.parse().unwrap(), count.parse().unwrap());
        if count > 0 {
            lines.push(format!("--lines={}:{}", start, start + count - 1));
        }
    }
    assert!(!lines.is_empty(), "{rev}: nothing changed in {file}");
    let formatted =
        Command::new(clang_format()).arg("--style=LLVM").args(&lines).arg(clone.join(file)).output().unwrap();
    assert!(formatted.status.success());
    let formatted = String::from_utf8(formatted.stdout).unwrap();
    assert_eq!(formatted, patched, "{rev}: the generated C++ is not clang-format clean:\n{diff}");

    let build = clone.join("build");
    let status = Command::new("cmake")
        .args(["-G", "Ninja", "-S"])
        .arg(&clone)
        .arg("-B")
        .arg(&build)
        .args(["-DIREE_TARGET_BACKEND_ROCM=ON", "-DIREE_HAL_DRIVER_HIP=ON", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let out = Command::new("cmake").arg("--build").arg(&build).args(["--target", "iree-opt"]).output().unwrap();
    assert!(
        out.status.success(),
        "{rev}: the patched fixture does not build:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
