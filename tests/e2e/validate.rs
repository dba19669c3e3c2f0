//! `cargo xtask validate` and `cargo xtask apply` on the fixture: the A/B
//! protocol, the compiler's tests, refinement, and the patch on a branch.

use crate::browser;
use crate::common::*;
use std::path::Path;
use std::process::Command;

fn patches(env: &Env) -> std::path::PathBuf {
    env.root().join("patches")
}

#[test]
fn sweep_analyze_validate_apply_end_to_end() {
    // Every candidate built ahead, whether or not it pays on the fixture,
    // so that the sweep's output is always the same.
    let env = fixture(true, "build_ahead = \"on\"\n");
    let patches_dir = patches(&env);
    let pd = patches_dir.to_str().unwrap().to_string();
    let sweep = ok(xtask(&env, &["sweep", "--quick"]));
    insta::assert_snapshot!("cli_sweep", redact(&env, &sweep));
    let analyze = ok(xtask(&env, &["analyze"]));
    insta::assert_snapshot!("cli_analyze", redact(&env, &analyze));

    // Without --update-tests the patch moves pinned results: not ready, and
    // the verdict names the tests.
    let err = ok(xtask(&env, &["--patches-dir", &pd, "validate", "--rounds", "3"]));
    assert!(err.contains("verdict: not ready"), "{err}");
    assert!(err.contains("set_split_reduction_sizes_conv.mlir") && err.contains("--update-tests"), "{err}");

    let err = ok(xtask(&env, &["--patches-dir", &pd, "validate", "--rounds", "3", "--update-tests"]));
    assert!(err.contains("verdict: ready"), "{err}");
    insta::assert_snapshot!("cli_validate", redact(&env, &err));
    let run = env.runs().join("conv_weight_backward");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("**Verdict: ready**"), "{report}");
    assert!(report.contains("Compiler tests (`ctest"), "{report}");
    let v = read_json(&run.join("validation/validation.json"));
    assert_eq!(v["ready"], true);
    assert_eq!(v["numerics_checked"], true);

    // A rerun reuses the finished A/B runs (a validation interrupted by a
    // crash resumes the same way).
    let measured = run.join("validation/round-1/ab-0-baseline/measured.json");
    let stamp = std::fs::metadata(&measured).unwrap().modified().unwrap();
    let again = ok(xtask(&env, &["--patches-dir", &pd, "validate", "--rounds", "3", "--update-tests"]));
    assert!(again.contains("verdict: ready"), "{again}");
    assert_eq!(std::fs::metadata(&measured).unwrap().modified().unwrap(), stamp, "the A/B run was redone");

    let conv = patches_dir.join("conv_weight_backward-conv.patch");
    let text = std::fs::read_to_string(&conv).unwrap();
    assert!(text.contains("Validation verdict: ready"));
    assert!(text.contains("geomean speedup (95% CI)"));
    assert!(text.contains("set_split_reduction_sizes_conv.mlir"), "the conv patch does not update its lit test");
    assert!(patches_dir.join("conv_weight_backward.md").exists());

    // `git am` takes the patches on a fresh clone at the tuned revision; the
    // patched fixture builds and its lit tests pass.
    let clone = env.root().join("clone");
    git_out(env.root(), &["clone", "-q", env.repo.to_str().unwrap(), clone.to_str().unwrap()]);
    let mut files: Vec<_> = std::fs::read_dir(&patches_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .collect();
    files.sort();
    for f in &files {
        git_out(&clone, &["apply", "--check", f.to_str().unwrap()]);
    }
    let mut am = vec!["-c", "user.name=t", "-c", "user.email=t@t", "am", "-3", "--keep-non-patch"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    am.extend(names.iter().map(String::as_str));
    git_out(&clone, &am);
    // The subjects survive exactly as patches/README.md says: with
    // `--keep-non-patch` as written; plain `git am` strips the leading tag
    // (git's mailinfo drops every leading `[...]`), which the README warns of.
    let subjects: Vec<String> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let line = text.lines().find_map(|l| l.strip_prefix("Subject: [PATCH] ")).unwrap().to_string();
            assert!(line.starts_with("[DispatchCreation] "), "{line}");
            line
        })
        .collect();
    let log = git_out(&clone, &["log", "--format=%s", &format!("-{}", files.len())]);
    assert_eq!(log.lines().rev().collect::<Vec<_>>(), subjects, "{log}");
    let plain = env.root().join("plain");
    git_out(env.root(), &["clone", "-q", env.repo.to_str().unwrap(), plain.to_str().unwrap()]);
    let mut am = vec!["-c", "user.name=t", "-c", "user.email=t@t", "am", "-3"];
    am.extend(names.iter().map(String::as_str));
    git_out(&plain, &am);
    let log = git_out(&plain, &["log", "--format=%s", &format!("-{}", files.len())]);
    let stripped: Vec<&str> = subjects.iter().map(|s| s.trim_start_matches("[DispatchCreation] ")).collect();
    assert_eq!(log.lines().rev().collect::<Vec<_>>(), stripped, "{log}");
    let build = clone.join("build");
    let run_ok = |c: &mut Command| {
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    };
    run_ok(Command::new("cmake").args(["-G", "Ninja", "-S"]).arg(&clone).arg("-B").arg(&build).args([
        "-DIREE_TARGET_BACKEND_ROCM=ON",
        "-DIREE_HAL_DRIVER_HIP=ON",
        "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
    ]));
    run_ok(Command::new("cmake").arg("--build").arg(&build));
    run_ok(Command::new("ctest").arg("--test-dir").arg(&build).args([
        "-R",
        "set_split_reduction_sizes",
        "--output-on-failure",
    ]));

    // `apply` refuses a dirty checkout and changes nothing.
    let tracked = env.repo.join("CMakeLists.txt");
    let original = std::fs::read_to_string(&tracked).unwrap();
    std::fs::write(&tracked, format!("{original}# local edit\n")).unwrap();
    let before = checkout_state(&env.repo);
    let out = xtask(&env, &["--patches-dir", &pd, "apply"]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("uncommitted changes") && err.contains("commit or stash"), "{err}");
    assert_eq!(checkout_state(&env.repo), before);
    std::fs::write(&tracked, original).unwrap();

    // Without a git identity (a fresh machine) it says how to set one,
    // before it changes anything.
    for key in ["user.name", "user.email"] {
        Command::new("git").arg("-C").arg(&env.repo).args(["config", "--unset", key]).status().unwrap();
    }
    let before = checkout_state(&env.repo);
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--config")
        .arg(&env.config)
        .args(["--patches-dir", &pd, "apply"])
        .current_dir(env.root())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "user.useConfigOnly")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env_remove("EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("git config --global user.email"), "{err}");
    assert_eq!(checkout_state(&env.repo), before);
    git_out(&env.repo, &["config", "user.name", "Fixture User"]);
    git_out(&env.repo, &["config", "user.email", "fixture-user@iree.invalid"]);

    // On a clean checkout it makes a branch with both commits.
    let out = xtask(&env, &["--patches-dir", &pd, "apply"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout.contains("branch: tune/conv_weight_backward/patch") && stdout.contains("conv_weight_backward.md"),
        "{stdout}"
    );
    insta::assert_snapshot!("cli_apply", redact(&env, &stdout));
    assert_eq!(git_out(&env.repo, &["branch", "--show-current"]).trim(), "tune/conv_weight_backward/patch");
    assert_eq!(git_out(&env.repo, &["rev-list", "--count", "main..HEAD"]).trim(), files.len().to_string());
    // A second apply finds it applied.
    let out = xtask(&env, &["--patches-dir", &pd, "apply", "--branch", "again"]);
    assert!(!out.status.success() && stderr(&out).contains("already applied"), "{}", stderr(&out));
}

/// The kept build (what validation benchmarks) of `commit`.
fn kept_build_of(env: &Env, commit: &str) -> std::path::PathBuf {
    for dir in std::fs::read_dir(env.work().join("kept")).unwrap().map(|e| e.unwrap().path()) {
        if dir.join("kept.json").is_file() && read_json(&dir.join("kept.json"))["commit"] == commit {
            return dir;
        }
    }
    panic!("no kept build of {commit}");
}

/// The two builds the last validation round benchmarked: its baseline and
/// its patched compiler, kept.
fn validated_builds(env: &Env) -> (std::path::PathBuf, std::path::PathBuf) {
    let v = read_json(&env.runs().join("conv_weight_backward/validation/validation.json"));
    let patched = v["rounds"].as_array().unwrap().last().unwrap()["patched_commit"].as_str().unwrap().to_string();
    (kept_build_of(env, v["baseline_build"].as_str().unwrap()), kept_build_of(env, &patched))
}

/// Geomean of baseline/patched per-shape times from the noise-free model,
/// run on the two builds validation benchmarked.
fn true_speedup(env: &Env, shapes: &[String]) -> f64 {
    let (base, patched) = validated_builds(env);
    let (before, after) = (times(env, &base, shapes, "gfx942"), times(env, &patched, shapes, "gfx942"));
    let logs: Vec<f64> = before.iter().zip(&after).map(|(b, p)| (b / p).ln()).collect();
    (logs.iter().sum::<f64>() / logs.len() as f64).exp()
}

#[test]
fn validation_with_noise_and_drift_brackets_the_noise_free_speedup() {
    let env = fixture(false, "\n[bench.env]\nFIXTURE_BOO_NOISE = \"0.05\"\nFIXTURE_BOO_DRIFT = \"0.05\"\n");
    ok(xtask(&env, &["sweep", "--quick"]));
    let pd = patches(&env).to_str().unwrap().to_string();
    ok(xtask(&env, &["--patches-dir", &pd, "validate", "--rounds", "5", "--update-tests", "--refine-rounds", "0"]));
    let run = env.runs().join("conv_weight_backward");
    let v = read_json(&run.join("validation/validation.json"));
    let last = v["rounds"].as_array().unwrap().last().unwrap();
    let (lo, hi) =
        (last["summary"]["geomean_ci"][0].as_f64().unwrap(), last["summary"]["geomean_ci"][1].as_f64().unwrap());
    let shapes: Vec<String> =
        last["shapes"].as_array().unwrap().iter().map(|s| s["command"].as_str().unwrap().to_string()).collect();
    let truth = true_speedup(&env, &shapes);
    eprintln!("validation CI [{lo:.4}, {hi:.4}], noise-free {truth:.4}");
    assert!(lo <= truth && truth <= hi, "noise-free speedup {truth:.4} outside the 95% CI [{lo:.4}, {hi:.4}]");
    assert!(truth > 1.0, "the recommendation should help: {truth}");
    only_measured_decisions_change(&env, &shapes);
}

/// The driver's noise-free times of `shapes` on a build, on `arch`.
fn times(env: &Env, build: &Path, shapes: &[String], arch: &str) -> Vec<f64> {
    let commands = env.root().join(format!("times-{arch}.txt"));
    std::fs::write(&commands, shapes.join("\n") + "\n").unwrap();
    let csv = env.root().join(format!("times-{arch}.csv"));
    let out = Command::new("python3")
        .args(["-m", "iree.turbine.kernel.boo.driver.driver", "--commands-file"])
        .arg(&commands)
        .arg("--csv")
        .arg(&csv)
        .env("PATH", format!("{}:{}", build.join("tools").display(), std::env::var("PATH").unwrap()))
        .env(
            "PYTHONPATH",
            format!(
                "{}:{}:{}",
                build.join("compiler/bindings/python").display(),
                build.join("runtime/bindings/python").display(),
                workspace().join("tests/fixtures/turbine").display()
            ),
        )
        .env("FIXTURE_BOO_TRUTH", "1")
        .env("FIXTURE_BOO_ARCH", arch)
        .output()
        .unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let rows =
        xtask::testkit::parse_boo_csv(&std::fs::read_to_string(&csv).unwrap(), "iree_boo_experimental mean").unwrap();
    rows.into_iter().map(|r| r.value.unwrap()).collect()
}

/// `iree_linalg_ext.split_reduction` per function, as a build's iree-opt
/// sets it on a lit test file.
fn splits(build: &Path, file: &Path, low: bool) -> std::collections::BTreeMap<String, String> {
    let mut cmd = Command::new(build.join("tools/iree-opt"));
    cmd.arg("--iree-dispatch-creation-set-split-reduction-sizes");
    if low {
        cmd.arg("--iree-dispatch-creation-split-reduction-low-parallelism");
    }
    let out = cmd.arg(file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut by = std::collections::BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(name) = line.split('@').nth(1).filter(|_| line.contains("func.func")) {
            current = name.split([' ', '(', '{']).next().unwrap().to_string();
        }
        if let Some(at) = line.find("iree_linalg_ext.split_reduction") {
            by.insert(current.clone(), line[at..].to_string());
        }
    }
    by
}

/// Issue 9's acceptance on the patch validation built: tuning default
/// targets leaves every low-parallelism decision as it was (the benchmark
/// on a low-parallelism device and the low-parallelism lit test, run on
/// both builds), the lit cases that change are the audit's (inside the
/// measured range), the cases outside it keep their results, and the audit
/// counts no change beyond the measured range or on the other target.
fn only_measured_decisions_change(env: &Env, shapes: &[String]) {
    let run = env.runs().join("conv_weight_backward");
    let analysis = read_json(&run.join("analysis.json"));
    let (base, patched) = validated_builds(env);
    assert_eq!(times(env, &base, shapes, "gfx1100"), times(env, &patched, shapes, "gfx1100"));
    // The user's checkout is the validated base.
    let test_dir = env.repo.join("compiler/src/iree/compiler/DispatchCreation/test");
    let low_file = test_dir.join("set_split_reduction_sizes_low_parallelism.mlir");
    assert_eq!(splits(&base, &low_file, true), splits(&patched, &low_file, true));
    let heuristics = analysis["heuristics"].as_array().unwrap();
    let audited: std::collections::BTreeSet<String> = heuristics
        .iter()
        .flat_map(|h| h["audit"]["lit_changes"].as_array().unwrap().iter().map(|c| c[1].as_str().unwrap().to_string()))
        .collect();
    let mut outside = 0;
    for h in heuristics {
        let audit = &h["audit"];
        assert_eq!(audit["counts"]["outside_hull"], 0, "{}", h["heuristic"]);
        assert_eq!(audit["counts"]["other_target"], 0, "{}", h["heuristic"]);
        let range = |q: &str| {
            let r = &audit["hull"]["ranges"][q];
            (r[0].as_i64().unwrap(), r[1].as_i64().unwrap())
        };
        let ((olo, ohi), (rlo, rhi)) = (range("outputSize"), range("reductionSize"));
        let name = if h["heuristic"] == "conv" {
            "set_split_reduction_sizes_conv.mlir"
        } else {
            "set_split_reduction_sizes_gemm.mlir"
        };
        let file = test_dir.join(name);
        let (before, after) = (splits(&base, &file, false), splits(&patched, &file, false));
        let cases = xtask::testkit::lit_cases(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for (function, sizes) in cases {
            let changed = before.get(&function) != after.get(&function);
            assert!(!changed || audited.contains(&function), "{name} @{function} changed, and the audit did not say");
            if sizes.is_some_and(|(o, r)| o < olo || o > ohi || r < rlo || r > rhi) {
                outside += 1;
                assert!(!changed, "{name} @{function} lies beyond the measured range and changed");
            }
        }
    }
    assert!(outside > 0, "the fixture's lit tests should hold cases beyond the swept range");
    // The patches leave the low-parallelism test as it is.
    for entry in std::fs::read_dir(patches(env)).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains("set_split_reduction_sizes_low_parallelism.mlir"));
    }
}

