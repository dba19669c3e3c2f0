//! `cargo xtask doctor`: checks that a sweep would measure what it claims to,
//! before hours are spent on it.
//!
//! Each check prints one line (ok, warn or FAIL) and, when something is
//! wrong, the fix. The ones that matter most catch false numbers: a kernel
//! cache shared between builds, an `iree-compile` or Python bindings in the
//! benchmark's environment that are not the candidate build's, a benchmark
//! interpreter without iree-turbine. The command exits non-zero when
//! anything a sweep needs is missing.

use crate::config::Config;
use crate::core::cmake::Cache;
use crate::infra::proc::{self, Captured, Job, QUERY_TIMEOUT};
use crate::infra::{bench, build, git};
use crate::ops::context::Ctx;
use crate::ops::inputs::locate_sites;
use anyhow::Result;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Ok,
    Warn,
    Fail,
}

pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) level: Level,
    pub(crate) message: String,
    pub(crate) fix: Option<String>,
}

fn ok(name: &'static str, message: String) -> Check {
    Check { name, level: Level::Ok, message, fix: None }
}

fn warn(name: &'static str, message: String, fix: String) -> Check {
    Check { name, level: Level::Warn, message, fix: Some(fix) }
}

fn fail(name: &'static str, message: String, fix: String) -> Check {
    Check { name, level: Level::Fail, message, fix: Some(fix) }
}

fn checkout(config: &Config) -> Check {
    let repo = match git::open(&config.target.iree) {
        Ok(r) => r,
        Err(e) => {
            return fail("checkout", e.to_string(), "point `target.iree` (or --iree) at your IREE checkout".into())
        }
    };
    let commit = match git::resolve(&repo, &config.target.rev) {
        Ok(c) => c,
        Err(e) => return fail("checkout", e.to_string(), "pass an existing revision with --rev".into()),
    };
    let source = match git::read_file(&repo, commit, &config.target.heuristic_file) {
        Ok(s) => s,
        Err(e) => {
            return fail("checkout", e.to_string(), "set `target.heuristic_file` or tune a revision that has it".into())
        }
    };
    match locate_sites(config, &source) {
        Ok(located) => ok(
            "checkout",
            format!(
                "`{}` at {} ({}): {}{}",
                config.target.iree.display(),
                config.target.rev,
                git::short(commit),
                located
                    .sites
                    .iter()
                    .map(|s| format!("{} in `{}` ({})", s.heuristic, s.function.name, s.style.name()))
                    .collect::<Vec<_>>()
                    .join(", "),
                located.skipped.iter().map(|n| format!("; {n}")).collect::<String>()
            ),
        ),
        Err(e) => fail(
            "anchors",
            format!("{e:#}"),
            "set `heuristics.<name>.functions`/`helpers` to the functions that compute limitParallelLoops, or leave that heuristic out with --heuristics".into(),
        ),
    }
}

fn build_dir(config: &Config) -> (Check, Option<Cache>) {
    let Some(dir) = &config.build.dir else {
        return (
            warn(
                "build dir",
                "no `build.dir`: sibling builds are configured from `build.configure_args` alone".into(),
                "set `build.dir` (or --build-dir) to your IREE build so sibling builds match it".into(),
            ),
            None,
        );
    };
    if !dir.is_dir() {
        return (
            fail(
                "build dir",
                format!("`{}` does not exist", dir.display()),
                "pass your IREE build directory with --build-dir or `build.dir`".into(),
            ),
            None,
        );
    }
    let text = match std::fs::read_to_string(dir.join("CMakeCache.txt")) {
        Ok(t) => t,
        Err(_) => {
            return (
                fail(
                    "build dir",
                    format!("`{}` has no CMakeCache.txt", dir.display()),
                    "configure it first: `cmake -G Ninja -S <iree> -B <build> ...`".into(),
                ),
                None,
            )
        }
    };
    let cache = Cache::parse(&text);
    let generator = cache.generator().unwrap_or("?").to_string();
    if generator != "Ninja" {
        return (
            fail(
                "build dir",
                format!("`{}` is configured with `{generator}`, not Ninja", dir.display()),
                "reconfigure your build with `-G Ninja` (sibling builds copy the generator; Ninja's restat keeps rebuilds minimal)".into(),
            ),
            Some(cache),
        );
    }
    (
        ok(
            "build dir",
            format!("`{}` (Ninja, {})", dir.display(), cache.get("CMAKE_BUILD_TYPE").unwrap_or("no build type")),
        ),
        Some(cache),
    )
}

fn compiler_cache(cache: Option<&Cache>) -> Check {
    let fix = "reconfigure with -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache (or sccache), \
               and set ccache's base_dir to a directory above your checkout";
    match cache.and_then(Cache::launcher) {
        Some(l) => {
            let tool = l.split_whitespace().next().unwrap_or(l);
            if Path::new(tool).is_absolute() && Path::new(tool).exists() || proc::which(tool).is_some() {
                ok("compiler cache", format!("`{l}`"))
            } else {
                fail(
                    "compiler cache",
                    format!("the launcher `{l}` is not installed"),
                    "install it, or reconfigure without it".into(),
                )
            }
        }
        None => warn(
            "compiler cache",
            "none: each build slot's first build compiles everything (hours for IREE)".into(),
            fix.into(),
        ),
    }
}

