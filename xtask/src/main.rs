//! `cargo xtask`: the split-reduction tuner's command line. Parsing is in
//! `cli`, each command in `commands/`.

use clap::Parser;

fn main() {
    let cli = xtask::cli::Cli::parse();
    std::process::exit(xtask::commands::main(&cli));
}
