//! What every command starts from: the tuner's repository, the loaded
//! configuration with the command-line overrides applied, and where it came
//! from. Parsing flags is `cli`'s; what each key means is `config`'s.

use crate::cli::Global;
use crate::config::{self, Config, TargetKind};
use crate::core::workload::Heuristic;
use crate::infra::fixture;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// What every command works with.
pub(crate) struct Ctx {
    pub(crate) config: Config,
    /// `--fixture`: the bundled fixture and its configuration.
    pub(crate) fixture: bool,
    /// The name of the configuration file given with `--config` (a run's
    /// provenance names it; its directory is the user's business).
    pub(crate) config_name: Option<String>,
}

impl Ctx {
    /// This context for one target of `heuristics.targets`.
    pub(crate) fn for_target(&self, target: TargetKind) -> Ctx {
        Ctx { config: self.config.for_target(target), fixture: self.fixture, config_name: self.config_name.clone() }
    }
}

/// The tuner's repository root, fixed at build time: the xtask crate sits
/// one level below it.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ has a parent").to_path_buf()
}

/// Where the bundled fixture lives unless told otherwise.
pub(crate) fn fixture_root(workspace: &Path) -> PathBuf {
    workspace.join("target/fixture")
}

/// Creates the fixture under `target/fixture` unless it is up to date.
pub(crate) fn ensure_fixture(workspace: &Path) -> Result<fixture::Fixture> {
    let root = fixture_root(workspace);
    if !root.join("fixture.stamp").exists() {
        eprintln!("creating the fixture under `{}` (a cold build of a small C++ project)", root.display());
    }
    fixture::materialize(workspace, &root, &fixture::Options::default())
}

/// Loads the configuration: the file (`--config`, the fixture's with
/// `--fixture`, or `tuner.toml` at the root when present), then flags.
pub(crate) fn load(global: &Global) -> Result<Ctx> {
    let workspace = workspace();
    let path = match (&global.config, global.fixture) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(workspace.join("tests/fixtures/tuner.toml")),
        (None, false) => Some(workspace.join("tuner.toml")).filter(|p| p.exists()),
    };
    if global.fixture {
        ensure_fixture(&workspace)?;
    }
    let mut config = config::load(path.as_deref(), &workspace)?;
    apply_overrides(&mut config, global)?;
    config.check()?;
    let config_name = global.config.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
    Ok(Ctx { config, fixture: global.fixture && global.config.is_none(), config_name })
}

/// A path given on the command line, absolute (relative to the current
/// directory).
pub(crate) fn cwd_absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    };
    config::normalize(&abs)
}

/// Flags override the keys of the configuration file.
fn apply_overrides(config: &mut Config, g: &Global) -> Result<()> {
    if let Some(p) = &g.iree {
        config.target.iree = cwd_absolute(p);
    }
    if let Some(r) = &g.rev {
        config.target.rev = r.clone();
    }
    if let Some(p) = &g.build_dir {
        config.build.dir = Some(cwd_absolute(p));
    }
    if let Some(p) = &g.work_dir {
        config.build.work_dir = Some(cwd_absolute(p));
    }
    if let Some(p) = &g.runs_dir {
        config.runs_dir = cwd_absolute(p);
    }
    if let Some(p) = &g.patches_dir {
        config.patches_dir = cwd_absolute(p);
    }
    if let Some(list) = &g.heuristics {
        let mut tune = Vec::new();
        for name in list {
            match Heuristic::parse(name.trim()) {
                Some(h) => tune.push(h),
                None => bail!("unknown heuristic `{name}` in --heuristics: use conv, matmul or both"),
            }
        }
        config.heuristics.tune = tune;
    }
    if let Some(p) = &g.python {
        config.bench.python = p.clone();
    }
    if let Some(r) = g.repeats {
        config.bench.repeats = r;
    }
    if let Some(d) = &g.devices {
        config.bench.devices = d.clone();
    }
    Ok(())
}