#[test]
fn a_regressing_patch_is_not_ready_and_refinement_removes_the_regression() {
    let env = fixture(false, "");
    ok(xtask(&env, &["sweep", "--quick"]));
    // Corrupt the sweep: the twelve smallest convolutions look ten times
    // faster unsplit (limit 1) than they are, so the fitted rule stops
    // splitting them, which validation measures as a large regression.
    let run = env.runs().join("conv_weight_backward");
    let path = run.join("results.json");
    let mut results = read_json(&path);
    let mut conv: Vec<(i64, usize)> = results["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, s)| s["features"]["heuristic"] == "conv")
        .map(|(i, s)| (s["features"]["output_size"].as_i64().unwrap(), i))
        .collect();
    conv.sort();
    let victims: Vec<usize> = conv.iter().take(12).map(|x| x.1).collect();
    for &i in &victims {
        let s = &mut results["shapes"][i];
        let base: Vec<f64> =
            s["runs"]["baseline"]["samples"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let fake: Vec<serde_json::Value> = base.iter().map(|b| serde_json::json!(b / 10.0)).collect();
        s["runs"]["limit-1"]["samples"] = serde_json::Value::Array(fake);
    }
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap()).unwrap();

    let pd = patches(&env).to_str().unwrap().to_string();
    let err =
        ok(xtask(&env, &["--patches-dir", &pd, "validate", "--rounds", "3", "--update-tests", "--refine-rounds", "0"]));
    assert!(err.contains("verdict: not ready"), "{err}");
    let victim_cmd = results["shapes"][victims[0]]["command"].as_str().unwrap();
    assert!(
        err.contains(&format!("regresses `{victim_cmd}`")),
        "the verdict does not name the regressed shape:\n{err}"
    );
    // The report shows the regression per shape (Part 6, shortened, the
    // full command on hover) and in the validation figure, readable.
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    let row = report.lines().find(|l| l.ends_with("| **regressed** |")).expect("a regressed row in Part 6");
    assert!(row.starts_with("| `convbfp16 ") && row.contains(" (") && !row.contains("--iter"), "{row}");
    let page = run.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(&format!("<code title=\"{victim_cmd}\">")), "no full command on hover");
    assert!(html.contains("regressed (") && html.contains("fill=\"#d62728\" stroke=\"#000\""), "no regression marked");
    let figures = browser::layout(&page, env.root());
    let mut kinds = browser::SWEEP_FIGURES.to_vec();
    kinds.push(browser::VALIDATION_FIGURE);
    browser::assert_readable(&figures, &["conv", "matmul"], &kinds);

    let err = ok(xtask(&env, &["--patches-dir", &pd, "validate", "--rounds", "3", "--update-tests"]));
    let v = read_json(&run.join("validation/validation.json"));
    let rounds = v["rounds"].as_array().unwrap();
    assert!(rounds.len() >= 2, "no refinement round:\n{err}");
    assert!(rounds[0]["summary"]["regressed"].as_u64().unwrap() > 0);
    assert_eq!(rounds.last().unwrap()["summary"]["regressed"], 0, "{err}");
    assert!(err.contains("verdict: ready"), "{err}");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("Refinement history"), "{report}");
    // Analysing again reproduces the validated (refined) rule and keeps
    // its validation in the report.
    ok(xtask(&env, &["analyze"]));
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("**Verdict: ready**") && report.contains("Refinement history"), "{report}");
}

