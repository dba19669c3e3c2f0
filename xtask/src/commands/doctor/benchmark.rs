//! The checks of the benchmark, by what its command uses.
//!
//! A Python benchmark (`{python}`, iree-turbine's boo driver) needs the
//! build's `iree-compile` first on `PATH`, the build's Python bindings and
//! iree-turbine in its interpreter; a C++ driver or a wrapper script needs
//! none of that. Each check here applies only when the command uses what it
//! checks, and otherwise says "skip" with the reason, never "FAIL". Also
//! here: the benchmark's numerics flag (a driver that ignores an unknown
//! flag would "pass" numerics having checked nothing), the build targets a
//! sweep and a validation ask Ninja for, and the decision model against the
//! build's `iree-opt`.

use super::{fail, ok, skip, warn, Check};
use crate::config::Config;
use crate::core::modelcheck::{self, ModelCheckRecord};
use crate::infra::proc::{self, Captured, Job, QUERY_TIMEOUT};
use crate::infra::{bench, build};
use crate::ops::{inputs, model_check};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What the benchmark command uses.
pub(super) struct Kind {
    /// Runs the configured interpreter (`{python}`).
    python: bool,
    /// Runs iree-turbine's boo driver.
    boo: bool,
    /// Gets a kernel-cache directory (`{cache_dir}` or `--cache-dir`).
    cache_dir: bool,
    /// Names `iree-compile` itself.
    iree_compile: bool,
}

impl Kind {
    pub(super) fn of(config: &Config) -> Kind {
        let c = &config.bench.command;
        Kind {
            python: c.contains("{python}"),
            boo: c.contains("iree.turbine") || c.contains("boo.driver"),
            cache_dir: c.contains("{cache_dir}") || c.contains("--cache-dir"),
            iree_compile: c.contains("iree-compile"),
        }
    }
}

/// The kernel cache is the build's own: a `--cache-dir {cache_dir}` for boo,
/// and no shared `BOO_CACHE_DIR`.
pub(super) fn cache_isolation(config: &Config, kind: &Kind) -> Check {
    let tokens = shlex::split(&config.bench.command).unwrap_or_default();
    let fix = "pass `--cache-dir {cache_dir}` in `bench.command`: the tuner gives every build its own, fresh cache";
    if config.bench.env.contains_key("BOO_CACHE_DIR") {
        return fail(
            "kernel cache",
            "`bench.env` sets BOO_CACHE_DIR: every build would share that cache".into(),
            "remove BOO_CACHE_DIR from `bench.env`".into(),
        );
    }
    if let Some(i) = tokens.iter().position(|t| t == "--cache-dir" || t.starts_with("--cache-dir=")) {
        let value = tokens[i]
            .strip_prefix("--cache-dir=")
            .map(str::to_string)
            .or_else(|| tokens.get(i + 1).cloned())
            .unwrap_or_default();
        if !value.contains("{cache_dir}") {
            return fail(
                "kernel cache",
                format!("`bench.command` passes a fixed `--cache-dir {value}`: every build would reuse kernels compiled by another (boo keys its cache by op, not by compiler)"),
                fix.into(),
            );
        }
    } else if kind.boo {
        return fail(
            "kernel cache",
            "`bench.command` passes no `--cache-dir {cache_dir}`: with BOO_CACHE_ON=1 in the environment boo would share one cache between builds".into(),
            fix.into(),
        );
    } else if !kind.cache_dir {
        return skip(
            "kernel cache",
            "the benchmark command takes no cache directory (`{cache_dir}`) and is not boo; it gets BOO_CACHE_DIR, fresh per build".into(),
        );
    }
    ok("kernel cache", "a fresh cache directory per build".into())
}

/// The build a candidate's benchmark would see: the first slot's when a
/// sweep has built it, else the user's build as its stand-in.
/// The build a candidate's benchmark would run: the user's (which an
/// overlay slot's jobs see at the same path), else a worktree slot's once
/// one is configured, else the user's.
fn candidate_build(config: &Config, overlay: bool) -> Option<(PathBuf, PathBuf)> {
    let (_, src, slot) = build::slot_paths(config, 0);
    if !overlay && slot.join("CMakeCache.txt").exists() {
        return Some((slot, src));
    }
    config.build.dir.clone().filter(|d| d.is_dir()).map(|d| (d, config.target.iree.clone()))
}

