//! `cargo xtask fixture`: create the bundled IREE-shaped fixture (a git
//! repository with the 2025 and 2026 code styles, and a built user build
//! directory) and say where it is. `--fixture` on any command creates it
//! first, so the README's one command works on a fresh clone.

use crate::cli::FixtureArgs;
use crate::infra::fixture::{self, Options};
use crate::ops::context::fixture_root;
use anyhow::Result;
use std::path::Path;

pub(crate) fn run(workspace: &Path, args: &FixtureArgs) -> Result<()> {
    let root = args.dir.clone().unwrap_or_else(|| fixture_root(workspace));
    let f = fixture::materialize(workspace, &root, &Options::default())?;
    println!(
        "checkout:  {}  (HEAD: 2026 helper style; tags fixture-2026-early: its parent, fixture-2025: inline ladders)",
        f.repo.display()
    );
    println!("build dir: {}", f.build.display());
    Ok(())
}
