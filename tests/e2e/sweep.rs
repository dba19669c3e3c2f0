//! `cargo xtask sweep` on the fixture: real worktrees, real CMake/Ninja
//! builds, real benchmark processes.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn quick_sweep_measures_every_candidate_and_leaves_the_user_tree_alone() {
    // Every candidate built ahead, though on the fixture a build is about
    // as quick as the copy that makes it possible.
    let env = fixture(true, "build_ahead = \"on\"\n");
    let checkout_before = checkout_state(&env.repo);
    let build_before = dir_snapshot(&env.build);

    let err = ok(xtask(&env, &["sweep", "--quick"]));
    assert!(err.contains("5 candidates"), "{err}");

    let run = env.runs().join("conv_weight_backward");
    let results = read_json(&run.join("results.json"));
    let candidates = results["candidates"].as_array().unwrap();
    let names: Vec<&str> = candidates.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["baseline", "limit-1", "limit-64", "limit-128", "limit-256"]);
    assert!(candidates.iter().all(|c| c["status"] == "ok"), "{candidates:?}");

    // Most shapes run at a different speed at some candidate than at the
    // baseline: the patch reached the benchmark.
    let shapes = results["shapes"].as_array().unwrap();
    assert_eq!(shapes.len(), 155);
    let median = |m: &serde_json::Value| {
        let mut v: Vec<f64> = m["samples"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let differing = shapes
        .iter()
        .filter(|s| {
            let base = median(&s["runs"]["baseline"]);
            names[1..].iter().any(|c| (median(&s["runs"][*c]) / base - 1.0).abs() > 0.01)
        })
        .count();
    assert!(differing * 2 > shapes.len(), "only {differing} of {} shapes differ", shapes.len());

    // The predicted split (from the C++ read by the tool) agrees with what
    // the benchmark saw: two kernels exactly when the op is split.
    let mut checked = 0;
    for s in shapes {
        let dims = &s["features"]["reduction_dims"];
        for c in &names {
            let d = &s["decisions"][*c];
            let split = d["tile_sizes"].is_array() && &d["tile_sizes"] != dims;
            let kernels = s["runs"][*c]["dispatches"].as_f64().unwrap();
            assert_eq!(kernels, if split { 2.0 } else { 1.0 }, "{} at {c}: {d}", s["command"]);
            checked += 1;
        }
    }
    assert_eq!(checked, 155 * 5);

    // The user's checkout and build directory are byte-for-byte unchanged.
    assert_eq!(checkout_state(&env.repo), checkout_before);
    assert_eq!(dir_snapshot(&env.build), build_before, "the user's build dir changed");

    // Each candidate is a commit on its own branch that changes only the
    // heuristic file, with the knobs in its message.
    for c in ["limit-1", "limit-64", "limit-128", "limit-256"] {
        let branch = format!("tune/conv_weight_backward/{c}");
        let files = git_out(&env.repo, &["diff", "--name-only", "HEAD", &branch]);
        assert_eq!(files.trim(), "compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp");
        let message = git_out(&env.repo, &["log", "-1", "--format=%B", &branch]);
        let limit = c.trim_start_matches("limit-");
        assert!(message.contains(&format!("limitParallelLoops = {limit}")), "{message}");
        assert!(message.contains("early return disabled"), "{message}");
    }

    // The slot stood on the user's build as an overlay: no build directory
    // of its own, the rebuilt heuristic object in its layer.
    assert!(err.contains("build slot 0: an overlay on your checkout and build directory"), "{err}");
    assert!(!env.work().join("slot-0/iree-build").exists());
    let layer = env.work().join("slot-0/overlay");
    let heuristic = "compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp";
    assert!(layer.join("src/upper").join(heuristic).is_file());
    assert!(walk_files(&layer.join("build/upper")).iter().any(|p| p.ends_with("SetSplitReductionSizes.cpp.o")));

    // Each candidate benchmarked with its own kernel cache.
    for c in &names {
        assert!(env.work().join("cache/conv_weight_backward").join(c).is_dir(), "no cache dir for {c}");
    }

    // Every candidate after the baseline was built while the one before it
    // was benchmarked from a kept copy of its build (the splits checked
    // above are each candidate's own, though the slot had moved on); those
    // copies are gone, the baseline's stays for `validate` and served the
    // drift check without a build.
    for (before, c) in names.iter().zip(&names[1..]) {
        assert!(err.contains(&format!("{c}: building while {before} is benchmarked")), "{err}");
        assert!(err.contains(&format!("{c}: built in ")) && err.contains(&format!("s while {before} was benchmarked")));
    }
    let ahead: Vec<bool> = candidates.iter().map(|c| c["built_ahead"].as_bool().unwrap_or(false)).collect();
    assert_eq!(ahead, [false, true, true, true, true]);
    let kept: Vec<_> = std::fs::read_dir(env.work().join("kept")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(err.contains("baseline recheck: the baseline's kept build (no build)"), "{err}");
}

/// Every file under `dir`.
fn walk_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn a_checkout_with_uncommitted_changes_gets_a_worktree_slot_configured_like_the_users_build() {
    let env = fixture(true, "");
    // A tracked file changed and not committed: an overlay would build it in.
    let readme = env.repo.join("compiler/CMakeLists.txt");
    let changed = format!("{}\n# local notes\n", std::fs::read_to_string(&readme).unwrap());
    std::fs::write(&readme, &changed).unwrap();
    let commands = commands_file(&env, "small.txt", SMALL_WORKLOAD);
    let err = ok(xtask(&env, &["sweep", commands.to_str().unwrap(), "--limits", "64"]));
    assert!(
        err.contains(
            "build slot 0: a worktree with its own build directory (its first build is a full one): \
                      your checkout has uncommitted changes (`compiler/CMakeLists.txt`)"
        ),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), changed);

    // The sibling build reproduces the user's configuration.
    let cache = std::fs::read_to_string(env.work().join("slot-0/iree-build/CMakeCache.txt")).unwrap();
    for entry in [
        "CMAKE_BUILD_TYPE:STRING=RelWithDebInfo",
        "IREE_ENABLE_ASSERTIONS:BOOL=ON",
        "IREE_TARGET_BACKEND_ROCM:BOOL=ON",
        "CMAKE_CXX_COMPILER_LAUNCHER",
    ] {
        assert!(cache.contains(entry), "sibling CMakeCache.txt lacks {entry}");
    }
    let home = cache.lines().find(|l| l.starts_with("CMAKE_HOME_DIRECTORY")).unwrap();
    assert!(home.ends_with("slot-0/iree"), "{home}");

    // `build.overlay = "on"` refuses instead, saying why.
    let config = std::fs::read_to_string(&env.config).unwrap().replace("[build]\n", "[build]\noverlay = \"on\"\n");
    std::fs::write(&env.config, config).unwrap();
    let out = xtask(&env, &["sweep", commands.to_str().unwrap(), "--limits", "64", "--name", "strict"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot make build slot 0 an overlay on your build: your checkout has uncommitted changes (`compiler/CMakeLists.txt`)"), "{}", stderr(&out));

    // A build directory of another checkout would compile none of the
    // candidates' sources: refused, naming both.
    let user_cache = env.build.join("CMakeCache.txt");
    let text = std::fs::read_to_string(&user_cache).unwrap();
    let home = text.lines().find(|l| l.starts_with("CMAKE_HOME_DIRECTORY")).unwrap().to_string();
    let (key, _) = home.split_once('=').unwrap();
    std::fs::write(&user_cache, text.replace(&home, &format!("{key}=/elsewhere/iree"))).unwrap();
    let out = xtask(&env, &["sweep", commands.to_str().unwrap(), "--limits", "64", "--name", "elsewhere"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("builds `/elsewhere/iree`, not `target.iree`"), "{}", stderr(&out));
}

/// Per shape and candidate: the samples and kernels per launch.
fn samples(run: &std::path::Path) -> Vec<(String, String, String)> {
    let r = read_json(&run.join("results.json"));
    let mut out = Vec::new();
    for s in r["shapes"].as_array().unwrap() {
        for (c, m) in s["runs"].as_object().unwrap() {
            out.push((
                s["command"].as_str().unwrap().to_string(),
                c.clone(),
                format!("{} {}", m["samples"], m["dispatches"]),
            ));
        }
    }
    out
}

#[test]
fn the_probe_strategy_builds_once_and_measures_what_rebuilt_candidates_measure() {
    let env = fixture(false, "");
    let commands = commands_file(&env, "small.txt", SMALL_WORKLOAD);
    let args = ["sweep", commands.to_str().unwrap(), "--limits", "1,64,256", "--name", "p", "--strategy", "both"];
    // Probe variables left in the user's shell reach no benchmark: else the
    // probe baseline would measure limit 1 and differ from the rebuilt one.
    let err = ok(std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .current_dir(env.root())
        .env("IREE_TUNE_LIMIT_PARALLEL_LOOPS", "1")
        .env("IREE_TUNE_DISABLE_EARLY_RETURNS", "1")
        .output()
        .unwrap());
    // One build serves every candidate of the probe run (and its recheck).
    let probe_part = &err[..err.find("strategy both: the same sweep rebuilt").expect("a second sweep")];
    assert_eq!(probe_part.matches(": built in").count(), 1, "{probe_part}");
    for c in ["limit-1", "limit-64", "limit-256"] {
        assert!(probe_part.contains(&format!("{c}: the probe build serves it (no build)")), "{probe_part}");
    }
    // The compiler logged every decision, and each is the predicted one.
    for c in ["baseline", "limit-1", "limit-64", "limit-256"] {
        let line = format!("{c}: the compiler's logged decisions match the predictions on all ");
        assert!(probe_part.contains(&line), "{probe_part}");
    }
    assert!(!err[probe_part.len()..].contains("logged decisions"), "rebuilt candidates log nothing");
    assert!(err.contains("of `p` (probe) and `p-rebuild` (rebuilt): the same splits, runtimes within noise"), "{err}");
    // Noise-free: the same samples, split for split.
    assert_eq!(samples(&env.runs().join("p")), samples(&env.runs().join("p-rebuild")));
    // Every probe candidate's branch is the one probe commit; the rebuilt
    // ones each have their own.
    let probe_commit = git_out(&env.repo, &["rev-parse", "tune/p/baseline"]);
    for c in ["limit-1", "limit-64", "limit-256"] {
        assert_eq!(git_out(&env.repo, &["rev-parse", &format!("tune/p/{c}")]), probe_commit);
    }
    let vars = std::fs::read_to_string(env.runs().join("p/candidates/limit-64/env")).unwrap();
    assert!(vars.contains("IREE_TUNE_LIMIT_PARALLEL_LOOPS=64\n"), "{vars}");
    let message = git_out(&env.repo, &["log", "-1", "--format=%B", "tune/p/baseline"]);
    assert!(message.contains("IREE_TUNE_LIMIT_PARALLEL_LOOPS"), "{message}");

    // With the variables unset the probe build is the original compiler:
    // the fixture's lit tests pass on it unmodified.
    let args = ["sweep", commands.to_str().unwrap(), "--limits", "64", "--name", "p2", "--strategy", "probe"];
    ok(xtask(&env, &args));
    let slot_head = git_out(&env.work().join("slot-0/iree"), &["rev-parse", "HEAD"]);
    assert_eq!(slot_head, git_out(&env.repo, &["rev-parse", "tune/p2/baseline"]), "the slot holds another build");
    let build = env.work().join("slot-0/iree-build");
    let lit = std::process::Command::new("ctest")
        .args(["--test-dir", build.to_str().unwrap(), "-R", "set_split_reduction_sizes", "--output-on-failure"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&lit.stdout);
    assert!(lit.status.success(), "{out}");
    assert!(out.contains("100% tests passed"), "{out}");
}

/// Lines of the journal as (event, candidate or step, key).
fn journal(run: &std::path::Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            let what = if v["step"].is_string() { s("step") } else { s("candidate") };
            (s("event"), what, s("key"))
        })
        .collect()
}

/// Candidates the journal records as finished.
fn done(records: &[(String, String, String)]) -> Vec<(String, String)> {
    records
        .iter()
        .filter(|(e, c, _)| e == "done" && (c == "baseline" || c.starts_with("limit-")))
        .map(|(_, c, k)| (c.clone(), k.clone()))
        .collect()
}

#[test]
fn kill_during_a_build_then_rerun_resumes_without_redoing_finished_work() {
    let env = fixture(false, "build_ahead = \"on\"\n");
    let commands = commands_file(&env, "small.txt", &format!("{SMALL_WORKLOAD}not a command at all\n"));
    let commands = commands.to_str().unwrap().to_string();
    let args = ["sweep", commands.as_str(), "--quick", "--skip-bad-lines"];
    let run = env.runs().join("small");

    // Start the sweep and kill it with SIGKILL while the fourth candidate is
    // building (its build log has the cmake command line): built ahead, as
    // the third is benchmarked from a kept copy of its build, so the slot
    // holds half a build that is not the third's.
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .current_dir(env.root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut killed = false;
    while start.elapsed() < Duration::from_secs(600) {
        let started = std::fs::read_to_string(run.join("candidates/limit-128/build.log"))
            .map(|t| t.contains("$ cmake"))
            .unwrap_or(false);
        if started {
            child.kill().unwrap(); // SIGKILL
            killed = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.wait();
    assert!(killed, "the sweep ended before it could be killed");
    let stderr_first: String =
        BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n");
    let before = journal(&run);
    let finished: Vec<String> = done(&before).into_iter().map(|(c, _)| c).collect();
    assert_eq!(finished, ["baseline", "limit-1"], "{stderr_first}");
    assert!(stderr_first.contains("limit-128: building while limit-64 is benchmarked"), "{stderr_first}");
    let results_before: Vec<(String, std::time::SystemTime)> = finished
        .iter()
        .map(|c| {
            let p = run.join("candidates").join(c).join("result.json");
            (std::fs::read_to_string(&p).unwrap(), std::fs::metadata(&p).unwrap().modified().unwrap())
        })
        .collect();

    let err = ok(xtask(&env, &args));
    for c in &finished {
        assert!(err.contains(&format!("{c}: reusing the finished result")), "{err}");
        assert!(!err.contains(&format!("{c}: built")), "{c} was rebuilt:\n{err}");
    }
    // limit-64 was built before the kill, and benchmarked from a kept copy
    // while the slot built limit-128: that copy serves the rerun, which
    // builds limit-128 again but not limit-64.
    assert!(err.contains("limit-64: its build, kept by the interrupted run, serves it (no build)"), "{err}");
    assert!(!err.contains("limit-64: built"), "limit-64 was rebuilt:\n{err}");
    // Finished candidates' files were not rewritten.
    for (c, (text, mtime)) in finished.iter().zip(&results_before) {
        let p = run.join("candidates").join(c).join("result.json");
        assert_eq!(&std::fs::read_to_string(&p).unwrap(), text);
        assert_eq!(&std::fs::metadata(&p).unwrap().modified().unwrap(), mtime);
    }
    // The journal kept every earlier record, in order, and gained one
    // `done` per remaining candidate: nothing lost or duplicated.
    let after = journal(&run);
    assert_eq!(&after[..before.len()], &before[..]);
    let mut done = done(&after);
    let total = done.len();
    done.sort();
    done.dedup();
    assert_eq!(done.len(), total, "duplicated `done` records");
    assert_eq!(total, 5);

    let results = read_json(&run.join("results.json"));
    assert!(results["candidates"].as_array().unwrap().iter().all(|c| c["status"] == "ok"));
    // The copy of limit-64's build the killed sweep was benchmarking is gone
    // once the rerun measured it, with the others: only the baseline's stays
    // kept.
    let kept: Vec<_> = std::fs::read_dir(env.work().join("kept")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    // The unparsable line is recorded, not lost.
    let skipped = results["commands"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["line"], 9);
}

#[test]
fn dry_run_writes_applicable_patches_for_both_code_styles_and_builds_nothing() {
    let env = fixture(false, "");
    for (rev, marker) in [
        ("HEAD", "return 64; // split-reduction-tuner"),
        ("fixture-2025", "limitParallelLoops = 64; // split-reduction-tuner"),
    ] {
        let name = format!("dry-{}", rev.to_lowercase());
        let err = ok(xtask(&env, &["sweep", "--quick", "--dry-run", "--rev", rev, "--name", &name]));
        assert!(err.contains("dry run: nothing built"), "{err}");
        let dir = env.runs().join(&name).join("candidates");
        let patch = std::fs::read_to_string(dir.join("limit-64/patch.diff")).unwrap();
        assert_eq!(patch.matches(marker).count(), 2, "{patch}");
        // The patch applies to the tuned revision.
        let clone = env.root().join(format!("clone-{name}"));
        git_out(env.root(), &["clone", "-q", env.repo.to_str().unwrap(), clone.to_str().unwrap()]);
        git_out(&clone, &["checkout", "-q", rev]);
        git_out(&clone, &["apply", "--check", dir.join("limit-64/patch.diff").to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(dir.join("baseline/patch.diff")).unwrap(), "");
        // results.json holds every shape's predicted decision per candidate,
        // and no runtime.
        let results = read_json(&env.runs().join(&name).join("results.json"));
        for s in results["shapes"].as_array().unwrap() {
            assert!(s["runs"].as_object().unwrap().is_empty(), "{s}");
            let d = s["decisions"].as_object().unwrap();
            assert!(d.contains_key("baseline") && d.contains_key("limit-64"), "{s}");
        }
        assert!(err.contains("shape(s) split differently from the baseline"), "{err}");
    }
    assert!(!env.work().exists(), "a dry run created build slots");
}

#[test]
fn bad_input_names_file_line_and_fix() {
    let env = fixture(false, "");
    let commands =
        commands_file(&env, "bad.txt", "# ok\ngemmfp16 --a_w 64 --a_h 65536 --b_w 64\nconvbfp16 -n sixteen\n");
    let out = xtask(&env, &["sweep", commands.to_str().unwrap(), "--dry-run"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:3:", commands.display())), "{err}");
    assert!(err.contains("--skip-bad-lines"), "{err}");

    // Sizes past int64_t are bad lines naming the flag, with or without
    // --skip-bad-lines; a byte-order mark is not part of the first command.
    let text = "\u{feff}gemmfp16 --a_w 64 --a_h 65536 --b_w 64\n\
                convbfp16 -n 4611686018427387904 -c 16 -H 225 -W 225 -k 64 -F 4\n\
                gemmfp16 --a_w 4294967296 --a_h 16 --b_w 4294967296\n";
    let commands = commands_file(&env, "huge.txt", text);
    let out = xtask(&env, &["sweep", commands.to_str().unwrap(), "--dry-run"]);
    let err = stderr(&out);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains(":2:") && err.contains("`-n 4611686018427387904`"), "{err}");
    assert!(err.contains(":3:") && err.contains("`--a_w 4294967296`") && !err.contains(":1:"), "{err}");
    let out = xtask(&env, &["sweep", commands.to_str().unwrap(), "--dry-run", "--skip-bad-lines"]);
    assert!(out.status.success() && stderr(&out).contains("1 shapes (2 skipped)"), "{}", stderr(&out));

    // A typo in the configuration names the line and the key.
    std::fs::write(env.root().join("typo.toml"), "[bench]\nrepeats = 2\nrepeets = 3\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["--config", env.root().join("typo.toml").to_str().unwrap(), "sweep", "--dry-run"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("line 3") && err.contains("repeets"), "{err}");

    // A revision whose heuristic lost its anchor: the error names the
    // function and the file, and nothing is built.
    let path = env.repo.join("compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp");
    let text =
        std::fs::read_to_string(&path).unwrap().replace("getMatmulLikeReductionSizes", "getContractionSplitSizes");
    let clone = env.root().join("renamed");
    git_out(env.root(), &["clone", "-q", env.repo.to_str().unwrap(), clone.to_str().unwrap()]);
    std::fs::write(clone.join("compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp"), text).unwrap();
    git_out(&clone, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "rename"]);
    let out = xtask(&env, &["--iree", clone.to_str().unwrap(), "sweep", "--dry-run"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("`getMatmulLikeReductionSizes`") && err.contains("SetSplitReductionSizes.cpp"), "{err}");
    assert!(err.contains("heuristics.matmul.functions"), "{err}");
}

#[test]
#[ignore = "needs IREE_GIT_DIR, an iree-org/iree git directory: IREE_GIT_DIR=~/iree/.git cargo test --test e2e every_real_revision -- --ignored"]
fn a_dry_run_at_every_real_revision_plans_both_heuristics() {
    let git_dir =
        PathBuf::from(std::env::var_os("IREE_GIT_DIR").expect("set IREE_GIT_DIR to an iree-org/iree git directory"));
    let file = "compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp";
    let log = Command::new("git")
        .arg("--git-dir")
        .arg(&git_dir)
        .args(["log", "--format=%H", "--reverse", "4b57016a5c^..HEAD", "--", file])
        .output()
        .unwrap();
    let revs: Vec<String> = String::from_utf8(log.stdout).unwrap().lines().map(str::to_string).collect();
    assert!(revs.len() >= 15, "{revs:?}");
    // A configured (not built) Ninja build dir: a dry run builds nothing.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("build")).unwrap();
    std::fs::write(tmp.path().join("build/CMakeCache.txt"), "CMAKE_GENERATOR:INTERNAL=Ninja\n").unwrap();
    std::fs::write(
        tmp.path().join("tuner.toml"),
        "runs_dir = \"runs\"\n[build]\ndir = \"build\"\nwork_dir = \"work\"\n",
    )
    .unwrap();
    let workloads: String = ["conv_weight_backward", "conv_forward_backward_data", "gemm_large_k"]
        .iter()
        .map(|w| std::fs::read_to_string(workspace().join(format!("workloads/{w}.txt"))).unwrap())
        .collect();
    std::fs::write(tmp.path().join("all.txt"), workloads).unwrap();
    for (i, rev) in revs.iter().enumerate() {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("--config")
            .arg(tmp.path().join("tuner.toml"))
            .arg("--iree")
            .arg(&git_dir)
            .args(["--rev", rev, "sweep", "all.txt", "--dry-run", "--strategy", "probe", "--name", &format!("rev{i}")])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "{rev}: {err}");
        if i == 0 {
            assert!(
                err.contains("note: the conv heuristic is skipped") && err.contains("(matmul inline-ladder)"),
                "{err}"
            );
        } else {
            assert!(err.contains("conv ") && err.contains("matmul "), "{rev}: {err}");
        }
        // The probe patch is written (and parsed back) at every revision,
        // and logs the decision of every heuristic there is.
        assert!(err.contains("the build every candidate shares"), "{rev}: {err}");
        let probe =
            std::fs::read_to_string(tmp.path().join(format!("runs/rev{i}/candidates/probe/patch.diff"))).unwrap();
        let logged = ["conv", "matmul"].iter().filter(|h| probe.contains(&format!(r#"{{\"heuristic\": \"{h}\""#)));
        assert_eq!(logged.count(), if i == 0 { 1 } else { 2 }, "{rev}: {probe}");
    }
}

/// Benchmark commands the sweep's processes were given, over every
/// candidate of a run (one line per shape and repeat; the baseline's
/// recheck left out).
fn commands_benchmarked(run: &std::path::Path) -> usize {
    let mut lines = 0;
    for c in std::fs::read_dir(run.join("candidates")).unwrap().flatten() {
        if c.file_name() == "baseline-recheck" {
            continue;
        }
        for f in std::fs::read_dir(c.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with("commands-r") {
                lines += std::fs::read_to_string(f.path()).unwrap().lines().count();
            }
        }
    }
    lines
}

/// A document with the fields that name the run or hold its bookkeeping
/// (names, keys, timings, the shared counts) taken out.
fn without_bookkeeping(mut v: serde_json::Value) -> serde_json::Value {
    const DROP: [&str; 8] = ["run", "shared", "shared_from", "key", "branch", "build_seconds", "bench_seconds", "path"];
    match &mut v {
        serde_json::Value::Object(m) => {
            for k in DROP {
                m.remove(k);
            }
            for x in m.values_mut() {
                *x = without_bookkeeping(x.take());
            }
        }
        serde_json::Value::Array(a) => {
            for x in a.iter_mut() {
                *x = without_bookkeeping(x.take());
            }
        }
        _ => {}
    }
    v
}

#[test]
fn dedup_measures_fewer_runs_and_gives_the_same_analysis_as_no_dedup() {
    let env = fixture(false, "");
    // Anchors would add their commands to every process.
    without_anchors(&env);
    let commands = commands_file(&env, "small.txt", SMALL_WORKLOAD);
    let commands = commands.to_str().unwrap();
    let limits = "1,8,16,64,256,2048";
    let err = ok(xtask(&env, &["sweep", commands, "--limits", limits, "--name", "dedup"]));
    assert!(err.contains("share its measurement (--no-dedup measures them all)"), "{err}");
    let saved_line = err.lines().find(|l| l.contains("benchmark runs saved")).unwrap_or_else(|| panic!("{err}"));
    let full_err = ok(xtask(&env, &["sweep", commands, "--limits", limits, "--name", "full", "--no-dedup"]));
    assert!(!full_err.contains("benchmark runs saved"), "{full_err}");

    let (dedup, full) = (env.runs().join("dedup"), env.runs().join("full"));
    // 7 shapes x 7 builds x 2 repeats without dedup; the saved runs are
    // exactly the ones not given to a benchmark process.
    let (ran, ran_full) = (commands_benchmarked(&dedup), commands_benchmarked(&full));
    assert_eq!(ran_full, 7 * 7 * 2);
    assert!(ran < ran_full, "dedup ran {ran} of {ran_full}");
    assert!(saved_line.contains(&format!(": {} benchmark runs saved", ran_full - ran)), "{saved_line}");
    eprintln!("benchmark commands: {ran} with dedup, {ran_full} without");

    // Every (shape, candidate) pair has a measurement either way, and the
    // same one: the fixture's driver (no noise) times a split exactly.
    let results = |run: &std::path::Path| without_bookkeeping(read_json(&run.join("results.json")))["shapes"].clone();
    assert_eq!(results(&dedup), results(&full));
    for s in read_json(&dedup.join("results.json"))["shapes"].as_array().unwrap() {
        for (c, m) in s["runs"].as_object().unwrap() {
            assert!(!m["samples"].as_array().unwrap().is_empty(), "{c} of {} has no samples", s["command"]);
        }
    }

    // The same analysis, rule and patches; the report says what was saved.
    ok(xtask(&env, &["analyze", "dedup"]));
    ok(xtask(&env, &["analyze", "full"]));
    let analysis = |run: &std::path::Path| without_bookkeeping(read_json(&run.join("analysis.json")));
    let (a, b) = (analysis(&dedup), analysis(&full));
    assert!(a == b, "{}", similar::TextDiff::from_lines(format!("{a:#}"), format!("{b:#}")).unified_diff());
    for h in ["conv", "matmul"] {
        let diff = |run: &std::path::Path| std::fs::read_to_string(run.join(format!("recommended-{h}.diff"))).ok();
        assert_eq!(diff(&dedup), diff(&full), "{h}");
    }
    let md = std::fs::read_to_string(dedup.join("report.md")).unwrap();
    let saved = format!("so {} benchmark runs were saved", ran_full - ran);
    assert!(md.contains(&saved), "{md}");
}

/// Wall seconds per second of the fixture's simulated kernel time: about
/// 8 s of kernels per repeat of [`EVEN_GEMMS`] (about 25 us a launch), far
/// more than the processes' own start-up and compiles.
const KERNEL_TIME: f64 = 400.0;

/// Eight GEMMs of similar kernel time, so that four devices get similar
/// shares.
const EVEN_GEMMS: &str = "\
gemmfp16 --a_w 64 --a_h 65536 --b_w 64 -t 1 --iter 100
gemmfp16 --a_w 128 --a_h 65536 --b_w 64 -t 1 --iter 100
gemmfp16 --a_w 192 --a_h 65536 --b_w 64 -t 1 --iter 100
gemmfp16 --a_w 256 --a_h 65536 --b_w 64 -t 1 --iter 100
gemmfp16 --a_w 320 --a_h 65536 --b_w 64 -t 1 --iter 100
gemmfp16 --a_w 384 --a_h 65536 --b_w 64 -t 1 --iter 100
gemmfp16 --a_w 448 --a_h 65536 --b_w 64 -t 1 --iter 100
gemmfp16 --a_w 512 --a_h 65536 --b_w 64 -t 1 --iter 100
";

#[test]
fn four_devices_benchmark_at_once_and_measure_what_one_device_measures() {
    four_devices(false);
}

/// The same in an overlay slot: four benchmark processes at once, each in
/// a namespace of its own with the slot's layers mounted read-only.
#[test]
fn four_devices_on_an_overlay_slot_benchmark_at_once() {
    four_devices(true);
}

fn four_devices(built: bool) {
    // The fixture's driver keeps its device busy for the simulated kernel
    // time (a lock per device, private to this test), so devices overlap
    // and one device serialises.
    let locks = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[bench.env]\nFIXTURE_BOO_KERNEL_TIME = \"{KERNEL_TIME}\"\nFIXTURE_BOO_DEVICE_LOCK_DIR = \"{}\"\n",
        locks.path().display()
    );
    // Built: the slots are overlays on the user's build.
    let env = fixture(built, &extra);
    let commands = commands_file(&env, "gemms.txt", EVEN_GEMMS);
    let commands = commands.to_str().unwrap();
    let sweep = |name: &str, devices: &str| {
        let args = ["sweep", commands, "--limits", "64", "--name", name, "--devices", devices, "--no-dedup"];
        let err = ok(xtask(&env, &args));
        assert_eq!(err.contains("an overlay on your checkout"), built, "{err}");
        read_json(&env.runs().join(name).join("results.json"))
    };
    let one = sweep("one", "0");
    let four = sweep("four", "0,1,2,3");

    // The same measurements (the driver has no noise), in the same format.
    let shapes = |r: &serde_json::Value| without_bookkeeping(r["shapes"].clone());
    assert_eq!(shapes(&one), shapes(&four));
    assert_eq!(four["bench"]["device"], "0,1,2,3");
    // Each repeat's shapes went to four processes, one per device.
    let dir = env.runs().join("four/candidates/limit-64");
    for r in 0..2 {
        for d in 0..4 {
            assert!(dir.join(format!("commands-r{r}-d{d}.txt")).is_file(), "r{r} d{d}");
        }
    }
    // Benchmark wall time: the devices ran at once.
    let bench = |r: &serde_json::Value| -> f64 {
        r["candidates"].as_array().unwrap().iter().map(|c| c["bench_seconds"].as_f64().unwrap()).sum()
    };
    let (t1, t4) = (bench(&one), bench(&four));
    eprintln!("benchmark seconds: one device {t1:.1}, four devices {t4:.1} ({:.2}x)", t4 / t1);
    assert!(t4 < 0.6 * t1, "four devices took {t4:.1} s, one {t1:.1} s");
}

#[test]
fn a_launcher_prefixes_every_benchmark_process() {
    // A launcher as Slurm's `srun` would be used: it gets its own arguments
    // (placeholders expanded), then the benchmark's command line, and runs it.
    let env = fixture(false, "");
    let record = env.root().join("launched.txt");
    let script = env.root().join("fake-srun");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$@\" >> '{}'\nshift 2\nexec \"$@\"\n", record.display()))
        .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = std::fs::read_to_string(&env.config).unwrap().replace(
        "repeats = 2\n",
        &format!("repeats = 2\nlauncher = [\"{}\", \"-N1\", \"--gpu={{device}}\"]\n", script.display()),
    );
    std::fs::write(&env.config, config).unwrap();
    let commands = commands_file(&env, "two.txt", &SMALL_WORKLOAD.lines().take(3).collect::<Vec<_>>().join("\n"));
    ok(xtask(&env, &["sweep", commands.to_str().unwrap(), "--limits", "64", "--no-dedup"]));

    // One line per benchmark process (baseline, limit-64 and the baseline's
    // recheck, 2 repeats each), each the launcher's arguments and then the
    // benchmark command.
    let lines: Vec<String> = std::fs::read_to_string(&record).unwrap().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    for l in &lines {
        assert!(l.starts_with("-N1 --gpu=0 "), "{l}");
        assert!(l.contains("-m iree.turbine.kernel.boo.driver.driver --commands-file "), "{l}");
    }
    let results = read_json(&env.runs().join("two/results.json"));
    assert!(results["candidates"].as_array().unwrap().iter().all(|c| c["status"] == "ok"), "{results}");
}

#[test]
fn ambiguous_pairs_are_measured_again_and_a_rerun_reuses_them() {
    // Seeded noise and drift (5% each, two repeats): several shapes of each
    // candidate sit within noise of a regression.
    let extra = "\n[bench.env]\nFIXTURE_BOO_NOISE = \"0.05\"\nFIXTURE_BOO_DRIFT = \"0.05\"\nFIXTURE_BOO_SEED = \"1\"\n";
    let env = fixture(false, extra);
    let commands = commands_file(&env, "small.txt", SMALL_WORKLOAD);
    let args = ["sweep", commands.to_str().unwrap(), "--limits", "1,64", "--name", "noisy"];
    let err = ok(xtask(&env, &args));
    let line = err.lines().find(|l| l.starts_with("remeasure: ")).unwrap_or_else(|| panic!("{err}"));
    assert!(err.contains("ambiguous pair(s) measured again, 6 more repeats each"), "{err}");

    // The extra samples are in the pairs' measurements (2 repeats + 6).
    let run = env.runs().join("noisy");
    let results = read_json(&run.join("results.json"));
    let (mut pairs, mut baseline, mut samples) = (0, 0, 0);
    for s in results["shapes"].as_array().unwrap() {
        for (c, m) in s["runs"].as_object().unwrap() {
            let Some(extra) = m.get("extra_samples").and_then(|e| e.as_u64()) else { continue };
            assert_eq!(m["samples"].as_array().unwrap().len() as u64, 2 + extra, "{c}: {m}");
            if m.get("shared_from").is_some() {
                continue;
            }
            if c == "baseline" {
                baseline += 1;
            } else {
                pairs += 1;
            }
            samples += extra;
        }
    }
    assert!(pairs > 0, "{err}");
    // At most a quarter of the 7 shapes (2) per candidate.
    assert!(pairs <= 2 * 2, "{pairs} pairs");
    let expected = format!(
        "remeasure: {pairs} ambiguous (shape, candidate) pairs and the baseline of {baseline} shape(s) measured \
         again: {samples} more benchmark runs"
    );
    assert!(line.starts_with(&expected), "{line}\nexpected: {expected}");

    // A rerun benchmarks nothing: every file of the candidates but their
    // patches (written before anything runs) stays as it was.
    let files = || {
        let mut all = dir_snapshot(&run.join("candidates"));
        all.retain(|p, _| !p.ends_with("patch.diff"));
        all
    };
    let before = files();
    let again = ok(xtask(&env, &args));
    assert!(again.contains("reusing the finished re-measurement"), "{again}");
    assert!(!again.contains("measured again,"), "{again}");
    let changed: Vec<_> = files().into_iter().filter(|(p, f)| before.get(p) != Some(f)).map(|(p, _)| p).collect();
    assert!(changed.is_empty(), "the rerun changed {changed:?}");
    assert!(again.contains(&expected), "{again}");

    // The report says what it cost.
    ok(xtask(&env, &["analyze", "noisy"]));
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    let said = format!("{pairs} (shape, candidate) pairs whose regression evidence was ambiguous");
    assert!(md.contains(&said) && md.contains(&format!("{samples} more benchmark runs")), "{md}");
}

/// A sweep configured for low-parallelism targets on a GPU that compiles
/// for the default ones: the probe build's decision log shows the baseline
/// deciding otherwise than the tuner predicts, names the shapes, and the
/// candidates that would have shared the baseline's measurement of them
/// measure those shapes themselves.
#[test]
fn the_decision_log_catches_a_misconfigured_target_and_nothing_shares_a_wrong_split() {
    let env = fixture(false, "\n[heuristics]\nlow_parallelism = true\n");
    let args = ["sweep", "--limits", "8,16,32", "--name", "m", "--strategy", "probe"];
    let err = ok(xtask(&env, &args));
    assert!(err.contains("baseline: the compiler's logged decisions differ from the predictions"), "{err}");
    assert!(err.contains("the tuner predicted"), "{err}");
    let r = read_json(&env.runs().join("m/results.json"));
    let baseline = r["candidates"].as_array().unwrap().iter().find(|c| c["name"] == "baseline").unwrap();
    let wrong: Vec<usize> =
        baseline["decision_log"]["shapes"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap() as usize).collect();
    assert!(!wrong.is_empty());
    // Pairs the plan shared with the baseline (the same predicted split):
    // the log saved them from a number of a split the compiler did not make.
    let mut saved = 0;
    for c in ["limit-8", "limit-16", "limit-32"] {
        for &s in &wrong {
            let d = &r["shapes"][s]["decisions"];
            if d["baseline"] == d[c] {
                saved += 1;
                let m = &r["shapes"][s]["runs"][c];
                assert!(m["shared_from"] != "baseline", "shape {s} at {c} shares the baseline's wrong split: {m}");
            }
        }
    }
    assert!(saved > 0, "no wrong shape was planned to share: {wrong:?}");
}

#[test]
fn anchored_processes_are_put_on_the_baseline_s_scale() {
    // Drift only (5% per process, seeded), no per-sample noise: a process's
    // samples are the truth times its drift, so once anchored, every repeat
    // of a shape must give the same runtime (to the CSV's rounding).
    let extra = "\n[bench.env]\nFIXTURE_BOO_NOISE = \"0\"\nFIXTURE_BOO_DRIFT = \"0.05\"\nFIXTURE_BOO_SEED = \"3\"\n";
    let env = fixture(false, extra);
    let commands = commands_file(&env, "small.txt", SMALL_WORKLOAD);
    let args = ["sweep", commands.to_str().unwrap(), "--limits", "1,64", "--name", "anchored", "--no-remeasure"];
    let err = ok(xtask(&env, &args));
    assert!(err.contains("baseline: 2 process(es) anchored, drift"), "{err}");
    assert!(err.contains("limit-64: 2 process(es) anchored, drift"), "{err}");
    // Limit 1 splits no shape as the baseline does: nothing can anchor it.
    assert!(err.contains("limit-1: no shape has a split measured on the baseline's scale; not anchored"), "{err}");
    let results = read_json(&env.runs().join("anchored/results.json"));
    let spread = |m: &serde_json::Value| {
        let s: Vec<f64> = m["samples"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let (lo, hi) = s.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        hi / lo - 1.0
    };
    let (mut anchored, mut raw) = (0.0f64, 0.0f64);
    for s in results["shapes"].as_array().unwrap() {
        for c in ["baseline", "limit-64"] {
            let m = &s["runs"][c];
            if m.get("shared_from").is_none() {
                anchored = anchored.max(spread(m));
            }
        }
        raw = raw.max(spread(&s["runs"]["limit-1"]));
    }
    assert!(anchored < 2e-4, "anchored repeats differ by {anchored}");
    assert!(raw > 1e-2, "the unanchored candidate's repeats differ by only {raw}: is there drift?");
    for c in results["candidates"].as_array().unwrap() {
        let factors = c["anchoring"]["factors"].as_array().map_or(0, Vec::len);
        let expected = if c["name"] == "limit-1" { 0 } else { 2 };
        assert_eq!(factors, expected, "{c}");
    }
}

/// A benchmark that lowers commands otherwise than the tuner parses them
/// (here the fixture's driver adds 64 to every matmul's K, as a driver
/// that pads its reduction would): each shape compiled by a process of its
/// own ties the sizes the compiler logs to their command, and they replace
/// the parsed ones in results.json; no candidate shares a measurement of
/// those shapes, and a rerun applies the comparison without compiling.
#[test]
fn the_compiler_s_logged_sizes_replace_the_parsed_ones() {
    let env = fixture(false, "");
    let turbine = env.tmp.path().join("turbine");
    let copied = Command::new("cp").arg("-r").arg(workspace().join("tests/fixtures/turbine")).arg(&turbine).status();
    assert!(copied.unwrap().success());
    let lowering = turbine.join("iree/turbine/kernel/boo/driver/lowering.py");
    let text = std::fs::read_to_string(&lowering).unwrap();
    let parse = "    m, k, n = (_int(raw[f], f) for f in (\"--a_w\", \"--a_h\", \"--b_w\"))\n";
    assert!(text.contains(parse), "the fixture's gemm lowering changed");
    std::fs::write(&lowering, text.replace(parse, &format!("{parse}    k += 64\n"))).unwrap();
    let config = std::fs::read_to_string(&env.config).unwrap();
    let original = workspace().join("tests/fixtures/turbine").display().to_string();
    std::fs::write(&env.config, config.replace(&original, &turbine.display().to_string())).unwrap();

    let commands = commands_file(&env, "small.txt", SMALL_WORKLOAD);
    let args = ["sweep", commands.to_str().unwrap(), "--limits", "1,64", "--name", "f", "--strategy", "probe"];
    let err = ok(xtask(&env, &args));
    let line = "compiler features: 7 shapes compiled one per process in ";
    assert!(err.contains(line), "{err}");
    assert!(err.contains("5 confirm the parsed features, 2 replaced by the compiler's"), "{err}");
    // Every quantity the C++ computed from K follows it (ratio = K / 64).
    let replaced =
        "`gemmfp16 --a_w 64 --a_h 65536 --b_w 64 -t 1 --iter 100`: matmul outputSize 4096, reductionSize 65600 \
                    (parsed: 4096, 65536); kSize 65600 (parsed: 65536); ratio 1025 (parsed: 1024)";
    assert!(err.contains(replaced), "{err}");
    let results = env.runs().join("f/results.json");
    let r = read_json(&results);
    let replaced = r["compiler_features"]["replaced"].as_array().unwrap();
    assert_eq!(replaced.len(), 2, "{replaced:?}");
    for (s, k) in [(5, 65536), (6, 16384)] {
        let shape = &r["shapes"][s];
        assert_eq!(shape["features"]["reduction_size"], k + 64, "{shape}");
        assert_eq!(shape["features"]["vars"]["kSize"], k + 64, "{shape}");
        assert!(replaced.iter().any(|x| x["shape"] == s && x["parsed"][1] == k), "{replaced:?}");
        // Measured by every candidate itself: the predicted splits rest on
        // the parsed sizes.
        for c in ["limit-1", "limit-64"] {
            assert!(shape["runs"][c]["shared_from"].is_null(), "{c}: {shape}");
        }
    }
    assert_eq!(r["shapes"][5]["features"]["vars"]["ratio"], 1025);
    assert_eq!(r["shapes"][0]["features"]["reduction_size"], 16 * 225 * 225);
    // The baseline's log checks against the compiler's sizes: no decision
    // is left unaccounted for.
    assert!(!err.contains("sizes no benchmarked shape has"), "{err}");

    // A rerun applies the finished comparison again, compiling nothing.
    let again = ok(xtask(&env, &args));
    assert!(again.contains("compiler features: reusing the finished comparison"), "{again}");
    assert_eq!(read_json(&results)["shapes"], r["shapes"]);

    // Off, the parsed sizes stay and no shape is compiled alone.
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(&env.config, config.replace("[sweep]\n", "[sweep]\ncompiler_features = false\n")).unwrap();
    let args = ["sweep", commands.to_str().unwrap(), "--limits", "64", "--name", "off", "--strategy", "probe"];
    let off = ok(xtask(&env, &args));
    assert!(!off.contains("compiler features"), "{off}");
    let r = read_json(&env.runs().join("off/results.json"));
    assert!(r["compiler_features"].is_null());
    assert_eq!(r["shapes"][5]["features"]["reduction_size"], 65536);
}