fn first_on_path(path: &OsString, tool: &str) -> Option<PathBuf> {
    std::env::split_paths(path).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// Runs a probe in the benchmark's environment (without an inherited
/// `PYTHONPATH`); `None` when it cannot start.
fn run_in(env: &[(String, OsString)], program: &str, args: &[&str]) -> Option<Captured> {
    let cwd = std::env::temp_dir();
    let mut job = Job::new(program, &cwd, Path::new("/dev/null"), QUERY_TIMEOUT).args(args.iter().copied());
    job.env_remove.push("PYTHONPATH".to_string());
    job.env = env.to_vec();
    proc::capture(&job).ok()
}

/// The benchmark's view of the build a candidate would run.
struct BenchView {
    build: PathBuf,
    env: Vec<(String, OsString)>,
    path: OsString,
}

/// The checks that run inside the benchmark's environment.
pub(super) fn environment_checks(config: &Config, kind: &Kind, overlay: bool) -> Vec<Check> {
    let Some((build, src)) = candidate_build(config, overlay) else {
        return vec![warn(
            "benchmark env",
            "no build to check the benchmark's environment against".into(),
            "configure and build your IREE build dir, or run a sweep first".into(),
        )];
    };
    let cache = build.join("tool-cache-doctor");
    let env = match bench::environment(config, &build, &src, &cache, &config.bench.devices[0]) {
        Ok(e) => e,
        Err(e) => {
            return vec![fail(
                "benchmark env",
                format!("{e:#}"),
                "fix `bench.env`, `bench.path` or `bench.pythonpath`".into(),
            )]
        }
    };
    let path = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone()).unwrap_or_default();
    let view = BenchView { build, env, path };
    let no_python = "the benchmark command runs no `{python}`";
    vec![
        if kind.boo {
            turbine_check(config, &view)
        } else {
            skip("iree-turbine", "the benchmark command does not run iree-turbine's boo driver".into())
        },
        if kind.python || kind.iree_compile {
            compiler_check(&view)
        } else {
            skip("iree-compile", format!("{no_python} and no `iree-compile`"))
        },
        if kind.python { bindings_check(config, &view) } else { skip("python bindings", no_python.into()) },
        devices_check(config, &view),
        numerics_check(config, &view),
    ]
}

/// iree-turbine in the benchmark's interpreter.
fn turbine_check(config: &Config, view: &BenchView) -> Check {
    let python = &config.bench.python;
    match run_in(&view.env, python, &["-c", "import iree.turbine.kernel.boo.driver.driver"]) {
        Some(o) if o.success() => ok("iree-turbine", format!("`{python}` imports iree.turbine's boo driver")),
        Some(o) => fail(
            "iree-turbine",
            format!("`{python}` cannot import iree.turbine's boo driver: {}", o.stderr.lines().last().unwrap_or("")),
            "set `bench.python` (or --python) to the interpreter of your iree-turbine virtualenv, or add iree-turbine to `bench.pythonpath`".into(),
        ),
        None => fail("iree-turbine", format!("cannot run `{python}`"), "set `bench.python` to an existing interpreter".into()),
    }
}

/// The classic mistake: a pip iree-compile (or another build's) first on
/// the benchmark's PATH.
fn compiler_check(view: &BenchView) -> Check {
    let expected = view.build.join("tools").join("iree-compile");
    match first_on_path(&view.path, "iree-compile") {
        Some(p) if p == expected => ok("iree-compile", format!("the benchmark's `iree-compile` is the build's (`{}`)", p.display())),
        Some(p) => fail(
            "iree-compile",
            format!("the benchmark's PATH finds `{}` before the candidate build's `{}`", p.display(), expected.display()),
            "do not set PATH in `bench.env`, and build the `iree-compile` target (it must exist in BUILD/tools); uninstall a pip iree-compiler from the venv if it shadows it".into(),
        ),
        None => fail(
            "iree-compile",
            format!("no `iree-compile` on the benchmark's PATH (expected `{}`)", expected.display()),
            "build the `iree-compile` target in your build dir".into(),
        ),
    }
}

