//! Configuration: `tuner.toml`, its IREE defaults, and command-line overrides.
//!
//! This module owns the schema and the defaults (the IREE preset: heuristic
//! file path, build targets, the iree-boo-driver command), the rule that
//! relative paths in a config file are relative to that file, and the
//! placeholder expansion of command templates. Reading the file is the only
//! I/O here; applying flags is done by the commands, which know their flags.

use crate::core::cpp::FunctionNames;
use crate::core::workload::Heuristic;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration. Every key has an IREE default, so an empty file
/// (or none) is a valid configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) target: Target,
    pub(crate) heuristics: Heuristics,
    pub(crate) build: Build,
    pub(crate) bench: Bench,
    pub(crate) sweep: Sweep,
    pub(crate) analyze: Analyze,
    pub(crate) validate: Validate,
    /// Where run directories go (`runs/<name>/`).
    pub(crate) runs_dir: PathBuf,
    /// Where validated patches and PR descriptions go.
    pub(crate) patches_dir: PathBuf,
}

/// The IREE checkout and revision to tune.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Target {
    /// The user's IREE checkout (`--iree`). Never modified outside `apply`.
    pub(crate) iree: PathBuf,
    /// Revision to tune (`--rev`).
    pub(crate) rev: String,
    /// The heuristic file, relative to the checkout.
    pub(crate) heuristic_file: String,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            iree: PathBuf::from("../iree"),
            rev: "HEAD".into(),
            heuristic_file: "compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp".into(),
        }
    }
}

/// Which heuristics to tune and where to find them in the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Heuristics {
    /// `--heuristics conv,matmul`.
    pub(crate) tune: Vec<Heuristic>,
    /// The benchmark's GPU compiles with the low-parallelism parameters
    /// (RDNA-class; boo turns them on for gfx10/11/12): tune those values
    /// and keep the default ones. Shorthand for `targets =
    /// ["low_parallelism"]`.
    pub(crate) low_parallelism: bool,
    /// The targets one sweep measures, each in a run of its own (the first
    /// named as the sweep, the others `<name>-<target>`), and one patch
    /// series changes each only where its own measurements say so. Empty:
    /// the one `low_parallelism` names. With more than one, each needs
    /// `[bench.targets.<target>]`: how its benchmark runs on such a GPU.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) targets: Vec<TargetKind>,
    pub(crate) conv: FunctionNames,
    pub(crate) matmul: FunctionNames,
}

impl Default for Heuristics {
    fn default() -> Self {
        Heuristics {
            tune: vec![Heuristic::Conv, Heuristic::Matmul],
            low_parallelism: false,
            targets: vec![],
            conv: FunctionNames::iree_defaults(Heuristic::Conv),
            matmul: FunctionNames::iree_defaults(Heuristic::Matmul),
        }
    }
}

/// A kind of GPU target whose values the heuristics keep apart
/// (`lowParallelism ? a : b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TargetKind {
    Default,
    /// RDNA-class GPUs: IREE compiles for them with
    /// `--iree-dispatch-creation-split-reduction-low-parallelism`.
    LowParallelism,
}

impl TargetKind {
    /// As the configuration spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TargetKind::Default => "default",
            TargetKind::LowParallelism => "low_parallelism",
        }
    }

    /// The target `lowParallelism` names.
    pub(crate) fn of(low_parallelism: bool) -> TargetKind {
        if low_parallelism {
            TargetKind::LowParallelism
        } else {
            TargetKind::Default
        }
    }

    pub(crate) fn low(self) -> bool {
        self == TargetKind::LowParallelism
    }
}

/// `[bench.targets.<target>]`: how the benchmark runs for one target of a
/// sweep of several (on another GPU, with other settings).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TargetBench {
    /// Devices of this kind (empty: `bench.devices`).
    pub(crate) devices: Vec<String>,
    /// Environment added to `bench.env` (e.g. what selects the GPU's
    /// architecture).
    pub(crate) env: BTreeMap<String, String>,
}

impl Heuristics {
    pub(crate) fn names(&self, h: Heuristic) -> &FunctionNames {
        match h {
            Heuristic::Conv => &self.conv,
            Heuristic::Matmul => &self.matmul,
        }
    }
}

