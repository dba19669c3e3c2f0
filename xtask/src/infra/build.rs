//! Build slots: a worktree and a sibling build directory that persist between
//! candidates, so each candidate costs an incremental build.
//!
//! A slot lives under the work directory (by default `<user build dir>-tune/`)
//! as `slot-N/<checkout name>/` (a git worktree of the user's repository) and
//! `slot-N/<build dir name>/` (configured like the user's build from its
//! `CMakeCache.txt`). Switching a slot to the next candidate is a checkout of
//! that candidate's commit, which rewrites only the heuristic file, so ninja
//! recompiles one translation unit and relinks: the floor. This module owns
//! slot layout, configuration and the build call; what to build comes from
//! the commands.

use crate::config::{Config, OverlayMode};
use crate::core::cmake::Cache;
use crate::core::digest::sha256_hex;
use crate::infra::git::{self, Worktree};
use crate::infra::overlay;
use crate::infra::proc::{self, Job, Outcome};
use crate::infra::progress::BuildSteps;
use crate::infra::slots::SlotLock;
use crate::infra::store;
use anyhow::{bail, Context, Result};
use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A slot this process holds: its directories and its tree.
pub(crate) struct Slot {
    pub(crate) index: u32,
    pub(crate) dir: PathBuf,
    /// The checkout and build directory as the slot's jobs see them: the
    /// slot's own (a worktree), or the user's paths (an overlay slot).
    pub(crate) src: PathBuf,
    pub(crate) build: PathBuf,
    pub(crate) tree: Tree,
    /// Held as long as the slot is in use.
    _lock: SlotLock,
}

/// Where a slot's sources and build live.
pub(crate) enum Tree {
    /// A git worktree of the user's repository and a build directory of the
    /// slot's own, configured like the user's.
    Worktree(Worktree),
    /// Overlays over the user's checkout and build directory
    /// ([`crate::infra::overlay`]); `repo` is the user's checkout, read only.
    Overlay { layers: overlay::Layers, repo: Repository },
}

impl Slot {
    /// The overlays a job of this slot runs under (none for a worktree):
    /// writable for one that writes into the trees (a build, the compiler's
    /// tests), read-only for one that only reads them (a benchmark), of
    /// which several may run at once.
    pub(crate) fn overlays(&self, writes: bool) -> Vec<overlay::Mount> {
        match &self.tree {
            Tree::Overlay { layers, .. } => layers.mounts(!writes),
            Tree::Worktree(_) => Vec::new(),
        }
    }

    /// The text of `rel` in the slot's checkout, as its jobs see it.
    pub(crate) fn read_source(&self, rel: &str) -> Result<String> {
        let bytes = match &self.tree {
            Tree::Overlay { layers, .. } => layers.read_source(Path::new(rel))?,
            Tree::Worktree(_) => {
                let path = self.src.join(rel);
                std::fs::read(&path).with_context(|| format!("cannot read `{}`", path.display()))?
            }
        };
        String::from_utf8(bytes).with_context(|| format!("`{rel}` is not UTF-8"))
    }
}

/// How sibling builds are configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConfigurePlan {
    pub(crate) generator: String,
    /// `-D` arguments (with paths into the user's trees already remapped).
    pub(crate) args: Vec<String>,
    /// The user's compiler launcher, if any.
    pub(crate) launcher: Option<String>,
}

/// Reads the user's build directory's cache, if there is one.
pub(crate) fn user_cache(config: &Config) -> Result<Option<Cache>> {
    let Some(dir) = &config.build.dir else { return Ok(None) };
    let path = dir.join("CMakeCache.txt");
    if !path.exists() {
        bail!(
            "`{}` has no CMakeCache.txt: `build.dir` must be a configured IREE build directory \
             (or remove `build.dir` from tuner.toml to configure from `build.configure_args` \
             alone)",
            dir.display()
        );
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(Some(Cache::parse(&text)))
}

fn dir_name(p: &Path, fallback: &str) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| fallback.to_string())
}

/// Paths of slot `index`.
pub(crate) fn slot_paths(config: &Config, index: u32) -> (PathBuf, PathBuf, PathBuf) {
    let dir = config.work_dir().join(format!("slot-{index}"));
    let src = dir.join(dir_name(&config.target.iree, "iree"));
    let build_name =
        config.build.dir.as_deref().map(|d| dir_name(d, "iree-build")).unwrap_or_else(|| "iree-build".to_string());
    let build = dir.join(build_name);
    (dir, src, build)
}

