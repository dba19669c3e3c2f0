//! One module per command; each `run` reads as the command's workflow and
//! leaves the shared operations to [`crate::ops`] and the thinking to
//! [`crate::core`]. Commands never call each other.

pub(crate) mod analyze;
pub(crate) mod apply;
pub(crate) mod buildbench;
pub(crate) mod checkmodel;
pub(crate) mod doctor;
pub(crate) mod fixture;
pub(crate) mod sweep;
pub(crate) mod validate;

use crate::cli::{Cli, Command};
use crate::ops::context::{self, load};
use anyhow::Result;

/// Runs the command the user typed.
pub fn run(cli: &Cli) -> Result<()> {
    let workspace = context::workspace();
    match &cli.command {
        Command::Fixture(args) => fixture::run(&workspace, args),
        Command::BuildBench(args) => buildbench::run(&workspace, args),
        Command::Sweep(args) => sweep::run(&load(&cli.global)?, args),
        Command::Analyze(args) => analyze::run(&load(&cli.global)?, args),
        Command::Doctor => doctor::run(&load(&cli.global)?),
        Command::CheckModel(args) => checkmodel::run(&load(&cli.global)?, args),
        Command::Validate(args) => validate::run(&load(&cli.global)?, args),
        Command::Apply(args) => apply::run(&load(&cli.global)?, args),
    }
}