#[test]
fn low_parallelism_targets_are_tuned_without_touching_the_default_ones() {
    // An RDNA-class simulated GPU: boo compiles with the low-parallelism
    // parameters there, so those are the values the sweep can tune.
    let env = fixture(false, "\n[heuristics]\nlow_parallelism = true\n\n[bench.env]\nFIXTURE_BOO_ARCH = \"gfx1100\"\n");
    ok(xtask(&env, &["sweep", "--quick"]));
    let run = env.runs().join("conv_weight_backward");
    let results = read_json(&run.join("results.json"));
    // The predicted baseline split (low-parallelism values) is what the GPU ran.
    for s in results["shapes"].as_array().unwrap() {
        let d = &s["decisions"]["baseline"];
        let split = d["tile_sizes"].is_array() && d["tile_sizes"] != s["features"]["reduction_dims"];
        assert_eq!(
            s["runs"]["baseline"]["dispatches"].as_f64().unwrap(),
            if split { 2.0 } else { 1.0 },
            "{}",
            s["command"]
        );
    }
    let err = ok(xtask(&env, &["analyze"]));
    assert!(err.contains("recommended diff"), "{err}");
    // The analysis checked the default targets' decisions are unchanged on
    // every shape; the code says how it keeps them.
    let diff = std::fs::read_to_string(run.join("recommended-conv.diff")).unwrap();
    assert!(diff.contains("if (!lowParallelism) {") || diff.contains("lowParallelism ?"), "{diff}");
    let pd = patches(&env).to_str().unwrap().to_string();
    let err = ok(xtask(&env, &["--patches-dir", &pd, "validate", "--rounds", "3", "--update-tests"]));
    assert!(err.contains("verdict: ready"), "{err}");
}