/// The configure plan of slot `index`.
pub(crate) fn configure_plan(config: &Config, cache: Option<&Cache>, index: u32) -> ConfigurePlan {
    let (_, src, build) = slot_paths(config, index);
    let mut args = Vec::new();
    let mut generator = "Ninja".to_string();
    let mut launcher = None;
    if let (Some(cache), Some(user_build)) = (cache, &config.build.dir) {
        if let Some(g) = cache.generator() {
            generator = g.to_string();
        }
        launcher = cache.launcher().map(str::to_string);
        let user_src = cache.source_dir().map(PathBuf::from).unwrap_or_else(|| config.target.iree.clone());
        args = cache.inherited_args(&config.build.inherit_prefixes, &user_src, user_build, &src, &build);
    }
    args.extend(config.build.configure_args.iter().cloned());
    if launcher.is_none() {
        launcher = args.iter().find_map(|a| {
            a.strip_prefix("-DCMAKE_CXX_COMPILER_LAUNCHER")
                .and_then(|rest| rest.split_once('='))
                .map(|(_, v)| v.to_string())
        });
    }
    ConfigurePlan { generator, args, launcher }
}

/// Environment for builds: a compiler cache shared between slots (and with
/// the user's build, where their cache uses the same base directory).
pub(crate) fn build_env(config: &Config) -> Vec<(String, std::ffi::OsString)> {
    let mut env = Vec::new();
    if std::env::var_os("CCACHE_BASEDIR").is_none() {
        let mut roots = vec![config.work_dir(), config.target.iree.clone()];
        roots.extend(config.build.dir.iter().cloned());
        if let Some(base) = common_ancestor(&roots) {
            env.push(("CCACHE_BASEDIR".to_string(), base.into_os_string()));
        }
    }
    // Debug info would otherwise make every slot's objects unique.
    env.push(("CCACHE_NOHASHDIR".to_string(), "1".into()));
    env
}

/// The deepest directory above every path (not `/`).
pub(crate) fn common_ancestor(paths: &[PathBuf]) -> Option<PathBuf> {
    let mut it = paths.iter();
    let mut common: PathBuf = it.next()?.clone();
    for p in it {
        while !p.starts_with(&common) {
            if !common.pop() {
                return None;
            }
        }
    }
    (common.components().count() > 1).then_some(common)
}

/// The name of slot `index`'s worktree registration in the user's repository.
pub(crate) fn worktree_name(config: &Config, index: u32) -> String {
    let digest = sha256_hex(config.work_dir().to_string_lossy().as_bytes());
    format!("tune-slot-{index}-{}", &digest[..8])
}

/// Opens the slot `lock` holds: an overlay slot when `build.overlay`
/// allows and [`overlay_blocker`] finds nothing against it, else a worktree
/// (created at `branch` when needed).
pub(crate) fn open_slot(repo: &Repository, config: &Config, lock: SlotLock, run: &str, branch: &str) -> Result<Slot> {
    let index = lock.index;
    let (dir, src, build) = slot_paths(config, index);
    let blocker = match config.build.overlay {
        OverlayMode::Off => Some("`build.overlay` is \"off\"".to_string()),
        _ => overlay_blocker(repo, config, &dir),
    };
    let slot = match blocker {
        None => {
            let (checkout, user_build) = user_trees(repo, config)?;
            let layers = overlay::Layers::new(&dir, &checkout, &user_build);
            layers.create()?;
            let tree = Tree::Overlay { layers, repo: git::open(&checkout)? };
            eprintln!(
                "build slot {index}: an overlay on your checkout and build directory (its first build is incremental)"
            );
            Slot { index, dir, src: checkout, build: user_build, tree, _lock: lock }
        }
        Some(why) => {
            if config.build.overlay == OverlayMode::On {
                bail!("cannot make build slot {index} an overlay on your build: {why}; fix that or set `build.overlay = \"auto\"`");
            }
            if config.build.dir.is_some() && config.build.overlay == OverlayMode::Auto {
                eprintln!("build slot {index}: a worktree with its own build directory (its first build is a full one): {why}");
            }
            let worktree = git::ensure_worktree(repo, &worktree_name(config, index), &src, branch)?;
            let slot = Slot { index, dir, src, build, tree: Tree::Worktree(worktree), _lock: lock };
            let cache = user_cache(config).ok().flatten();
            if !first_build_marker(&slot).exists() && configure_plan(config, cache.as_ref(), index).launcher.is_none() {
                eprintln!(
                    "note: the build uses no compiler cache, so build slot {index}'s first build is a cold one. \
                     Configure your build with -DCMAKE_CXX_COMPILER_LAUNCHER=ccache (or sccache) to seed it."
                );
            }
            slot
        }
    };
    let mut st = state(&slot);
    st.last_run = run.to_string();
    set_state(&slot, &st)?;
    Ok(slot)
}

