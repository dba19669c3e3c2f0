//! One module per command; each `run` reads as the command's workflow and
//! leaves the shared operations to [`crate::ops`] and the thinking to
//! [`crate::core`]. Commands never call each other.

pub(crate) mod analyze;
pub(crate) mod apply;
pub(crate) mod buildbench;
pub(crate) mod checkmodel;
pub(crate) mod clean;
pub(crate) mod doctor;
pub(crate) mod fixture;
pub(crate) mod noisebench;
pub(crate) mod sweep;
pub(crate) mod sweepbench;
pub(crate) mod test;
pub(crate) mod validate;

use crate::cli::{Cli, Command};
use crate::infra::signals::{self, Interrupted};
use crate::ops::context::{self, load};
use anyhow::Result;

/// Runs the command the user typed; returns the process's exit code after
/// printing what went wrong, if anything did.
pub fn main(cli: &Cli) -> i32 {
    let outcome = signals::install().and_then(|_| run(cli));
    let Err(e) = outcome else { return 0 };
    match e.chain().find_map(|c| c.downcast_ref::<Interrupted>()) {
        Some(interrupted) => {
            let args: Vec<String> = std::env::args().skip(1).collect();
            let again = shlex::try_join(args.iter().map(String::as_str)).unwrap_or_else(|_| args.join(" "));
            eprintln!("{e:#}");
            eprintln!("stopped cleanly: finished work is kept; resume with `cargo xtask {again}`");
            interrupted.exit_code()
        }
        None => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// Runs the command the user typed.
fn run(cli: &Cli) -> Result<()> {
    let workspace = context::workspace();
    match &cli.command {
        Command::Fixture(args) => fixture::run(&workspace, args),
        Command::BuildBench(args) => buildbench::run(&workspace, args),
        Command::NoiseBench(args) => noisebench::run(&workspace, args, cli.global.repeats),
        Command::SweepBench(args) => sweepbench::run(&workspace, args),
        Command::Test(args) => test::run(&workspace, args),
        Command::Sweep(args) => sweep::run(&load(&cli.global)?, args),
        Command::Analyze(args) => analyze::run(&load(&cli.global)?, args),
        Command::Doctor => doctor::run(&load(&cli.global)?),
        Command::CheckModel(args) => checkmodel::run(&load(&cli.global)?, args),
        Command::Validate(args) => validate::run(&load(&cli.global)?, args),
        Command::Apply(args) => apply::run(&load(&cli.global)?, args),
        Command::Clean(args) => clean::run(&load(&cli.global)?, args),
    }
}