/// How candidate builds are configured and built.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Build {
    /// The user's own build directory (`--build-dir`). Read, never written:
    /// sibling builds copy its configuration from its `CMakeCache.txt`.
    pub(crate) dir: Option<PathBuf>,
    /// Where build slots (a worktree and a build directory each) live.
    /// Default: `<build dir>-tune` beside the user's build directory.
    pub(crate) work_dir: Option<PathBuf>,
    /// Configure arguments used when there is no user build dir to copy, and
    /// appended after the copied ones otherwise.
    pub(crate) configure_args: Vec<String>,
    /// Cache entries copied from the user's `CMakeCache.txt`: every entry
    /// whose name starts with one of these, plus every `-D` the user gave on
    /// the command line.
    pub(crate) inherit_prefixes: Vec<String>,
    /// Targets a heuristic change needs rebuilt (every candidate).
    pub(crate) targets: Vec<String>,
    /// Targets of a slot's first build, which must also produce what the
    /// benchmark needs and a heuristic change does not touch (the runtime
    /// and its Python bindings). Empty: everything (`all`).
    pub(crate) first_targets: Vec<String>,
    /// Parallel build jobs (`cmake --build -j`); default: the generator's.
    pub(crate) jobs: Option<u32>,
    /// Build slots runs may use at once (a sweep takes one, a validation
    /// two); a run that finds them all held waits.
    pub(crate) slots: u32,
    /// Whether a slot stands on the user's checkout and build directory as
    /// overlays (its first build incremental) or is a worktree with a build
    /// directory of its own (its first build a full one).
    pub(crate) overlay: OverlayMode,
    pub(crate) timeout_s: u64,
}

/// `build.overlay`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OverlayMode {
    /// Overlay slots where they work (a built `build.dir`, a clean checkout,
    /// overlayfs in user namespaces, no `bench.launcher`); worktree slots
    /// otherwise, saying why.
    #[default]
    Auto,
    /// Overlay slots, or an error saying why not.
    On,
    /// Worktree slots.
    Off,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            dir: Some(PathBuf::from("../iree-build")),
            work_dir: None,
            configure_args: vec![],
            inherit_prefixes: [
                "IREE_",
                "LLVM_",
                "MLIR_",
                "Python3_",
                "CMAKE_BUILD_TYPE",
                "CMAKE_C_COMPILER",
                "CMAKE_CXX_COMPILER",
                "CMAKE_C_COMPILER_LAUNCHER",
                "CMAKE_CXX_COMPILER_LAUNCHER",
                "CMAKE_C_FLAGS",
                "CMAKE_CXX_FLAGS",
                "CMAKE_EXE_LINKER_FLAGS",
                "CMAKE_SHARED_LINKER_FLAGS",
                "CMAKE_LINKER_TYPE",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            targets: vec!["iree-compile".into(), "IREECompilerPythonModules".into()],
            first_targets: vec![],
            jobs: None,
            slots: 3,
            overlay: OverlayMode::Auto,
            timeout_s: 4 * 3600,
        }
    }
}

/// The benchmark: iree-boo-driver by default.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Bench {
    /// Command template. Placeholders: `{python}`, `{commands}`, `{csv}`,
    /// `{cache_dir}`, `{build_dir}`, `{source_dir}`, `{device}`.
    pub(crate) command: String,
    /// The interpreter (e.g. the iree-turbine virtualenv's `python`).
    pub(crate) python: String,
    /// CSV column with the per-launch time.
    pub(crate) column: String,
    /// Devices to use, as the device variables spell them.
    pub(crate) devices: Vec<String>,
    /// Variables that pin the device (AMD and NVIDIA by default).
    pub(crate) device_env: Vec<String>,
    /// Fresh benchmark processes per candidate.
    pub(crate) repeats: u32,
    /// Anchor shapes each benchmark process of a sweep also runs, to divide
    /// out the process's drift ([`crate::core::anchors`]); 0 turns it off.
    pub(crate) anchors: u32,
    /// Shuffle the command order differently in every repeat.
    pub(crate) shuffle: bool,
    /// Hard limit for one benchmark process.
    pub(crate) timeout_s: u64,
    /// Limit for a candidate's benchmark as a multiple of the baseline's
    /// wall time (0 disables it); the smaller of the two limits applies.
    pub(crate) timeout_factor: f64,
    /// Extra `PYTHONPATH` entries after the build's own (e.g. an iree-turbine
    /// checkout that is not installed in the interpreter).
    pub(crate) pythonpath: Vec<String>,
    /// Extra `PATH` entries after the build's `tools/`.
    pub(crate) path: Vec<String>,
    /// Extra environment for the benchmark.
    pub(crate) env: BTreeMap<String, String>,
    /// Command that lists visible devices, for `doctor` (empty: skip).
    pub(crate) device_check: String,
    /// Arguments put before every benchmark process's command line (same
    /// placeholders as `command`), e.g. `["srun", "-N1", "--gres=gpu:1",
    /// "--exclusive"]` to run each one on a cluster's GPU node.
    pub(crate) launcher: Vec<String>,
    /// Per target of `heuristics.targets`: its devices and environment.
    /// (Left out of the serialized settings when empty: they key the
    /// measurements, which a one-target configuration must keep reusing.)
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) targets: BTreeMap<TargetKind, TargetBench>,
}

