//! `cargo xtask fixture`: create the bundled IREE-shaped fixture (a git
//! repository with the 2025 and 2026 code styles, and a built user build
//! directory) and say where it is. `--fixture` on any command calls
//! [`ensure`] first, so the README's one command works on a fresh clone.

use crate::cli::FixtureArgs;
use crate::infra::fixture::{self, Options};
use anyhow::Result;
use std::path::{Path, PathBuf};

pub fn default_root(workspace: &Path) -> PathBuf {
    workspace.join("target/fixture")
}

/// Creates the fixture under `target/fixture` unless it is up to date.
pub fn ensure(workspace: &Path) -> Result<fixture::Fixture> {
    let root = default_root(workspace);
    if !root.join("fixture.stamp").exists() {
        eprintln!("creating the fixture under `{}` (a cold build: about a minute)", root.display());
    }
    fixture::materialize(workspace, &root, &Options::default())
}

pub fn run(workspace: &Path, args: &FixtureArgs) -> Result<()> {
    let root = args.dir.clone().unwrap_or_else(|| default_root(workspace));
    let f = fixture::materialize(workspace, &root, &Options::default())?;
    println!("checkout:  {}  (HEAD: 2026 helper style; tag fixture-2025: inline ladders)", f.repo.display());
    println!("build dir: {}", f.build.display());
    Ok(())
}
