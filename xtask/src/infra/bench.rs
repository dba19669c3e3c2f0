//! Running the benchmark for one build, in a fresh isolated process.
//!
//! This module owns the benchmark's environment, which is where false numbers
//! come from: the build's `tools/` first on `PATH` (so `iree-compile` is the
//! candidate's, not a pip package's), `PYTHONPATH` from the build's `.env`
//! (as IREE's CMake writes it), a kernel-cache directory of the build's own
//! (boo's cache is keyed by op, not by compiler), and the device pinned
//! through the AMD and NVIDIA variables. It also maps CSV rows back to shapes.

use crate::config::{self, Config};
use crate::core::boo_csv;
use crate::core::results::Measurement;
use crate::infra::proc::{self, Job, Outcome};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One benchmark process's inputs.
pub(crate) struct Invocation<'a> {
    pub(crate) config: &'a Config,
    pub(crate) build_dir: &'a Path,
    pub(crate) source_dir: &'a Path,
    pub(crate) commands: &'a Path,
    pub(crate) csv: &'a Path,
    pub(crate) cache_dir: &'a Path,
    pub(crate) device: &'a str,
    pub(crate) log: &'a Path,
    pub(crate) timeout: Duration,
    /// Extra arguments appended to the command (e.g. `--verify-numerics`).
    pub(crate) extra_args: &'a [String],
    /// The build slot's overlays, which the process must see.
    pub(crate) overlays: &'a [crate::infra::overlay::Mount],
    /// Variables set last, over the benchmark's environment (a probe
    /// build's limit and switch).
    pub(crate) env: &'a [(String, String)],
}

/// `PYTHONPATH` entries of a build, from its `.env` when IREE's CMake wrote
/// one, else the layout IREE uses.
pub(crate) fn build_pythonpath(build_dir: &Path) -> Vec<PathBuf> {
    let env_file = build_dir.join(".env");
    if let Ok(text) = std::fs::read_to_string(&env_file) {
        for line in text.lines() {
            if let Some(v) = line.trim().strip_prefix("PYTHONPATH=") {
                let v = v.trim().trim_matches('"');
                return v.split(':').filter(|s| !s.is_empty() && !s.starts_with('$')).map(PathBuf::from).collect();
            }
        }
    }
    vec![build_dir.join("compiler/bindings/python"), build_dir.join("runtime/bindings/python")]
}

fn placeholders(inv: &Invocation) -> BTreeMap<&'static str, String> {
    let mut vars = BTreeMap::new();
    vars.insert("python", inv.config.bench.python.clone());
    vars.insert("commands", inv.commands.display().to_string());
    vars.insert("csv", inv.csv.display().to_string());
    vars.insert("cache_dir", inv.cache_dir.display().to_string());
    vars.insert("build_dir", inv.build_dir.display().to_string());
    vars.insert("source_dir", inv.source_dir.display().to_string());
    vars.insert("device", inv.device.to_string());
    vars
}

/// The environment a benchmark of `build_dir` runs with, on top of the
/// inherited one (minus an inherited `PYTHONPATH`, which is how a stale
/// build's bindings get imported by accident).
pub(crate) fn environment(
    config: &Config,
    build_dir: &Path,
    source_dir: &Path,
    cache_dir: &Path,
    device: &str,
) -> Result<Vec<(String, OsString)>> {
    let mut vars = BTreeMap::new();
    vars.insert("build_dir", build_dir.display().to_string());
    vars.insert("source_dir", source_dir.display().to_string());
    vars.insert("cache_dir", cache_dir.display().to_string());
    vars.insert("device", device.to_string());
    vars.insert("python", config.bench.python.clone());
    let mut path = vec![build_dir.join("tools").into_os_string()];
    for p in &config.bench.path {
        path.push(config::expand(p, &vars)?.into());
    }
    if let Some(inherited) = std::env::var_os("PATH") {
        path.push(inherited);
    }
    let mut pythonpath: Vec<OsString> = build_pythonpath(build_dir).into_iter().map(Into::into).collect();
    for p in &config.bench.pythonpath {
        pythonpath.push(config::expand(p, &vars)?.into());
    }
    let join = |parts: Vec<OsString>| -> OsString {
        let mut out = OsString::new();
        for (i, p) in parts.into_iter().enumerate() {
            if i > 0 {
                out.push(":");
            }
            out.push(p);
        }
        out
    };
    let mut env = vec![
        ("PATH".to_string(), join(path)),
        ("PYTHONPATH".to_string(), join(pythonpath)),
        ("BOO_CACHE_DIR".to_string(), cache_dir.as_os_str().to_owned()),
    ];
    for var in &config.bench.device_env {
        env.push((var.clone(), device.into()));
    }
    // Configured variables override the tuner's (doctor flags the ones that
    // defeat isolation); one entry per name, the last one wins.
    for (k, v) in &config.bench.env {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), config::expand(v, &vars)?.into()));
    }
    Ok(env)
}

