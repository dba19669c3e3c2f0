//! `cargo xtask doctor`: checks that a sweep would measure what it claims to,
//! before hours are spent on it.
//!
//! Each check prints one line (ok, skip, warn or FAIL) and, when something
//! is wrong, the fix; a check that does not apply to this setup (a Python
//! check of a C++ benchmark driver) says "skip" and why. The ones that
//! matter most catch false numbers: a kernel cache shared between builds, an `iree-compile` or Python bindings in the
//! benchmark's environment that are not the candidate build's, a benchmark
//! interpreter without iree-turbine. The command exits non-zero when
//! anything a sweep needs is missing.

use crate::config::Config;
use crate::core::cmake::Cache;
use crate::infra::proc;
use crate::infra::{build, git, slots};
use crate::ops::context::Ctx;
use crate::ops::inputs::locate_sites;
use anyhow::Result;
use std::path::Path;

mod benchmark;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Ok,
    /// The check does not apply to this setup (the message says why).
    Skip,
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

fn skip(name: &'static str, message: String) -> Check {
    Check { name, level: Level::Skip, message, fix: None }
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

/// How a build slot's first build goes: incremental on an overlay of the
/// user's build, or (and why) a full build in a worktree, with the compiler
/// cache settings that let it hit the user's cache instead.
fn first_build(config: &Config) -> (Check, bool) {
    let blocker = match (config.build.overlay, git::open(&config.target.iree)) {
        (crate::config::OverlayMode::Off, _) => Some("`build.overlay` is \"off\"".to_string()),
        (_, Ok(repo)) => build::overlay_blocker(&repo, config, &build::slot_paths(config, 0).0),
        (_, Err(e)) => Some(format!("{e:#}")),
    };
    let Some(why) = blocker else {
        return (
            ok(
                "first build",
                "incremental: build slots stand on `build.dir` and your checkout as overlays (overlayfs in a user \
                 namespace), so a slot's first candidate rebuilds the heuristic and relinks"
                    .into(),
            ),
            true,
        );
    };
    let roots: Vec<std::path::PathBuf> =
        [config.work_dir(), config.target.iree.clone()].into_iter().chain(config.build.dir.clone()).collect();
    let base = build::common_ancestor(&roots).map(|p| p.display().to_string()).unwrap_or_else(|| "/".into());
    (
        warn(
            "first build",
            format!("a full build per build slot (hours for IREE): {why}"),
            format!(
                "fix that, or let slot builds hit your compiler cache: build your tree with ccache and \
                 `CCACHE_BASEDIR={base} CCACHE_NOHASHDIR=1` in the environment (the settings slot builds use), \
                 e.g. `CCACHE_BASEDIR={base} CCACHE_NOHASHDIR=1 cmake --build <your build dir>`"
            ),
        ),
        false,
    )
}

fn compiler_cache(cache: Option<&Cache>, overlay: bool) -> Check {
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
        None if overlay => {
            ok("compiler cache", "none (slots stand on your build: their first build needs none)".into())
        }
        None => warn(
            "compiler cache",
            "none: each build slot's first build compiles everything (hours for IREE)".into(),
            fix.into(),
        ),
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

/// Kept builds a sweep and its validation make: the sweep's baseline and
/// the patched build of up to two validation rounds.
const KEPT_BUILDS: u64 = 3;

/// What a kept build copies ([`crate::infra::artifacts`]), near enough.
const KEPT_PARTS: &[&str] = &["lib", "tools", "compiler/bindings/python", "runtime/bindings/python"];

fn disk(config: &Config, overlay: bool) -> Check {
    let work = config.work_dir();
    let existing = tree_size(&work, 2_000_000);
    let size = |build: &Path, parts: &[&str]| -> u64 {
        parts
            .iter()
            .map(|p| {
                let path = build.join(p);
                if path.is_dir() {
                    tree_size(&path, 2_000_000)
                } else {
                    std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
                }
            })
            .sum()
    };
    // A kept build copies what the benchmark loads (mostly the compiler
    // library): the sweep's baseline and each validation round's patch.
    let kept = config.build.dir.as_deref().map(|b| KEPT_BUILDS * size(b, KEPT_PARTS)).unwrap_or(0);
    let needed = match (&config.build.dir, overlay) {
        // An overlay slot's layers hold only what its builds write: the
        // compiler library, the tools and the Python bindings relinked (a
        // copy each), and ninja's logs.
        (Some(build), true) => {
            let written = size(build, &["lib", "tools", "compiler/bindings/python", ".ninja_deps", ".ninja_log"]);
            (written + kept).saturating_sub(existing)
        }
        // A worktree slot is a worktree and a build like the user's;
        // slots that exist already count as room.
        _ => {
            let build = config.build.dir.as_deref().map(|d| tree_size(d, 2_000_000)).unwrap_or(0);
            let source = tree_size(&config.target.iree, 2_000_000);
            (build + source + kept).saturating_sub(existing)
        }
    };
    let gb = |b: u64| b as f64 / 1e9;
    match free_bytes(&work) {
        Some(free) if free >= needed => ok(
            "disk",
            format!(
                "{:.1} GB free for build slots under `{}` (about {:.1} GB needed with kept builds{})",
                gb(free),
                work.display(),
                gb(needed),
                if overlay { ": overlay slots hold only what their builds write" } else { "" }
            ),
        ),
        Some(free) => fail(
            "disk",
            format!(
                "{:.1} GB free under `{}`, about {:.1} GB needed for a build slot and kept builds",
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
/// The build slots runs left: their disk use, holder and last run.
fn slots_check(config: &Config) -> Check {
    let work = config.work_dir();
    let all = slots::survey(&work);
    if all.is_empty() {
        return ok("slots", format!("none yet under `{}`", work.display()));
    }
    let gb = |b: u64| b as f64 / 1e9;
    let mut total = 0;
    let mut parts = Vec::new();
    for (index, held, holder) in &all {
        let (dir, _, _) = build::slot_paths(config, *index);
        let size = tree_size(&dir, 2_000_000);
        total += size;
        let state = match (held, holder) {
            (true, Some(h)) => format!("in use by pid {} (run `{}`)", h.pid, h.run),
            (true, None) => "in use".to_string(),
            (false, _) => match build::last_run(config, *index) {
                Some(r) => format!("free, last used by run `{r}`"),
                None => "free".to_string(),
            },
        };
        parts.push(format!("slot-{index} {:.1} GB ({state})", gb(size)));
    }
    ok(
        "slots",
        format!(
            "{} build slot(s), {:.1} GB under `{}`: {}; `cargo xtask clean RUN` or `--all` frees them",
            all.len(),
            gb(total),
            work.display(),
            parts.join(", ")
        ),
    )
}

pub(crate) fn checks(config: &Config) -> Vec<Check> {
    let mut out = vec![checkout(config)];
    let (b, cache) = build_dir(config);
    out.push(b);
    let (first, overlay) = first_build(config);
    out.push(compiler_cache(cache.as_ref(), overlay));
    out.push(first);
    let kind = benchmark::Kind::of(config);
    out.push(benchmark::cache_isolation(config, &kind));
    // With several targets, each one's benchmark (its devices, its
    // environment) is checked.
    let targets = config.targets();
    for &t in &targets {
        let mut checks = benchmark::environment_checks(&config.for_target(t), &kind, overlay);
        if targets.len() > 1 {
            for c in &mut checks {
                c.message = format!("{} target: {}", t.name(), c.message);
            }
        }
        out.extend(checks);
    }
    out.push(benchmark::targets_check(config, overlay));
    out.push(benchmark::model_check(config));
    out.push(disk(config, overlay));
    out.push(slots_check(config));
    out.push(keeping());
    out
}

/// `validate` benchmarks kept copies of builds, whose RPATHs patchelf
/// points at their own libraries ([`crate::infra::artifacts`]).
fn keeping() -> Check {
    match proc::which("patchelf") {
        Some(p) => ok("kept builds", format!("`{}` points kept builds at their own libraries", p.display())),
        None => warn(
            "kept builds",
            "no `patchelf`: a sweep runs, but builds and benchmarks one after the other, and `validate` cannot \
             keep builds to benchmark"
                .into(),
            "install patchelf, e.g. `sudo apt-get install patchelf`".into(),
        ),
    }
}

pub(crate) fn run(ctx: &Ctx) -> Result<()> {
    let all = checks(&ctx.config);
    for c in &all {
        let tag = match c.level {
            Level::Ok => "ok  ",
            Level::Skip => "skip",
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