impl Default for Bench {
    fn default() -> Self {
        Bench {
            command: "{python} -m iree.turbine.kernel.boo.driver.driver --commands-file {commands} \
                      --csv {csv} --cache-dir {cache_dir}"
                .into(),
            python: "python3".into(),
            column: "iree_boo_experimental mean".into(),
            devices: vec!["0".into()],
            device_env: vec!["HIP_VISIBLE_DEVICES".into(), "CUDA_VISIBLE_DEVICES".into()],
            repeats: 3,
            anchors: crate::core::anchors::DEFAULT_ANCHORS,
            shuffle: true,
            timeout_s: 3 * 3600,
            timeout_factor: 10.0,
            pythonpath: vec![],
            path: vec![],
            env: BTreeMap::new(),
            device_check: String::new(),
            launcher: vec![],
            targets: BTreeMap::new(),
        }
    }
}

/// Limit sets and the default commands file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Sweep {
    pub(crate) quick: Vec<i64>,
    pub(crate) full: Vec<i64>,
    /// Commands files used when none is given on the command line: one
    /// file (`commands = "a.txt"`) or a list measured together.
    #[serde(deserialize_with = "one_or_many")]
    pub(crate) commands: Vec<PathBuf>,
    /// Benchmark the baseline again after the candidates, to detect drift.
    pub(crate) recheck_baseline: bool,
    /// Extra fresh-process repeats of each (shape, candidate) pair whose
    /// regression evidence is ambiguous ([`crate::core::remeasure`]); 0
    /// turns the re-measurement off (as `sweep --no-remeasure` does).
    pub(crate) remeasure_repeats: u32,
    /// How candidates are built (`sweep --strategy`).
    pub(crate) strategy: Strategy,
    /// With a build per candidate, build the next candidate in the slot
    /// while a kept copy of the current one is benchmarked.
    pub(crate) build_ahead: BuildAhead,
    /// With the probe strategy, compile every shape once more in a
    /// benchmark process of its own before the baseline is measured, so
    /// the sizes the compiler logs for it are known to be its own; they
    /// replace the parsed ones where they differ
    /// ([`crate::core::decisionlog::features`]).
    pub(crate) compiler_features: bool,
}

/// `sweep.build_ahead`: whether the next candidate builds while the
/// current one is benchmarked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BuildAhead {
    /// While it pays: until a candidate's build takes no longer than
    /// copying one.
    #[default]
    Auto,
    /// For every candidate it can be done for.
    On,
    /// Never: each build waits for the benchmarks before it.
    Off,
}

/// `sweep.strategy`: how a sweep gets a compiler per candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Strategy {
    /// A commit and an incremental build per candidate, the limit written
    /// into the code.
    #[default]
    Rebuild,
    /// One build of the probe patch (the limit and the early-return switch
    /// read from the environment); a candidate is a benchmark run with its
    /// variables set, the baseline one with them unset.
    Probe,
    /// The probe sweep, then the same sweep rebuilt (as `<name>-rebuild`),
    /// and a check that both measured the same splits and runtimes.
    Both,
}

impl Default for Sweep {
    fn default() -> Self {
        Sweep {
            quick: vec![1, 64, 128, 256],
            full: vec![1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
            commands: vec![],
            recheck_baseline: true,
            remeasure_repeats: crate::core::remeasure::REMEASURE_REPEATS,
            strategy: Strategy::Rebuild,
            build_ahead: BuildAhead::Auto,
            compiler_features: true,
        }
    }
}

/// `sweep.commands` as one path or a list of them.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}

/// Analysis settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Analyze {
    /// Folds of the cross-validation.
    pub(crate) folds: usize,
    /// Largest number of rungs a fitted ladder may have.
    pub(crate) max_rungs: usize,
    /// Device peaks for the roofline column (0: no roofline).
    pub(crate) peak_flops: f64,
    pub(crate) peak_bytes_per_s: f64,
}