/// The Python bindings the benchmark imports are the build's.
fn bindings_check(config: &Config, view: &BenchView) -> Check {
    let probe = run_in(
        &view.env,
        &config.bench.python,
        &["-c", "import iree.compiler, os; print(os.path.realpath(iree.compiler.__file__))"],
    );
    let build_real = view.build.canonicalize().unwrap_or(view.build.clone());
    match probe {
        Some(o) if o.success() => {
            let file = o.stdout.trim().to_string();
            if Path::new(&file).starts_with(&build_real) {
                ok("python bindings", format!("`iree.compiler` comes from the build (`{file}`)"))
            } else {
                fail(
                    "python bindings",
                    format!("`iree.compiler` comes from `{file}`, not from `{}`", view.build.display()),
                    "uninstall the pip iree-compiler package from the benchmark's interpreter, and do not set PYTHONPATH in `bench.env`".into(),
                )
            }
        }
        _ => fail(
            "python bindings",
            "the benchmark's interpreter cannot import `iree.compiler` from the build".into(),
            "configure your build with -DIREE_BUILD_PYTHON_BINDINGS=ON and build `IREECompilerPythonModules`".into(),
        ),
    }
}

/// The command that lists devices: configured, or the vendor's tool.
fn device_command(config: &Config, build: &Path) -> Option<String> {
    if config.bench.device_check.trim().is_empty() {
        let tool = ["rocm-smi", "amd-smi", "nvidia-smi"].into_iter().find(|t| proc::which(t).is_some())?;
        return Some(
            match tool {
                "nvidia-smi" => "nvidia-smi -L",
                "amd-smi" => "amd-smi list",
                _ => "rocm-smi --showid",
            }
            .to_string(),
        );
    }
    let mut vars = std::collections::BTreeMap::new();
    vars.insert("python", config.bench.python.clone());
    vars.insert("build_dir", build.display().to_string());
    vars.insert("device", config.bench.devices[0].clone());
    crate::config::expand(&config.bench.device_check, &vars).ok()
}

