//! The compiler's own tests in a patched build: `validate.test_command`
//! (ctest by default), and the lit tests' RUN lines, whose output says what
//! the pinned `iree_linalg_ext.split_reduction` results become. Reading and
//! rewriting CHECK lines is [`crate::core::littest`]'s.

use super::patches::LitTest;
use super::station::Station;
use crate::config::{self, Config};
use crate::core::littest;
use crate::infra::proc::{self, Job};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Runs the configured test command in the station's build; whether it
/// passed, and its log's tail.
pub(crate) fn run_tests(config: &Config, station: &Station, log: &Path) -> Result<(bool, String)> {
    let slot = &station.slot;
    let mut vars = BTreeMap::new();
    vars.insert("build_dir", slot.build.display().to_string());
    vars.insert("source_dir", slot.src.display().to_string());
    let tokens = shlex::split(&config.validate.test_command)
        .ok_or_else(|| anyhow::anyhow!("`validate.test_command` has unbalanced quotes"))?;
    let argv: Vec<String> = tokens.iter().map(|t| config::expand(t, &vars)).collect::<Result<_>>()?;
    if argv.is_empty() {
        return Ok((true, String::new()));
    }
    let _ = std::fs::remove_file(log);
    let mut job = Job::new(&argv[0], &slot.build, log, Duration::from_secs(config.build.timeout_s)).args(&argv[1..]);
    job.env = station.tool_env()?;
    let outcome = proc::run(&job)?;
    Ok((outcome.success(), proc::log_tail(log, 30)))
}

/// The lit tests' pinned results as the station's build prints them: for
/// each test file, its text and the line changes that would make it pass.
pub(crate) fn lit_changes(config: &Config, station: &Station, files: &[String]) -> Result<Vec<LitTest>> {
    let env = station.tool_env()?;
    let src = &station.slot.src;
    let mut out = Vec::new();
    for rel in files {
        let path = src.join(rel);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let mut changes = Vec::new();
        for run in littest::runs(&text) {
            let quoted = shlex::try_quote(&path.to_string_lossy()).map(|q| q.into_owned()).unwrap_or_default();
            let command = run.command.replace("%s", &quoted);
            let cwd = path.parent().unwrap_or(src);
            let mut job = Job::new("sh", cwd, Path::new("/dev/null"), Duration::from_secs(config.build.timeout_s))
                .arg("-c")
                .arg(&command);
            job.env = env.clone();
            let output = proc::capture(&job)?;
            if !output.success() {
                bail!("`{command}` (RUN line of `{rel}`) failed in the patched build: {}", output.stderr.trim());
            }
            changes.extend(littest::update(&text, &run.prefixes, &littest::attributes(&output.stdout)));
        }
        out.push(LitTest { path: rel.clone(), text, changes });
    }
    Ok(out)
}
