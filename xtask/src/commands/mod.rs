//! One module per command; each `run` does the orchestration and the I/O and
//! leaves the thinking to [`crate::core`]. This file holds what all commands
//! share: locating the workspace and loading the configuration with the
//! command-line overrides applied.

pub mod analyze;
pub mod apply;
pub mod buildbench;
pub mod doctor;
pub mod fixture;
pub mod sweep;
pub mod validate;

use crate::cli::Global;
use crate::config::{self, Config};
use crate::core::workload::Heuristic;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// What every command works with.
pub struct Ctx {
    /// The tuner's repository (for `tests/fixtures`, `runs/`, `patches/`).
    pub workspace: PathBuf,
    pub config: Config,
    pub config_path: Option<PathBuf>,
}

/// The tuner's repository root, fixed at build time: the xtask crate sits
/// one level below it.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ has a parent").to_path_buf()
}

/// Loads the configuration: the file (`--config`, the fixture's with
/// `--fixture`, or `tuner.toml` at the root when present), then flags.
pub fn load(global: &Global) -> Result<Ctx> {
    let workspace = workspace();
    let path = match (&global.config, global.fixture) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(workspace.join("tests/fixtures/tuner.toml")),
        (None, false) => Some(workspace.join("tuner.toml")).filter(|p| p.exists()),
    };
    if global.fixture {
        fixture::ensure(&workspace)?;
    }
    let loaded = config::load(path.as_deref(), &workspace)?;
    let mut config = loaded.config;
    apply_overrides(&mut config, global)?;
    config.check()?;
    Ok(Ctx { workspace, config, config_path: loaded.path })
}

pub fn cwd_absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    };
    config::normalize(&abs)
}

pub fn apply_overrides(config: &mut Config, g: &Global) -> Result<()> {
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
