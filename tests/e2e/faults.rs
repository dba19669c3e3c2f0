//! Fault injection: what a hostile or unlucky user does to the tool, and
//! what they see. Concurrent runs on one checkout, `kill -9` and Ctrl-C at
//! the worst moments, a reused run name, damaged files, a benchmark that
//! dies part-way, and cleaning up. The fixture runs noise-free, so equal
//! inputs must give equal numbers: any mixing of builds or runs shows.

use crate::common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the real binary; its stderr goes to `<name>.err` in the test dir.
fn spawn(env: &Env, name: &str, args: &[&str], vars: &[(&str, &str)]) -> Child {
    let err = std::fs::File::create(env.root().join(format!("{name}.err"))).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.arg("--config").arg(&env.config).args(args).current_dir(env.root()).stdout(Stdio::null()).stderr(err);
    for (k, v) in vars {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

fn err_of(env: &Env, name: &str) -> String {
    std::fs::read_to_string(env.root().join(format!("{name}.err"))).unwrap_or_default()
}

/// Waits for `cond`, polling; false after `limit`.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Processes whose command line or working directory is under `dir`.
fn processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cwd = std::fs::read_link(e.path().join("cwd")).map(|p| p.display().to_string()).unwrap_or_default();
        if cmdline.contains(&needle) || cwd.starts_with(&needle) {
            out.push(format!("{pid}: {cmdline} (in {cwd})"));
        }
    }
    out
}