/// The first `gfxNNNN` word of a device listing.
fn gfx_arch(line: &str) -> Option<String> {
    line.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.starts_with("gfx") && w.len() > 3 && w[3..].chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// AMD's RDNA-class GPUs, which boo compiles for with the low-parallelism
/// split-reduction parameters.
fn rdna_class(arch: &str) -> bool {
    ["gfx10", "gfx11", "gfx12"].iter().any(|p| arch.starts_with(p))
}

/// The configured device is visible (and of the kind whose values are
/// tuned, where its listing names an AMD architecture).
fn devices_check(config: &Config, view: &BenchView) -> Check {
    let device = &config.bench.devices[0];
    let Some(cmdline) = device_command(config, &view.build) else {
        return warn(
            "devices",
            "no device check configured and no rocm-smi, amd-smi or nvidia-smi found".into(),
            "set `bench.device_check` to a command that lists visible GPUs".into(),
        );
    };
    match run_in(&view.env, "sh", &["-c", &cmdline]) {
        Some(o) if o.success() && !o.stdout.trim().is_empty() => {
            let line = o.stdout.lines().next().unwrap_or("").trim().to_string();
            let low = config.heuristics.low_parallelism;
            match gfx_arch(&line).filter(|arch| rdna_class(arch) != low) {
                Some(arch) => warn(
                    "devices",
                    format!(
                        "device {device} is {arch}, but the {} values are tuned: boo compiles for {arch} with {} \
                         split-reduction parameters, so the sweep would measure what the tuned values do not decide",
                        crate::core::audit::target_name(low),
                        if rdna_class(&arch) { "the low-parallelism" } else { "the default" }
                    ),
                    format!(
                        "list a{} GPU in `bench.devices` (or the target's `[bench.targets.*]`), or set \
                         `heuristics.low_parallelism`/`heuristics.targets` to the GPU's kind",
                        if low { "n RDNA-class (gfx10/11/12)" } else { " non-RDNA" }
                    ),
                ),
                None => ok("devices", format!("device {device} visible: {line}")),
            }
        }
        Some(o) => fail(
            "devices",
            format!("`{cmdline}` sees no device {device} ({})", o.stderr.trim()),
            "check `bench.devices` and that the GPU is visible (HIP_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES)".into(),
        ),
        None => fail("devices", format!("cannot run `{cmdline}`"), "fix `bench.device_check`".into()),
    }
}

/// The benchmark's own help mentions every `validate.numerics_args` flag:
/// a driver that ignores an unknown flag would pass numerics having
/// checked nothing.
fn numerics_check(config: &Config, view: &BenchView) -> Check {
    let flags: Vec<&String> = config.validate.numerics_args.iter().filter(|a| a.starts_with('-')).collect();
    if flags.is_empty() {
        return skip("numerics", "`validate.numerics_args` is empty: validation does not check numerics".into());
    }
    let scratch = view.build.join("tool-cache-doctor");
    let invocation = bench::Invocation {
        config,
        build_dir: &view.build,
        source_dir: &view.build,
        commands: &scratch.join("commands.txt"),
        csv: &scratch.join("out.csv"),
        cache_dir: &scratch,
        device: &config.bench.devices[0],
        log: Path::new("/dev/null"),
        timeout: QUERY_TIMEOUT,
        extra_args: &["--help".to_string()],
        overlays: &[],
        env: &[],
    };
    let help = bench::command_line(&invocation).ok().and_then(|argv| {
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        run_in(&view.env, &argv[0], &args)
    });
    let fix =
        "set `validate.numerics_args` to the flag your benchmark verifies numerics with, or to [] to skip the check";
    match help {
        Some(o) if o.success() => {
            let text = format!("{}{}", o.stdout, o.stderr);
            match flags.iter().find(|f| !text.contains(f.split('=').next().unwrap_or(f))) {
                None => ok("numerics", format!("the benchmark's --help lists {}", flags.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "))),
                Some(f) => fail(
                    "numerics",
                    format!("the benchmark's --help does not list `{f}` (`validate.numerics_args`): a driver that ignores it would pass numerics having checked nothing"),
                    fix.into(),
                ),
            }
        }
        _ => warn(
            "numerics",
            "the benchmark command does not answer `--help`, so its numerics flags cannot be checked".into(),
            fix.into(),
        ),
    }
}

/// The targets a sweep and a validation build exist in the build (Ninja
/// says which).
pub(super) fn targets_check(config: &Config, overlay: bool) -> Check {
    let wanted: Vec<&String> = config.build.targets.iter().chain(&config.validate.targets).collect();
    let Some((build, _)) = candidate_build(config, overlay) else {
        return skip("build targets", "no build dir to ask Ninja".into());
    };
    let job = Job::new("ninja", &build, Path::new("/dev/null"), QUERY_TIMEOUT).args(["-t", "targets", "all"]);
    let out = match proc::capture(&job) {
        Ok(o) if o.success() => o.stdout,
        _ => {
            return warn(
                "build targets",
                format!("`ninja -t targets all` does not run in `{}`", build.display()),
                "install Ninja (apt-get install ninja-build)".into(),
            )
        }
    };
    let known: Vec<&str> = out.lines().filter_map(|l| l.split(':').next()).map(str::trim).collect();
    let missing: Vec<&&String> = wanted.iter().filter(|t| !known.contains(&t.as_str())).collect();
    if missing.is_empty() {
        let list = wanted.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ");
        return ok("build targets", format!("the build has {list}"));
    }
    fail(
        "build targets",
        format!("the build has no target {}", missing.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")),
        "fix `build.targets` / `validate.targets` (every target must exist in your build), or configure the build with the options that create them".into(),
    )
}

/// The decision model against the build's `iree-opt`, on the default
/// commands files.
pub(super) fn model_check(config: &Config) -> Check {
    if config.sweep.commands.is_empty() {
        return skip("model", "no `sweep.commands` to check the model on".into());
    }
    let shapes: Vec<_> = match inputs::read_commands_files(&config.sweep.commands, true) {
        Ok(files) => files.into_iter().flat_map(|f| f.commands.shapes).collect(),
        Err(e) => return skip("model", format!("{e:#}")),
    };
    match model_check::record(config, &shapes) {
        ModelCheckRecord::Checked(c) if c.mismatches.is_empty() => {
            ok("model", modelcheck::summary(&ModelCheckRecord::Checked(c)))
        }
        ModelCheckRecord::Checked(c) => fail(
            "model",
            format!(
                "the model predicts another split than `{}` for {} of {} shapes",
                c.iree_opt,
                c.mismatches.len(),
                c.total
            ),
            "`cargo xtask check-model` lists them; the sweep's predicted splits for those shapes are wrong".into(),
        ),
        ModelCheckRecord::Skipped(why) => skip("model", why),
        ModelCheckRecord::Failed(why) => {
            warn("model", why, "pass an MLIR iree-opt to `cargo xtask check-model --iree-opt`".into())
        }
    }
}