/// The user's checkout and build directory, as absolute paths without links
/// (the paths an overlay is mounted at).
fn user_trees(repo: &Repository, config: &Config) -> Result<(PathBuf, PathBuf)> {
    let canonical = |p: &Path| p.canonicalize().with_context(|| format!("cannot resolve `{}`", p.display()));
    let build = config.build.dir.as_deref().context("no `build.dir`")?;
    Ok((canonical(&git::workdir(repo))?, canonical(build)?))
}

/// `path` with links resolved as far as it exists (the rest as written).
fn resolved(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    out.extend(rest.iter().rev());
    out
}

/// Why slot directory `slot_dir` cannot be an overlay slot, if anything
/// speaks against it.
pub(crate) fn overlay_blocker(repo: &Repository, config: &Config, slot_dir: &Path) -> Option<String> {
    let Some(build_dir) = &config.build.dir else {
        return Some("there is no `build.dir` to stand on".into());
    };
    if !build_dir.join(".ninja_log").exists() {
        return Some(format!("`{}` is not a Ninja build directory that has been built", build_dir.display()));
    }
    if !config.bench.launcher.is_empty() {
        return Some("`bench.launcher` runs benchmarks elsewhere, where the overlay is not mounted".into());
    }
    let (checkout, build) = match user_trees(repo, config) {
        Ok(t) => t,
        Err(e) => return Some(format!("{e:#}")),
    };
    // The overlay stands the slot's sources where the build's CMakeCache says
    // they are; a build of another checkout would compile none of ours.
    match user_cache(config) {
        Ok(Some(cache)) => {
            let Some(source) = cache.source_dir() else {
                return Some(format!(
                    "`{}` names no `CMAKE_HOME_DIRECTORY`, so which checkout it builds is unknown",
                    build.join("CMakeCache.txt").display()
                ));
            };
            if resolved(Path::new(source)) != checkout {
                return Some(format!(
                    "`{}` builds `{source}`, not `target.iree` (`{}`); point `build.dir` at a build of                      `target.iree`",
                    build.display(),
                    checkout.display()
                ));
            }
        }
        Ok(None) => {}
        Err(e) => return Some(format!("{e:#}")),
    }
    let ours = [slot_dir, &config.runs_dir].map(resolved);
    for lower in [&checkout, &build] {
        for upper in &ours {
            if let Some(problem) = overlay::path_problem(lower, upper) {
                return Some(problem);
            }
        }
    }
    match git::first_uncommitted(repo) {
        Ok(Some(path)) => {
            return Some(format!(
                "your checkout has uncommitted changes (`{path}`), which an overlay would build in; \
                 commit or stash them for an incremental first build"
            ))
        }
        Ok(None) => {}
        Err(e) => return Some(format!("{e:#}")),
    }
    static PROBE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    PROBE.get_or_init(|| overlay::probe(&config.work_dir())).clone().err()
}

/// What a slot's build directory holds, kept in `slot-N/slot.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SlotState {
    configure_hash: String,
    /// [`crate::infra::slots::built_key`] of the last successful build;
    /// empty while a build is under way or after one failed.
    #[serde(default)]
    built: String,
    /// The run that used the slot last (what `clean RUN` removes).
    #[serde(default)]
    last_run: String,
    /// An overlay slot: the user's HEAD and build directory's fingerprint
    /// its layers were built on; the layers are thrown away when they change.
    #[serde(default)]
    overlay_base: String,
    /// An overlay slot: the files written into its source layer.
    #[serde(default)]
    written: Vec<String>,
}