/// The command line (after `bench.launcher`'s arguments), placeholders
/// expanded token by token so that paths with spaces stay one argument.
pub(crate) fn command_line(inv: &Invocation) -> Result<Vec<String>> {
    let tokens = shlex::split(&inv.config.bench.command)
        .ok_or_else(|| anyhow::anyhow!("`bench.command` has unbalanced quotes: `{}`", inv.config.bench.command))?;
    let vars = placeholders(inv);
    let mut out = Vec::new();
    for t in &inv.config.bench.launcher {
        out.push(config::expand(t, &vars).context("in `bench.launcher`")?);
    }
    for t in tokens {
        out.push(config::expand(&t, &vars).context("in `bench.command`")?);
    }
    out.extend(inv.extra_args.iter().cloned());
    if out.is_empty() {
        bail!("`bench.command` is empty");
    }
    Ok(out)
}

/// Runs one benchmark process.
pub(crate) fn run(inv: &Invocation) -> Result<Outcome> {
    let argv = command_line(inv)?;
    std::fs::create_dir_all(inv.cache_dir).with_context(|| format!("cannot create `{}`", inv.cache_dir.display()))?;
    let mut job = Job::new(&argv[0], inv.build_dir, inv.log, inv.timeout).args(&argv[1..]);
    job.env = environment(inv.config, inv.build_dir, inv.source_dir, inv.cache_dir, inv.device)?;
    job.env_remove.push("PYTHONPATH".to_string());
    // A probe build reads its limit from `IREE_TUNE_*` variables: one left in
    // the user's shell would silently turn every candidate into that one.
    // Only the candidate's own settings (below) may reach the benchmark.
    job.env_remove.extend(
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with(crate::core::cpp::patch::PROBE_VAR_PREFIX)),
    );
    job.overlays = inv.overlays.to_vec();
    for (k, v) in inv.env {
        job.env.retain(|(name, _)| name != k);
        job.env.push((k.clone(), v.into()));
    }
    // The command file's directory is a sensible place for relative output.
    job.cwd = inv.commands.parent().map(Path::to_path_buf).unwrap_or_else(|| inv.build_dir.to_path_buf());
    proc::run(&job)
}

/// `shlex.join` of a command's tokens: what boo writes in `arguments`.
pub(crate) fn normalized_arguments(command: &str) -> String {
    let tokens = shlex::split(command).unwrap_or_default();
    shlex::try_join(tokens.iter().map(String::as_str)).unwrap_or_else(|_| command.to_string())
}

/// `--iter` of a command (boo's default 100).
pub(crate) fn iterations(command: &str) -> f64 {
    let tokens = shlex::split(command).unwrap_or_default();
    tokens
        .iter()
        .position(|t| t == "--iter")
        .and_then(|i| tokens.get(i + 1))
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(100.0)
}

/// Adds one CSV's rows to the per-shape measurements. `order[i]` is the
/// shape index of the i-th command in the file the benchmark ran; rows are
/// matched by position and checked against the command they claim to be.
/// Returns the shapes that have no row (the benchmark stopped before them).
pub(crate) fn collect(
    csv_text: &str,
    column: &str,
    order: &[usize],
    commands: &[String],
    into: &mut [Measurement],
) -> Result<Vec<usize>, String> {
    let rows = boo_csv::parse(csv_text, column)?;
    let mut missing = Vec::new();
    for (pos, &shape) in order.iter().enumerate() {
        let m = &mut into[shape];
        let Some(row) = rows.get(pos) else {
            missing.push(shape);
            continue;
        };
        let expected = normalized_arguments(&commands[shape]);
        if row.arguments.trim() != expected && !row.arguments.starts_with(&expected) {
            m.failures.push(format!(
                "CSV row {} is for `{}`, not this command: rows are out of order",
                pos + 2,
                row.arguments
            ));
            continue;
        }
        match &row.value {
            Ok(v) => {
                m.samples.push(*v);
                if let Some(s) = row.stddev {
                    m.spread.push(s);
                }
                if let Some(d) = row.num_dispatches {
                    m.dispatches = Some(d / iterations(&commands[shape]));
                }
            }
            Err(e) => m.failures.push(e.clone()),
        }
        if row.numerics_pass.is_some() {
            m.numerics_pass = match (m.numerics_pass, row.numerics_pass) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                _ => Some(true),
            };
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_map_back_through_the_shuffle() {
        let commands = vec!["gemm --a_w 1 --iter 10".to_string(), "gemm --a_w 2".to_string()];
        // The benchmark ran shape 1 first, then shape 0.
        let csv = "arguments,b mean,b num_dispatches\ngemm --a_w 2,5.0,200\ngemm --a_w 1 --iter 10,7.0,10\n";
        let mut m = vec![Measurement::default(), Measurement::default()];
        collect(csv, "b mean", &[1, 0], &commands, &mut m).unwrap();
        assert_eq!(m[0].samples, vec![7.0]);
        assert_eq!(m[0].dispatches, Some(1.0));
        assert_eq!(m[1].samples, vec![5.0]);
        assert_eq!(m[1].dispatches, Some(2.0));
    }

    #[test]
    fn missing_rows_are_failures() {
        let commands = vec!["gemm --a_w 1".to_string(), "gemm --a_w 2".to_string()];
        let csv = "arguments,b mean\ngemm --a_w 1,5.0\n";
        let mut m = vec![Measurement::default(), Measurement::default()];
        let missing = collect(csv, "b mean", &[0, 1], &commands, &mut m).unwrap();
        assert!(m[0].ok());
        assert_eq!(missing, vec![1]);
    }
}
