//! `cargo xtask doctor` on good and broken fixture setups, and the report's
//! guard against a benchmark that never saw the patch.

use crate::common::*;

fn doctor(env: &Env, extra: &[&str]) -> (bool, String) {
    let mut args = extra.to_vec();
    args.push("doctor");
    let out = xtask(env, &args);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out)))
}

/// Rewrites the test's tuner.toml with `extra` appended.
fn with_config(env: &Env, extra: &str) -> Env {
    let text = std::fs::read_to_string(&env.config).unwrap();
    let path = env.root().join(format!("tuner-{}.toml", text.len() + extra.len()));
    std::fs::write(&path, format!("{text}\n{extra}\n")).unwrap();
    Env { tmp: tempfile::tempdir().unwrap(), repo: env.repo.clone(), build: env.build.clone(), config: path }
}

fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("no `{name}` line:\n{out}"))
}

#[test]
fn doctor_passes_a_good_setup_and_names_the_fix_for_each_broken_one() {
    let env = fixture(true, "");
    let (good, out) = doctor(&env, &[]);
    assert!(good, "{out}");
    insta::assert_snapshot!("cli_doctor", redact(&env, &out));
    for name in [
        "checkout",
        "build dir",
        "compiler cache",
        "kernel cache",
        "iree-turbine",
        "iree-compile",
        "python bindings",
        "devices",
        "disk",
    ] {
        assert!(line(&out, name).starts_with("ok"), "{out}");
    }

    // A fixed kernel-cache directory shared by every build.
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        "[bench]\n",
        "[bench]\ncommand = \"{python} -m iree.turbine.kernel.boo.driver.driver --commands-file {commands} --csv {csv} --cache-dir /tmp/shared-boo-cache\"\n",
    );
    std::fs::write(env.root().join("shared-cache.toml"), text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["--config", env.root().join("shared-cache.toml").to_str().unwrap(), "doctor"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success());
    assert!(line(&text, "kernel cache").starts_with("FAIL"), "{text}");
    assert!(text.contains("fix: pass `--cache-dir {cache_dir}`"), "{text}");

    // A stale iree-compile first on the benchmark's PATH.
    let fake = env.root().join("fakebin");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("iree-compile"), "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(fake.join("iree-compile"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bad = with_config(&env, &format!("[bench.env]\nPATH = \"{}:/usr/bin:/bin\"\n", fake.display()));
    let (good, out) = doctor(&bad, &[]);
    assert!(!good);
    assert!(line(&out, "iree-compile").starts_with("FAIL") && out.contains(&fake.display().to_string()), "{out}");
    assert!(out.contains("do not set PATH in `bench.env`"), "{out}");

    // A build directory that does not exist.
    let missing = env.root().join("no-such-build");
    let (good, out) = doctor(&env, &["--build-dir", missing.to_str().unwrap()]);
    assert!(!good);
    assert!(line(&out, "build dir").starts_with("FAIL") && out.contains("--build-dir"), "{out}");

    // Anchors the patcher cannot find.
    let bad = with_config(&env, "[heuristics.conv]\nfunctions = [\"getSomethingElse\"]\nhelpers = []\n");
    let (good, out) = doctor(&bad, &[]);
    assert!(!good);
    assert!(line(&out, "anchors").starts_with("FAIL") && out.contains("getSomethingElse"), "{out}");
    assert!(out.contains("heuristics.<name>.functions"), "{out}");

    // Low-parallelism values tuned on a GPU that compiles with the default
    // ones; then two targets, each on a GPU of its kind, checked one by one.
    let bad = with_config(&env, "[heuristics]\nlow_parallelism = true\n");
    let (_, out) = doctor(&bad, &[]);
    assert!(line(&out, "devices").starts_with("warn") && out.contains("device 0 is gfx942"), "{out}");
    let both = with_config(
        &env,
        "[heuristics]\ntargets = [\"default\", \"low_parallelism\"]\n[bench.targets.default]\n\
         [bench.targets.low_parallelism]\nenv = { FIXTURE_BOO_ARCH = \"gfx1100\" }\n",
    );
    let (good, out) = doctor(&both, &[]);
    assert!(good, "{out}");
    assert!(out.contains("devices          low_parallelism target: device 0 visible: 0 fixture-gpu (gfx1100"), "{out}");

    // A benchmark that is not Python.
    doctor_follows_a_non_python_benchmark_and_skips_what_does_not_apply(&env);
}