/// With two devices, one 10% slower, validation runs each build's shapes on
/// both over the rounds and reports each device's figures: the patch's
/// speedup alike on both, the slow device's runtimes 10% above the fast one's.
#[test]
fn validation_on_two_devices_reports_each_device_s_effect() {
    let env = fixture(false, "\n[bench.env]\nFIXTURE_BOO_DEVICE_SPEEDS = \"1.0,1.1\"\n");
    let config =
        std::fs::read_to_string(&env.config).unwrap().replace("[bench]\n", "[bench]\ndevices = [\"0\", \"1\"]\n");
    std::fs::write(&env.config, config).unwrap();
    // One candidate keeps it short: the rule is limit 64 where it helps.
    ok(xtask(&env, &["sweep", "--limits", "64"]));
    ok(xtask(&env, &["analyze"]));
    let pd = patches(&env).to_str().unwrap().to_string();
    ok(xtask(&env, &["--patches-dir", &pd, "validate", "--rounds", "2"]));
    let run = env.runs().join("conv_weight_backward");
    let v = read_json(&run.join("validation/validation.json"));
    let devices = v["rounds"].as_array().unwrap().last().unwrap()["devices"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 2, "{devices:?}");
    let f = |d: usize, k: &str| devices[d][k].as_f64().unwrap();
    assert!((f(1, "relative_runtime") / f(0, "relative_runtime") - 1.1).abs() < 0.01, "{devices:?}");
    assert!((f(1, "speedup") / f(0, "speedup") - 1.0).abs() < 0.01, "{devices:?}");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("| device | (shape, round) pairs | patch speedup |"), "{report}");
}