impl Default for Analyze {
    fn default() -> Self {
        Analyze { folds: 5, max_rungs: 6, peak_flops: 0.0, peak_bytes_per_s: 0.0 }
    }
}

/// Validation settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Validate {
    /// A/B rounds (each runs baseline and patched once, in fresh processes).
    pub(crate) rounds: u32,
    /// The compiler's own tests, run in the validation build.
    pub(crate) test_command: String,
    /// Refit-and-revalidate rounds when validation finds regressions.
    pub(crate) refine_rounds: u32,
    /// Targets the validation build needs beyond `build.targets` (the tools
    /// the compiler's tests run).
    pub(crate) targets: Vec<String>,
    /// The lit tests that pin the heuristic's results (relative to the
    /// checkout; `*` matches within a file name).
    pub(crate) test_files: Vec<String>,
    /// Benchmark arguments that verify numerics (empty: skip the check).
    pub(crate) numerics_args: Vec<String>,
}

impl Default for Validate {
    fn default() -> Self {
        Validate {
            rounds: 5,
            test_command: "ctest --test-dir {build_dir} -R set_split_reduction_sizes --output-on-failure".into(),
            refine_rounds: 2,
            targets: vec!["iree-opt".into(), "FileCheck".into()],
            test_files: vec!["compiler/src/iree/compiler/DispatchCreation/test/set_split_reduction_sizes_*.mlir".into()],
            numerics_args: vec!["--verify-numerics".into()],
        }
    }
}

/// Reads `path` (or just the defaults when `None`), resolving relative paths
/// against the file's directory and `runs_dir` against `workspace`.
pub(crate) fn load(path: Option<&Path>, workspace: &Path) -> Result<Config> {
    let mut config = match path {
        None => Config::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read config `{}`", p.display()))?;
            parse(&text).with_context(|| format!("in config `{}`", p.display()))?
        }
    };
    let base = match path {
        Some(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => workspace.to_path_buf(),
    };
    let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
    config.resolve_paths(&base, workspace);
    Ok(config)
}

/// Parses config text; errors carry toml's line and column.
pub(crate) fn parse(text: &str) -> Result<Config> {
    let mut config = toml::from_str::<Config>(text).map_err(|e| {
        anyhow::anyhow!(
            "{}fix the key or value shown (every key is listed in README.md, section \
             \"Configuration\")",
            e
        )
    })?;
    // `targets = ["low_parallelism"]` says what `low_parallelism = true`
    // says: code that reads the flag must see it.
    if config.heuristics.targets == [TargetKind::LowParallelism] {
        config.heuristics.low_parallelism = true;
    }
    Ok(config)
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    normalize(&if p.is_absolute() { p.to_path_buf() } else { base.join(p) })
}

