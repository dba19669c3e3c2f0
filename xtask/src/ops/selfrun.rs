//! Running the tool itself as a child, as a user would, for the benchmark
//! commands that measure whole workflows (`noise-bench`, `sweep-bench`):
//! a private copy of the executable (a `cargo build` meanwhile must not
//! swap the binary under a study), a configuration written per run, and
//! each step in a supervised process with its output in a log.

use crate::config::Config;
use crate::infra::proc::{self, Job};
use crate::infra::store;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One sweep or analysis of the fixture takes minutes; this is the bound
/// beyond which something is wrong.
const STEP_TIMEOUT: Duration = Duration::from_secs(3600);

/// A copy of the running executable in `dir`, which the steps run.
pub(crate) fn own_copy(dir: &Path) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running tool's executable")?;
    let copy = dir.join("xtask");
    // Copied beside, then renamed over: an earlier study may still be
    // running the old copy, which cannot be written to.
    let fresh = dir.join(format!("xtask.{}", std::process::id()));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    std::fs::copy(&exe, &fresh).with_context(|| format!("cannot copy `{}` to `{}`", exe.display(), fresh.display()))?;
    std::fs::rename(&fresh, &copy).with_context(|| format!("cannot rename `{}`", fresh.display()))?;
    Ok(copy)
}

/// Runs the tool (`exe`) in `dir` with `config` and `args`, its output
/// appended to `log`; returns the seconds it took.
pub(crate) fn step(exe: &Path, dir: &Path, log: &Path, config: &Path, args: &[&str]) -> Result<f64> {
    step_with(exe, dir, log, (config, &[]), args)
}

/// [`step`] with `env` added to the tool's environment (and so to its
/// builds'), for what the configuration cannot say.
pub(crate) fn step_with(
    exe: &Path,
    dir: &Path,
    log: &Path,
    (config, env): (&Path, &[(&str, String)]),
    args: &[&str],
) -> Result<f64> {
    let mut job = Job::new(exe, dir, log, STEP_TIMEOUT).arg("--config").arg(config).args(args.iter().copied());
    for (k, v) in env {
        job = job.env(k, v);
    }
    let outcome = proc::run(&job)?;
    if !outcome.success() {
        bail!("`{}` failed ({}); see `{}`:\n{}", job.display(), outcome.ended, log.display(), proc::log_tail(log, 15));
    }
    Ok(outcome.seconds)
}

/// Writes `config` as `dir/<name>.toml` and returns its path.
pub(crate) fn write_config(dir: &Path, name: &str, config: &Config) -> Result<PathBuf> {
    let text = toml::to_string(config).context("cannot write the fixture's configuration as TOML")?;
    let path = dir.join(format!("{name}.toml"));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    store::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}