/// Both targets in one sweep, the low-parallelism one on an RDNA-class
/// simulated GPU.
const BOTH_TARGETS: &str = "\n[heuristics]\ntargets = [\"default\", \"low_parallelism\"]\n\n\
                            [bench.targets.default]\n\n[bench.targets.low_parallelism]\n\
                            env = { FIXTURE_BOO_ARCH = \"gfx1100\" }\n";

/// Issue 9, item 6: one sweep measures default and low-parallelism targets
/// (each on a simulated GPU of its kind), and one patch series changes each
/// target only where its own measurements say so: the low-parallelism
/// patches are fitted and validated on the code the default ones leave,
/// and leave the default decisions as those put them (the two builds of the
/// low-parallelism validation give the same default-target runtimes and
/// lit results).
#[test]
fn one_sweep_tunes_both_targets_each_where_its_own_measurements_say() {
    let env = fixture(false, BOTH_TARGETS);
    // Where the code does not tell the targets apart (the 2025 revision has
    // no `lowParallelism`), they cannot be tuned apart: refused up front.
    let out = xtask(&env, &["--rev", "fixture-2025", "sweep", "--quick", "--dry-run", "--name", "old"]);
    assert!(!out.status.success() && stderr(&out).contains("decides alike for default and low-parallelism"));
    let err = ok(xtask(&env, &["sweep", "--quick", "--strategy", "probe"]));
    insta::assert_snapshot!("cli_sweep_two_targets", redact(&env, &err));
    // One build serves every candidate on both targets, and the compiler
    // logged the low-parallelism decisions the model predicts for them (the
    // benchmark compiled with the flag).
    assert_eq!(err.matches(": built in ").count(), 1, "{err}");
    assert!(err.contains("[low_parallelism] limit-64: the probe build serves it (no build)"), "{err}");
    assert!(err.contains("[low_parallelism] limit-64: the compiler's logged decisions match the predictions"), "{err}");
    let first = env.runs().join("conv_weight_backward");
    let second = env.runs().join("conv_weight_backward-low-parallelism");
    // Each run measured its own target: the low-parallelism GPU runs the
    // low-parallelism values (its predicted baseline split is what ran).
    for (run, low) in [(&first, false), (&second, true)] {
        let results = read_json(&run.join("results.json"));
        assert_eq!(results["provenance"]["invocation"]["low_parallelism"], low);
        assert!(run.join("targets.json").exists());
    }
    let results = read_json(&second.join("results.json"));
    for s in results["shapes"].as_array().unwrap() {
        let d = &s["decisions"]["baseline"];
        let split = d["tile_sizes"].is_array() && d["tile_sizes"] != s["features"]["reduction_dims"];
        assert_eq!(s["runs"]["baseline"]["dispatches"].as_f64().unwrap(), if split { 2.0 } else { 1.0 });
    }

    let err = ok(xtask(&env, &["analyze"]));
    insta::assert_snapshot!("cli_analyze_two_targets", redact(&env, &err));
    assert!(err.contains("writing the rule on the change of run `conv_weight_backward`"), "{err}");
    for run in [&first, &second] {
        let analysis = read_json(&run.join("analysis.json"));
        let changed: Vec<_> =
            analysis["heuristics"].as_array().unwrap().iter().filter(|h| h["rule"].is_object()).collect();
        assert!(!changed.is_empty(), "{} recommends nothing:\n{err}", run.display());
        for h in changed {
            let counts = &h["audit"]["counts"];
            assert_eq!((counts["outside_hull"].as_u64(), counts["other_target"].as_u64()), (Some(0), Some(0)), "{h}");
        }
    }

    let pd = patches(&env).to_str().unwrap().to_string();
    let err = ok(xtask(&env, &["--patches-dir", &pd, "validate", "--rounds", "2", "--update-tests"]));
    assert_eq!(err.matches("verdict: ready").count(), 2, "{err}");
    // The low-parallelism validation's baseline is the default one's
    // validated build.
    let last = |run: &Path| {
        let v = read_json(&run.join("validation/validation.json"));
        v["rounds"].as_array().unwrap().last().unwrap()["patched_commit"].as_str().unwrap().to_string()
    };
    let (c1, c12) = (last(&first), last(&second));
    assert_eq!(read_json(&second.join("retarget.json"))["commit"].as_str().unwrap(), c1);
    let (before, after) = (kept_build_of(&env, &c1), kept_build_of(&env, &c12));
    let shapes: Vec<String> =
        results["shapes"].as_array().unwrap().iter().map(|s| s["command"].as_str().unwrap().to_string()).collect();
    assert_eq!(times(&env, &before, &shapes, "gfx942"), times(&env, &after, &shapes, "gfx942"));
    assert_ne!(times(&env, &before, &shapes, "gfx1100"), times(&env, &after, &shapes, "gfx1100"));
    let tests = env.repo.join("compiler/src/iree/compiler/DispatchCreation/test");
    for name in ["set_split_reduction_sizes_conv.mlir", "set_split_reduction_sizes_gemm.mlir"] {
        assert_eq!(splits(&before, &tests.join(name), false), splits(&after, &tests.join(name), false), "{name}");
    }

    // The series: each target's patches name it, say what the other
    // target's patches do, share one base, and `apply` puts all of them on
    // one branch whose heuristic file is the low-parallelism validation's.
    let dir = patches(&env);
    let subject = |f: &str| {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(text.contains("base-commit: ") && text.contains("Validation verdict: ready"), "{text}");
        text.lines().find_map(|l| l.strip_prefix("Subject: [PATCH] ")).unwrap().to_string()
    };
    assert!(subject("conv_weight_backward-conv.patch").contains("limits for default targets"));
    assert!(subject("conv_weight_backward-low-parallelism-conv.patch").contains("limits for low-parallelism targets"));
    let low = std::fs::read_to_string(dir.join("conv_weight_backward-low-parallelism-conv.patch")).unwrap();
    assert!(low.replace('\n', " ").contains("default targets keep the decisions the patches before this one"), "{low}");
    let pr = std::fs::read_to_string(dir.join("conv_weight_backward.md")).unwrap();
    assert!(pr.contains("## Default targets (run `conv_weight_backward`)"), "{pr}");
    assert!(pr.contains("## Low-parallelism targets (run `conv_weight_backward-low-parallelism`)"), "{pr}");
    assert_eq!(pr.matches("## Reproduce").count(), 1, "{pr}");
    let err = ok(xtask(&env, &["--patches-dir", &pd, "apply"]));
    assert!(err.contains("tune/conv_weight_backward/patch"), "{err}");
    let log = git_out(&env.repo, &["log", "--format=%s", "-4"]);
    assert_eq!(log.lines().filter(|l| l.contains("for low-parallelism targets")).count(), 2, "{log}");
    let file = "compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp";
    assert_eq!(
        git_out(&env.repo, &["show", &format!("HEAD:{file}")]),
        git_out(&env.repo, &["show", &format!("{c12}:{file}")])
    );
}

