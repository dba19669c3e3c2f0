//! `cargo xtask test [ARGS]`: the README's test command. Installs what the
//! tests need beyond Rust (CMake, Ninja, a C++ compiler, ccache, Python 3
//! with venv, Chromium, clang-format) when it is missing, then runs
//! `cargo test --locked ARGS` with its output on the terminal.

use crate::cli::TestArgs;
use crate::infra::proc::{self, Job};
use crate::infra::setup;
use anyhow::{bail, Result};
use std::path::Path;
use std::time::Duration;

/// How long the whole test suite may take.
const SUITE_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

pub(crate) fn run(workspace: &Path, args: &TestArgs) -> Result<()> {
    let log = workspace.join("target/setup.log");
    setup::ensure(setup::FIXTURE, "the tests build the fixture", &log)?;
    setup::ensure(setup::TESTS, "the tests open report.html, check C++ formatting and use a PyPI compiler", &log)?;
    let job = Job::new("cargo", workspace, &log, SUITE_TIMEOUT).args(["test", "--locked"]).args(&args.cargo_args);
    let outcome = proc::run_inherit(&job)?;
    if !outcome.success() {
        bail!("`cargo test` failed ({})", outcome.ended);
    }
    Ok(())
}
