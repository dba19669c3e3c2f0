//! The compiler's own tests in a patched build: `validate.test_command`
//! (ctest by default), and the lit tests' RUN lines, whose output says what
//! the pinned `iree_linalg_ext.split_reduction` results become. Reading and
//! rewriting CHECK lines is [`crate::core::littest`]'s.

use super::patches::LitTest;
use super::station::Station;
use crate::config::{self, Config};
use crate::core::littest;
use crate::infra::proc;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// `validate.test_command` with its placeholders set to `build_dir` and
/// `source_dir`.
pub(crate) fn test_command(config: &Config, build_dir: &str, source_dir: &str) -> Result<Vec<String>> {
    let mut vars = BTreeMap::new();
    vars.insert("build_dir", build_dir.to_string());
    vars.insert("source_dir", source_dir.to_string());
    let tokens = shlex::split(&config.validate.test_command)
        .ok_or_else(|| anyhow::anyhow!("`validate.test_command` has unbalanced quotes"))?;
    tokens.iter().map(|t| config::expand(t, &vars)).collect()
}

/// A command line as a shell reads it.
pub(crate) fn shell_words(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

/// The compiler's tests in a build: how they ran, and how a reviewer would
/// run them.
pub(crate) struct TestRun {
    pub(crate) passed: bool,
    pub(crate) log_tail: String,
    pub(crate) command: String,
    pub(crate) portable: String,
}

/// Runs the configured test command in the station's build.
pub(crate) fn run_tests(config: &Config, station: &Station, log: &Path) -> Result<TestRun> {
    let slot = &station.slot;
    let argv = test_command(config, &slot.build.display().to_string(), &slot.src.display().to_string())?;
    let command = shell_words(&argv);
    let portable = shell_words(&test_command(config, "build", ".")?);
    if argv.is_empty() {
        return Ok(TestRun { passed: true, log_tail: String::new(), command, portable });
    }
    let _ = std::fs::remove_file(log);
    let timeout = Duration::from_secs(config.build.timeout_s);
    let job = station.tool_job(&argv[0], &slot.build, log, timeout, true)?.args(&argv[1..]);
    let outcome = proc::run(&job)?;
    Ok(TestRun { passed: outcome.success(), log_tail: proc::log_tail(log, 30), command, portable })
}

/// The lit tests' pinned results as the station's build prints them: for
/// each test file, its text and the line changes that would make it pass.
pub(crate) fn lit_changes(config: &Config, station: &Station, files: &[String]) -> Result<Vec<LitTest>> {
    let src = &station.slot.src;
    let mut out = Vec::new();
    for rel in files {
        let path = src.join(rel);
        let text = station.slot.read_source(rel)?;
        let mut changes = Vec::new();
        for run in littest::runs(&text) {
            let quoted = shlex::try_quote(&path.to_string_lossy()).map(|q| q.into_owned()).unwrap_or_default();
            let command = run.command.replace("%s", &quoted);
            let cwd = path.parent().unwrap_or(src);
            let timeout = Duration::from_secs(config.build.timeout_s);
            let job = station.tool_job("sh", cwd, Path::new("/dev/null"), timeout, false)?.arg("-c").arg(&command);
            let output = proc::capture(&job)?;
            if !output.success() {
                bail!("`{command}` (RUN line of `{rel}`) failed in the patched build: {}", output.stderr.trim());
            }
            changes.extend(littest::update(&text, &run.prefixes, &littest::attributes(&output.stdout)));
        }
        let unreadable = littest::unreadable(&text);
        out.push(LitTest { path: rel.clone(), text, changes, unreadable });
    }
    Ok(out)
}