/// A candidate whose build fails fails for every target, and is built once:
/// the second target records the first one's failure instead of building
/// the same code again.
#[test]
fn a_candidate_that_does_not_build_is_built_once_for_both_targets() {
    let env = fixture(false, BOTH_TARGETS);
    // A compiler launcher that refuses the heuristic pinned to limit 64.
    let launcher = env.root().join("refuse-64.sh");
    std::fs::write(
        &launcher,
        "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in *SetSplitReductionSizes.cpp)\n\
         if grep -q 'return 64; // split-reduction-tuner: candidate limit' \"$a\"; then\n\
         echo \"error: the test's launcher refuses limit 64\" >&2; exit 1; fi;; esac; done\nexec \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = std::fs::read_to_string(&env.config).unwrap().replace(
        "[build]\n",
        &format!("[build]\nconfigure_args = [\"-DCMAKE_CXX_COMPILER_LAUNCHER={}\"]\n", launcher.display()),
    );
    std::fs::write(&env.config, config).unwrap();
    let err = ok(xtask(&env, &["--repeats", "1", "sweep", "--limits", "64,128", "--no-remeasure"]));
    // Built (and failed) once, for the first target; the second records it.
    assert_eq!(err.matches("limit-64: build failed after").count(), 2, "{err}");
    assert!(err.contains("[default] limit-64: build failed after"), "{err}");
    assert!(err.contains("[low_parallelism] limit-64: the same build failed for another target"), "{err}");
    let log = env.runs().join("conv_weight_backward/candidates/limit-64/build.log");
    assert!(std::fs::read_to_string(&log).unwrap().contains("refuses limit 64"));
    assert!(err.contains("[low_parallelism] limit-128: its build is still in the slot (no build)"), "{err}");
    for run in ["conv_weight_backward", "conv_weight_backward-low-parallelism"] {
        let results = read_json(&env.runs().join(run).join("results.json"));
        let c = results["candidates"].as_array().unwrap().iter().find(|c| c["name"] == "limit-64").unwrap().clone();
        assert_eq!(c["status"], "build_failed", "{run}: {c}");
        assert!(c["error"].as_str().unwrap().contains(&log.display().to_string()), "{run}: {c}");
    }
}