fn cache_isolation(config: &Config) -> Check {
    let tokens = shlex::split(&config.bench.command).unwrap_or_default();
    let fix = "pass `--cache-dir {cache_dir}` in `bench.command`: the tuner gives every build its own, fresh cache";
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
    } else if tokens.iter().any(|t| t.contains("boo")) {
        return fail(
            "kernel cache",
            "`bench.command` passes no `--cache-dir {cache_dir}`: with BOO_CACHE_ON=1 in the environment boo would share one cache between builds".into(),
            fix.into(),
        );
    }
    if config.bench.env.contains_key("BOO_CACHE_DIR") {
        return fail(
            "kernel cache",
            "`bench.env` sets BOO_CACHE_DIR: every build would share that cache".into(),
            "remove BOO_CACHE_DIR from `bench.env`".into(),
        );
    }
    ok("kernel cache", "a fresh cache directory per build".into())
}

/// The build a candidate's benchmark would see: the first slot's when a
/// sweep has built it, else the user's build as its stand-in.
fn candidate_build(config: &Config) -> Option<(PathBuf, PathBuf)> {
    let (_, src, slot) = build::slot_paths(config, 0);
    if slot.join("CMakeCache.txt").exists() {
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

fn environment_checks(config: &Config) -> Vec<Check> {
    let Some((build, src)) = candidate_build(config) else {
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
    vec![
        turbine_check(config, &view),
        compiler_check(&view),
        bindings_check(config, &view),
        devices_check(config, &view),
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

/// The configured device is visible.
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
            ok("devices", format!("device {device} visible: {}", o.stdout.lines().next().unwrap_or("").trim()))
        }
        Some(o) => fail(
            "devices",
            format!("`{cmdline}` sees no device {device} ({})", o.stderr.trim()),
            "check `bench.devices` and that the GPU is visible (HIP_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES)".into(),
        ),
        None => fail("devices", format!("cannot run `{cmdline}`"), "fix `bench.device_check`".into()),
    }
}

/// Size of a directory tree in bytes, counting at most `limit` entries.
fn tree_size(dir: &Path, limit: usize) -> u64 {
    let mut total = 0;
    let mut seen = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            seen += 1;
            if seen > limit {
                return total;
            }
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                if e.file_name() != ".git" {
                    stack.push(e.path());
                }
            } else {
                total += m.len();
            }
        }
    }
    total
}

fn free_bytes(path: &Path) -> Option<u64> {
    let mut p = path.to_path_buf();
    while !p.exists() {
        if !p.pop() {
            return None;
        }
    }
    let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `s` a valid out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some(s.f_bavail as u64 * s.f_frsize as u64)
}

fn disk(config: &Config) -> Check {
    let work = config.work_dir();
    let build = config.build.dir.as_deref().map(|d| tree_size(d, 2_000_000)).unwrap_or(0);
    let source = tree_size(&config.target.iree, 2_000_000);
    // Two slots (baseline and patched during validation), each a worktree
    // and a build like the user's; slots that exist already count as room.
    let existing = tree_size(&work, 2_000_000);
    let needed = (2 * (build + source)).saturating_sub(existing);
    let gb = |b: u64| b as f64 / 1e9;
    match free_bytes(&work) {
        Some(free) if free >= needed => ok(
            "disk",
            format!(
                "{:.1} GB free for build slots under `{}` (about {:.1} GB needed)",
                gb(free),
                work.display(),
                gb(needed)
            ),
        ),
        Some(free) => fail(
            "disk",
            format!(
                "{:.1} GB free under `{}`, about {:.1} GB needed for two build slots",
                gb(free),
                work.display(),
                gb(needed)
            ),
            "free space there, or set `build.work_dir` (or --work-dir) to a larger disk".into(),
        ),
        None => warn("disk", format!("cannot read free space under `{}`", work.display()), "check it by hand".into()),
    }
}

/// Every check, in order.
pub(crate) fn checks(config: &Config) -> Vec<Check> {
    let mut out = vec![checkout(config)];
    let (b, cache) = build_dir(config);
    out.push(b);
    out.push(compiler_cache(cache.as_ref()));
    out.push(cache_isolation(config));
    out.extend(environment_checks(config));
    out.push(disk(config));
    out
}

pub(crate) fn run(ctx: &Ctx) -> Result<()> {
    let all = checks(&ctx.config);
    for c in &all {
        let tag = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        println!("{tag} {:<16} {}", c.name, c.message);
        if let Some(f) = &c.fix {
            println!("     {:<16} fix: {f}", "");
        }
    }
    let failed = all.iter().filter(|c| c.level == Level::Fail).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed: a sweep would not measure what it claims to");
    }
    println!("ready to sweep");
    Ok(())
}