/// The run that used slot `index` last, if any did.
pub(crate) fn last_run(config: &Config, index: u32) -> Option<String> {
    let (dir, _, _) = slot_paths(config, index);
    let st: SlotState = store::read_json(&dir.join("slot.json")).ok()?;
    Some(st.last_run).filter(|r| !r.is_empty())
}

fn state(slot: &Slot) -> SlotState {
    store::read_json(&slot.dir.join("slot.json")).unwrap_or_default()
}

fn set_state(slot: &Slot, state: &SlotState) -> Result<()> {
    store::write_json(&slot.dir.join("slot.json"), state)
}

/// Whether the slot holds a finished build of `commit` whose built key is
/// `key`, on the user's trees as they are now (an overlay slot).
pub(crate) fn holds(slot: &Slot, commit: Oid, key: &str) -> Result<bool> {
    let st = state(slot);
    let key = stored_key(slot, key);
    Ok(match &slot.tree {
        Tree::Worktree(wt) => wt.repo.head().ok().and_then(|h| h.target()) == Some(commit) && st.built == key,
        Tree::Overlay { layers, repo } => st.built == key && st.overlay_base == overlay_base(repo, layers)?,
    })
}

/// A built key as the slot's state keeps it: with the kind of tree that
/// holds the build, since a slot directory can hold both a worktree build
/// and overlay layers, and one's build says nothing about the other's.
fn stored_key(slot: &Slot, key: &str) -> String {
    match slot.tree {
        Tree::Overlay { .. } => format!("overlay:{key}"),
        Tree::Worktree(_) => key.to_string(),
    }
}

/// The file whose presence says the slot's tree had its first build (of
/// `build.first_targets`): one per kind of tree, since a slot directory can
/// hold a worktree build and overlay layers, and one's first build is not
/// the other's.
fn first_build_marker(slot: &Slot) -> PathBuf {
    slot.dir.join(match slot.tree {
        Tree::Worktree(_) => "first-build.done",
        Tree::Overlay { .. } => "first-build-overlay.done",
    })
}

fn overlay_base(repo: &Repository, layers: &overlay::Layers) -> Result<String> {
    let head = repo.head().ok().and_then(|h| h.target()).context("your checkout has no HEAD commit")?;
    Ok(format!("{head} {}", overlay::fingerprint(&layers.build.lower)))
}

/// Puts `commit` in the slot's tree: a checkout in a worktree; in an
/// overlay slot, the files where `commit` differs from the user's HEAD (and
/// every file written before, back to its content at `commit`) written into
/// the source layer. An overlay slot whose user trees changed since its
/// layers were built on them starts over from them.
pub(crate) fn check_out(slot: &Slot, commit: Oid) -> Result<()> {
    let (layers, repo) = match &slot.tree {
        Tree::Worktree(wt) => return git::checkout(wt, commit),
        Tree::Overlay { layers, repo } => (layers, repo),
    };
    if let Some(path) = git::first_uncommitted(repo)? {
        bail!(
            "your checkout `{}` changed under the run: `{path}` is no longer as its HEAD has it, and an overlay \
             slot would build it in; commit or stash it and rerun (finished work is kept), or set \
             `build.overlay = \"off\"`",
            layers.checkout.lower.display()
        );
    }
    let mut st = state(slot);
    let base = overlay_base(repo, layers)?;
    if st.overlay_base != base {
        layers.reset()?;
        let _ = std::fs::remove_file(first_build_marker(slot));
        st = SlotState { overlay_base: base, written: Vec::new(), built: String::new(), ..st };
    }
    let head = repo.head()?.target().context("your checkout has no HEAD commit")?;
    let mut written: std::collections::BTreeSet<String> = st.written.iter().cloned().collect();
    for (path, content) in git::changed_files(repo, head, commit)? {
        if content.is_none() {
            bail!(
                "{} deletes `{path}` (or moves a submodule) relative to your checkout's HEAD, which an overlay \
                 slot cannot show; check out the tuned revision, or set `build.overlay = \"off\"`",
                git::short(commit)
            );
        }
        written.insert(path);
    }
    // Recorded before writing, so an interruption leaves no written file
    // unknown to the next run.
    st.written = written.iter().cloned().collect();
    st.built.clear();
    set_state(slot, &st)?;
    for path in &written {
        let content = git::read_bytes(repo, commit, path).with_context(|| {
            format!(
                "the slot wrote `{path}` for an earlier candidate, and {} has no such file, which an overlay \
                 slot cannot show; run `cargo xtask clean` for a fresh slot, or set `build.overlay = \"off\"`",
                git::short(commit)
            )
        })?;
        layers.write_source(Path::new(path), &content)?;
    }
    Ok(())
}