/// A kept build (what `validate` benchmarks, outside any build slot) runs
/// its own libIREECompiler.so. The fixture's tools carry their build's
/// absolute RPATH and its Python package an absolute symlink to the
/// library, as IREE's build tree does, so an unfixed copy would run the
/// build it came from; the kept copy runs with that build moved away, and
/// the dynamic loader and Python both load the copy's library.
#[test]
fn a_kept_build_runs_its_own_library_with_its_build_directory_gone() {
    let env = fixture(true, "");
    let build = env.build.clone();
    let readelf = |f: &Path| {
        let out = Command::new("readelf").arg("-d").arg(f).output().expect("readelf runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The hazard is real in the fixture, as in IREE.
    assert!(readelf(&build.join("tools/iree-compile")).contains(&format!("[{}/lib]", build.display())));
    let link = "compiler/bindings/python/iree/compiler/_mlir_libs/libIREECompiler.so";
    assert!(std::fs::read_link(build.join(link)).unwrap().is_absolute());

    // The slot may name the build by another spelling than CMake recorded
    // (a symlinked path), and MLIR links the build tree's Python sources
    // into the checkout: neither may lead the copy back.
    let alias = env.root().join("alias-of-build");
    std::os::unix::fs::symlink(&build, &alias).unwrap();
    let source_link = "compiler/bindings/python/iree/compiler/from_source.py";
    let source_file = env.repo.join("compiler/bindings/python/iree/compiler/__init__.py.in");
    std::os::unix::fs::symlink(&source_file, build.join(source_link)).unwrap();
    let kept = env.root().join("kept");
    xtask::testkit::keep_build(&alias, &env.repo, &kept).unwrap();
    std::fs::rename(&build, env.root().join("moved-away")).unwrap();
    let meta = std::fs::symlink_metadata(kept.join(source_link)).unwrap();
    assert!(meta.is_file(), "a link into the checkout is kept as the file it names");

    assert!(readelf(&kept.join("tools/iree-compile")).contains("[$ORIGIN/../lib]"));
    assert_eq!(std::fs::read_link(kept.join(link)).unwrap(), Path::new("../../../../../../lib/libIREECompiler.so"));
    assert!(!kept.join("compiler/bindings/python/CMakeFiles").exists(), "object directories are not kept");
    let out = Command::new(kept.join("tools/iree-compile")).arg("--version").env("LD_DEBUG", "libs").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let loaded = format!("calling init: {}/tools/../lib/libIREECompiler.so", kept.display());
    assert!(err.contains(&loaded), "the kept tool loads its own library:\n{err}");

    let dotenv = std::fs::read_to_string(kept.join(".env")).unwrap();
    assert!(!dotenv.contains(&build.display().to_string()), "{dotenv}");
    assert!(dotenv.contains(&kept.join("compiler/bindings/python").display().to_string()), "{dotenv}");
    let pythonpath = dotenv.lines().find_map(|l| l.strip_prefix("PYTHONPATH=")).expect("a PYTHONPATH line");
    let script = "import iree.compiler as c\nc.version()\nprint([l.split()[-1] for l in open('/proc/self/maps') \
                  if 'libIREECompiler' in l][0])";
    let out = Command::new("python3").args(["-c", script]).env("PYTHONPATH", pythonpath).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mapped = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(Path::new(&mapped), kept.join("lib/libIREECompiler.so"));
}