#[test]
fn a_benchmark_that_ignores_the_build_is_flagged() {
    let env = fixture(true, "");
    // Every candidate's benchmark runs the user's own (baseline) compiler.
    let build = &env.build;
    let wired = with_config(
        &env,
        &format!(
            "[bench.env]\nPATH = \"{}:{}\"\nPYTHONPATH = \"{}:{}:{}\"\n",
            build.join("tools").display(),
            std::env::var("PATH").unwrap(),
            build.join("compiler/bindings/python").display(),
            build.join("runtime/bindings/python").display(),
            workspace().join("tests/fixtures/turbine").display()
        ),
    );
    // Worktree slots: in an overlay slot the user's build path is the
    // candidate's build, so this wiring would measure the candidates.
    let text = std::fs::read_to_string(&wired.config).unwrap().replace("[build]\n", "[build]\noverlay = \"off\"\n");
    std::fs::write(&wired.config, text).unwrap();
    let commands = commands_file(&env, "small.txt", SMALL_WORKLOAD);
    ok(xtask(&wired, &["sweep", commands.to_str().unwrap(), "--quick"]));
    let err = ok(xtask(&wired, &["analyze", "small"]));
    assert!(err.contains("warning: the patch may not have reached the benchmark"), "{err}");
    let report = std::fs::read_to_string(env.runs().join("small/report.md")).unwrap();
    assert!(report.contains("**Warning:** the patch may not have reached the benchmark"), "{report}");
    assert!(report.contains("stale kernel cache") && report.contains("cargo xtask doctor"), "{report}");
    // And doctor says why.
    let (good, out) = doctor(&wired, &[]);
    assert!(!good && line(&out, "iree-compile").starts_with("FAIL"), "{out}");
}

/// A benchmark that is not a Python program: a wrapper script (standing in
/// for a C++ driver) that takes the commands file and the CSV path.
const WRAPPER: &str = r#"#!/bin/sh
# Stand-in for a C++ benchmark driver: forwards to the fixture's boo driver.
for a in "$@"; do
  if [ "$a" = --help ]; then
    echo "usage: bench-wrapper --commands-file FILE --csv OUT [--verify-numerics]"
    exit 0
  fi
done
exec python3 -m iree.turbine.kernel.boo.driver.driver "$@"
"#;

/// On the same built fixture as the good setup (one build less in CI).
fn doctor_follows_a_non_python_benchmark_and_skips_what_does_not_apply(env: &Env) {
    let wrapper = env.root().join("bench-wrapper");
    std::fs::write(&wrapper, WRAPPER).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text.replace(
        "[bench]\n",
        &format!("[bench]\ncommand = \"{} --commands-file {{commands}} --csv {{csv}}\"\n", wrapper.display()),
    );
    let text = regex::Regex::new(r"(?m)^device_check = .*$")
        .unwrap()
        .replace(&text, "device_check = \"echo 0 fixture-gpu, through the wrapper\"")
        .into_owned();
    let path = env.root().join("wrapper.toml");
    std::fs::write(&path, text).unwrap();
    let wrapped =
        Env { tmp: tempfile::tempdir().unwrap(), repo: env.repo.clone(), build: env.build.clone(), config: path };
    let (good, out) = doctor(&wrapped, &[]);
    assert!(good, "{out}");
    for name in ["kernel cache", "iree-turbine", "iree-compile", "python bindings", "model"] {
        assert!(line(&out, name).starts_with("skip"), "{out}");
    }
    for name in ["numerics", "build targets", "devices"] {
        assert!(line(&out, name).starts_with("ok"), "{out}");
    }
    insta::assert_snapshot!("cli_doctor_wrapper", redact(env, &out));

    // A numerics flag the driver does not know fails, with the fix; so
    // does a target the build does not have.
    let base = std::fs::read_to_string(&wrapped.config).unwrap();
    let variant = |from: &str, to: &str| {
        let path = env.root().join(format!("variant-{}.toml", to.len()));
        std::fs::write(&path, base.replace(from, to)).unwrap();
        Env { tmp: tempfile::tempdir().unwrap(), repo: env.repo.clone(), build: env.build.clone(), config: path }
    };
    let (good, out) = doctor(&variant("[validate]\n", "[validate]\nnumerics_args = [\"--check-everything\"]\n"), &[]);
    assert!(!good && line(&out, "numerics").starts_with("FAIL") && out.contains("`--check-everything`"), "{out}");
    let (good, out) = doctor(&variant("targets = []", "targets = [\"no-such-target\"]"), &[]);
    assert!(!good && line(&out, "build targets").starts_with("FAIL") && out.contains("`no-such-target`"), "{out}");
}