/// Per shape and candidate: the median runtime and kernels per launch.
fn measured(env: &Env, run: &str) -> Vec<(String, String, f64, f64)> {
    let r = read_json(&env.runs().join(run).join("results.json"));
    let mut out = Vec::new();
    for s in r["shapes"].as_array().unwrap() {
        for (c, m) in s["runs"].as_object().unwrap() {
            let mut v: Vec<f64> = m["samples"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            v.sort_by(f64::total_cmp);
            let median = v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
            out.push((
                s["command"].as_str().unwrap().into(),
                c.clone(),
                median,
                m["dispatches"].as_f64().unwrap_or(0.0),
            ));
        }
    }
    out
}

/// Every measured split matches the prediction: two kernels exactly when
/// the code splits. A build of another candidate would break this.
fn assert_consistent(env: &Env, run: &str) {
    let r = read_json(&env.runs().join(run).join("results.json"));
    for s in r["shapes"].as_array().unwrap() {
        for (c, d) in s["decisions"].as_object().unwrap() {
            let split = d["tile_sizes"].is_array() && d["tile_sizes"] != s["features"]["reduction_dims"];
            let kernels = s["runs"][c]["dispatches"].as_f64().unwrap();
            assert_eq!(kernels, if split { 2.0 } else { 1.0 }, "{run}: {} at {c}", s["command"]);
        }
    }
}

fn small(env: &Env) -> String {
    commands_file(env, "small.txt", SMALL_WORKLOAD).display().to_string()
}

#[test]
fn two_sweeps_started_together_each_measure_their_own_builds() {
    two_sweeps_together(&fixture(false, ""));
}

/// The same with overlay slots: two sets of layers on one user build, each
/// mounted only for its own jobs.
#[test]
fn two_sweeps_on_overlays_of_one_build_each_measure_their_own_builds() {
    let env = fixture(true, "");
    let checkout_before = checkout_state(&env.repo);
    let build_before = dir_snapshot(&env.build);
    two_sweeps_together(&env);
    assert!(err_of(&env, "a").contains("an overlay on your checkout"), "{}", err_of(&env, "a"));
    assert_eq!(checkout_state(&env.repo), checkout_before);
    assert_eq!(dir_snapshot(&env.build), build_before, "the user's build dir changed");
}

fn two_sweeps_together(env: &Env) {
    let cmds = small(env);
    let mut a = spawn(env, "a", &["sweep", &cmds, "--limits", "1,64", "--name", "a"], &[]);
    let mut b = spawn(env, "b", &["sweep", &cmds, "--limits", "1,64", "--name", "b"], &[]);
    assert!(a.wait().unwrap().success(), "{}", err_of(env, "a"));
    assert!(b.wait().unwrap().success(), "{}", err_of(env, "b"));
    // One slot each, and equal numbers from both.
    let used: Vec<String> = (0..2)
        .map(|i| read_json(&env.work().join(format!("slot-{i}/slot.json")))["last_run"].as_str().unwrap().to_string())
        .collect();
    assert!(used.contains(&"a".to_string()) && used.contains(&"b".to_string()), "{used:?}");
    assert_consistent(env, "a");
    assert_consistent(env, "b");
    assert_eq!(measured(env, "a"), measured(env, "b"));
}

#[test]
fn a_validation_during_a_sweep_measures_its_own_builds() {
    let env = fixture(false, "");
    ok(xtask(&env, &["sweep", "--quick", "--name", "a"]));
    let pd = env.root().join("patches").display().to_string();
    let mut sweep = spawn(&env, "sweep", &["sweep", "--quick", "--name", "b"], &[]);
    let validate_args =
        ["--patches-dir", &pd, "validate", "a", "--rounds", "2", "--refine-rounds", "0", "--update-tests"];
    let mut validate = spawn(&env, "validate", &validate_args, &[]);
    assert!(sweep.wait().unwrap().success(), "{}", err_of(&env, "sweep"));
    assert!(validate.wait().unwrap().success(), "{}", err_of(&env, "validate"));
    assert!(err_of(&env, "validate").contains("verdict:"), "{}", err_of(&env, "validate"));
    assert_eq!(measured(&env, "a"), measured(&env, "b"));
    // The validation's baseline measured the baseline, the same numbers the
    // sweep did (a mixed-up slot would have measured another build).
    let v = read_json(&env.runs().join("a/validation/validation.json"));
    let base: Vec<(String, f64)> =
        measured(&env, "a").into_iter().filter(|(_, c, _, _)| c == "baseline").map(|(cmd, _, m, _)| (cmd, m)).collect();
    for s in v["rounds"][0]["shapes"].as_array().unwrap() {
        let want = base.iter().find(|(c, _)| c == s["command"].as_str().unwrap()).unwrap().1;
        assert_eq!(s["baseline_median"].as_f64().unwrap(), want, "{}", s["command"]);
    }
}

#[test]
fn kill_9_during_a_build_leaves_no_process_behind() {
    let env = fixture(false, "");
    let cmds = small(&env);
    let mut child = spawn(&env, "killed", &["sweep", &cmds, "--limits", "64", "--name", "k"], &[]);
    let log = env.runs().join("k/candidates/baseline/build.log");
    let building = wait_for(Duration::from_secs(120), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("--build")) && !processes_under(&env.work()).is_empty()
    });
    assert!(building, "the build never started: {}", err_of(&env, "killed"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let left = processes_under(&env.work());
    assert!(left.is_empty(), "still running 2 s after kill -9:\n{}", left.join("\n"));
    // The rerun finishes the work.
    ok(xtask(&env, &["sweep", &cmds, "--limits", "64", "--name", "k"]));
    assert_consistent(&env, "k");
}

/// `kill -9` while an overlay slot's benchmark runs (in a namespace of
/// its own): nothing survives, the user's trees are as they were, and the
/// rerun finishes the work.
#[test]
fn kill_9_during_an_overlay_benchmark_leaves_no_process_and_no_trace() {
    let env = fixture(true, "");
    let checkout_before = checkout_state(&env.repo);
    let build_before = dir_snapshot(&env.build);
    let cmds = small(&env);
    let slow = [("FIXTURE_BOO_DELAY_S", "0.15")];
    let args = ["sweep", cmds.as_str(), "--limits", "64", "--name", "k"];
    let mut child = spawn(&env, "killed", &args, &slow);
    let bench = env.runs().join("k/candidates/limit-64/bench-r0.log");
    assert!(wait_for(Duration::from_secs(180), || bench.exists()), "{}", err_of(&env, "killed"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(err_of(&env, "killed").contains("an overlay on your checkout"), "{}", err_of(&env, "killed"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let left = processes_under(env.root());
    assert!(left.is_empty(), "still running 2 s after kill -9:\n{}", left.join("\n"));
    assert_eq!(checkout_state(&env.repo), checkout_before);
    assert_eq!(dir_snapshot(&env.build), build_before, "the user's build dir changed");
    ok(xtask(&env, &args));
    assert_consistent(&env, "k");
}

/// The user builds in their build directory while an overlay slot's
/// benchmark stands on it: the run stops rather than keep a measurement
/// that may mix two builds, and the rerun starts the slot over from the
/// new build.
#[test]
fn a_user_build_under_an_overlay_benchmark_stops_the_run_and_the_rerun_finishes() {
    let env = fixture(true, "");
    let cmds = small(&env);
    let slow = [("FIXTURE_BOO_DELAY_S", "0.15")];
    let args = ["sweep", cmds.as_str(), "--limits", "64", "--name", "u"];
    let mut child = spawn(&env, "built-under", &args, &slow);
    let bench = env.runs().join("u/candidates/limit-64/bench-r0.log");
    assert!(wait_for(Duration::from_secs(180), || bench.exists()), "{}", err_of(&env, "built-under"));
    // What a `ninja` in the user's build directory leaves: a longer log.
    let ninja_log = env.build.join(".ninja_log");
    let mut text = std::fs::read_to_string(&ninja_log).unwrap();
    text.push_str("0\t1\t0\tsome/object.o\t0\n");
    std::fs::write(&ninja_log, text).unwrap();
    let status = child.wait().unwrap();
    let err = err_of(&env, "built-under");
    assert!(!status.success(), "{err}");
    assert!(err.contains("changed under this run") && err.contains("may mix two builds"), "{err}");
    assert!(processes_under(env.root()).is_empty(), "{:?}", processes_under(env.root()));
    // The rerun finishes, measuring limit-64 afresh.
    let again = ok(xtask(&env, &args));
    assert!(again.contains("baseline: reusing the finished result"), "{again}");
    assert!(again.contains("limit-64: built in"), "{again}");
    assert_consistent(&env, "u");
}

#[test]
fn ctrl_c_during_a_benchmark_stops_cleanly_and_the_rerun_matches() {
    let env = fixture(false, "");
    let cmds = small(&env);
    let slow = [("FIXTURE_BOO_DELAY_S", "0.15")];
    let args = ["sweep", cmds.as_str(), "--limits", "1,64", "--name", "i"];
    let mut child = spawn(&env, "interrupted", &args, &slow);
    let bench = env.runs().join("i/candidates/limit-64/bench-r0.log");
    assert!(wait_for(Duration::from_secs(180), || bench.exists()), "{}", err_of(&env, "interrupted"));
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let err = err_of(&env, "interrupted");
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted by Ctrl-C (SIGINT)") && err.contains("2 of 3 candidates finished"), "{err}");
    assert!(err.contains("resume with `cargo xtask --config") && err.contains("--name i`"), "{err}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(processes_under(&env.work()).is_empty(), "{:?}", processes_under(&env.work()));
    // The rerun completes, and equals an undisturbed run.
    let again = ok(xtask(&env, &args));
    assert!(again.contains("limit-1: reusing the finished result"), "{again}");
    ok(xtask(&env, &["sweep", &cmds, "--limits", "1,64", "--name", "undisturbed"]));
    assert_eq!(measured(&env, "i"), measured(&env, "undisturbed"));
}

/// Killed while a candidate's ambiguous pairs are measured again from the
/// kept copy of its build (the slot building the next candidate ahead):
/// the rerun reuses its result and measures those pairs from that copy,
/// without building it again, then removes the copy.
#[test]
fn kill_during_a_re_measurement_then_the_rerun_measures_from_the_kept_copy() {
    let extra = "\n[bench.env]\nFIXTURE_BOO_NOISE = \"0.05\"\nFIXTURE_BOO_DRIFT = \"0.05\"\nFIXTURE_BOO_SEED = \"1\"\n";
    let env = fixture(false, &format!("build_ahead = \"on\"\n{extra}"));
    let cmds = small(&env);
    let args = ["sweep", cmds.as_str(), "--limits", "1,64", "--name", "r"];
    let mut child = spawn(&env, "killed", &args, &[("FIXTURE_BOO_DELAY_S", "0.15")]);
    let again = env.runs().join("r/candidates/limit-1-remeasure");
    let started = wait_for(Duration::from_secs(300), || again.join("bench-r0.log").exists());
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let err = err_of(&env, "killed");
    assert!(started, "limit-1 measured nothing again:\n{err}");
    assert!(err.contains("limit-64: building while limit-1 is benchmarked"), "{err}");
    let kept = || std::fs::read_dir(env.work().join("kept")).unwrap().count();
    assert_eq!(kept(), 2, "the baseline's and limit-1's copies");

    let rerun = ok(xtask(&env, &args));
    assert!(rerun.contains("limit-1: reusing the finished result"), "{rerun}");
    assert!(rerun.contains("limit-1: ") && rerun.contains("ambiguous pair(s) measured again"), "{rerun}");
    assert!(!again.join("build.log").exists(), "limit-1 was built again to measure its pairs:\n{rerun}");
    assert!(!rerun.contains("limit-1: built"), "{rerun}");
    assert_eq!(kept(), 1, "only the baseline's copy stays");
}

#[test]
fn a_reused_name_with_other_inputs_is_refused_and_replace_moves_it_aside() {
    let env = fixture(false, "");
    let cmds = small(&env);
    ok(xtask(&env, &["sweep", &cmds, "--limits", "64", "--name", "x"]));
    let before = dir_snapshot(&env.runs());
    let branches = |env: &Env| git_out(&env.repo, &["branch", "--list", "tune/*"]);
    let branches_before = branches(&env);
    // Another commands file with the same stem, and another revision.
    std::fs::create_dir_all(env.root().join("other")).unwrap();
    let other = env.root().join("other/small.txt");
    std::fs::write(&other, SMALL_WORKLOAD.lines().take(4).collect::<Vec<_>>().join("\n")).unwrap();
    for args in [
        vec!["sweep", other.to_str().unwrap(), "--limits", "64", "--name", "x"],
        vec!["sweep", &cmds, "--limits", "64", "--name", "x", "--rev", "fixture-2025"],
        vec!["sweep", &cmds, "--limits", "64,128", "--name", "x", "--dry-run"],
    ] {
        let out = xtask(&env, &args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains("run `x`") && err.contains("holds results of other inputs"), "{err}");
        assert!(err.contains("--name NEW") && err.contains("--replace"), "{err}");
        assert_eq!(dir_snapshot(&env.runs()), before, "{args:?} changed runs/");
        assert_eq!(branches(&env), branches_before);
    }
    // --replace moves the old run and its branches aside.
    let err = ok(xtask(&env, &["sweep", other.to_str().unwrap(), "--limits", "64", "--name", "x", "--replace"]));
    assert!(err.contains("moved the earlier run `x`"), "{err}");
    let aside: Vec<String> = std::fs::read_dir(env.runs())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("x."))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(env.runs().join(&aside[0]).join("results.json").exists());
    assert!(branches(&env).contains(&format!("tune/{}/limit-64", aside[0])), "{}", branches(&env));
}

#[test]
fn damaged_files_and_a_benchmark_that_dies_part_way() {
    let env = fixture(false, "");
    let cmds = small(&env);
    let args = ["sweep", cmds.as_str(), "--limits", "64", "--name", "d"];
    ok(xtask(&env, &args));
    // A line of the journal edited by hand: skipped, named, the rest reused.
    let journal = env.runs().join("d/journal.jsonl");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str("this is not json\n");
    std::fs::write(&journal, text).unwrap();
    let err = ok(xtask(&env, &args));
    assert!(err.contains("not a journal record") && err.contains("journal.jsonl` line"), "{err}");
    assert!(err.contains("limit-64: reusing the finished result"), "{err}");
    // results.json from a newer tool: refused, with the fix.
    let path = env.runs().join("d/results.json");
    let mut r = read_json(&path);
    r["schema"] = serde_json::json!(99);
    r["tool_version"] = serde_json::json!("9.9.9");
    std::fs::write(&path, serde_json::to_string(&r).unwrap()).unwrap();
    let out = xtask(&env, &["analyze", "d"]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("split-reduction-tuner 9.9.9 (file schema 99)"), "{err}");
    assert!(err.contains("update the tool"), "{err}");
    // A benchmark process that exits after 7 commands: the baseline's (its
    // 3 anchors first, then the 7 shapes) stops after 4 shapes; the rest
    // are measured in a fresh process (3 anchors and 3 shapes), and every
    // candidate is complete.
    let e = ["sweep", cmds.as_str(), "--limits", "64", "--name", "e"];
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--config")
        .arg(&env.config)
        .args(e)
        .env("FIXTURE_BOO_EXIT_AFTER", "7")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r = read_json(&env.runs().join("e/results.json"));
    assert!(r["candidates"].as_array().unwrap().iter().all(|c| c["status"] == "ok"), "{}", r["candidates"]);
    assert!(env.runs().join("e/candidates/baseline/raw-r0-retry.csv").exists());
    // One that dies at the same shape every time: that shape fails (with
    // why), the candidate is partial, the other shapes are kept.
    let marker = "-c 256 -H 14";
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--config")
        .arg(&env.config)
        .args(["sweep", &cmds, "--limits", "64", "--name", "f"])
        .env("FIXTURE_BOO_CRASH_ON", marker)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r = read_json(&env.runs().join("f/results.json"));
    let limit = r["candidates"].as_array().unwrap().iter().find(|c| c["name"] == "limit-64").unwrap();
    assert_eq!(limit["status"], "partial", "{limit}");
    let shape =
        r["shapes"].as_array().unwrap().iter().find(|s| s["command"].as_str().unwrap().contains(marker)).unwrap();
    let failures = shape["runs"]["limit-64"]["failures"].as_array().unwrap();
    assert!(
        failures.iter().any(|f| f.as_str().unwrap().contains("no CSV row in two benchmark processes")),
        "{failures:?}"
    );
    ok(xtask(&env, &["analyze", "f"]));
    let report = std::fs::read_to_string(env.runs().join("f/report.md")).unwrap();
    assert!(report.contains("| limit-64 | partial |"), "{report}");
}

#[test]
fn clean_removes_exactly_the_runs_slots_branches_and_caches() {
    let env = fixture(true, "");
    let checkout_before = checkout_state(&env.repo);
    let build_before = dir_snapshot(&env.build);
    let cmds = small(&env);
    // Two runs at once, so each has a slot of its own; b is slow, so that
    // it still holds its slot when a is done.
    let mut a = spawn(&env, "a", &["sweep", &cmds, "--limits", "64", "--name", "a"], &[]);
    let mut b = spawn(&env, "b", &["sweep", &cmds, "--limits", "64", "--name", "b"], &[("FIXTURE_BOO_DELAY_S", "0.5")]);
    assert!(a.wait().unwrap().success(), "{}", err_of(&env, "a"));
    // While b holds its slot, cleaning it (or everything) is refused.
    let slot_of = |run: &str| {
        (0..3).find(|i| {
            std::fs::read_to_string(env.work().join(format!("slot-{i}/slot.json")))
                .is_ok_and(|t| t.contains(&format!("\"last_run\": \"{run}\"")))
        })
    };
    assert!(wait_for(Duration::from_secs(60), || slot_of("b").is_some()));
    let out = xtask(&env, &["clean", "--all"]);
    assert!(!out.status.success() && stderr(&out).contains("in use by pid"), "{}", stderr(&out));
    assert!(b.wait().unwrap().success(), "{}", err_of(&env, "b"));
    let (sa, sb) = (slot_of("a").unwrap(), slot_of("b").unwrap());
    let dry = ok(xtask(&env, &["clean", "a", "--dry-run"]));
    assert!(dry.contains(&format!("would remove build slot slot-{sa}")), "{dry}");
    assert!(env.work().join(format!("slot-{sa}")).exists());
    // Both runs' baselines are one kept build (same commit): b still
    // builds on it, so cleaning a keeps it, and says so.
    let kept = std::fs::read_dir(env.work().join("kept")).unwrap().count();
    assert_eq!(kept, 1);
    let cleaned = ok(xtask(&env, &["clean", "a"]));
    assert!(cleaned.contains("(run `b` builds on it too)"), "{cleaned}");
    assert_eq!(std::fs::read_dir(env.work().join("kept")).unwrap().count(), 1);
    assert!(!env.work().join(format!("slot-{sa}")).exists());
    assert!(env.work().join(format!("slot-{sb}")).exists());
    assert!(!env.work().join("cache/a").exists() && env.work().join("cache/b").exists());
    let branches = git_out(&env.repo, &["branch", "--list", "tune/*"]);
    assert!(!branches.contains("tune/a/") && branches.contains("tune/b/limit-64"), "{branches}");
    // The build exists, so the slots are overlays where the machine allows
    // them and git worktrees elsewhere; b's tree stays either way.
    let b_is_overlay = env.work().join(format!("slot-{sb}/overlay")).exists();
    let worktrees = git_out(&env.repo, &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), if b_is_overlay { 1 } else { 2 }, "{worktrees}");
    // The runs' measurements stay; the user's trees never changed.
    assert!(env.runs().join("a/results.json").exists());
    ok(xtask(&env, &["clean", "--all"]));
    assert!(git_out(&env.repo, &["branch", "--list", "tune/*"]).trim().is_empty());
    assert!(!env.work().join("kept").exists());
    assert_eq!(git_out(&env.repo, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(checkout_state(&env.repo), checkout_before);
    assert_eq!(dir_snapshot(&env.build), build_before, "the user's build dir changed");
}
