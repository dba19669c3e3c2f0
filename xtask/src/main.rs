//! `cargo xtask`: the split-reduction tuner's command line. Parsing is in
//! `cli`, each command in `commands/`.

use clap::Parser;
use xtask::cli::{Cli, Command};
use xtask::commands;

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Fixture(args) => commands::fixture::run(&commands::workspace(), args),
        Command::BuildBench(args) => commands::buildbench::run(&commands::workspace(), args),
        Command::Sweep(args) => commands::sweep::run(&commands::load(&cli.global)?, args),
        Command::Analyze(args) => commands::analyze::run(&commands::load(&cli.global)?, args),
        Command::Doctor => commands::doctor::run(&commands::load(&cli.global)?),
        Command::Validate(args) => commands::validate::run(&commands::load(&cli.global)?, args),
        Command::Apply(args) => commands::apply::run(&commands::load(&cli.global)?, args),
    }
}