/// Configures the slot's build directory unless it is already configured
/// with exactly this plan. Returns the outcome when it ran CMake.
pub(crate) fn configure(slot: &Slot, plan: &ConfigurePlan, config: &Config, log: &Path) -> Result<Option<Outcome>> {
    if let Tree::Overlay { .. } = slot.tree {
        // It stands on the user's configured build directory.
        return Ok(None);
    }
    let hash = configure_hash(plan)?;
    let current = state(slot);
    if current.configure_hash == hash && slot.build.join("CMakeCache.txt").exists() {
        return Ok(None);
    }
    // A new configuration needs a new first build.
    let _ = std::fs::remove_file(first_build_marker(slot));
    std::fs::create_dir_all(&slot.build).with_context(|| format!("cannot create `{}`", slot.build.display()))?;
    let mut job = Job::new("cmake", &slot.build, log, Duration::from_secs(config.build.timeout_s))
        .arg("-G")
        .arg(&plan.generator)
        .arg("-S")
        .arg(&slot.src)
        .arg("-B")
        .arg(&slot.build)
        .args(plan.args.iter());
    job.env.extend(build_env(config));
    let outcome = proc::run(&job)?;
    if outcome.success() {
        set_state(slot, &SlotState { configure_hash: hash, built: String::new(), ..current })?;
    }
    Ok(Some(outcome))
}

/// The first error a build log shows: a compiler's `file:line: error:`
/// line, else CMake's or ninja's first complaint.
pub(crate) fn first_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let compiler = lines.iter().find(|l| l.contains(": error:") || l.contains(": fatal error:"));
    let other = lines.iter().find(|l| {
        let t = l.trim_start();
        t.starts_with("CMake Error")
            || t.starts_with("FAILED:")
            || t.starts_with("ninja: error")
            || t.starts_with("error:")
    });
    compiler.or(other).map(|l| l.trim().to_string())
}

/// Hash of a configure plan, as [`SlotState`] keeps it.
pub(crate) fn configure_hash(plan: &ConfigurePlan) -> Result<String> {
    Ok(sha256_hex(&serde_json::to_vec(plan).context("cannot serialise a configure plan")?))
}

/// Builds the slot: `build.first_targets` the first time (everything the
/// benchmark needs), `build.targets` after that. On success the slot
/// records `built_key` as what it holds; until then it holds nothing.
/// `watch` sees how far ninja is while it runs.
pub(crate) fn build(
    slot: &Slot,
    config: &Config,
    log: &Path,
    built_key: &str,
    watch: &mut dyn FnMut(&BuildSteps),
) -> Result<Outcome> {
    let mut st = state(slot);
    st.built.clear();
    set_state(slot, &st)?;
    let marker = first_build_marker(slot);
    let first = !marker.exists();
    let targets = if first { &config.build.first_targets } else { &config.build.targets };
    let mut job = Job::new("cmake", &slot.build, log, Duration::from_secs(config.build.timeout_s))
        .arg("--build")
        .arg(&slot.build);
    if !targets.is_empty() {
        job = job.arg("--target").args(targets.iter());
    }
    if let Some(j) = config.build.jobs {
        job = job.arg("-j").arg(j.to_string());
    }
    job.env.extend(build_env(config));
    job.overlays = slot.overlays(true);
    let mut steps = BuildSteps::follow(log);
    let outcome = proc::run_watched(&job, &mut || {
        steps.poll();
        watch(&steps);
    })?;
    if outcome.success() {
        if first {
            std::fs::write(&marker, b"").with_context(|| format!("cannot write `{}`", marker.display()))?;
        }
        st.built = stored_key(slot, built_key);
        set_state(slot, &st)?;
    }
    Ok(outcome)
}