/// Removes `.` and `..` components without touching the file system, so
/// that paths in messages and records read plainly.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl Config {
    fn resolve_paths(&mut self, base: &Path, workspace: &Path) {
        self.target.iree = absolute(base, &self.target.iree);
        self.build.dir = self.build.dir.as_ref().map(|d| absolute(base, d));
        self.build.work_dir = self.build.work_dir.as_ref().map(|d| absolute(base, d));
        self.sweep.commands = self.sweep.commands.iter().map(|d| absolute(base, d)).collect();
        for entry in self.bench.pythonpath.iter_mut().chain(self.bench.path.iter_mut()) {
            if !entry.contains('{') {
                *entry = absolute(base, Path::new(entry)).to_string_lossy().into_owned();
            }
        }
        if self.runs_dir.as_os_str().is_empty() {
            self.runs_dir = workspace.join("runs");
        } else {
            self.runs_dir = absolute(base, &self.runs_dir);
        }
        if self.patches_dir.as_os_str().is_empty() {
            self.patches_dir = workspace.join("patches");
        } else {
            self.patches_dir = absolute(base, &self.patches_dir);
        }
    }

    /// Checks values that parse but cannot work.
    pub(crate) fn check(&self) -> Result<()> {
        if self.heuristics.tune.is_empty() {
            bail!("no heuristic selected: set `heuristics.tune` or pass --heuristics conv,matmul");
        }
        if self.build.slots == 0 {
            bail!("`build.slots` is 0: a sweep or a validation needs a build slot; set it to 1 or more");
        }
        if self.bench.repeats == 0 {
            bail!("`bench.repeats` is 0: at least one benchmark run per candidate is needed");
        }
        if self.bench.devices.is_empty() {
            bail!("`bench.devices` is empty: list at least one device, e.g. [\"0\"]");
        }
        self.check_targets()?;
        for (name, set) in [("sweep.quick", &self.sweep.quick), ("sweep.full", &self.sweep.full)] {
            if let Some(bad) = set.iter().find(|&&l| l < 1) {
                bail!("`{name}` holds {bad}: limits must be at least 1");
            }
        }
        Ok(())
    }

    /// The targets a sweep measures, in order: `heuristics.targets`, or
    /// the one `heuristics.low_parallelism` names.
    pub(crate) fn targets(&self) -> Vec<TargetKind> {
        if self.heuristics.targets.is_empty() {
            vec![TargetKind::of(self.heuristics.low_parallelism)]
        } else {
            self.heuristics.targets.clone()
        }
    }

    /// This configuration for one target: its values tuned, its benchmark
    /// settings (`bench.targets.<target>`) in force.
    pub(crate) fn for_target(&self, target: TargetKind) -> Config {
        let mut c = self.clone();
        c.heuristics.low_parallelism = target.low();
        c.heuristics.targets = vec![target];
        if let Some(t) = self.bench.targets.get(&target) {
            if !t.devices.is_empty() {
                c.bench.devices = t.devices.clone();
            }
            c.bench.env.extend(t.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        c.bench.targets.clear();
        c
    }

    fn check_targets(&self) -> Result<()> {
        let targets = &self.heuristics.targets;
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = targets.iter().find(|t| !seen.insert(**t)) {
            bail!("`heuristics.targets` names `{}` twice: list each target once", dup.name());
        }
        if self.heuristics.low_parallelism && !targets.is_empty() && targets != &[TargetKind::LowParallelism] {
            bail!(
                "`heuristics.low_parallelism = true` and `heuristics.targets` both say which targets to tune: \
                 drop `low_parallelism` and list the targets in `targets`"
            );
        }
        if targets.len() > 1 {
            // The tool cannot turn one GPU into another: a target measured
            // with the other's benchmark would be tuned on the wrong numbers.
            if let Some(t) = targets.iter().find(|t| !self.bench.targets.contains_key(t)) {
                bail!(
                    "`heuristics.targets` lists {} targets but `[bench.targets.{}]` is missing: say how the \
                     benchmark runs on such a GPU (its `devices`, its `env`), or write the empty table when \
                     `bench.devices` and `bench.env` are that GPU's",
                    targets.len(),
                    t.name()
                );
            }
        }
        if targets.len() > 1 {
            let settings = |t: TargetKind| {
                let c = self.for_target(t);
                (c.bench.devices, c.bench.env)
            };
            if targets.iter().all(|&t| settings(t) == settings(targets[0])) {
                bail!(
                    "every target of `heuristics.targets` would be benchmarked alike (the same `devices` and `env`), \
                     so each would be tuned on the other's numbers: give each `[bench.targets.<target>]` the devices \
                     (or environment) of a GPU of its kind"
                );
            }
        }
        if let Some(t) = self.bench.targets.keys().find(|t| !self.targets().contains(t)) {
            bail!(
                "`[bench.targets.{}]` is set but `heuristics.targets` does not list `{}`: add it there or remove the table",
                t.name(),
                t.name()
            );
        }
        Ok(())
    }

    /// Where build slots live.
    pub(crate) fn work_dir(&self) -> PathBuf {
        if let Some(w) = &self.build.work_dir {
            return w.clone();
        }
        let anchor = self.build.dir.clone().unwrap_or_else(|| self.target.iree.clone());
        let name = anchor.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or("iree".into());
        anchor.with_file_name(format!("{name}-tune"))
    }
}

/// Expands `{name}` placeholders; an unknown placeholder is an error that
/// names it and lists the known ones.
pub(crate) fn expand(template: &str, vars: &BTreeMap<&str, String>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            bail!("unclosed `{{` in `{template}`");
        };
        let name = &after[..close];
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => bail!(
                "unknown placeholder `{{{name}}}` in `{template}`; known: {}",
                vars.keys().map(|k| format!("{{{k}}}")).collect::<Vec<_>>().join(", ")
            ),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_iree_preset() {
        let c = parse("").unwrap();
        assert_eq!(c.bench.column, "iree_boo_experimental mean");
        assert!(c.build.targets.contains(&"iree-compile".to_string()));
        assert_eq!(c.sweep.quick, vec![1, 64, 128, 256]);
        assert_eq!(c.heuristics.tune, vec![Heuristic::Conv, Heuristic::Matmul]);
    }

    #[test]
    fn targets_default_to_the_low_parallelism_flag_and_need_their_benchmark() {
        assert_eq!(parse("").unwrap().targets(), vec![TargetKind::Default]);
        let low = parse("[heuristics]\nlow_parallelism = true\n").unwrap();
        assert_eq!(low.targets(), vec![TargetKind::LowParallelism]);
        let both = "[heuristics]\ntargets = [\"default\", \"low_parallelism\"]\n";
        let err = parse(both).unwrap().check().unwrap_err().to_string();
        assert!(err.contains("`[bench.targets.default]` is missing"), "{err}");
        let alike = format!("{both}[bench.targets.default]\n[bench.targets.low_parallelism]\n");
        let err = parse(&alike).unwrap().check().unwrap_err().to_string();
        assert!(err.contains("would be benchmarked alike"), "{err}");
        let text = format!(
            "{both}[bench]\ndevices = [\"0\"]\n[bench.env]\nA = \"1\"\n[bench.targets.default]\n\
             [bench.targets.low_parallelism]\ndevices = [\"1\"]\nenv = {{ ARCH = \"gfx1100\" }}\n"
        );
        let c = parse(&text).unwrap();
        c.check().unwrap();
        let d = c.for_target(TargetKind::Default);
        assert_eq!((d.heuristics.low_parallelism, d.bench.devices.clone()), (false, vec!["0".to_string()]));
        let l = c.for_target(TargetKind::LowParallelism);
        assert_eq!((l.heuristics.low_parallelism, l.bench.devices.clone()), (true, vec!["1".to_string()]));
        assert_eq!(l.bench.env.get("ARCH").map(String::as_str), Some("gfx1100"));
        assert_eq!(l.bench.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(l.targets(), vec![TargetKind::LowParallelism]);
        let dup = parse("[heuristics]\ntargets = [\"default\", \"default\"]\n").unwrap();
        assert!(dup.check().unwrap_err().to_string().contains("twice"));
        let one = parse("[heuristics]\ntargets = [\"low_parallelism\"]\n").unwrap();
        assert!(one.heuristics.low_parallelism);
        let stray = parse("[bench.targets.low_parallelism]\n").unwrap();
        assert!(stray.check().unwrap_err().to_string().contains("does not list `low_parallelism`"));
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let err = parse("[bench]\nrepeats = 3\nrepeets = 4\n").unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("repeets"), "{err}");
    }

    #[test]
    fn sweep_commands_take_one_file_or_a_list() {
        let one = parse("[sweep]\ncommands = \"a.txt\"\n").unwrap();
        assert_eq!(one.sweep.commands, vec![PathBuf::from("a.txt")]);
        let many = parse("[sweep]\ncommands = [\"a.txt\", \"b.txt\"]\n").unwrap();
        assert_eq!(many.sweep.commands, vec![PathBuf::from("a.txt"), PathBuf::from("b.txt")]);
        let err = parse("[sweep]\ncommands = 3\n").unwrap_err().to_string();
        assert!(err.contains("commands"), "{err}");
    }

    #[test]
    fn placeholders() {
        let mut vars = BTreeMap::new();
        vars.insert("csv", "out.csv".to_string());
        assert_eq!(expand("--csv {csv}", &vars).unwrap(), "--csv out.csv");
        let err = expand("--csv {cvs}", &vars).unwrap_err().to_string();
        assert!(err.contains("{cvs}") && err.contains("{csv}"), "{err}");
    }
}

#[cfg(test)]
mod preset_file {
    /// The repository's tuner.toml documents every key at its default: it
    /// must parse to exactly the built-in preset.
    #[test]
    fn root_tuner_toml_is_the_preset() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tuner.toml")).unwrap();
        let parsed = super::parse(&text).unwrap();
        let preset = super::Config::default();
        assert_eq!(toml::to_string(&parsed).unwrap(), toml::to_string(&preset).unwrap());
    }
}
